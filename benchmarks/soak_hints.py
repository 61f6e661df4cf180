#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Soak: the hint engine against the brute-force oracle on a million generated cases.

Not a test (CI runs a bounded number through Hypothesis). Each case is one
generated host with its placement (every 5th case: a guest across a
migration domain of up to four hosts), built from its seed with the same
generator the property tests use (tests/unit/oracle/generate.py): near-valid
and random guests, every SMT control value, nested hosts, offline CPUs, and a
few malformed facts and placements. The engine and the oracle must agree on
every statement of every guest, and on error vs decision.

Prints the counts and every disagreement with the seed that reproduces it:

    python benchmarks/soak_hints.py [--cases 1000000] [--workers 2] [--start 0]
    python benchmarks/soak_hints.py --seed 12345     # replay one case, verbosely

Exit status 1 if any case disagreed.
"""

import argparse
import json
import multiprocessing
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COLLECTIONS = os.path.join(ROOT, ".cache", "collections")
STATEMENTS = ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated")


def _paths():
    link = os.path.join(COLLECTIONS, "ansible_collections", "hvfleet", "smt")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    for path in (COLLECTIONS, os.path.join(ROOT, "tests", "unit")):
        if path not in sys.path:
            sys.path.insert(0, path)


def run_case(seed):
    """(kind, expected, got, guests) for one seed; expected/got are 'error' or granted maps."""
    from ansible_collections.hvfleet.smt.plugins.module_utils.hints import PlacementError, decide_domain, decide_host
    from oracle import brute, generate

    r = generate.seeded(seed)
    if seed % 5 == 0:
        members, guest, current = generate.domain_case(r)
        try:
            expected = brute.oracle_domain(members, guest, current)
        except brute.Malformed:
            expected = "error"
        try:
            result = decide_domain(members, guest, current)
            got = {s: result[s]["granted"] for s in STATEMENTS}
        except PlacementError:
            got = "error"
        return "domain", expected, got, 1
    facts, placement = generate.host_case(r)
    try:
        expected = brute.oracle_host(facts, placement)
    except brute.Malformed:
        expected = "error"
    try:
        result = decide_host(facts, placement)
        got = {g: {s: v[s]["granted"] for s in STATEMENTS} for g, v in result.items()}
    except PlacementError:
        got = "error"
    return "host", expected, got, 0 if expected == "error" else len(expected)


def worker(task):
    start, stop, step = task
    _paths()
    stats = {"cases": 0, "host": 0, "domain": 0, "errors": 0, "decisions": 0, "granted": dict.fromkeys(STATEMENTS, 0)}
    bad = []
    for seed in range(start, stop, step):
        try:
            kind, expected, got, decisions = run_case(seed)
        except Exception as err:  # a crash is a disagreement too
            bad.append((seed, "crash", repr(err)))
            stats["cases"] += 1
            continue
        stats["cases"] += 1
        stats[kind] += 1
        if expected == "error":
            stats["errors"] += 1
        else:
            stats["decisions"] += decisions
            rows = [expected] if kind == "domain" else expected.values()
            for row in rows:
                for statement in STATEMENTS:
                    stats["granted"][statement] += row[statement]
        if expected != got:
            bad.append((seed, kind, "oracle %s / engine %s" % (json.dumps(expected), json.dumps(got))))
    return stats, bad


def merge(total, part):
    for key, value in part.items():
        if isinstance(value, dict):
            merge(total.setdefault(key, dict.fromkeys(value, 0)), value)
        else:
            total[key] = total.get(key, 0) + value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--chunk", type=int, default=5000, help="seeds per task")
    parser.add_argument("--seed", type=int, help="replay one seed and print its inputs and both answers")
    args = parser.parse_args()
    _paths()
    if args.seed is not None:
        from oracle import generate

        r = generate.seeded(args.seed)
        inputs = generate.domain_case(r) if args.seed % 5 == 0 else generate.host_case(r)
        print(json.dumps(inputs, indent=1, default=str))
        kind, expected, got, _guests = run_case(args.seed)
        print("%s case: oracle %s\n          engine %s" % (kind, json.dumps(expected), json.dumps(got)))
        return 0 if expected == got else 1

    # Chunks of consecutive seeds keep the shape of the work even across workers.
    end = args.start + args.cases
    tasks = [(lo, min(lo + args.chunk, end), 1) for lo in range(args.start, end, args.chunk)]
    total = {}
    disagreements = []
    begin = time.time()
    done = 0
    with multiprocessing.Pool(args.workers) as pool:
        for stats, bad in pool.imap_unordered(worker, tasks):
            merge(total, stats)
            disagreements.extend(bad)
            done += stats["cases"]
            for seed, kind, what in bad:
                print("DISAGREE seed=%d (%s): %s" % (seed, kind, what), flush=True)
            if done % (args.chunk * 20) == 0 or done == args.cases:
                print("  %d/%d cases, %d disagreements, %.0f s" % (done, args.cases, len(disagreements), time.time() - begin),
                      flush=True)
    elapsed = time.time() - begin
    print("soak: %d cases (seeds %d..%d) in %.0f s with %d workers" % (total["cases"], args.start, end - 1, elapsed, args.workers))
    print("  host cases %d, domain cases %d, malformed (engine must raise) %d" % (total["host"], total["domain"], total["errors"]))
    print("  guest decisions %d (x4 statements = %d compared)" % (total["decisions"], total["decisions"] * 4))
    print("  granted: " + ", ".join("%s %d" % (s, total["granted"][s]) for s in STATEMENTS))
    print("  disagreements: %d" % len(disagreements))
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
