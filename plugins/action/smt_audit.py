# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin hvfleet.smt.smt_audit: check on the controller that granted statements still hold.

On the controller for the same reason as smt_hints: a statement must hold on
every host a guest may move to, and only the controller sees them all. The
work is in module_utils/audit.py; the documentation in plugins/modules/smt_audit.py.
"""

from __future__ import annotations

import time

from ansible.errors import AnsibleError

from ansible_collections.hvfleet.smt.plugins.module_utils.audit import (
    AuditError,
    audit_host,
    guests_needing_domains,
    summary_lines,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.hints import (
    STATEMENTS,
    PlacementError,
    Policy,
    plain_data,
)
from ansible_collections.hvfleet.smt.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.hvfleet.smt.plugins.plugin_utils.hostvars import host_facts, host_var, member_data

ARGUMENT_SPEC = {
    "migration_domain": {"type": "raw"},
    "facts": {"type": "dict"},
    "placement": {"type": "dict"},
    "placement_error": {"type": "str"},
    "facts_error": {"type": "str"},
    "fail_on_drift": {"type": "bool", "default": False},
    "withhold": {"type": "list", "elements": "str", "choices": list(STATEMENTS), "default": []},
    "set_fact": {"type": "bool", "default": True},
}


class ActionModule(ControllerAction):
    arguments = ARGUMENT_SPEC

    def run_on_controller(self, result, args, task_vars):
        current = task_vars.get("inventory_hostname")
        hostvars = task_vars.get("hostvars") or {}
        groups = task_vars.get("groups") or {}
        audited_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            facts = args["facts"] if args["facts"] is not None else host_facts(hostvars, current)
            if args["facts_error"]:
                facts = None  # never older (cached) facts in place of a failed read
            placement = args["placement"] if args["placement"] is not None else host_var(hostvars, current, "hvfleet_placement")
            own = (plain_data(facts), plain_data(placement))
            audit = audit_one(current, own, lambda host: member_data(hostvars, host), groups, audited_at,
                              migration_domain=args["migration_domain"], withhold=args["withhold"],
                              placement_error=args["placement_error"] or None)
        except (PlacementError, AuditError) as err:
            result.update(failed=True, msg="smt_audit: %s" % err)
            return result
        except (AnsibleError, ValueError, TypeError) as err:
            result.update(failed=True, msg="smt_audit on %s: %s" % (current, err))
            return result
        result["changed"] = False
        result["audit"] = audit
        if args["set_fact"]:
            result["ansible_facts"] = {"hvfleet_smt_audit": audit}
        lines = summary_lines(audit, current)
        if lines:
            if args["fail_on_drift"]:
                result["failed"] = True
                result["msg"] = "smt_audit: %d guest(s) drifted, %d unverifiable%s: %s" % (
                    audit["drift"], audit["unverifiable"], ", host error" if audit["error"] else "", " | ".join(lines))
            else:
                result["warnings"] = lines
        return result


def audit_one(current, own, member, groups, audited_at, migration_domain=None, withhold=(), placement_error=None):
    """Audit ``current``'s guests: ``own`` is its (facts, placement) as plain data, ``member(host)`` the same
    for any host a guest may move to (read only when needed).

    Raises PlacementError, AuditError, ValueError or TypeError. Shared with the
    smt_pipeline action, so the main playbook's one task audits exactly as this one does.
    """
    members = {current: own}
    domains = {}
    domain_errors = {}
    for guest, told, declared in guests_needing_domains(own[1]):
        try:
            hosts = domain_hosts(guest, declared, told.migration_domain, migration_domain, groups)
        except ValueError as err:
            domain_errors[guest] = str(err)
            continue
        if hosts is None:
            continue  # nobody said where it may go: audit_host denies, as smt_hints does
        domains[guest] = [current] + [h for h in hosts if h != current]
        for host in hosts:
            if host not in members:
                members[host] = member(host)
    return audit_host(current, members, domains, audited_at,
                      policy=Policy(withhold=frozenset(withhold)),
                      placement_error=placement_error,
                      domain_errors=domain_errors)


def domain_hosts(guest, declared, recorded, option, groups):
    """Every host the guest may move to now, or None when nobody declared it.

    The union of its placement's domain and the one its record names,
    resolved against today's inventory (a host added to the group since the
    guest was told is exactly what the audit must check); the task's option
    only when neither names one. ``[]`` means it never migrates.
    """
    specs = [("placement migration_domain", declared), ("recorded migration_domain", recorded)]
    specs = [(where, spec) for where, spec in specs if spec is not None]
    if not specs and option is not None:
        specs = [("migration_domain option", option)]
    if not specs:
        return None
    hosts = []
    for where, spec in specs:
        if isinstance(spec, str):
            if spec not in groups:
                raise ValueError(
                    "guest %s: %s %r is not an inventory group, so the hosts it may move to cannot be checked"
                    % (guest, where, spec))
            hosts.extend(groups[spec])
        elif isinstance(spec, (list, tuple)) and all(isinstance(h, str) and h for h in spec):
            hosts.extend(spec)
        else:
            raise ValueError("guest %s: %s %r: expected an inventory group name or a list of host names"
                             % (guest, where, spec))
    return list(dict.fromkeys(hosts))
