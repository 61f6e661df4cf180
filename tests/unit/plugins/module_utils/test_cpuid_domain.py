# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils import statement_document as sd
from ansible_collections.hvfleet.smt.plugins.module_utils.cpuid_domain import (
    apply_to_domain, decide, document_from_argument_file, qemu_argument_lines, recorded_document,
    recorded_topology, restart_reasons)
from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import Record, find_record, set_record
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import RenderError

DOMAIN = """<domain type='kvm'><name>g1</name><vcpu placement='static'>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <cpu mode='host-passthrough'><feature policy='disable' name='arch-capabilities'/></cpu>
  <devices/></domain>"""
TOPOLOGY = {"sockets": 1, "dies": 1, "cores": 1, "threads": 2}
GRANTED = {"granted": True, "reasons": [{"code": "pins_exclusive", "message": "m"}]}
DENIED = {"granted": False, "reasons": [{"code": "guest_on_pin", "message": "m"}]}
NOW = "2026-11-25T05:00:00Z"


def guest(dedicated, nonarch=False, hyperv=False, previous=None, now=NOW, request=None):
    statements = {"no_smt": DENIED, "accurate_topology": GRANTED,
                  "no_nonarch_core_sharing": GRANTED if nonarch else DENIED,
                  "dedicated": GRANTED if dedicated else DENIED}
    return decide(statements, TOPOLOGY, hyperv, "AuthenticAMD", request, True, "hv-1", None, now, previous, "g1")


@pytest.mark.parametrize("dedicated", [True, False])
def test_hint_dedicated_exactly_when_granted(dedicated):
    update = apply_to_domain(DOMAIN, guest(dedicated), "9.0.0", "g1")
    assert ("hint-dedicated" in update.xml) == dedicated
    assert update.emitted == {"cpuid": ["dedicated"] if dedicated else [], "fw_cfg": True, "smbios": True}
    record = find_record(update.xml, "g1")
    assert record.statements["statements"]["dedicated"]["granted"] is dedicated
    assert record.emitted == update.emitted
    assert "qemu:commandline" not in update.xml and update.changes.taints == ()
    assert "topoext" in update.xml  # AMD guest shown 2 threads per core


def test_hyperv_guest_gets_the_pass_through_and_is_tainted():
    update = apply_to_domain(DOMAIN, guest(True, nonarch=True, hyperv=True), "9.0.0", "g1")
    assert "x86_64-cpu.hv-no-nonarch-coresharing=on" in update.xml
    assert update.changes.taints == ("custom-argv",)
    assert update.emitted["cpuid"] == ["dedicated", "no_nonarch_core_sharing"]


def test_requesting_a_denied_statement_is_refused_with_the_reason():
    with pytest.raises(RenderError, match="guest_on_pin"):
        guest(False, request=["dedicated"])


def test_second_run_changes_nothing_and_keeps_the_issue_time():
    first = apply_to_domain(DOMAIN, guest(True), "9.0.0", "g1")
    later = guest(True, previous=recorded_document(first.xml, "g1"), now="2026-11-30T00:00:00Z")
    second = apply_to_domain(first.xml, later, "9.0.0", "g1")
    assert not second.changed
    assert later.document["issued"] == NOW


def test_withdrawn_grant_is_taken_back():
    first = apply_to_domain(DOMAIN, guest(True), "9.0.0", "g1")
    second = apply_to_domain(first.xml, guest(False, previous=recorded_document(first.xml, "g1")), "9.0.0", "g1")
    assert second.changed and "hint-dedicated" not in second.xml


def test_restart_reasons_follow_the_live_definition():
    applied = apply_to_domain(DOMAIN, guest(True), "9.0.0", "g1").xml
    assert restart_reasons(DOMAIN, guest(True), "9.0.0", "g1")
    assert restart_reasons(applied, guest(True), "9.0.0", "g1") == []


def test_recorded_topology_comes_from_the_plan_section():
    assert recorded_topology(DOMAIN, "g1") is None
    pinned = set_record(DOMAIN, Record(plan={"topology": TOPOLOGY}), "g1")
    assert recorded_topology(pinned, "g1") == TOPOLOGY


def test_argument_file_round_trip_keeps_the_issue_time():
    lines = qemu_argument_lines(guest(True), "7.2.0", "host", ["-arch-capabilities"])
    assert lines[:2] == ["-smp", "2,sockets=1,dies=1,cores=1,threads=2"]
    assert "kvm-hint-dedicated=on" in lines[3]
    text = "\n".join(lines) + "\n"
    previous = document_from_argument_file(text, "g1.args")
    assert previous["issued"] == NOW
    again = qemu_argument_lines(guest(True, previous=previous, now="2026-12-01T00:00:00Z"), "7.2.0", "host",
                                ["-arch-capabilities"])
    assert "\n".join(again) + "\n" == text
    assert sd.parse_document(sd.document_from_fw_cfg(lines[lines.index("-fw_cfg") + 1].split("string=")[1]))


def test_denied_dedicated_never_reaches_qemu_arguments():
    lines = qemu_argument_lines(guest(False), "7.2.0", "host", [])
    assert not any("kvm-hint-dedicated" in line for line in lines)
