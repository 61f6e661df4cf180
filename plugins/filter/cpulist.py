# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that move CPU lists between the kernel's text form and lists of ints."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import (
    format_cpulist,
    parse_cpulist,
    parse_libvirt_cpuset,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import CpulistError


def cpulist(text, nr_cpus=None, syntax="kernel"):
    """Parse a cpulist into a sorted list of CPU ids."""
    if syntax not in ("kernel", "libvirt"):
        raise AnsibleFilterError("cpulist: syntax must be 'kernel' or 'libvirt', not %r" % (syntax,))
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str):
        raise AnsibleFilterError("cpulist: expected a string such as '0-3,8', got %s" % type(text).__name__)
    try:
        if syntax == "libvirt":
            return parse_libvirt_cpuset(text)
        return parse_cpulist(text, nr_cpus)
    except CpulistError as err:
        raise AnsibleFilterError("cpulist: %s" % err) from None


def to_cpulist(cpus):
    """Format CPU ids as the kernel prints them ('0-3,8')."""
    if isinstance(cpus, (str, bytes)) or not hasattr(cpus, "__iter__"):
        raise AnsibleFilterError("to_cpulist: expected a list of CPU ids, got %r" % (cpus,))
    try:
        return format_cpulist(cpus)
    except CpulistError as err:
        raise AnsibleFilterError("to_cpulist: %s" % err) from None


class FilterModule:
    def filters(self):
        return {"cpulist": cpulist, "to_cpulist": to_cpulist}
