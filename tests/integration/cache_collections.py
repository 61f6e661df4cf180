#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Third-party collections for the integration tests, taken from the PyPI ``ansible`` wheel.

Galaxy is unreachable from our machines and CI, but PyPI is not, and the
``ansible`` package bundles the community collections. Installing that
package would replace the pinned ansible-core in the venv, so only the
collection directories we need are unpacked into ``.cache/`` and put on
``ANSIBLE_COLLECTIONS_PATH`` for the one command that needs them:

* ``community.general`` for the ``community.general.redis`` fact cache
  (tests/integration/test_fact_cache.py);
* ``awx.awx`` for syntax-checking playbooks/awx/configure.yml. awx.awx left
  the ``ansible`` package with 14.0.0, so it comes from 13.8.0.

Wheels are pinned by version and sha256; a mismatch is an error, not a
re-download.

Usage: ``python tests/integration/cache_collections.py community.general awx.awx``
unpacks them (downloading the wheels once) and prints the value to put on
ANSIBLE_COLLECTIONS_PATH (colon-separated).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache"
WHEEL_DIR = CACHE_DIR / "wheels"
UNPACK_DIR = CACHE_DIR / "wheel-collections"


@dataclass(frozen=True)
class Wheel:
    version: str
    sha256: str

    @property
    def filename(self) -> str:
        return "ansible-%s-py3-none-any.whl" % self.version


ANSIBLE_14_5_0 = Wheel("14.5.0", "245623ccc2d31d0f6f4bdb63168d550cad305fb032cc43d96e8f61ce8ab0ba84")
ANSIBLE_13_8_0 = Wheel("13.8.0", "daf9c9a2850bbc6c098ba3368aeba99d4ae37c90bca47f974dc19342c0571361")

# collection -> the wheel it is taken from (community.general 13.5.0, awx.awx 24.6.1)
SOURCES: Dict[str, Wheel] = {
    "community.general": ANSIBLE_14_5_0,
    "awx.awx": ANSIBLE_13_8_0,
}


class CollectionCacheError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_wheel(wheel: Wheel) -> Path:
    """Download with the running interpreter's pip (it knows the index we use)."""
    path = WHEEL_DIR / wheel.filename
    if not path.exists():
        WHEEL_DIR.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--dest", str(WHEEL_DIR), "ansible==%s" % wheel.version]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not path.exists():
            raise CollectionCacheError(
                "could not download %s with %s (exit %d):\n%s"
                % (wheel.filename, " ".join(cmd), proc.returncode, proc.stdout + proc.stderr))
    actual = _sha256(path)
    if actual != wheel.sha256:
        raise CollectionCacheError(
            "%s has sha256 %s, expected %s; delete it to download it again"
            % (path, actual, wheel.sha256))
    return path


def _unpack(collection: str, wheel: Wheel) -> Path:
    """Unpack one collection; the result is renamed into place only when complete."""
    namespace, name = collection.split(".")
    root = UNPACK_DIR / ("ansible-%s" % wheel.version)
    target = root / "ansible_collections" / namespace / name
    if (target / "MANIFEST.json").exists():
        return root
    prefix = "ansible_collections/%s/%s/" % (namespace, name)
    wheel_path = _fetch_wheel(wheel)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".%s-" % name, dir=target.parent))
    try:
        with zipfile.ZipFile(wheel_path) as archive:
            members = [m for m in archive.namelist() if m.startswith(prefix)]
            if not any(m == prefix + "MANIFEST.json" for m in members):
                raise CollectionCacheError("%s does not contain %s" % (wheel_path, collection))
            for member in members:
                relative = member[len(prefix):]
                if not relative or member.endswith("/"):
                    continue
                dest = staging / relative
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return root


def collections_paths(collections: Iterable[str]) -> List[Path]:
    """Roots to put on ANSIBLE_COLLECTIONS_PATH so ``collections`` resolve."""
    roots: List[Path] = []
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / "wheel-collections.lock").open("w") as lock:
        # Two pytest runs (or a test and the CLI) must not unpack at once.
        fcntl.flock(lock, fcntl.LOCK_EX)
        for collection in collections:
            if collection not in SOURCES:
                raise CollectionCacheError(
                    "no pinned source for collection %r; known: %s"
                    % (collection, ", ".join(sorted(SOURCES))))
            root = _unpack(collection, SOURCES[collection])
            if root not in roots:
                roots.append(root)
    return roots


def main(argv: List[str]) -> int:
    if not argv:
        print("usage: cache_collections.py COLLECTION [COLLECTION...]; known: %s"
              % ", ".join(sorted(SOURCES)), file=sys.stderr)
        return 2
    try:
        roots = collections_paths(argv)
    except CollectionCacheError as err:
        print("ERROR: %s" % err, file=sys.stderr)
        return 1
    print(os.pathsep.join(str(r) for r in roots))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
