# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smt_report_files action plugin: the report filters' bytes, written only when they differ.

The role test (tests/integration/test_report_role.py) runs it inside the
smt_report role; here a playbook drives the action's own cases - a first
write, no change, a wrong file mode, check mode, no HTML, a report that is not
one - and the file contents are compared with what the filters render.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import report_samples  # noqa: E402

from ansible_collections.hvfleet.smt.plugins.action.smt_report_files import render_files  # noqa: E402
from ansible_collections.hvfleet.smt.plugins.filter.report import smt_report, smt_report_html, smt_report_text  # noqa: E402

REPO = Path(__file__).resolve().parents[4]
COLLECTIONS = REPO / ".cache" / "collections"
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")

PLAYBOOK = """
- name: Write the report files
  hosts: localhost
  gather_facts: false
  vars:
    report: "{{ lookup('ansible.builtin.file', report_file) | from_json }}"
  tasks:
    - name: First write (the directory does not exist yet)
      hvfleet.smt.smt_report_files:
        dest: "{{ out_dir }}/report"
        report: "{{ report }}"
      register: first

    - name: Again
      hvfleet.smt.smt_report_files:
        dest: "{{ out_dir }}/report"
        report: "{{ report }}"
      register: again

    - name: Loosen a file's mode
      ansible.builtin.file:
        path: "{{ out_dir }}/report/summary.txt"
        mode: "0600"

    - name: The mode is put back
      hvfleet.smt.smt_report_files:
        dest: "{{ out_dir }}/report"
        report: "{{ report }}"
      register: mode_fixed

    - name: Check mode writes nothing
      hvfleet.smt.smt_report_files:
        dest: "{{ out_dir }}/checked"
        report: "{{ report }}"
      check_mode: true
      register: checked

    - name: Without HTML
      hvfleet.smt.smt_report_files:
        dest: "{{ out_dir }}/no-html"
        report: "{{ report }}"
        html: false
      register: no_html

    - name: Not a report
      hvfleet.smt.smt_report_files:
        dest: "{{ out_dir }}/bad"
        report: {hosts: 3}
      register: bad
      ignore_errors: true

    - name: Keep the results
      ansible.builtin.copy:
        content: "{{ {'first': first, 'again': again, 'mode_fixed': mode_fixed, 'checked': checked,
                      'no_html': no_html, 'bad': bad} | to_json }}"
        dest: "{{ out_dir }}/results.json"
        mode: "0644"
"""


def _report():
    return smt_report(report_samples.hostvars(), None, "2026-11-25T06:00:00Z")


def _run(tmp_path):
    (tmp_path / "report-in.json").write_text(json.dumps(_report()))
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_HOME=str(tmp_path / "home"))
    done = subprocess.run([str(PLAYBOOK_BIN), str(tmp_path / "play.yml"), "-e", "out_dir=%s" % tmp_path,
                           "-e", "report_file=%s" % (tmp_path / "report-in.json"),
                           "-e", "ansible_python_interpreter=%s" % sys.executable],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((tmp_path / "results.json").read_text())


def test_render_files_are_the_filters_output():
    report = _report()
    files = dict(render_files(report, html=True, html_max_pictures=1))
    assert sorted(files) == ["report.html", "report.json", "summary.txt"]
    assert json.loads(files["report.json"]) == report and files["report.json"].endswith(b"}\n")
    assert files["summary.txt"] == smt_report_text(report).encode()
    assert files["report.html"] == smt_report_html(report, 1).encode()
    assert sorted(dict(render_files(report, html=False))) == ["report.json", "summary.txt"]


def test_writes_once_then_only_what_differs(tmp_path):
    results = _run(tmp_path)
    report_dir = tmp_path / "report"
    assert results["first"]["changed"] is True
    assert results["first"]["written"] == [str(report_dir) + "/", "report.json", "summary.txt", "report.html"]
    assert sorted(os.listdir(report_dir)) == ["report.html", "report.json", "summary.txt"]
    for name, data in render_files(_report()):
        assert (report_dir / name).read_bytes() == data, name
        assert stat.S_IMODE((report_dir / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE(report_dir.stat().st_mode) == 0o755
    assert results["again"]["changed"] is False and results["again"]["written"] == []
    assert results["mode_fixed"]["changed"] is True and results["mode_fixed"]["written"] == ["summary.txt"]

    assert results["checked"]["changed"] is True
    assert not (tmp_path / "checked").exists()

    assert sorted(os.listdir(tmp_path / "no-html")) == ["report.json", "summary.txt"]

    bad = results["bad"]
    assert bad["failed"] is True
    assert bad["msg"].startswith("smt_report_files: report: expected the output of the hvfleet.smt.smt_report filter")
    assert not (tmp_path / "bad").exists()
