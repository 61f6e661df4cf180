# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading other hosts' variables on the controller, for decisions that span hosts.

The smt_hints and smt_audit actions decide across a migration domain from
what the fact cache holds for its other members; both must read a member's
facts the same way, or one could grant what the other audits as drift.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.hvfleet.smt.plugins.module_utils.hints import plain_data


def host_var(hostvars, host, name):
    """A variable of ``host`` as Ansible templates it; None when the host or the variable is absent."""
    if host not in hostvars:
        return None
    variables = hostvars[host]
    if name not in variables:
        return None
    return variables[name]


def host_facts(hostvars, host):
    """hvfleet_smt facts, from ansible_facts (as gathered or cached) or a plain host variable."""
    ansible_facts = host_var(hostvars, host, "ansible_facts")
    if isinstance(ansible_facts, Mapping) and ansible_facts.get("hvfleet_smt") is not None:
        return ansible_facts["hvfleet_smt"]
    return host_var(hostvars, host, "hvfleet_smt")


def member_data(hostvars, host):
    """A host's (facts, placement) as the hint engine and the audit read them: plain data from ``hostvars``."""
    return plain_data(host_facts(hostvars, host)), plain_data(host_var(hostvars, host, "hvfleet_placement"))
