#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long the hint engine takes for a fleet: 1,000 and 10,000 hosts x 256 threads x 32 guests.

Not a test. Prints the time to decide every guest of every host (on one core,
in this process) at two fleet sizes and their ratio, which should be close to
the size ratio (10.0): the engine's work per host does not depend on the
fleet. Target: <= 5 s for 10,000 hosts.

Each host gets its own facts and placement objects (as a fact cache would
hand them over), built before the clock starts: 2 packages x 64 cores x 2
threads with Intel-style interleaved numbering, a housekeeping core per
package, and 32 guests. 80% of hosts are managed (whole-core guests with
emulator and iothreads on housekeeping -- everything but no_smt granted --
plus, in every 8 guests, one without an emulator pin whose <vcpu cpuset> is
its own pins (so the emulator may run on its vCPUs), one shown its siblings
as separate cores, and one sharing its cores' other threads with another
guest), 10% have SMT forced off, 10% are unmanaged (four floating guests
whose vCPUs may run anywhere, and 28 pinned guests without emulator pins
whose <vcpu cpuset> is their own pins, so their emulators may run on their
vCPUs: every guest is denied and each denial is explained). Guests without
an emulator pin carry their <vcpu cpuset>, so the fleet is the same work
whichever default the engine applies to an emulator with neither pin nor
cpuset (docs/placement.md); ``--worst-case`` also times hosts where those 28
guests have no cpuset. ``--worst-case`` also times a fleet of only unmanaged hosts.

    python benchmarks/hints_scale.py [--hosts 1000,10000] [--repeat 3]
    python benchmarks/hints_scale.py --against /tmp/hints_before.py   # e.g. from git show REV:plugins/module_utils/hints.py

``--against FILE`` also times another hints.py (an earlier revision) on the
same fleet, right before this one, and prints the ratio.
"""

import argparse
import gc
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COLLECTIONS = os.path.join(ROOT, ".cache", "collections")


def _import_peer(path):
    """Another hints.py (an earlier revision, say) as a module of its own, beside the collection's."""
    import importlib.util  # pylint: disable=import-outside-toplevel

    spec = importlib.util.spec_from_file_location("hints_peer", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["hints_peer"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _import_engine():
    link = os.path.join(COLLECTIONS, "ansible_collections", "hvfleet", "smt")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.hvfleet.smt.plugins.module_utils import hints

    return hints


PACKAGES = 2
CORES = 64  # per package
THREADS = 2


def make_host(index, unmanaged_every=10, cpusets=True):
    """(facts, placement) for host ``index``; deterministic, distinct objects per host.

    Host kinds by index: every 10th (index % 10 == 0) has SMT forced off; every
    ``unmanaged_every``-th counting from the end (index % unmanaged_every ==
    unmanaged_every - 1) is unmanaged (four floating guests whose vCPUs may run
    anywhere, default emulators); the rest are managed hosts.
    """
    total = PACKAGES * CORES * THREADS
    per_thread = PACKAGES * CORES  # interleaved numbering: siblings are 128 apart
    forceoff = index % 10 == 0
    unmanaged = index % unmanaged_every == unmanaged_every - 1
    cores = []
    for package in range(PACKAGES):
        for core in range(CORES):
            first = package * CORES + core
            threads = [first] if forceoff else [first + k * per_thread for k in range(THREADS)]
            cores.append({"package": package, "die": 0, "cluster": None, "core": core, "threads": threads})
    online = sorted(cpu for core in cores for cpu in core["threads"])
    facts = {
        "schema": 1,
        "collected_at": "2026-11-25T05:20:00Z",
        "smt": {"control": "forceoff" if forceoff else "on", "active": not forceoff, "possible": not forceoff},
        "cpus": {
            "online": online,
            "offline": sorted(set(range(total)) - set(online)),
            "present": list(range(total)),
            "possible": list(range(total)),
            "isolated": [],
        },
        "cores": cores,
        "hypervisor": {"guest": False, "vendor": None, "vouched": {}},
    }
    core_threads = [core["threads"] for core in cores]
    housekeeping = sorted(core_threads[0] + core_threads[CORES])
    free = [i for i in range(len(cores)) if i not in (0, CORES)]  # 126 cores for guests
    width = len(core_threads[free[0]])
    guests = []

    def whole_cores(name, count, emulator=True, threads=None, cpuset=False):
        taken = [free.pop() for _core in range(count)]
        pins = [cpu for core in taken for cpu in core_threads[core]]
        shown = width if threads is None else threads
        guest = {
            "name": name,
            "vcpus": [[cpu] for cpu in pins],
            "topology": {"sockets": 1, "dies": 1, "clusters": 1, "cores": len(pins) // shown, "threads": shown},
        }
        if emulator:
            guest["emulator"] = list(housekeeping)
            guest["iothreads"] = [list(housekeeping)]
        if cpuset:  # <vcpu cpuset> = its own pins: an unpinned emulator runs there
            guest["vcpu_cpuset"] = sorted(pins)
        return guest

    if unmanaged:
        for g in range(4):  # floating: every vCPU may run on every online CPU
            guests.append({"name": "h%d-float%d" % (index, g), "vcpus": [list(online) for _vcpu in range(4)],
                           "topology": {"sockets": 1, "cores": 4, "threads": 1}})
        for g in range(28):
            guests.append(whole_cores("h%d-vm%d" % (index, g), 4 if g < 14 else 5, emulator=False, cpuset=cpusets))
    else:
        for g in range(32):
            name = "h%d-vm%d" % (index, g)
            kind = g % 8
            if kind in (0, 1, 2, 3, 4):  # whole cores, helpers on housekeeping: everything but no_smt
                guests.append(whole_cores(name, 4))
            elif kind == 5:  # no emulator pin, <vcpu cpuset> = its pins: it may run on the vCPUs (dedicated denied)
                guests.append(whole_cores(name, 4, emulator=False, cpuset=True))
            elif kind == 6:  # siblings hidden from the guest (accurate_topology denied)
                guests.append(whole_cores(name, 4, threads=1))
            else:  # one thread per core, the other threads given to the next host's tenant
                taken = [free.pop() for _core in range(3)]
                guests.append({"name": name, "vcpus": [[core_threads[c][0]] for c in taken],
                               "topology": {"sockets": 1, "cores": 3, "threads": 1}, "emulator": list(housekeeping)})
                rest = [[cpu] for c in taken for cpu in core_threads[c][1:]]
                if rest:
                    guests[-1]["name"] = name
                    guests.append({"name": name + "-sib", "vcpus": rest,
                                   "topology": {"sockets": 1, "cores": len(rest), "threads": 1},
                                   "emulator": list(housekeeping)})
    guests = guests[:32]
    placement = {
        "schema": 1,
        "housekeeping": housekeeping,
        "housekeeping_source": "systemd system.slice AllowedCPUs",
        "guests": guests,
    }
    return facts, placement


def run(hints, hosts, repeat, unmanaged_every=10, cpusets=True):
    fleet = [make_host(i, unmanaged_every, cpusets) for i in range(hosts)]
    best = None
    granted = 0
    decided = 0
    for _run in range(repeat):
        gc.collect()
        gc.disable()
        start = time.process_time()
        results = [hints.decide_host(facts, placement, host="hv%d" % i) for i, (facts, placement) in enumerate(fleet)]
        elapsed = time.process_time() - start
        gc.enable()
        best = elapsed if best is None else min(best, elapsed)
        decided = sum(len(r) for r in results)
        granted = sum(
            1 for r in results for statements in r.values() for s in hints.STATEMENTS if statements[s]["granted"]
        )
        del results
    del fleet
    return best, decided, granted


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--hosts", default="1000,10000", help="comma-separated fleet sizes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the best CPU time is kept")
    parser.add_argument("--worst-case", action="store_true", help="also time a fleet of only unmanaged hosts")
    parser.add_argument("--against", metavar="FILE", help="also time this hints.py (e.g. an earlier revision), right before")
    args = parser.parse_args()
    hints = _import_engine()
    peer = _import_peer(args.against) if args.against else None
    sizes = [int(size) for size in args.hosts.split(",")]
    print("hint engine: hosts x 256 threads x 32 guests, one core (CPU time, best of %d)" % args.repeat)
    times = {}
    for hosts in sizes:
        if peer is not None:
            before, decided, granted = run(peer, hosts, args.repeat)
            print("  %6d hosts: %7.3f s  with %s (%.1f us per guest)" % (hosts, before, args.against, before / decided * 1e6))
        seconds, decided, granted = run(hints, hosts, args.repeat)
        times[hosts] = seconds
        print(
            "  %6d hosts: %7.3f s  (%d guests, %d statements granted of %d; %.1f us per guest)"
            % (hosts, seconds, decided, granted, decided * 4, seconds / decided * 1e6)
        )
        if peer is not None:
            print("  %6d hosts: this engine takes %.2f of the time of %s" % (hosts, seconds / before, args.against))
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        print(
            "  ratio %d/%d hosts: %.2f (linear would be %.2f)"
            % (large, small, times[large] / times[small], large / small)
        )
    if 10000 in times:
        verdict = "meets" if times[10000] <= 5.0 else "MISSES"
        print("  target <= 5 s for 10,000 hosts: %s (%.3f s)" % (verdict, times[10000]))
    if args.worst_case:
        hosts = sizes[0]
        seconds, decided, granted = run(hints, hosts, args.repeat, unmanaged_every=1)
        print(
            "  worst case, every host unmanaged (floating guests; every guest denied and explained): "
            "%d hosts %.3f s (%.1f us per guest)" % (hosts, seconds, seconds / decided * 1e6)
        )
        seconds, decided, granted = run(hints, hosts, args.repeat, unmanaged_every=1, cpusets=False)
        print(
            "  worst case without <vcpu cpuset>: every host unmanaged, every emulator may run on every CPU: "
            "%d hosts %.3f s (%.1f us per guest)" % (hosts, seconds, seconds / decided * 1e6)
        )


if __name__ == "__main__":
    main()
