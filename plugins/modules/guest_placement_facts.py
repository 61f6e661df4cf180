#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: guest_placement_facts
short_description: Report where every libvirt guest's vCPU, emulator and iothreads really may run
version_added: 0.1.0
description:
  - Reads every libvirt domain of O(uri) (running and defined-only) and returns the host's
    placement as C(ansible_facts.hvfleet_placement), the shape the hint engine decides from
    (see C(docs/placement.md) and C(docs/placement-facts.md)).
  - For each domain, the pins of the running definition and of the persistent one
    (C(<vcpu placement cpuset>), C(<cputune>) C(vcpupin), C(emulatorpin), C(iothreadpin))
    with libvirt's own defaults applied, and the exposed C(<cpu><topology>)
    (without one, libvirt shows one socket per vCPU).
  - For running domains, the real affinity of each QEMU thread
    (C(/proc/<pid>/task/*/status) C(Cpus_allowed_list), threads told apart by their names)
    wins over the definitions; every difference is listed in C(disagreements).
  - The housekeeping set - CPUs where host tasks may run - from C(cpu/online), C(cpu/isolated)
    and the cpuset bounds of C(system.slice), C(user.slice) and C(init.scope)
    (cgroup files, else systemd C(AllowedCPUs=) drop-ins), with the source named.
  - Talks to libvirt read-only, through the libvirt Python binding when it can be imported,
    else through C(virsh -r). Needs no root for that; reading other users' QEMU threads in
    C(/proc) needs only the default C(/proc) permissions.
  - With O(backend=files), libvirt is not asked at all - the definitions are read from the files
    libvirtd keeps under O(sysroot) (C(/etc/libvirt/qemu/*.xml), C(/run/libvirt/qemu/*.xml)), for
    a mounted root, an offline audit, or fixture trees.
  - Each domain's hvfleet record (in C(<metadata>), what C(cpu_pinning) and C(guest_cpuid) wrote, that is
    the plan and the statements the guest was given) is returned as C(record); a record that
    cannot be read is named in C(record_error) for that domain alone, so the audit can count that
    guest as unverifiable while the others are still read.
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
  uri:
    description:
      - libvirt connection URI. Only local URIs make sense for the thread affinities,
        which are read from this host's C(/proc).
    type: str
    default: qemu:///system
  sysroot:
    description:
      - Root under which C(/proc) and C(/sys) are read (fixture trees in tests).
        libvirt is still asked through O(uri).
    type: path
    default: /
  domains:
    description:
      - Report only these domains (by name). A name libvirt does not know fails the module.
      - Default is every domain.
    type: list
    elements: str
  backend:
    description:
      - How to ask libvirt. V(auto) uses the Python binding when it can be imported, else C(virsh).
      - V(files) reads libvirtd's own files under O(sysroot) instead of asking libvirt - persistent
        definitions from C(etc/libvirt/qemu/<name>.xml), running domains from the status files
        C(run/libvirt/qemu/<name>.xml) (C(<domstatus pid=...>) around the live definition). O(uri)
        is then only reported.
    type: str
    choices: [auto, binding, virsh, files]
    default: auto
requirements:
  - libvirt's Python binding (C(python3-libvirt), C(libvirt-python)) or the C(virsh) client
    on the managed host.
notes:
  - A vCPU without C(vcpupin) and without C(<vcpu cpuset>) floats over every online CPU;
    so does an emulator or iothread without its own pin (libvirt's default), not only over
    the vCPUs' CPUs.
  - Thread names are QEMU's (C(CPU 0/KVM), C(CPU 0/TCG), C(IO iothread1)); a vCPU or
    iothread whose thread cannot be found is taken to run on its pins and on every CPU an
    unidentified thread may use, and the reason is listed.
seealso:
  - name: Placement contract
    description: The shape of C(hvfleet_placement).
    link: https://example.invalid/hvfleet/smt/docs/placement.md
  - module: hvfleet.smt.smt_facts
"""

EXAMPLES = r"""
- name: Read what runs where on a hypervisor
  hvfleet.smt.guest_placement_facts:

- name: Only two guests, and force the virsh client
  hvfleet.smt.guest_placement_facts:
    domains: [db-1, db-2]
    backend: virsh

- name: Stop when a running guest's threads disagree with its definition
  ansible.builtin.assert:
    that: >-
      ansible_facts.hvfleet_placement.guests
      | map(attribute='disagreements') | flatten
      | selectattr('code', 'in', ['vcpu_affinity_differs', 'emulator_affinity_differs'])
      | list | length == 0
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to the host's facts.
  returned: always
  type: complex
  contains:
    hvfleet_placement:
      description: The host's placement as it is (schema in C(docs/placement.md)).
      returned: always
      type: complex
      contains:
        schema:
          description: Version of this document's shape.
          type: int
          sample: 1
        uri:
          description: The libvirt URI read.
          type: str
          sample: qemu:///system
        backend:
          description: How libvirt was read (C(binding) or C(virsh)).
          type: str
          sample: binding
        sysroot:
          description: The root C(/proc) and C(/sys) were read under.
          type: str
          sample: /
        collected_at:
          description: When the facts were read (UTC, ISO 8601).
          type: str
          sample: "2026-11-25T05:20:00Z"
        housekeeping:
          description: Online CPUs where host tasks may run (sorted).
          type: list
          elements: int
          sample: [0, 1, 32, 33]
        housekeeping_source:
          description: Where the housekeeping set came from, for reasons and audits.
          type: str
          sample: "online CPUs not isolated (2-31 isolated); system.slice 0-1 from cgroup /sys/fs/cgroup/system.slice/cpuset.cpus.effective; ..."
        housekeeping_detail:
          description: The inputs of the housekeeping set - online and isolated CPUs, and each unit's bound (null when not bound) with its source.
          type: dict
          sample: {online: [0, 1, 2, 3], isolated: [2, 3], units: [{unit: system.slice, cpus: [0, 1], source: "cgroup ..."}]}
        guests:
          description:
            - One entry per libvirt domain, sorted by name.
            - C(vcpus) (index = vCPU id, every vCPU up to the maximum), C(emulator) and C(iothreads)
              (in C(iothread_ids) order) are what the threads really may run on for running domains
              (C(source=live)); the running definition when the threads could not be read
              (C(source=live_definition)); the persistent definition for defined-only domains
              (C(source=config)).
            - C(definitions.live) and C(definitions.config) hold the pins of each definition with libvirt's
              defaults applied; C(disagreements) lists C({code, message}) for every difference found
              (C(vcpu_affinity_differs), C(emulator_affinity_differs), C(iothread_affinity_differs),
              C(vcpu_thread_missing), C(iothread_thread_missing), C(threads_unread), C(config_differs), ...).
            - C(record) is the domain's hvfleet record (C(plan), C(statements), C(emitted); each null
              when never written) from the running definition (the persistent one for defined-only
              domains), or null when the domain carries none. C(record_error) says why a record that
              is there could not be read (null otherwise); the guest's other fields are still reported.
          type: list
          elements: dict
          sample:
            - name: db-1
              uuid: 0b7a3c1e-6f1e-4a8e-9a57-2b1d0c3e4f55
              state: running
              persistent: true
              virt_type: kvm
              vcpus: [[4], [36], [5], [37]]
              online_vcpus: [0, 1, 2, 3]
              topology: {sockets: 1, dies: 1, clusters: 1, cores: 2, threads: 2}
              topology_declared: true
              emulator: [0, 32]
              iothreads: [[0, 32]]
              iothread_ids: [1]
              migration_domain: null
              source: live
              qemu_pid: 4242
              definitions: {live: {vcpus: [[4], [36], [5], [37]], emulator: [0, 32], iothreads: [[0, 32]]}, config: null}
              disagreements: []
              record:
                plan: {vcpus: [[4], [36], [5], [37]], emulator: [0, 32]}
                statements: {format: hvfleet.smt/statements, version: 1, host: hv-1, migration_domain: null,
                             issued: "2026-11-25T05:00:00Z", statements: {dedicated: {granted: true, reasons: [pins_exclusive]}}}
                emitted: null
              record_error: null
"""

import os
import time
import xml.etree.ElementTree as ET

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import parse_printed
from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import find_record
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import CpulistError, FactsError, HvfleetError
from ansible_collections.hvfleet.smt.plugins.module_utils.housekeeping import (
    HOST_UNITS,
    cgroup_candidates,
    dropin_order,
    housekeeping,
    unit_file_candidates,
    unit_from_cgroup,
    unit_from_systemd_files,
    unit_without_cpuset,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.libvirt_domain import (
    STATE_NAMES,
    DomainSnapshot,
    guest_placement,
    parse_domain_xml,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.qemu_threads import (
    QemuThread,
    affinity_from_status,
    classify_threads,
    parse_cmdline,
    qemu_pids_for_uuid,
)

try:
    import libvirt
except ImportError:
    libvirt = None

SCHEMA = 1
VIR_ERR_NO_DOMAIN = 42
VIRSH_ENV = {"LC_ALL": "C", "LANG": "C"}


class LibvirtError(HvfleetError):
    """libvirt could not be asked; the message names the URI."""


class RawDomain:
    """What libvirt said about one domain, before parsing."""

    def __init__(self, name, state, active, persistent, live_xml, config_xml):
        self.name = name
        self.state = state
        self.active = active
        self.persistent = persistent
        self.live_xml = live_xml
        self.config_xml = config_xml


# --------------------------------------------------------------------------
# libvirt: Python binding or virsh
# --------------------------------------------------------------------------


def domains_via_binding(uri, names):
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # no stray stderr lines
    try:
        conn = libvirt.openReadOnly(uri)
    except libvirt.libvirtError as err:
        raise LibvirtError("cannot connect read-only to libvirt at %s: %s" % (uri, err))
    if conn is None:
        raise LibvirtError("cannot connect read-only to libvirt at %s" % uri)
    try:
        if names is None:
            handles = conn.listAllDomains(0)
        else:
            handles = []
            for name in names:
                try:
                    handles.append(conn.lookupByName(name))
                except libvirt.libvirtError as err:
                    if err.get_error_code() == VIR_ERR_NO_DOMAIN:
                        raise LibvirtError("domain %r is not defined at %s" % (name, uri))
                    raise LibvirtError("cannot look up domain %r at %s: %s" % (name, uri, err))
        found = []
        for dom in handles:
            try:
                found.append(_binding_domain(dom))
            except libvirt.libvirtError as err:
                if err.get_error_code() == VIR_ERR_NO_DOMAIN and names is None:
                    continue  # undefined while we were reading: it is gone
                raise LibvirtError("cannot read domain %r at %s: %s" % (dom.name(), uri, err))
        return found
    finally:
        conn.close()


def _binding_domain(dom):
    state = STATE_NAMES.get(dom.state()[0], "unknown")
    active = bool(dom.isActive())
    persistent = bool(dom.isPersistent())
    xml = dom.XMLDesc(0)
    config = None
    if persistent:
        config = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) if active else xml
    return RawDomain(dom.name(), state, active, persistent, xml if active else None, config)


def domains_via_virsh(module, virsh, uri, names):
    base = [virsh, "-r", "-c", uri]
    if names is None:
        rc, out, err = module.run_command(base + ["list", "--all", "--name"], environ_update=VIRSH_ENV)
        if rc != 0:
            raise LibvirtError("cannot reach libvirt at %s with virsh: %s" % (uri, (err or out).strip()))
        listed = [line.strip() for line in out.splitlines() if line.strip()]
    else:
        listed = list(names)
    found = []
    for name in listed:
        info = _virsh_dominfo(module, base, uri, name, vanished_ok=names is None)
        if info is None:
            continue
        active = info.get("Id", "-") != "-"
        persistent = info.get("Persistent") == "yes"
        xml = _virsh(module, base, uri, name, ["dumpxml", "--domain", name])
        config = None
        if persistent:
            config = _virsh(module, base, uri, name, ["dumpxml", "--inactive", "--domain", name]) if active else xml
        if xml is None or (persistent and config is None):
            continue  # vanished between calls
        found.append(RawDomain(name, info.get("State", "unknown"), active, persistent,
                               xml if active else None, config))
    return found


def _virsh_dominfo(module, base, uri, name, vanished_ok):
    rc, out, err = module.run_command(base + ["dominfo", "--domain", name], environ_update=VIRSH_ENV)
    if rc != 0:
        if _not_found(err):
            if vanished_ok:
                return None
            raise LibvirtError("domain %r is not defined at %s" % (name, uri))
        raise LibvirtError("virsh dominfo %s at %s failed: %s" % (name, uri, (err or out).strip()))
    info = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


def _virsh(module, base, uri, name, args):
    rc, out, err = module.run_command(base + args, environ_update=VIRSH_ENV)
    if rc != 0:
        if _not_found(err):
            return None
        raise LibvirtError("virsh %s at %s failed: %s" % (" ".join(args), uri, (err or out).strip()))
    return out


def domains_via_files(sysroot, uri, names):
    """libvirtd's own files: persistent definitions and the status files of running domains."""
    config_dir = _path(sysroot, "etc/libvirt/qemu")
    status_dir = _path(sysroot, "run/libvirt/qemu")
    configs = _xml_files(config_dir)
    statuses = _xml_files(status_dir)
    listed = sorted(set(configs) | set(statuses)) if names is None else list(names)
    found = []
    for name in listed:
        if name not in configs and name not in statuses:
            raise LibvirtError("domain %r is not defined at %s (no %s.xml under %s or %s)"
                               % (name, uri, name, config_dir, status_dir))
        config = _read(configs[name]) if name in configs else None
        live = None
        state = "shut off"
        if name in statuses:
            live, state = _from_status(statuses[name], _read(statuses[name]))
        found.append(RawDomain(name, state, live is not None, config is not None, live, config))
    return found


def _xml_files(directory):
    if not os.path.isdir(directory):
        return {}
    return {entry[:-4]: os.path.join(directory, entry) for entry in sorted(os.listdir(directory))
            if entry.endswith(".xml") and os.path.isfile(os.path.join(directory, entry))}


def _from_status(path, text):
    """The live definition inside a <domstatus> file, and the state it records."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise FactsError(path, text[:80], "a libvirt <domstatus> document (%s)" % err)
    if root.tag == "domain":
        return text, "running"
    domain = root.find("domain") if root.tag == "domstatus" else None
    if domain is None:
        raise FactsError(path, root.tag, "<domstatus> with a <domain> inside")
    return ET.tostring(domain, encoding="unicode"), root.get("state", "running")


def domain_record(raw):
    """(record as a dict or None, error or None) from the definition the guest runs with."""
    if raw.active and raw.live_xml is not None:
        xml, which = raw.live_xml, "running definition"
    else:
        xml, which = raw.config_xml, "persistent definition"
    if xml is None:
        return None, None
    try:
        record = find_record(xml, "domain %s (%s)" % (raw.name, which))
    except HvfleetError as err:
        return None, str(err)
    return (record.to_dict() if record is not None else None), None


def _not_found(stderr):
    text = (stderr or "").lower()
    return "domain not found" in text or "failed to get domain" in text


# --------------------------------------------------------------------------
# /sys and /proc under the sysroot
# --------------------------------------------------------------------------


def _path(sysroot, rel):
    return os.path.join(sysroot, rel.lstrip("/"))


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError as err:
        raise FactsError(path, None, "a readable file (%s)" % err.strerror)


def read_cpulist(sysroot, rel, required):
    path = _path(sysroot, rel)
    if not required and not os.path.exists(path):
        return []
    text = _read(path).strip()
    if text == "(null)":  # nohz_full-style "none"
        return []
    try:
        return parse_printed(text)
    except CpulistError:
        raise FactsError(path, text, "a kernel cpulist such as '0-3,8'")


def read_housekeeping(sysroot, online, isolated):
    units = []
    for unit in HOST_UNITS:
        units.append(_read_unit(sysroot, unit))
    return housekeeping(online, isolated, units)


def _read_unit(sysroot, unit):
    candidates = cgroup_candidates(unit)
    for directory, name in candidates:
        path = _path(sysroot, directory + "/" + name)
        if os.path.exists(path):
            return unit_from_cgroup(unit, "/" + directory + "/" + name, _read(path))
    for directory, _name in candidates:
        if os.path.isdir(_path(sysroot, directory)):
            return unit_without_cpuset(unit, "/" + directory)
    files = []
    unit_file_seen = False
    listings = []
    for directory, kind in unit_file_candidates(unit):
        full = _path(sysroot, directory)
        if kind == "unit":
            path = os.path.join(full, unit)
            if not unit_file_seen and os.path.isfile(path):
                files.append((directory + "/" + unit, _read(path)))
                unit_file_seen = True
        elif os.path.isdir(full):
            listings.append((directory, sorted(os.listdir(full))))
    for rel in dropin_order(listings):
        files.append((rel, _read(_path(sysroot, rel))))
    return unit_from_systemd_files(unit, files)


def qemu_processes(sysroot):
    """(pid, argv) of every process whose command line has -uuid: the candidates for QEMU."""
    proc = _path(sysroot, "proc")
    found = []
    try:
        entries = os.listdir(proc)
    except OSError as err:
        raise FactsError(proc, None, "a readable /proc (%s)" % err.strerror)
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "cmdline"), "rb") as handle:
                raw = handle.read()
        except OSError:
            continue  # exited, or hidden from us
        if b"-uuid\0" in raw:
            found.append((int(entry), parse_cmdline(raw)))
    return found


def read_threads(sysroot, pid):
    task_dir = _path(sysroot, "proc/%d/task" % pid)
    threads = []
    try:
        tids = sorted(int(t) for t in os.listdir(task_dir) if t.isdigit())
    except OSError as err:
        raise FactsError(task_dir, None, "a readable task directory (%s)" % err.strerror)
    for tid in tids:
        base = os.path.join(task_dir, str(tid))
        try:
            with open(os.path.join(base, "comm")) as handle:
                name = handle.read().rstrip("\n")
            status_path = os.path.join(base, "status")
            with open(status_path) as handle:
                status = handle.read()
        except FileNotFoundError:
            continue  # the thread exited while we read
        except OSError as err:
            raise FactsError(base, None, "readable comm and status files (%s)" % err.strerror)
        threads.append(QemuThread(tid, name, affinity_from_status(status, status_path)))
    return threads


# --------------------------------------------------------------------------
# Putting it together
# --------------------------------------------------------------------------


def snapshot(raw, processes, sysroot):
    live = parse_domain_xml(raw.live_xml, raw.name) if raw.live_xml is not None else None
    config = parse_domain_xml(raw.config_xml, raw.name) if raw.config_xml is not None else None
    pid = threads = problem = None
    if raw.active and live is not None:
        uuid = live.uuid
        pids = qemu_pids_for_uuid(processes, uuid) if uuid else []
        if len(pids) == 1:
            pid = pids[0]
            try:
                tasks = read_threads(sysroot, pid)
            except FactsError as err:
                problem = str(err)
            else:
                if tasks:
                    threads = classify_threads(tasks, live.iothread_ids)
                else:
                    problem = "process %d has no threads left" % pid
        elif pids:
            problem = "several processes have -uuid %s: %s" % (uuid, ", ".join(map(str, pids)))
        else:
            problem = "no process under %s has -uuid %s" % (_path(sysroot, "proc"), uuid)
    return DomainSnapshot(
        name=raw.name, state=raw.state, active=raw.active, persistent=raw.persistent,
        live=live, config=config, qemu_pid=pid, threads=threads, threads_problem=problem,
    )


def collect(module, params):
    sysroot = params["sysroot"]
    if not os.path.isdir(sysroot):
        raise FactsError(sysroot, None, "an existing directory as sysroot")
    online = read_cpulist(sysroot, "sys/devices/system/cpu/online", required=True)
    isolated = read_cpulist(sysroot, "sys/devices/system/cpu/isolated", required=False)
    house = read_housekeeping(sysroot, online, isolated)

    backend = params["backend"]
    if backend == "auto":
        backend = "binding" if libvirt is not None else "virsh"
    names = params["domains"]
    if backend == "files":
        raws = domains_via_files(sysroot, params["uri"], names)
    elif backend == "binding":
        if libvirt is None:
            module.fail_json(msg=missing_required_lib("libvirt-python (python3-libvirt)"))
        raws = domains_via_binding(params["uri"], names)
    else:
        virsh = module.get_bin_path("virsh")
        if virsh is None:
            module.fail_json(msg="virsh not found on PATH and the libvirt Python binding is not importable; "
                                 "install libvirt-clients or python3-libvirt")
        raws = domains_via_virsh(module, virsh, params["uri"], names)

    processes = qemu_processes(sysroot) if any(r.active for r in raws) else []
    guests = []
    for raw in raws:
        guest = guest_placement(snapshot(raw, processes, sysroot), online)
        guest["record"], guest["record_error"] = domain_record(raw)
        guests.append(guest)
    guests.sort(key=lambda g: g["name"])
    return {
        "schema": SCHEMA,
        "uri": params["uri"],
        "backend": backend,
        "sysroot": sysroot,
        "collected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "housekeeping": list(house.cpus),
        "housekeeping_source": house.source,
        "housekeeping_detail": house.as_detail(),
        "guests": guests,
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            uri=dict(type="str", default="qemu:///system"),
            sysroot=dict(type="path", default="/"),
            domains=dict(type="list", elements="str"),
            backend=dict(type="str", choices=["auto", "binding", "virsh", "files"], default="auto"),
        ),
        supports_check_mode=True,
    )
    try:
        facts = collect(module, module.params)
    except HvfleetError as err:
        details = {key: getattr(err, key) for key in ("path", "value", "expected", "domain", "where")
                   if hasattr(err, key)}
        module.fail_json(msg=str(err), **details)
    module.exit_json(changed=False, ansible_facts={"hvfleet_placement": facts})


if __name__ == "__main__":
    main()
