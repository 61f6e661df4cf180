#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin plugins/action/smt_report_files.py on the
# controller; this file only documents it, as ansible-doc expects.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: smt_report_files
short_description: Write the fleet report's files (report.json, summary.txt, report.html) on the controller
version_added: 0.1.0
description:
  - Takes the report document the P(hvfleet.smt.smt_report#filter) filter builds and writes, in O(dest) on the
    controller, C(report.json) (the document, compact JSON; schema in C(docs/report.md)), C(summary.txt) (as the
    P(hvfleet.smt.smt_report_text#filter) filter renders it) and, with O(html), C(report.html) (as the
    P(hvfleet.smt.smt_report_html#filter) filter renders it).
  - Files are mode C(0644), the directory C(0755) (created when missing). A file whose bytes and mode are already
    right is not touched, so a report that did not change reports no change; a changed file is replaced in one
    step (a reader never sees half of it).
  - The role P(hvfleet.smt.smt_report#role) uses it; one task instead of a module run per file.
author:
  - hvfleet maintainers (@hvfleet)
extends_documentation_fragment:
  - hvfleet.smt.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  dest:
    description: Directory on the controller.
    type: path
    required: true
  report:
    description: The report document (output of the P(hvfleet.smt.smt_report#filter) filter).
    type: dict
    required: true
  html:
    description: Also write C(report.html).
    type: bool
    default: true
  html_max_pictures:
    description: Draw at most this many hosts in C(report.html) (hosts with drift first); the others keep their tables.
    type: int
    default: 200
"""

EXAMPLES = r"""
- name: Write the report files
  hvfleet.smt.smt_report_files:
    dest: /srv/reports/smt
    report: "{{ hostvars | hvfleet.smt.smt_report(ansible_play_hosts_all, now(utc=true).strftime('%Y-%m-%dT%H:%M:%SZ')) }}"
  run_once: true
"""

RETURN = r"""
dest:
  description: The directory written to.
  returned: success
  type: str
files:
  description: The report's files.
  returned: success
  type: list
  elements: str
  sample: [report.json, summary.txt, report.html]
written:
  description: The files written (or, in check mode, that would be) because they were missing or differed in content
    or mode; the directory, with a trailing C(/), when it was created or its mode set.
  returned: success
  type: list
  elements: str
"""
