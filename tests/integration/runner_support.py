# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small fleet and an Ansible environment for the integration tests.

The fleet is this machine (sysroot ``/``) plus two hosts whose sysroots are
trees written by the fixture generator, all over the local connection. What
each host should report is read back from its own tree (``smt/control``), so
the tests check the pipeline end to end without restating the fixtures.

Shared by test_ansible_runner.py and test_fact_cache.py; not a test itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS_ROOT = REPO_ROOT / ".cache" / "collections"
FIXTURE_GENERATOR = REPO_ROOT / "tests" / "fixtures" / "sysfs.py"
MAIN_PLAYBOOK = REPO_ROOT / "playbooks" / "main.yml"
AWX_PLAYBOOKS = REPO_ROOT / "playbooks" / "awx"

# host name -> fixture topology (tests/fixtures/topologies.yml); one with SMT
# forced off, one with SMT on, so the two cannot be confused in a report.
FIXTURE_HOSTS: Tuple[Tuple[str, str], ...] = (
    ("hv-forceoff", "intel_smt_forceoff"),
    ("hv-naples", "amd_epyc_naples_4die"),
)
SMT_CONTROL = Path("sys/devices/system/cpu/smt/control")


@dataclass(frozen=True)
class Fleet:
    inventory: Path
    sysroots: Mapping[str, Path]

    @property
    def hosts(self) -> Tuple[str, ...]:
        return tuple(sorted(self.sysroots))

    def expected_smt_control(self, host: str) -> str:
        """What smt_facts must report, read from the host's tree itself."""
        path = self.sysroots[host] / SMT_CONTROL
        if not path.exists():
            raise AssertionError("%s has no %s: pick a fixture (or machine) with an SMT control file" % (host, path))
        return path.read_text(encoding="ascii").strip()


def generate_sysroot(topology: str, dest: Path) -> Path:
    proc = subprocess.run([sys.executable, str(FIXTURE_GENERATOR), topology, str(dest)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError("fixture generator failed for %s (exit %d):\n%s"
                             % (topology, proc.returncode, proc.stdout + proc.stderr))
    return dest


def generate_sysroots(workdir: Path) -> Dict[str, Path]:
    """The fixture hosts' trees, written once and shared (read-only) by every fleet."""
    return {host: generate_sysroot(topology, workdir / host) for host, topology in FIXTURE_HOSTS}


def build_fleet(workdir: Path, sysroots: Mapping[str, Path],
                overrides: Optional[Mapping[str, Path]] = None,
                groups: Optional[Mapping[str, Sequence[str]]] = None,
                host_vars: Optional[Mapping[str, Mapping[str, object]]] = None) -> Fleet:
    """Write a YAML inventory under ``workdir``: this machine plus ``sysroots``.

    ``overrides`` replaces or adds hosts' sysroots (for example a path that
    does not exist, to make smt_facts fail on purpose); ``groups`` adds
    inventory groups (migration domains); ``host_vars`` adds variables.
    """
    roots: Dict[str, Path] = {"localhost": Path("/")}
    roots.update(sysroots)
    roots.update(overrides or {})
    hosts: Dict[str, Dict[str, object]] = {
        name: ({} if name == "localhost" else {"hvfleet_smt_sysroot": str(root)}) for name, root in roots.items()}
    for name, variables in (host_vars or {}).items():
        hosts[name].update(variables)
    inventory: Dict[str, Dict[str, object]] = {
        "all": {
            "vars": {
                "ansible_connection": "local",
                # The venv's interpreter: a real one, never the pyenv shim.
                "ansible_python_interpreter": sys.executable,
            },
            "hosts": hosts,
        }
    }
    if groups:
        inventory["all"]["children"] = {name: {"hosts": {h: {} for h in members}} for name, members in groups.items()}
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=True), encoding="utf-8")
    return Fleet(inventory=path, sysroots=roots)


def ansible_env(home: Path, extra_collections: Sequence[Path] = (),
                extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """Environment for ansible-playbook from this venv, isolated from ~/.ansible.

    Only the checkout (through the .cache/collections symlink that
    tests/conftest.py maintains) and the named extra roots are on the
    collections path, so an older installed copy of hvfleet.smt cannot be
    tested by mistake.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update({
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join([str(COLLECTIONS_ROOT)] + [str(p) for p in extra_collections]),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    env.update(extra or {})
    return env


def ansible_playbook(playbook: Path, fleet: Fleet, env: Mapping[str, str], cwd: Path,
                     extra_vars: Optional[Mapping[str, str]] = None, limit: Optional[str] = None,
                     expect_failure: bool = False) -> subprocess.CompletedProcess:
    """Run ansible-playbook; an unexpected outcome raises with the whole output, which is what one needs to debug it."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(fleet.inventory), str(playbook)]
    for key, value in (extra_vars or {}).items():
        cmd += ["-e", "%s=%s" % (key, value)]
    if limit:
        cmd += ["--limit", limit]
    proc = subprocess.run(cmd, cwd=str(cwd), env=dict(env), capture_output=True, text=True, check=False)
    if expect_failure:
        if proc.returncode == 0:
            raise AssertionError("%s succeeded, expected a failure:\n%s" % (" ".join(cmd), proc.stdout))
    elif proc.returncode != 0:
        raise AssertionError("%s failed (exit %d):\n%s\n%s"
                             % (" ".join(cmd), proc.returncode, proc.stdout, proc.stderr))
    return proc
