#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: smt_control
short_description: Set a host's SMT control at runtime (on, off, forceoff)
version_added: 0.1.0
description:
  - Writes C(/sys/devices/system/cpu/smt/control) to reach O(state), after deciding
    whether the kernel allows the transition at all.
  - Transitions the kernel refuses are refused before any write, with the reason and
    the remedy. Leaving C(forceoff) needs a reboot without C(nosmt=force); C(notsupported)
    and C(notimplemented) hosts have no SMT to switch on.
  - C(off) is reversible (anyone with root can write C(on) again), so guests may not be
    told C(no_smt) on its strength; only C(forceoff) (or C(notsupported)) allows that.
  - Never reboots. Persisting the choice across reboots is the job of the boot parameter
    (see M(hvfleet.smt.kernel_cmdline) and the R(hvfleet.smt.smt_host,ansible_collections.hvfleet.smt.smt_host_role) role).
author:
  - hvfleet maintainers (@hvfleet)
extends_documentation_fragment:
  - hvfleet.smt.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  state:
    description:
      - The SMT control to reach. V(forceoff) cannot be undone until reboot.
    type: str
    choices: ["on", "off", forceoff]
    required: true
  sysroot:
    description: Root under which C(sys/devices/system/cpu/smt/control) is found (tests, chroots).
    type: path
    default: /
notes:
  - Needs root to write; reading (and check mode) works without.
"""

EXAMPLES = r"""
- name: Disable SMT until reboot (guests may then be told no_smt)
  hvfleet.smt.smt_control:
    state: forceoff

- name: Switch SMT off, reversibly
  hvfleet.smt.smt_control:
    state: "off"
"""

RETURN = r"""
before:
  description: SMT control as read before the change.
  returned: always
  type: str
  sample: "on"
after:
  description: SMT control after the change (as predicted in check mode).
  returned: always
  type: str
  sample: forceoff
message:
  description: What was done, or why nothing was needed.
  returned: always
  type: str
  sample: "SMT control on -> forceoff"
"""

import errno
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError
from ansible_collections.hvfleet.smt.plugins.module_utils.smt_control import TransitionRefused, plan_transition
from ansible_collections.hvfleet.smt.plugins.module_utils.topology import CPU_DIR, read_smt


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["on", "off", "forceoff"], required=True),
            sysroot=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    base = os.path.join(module.params["sysroot"], CPU_DIR)
    path = os.path.join(base, "smt", "control")
    target = module.params["state"]
    try:
        before = read_smt(base).control
        step = plan_transition(before, target)
    except (HvfleetError, TransitionRefused) as err:
        module.fail_json(msg=str(err), path=path)
    result = dict(changed=step.write is not None, before=before, after=before, message=step.message)
    if step.write is None:
        module.exit_json(**result)
    result["after"] = target
    if module._diff:
        result["diff"] = dict(before="%s\n" % before, after="%s\n" % target,
                              before_header=path, after_header=path)
    if module.check_mode:
        module.exit_json(**result)
    try:
        with open(path, "w") as handle:
            handle.write(step.write)
    except OSError as err:
        hint = {errno.EPERM: "the kernel refuses changes (forceoff or not root)",
                errno.EACCES: "permission denied: writing SMT control needs root",
                errno.ENODEV: "this CPU has no SMT to control"}.get(err.errno, err.strerror)
        module.fail_json(msg="%s: writing %r failed: %s" % (path, step.write, hint), **result)
    try:
        result["after"] = read_smt(base).control
    except HvfleetError as err:
        module.fail_json(msg="SMT control written but not readable back: %s" % err, **result)
    if result["after"] != target:
        module.fail_json(msg="%s: wrote %r but it reads %r" % (path, step.write, result["after"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
