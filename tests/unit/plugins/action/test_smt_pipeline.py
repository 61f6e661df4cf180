# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smt_pipeline action plugin, run for real against the per-host tasks it replaces.

One playbook run: first smt_pipeline over a small fleet (results kept, nothing
set), then the same steps as the main playbook ran them before, one task per
host (set_fact + smt_plan, smt_hints, set_fact + smt_guest_settings,
smt_audit). Every host's plan, placement, statements, guest settings and audit
must come out the same both ways; the fleet has a migration group whose two
hosts are both planned in the same run (so a decision must see its peer's
planned placement), a host with a real placement, a host whose facts failed, a
host without guests and a host whose migration group does not exist.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from oracle.hosts import guest, placement, smt2  # noqa: E402

REPO = Path(__file__).resolve().parents[4]
COLLECTIONS = REPO / ".cache" / "collections"
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")
ISSUED = "2026-11-25T05:00:00Z"
COMPARED = ("hv-1", "hv-2", "hv-3", "hv-err", "hv-none")

PLAYBOOK = """
- name: The pipeline, in one task
  hosts: all
  gather_facts: false
  tasks:
    - name: Plan, decide, render and audit every host
      hvfleet.smt.smt_pipeline:
        hosts: "{{ ansible_play_hosts }}"
        issued: "%(issued)s"
      register: pipeline
      run_once: true

    - name: Same in check mode
      hvfleet.smt.smt_pipeline:
        hosts: "{{ ansible_play_hosts }}"
        issued: "%(issued)s"
      register: in_check_mode
      check_mode: true
      run_once: true

    - name: A host the inventory does not have
      hvfleet.smt.smt_pipeline:
        hosts: [hv-1, no-such-host]
      register: unknown_host
      ignore_errors: true
      run_once: true

    - name: Keep the results
      ansible.builtin.copy:
        content: "{{ {'pipeline': pipeline, 'in_check_mode': in_check_mode, 'unknown_host': unknown_host} | to_json }}"
        dest: "{{ out_dir }}/pipeline.json"
        mode: "0644"
      run_once: true
      delegate_to: localhost

- name: The same steps, one task per host (the main playbook before smt_pipeline)
  hosts: all:!hv-bad
  gather_facts: false
  tasks:
    - name: Plan
      ansible.builtin.set_fact:
        hvfleet_smt_plan: "{{ __plan }}"
        hvfleet_placement: "{{ __plan.placement }}"
      vars:
        __plan: >-
          {{ hvfleet_smt | hvfleet.smt.smt_plan(hvfleet_smt_guests,
               housekeeping=hvfleet_smt_housekeeping | default(none), placement=hvfleet_placement | default(none)) }}
      when:
        - hvfleet_smt_guests is defined
        - hvfleet_smt_error is undefined

    - name: Decide
      hvfleet.smt.smt_hints:
        migration_domain: "{{ hvfleet_smt_migration_domain | default(omit) }}"
        set_fact: true
      when: hvfleet_placement is defined

    - name: Render
      ansible.builtin.set_fact:
        hvfleet_smt_guest_settings: "{{ __settings.guests }}"
        hvfleet_placement: "{{ __settings.placement if hvfleet_smt_plan is defined else hvfleet_placement }}"
      vars:
        __settings: >-
          {{ hvfleet_smt_statements | hvfleet.smt.smt_guest_settings(hvfleet_placement,
               host=inventory_hostname, issued='%(issued)s') }}
      when: hvfleet_smt_statements | default({}) | length > 0

    - name: Audit
      hvfleet.smt.smt_audit:
        migration_domain: "{{ hvfleet_smt_migration_domain | default(omit) }}"

    - name: Keep the results
      ansible.builtin.copy:
        content: >-
          {{ {'plan': hvfleet_smt_plan | default(none), 'placement': hvfleet_placement | default(none),
              'guest_settings': hvfleet_smt_guest_settings | default(none),
              'statements': ansible_facts.hvfleet_smt_statements | default(none),
              'audit': ansible_facts.hvfleet_smt_audit} | to_json }}
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        mode: "0644"
      delegate_to: localhost
""" % {"issued": ISSUED}


def _write_yaml(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))  # JSON is YAML


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run the playbook once; return what each way returned."""
    root = tmp_path_factory.mktemp("smt_pipeline")
    out = root / "out"
    out.mkdir()
    inventory = root / "inventory"
    requests = [{"name": "db-1", "vcpus": 4, "thread_policy": "require", "emulator": "isolate"},
                {"name": "web-1", "vcpus": 2, "thread_policy": "share"}]
    (inventory / "host_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(json.dumps({
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "out_dir": str(out),
                     "hvfleet_smt": smt2(8), "hvfleet_smt_housekeeping": 1},
            "children": {"rack": {"hosts": {"hv-1": {}, "hv-2": {}}}},
            "hosts": {"hv-3": {}, "hv-err": {}, "hv-none": {}, "hv-bad": {}},
        }
    }))
    for host in ("hv-1", "hv-2"):
        _write_yaml(inventory / "host_vars" / ("%s.yml" % host),
                    {"hvfleet_smt_guests": requests, "hvfleet_smt_migration_domain": "rack"})
    # hv-3's placement is templated from another variable, as inventories do.
    _write_yaml(inventory / "host_vars" / "hv-3.yml", {
        "base_placement": placement([guest("vm-1", [[1, 9], [2, 10]], threads=2)], housekeeping=[0, 8]),
        "hvfleet_placement": "{{ base_placement }}",
        "hvfleet_smt_migration_domain": [],
    })
    _write_yaml(inventory / "host_vars" / "hv-err.yml", {
        "hvfleet_smt_error": "sysroot /nowhere: not a directory", "hvfleet_smt_guests": requests})
    _write_yaml(inventory / "host_vars" / "hv-bad.yml", {
        "hvfleet_smt_guests": requests, "hvfleet_smt_migration_domain": "no-such-group"})
    playbook = root / "play.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_GATHERING="explicit",
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(root / "tmp"),
        ANSIBLE_REMOTE_TEMP=str(root / "tmp"),
    )
    done = subprocess.run([str(PLAYBOOK_BIN), "-i", str(inventory), str(playbook)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}


def _without_audit_time(audit):
    return dict(audit, audited_at=None)


@pytest.mark.parametrize("host", COMPARED)
def test_each_host_comes_out_as_the_per_host_tasks_left_it(run, host):
    pipeline = run["pipeline"]["pipeline"]
    variables = pipeline["variables"].get(host, {})
    facts = pipeline["facts"][host]
    per_host = run[host]
    assert variables.get("hvfleet_smt_plan") == per_host["plan"]
    assert variables.get("hvfleet_smt_guest_settings") == per_host["guest_settings"]
    # the placement is set only where this run changed it (a plan, then its records)
    if per_host["plan"] is not None:
        assert variables["hvfleet_placement"] == per_host["placement"]
    else:
        assert "hvfleet_placement" not in variables
    assert facts.get("hvfleet_smt_statements") == per_host["statements"]
    assert _without_audit_time(facts["hvfleet_smt_audit"]) == _without_audit_time(per_host["audit"])


def test_the_comparison_is_not_empty(run):
    """Guards the test above: both ways planned, decided, rendered and audited something."""
    pipeline = run["pipeline"]["pipeline"]
    assert pipeline["summary"] == {"hosts": 6, "planned": 3, "decided": 3, "rendered": 3, "audited": 5, "drift": 0,
                                   "failed": 1}
    for host in ("hv-1", "hv-2"):
        settings = pipeline["variables"][host]["hvfleet_smt_guest_settings"]
        assert sorted(settings) == ["db-1", "web-1"] and settings["db-1"]["error"] is None
        assert "<vcpupin" in settings["db-1"]["text"], settings["db-1"]["text"]
        # planned hosts are audited as applied: their guests carry the records they were given
        audit = pipeline["facts"][host]["hvfleet_smt_audit"]
        assert audit["guests"]["db-1"]["recorded"] is True and audit["drift"] == 0, audit
    assert sorted(pipeline["variables"]["hv-3"]) == ["hvfleet_smt_guest_settings"]
    assert "hv-err" not in pipeline["variables"] and "hv-none" not in pipeline["variables"]


def test_a_decision_sees_its_peers_planned_placement(run):
    statements = run["pipeline"]["pipeline"]["facts"]["hv-1"]["hvfleet_smt_statements"]["db-1"]
    codes = {(r.get("host"), r["code"]) for r in statements["dedicated"]["reasons"]}
    # hv-2 was planned in the same task: it grants, it is not a host without a placement
    assert ("hv-2", "no_placement") not in codes and ("hv-2", "no_facts") not in codes, codes
    assert statements["dedicated"]["granted"] is True, statements["dedicated"]
    assert statements["dedicated"]["reasons"][-1]["code"] == "migration_domain_grants"
    assert "hv-1, hv-2" in statements["dedicated"]["reasons"][-1]["message"]


def test_a_failing_host_is_reported_and_the_others_go_on(run):
    pipeline = run["pipeline"]["pipeline"]
    assert not pipeline.get("failed")
    assert list(pipeline["errors"]) == ["hv-bad"]
    expected = "smt_hints on hv-bad: guest db-1: migration_domain 'no-such-group' is not an inventory group"
    assert pipeline["errors"]["hv-bad"].startswith(expected), pipeline["errors"]
    # planned before its decision failed, as the per-host tasks would have left it; nothing after that
    assert "hvfleet_smt_plan" in pipeline["variables"]["hv-bad"]
    assert "hvfleet_smt_guest_settings" not in pipeline["variables"]["hv-bad"]
    assert "hv-bad" not in pipeline["facts"]


def test_check_mode_returns_the_same(run):
    assert run["pipeline"]["in_check_mode"]["variables"] == run["pipeline"]["pipeline"]["variables"]
    assert run["pipeline"]["in_check_mode"]["errors"] == run["pipeline"]["pipeline"]["errors"]


def test_an_unknown_host_is_a_clear_error(run):
    result = run["pipeline"]["unknown_host"]
    assert result["failed"] is True
    assert result["msg"] == "smt_pipeline: hosts not in the inventory: no-such-host"
