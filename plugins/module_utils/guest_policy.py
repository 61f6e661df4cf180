# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which SMT defence a guest picks from what it was told (docs/guest-policy.md).

A pure function of the granted statements (as ``guest_view`` decided them),
the guest's own SMT state and core-scheduling support, and the operator's
choices. It returns the defence, the rule that chose it and the kernel
command-line parameters the role must set or remove. Rules are tried in
order; the first that matches wins. Anything unknown falls through to the
last rule, "nothing granted", which never relies on the guest's SMT picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError

FALLBACKS = ("stibp", "nosmt", "nosmt_force", "none")
#: The kernel parameters this policy owns (by name): it sets or removes them, nothing else.
MANAGED_PARAMS = ("nosmt", "spectre_v2_user")
FALLBACK_PARAMS = {
    "stibp": ("spectre_v2_user=on",),
    "nosmt": ("nosmt",),
    "nosmt_force": ("nosmt=force",),
    "none": (),
}


class PolicyError(HvfleetError, ValueError):
    pass


@dataclass(frozen=True)
class PolicyInput:
    granted: Tuple[str, ...]  # statement names the guest may rely on
    guest_threads_per_core: Optional[int]  # max threads per core the guest sees online; None unknown
    guest_smt_control: Optional[str]  # the guest's smt/control
    core_scheduling: str  # available | not_built | no_smt | unknown
    untrusted_workloads: bool  # does this guest run code it does not trust (tenants, CI jobs, browsers)?
    fallback: str  # what to do when the guest's own SMT picture is no boundary


@dataclass(frozen=True)
class Decision:
    rule: str
    defence: str  # none_needed | keep_smt | core_scheduling | stibp | nosmt | nosmt_force | none
    keep_smt: bool
    use_core_scheduling: bool  # tag untrusted workloads with core-scheduling cookies
    present: Tuple[str, ...]  # kernel parameters to set
    absent: Tuple[str, ...]  # kernel parameter names to remove
    explanation: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "defence": self.defence, "keep_smt": self.keep_smt,
                "use_core_scheduling": self.use_core_scheduling, "present": list(self.present),
                "absent": list(self.absent), "explanation": self.explanation}


def policy_input(granted: Iterable[str], guest: Mapping[str, object], untrusted_workloads: bool,
                 fallback: str) -> PolicyInput:
    """Build the input from ``hvfleet_guest_smt`` (its ``granted`` and ``guest`` parts)."""
    if fallback not in FALLBACKS:
        raise PolicyError("fallback: got %r, expected one of %s" % (fallback, ", ".join(FALLBACKS)))
    if not isinstance(untrusted_workloads, bool):
        raise PolicyError("untrusted_workloads: got %r, expected true or false" % (untrusted_workloads,))
    names = tuple(granted)
    for name in names:
        if name not in ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated"):
            raise PolicyError("granted: unknown statement %r" % (name,))
    threads = guest.get("threads_per_core")
    control = guest.get("smt_control")
    core = guest.get("core_scheduling")
    status = core.get("status") if isinstance(core, Mapping) else core
    return PolicyInput(
        granted=names,
        guest_threads_per_core=threads if isinstance(threads, int) and not isinstance(threads, bool) else None,
        guest_smt_control=control if isinstance(control, str) else None,
        core_scheduling=status if status in ("available", "not_built", "no_smt") else "unknown",
        untrusted_workloads=untrusted_workloads,
        fallback=fallback,
    )


def _fallback(inp: PolicyInput, rule: str, why: str) -> Decision:
    present = FALLBACK_PARAMS[inp.fallback]
    absent = tuple(name for name in MANAGED_PARAMS if not any(p.partition("=")[0] == name for p in present))
    return Decision(rule, inp.fallback if inp.fallback != "none" else "none",
                    keep_smt=inp.fallback not in ("nosmt", "nosmt_force"), use_core_scheduling=False,
                    present=present, absent=absent,
                    explanation="%s; fallback %s (%s)" % (why, inp.fallback, _FALLBACK_WORDS[inp.fallback]))


_FALLBACK_WORDS = {
    "stibp": "spectre_v2_user=on: STIBP always on, whatever the guest thinks its siblings are",
    "nosmt": "nosmt: the guest offlines the vCPUs it sees as siblings (reversible)",
    "nosmt_force": "nosmt=force: the guest offlines the vCPUs it sees as siblings until reboot",
    "none": "the operator accepts the risk; the kernel's own defaults stay",
}
KEEP = (), MANAGED_PARAMS  # keep SMT: the policy's own parameters are removed


def choose(inp: PolicyInput) -> Decision:
    """The guest's defence: first matching rule of docs/guest-policy.md."""
    granted = set(inp.granted)
    if inp.fallback not in FALLBACKS:
        raise PolicyError("fallback: got %r, expected one of %s" % (inp.fallback, ", ".join(FALLBACKS)))
    # R1: the host has no SMT at all, and it cannot come back.
    if "no_smt" in granted:
        return Decision("R1_no_host_smt", "none_needed", True, False, *KEEP,
                        explanation="no_smt granted: no physical core runs two threads, nothing to defend")
    # R2: the guest sees no siblings. Its own nosmt would change nothing, and
    # STIBP (the kernel's spectre_v2_user) only acts where the guest sees SMT.
    guest_smt_impossible = inp.guest_smt_control in ("forceoff", "notsupported", "notimplemented")
    if inp.guest_threads_per_core == 1 and guest_smt_impossible:
        if "no_nonarch_core_sharing" in granted:
            return Decision("R2_no_guest_smt", "none_needed", True, False, *KEEP,
                            explanation="the guest sees one thread per core and shares no core with anyone: "
                                        "nothing to defend inside it")
        return Decision("R2_no_guest_smt_shared_core", "none", True, False, *KEEP,
                        explanation="the guest sees one thread per core, so nothing inside it can keep its tasks "
                                    "apart; without no_nonarch_core_sharing its cores may be shared on the host, "
                                    "which only the host can fix")
    topology = "accurate_topology" in granted
    private = "no_nonarch_core_sharing" in granted
    # R3: the guest's siblings are real siblings, and nobody else runs beside it.
    if topology and private:
        if not inp.untrusted_workloads:
            return Decision("R3_trusted_smt", "keep_smt", True, False, *KEEP,
                            explanation="accurate_topology and no_nonarch_core_sharing granted: SMT is only "
                                        "shared among this guest's own tasks, and none is untrusted")
        if inp.core_scheduling == "available":
            return Decision("R3_trusted_smt_core_scheduling", "core_scheduling", True, True, *KEEP,
                            explanation="accurate_topology and no_nonarch_core_sharing granted: keep SMT and "
                                        "give untrusted workloads their own core-scheduling cookie")
        return _fallback(inp, "R3_core_scheduling_missing",
                         "accurate_topology and no_nonarch_core_sharing granted, but core scheduling is %s here "
                         "and there are untrusted workloads" % inp.core_scheduling)
    # R4: real siblings, but the host may run something beside the guest.
    if topology:
        if inp.core_scheduling == "available":
            return Decision("R4_core_scheduling", "core_scheduling", True, True, *KEEP,
                            explanation="accurate_topology granted: the guest's siblings are real, so core "
                                        "scheduling keeps its tasks apart%s" % (
                                            "" if private else "; cores may still be shared on the host"))
        return _fallback(inp, "R4_core_scheduling_missing",
                         "accurate_topology granted, but core scheduling is %s here" % inp.core_scheduling)
    # R5: nothing to rely on: the guest's SMT picture is no boundary.
    return _fallback(inp, "R5_untrusted_topology",
                     "accurate_topology not granted: the guest's own SMT picture is no boundary")
