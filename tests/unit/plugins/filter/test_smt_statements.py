# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smt_statements filter: same answers as the engine, errors as AnsibleFilterError, usable from Jinja."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from oracle.hosts import facts, guest, placement, smt2  # noqa: E402

from ansible_collections.hvfleet.smt.plugins.filter.smt_statements import FilterModule, smt_statements  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.module_utils.hints import decide_host  # noqa: E402

REPO = Path(__file__).resolve().parents[4]
WHOLE = [1, 5, 2, 6]


def good():
    return placement([guest("db-1", WHOLE, threads=2), guest("db-2", [3], threads=1)], housekeeping=[0, 4])


def test_registered_under_its_name():
    assert FilterModule().filters() == {"smt_statements": smt_statements}


def test_all_guests_equal_the_engine():
    assert smt_statements(smt2(4), good(), host="hv-1") == decide_host(smt2(4), good(), host="hv-1")


def test_one_guest_returns_its_statements():
    result = smt_statements(smt2(4), good(), guest="db-1", host="hv-1")
    assert result["accurate_topology"]["granted"] and result["dedicated"]["granted"]
    assert result["migration_domain"] == ["hv-1"]
    missing = smt_statements(smt2(4), good(), guest="nobody", host="hv-1")
    assert [r["code"] for r in missing["dedicated"]["reasons"]] == ["no_placement"]


def test_peers_form_a_migration_domain():
    split = placement([guest("db-1", [1, 2, 5, 6], threads=2)], housekeeping=[0, 4])
    result = smt_statements(
        smt2(4), good(), guest="db-1", host="hv-1", peers={"hv-2": {"facts": smt2(4), "placement": split}}
    )
    assert not result["accurate_topology"]["granted"]
    assert result["accurate_topology"]["reasons"][0] == {
        "code": "migration_peer_denies",
        "message": result["accurate_topology"]["reasons"][0]["message"],
        "host": "hv-2",
    }
    assert result["dedicated"]["granted"]
    everyone = smt_statements(smt2(4), good(), host="hv-1", peers={"hv-2": {"facts": None, "placement": good()}})
    assert set(everyone) == {"db-1", "db-2"}
    assert not everyone["db-1"]["dedicated"]["granted"]


def test_nested_host_denies_no_smt():
    host = facts([[0], [1], [2], [3]], control="notsupported", nested=True)
    result = smt_statements(host, placement([guest("vm", [1])]), guest="vm")
    assert "nested_unvouched" in [r["code"] for r in result["no_smt"]["reasons"]]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"withhold": ["fast"]}, "withhold: unknown statement"),
        ({"guest": 3}, "guest: expected a guest name"),
        ({"peers": ["hv-2"]}, "peers: expected a mapping"),
        ({"peers": {"hv-2": "x"}}, "peers[hv-2]: expected a mapping"),
    ],
)
def test_bad_arguments_are_filter_errors(kwargs, words):
    with pytest.raises(AnsibleFilterError, match=words.replace("[", r"\[").replace("]", r"\]")):
        smt_statements(smt2(4), good(), **kwargs)


def test_malformed_placement_is_a_filter_error():
    broken = good()
    broken["guests"][1]["vcpus"] = ["3"]
    with pytest.raises(AnsibleFilterError, match=r"placement of host hv-1: guests\[1\] \(db-2\)\.vcpus\[0\]: got '3'"):
        smt_statements(smt2(4), broken, host="hv-1")


def test_from_a_real_template(tmp_path):
    """Ansible's own templating (tagged values and all) reaches the engine and back."""
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({"f": smt2(4), "p": good()}))
    out = tmp_path / "out.json"
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - ansible.builtin.copy:\n"
        "        content: \"{{ f | hvfleet.smt.smt_statements(p, guest='db-1', withhold=['no_smt']) | to_json }}\"\n"
        "        dest: %s\n" % out
    )
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "@%s" % variables, str(playbook)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["dedicated"]["granted"] is True
    assert result["no_smt"]["reasons"][0]["code"] == "withheld_by_policy"
