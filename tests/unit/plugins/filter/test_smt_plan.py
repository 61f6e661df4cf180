"""smt_plan filter: plans from templated (wrapped) data and turns planner errors into filter errors."""

from collections.abc import Mapping

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hvfleet.smt.plugins.filter import smt_plan as F


def facts():
    cores = [[i, i + 4] for i in range(4)]
    online = list(range(8))
    return {
        "schema": 1, "collected_at": "2026-11-25T00:00:00Z",
        "smt": {"control": "on", "active": True, "possible": True, "threads_per_core": {"min": 2, "max": 2}},
        "cpus": {"online": online, "offline": [], "present": online, "possible": online, "isolated": [],
                 "nohz_full": [], "kernel_max": 8191},
        "cores": [{"package": 0, "die": 0, "cluster": None, "core": i, "threads": t} for i, t in enumerate(cores)],
        "packages": [], "numa_nodes": [{"id": 0, "cpus": online}], "llc_groups": [online],
        "hypervisor": {"guest": False, "vendor": None, "vouched": {}},
    }


class Wrapped(Mapping):
    """Stands in for Ansible's lazy template containers: a Mapping, not a dict."""

    def __init__(self, data):
        self._data = data

    def __getitem__(self, key):
        value = self._data[key]
        return Wrapped(value) if isinstance(value, dict) else value

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


class TaggedInt(int):
    pass


def test_plans_from_wrapped_values():
    result = F.smt_plan(Wrapped(facts()), [Wrapped({"name": "db", "vcpus": TaggedInt(4)})], housekeeping=TaggedInt(1))
    assert result["placed"] == ["db"]
    assert result["placement"]["guests"][0]["vcpus"] == [[1], [5], [2], [6]]
    # Exactly int: isinstance() would accept TaggedInt (and bool).
    assert type(result["placement"]["guests"][0]["topology"]["threads"]) is int  # pylint: disable=unidiomatic-typecheck
    assert result["guests"]["db"]["statements"]["dedicated"]["granted"] is True


def test_only_lints_without_guests():
    current = {"schema": 1, "housekeeping": [0], "guests": [{"name": "a", "vcpus": [[4]], "emulator": [0]}]}
    result = F.smt_plan(facts(), placement=current)
    assert [f["code"] for f in result["lint"]["current"]] == ["housekeeping_split"]
    assert result["placed"] == []


@pytest.mark.parametrize("kwargs, match", [
    ({"guests": [{"name": "db", "vcpus": 0}], "housekeeping": 1}, r"smt_plan: guests\[0\].vcpus: got 0"),
    ({"guests": [], "housekeeping": "0-x"}, "smt_plan: housekeeping"),
    ({"guests": [], "housekeeping": 1, "defrag": "yes"}, "defrag must be true or false"),
])
def test_errors_are_filter_errors(kwargs, match):
    with pytest.raises(AnsibleFilterError, match=match):
        F.smt_plan(facts(), **kwargs)


def test_registered_name():
    assert F.FilterModule().filters() == {"smt_plan": F.smt_plan}
