# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn a guest's statements and planned topology into what a guest can read.

Three renderings of one plan (:class:`CpuidSettings`): libvirt domain XML
changes, QEMU arguments for hosts without libvirt, and a CPUID table an
operator can check inside the guest with any CPUID tool.

Only two statements have a CPUID channel today: ``dedicated`` (KVM's
``KVM_HINTS_REALTIME``, 0x40000001 EDX bit 0) and ``no_nonarch_core_sharing``
(Hyper-V's NoNonArchitecturalCoreSharing, 0x40000004 EAX bit 18, only when the
guest runs with Hyper-V enlightenments). The KVM bits proposed in 2019 never
merged -- bit 14 of 0x40000001 EAX is ``ASYNC_PF_INT`` now -- so nothing here
emits them. All four statements reach every guest through the statement
document (``statement_document.py``).

A denied statement has no path to a guest: the plan only ever contains
granted statements, and every emitter checks again and raises
:class:`RenderError` with the engine's reasons. Everything here is pure.
See docs/guest-channels.md.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import RenderError
from ansible_collections.hvfleet.smt.plugins.module_utils.statement_document import (
    FW_CFG_NAME,
    OEM_PREFIX,
    STATEMENT_NAMES,
    GuestStatements,
    Reason,
    Statement,
    statements_from_data,
)

#: Statements a CPUID bit can carry; the others travel only in the document.
CPUID_STATEMENTS = ("dedicated", "no_nonarch_core_sharing")
__all__ = [
    # re-exported: callers render from the engine's statements in one import
    "STATEMENT_NAMES", "GuestStatements", "Reason", "Statement", "statements_from_data",
    "CPUID_STATEMENTS", "VENDORS", "GuestTopology", "topology_from_data", "version_tuple",
    "CpuidSettings", "require_granted", "plan_cpuid", "qemu_arguments",
    "LibvirtChanges", "libvirt_changes", "DomainUpdate", "apply_libvirt_changes",
    "CpuidBits", "cpuid_table", "format_table", "RenderError",
    "KVM_SIGNATURE", "HYPERV_SIGNATURE", "HYPERV_INTERFACE", "QEMU_NS",
]

VENDORS = ("GenuineIntel", "AuthenticAMD")

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
#: QEMU's base CPU type on qemu-system-x86_64; ``-global`` reaches its
#: subclasses, including ``host-x86_64-cpu`` (checked with qom-get on 7.2).
QEMU_CPU_TYPE = "x86_64-cpu"
NONARCH_PROPERTY = "hv-no-nonarch-coresharing"

# Versions that introduced what is rendered (QEMU and libvirt release notes).
QEMU_MIN_HINT_DEDICATED = (2, 12)
QEMU_MIN_SMP_DIES = (4, 1)
QEMU_MIN_NONARCH = (4, 2)
LIBVIRT_MIN_HINT_DEDICATED = (5, 7)
LIBVIRT_MIN_DIES = (6, 1)
LIBVIRT_MIN_CLUSTERS = (10, 1)
LIBVIRT_MIN_OEM_STRINGS = (4, 1)
LIBVIRT_MIN_FWCFG = (6, 5)

# CPUID constants (arch/x86/include/uapi/asm/kvm_para.h, hyperv-tlfs.h).
KVM_SIGNATURE = (0x4B4D564B, 0x564B4D56, 0x0000004D)  # "KVMKVMKVM\0\0\0"
HYPERV_SIGNATURE = (0x7263694D, 0x666F736F, 0x76482074)  # "Microsoft Hv"
HYPERV_INTERFACE = 0x31237648  # "Hv#1"


# --------------------------------------------------------------------------
# Input model (statements live in statement_document, which the guest shares)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class GuestTopology:
    sockets: int
    dies: int
    clusters: int
    cores: int
    threads: int

    @property
    def vcpus(self) -> int:
        return self.sockets * self.dies * self.clusters * self.cores * self.threads


def topology_from_data(data: Any, source: str = "topology") -> GuestTopology:
    """Read ``{sockets, dies, clusters?, cores, threads}``; dies and clusters default to 1."""
    if not isinstance(data, Mapping):
        raise RenderError("%s: expected a mapping with sockets, dies, cores, threads, got %r"
                          % (source, _short(data)))
    values = {}
    for key in ("sockets", "dies", "clusters", "cores", "threads"):
        value = data.get(key, 1 if key in ("dies", "clusters") else None)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RenderError("%s.%s: expected a positive integer, got %r"
                              % (source, key, _short(value)))
        values[key] = value
    return GuestTopology(**values)


def version_tuple(value: Any, what: str) -> Tuple[int, ...]:
    """``"9.0.0"``, ``"7.2.22 (Debian …)"``, ``[9, 0]`` → ``(9, 0, 0)``-style tuples."""
    if isinstance(value, str):
        match = re.match(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?", value)
        if match:
            return tuple(int(part) for part in match.groups() if part is not None)
    elif isinstance(value, (list, tuple)) and value and all(
            isinstance(part, int) and not isinstance(part, bool) and part >= 0 for part in value):
        return tuple(value)
    raise RenderError("%s version: expected MAJOR.MINOR[.MICRO], got %r" % (what, _short(value)))


# --------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class CpuidSettings:
    """What one guest's vCPUs are given; every renderer works from this alone.

    ``hyperv``: the guest runs with Hyper-V enlightenments (an opt-in, for
    Windows and Hyper-V guests). QEMU builds Hyper-V leaves only when at least
    one ``hv-*`` enlightenment is on, so the plan then always carries
    ``hv-relaxed`` -- the one with no dependencies and no state -- and KVM's
    own leaves move to 0x40000100.
    """

    topology: GuestTopology
    vendor: Optional[str]
    hyperv: bool
    hint_dedicated: bool
    hv_no_nonarch_coresharing: bool

    @property
    def delivered(self) -> Tuple[str, ...]:
        """Statements a CPUID bit carries to this guest."""
        names = []
        if self.hint_dedicated:
            names.append("dedicated")
        if self.hv_no_nonarch_coresharing:
            names.append("no_nonarch_core_sharing")
        return tuple(names)

    @property
    def needs_topoext(self) -> bool:
        """AMD guests see sibling threads only through TOPOEXT (0x8000001E)."""
        return self.vendor == "AuthenticAMD" and self.topology.threads > 1

    @property
    def kvm_base(self) -> int:
        return 0x40000100 if self.hyperv else 0x40000000


def require_granted(statement: Statement) -> None:
    """The single gate between a statement and a guest: raise unless granted."""
    if statement.granted is not True:
        codes = ", ".join(reason.code for reason in statement.reasons) or "no reason given"
        raise RenderError(
            "refusing to emit %s: the hint engine did not grant it (%s)" % (statement.name, codes),
            statement=statement.name,
            reasons=tuple((reason.code, reason.message) for reason in statement.reasons),
        )


def plan_cpuid(
    statements: GuestStatements,
    topology: GuestTopology,
    hyperv: bool = False,
    vendor: Optional[str] = None,
    request: Optional[Iterable[str]] = None,
) -> CpuidSettings:
    """Decide which CPUID settings a guest gets.

    ``request`` names the statements the caller wants carried by CPUID. By
    default it is every granted one that has a channel for this guest
    (``no_nonarch_core_sharing`` only with ``hyperv``). Asking for a denied
    statement raises with the engine's reasons; asking for one without a CPUID
    channel raises too, so a caller cannot believe it was delivered.

    The topology is configuration, not a statement: it is always rendered, and
    whether the guest may trust it is ``accurate_topology`` in the document.
    """
    if not isinstance(hyperv, bool):
        raise RenderError("hyperv: expected true or false, got %r" % (_short(hyperv),))
    if vendor is not None and vendor not in VENDORS:
        raise RenderError("vendor: expected one of %s or none, got %r"
                          % (", ".join(VENDORS), _short(vendor)))
    if topology.clusters != 1:
        raise RenderError(
            "topology.clusters: x86 QEMU has no cluster level (QEMU 9.1 added 'modules' "
            "instead), so clusters must be 1, got %d" % topology.clusters)
    if request is None:
        wanted = [name for name in CPUID_STATEMENTS if statements.get(name).granted
                  and (hyperv or name != "no_nonarch_core_sharing")]
    else:
        wanted = list(request)
        for name in wanted:
            if name not in CPUID_STATEMENTS:
                raise RenderError(
                    "%s has no CPUID channel (only %s do); it reaches the guest in the "
                    "statement document" % (name, ", ".join(CPUID_STATEMENTS)))
            require_granted(statements.get(name))
            if name == "no_nonarch_core_sharing" and not hyperv:
                raise RenderError(
                    "no_nonarch_core_sharing is a Hyper-V CPUID bit: the guest must opt in "
                    "to Hyper-V enlightenments (hyperv: true) to read it")
    return CpuidSettings(
        topology=topology,
        vendor=vendor,
        hyperv=hyperv,
        hint_dedicated=_emit("dedicated", wanted, statements),
        hv_no_nonarch_coresharing=_emit("no_nonarch_core_sharing", wanted, statements),
    )


def _emit(name: str, wanted: Sequence[str], statements: GuestStatements) -> bool:
    if name not in wanted:
        return False
    require_granted(statements.get(name))
    return True


# --------------------------------------------------------------------------
# QEMU arguments
# --------------------------------------------------------------------------

CPU_FLAG = re.compile(r"^[+-]?[a-z0-9][a-z0-9_.-]*(=[A-Za-z0-9_.:-]+)?$")


def qemu_arguments(
    settings: CpuidSettings,
    qemu_version: Any,
    cpu_model: str = "host",
    extra_cpu_flags: Sequence[str] = (),
    enforce: bool = True,
) -> List[str]:
    """``-smp`` and ``-cpu`` for a QEMU started without libvirt (argument list, no shell).

    ``enforce`` makes QEMU refuse to start when the host cannot provide a
    requested feature, instead of warning and dropping it: a granted statement
    that silently does not arrive, or an AMD guest without TOPOEXT that sees
    no siblings, would make the CPUID table wrong. ``extra_cpu_flags`` is for
    host quirks such as ``-arch-capabilities``.
    """
    version = version_tuple(qemu_version, "QEMU")
    if not CPU_FLAG.match(cpu_model) or cpu_model.startswith(("+", "-")):
        raise RenderError("cpu_model: expected a QEMU CPU model name, got %r" % (_short(cpu_model),))
    flags = []
    for flag in extra_cpu_flags:
        if not isinstance(flag, str) or not CPU_FLAG.match(flag):
            raise RenderError("extra_cpu_flags: expected flags like '-arch-capabilities' or "
                              "'name=value' (no commas), got %r" % (_short(flag),))
        flags.append(flag)
    if settings.hint_dedicated:
        _require_version(version, QEMU_MIN_HINT_DEDICATED, "QEMU", "kvm-hint-dedicated")
        flags.append("kvm-hint-dedicated=on")
    if settings.hyperv:
        flags.append("hv-relaxed=on")
    if settings.hv_no_nonarch_coresharing:
        _require_version(version, QEMU_MIN_NONARCH, "QEMU", NONARCH_PROPERTY)
        flags.append("%s=on" % NONARCH_PROPERTY)
    if settings.needs_topoext:
        flags.append("topoext=on")
    if enforce:
        flags.append("enforce")
    return ["-smp", _smp_value(settings.topology, version), "-cpu", ",".join([cpu_model] + flags)]


def _smp_value(topology: GuestTopology, version: Tuple[int, ...]) -> str:
    parts = [str(topology.vcpus), "sockets=%d" % topology.sockets]
    if version >= QEMU_MIN_SMP_DIES:
        parts.append("dies=%d" % topology.dies)
    elif topology.dies != 1:
        raise RenderError("topology.dies=%d needs QEMU %s or later, the target has %s"
                          % (topology.dies, _dotted(QEMU_MIN_SMP_DIES), _dotted(version)))
    parts += ["cores=%d" % topology.cores, "threads=%d" % topology.threads]
    return ",".join(parts)


# --------------------------------------------------------------------------
# libvirt domain XML
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class LibvirtChanges:
    """The domain XML changes, as data: what to set and what must not be there.

    Applied by :func:`apply_libvirt_changes`; kept as data so a role can show
    and compare them without parsing XML. ``qemu_args`` are this collection's
    ``<qemu:commandline>`` arguments; libvirt marks a domain that has any as
    tainted (``custom-argv``), listed in ``taints``.
    """

    topology: Tuple[Tuple[str, str], ...]  # ordered <topology> attributes
    require_features: Tuple[str, ...]  # <cpu><feature policy='require' name=…/>
    hint_dedicated: bool
    hyperv_relaxed: bool
    qemu_args: Tuple[str, ...]
    fw_cfg: Optional[Tuple[str, str]]  # (name, value) for <sysinfo type='fwcfg'>
    oem_string: Optional[Tuple[str, str]]  # (prefix, full string) for <oemStrings>
    taints: Tuple[str, ...]
    notes: Tuple[str, ...]

    def to_dict(self) -> Dict[str, Any]:
        return {
            "cpu": {"mode": "host-passthrough", "topology": dict(self.topology),
                    "require_features": list(self.require_features)},
            "kvm_hint_dedicated": self.hint_dedicated,
            "hyperv_relaxed": self.hyperv_relaxed,
            "qemu_commandline": list(self.qemu_args),
            "fw_cfg": None if self.fw_cfg is None else {"name": self.fw_cfg[0], "value": self.fw_cfg[1]},
            "oem_string": None if self.oem_string is None else self.oem_string[1],
            "taints": list(self.taints),
            "notes": list(self.notes),
        }


def libvirt_changes(
    settings: CpuidSettings,
    libvirt_version: Any,
    fw_cfg: Optional[Tuple[str, str]] = None,
    oem_string: Optional[Tuple[str, str]] = None,
) -> LibvirtChanges:
    """Describe the domain XML for ``settings`` on a host with ``libvirt_version``.

    ``fw_cfg`` and ``oem_string`` carry the statement document
    (``statement_document.libvirt_entries``); a channel the libvirt version
    lacks is left out with a note rather than failing the CPUID settings.
    """
    version = version_tuple(libvirt_version, "libvirt")
    topology = settings.topology
    attributes = [("sockets", str(topology.sockets))]
    if version >= LIBVIRT_MIN_DIES:
        attributes.append(("dies", str(topology.dies)))
    elif topology.dies != 1:
        raise RenderError("topology.dies=%d needs libvirt %s or later, the host has %s"
                          % (topology.dies, _dotted(LIBVIRT_MIN_DIES), _dotted(version)))
    if version >= LIBVIRT_MIN_CLUSTERS:
        attributes.append(("clusters", str(topology.clusters)))
    attributes += [("cores", str(topology.cores)), ("threads", str(topology.threads))]
    if settings.hint_dedicated:
        _require_version(version, LIBVIRT_MIN_HINT_DEDICATED, "libvirt", "<kvm><hint-dedicated>")
    qemu_args = ()
    if settings.hv_no_nonarch_coresharing:
        qemu_args = ("-global", "%s.%s=on" % (QEMU_CPU_TYPE, NONARCH_PROPERTY))
    notes = []
    if fw_cfg is not None and version < LIBVIRT_MIN_FWCFG:
        notes.append("libvirt %s has no <sysinfo type='fwcfg'> (%s+): the statement document "
                     "is not delivered by fw_cfg" % (_dotted(version), _dotted(LIBVIRT_MIN_FWCFG)))
        fw_cfg = None
    if oem_string is not None and version < LIBVIRT_MIN_OEM_STRINGS:
        notes.append("libvirt %s has no <oemStrings> (%s+): the statement document is not "
                     "delivered by SMBIOS" % (_dotted(version), _dotted(LIBVIRT_MIN_OEM_STRINGS)))
        oem_string = None
    return LibvirtChanges(
        topology=tuple(attributes),
        require_features=("topoext",) if settings.needs_topoext else (),
        hint_dedicated=settings.hint_dedicated,
        hyperv_relaxed=settings.hyperv,
        qemu_args=qemu_args,
        fw_cfg=fw_cfg,
        oem_string=oem_string,
        taints=("custom-argv",) if qemu_args else (),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class DomainUpdate:
    xml: str
    changed: bool
    notes: Tuple[str, ...]


def apply_libvirt_changes(domain_xml: str, changes: LibvirtChanges,
                          source: str = "domain XML") -> DomainUpdate:
    """Return the domain XML with ``changes`` applied, and whether anything changed.

    Authoritative for what this collection owns, so a statement withdrawn
    since the last run is taken back: ``<hint-dedicated>`` is removed unless
    granted, this collection's ``-global`` pair and document entries are
    replaced. Everything else in the domain is kept. Idempotent: applying the
    result again changes nothing.
    """
    ET.register_namespace("qemu", QEMU_NS)
    try:
        root = ET.fromstring(domain_xml)
    except ET.ParseError as exc:
        raise RenderError("%s: not well-formed XML (%s)" % (source, exc))
    if root.tag != "domain":
        raise RenderError("%s: expected a <domain> element, got <%s>" % (source, root.tag))
    before = _normalized(root)
    notes = list(changes.notes)
    _apply_cpu(root, changes)
    _apply_kvm_hint(root, changes.hint_dedicated)
    _apply_hyperv(root, changes.hyperv_relaxed, source)
    _apply_qemu_args(root, changes.qemu_args)
    _apply_fw_cfg(root, changes.fw_cfg)
    notes += _apply_oem_string(root, changes.oem_string)
    changed = _normalized(root) != before
    ET.indent(root, space="  ")
    return DomainUpdate(ET.tostring(root, encoding="unicode") + "\n", changed, tuple(notes))


def _child(parent: ET.Element, tag: str, **attributes: str) -> ET.Element:
    """The first child ``tag`` whose attributes include ``attributes``, created if absent."""
    for element in parent.findall(tag):
        if all(element.get(key) == value for key, value in attributes.items()):
            return element
    return ET.SubElement(parent, tag, attributes)


def _apply_cpu(root: ET.Element, changes: LibvirtChanges) -> None:
    cpu = _child(root, "cpu")
    cpu.set("mode", "host-passthrough")
    cpu.attrib.pop("match", None)  # meaningful only for custom models
    for tag in ("model", "vendor"):
        for element in cpu.findall(tag):
            cpu.remove(element)
    for element in cpu.findall("topology"):
        cpu.remove(element)
    cpu.insert(0, ET.Element("topology", dict(changes.topology)))
    for name in changes.require_features:
        _child(cpu, "feature", name=name).set("policy", "require")


def _apply_kvm_hint(root: ET.Element, granted: bool) -> None:
    features = root.find("features")
    if not granted:
        kvm = features.find("kvm") if features is not None else None
        if kvm is not None:
            for element in kvm.findall("hint-dedicated"):
                kvm.remove(element)
            if len(kvm) == 0:
                features.remove(kvm)
        return
    kvm = _child(_child(root, "features"), "kvm")
    _child(kvm, "hint-dedicated").set("state", "on")


def _apply_hyperv(root: ET.Element, relaxed: bool, source: str) -> None:
    features = root.find("features")
    hyperv = features.find("hyperv") if features is not None else None
    if not relaxed:
        if hyperv is not None and _hyperv_enabled(hyperv):
            raise RenderError(
                "%s: the domain already has Hyper-V enlightenments, so KVM's leaves are at "
                "0x40000100; render with hyperv: true so the CPUID table matches" % source)
        return
    if hyperv is None:
        hyperv = ET.SubElement(_child(root, "features"), "hyperv")
    if hyperv.get("mode") == "passthrough":
        return  # every enlightenment KVM has; Hyper-V leaves are built anyway
    _child(hyperv, "relaxed").set("state", "on")


def _hyperv_enabled(hyperv: ET.Element) -> bool:
    if hyperv.get("mode") == "passthrough":
        return True
    return any(element.get("state") == "on" for element in hyperv
               if element.tag not in ("vendor_id",))


def _apply_qemu_args(root: ET.Element, args: Tuple[str, ...]) -> None:
    commandline = root.find("{%s}commandline" % QEMU_NS)
    if commandline is not None:
        elements = commandline.findall("{%s}arg" % QEMU_NS)
        for first, second in zip(elements, elements[1:]):
            if first.get("value") == "-global" and (second.get("value") or "").startswith(
                    "%s.%s=" % (QEMU_CPU_TYPE, NONARCH_PROPERTY)):
                commandline.remove(first)
                commandline.remove(second)
    if args:
        if commandline is None:
            commandline = ET.SubElement(root, "{%s}commandline" % QEMU_NS)
        for value in args:
            ET.SubElement(commandline, "{%s}arg" % QEMU_NS, {"value": value})
    if commandline is not None and len(commandline) == 0:
        root.remove(commandline)


def _apply_fw_cfg(root: ET.Element, entry: Optional[Tuple[str, str]]) -> None:
    sysinfo = next((s for s in root.findall("sysinfo") if s.get("type") == "fwcfg"), None)
    if sysinfo is not None:
        for element in sysinfo.findall("entry"):
            if element.get("name") == FW_CFG_NAME:
                sysinfo.remove(element)
    if entry is not None:
        if sysinfo is None:
            sysinfo = ET.SubElement(root, "sysinfo", {"type": "fwcfg"})
        ET.SubElement(sysinfo, "entry", {"name": entry[0]}).text = entry[1]
    if sysinfo is not None and len(sysinfo) == 0:
        root.remove(sysinfo)


def _apply_oem_string(root: ET.Element, entry: Optional[Tuple[str, str]]) -> List[str]:
    sysinfo = next((s for s in root.findall("sysinfo") if s.get("type") == "smbios"), None)
    strings = sysinfo.find("oemStrings") if sysinfo is not None else None
    if strings is not None:
        for element in strings.findall("entry"):
            if (element.text or "").startswith(OEM_PREFIX):
                strings.remove(element)
    notes = []
    if entry is not None:
        if sysinfo is None:
            sysinfo = ET.SubElement(root, "sysinfo", {"type": "smbios"})
        if strings is None:
            strings = ET.SubElement(sysinfo, "oemStrings")
        ET.SubElement(strings, "entry").text = entry[1]
        os_element = _child(root, "os")
        smbios = os_element.find("smbios")
        if smbios is None:
            ET.SubElement(os_element, "smbios", {"mode": "sysinfo"})
        elif smbios.get("mode") != "sysinfo":
            notes.append("<os><smbios mode='%s'/> is kept: libvirt passes <oemStrings> only "
                         "with mode='sysinfo', so the SMBIOS channel does not reach this guest "
                         "(fw_cfg still does)" % smbios.get("mode"))
    if strings is not None and len(strings) == 0:
        sysinfo.remove(strings)
    if sysinfo is not None and len(sysinfo) == 0:
        root.remove(sysinfo)
    return notes


def _normalized(element: ET.Element) -> Tuple[Any, ...]:
    """Structure and content without formatting whitespace, for the changed flag."""
    return (element.tag, tuple(sorted(element.attrib.items())), (element.text or "").strip(),
            tuple(_normalized(child) for child in element))


# --------------------------------------------------------------------------
# CPUID table
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class CpuidBits:
    """One field of one CPUID register, with the value a guest should read there.

    ``cause`` is the statement that set it, ``hyperv`` for the enlightenment
    prerequisite, or ``topology``. ``vendor`` is None when every vendor's
    guests read the field. ``condition`` says when the field exists at all.
    """

    leaf: int
    subleaf: Optional[int]
    register: str
    high: int
    low: int
    value: int
    meaning: str
    cause: str
    vendor: Optional[str] = None
    condition: str = ""

    @property
    def mask(self) -> int:
        return ((1 << (self.high - self.low + 1)) - 1) << self.low

    def extract(self, register_value: int) -> int:
        return (register_value & self.mask) >> self.low

    def to_dict(self) -> Dict[str, Any]:
        return {
            "leaf": "0x%08X" % self.leaf,
            "subleaf": None if self.subleaf is None else self.subleaf,
            "register": self.register,
            "bits": str(self.low) if self.high == self.low else "%d:%d" % (self.high, self.low),
            "value": self.value,
            "meaning": self.meaning,
            "cause": self.cause,
            "vendor": self.vendor,
            "condition": self.condition,
        }


def cpuid_table(settings: CpuidSettings) -> Tuple[CpuidBits, ...]:
    """Every CPUID field the settings decide, as QEMU 7.2 builds it.

    The statement bits are listed whether set or not (value 0 when not
    granted), so a guest can be checked for a bit that must be absent. With
    ``settings.vendor`` unknown, rows for both vendors are listed and tagged.
    Topology rows follow QEMU 7.2's formulas (which count one die where the
    SDM says package), checked against real QEMU by the cpuid_kvm tests.
    """
    rows = list(_hypervisor_rows(settings)) + list(_topology_rows(settings.topology))
    if settings.needs_topoext:
        rows.append(CpuidBits(0x80000001, None, "ecx", 22, 22, 1,
                              "TOPOEXT: QEMU does not turn it on for -cpu host by itself, and "
                              "without it an AMD guest sees no sibling threads", "topology",
                              "AuthenticAMD"))
    if settings.vendor is not None:
        rows = [row for row in rows if row.vendor in (None, settings.vendor)]
    return tuple(rows)


def _hypervisor_rows(settings: CpuidSettings) -> Iterable[CpuidBits]:
    base = settings.kvm_base
    where = "KVM leaves moved to 0x40000100 by Hyper-V enlightenments" if settings.hyperv else ""
    for register, value in zip(("ebx", "ecx", "edx"), KVM_SIGNATURE):
        yield CpuidBits(base, None, register, 31, 0, value,
                        "KVM signature 'KVMKVMKVM' (a guest scans 0x40000000-0x4000FF00 in "
                        "steps of 0x100 for it)", "hyperv" if settings.hyperv else "kvm",
                        condition=where)
    yield CpuidBits(base + 1, None, "edx", 0, 0, int(settings.hint_dedicated),
                    "KVM_HINTS_REALTIME: vCPUs are never preempted for an unlimited time",
                    "dedicated", condition=where)
    if not settings.hyperv:
        return
    for register, value in zip(("ebx", "ecx", "edx"), HYPERV_SIGNATURE):
        yield CpuidBits(0x40000000, None, register, 31, 0, value,
                        "Hyper-V vendor 'Microsoft Hv'", "hyperv")
    yield CpuidBits(0x40000001, None, "eax", 31, 0, HYPERV_INTERFACE,
                    "Hyper-V interface signature 'Hv#1'", "hyperv")
    yield CpuidBits(0x40000003, None, "eax", 5, 5, 1,
                    "hypercall MSRs available (QEMU sets it with any enlightenment)", "hyperv")
    yield CpuidBits(0x40000004, None, "eax", 5, 5, 1,
                    "relaxed timing recommended (hv-relaxed: the minimal enlightenment that "
                    "makes QEMU build Hyper-V leaves)", "hyperv")
    yield CpuidBits(0x40000004, None, "eax", 18, 18, int(settings.hv_no_nonarch_coresharing),
                    "NoNonArchitecturalCoreSharing: virtual processors never share a physical "
                    "core except as reported sibling SMT threads", "no_nonarch_core_sharing")


def _width(count: int) -> int:
    """Bits of APIC ID a level with ``count`` members takes (QEMU's apicid_bitwidth_for_count)."""
    return (count - 1).bit_length()


def _topology_rows(topology: GuestTopology) -> Iterable[CpuidBits]:
    threads, cores, dies = topology.threads, topology.cores, topology.dies
    per_die = cores * threads
    smt_width = _width(threads)
    die_offset = smt_width + _width(cores)
    package_offset = die_offset + _width(dies)
    yield CpuidBits(0x1, None, "ebx", 23, 16, per_die if per_die > 1 else 0,
                    "logical processors per package (QEMU 7.2 counts one die)", "topology")
    for subleaf, (offset, count, level) in enumerate(
            ((smt_width, threads, 1), (package_offset, per_die, 2))):
        yield from _extended_topology_level(0xB, subleaf, offset, count, level, None, "")
    if dies > 1:
        condition = "only with dies > 1; QEMU raises the basic leaf limit to 0x1F for Intel models"
        levels = ((smt_width, threads, 1), (die_offset, per_die, 2),
                  (package_offset, dies * per_die, 5))
        for subleaf, (offset, count, level) in enumerate(levels):
            yield from _extended_topology_level(0x1F, subleaf, offset, count, level,
                                                "GenuineIntel", condition)
    yield CpuidBits(0x4, 0, "eax", 31, 26, cores - 1,
                    "cores per package - 1 (QEMU 7.2 counts one die)", "topology",
                    "GenuineIntel", "with host-cache-info=on and one core, QEMU keeps the "
                    "host's value")
    yield CpuidBits(0x80000008, None, "ecx", 7, 0, per_die - 1,
                    "NC: logical processors per package - 1 (QEMU 7.2 counts one die)",
                    "topology", "AuthenticAMD")
    yield CpuidBits(0x80000008, None, "ecx", 15, 12, package_offset if per_die > 1 else 0,
                    "ApicIdSize: APIC ID bits below the package", "topology", "AuthenticAMD")
    topoext = "read by guests only when 0x80000001 ECX bit 22 (TOPOEXT) is set"
    yield CpuidBits(0x8000001E, None, "ebx", 15, 8, threads - 1,
                    "threads per core - 1", "topology", "AuthenticAMD", topoext)
    yield CpuidBits(0x8000001E, None, "ecx", 10, 8, dies - 1,
                    "nodes per processor - 1 (QEMU maps dies to nodes)", "topology",
                    "AuthenticAMD", topoext)


def _extended_topology_level(leaf, subleaf, offset, count, level, vendor, condition):
    names = {1: "SMT", 2: "core", 5: "die"}
    yield CpuidBits(leaf, subleaf, "eax", 4, 0, offset,
                    "APIC ID shift to the next level above %s" % names[level], "topology",
                    vendor, condition)
    yield CpuidBits(leaf, subleaf, "ebx", 15, 0, count,
                    "logical processors at %s level (QEMU 7.2 counts one die)" % names[level]
                    if level == 2 else "logical processors at %s level" % names[level],
                    "topology", vendor, condition)
    yield CpuidBits(leaf, subleaf, "ecx", 15, 8, level,
                    "level type %d (%s)" % (level, names[level]), "topology", vendor, condition)


def format_table(rows: Sequence[CpuidBits]) -> str:
    """A fixed-width text table for operators and test output."""
    lines = ["%-10s %-4s %-3s %-5s %-10s %-24s %s" % (
        "leaf", "sub", "reg", "bits", "value", "cause", "meaning")]
    for row in rows:
        item = row.to_dict()
        meaning = row.meaning + (" [%s]" % row.vendor if row.vendor else "") + (
            " (%s)" % row.condition if row.condition else "")
        lines.append("%-10s %-4s %-3s %-5s %-10s %-24s %s" % (
            item["leaf"], "-" if row.subleaf is None else row.subleaf, row.register,
            item["bits"], "0x%X" % row.value, row.cause, meaning))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _require_version(version, minimum, product, feature):
    if version < minimum:
        raise RenderError("%s needs %s %s or later, the target has %s"
                          % (feature, product, _dotted(minimum), _dotted(version)))


def _dotted(version: Sequence[int]) -> str:
    return ".".join(str(part) for part in version)


def _short(value: Any, limit: int = 120) -> Any:
    text = repr(value)
    return value if len(text) <= limit else text[:limit] + "..."
