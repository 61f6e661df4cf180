# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hypervisor state in fixture sysroots, for the fleet_fixtures drift step.

A drift host's sysroot holds what a hypervisor keeps on disk: the sysfs tree
(tests/fixtures/sysfs.py), libvirtd's own domain definitions
(``etc/libvirt/qemu/<name>.xml``, read by guest_placement_facts'
``backend: files``) and the cgroup cpusets that bound host tasks. The
commands below write that state and then break it the way operators do:

    python drift_fixture.py host SYSROOT SPEC_JSON       # domains + housekeeping (only when absent)
    python drift_fixture.py record SYSROOT NAME JSON     # the record a guest was given (only when absent)
    python drift_fixture.py smt-on SYSROOT TOPOLOGY      # SMT switched back on (the topology, control 'on')
    python drift_fixture.py repin SYSROOT NAME VCPU CPU  # <vcpupin vcpu=VCPU cpuset=CPU>
    python drift_fixture.py housekeeping SYSROOT CPULIST # system.slice's cpuset widened
    python drift_fixture.py corrupt SYSROOT NAME         # the record claims a version no reader knows

Each prints ``{"changed": true|false}``. The record is written with
domain_metadata.set_record, the contract cpu_pinning and guest_cpuid use;
like theirs, it is written once: a guest's statements are fixed at boot.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import xml.etree.ElementTree as ET

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures"))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))

from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import (  # noqa: E402  pylint: disable=wrong-import-position
    Record,
    find_record,
    set_record,
)

HOST_UNITS = ("system.slice", "user.slice", "init.scope")


def _cpus(cpus):
    return ",".join(str(cpu) for cpu in sorted(set(cpus)))


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def domain_xml(guest):
    """A persistent libvirt definition with the guest's pins and exposed topology."""
    vcpus = guest["vcpus"]
    threads = guest.get("threads", 1)
    lines = [
        "<domain type='kvm'>",
        "  <name>%s</name>" % guest["name"],
        "  <uuid>%s</uuid>" % guest["uuid"],
        "  <memory unit='KiB'>16384</memory>",
        "  <vcpu placement='static'>%d</vcpu>" % len(vcpus),
        "  <cputune>",
    ]
    lines += ["    <vcpupin vcpu='%d' cpuset='%d'/>" % (index, cpu) for index, cpu in enumerate(vcpus)]
    lines += [
        "    <emulatorpin cpuset='%s'/>" % _cpus(guest["emulator"]),
        "  </cputune>",
        "  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>",
        "  <cpu mode='host-passthrough'>",
        "    <topology sockets='1' dies='1' cores='%d' threads='%d'/>" % (len(vcpus) // threads, threads),
        "  </cpu>",
        "</domain>",
    ]
    return "\n".join(lines) + "\n"


def cmd_host(sysroot, spec):
    """Domains and housekeeping bounds; an existing file is left alone (converge is idempotent)."""
    changed = False
    for guest in spec.get("guests", []):
        path = os.path.join(sysroot, "etc/libvirt/qemu/%s.xml" % guest["name"])
        if not os.path.exists(path):
            _write(path, domain_xml(guest))
            changed = True
    if "isolated" in spec:
        # isolcpus= on the command line: host tasks keep off these CPUs
        path = os.path.join(sysroot, "sys/devices/system/cpu/isolated")
        text = _cpus(spec["isolated"]) + "\n"
        if not os.path.exists(path) or open(path, encoding="utf-8").read() != text:  # pylint: disable=consider-using-with
            _write(path, text)
            changed = True
    if "housekeeping" in spec:
        for unit in HOST_UNITS:
            path = os.path.join(sysroot, "sys/fs/cgroup/%s/cpuset.cpus.effective" % unit)
            if not os.path.exists(path):
                _write(path, _cpus(spec["housekeeping"]) + "\n")
                changed = True
    return changed


def cmd_record(sysroot, name, record):
    path = os.path.join(sysroot, "etc/libvirt/qemu/%s.xml" % name)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if find_record(text, path) is not None:
        return False
    _write(path, set_record(text, Record(**record), path) + "\n")
    return True


def cmd_smt_on(sysroot, topology):
    """Replace the sysfs tree with the same machine's, SMT control 'on' and every thread online."""
    import sysfs  # tests/fixtures/sysfs.py  pylint: disable=import-outside-toplevel,import-error

    topologies = sysfs.load_topologies()
    spec = dict(topologies[topology])
    if spec.get("smt_control") == "on":
        return False
    spec["smt_control"] = "on"
    topologies["drift-smt-on"] = spec
    temp = sysroot.rstrip("/") + ".smt-on"
    if os.path.exists(temp):
        shutil.rmtree(temp)
    sysfs.write_topology("drift-smt-on", temp, topologies)
    cpu_dir = os.path.join(sysroot, "sys", "devices", "system", "cpu")
    with open(os.path.join(cpu_dir, "isolated"), encoding="utf-8") as handle:
        isolated = handle.read()  # the boot command line's isolcpus= does not change
    shutil.rmtree(cpu_dir)
    shutil.copytree(os.path.join(temp, "sys", "devices", "system", "cpu"), cpu_dir)
    _write(os.path.join(cpu_dir, "isolated"), isolated)
    shutil.rmtree(temp)
    return True


def cmd_repin(sysroot, name, vcpu, cpu):
    path = os.path.join(sysroot, "etc/libvirt/qemu/%s.xml" % name)
    tree = ET.parse(path)
    for pin in tree.getroot().iter("vcpupin"):
        if pin.get("vcpu") == str(vcpu):
            if pin.get("cpuset") == str(cpu):
                return False
            pin.set("cpuset", str(cpu))
            tree.write(path, encoding="unicode")
            return True
    raise SystemExit("%s has no <vcpupin vcpu='%s'>" % (path, vcpu))


def cmd_housekeeping(sysroot, cpulist):
    path = os.path.join(sysroot, "sys/fs/cgroup/system.slice/cpuset.cpus.effective")
    with open(path, encoding="utf-8") as handle:
        if handle.read().strip() == cpulist:
            return False
    _write(path, cpulist + "\n")
    return True


def cmd_corrupt(sysroot, name):
    path = os.path.join(sysroot, "etc/libvirt/qemu/%s.xml" % name)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    broken = text.replace('<hvfleet:record version="1">', '<hvfleet:record version="9">')
    if broken == text:
        return False
    _write(path, broken)
    return True


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    command, sysroot = argv[0], argv[1]
    if command == "host":
        changed = cmd_host(sysroot, json.loads(argv[2]))
    elif command == "record":
        changed = cmd_record(sysroot, argv[2], json.loads(argv[3]))
    elif command == "smt-on":
        changed = cmd_smt_on(sysroot, argv[2])
    elif command == "repin":
        changed = cmd_repin(sysroot, argv[2], int(argv[3]), int(argv[4]))
    elif command == "corrupt":
        changed = cmd_corrupt(sysroot, argv[2])
    elif command == "housekeeping":
        changed = cmd_housekeeping(sysroot, argv[2])
    else:
        raise SystemExit("unknown command %r\n%s" % (command, __doc__))
    print(json.dumps({"changed": changed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
