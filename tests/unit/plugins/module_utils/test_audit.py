# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drift audit: each kind of change is caught, named, and explained; unknown is never fine."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from oracle.hosts import guest, placement, smt2  # noqa: E402

from ansible_collections.hvfleet.smt.plugins.module_utils.audit import (  # noqa: E402
    DRIFT_KINDS,
    AuditError,
    audit_host,
    read_told,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import Record  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.module_utils.hints import STATEMENTS, decide_host  # noqa: E402

NOW = "2026-11-25T10:00:00Z"


def document(granted, host="hv-1", domain=None):
    return {
        "format": "hvfleet.smt/statements", "version": 1, "host": host, "migration_domain": domain,
        "issued": "2026-11-25T05:00:00Z",
        "statements": {s: {"granted": s in granted, "reasons": ["test"]} for s in STATEMENTS},
    }


def told(entry, facts, where, granted=None, plan=True, domain=None):
    """The entry as applied: its record says what the engine grants it on ``where`` now."""
    if granted is None:
        decided = decide_host(facts, where, host="hv-1")[entry["name"]]
        granted = [s for s in STATEMENTS if decided[s]["granted"]]
    record = Record(plan={"vcpus": entry["vcpus"], "emulator": entry.get("emulator")} if plan else None,
                    statements=document(granted, domain=domain))
    return dict(entry, record=record.to_dict(), record_error=None)


def with_records(facts, place, **kwargs):
    """Every guest of ``place`` carries the record of what it is granted there now."""
    out = dict(place)
    out["guests"] = [told(g, facts, place, **kwargs) for g in place["guests"]]
    return out


# smt2(4): cores [0,4] [1,5] [2,6] [3,7]; host tasks on core 0.
def base_host():
    facts = smt2(4)
    place = placement([guest("a", [1]), guest("b", [2, 6], threads=2)], housekeeping=[0, 4])
    return facts, with_records(facts, place)


def audit(facts, place, domains=None, members=None, **kwargs):
    """Audit hv-1; guests never migrate unless ``domains`` says otherwise."""
    everything = {"hv-1": (facts, place)}
    everything.update(members or {})
    guests = place.get("guests") if isinstance(place, dict) else None
    stay = {g["name"]: [] for g in guests} if isinstance(guests, list) else {}
    stay.update(domains or {})
    return audit_host("hv-1", everything, stay, NOW, **kwargs)


def kinds(result, name):
    return {d["statement"]: d["kind"] for d in result["guests"][name]["drift"]}


def test_nothing_changed_no_drift_and_the_documented_shape():
    facts, place = base_host()
    granted = read_told(place["guests"][0]).granted
    assert set(granted) == {"accurate_topology", "no_nonarch_core_sharing", "dedicated"}
    result = audit(facts, place)
    assert result == {
        "audited_at": NOW, "drift": 0, "unverifiable": 0, "error": None,
        "guests": {"a": {"recorded": True, "drift": [], "error": None},
                   "b": {"recorded": True, "drift": [], "error": None}},
    }


def test_neighbour_on_a_sibling_is_sibling_shared_for_the_victim_and_repinned_for_the_mover():
    facts, place = base_host()
    # b's vCPU 1 moves from CPU 6 to CPU 5, a's idle sibling
    place["guests"][1]["vcpus"] = [[2], [5]]
    result = audit(facts, place)
    assert result["drift"] == 2
    assert kinds(result, "a") == {"no_nonarch_core_sharing": "sibling_shared"}
    drift = result["guests"]["a"]["drift"][0]
    assert drift["was"] is True and drift["now"] is False
    assert any(r["code"] == "sibling_shared" and "guest b" in r["message"] for r in drift["reasons"])
    assert set(kinds(result, "b").values()) == {"vcpu_repinned"}
    assert "accurate_topology" in kinds(result, "b")


def test_new_guest_on_a_sibling_is_sibling_shared():
    facts, place = base_host()
    place["guests"].append(guest("c", [5], emulator=[0]))
    result = audit(facts, place)
    assert kinds(result, "a") == {"no_nonarch_core_sharing": "sibling_shared"}
    assert result["guests"]["c"] == {"recorded": False, "drift": [], "error": None}


def test_repinned_vcpu_without_a_neighbour():
    facts, place = base_host()
    place["guests"][0]["vcpus"] = [[1, 3]]
    result = audit(facts, place)
    assert set(kinds(result, "a")) == {"accurate_topology", "no_nonarch_core_sharing", "dedicated"}
    assert set(kinds(result, "a").values()) == {"vcpu_repinned"}


def test_housekeeping_widened_onto_a_sibling_and_onto_a_pin():
    facts, place = base_host()
    place["housekeeping"] = [0, 4, 5]
    assert kinds(audit(facts, place), "a") == {"no_nonarch_core_sharing": "housekeeping_widened"}
    # on the vCPU's own pCPU host tasks only time-share it: dedicated is lost, core sharing is not
    place["housekeeping"] = [0, 1, 4]
    assert kinds(audit(facts, place), "a") == {"dedicated": "housekeeping_widened"}


def test_smt_switched_back_on():
    before = smt2(4, control="forceoff", offline=[4, 5, 6, 7])
    place = with_records(before, placement([guest("a", [1])], housekeeping=[0]))
    assert "no_smt" in read_told(place["guests"][0]).granted
    after = smt2(4, control="on")
    result = audit(after, place)
    found = kinds(result, "a")
    assert "no_smt" in found and set(found.values()) == {"smt_enabled"}
    assert any(r["code"] == "smt_on" for r in result["guests"]["a"]["drift"][0]["reasons"])
    # 'off' is reversible: still drift, still smt_enabled
    assert kinds(audit(smt2(4, control="off", offline=[4, 5, 6, 7]), place), "a")["no_smt"] == "smt_enabled"


def test_host_added_to_the_migration_domain_that_cannot_keep_it():
    facts, place = base_host()
    # hv-2 runs a with a neighbour on its sibling
    peer = placement([guest("a", [1]), guest("z", [5])], housekeeping=[0, 4])
    result = audit(facts, place, domains={"a": ["hv-1", "hv-2"]}, members={"hv-2": (smt2(4), peer)})
    drift = result["guests"]["a"]["drift"]
    assert kinds(result, "a") == {"no_nonarch_core_sharing": "migration_peer_cannot_keep"}
    assert drift[0]["reasons"][0]["code"] == "migration_peer_denies"
    assert any("hv-2" in r["message"] for r in drift[0]["reasons"])
    # a peer with no facts at all cannot keep anything
    result = audit(facts, place, domains={"a": ["hv-1", "hv-3"]})
    assert set(kinds(result, "a").values()) == {"migration_peer_cannot_keep"}


def test_undeclared_migration_domain_denies_like_smt_hints():
    facts, place = base_host()
    result = audit_host("hv-1", {"hv-1": (facts, place)}, {"b": []}, NOW)
    assert set(kinds(result, "a").values()) == {"migration_domain_unknown"} and kinds(result, "b") == {}
    assert result["guests"]["a"]["drift"][0]["reasons"][0]["code"] == "migration_domain_unknown"


def test_facts_gone_is_drift_not_silence():
    place = base_host()[1]
    result = audit(None, place)
    assert result["drift"] == 2
    assert set(kinds(result, "a").values()) == {"facts_unavailable"}


def test_unreadable_record_is_unverifiable_never_fine():
    facts, place = base_host()
    place["guests"][0] = dict(place["guests"][0], record=None,
                              record_error="domain a (running definition) <hvfleet:record> version: got '2'")
    broken = dict(place["guests"][1]["record"])
    broken["statements"] = dict(broken["statements"], version=7)
    place["guests"][1] = dict(place["guests"][1], record=broken)
    result = audit(facts, place)
    assert result["unverifiable"] == 2 and result["drift"] == 0
    assert "version" in result["guests"]["a"]["error"] and result["guests"]["a"]["recorded"] is True
    assert "version" in result["guests"]["b"]["error"]


def test_unresolvable_domain_is_unverifiable():
    facts, place = base_host()
    result = audit(facts, place, domain_errors={"a": "guest a: recorded migration_domain 'gone' is not a group"})
    assert result["unverifiable"] == 1 and "gone" in result["guests"]["a"]["error"]


def test_denied_statements_cannot_drift_and_plan_less_records_still_audit():
    facts = smt2(4)
    place = placement([guest("a", [1])], housekeeping=[0, 4])
    place["guests"] = [told(place["guests"][0], facts, place, granted=["dedicated"], plan=False)]
    place["housekeeping"] = [0, 4, 5]  # breaks only no_nonarch_core_sharing, which a was not given
    assert audit(facts, place)["drift"] == 0
    place["guests"][0]["vcpus"] = [[1, 2]]
    assert kinds(audit(facts, place), "a") == {"dedicated": "vcpu_repinned"}


def test_placement_error_and_no_placement():
    facts = base_host()[0]
    result = audit(facts, None, placement_error="cannot connect read-only to libvirt at qemu:///system")
    assert result["guests"] == {} and "cannot connect" in result["error"]
    assert audit(facts, None)["error"] is None
    with pytest.raises(AuditError):
        audit(facts, {"guests": "nope"})


def test_kinds_are_documented():
    text = (Path(__file__).resolve().parents[4] / "docs" / "audit.md").read_text(encoding="utf-8")
    for kind in DRIFT_KINDS:
        assert "`%s`" % kind in text, kind
