# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fixture trees are what real tools see: lscpu and hwloc agree with the description.

Our facts equal the hand-written expectations (test_facts_fixtures); here two
independent readers of the same files, util-linux's ``lscpu --sysroot`` and
hwloc's ``lstopo`` under ``HWLOC_FSROOT``, must find the same physical cores,
NUMA nodes and packages. If they did not, the trees would be wrong and the
reader's passing tests would prove nothing.

lscpu and lstopo-no-graphics are installed by CI (util-linux, hwloc-nox); a
machine without them fails these tests rather than skipping them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Dict, List

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils.facts import collect


def _load_fixtures():
    name = "hvfleet_smt_fixture_sysfs"
    if name not in sys.modules:
        path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "sysfs.py")
        spec = importlib.util.spec_from_file_location(name, os.path.abspath(path))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


FIXTURES = _load_fixtures()
TOPOLOGIES = FIXTURES.load_topologies()
# Trees without topology/ (the sandbox fallback) give the tools nothing to
# group by; big_4096 is left to the benchmark, which runs both tools on it.
READABLE = [name for name, desc in TOPOLOGIES.items()
            if desc["expect"].get("lscpu", True) and name != "big_4096"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, "%s is required (CI installs util-linux and hwloc-nox); without it the fixtures are unchecked" % name
    return path


@pytest.fixture(scope="module")
def trees():
    root = FIXTURES.scratch_dir()

    def get(name):
        return FIXTURES.ensure_tree(name, root, TOPOLOGIES)

    yield get
    shutil.rmtree(root, ignore_errors=True)


def _partition(groups: Dict[object, List[int]]) -> List[List[int]]:
    return sorted((sorted(v) for v in groups.values()), key=lambda t: t[0])


def lscpu_view(sysroot: str) -> dict:
    """Cores, nodes and sockets as ``lscpu -p`` groups the online CPUs (logical ids)."""
    out = subprocess.run(
        [_tool("lscpu"), "-p=CPU,CORE,SOCKET,NODE,ONLINE", "--sysroot", sysroot],
        check=True, capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"),
    ).stdout
    cores: Dict[str, List[int]] = {}
    nodes: Dict[int, List[int]] = {}
    sockets: Dict[str, List[int]] = {}
    for line in out.splitlines():
        if not line or line.startswith("#"):
            continue
        cpu, core, socket, node, online = line.split(",")
        assert online == "Y", line  # -p lists online CPUs only
        assert core != "" and socket != "", "lscpu could not place CPU %s: %s" % (cpu, line)
        cores.setdefault(core, []).append(int(cpu))
        sockets.setdefault(socket, []).append(int(cpu))
        if node != "":
            nodes.setdefault(int(node), []).append(int(cpu))
    return {
        "cores": _partition(cores),
        "numa_nodes": sorted((k, sorted(v)) for k, v in nodes.items()),
        "packages": _partition(sockets),
    }


def _hwloc_set(text: str) -> List[int]:
    """hwloc bitmap strings: 32-bit hex words, most significant first; empty words are zero."""
    value = 0
    for word in text.split(","):
        value = (value << 32) | (int(word, 16) if word else 0)
    return [i for i in range(value.bit_length()) if value >> i & 1]


def hwloc_view(sysroot: str) -> dict:
    """Cores, NUMA nodes and packages as hwloc's Linux backend builds them from the tree."""
    env = dict(os.environ, HWLOC_FSROOT=sysroot, HWLOC_COMPONENTS="-x86", LC_ALL="C")
    env.pop("HWLOC_XMLFILE", None)
    out = subprocess.run(
        [_tool("lstopo-no-graphics"), "--of", "xml", "-"],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    root = ET.fromstring(out)

    def pus(obj) -> List[int]:
        return sorted(int(o.get("os_index")) for o in obj.iter("object") if o.get("type") == "PU")

    objects = list(root.iter("object"))
    cores = [pus(o) for o in objects if o.get("type") == "Core"]
    nodes = [(int(o.get("os_index")), _hwloc_set(o.get("cpuset"))) for o in objects if o.get("type") == "NUMANode"]
    packages = [(int(o.get("os_index")), pus(o)) for o in objects if o.get("type") == "Package"]
    return {
        "cores": sorted(cores, key=lambda t: t[0]),
        "numa_nodes": sorted(nodes),
        "packages": sorted(packages),
    }


def _expected_numa(desc) -> list:
    return sorted((int(k), FIXTURES.parse_cpulist(v)) for k, v in desc["expect"]["numa_nodes"].items())


@pytest.mark.parametrize("name", READABLE)
def test_lscpu_sees_the_described_cores(trees, name):
    desc = TOPOLOGIES[name]
    sysroot = trees(name)
    view = lscpu_view(sysroot)
    facts = collect(sysroot)
    expected = FIXTURES.expand_cores(desc["expect"]["cores"])
    assert view["cores"] == expected, "lscpu disagrees with the description"
    assert [c["threads"] for c in facts["cores"]] == view["cores"], "our facts disagree with lscpu"
    assert view["numa_nodes"] == _expected_numa(desc)
    assert view["packages"] == _partition({p["id"]: p["cpus"] for p in facts["packages"]})


@pytest.mark.parametrize("name", READABLE)
def test_hwloc_sees_the_described_cores(trees, name):
    desc = TOPOLOGIES[name]
    sysroot = trees(name)
    view = hwloc_view(sysroot)
    facts = collect(sysroot)
    expected = FIXTURES.expand_cores(desc["expect"]["cores"])
    assert view["cores"] == expected, "hwloc disagrees with the description"
    assert [c["threads"] for c in facts["cores"]] == view["cores"], "our facts disagree with hwloc"
    assert view["numa_nodes"] == _expected_numa(desc)
    assert view["packages"] == [(p["id"], p["cpus"]) for p in facts["packages"]]


def test_sandbox_tree_is_really_opaque_to_lscpu(trees):
    """The one topology excluded above is excluded because lscpu cannot place its CPUs."""
    for name, desc in TOPOLOGIES.items():
        if desc["expect"].get("lscpu", True):
            continue
        with pytest.raises(AssertionError, match="could not place"):
            lscpu_view(trees(name))
