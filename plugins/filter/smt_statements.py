# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter hvfleet.smt.smt_statements: the hint engine inside templates."""

from __future__ import annotations

DOCUMENTATION = r"""
name: smt_statements
version_added: 0.1.0
short_description: Decide the SMT statements for the guests of a host, in a template
description:
  - Takes a host's SMT facts (C(ansible_facts.hvfleet_smt)) and its placement (C(hvfleet_placement))
    and returns, per guest, the four statements C(no_smt), C(accurate_topology),
    C(no_nonarch_core_sharing) and C(dedicated), each with C(granted) and C(reasons), exactly as the
    M(hvfleet.smt.smt_hints) action does. The rules are in C(docs/statements.md).
  - With O(peers), a guest's statements are granted only if every peer grants them too (a migration
    domain). Peers without facts or without a placement for the guest deny, named in the reasons.
  - Missing or malformed facts deny (C(no_facts), C(facts_invalid)); a malformed placement is an
    error naming the host, guest, field and value.
positional: _input, placement
options:
  _input:
    description: The host's SMT facts, as returned by M(hvfleet.smt.smt_facts). May be null (all denied).
    type: dict
    required: true
  placement:
    description: The host's placement (C(docs/placement.md)).
    type: dict
    required: true
  guest:
    description:
      - Decide only this guest and return its statements directly, not a mapping of guests.
      - A guest the placement does not list is denied everything (C(no_placement)).
    type: str
  host:
    description: Name of the host, used in the reasons and the result.
    type: str
  peers:
    description:
      - The other hosts of the migration domain, as a mapping of host name to C({facts, placement}).
        Every decided guest must be granted a statement on every peer too.
    type: dict
  withhold:
    description: Statements never to grant (reason C(withheld_by_policy)).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Statements for every guest of this host
  ansible.builtin.debug:
    msg: "{{ ansible_facts.hvfleet_smt | hvfleet.smt.smt_statements(hvfleet_placement, host=inventory_hostname) }}"

- name: In a libvirt template, tell db-1 only what holds here and on its migration peer
  ansible.builtin.set_fact:
    db1_statements: >-
      {{ ansible_facts.hvfleet_smt | hvfleet.smt.smt_statements(hvfleet_placement, guest='db-1',
           host=inventory_hostname,
           peers={'hv-2': {'facts': hostvars['hv-2'].ansible_facts.hvfleet_smt,
                           'placement': hostvars['hv-2'].hvfleet_placement}}) }}

# libvirt domain XML snippet (template):
# {% if db1_statements.dedicated.granted %}
#   <kvm><hint-dedicated state='on'/></kvm>
# {% endif %}
"""

RETURN = r"""
_value:
  description:
    - Without O(guest), a mapping of guest name to its statements; with O(guest), that guest's
      statements.
    - Statements are C({no_smt, accurate_topology, no_nonarch_core_sharing, dedicated}), each
      C({granted, reasons}), reasons being C({code, message}) (plus C(host) when O(peers) is given),
      and C(host), C(facts_collected_at) (and C(migration_domain) when O(peers) or O(guest) is given).
  type: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.hvfleet.smt.plugins.module_utils.hints import (
    PlacementError,
    Policy,
    decide_domains,
    decide_host,
    plain_data,
    validate_placement,
)


def smt_statements(facts, placement, guest=None, host=None, peers=None, withhold=None):
    """Decide the statements for a host's guests (or one guest), optionally across peers."""
    try:
        policy = Policy(withhold=frozenset(withhold or ()))
    except ValueError as err:
        raise AnsibleFilterError("smt_statements: withhold: %s" % err) from None
    if guest is not None and not isinstance(guest, str):
        raise AnsibleFilterError("smt_statements: guest: expected a guest name, got %r" % (guest,))
    if peers is not None and not isinstance(peers, Mapping):
        raise AnsibleFilterError("smt_statements: peers: expected a mapping host -> {facts, placement}, got %r" % (peers,))
    facts = plain_data(facts)
    placement = plain_data(placement)
    name = str(host) if host is not None else "this host"
    try:
        if peers is None and guest is None:
            return decide_host(facts, placement, policy, host=host)
        members = {name: (facts, placement)}
        for peer, entry in (peers or {}).items():
            if not isinstance(entry, Mapping):
                raise AnsibleFilterError(
                    "smt_statements: peers[%s]: expected a mapping {facts, placement}, got %r" % (peer, entry)
                )
            members[str(peer)] = (plain_data(entry.get("facts")), plain_data(entry.get("placement")))
        if guest is not None:
            guests = [guest]
        else:
            guests = [g.name for g in validate_placement(placement, host=name).guests]
        decided = decide_domains(members, {g: list(members) for g in guests}, name, policy)
    except PlacementError as err:
        raise AnsibleFilterError("smt_statements: %s" % err) from None
    return decided[guest] if guest is not None else decided


class FilterModule:
    def filters(self):
        return {"smt_statements": smt_statements}
