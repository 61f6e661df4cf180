#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Can the engine-vs-oracle comparison catch a wrong engine? Plant bugs and see.

Not a test. Each mutant is one small, plausible mistake in
plugins/module_utils/hints.py (a rule dropped, a set confused with another, a
DOMAIN.md subtlety reversed). For each, a copy of the collection with that
mutation is checked against tests/unit/oracle/ on generated cases (the
soak's generator) until the first disagreement ("killed") or the case budget
runs out ("SURVIVED"). A survivor means the generator or the oracle misses
that kind of mistake -- or the mutant is harmless (then say why here).

    python benchmarks/hints_mutants.py [--cases 20000] [--only NAME]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ENGINE = os.path.join("plugins", "module_utils", "hints.py")

# name -> (what the mistake is, text in hints.py, replacement)
MUTANTS = {
    "notimplemented_offline_returns": (
        "offline CPUs under notimplemented treated as unable to return (DOMAIN.md's wording)",
        'OFFLINE_CANNOT_RETURN = frozenset(("forceoff", "notsupported"))',
        'OFFLINE_CANNOT_RETURN = frozenset(("forceoff", "notsupported", "notimplemented"))',
    ),
    "no_smt_ignores_notimplemented_offline": (
        "no_smt forgets the notimplemented + offline rule",
        'if control == "notimplemented" and view.offline:',
        "if False:",
    ),
    "off_is_impossible": (
        "SMT control 'off' counted as SMT impossible",
        'SMT_IMPOSSIBLE = frozenset(("forceoff", "notsupported", "notimplemented"))',
        'SMT_IMPOSSIBLE = frozenset(("off", "forceoff", "notsupported", "notimplemented"))',
    ),
    "lone_vcpu_time_share_denies": (
        "a foreign user on the very thread of a lone vCPU denies no_nonarch_core_sharing",
        "        return False  # one vCPU per core: a foreign user on its thread only time-shares it",
        "        return not usage.foreign_on_own_pin.isdisjoint(pinset)",
    ),
    "sibling_words_miss_own_pins": (
        "the sentences miss a sibling that is itself a vCPU pin (caught by the no-fallback-sentence check)",
        [
            ("foreign = [cpu for cpu in threads if (cpu in foreign_on_own if cpu in pinset else cpu in aux or cpu in vcpus)]",
             "foreign = [cpu for cpu in threads if (False if cpu in pinset else cpu in aux or cpu in vcpus)]"),
            ("        foreign = pinset & foreign_on_own\n", "        foreign = frozenset()\n"),
        ],
        None,
    ),
    "lone_vcpu_shortcut_wrong": (
        "one-vCPU-per-core shortcut also skips a sibling pin with a foreign user",
        "    if len(touched) == len(pinset):\n        return False  # one vCPU per core",
        "    if True:\n        return False  # one vCPU per core",
    ),
    "siblings_ignore_other_vcpus": (
        "a sibling thread used only by another guest's vCPUs counts as unused",
        "        if not (usage.aux.isdisjoint(others) and usage.vcpus.isdisjoint(others)):",
        "        if not usage.aux.isdisjoint(others):",
    ),
    "dedicated_ignores_other_guests": (
        "dedicated ignores another guest's vCPUs on a pin",
        "foreign_on_own_pin=aux | multi if multi else aux,",
        "foreign_on_own_pin=aux,",
    ),
    "split_siblings_missed": (
        "accurate_topology only checks that a core holds one sibling group",
        "matches = distinct == n // threads and one_core_each",
        "matches = len(set(zip([i // threads for i in range(n)], cores))) == distinct",
    ),
    "hidden_siblings_missed": (
        "accurate_topology only checks that a sibling group sits on one core",
        "matches = distinct == n // threads and one_core_each",
        "matches = one_core_each",
    ),
    "threads1_unchecked": (
        "one thread per core shown: no check that the pins are on distinct cores",
        "            matches = distinct == n\n",
        "            matches = True\n",
    ),
    "nested_topology_unvouched": (
        "a nested host grants accurate_topology without a vouch",
        'if nested and "accurate_topology" not in view.vouched:',
        "if False:",
    ),
    "nested_nn_or": (
        "nested no_nonarch_core_sharing accepts accurate_topology OR no_nonarch_core_sharing vouched",
        '"accurate_topology" in vouched and "no_nonarch_core_sharing" in vouched',
        '"accurate_topology" in vouched or "no_nonarch_core_sharing" in vouched',
    ),
    "housekeeping_unknown_is_none": (
        "an unknown housekeeping set is taken as empty",
        "housekeeping = placement.housekeeping if placement.housekeeping is not None else view.present",
        "housekeeping = placement.housekeeping if placement.housekeeping is not None else frozenset()",
    ),
    "emulator_default_nowhere": (
        "a guest without an emulator pin has its emulator nowhere (fast path)",
        "                    emulator = online or tuple(sorted(set(pins)))\n",
        "                    emulator = (max(pins) + 100000,)\n",
    ),
    "batch_emulator_default_nowhere": (
        "a guest without an emulator pin has its emulator nowhere (whole-host fast path)",
        "                emulator_tuples[index] = online or tuple(sorted(set(pins_all[index])))",
        "                emulator_tuples[index] = (max(pins_all[index]) + 100000,)",
    ),
    "emulator_default_union": (
        "an emulator with neither pin nor cpuset only where the vCPUs run (the old default, not libvirt's)",
        [
            ("                    emulator = online or tuple(sorted(set(pins)))\n",
             "                    emulator = tuple(sorted(set(pins)))\n"),
            ("                emulator_tuples[index] = online or tuple(sorted(set(pins_all[index])))",
             "                emulator_tuples[index] = tuple(sorted(set(pins_all[index])))"),
            ("            emulator = online or tuple(sorted(set(used)))\n", "            emulator = tuple(sorted(set(used)))\n"),
        ],
        None,
    ),
    "vcpu_cpuset_ignored": (
        "an emulator without a pin ignores the <vcpu cpuset> and takes the vCPU pins",
        [
            ("            emulator = tuple(sorted(cpuset))\n", "            emulator = tuple(sorted(set(used)))\n"),
            ("                    emulator = tuple(sorted(cpuset_raw)) if _plain_cpus(cpuset_raw, present) else None\n",
             "                    emulator = tuple(sorted(set(pins))) if _plain_cpus(cpuset_raw, present) else None\n"),
            ("                emulator_tuples[index] = tuple(sorted(cpuset))\n",
             "                emulator_tuples[index] = tuple(sorted(set(pins_all[index])))\n"),
        ],
        None,
    ),
    "batch_offline_pin_ok": (
        "the whole-host fast path accepts a pin outside the host",
        "        not present.issuperset(flat) if present is not None else min(flat) < 0\n",
        "        min(flat) < 0\n",
    ),
    "two_guests_same_cpu_missed": (
        "CPUs carrying vCPUs of two guests are never found",
        "    if clash:",
        "    if False:",
    ),
    "product_unchecked": (
        "topology product not compared with the vCPU count",
        "elif info.product != n:",
        "elif False:",
    ),
    "domain_current_only": (
        "a migration domain grants what the current host grants",
        'granted = all(decided[name][statement]["granted"] for name in hosts)',
        'granted = decided[current_host][statement]["granted"]',
    ),
    "cores_cover_unchecked": (
        "facts whose cores do not cover the online CPUs are accepted",
        "if core_of.keys() != online_set:",
        "if False:",
    ),
    "duplicate_names_accepted": (
        "two guests with one name are accepted",
        "if guest.name in names:",
        "if False:",
    ),
    "offline_pin_ok": (
        "a vCPU pinned to an offline CPU counts as pinned",
        [
            ("pins_ok = len(set(pins)) == n and view.online.issuperset(pins)", "pins_ok = len(set(pins)) == n"),
            ("pins_exclusive = len(vcpu_cpus) == total and view.online.issuperset(vcpu_cpus)",
             "pins_exclusive = len(vcpu_cpus) == total"),
        ],
        None,
    ),
}

CHECK = r"""
import sys
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
from ansible_collections.hvfleet.smt.plugins.module_utils.hints import decide_host, decide_domain, PlacementError, STATEMENTS
from oracle import brute, generate
budget = int(sys.argv[3])
for seed in range(budget):
    r = generate.seeded(seed)
    if seed % 5 == 0:
        members, guest, current = generate.domain_case(r)
        try:
            want = brute.oracle_domain(members, guest, current)
        except brute.Malformed:
            want = "error"
        try:
            got_full = decide_domain(members, guest, current)
            got = {s: got_full[s]["granted"] for s in STATEMENTS}
        except PlacementError:
            got = got_full = "error"
    else:
        facts, placement = generate.host_case(r)
        try:
            want = brute.oracle_host(facts, placement)
        except brute.Malformed:
            want = "error"
        try:
            got_full = decide_host(facts, placement)
            got = {g: {s: v[s]["granted"] for s in STATEMENTS} for g, v in got_full.items()}
        except PlacementError:
            got = got_full = "error"
        except Exception as err:  # a mutant may crash: that is a kill too
            got = got_full = "crash: %r" % (err,)
    if want != got:
        print("killed at case %d" % seed)
        sys.exit(0)
    if "please report" in repr(got_full):
        print("killed at case %d (fallback sentence)" % seed)
        sys.exit(0)
print("SURVIVED %d cases" % budget)
"""


def run(name, cases):
    what, old, new = MUTANTS[name]
    with tempfile.TemporaryDirectory(prefix="hints-mutant-") as tmp:
        tree = os.path.join(tmp, "ansible_collections", "hvfleet", "smt")
        shutil.copytree(os.path.join(ROOT, "plugins"), os.path.join(tree, "plugins"))
        path = os.path.join(tree, ENGINE)
        with open(path) as handle:
            text = handle.read()
        # A mutant is one (old, new) replacement, or a list of them (one mistake made on every path).
        for before, after in old if isinstance(old, list) else [(old, new)]:
            if text.count(before) != 1:
                return "STALE (the text to mutate is not in hints.py exactly once: %r)" % before[:60]
            text = text.replace(before, after)
        with open(path, "w") as handle:
            handle.write(text)
        result = subprocess.run(
            [sys.executable, "-c", CHECK, tmp, os.path.join(ROOT, "tests", "unit"), str(cases)],
            capture_output=True,
            text=True,
            check=False,
        )
        out = (result.stdout + result.stderr).strip().splitlines()
        return out[-1] if out else "no output (exit %d)" % result.returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--cases", type=int, default=20000, help="case budget per mutant")
    parser.add_argument("--only", action="append", help="run only these mutants")
    args = parser.parse_args()
    names = args.only or list(MUTANTS)
    survivors = 0
    start = time.time()
    for name in names:
        verdict = run(name, args.cases)
        if not verdict.startswith("killed"):
            survivors += 1
        print("%-40s %s  -- %s" % (name, verdict, MUTANTS[name][0]))
    print("%d mutants, %d not killed, %.0f s" % (len(names), survivors, time.time() - start))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
