# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine agrees with the brute-force oracle on generated hosts, placements and domains.

Agreement is checked in both directions (a grant the oracle denies and a
denial the oracle grants both fail), on the error/decision boundary too, and
a fixed sweep makes sure both directions are actually exercised. The number
of Hypothesis examples comes from the HYPOTHESIS_PROFILE set in
tests/conftest.py (bounded in CI).
"""

import json
import random
import sys
from pathlib import Path

from hypothesis import event, given, note
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from oracle import brute, generate  # noqa: E402

from ansible_collections.hvfleet.smt.plugins.module_utils import hints  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.module_utils.hints import (  # noqa: E402
    STATEMENTS,
    PlacementError,
    decide_domain,
    decide_host,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.reasons import DENY_CODES, GRANT_CODES  # noqa: E402

host_knobs = st.fixed_dictionaries(
    {
        "packages": st.integers(1, 4),
        "cores_per_package": st.one_of(st.integers(1, 8), st.integers(1, 64)),
        "threads": st.one_of(st.sampled_from((1, 2)), st.integers(1, 8)),
        "hybrid": st.booleans(),
        "control": st.sampled_from(generate.CONTROLS),
        "numbering": st.sampled_from(generate.NUMBERINGS),
        "offline_mode": st.sampled_from(("none", "smt_off", "random", "package")),
        "nested": st.booleans(),
    }
)
guest_kinds = st.lists(st.sampled_from(generate.GUEST_KINDS), min_size=1, max_size=6)
seeds = st.integers(0, 2**32 - 1)


def granted_map(result):
    return {name: {s: statements[s]["granted"] for s in STATEMENTS} for name, statements in result.items()}


def check_reasons(statements):
    for statement in STATEMENTS:
        reasons = statements[statement]["reasons"]
        assert reasons, statement
        allowed = GRANT_CODES if statements[statement]["granted"] else DENY_CODES
        for reason in reasons:
            assert reason["code"] in allowed, (statement, reason)
            assert isinstance(reason["message"], str) and reason["message"]
            assert "please report" not in reason["message"], reason


def engine_or_error(facts, placement, **kwargs):
    try:
        return decide_host(facts, placement, **kwargs)
    except PlacementError as err:
        assert str(err).startswith("placement")
        return "error"


def oracle_or_error(facts, placement):
    try:
        return brute.oracle_host(facts, placement)
    except brute.Malformed:
        return "error"


@given(knobs=host_knobs, kinds=guest_kinds, seed=seeds)
def test_engine_agrees_with_oracle_on_generated_hosts(knobs, kinds, seed):
    r = random.Random(seed)
    shape = generate.build_host(r, **knobs)
    placement = generate.build_placement(r, shape, guests=len(kinds), kinds=kinds)
    facts = shape.facts
    note("facts=%s" % json.dumps(facts))
    note("placement=%s" % json.dumps(placement))
    expected = oracle_or_error(facts, placement)
    result = engine_or_error(facts, placement, host="hv")
    got = result if result == "error" else granted_map(result)
    assert got == expected
    if result != "error":
        for name, statements in result.items():
            check_reasons(statements)
            for statement in STATEMENTS:
                if statements[statement]["granted"]:
                    event("granted %s" % statement)
        json.dumps(result)  # plain data all the way down
        # The same answer without any cached host shape or topology.
        hints._SHAPES.clear()
        hints._TOPOLOGIES.clear()
        assert engine_or_error(facts, placement, host="hv") == result
        # Deciding one guest is deciding it among all.
        for name in result:
            assert decide_host(facts, placement, host="hv", guests=[name]) == {name: result[name]}


@given(seed=seeds, rate=st.sampled_from((0.0, 0.2, 0.5)))
def test_engine_agrees_with_oracle_on_random_cases_including_malformed(seed, rate):
    facts, placement = generate.host_case(random.Random(seed), malformed_rate=rate)
    expected = oracle_or_error(facts, placement)
    result = engine_or_error(facts, placement)
    assert (result if result == "error" else granted_map(result)) == expected
    if result != "error":
        for statements in result.values():
            check_reasons(statements)


@given(seed=seeds, how=st.sampled_from(generate.FACTS_CORRUPTIONS))
def test_broken_facts_deny_everything_exactly_when_the_oracle_says_invalid(seed, how):
    r = random.Random(seed)
    shape = generate.build_host(r, cores_per_package=r.choice((1, 2, 4)))
    placement = generate.build_placement(r, shape, guests=2)
    # Decide the intact host first, so a cached shape is there to be (wrongly) reused.
    engine_or_error(shape.facts, placement)
    broken = generate.corrupt_facts(r, shape.facts, how)
    expected = oracle_or_error(broken, placement)
    result = engine_or_error(broken, placement)
    assert (result if result == "error" else granted_map(result)) == expected
    if result != "error" and not brute.facts_valid(broken):
        for statements in result.values():
            assert {reason["code"] for s in STATEMENTS for reason in statements[s]["reasons"]} == {"facts_invalid"}


@given(seed=seeds, how=st.sampled_from(generate.PLACEMENT_CORRUPTIONS))
def test_broken_placements_are_errors_exactly_when_the_oracle_says_malformed(seed, how):
    r = random.Random(seed)
    shape = generate.build_host(r, cores_per_package=r.choice((1, 2, 4)))
    placement = generate.build_placement(r, shape, guests=r.choice((1, 2, 3)))
    broken = generate.corrupt_placement(r, placement, shape.facts, how)
    expected = oracle_or_error(shape.facts, broken)
    result = engine_or_error(shape.facts, broken)
    assert (result if result == "error" else granted_map(result)) == expected


@given(seed=seeds)
def test_engine_agrees_with_oracle_on_migration_domains(seed):
    members, guest, current = generate.domain_case(random.Random(seed))
    try:
        expected = brute.oracle_domain(members, guest, current)
    except brute.Malformed:
        expected = "error"
    try:
        result = decide_domain(members, guest, current)
    except PlacementError:
        result = "error"
    assert (result if result == "error" else {s: result[s]["granted"] for s in STATEMENTS}) == expected
    if result != "error":
        check_reasons(result)
        assert result["migration_domain"][0] == current
        for statement in STATEMENTS:
            for reason in result[statement]["reasons"]:
                assert reason["host"] in members or reason["host"] == current
            if not result[statement]["granted"]:
                # A denial names each denying peer.
                for host in result["migration_domain"][1:]:
                    facts, placement = members[host]
                    if facts is None or placement is None:
                        assert host in {reason["host"] for reason in result[statement]["reasons"]}


def test_a_fixed_sweep_exercises_both_directions_of_every_statement():
    """Hypothesis may get unlucky; this sweep makes sure grants and denials both occur and agree."""
    counts = {statement: [0, 0] for statement in STATEMENTS}
    for seed in range(1500):
        facts, placement = generate.host_case(random.Random(seed))
        expected = oracle_or_error(facts, placement)
        result = engine_or_error(facts, placement)
        assert (result if result == "error" else granted_map(result)) == expected, seed
        if result == "error":
            continue
        for statements in result.values():
            for statement in STATEMENTS:
                counts[statement][statements[statement]["granted"]] += 1
    for statement, (denied, granted) in counts.items():
        assert granted >= 50 and denied >= 50, (statement, granted, denied)


@given(knobs=host_knobs, kinds=guest_kinds, seed=seeds, with_present=st.booleans())
def test_batch_parse_builds_exactly_what_the_per_guest_parse_builds(knobs, kinds, seed, with_present):
    """The whole-host fast path is an optimisation only: same Guests, or it steps aside."""
    r = random.Random(seed)
    shape = generate.build_host(r, **knobs)
    placement = generate.build_placement(r, shape, guests=len(kinds), kinds=kinds)
    present = frozenset(shape.facts["cpus"]["present"]) if with_present else None
    online = tuple(shape.facts["cpus"]["online"]) if with_present else ()
    batch = hints._parse_guests_batch(placement["guests"], present, online)
    try:
        one_by_one = tuple(
            hints._parse_guest(raw, i, present, None, online) for i, raw in enumerate(placement["guests"])
        )
    except PlacementError:
        one_by_one = "error"
    if batch is not None:
        event("batch path")
        assert batch == one_by_one
