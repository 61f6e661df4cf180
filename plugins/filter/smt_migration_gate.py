# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter hvfleet.smt.smt_migration_gate: may a guest live-migrate without losing a statement?"""

from __future__ import annotations

DOCUMENTATION = r"""
name: smt_migration_gate
version_added: 0.1.0
short_description: Say whether a destination host keeps every SMT statement a guest holds
description:
  - Given C(hostvars), a guest, its current (source) host and a destination host, says whether the destination
    grants every statement the guest holds, with the destination's reasons for each one it would lose.
  - What the guest I(holds) - the statements its hvfleet record says it was given (C(record) in the source's
    C(hvfleet_placement), from M(hvfleet.smt.guest_placement_facts)), else what the engine grants it on the
    source now. An unreadable record denies (C(error)).
  - The check is the one M(hvfleet.smt.smt_hints) applies to a migration domain (C(hints.decide_domains) over
    source and destination), evaluated against the placement the guest has reserved on the destination, else
    its current pins carried over (libvirt migrates C(<cputune>) unchanged).
  - Facts come from C(ansible_facts.hvfleet_smt) (else C(hvfleet_smt)), placements from C(hvfleet_placement).
    A destination without facts or placement denies.
positional: _input
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  guest:
    description: The guest (libvirt domain name).
    type: str
    required: true
  source:
    description: The inventory host the guest runs on.
    type: str
    required: true
  destination:
    description: The inventory host it would migrate to.
    type: str
    required: true
  carry_over:
    description:
      - Without a reservation on the destination, evaluate the guest with its current pins there. With false, an
        unreserved guest is denied (C(no_placement)), exactly as in a migration domain.
    type: bool
    default: true
  withhold:
    description: Statements the policy withholds.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: May db-1 move from hv-1 to hv-2?
  ansible.builtin.set_fact:
    gate: "{{ hostvars | hvfleet.smt.smt_migration_gate(guest='db-1', source='hv-1', destination='hv-2') }}"

- name: Refuse when it would lose a statement
  ansible.builtin.assert:
    that: gate.keeps
    fail_msg: "{{ gate.lost }}: {{ gate.reasons | map(attribute='message') | list }}"
"""

RETURN = r"""
_value:
  description:
    - C(keeps) (true only when every held statement is granted on the destination and the record was readable),
      C(held), C(lost), C(reasons) (the destination's, C({code, message}), each message prefixed with the
      statement), C(placement) (C(reserved), C(carried_over), C(none) or C(unknown)), C(statements) (per statement
      C(held), C(source), C(destination), C(reasons)), C(error), C(guest), C(source), C(destination).
  type: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError
from ansible_collections.hvfleet.smt.plugins.module_utils.hints import Policy, plain_data
from ansible_collections.hvfleet.smt.plugins.module_utils.migration_gate import migration_gate


def _var(hostvars, host, name):
    if host not in hostvars:
        return None
    variables = hostvars[host]
    return variables[name] if name in variables else None


def _facts(hostvars, host):
    ansible_facts = _var(hostvars, host, "ansible_facts")
    if isinstance(ansible_facts, Mapping) and ansible_facts.get("hvfleet_smt") is not None:
        return ansible_facts["hvfleet_smt"]
    return _var(hostvars, host, "hvfleet_smt")


def smt_migration_gate(hostvars, guest=None, source=None, destination=None, carry_over=True, withhold=None):
    """Whether ``destination`` keeps every statement ``guest`` holds on ``source`` (see DOCUMENTATION)."""
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError("smt_migration_gate: expected hostvars as input, got %r" % (type(hostvars).__name__,))
    for name, value in (("guest", guest), ("source", source), ("destination", destination)):
        if not isinstance(value, str) or not value:
            raise AnsibleFilterError("smt_migration_gate: %s: expected a name, got %r" % (name, value))
    if source not in hostvars:
        raise AnsibleFilterError("smt_migration_gate: source %s is not an inventory host" % source)
    try:
        policy = Policy(withhold=frozenset(withhold or ()))
        return migration_gate(
            guest, source, plain_data(_facts(hostvars, source)), plain_data(_var(hostvars, source, "hvfleet_placement")),
            destination, plain_data(_facts(hostvars, destination)),
            plain_data(_var(hostvars, destination, "hvfleet_placement")),
            policy=policy, carry_over=bool(carry_over))
    except (HvfleetError, ValueError) as err:
        raise AnsibleFilterError("smt_migration_gate: %s" % err) from None


class FilterModule:
    def filters(self):
        return {"smt_migration_gate": smt_migration_gate}
