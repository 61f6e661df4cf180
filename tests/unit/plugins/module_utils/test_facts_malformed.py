# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every malformed tree fails the read with FactsError naming the file and the value.

A reader that guesses on bad input would hand the hint engine a partial host,
and a partial host looks like one without siblings. So each case in
tests/fixtures/malformed.yml must raise FactsError (and nothing else: a
KeyError or ValueError reaching a module is a traceback for the operator),
with ``path`` the broken file and ``value`` what was read.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import FactsError
from ansible_collections.hvfleet.smt.plugins.module_utils.facts import collect


def _load_fixtures():
    name = "hvfleet_smt_fixture_sysfs"
    if name not in sys.modules:
        path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "sysfs.py")
        spec = importlib.util.spec_from_file_location(name, os.path.abspath(path))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


FIXTURES = _load_fixtures()
TOPOLOGIES = FIXTURES.load_topologies()
CASES = FIXTURES.load_malformed()


@pytest.fixture(scope="module")
def scratch():
    root = FIXTURES.scratch_dir()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _candidates(expect):
    return expect["one_of"] if "one_of" in expect else [expect]


def _matches(err, sysroot, candidate):
    rel = os.path.relpath(os.path.realpath(err.path), os.path.realpath(sysroot))
    if rel != candidate["path"]:
        return False
    if candidate["value"] is None:
        return True
    return candidate["value"] in str(err.value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_tree_raises_facts_error(scratch, name):
    sysroot = os.path.join(scratch, name)
    case = FIXTURES.write_malformed(name, sysroot, CASES, TOPOLOGIES)
    try:
        collect(sysroot)
    except FactsError as err:
        candidates = _candidates(case["expect"])
        assert any(_matches(err, sysroot, c) for c in candidates), (
            "%s: FactsError names path=%r value=%r; expected one of %r"
            % (name, err.path, err.value, candidates))
        message = str(err)
        assert err.path in message and str(err.expected) in message, message
    except Exception as err:  # noqa: BLE001 - the point is that nothing else escapes
        pytest.fail("%s: %s escaped instead of FactsError: %s" % (name, type(err).__name__, err))
    else:
        pytest.fail("%s: collect() accepted the malformed tree (%s)" % (name, case["mutation"]))


def test_corpus_is_large_and_varied():
    """The brief asks for at least 30 distinct faults over several base hosts."""
    assert len(CASES) >= 30
    assert len({case["base"] for case in CASES.values()}) >= 5
    for name, case in CASES.items():
        assert case["base"] in TOPOLOGIES, name
        for candidate in _candidates(case["expect"]):
            assert set(candidate) == {"path", "value"}, name
            assert not os.path.isabs(candidate["path"]), name


@pytest.mark.parametrize("base", sorted({case["base"] for case in CASES.values()}))
def test_base_tree_itself_reads(scratch, base):
    """Without this, a case could 'pass' because its base tree was already broken."""
    sysroot = FIXTURES.ensure_tree(base, os.path.join(scratch, "bases"), TOPOLOGIES)
    facts = collect(sysroot)
    # the full comparison is test_facts_fixtures' job; here: it reads, and sanely
    assert [c["threads"] for c in facts["cores"]] == FIXTURES.expand_cores(TOPOLOGIES[base]["expect"]["cores"])
