# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One guest's CPUID settings and statement document, applied to a domain or an argument file.

``cpuid.py`` renders; this decides what one guest gets from the engine's
statements and its planned topology, applies it to a libvirt definition
together with the metadata record (``statements`` and ``emitted``), and
reads back what a previous run wrote, so re-running changes nothing. Pure:
``plugins/modules/guest_cpuid_settings.py`` talks to libvirt and the disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils import cpuid
from ansible_collections.hvfleet.smt.plugins.module_utils import statement_document as sd
from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import Record, find_record, set_record
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import DocumentError, RenderError
from ansible_collections.hvfleet.smt.plugins.module_utils.pinning_xml import statements_section


@dataclass(frozen=True)
class GuestCpuid:
    """What one guest is given: CPUID settings and the document text (None: no document)."""

    settings: cpuid.CpuidSettings
    document: Optional[Dict[str, Any]]
    text: Optional[str]

    def table(self) -> List[Dict[str, Any]]:
        return [row.to_dict() for row in cpuid.cpuid_table(self.settings)]

    def table_text(self) -> str:
        return cpuid.format_table(cpuid.cpuid_table(self.settings))


def decide(statements: Any, topology: Any, hyperv: bool, vendor: Optional[str], request: Optional[Sequence[str]],
           document: bool, host: str, migration_domain: Optional[str], now: str,
           previous_document: Optional[Mapping[str, Any]], source: str) -> GuestCpuid:
    """Settings from the engine's statements; the document keeps ``previous_document``'s issue time
    when nothing else changed (see ``pinning_xml.statements_section``)."""
    parsed = sd.statements_from_data(statements, "statements for %s" % source)
    settings = cpuid.plan_cpuid(parsed, cpuid.topology_from_data(topology, "topology for %s" % source),
                                hyperv=hyperv, vendor=vendor, request=request)
    if not document:
        return GuestCpuid(settings, None, None)
    doc = statements_section(statements, host, migration_domain, now, previous_document,
                             "statements for %s" % source)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    sd.parse_document(text, "statement document for %s" % source)  # the guest's parser must accept it
    return GuestCpuid(settings, doc, text)


@dataclass(frozen=True)
class CpuidDomainUpdate:
    xml: str
    changed: bool
    changes: cpuid.LibvirtChanges
    record: Record
    emitted: Dict[str, Any]
    notes: Tuple[str, ...]


def apply_to_domain(domain_xml: str, guest: GuestCpuid, libvirt_version: Any, source: str) -> CpuidDomainUpdate:
    """The persistent definition with the CPUID settings, the document channels and the record."""
    fw_cfg = oem = None
    if guest.text is not None:
        fw_cfg, oem = sd.libvirt_entries(guest.text)
    changes = cpuid.libvirt_changes(guest.settings, libvirt_version, fw_cfg, oem)
    update = cpuid.apply_libvirt_changes(domain_xml, changes, source)
    smbios_lost = any("SMBIOS channel does not reach" in note for note in update.notes)
    emitted = {"cpuid": list(guest.settings.delivered), "fw_cfg": changes.fw_cfg is not None,
               "smbios": changes.oem_string is not None and not smbios_lost}
    old = find_record(domain_xml, source)
    record = (old or Record()).with_section("emitted", emitted)
    if guest.document is not None:
        record = record.with_section("statements", guest.document)
    xml = set_record(update.xml, record, source)
    record_changed = (old.to_dict() if old else None) != record.to_dict()
    return CpuidDomainUpdate(xml, update.changed or record_changed, changes, record, emitted, update.notes)


def restart_reasons(live_xml: str, guest: GuestCpuid, libvirt_version: Any, source: str) -> List[str]:
    """Why a running guest must restart: CPUID and firmware tables are built when QEMU starts.

    Applying the same changes to the live definition would change it exactly
    when the running QEMU was started with other settings.
    """
    fw_cfg = oem = None
    if guest.text is not None:
        fw_cfg, oem = sd.libvirt_entries(guest.text)
    changes = cpuid.libvirt_changes(guest.settings, libvirt_version, fw_cfg, oem)
    if cpuid.apply_libvirt_changes(live_xml, changes, source).changed:
        return ["the running guest was started with other CPUID settings or statement document; "
                "the guest reads CPUID and firmware tables only at start"]
    return []


def recorded_topology(domain_xml: str, source: str) -> Optional[Dict[str, int]]:
    """The topology cpu_pinning applied (the record's ``plan`` section), or None."""
    record = find_record(domain_xml, source)
    if record is None or record.plan is None:
        return None
    topology = record.plan.get("topology")
    return dict(topology) if isinstance(topology, Mapping) else None


def recorded_document(domain_xml: str, source: str) -> Optional[Mapping[str, Any]]:
    record = find_record(domain_xml, source)
    return None if record is None else record.statements


# --------------------------------------------------------------------------
# QEMU argument files (hosts without libvirt)
# --------------------------------------------------------------------------

def qemu_argument_lines(guest: GuestCpuid, qemu_version: Any, cpu_model: str,
                        extra_cpu_flags: Sequence[str]) -> List[str]:
    """``-smp``/``-cpu`` and the document's ``-fw_cfg``/``-smbios``, one argument per line.

    One per line and no shell quoting: ``mapfile -t args < FILE; qemu-system-x86_64 "${args[@]}" ...``.
    """
    arguments = cpuid.qemu_arguments(guest.settings, qemu_version, cpu_model=cpu_model,
                                     extra_cpu_flags=extra_cpu_flags)
    if guest.text is not None:
        arguments += sd.qemu_arguments(guest.text)
    for argument in arguments:
        if "\n" in argument:
            raise RenderError("QEMU argument %r holds a newline; the file has one argument per line" % argument)
    return arguments


def document_from_argument_file(text: Optional[str], source: str) -> Optional[Mapping[str, Any]]:
    """The statement document a previous run wrote into an argument file (None if none or unreadable)."""
    if not text:
        return None
    lines = text.splitlines()
    for index, line in enumerate(lines[:-1]):
        if line == "-fw_cfg" and lines[index + 1].startswith("name=%s,string=" % sd.FW_CFG_NAME):
            content = lines[index + 1].split(",string=", 1)[1].replace(",,", ",")
            try:
                return sd.parse_document(sd.document_from_fw_cfg(content, source), source).to_dict()
            except DocumentError:
                return None
    return None
