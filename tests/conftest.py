"""Shared pytest setup for hvfleet.smt.

Tests import the code the way Ansible does, as ``ansible_collections.hvfleet.smt``.
The collection lives at the repository root, so instead of installing it we
point a symlink at the checkout: edits are tested without a rebuild, and the
import paths in tests are the ones the modules use in production.
"""

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS_ROOT = REPO_ROOT / ".cache" / "collections"
COLLECTION_LINK = COLLECTIONS_ROOT / "ansible_collections" / "hvfleet" / "smt"


def _ensure_collection_link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target``, repairing a link left by another checkout.

    A real directory in its place is refused rather than removed: it may hold
    someone's work, and importing it would silently test the wrong code.
    """
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        if link.resolve() == target:
            return
        link.unlink()
    elif link.exists():
        raise RuntimeError(
            f"{link} exists and is not a symlink; expected a symlink to {target}. "
            "Remove it so the tests import this checkout."
        )
    try:
        link.symlink_to(target, target_is_directory=True)
    except FileExistsError:
        # Another pytest process created it at the same moment.
        if link.resolve() != target:
            raise


_ensure_collection_link(COLLECTION_LINK, REPO_ROOT)
if str(COLLECTIONS_ROOT) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_ROOT))

# Property tests must finish in bounded time on a 2-core CI machine, and wall
# clock deadlines there only measure the neighbours' load, so "ci" bounds the
# number of examples instead. "thorough" is for hunting bugs locally.
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
