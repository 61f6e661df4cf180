# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: one JSON document, and a plain-text summary people read first.

The report only re-shapes what facts, placements and statements already
say; it decides nothing. Its JSON shape is documented in docs/report.md and
versioned by ``schema`` so dashboards and jmespath queries can rely on it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import format_cpulist

SCHEMA = 1
STATEMENTS = ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated")


def build_report(hosts: Dict[str, Dict[str, Any]], generated_at: str) -> Dict[str, Any]:
    """``hosts``: name -> {facts, placement?, statements?, error?} as gathered by the play."""
    entries = [_host_entry(name, hosts[name]) for name in sorted(hosts)]
    return {
        "schema": SCHEMA,
        "generated_at": generated_at,
        "summary": _summary(entries),
        "hosts": entries,
    }


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
    guests = {g["name"]: g for g in placement.get("guests", [])}
    entry["housekeeping"] = placement.get("housekeeping")
    entry["guests"] = [
        _guest_entry(guest, guests.get(guest), statements.get(guest, {}))
        for guest in sorted(set(guests) | set(statements))
    ]
    return entry


def _guest_entry(name: str, placement: Optional[Dict[str, Any]], statements: Dict[str, Any]) -> Dict[str, Any]:
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
    return entry


def _summary(entries: List[Dict[str, Any]]) -> Dict[str, Any]:
    controls: Dict[str, int] = {}
    granted = {key: 0 for key in STATEMENTS}
    denied_by: Dict[str, int] = {}
    guests = 0
    for host in entries:
        if host.get("error"):
            continue
        controls[host["smt_control"]] = controls.get(host["smt_control"], 0) + 1
        for guest in host["guests"]:
            guests += 1
            for key, statement in guest["statements"].items():
                if statement["granted"]:
                    granted[key] += 1
                else:
                    for reason in statement["reasons"]:
                        denied_by[reason["code"]] = denied_by.get(reason["code"], 0) + 1
    return {
        "hosts": len(entries),
        "hosts_failed": sum(1 for h in entries if h.get("error")),
        "hosts_smt_possible": sum(1 for h in entries if not h.get("error") and h["smt_possible"]),
        "smt_control": dict(sorted(controls.items())),
        "guests": guests,
        "granted": granted,
        "denied_by_reason": dict(sorted(denied_by.items())),
    }


def render_text(report: Dict[str, Any]) -> str:
    """A fixed-width summary: one line per host, then guests with their statements."""
    s = report["summary"]
    lines = [
        "hvfleet.smt report (%s)" % report["generated_at"],
        "%d hosts (%d failed), SMT possible on %d; %d guests"
        % (s["hosts"], s["hosts_failed"], s["hosts_smt_possible"], s["guests"]),
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
    return "\n".join(lines) + "\n"
