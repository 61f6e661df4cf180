# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: one JSON document, and a plain-text summary people read first.

The report only re-shapes what facts, placements, statements and the audit
already say; it decides nothing. Its JSON shape is documented in
docs/report.md and versioned by ``schema`` so dashboards and jmespath queries
can rely on it: keys are only ever added, and ``schema`` is bumped when that
is not possible.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import format_cpulist

SCHEMA = 1
STATEMENTS = ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated")
# Who a thread of the topology picture belongs to (``owner``). A guest's name
# is never an owner value itself (a guest may well be called "idle"): it is in
# the thread's ``guest`` key when ``owner`` is "guest".
OWNERS = ("guest", "shared", "housekeeping", "idle", "unknown")


def build_report(hosts: Dict[str, Dict[str, Any]], generated_at: str,
                 previous: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """``hosts``: name -> {facts, placement?, statements?, audit?, error?} as gathered by the play.

    ``previous`` is the report written last time, if any: when nothing but
    ``generated_at`` differs, its ``generated_at`` is kept, so that the same
    inputs write the same bytes and a re-run reports no change.
    """
    entries = [_host_entry(name, hosts[name]) for name in sorted(hosts)]
    report = {
        "schema": SCHEMA,
        "generated_at": generated_at,
        "summary": _summary(entries),
        "hosts": entries,
    }
    return keep_generated_at(report, previous)


def keep_generated_at(report: Dict[str, Any], previous: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """``report`` with ``previous``'s timestamp when the two differ in nothing else.

    The timestamp is the one part of a report that changes without its
    inputs changing; keeping the old one makes writing the report idempotent.
    """
    if not isinstance(previous, dict) or not isinstance(previous.get("generated_at"), str):
        return report
    if {k: v for k, v in previous.items() if k != "generated_at"} != \
            {k: v for k, v in report.items() if k != "generated_at"}:
        return report
    kept = dict(report)
    kept["generated_at"] = previous["generated_at"]
    return kept


def _host_entry(name: str, data: Dict[str, Any]) -> Dict[str, Any]:
    facts = data.get("facts")
    entry: Dict[str, Any] = {"name": name, "error": data.get("error")}
    if not facts:
        entry["error"] = entry["error"] or "no hvfleet_smt facts"
        entry["guests"] = []
        return entry
    smt = facts["smt"]
    entry.update({
        "collected_at": facts.get("collected_at"),
        "sysroot": facts.get("sysroot"),
        "smt_control": smt["control"],
        "smt_possible": smt["possible"],
        "threads_per_core": smt["threads_per_core"],
        "cpus_online": len(facts["cpus"]["online"]),
        "cpus_offline": facts["cpus"]["offline"],
        "cores": len(facts["cores"]),
        "packages": len(facts["packages"]),
        "numa_nodes": len(facts["numa_nodes"]),
        "nested": facts["hypervisor"]["guest"],
        "cmdline_nosmt": facts["cmdline"]["nosmt"],
        "core_scheduling": facts["core_scheduling"]["status"],
        "vulnerable_with_smt": sorted(
            name for name, v in facts["vulnerabilities"].items() if v.get("smt") == "vulnerable"
        ),
    })
    statements = data.get("statements") or {}
    placement = data.get("placement") or {}
    audit = data.get("audit")
    audited = (audit or {}).get("guests") or {}
    guests = {g["name"]: g for g in placement.get("guests", [])}
    entry["housekeeping"] = placement.get("housekeeping")
    entry["isolated"] = list(facts["cpus"].get("isolated") or [])
    entry["audit"] = _host_audit(audit)
    entry["guests"] = [
        _guest_entry(guest, guests.get(guest), statements.get(guest, {}), audited.get(guest))
        for guest in sorted(set(guests) | set(statements) | set(audited))
    ]
    entry["topology"] = host_topology(facts, placement if data.get("placement") else None)
    return entry


def _host_audit(audit: Any) -> Optional[Dict[str, Any]]:
    """The host's audit totals (``hvfleet_smt_audit``), or None when it was not audited."""
    if not isinstance(audit, dict):
        return None
    return {
        "audited_at": audit.get("audited_at"),
        "drift": int(audit.get("drift") or 0),
        "unverifiable": int(audit.get("unverifiable") or 0),
        "error": audit.get("error"),
    }


def _guest_entry(name: str, placement: Optional[Dict[str, Any]], statements: Dict[str, Any],
                 audit: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"name": name}
    if placement:
        entry["vcpus"] = len(placement.get("vcpus", []))
        entry["pins"] = [format_cpulist(p) for p in placement.get("vcpus", [])]
        entry["topology"] = placement.get("topology")
    entry["statements"] = {
        key: {
            "granted": bool(statements.get(key, {}).get("granted", False)),
            "reasons": list(statements.get(key, {}).get("reasons", [])),
        }
        for key in STATEMENTS
    }
    # Always a list, so that `guests[?drift]` selects the drifted ones.
    entry["drift"] = [_drift_entry(d) for d in (audit or {}).get("drift") or []]
    entry["audit"] = None if not isinstance(audit, dict) else {
        "recorded": bool(audit.get("recorded")),
        "error": audit.get("error"),
    }
    return entry


def _drift_entry(drift: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "statement": drift.get("statement"),
        "was": drift.get("was"),
        "now": drift.get("now"),
        "kind": drift.get("kind"),
        "reasons": list(drift.get("reasons") or []),
    }


# --------------------------------------------------------------------------
# The topology picture's data: packages -> cores -> threads, each with its owner


def _cpu_users(placement: Optional[Dict[str, Any]],
               online: List[int]) -> Tuple[Dict[int, List[Dict[str, Any]]], Dict[int, Set[str]]]:
    """Per pCPU: the vCPUs that may run there, and the guests whose emulator or iothreads may."""
    vcpus: Dict[int, List[Dict[str, Any]]] = {}
    helpers: Dict[int, Set[str]] = {}
    for guest in (placement or {}).get("guests") or []:
        name = guest["name"]
        for index, pins in enumerate(_vcpu_pin_sets(guest.get("vcpus"))):
            for cpu in pins:
                vcpus.setdefault(cpu, []).append({"guest": name, "vcpu": index})
        emulator = guest.get("emulator")
        if emulator is None:
            # An emulator without a pin may run on any online CPU, as the hint engine takes it.
            emulator = online
        for cpu in _chain([emulator], guest.get("iothreads") or []):
            helpers.setdefault(cpu, set()).add(name)
    return vcpus, helpers


def _vcpu_pin_sets(vcpus: Any) -> List[List[int]]:
    """vCPU pin sets in vCPU order; a mapping {vcpu id: pins} is accepted too."""
    if isinstance(vcpus, dict):
        return [list(vcpus[k]) for k in sorted(vcpus, key=int)]
    return [list(p) for p in vcpus or []]


def _chain(*lists: Iterable[Iterable[int]]) -> Iterable[int]:
    for outer in lists:
        for inner in outer:
            yield from inner or []


def host_topology(facts: Dict[str, Any], placement: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The picture's data: every online thread in its core and package, with who uses it.

    Offline CPUs have no topology in sysfs, so their core is unknown: they
    are listed apart rather than guessed into a core. Without a placement
    (or without its housekeeping set) nobody can say who uses a thread that
    no vCPU is pinned to: such threads are "unknown", not "idle".
    """
    vcpus, helpers = _cpu_users(placement, list(facts["cpus"]["online"]))
    housekeeping = None if placement is None else placement.get("housekeeping")
    hk = set(housekeeping) if housekeeping is not None else None
    isolated = set(facts["cpus"].get("isolated") or [])
    by_package: Dict[int, List[Dict[str, Any]]] = {}
    for index, core in enumerate(facts["cores"]):
        threads = [_thread(cpu, vcpus.get(cpu, []), helpers.get(cpu, set()), hk, cpu in isolated)
                   for cpu in core["threads"]]
        by_package.setdefault(core["package"], []).append({
            "index": index,
            "core": core.get("core"),
            "die": core.get("die"),
            "cluster": core.get("cluster"),
            "threads": threads,
            "split": _split(threads),
        })
    packages = [{"id": p["id"], "cores": by_package.pop(p["id"], [])} for p in facts["packages"]]
    # Cores of a package the packages list does not name (malformed facts are
    # refused elsewhere; the picture still shows every core).
    packages.extend({"id": pid, "cores": cores} for pid, cores in sorted(by_package.items()))
    return {"packages": packages, "offline": list(facts["cpus"]["offline"])}


def _thread(cpu: int, vcpus: List[Dict[str, Any]], helpers: Set[str], housekeeping: Optional[Set[int]],
            isolated: bool) -> Dict[str, Any]:
    guests = sorted({v["guest"] for v in vcpus})
    on_host = None if housekeeping is None else cpu in housekeeping
    if len(guests) == 1:
        owner, guest = "guest", guests[0]
    elif guests:
        owner, guest = "shared", None
    elif on_host:
        owner, guest = "housekeeping", None
    elif len(helpers) == 1:
        owner, guest = "guest", next(iter(helpers))
    elif helpers:
        owner, guest = "shared", None
    elif on_host is None:
        owner, guest = "unknown", None
    else:
        owner, guest = "idle", None
    return {
        "cpu": cpu,
        "owner": owner,
        "guest": guest,
        "vcpus": sorted(vcpus, key=lambda v: (v["guest"], v["vcpu"])),
        "helpers": sorted(helpers),
        "housekeeping": on_host,
        "isolated": isolated,
    }


def thread_users(thread: Dict[str, Any]) -> Set[Tuple[str, str]]:
    """The parties that may run on a thread: (vcpu|helper, guest) and (host, "")."""
    users = {("vcpu", v["guest"]) for v in thread["vcpus"]}
    users.update(("helper", g) for g in thread["helpers"])
    if thread["housekeeping"]:
        users.add(("host", ""))
    return users


def _split(threads: List[Dict[str, Any]]) -> bool:
    """A core is split when it holds a vCPU and anything else may run on it too.

    That is what lets a foreign user run beside a vCPU (sibling_shared and
    friends); a core shared only by host tasks and emulators is not split.
    """
    users: Set[Tuple[str, str]] = set()
    for thread in threads:
        users |= thread_users(thread)
    return any(user[0] == "vcpu" for user in users) and len(users) > 1


def _summary(entries: List[Dict[str, Any]]) -> Dict[str, Any]:
    controls: Dict[str, int] = {}
    granted = {key: 0 for key in STATEMENTS}
    denied = {key: 0 for key in STATEMENTS}
    denied_by: Dict[str, int] = {}
    denied_by_statement: Dict[str, Dict[str, int]] = {key: {} for key in STATEMENTS}
    drift_by_kind: Dict[str, int] = {}
    guests = drift = drifted = unverifiable = audited = 0
    for host in entries:
        if host.get("error"):
            continue
        controls[host["smt_control"]] = controls.get(host["smt_control"], 0) + 1
        if host["audit"] is not None:
            audited += 1
            unverifiable += host["audit"]["unverifiable"]
        for guest in host["guests"]:
            guests += 1
            for key, statement in guest["statements"].items():
                if statement["granted"]:
                    granted[key] += 1
                else:
                    denied[key] += 1
                    for reason in statement["reasons"]:
                        denied_by[reason["code"]] = denied_by.get(reason["code"], 0) + 1
                        per = denied_by_statement[key]
                        per[reason["code"]] = per.get(reason["code"], 0) + 1
            drifted += 1 if guest["drift"] else 0
            for item in guest["drift"]:
                drift += 1
                kind = str(item["kind"])
                drift_by_kind[kind] = drift_by_kind.get(kind, 0) + 1
    return {
        "hosts": len(entries),
        "hosts_failed": sum(1 for h in entries if h.get("error")),
        "hosts_smt_possible": sum(1 for h in entries if not h.get("error") and h["smt_possible"]),
        "smt_control": dict(sorted(controls.items())),
        "guests": guests,
        "granted": granted,
        "denied_by_reason": dict(sorted(denied_by.items())),
        "denied": denied,
        "denied_by_statement": {key: dict(sorted(v.items())) for key, v in denied_by_statement.items()},
        "hosts_audited": audited,
        "drift": drift,
        "guests_drifted": drifted,
        "unverifiable": unverifiable,
        "drift_by_kind": dict(sorted(drift_by_kind.items())),
    }


def render_text(report: Dict[str, Any]) -> str:
    """A fixed-width summary: one line per host, then guests with their statements."""
    s = report["summary"]
    lines = [
        "hvfleet.smt report (%s)" % report["generated_at"],
        "%d hosts (%d failed), SMT possible on %d; %d guests"
        % (s["hosts"], s["hosts_failed"], s["hosts_smt_possible"], s["guests"]),
    ]
    if s.get("hosts_audited"):
        lines.append("audit of %d hosts: %d statements no longer hold on %d guests, %d unverifiable"
                     % (s["hosts_audited"], s["drift"], s["guests_drifted"], s["unverifiable"]))
    lines += [
        "",
        "%-28s %-14s %-8s %5s %5s %7s %-6s %s"
        % ("host", "smt/control", "possible", "cpus", "cores", "thr/core", "nested", "notes"),
    ]
    for host in report["hosts"]:
        if host.get("error"):
            lines.append("%-28s ERROR: %s" % (host["name"], host["error"]))
            continue
        tpc = host["threads_per_core"]
        threads = str(tpc["min"]) if tpc["min"] == tpc["max"] else "%d-%d" % (tpc["min"], tpc["max"])
        notes = []
        if host["cpus_offline"]:
            notes.append("offline " + format_cpulist(host["cpus_offline"]))
        if host["cmdline_nosmt"]:
            notes.append("boot nosmt=%s" % host["cmdline_nosmt"] if host["cmdline_nosmt"] == "force" else "boot nosmt")
        if host["vulnerable_with_smt"]:
            notes.append("SMT-vulnerable: " + ",".join(host["vulnerable_with_smt"]))
        lines.append(
            "%-28s %-14s %-8s %5d %5d %7s %-6s %s"
            % (host["name"][:28], host["smt_control"], "yes" if host["smt_possible"] else "no",
               host["cpus_online"], host["cores"], threads,
               {True: "yes", False: "no", None: "?"}[host["nested"]], "; ".join(notes))
        )
        for guest in host["guests"]:
            marks = " ".join(
                "%s=%s" % (key, "yes" if st["granted"] else "no(%s)" % ",".join(r["code"] for r in st["reasons"]))
                for key, st in guest["statements"].items()
            )
            lines.append("    guest %-20s %s" % (guest["name"], marks))
            for drift in guest.get("drift") or []:
                lines.append("        DRIFT %s: was %s, now %s (%s)"
                             % (drift["statement"], _yes_no(drift["was"]), _yes_no(drift["now"]), drift["kind"]))
    return "\n".join(lines) + "\n"


def _yes_no(value: Any) -> str:
    return {True: "granted", False: "denied"}.get(value, "unknown")
