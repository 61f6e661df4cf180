#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: guest_smt_hints
short_description: Read, inside a guest, what the hypervisor told it about SMT and by which channel
version_added: 0.1.0
description:
  - Run inside a guest. Reads the three channels that can carry the four SMT statements
    (C(no_smt), C(accurate_topology), C(no_nonarch_core_sharing), C(dedicated)) and the
    guest's own view of SMT, and returns them as C(ansible_facts.hvfleet_guest_smt).
  - The fw_cfg file C(/sys/firmware/qemu_fw_cfg/by_name/opt/org.hvfleet/smt-hints/raw)
    (base64 of the statement document; needs the C(qemu_fw_cfg) driver).
  - The SMBIOS type 11 OEM string starting with C(org.hvfleet.smt-hints:), from
    C(/sys/firmware/dmi/entries/11-*/raw) (needs C(dmi-sysfs)).
  - The hypervisor CPUID leaves through C(/dev/cpu/N/cpuid) (needs the C(cpuid) driver), that is
    KVM_HINTS_REALTIME (C(dedicated)) and Hyper-V's NoNonArchitecturalCoreSharing
    (C(no_nonarch_core_sharing)). Without the driver, or with the CPU's hypervisor bit
    clear, the channel reports C(unavailable) or C(no_hypervisor); nothing is guessed.
  - A statement is granted only when at least one channel grants it and no channel that
    speaks for it says otherwise. Disagreements are listed and read as not granted.
  - Changes nothing. Runs without root where the files are readable (the fw_cfg, DMI and
    cpuid files are root-only on most distributions; such a channel reads C(unreadable)).
author:
  - hvfleet maintainers (@hvfleet)
extends_documentation_fragment:
  - hvfleet.smt.attributes
  - hvfleet.smt.attributes.facts
  - hvfleet.smt.attributes.info_module
attributes:
  facts:
    support: full
options:
  sysroot:
    description:
      - Root of the file system to read (fixture trees, a mounted guest root).
      - The guest's own view (C(smt/control), C(vulnerabilities/*)) is read with the same
        reader as M(hvfleet.smt.smt_facts).
    type: path
    default: /
  cpu:
    description: Which CPU's C(/dev/cpu/N/cpuid) to read. The hypervisor leaves are the same on every vCPU.
    type: int
    default: 0
  probe_core_scheduling:
    description:
      - Ask the running kernel (C(prctl(PR_SCHED_CORE_GET))) whether core scheduling is available.
        V(auto) probes only when O(sysroot) is C(/).
    type: str
    choices: [auto, always, never]
    default: auto
notes:
  - Channel states are C(read), C(absent) (the interface is there, nothing was said),
    C(unavailable) (driver not loaded or not a QEMU guest), C(unreadable) (permissions),
    C(invalid) (content this reader refuses; counts as not granted) and, for CPUID,
    C(no_hypervisor).
seealso:
  - module: hvfleet.smt.smt_facts
  - name: Guest channels
    description: Which channel carries which statement, and who can read it.
    link: https://example.invalid/hvfleet/smt/docs/guest-channels.md
"""

EXAMPLES = r"""
- name: Read what this guest was told about SMT
  hvfleet.smt.guest_smt_hints:

- name: Load the drivers the channels need first (Linux)
  community.general.modprobe:
    name: "{{ item }}"
  loop: [qemu_fw_cfg, dmi-sysfs, cpuid]

- name: Refuse to run untrusted work on sibling threads without a topology we can trust
  ansible.builtin.assert:
    that: "'accurate_topology' in ansible_facts.hvfleet_guest_smt.granted"
"""

RETURN = r"""
ansible_facts:
  description: Facts set by this module.
  returned: always
  type: dict
  contains:
    hvfleet_guest_smt:
      description: What the guest was told, by which channel, and its own view.
      returned: always
      type: dict
      contains:
        statements:
          description:
            - Per statement C(granted), C(told_by) (channels that grant it), C(denied_by)
              (channels that speak for it without granting it), C(conflict) and C(reasons)
              (the documents' reason codes, plus C(not_told), C(channels_disagree), C(channel_invalid)).
          type: dict
          sample:
            dedicated: {granted: false, told_by: [], denied_by: [fw_cfg, smbios], conflict: false, reasons: [foreign_user]}
        granted:
          description: Names of the granted statements.
          type: list
          elements: str
          sample: [accurate_topology]
        channels:
          description:
            - C(fw_cfg), C(smbios), C(cpuid), each with C(status), C(path), C(detail); the document
              channels add C(document), CPUID adds C(hypervisor_bit), C(signatures), C(kvm), C(hyperv).
          type: dict
        disagreements:
          description: Statements on which channels disagree (C(kind=statement)), and documents that differ (C(kind=documents_differ)).
          type: list
          elements: dict
        guest:
          description: The guest's own view (C(smt_control), C(smt_active), C(threads_per_core), C(hypervisor),
            C(vulnerabilities_smt), C(stibp), C(core_scheduling), C(cmdline)).
          type: dict
summary:
  description: One line, for people.
  returned: always
  type: str
  sample: "granted: accurate_topology"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError
from ansible_collections.hvfleet.smt.plugins.module_utils.facts import collect
from ansible_collections.hvfleet.smt.plugins.module_utils.guest_view import own_view, read_guest_view, summary


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sysroot=dict(type="path", default="/"),
            cpu=dict(type="int", default=0),
            probe_core_scheduling=dict(type="str", choices=["auto", "always", "never"], default="auto"),
        ),
        supports_check_mode=True,
    )
    sysroot = module.params["sysroot"]
    mode = module.params["probe_core_scheduling"]
    if module.params["cpu"] < 0:
        module.fail_json(msg="cpu: got %d, expected a CPU number (0 or more)" % module.params["cpu"])
    try:
        facts = collect(sysroot, probe=mode == "always" or (mode == "auto" and sysroot == "/"))
        view = read_guest_view(sysroot, module.params["cpu"], own=own_view(facts))
    except HvfleetError as err:
        module.fail_json(msg=str(err))
    module.exit_json(changed=False, summary=summary(view.statements),
                     ansible_facts={"hvfleet_guest_smt": view.to_dict()})


if __name__ == "__main__":
    main()
