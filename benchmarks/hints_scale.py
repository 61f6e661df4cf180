#!/usr/bin/env python3
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
package, and 32 guests of mixed kinds -- whole cores with the emulator on
housekeeping (everything but no_smt granted), one thread per core, default
emulators (dedicated denied), floating vCPUs, topologies that do not match,
and a few hosts with SMT forced off -- so both the grant and the denial paths
are timed.

    python benchmarks/hints_scale.py [--hosts 1000,10000] [--repeat 3]
"""

import argparse
import gc
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COLLECTIONS = os.path.join(ROOT, ".cache", "collections")


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


def make_host(index):
    """(facts, placement) for host ``index``; deterministic, distinct objects per host."""
    total = PACKAGES * CORES * THREADS
    per_thread = PACKAGES * CORES  # interleaved: siblings are 128 apart
    forceoff = index % 10 == 0
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
    free = [i for i in range(len(cores)) if i not in (0, CORES)]
    guests = []
    for g in range(32):
        kind = g % 8
        name = "h%d-vm%d" % (index, g)
        if kind in (0, 1, 2):  # whole cores, emulator on housekeeping: the good case
            taken = [free.pop() for _ in range(2)]
            pins = [cpu for core in taken for cpu in core_threads[core]]
            threads = len(core_threads[taken[0]])
            guest = {
                "name": name,
                "vcpus": [[cpu] for cpu in pins],
                "topology": {"sockets": 1, "dies": 1, "clusters": 1, "cores": len(pins) // threads, "threads": threads},
                "emulator": list(housekeeping),
                "iothreads": [list(housekeeping)],
            }
        elif kind == 3:  # one thread per core, siblings left to another guest
            taken = [free.pop() for _ in range(2)]
            pins = [core_threads[core][0] for core in taken]
            guest = {
                "name": name,
                "vcpus": [[cpu] for cpu in pins],
                "topology": {"sockets": 1, "cores": len(pins), "threads": 1},
                "emulator": list(housekeeping),
            }
            rest = [cpu for core in taken for cpu in core_threads[core][1:]]
            if rest:
                guests.append(
                    {
                        "name": name + "-sib",
                        "vcpus": [[cpu] for cpu in rest],
                        "topology": {"sockets": 1, "cores": len(rest), "threads": 1},
                        "emulator": list(housekeeping),
                    }
                )
        elif kind in (4, 5):  # default emulator: lands on its own pins
            taken = [free.pop() for _ in range(2)]
            pins = [cpu for core in taken for cpu in core_threads[core]]
            threads = len(core_threads[taken[0]])
            guest = {
                "name": name,
                "vcpus": [[cpu] for cpu in pins],
                "topology": {"sockets": 1, "cores": len(pins) // threads, "threads": threads},
            }
        elif kind == 6:  # topology that hides the siblings
            taken = [free.pop() for _ in range(2)]
            pins = [cpu for core in taken for cpu in core_threads[core]]
            guest = {
                "name": name,
                "vcpus": [[cpu] for cpu in pins],
                "topology": {"sockets": 1, "cores": len(pins), "threads": 1},
                "emulator": list(housekeeping),
            }
        else:  # floating over every online CPU
            guest = {
                "name": name,
                "vcpus": [list(online) for _ in range(2)],
                "topology": {"sockets": 1, "cores": 2, "threads": 1},
            }
        guests.append(guest)
    guests = guests[:32]
    placement = {
        "schema": 1,
        "housekeeping": housekeeping,
        "housekeeping_source": "systemd system.slice AllowedCPUs",
        "guests": guests,
    }
    return facts, placement


def run(hints, hosts, repeat):
    fleet = [make_host(i) for i in range(hosts)]
    best = None
    granted = 0
    decided = 0
    for _ in range(repeat):
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", default="1000,10000", help="comma-separated fleet sizes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the best CPU time is kept")
    args = parser.parse_args()
    hints = _import_engine()
    sizes = [int(size) for size in args.hosts.split(",")]
    print("hint engine: hosts x 256 threads x 32 guests, one core (CPU time, best of %d)" % args.repeat)
    times = {}
    for hosts in sizes:
        seconds, decided, granted = run(hints, hosts, args.repeat)
        times[hosts] = seconds
        print(
            "  %6d hosts: %7.3f s  (%d guests, %d statements granted of %d; %.1f us per guest)"
            % (hosts, seconds, decided, granted, decided * 4, seconds / decided * 1e6)
        )
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        print(
            "  ratio %d/%d hosts: %.2f (linear would be %.2f)"
            % (large, small, times[large] / times[small], large / small)
        )
    if 10000 in times:
        verdict = "meets" if times[10000] <= 5.0 else "MISSES"
        print("  target <= 5 s for 10,000 hosts: %s (%.3f s)" % (verdict, times[10000]))


if __name__ == "__main__":
    main()
