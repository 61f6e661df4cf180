# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/migration_gate.yml end to end: real facts from fixture sysroots, declared placements.

The guest runs on a host with SMT forced off, so it holds no_smt. A second
host of the same model keeps every statement; a host with SMT on cannot keep
no_smt, and the playbook must fail saying so.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from runner_support import REPO_ROOT, ansible_env, ansible_playbook, build_fleet, generate_sysroots  # noqa: E402  pylint: disable=wrong-import-position

GATE_PLAYBOOK = REPO_ROOT / "playbooks" / "migration_gate.yml"


def _placement(guests):
    return {"schema": 1, "housekeeping": [0], "housekeeping_source": "test inventory", "guests": guests}


GUEST = {"name": "vm-1", "state": "running", "vcpus": [[1]], "emulator": [0], "iothreads": [],
         "topology": {"sockets": 1, "dies": 1, "clusters": 1, "cores": 1, "threads": 1},
         "migration_domain": None, "source": "live"}


@pytest.fixture(scope="module")
def gate_fleet(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("gate")
    roots = generate_sysroots(tmp_path / "sysroots")
    fleet = build_fleet(tmp_path / "fleet", roots, {"hv-forceoff-2": roots["hv-forceoff"]},
                        host_vars={"hv-forceoff": {"hvfleet_placement": _placement([GUEST])},
                                   "hv-forceoff-2": {"hvfleet_placement": _placement([])},
                                   "hv-naples": {"hvfleet_placement": _placement([])}})
    return fleet, tmp_path, ansible_env(home=tmp_path / "ansible-home")


def _gate(gate_fleet, destination, expect_failure=False):
    fleet, tmp_path, env = gate_fleet
    return ansible_playbook(GATE_PLAYBOOK, fleet, env, tmp_path,
                            {"hvfleet_gate_guest": "vm-1", "hvfleet_gate_source": "hv-forceoff",
                             "hvfleet_gate_destination": destination}, expect_failure=expect_failure)


def test_same_model_destination_keeps_every_statement(gate_fleet):
    out = _gate(gate_fleet, "hv-forceoff-2").stdout
    assert "keeps every statement" in out, out
    assert "no_smt" in out and "carried_over" in out, out


def test_smt_destination_is_refused_with_the_reason(gate_fleet):
    out = _gate(gate_fleet, "hv-naples", expect_failure=True).stdout
    assert "must not migrate to hv-naples" in out, out
    assert "no_smt" in out and "SMT control" in out, out
