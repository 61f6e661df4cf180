# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drift audit: does every statement a guest was given still hold?

A guest is told its statements once, at boot, and acts on them for as long as
it runs. The host keeps changing under it: someone switches SMT back on,
re-pins a vCPU, starts a neighbour on a sibling thread, widens the
housekeeping set, or adds a host to the migration domain. The audit re-runs
the hint engine (the same ``hints.decide_domains`` that ``smt_hints`` uses)
on what runs now and compares with what the guest was told, which it reads
from the guest's own record (``domain_metadata``: the ``statements`` section,
a statement document, and the ``plan`` section with the pins applied).

Only granted statements can drift: a denied statement was never acted on.
Each drifted statement gets a *kind* (what changed, for humans and alerts)
and the engine's reasons (why it no longer holds, for whoever fixes it).

One-sided like the engine: a record that cannot be read makes its guest
*unverifiable*, never "fine", and a guest whose facts are gone drifts.

Pure: plain data in and out, no Ansible, no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError
from ansible_collections.hvfleet.smt.plugins.module_utils.hints import (
    STATEMENTS,
    PlacementError,
    Policy,
    decide_domains,
    deny_unknown_domain,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.statement_document import parse_document

# Drift kinds, in the order they are tried: the first that explains a lost
# statement names it. docs/audit.md describes each.
KIND_FACTS = "facts_unavailable"
KIND_GUEST = "guest_missing"
KIND_SMT = "smt_enabled"
KIND_REPINNED = "vcpu_repinned"
KIND_HELPERS = "helper_repinned"
KIND_HOUSEKEEPING = "housekeeping_widened"
KIND_SIBLING = "sibling_shared"
KIND_PEER = "migration_peer_cannot_keep"
KIND_DOMAIN = "migration_domain_unknown"
KIND_POLICY = "withheld_by_policy"
KIND_OTHER = "other"
DRIFT_KINDS: Tuple[str, ...] = (
    KIND_FACTS, KIND_GUEST, KIND_SMT, KIND_REPINNED, KIND_HELPERS, KIND_HOUSEKEEPING,
    KIND_SIBLING, KIND_PEER, KIND_DOMAIN, KIND_POLICY, KIND_OTHER,
)

# Reason codes of the engine that mean "the host's SMT state no longer allows it".
SMT_CODES = frozenset(("smt_on", "smt_reversible", "smt_unknown", "multi_thread_core", "offline_cpu_may_return"))
# Codes about the guest's own vCPU pins and exposed topology.
PIN_CODES = frozenset((
    "vcpu_floating", "pin_offline", "pin_shared", "split_siblings", "hidden_siblings",
    "topology_unknown", "topology_product_mismatch",
))
HELPER_CODES = frozenset(("emulator_on_pin", "iothread_on_pin"))
FACT_CODES = frozenset(("no_facts", "facts_invalid"))


class AuditError(HvfleetError, ValueError):
    """The audit's own inputs are unusable (not a drift: something to fix in the call)."""


@dataclass(frozen=True)
class Told:
    """What one guest was told, read from its record; ``error`` when it cannot be read."""

    recorded: bool
    granted: Tuple[str, ...] = ()
    migration_domain: Optional[str] = None
    plan_vcpus: Optional[Tuple[Tuple[int, ...], ...]] = None
    plan_emulator: Optional[Tuple[int, ...]] = None
    error: Optional[str] = None


def read_told(guest: Mapping[str, Any]) -> Told:
    """What a placement entry's ``record`` says the guest was told.

    ``record`` is ``Record.to_dict()`` as guest_placement_facts returns it
    (``{plan, statements, emitted}``), or null when the domain has none;
    ``record_error`` is set when the record exists but could not be read. A
    record without a ``statements`` section told the guest nothing.
    """
    name = guest.get("name", "?")
    error = guest.get("record_error")
    if error:
        return Told(recorded=True, error=str(error))
    record = guest.get("record")
    if record is None:
        return Told(recorded=False)
    if not isinstance(record, Mapping):
        return Told(recorded=True, error="guest %s: record: expected {plan, statements, emitted}, got %s"
                    % (name, _short(record)))
    statements = record.get("statements")
    if statements is None:
        return Told(recorded=False)
    try:
        document = parse_document(json.dumps(statements, sort_keys=True), "guest %s record <statements>" % name)
    except (HvfleetError, TypeError, ValueError) as err:
        return Told(recorded=True, error=str(err))
    plan_vcpus = plan_emulator = None
    plan = record.get("plan")
    if plan is not None:
        try:
            plan_vcpus, plan_emulator = _plan_pins(plan)
        except AuditError as err:
            return Told(recorded=True, error="guest %s record <plan>: %s" % (name, err))
    return Told(
        recorded=True,
        granted=tuple(name for name in STATEMENTS if document.granted(name)),
        migration_domain=document.migration_domain,
        plan_vcpus=plan_vcpus,
        plan_emulator=plan_emulator,
    )


def _plan_pins(plan: Any) -> Tuple[Optional[Tuple[Tuple[int, ...], ...]], Optional[Tuple[int, ...]]]:
    """The vCPU and emulator pins the plan applied (placement shape), when it says."""
    if not isinstance(plan, Mapping):
        raise AuditError("expected a mapping, got %s" % _short(plan))
    vcpus = plan.get("vcpus")
    emulator = plan.get("emulator")
    out_vcpus = None
    if vcpus is not None:
        if not isinstance(vcpus, list):
            raise AuditError("vcpus: expected a list of pCPU lists, got %s" % _short(vcpus))
        out_vcpus = tuple(_cpus(item, "vcpus[%d]" % index) for index, item in enumerate(vcpus))
    out_emulator = _cpus(emulator, "emulator") if emulator is not None else None
    return out_vcpus, out_emulator


def _cpus(value: Any, where: str) -> Tuple[int, ...]:
    if type(value) is int and value >= 0:  # pylint: disable=unidiomatic-typecheck
        return (value,)
    if isinstance(value, list) and all(type(c) is int and c >= 0 for c in value):  # pylint: disable=unidiomatic-typecheck
        return tuple(sorted(set(value)))
    raise AuditError("%s: expected a pCPU number or a list of them, got %s" % (where, _short(value)))


# --------------------------------------------------------------------------
# The audit of one host
# --------------------------------------------------------------------------


def audit_host(
    current_host: str,
    members: Mapping[str, Tuple[Any, Any]],
    domains: Mapping[str, Optional[Sequence[str]]],
    audited_at: str,
    policy: Optional[Policy] = None,
    placement_error: Optional[str] = None,
    domain_errors: Optional[Mapping[str, str]] = None,
) -> Dict[str, Any]:
    """Audit every guest of ``current_host``; returns the ``hvfleet_smt_audit`` fact.

    ``members`` maps host names to ``(facts, placement)`` as for
    ``hints.decide_domains``; the current host's placement carries each
    guest's ``record``. ``domains`` maps guests to the hosts they may move to
    *now* (resolved by the caller from the inventory, so a host added to the
    domain since the guest was told is checked); ``[]`` means it never
    migrates, ``None`` (or no entry) that nobody declared where it may go,
    which denies everything exactly as ``smt_hints`` does
    (``hints.deny_unknown_domain``). ``domain_errors`` marks guests whose
    domain could not be resolved: unverifiable.
    """
    facts, placement = members.get(current_host, (None, None))
    result: Dict[str, Any] = {"audited_at": audited_at, "drift": 0, "unverifiable": 0, "guests": {},
                              "error": None}
    if placement_error:
        result["error"] = "the placement of host %s could not be read: %s" % (current_host, placement_error)
        return result
    if placement is None:
        return result
    if not isinstance(placement, Mapping) or not isinstance(placement.get("guests"), list):
        raise AuditError("placement of host %s: expected a mapping with a guests list (docs/placement.md), got %s"
                         % (current_host, _short(placement)))
    entries = [g for g in placement["guests"] if isinstance(g, Mapping)]
    told = {str(g.get("name")): read_told(g) for g in entries}
    checked = [name for name, t in told.items()
               if t.recorded and t.error is None and t.granted and not (domain_errors or {}).get(name)]
    wanted = {name: [current_host] + [h for h in (domains.get(name) or ()) if h != current_host] for name in checked}
    decided = decide_domains(members, wanted, current_host, policy) if wanted else {}
    for name in checked:
        if domains.get(name) is None:
            decided[name] = deny_unknown_domain(decided[name], name, current_host)
    by_name = {str(g.get("name")): g for g in entries}
    for name in sorted(told):
        t = told[name]
        error = t.error or (domain_errors or {}).get(name) if t.recorded else None
        entry: Dict[str, Any] = {"recorded": t.recorded, "drift": [], "error": error}
        if error:
            result["unverifiable"] += 1
        elif name in decided:
            entry["drift"] = _drift(name, t, decided[name], current_host, by_name[name], facts, placement)
            if entry["drift"]:
                result["drift"] += 1
        result["guests"][name] = entry
    return result


def _drift(name: str, told: Told, now: Mapping[str, Any], current_host: str, guest: Mapping[str, Any],
           facts: Any, placement: Mapping[str, Any]) -> List[Dict[str, Any]]:
    lost = [s for s in told.granted if not now[s]["granted"]]
    if not lost:
        return []
    smt_back = "no_smt" in told.granted and _codes_here(now["no_smt"], current_host) & SMT_CODES
    out = []
    for statement in lost:
        reasons = now[statement]["reasons"]
        out.append({
            "statement": statement,
            "was": True,
            "now": False,
            "kind": classify(statement, reasons, current_host, told, guest, facts, placement, bool(smt_back)),
            "reasons": [_plain_reason(reason, current_host) for reason in reasons],
        })
    return out


def classify(statement: str, reasons: Sequence[Mapping[str, Any]], current_host: str, told: Told,
             guest: Mapping[str, Any], facts: Any, placement: Mapping[str, Any], smt_back: bool = False) -> str:
    """Name what changed for one lost statement (the first kind that explains it).

    Reasons of the current host decide; when it still grants and only peers
    deny, a host of the migration domain cannot keep the statement. The
    pins the record's plan applied tell a re-pin from a new neighbour.
    """
    here = _codes_here({"reasons": reasons}, current_host)
    if not here:
        return KIND_PEER if any(r.get("code") == "migration_peer_denies" for r in reasons) else KIND_OTHER
    if here & FACT_CODES:
        return KIND_FACTS
    if "migration_domain_unknown" in here:
        return KIND_DOMAIN
    if "no_placement" in here:
        return KIND_GUEST
    if smt_back or here & SMT_CODES:
        return KIND_SMT
    vcpus = _vcpus(guest)
    if told.plan_vcpus is not None and vcpus is not None and vcpus != told.plan_vcpus:
        return KIND_REPINNED
    if here & PIN_CODES:
        return KIND_REPINNED
    emulator = _emulator(guest)
    if here & HELPER_CODES or (told.plan_emulator is not None and emulator is not None
                               and emulator != told.plan_emulator and "sibling_shared" in here):
        return KIND_HELPERS
    if "housekeeping_on_pin" in here or ("sibling_shared" in here and _housekeeping_on_cores(vcpus, facts, placement)):
        return KIND_HOUSEKEEPING
    if here & {"sibling_shared", "guest_on_pin"}:
        return KIND_SIBLING
    if "withheld_by_policy" in here:
        return KIND_POLICY
    return KIND_OTHER


def _codes_here(decision: Mapping[str, Any], host: str) -> FrozenSet[str]:
    return frozenset(r.get("code") for r in decision.get("reasons", ()) if r.get("host", host) == host)


def _plain_reason(reason: Mapping[str, Any], current_host: str) -> Dict[str, str]:
    """{code, message}; a peer's reason names its host in the sentence."""
    message = str(reason.get("message", ""))
    host = reason.get("host")
    if host is not None and host != current_host and not message.startswith("host %s" % host):
        message = "on host %s: %s" % (host, message)
    return {"code": str(reason.get("code")), "message": message}


def _vcpus(guest: Mapping[str, Any]) -> Optional[Tuple[Tuple[int, ...], ...]]:
    vcpus = guest.get("vcpus")
    if not isinstance(vcpus, list):
        return None
    try:
        return tuple(_cpus(item, "vcpus") for item in vcpus)
    except AuditError:
        return None


def _emulator(guest: Mapping[str, Any]) -> Optional[Tuple[int, ...]]:
    try:
        return _cpus(guest.get("emulator"), "emulator") if guest.get("emulator") is not None else None
    except AuditError:
        return None


def _housekeeping_on_cores(vcpus: Optional[Sequence[Sequence[int]]], facts: Any, placement: Mapping[str, Any]) -> bool:
    """Do host tasks now run on a thread of a core the guest's vCPUs use? (Unknown counts as yes.)"""
    housekeeping = placement.get("housekeeping")
    if housekeeping is None:
        return True
    if vcpus is None or not isinstance(facts, Mapping) or not isinstance(facts.get("cores"), list):
        return False
    pins = {cpu for cpus in vcpus for cpu in cpus}
    house = set(housekeeping) if isinstance(housekeeping, list) else set()
    for core in facts["cores"]:
        threads = core.get("threads") if isinstance(core, Mapping) else None
        if isinstance(threads, list) and pins.intersection(threads) and house.intersection(threads):
            return True
    return False


# --------------------------------------------------------------------------
# Helpers for the faces
# --------------------------------------------------------------------------


def summary_lines(audit: Mapping[str, Any], host: str) -> List[str]:
    """One warning line per drifted statement and per unverifiable guest."""
    lines = []
    if audit.get("error"):
        lines.append("%s: %s" % (host, audit["error"]))
    for name, guest in sorted(audit.get("guests", {}).items()):
        if guest.get("error"):
            lines.append("%s: guest %s is unverifiable: %s" % (host, name, guest["error"]))
        for drift in guest.get("drift", ()):
            lines.append("%s: guest %s was told %s, which no longer holds (%s: %s)" % (
                host, name, drift["statement"], drift["kind"],
                "; ".join("%s: %s" % (r["code"], r["message"]) for r in drift["reasons"][:3])))
    return lines


def guests_needing_domains(placement: Any) -> Iterable[Tuple[str, Told, Any]]:
    """(guest, what it was told, its declared migration_domain) for guests worth deciding."""
    if not isinstance(placement, Mapping) or not isinstance(placement.get("guests"), list):
        return []
    out = []
    for guest in placement["guests"]:
        if not isinstance(guest, Mapping) or not isinstance(guest.get("name"), str):
            continue
        told = read_told(guest)
        if told.recorded and told.error is None and told.granted:
            out.append((guest["name"], told, guest.get("migration_domain")))
    return out


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = [
    "DRIFT_KINDS", "AuditError", "PlacementError", "Told", "read_told", "audit_host", "classify",
    "summary_lines", "guests_needing_domains",
]
