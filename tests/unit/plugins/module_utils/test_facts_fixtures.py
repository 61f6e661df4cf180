# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reader against hosts no test machine has.

Each topology in tests/fixtures/topologies.yml is written as a faithful
sysfs/procfs tree and read with ``collect``; the facts must equal the
``expect`` block written by hand in the description. test_fixtures_vs_lscpu
shows the trees are what lscpu and hwloc also see, so a pass here is about
the reader, not about the generator agreeing with itself.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils.facts import collect


def _load_fixtures():
    """tests/fixtures is not a package; load the generator by path under a unique name."""
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
# big_4096 is measured by benchmarks/facts_vs_lscpu (which checks these same
# expectations before timing); writing 260,000 files here would double the
# unit suite's time for no extra coverage over big_1024.
UNIT_TOPOLOGIES = [name for name in TOPOLOGIES if name != "big_4096"]


@pytest.fixture(scope="module")
def trees():
    root = FIXTURES.scratch_dir()

    def get(name):
        return FIXTURES.ensure_tree(name, root, TOPOLOGIES)

    yield get
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("name", UNIT_TOPOLOGIES)
def test_collect_matches_description(trees, name):
    facts = collect(trees(name))
    mismatches = FIXTURES.compare_facts(facts, TOPOLOGIES[name]["expect"])
    assert not mismatches, "%s:\n  %s" % (name, "\n  ".join(mismatches))


@pytest.mark.parametrize("name", UNIT_TOPOLOGIES)
def test_cores_partition_online_cpus(trees, name):
    """Whatever the layout, every online CPU is in exactly one core, listed in order."""
    facts = collect(trees(name))
    threads = [cpu for core in facts["cores"] for cpu in core["threads"]]
    assert sorted(threads) == facts["cpus"]["online"]
    assert len(threads) == len(set(threads))
    assert all(core["threads"] == sorted(core["threads"]) for core in facts["cores"])
    firsts = [core["threads"][0] for core in facts["cores"]]
    assert firsts == sorted(firsts)


def test_every_description_has_expectations():
    """A topology without a full expect block would pass by checking nothing."""
    required = {"smt", "cores", "cpus", "numa_nodes", "packages", "hypervisor"}
    for name, desc in TOPOLOGIES.items():
        assert required <= set(desc.get("expect", {})), name
        assert set(desc["expect"]["smt"]) == {"control", "active", "possible", "threads_per_core"}, name


def test_generator_lays_out_the_described_cores():
    """Guard against the generator and the expectations drifting into one source.

    The expected cores are written in the description; here they are checked
    against the generator's own layout, so a typo in either shows up as a
    fixture error rather than as a reader bug.
    """
    for name, desc in TOPOLOGIES.items():
        host = FIXTURES.build_host(desc)
        cores = {}
        for cpu in host.cpus:
            if cpu.online:
                cores.setdefault(cpu.core.index, []).append(cpu.id)
        laid_out = sorted((sorted(v) for v in cores.values()), key=lambda t: t[0])
        assert laid_out == FIXTURES.expand_cores(desc["expect"]["cores"]), name
