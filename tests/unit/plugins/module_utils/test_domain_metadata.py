# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import (
    NAMESPACE, Record, find_record, parse_record, render_record, set_record)
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import DocumentError

DOMAIN = """<domain type='kvm'><name>g1</name>
  <metadata><other:x xmlns:other='urn:other'>keep</other:x></metadata>
  <vcpu>2</vcpu></domain>"""


def test_round_trip_keeps_every_section():
    record = Record(plan={"vcpupin": {"0": "2"}}, statements={"version": 1}, emitted={"fw_cfg": True})
    assert parse_record(render_record(record), "g1") == record


def test_rendering_is_stable_bytes():
    one = render_record(Record(plan={"b": 1, "a": 2}))
    two = render_record(Record(plan={"a": 2, "b": 1}))
    assert one == two
    assert NAMESPACE in one


def test_set_record_replaces_ours_and_keeps_other_metadata():
    first = set_record(DOMAIN, Record(plan={"a": 1}), "g1")
    second = set_record(first, Record(plan={"a": 2}, emitted={"cpuid": []}), "g1")
    assert find_record(second, "g1") == Record(plan={"a": 2}, emitted={"cpuid": []})
    assert "urn:other" in second and "keep" in second
    assert second.count(NAMESPACE) == 1


def test_with_section_changes_only_that_section():
    record = Record(plan={"a": 1}).with_section("statements", {"s": 1})
    assert record == Record(plan={"a": 1}, statements={"s": 1})
    with pytest.raises(ValueError):
        record.with_section("bogus", {})


def test_absent_record_is_none():
    assert find_record(DOMAIN, "g1") is None
    assert parse_record("", "g1") is None


@pytest.mark.parametrize("text, expected", [
    ("<hvfleet:record xmlns:hvfleet='%s' version='2'/>" % NAMESPACE, "version"),
    ("<hvfleet:record xmlns:hvfleet='%s' version='1'><hvfleet:plan>[1]</hvfleet:plan></hvfleet:record>"
     % NAMESPACE, "a JSON object"),
    ("<hvfleet:record xmlns:hvfleet='%s' version='1'><hvfleet:plan>{</hvfleet:plan></hvfleet:record>"
     % NAMESPACE, "JSON"),
    ("<record version='1'/>", NAMESPACE),
    ("<unclosed", "XML"),
])
def test_bad_records_are_refused_with_the_domain_named(text, expected):
    with pytest.raises(DocumentError) as info:
        parse_record(text, "domain g1")
    assert "domain g1" in str(info.value)
    assert expected in str(info.value)
