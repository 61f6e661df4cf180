#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kernel_cmdline
short_description: Make kernel boot parameters present or absent, through the distribution's tool
version_added: 0.1.0
description:
  - Ensures parameters such as C(nosmt=force), C(isolcpus=...), C(nohz_full=...) or
    C(irqaffinity=...) are present (or absent) on the kernel command line of the next boot.
  - On RHEL-like hosts it uses C(grubby --update-kernel=ALL); on Debian-like hosts it edits
    C(GRUB_CMDLINE_LINUX) in C(/etc/default/grub) and runs C(update-grub) (or C(grub-mkconfig)).
  - A parameter in O(present) replaces every earlier occurrence of the same name, so
    C(nosmt) and C(nosmt=force) never both remain.
  - Never reboots; RV(reboot_required) says whether the running kernel differs from what was asked.
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
  present:
    description: Parameters (C(name) or C(name=value)) that must be on the command line.
    type: list
    elements: str
    default: []
  absent:
    description: Parameter names that must not be on the command line.
    type: list
    elements: str
    default: []
  method:
    description:
      - How to change the boot configuration. V(auto) uses C(grubby) when it is installed,
        else C(/etc/default/grub).
    type: str
    choices: [auto, grubby, grub_default]
    default: auto
  grub_default_path:
    description: The GRUB defaults file edited by V(grub_default).
    type: path
    default: /etc/default/grub
  update_bootloader:
    description: Regenerate the GRUB configuration after editing O(grub_default_path).
    type: bool
    default: true
  running_cmdline_path:
    description: Where the running kernel's command line is read from, for RV(reboot_required).
    type: path
    default: /proc/cmdline
"""

EXAMPLES = r"""
- name: Keep SMT off for good from the next boot
  hvfleet.smt.kernel_cmdline:
    present: [nosmt=force]
  register: boot

- name: Tell the operator a reboot is due
  ansible.builtin.debug:
    msg: "Reboot needed: {{ boot.reboot_required }}"
"""

RETURN = r"""
before:
  description: The configured command line before the change.
  returned: always
  type: str
  sample: "quiet"
after:
  description: The configured command line after the change (predicted in check mode).
  returned: always
  type: str
  sample: "quiet nosmt=force"
method:
  description: The method used (C(grubby) or C(grub_default)).
  returned: always
  type: str
  sample: grub_default
reboot_required:
  description: Whether the running kernel's command line lacks what was asked.
  returned: always
  type: bool
  sample: true
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hvfleet.smt.plugins.module_utils.boot_params import (
    BootParamError,
    edit_params,
    missing_from,
    read_grub_default,
    validate_param,
    write_grub_default,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            present=dict(type="list", elements="str", default=[]),
            absent=dict(type="list", elements="str", default=[]),
            method=dict(type="str", choices=["auto", "grubby", "grub_default"], default="auto"),
            grub_default_path=dict(type="path", default="/etc/default/grub"),
            update_bootloader=dict(type="bool", default=True),
            running_cmdline_path=dict(type="path", default="/proc/cmdline"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        for item in p["present"] + p["absent"]:
            validate_param(item)
    except BootParamError as err:
        module.fail_json(msg=str(err))
    method = p["method"]
    if method == "auto":
        method = "grubby" if module.get_bin_path("grubby") else "grub_default"
    try:
        if method == "grubby":
            before, after = _grubby(module, p["present"], p["absent"])
        else:
            before, after = _grub_default(module, p)
    except BootParamError as err:
        module.fail_json(msg=str(err), method=method)
    running = _read(p["running_cmdline_path"]) or ""
    result = dict(
        changed=before != after, before=before, after=after, method=method,
        reboot_required=bool(missing_from(running, p["present"], p["absent"])),
    )
    if module._diff and before != after:
        result["diff"] = dict(before=before + "\n", after=after + "\n")
    module.exit_json(**result)


def _grub_default(module, p):
    path = p["grub_default_path"]
    text = _read(path)
    if text is None:
        raise BootParamError("%s: not found; expected the GRUB defaults file (or use method=grubby)" % path)
    index, before = read_grub_default(text, path)
    after = edit_params(before, p["present"], p["absent"])
    if after != before and not module.check_mode:
        module.atomic_move(_write_temp(module, path, write_grub_default(text, index, after)), path)
        if p["update_bootloader"]:
            _update_grub(module)
    return before, after


def _update_grub(module):
    update = module.get_bin_path("update-grub")
    if update:
        argv = [update]
    else:
        mkconfig = module.get_bin_path("grub2-mkconfig") or module.get_bin_path("grub-mkconfig")
        if not mkconfig:
            raise BootParamError("neither update-grub nor grub-mkconfig found: cannot regenerate the GRUB config")
        target = "/boot/grub2/grub.cfg" if "grub2" in mkconfig else "/boot/grub/grub.cfg"
        argv = [mkconfig, "-o", target]
    rc, out, err = module.run_command(argv)
    if rc != 0:
        raise BootParamError("%s failed (rc=%d): %s" % (" ".join(argv), rc, (err or out).strip()))


def _grubby(module, present, absent):
    grubby = module.get_bin_path("grubby", required=True)
    rc, out, err = module.run_command([grubby, "--info=ALL"])
    if rc != 0:
        raise BootParamError("grubby --info=ALL failed (rc=%d): %s" % (rc, err.strip()))
    entries = [line.partition("=")[2].strip().strip('"') for line in out.splitlines() if line.startswith("args=")]
    if not entries:
        raise BootParamError("grubby --info=ALL listed no kernel entries with args")
    before = entries[0]
    stale = [args for args in entries if edit_params(args, present, absent) != args]
    after = edit_params(before, present, absent)
    if stale and not module.check_mode:
        argv = [grubby, "--update-kernel=ALL"]
        if present:
            argv.append("--args=" + " ".join(present))
        if absent:
            argv.append("--remove-args=" + " ".join(absent))
        rc, out, err = module.run_command(argv)
        if rc != 0:
            raise BootParamError("%s failed (rc=%d): %s" % (" ".join(argv), rc, err.strip()))
    if stale and after == before:
        before = stale[0]
    return before, after


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise BootParamError("%s: cannot read: %s" % (path, err.strerror))


def _write_temp(module, path, content):
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, ".%s.hvfleet-tmp" % os.path.basename(path))
    with open(tmp, "w") as handle:
        handle.write(content)
    return tmp


if __name__ == "__main__":
    main()
