# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hand-written cases for the hint engine: every reason code, every subtlety of docs/statements.md.

Each case is also checked against the brute-force oracle, so a case that is
wrong here is wrong in two independent places before it passes.
"""

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from oracle import brute  # noqa: E402
from oracle.hosts import facts, guest, placement, smt2  # noqa: E402

from ansible_collections.hvfleet.smt.plugins.module_utils import hints  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.module_utils.hints import (  # noqa: E402
    STATEMENTS,
    PlacementError,
    Policy,
    decide_domain,
    decide_domains,
    decide_host,
    read_facts,
    validate_placement,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.reasons import CATALOG, DENY_CODES, GRANT_CODES  # noqa: E402

REPO = Path(__file__).resolve().parents[4]


def decide(host_facts, host_placement, name, **kwargs):
    """Decide one guest, and check the oracle agrees on every statement."""
    result = decide_host(host_facts, host_placement, host="hv-1", **kwargs)[name]
    if not kwargs:
        expected = brute.oracle_host(host_facts, host_placement)[name]
        assert {s: result[s]["granted"] for s in STATEMENTS} == expected
    for statement in STATEMENTS:
        assert result[statement]["reasons"], "%s has no reasons" % statement
        allowed = GRANT_CODES if result[statement]["granted"] else DENY_CODES
        for reason in result[statement]["reasons"]:
            assert reason["code"] in allowed, reason
            assert reason["message"] and "please report" not in reason["message"]
    return result


def codes(result, statement):
    return [reason["code"] for reason in result[statement]["reasons"]]


def messages(result, statement, code):
    return [reason["message"] for reason in result[statement]["reasons"] if reason["code"] == code]


def granted(result):
    return {s for s in STATEMENTS if result[s]["granted"]}


# A guest on two whole cores of smt2(4): core 1 = CPUs 1,5 and core 2 = CPUs 2,6,
# numbered so that vCPUs 0,1 are the threads of core 1 and 2,3 those of core 2.
WHOLE = [1, 5, 2, 6]


# --------------------------------------------------------------------------
# no_smt
# --------------------------------------------------------------------------


def test_forceoff_with_single_threads_grants_no_smt_and_thereby_core_sharing():
    host = smt2(4, control="forceoff", offline=[4, 5, 6, 7])
    # Floating over every online CPU: only no_smt can carry no_nonarch_core_sharing.
    result = decide(host, placement([guest("g", [[0, 1, 2, 3]] * 2, threads=1)], housekeeping=[0]), "g")
    assert granted(result) == {"no_smt", "no_nonarch_core_sharing"}
    assert codes(result, "no_smt") == ["smt_impossible"]
    assert codes(result, "no_nonarch_core_sharing") == ["smt_impossible"]
    assert "'forceoff'" in result["no_smt"]["reasons"][0]["message"]


@pytest.mark.parametrize("control", ["notsupported", "notimplemented", "forceoff"])
def test_smt_impossible_controls_grant_no_smt(control):
    host = facts([[0], [1], [2], [3]], control=control)
    result = decide(host, placement([guest("g", [1, 2])]), "g")
    assert result["no_smt"]["granted"]


def test_off_is_reversible_and_names_the_remedy():
    host = smt2(4, control="off", offline=[4, 5, 6, 7])
    result = decide(host, placement([guest("g", [1, 2])]), "g")
    assert codes(result, "no_smt") == ["smt_reversible"]
    message = result["no_smt"]["reasons"][0]["message"]
    assert "forceoff" in message and "nosmt=force" in message


@pytest.mark.parametrize(
    "control, code, words",
    [
        ("on", "smt_on", "'on'"),
        ("2", "smt_on", "up to 2 threads"),
        ("1", "smt_on", "'1'"),
        ("unknown", "smt_unknown", "kernel older than 4.19"),
        ("bogus", "smt_unknown", "not a known value"),
    ],
)
def test_smt_possible_controls_deny_no_smt(control, code, words):
    host = facts([[0], [1], [2], [3]], control=control)
    result = decide(host, placement([guest("g", [1, 2])]), "g")
    assert codes(result, "no_smt") == [code]
    assert words in result["no_smt"]["reasons"][0]["message"]


def test_a_multi_thread_core_denies_no_smt_whatever_the_control_says():
    host = facts([[0], [1, 3], [2]], control="forceoff")
    result = decide(host, placement([guest("g", [2])]), "g")
    assert codes(result, "no_smt") == ["multi_thread_core"]
    assert "CPUs 1,3" in result["no_smt"]["reasons"][0]["message"]


def test_notimplemented_with_an_offline_cpu_denies_no_smt():
    host = facts([[0], [1], [2], [3]], control="notimplemented", offline=[3])
    result = decide(host, placement([guest("g", [1])]), "g")
    assert codes(result, "no_smt") == ["offline_cpu_may_return"]
    assert "CPUs 3" in result["no_smt"]["reasons"][0]["message"]


def test_notsupported_with_an_offline_cpu_still_grants_no_smt():
    host = facts([[0], [1], [2], [3]], control="notsupported", offline=[3])
    assert decide(host, placement([guest("g", [1])]), "g")["no_smt"]["granted"]


# --------------------------------------------------------------------------
# Nested hosts
# --------------------------------------------------------------------------


def test_nested_notsupported_host_is_denied_no_smt_unless_vouched():
    """The localhost scenario: a KVM guest whose CPUs show notsupported."""
    host = facts([[0], [1], [2], [3]], control="notsupported", nested=True)
    result = decide(host, placement([guest("g", [1, 2])]), "g")
    assert "nested_unvouched" in codes(result, "no_smt")
    assert granted(result) == set()
    for statement in STATEMENTS:
        assert "nested_unvouched" in codes(result, statement)

    vouched = facts([[0], [1], [2], [3]], control="notsupported", nested=True, vouched={"no_smt": True})
    result = decide(vouched, placement([guest("g", [1, 2])]), "g")
    assert granted(result) == {"no_smt", "no_nonarch_core_sharing"}
    assert codes(result, "no_smt") == ["smt_impossible", "nested_vouched"]


def test_nested_vouch_false_is_no_vouch():
    host = facts([[0], [1]], control="notsupported", nested=True, vouched={"no_smt": False})
    assert "nested_unvouched" in codes(decide(host, placement([guest("g", [1])]), "g"), "no_smt")


@pytest.mark.parametrize(
    "vouched, expect_nn",
    [
        ({"accurate_topology": True}, False),
        ({"no_nonarch_core_sharing": True}, False),
        ({"accurate_topology": True, "no_nonarch_core_sharing": True}, True),
    ],
)
def test_nested_core_sharing_needs_topology_and_core_sharing_vouched(vouched, expect_nn):
    host = smt2(4, nested=True, vouched=vouched)
    result = decide(host, placement([guest("g", WHOLE, threads=2)], housekeeping=[0, 4]), "g")
    assert result["accurate_topology"]["granted"] == ("accurate_topology" in vouched)
    assert result["no_nonarch_core_sharing"]["granted"] is expect_nn
    if expect_nn:
        assert "nested_vouched" in codes(result, "no_nonarch_core_sharing")
    else:
        assert "nested_unvouched" in codes(result, "no_nonarch_core_sharing")


def test_nested_dedicated_needs_its_own_vouch():
    host = smt2(4, nested=True, vouched={"accurate_topology": True})
    result = decide(host, placement([guest("g", WHOLE, threads=2)], housekeeping=[0, 4]), "g")
    assert not result["dedicated"]["granted"]
    assert codes(result, "dedicated") == ["nested_unvouched"]
    host = smt2(4, nested=True, vouched={"dedicated": True})
    result = decide(host, placement([guest("g", WHOLE, threads=2)], housekeeping=[0, 4]), "g")
    assert result["dedicated"]["granted"]
    assert codes(result, "dedicated") == ["pins_exclusive", "nested_vouched"]


# --------------------------------------------------------------------------
# accurate_topology
# --------------------------------------------------------------------------


def test_whole_cores_shown_as_siblings_is_accurate():
    result = decide(smt2(4), placement([guest("g", WHOLE, threads=2)], housekeeping=[0, 4]), "g")
    assert granted(result) == {"accurate_topology", "no_nonarch_core_sharing", "dedicated"}
    assert codes(result, "accurate_topology") == ["topology_accurate"]
    assert codes(result, "no_nonarch_core_sharing") == ["topology_accurate", "cores_exclusive"]
    assert codes(result, "dedicated") == ["pins_exclusive"]


def test_one_thread_per_core_shown_as_cores_is_accurate():
    result = decide(smt2(4), placement([guest("g", [1, 2, 3])], housekeeping=[0, 4]), "g")
    assert result["accurate_topology"]["granted"]


def test_topology_unknown():
    g = guest("g", [1, 2], threads=None)
    result = decide(smt2(4), placement([g]), "g")
    assert codes(result, "accurate_topology") == ["topology_unknown"]


def test_topology_product_mismatch_is_a_denial_not_an_error():
    g = guest("g", [1, 2, 3], threads=1, cores=4)
    result = decide(smt2(4), placement([g]), "g")
    assert codes(result, "accurate_topology") == ["topology_product_mismatch"]
    assert "4 CPUs, but the guest has 3 vCPUs" in result["accurate_topology"]["reasons"][0]["message"]


def test_vcpu_floating_groups_vcpus_with_the_same_pin_set():
    g = guest("g", [[1, 2], [1, 2], [3]], threads=1)
    result = decide(smt2(4), placement([g]), "g")
    assert codes(result, "accurate_topology") == ["vcpu_floating"]
    assert result["accurate_topology"]["reasons"][0]["message"].startswith("vCPUs 0-1 may run on CPUs 1-2")
    assert codes(result, "dedicated") == ["vcpu_floating"]


def test_pin_offline_denies_topology_and_dedicated():
    host = smt2(4, offline=[6])
    result = decide(host, placement([guest("g", WHOLE, threads=2)], housekeeping=[0, 4]), "g")
    assert "pin_offline" in codes(result, "accurate_topology")
    assert "pin_offline" in codes(result, "dedicated")
    assert "vCPU 3 is pinned to CPU 6, which is offline" in messages(result, "dedicated", "pin_offline")


def test_pin_shared_is_a_denial_not_an_error():
    g = guest("g", [1, 1, 2], threads=1)
    result = decide(smt2(4), placement([g], housekeeping=[0, 4]), "g")
    assert codes(result, "accurate_topology") == ["pin_shared"]
    assert messages(result, "dedicated", "pin_shared") == ["vCPUs 0, 1 are all pinned to CPU 1"]


def test_split_siblings():
    # Shown as one core with two threads, pinned to two different cores.
    result = decide(smt2(4), placement([guest("g", [1, 2], threads=2)]), "g")
    assert codes(result, "accurate_topology") == ["split_siblings"]
    assert "run on different physical cores" in result["accurate_topology"]["reasons"][0]["message"]


def test_hidden_siblings():
    # Shown as two cores, pinned to the two threads of one core.
    result = decide(smt2(4), placement([guest("g", [1, 5], threads=1)]), "g")
    assert codes(result, "accurate_topology") == ["hidden_siblings"]
    assert "core 1 (CPUs 1,5)" in result["accurate_topology"]["reasons"][0]["message"]


def test_more_threads_per_core_than_the_host_has_is_denied():
    result = decide(smt2(4), placement([guest("g", [1, 5, 2, 6], threads=4)]), "g")
    assert not result["accurate_topology"]["granted"]
    assert "split_siblings" in codes(result, "accurate_topology")


def test_hidden_siblings_inside_an_smt4_core():
    host = facts([[0, 1, 2, 3], [4, 5, 6, 7]])
    result = decide(host, placement([guest("g", [4, 5, 6, 7], threads=2)], housekeeping=[0]), "g")
    assert codes(result, "accurate_topology") == ["hidden_siblings"]


def test_hybrid_host_p_core_pair_and_e_cores():
    host = facts([[0, 1], [2, 3], [4], [5]])
    ok = decide(host, placement([guest("g", [2, 3], threads=2)], housekeeping=[0, 1]), "g")
    assert ok["accurate_topology"]["granted"]
    # E-cores have one thread: showing them as siblings splits them.
    bad = decide(host, placement([guest("g", [4, 5], threads=2)], housekeeping=[0, 1]), "g")
    assert codes(bad, "accurate_topology") == ["split_siblings"]


def test_sockets_and_dies_number_threads_fastest():
    host = smt2(8)
    g = guest("g", [1, 9, 2, 10, 3, 11, 4, 12], threads=2, sockets=2, cores=2)
    g["topology"]["dies"] = 1
    assert decide(host, placement([g], housekeeping=[0, 8]), "g")["accurate_topology"]["granted"]


# --------------------------------------------------------------------------
# no_nonarch_core_sharing: co-residency
# --------------------------------------------------------------------------


def test_sibling_shared_names_the_other_guest_like_the_issue():
    # 32 cores x 2 threads, siblings 32 apart; the kernel calls the core of CPUs 5,37 "core 3".
    cores = [[c, c + 32] for c in range(32)]
    host = facts(cores, core_ids=[c - 2 if c >= 2 else c + 30 for c in range(32)])
    db1 = guest("db-1", [2, 3, 5, 6], threads=1)
    db2 = guest("db-2", [37], threads=1)
    result = decide(host, placement([db1, db2], housekeeping=[0, 32]), "db-1")
    assert "vCPU 2 on CPU 5 shares core 3 with CPU 37, which guest db-2 (vCPU 0) uses" in messages(
        result, "no_nonarch_core_sharing", "sibling_shared"
    )
    assert result["accurate_topology"]["granted"]
    assert not result["no_nonarch_core_sharing"]["granted"]


def test_a_foreign_user_on_a_lone_vcpus_own_thread_only_time_shares():
    # One vCPU per core; housekeeping and the emulator sit on the vCPU's own thread.
    g = guest("g", [1, 2], threads=1, emulator=[1])
    result = decide(smt2(4), placement([g], housekeeping=[0, 4, 2]), "g")
    assert result["no_nonarch_core_sharing"]["granted"]
    assert not result["dedicated"]["granted"]
    assert set(codes(result, "dedicated")) == {"housekeeping_on_pin", "emulator_on_pin"}


def test_a_foreign_user_on_a_sibling_that_is_itself_a_vcpu_pin_denies():
    # Whole cores; the emulator may run on CPU 5, which is vCPU 1's thread, beside vCPU 0 on CPU 1.
    g = guest("g", WHOLE, threads=2, emulator=[5])
    result = decide(smt2(4), placement([g], housekeeping=[0, 4]), "g")
    assert result["accurate_topology"]["granted"]
    assert not result["no_nonarch_core_sharing"]["granted"]
    sentences = messages(result, "no_nonarch_core_sharing", "sibling_shared")
    assert "vCPU 0 on CPU 1 shares core 1 with CPU 5 (vCPU 1 of this guest), which this guest's emulator also uses" in sentences


@pytest.mark.parametrize(
    "who, words",
    [
        ("housekeeping", "host tasks (housekeeping from test housekeeping)"),
        ("own_emulator", "this guest's emulator"),
        ("own_iothread", "this guest's iothread 0"),
        ("other_emulator", "guest h's emulator"),
        ("other_iothread", "guest h's iothread 0"),
        ("other_vcpu", "guest h (vCPU 0)"),
        ("default_emulator", "guest h's emulator"),
    ],
)
def test_every_kind_of_foreign_user_on_a_sibling_denies(who, words):
    housekeeping = [0, 4]
    mine = guest("g", [1, 2], threads=1)
    other = guest("h", [3], threads=1)
    if who == "housekeeping":
        housekeeping = [0, 4, 5]
    elif who == "own_emulator":
        mine["emulator"] = [5]
    elif who == "own_iothread":
        mine["iothreads"] = [[5]]
    elif who == "other_emulator":
        other["emulator"] = [5]
    elif who == "other_iothread":
        other["iothreads"] = [[5]]
    elif who == "other_vcpu":
        other = guest("h", [5], threads=1)
    elif who == "default_emulator":
        other = guest("h", [5], threads=1, emulator=None)
    result = decide(smt2(4), placement([mine, other], housekeeping=housekeeping), "g")
    assert result["accurate_topology"]["granted"]
    assert not result["no_nonarch_core_sharing"]["granted"]
    sentences = messages(result, "no_nonarch_core_sharing", "sibling_shared")
    assert any(words in sentence and "shares core 1 with CPU 5" in sentence for sentence in sentences), sentences


def test_an_unused_sibling_does_not_deny():
    result = decide(smt2(4), placement([guest("g", [1, 2], threads=1)], housekeeping=[0, 4]), "g")
    assert result["no_nonarch_core_sharing"]["granted"]
    assert codes(result, "no_nonarch_core_sharing") == ["topology_accurate", "cores_exclusive"]


def test_unknown_housekeeping_counts_every_cpu():
    result = decide(smt2(4), placement([guest("g", [1, 2], threads=1, emulator=[0])], housekeeping=None), "g")
    assert not result["no_nonarch_core_sharing"]["granted"]
    assert not result["dedicated"]["granted"]
    assert any("housekeeping set unknown" in m for m in messages(result, "dedicated", "housekeeping_on_pin"))


def test_offline_sibling_may_return_unless_forced_off():
    host = smt2(4, offline=[5])  # control 'on': CPU 5 can be onlined beside vCPU 0
    result = decide(host, placement([guest("g", [1, 2], threads=1)], housekeeping=[0, 4]), "g")
    assert result["accurate_topology"]["granted"]
    assert codes(result, "no_nonarch_core_sharing") == ["offline_cpu_may_return"]
    assert "CPUs 5" in result["no_nonarch_core_sharing"]["reasons"][0]["message"]


def test_offline_rule_covers_notimplemented_but_not_forceoff():
    # A core with two online threads keeps no_smt denied, so no_nonarch_core_sharing rests on the topology.
    cores = [[0, 4], [1, 5], [2], [3]]
    g = guest("g", [1, 5], threads=2)
    for control, expect in (("notimplemented", False), ("forceoff", True), ("notsupported", True), ("off", False)):
        host = facts(cores, control=control, offline=[3])
        result = decide(host, placement([g], housekeeping=[0, 4]), "g")
        assert not result["no_smt"]["granted"]
        assert result["no_nonarch_core_sharing"]["granted"] is expect, control
        assert ("offline_cpu_may_return" in codes(result, "no_nonarch_core_sharing")) is (not expect)


def test_needs_accurate_topology_lists_both_denials():
    result = decide(smt2(4), placement([guest("g", [1, 5], threads=1)]), "g")
    reason = result["no_nonarch_core_sharing"]["reasons"][0]
    assert reason["code"] == "needs_accurate_topology"
    assert "smt_on" in reason["message"] and "hidden_siblings" in reason["message"]


# --------------------------------------------------------------------------
# dedicated
# --------------------------------------------------------------------------


def test_dedicated_reasons_name_each_kind_of_foreign_user():
    mine = guest("g", [1, 2, 3], threads=1, emulator=[1], iothreads=[[2]])
    other = guest("h", [[3, 7]], threads=1, emulator=[0])
    result = decide(smt2(4), placement([mine, other], housekeeping=[0, 4, 1]), "g")
    assert set(codes(result, "dedicated")) == {"housekeeping_on_pin", "emulator_on_pin", "iothread_on_pin", "guest_on_pin"}
    assert messages(result, "dedicated", "guest_on_pin") == ["vCPU 2's CPU 3 is also used by guest h (vCPU 0)"]
    assert messages(result, "dedicated", "iothread_on_pin")[0].startswith("vCPU 1 runs on CPU 2")


def test_unpinned_emulator_without_cpuset_runs_on_every_online_cpu():
    """Neither <emulatorpin> nor <vcpu cpuset>: libvirt pins the emulator to every online CPU.

    So it may run beside every other guest's vCPUs, and on them: no guest of
    the host keeps dedicated or no_nonarch_core_sharing, and each denial names
    the floating emulator (docs/placement.md).
    """
    mine = guest("g", WHOLE, threads=2)
    other = guest("h", [3, 7], threads=2, emulator=None)
    result = decide(smt2(4), placement([mine, other], housekeeping=[0, 4]), "g")
    assert granted(result) == {"accurate_topology"}
    assert set(codes(result, "dedicated")) == {"guest_on_pin"}
    assert messages(result, "dedicated", "guest_on_pin")[:2] == [
        "vCPU 0's CPU 1 is also used by guest h's emulator (not pinned, so on every online CPU)",
        "vCPU 1's CPU 5 is also used by guest h's emulator (not pinned, so on every online CPU)",
    ]
    assert "sibling_shared" in codes(result, "no_nonarch_core_sharing")
    own = decide(smt2(4), placement([mine, other], housekeeping=[0, 4]), "h")
    assert codes(own, "dedicated") == ["emulator_on_pin"]
    assert "libvirt runs it on every online CPU" in own["dedicated"]["reasons"][0]["message"]


def test_unpinned_emulator_on_a_host_with_offline_cpus_stays_off_them():
    """Only online CPUs: an offline CPU runs nothing, so a guest there is not blamed on it."""
    host = smt2(4, offline=[7])
    parsed = validate_placement(placement([guest("h", [3], threads=1, emulator=None)]), host)
    assert parsed.guests[0].emulator == (0, 1, 2, 3, 4, 5, 6)
    slow = validate_placement(placement([guest("h", [3], threads=1, emulator=None, vcpu_cpuset=None, state="x")]), host)
    assert slow.guests[0].emulator == (0, 1, 2, 3, 4, 5, 6)


def test_unpinned_emulator_runs_on_the_vcpu_cpuset_when_there_is_one():
    mine = guest("g", WHOLE, threads=2)
    other = guest("h", [3, 7], threads=2, emulator=None, vcpu_cpuset=[0, 4])
    result = decide(smt2(4), placement([mine, other], housekeeping=[0, 4]), "g")
    assert granted(result) == {"accurate_topology", "no_nonarch_core_sharing", "dedicated"}
    own = decide(smt2(4), placement([mine, other], housekeeping=[0, 4]), "h")
    assert granted(own) == {"accurate_topology", "no_nonarch_core_sharing", "dedicated"}
    # A <vcpu cpuset> that covers the vCPU pins puts the emulator on them.
    on_pins = guest("h", [3, 7], threads=2, emulator=None, vcpu_cpuset=[3, 7])
    own = decide(smt2(4), placement([mine, on_pins], housekeeping=[0, 4]), "h")
    assert codes(own, "dedicated") == ["emulator_on_pin"]
    assert "<vcpu cpuset>" in own["dedicated"]["reasons"][0]["message"]
    # ...and an emulator pin wins over the cpuset, as in libvirt.
    pinned = guest("h", [3, 7], threads=2, emulator=[0], vcpu_cpuset=[3, 7])
    assert decide(smt2(4), placement([mine, pinned], housekeeping=[0, 4]), "h")["dedicated"]["granted"]


def test_vcpu_cpuset_is_checked_like_a_pin_set():
    for bad, words in (([], "vcpu_cpuset: got []"), ([99], "vcpu_cpuset: got [99]"), ("0-1", "hvfleet.smt.cpulist")):
        pl = placement([guest("h", [3], threads=1, emulator=None, vcpu_cpuset=bad)], housekeeping=[0, 4])
        with pytest.raises(PlacementError, match=re.escape(words)):
            decide_host(smt2(4), pl)


def test_reasons_are_capped_per_code():
    host = facts([[c] for c in range(64)], control="on")
    others = [guest("o%d" % i, [i + 1], threads=1) for i in range(10)]
    mine = guest("g", list(range(1, 11)), threads=1)
    result = decide(host, placement([mine] + others, housekeeping=[0]), "g")
    found = messages(result, "dedicated", "guest_on_pin")
    assert len(found) == hints.MAX_REASONS_PER_CODE + 1
    assert found[-1] == "and %d more vCPUs like these" % (10 - hints.MAX_REASONS_PER_CODE)


# --------------------------------------------------------------------------
# Inputs: facts
# --------------------------------------------------------------------------


def test_no_facts_denies_everything():
    result = decide_host(None, placement([guest("g", [1])]), host="hv-9")["g"]
    assert granted(result) == set()
    assert all(codes(result, s) == ["no_facts"] for s in STATEMENTS)
    assert "hv-9" in result["no_smt"]["reasons"][0]["message"]


@pytest.mark.parametrize(
    "breakage, field",
    [
        (lambda f: f.update(smt="on"), "smt"),
        (lambda f: f["smt"].update(control=None), "smt.control"),
        (lambda f: f["cpus"].update(online=["0", "1"]), "cpus.online"),
        (lambda f: f["cpus"].update(online=[]), "cpus.online"),
        (lambda f: f["cpus"].update(online=[0, 1, 99]), "cpus.online"),
        (lambda f: f["cores"].pop(), "cores[].threads"),
        (lambda f: f.update(cores=[]), "cores[].threads"),
        (lambda f: f["cores"][0].update(threads=[0, 4, 4]), "cores[].threads"),
        (lambda f: f["cores"][0].update(threads=[]), "cores[0]"),
        (lambda f: f["cores"][0].update(threads=[True, 4]), "cores[].threads"),
        (lambda f: f["hypervisor"].update(guest="no"), "hypervisor.guest"),
        (lambda f: f["hypervisor"].update(vouched=["no_smt"]), "hypervisor.vouched"),
        (lambda f: f["hypervisor"].update(vouched={"no_smt": 1}), "hypervisor.vouched.no_smt"),
    ],
)
def test_invalid_facts_deny_with_the_field_named(breakage, field):
    host = smt2(4)
    breakage(host)
    result = decide(host, placement([guest("g", [1, 2])]), "g")
    assert granted(result) == set()
    for statement in STATEMENTS:
        assert codes(result, statement) == ["facts_invalid"]
    assert field + ":" in result["no_smt"]["reasons"][0]["message"]
    with pytest.raises(ValueError, match=re.escape(field)):
        read_facts(host)


def test_facts_of_one_shape_are_checked_on_every_host():
    """A later host equal in value but not in type to a cached one must not pass."""
    good = smt2(4)
    decide(good, placement([guest("g", [1])]), "g")
    bad = smt2(4)
    bad["cpus"]["online"] = [float(cpu) for cpu in bad["cpus"]["online"]]
    result = decide(bad, placement([guest("g", [1])]), "g")
    assert codes(result, "no_smt") == ["facts_invalid"]


def test_same_shape_different_cores_is_not_confused():
    a = facts([[0, 1], [2, 3]])
    b = facts([[0, 2], [1, 3]])
    pl = placement([guest("g", [2, 3], threads=2)], housekeeping=[0, 1])
    assert decide(a, pl, "g")["accurate_topology"]["granted"]
    assert not decide(b, pl, "g")["accurate_topology"]["granted"]
    assert decide(a, pl, "g")["accurate_topology"]["granted"]


def test_ints_tagged_by_ansible_are_ints():
    class Tagged(int):
        pass

    g = guest("g", [Tagged(1), Tagged(5), Tagged(2), Tagged(6)], threads=2)
    g["topology"]["threads"] = Tagged(2)
    g["emulator"] = [Tagged(0)]
    result = decide_host(smt2(4), placement([g], housekeeping=[0, 4]))["g"]
    assert granted(result) == {"accurate_topology", "no_nonarch_core_sharing", "dedicated"}


def test_facts_in_ansible_containers_decide_like_plain_facts():
    """Templated facts arrive as subclasses of list, dict and int (AnsibleUnsafe, lazy containers).

    _read_shape used to look for the culprit with next() over an exact-type
    check, found none, and raised StopIteration out of decide_host.
    """

    class TList(list):
        pass

    class TDict(dict):
        pass

    class TInt(int):
        pass

    def tag(value):
        if isinstance(value, dict):
            return TDict({key: tag(item) for key, item in value.items()})
        if isinstance(value, list):
            return TList(tag(item) for item in value)
        if isinstance(value, int) and not isinstance(value, bool):
            return TInt(value)
        return value

    plain_facts = smt2(4)
    plain_placement = placement([guest("g", WHOLE, threads=2), guest("h", [3], threads=1)], housekeeping=[0, 4])
    expected = decide_host(plain_facts, plain_placement, host="hv-1")
    got = decide_host(tag(plain_facts), tag(plain_placement), host="hv-1")
    assert {name: granted(r) for name, r in got.items()} == {name: granted(r) for name, r in expected.items()}
    assert granted(got["g"]) == {"accurate_topology", "no_nonarch_core_sharing", "dedicated"}
    # Only the threads lists are subclassed (the shape that raised StopIteration).
    partly = smt2(4)
    for core in partly["cores"]:
        core["threads"] = TList(core["threads"])
    assert granted(decide_host(partly, plain_placement)["g"]) == granted(expected["g"])
    # A subclassed bool is impossible, but a bool among the thread ids is still refused by name.
    broken = smt2(4)
    broken["cores"][0]["threads"] = TList([True, 4])
    result = decide_host(broken, plain_placement)["g"]
    assert codes(result, "dedicated") == ["facts_invalid"]
    assert "expected CPU ids" in result["dedicated"]["reasons"][0]["message"]
    empty = smt2(4)
    empty["cores"][1]["threads"] = TList()
    assert "cores[1]" in decide_host(empty, plain_placement)["g"]["dedicated"]["reasons"][0]["message"]


# --------------------------------------------------------------------------
# Inputs: placement errors
# --------------------------------------------------------------------------


def _base():
    return placement([guest("db-1", [1, 2]), guest("db-2", [3])], housekeeping=[0, 4])


@pytest.mark.parametrize(
    "breakage, words",
    [
        (lambda p: p.update(guests="db-1"), "guests: got 'db-1'"),
        (lambda p: p.pop("guests"), "guests: got None"),
        (lambda p: p["guests"].append("db-3"), "guests[2]: got 'db-3'"),
        (lambda p: p["guests"][0].update(name=""), "guests[0].name"),
        (lambda p: p["guests"][1].update(name="db-1"), "guests[1].name: got 'db-1', expected a name no other guest has"),
        (lambda p: p["guests"][0].update(vcpus=[]), "guests[0] (db-1).vcpus: got []"),
        (lambda p: p["guests"][0].update(vcpus=["1-2"]), "guests[0] (db-1).vcpus[0]: got '1-2'"),
        (lambda p: p["guests"][0].update(vcpus=[[1], ["2"]]), "guests[0] (db-1).vcpus[1]: got ['2']"),
        (lambda p: p["guests"][0].update(vcpus=[[1], [True]]), "guests[0] (db-1).vcpus[1]"),
        (lambda p: p["guests"][0].update(vcpus=[[1], [-2]]), "guests[0] (db-1).vcpus[1]: got [-2]"),
        (lambda p: p["guests"][0].update(vcpus=[[1], []]), "guests[0] (db-1).vcpus[1]: got []"),
        (lambda p: p["guests"][0].update(vcpus=[[1], [2, 2]]), "a CPU is listed twice"),
        (lambda p: p["guests"][0].update(vcpus={"0": [1], "2": [2]}), "vCPU ids 0..1"),
        (lambda p: p["guests"][0].update(vcpus={0: [1], "0": [2]}), "each vCPU id once"),
        (lambda p: p["guests"][0].update(vcpus=[[1], [99]]), "CPU 99 is not present"),
        (lambda p: p["guests"][0].update(emulator=[]), "guests[0] (db-1).emulator: got []"),
        (lambda p: p["guests"][0].update(emulator=[99]), "guests[0] (db-1).emulator"),
        (lambda p: p["guests"][0].update(emulator="0-1"), "hvfleet.smt.cpulist"),
        (lambda p: p["guests"][0].update(iothreads=[[0], "1"]), "guests[0] (db-1).iothreads[1]"),
        (lambda p: p["guests"][0].update(iothreads="0"), "guests[0] (db-1).iothreads: got '0'"),
        (lambda p: p["guests"][0].update(topology={"sockets": 1, "cores": 0, "threads": 1}), "topology.cores: got 0"),
        (lambda p: p["guests"][0].update(topology={"sockets": 1, "threads": 1}), "topology.cores: got None"),
        (lambda p: p["guests"][0].update(topology={"sockets": 1, "cores": 2, "threads": "1"}), "topology.threads"),
        (lambda p: p["guests"][0].update(topology={"sockets": 1, "cores": 2, "threads": True}), "topology.threads"),
        (lambda p: p["guests"][0].update(topology="1x2x1"), "(db-1).topology: got '1x2x1'"),
        (lambda p: p["guests"][0].update(migration_domain=7), "migration_domain: got 7"),
        (lambda p: p.update(housekeeping="0"), "housekeeping: got '0'"),
        (lambda p: p.update(housekeeping=[0, 0]), "housekeeping"),
        (lambda p: p.update(housekeeping_source=3), "housekeeping_source"),
    ],
)
def test_malformed_placements_are_errors_naming_host_guest_and_field(breakage, words):
    broken = _base()
    breakage(broken)
    with pytest.raises(PlacementError) as caught:
        decide_host(smt2(4), broken, host="hv-7")
    assert "placement of host hv-7" in str(caught.value)
    assert words in str(caught.value)
    with pytest.raises(brute.Malformed):
        brute.oracle_host(smt2(4), broken)


def test_a_pin_outside_the_host_is_only_checked_against_valid_facts():
    broken = _base()
    broken["guests"][0]["vcpus"] = [[1], [99]]
    assert decide_host(None, broken)["db-1"]["no_smt"]["reasons"][0]["code"] == "no_facts"
    with pytest.raises(PlacementError):
        validate_placement(broken, smt2(4))
    assert validate_placement(broken).guests[0].name == "db-1"


def test_mapping_form_of_vcpus_is_accepted():
    g = guest("g", WHOLE, threads=2)
    g["vcpus"] = {str(i): cpus for i, cpus in enumerate(g["vcpus"])}
    assert decide(smt2(4), placement([g], housekeeping=[0, 4]), "g")["accurate_topology"]["granted"]


def test_housekeeping_outside_the_host_is_ignored():
    result = decide(smt2(4), placement([guest("g", [1, 2], emulator=[0])], housekeeping=[0, 4, 200]), "g")
    assert result["dedicated"]["granted"]


def test_validate_placement_returns_what_it_checked():
    parsed = validate_placement(_base(), smt2(4), host="hv-1")
    assert [g.name for g in parsed.guests] == ["db-1", "db-2"]
    assert parsed.guests[0].pins == (1, 2)
    assert parsed.housekeeping == frozenset({0, 4})


# --------------------------------------------------------------------------
# Output, API, policy
# --------------------------------------------------------------------------


def test_output_names_the_host_and_the_facts_time():
    result = decide_host(smt2(4), _base(), host="hv-1")
    assert set(result) == {"db-1", "db-2"}
    assert result["db-1"]["host"] == "hv-1"
    assert result["db-1"]["facts_collected_at"] == "2026-11-25T05:20:00Z"
    assert set(decide_host(smt2(4), _base(), guests=["db-2", "nobody"])) == {"db-2"}


def test_policy_withholds_but_never_grants():
    pl = placement([guest("g", WHOLE, threads=2)], housekeeping=[0, 4])
    result = decide(smt2(4), pl, "g", policy=Policy(withhold=frozenset({"dedicated"})))
    assert codes(result, "dedicated") == ["withheld_by_policy"]
    assert result["accurate_topology"]["granted"]
    with pytest.raises(ValueError, match="unknown statement"):
        Policy(withhold=frozenset({"fast"}))


def test_results_do_not_alias_between_guests():
    result = decide_host(smt2(4), _base())
    before = len(result["db-2"]["no_smt"]["reasons"])
    result["db-1"]["no_smt"]["reasons"].append({"code": "x", "message": "x"})
    assert len(result["db-2"]["no_smt"]["reasons"]) == before


# --------------------------------------------------------------------------
# Migration domains
# --------------------------------------------------------------------------


def _good(cpus):
    return placement([guest("db-1", cpus, threads=2)], housekeeping=[0, 4])


def test_domain_grants_only_what_every_host_grants():
    members = {
        "hv-1": (smt2(4), _good(WHOLE)),
        "hv-2": (smt2(4), _good(WHOLE)),
        "hv-3": (smt2(4), _good([1, 2, 5, 6])),  # siblings split on hv-3
    }
    result = decide_domain(members, "db-1", "hv-1")
    assert brute.oracle_domain(members, "db-1", "hv-1") == {s: result[s]["granted"] for s in STATEMENTS}
    assert not result["accurate_topology"]["granted"]
    assert result["dedicated"]["granted"]
    assert codes(result, "accurate_topology")[:2] == ["migration_peer_denies", "split_siblings"]
    assert result["accurate_topology"]["reasons"][0]["host"] == "hv-3"
    assert "host hv-3, to which guest db-1 may migrate, denies accurate_topology" in result["accurate_topology"]["reasons"][0]["message"]
    assert codes(result, "dedicated")[-1] == "migration_domain_grants"
    assert "hv-1, hv-2, hv-3" in result["dedicated"]["reasons"][-1]["message"]
    assert result["migration_domain"] == ["hv-1", "hv-2", "hv-3"]
    assert all(reason["host"] == "hv-1" for reason in result["dedicated"]["reasons"])


def test_domain_peer_without_facts_or_placement_denies_naming_it():
    members = {
        "hv-1": (smt2(4), _good(WHOLE)),
        "hv-2": (None, _good(WHOLE)),
        "hv-3": (smt2(4), None),
        "hv-4": (smt2(4), placement([guest("other", [1])])),
    }
    result = decide_domain(members, "db-1", "hv-1")
    assert granted(result) == set()
    found = {(r["host"], r["code"]) for r in result["dedicated"]["reasons"]}
    assert ("hv-2", "no_facts") in found
    assert ("hv-3", "no_placement") in found
    assert ("hv-4", "no_placement") in found
    assert brute.oracle_domain(members, "db-1", "hv-1") == {s: False for s in STATEMENTS}


def test_domain_of_one_host_is_the_host():
    members = {"hv-1": (smt2(4), _good(WHOLE))}
    one = decide_domain(members, "db-1", "hv-1")
    alone = decide_host(smt2(4), _good(WHOLE), host="hv-1")["db-1"]
    assert {s: one[s]["granted"] for s in STATEMENTS} == {s: alone[s]["granted"] for s in STATEMENTS}
    assert "migration_domain_grants" not in codes(one, "dedicated")


def test_decide_domains_prepares_each_host_once(monkeypatch):
    calls = []
    real = hints.decide_host

    def counting(*args, **kwargs):
        calls.append(kwargs.get("host"))
        return real(*args, **kwargs)

    monkeypatch.setattr(hints, "decide_host", counting)
    two = placement([guest("a", [1], threads=1), guest("b", [2], threads=1)], housekeeping=[0, 4])
    members = {"hv-1": (smt2(4), two), "hv-2": (smt2(4), two)}
    result = decide_domains(members, {"a": ["hv-2"], "b": ["hv-1", "hv-2"]}, "hv-1")
    assert set(result) == {"a", "b"}
    assert sorted(calls) == ["hv-1", "hv-2"]
    assert result["a"]["migration_domain"] == ["hv-1", "hv-2"]


def test_current_host_missing_from_members_denies():
    result = decide_domain({"hv-2": (smt2(4), _good(WHOLE))}, "db-1", "hv-1")
    assert granted(result) == set()
    assert ("hv-1", "no_facts") in {(r["host"], r["code"]) for r in result["no_smt"]["reasons"]}


def test_malformed_peer_placement_is_an_error_naming_the_peer():
    broken = _good(WHOLE)
    broken["guests"][0]["vcpus"] = "1-2"
    with pytest.raises(PlacementError, match="placement of host hv-2"):
        decide_domain({"hv-1": (smt2(4), _good(WHOLE)), "hv-2": (smt2(4), broken)}, "db-1", "hv-1")


# --------------------------------------------------------------------------
# The catalog and its documentation
# --------------------------------------------------------------------------


def test_docs_reasons_md_lists_exactly_the_catalog():
    text = (REPO / "docs" / "reasons.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M))
    assert documented == set(CATALOG)


def test_every_code_in_the_catalog_is_emitted_by_the_engine_source():
    source = (REPO / "plugins" / "module_utils" / "hints.py").read_text()
    for code in CATALOG:
        assert '"%s"' % code in source, code
