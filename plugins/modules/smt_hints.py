#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin plugins/action/smt_hints.py on the
# controller; this file only documents it, as ansible-doc expects.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: smt_hints
short_description: Decide which SMT statements each guest of a host may be given
version_added: 0.1.0
description:
  - Decides, for each guest of the host, the four statements C(no_smt), C(accurate_topology),
    C(no_nonarch_core_sharing) and C(dedicated) (KVM_HINTS_REALTIME), each with C(granted) and
    the C(reasons) for it, from the host's SMT facts and its placement.
  - A granted statement lets a guest switch SMT mitigations off and cannot be taken back after the
    guest boots, so anything unknown, missing or malformed denies. The exact rules are in
    C(docs/statements.md); the reason codes in C(docs/reasons.md).
  - A statement is granted only if it holds on the guest's current host B(and) on every host of its
    migration domain, each evaluated against the guest's placement there. A host without facts or
    without a placement for the guest denies, and is named in the reasons.
  - Runs on the controller and reads other hosts' variables through C(hostvars). Facts are taken from
    C(hostvars[host].ansible_facts.hvfleet_smt) (as gathered by M(hvfleet.smt.smt_facts) or loaded from
    the fact cache), else from C(hostvars[host].hvfleet_smt); placements from
    C(hostvars[host].hvfleet_placement) (as reported by M(hvfleet.smt.guest_placement_facts) or planned).
  - Issue 3 calls a statement I(allowed); the results say C(granted). They mean the same.
author:
  - hvfleet maintainers (@hvfleet)
extends_documentation_fragment:
  - hvfleet.smt.attributes
  - hvfleet.smt.attributes.facts
attributes:
  check_mode:
    support: full
    details:
      - Nothing is changed on any host, in check mode or not.
  diff_mode:
    support: none
  facts:
    support: full
    details:
      - Only when O(set_fact=true).
options:
  guests:
    description:
      - Names of the guests to decide.
      - Default is every guest in this host's placement. A named guest that the placement does not
        list is denied everything with C(no_placement).
    type: list
    elements: str
  migration_domain:
    description:
      - The hosts the guests may be live-migrated to, for every decided guest that does not declare
        its own C(migration_domain) in the placement (a guest's own declaration wins).
      - Either the name of an inventory group or an explicit list of inventory host names. This host
        is always part of the domain, whether listed or not.
      - Hosts that are not in the inventory, or have no facts, deny with C(no_facts).
      - An unknown group name is an error.
      - An empty list V([]) says the guests never migrate; only this host counts.
      - Without a domain (neither this option nor the guest's own C(migration_domain)), nothing is
        known about where a guest may be live-migrated (libvirt accepts any host), so every statement
        of that guest is denied with C(migration_domain_unknown), followed by this host's own denials.
    type: raw
  facts:
    description:
      - This host's SMT facts, instead of those in C(hostvars). Peers are always read from C(hostvars).
    type: dict
  placement:
    description:
      - This host's placement, instead of C(hvfleet_placement) from C(hostvars). Peers are always read
        from C(hostvars).
    type: dict
  fail_on_deny:
    description:
      - Fail the task when any decided guest is denied one of these statements. The statements are
        still returned.
    type: list
    elements: str
    choices: [no_smt, accurate_topology, no_nonarch_core_sharing, dedicated]
    default: []
  withhold:
    description:
      - Statements never to grant, whatever the facts say (reason C(withheld_by_policy)). Policy can
        only take statements away.
    type: list
    elements: str
    choices: [no_smt, accurate_topology, no_nonarch_core_sharing, dedicated]
    default: []
  set_fact:
    description:
      - Also set the fact C(hvfleet_smt_statements) on this host to RV(statements), for later tasks,
        templates and the fact cache.
    type: bool
    default: false
notes:
  - A malformed placement (of this host or of a migration peer) fails the task with a message naming
    the host, the guest, the field, the value and what was expected. Malformed facts do not fail; that
    host denies with C(facts_invalid). See C(docs/statements.md), "Errors and denials".
  - On a host that is itself a VM (C(hypervisor.guest)), a statement is granted only when the host's
    own hypervisor vouched for it (C(hypervisor.vouched)); otherwise C(nested_unvouched).
  - Decide once per play on the controller where possible; with O(set_fact=true) the statements
    reach the fact cache with the facts they came from (C(facts_collected_at)).
seealso:
  - module: hvfleet.smt.smt_facts
  - module: hvfleet.smt.guest_placement_facts
  - plugin: hvfleet.smt.smt_statements
    plugin_type: filter
  - name: Statements and how they are decided
    description: The definitions the engine follows, errors vs denials, and the output.
    link: https://example.invalid/hvfleet/smt/docs/statements.md
"""

EXAMPLES = r"""
# Run after hvfleet.smt.smt_facts and hvfleet.smt.guest_placement_facts on the hypervisors.
- name: Decide the statements for every guest, across its migration group
  hvfleet.smt.smt_hints:
    migration_domain: rack42      # an inventory group
    set_fact: true
  register: hints

- name: Show which guests may be told accurate_topology
  ansible.builtin.debug:
    msg: "{{ hints.statements | dict2items | selectattr('value.accurate_topology.granted') | map(attribute='key') }}"

- name: Refuse to go on if db-1 would not be dedicated, with a list of hosts as its domain
  hvfleet.smt.smt_hints:
    guests: [db-1]
    migration_domain: [hv-1, hv-2]
    fail_on_deny: [dedicated]

- name: Guests that never migrate (an empty domain); never hand out KVM_HINTS_REALTIME
  hvfleet.smt.smt_hints:
    migration_domain: []
    withhold: [dedicated]
"""

RETURN = r"""
statements:
  description:
    - Per decided guest, the four statements with C(granted) and C(reasons), plus the host and the
      time its facts were collected.
  returned: success
  type: dict
  sample:
    db-1:
      no_smt:
        granted: false
        reasons:
          - {code: smt_on, message: "SMT control is 'on': sibling threads run", host: hv-1}
      accurate_topology:
        granted: true
        reasons:
          - {code: topology_accurate, message: "each of the 4 vCPUs has its own online pCPU, ...", host: hv-1}
          - {code: migration_domain_grants, message: "granted on every host of the migration domain: hv-1, hv-2", host: hv-1}
      no_nonarch_core_sharing:
        granted: false
        reasons:
          - {code: migration_peer_denies, message: "host hv-2, to which guest db-1 may migrate, denies ...", host: hv-2}
          - {code: sibling_shared, message: "vCPU 2 on CPU 5 shares core 3 with CPU 37, which guest db-2 (vCPU 0) uses", host: hv-2}
      dedicated:
        granted: true
        reasons:
          - {code: pins_exclusive, message: "each of the 4 vCPUs has its own online pCPU that nothing else may run on", host: hv-1}
      host: hv-1
      facts_collected_at: "2026-11-25T05:20:00Z"
      migration_domain: [hv-1, hv-2]
  contains:
    host:
      description: The host the guest runs on (this host).
      type: str
    facts_collected_at:
      description: C(collected_at) of this host's facts; null without facts.
      type: str
    migration_domain:
      description:
        - The hosts every statement was decided on, this host first.
        - Null when the guest has no declared migration domain (everything denied, C(migration_domain_unknown)).
      type: list
      elements: str
migration_domains:
  description:
    - Per decided guest, the hosts of its migration domain, this host first.
    - Null for a guest without a declared migration domain.
  returned: success
  type: dict
  sample: {db-1: [hv-1, hv-2]}
ansible_facts:
  description: Set only with O(set_fact=true).
  returned: when O(set_fact=true)
  type: dict
  contains:
    hvfleet_smt_statements:
      description: The same as RV(statements).
      type: dict
"""
