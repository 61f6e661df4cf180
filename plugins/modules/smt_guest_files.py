#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin plugins/action/smt_guest_files.py on the
# controller; this file only documents it, as ansible-doc expects.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: smt_guest_files
short_description: Write every host's rendered guest settings as files on the controller
version_added: 0.1.0
description:
  - For each of O(hosts), takes C(hvfleet_smt_guest_settings) (per guest, from the
    P(hvfleet.smt.smt_guest_settings#filter) filter) and writes the guest's C(text) - its CPUID table, QEMU
    arguments and libvirt XML - to O(dest)C(/<host>--<guest>.txt) on the controller.
  - One task for the whole fleet; files whose content is unchanged are not rewritten.
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
  dest:
    description: Directory on the controller (created when missing).
    type: path
    required: true
  hosts:
    description: Inventory hosts whose guests to write; hosts without rendered settings are skipped.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Write the guests' settings next to the report
  hvfleet.smt.smt_guest_files:
    dest: /srv/reports/smt/guests
    hosts: "{{ ansible_play_hosts_all }}"
  run_once: true
"""

RETURN = r"""
dest:
  description: The directory written to.
  returned: success
  type: str
files:
  description: Every file that holds a guest's settings.
  returned: success
  type: list
  elements: str
  sample: [hv-1--db-1.txt]
written:
  description: The files written (or, in check mode, that would be) because they were new or different.
  returned: success
  type: list
  elements: str
"""
