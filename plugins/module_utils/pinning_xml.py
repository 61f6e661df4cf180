# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply one guest's planned pinning to its libvirt domain XML, and say what that needs.

The planner (``placement.py``) decides where a guest runs; this turns one
planned guest into the domain definition that makes it so --
``<vcpu placement='static'>``, ``<cputune>`` ``vcpupin``/``emulatorpin``/
``iothreadpin``, ``<cpu><topology>`` -- plus the record of the plan and of the
statements the guest was given (``domain_metadata``), and into the live calls
a running domain needs. Everything here is pure: XML text in, XML text and
data out; ``plugins/modules/libvirt_pinning.py`` talks to libvirt.

Comparisons are semantic (parsed pins, parsed record), never textual: libvirt
reformats what it is given, and a textual comparison would report a change on
every run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import format_cpulist
from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import (
    NAMESPACE,
    PREFIX,
    ROOT,
    Record,
    find_record,
    render_record,
    set_record,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError
from ansible_collections.hvfleet.smt.plugins.module_utils.libvirt_domain import (
    DomainDefinition,
    parse_domain_xml,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.statement_document import (
    build_document,
    statements_from_data,
)

TOPOLOGY_KEYS = ("sockets", "dies", "clusters", "cores", "threads")
LIBVIRT_MIN_DIES = (6, 1)
LIBVIRT_MIN_CLUSTERS = (10, 1)
#: Namespaces commonly found in ``<metadata>``: registered so a round trip
#: through ElementTree keeps their prefixes instead of writing ``ns0``.
KNOWN_NAMESPACES = {
    "libosinfo": "http://libosinfo.org/xmlns/libvirt/domain/1.0",
    "qemu": "http://libvirt.org/schemas/domain/qemu/1.0",
}
for _prefix, _uri in KNOWN_NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)


class PinningError(HvfleetError, ValueError):
    """A plan that cannot be applied to this domain as it is; nothing was changed."""


Cpus = FrozenSet[int]


@dataclass(frozen=True)
class PinningTarget:
    """Where one guest's threads go and what topology it is shown (one planned guest)."""

    vcpus: Tuple[Cpus, ...]          # per vCPU id
    emulator: Cpus
    iothreads: Tuple[Cpus, ...]      # in the domain's iothread id order
    topology: Tuple[Tuple[str, int], ...]  # TOPOLOGY_KEYS order

    @property
    def topology_dict(self) -> Dict[str, int]:
        return dict(self.topology)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "vcpus": [sorted(cpus) for cpus in self.vcpus],
            "emulator": sorted(self.emulator),
            "iothreads": [sorted(cpus) for cpus in self.iothreads],
            "topology": self.topology_dict,
        }


def target_from_plan(entry: Any, source: str) -> PinningTarget:
    """Read one guest of a placement document (``source: plan``, docs/placement.md).

    Strict: every vCPU needs a non-empty CPU set, and the topology must
    multiply out to the vCPU count, because libvirt would refuse it anyway and
    a half-applied pinning is worse than none.
    """
    if not isinstance(entry, Mapping):
        raise PinningError("%s: expected a planned guest {vcpus, emulator, iothreads, topology}, got %r"
                           % (source, _short(entry)))
    vcpus = _cpu_sets(entry.get("vcpus"), source + ".vcpus", allow_empty_list=False)
    emulator = _cpu_set(entry.get("emulator"), source + ".emulator")
    iothreads = _cpu_sets(entry.get("iothreads", []), source + ".iothreads", allow_empty_list=True)
    raw = entry.get("topology")
    if not isinstance(raw, Mapping):
        raise PinningError("%s.topology: expected {sockets, dies, cores, threads}, got %r"
                           % (source, _short(raw)))
    topology = []
    for key in TOPOLOGY_KEYS:
        value = raw.get(key, 1 if key in ("dies", "clusters") else None)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PinningError("%s.topology.%s: expected a positive integer, got %r"
                               % (source, key, _short(value)))
        topology.append((key, value))
    product = 1
    for _key, value in topology:
        product *= value
    if product != len(vcpus):
        raise PinningError("%s.topology: %s makes %d vCPUs, but the plan pins %d"
                           % (source, _topology_text(dict(topology)), product, len(vcpus)))
    return PinningTarget(vcpus, emulator, iothreads, tuple(topology))


def _cpu_set(value: Any, where: str) -> Cpus:
    if not isinstance(value, (list, tuple)) or not value or not all(
            isinstance(cpu, int) and not isinstance(cpu, bool) and cpu >= 0 for cpu in value):
        raise PinningError("%s: expected a non-empty list of CPU ids, got %r" % (where, _short(value)))
    return frozenset(value)


def _cpu_sets(value: Any, where: str, allow_empty_list: bool) -> Tuple[Cpus, ...]:
    if not isinstance(value, (list, tuple)) or (not value and not allow_empty_list):
        raise PinningError("%s: expected a list with one CPU list per thread, got %r" % (where, _short(value)))
    return tuple(_cpu_set(item, "%s[%d]" % (where, index)) for index, item in enumerate(value))


# --------------------------------------------------------------------------
# The record's sections
# --------------------------------------------------------------------------

def plan_section(target: PinningTarget, entry: Mapping[str, Any], housekeeping: Optional[Sequence[int]]) -> Dict[str, Any]:
    """The ``plan`` section: the pins and topology as applied, and the policy that chose them.

    No timestamp: the section must be byte-identical when nothing changed, so
    a second run changes nothing.
    """
    section = target.as_dict()
    policy = entry.get("plan")
    section["policy"] = dict(policy) if isinstance(policy, Mapping) else None
    section["migration_domain"] = entry.get("migration_domain")
    section["housekeeping"] = sorted(housekeeping) if housekeeping is not None else None
    return section


def statements_section(statements: Any, host: str, migration_domain: Optional[str], now: str,
                       previous: Optional[Mapping[str, Any]], source: str) -> Dict[str, Any]:
    """The ``statements`` section: the statement document for these engine statements.

    ``statements`` is the hint engine's verdict for this guest (``smt_hints``,
    ``smt_statements`` or the planner's ``statements``); an absent statement
    is denied (``statements_from_data``). The document's ``issued`` time of
    ``previous`` is kept when nothing else differs, so re-running with the
    same statements is not a change (and the guest is not told anything new).
    """
    parsed = statements_from_data(statements, source)
    document = build_document(parsed, host, migration_domain, now).to_dict()
    if previous is not None and isinstance(previous.get("issued"), str):
        same = dict(previous, issued=None) == dict(document, issued=None)
        if same:
            document["issued"] = previous["issued"]
    return document


# --------------------------------------------------------------------------
# Domain XML
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class PinningUpdate:
    """The persistent definition with the plan applied, and what it changes."""

    xml: str
    changed: bool
    changes: Tuple[str, ...]         # human-readable, one per changed item
    record: Record


def apply_pinning(domain_xml: str, target: PinningTarget, record_sections: Mapping[str, Any],
                  libvirt_version: Sequence[int], source: str) -> PinningUpdate:
    """Return ``domain_xml`` (a persistent definition) with the plan and the record applied.

    ``record_sections`` holds the sections this writer owns (``plan``,
    ``statements``); the other sections of an existing record are kept.
    Everything of the domain outside ``<vcpu>``, ``<cputune>``'s pins,
    ``<cpu><topology>`` and our record is left as it was.
    """
    current = _parse(domain_xml, source)
    _check_counts(current, target, source)
    topology_attributes = _topology_attributes(target, libvirt_version, source)
    root = _root(domain_xml, source)
    old_record = find_record(domain_xml, source)
    record = old_record or Record()
    for name, value in record_sections.items():
        record = record.with_section(name, value)

    vcpu = root.find("vcpu")
    vcpu.set("placement", "static")
    vcpu.attrib.pop("cpuset", None)  # every thread gets an explicit pin below
    cputune = root.find("cputune")
    if cputune is None:
        cputune = ET.Element("cputune")
        root.insert(list(root).index(vcpu) + 1, cputune)
    for tag in ("vcpupin", "emulatorpin", "iothreadpin"):
        for element in cputune.findall(tag):
            cputune.remove(element)
    position = 0
    for vcpu_id, cpus in enumerate(target.vcpus):
        cputune.insert(position, ET.Element("vcpupin", {"vcpu": str(vcpu_id), "cpuset": format_cpulist(cpus)}))
        position += 1
    cputune.insert(position, ET.Element("emulatorpin", {"cpuset": format_cpulist(target.emulator)}))
    position += 1
    for iothread_id, cpus in zip(current.iothread_ids, target.iothreads):
        cputune.insert(position, ET.Element("iothreadpin", {"iothread": str(iothread_id),
                                                            "cpuset": format_cpulist(cpus)}))
        position += 1
    cpu = root.find("cpu")
    if cpu is None:
        cpu = ET.SubElement(root, "cpu")
    for element in cpu.findall("topology"):
        cpu.remove(element)
    cpu.insert(0, ET.Element("topology", topology_attributes))
    text = ET.tostring(root, encoding="unicode")
    text = set_record(text, record, source)

    changes = describe_differences(current, target, topology_attributes)
    if (old_record.to_dict() if old_record else None) != record.to_dict():
        changed_sections = [name for name in record_sections
                            if (getattr(old_record, name) if old_record else None) != record_sections[name]]
        changes.append("metadata record: %s" % ", ".join(changed_sections or ["added"]))
    return PinningUpdate(text, bool(changes), tuple(changes), record)


def describe_differences(current: DomainDefinition, target: PinningTarget,
                         topology_attributes: Mapping[str, str]) -> List[str]:
    """What differs between a parsed definition and the target, one line each (empty: nothing)."""
    changes = []
    if current.placement != "static" or current.cpuset is not None:
        changes.append("<vcpu>: placement='static' without cpuset (was placement=%r cpuset=%r)"
                       % (current.placement, format_cpulist(current.cpuset) if current.cpuset else None))
    for vcpu_id, cpus in enumerate(target.vcpus):
        now = current.vcpupins.get(vcpu_id)
        if now is None or frozenset(now) != cpus:
            changes.append("vcpupin %d: %s -> %s" % (vcpu_id, _fmt(now), format_cpulist(cpus)))
    if current.emulatorpin is None or frozenset(current.emulatorpin) != target.emulator:
        changes.append("emulatorpin: %s -> %s" % (_fmt(current.emulatorpin), format_cpulist(target.emulator)))
    for iothread_id, cpus in zip(current.iothread_ids, target.iothreads):
        now = current.iothreadpins.get(iothread_id)
        if now is None or frozenset(now) != cpus:
            changes.append("iothreadpin %d: %s -> %s" % (iothread_id, _fmt(now), format_cpulist(cpus)))
    if topology_changed(current, topology_attributes):
        changes.append("topology: %s -> %s" % (
            _topology_text(current.topology.as_dict()) if current.topology_declared else "none",
            _topology_text({k: int(v) for k, v in topology_attributes.items()})))
    return changes


def topology_changed(definition: DomainDefinition, topology_attributes: Mapping[str, str]) -> bool:
    if not definition.topology_declared:
        return True
    have = definition.topology.as_dict()
    return any(have.get(key, 1) != int(value) for key, value in topology_attributes.items())


@dataclass(frozen=True)
class LiveCall:
    """One live pinning call a running domain needs (virDomainPin*Flags with AFFECT_LIVE)."""

    kind: str       # vcpu | emulator | iothread
    ident: Optional[int]
    cpus: Cpus

    def describe(self) -> str:
        what = self.kind if self.ident is None else "%s %d" % (self.kind, self.ident)
        return "%s -> %s" % (what, format_cpulist(self.cpus))


def live_calls(live_xml: str, target: PinningTarget, source: str) -> Tuple[LiveCall, ...]:
    """The pin calls that bring a running domain's live pins to the target.

    Pins are the one part of a plan libvirt changes on a running guest
    without a restart, and changing them is safe: the guest sees nothing but
    its vCPU threads running elsewhere. The live XML's ``<cputune>`` is what
    libvirt applied; a pin it does not list is taken as different.
    """
    live = _parse(live_xml, source)
    _check_counts(live, target, source)
    calls = []
    for vcpu_id, cpus in enumerate(target.vcpus):
        if frozenset(live.vcpupins.get(vcpu_id) or ()) != cpus:
            calls.append(LiveCall("vcpu", vcpu_id, cpus))
    if frozenset(live.emulatorpin or ()) != target.emulator:
        calls.append(LiveCall("emulator", None, target.emulator))
    for iothread_id, cpus in zip(live.iothread_ids, target.iothreads):
        if frozenset(live.iothreadpins.get(iothread_id) or ()) != cpus:
            calls.append(LiveCall("iothread", iothread_id, cpus))
    return tuple(calls)


def restart_reasons(live_xml: str, target: PinningTarget, libvirt_version: Sequence[int], source: str) -> List[str]:
    """Why a running domain must be restarted for the plan to hold (empty: it need not).

    The topology is read by the guest once, at boot (CPUID, ACPI); libvirt
    cannot change it live.
    """
    live = _parse(live_xml, source)
    attributes = _topology_attributes(target, libvirt_version, source)
    if topology_changed(live, attributes):
        return ["the running guest was started with topology %s; the plan's %s applies at the next start"
                % (_topology_text(live.topology.as_dict()) if live.topology_declared else "none (one socket per vCPU)",
                   _topology_text({k: int(v) for k, v in attributes.items()}))]
    return []


def cpu_map(cpus: Cpus, host_cpus: int) -> Tuple[bool, ...]:
    """The boolean tuple libvirt-python's pin calls take, one entry per host CPU."""
    beyond = sorted(cpu for cpu in cpus if cpu >= host_cpus)
    if beyond:
        raise PinningError("CPUs %s are beyond the %d CPUs libvirt reports for this host"
                           % (format_cpulist(beyond), host_cpus))
    return tuple(cpu in cpus for cpu in range(host_cpus))


def pretty(domain_xml: str) -> str:
    """The XML re-indented the same way every time, for before/after diffs."""
    root = ET.fromstring(domain_xml)
    for element in root.iter():
        if element.text is not None and not element.text.strip():
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


def _topology_attributes(target: PinningTarget, libvirt_version: Sequence[int], source: str) -> Dict[str, str]:
    topology = target.topology_dict
    version = tuple(libvirt_version)
    attributes = {"sockets": str(topology["sockets"])}
    if version >= LIBVIRT_MIN_DIES:
        attributes["dies"] = str(topology["dies"])
    elif topology["dies"] != 1:
        raise PinningError("%s: topology dies=%d needs libvirt 6.1 or later, the host has %s"
                           % (source, topology["dies"], ".".join(map(str, version))))
    if version >= LIBVIRT_MIN_CLUSTERS:
        attributes["clusters"] = str(topology["clusters"])
    elif topology["clusters"] != 1:
        raise PinningError("%s: topology clusters=%d needs libvirt 10.1 or later, the host has %s"
                           % (source, topology["clusters"], ".".join(map(str, version))))
    attributes["cores"] = str(topology["cores"])
    attributes["threads"] = str(topology["threads"])
    return attributes


def _check_counts(definition: DomainDefinition, target: PinningTarget, source: str) -> None:
    if definition.max_vcpus != len(target.vcpus):
        raise PinningError(
            "%s: the domain has %d vCPUs, the plan pins %d; plan it with vcpus: %d (changing the vCPU "
            "count is not this role's business)"
            % (source, definition.max_vcpus, len(target.vcpus), definition.max_vcpus))
    if len(definition.iothread_ids) != len(target.iothreads):
        raise PinningError(
            "%s: the domain has %d iothreads, the plan pins %d; plan it with iothreads: %d"
            % (source, len(definition.iothread_ids), len(target.iothreads), len(definition.iothread_ids)))


def _parse(domain_xml: str, source: str) -> DomainDefinition:
    try:
        return parse_domain_xml(domain_xml, source)
    except HvfleetError as err:
        raise PinningError(str(err))


def _root(domain_xml: str, source: str) -> ET.Element:
    try:
        return ET.fromstring(domain_xml)
    except ET.ParseError as err:
        raise PinningError("%s: not well-formed XML (%s)" % (source, err))


def _topology_text(topology: Mapping[str, int]) -> str:
    return ", ".join("%s=%d" % (key, topology.get(key, 1)) for key in TOPOLOGY_KEYS if key in topology)


def _fmt(cpus: Optional[Sequence[int]]) -> str:
    return format_cpulist(cpus) if cpus else "unpinned"


def _short(value: Any, limit: int = 120) -> Any:
    text = repr(value)
    return value if len(text) <= limit else text[:limit] + "..."


def live_metadata_argument(record: Record) -> str:
    """The record as ``virDomainSetMetadata`` wants it: the root element without a namespace.

    libvirt puts the root into the namespace given by ``key``/``uri`` itself and
    refuses ("failed to create a new XML namespace") a root that already
    declares that prefix; the sections keep their own declaration so they stay
    in our namespace, which is how ``domain_metadata`` finds them.
    """
    rendered = ET.fromstring(render_record(record))
    parts = ['<%s version="%s">' % (ROOT, rendered.get("version"))]
    for child in rendered:
        name = child.tag.split("}", 1)[-1]
        parts.append('<%s:%s xmlns:%s="%s">%s</%s:%s>' % (
            PREFIX, name, PREFIX, NAMESPACE, escape(child.text or ""), PREFIX, name))
    parts.append("</%s>" % ROOT)
    return "".join(parts)
