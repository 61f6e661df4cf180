# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record a libvirt domain carries of what hvfleet.smt planned and told its guest.

The audit has to know what a guest *was given* to say whether it still holds;
the domain definition is the one place that travels with the guest (migration,
``virsh dumpxml``, backups), so the record lives in its ``<metadata>`` under
our own namespace, where libvirt keeps it verbatim and nothing else writes.

Two roles write it and one reads it, each owning a section:

* ``plan`` -- ``cpu_pinning``: the vCPU/emulator/iothread pins and the exposed
  topology as applied (the planner's output for this guest).
* ``statements`` -- ``cpu_pinning`` and ``guest_cpuid``: the statement
  document (:mod:`statement_document` format, version 1) the guest was given.
* ``emitted`` -- ``guest_cpuid``: which channels carry which statement
  (``{"cpuid": [...], "fw_cfg": bool, "smbios": bool}``).

Each section is compact JSON in its own element, so a writer replaces its
section and keeps the others. The parser is strict: a record it cannot read
is an error naming the domain, and the audit treats that guest as "told
something we cannot verify" -- never as "told nothing".
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from typing import Any, Mapping, Optional

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import DocumentError

NAMESPACE = "http://hvfleet.org/xmlns/libvirt/smt/1"
#: The prefix libvirt writes for our element; ``virDomainSetMetadata(key=...)``.
PREFIX = "hvfleet"
ROOT = "record"
RECORD_VERSION = 1
SECTIONS = ("plan", "statements", "emitted")
#: A domain definition is small; a record this large is not ours to trust.
MAX_SECTION_BYTES = 16384

ET.register_namespace(PREFIX, NAMESPACE)


@dataclass(frozen=True)
class Record:
    """What the guest was given. ``None`` for a section means "never written"."""

    plan: Optional[Mapping[str, Any]] = None
    statements: Optional[Mapping[str, Any]] = None
    emitted: Optional[Mapping[str, Any]] = None

    def with_section(self, name: str, value: Optional[Mapping[str, Any]]) -> "Record":
        if name not in SECTIONS:
            raise ValueError("unknown record section %r (known: %s)" % (name, ", ".join(SECTIONS)))
        return replace(self, **{name: value})

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in SECTIONS}


def render_record(record: Record) -> str:
    """The ``<hvfleet:record>`` element as text: what ``virDomainSetMetadata`` takes.

    Stable bytes (sorted keys, fixed section order), so comparing the rendered
    text is how writers decide "changed" and show a diff.
    """
    root = ET.Element("{%s}%s" % (NAMESPACE, ROOT), {"version": str(RECORD_VERSION)})
    for name in SECTIONS:
        value = getattr(record, name)
        if value is None:
            continue
        child = ET.SubElement(root, "{%s}%s" % (NAMESPACE, name))
        child.text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return ET.tostring(root, encoding="unicode")


def parse_record(text: Optional[str], source: str) -> Optional[Record]:
    """Read the element text ``virDomainGetMetadata`` returns; ``None`` when there is none."""
    if text is None or not text.strip():
        return None
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise DocumentError(source, text, "an XML <%s:%s> element (%s)" % (PREFIX, ROOT, exc))
    return _from_element(root, source)


def find_record(domain_xml: str, source: str) -> Optional[Record]:
    """The record inside a whole domain definition (``virsh dumpxml``), or ``None``."""
    try:
        root = ET.fromstring(domain_xml)
    except ET.ParseError as exc:
        raise DocumentError(source, domain_xml, "domain XML (%s)" % exc)
    metadata = root.find("metadata")
    if metadata is None:
        return None
    found = metadata.findall("{%s}%s" % (NAMESPACE, ROOT))
    if not found:
        return None
    if len(found) > 1:
        raise DocumentError(source + " <metadata>", "%d records" % len(found), "at most one hvfleet record")
    return _from_element(found[0], source)


def set_record(domain_xml: str, record: Record, source: str) -> str:
    """The domain definition with our record replaced (or added); everything else untouched."""
    try:
        root = ET.fromstring(domain_xml)
    except ET.ParseError as exc:
        raise DocumentError(source, domain_xml, "domain XML (%s)" % exc)
    metadata = root.find("metadata")
    if metadata is None:
        metadata = ET.SubElement(root, "metadata")
    for old in metadata.findall("{%s}%s" % (NAMESPACE, ROOT)):
        metadata.remove(old)
    metadata.append(ET.fromstring(render_record(record)))
    return ET.tostring(root, encoding="unicode")


def _from_element(root: ET.Element, source: str) -> Record:
    where = "%s <%s:%s>" % (source, PREFIX, ROOT)
    if root.tag != "{%s}%s" % (NAMESPACE, ROOT):
        raise DocumentError(where, root.tag, "{%s}%s" % (NAMESPACE, ROOT))
    version = root.get("version")
    if version != str(RECORD_VERSION):
        raise DocumentError(where + " version", version,
                            "%d (this reader knows only version %d)" % (RECORD_VERSION, RECORD_VERSION))
    sections = {}
    for child in root:
        name = child.tag.split("}", 1)[-1] if child.tag.startswith("{%s}" % NAMESPACE) else None
        if name not in SECTIONS:
            continue  # a later writer's addition: ignored, not trusted
        if name in sections:
            raise DocumentError("%s <%s>" % (where, name), "repeated", "one <%s> section" % name)
        text = child.text or ""
        if len(text) > MAX_SECTION_BYTES:
            raise DocumentError("%s <%s>" % (where, name), text, "at most %d bytes" % MAX_SECTION_BYTES)
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise DocumentError("%s <%s>" % (where, name), text, "a JSON object (%s)" % exc)
        if not isinstance(value, dict):
            raise DocumentError("%s <%s>" % (where, name), text, "a JSON object")
        sections[name] = value
    return Record(**sections)
