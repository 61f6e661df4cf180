# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt domain XML -> what a guest may run on, as libvirt itself would apply it.

The hint engine must judge where a guest's threads *can* run, so the defaults
matter as much as the elements: libvirt (9.x ``qemuProcessSetupPid``) gives a
vCPU, the emulator or an iothread its own pin when there is one, else the
``<vcpu cpuset>``, else -- with ``placement='auto'`` -- numad's choice at start
(unknown here, so every online CPU), else every online CPU of the host. Note
that an emulator without ``<emulatorpin>`` therefore floats over every online
CPU, not only over the vCPU pins.

The exposed topology without ``<cpu><topology>`` is libvirt's own default
(``qemuBuildSmpCommandLine``): one socket per vCPU of the *maximum* count,
one die, one cluster, one core, one thread.

For running domains :func:`guest_placement` lets the real thread affinities
(``qemu_threads``) win over the definition and reports every disagreement,
and compares the persistent definition with the running one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import (
    format_cpulist,
    parse_libvirt_cpuset,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import CpulistError, HvfleetError
from ansible_collections.hvfleet.smt.plugins.module_utils.qemu_threads import ThreadPlacement

Cpus = Tuple[int, ...]

# virsh's names for virDomainState values (tools/virsh-domain-monitor.c).
STATE_NAMES = {
    0: "no state",
    1: "running",
    2: "idle",
    3: "paused",
    4: "in shutdown",
    5: "shut off",
    6: "crashed",
    7: "pmsuspended",
}


class DomainXMLError(HvfleetError):
    """A domain definition libvirt would not accept, or that is not domain XML at all."""

    def __init__(self, domain, where, value, expected):
        self.domain = domain
        self.where = where
        self.value = value
        self.expected = expected
        super().__init__(
            "domain %s: %s is %r, expected %s" % (domain, where, value, expected)
        )


@dataclass(frozen=True)
class Topology:
    """The CPU topology the guest is shown (threads vary fastest in vCPU numbering)."""

    sockets: int
    dies: int
    clusters: int
    cores: int
    threads: int

    @property
    def product(self) -> int:
        return self.sockets * self.dies * self.clusters * self.cores * self.threads

    def as_dict(self) -> Dict[str, int]:
        return {
            "sockets": self.sockets,
            "dies": self.dies,
            "clusters": self.clusters,
            "cores": self.cores,
            "threads": self.threads,
        }


@dataclass(frozen=True)
class DomainDefinition:
    """The CPU-placement parts of one domain XML document (live or persistent)."""

    name: str
    uuid: Optional[str]
    virt_type: Optional[str]
    domain_id: Optional[int]  # the id attribute: present only in a running domain's live XML
    max_vcpus: int
    online_vcpus: Cpus  # vCPU ids enabled (at boot for a persistent definition)
    placement: str  # static | auto
    cpuset: Optional[Cpus]  # <vcpu cpuset>
    vcpupins: Mapping[int, Cpus] = field(default_factory=dict)
    emulatorpin: Optional[Cpus] = None
    iothread_ids: Cpus = ()
    iothreadpins: Mapping[int, Cpus] = field(default_factory=dict)
    topology: Topology = Topology(1, 1, 1, 1, 1)
    topology_declared: bool = False


@dataclass(frozen=True)
class Pins:
    """Where each thread kind may run: per vCPU id, the emulator, per iothread (in id order)."""

    vcpus: Tuple[Cpus, ...]
    emulator: Cpus
    iothreads: Tuple[Cpus, ...]

    def as_dict(self) -> Dict[str, Any]:
        return {
            "vcpus": [list(cpus) for cpus in self.vcpus],
            "emulator": list(self.emulator),
            "iothreads": [list(cpus) for cpus in self.iothreads],
        }


# --------------------------------------------------------------------------
# XML -> DomainDefinition
# --------------------------------------------------------------------------


def parse_domain_xml(text: str, label: str) -> DomainDefinition:
    """Parse one ``virsh dumpxml`` document; ``label`` names the domain in errors.

    Everything libvirt itself would refuse (a vcpupin beyond the vCPU count, a
    topology whose product is not the maximum vCPU count, a non-numeric
    cpuset) is an error: such XML did not come from libvirt, and guessing
    what was meant could invent a pinning that does not exist.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise DomainXMLError(label, "the XML", _short(text), "well-formed domain XML (%s)" % err)
    if root.tag != "domain":
        raise DomainXMLError(label, "the root element", root.tag, "<domain>")
    name = (root.findtext("name") or "").strip()
    if not name:
        raise DomainXMLError(label, "<name>", name, "a non-empty domain name")
    uuid = (root.findtext("uuid") or "").strip() or None
    domain_id = _optional_int(name, "<domain id>", root.get("id"), minimum=-1)
    if domain_id == -1:
        domain_id = None

    vcpu = root.find("vcpu")
    if vcpu is None:
        raise DomainXMLError(name, "<vcpu>", None, "a <vcpu> element with the vCPU count")
    max_vcpus = _int(name, "<vcpu>", (vcpu.text or "").strip(), minimum=1)
    current = _optional_int(name, "<vcpu current>", vcpu.get("current"), minimum=1)
    if current is not None and current > max_vcpus:
        raise DomainXMLError(name, "<vcpu current>", current, "at most the maximum of %d vCPUs" % max_vcpus)
    placement = vcpu.get("placement", "static")
    if placement not in ("static", "auto"):
        raise DomainXMLError(name, "<vcpu placement>", placement, "'static' or 'auto'")
    cpuset = _optional_cpuset(name, "<vcpu cpuset>", vcpu.get("cpuset"))
    online = _online_vcpus(root, name, max_vcpus, current)

    cputune = root.find("cputune")
    vcpupins = _pins(name, cputune, "vcpupin", "vcpu", range(max_vcpus), "vCPU ids 0..%d" % (max_vcpus - 1))
    emulatorpin = None
    if cputune is not None:
        pins = cputune.findall("emulatorpin")
        if len(pins) > 1:
            raise DomainXMLError(name, "<emulatorpin>", len(pins), "at most one element")
        if pins:
            emulatorpin = _cpuset(name, "<emulatorpin cpuset>", pins[0].get("cpuset"))
    iothread_ids = _iothread_ids(root, name)
    iothreadpins = _pins(
        name, cputune, "iothreadpin", "iothread", iothread_ids,
        "an iothread id the domain defines (%s)" % (format_cpulist(iothread_ids) or "none"))

    topology, declared = _topology(root, name, max_vcpus)
    return DomainDefinition(
        name=name,
        uuid=uuid,
        virt_type=root.get("type"),
        domain_id=domain_id,
        max_vcpus=max_vcpus,
        online_vcpus=online,
        placement=placement,
        cpuset=cpuset,
        vcpupins=vcpupins,
        emulatorpin=emulatorpin,
        iothread_ids=iothread_ids,
        iothreadpins=iothreadpins,
        topology=topology,
        topology_declared=declared,
    )


def _online_vcpus(root: ET.Element, name: str, max_vcpus: int, current: Optional[int]) -> Cpus:
    """``<vcpus><vcpu id enabled>`` when libvirt lists them, else the first ``current`` ids."""
    listed = root.findall("vcpus/vcpu")
    if not listed:
        return tuple(range(current if current is not None else max_vcpus))
    enabled = []
    for element in listed:
        vcpu_id = _int(name, "<vcpus><vcpu id>", element.get("id"), minimum=0)
        if vcpu_id >= max_vcpus:
            raise DomainXMLError(name, "<vcpus><vcpu id>", vcpu_id, "vCPU ids 0..%d" % (max_vcpus - 1))
        state = element.get("enabled", "yes")
        if state not in ("yes", "no"):
            raise DomainXMLError(name, "<vcpus><vcpu %d enabled>" % vcpu_id, state, "'yes' or 'no'")
        if state == "yes":
            enabled.append(vcpu_id)
    return tuple(sorted(set(enabled)))


def _iothread_ids(root: ET.Element, name: str) -> Cpus:
    """Ids as libvirt assigns them: the listed ``<iothreadids>``, then the lowest free ids."""
    count_text = root.findtext("iothreads")
    listed = []
    for element in root.findall("iothreadids/iothread"):
        iothread_id = _int(name, "<iothreadids><iothread id>", element.get("id"), minimum=1)
        if iothread_id in listed:
            raise DomainXMLError(name, "<iothreadids><iothread id>", iothread_id, "each id once")
        listed.append(iothread_id)
    count = len(listed)
    if count_text is not None:
        count = _int(name, "<iothreads>", count_text.strip(), minimum=0)
        if count < len(listed):
            raise DomainXMLError(
                name, "<iothreads>", count, "at least the %d ids in <iothreadids>" % len(listed))
    ids = list(listed)
    candidate = 1
    while len(ids) < count:
        if candidate not in ids:
            ids.append(candidate)
        candidate += 1
    return tuple(sorted(ids))


def _pins(name, cputune, tag, attribute, valid_ids, expected) -> Dict[int, Cpus]:
    pins: Dict[int, Cpus] = {}
    if cputune is None:
        return pins
    valid = set(valid_ids)
    for element in cputune.findall(tag):
        where = "<%s %s>" % (tag, attribute)
        key = _int(name, where, element.get(attribute), minimum=0)
        if key not in valid:
            raise DomainXMLError(name, where, key, expected)
        if key in pins:
            raise DomainXMLError(name, where, key, "one <%s> per %s" % (tag, attribute))
        pins[key] = _cpuset(name, "<%s %s='%d' cpuset>" % (tag, attribute, key), element.get("cpuset"))
    return pins


def _topology(root: ET.Element, name: str, max_vcpus: int) -> Tuple[Topology, bool]:
    element = root.find("cpu/topology")
    if element is None:
        return Topology(max_vcpus, 1, 1, 1, 1), False
    counts = {}
    for key in ("sockets", "dies", "clusters", "cores", "threads"):
        raw = element.get(key)
        if raw is None and key in ("dies", "clusters"):
            counts[key] = 1
            continue
        counts[key] = _int(name, "<cpu><topology %s>" % key, raw, minimum=1)
    topology = Topology(**counts)
    if topology.product != max_vcpus:
        raise DomainXMLError(
            name, "<cpu><topology>", topology.as_dict(),
            "counts whose product is the maximum vCPU count %d (it is %d)" % (max_vcpus, topology.product))
    return topology, True


def _int(domain: str, where: str, raw: Optional[str], minimum: int) -> int:
    text = raw.strip() if isinstance(raw, str) else ""
    digits = text[1:] if text.startswith("-") else text
    if not digits or not all(c in "0123456789" for c in digits) or int(text) < minimum:
        raise DomainXMLError(domain, where, raw, "an integer >= %d" % minimum)
    return int(text)


def _optional_int(domain: str, where: str, raw: Optional[str], minimum: int) -> Optional[int]:
    return None if raw is None else _int(domain, where, raw, minimum)


def _cpuset(domain: str, where: str, raw: Optional[str]) -> Cpus:
    try:
        return tuple(parse_libvirt_cpuset(raw if raw is not None else ""))
    except CpulistError as err:
        raise DomainXMLError(domain, where, raw, err.expected)


def _optional_cpuset(domain: str, where: str, raw: Optional[str]) -> Optional[Cpus]:
    return None if raw is None else _cpuset(domain, where, raw)


def _short(text: Any, limit: int = 80) -> Any:
    if isinstance(text, str) and len(text) > limit:
        return text[:limit] + "..."
    return text


# --------------------------------------------------------------------------
# DomainDefinition -> where its threads may run
# --------------------------------------------------------------------------


def declared_pins(definition: DomainDefinition, online: Sequence[int]) -> Pins:
    """Apply libvirt's defaults to the definition: the sets libvirt gives each thread at start."""
    fallback = _fallback(definition, online)
    vcpus = tuple(definition.vcpupins.get(v, fallback) for v in range(definition.max_vcpus))
    emulator = definition.emulatorpin if definition.emulatorpin is not None else fallback
    iothreads = tuple(definition.iothreadpins.get(i, fallback) for i in definition.iothread_ids)
    return Pins(vcpus, emulator, iothreads)


def _fallback(definition: DomainDefinition, online: Sequence[int]) -> Cpus:
    if definition.placement == "static" and definition.cpuset is not None:
        return definition.cpuset
    return tuple(sorted(online))


# --------------------------------------------------------------------------
# One guest's placement entry (docs/placement.md)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainSnapshot:
    """What was read about one domain, before any decision about it."""

    name: str
    state: str
    active: bool
    persistent: bool
    live: Optional[DomainDefinition]  # running domains: the live XML
    config: Optional[DomainDefinition]  # persistent domains: the inactive XML
    qemu_pid: Optional[int] = None
    threads: Optional[ThreadPlacement] = None
    threads_problem: Optional[str] = None  # why threads could not be read


def guest_placement(snapshot: DomainSnapshot, online: Sequence[int]) -> Dict[str, Any]:
    """Build the guest entry of ``hvfleet_placement.guests`` for one domain.

    Running domains: the QEMU threads' real affinities win over the live
    definition, and each difference is reported. When the threads cannot be
    read, the live definition is used and ``source`` says so. Defined-only
    domains: the persistent definition (``source: config``).
    """
    current = snapshot.live if snapshot.active and snapshot.live is not None else snapshot.config
    if current is None:
        raise DomainXMLError(snapshot.name, "the definitions", None, "a live or persistent XML document")
    declared = declared_pins(current, online)
    disagreements: List[Dict[str, str]] = []
    if snapshot.active and snapshot.threads is not None:
        effective = _effective_from_threads(snapshot.threads, current, declared, disagreements)
        source = "live"
    else:
        effective = declared
        source = "live_definition" if snapshot.active else "config"
        if snapshot.active:
            disagreements.append(_reason(
                "threads_unread",
                "the QEMU threads could not be read (%s); the running definition is used instead"
                % (snapshot.threads_problem or "no QEMU process found"),
            ))
    config_pins = declared_pins(snapshot.config, online) if snapshot.config is not None else None
    if snapshot.active and snapshot.live is not None and snapshot.config is not None:
        disagreements.extend(_config_differences(snapshot.live, snapshot.config, declared, config_pins))
    definitions = {
        "live": _definition_entry(snapshot.live, declared) if snapshot.active and snapshot.live is not None else None,
        "config": _definition_entry(snapshot.config, config_pins) if snapshot.config is not None else None,
    }
    return {
        "name": snapshot.name,
        "uuid": current.uuid,
        "state": snapshot.state,
        "persistent": snapshot.persistent,
        "virt_type": current.virt_type,
        "vcpus": [list(cpus) for cpus in effective.vcpus],
        "online_vcpus": list(current.online_vcpus),
        "topology": current.topology.as_dict(),
        "topology_declared": current.topology_declared,
        "emulator": list(effective.emulator),
        "iothreads": [list(cpus) for cpus in effective.iothreads],
        "iothread_ids": list(current.iothread_ids),
        "migration_domain": None,
        "source": source,
        "qemu_pid": snapshot.qemu_pid,
        "definitions": definitions,
        "disagreements": disagreements,
    }


def _effective_from_threads(
    threads: ThreadPlacement, current: DomainDefinition, declared: Pins, disagreements: List[Dict[str, str]]
) -> Pins:
    for note in threads.notes:
        disagreements.append(_reason(note[0], note[1]))
    emulator = threads.emulator if threads.emulator else declared.emulator
    if threads.emulator and threads.emulator != declared.emulator:
        disagreements.append(_reason(
            "emulator_affinity_differs",
            "the emulator threads may run on CPUs %s; the definition says %s"
            % (_fmt(threads.emulator), _fmt(declared.emulator)),
        ))
    # A thread that could not be told apart may be any of them: widen rather than guess.
    unknown = set(threads.emulator)
    vcpus = []
    for vcpu_id in range(current.max_vcpus):
        live = threads.vcpu_affinity(vcpu_id)
        want = declared.vcpus[vcpu_id]
        if live is None:
            if vcpu_id in current.online_vcpus:
                widened = tuple(sorted(set(want) | unknown))
                disagreements.append(_reason(
                    "vcpu_thread_missing",
                    "vCPU %d is online but no QEMU thread is named for it; it is taken to run on %s "
                    "(its pins and every unidentified thread's CPUs)" % (vcpu_id, _fmt(widened)),
                ))
                vcpus.append(widened)
            else:
                vcpus.append(want)
            continue
        if live != want:
            disagreements.append(_reason(
                "vcpu_affinity_differs",
                "vCPU %d's thread may run on CPUs %s; the definition pins it to %s"
                % (vcpu_id, _fmt(live), _fmt(want)),
            ))
        vcpus.append(live)
    iothreads = []
    for index, iothread_id in enumerate(current.iothread_ids):
        live = threads.iothreads.get(iothread_id)
        want = declared.iothreads[index]
        if live is None:
            widened = tuple(sorted(set(want) | unknown))
            disagreements.append(_reason(
                "iothread_thread_missing",
                "iothread %d has no QEMU thread named 'IO iothread%d'; it is taken to run on %s"
                % (iothread_id, iothread_id, _fmt(widened)),
            ))
            iothreads.append(widened)
            continue
        if live != want:
            disagreements.append(_reason(
                "iothread_affinity_differs",
                "iothread %d may run on CPUs %s; the definition pins it to %s"
                % (iothread_id, _fmt(live), _fmt(want)),
            ))
        iothreads.append(live)
    return Pins(tuple(vcpus), tuple(emulator), tuple(iothreads))


def _config_differences(
    live: DomainDefinition, config: DomainDefinition, live_pins: Pins, config_pins: Optional[Pins]
) -> List[Dict[str, str]]:
    """What the persistent definition changes at the next start (statements are fixed at boot)."""
    out = []
    if live.topology != config.topology or live.max_vcpus != config.max_vcpus:
        out.append(_reason(
            "config_differs",
            "the persistent definition shows %d vCPUs as %s, the running guest %d as %s; "
            "it applies at the next start"
            % (config.max_vcpus, _topology_text(config.topology), live.max_vcpus, _topology_text(live.topology)),
        ))
    if config_pins is not None and config_pins != live_pins:
        changed = []
        if config_pins.vcpus != live_pins.vcpus:
            changed.append("vCPU pins")
        if config_pins.emulator != live_pins.emulator:
            changed.append("emulator pin")
        if config_pins.iothreads != live_pins.iothreads:
            changed.append("iothread pins")
        out.append(_reason(
            "config_differs",
            "the persistent definition has other %s than the running guest; they apply at the next start"
            % " and ".join(changed),
        ))
    return out


def _definition_entry(definition: Optional[DomainDefinition], pins: Optional[Pins]) -> Optional[Dict[str, Any]]:
    if definition is None or pins is None:
        return None
    entry = pins.as_dict()
    entry["topology"] = definition.topology.as_dict()
    entry["max_vcpus"] = definition.max_vcpus
    entry["online_vcpus"] = list(definition.online_vcpus)
    return entry


def _topology_text(topology: Topology) -> str:
    return "sockets=%d dies=%d clusters=%d cores=%d threads=%d" % (
        topology.sockets, topology.dies, topology.clusters, topology.cores, topology.threads)


def _reason(code: str, message: str) -> Dict[str, str]:
    return {"code": code, "message": message}


def _fmt(cpus: Sequence[int]) -> str:
    return format_cpulist(cpus) or "(none)"
