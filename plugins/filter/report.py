# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that build the fleet report on the controller from gathered facts."""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.hvfleet.smt.plugins.module_utils.report import build_report, render_text
from ansible_collections.hvfleet.smt.plugins.module_utils.report_html import MAX_PICTURES, render_html


def smt_report(hostvars, hosts=None, generated_at="unknown", previous=None):
    """Collect each host's facts, placement, statements and audit from ``hostvars``.

    Reading ``hostvars`` (not the hosts) is what lets the report run from the
    fact cache, under AWX job slicing and ``strategy: free``. ``previous``
    (the last report written) keeps its timestamp when nothing else changed.
    """
    if not hasattr(hostvars, "keys"):
        raise AnsibleFilterError("smt_report: expected hostvars (host name -> variables)")
    names = list(hostvars.keys()) if hosts is None else list(hosts)
    data = {}
    for name in names:
        if name not in hostvars:
            data[name] = {"error": "host not in inventory"}
            continue
        hv = hostvars[name]
        facts = hv.get("ansible_facts") or {}
        data[name] = {
            "facts": facts.get("hvfleet_smt") or hv.get("hvfleet_smt"),
            "placement": facts.get("hvfleet_placement") or hv.get("hvfleet_placement"),
            "statements": hv.get("hvfleet_smt_statements"),
            "audit": facts.get("hvfleet_smt_audit") or hv.get("hvfleet_smt_audit"),
            "error": hv.get("hvfleet_smt_error"),
        }
    if isinstance(previous, str):
        try:
            previous = json.loads(previous) if previous.strip() else None
        except ValueError:
            previous = None
    if not isinstance(previous, dict):
        previous = None  # an unreadable or foreign previous file is simply not reused
    try:
        return build_report(data, generated_at, previous)
    except (KeyError, TypeError, ValueError) as err:
        raise AnsibleFilterError("smt_report: facts are not in the hvfleet_smt shape (%s: %s)"
                                 % (type(err).__name__, err)) from None


def smt_report_text(report):
    if not isinstance(report, dict) or "hosts" not in report:
        raise AnsibleFilterError("smt_report_text: expected the output of hvfleet.smt.smt_report")
    return render_text(report)


def smt_report_html(report, max_pictures=MAX_PICTURES):
    """The report as one self-contained HTML page (see report_html)."""
    if not isinstance(report, dict) or "hosts" not in report or "summary" not in report:
        raise AnsibleFilterError("smt_report_html: expected the output of hvfleet.smt.smt_report")
    try:
        max_pictures = int(max_pictures)
    except (TypeError, ValueError):
        raise AnsibleFilterError("smt_report_html: max_pictures must be an integer, got %r" % (max_pictures,)) from None
    try:
        return render_html(report, max_pictures)
    except (KeyError, TypeError, ValueError) as err:
        raise AnsibleFilterError("smt_report_html: the report is not in the hvfleet.smt.smt_report shape (%s: %s)"
                                 % (type(err).__name__, err)) from None


class FilterModule:
    def filters(self):
        return {"smt_report": smt_report, "smt_report_text": smt_report_text, "smt_report_html": smt_report_html}
