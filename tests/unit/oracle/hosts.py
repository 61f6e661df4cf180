# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small hand-made hosts and guests for example tests (docs/facts.md, docs/placement.md shapes)."""


def facts(cores, control="on", offline=(), nested=False, vouched=None, present=None, core_ids=None, packages=None):
    """Facts for a host whose physical cores are ``cores`` (lists of all their CPU ids).

    ``offline`` CPUs are left out of ``cpus.online`` and of their core's
    threads, as the kernel does; a core whose threads are all offline
    disappears from ``cores``.
    """
    offline = set(offline)
    all_cpus = sorted(cpu for core in cores for cpu in core)
    present = list(present) if present is not None else all_cpus
    entries = []
    for index, core in enumerate(cores):
        live = sorted(cpu for cpu in core if cpu not in offline)
        if live:
            entries.append(
                {
                    "package": packages[index] if packages else 0,
                    "die": 0,
                    "cluster": None,
                    "core": core_ids[index] if core_ids else index,
                    "threads": live,
                }
            )
    entries.sort(key=lambda entry: entry["threads"][0])
    online = sorted(cpu for cpu in all_cpus if cpu not in offline)
    return {
        "schema": 1,
        "collected_at": "2026-11-25T05:20:00Z",
        "smt": {"control": control, "active": None, "possible": control not in ("forceoff", "notsupported", "notimplemented")},
        "cpus": {"online": online, "offline": sorted(offline), "present": present, "possible": present, "isolated": []},
        "cores": entries,
        "hypervisor": {"guest": nested, "vendor": None, "vouched": dict(vouched or {})},
    }


def smt2(ncores=4, **kwargs):
    """A host with ``ncores`` two-thread cores, Intel numbering: core c holds CPUs c and c+ncores."""
    return facts([[c, c + ncores] for c in range(ncores)], **kwargs)


def guest(name, pins, threads=1, sockets=1, emulator="housekeeping", iothreads=None, cores=None, **extra):
    """A guest with one pCPU per vCPU (``pins[i]`` for vCPU i), or pin sets when an item is a list."""
    vcpus = [list(pin) if isinstance(pin, (list, tuple)) else [pin] for pin in pins]
    out = {"name": name, "state": "running", "vcpus": vcpus}
    if threads is not None:
        out["topology"] = {
            "sockets": sockets,
            "dies": 1,
            "clusters": 1,
            "cores": cores if cores is not None else max(1, len(vcpus) // (threads * sockets)),
            "threads": threads,
        }
    if emulator != "housekeeping":
        out["emulator"] = emulator
    if iothreads is not None:
        out["iothreads"] = iothreads
    out.update(extra)
    return out


def placement(guests, housekeeping=(0,), emulator_on_housekeeping=True, source="test housekeeping"):
    """A placement; guests built with emulator="housekeeping" get their emulator on the housekeeping CPUs."""
    out = {"schema": 1, "guests": []}
    if housekeeping is not None:
        out["housekeeping"] = sorted(housekeeping)
        out["housekeeping_source"] = source
    for item in guests:
        item = dict(item)
        if emulator_on_housekeeping and "emulator" not in item and housekeeping:
            item["emulator"] = sorted(housekeeping)
        out["guests"].append(item)
    return out
