# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rendered guest settings: what the engine granted, in the renderers' own formats, with a record the audit reads."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from oracle.hosts import guest, placement, smt2  # noqa: E402

from ansible_collections.hvfleet.smt.plugins.module_utils.audit import audit_host, read_told  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import find_record  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.module_utils.guest_settings import render_host, text_file, with_records  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.module_utils.hints import decide_host  # noqa: E402

ISSUED = "2026-11-25T05:00:00Z"


def rendered():
    facts = smt2(4)
    place = placement([guest("a", [1]), guest("b", [2, 6], threads=2), guest("f", [[3, 7]])], housekeeping=[0, 4])
    return facts, place, render_host(decide_host(facts, place, host="hv-1"), place, "hv-1", ISSUED,
                                     migration_domain="rack-1")


def test_granted_statements_reach_cpuid_qemu_and_libvirt_and_denied_ones_do_not():
    out = rendered()[2]
    b = out["b"]
    assert b["error"] is None and set(b["granted"]) == {"accurate_topology", "no_nonarch_core_sharing", "dedicated"}
    assert "kvm-hint-dedicated=on" in ",".join(b["qemu_args"]) and "<hint-dedicated" in b["libvirt_xml"]
    assert "threads=2" in ",".join(b["qemu_args"])
    assert b["document"]["migration_domain"] == "rack-1"
    floating = out["f"]
    assert floating["granted"] == [] and "hint-dedicated" not in floating["libvirt_xml"]
    assert "kvm-hint-dedicated" not in ",".join(floating["qemu_args"])
    assert "## CPUID the guest reads" in text_file("hv-1", "b", b)


def test_the_record_in_the_xml_is_what_the_audit_reads_and_it_holds():
    facts, place, out = rendered()
    record = find_record(out["b"]["libvirt_xml"], "b").to_dict()
    assert record == out["b"]["record"] and record["plan"]["vcpus"] == [[2], [6]]
    applied = with_records(place, out)
    told = read_told(next(g for g in applied["guests"] if g["name"] == "b"))
    assert set(told.granted) == set(out["b"]["granted"]) and told.migration_domain == "rack-1"
    result = audit_host("hv-1", {"hv-1": (facts, applied)}, {"a": [], "b": [], "f": []}, ISSUED)
    assert result["drift"] == 0 and result["unverifiable"] == 0


def test_a_guest_missing_from_the_placement_gets_an_error_not_an_exception():
    facts, place = rendered()[:2]
    out = render_host({"ghost": decide_host(facts, place, host="hv-1")["a"]}, place, "hv-1", ISSUED)
    assert "not in the placement" in out["ghost"]["error"]
