# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin hvfleet.smt.smt_pipeline: plan, decide, render and audit a whole fleet in one task.

The main playbook used to run plan (set_fact + smt_plan filter), smt_hints,
render (set_fact + smt_guest_settings filter) and smt_audit as one task per
host each. Every one of those costs a worker process per host, and the two
filter tasks also import and compile the planner and the renderers in every
one of them: at 100 hosts the four tasks took more time than hardware fact
gathering itself. Here the same four steps run once, on the controller, over
all hosts, step by step in the same order (every host is planned before any is
decided, decided before any is rendered, rendered before any is audited), with
the same functions the per-host tasks use (``smt_plan``, ``decide_host``,
``smt_guest_settings``, ``audit_one``). The results come back per host, for
the playbook to set as each host's variables and facts (a delegated
``set_fact`` loop). Documentation in plugins/modules/smt_pipeline.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ansible.errors import AnsibleError

from ansible_collections.hvfleet.smt.plugins.action.smt_audit import audit_one
from ansible_collections.hvfleet.smt.plugins.action.smt_hints import decide_host
from ansible_collections.hvfleet.smt.plugins.filter.smt_guest_settings import smt_guest_settings
from ansible_collections.hvfleet.smt.plugins.filter.smt_plan import smt_plan
from ansible_collections.hvfleet.smt.plugins.module_utils.audit import AuditError, summary_lines
from ansible_collections.hvfleet.smt.plugins.module_utils.hints import PlacementError, plain_data
from ansible_collections.hvfleet.smt.plugins.plugin_utils.controller_action import ControllerAction

ARGUMENT_SPEC = {
    "hosts": {"type": "list", "elements": "str", "required": True},
    "issued": {"type": "str"},
}
_MISSING = object()


class _Fleet:
    """Each host's variables, read once, and what this run has set so far.

    ``hostvars[host]`` builds the host's variables on every access and then
    templates every value it hands out, facts included (they are data, never
    templates, but the templating engine still walks and copies all of them).
    So each host's variables are built once (``raw_get``); the few settings
    read from them are templated in that host's own context, as
    ``hostvars[host][name]`` would, and facts are taken as they are and
    converted to plain data once, shared by every decision that needs them
    (the engine does not change its input).
    """

    def __init__(self, hostvars, templar):
        self._hostvars = hostvars
        self._templar = templar
        self._raw = {}
        self._templars = {}
        self._facts = {}
        self._placement = {}
        self.placement = {}  # host -> placement set by this run (planned, then with records)

    def _host(self, host):
        if host not in self._raw:
            raw = None
            if host in self._hostvars:
                raw_get = getattr(self._hostvars, "raw_get", None)
                raw = raw_get(host) if raw_get is not None else self._hostvars[host]
            self._raw[host] = raw if isinstance(raw, Mapping) else None
        return self._raw[host]

    def _template(self, host, value):
        if getattr(self._hostvars, "raw_get", None) is None:
            return value  # a plain mapping of host variables: nothing to template
        if host not in self._templars:
            self._templars[host] = self._templar.copy_with_new_env(available_variables=self._raw[host])
        return self._templars[host].template(value)

    def _fact(self, host, name, default=None):
        variables = self._host(host)
        facts = variables.get("ansible_facts") if variables is not None else None
        if isinstance(facts, Mapping) and name in facts:
            return facts[name]
        return default

    def var(self, host, name, default=None):
        """A host variable; a fact of that name when no variable is set (facts are no longer
        injected as variables when INJECT_FACTS_AS_VARS is off)."""
        variables = self._host(host)
        if variables is None:
            return default
        if name in variables:
            return self._template(host, variables[name])
        return self._fact(host, name, default)

    def defined(self, host, name):
        if name == "hvfleet_placement" and host in self.placement:
            return True
        variables = self._host(host)
        if variables is None:
            return False
        return name in variables or self._fact(host, name, _MISSING) is not _MISSING

    def facts(self, host):
        """hvfleet_smt facts as plugin_utils.hostvars.host_facts reads them: the fact, else a host variable."""
        if host not in self._facts:
            facts = self._fact(host, "hvfleet_smt")
            if facts is None:
                facts = self.var(host, "hvfleet_smt")
            self._facts[host] = plain_data(facts)
        return self._facts[host]

    def placement_of(self, host):
        if host in self.placement:
            return self.placement[host]
        if host not in self._placement:
            self._placement[host] = plain_data(self.var(host, "hvfleet_placement"))
        return self._placement[host]

    def member(self, host):
        return self.facts(host), self.placement_of(host)


class ActionModule(ControllerAction):
    arguments = ARGUMENT_SPEC

    def run_on_controller(self, result, args, task_vars):
        hostvars = task_vars.get("hostvars") or {}
        groups = task_vars.get("groups") or {}
        issued = args["issued"] or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        hosts = list(dict.fromkeys(args["hosts"]))
        unknown = [h for h in hosts if h not in hostvars]
        if unknown:
            result.update(failed=True, msg="smt_pipeline: hosts not in the inventory: %s" % ", ".join(unknown))
            return result
        fleet = _Fleet(hostvars, self._templar)
        variables = {}
        facts = {}
        errors = {}
        warnings = []

        # 1. Plan the guests a host declares (hvfleet_smt_guests) around what runs there.
        planned = set()
        for host in hosts:
            if not fleet.defined(host, "hvfleet_smt_guests") or fleet.defined(host, "hvfleet_smt_error"):
                continue
            try:
                plan = smt_plan(fleet.facts(host), fleet.var(host, "hvfleet_smt_guests"),
                                housekeeping=fleet.var(host, "hvfleet_smt_housekeeping"),
                                placement=fleet.var(host, "hvfleet_placement"))
            except (AnsibleError, ValueError, TypeError) as err:
                errors[host] = "plan on %s: %s" % (host, _message(err))
                continue
            planned.add(host)
            fleet.placement[host] = plan["placement"]
            variables[host] = {"hvfleet_smt_plan": plan, "hvfleet_placement": plan["placement"]}

        # 2. Decide every guest's statements across its migration domain (smt_hints).
        statements = {}
        for host in hosts:
            if host in errors or not fleet.defined(host, "hvfleet_placement"):
                continue
            own = fleet.member(host)
            try:
                statements[host], _domains = decide_host(
                    host, own, fleet.member, groups, migration_domain=fleet.var(host, "hvfleet_smt_migration_domain"))
            except PlacementError as err:
                errors[host] = "smt_hints: %s" % err
                continue
            except (AnsibleError, ValueError, TypeError) as err:
                errors[host] = "smt_hints on %s: %s" % (host, _message(err))
                continue
            facts[host] = {"hvfleet_smt_statements": statements[host]}
            if own[1] is None:
                warnings.append("host %s has no hvfleet_placement (and no placement option): no guest was decided"
                                % host)

        # 3. Render what each decided guest is given (smt_guest_settings), written out by smt_guest_files.
        for host in hosts:
            if host in errors:
                continue
            decided = statements[host] if host in statements else plain_data(fleet.var(host, "hvfleet_smt_statements"))
            if not decided:
                continue
            try:
                if not fleet.defined(host, "hvfleet_placement"):
                    raise ValueError("hvfleet_placement is undefined, so the statements cannot be rendered")
                settings = smt_guest_settings(decided, fleet.placement_of(host), host=host, issued=issued)
            except (AnsibleError, ValueError, TypeError) as err:
                errors[host] = "render on %s: %s" % (host, _message(err))
                continue
            variables.setdefault(host, {})["hvfleet_smt_guest_settings"] = settings["guests"]
            if host in planned:
                # A plan is audited as applied: its guests carry the record they would be given.
                # A real placement keeps the records its domains really carry.
                fleet.placement[host] = settings["placement"]
                variables[host]["hvfleet_placement"] = settings["placement"]

        # 4. Audit that every statement guests were given still holds (smt_audit); never fails here.
        audited_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for host in hosts:
            if host in errors:
                continue
            try:
                audit = audit_one(host, fleet.member(host), fleet.member, groups, audited_at,
                                  migration_domain=fleet.var(host, "hvfleet_smt_migration_domain"),
                                  placement_error=fleet.var(host, "hvfleet_placement_error") or None)
            except (PlacementError, AuditError) as err:
                errors[host] = "smt_audit: %s" % err
                continue
            except (AnsibleError, ValueError, TypeError) as err:
                errors[host] = "smt_audit on %s: %s" % (host, _message(err))
                continue
            facts.setdefault(host, {})["hvfleet_smt_audit"] = audit
            warnings.extend(summary_lines(audit, host))

        result["changed"] = False
        result["issued"] = issued
        result["variables"] = variables
        result["facts"] = facts
        result["errors"] = errors
        result["summary"] = {
            "hosts": len(hosts),
            "planned": len(planned),
            "decided": len(statements),
            "rendered": sum(1 for v in variables.values() if "hvfleet_smt_guest_settings" in v),
            "audited": sum(1 for f in facts.values() if "hvfleet_smt_audit" in f),
            "drift": sum(f["hvfleet_smt_audit"]["drift"] for f in facts.values() if "hvfleet_smt_audit" in f),
            "failed": len(errors),
        }
        if warnings:
            result["warnings"] = warnings
        return result


def _message(err):
    """An exception's message without Ansible's appended context (the filter already names itself)."""
    message = getattr(err, "message", None)
    return message if isinstance(message, str) and message else str(err)
