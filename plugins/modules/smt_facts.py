#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: smt_facts
short_description: Read a host's CPU topology and SMT state as facts
version_added: 0.1.0
description:
  - Reads C(/sys/devices/system/cpu), C(/sys/devices/system/node), C(/proc/cpuinfo),
    C(/proc/cmdline) and C(/proc/modules) under O(sysroot) and returns them as
    C(ansible_facts.hvfleet_smt), the document every other part of this collection
    decides from (see C(docs/facts.md)).
  - Physical cores are the kernel's sibling sets, never guessed from core ids.
    The SMT state is taken only from C(smt/control); with C(off) the siblings are
    offline and vanish from every sibling list, so lists alone would look SMT-free.
  - Works as an unprivileged user. Any malformed or unreadable file fails the
    module with the file, the value read and what was expected; nothing partial
    is returned.
author:
  - hvfleet maintainers (@hvfleet)
extends_documentation_fragment:
  - hvfleet.smt.attributes
  - hvfleet.smt.attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
options:
  sysroot:
    description:
      - Root of the file system to read, like C(lscpu --sysroot) and hwloc's
        C(HWLOC_FSROOT). Use it for fixture trees or a host's root mounted elsewhere.
    type: path
    default: /
  probe_core_scheduling:
    description:
      - Ask the running kernel with C(prctl(PR_SCHED_CORE_GET)) whether core
        scheduling is available.
      - V(auto) probes only when O(sysroot) is C(/); elsewhere the answer would
        describe the wrong kernel, and C(core_scheduling.status)
        is C(unknown).
    type: str
    choices: [auto, always, never]
    default: auto
notes:
  - C(smt.possible) follows KVM's C(cpu_smt_possible()) - it is false only when
    C(smt/control) reads C(forceoff), C(notsupported) or C(notimplemented).
  - A host that runs under a hypervisor (C(hypervisor.guest)) describes its virtual
    CPUs; its C(notsupported) says nothing about the physical cores underneath.
seealso:
  - name: Host facts contract
    description: The shape of C(hvfleet_smt) and the rules the reader follows.
    link: https://example.invalid/hvfleet/smt/docs/facts.md
"""

EXAMPLES = r"""
- name: Read SMT facts of the managed host
  hvfleet.smt.smt_facts:

- name: Read a fixture tree (as lscpu --sysroot would)
  hvfleet.smt.smt_facts:
    sysroot: /srv/fixtures/intel-2s
  delegate_to: localhost

- name: Stop when SMT could still come back
  ansible.builtin.assert:
    that: not ansible_facts.hvfleet_smt.smt.possible
    fail_msg: "SMT control is {{ ansible_facts.hvfleet_smt.smt.control }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to the host's facts.
  returned: always
  type: complex
  contains:
    hvfleet_smt:
      description: CPU topology, SMT state and related kernel settings (schema in C(docs/facts.md)).
      returned: always
      type: complex
      contains:
        schema:
          description: Version of this document's shape.
          type: int
          sample: 1
        sysroot:
          description: The root that was read.
          type: str
          sample: /
        collected_at:
          description: When the facts were read (UTC, ISO 8601).
          type: str
          sample: "2026-11-25T05:20:00Z"
        smt:
          description: SMT state.
          type: dict
          sample: {control: "on", active: true, possible: true, threads_per_core: {min: 2, max: 2}}
        cpus:
          description: CPU sets as sorted lists of CPU ids, and C(kernel_max).
          type: dict
          sample: {online: [0, 1, 2, 3], offline: [], present: [0, 1, 2, 3], possible: [0, 1, 2, 3],
                   isolated: [], nohz_full: [], kernel_max: 8191}
        cores:
          description: One entry per physical core with at least one online thread.
          type: list
          elements: dict
          sample: [{package: 0, die: 0, cluster: null, core: 0, threads: [0, 2]}]
        packages:
          description: Packages with their online CPUs and core counts.
          type: list
          elements: dict
          sample: [{id: 0, cpus: [0, 1, 2, 3], cores: 2}]
        numa_nodes:
          description: NUMA nodes and their CPUs.
          type: list
          elements: dict
          sample: [{id: 0, cpus: [0, 1, 2, 3]}]
        llc_groups:
          description: Groups of online CPUs sharing the last-level cache; empty when unknown.
          type: list
          elements: list
          sample: [[0, 1, 2, 3]]
        cmdline:
          description: Kernel command line and the SMT and isolation parameters parsed from it.
          type: dict
          sample: {raw: "nosmt=force", nosmt: force, mitigations: null, mitigations_nosmt: false,
                   l1tf: null, isolcpus: null, nohz_full: null, irqaffinity: null}
        cpu:
          description: CPU vendor, family, model and model name from C(/proc/cpuinfo).
          type: dict
          sample: {vendor: GenuineIntel, family: 6, model: 85, model_name: "Intel(R) Xeon(R) Gold 6230"}
        hypervisor:
          description:
            - Whether this host is itself a VM (C(guest), null when it cannot be told),
              where that was seen, and what its own hypervisor vouched for.
          type: dict
          sample: {guest: false, vendor: null, source: cpuinfo flags, vouched: {}}
        vulnerabilities:
          description: Per file in C(cpu/vulnerabilities), the raw text and its SMT and STIBP parts.
          type: dict
          sample: {mds: {raw: "Mitigation: Clear CPU buffers; SMT vulnerable", smt: vulnerable, stibp: null}}
        core_scheduling:
          description: Core scheduling support (C(available), C(not_built), C(no_smt), C(unknown)).
          type: dict
          sample: {status: available, detail: "prctl(PR_SCHED_CORE_GET) returned 0"}
        kvm:
          description: Whether C(/dev/kvm) exists and which kvm modules are loaded.
          type: dict
          sample: {device: true, modules: [kvm, kvm_intel]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError
from ansible_collections.hvfleet.smt.plugins.module_utils.facts import collect


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sysroot=dict(type="path", default="/"),
            probe_core_scheduling=dict(type="str", choices=["auto", "always", "never"], default="auto"),
        ),
        supports_check_mode=True,
    )
    sysroot = module.params["sysroot"]
    mode = module.params["probe_core_scheduling"]
    probe = mode == "always" or (mode == "auto" and sysroot == "/")
    try:
        facts = collect(sysroot, probe=probe)
    except HvfleetError as err:
        module.fail_json(msg=str(err), **_error_details(err))
    module.exit_json(changed=False, ansible_facts={"hvfleet_smt": facts})


def _error_details(err):
    return {key: getattr(err, key) for key in ("path", "value", "expected") if hasattr(err, key)}


if __name__ == "__main__":
    main()
