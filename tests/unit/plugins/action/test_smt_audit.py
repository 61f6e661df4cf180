# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""smt_audit's migration domain: today's inventory, the union of what the placement and the record name."""

import pytest

from ansible_collections.hvfleet.smt.plugins.action.smt_audit import domain_hosts

GROUPS = {"rack-1": ["hv-1", "hv-2"], "rack-2": ["hv-3"]}


def test_union_of_the_placement_and_the_record_resolved_now():
    assert domain_hosts("g", ["hv-9"], "rack-1", None, GROUPS) == ["hv-9", "hv-1", "hv-2"]
    grown = dict(GROUPS, **{"rack-1": ["hv-1", "hv-2", "hv-new"]})
    assert domain_hosts("g", None, "rack-1", None, grown) == ["hv-1", "hv-2", "hv-new"]


def test_the_option_only_when_nothing_else_names_one_and_none_when_nobody_does():
    assert domain_hosts("g", None, None, "rack-2", GROUPS) == ["hv-3"]
    assert domain_hosts("g", None, "rack-1", "rack-2", GROUPS) == ["hv-1", "hv-2"]
    assert domain_hosts("g", None, None, [], GROUPS) == []
    assert domain_hosts("g", None, None, None, GROUPS) is None


def test_a_recorded_group_that_is_gone_is_an_error_naming_it():
    with pytest.raises(ValueError, match="recorded migration_domain 'rack-9'"):
        domain_hosts("g", None, "rack-9", None, GROUPS)
    with pytest.raises(ValueError, match="expected an inventory group name or a list"):
        domain_hosts("g", 7, None, None, GROUPS)
