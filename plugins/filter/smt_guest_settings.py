# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter hvfleet.smt.smt_guest_settings: render what each guest is given, on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
name: smt_guest_settings
version_added: 0.1.0
short_description: Render each guest's CPUID table, QEMU arguments and libvirt XML from its statements
description:
  - Takes a host's decided statements (C(hvfleet_smt_statements), from M(hvfleet.smt.smt_hints)) and its placement
    (C(hvfleet_placement), planned or real), and renders for every decided guest what it is given - the CPUID
    table it reads, the QEMU arguments for a host without libvirt, and a libvirt domain XML snippet with its pins,
    CPU settings, statement document (fw_cfg, SMBIOS) and the hvfleet record the audit reads back.
  - Uses the renderers the roles apply (C(cpuid.py), C(statement_document.py), C(domain_metadata.py)); a denied
    statement is never rendered. A guest that cannot be rendered gets an C(error) and the others still are.
  - Also returns the placement as it is once applied (each rendered guest carrying its C(record)), which
    M(hvfleet.smt.smt_audit) can check.
positional: _input, placement
options:
  _input:
    description: The host's statements per guest (C(hvfleet_smt_statements)).
    type: dict
    required: true
  placement:
    description: The host's placement (C(docs/placement.md)).
    type: dict
    required: true
  host:
    description: The host's name, written into each statement document.
    type: str
    required: true
  issued:
    description: When the statements were issued (UTC, like C(2026-11-25T05:00:00Z)).
    type: str
    required: true
  qemu_version:
    description: QEMU version the arguments are for.
    type: str
    default: "7.2"
  libvirt_version:
    description: libvirt version the XML is for.
    type: str
    default: "9.0"
  migration_domain:
    description:
      - The migration domain (inventory group) the statements were decided for, written into each statement
        document for guests whose placement entry names none. The audit re-checks that group's hosts as the
        inventory has them then.
    type: str
"""

EXAMPLES = r"""
- name: Render every decided guest of this host
  ansible.builtin.set_fact:
    guest_settings: >-
      {{ hvfleet_smt_statements | hvfleet.smt.smt_guest_settings(hvfleet_placement, host=inventory_hostname,
           issued=now(utc=true).strftime('%Y-%m-%dT%H:%M:%SZ')) }}

- name: Show db-1's CPUID table
  ansible.builtin.debug:
    msg: "{{ guest_settings.guests['db-1'].cpuid_table }}"
"""

RETURN = r"""
_value:
  description:
    - C(guests) - per guest C(granted), C(document), C(cpuid_table), C(cpuid_delivers), C(qemu_args), C(libvirt_xml),
      C(libvirt_notes), C(record), C(text) (all three in one readable file) and C(error) (null, or why the guest
      could not be rendered, then the only other key is C(text)).
    - C(placement) - the input placement, each rendered guest with its C(record).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.hvfleet.smt.plugins.module_utils.guest_settings import render_host, text_file, with_records
from ansible_collections.hvfleet.smt.plugins.module_utils.hints import plain_data


def smt_guest_settings(statements, placement, host=None, issued=None, qemu_version="7.2", libvirt_version="9.0",
                       migration_domain=None):
    """Render every decided guest of a host (see DOCUMENTATION)."""
    if not isinstance(host, str) or not host:
        raise AnsibleFilterError("smt_guest_settings: host: expected the host's name, got %r" % (host,))
    if not isinstance(issued, str):
        raise AnsibleFilterError("smt_guest_settings: issued: expected a UTC time like 2026-11-25T05:00:00Z, got %r"
                                 % (issued,))
    statements = plain_data(statements) or {}
    placement = plain_data(placement)
    if not isinstance(statements, dict):
        raise AnsibleFilterError("smt_guest_settings: expected the statements per guest (hvfleet_smt_statements), got %r"
                                 % (statements,))
    guests = render_host(statements, placement, host, issued,
                         qemu_version=str(qemu_version), libvirt_version=str(libvirt_version),
                         migration_domain=migration_domain if isinstance(migration_domain, str) else None)
    for name, rendered in guests.items():
        rendered["text"] = text_file(host, name, rendered)
    return {"guests": guests, "placement": with_records(placement, guests)}


class FilterModule:
    def filters(self):
        return {"smt_guest_settings": smt_guest_settings}
