# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fragmented hosts for benchmarks/planner_vs_greedy: facts, a placement, a batch of require guests.

Fragmentation is what real hosts accumulate: guests pinned by hand to single
threads (their cores can no longer be handed out whole), guests on whole
cores, a housekeeping core per node. The batch asks for more than fits, in
sizes the host's cores can hold, so the packers have choices to get wrong.
"""

import random

KINDS = ("smt2", "smt4", "hybrid", "smt1")


def make_facts(cores, nodes, llc):
    """docs/facts.md document from per-core thread lists, node ids and cache-group ids."""
    online = sorted(t for threads in cores for t in threads)
    ordered = sorted(range(len(cores)), key=lambda i: min(cores[i]))
    sizes = [len(t) for t in cores]
    return {
        "schema": 1,
        "collected_at": "2026-11-25T00:00:00Z",
        "smt": {"control": "on" if max(sizes) > 1 else "notsupported", "active": max(sizes) > 1,
                "possible": max(sizes) > 1, "threads_per_core": {"min": min(sizes), "max": max(sizes)}},
        "cpus": {"online": online, "offline": [], "present": online, "possible": online,
                 "isolated": [], "nohz_full": [], "kernel_max": 8191},
        "cores": [{"package": nodes[i], "die": 0, "cluster": None, "core": i, "threads": sorted(cores[i])}
                  for i in ordered],
        "packages": [],
        "numa_nodes": [{"id": n, "cpus": sorted(t for i, c in enumerate(cores) if nodes[i] == n for t in c)}
                       for n in sorted(set(nodes))],
        "llc_groups": [sorted(t for i, c in enumerate(cores) if llc[i] == g for t in c) for g in sorted(set(llc))],
        "hypervisor": {"guest": False, "vendor": None, "vouched": {}},
    }


def host_shape(n_cores, n_nodes, kind):
    """Per-core threads, node and cache group; Linux numbering (first threads of every core, then the second, ...)."""
    if kind == "hybrid":
        per = n_cores // n_nodes   # two thirds P-cores (2 threads), the rest E-cores, in every node
        sizes = [2 if (i % per) < (per * 2) // 3 else 1 for i in range(n_cores)]
    else:
        sizes = [{"smt1": 1, "smt2": 2, "smt4": 4}[kind]] * n_cores
    cores = [[i] for i in range(n_cores)]
    nxt = n_cores
    for level in range(1, max(sizes)):
        for i in range(n_cores):
            if sizes[i] > level:
                cores[i].append(nxt)
                nxt += 1
    per = n_cores // n_nodes
    nodes = [min(i // per, n_nodes - 1) for i in range(n_cores)]
    llc_per_node = 2 if per >= 8 else 1
    llc = [nodes[i] * llc_per_node + min((i % per) * llc_per_node // per, llc_per_node - 1) for i in range(n_cores)]
    return cores, nodes, llc


def fragmented(rng, n_cores, n_nodes, kind, fragmentation=0.35, oversubscribe=1.4):
    """(facts, placement, batch) for one host."""
    cores, nodes, llc = host_shape(n_cores, n_nodes, kind)
    facts = make_facts(cores, nodes, llc)
    housekeeping = []
    for node in sorted(set(nodes)):
        first = min(i for i in range(n_cores) if nodes[i] == node)
        housekeeping.extend(cores[first])
    usable = [i for i in range(n_cores) if not set(cores[i]) & set(housekeeping)]
    guests = []
    # hand-pinned guests on single threads of random cores (cores become partly used)
    split = rng.sample(usable, int(len(usable) * fragmentation))
    for n, index in enumerate(split):
        thread = rng.choice(cores[index])
        guests.append({"name": "legacy%d" % n, "state": "running", "vcpus": [[thread]],
                       "topology": {"sockets": 1, "dies": 1, "clusters": 1, "cores": 1, "threads": 1},
                       "emulator": sorted(housekeeping), "iothreads": [], "migration_domain": None,
                       "source": "live"})
    # a few whole-core guests
    whole = [i for i in usable if i not in split]
    for n, index in enumerate(rng.sample(whole, len(whole) // 5)):
        guests.append({"name": "whole%d" % n, "state": "running", "vcpus": [[t] for t in cores[index]],
                       "topology": {"sockets": 1, "dies": 1, "clusters": 1, "cores": 1,
                                    "threads": len(cores[index])},
                       "emulator": sorted(housekeeping), "iothreads": [], "migration_domain": None,
                       "source": "live"})
    placement = {"schema": 1, "housekeeping": sorted(housekeeping), "housekeeping_source": "benchmark",
                 "guests": guests}
    free_threads = sum(len(c) for c in cores) - len(housekeeping) - sum(len(g["vcpus"]) for g in guests)
    sizes = {"smt2": [2, 2, 4, 4, 6, 8], "smt4": [4, 4, 8, 12], "hybrid": [1, 2, 2, 3, 4, 4, 6],
             "smt1": [1, 2, 2, 3, 4]}[kind]
    batch = []
    asked = 0
    while asked < free_threads * oversubscribe:
        vcpus = rng.choice(sizes)
        batch.append({"name": "new%d" % len(batch), "vcpus": vcpus, "thread_policy": "require",
                      "odd_vcpus": "reject", "emulator": "share", "numa": "single"})
        asked += vcpus
    return facts, placement, batch


def free_whole_cores(facts, placement):
    """{(node, threads per core): whole free cores}: what every packer compared here may use."""
    busy = set(placement["housekeeping"])
    for guest in placement["guests"]:
        busy |= {c for pins in guest["vcpus"] for c in pins}
        busy |= set(guest.get("emulator") or [])
        busy |= set(guest.get("reserved") or [])
    node_of = {c: n["id"] for n in facts["numa_nodes"] for c in n["cpus"]}
    free = {}
    for core in facts["cores"]:
        key = (node_of[core["threads"][0]], len(core["threads"]))
        free.setdefault(key, 0)
        if not busy & set(core["threads"]):
            free[key] += 1
    return free


def free_sibling_sets(facts, placement):
    """Per node, in core order, the sibling sets with every thread free (Nova's view of a NUMA cell)."""
    busy = set(placement["housekeeping"])
    for guest in placement["guests"]:
        busy |= {c for pins in guest["vcpus"] for c in pins}
        busy |= set(guest.get("emulator") or [])
    node_of = {c: n["id"] for n in facts["numa_nodes"] for c in n["cpus"]}
    cells = {}
    for core in facts["cores"]:
        cells.setdefault(node_of[core["threads"][0]], [])
        if not busy & set(core["threads"]):
            cells[node_of[core["threads"][0]]].append(tuple(core["threads"]))
    return [cells[n] for n in sorted(cells)]


def seeded(seed):
    return random.Random(seed)
