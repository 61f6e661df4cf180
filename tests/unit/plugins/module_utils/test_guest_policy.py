# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest's defence, rule by rule (the table in docs/guest-policy.md)."""

from __future__ import annotations

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils.guest_policy import (
    MANAGED_PARAMS,
    PolicyError,
    PolicyInput,
    choose,
    policy_input,
)

T = ("accurate_topology",)
TN = ("accurate_topology", "no_nonarch_core_sharing")
ALL = ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated")
SMT_ON = dict(guest_threads_per_core=2, guest_smt_control="on")
NO_SIBLINGS = dict(guest_threads_per_core=1, guest_smt_control="notsupported")


def case(granted, core="available", untrusted=True, fallback="stibp", guest=None):
    return PolicyInput(granted=granted, core_scheduling=core, untrusted_workloads=untrusted,
                       fallback=fallback, **(guest or SMT_ON))


# (input, rule, defence, keep_smt, use_core_scheduling, present)
CASES = [
    (case(ALL), "R1_no_host_smt", "none_needed", True, False, ()),
    (case(("no_smt",), core="unknown"), "R1_no_host_smt", "none_needed", True, False, ()),
    (case(("no_nonarch_core_sharing",), guest=NO_SIBLINGS), "R2_no_guest_smt", "none_needed", True, False, ()),
    (case((), guest=NO_SIBLINGS), "R2_no_guest_smt_shared_core", "none", True, False, ()),
    # "off" is reversible: the guest could switch its siblings back on.
    (case((), guest=dict(guest_threads_per_core=1, guest_smt_control="off")),
     "R5_untrusted_topology", "stibp", True, False, ("spectre_v2_user=on",)),
    (case(TN, untrusted=False), "R3_trusted_smt", "keep_smt", True, False, ()),
    (case(TN), "R3_trusted_smt_core_scheduling", "core_scheduling", True, True, ()),
    (case(TN, core="not_built"), "R3_core_scheduling_missing", "stibp", True, False, ("spectre_v2_user=on",)),
    (case(TN + ("dedicated",), core="not_built", fallback="nosmt"), "R3_core_scheduling_missing", "nosmt",
     False, False, ("nosmt",)),
    (case(T), "R4_core_scheduling", "core_scheduling", True, True, ()),
    (case(T, untrusted=False), "R4_core_scheduling", "core_scheduling", True, True, ()),
    (case(T, core="not_built"), "R4_core_scheduling_missing", "stibp", True, False, ("spectre_v2_user=on",)),
    (case(T, core="unknown", fallback="nosmt_force"), "R4_core_scheduling_missing", "nosmt_force", False, False,
     ("nosmt=force",)),
    (case(()), "R5_untrusted_topology", "stibp", True, False, ("spectre_v2_user=on",)),
    (case(("dedicated",)), "R5_untrusted_topology", "stibp", True, False, ("spectre_v2_user=on",)),
    (case(("no_nonarch_core_sharing", "dedicated"), fallback="nosmt"), "R5_untrusted_topology", "nosmt", False,
     False, ("nosmt",)),
    (case((), fallback="none"), "R5_untrusted_topology", "none", True, False, ()),
    (case((), guest=dict(guest_threads_per_core=None, guest_smt_control=None)), "R5_untrusted_topology", "stibp",
     True, False, ("spectre_v2_user=on",)),
]


@pytest.mark.parametrize("inp, rule, defence, keep_smt, core, present", CASES,
                         ids=["%02d-%s" % (i, c[1]) for i, c in enumerate(CASES)])
def test_rules(inp, rule, defence, keep_smt, core, present):
    decision = choose(inp)
    assert (decision.rule, decision.defence, decision.keep_smt, decision.use_core_scheduling, decision.present) \
        == (rule, defence, keep_smt, core, present)
    # The policy owns its parameters: each is either set or removed, never left alone.
    names = {p.partition("=")[0] for p in decision.present}
    assert names | set(decision.absent) == set(MANAGED_PARAMS) and not names & set(decision.absent)
    assert decision.explanation


def test_granting_more_never_asks_for_a_weaker_guest():
    """Monotone: adding grants never turns a kept-SMT decision into nosmt."""
    for fallback in ("nosmt", "nosmt_force"):
        for core in ("available", "not_built"):
            before = choose(case(T, core=core, fallback=fallback))
            after = choose(case(TN, core=core, fallback=fallback))
            assert after.keep_smt or not before.keep_smt


def test_input_from_the_fact():
    guest = {"threads_per_core": 2, "smt_control": "on", "core_scheduling": {"status": "not_built"}}
    inp = policy_input(["accurate_topology"], guest, True, "stibp")
    assert inp == PolicyInput(("accurate_topology",), 2, "on", "not_built", True, "stibp")
    assert policy_input([], {"core_scheduling": {"status": "weird"}}, False, "none").core_scheduling == "unknown"


@pytest.mark.parametrize("granted, untrusted, fallback, match", [
    ([], True, "nosmt=force", "fallback"),
    (["trustworthy_smt"], True, "stibp", "unknown statement"),
    ([], "yes", "stibp", "untrusted_workloads"),
])
def test_bad_input_is_refused(granted, untrusted, fallback, match):
    with pytest.raises(PolicyError, match=match):
        policy_input(granted, {}, untrusted, fallback)
