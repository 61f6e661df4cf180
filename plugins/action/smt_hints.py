# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin hvfleet.smt.smt_hints: decide the SMT statements on the controller.

It runs on the controller because a guest's statements depend on every host
it may be migrated to, and only the controller sees them all (``hostvars``,
fed by facts gathered earlier or by the fact cache). Nothing is changed on
any host; the documentation lives in plugins/modules/smt_hints.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleError

from ansible_collections.hvfleet.smt.plugins.module_utils.hints import (
    STATEMENTS,
    PlacementError,
    Policy,
    decide_domains,
    deny_unknown_domain,
    plain_data as _plain,
)
from ansible_collections.hvfleet.smt.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.hvfleet.smt.plugins.plugin_utils.hostvars import host_facts, host_var, member_data

ARGUMENT_SPEC = {
    "guests": {"type": "list", "elements": "str"},
    "migration_domain": {"type": "raw"},
    "facts": {"type": "dict"},
    "placement": {"type": "dict"},
    "fail_on_deny": {"type": "list", "elements": "str", "choices": list(STATEMENTS), "default": []},
    "withhold": {"type": "list", "elements": "str", "choices": list(STATEMENTS), "default": []},
    "set_fact": {"type": "bool", "default": False},
}


class ActionModule(ControllerAction):
    arguments = ARGUMENT_SPEC

    def run_on_controller(self, result, args, task_vars):
        current = task_vars.get("inventory_hostname")
        hostvars = task_vars.get("hostvars") or {}
        groups = task_vars.get("groups") or {}
        try:
            facts = args["facts"] if args["facts"] is not None else host_facts(hostvars, current)
            placement = args["placement"] if args["placement"] is not None else host_var(hostvars, current, "hvfleet_placement")
            own = (_plain(facts), _plain(placement))
            statements, domains = decide_host(
                current, own, lambda host: member_data(hostvars, host), groups,
                migration_domain=args["migration_domain"], wanted=args["guests"], withhold=args["withhold"])
        except PlacementError as err:
            result.update(failed=True, msg="smt_hints: %s" % err)
            return result
        except (AnsibleError, ValueError, TypeError) as err:
            result.update(failed=True, msg="smt_hints on %s: %s" % (current, err))
            return result
        result["changed"] = False
        result["statements"] = statements
        result["migration_domains"] = domains
        if own[1] is None and args["guests"] is None:
            result.setdefault("warnings", []).append(
                "host %s has no hvfleet_placement (and no placement option): no guest was decided" % current
            )
        if args["set_fact"]:
            result["ansible_facts"] = {"hvfleet_smt_statements": statements}
        denied = [
            "%s: %s denied (%s)" % (guest, statement, ", ".join(r["code"] for r in statements[guest][statement]["reasons"]))
            for guest in sorted(statements)
            for statement in args["fail_on_deny"]
            if not statements[guest][statement]["granted"]
        ]
        if denied:
            result["failed"] = True
            result["msg"] = "smt_hints: statements required by fail_on_deny were denied: " + "; ".join(denied)
        return result


def decide_host(current, own, member, groups, migration_domain=None, wanted=None, withhold=()):
    """Decide the statements of ``current``'s guests across their migration domains.

    ``own`` is its (facts, placement) as plain data, ``member(host)`` the same
    for any other host a guest may move to (read only when needed). Returns
    (statements per guest, migration domain per guest: None for a guest
    nobody declared a domain for, which is denied). Raises PlacementError,
    ValueError or TypeError. Shared with the smt_pipeline action, so the
    main playbook's one task decides exactly as this one does.
    """
    members = {current: own}
    if wanted is None:
        wanted = _guest_names(own[1])
    domains = {}
    unknown = []
    for guest in wanted:
        declared = _declared_domain(own[1], guest)
        spec = declared if declared is not None else migration_domain
        hosts = _resolve_domain(spec, groups, guest)
        if hosts is None:
            # Nobody said where it may go: decide here for the reasons, then deny.
            unknown.append(guest)
            hosts = []
        domains[guest] = [current] + [h for h in hosts if h != current]
        for host in hosts:
            if host not in members:
                members[host] = member(host)
    statements = decide_domains(members, domains, current, Policy(withhold=frozenset(withhold)))
    for guest in unknown:
        statements[guest] = deny_unknown_domain(statements[guest], guest, current)
        domains[guest] = None
    return statements, domains


def _guest_names(placement):
    if not isinstance(placement, Mapping) or not isinstance(placement.get("guests"), list):
        return []  # the engine reports a malformed placement when it reads it
    return [g.get("name") for g in placement["guests"] if isinstance(g, Mapping) and isinstance(g.get("name"), str)]


def _declared_domain(placement, guest):
    """The guest's own migration_domain from this host's placement (it overrides the option)."""
    if not isinstance(placement, Mapping) or not isinstance(placement.get("guests"), list):
        return None
    for entry in placement["guests"]:
        if isinstance(entry, Mapping) and entry.get("name") == guest:
            return entry.get("migration_domain")
    return None


def _resolve_domain(spec, groups, guest):
    """Hosts of a migration domain: an inventory group's hosts or an explicit list ([]: never migrates).

    None (nothing declared) stays None: the guest may be migrated anywhere.
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec not in groups:
            raise ValueError(
                "guest %s: migration_domain %r is not an inventory group; give a group name or a list of hosts"
                % (guest, spec)
            )
        return list(groups[spec])
    if isinstance(spec, (list, tuple)) and all(isinstance(h, str) and h for h in spec):
        return list(spec)
    raise ValueError(
        "guest %s: migration_domain %r: expected an inventory group name or a list of host names" % (guest, spec)
    )
