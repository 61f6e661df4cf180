# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Assemble the ``hvfleet_smt`` facts document (docs/facts.md) for one host.

This is the only place that knows the document's shape; the reader modules
return typed values and this turns them into plain JSON-able data, lists of
CPU ids as sorted ints.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Optional

from ansible_collections.hvfleet.smt.plugins.module_utils.cmdline import Cmdline, parse_cmdline
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import FactsError
from ansible_collections.hvfleet.smt.plugins.module_utils.sysfs import list_dir, read_text
from ansible_collections.hvfleet.smt.plugins.module_utils.topology import (
    CPU_DIR,
    CpuinfoEntry,
    Topology,
    read_cpuinfo,
    read_topology,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.vulnerabilities import parse_vulnerability

SCHEMA = 1


def collect(sysroot: str = "/", probe: bool = False, now: Optional[float] = None) -> Dict[str, Any]:
    """Read every fact of one host under ``sysroot``.

    ``probe`` asks the running kernel (prctl) about core scheduling; it is only
    meaningful when ``sysroot`` is this machine's ``/``.
    """
    if not os.path.isdir(sysroot):
        raise FactsError(sysroot, "<not a directory>", "a directory to use as the sysroot")
    # Identity needs the first block and the trailer; read_topology reads the
    # whole file itself only if a CPU without topology/ needs the fallback.
    cpuinfo = read_cpuinfo(sysroot, first_only=True)
    topology = read_topology(sysroot)
    nr_cpus = (max(topology.cpus.possible) + 1) if topology.cpus.possible else None
    cmdline_path = os.path.join(sysroot, "proc", "cmdline")
    cmdline_text = read_text(cmdline_path, optional=True) or ""
    cmdline = parse_cmdline(cmdline_text, nr_cpus, cmdline_path)
    first = cpuinfo.get(min(cpuinfo)) if cpuinfo else None
    if first is not None and first.processor < 0:
        first = None
    return {
        "schema": SCHEMA,
        "sysroot": sysroot,
        "collected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "smt": _smt(topology),
        "cpus": _cpus(topology),
        "cores": [
            {"package": c.package, "die": c.die, "cluster": c.cluster, "core": c.core, "threads": list(c.threads)}
            for c in topology.cores
        ],
        "packages": _packages(topology),
        "numa_nodes": [{"id": node, "cpus": list(cpus)} for node, cpus in topology.numa_nodes],
        "llc_groups": [list(group) for group in topology.llc_groups],
        "cmdline": _cmdline(cmdline),
        "cpu": _cpu_identity(first),
        "hypervisor": _hypervisor(sysroot, first, cpuinfo.get(-1)),
        "vulnerabilities": read_vulnerabilities(sysroot),
        "core_scheduling": probe_core_scheduling() if probe else {
            "status": "unknown", "detail": "not probed (sysroot is not the running system)"},
        "kvm": _kvm(sysroot),
    }


def _smt(topology: Topology) -> Dict[str, Any]:
    low, high = topology.threads_per_core
    return {
        "control": topology.smt.control,
        "active": topology.smt.active,
        "possible": topology.smt.possible,
        "threads_per_core": {"min": low, "max": high},
    }


def _cpus(topology: Topology) -> Dict[str, Any]:
    c = topology.cpus
    return {
        "online": list(c.online),
        "offline": list(c.offline),
        "present": list(c.present),
        "possible": list(c.possible),
        "isolated": list(c.isolated),
        "nohz_full": list(c.nohz_full),
        "kernel_max": c.kernel_max,
    }


def _packages(topology: Topology):
    packages: Dict[int, Dict[str, Any]] = {}
    for core in topology.cores:
        entry = packages.setdefault(core.package, {"id": core.package, "cpus": [], "cores": 0})
        entry["cpus"].extend(core.threads)
        entry["cores"] += 1
    for entry in packages.values():
        entry["cpus"].sort()
    return [packages[key] for key in sorted(packages)]


def _cmdline(cmdline: Cmdline) -> Dict[str, Any]:
    iso = cmdline.isolcpus
    return {
        "raw": cmdline.raw,
        "nosmt": cmdline.nosmt,
        "mitigations": cmdline.mitigations,
        "mitigations_nosmt": cmdline.mitigations_nosmt,
        "l1tf": cmdline.l1tf,
        "isolcpus": None if iso is None else {"cpus": list(iso.cpus), "flags": list(iso.flags)},
        "nohz_full": None if cmdline.nohz_full is None else list(cmdline.nohz_full),
        "irqaffinity": None if cmdline.irqaffinity is None else list(cmdline.irqaffinity),
    }


def _cpu_identity(entry: Optional[CpuinfoEntry]) -> Dict[str, Any]:
    if entry is None:
        return {"vendor": None, "family": None, "model": None, "model_name": None}
    family, model = entry.get("cpu family"), entry.get("model")
    return {
        "vendor": entry.get("vendor_id"),
        "family": int(family) if family and family.isdigit() else None,
        "model": int(model) if model and model.isdigit() else None,
        "model_name": entry.get("model name") or entry.get("cpu"),
    }


def _hypervisor(sysroot: str, entry: Optional[CpuinfoEntry], trailer: Optional[CpuinfoEntry]) -> Dict[str, Any]:
    """Is this host itself a VM? ``None`` when nothing here can tell (non-x86 without hints).

    A nested host's ``notsupported`` describes its virtual CPUs, not the
    physical cores underneath, so "unknown" must never read as "bare metal".
    """
    vendor_text = read_text(os.path.join(sysroot, "sys", "hypervisor", "type"), optional=True)
    vendor = vendor_text.strip() or None if vendor_text is not None else None
    flags = entry.get("flags") if entry is not None else None
    if flags is not None:
        guest = "hypervisor" in flags.split()
        source = "cpuinfo flags"
    else:
        platform = trailer.get("platform") if trailer is not None else None
        if platform == "PowerNV":  # POWER bare metal (pSeries = an LPAR under a hypervisor)
            guest, source = False, "cpuinfo platform"
        elif platform == "pSeries":
            guest, source = True, "cpuinfo platform"
        else:
            guest = None
            source = "unknown (no CPU flags in /proc/cpuinfo)"
    if vendor is not None:
        guest, source = True, "/sys/hypervisor/type"
    return {"guest": guest, "vendor": vendor, "source": source, "vouched": {}}


def read_vulnerabilities(sysroot: str) -> Dict[str, Any]:
    base = os.path.join(sysroot, CPU_DIR, "vulnerabilities")
    result = {}
    for name in sorted(list_dir(base) or []):
        raw, smt, stibp = parse_vulnerability(name, read_text(os.path.join(base, name)))
        result[name] = {"raw": raw, "smt": smt, "stibp": stibp}
    return result


def _kvm(sysroot: str) -> Dict[str, Any]:
    modules_text = read_text(os.path.join(sysroot, "proc", "modules"), optional=True) or ""
    modules = sorted(
        line.split(None, 1)[0] for line in modules_text.splitlines()
        if line.strip() and line.split(None, 1)[0].startswith("kvm")
    )
    return {"device": os.path.exists(os.path.join(sysroot, "dev", "kvm")), "modules": modules}


PR_SCHED_CORE = 62
PR_SCHED_CORE_GET = 0


def probe_core_scheduling() -> Dict[str, str]:
    """Ask this kernel whether core scheduling is built in and usable (no root needed).

    ``PR_SCHED_CORE_GET`` on ourselves: 0 means available, EINVAL not built
    (or kernel < 5.14), ENODEV built in but no SMT active.
    """
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        cookie = ctypes.c_ulong(0)
        rc = libc.prctl(PR_SCHED_CORE, PR_SCHED_CORE_GET, 0, 0, ctypes.byref(cookie))
        err = ctypes.get_errno()
    except (OSError, AttributeError) as exc:
        return {"status": "unknown", "detail": "prctl unavailable: %s" % exc}
    if rc == 0:
        return {"status": "available", "detail": "prctl(PR_SCHED_CORE_GET) returned 0"}
    names = {22: ("not_built", "EINVAL: CONFIG_SCHED_CORE not built in, or kernel older than 5.14"),
             19: ("no_smt", "ENODEV: core scheduling is built in but no SMT is active")}
    status, detail = names.get(err, ("unknown", "prctl failed with errno %d" % err))
    return {"status": status, "detail": detail}
