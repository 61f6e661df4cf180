# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SMT-aware planner as a filter, so playbooks and templates can plan on the controller.

Planning needs only facts that are already cached (``hvfleet_smt``,
``hvfleet_placement``), so it belongs on the controller: no module run, no
per-host task cost, and it works from the fact cache under AWX slicing.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError
from ansible_collections.hvfleet.smt.plugins.module_utils.placement import (
    DEFAULT_MAX_MOVES,
    DEFAULT_SEARCH_BUDGET,
    plan,
)


def smt_plan(facts, guests=None, housekeeping=None, placement=None, defrag=False,
             search_budget=DEFAULT_SEARCH_BUDGET, max_moves=DEFAULT_MAX_MOVES):
    """Plan guests onto one host in whole physical cores (docs/planner.md)."""
    if not isinstance(defrag, bool):
        raise AnsibleFilterError("smt_plan: defrag must be true or false, not %r" % (defrag,))
    try:
        return plan(_plain(facts), _plain(guests), housekeeping=_plain(housekeeping), placement=_plain(placement),
                    defrag=defrag, search_budget=search_budget, max_moves=max_moves)
    except HvfleetError as err:
        raise AnsibleFilterError("smt_plan: %s" % err) from None


def _plain(value):
    """Plain dicts, lists, ints and strings: templated values come wrapped (lazy containers, tagged
    scalars), and the pure core and the hint engine check exact types."""
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


class FilterModule:
    def filters(self):
        return {"smt_plan": smt_plan}
