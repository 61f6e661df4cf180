# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that build the fleet report on the controller from gathered facts."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.hvfleet.smt.plugins.module_utils.report import build_report, render_text


def smt_report(hostvars, hosts=None, generated_at="unknown"):
    """Collect each host's facts, placement and statements from ``hostvars``.

    Reading ``hostvars`` (not the hosts) is what lets the report run from the
    fact cache, under AWX job slicing and ``strategy: free``.
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
            "error": hv.get("hvfleet_smt_error"),
        }
    try:
        return build_report(data, generated_at)
    except (KeyError, TypeError, ValueError) as err:
        raise AnsibleFilterError("smt_report: facts are not in the hvfleet_smt shape (%s: %s)"
                                 % (type(err).__name__, err)) from None


def smt_report_text(report):
    if not isinstance(report, dict) or "hosts" not in report:
        raise AnsibleFilterError("smt_report_text: expected the output of hvfleet.smt.smt_report")
    return render_text(report)


class FilterModule:
    def filters(self):
        return {"smt_report": smt_report, "smt_report_text": smt_report_text}
