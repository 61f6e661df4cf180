#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does the hint engine still say exactly what an earlier hints.py said? Every decision, every sentence.

Not a test. A change made for speed must not change one decision or one
reason. The unit tests and the oracle check the decisions and some of the
sentences; this compares the whole output -- granted, each reason's code
and message, the text of each PlacementError -- of this engine and another
hints.py (an earlier revision) on the soak's generated cases (decide_host,
with a policy and on a subset of the guests, decide_domain,
validate_placement) and on the benchmark fleet of hints_scale.py (managed,
unmanaged and unmanaged without <vcpu cpuset>). Prints the count and the
first differences; exit status 1 if anything differs.

    git show REV:plugins/module_utils/hints.py > /tmp/hints_before.py
    python benchmarks/hints_same_output.py /tmp/hints_before.py [--cases 20000] [--start 0] [--malformed 0.03]
"""

import argparse
import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))

import hints_scale  # noqa: E402  pylint: disable=wrong-import-position

POLICIES = (None, ("dedicated",), ("no_smt", "accurate_topology"))


def outcome(call, *args, **kwargs):
    """('ok', result) or ('error', type, message); inputs are copied so neither engine sees the other's."""
    try:
        return ("ok", call(*copy.deepcopy(args), **kwargs))
    except Exception as err:  # pylint: disable=broad-except
        return ("error", type(err).__name__, str(err))


def parsed(result):
    """A validate_placement result without engine internals: the Guests' fields, topology_info by its meaning."""
    if result[0] != "ok":
        return result
    placement = result[1]
    guests = []
    for guest in placement.guests:
        fields = {name: getattr(guest, name) for name in guest._fields if name != "topology_info"}
        info = guest.topology_info
        if info is not None:
            fields["topology_info"] = (info.topology, info.product, info.threads, info.grant)
        guests.append(fields)
    return ("ok", placement.housekeeping, placement.housekeeping_source, guests)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("peer", help="the other hints.py (e.g. git show REV:plugins/module_utils/hints.py > FILE)")
    parser.add_argument("--cases", type=int, default=20000, help="generated cases (seeds)")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--malformed", type=float, default=0.03, help="share of malformed host cases")
    parser.add_argument("--show", type=int, default=3, help="differences printed in full")
    args = parser.parse_args()
    engine = hints_scale._import_engine()  # pylint: disable=protected-access
    import importlib.util  # pylint: disable=import-outside-toplevel

    spec = importlib.util.spec_from_file_location("hints_peer", args.peer)
    peer = importlib.util.module_from_spec(spec)
    sys.modules["hints_peer"] = peer
    spec.loader.exec_module(peer)
    from oracle import generate  # pylint: disable=import-outside-toplevel,import-error

    compared = 0
    differences = 0

    def check(what, theirs, ours):
        nonlocal compared, differences
        compared += 1
        if theirs != ours:
            differences += 1
            if differences <= args.show:
                print("DIFFERENT: %s" % (what,))
                print("  %s: %s" % (args.peer, json.dumps(theirs, default=str)[:2000]))
                print("  this engine: %s" % json.dumps(ours, default=str)[:2000])

    for index in range(40):
        for knobs in ({}, {"unmanaged_every": 1}, {"unmanaged_every": 1, "cpusets": False}):
            facts, placement = hints_scale.make_host(index, **knobs)
            check(
                ("fleet host", index, knobs),
                outcome(peer.decide_host, facts, placement, host="hv"),
                outcome(engine.decide_host, facts, placement, host="hv"),
            )
    for seed in range(args.start, args.start + args.cases):
        r = generate.seeded(seed)
        if seed % 5 == 0:
            members, guest, current = generate.domain_case(r)
            check(
                ("domain", seed),
                outcome(peer.decide_domain, members, guest, current),
                outcome(engine.decide_domain, members, guest, current),
            )
            continue
        facts, placement = generate.host_case(r, malformed_rate=args.malformed)
        withhold = POLICIES[seed % len(POLICIES)]
        theirs = outcome(peer.decide_host, facts, placement, peer.Policy(frozenset(withhold)) if withhold else None, host="h")
        ours = outcome(engine.decide_host, facts, placement, engine.Policy(frozenset(withhold)) if withhold else None, host="h")
        check(("host", seed), theirs, ours)
        if theirs[0] == "ok" and theirs[1] and seed % 3 == 0:
            names = sorted(theirs[1])[: max(1, len(theirs[1]) // 2)]
            check(
                ("host, some guests", seed),
                outcome(peer.decide_host, facts, placement, guests=names),
                outcome(engine.decide_host, facts, placement, guests=names),
            )
        check(
            ("validate_placement", seed),
            parsed(outcome(peer.validate_placement, placement, facts, "h")),
            parsed(outcome(engine.validate_placement, placement, facts, "h")),
        )
    print("%d outputs compared with %s (seeds %d..%d): %d differ" % (
        compared, args.peer, args.start, args.start + args.cases - 1, differences))
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
