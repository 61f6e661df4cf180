# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smt_hints action plugin, run for real: ansible-playbook against a tiny inventory.

One playbook run covers the faces of the plugin (facts from the fact cache
and from host variables, a migration group, a guest's own domain, set_fact,
check mode, fail_on_deny, malformed placements, unknown groups, a nested
host); the tests then read what each task returned. Decisions themselves are
proven in tests/unit/plugins/module_utils/; here the question is whether
Ansible's data reaches the engine intact and the answers come back.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from oracle.hosts import facts, guest, placement, smt2  # noqa: E402

from ansible_collections.hvfleet.smt.plugins.action.smt_hints import _plain, _resolve_domain  # noqa: E402

REPO = Path(__file__).resolve().parents[4]
COLLECTIONS = REPO / ".cache" / "collections"
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")

WHOLE = [1, 5, 2, 6]  # two whole cores of smt2(4)

PLAYBOOK = """
- name: Decide on hv-1 (facts from the fact cache), domain = group rack
  hosts: hv-1
  gather_facts: false
  tasks:
    - name: All guests, migration group rack
      hvfleet.smt.smt_hints:
        migration_domain: rack
        set_fact: true
      register: by_group

    - name: The fact is set for later tasks
      ansible.builtin.set_fact:
        fact_seen: "{{ hvfleet_smt_statements['db-1'].dedicated.granted }}"

    - name: Same in check mode
      hvfleet.smt.smt_hints:
        migration_domain: rack
      check_mode: true
      register: in_check_mode

    - name: One guest, explicit host list, fail on a denial
      hvfleet.smt.smt_hints:
        guests: [db-1]
        migration_domain: [hv-1, hv-4, hv-2]
        fail_on_deny: [no_smt, dedicated]
      register: failing
      ignore_errors: true

    - name: Unknown group
      hvfleet.smt.smt_hints:
        migration_domain: no-such-group
      register: unknown_group
      ignore_errors: true

    - name: Placement given as an option, withholding dedicated, never migrates
      hvfleet.smt.smt_hints:
        placement: "{{ other_placement }}"
        migration_domain: []
        withhold: [dedicated]
      register: by_option

    - name: No migration domain declared anywhere
      hvfleet.smt.smt_hints:
        guests: [db-1]
      register: no_domain

    - name: Declared never to migrate
      hvfleet.smt.smt_hints:
        guests: [db-1]
        migration_domain: []
      register: stays

    - name: Keep the results
      ansible.builtin.copy:
        content: "{{ {'by_group': by_group, 'in_check_mode': in_check_mode, 'failing': failing,
                      'unknown_group': unknown_group, 'by_option': by_option, 'fact_seen': fact_seen,
                      'no_domain': no_domain, 'stays': stays} | to_json }}"
        dest: "{{ out_dir }}/hv-1.json"
        mode: "0644"

- name: A host with a malformed placement
  hosts: hv-bad
  gather_facts: false
  tasks:
    - name: Decide
      hvfleet.smt.smt_hints:
      register: bad
      ignore_errors: true

    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ bad | to_json }}"
        dest: "{{ out_dir }}/hv-bad.json"
        mode: "0644"

- name: A nested host (the localhost scenario's case)
  hosts: hv-nested
  gather_facts: false
  tasks:
    - name: Decide
      hvfleet.smt.smt_hints:
      register: nested

    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ nested | to_json }}"
        dest: "{{ out_dir }}/hv-nested.json"
        mode: "0644"
"""


def _write_yaml(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))  # JSON is YAML


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run the playbook once; return {host: what its tasks returned}."""
    root = tmp_path_factory.mktemp("smt_hints")
    out = root / "out"
    out.mkdir()
    cache = root / "facts"
    cache.mkdir()
    inventory = root / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(
        json.dumps(
            {
                "all": {
                    "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "out_dir": str(out)},
                    "children": {"rack": {"hosts": {"hv-1": {}, "hv-2": {}}}},
                    "hosts": {"hv-bad": {}, "hv-nested": {}, "hv-4": {}},
                }
            }
        )
    )
    good = placement([guest("db-1", WHOLE, threads=2), guest("db-2", [3], threads=1, migration_domain=["hv-3"])], housekeeping=[0, 4])
    # hv-1: facts only in the fact cache, as smt_facts would have left them.
    # ansible-core >= 2.19 keeps jsonfile cache entries as s<schema>_<host>: {"__payload__": "<json>"}.
    (cache / "s1_hv-1").write_text(json.dumps({"__payload__": json.dumps({"hvfleet_smt": smt2(4)})}))
    # hv-1's placement is templated from another variable, as inventories do.
    _write_yaml(inventory / "host_vars" / "hv-1.yml", {
        "base_placement": good,
        "hvfleet_placement": "{{ base_placement }}",
        "other_placement": placement([guest("web", [1, 2], threads=1)], housekeeping=[0, 4]),
    })
    # hv-2: facts as a plain host variable; db-1 is placed the same way there.
    _write_yaml(inventory / "host_vars" / "hv-2.yml", {"hvfleet_smt": smt2(4), "hvfleet_placement": good})
    # hv-4: facts, but SMT on and db-1 pinned across cores: accurate_topology fails there.
    _write_yaml(inventory / "host_vars" / "hv-4.yml", {
        "hvfleet_smt": smt2(4),
        "hvfleet_placement": placement([guest("db-1", [1, 2, 3, 5], threads=2)], housekeeping=[0, 4]),
    })
    bad = placement([guest("db-1", WHOLE, threads=2)], housekeeping=[0, 4])
    bad["guests"][0]["vcpus"][1] = "5-6"
    _write_yaml(inventory / "host_vars" / "hv-bad.yml", {"hvfleet_smt": smt2(4), "hvfleet_placement": bad})
    _write_yaml(inventory / "host_vars" / "hv-nested.yml", {
        "hvfleet_smt": facts([[0], [1], [2], [3]], control="notsupported", nested=True),
        "hvfleet_placement": placement([guest("vm", [1, 2], threads=1)], housekeeping=[0]),
    })
    playbook = root / "play.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_CACHE_PLUGIN="jsonfile",
        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(cache),
        ANSIBLE_GATHERING="explicit",
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(root / "tmp"),
        ANSIBLE_REMOTE_TEMP=str(root / "tmp"),
    )
    done = subprocess.run(
        [str(PLAYBOOK_BIN), "-i", str(inventory), str(playbook)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}


def statuses(statements, guest_name):
    return {s: statements[guest_name][s]["granted"] for s in ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated")}


def test_group_domain_grants_what_both_hosts_grant(run):
    result = run["hv-1"]["by_group"]
    assert not result.get("failed")
    assert result["changed"] is False
    assert result["migration_domains"]["db-1"] == ["hv-1", "hv-2"]
    assert statuses(result["statements"], "db-1") == {
        "no_smt": False,
        "accurate_topology": True,
        "no_nonarch_core_sharing": True,
        "dedicated": True,
    }
    db1 = result["statements"]["db-1"]
    assert db1["host"] == "hv-1"
    assert db1["facts_collected_at"] == "2026-11-25T05:20:00Z"
    assert db1["dedicated"]["reasons"][-1]["code"] == "migration_domain_grants"


def test_a_guests_own_domain_overrides_the_option_and_unknown_hosts_deny(run):
    result = run["hv-1"]["by_group"]
    assert result["migration_domains"]["db-2"] == ["hv-1", "hv-3"]
    db2 = result["statements"]["db-2"]
    assert not any(db2[s]["granted"] for s in ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated"))
    assert {"host": "hv-3", "code": "no_facts"}.items() <= db2["dedicated"]["reasons"][1].items()


def test_set_fact_and_check_mode(run):
    assert run["hv-1"]["by_group"]["ansible_facts"]["hvfleet_smt_statements"] == run["hv-1"]["by_group"]["statements"]
    assert run["hv-1"]["fact_seen"] is True
    assert run["hv-1"]["in_check_mode"]["statements"] == run["hv-1"]["by_group"]["statements"]


def test_fail_on_deny_fails_and_still_returns_the_statements(run):
    result = run["hv-1"]["failing"]
    assert result["failed"] is True
    assert "db-1: no_smt denied" in result["msg"]
    assert "db-1: dedicated" not in result["msg"]
    assert result["migration_domains"]["db-1"] == ["hv-1", "hv-4", "hv-2"]
    acc = result["statements"]["db-1"]["accurate_topology"]
    assert not acc["granted"]
    assert {(r["host"], r["code"]) for r in acc["reasons"]} >= {("hv-4", "migration_peer_denies"), ("hv-4", "split_siblings")}


def test_unknown_group_is_a_clear_error(run):
    result = run["hv-1"]["unknown_group"]
    assert result["failed"] is True
    assert "migration_domain 'no-such-group' is not an inventory group" in result["msg"]


def test_placement_option_and_withhold(run):
    result = run["hv-1"]["by_option"]
    assert list(result["statements"]) == ["web"]
    assert result["statements"]["web"]["dedicated"]["reasons"][0]["code"] == "withheld_by_policy"
    assert result["statements"]["web"]["accurate_topology"]["granted"]


def test_malformed_placement_fails_naming_host_guest_and_field(run):
    result = run["hv-bad"]
    assert result["failed"] is True
    assert "placement of host hv-bad: guests[0] (db-1).vcpus[1]: got '5-6'" in result["msg"]
    assert "Traceback" not in json.dumps(result)


def test_nested_host_denies_no_smt_with_nested_unvouched(run):
    statements = run["hv-nested"]["statements"]["vm"]
    assert not statements["no_smt"]["granted"]
    # No domain declared there: migration_domain_unknown first, the host's own denials after it.
    assert [r["code"] for r in statements["no_smt"]["reasons"]][0] == "migration_domain_unknown"
    assert "nested_unvouched" in [r["code"] for r in statements["no_smt"]["reasons"]]


def test_no_declared_domain_denies_everything_and_an_empty_one_means_this_host_only(run):
    # Without a domain the guest may be live-migrated to any host: unknown denies.
    result = run["hv-1"]["no_domain"]
    assert not result.get("failed")
    db1 = result["statements"]["db-1"]
    assert not any(db1[s]["granted"] for s in ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated"))
    for statement in ("accurate_topology", "dedicated"):
        assert [r["code"] for r in db1[statement]["reasons"]] == ["migration_domain_unknown"]
        assert db1[statement]["reasons"][0]["host"] == "hv-1"
    assert [r["code"] for r in db1["no_smt"]["reasons"]][:2] == ["migration_domain_unknown", "smt_on"]
    assert db1["migration_domain"] is None
    assert result["migration_domains"] == {"db-1": None}
    # An empty domain: the guest never migrates, decided on hv-1 alone.
    stays = run["hv-1"]["stays"]
    assert stays["migration_domains"] == {"db-1": ["hv-1"]}
    assert statuses(stays["statements"], "db-1") == {
        "no_smt": False,
        "accurate_topology": True,
        "no_nonarch_core_sharing": True,
        "dedicated": True,
    }


def test_resolve_domain_rules():
    groups = {"rack": ["a", "b"]}
    assert _resolve_domain(None, groups, "g") is None
    assert _resolve_domain([], groups, "g") == []
    assert _resolve_domain("rack", groups, "g") == ["a", "b"]
    assert _resolve_domain(["x", "y"], groups, "g") == ["x", "y"]
    with pytest.raises(ValueError, match="not an inventory group"):
        _resolve_domain("nope", groups, "g")
    with pytest.raises(ValueError, match="expected an inventory group name or a list"):
        _resolve_domain([1], groups, "g")


def test_plain_turns_subclasses_into_plain_types():
    class Tagged(int):
        pass

    class TaggedStr(str):
        pass

    value = _plain({TaggedStr("a"): [Tagged(1), True, (2, 3.5)], "b": None})
    assert value == {"a": [1, True, [2, 3.5]], "b": None}
    # Exactly the plain types: isinstance() would accept Tagged and TaggedStr.
    assert type(value["a"][0]) is int and type(list(value)[0]) is str  # pylint: disable=unidiomatic-typecheck
