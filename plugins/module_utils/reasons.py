# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stable catalog of reason codes the hint engine emits.

Codes are what machines match on (audit, reports, ``fail_on_deny``), so they
are kept here, apart from the sentences that explain them: a sentence may be
reworded, a code may only be added. docs/reasons.md documents every code and
a unit test keeps the two in step.
"""

from __future__ import annotations

from typing import Dict, Tuple

GRANT = "grant"
DENY = "deny"

# code -> (kind, what it means). Kind says whether the code explains a grant
# or a denial; a grant never carries a denial code and vice versa.
CATALOG: Dict[str, Tuple[str, str]] = {
    # -- grants ------------------------------------------------------------
    "smt_impossible": (
        GRANT,
        "SMT control is forceoff, notsupported or notimplemented and every online core has one thread.",
    ),
    "topology_accurate": (
        GRANT,
        "Every vCPU has its own online pCPU and the exposed topology shows two vCPUs as siblings "
        "exactly when their pCPUs share a physical core.",
    ),
    "cores_exclusive": (
        GRANT,
        "No thread of a physical core holding a vCPU has a foreign user that could run beside a vCPU.",
    ),
    "pins_exclusive": (
        GRANT,
        "Every vCPU has its own online pCPU that nothing else may run on.",
    ),
    "nested_vouched": (
        GRANT,
        "The host is itself a VM and its own hypervisor vouched for what this statement needs.",
    ),
    "migration_domain_grants": (
        GRANT,
        "Every host of the guest's migration domain grants the statement.",
    ),
    # -- denials: missing or unusable inputs -------------------------------
    "no_facts": (DENY, "A host has no SMT facts."),
    "facts_invalid": (DENY, "A host's SMT facts do not follow docs/facts.md."),
    "no_placement": (DENY, "A host has no placement for the guest."),
    # -- denials: the host's SMT state -------------------------------------
    "smt_on": (DENY, "SMT control is 'on' or a thread count: sibling threads run."),
    "smt_reversible": (
        DENY,
        "SMT control is 'off', which can be switched back on at runtime; "
        "remedy: write 'forceoff' to smt/control or boot with nosmt=force.",
    ),
    "smt_unknown": (DENY, "SMT control is 'unknown' or unrecognised, so SMT may be on."),
    "multi_thread_core": (DENY, "An online core has more than one online thread."),
    "offline_cpu_may_return": (
        DENY,
        "A present CPU is offline and may come back online as a sibling thread.",
    ),
    "nested_unvouched": (
        DENY,
        "The host is itself a VM and its own hypervisor did not vouch for what this statement needs.",
    ),
    # -- denials: the guest's placement ------------------------------------
    "topology_unknown": (DENY, "The guest's exposed topology is not known."),
    "topology_product_mismatch": (
        DENY,
        "The exposed topology's product differs from the guest's vCPU count.",
    ),
    "vcpu_floating": (DENY, "A vCPU may run on more than one pCPU."),
    "pin_offline": (DENY, "A vCPU is pinned to an offline pCPU."),
    "pin_shared": (DENY, "Two vCPUs of the guest are pinned to the same pCPU."),
    "split_siblings": (
        DENY,
        "Two vCPUs shown as SMT siblings run on different physical cores.",
    ),
    "hidden_siblings": (
        DENY,
        "Two vCPUs shown as different cores run on one physical core.",
    ),
    "needs_accurate_topology": (
        DENY,
        "no_nonarch_core_sharing needs no_smt or accurate_topology, and both are denied.",
    ),
    "sibling_shared": (
        DENY,
        "A foreign user may run on a sibling thread of a vCPU's pCPU at the same time as the vCPU.",
    ),
    "housekeeping_on_pin": (DENY, "Host tasks may run on a vCPU's pCPU."),
    "emulator_on_pin": (DENY, "The guest's own emulator threads may run on a vCPU's pCPU."),
    "iothread_on_pin": (DENY, "The guest's own iothreads may run on a vCPU's pCPU."),
    "guest_on_pin": (DENY, "Another guest's vCPUs, emulator or iothreads may run on a vCPU's pCPU."),
    # -- denials: policy and migration -------------------------------------
    "withheld_by_policy": (DENY, "The operator's policy withholds this statement."),
    "migration_peer_denies": (
        DENY,
        "A host of the guest's migration domain denies the statement (its reasons follow, naming it).",
    ),
    "migration_domain_unknown": (
        DENY,
        "The guest declares no migration domain, so it may be live-migrated to hosts that were never "
        "checked; declare one (an empty list when it never migrates).",
    ),
}

GRANT_CODES = frozenset(code for code, entry in CATALOG.items() if entry[0] == GRANT)
DENY_CODES = frozenset(code for code, entry in CATALOG.items() if entry[0] == DENY)
