#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin plugins/action/smt_audit.py on the
# controller; this file only documents it, as ansible-doc expects.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: smt_audit
short_description: Report every SMT statement a guest was given that no longer holds
version_added: 0.1.0
description:
  - For each guest of the host whose libvirt domain carries an hvfleet record (C(record) in
    C(hvfleet_placement), read by M(hvfleet.smt.guest_placement_facts)), reads the statements the
    guest was given, decides them again with the hint engine on what runs now, across every host the
    guest may migrate to now, and reports each granted statement that is denied now, with a drift
    C(kind) and the engine's C(reasons).
  - Drift kinds - C(smt_enabled) (SMT switched back on), C(vcpu_repinned) (the guest's vCPUs no longer
    run where the record's plan put them), C(helper_repinned) (its emulator or iothreads moved onto
    its vCPUs' cores), C(housekeeping_widened) (host tasks may now run beside a vCPU),
    C(sibling_shared) (a neighbour moved onto a sibling thread), C(migration_peer_cannot_keep)
    (a host of the migration domain denies it), C(facts_unavailable), C(guest_missing),
    C(withheld_by_policy), C(other). See C(docs/audit.md).
  - A guest whose record cannot be read is I(unverifiable), never fine; so is a guest whose recorded
    migration domain is not an inventory group. A host whose placement could not be read
    (O(placement_error)) has an C(error).
  - Changes nothing, anywhere; C(changed) is always false.
  - Runs on the controller; the migration domain's hosts' facts and placements come from C(hostvars)
    (gathered in the same play, or the fact cache).
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
      - Only when O(set_fact=true) (the default).
options:
  migration_domain:
    description:
      - The hosts guests may move to, for guests whose placement entry declares no C(migration_domain)
        and whose record names none. An inventory group name or a list of host names.
      - A guest's own declaration and the domain its record names are used together (their union,
        resolved against the inventory as it is now).
    type: raw
  facts:
    description: This host's SMT facts, instead of those in C(hostvars).
    type: dict
  placement:
    description: This host's placement (with each guest's C(record)), instead of C(hvfleet_placement).
    type: dict
  placement_error:
    description:
      - Why this host's placement could not be read (the failed M(hvfleet.smt.guest_placement_facts)
        message). The audit then reports that error for the host instead of guests.
    type: str
  facts_error:
    description:
      - Why this host's facts could not be read again (the failed M(hvfleet.smt.smt_facts) message). The host's
        facts are then taken as absent - never older, cached ones - so every granted statement drifts
        (C(facts_unavailable)).
    type: str
  fail_on_drift:
    description:
      - Fail the task when a statement drifted, a guest is unverifiable or the host has an error
        (for AWX notifications). The result and the fact are still returned. Otherwise each finding
        is a warning.
    type: bool
    default: false
  withhold:
    description: Statements the policy withholds now (as for M(hvfleet.smt.smt_hints)).
    type: list
    elements: str
    choices: [no_smt, accurate_topology, no_nonarch_core_sharing, dedicated]
    default: []
  set_fact:
    description: Set the fact C(hvfleet_smt_audit) to RV(audit).
    type: bool
    default: true
notes:
  - Only statements that were I(granted) can drift; the guest never acted on a denied one.
  - A malformed placement fails the task, naming the host, guest, field and value.
seealso:
  - module: hvfleet.smt.smt_hints
  - module: hvfleet.smt.guest_placement_facts
  - name: The audit
    description: Drift kinds, the fact's shape, and how to act on each.
    link: https://example.invalid/hvfleet/smt/docs/audit.md
"""

EXAMPLES = r"""
# After hvfleet.smt.smt_facts and hvfleet.smt.guest_placement_facts on the hypervisors.
- name: Audit every guest, warn about drift
  hvfleet.smt.smt_audit:
    migration_domain: rack42

- name: Fail the job on drift (AWX notifications)
  hvfleet.smt.smt_audit:
    fail_on_drift: true

- name: Guests whose statements drifted because SMT came back on
  ansible.builtin.debug:
    msg: >-
      {{ hvfleet_smt_audit.guests | dict2items
         | selectattr('value.drift', 'search', 'smt_enabled') | map(attribute='key') | list }}
"""

RETURN = r"""
audit:
  description: The audit of this host; also set as the fact C(hvfleet_smt_audit).
  returned: success
  type: dict
  contains:
    audited_at:
      description: When the audit ran (UTC, ISO 8601).
      type: str
      sample: "2026-11-25T10:00:00Z"
    drift:
      description: How many guests have at least one drifted statement.
      type: int
      sample: 1
    unverifiable:
      description: How many guests have a record that cannot be read (or a domain that cannot be resolved).
      type: int
      sample: 0
    error:
      description: Why the host could not be audited (its placement could not be read); null otherwise.
      type: str
    guests:
      description:
        - Per guest of the placement, C(recorded) (the domain carries a record with statements),
          C(drift) (a list of C({statement, was, now, kind, reasons})) and C(error) (why it is
          unverifiable, or null).
      type: dict
      sample:
        db-1:
          recorded: true
          error: null
          drift:
            - statement: no_nonarch_core_sharing
              was: true
              now: false
              kind: sibling_shared
              reasons:
                - {code: sibling_shared, message: "vCPU 2 on CPU 5 shares core 3 with CPU 37, which guest db-2 (vCPU 0) uses"}
ansible_facts:
  description: Set with O(set_fact=true).
  returned: when O(set_fact=true)
  type: dict
  contains:
    hvfleet_smt_audit:
      description: The same as RV(audit).
      type: dict
"""
