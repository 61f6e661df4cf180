# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smt_report role through ansible-playbook: three files, idempotent, check mode writes nothing.

The hosts carry the sample fleet of tests/unit/report_samples.py as host
variables (facts, placement, statements and audit, the way the fact cache
gives them to a report job), so the role's real templating of hostvars and
the previous report.json is what is tested.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "unit"))

import report_samples  # noqa: E402  pylint: disable=wrong-import-position
from runner_support import ansible_env  # noqa: E402  pylint: disable=wrong-import-position

HOSTS = ("hv-big", "hv-small", "hv-down")
PLAYBOOK = """---
- name: Report
  hosts: all
  gather_facts: false
  roles:
    - role: hvfleet.smt.smt_report
"""


def _write_inventory(root: Path, hostvars) -> Path:
    inventory = root / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    lines = ["all:", "  hosts:"] + ["    %s:" % name for name in HOSTS]
    (inventory / "hosts.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name in HOSTS:
        hv = dict(hostvars[name])
        hv.update(hv.pop("ansible_facts", {}))  # as cached facts arrive: plain host variables
        hv.update({"ansible_connection": "local", "ansible_python_interpreter": sys.executable})
        (inventory / "host_vars" / ("%s.json" % name)).write_text(json.dumps(hv), encoding="utf-8")
    (root / "report.yml").write_text(PLAYBOOK, encoding="utf-8")
    return inventory


def _run(root: Path, report_dir: Path, *extra: str) -> str:
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(root / "inventory"),
           str(root / "report.yml"), "-e", "smt_report_dir=%s" % report_dir] + list(extra)
    env = ansible_env(home=root / "ansible-home")
    proc = subprocess.run(cmd, cwd=str(root), env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _changed(stdout: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", stdout))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-role")
    _write_inventory(root, report_samples.hostvars())
    return root


def test_writes_three_files_then_changes_nothing(fleet):
    report_dir = fleet / "out"
    first = _run(fleet, report_dir)
    assert _changed(first) >= 1
    names = sorted(os.listdir(report_dir))
    assert names == ["report.html", "report.json", "summary.txt"]
    before = {n: (report_dir / n).read_bytes() for n in names}
    document = json.loads(before["report.json"])
    assert [h["name"] for h in document["hosts"]] == list(HOSTS[:1]) + ["hv-down", "hv-small"]
    assert document["summary"]["drift"] == 2
    assert before["report.html"].startswith(b"<!DOCTYPE html>") and b"CPU topology of hv-big" in before["report.html"]
    assert "%s/report.json and summary.txt and report.html" % report_dir in first

    second = _run(fleet, report_dir)
    assert _changed(second) == 0, second
    assert {n: (report_dir / n).read_bytes() for n in names} == before


def test_check_mode_writes_nothing(fleet):
    report_dir = fleet / "checked"
    _run(fleet, report_dir, "--check")
    assert not report_dir.exists()


def test_new_facts_give_a_new_report(fleet):
    report_dir = fleet / "out"  # written by the first test (unless run alone)
    if not (report_dir / "report.json").exists():
        _run(fleet, report_dir)
    old = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    path = fleet / "inventory" / "host_vars" / "hv-small.json"
    hv = json.loads(path.read_text(encoding="utf-8"))
    hv["hvfleet_smt"]["collected_at"] = "2099-01-01T00:00:00Z"
    path.write_text(json.dumps(hv), encoding="utf-8")
    try:
        stdout = _run(fleet, report_dir)
    finally:
        hv["hvfleet_smt"]["collected_at"] = "2026-11-25T05:20:00Z"
        path.write_text(json.dumps(hv), encoding="utf-8")
    new = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert _changed(stdout) >= 1
    small = next(h for h in new["hosts"] if h["name"] == "hv-small")
    assert small["collected_at"] == "2099-01-01T00:00:00Z"
    assert new["generated_at"] >= old["generated_at"]
