#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: guest_cpuid_settings
short_description: Give a guest the CPUID bits and statement document for its granted statements
version_added: 0.1.0
description:
  - From the hint engine's statements for one guest and its planned topology, renders what the
    guest can read (C(docs/guest-cpuid.md)) - C(<cpu mode='host-passthrough'>) with the topology,
    C(<features><kvm><hint-dedicated>) only when C(dedicated) is granted, for Hyper-V guests
    (O(hyperv=true)) the C(hv-no-nonarch-coresharing) pass-through in C(<qemu:commandline>) only when
    C(no_nonarch_core_sharing) is granted, and the statement document in C(<sysinfo type='fwcfg'>)
    and an SMBIOS type 11 OEM string.
  - A statement the engine did not grant is never emitted; asking for one (O(request)) fails with
    the engine's reasons.
  - O(backend=libvirt) writes the persistent definition of domain O(name) and the C(statements) and
    C(emitted) sections of its metadata record. The guest reads CPUID and firmware tables only when
    it starts, so a running guest is reported in RV(restart_needed) and restarted only with
    O(restart=true).
  - O(backend=qemu_args) writes O(dest), one QEMU argument per line, for hosts that run QEMU
    without libvirt.
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
      - The persistent domain XML (without secrets) or the argument file, before and after.
requirements:
  - libvirt-python (Debian C(python3-libvirt)) on the managed host, for O(backend=libvirt)
options:
  backend:
    description: Where the settings go.
    type: str
    choices: [libvirt, qemu_args]
    default: libvirt
  name:
    description: The libvirt domain (O(backend=libvirt)); also names the guest in messages.
    type: str
    required: true
  uri:
    description: libvirt connection URI.
    type: str
    default: qemu:///system
  dest:
    description: The argument file (O(backend=qemu_args)).
    type: path
  mode:
    description: Permissions of O(dest).
    type: str
    default: "0644"
  statements:
    description:
      - The hint engine's statements for this guest (C({no_smt, accurate_topology,
        no_nonarch_core_sharing, dedicated}), each C({granted, reasons})); an absent one is denied.
    type: dict
    required: true
  topology:
    description:
      - The topology the guest is shown (C(sockets), C(dies), C(cores), C(threads)). With
        O(backend=libvirt) it defaults to the one M(hvfleet.smt.libvirt_pinning) recorded; without a
        record it is required.
    type: dict
  hyperv:
    description:
      - The guest opts in to Hyper-V enlightenments (Windows). Only then can it read
        C(no_nonarch_core_sharing) in CPUID; KVM's leaves move to 0x40000100.
    type: bool
    default: false
  vendor:
    description: The host CPU vendor (C(GenuineIntel), C(AuthenticAMD)); AMD guests with SMT need C(topoext).
    type: str
  request:
    description:
      - The statements CPUID must carry. Default every granted statement that has a CPUID channel
        for this guest; naming a denied one fails with the engine's reasons.
    type: list
    elements: str
  document:
    description: Deliver the statement document (fw_cfg and SMBIOS).
    type: bool
    default: true
  host_name:
    description: The host named in the statement document.
    type: str
    required: true
  migration_domain:
    description: The migration domain named in the statement document.
    type: str
  qemu_version:
    description: QEMU's version for O(backend=qemu_args); default asks O(qemu_binary) C(--version).
    type: str
  qemu_binary:
    description: The QEMU binary asked for its version.
    type: str
    default: qemu-system-x86_64
  cpu_model:
    description: The C(-cpu) model for O(backend=qemu_args).
    type: str
    default: host
  extra_cpu_flags:
    description: More C(-cpu) flags for O(backend=qemu_args) (host quirks, e.g. C(-arch-capabilities)).
    type: list
    elements: str
    default: []
  restart:
    description: Restart a running domain that was started with other settings (O(backend=libvirt)).
    type: bool
    default: false
  restart_method:
    description: V(shutdown) (wait O(restart_timeout), never force) or V(destroy).
    type: str
    choices: [shutdown, destroy]
    default: shutdown
  restart_timeout:
    description: Seconds to wait for a guest to shut down.
    type: int
    default: 120
notes:
  - libvirt marks a domain with C(<qemu:commandline>) as tainted (C(custom-argv)); RV(taints) says so.
seealso:
  - module: hvfleet.smt.libvirt_pinning
"""

EXAMPLES = r"""
- name: Give db-1 the CPUID hints and the statement document for what it was granted
  hvfleet.smt.guest_cpuid_settings:
    name: db-1
    statements: "{{ hvfleet_smt_statements['db-1'] }}"
    host_name: "{{ inventory_hostname }}"
    vendor: "{{ ansible_facts.hvfleet_smt.cpu.vendor }}"
  register: db1_cpuid

- name: Show the CPUID table an operator can check inside the guest
  ansible.builtin.debug:
    msg: "{{ db1_cpuid.table_text }}"

- name: The same for a QEMU started without libvirt
  hvfleet.smt.guest_cpuid_settings:
    backend: qemu_args
    name: build-7
    dest: /etc/qemu/build-7.args
    statements: "{{ hvfleet_smt_statements['build-7'] }}"
    topology: {sockets: 1, dies: 1, cores: 2, threads: 2}
    host_name: "{{ inventory_hostname }}"
"""

RETURN = r"""
emitted:
  description: Which statements CPUID carries, and whether fw_cfg and SMBIOS carry the document.
  returned: always
  type: dict
  sample: {"cpuid": ["dedicated"], "fw_cfg": true, "smbios": true}
libvirt_changes:
  description: The domain XML changes as data (O(backend=libvirt)).
  returned: when backend is libvirt
  type: dict
arguments:
  description: The QEMU arguments written (O(backend=qemu_args)).
  returned: when backend is qemu_args
  type: list
  elements: str
table:
  description: Every CPUID field the settings decide (leaf, subleaf, register, bits, value, meaning, cause).
  returned: always
  type: list
  elements: dict
table_text:
  description: RV(table) as fixed-width text.
  returned: always
  type: str
taints:
  description: What libvirt will mark the domain as (C(custom-argv) with the Hyper-V pass-through).
  returned: always
  type: list
  elements: str
notes:
  description: Channels left out for this libvirt version, and similar.
  returned: always
  type: list
  elements: str
restart_needed:
  description: The running guest was started with other settings (after this task).
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
  description: The metadata record as written (O(backend=libvirt)).
  returned: when backend is libvirt
  type: dict
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.hvfleet.smt.plugins.module_utils.cpuid_domain import (
    apply_to_domain,
    decide,
    document_from_argument_file,
    qemu_argument_lines,
    recorded_document,
    recorded_topology,
    restart_reasons,
)
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
from ansible_collections.hvfleet.smt.plugins.module_utils.pinning_xml import live_metadata_argument, pretty

try:
    import libvirt
except ImportError:
    libvirt = None


def utc_now() -> str:
    import datetime
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def guest_for(params, topology, previous_document):
    return decide(params["statements"], topology, params["hyperv"], params["vendor"], params["request"],
                  params["document"], params["host_name"], params["migration_domain"], utc_now(),
                  previous_document, params["name"])


def common_result(guest):
    return dict(emitted={"cpuid": list(guest.settings.delivered)}, table=guest.table(),
                table_text=guest.table_text(), taints=[], notes=[], restart_needed=False,
                restart_reasons=[], restarted=False)


def run_libvirt(module, conn):
    params = module.params
    name = params["name"]
    source = "domain %s" % name
    version = library_version(conn)
    handle = open_domain(libvirt, conn, name)
    topology = params["topology"] or recorded_topology(handle.inactive_xml, source)
    if topology is None:
        module.fail_json(msg="%s: no topology given and none recorded by hvfleet.smt.libvirt_pinning; "
                             "pass topology or pin the domain first" % source)
    guest = guest_for(params, topology, recorded_document(handle.inactive_xml, source))
    update = apply_to_domain(handle.inactive_xml, guest, version, source)
    shown = apply_to_domain(handle.inactive_display, guest, version, source)
    reasons = []
    live_record_stale = False
    if handle.running:
        reasons = restart_reasons(handle.live_xml, guest, version, source + " (live)")
        live_record = find_record(handle.live_xml, source + " (live)")
        live_record_stale = (live_record.to_dict() if live_record else None) != update.record.to_dict()
    restarted = False
    if not module.check_mode:
        if update.changed:
            define(libvirt, conn, name, update.xml)
        if live_record_stale:
            try:
                handle.domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, live_metadata_argument(update.record),
                                          PREFIX, NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            except libvirt.libvirtError as err:
                module.fail_json(msg="%s: writing the live metadata record failed: %s" % (source, err))
        if reasons and params["restart"]:
            restart(libvirt, handle, params["restart_method"], params["restart_timeout"])
            restarted = True
            reasons = []
    result = common_result(guest)
    result.update(
        changed=update.changed or live_record_stale or restarted,
        emitted=update.emitted,
        libvirt_changes=update.changes.to_dict(),
        taints=list(update.changes.taints),
        notes=list(update.notes),
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


def run_qemu_args(module):
    params = module.params
    dest = params["dest"]
    if not dest:
        module.fail_json(msg="dest is required with backend: qemu_args")
    if params["topology"] is None:
        module.fail_json(msg="topology is required with backend: qemu_args (there is no domain record to read)")
    version = params["qemu_version"]
    if version is None:
        binary = module.get_bin_path(params["qemu_binary"], required=True)
        rc, out, err = module.run_command([binary, "--version"])
        if rc != 0:
            module.fail_json(msg="%s --version failed (rc=%d): %s" % (binary, rc, err.strip()))
        version = out.replace("QEMU emulator version", "").strip()
    before = None
    if os.path.exists(dest):
        with open(dest, encoding="ascii", errors="replace") as handle:
            before = handle.read()
    guest = guest_for(params, params["topology"], document_from_argument_file(before, dest))
    arguments = qemu_argument_lines(guest, version, params["cpu_model"], params["extra_cpu_flags"])
    after = "\n".join(arguments) + "\n"
    changed = before != after
    if changed and not module.check_mode:
        directory = os.path.dirname(os.path.abspath(dest))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".hvfleet-args-")
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(after)
        module.atomic_move(tmp, dest)
    file_args = module.load_file_common_arguments(dict(path=dest, mode=params["mode"]))
    if not module.check_mode and os.path.exists(dest):
        changed = module.set_fs_attributes_if_different(file_args, changed)
    result = common_result(guest)
    result.update(changed=changed, arguments=arguments,
                  emitted={"cpuid": list(guest.settings.delivered), "fw_cfg": guest.text is not None,
                           "smbios": guest.text is not None})
    if module._diff:
        result["diff"] = dict(before=before or "", after=after, before_header=dest, after_header=dest)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backend=dict(type="str", choices=["libvirt", "qemu_args"], default="libvirt"),
            name=dict(type="str", required=True),
            uri=dict(type="str", default="qemu:///system"),
            dest=dict(type="path"),
            mode=dict(type="str", default="0644"),
            statements=dict(type="dict", required=True),
            topology=dict(type="dict"),
            hyperv=dict(type="bool", default=False),
            vendor=dict(type="str"),
            request=dict(type="list", elements="str"),
            document=dict(type="bool", default=True),
            host_name=dict(type="str", required=True),
            migration_domain=dict(type="str"),
            qemu_version=dict(type="str"),
            qemu_binary=dict(type="str", default="qemu-system-x86_64"),
            cpu_model=dict(type="str", default="host"),
            extra_cpu_flags=dict(type="list", elements="str", default=[]),
            restart=dict(type="bool", default=False),
            restart_method=dict(type="str", choices=["shutdown", "destroy"], default="shutdown"),
            restart_timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    try:
        if module.params["backend"] == "qemu_args":
            module.exit_json(**run_qemu_args(module))
        if libvirt is None:
            module.fail_json(msg=missing_required_lib("libvirt-python (python3-libvirt)"))
        try:
            conn = libvirt.open(module.params["uri"])
        except libvirt.libvirtError as err:
            module.fail_json(msg="cannot connect to %s: %s" % (module.params["uri"], err))
        try:
            module.exit_json(**run_libvirt(module, conn))
        finally:
            conn.close()
    except HvfleetError as err:
        module.fail_json(msg=str(err))


if __name__ == "__main__":
    main()
