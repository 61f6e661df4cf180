#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: libvirt_pinning
short_description: Apply one planned guest's CPU pinning and topology to a libvirt domain
version_added: 0.1.0
description:
  - Writes the persistent definition of a libvirt domain so that it runs where the plan says -
    C(<vcpu placement='static'>), C(<cputune>) C(vcpupin), C(emulatorpin) and C(iothreadpin),
    C(<cpu><topology>) - and records the plan and the statements the guest was given in the
    domain's C(<metadata>) (namespace C(http://hvfleet.org/xmlns/libvirt/smt/1), sections
    C(plan) and C(statements); see C(docs/cpu-pinning.md)).
  - On a running domain it also changes the pins live (C(virDomainPinVcpuFlags),
    C(virDomainPinEmulator), C(virDomainPinIOThread) with C(VIR_DOMAIN_AFFECT_LIVE)) and the live
    metadata, which is safe (the guest only sees its threads run elsewhere).
  - A topology change reaches the guest only at its next start. The module reports that in
    RV(restart_needed) and restarts the domain only with O(restart=true).
  - The plan is one guest of a placement document (C(docs/placement.md)), e.g. from the
    C(hvfleet.smt.smt_plan) filter; the statements are the hint engine's verdict for this guest,
    never assumed.
  - Uses the libvirt Python binding. The vCPU and iothread counts are not changed; a plan for
    another count is refused.
author:
  - hvfleet maintainers (@hvfleet)
extends_documentation_fragment:
  - hvfleet.smt.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff is the persistent domain XML before and after (without secrets).
requirements:
  - libvirt-python (Debian C(python3-libvirt)) on the managed host
options:
  name:
    description: The libvirt domain.
    type: str
    required: true
  uri:
    description: libvirt connection URI.
    type: str
    default: qemu:///system
  plan:
    description:
      - This guest's entry of a placement document with C(source=plan) -
        C(vcpus) (one CPU list per vCPU id), C(emulator), C(iothreads) (one CPU list per iothread,
        in iothread id order), C(topology) (C(sockets), C(dies), C(clusters), C(cores), C(threads));
        C(plan) (the policy) and C(migration_domain) are recorded as given.
    type: dict
    required: true
  housekeeping:
    description: The housekeeping CPUs the plan was made around (recorded in the plan section).
    type: list
    elements: int
  statements:
    description:
      - The hint engine's statements for this guest (C({no_smt, accurate_topology,
        no_nonarch_core_sharing, dedicated}), each C({granted, reasons})). Written as the
        C(statements) section (the statement document). Omit to leave that section as it is.
    type: dict
  host_name:
    description: The host named in the statement document. Required with O(statements).
    type: str
  migration_domain:
    description: The migration domain named in the statement document (default the plan's).
    type: str
  live:
    description: Change the pins of a running domain live too.
    type: bool
    default: true
  restart:
    description: Restart a running domain whose new definition cannot be applied live (topology).
    type: bool
    default: false
  restart_method:
    description:
      - V(shutdown) asks the guest and waits O(restart_timeout) seconds (a guest that does not stop
        fails the task, it is never powered off); V(destroy) powers it off at once.
    type: str
    choices: [shutdown, destroy]
    default: shutdown
  restart_timeout:
    description: Seconds to wait for a guest to shut down.
    type: int
    default: 120
notes:
  - Idempotent; the document's issue time is kept when the statements did not change.
seealso:
  - module: hvfleet.smt.guest_placement_facts
  - module: hvfleet.smt.guest_cpuid_settings
"""

EXAMPLES = r"""
- name: Plan db-1 in whole cores
  ansible.builtin.set_fact:
    smt_plan: >-
      {{ ansible_facts.hvfleet_smt | hvfleet.smt.smt_plan([{'name': 'db-1', 'vcpus': 4}], housekeeping=1,
           placement=hvfleet_placement) }}

- name: Pin db-1 as planned and record what it is told
  hvfleet.smt.libvirt_pinning:
    name: db-1
    plan: "{{ smt_plan.placement.guests | selectattr('name', 'eq', 'db-1') | first }}"
    housekeeping: "{{ smt_plan.placement.housekeeping }}"
    statements: "{{ smt_plan.guests['db-1'].statements }}"
    host_name: "{{ inventory_hostname }}"
  register: pinned

- name: Say which guests wait for a restart
  ansible.builtin.debug:
    msg: "{{ pinned.restart_reasons }}"
  when: pinned.restart_needed
"""

RETURN = r"""
changes:
  description: What the persistent definition changes, one line each (empty when nothing).
  returned: always
  type: list
  elements: str
live_changes:
  description: The live pin calls made (or that would be made in check mode) on a running domain.
  returned: always
  type: list
  elements: str
running:
  description: Whether the domain was running.
  returned: always
  type: bool
restart_needed:
  description: The running guest still uses a topology other than the plan's (after this task).
  returned: always
  type: bool
restart_reasons:
  description: Why RV(restart_needed) is true.
  returned: always
  type: list
  elements: str
restarted:
  description: Whether this task restarted the domain.
  returned: always
  type: bool
record:
  description: The metadata record as written (sections C(plan), C(statements), C(emitted)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import (
    NAMESPACE,
    PREFIX,
    find_record,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError
from ansible_collections.hvfleet.smt.plugins.module_utils.libvirt_writer import (
    define,
    library_version,
    open_domain,
    restart,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.pinning_xml import (
    apply_pinning,
    cpu_map,
    live_metadata_argument,
    live_calls,
    plan_section,
    pretty,
    restart_reasons,
    statements_section,
    target_from_plan,
)

try:
    import libvirt
except ImportError:
    libvirt = None


def utc_now() -> str:
    import datetime
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(module, conn):
    params = module.params
    name = params["name"]
    source = "domain %s" % name
    target = target_from_plan(params["plan"], "plan for %s" % name)
    version = library_version(conn)
    handle = open_domain(libvirt, conn, name)
    previous = find_record(handle.inactive_xml, source)
    sections = {"plan": plan_section(target, params["plan"], params["housekeeping"])}
    if params["statements"] is not None:
        if not params["host_name"]:
            module.fail_json(msg="host_name is required with statements (the document names its host)")
        migration_domain = params["migration_domain"] or params["plan"].get("migration_domain")
        sections["statements"] = statements_section(
            params["statements"], params["host_name"], migration_domain, utc_now(),
            previous.statements if previous else None, "statements for %s" % name)
    update = apply_pinning(handle.inactive_xml, target, sections, version, source)
    shown = apply_pinning(handle.inactive_display, target, sections, version, source)

    calls = ()
    live_record_stale = False
    reasons = []
    if handle.running:
        if params["live"]:
            calls = live_calls(handle.live_xml, target, source + " (live)")
            live_record = find_record(handle.live_xml, source + " (live)")
            live_record_stale = (live_record.to_dict() if live_record else None) != update.record.to_dict()
        reasons = restart_reasons(handle.live_xml, target, version, source + " (live)")

    restarted = False
    if not module.check_mode:
        if update.changed:
            define(libvirt, conn, name, update.xml)
        host_cpus = int(conn.getInfo()[2])
        affect = libvirt.VIR_DOMAIN_AFFECT_LIVE
        for call in calls:
            cpus = cpu_map(call.cpus, host_cpus)
            try:
                if call.kind == "vcpu":
                    handle.domain.pinVcpuFlags(call.ident, cpus, affect)
                elif call.kind == "emulator":
                    handle.domain.pinEmulator(cpus, affect)
                else:
                    handle.domain.pinIOThread(call.ident, cpus, affect)
            except libvirt.libvirtError as err:
                module.fail_json(msg="domain %s: live pin %s failed: %s (the persistent definition is "
                                     "written; it applies at the next start)" % (name, call.describe(), err))
        if live_record_stale:
            try:
                handle.domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, live_metadata_argument(update.record),
                                          PREFIX, NAMESPACE, affect)
            except libvirt.libvirtError as err:
                module.fail_json(msg="domain %s: writing the live metadata record failed: %s" % (name, err))
        if reasons and params["restart"]:
            restart(libvirt, handle, params["restart_method"], params["restart_timeout"])
            restarted = True
    if restarted:
        reasons = []
    changed = update.changed or bool(calls) or live_record_stale or restarted
    result = dict(
        changed=changed,
        changes=list(update.changes),
        live_changes=[call.describe() for call in calls] + (["live metadata record"] if live_record_stale else []),
        running=handle.running,
        restart_needed=bool(reasons),
        restart_reasons=reasons,
        restarted=restarted,
        record=update.record.to_dict(),
    )
    if module._diff:
        result["diff"] = dict(before=pretty(handle.inactive_display), after=pretty(shown.xml),
                              before_header="%s (persistent)" % name, after_header="%s (persistent)" % name)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            uri=dict(type="str", default="qemu:///system"),
            plan=dict(type="dict", required=True),
            housekeeping=dict(type="list", elements="int"),
            statements=dict(type="dict"),
            host_name=dict(type="str"),
            migration_domain=dict(type="str"),
            live=dict(type="bool", default=True),
            restart=dict(type="bool", default=False),
            restart_method=dict(type="str", choices=["shutdown", "destroy"], default="shutdown"),
            restart_timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    if libvirt is None:
        module.fail_json(msg=missing_required_lib("libvirt-python (python3-libvirt)"))
    try:
        conn = libvirt.open(module.params["uri"])
    except libvirt.libvirtError as err:
        module.fail_json(msg="cannot connect to %s: %s" % (module.params["uri"], err))
    try:
        module.exit_json(**run(module, conn))
    except HvfleetError as err:
        module.fail_json(msg=str(err))
    finally:
        conn.close()


if __name__ == "__main__":
    main()
