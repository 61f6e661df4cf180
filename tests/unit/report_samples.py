# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A sample fleet for the report tests, and for looking at the HTML report by eye.

Facts in the full docs/facts.md shape, placements in the docs/placement.md
shape, statements decided by the real hint engine (so reasons are the ones
users see), and an audit in the shape the smt_audit role sets
(``hvfleet_smt_audit``). Hosts:

* ``hv-big``: 2 packages x 64 cores x 2 threads (Intel numbering: core c of
  package p holds CPUs p*64+c and 128+p*64+c), housekeeping on core 0 of each
  package, everything else isolated; 21 guests on whole cores, two guests
  (``web-1``, ``web-2``) splitting cores, and one floating guest;
* ``hv-small``: 1 x 4 x 2 with SMT ``off``: its siblings 4-7 are offline;
* ``hv-<b>evil</b>`` and ``hv-down``: no facts (the first with markup in its
  name and error, as is a guest on hv-small, to prove escaping).

``python tests/unit/report_samples.py OUTDIR`` writes report.json and
report.html there (used to look at the page in a browser).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

GENERATED_AT = "2026-11-25T06:00:00Z"
EVIL = '<script>alert("x")</script>&amp;'


def host_facts(packages: int, cores: int, threads: int, control: str = "on", offline: Sequence[int] = (),
               isolated: Sequence[int] = (), collected_at: str = "2026-11-25T05:20:00Z") -> Dict[str, Any]:
    """Facts of a host with Intel numbering: thread t of core c of package p is CPU t*P*C + p*C + c."""
    total = packages * cores * threads
    offline_set = set(offline)
    core_entries = []
    package_entries = []
    for p in range(packages):
        cpus = []
        for c in range(cores):
            live = [t * packages * cores + p * cores + c for t in range(threads)]
            live = [cpu for cpu in live if cpu not in offline_set]
            cpus.extend(live)
            if live:
                core_entries.append({"package": p, "die": 0, "cluster": None, "core": c, "threads": live})
        package_entries.append({"id": p, "cpus": sorted(cpus), "cores": cores})
    core_entries.sort(key=lambda core: core["threads"][0])
    online = sorted(set(range(total)) - offline_set)
    per_core = [len(core["threads"]) for core in core_entries]
    return {
        "schema": 1,
        "sysroot": "/",
        "collected_at": collected_at,
        "smt": {
            "control": control,
            "active": max(per_core) > 1,
            "possible": control not in ("forceoff", "notsupported", "notimplemented"),
            "threads_per_core": {"min": min(per_core), "max": max(per_core)},
        },
        "cpus": {
            "online": online, "offline": sorted(offline_set), "present": list(range(total)),
            "possible": list(range(total)), "isolated": sorted(isolated), "nohz_full": [], "kernel_max": 8191,
        },
        "cores": core_entries,
        "packages": package_entries,
        "numa_nodes": [{"id": p["id"], "cpus": p["cpus"]} for p in package_entries],
        "llc_groups": [p["cpus"] for p in package_entries],
        "cmdline": {"raw": "", "nosmt": None, "mitigations": None, "mitigations_nosmt": False, "l1tf": None,
                    "isolcpus": None, "nohz_full": None, "irqaffinity": None},
        "cpu": {"vendor": "GenuineIntel", "family": 6, "model": 143, "model_name": "Intel(R) Xeon(R) Platinum 8490H"},
        "hypervisor": {"guest": False, "vendor": None},
        "vulnerabilities": {"mds": {"raw": "Mitigation: Clear CPU buffers; SMT vulnerable", "smt": "vulnerable",
                                    "stibp": None}},
        "core_scheduling": {"status": "available", "detail": "prctl(PR_SCHED_CORE_GET) returned 0"},
        "kvm": {"device": True, "modules": ["kvm", "kvm_intel"]},
    }


def guest(name: str, pins: List[Any], threads: int, emulator: Optional[List[int]]) -> Dict[str, Any]:
    vcpus = [list(p) if isinstance(p, (list, tuple)) else [p] for p in pins]
    return {
        "name": name, "state": "running", "vcpus": vcpus,
        "topology": {"sockets": 1, "dies": 1, "clusters": 1, "cores": len(vcpus) // threads, "threads": threads},
        "emulator": emulator, "iothreads": [], "migration_domain": None, "source": "live",
    }


def big_host() -> Dict[str, Any]:
    """hv-big's facts and placement: 2x64x2, 21 whole-core guests, a split pair, one floating guest."""
    housekeeping = [0, 64, 128, 192]
    isolated = [cpu for cpu in range(256) if cpu not in housekeeping]
    facts = host_facts(2, 64, 2, isolated=isolated)

    def whole_cores(first_core: int, count: int) -> List[int]:
        # Core k (0..127 across both packages) holds CPUs k and k + 128.
        return [cpu for k in range(first_core, first_core + count) for cpu in (k, k + 128)]

    guests = []
    core = 1
    sizes = [4, 8, 2, 4, 6, 2, 8, 4, 2, 4, 6, 8, 2, 4, 4, 2, 8, 6, 4, 2, 4]
    for n, size in enumerate(sizes):
        if core + size > 64 and core < 64:
            core = 65  # do not straddle packages
        guests.append(guest("vm-%02d" % n, whole_cores(core, size), 2, housekeeping))
        core += size
    # Two guests whose vCPUs are siblings of each other's: cores 118-119 split.
    guests.append(guest("web-1", [118, 119], 1, housekeeping))
    guests.append(guest("web-2", [246, 247], 1, housekeeping))
    # A floating guest: both vCPUs may run anywhere on cores 120-121, emulator included.
    floating = [120, 121, 248, 249]
    guests.append(guest("batch-float", [floating, floating], 1, floating))
    return {"facts": facts, "placement": {"schema": 1, "housekeeping": housekeeping,
                                          "housekeeping_source": "sample", "guests": guests}}


def small_host() -> Dict[str, Any]:
    """hv-small: 1x4x2 with SMT off (siblings 4-7 offline), two guests, host tasks on CPU 0."""
    facts = host_facts(1, 4, 2, control="off", offline=[4, 5, 6, 7])
    guests = [guest("db-1", [1, 2], 1, [0]), guest(EVIL, [3], 1, [0])]
    return {"facts": facts, "placement": {"schema": 1, "housekeeping": [0], "housekeeping_source": "sample",
                                          "guests": guests}}


def audit_for(statements: Dict[str, Any], drifted: Dict[str, List[Dict[str, Any]]]) -> Dict[str, Any]:
    """An hvfleet_smt_audit value: every guest recorded, ``drifted`` guests with their drift."""
    guests = {}
    for name in sorted(statements):
        guests[name] = {"recorded": True, "drift": drifted.get(name, []), "error": None}
    return {
        "audited_at": "2026-11-25T05:40:00Z",
        "drift": sum(len(v) for v in drifted.values()),
        "unverifiable": 0,
        "guests": guests,
    }


def drift(statement: str, kind: str, code: str, message: str) -> Dict[str, Any]:
    return {"statement": statement, "was": True, "now": False, "kind": kind,
            "reasons": [{"code": code, "message": message}]}


def hostvars() -> Dict[str, Dict[str, Any]]:
    """The sample fleet as the play's hostvars (what the smt_report filter reads)."""
    from ansible_collections.hvfleet.smt.plugins.module_utils.hints import decide_host, plain_data

    out: Dict[str, Dict[str, Any]] = {}
    for name, data in (("hv-big", big_host()), ("hv-small", small_host())):
        statements = plain_data(decide_host(data["facts"], data["placement"], host=name))
        out[name] = {
            "ansible_facts": {"hvfleet_smt": data["facts"], "hvfleet_placement": data["placement"]},
            "hvfleet_smt_statements": statements,
        }
    out["hv-big"]["hvfleet_smt_audit"] = audit_for(out["hv-big"]["hvfleet_smt_statements"], {
        "web-1": [drift("no_nonarch_core_sharing", "sibling_shared", "sibling_shared",
                        "vCPU 0 on CPU 118 shares core 118 with CPU 246, which guest web-2 (vCPU 0) uses")],
        "vm-03": [drift("dedicated", "vcpu_repinned", "housekeeping_on_pin", "host tasks may run on CPU 8")],
    })
    out["hv-small"]["hvfleet_smt_audit"] = audit_for(out["hv-small"]["hvfleet_smt_statements"], {})
    out["hv-<b>evil</b>"] = {"hvfleet_smt_error": "facts <failed> & 'quoted'"}
    out["hv-down"] = {"hvfleet_smt_error": "sysroot /nonexistent: no such directory"}
    return out


def sample_report() -> Dict[str, Any]:
    from ansible_collections.hvfleet.smt.plugins.filter.report import smt_report

    return smt_report(hostvars(), generated_at=GENERATED_AT)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".cache", "collections"))
    from ansible_collections.hvfleet.smt.plugins.module_utils.report_html import render_html

    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    document = sample_report()
    with open(os.path.join(outdir, "report.json"), "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
    with open(os.path.join(outdir, "report.html"), "w", encoding="utf-8") as handle:
        handle.write(render_html(document))
    print(outdir)
