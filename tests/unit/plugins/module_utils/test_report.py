# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report document: its schema-1 keys, the audit's drift, and the topology picture's data."""

import copy
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import report_samples  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.hvfleet.smt.plugins.filter.report import smt_report  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.module_utils.report import (  # noqa: E402
    OWNERS,
    SCHEMA,
    build_report,
    keep_generated_at,
    render_text,
)


@pytest.fixture(scope="module")
def report():
    return report_samples.sample_report()


def host(report, name):
    return next(h for h in report["hosts"] if h["name"] == name)


def threads(entry):
    return {t["cpu"]: t for p in entry["topology"]["packages"] for c in p["cores"] for t in c["threads"]}


def test_schema_one_keys_are_all_still_there(report):
    # Keys documented before the audit and the picture existed: never removed or renamed.
    assert report["schema"] == SCHEMA == 1
    assert set(report) == {"schema", "generated_at", "summary", "hosts"}
    assert {"hosts", "hosts_failed", "hosts_smt_possible", "smt_control", "guests", "granted",
            "denied_by_reason"} <= set(report["summary"])
    big = host(report, "hv-big")
    assert {"name", "error", "collected_at", "sysroot", "smt_control", "smt_possible", "threads_per_core",
            "cpus_online", "cpus_offline", "cores", "packages", "numa_nodes", "nested", "cmdline_nosmt",
            "core_scheduling", "vulnerable_with_smt", "housekeeping", "guests"} <= set(big)
    assert {"name", "vcpus", "pins", "topology", "statements"} <= set(big["guests"][0])


def test_the_document_is_plain_json(report):
    assert json.loads(json.dumps(report)) == report


def test_summary_counts_grants_and_denials_per_statement(report):
    s = report["summary"]
    assert s["guests"] == 26
    for key in ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated"):
        assert s["granted"][key] + s["denied"][key] == s["guests"]
    # web-1 and web-2 are each other's siblings; so are the two vCPUs' cores of batch-float's neighbours.
    assert s["denied_by_statement"]["no_nonarch_core_sharing"]["sibling_shared"] >= 2
    assert s["denied_by_statement"]["accurate_topology"] == {"vcpu_floating": 1}
    total = {}
    for per in s["denied_by_statement"].values():
        for code, n in per.items():
            total[code] = total.get(code, 0) + n
    assert total == s["denied_by_reason"]


def test_drift_from_the_audit_per_guest_and_in_total(report):
    s = report["summary"]
    assert (s["hosts_audited"], s["drift"], s["guests_drifted"], s["unverifiable"]) == (2, 2, 2, 0)
    assert s["drift_by_kind"] == {"sibling_shared": 1, "vcpu_repinned": 1}
    big = host(report, "hv-big")
    assert big["audit"] == {"audited_at": "2026-11-25T05:40:00Z", "drift": 2, "unverifiable": 0, "error": None}
    web1 = next(g for g in big["guests"] if g["name"] == "web-1")
    assert web1["audit"] == {"recorded": True, "error": None}
    assert web1["drift"] == [{
        "statement": "no_nonarch_core_sharing", "was": True, "now": False, "kind": "sibling_shared",
        "reasons": [{"code": "sibling_shared",
                     "message": "vCPU 0 on CPU 118 shares core 118 with CPU 246, which guest web-2 (vCPU 0) uses"}],
    }]
    assert all(g["drift"] == [] for g in big["guests"] if g["name"] not in ("web-1", "vm-03"))


def test_hosts_without_an_audit_have_audit_null_and_empty_drift():
    data = report_samples.hostvars()
    del data["hv-big"]["hvfleet_smt_audit"]
    doc = smt_report(data, generated_at="t")
    big = host(doc, "hv-big")
    assert big["audit"] is None
    assert all(g["drift"] == [] and g["audit"] is None for g in big["guests"])
    assert doc["summary"]["hosts_audited"] == 1


def test_audited_guests_missing_from_the_placement_are_still_listed():
    data = report_samples.hostvars()
    data["hv-small"]["hvfleet_smt_audit"]["guests"]["gone-1"] = {
        "recorded": True, "error": "domain gone-1 not found", "drift": []}
    doc = smt_report(data, generated_at="t")
    gone = next(g for g in host(doc, "hv-small")["guests"] if g["name"] == "gone-1")
    assert gone["audit"] == {"recorded": True, "error": "domain gone-1 not found"}
    assert "vcpus" not in gone and not any(s["granted"] for s in gone["statements"].values())


def test_big_host_topology_has_every_thread_in_its_core(report):
    big = host(report, "hv-big")
    packages = big["topology"]["packages"]
    assert [p["id"] for p in packages] == [0, 1]
    assert [len(p["cores"]) for p in packages] == [64, 64]
    for p in packages:
        for c in p["cores"]:
            assert len(c["threads"]) == 2
            assert c["threads"][1]["cpu"] == c["threads"][0]["cpu"] + 128
    assert sorted(threads(big)) == list(range(256))
    assert big["topology"]["offline"] == []


def test_owners(report):
    t = threads(host(report, "hv-big"))
    assert {x["owner"] for x in t.values()} <= set(OWNERS)
    assert (t[0]["owner"], t[128]["owner"], t[64]["owner"]) == ("housekeeping",) * 3
    assert (t[1]["owner"], t[1]["guest"], t[129]["guest"]) == ("guest", "vm-00", "vm-00")
    assert t[1]["vcpus"] == [{"guest": "vm-00", "vcpu": 0}] and t[129]["vcpus"] == [{"guest": "vm-00", "vcpu": 1}]
    assert (t[61]["owner"], t[61]["guest"]) == ("idle", None)
    # Emulators run on housekeeping CPUs: still housekeeping, with the guests listed as helpers.
    assert "vm-00" in t[0]["helpers"] and t[0]["housekeeping"] is True
    assert t[0]["isolated"] is False and t[1]["isolated"] is True


def test_split_cores_are_exactly_the_shared_ones(report):
    big = host(report, "hv-big")
    split = sorted(c["threads"][0]["cpu"] for p in big["topology"]["packages"] for c in p["cores"] if c["split"])
    # web-1/web-2 share cores 118 and 119; batch-float's vCPUs float beside its own emulator on 120, 121.
    assert split == [118, 119, 120, 121]


def test_offline_cpus_are_listed_apart(report):
    small = host(report, "hv-small")
    assert small["topology"]["offline"] == [4, 5, 6, 7]
    assert sorted(threads(small)) == [0, 1, 2, 3]


def test_without_a_placement_nobody_can_say_a_thread_is_idle():
    facts = report_samples.host_facts(1, 2, 2)
    doc = build_report({"hv": {"facts": facts}}, "t")
    assert {t["owner"] for t in threads(doc["hosts"][0]).values()} == {"unknown"}
    assert doc["hosts"][0]["guests"] == []


def test_a_guest_called_like_an_owner_is_still_a_guest():
    facts = report_samples.host_facts(1, 2, 2)
    placement = {"housekeeping": [0], "guests": [report_samples.guest("idle", [1], 1, [0])]}
    t = threads(build_report({"hv": {"facts": facts, "placement": placement}}, "t")["hosts"][0])
    assert (t[1]["owner"], t[1]["guest"]) == ("guest", "idle")
    assert (t[3]["owner"], t[3]["guest"]) == ("idle", None)


def test_vcpus_of_two_guests_on_one_thread_are_shared():
    facts = report_samples.host_facts(1, 2, 2)
    placement = {"housekeeping": [0], "guests": [report_samples.guest("a", [1], 1, [0]),
                                                 report_samples.guest("b", [1], 1, [0])]}
    t = threads(build_report({"hv": {"facts": facts, "placement": placement}}, "t")["hosts"][0])
    assert (t[1]["owner"], t[1]["guest"]) == ("shared", None)
    assert [v["guest"] for v in t[1]["vcpus"]] == ["a", "b"]


def test_unpinned_emulator_may_run_on_every_online_cpu():
    facts = report_samples.host_facts(1, 2, 2)
    placement = {"housekeeping": [0], "guests": [report_samples.guest("a", [1], 1, None)]}
    t = threads(build_report({"hv": {"facts": facts, "placement": placement}}, "t")["hosts"][0])
    assert all(x["helpers"] == ["a"] for x in t.values())
    assert t[3]["owner"] == "guest"  # only its emulator may run there


def test_same_inputs_keep_the_previous_timestamp(report):
    again = report_samples.sample_report()
    again["generated_at"] = "2099-01-01T00:00:00Z"
    assert keep_generated_at(again, report)["generated_at"] == report["generated_at"]
    # Through the filter, with the previous report as written text.
    doc = smt_report(report_samples.hostvars(), generated_at="2099-01-01T00:00:00Z", previous=json.dumps(report))
    assert doc == report


def test_changed_inputs_take_the_new_timestamp(report):
    data = report_samples.hostvars()
    data["hv-small"]["ansible_facts"]["hvfleet_smt"]["collected_at"] = "2026-11-26T00:00:00Z"
    doc = smt_report(data, generated_at="2099-01-01T00:00:00Z", previous=report)
    assert doc["generated_at"] == "2099-01-01T00:00:00Z"


@pytest.mark.parametrize("previous", [None, "", "not json", "[1, 2]", {"schema": 1}, {"generated_at": 5}])
def test_an_unusable_previous_report_is_ignored(previous):
    doc = smt_report(report_samples.hostvars(), generated_at="2099-01-01T00:00:00Z", previous=previous)
    assert doc["generated_at"] == "2099-01-01T00:00:00Z"


def test_text_summary_shows_drift(report):
    text = render_text(report)
    assert text.startswith("hvfleet.smt report (2026-11-25T06:00:00Z)\n")
    assert "audit of 2 hosts: 2 statements no longer hold on 2 guests, 0 unverifiable" in text
    assert "DRIFT no_nonarch_core_sharing: was granted, now denied (sibling_shared)" in text


def test_building_does_not_touch_its_inputs():
    data = report_samples.hostvars()
    before = copy.deepcopy(data)
    smt_report(data, generated_at="t")
    assert data == before


def test_a_host_the_audit_could_not_audit_says_why():
    data = report_samples.hostvars()
    data["hv-small"]["hvfleet_smt_audit"] = {"audited_at": "t", "drift": 0, "unverifiable": 2,
                                             "error": "libvirt unreachable", "guests": {}}
    doc = smt_report(data, generated_at="t")
    assert host(doc, "hv-small")["audit"] == {"audited_at": "t", "drift": 0, "unverifiable": 2,
                                              "error": "libvirt unreachable"}
    assert doc["summary"]["unverifiable"] == 2
    from ansible_collections.hvfleet.smt.plugins.module_utils.report_html import render_html
    assert "audit failed: libvirt unreachable" in render_html(doc)
