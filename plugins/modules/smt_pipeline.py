#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin plugins/action/smt_pipeline.py on the
# controller; this file only documents it, as ansible-doc expects.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: smt_pipeline
short_description: Plan, decide, render and audit every host of a fleet on the controller, in one task
version_added: 0.1.0
description:
  - The controller-side part of the main playbook (C(hvfleet.smt.main)) for all of O(hosts) at once - what would
    otherwise be four tasks per host. Step by step over all hosts, in this order, so that each step sees every
    host's result of the step before (a guest's statements depend on its migration peers' placements).
  - 1. B(plan) - hosts that declare C(hvfleet_smt_guests) (planner requests) and have no C(hvfleet_smt_error) get
    them planned around what runs there (as the P(hvfleet.smt.smt_plan#filter) filter does, housekeeping from
    C(hvfleet_smt_housekeeping)); the planned placement becomes the host's C(hvfleet_placement).
  - 2. B(decide) - hosts with a C(hvfleet_placement) get every guest's statements decided across its migration domain
    (the guest's own, else C(hvfleet_smt_migration_domain)), exactly as M(hvfleet.smt.smt_hints) decides them.
  - 3. B(render) - hosts with statements get each decided guest's settings rendered (as the
    P(hvfleet.smt.smt_guest_settings#filter) filter does); a planned host's placement then carries the records its
    guests would be given.
  - 4. B(audit) - every host is audited as M(hvfleet.smt.smt_audit) audits it (C(hvfleet_placement_error) is passed
    on); drift is a warning here, never a failure.
  - Per-host settings are read from C(hostvars) (inventory, facts, the fact cache, extra vars); other hosts of a
    migration domain that are not in O(hosts) are read from there too.
  - Nothing is set by this action itself - it returns each host's results, which the playbook sets as that host's
    variables (RV(variables), with C(ansible.builtin.set_fact)) and facts (RV(facts), with C(cacheable=true)), in a
    loop delegated to each host. A host whose step fails keeps no later result and is listed in RV(errors) with the
    message the per-host task would have failed with; the other hosts go on.
author:
  - hvfleet maintainers (@hvfleet)
extends_documentation_fragment:
  - hvfleet.smt.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  hosts:
    description: The hosts to plan, decide, render and audit (usually C(ansible_play_hosts)).
    type: list
    elements: str
    required: true
  issued:
    description: When the statements are issued (UTC, like C(2026-11-25T05:00:00Z)), written into each rendered statement
      document and record; defaults to now.
    type: str
seealso:
  - module: hvfleet.smt.smt_hints
  - module: hvfleet.smt.smt_audit
  - module: hvfleet.smt.smt_guest_files
notes:
  - Run it with C(run_once=true); the main playbook shows how its results reach each host.
"""

EXAMPLES = r"""
- name: Plan, decide, render and audit every host (on the controller)
  hvfleet.smt.smt_pipeline:
    hosts: "{{ ansible_play_hosts }}"
  register: pipeline
  run_once: true

- name: Give each host its plan, placement and rendered guest settings
  ansible.builtin.set_fact:
    hvfleet_smt_plan: "{{ item.value.hvfleet_smt_plan | default(omit) }}"
    hvfleet_placement: "{{ item.value.hvfleet_placement | default(omit) }}"
    hvfleet_smt_guest_settings: "{{ item.value.hvfleet_smt_guest_settings | default(omit) }}"
  loop: "{{ pipeline.variables | dict2items }}"
  loop_control:
    label: "{{ item.key }}"
  delegate_to: "{{ item.key }}"
  delegate_facts: true
  run_once: true

- name: Keep each host's statements and audit as facts (the fact cache holds them)
  ansible.builtin.set_fact:
    hvfleet_smt_statements: "{{ item.value.hvfleet_smt_statements | default(omit) }}"
    hvfleet_smt_audit: "{{ item.value.hvfleet_smt_audit | default(omit) }}"
    cacheable: true
  loop: "{{ pipeline.facts | dict2items }}"
  loop_control:
    label: "{{ item.key }}"
  delegate_to: "{{ item.key }}"
  delegate_facts: true
  run_once: true
"""

RETURN = r"""
variables:
  description: Per host, the variables to set on it - C(hvfleet_smt_plan) and C(hvfleet_placement) (planned hosts),
    C(hvfleet_smt_guest_settings) (hosts with decided guests). Hosts with none of them are left out.
  returned: success
  type: dict
facts:
  description: Per host, the facts to keep - C(hvfleet_smt_statements) (hosts with a placement) and
    C(hvfleet_smt_audit) (every audited host), the same documents M(hvfleet.smt.smt_hints) and
    M(hvfleet.smt.smt_audit) return.
  returned: success
  type: dict
errors:
  description: Per host whose plan, decision, rendering or audit failed, why; such a host has no later results.
  returned: success
  type: dict
  sample: {hv-7: "smt_hints on hv-7: guest db-1: migration_domain 'rack-9' is not an inventory group; ..."}
issued:
  description: The issue time written into the rendered documents.
  returned: success
  type: str
summary:
  description: Counts - C(hosts), C(planned), C(decided), C(rendered), C(audited), C(drift) (drifted guests) and
    C(failed).
  returned: success
  type: dict
"""
