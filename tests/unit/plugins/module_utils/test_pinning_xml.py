# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import Record, find_record, set_record
from ansible_collections.hvfleet.smt.plugins.module_utils.libvirt_domain import parse_domain_xml
from ansible_collections.hvfleet.smt.plugins.module_utils.pinning_xml import (
    PinningError, apply_pinning, cpu_map, live_calls, plan_section, pretty, restart_reasons,
    statements_section, target_from_plan)

LIBVIRT = (9, 0, 0)

DOMAIN = """<domain type='kvm'>
  <name>db-1</name>
  <metadata><libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
    <libosinfo:os id="http://debian.org/debian/12"/></libosinfo:libosinfo></metadata>
  <memory unit='KiB'>16384</memory>
  <vcpu placement='static' cpuset='0-3'>2</vcpu>
  <iothreads>1</iothreads>
  <cputune><shares>2048</shares><vcpupin vcpu='0' cpuset='3'/></cputune>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <cpu mode='host-passthrough'><feature policy='disable' name='arch-capabilities'/></cpu>
  <devices/>
</domain>"""

PLAN = {"name": "db-1", "vcpus": [[2], [3]], "emulator": [0], "iothreads": [[1]],
        "topology": {"sockets": 1, "dies": 1, "clusters": 1, "cores": 1, "threads": 2},
        "plan": {"thread_policy": "require"}, "migration_domain": "rack-1", "source": "plan"}

GRANTED = {"granted": True, "reasons": [{"code": "pins_exclusive", "message": "m"}]}
DENIED = {"granted": False, "reasons": [{"code": "nested_unvouched", "message": "m"}]}
STATEMENTS = {"no_smt": DENIED, "accurate_topology": GRANTED, "no_nonarch_core_sharing": DENIED,
              "dedicated": GRANTED}


def sections(previous=None, now="2026-11-25T05:00:00Z"):
    target = target_from_plan(PLAN, "plan")
    return target, {"plan": plan_section(target, PLAN, [0, 1]),
                    "statements": statements_section(STATEMENTS, "hv-1", "rack-1", now, previous, "s")}


def test_applies_pins_topology_and_record_and_keeps_the_rest():
    target, owned = sections()
    update = apply_pinning(DOMAIN, target, owned, LIBVIRT, "db-1")
    assert update.changed
    parsed = parse_domain_xml(update.xml, "db-1")
    assert parsed.placement == "static" and parsed.cpuset is None
    assert {k: list(v) for k, v in parsed.vcpupins.items()} == {0: [2], 1: [3]}
    assert list(parsed.emulatorpin) == [0]
    assert {k: list(v) for k, v in parsed.iothreadpins.items()} == {1: [1]}
    assert parsed.topology.as_dict() == {"sockets": 1, "dies": 1, "clusters": 1, "cores": 1, "threads": 2}
    assert "<shares>2048</shares>" in update.xml
    assert "arch-capabilities" in update.xml and "libosinfo:os" in update.xml
    assert 'clusters=' not in update.xml  # libvirt 9.0 has no clusters attribute
    record = find_record(update.xml, "db-1")
    assert record.plan["vcpus"] == [[2], [3]] and record.plan["housekeeping"] == [0, 1]
    assert record.statements["statements"]["dedicated"] == {"granted": True, "reasons": ["pins_exclusive"]}
    assert any("topology" in line for line in update.changes)


def test_second_application_changes_nothing_even_later():
    target, owned = sections()
    first = apply_pinning(DOMAIN, target, owned, LIBVIRT, "db-1")
    previous = find_record(first.xml, "db-1").statements
    target, owned = sections(previous, now="2026-11-26T07:00:00Z")
    second = apply_pinning(first.xml, target, owned, LIBVIRT, "db-1")
    assert not second.changed, second.changes
    assert second.record.statements["issued"] == "2026-11-25T05:00:00Z"


def test_a_changed_statement_is_a_change_with_a_new_issue_time():
    target, owned = sections()
    first = apply_pinning(DOMAIN, target, owned, LIBVIRT, "db-1")
    previous = find_record(first.xml, "db-1").statements
    changed = dict(STATEMENTS, dedicated=DENIED)
    section = statements_section(changed, "hv-1", "rack-1", "2026-11-26T07:00:00Z", previous, "s")
    second = apply_pinning(first.xml, target, {"statements": section}, LIBVIRT, "db-1")
    assert second.changed and second.changes == ("metadata record: statements",)
    assert second.record.statements["issued"] == "2026-11-26T07:00:00Z"
    assert second.record.plan == first.record.plan  # the other section is kept


def test_other_writers_sections_are_kept():
    with_emitted = set_record(DOMAIN, Record(emitted={"cpuid": ["dedicated"]}), "db-1")
    target, owned = sections()
    update = apply_pinning(with_emitted, target, owned, LIBVIRT, "db-1")
    assert update.record.emitted == {"cpuid": ["dedicated"]}


def test_vcpu_count_mismatch_is_refused():
    target = target_from_plan(dict(PLAN, vcpus=[[2], [3], [4], [5]],
                                   topology={"sockets": 1, "cores": 2, "threads": 2}), "plan")
    with pytest.raises(PinningError, match="has 2 vCPUs, the plan pins 4"):
        apply_pinning(DOMAIN, target, {}, LIBVIRT, "db-1")


def test_iothread_count_mismatch_is_refused():
    target = target_from_plan(dict(PLAN, iothreads=[]), "plan")
    with pytest.raises(PinningError, match="1 iothreads, the plan pins 0"):
        apply_pinning(DOMAIN, target, {}, LIBVIRT, "db-1")


@pytest.mark.parametrize("bad, message", [
    (dict(PLAN, vcpus=[[2], []]), r"plan.vcpus\[1\]: expected a non-empty list"),
    (dict(PLAN, topology={"sockets": 1, "cores": 1, "threads": 1}), "makes 1 vCPUs, but the plan pins 2"),
    (dict(PLAN, topology={"sockets": 1, "cores": True, "threads": 2}), "topology.cores"),
    (dict(PLAN, emulator="0"), "plan.emulator"),
    ("db-1", "expected a planned guest"),
])
def test_bad_plans_name_the_field(bad, message):
    with pytest.raises(PinningError, match=message):
        target_from_plan(bad, "plan")


def test_clusters_need_libvirt_10_1():
    target = target_from_plan(dict(PLAN, topology={"sockets": 1, "clusters": 2, "cores": 1, "threads": 1}), "plan")
    with pytest.raises(PinningError, match="clusters=2 needs libvirt 10.1"):
        apply_pinning(DOMAIN, target, {}, LIBVIRT, "db-1")
    assert 'clusters="2"' in apply_pinning(DOMAIN, target, {}, (10, 1, 0), "db-1").xml


def test_live_calls_and_restart_reasons():
    target, owned = sections()
    live = DOMAIN.replace("<domain type='kvm'>", "<domain type='kvm' id='7'>")
    calls = live_calls(live, target, "db-1")
    assert [call.describe() for call in calls] == ["vcpu 0 -> 2", "vcpu 1 -> 3", "emulator -> 0", "iothread 1 -> 1"]
    assert restart_reasons(live, target, LIBVIRT, "db-1")  # no topology when it started
    applied = apply_pinning(live, target, owned, LIBVIRT, "db-1").xml
    assert live_calls(applied, target, "db-1") == ()
    assert restart_reasons(applied, target, LIBVIRT, "db-1") == []


def test_cpu_map_refuses_cpus_libvirt_does_not_have():
    assert cpu_map(frozenset({1, 3}), 4) == (False, True, False, True)
    with pytest.raises(PinningError, match="beyond the 2 CPUs"):
        cpu_map(frozenset({3}), 2)


def test_pretty_is_stable():
    target, owned = sections()
    text = apply_pinning(DOMAIN, target, owned, LIBVIRT, "db-1").xml
    assert pretty(text) == pretty(pretty(text))


def test_live_metadata_argument_reads_back_as_the_same_record():
    from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import NAMESPACE, parse_record
    from ansible_collections.hvfleet.smt.plugins.module_utils.pinning_xml import live_metadata_argument
    target, owned = sections()
    record = apply_pinning(DOMAIN, target, owned, LIBVIRT, "db-1").record
    text = live_metadata_argument(record)
    assert text.startswith('<record version="1">')
    # what libvirt does: put the root into the namespace
    qualified = text.replace('<record ', '<hvfleet:record xmlns:hvfleet="%s" ' % NAMESPACE, 1).replace(
        '</record>', '</hvfleet:record>')
    assert parse_record(qualified, "db-1") == record
