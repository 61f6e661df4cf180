# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The migration gate: keeps exactly what the destination grants, by the engine's own domain check."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from oracle.hosts import guest, placement, smt2  # noqa: E402

from ansible_collections.hvfleet.smt.plugins.module_utils import migration_gate as gate_module  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import Record  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.module_utils.hints import STATEMENTS, PlacementError, decide_domains  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.module_utils.migration_gate import migration_gate  # noqa: E402


def source():
    return smt2(4), placement([guest("a", [1])], housekeeping=[0, 4])


def gate(dest_facts, dest_placement, **kwargs):
    facts, place = kwargs.pop("src", source())
    return migration_gate("a", "hv-1", facts, place, "hv-2", dest_facts, dest_placement, **kwargs)


def test_an_equal_idle_destination_keeps_everything_the_guest_holds():
    result = gate(smt2(4), placement([], housekeeping=[0, 4]))
    assert result["keeps"] is True and result["lost"] == [] and result["error"] is None
    assert set(result["held"]) == {"accurate_topology", "no_nonarch_core_sharing", "dedicated"}
    assert result["placement"] == "carried_over"
    no_smt = result["statements"]["no_smt"]
    assert (no_smt["held"], no_smt["source"], no_smt["destination"]) == (False, False, False)


def test_a_neighbour_on_the_carried_over_sibling_loses_core_sharing_with_reasons():
    result = gate(smt2(4), placement([guest("z", [5])], housekeeping=[0, 4]))
    assert result["keeps"] is False and result["lost"] == ["no_nonarch_core_sharing"]
    assert any(r["code"] == "sibling_shared" and "guest z" in r["message"] for r in result["reasons"])
    assert result["statements"]["dedicated"]["destination"] is True


def test_reserved_placement_on_the_destination_wins():
    dest = placement([guest("z", [5]), guest("a", [2])], housekeeping=[0, 4])
    result = gate(smt2(4), dest)
    assert result["placement"] == "reserved" and result["keeps"] is True


def test_without_carry_over_an_unreserved_guest_is_denied_like_smt_hints_denies_it():
    result = gate(smt2(4), placement([], housekeeping=[0, 4]), carry_over=False)
    assert result["keeps"] is False and result["placement"] == "none"
    assert {r["code"] for r in result["reasons"]} >= {"no_placement"}


def test_unknown_destination_denies():
    for facts, place in ((None, placement([], housekeeping=[0, 4])), (smt2(4), None)):
        result = gate(facts, place)
        assert result["keeps"] is False and result["lost"]


def test_smt_destination_cannot_keep_no_smt():
    src = (smt2(4, control="forceoff", offline=[4, 5, 6, 7]), placement([guest("a", [1])], housekeeping=[0]))
    result = gate(smt2(4, control="on"), placement([], housekeeping=[0, 4]), src=src)
    assert "no_smt" in result["lost"]
    assert any(r["code"] == "smt_on" for r in result["reasons"])


def test_held_comes_from_the_record_and_an_unreadable_record_denies():
    facts, place = source()
    doc = {"format": "hvfleet.smt/statements", "version": 1, "host": "hv-1", "migration_domain": None,
           "issued": "2026-11-25T05:00:00Z",
           "statements": {s: {"granted": s == "dedicated", "reasons": []} for s in STATEMENTS}}
    place["guests"][0]["record"] = Record(statements=doc).to_dict()
    dest = placement([guest("z", [5])], housekeeping=[0, 4])
    result = gate(smt2(4), dest, src=(facts, place))
    assert result["held"] == ["dedicated"] and result["keeps"] is True
    place["guests"][0]["record_error"] = "bad record"
    result = gate(smt2(4), dest, src=(facts, place))
    assert result["keeps"] is False and "bad record" in result["error"]


def test_uses_the_engines_domain_check(monkeypatch):
    calls = []

    def spy(members, domains, current, policy=None):
        calls.append((sorted(members), domains, current))
        return decide_domains(members, domains, current, policy)

    monkeypatch.setattr(gate_module, "decide_domains", spy)
    gate(smt2(4), placement([], housekeeping=[0, 4]))
    assert (["hv-1", "hv-2"], {"a": ["hv-1", "hv-2"]}, "hv-1") in calls


def test_bad_input_is_an_error():
    with pytest.raises(PlacementError):
        migration_gate("nope", "hv-1", *source(), "hv-2", smt2(4), placement([]))
    with pytest.raises(ValueError):
        migration_gate("a", "hv-1", *source(), "hv-1", smt2(4), placement([]))
    with pytest.raises(PlacementError):
        gate(smt2(4), {"guests": 3})
