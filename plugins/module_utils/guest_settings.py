# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one guest is given, rendered from its statements and placement, for people to read.

The main playbook ends each host's pipeline here: the statements the engine
granted (``smt_hints``) and the placement the guest has (planned or real)
become the CPUID table the guest will read, the QEMU arguments for hosts
without libvirt, and a libvirt domain XML snippet with the pins, the CPU
settings and the hvfleet record the audit later reads back. Everything is
delegated to the renderers that apply them for real (``cpuid.py``,
``statement_document.py``, ``domain_metadata.py``); this module only wires
them together, so what the demo shows is what the roles would write.

Pure: plain data in and out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Dict, Mapping, Optional

from ansible_collections.hvfleet.smt.plugins.module_utils import cpuid
from ansible_collections.hvfleet.smt.plugins.module_utils import statement_document as sdoc
from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import format_cpulist
from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import Record, render_record
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import DocumentError, HvfleetError, RenderError

DEFAULT_QEMU_VERSION = "7.2"
DEFAULT_LIBVIRT_VERSION = "9.0"


def render_guest(
    name: str,
    statements: Mapping[str, Any],
    entry: Mapping[str, Any],
    host: str,
    issued: str,
    qemu_version: Any = DEFAULT_QEMU_VERSION,
    libvirt_version: Any = DEFAULT_LIBVIRT_VERSION,
    vendor: Optional[str] = None,
    hyperv: bool = False,
    migration_domain: Optional[str] = None,
) -> Dict[str, Any]:
    """Render one guest; raises RenderError/DocumentError naming the guest when it cannot be.

    The document names the guest's migration domain: its placement entry's
    (a group name), else ``migration_domain``, the group it was decided for.
    """
    where = "guest %s on %s" % (name, host)
    granted = sdoc.statements_from_data(statements, "%s statements" % where)
    topology = cpuid.topology_from_data(entry.get("topology"), "%s topology" % where)
    settings = cpuid.plan_cpuid(granted, topology, hyperv=hyperv, vendor=vendor)
    domain = entry.get("migration_domain")
    if not isinstance(domain, str):
        domain = migration_domain
    document = sdoc.build_document(list(granted), host, domain, issued)
    text = sdoc.encode_document(document)
    fw_cfg, oem = sdoc.libvirt_entries(text)
    changes = cpuid.libvirt_changes(settings, libvirt_version, fw_cfg=fw_cfg, oem_string=oem)
    record = Record(
        plan={key: entry.get(key) for key in ("vcpus", "emulator", "iothreads", "topology")},
        statements=document.to_dict(),
        emitted={"cpuid": list(settings.delivered), "fw_cfg": changes.fw_cfg is not None,
                 "smbios": changes.oem_string is not None},
    )
    skeleton = _domain_skeleton(name, entry, topology.vcpus, where)
    update = cpuid.apply_libvirt_changes(skeleton, changes, source="%s domain XML" % where)
    root = ET.fromstring(update.xml)
    metadata = root.find("metadata")
    if metadata is None:
        metadata = ET.SubElement(root, "metadata")
    metadata.append(ET.fromstring(render_record(record)))
    ET.indent(root, space="  ")
    return {
        "granted": [s.name for s in granted if s.granted],
        "document": document.to_dict(),
        "cpuid_table": cpuid.format_table(cpuid.cpuid_table(settings)),
        "cpuid_delivers": list(settings.delivered),
        "qemu_args": cpuid.qemu_arguments(settings, qemu_version) + sdoc.qemu_arguments(text),
        "libvirt_xml": ET.tostring(root, encoding="unicode") + "\n",
        "libvirt_notes": list(update.notes),
        "record": record.to_dict(),
        "error": None,
    }


def _domain_skeleton(name: str, entry: Mapping[str, Any], count: int, where: str) -> str:
    """A minimal <domain> with the placement's pins, for the renderers to complete."""
    vcpus = entry.get("vcpus")
    if not isinstance(vcpus, list) or len(vcpus) != count:
        raise RenderError("%s: vcpus: expected %d pin sets (the topology's product), got %r" % (where, count, vcpus))
    root = ET.Element("domain", {"type": "kvm"})
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "vcpu", {"placement": "static"}).text = str(count)
    cputune = ET.SubElement(root, "cputune")
    for index, cpus in enumerate(vcpus):
        ET.SubElement(cputune, "vcpupin", {"vcpu": str(index), "cpuset": format_cpulist(cpus)})
    if entry.get("emulator"):
        ET.SubElement(cputune, "emulatorpin", {"cpuset": format_cpulist(entry["emulator"])})
    for index, cpus in enumerate(entry.get("iothreads") or [], start=1):
        ET.SubElement(cputune, "iothreadpin", {"iothread": str(index), "cpuset": format_cpulist(cpus)})
    return ET.tostring(root, encoding="unicode")


def render_host(
    statements: Mapping[str, Any],
    placement: Any,
    host: str,
    issued: str,
    **options: Any,
) -> Dict[str, Dict[str, Any]]:
    """Every decided guest of a host that its placement lists; a guest that cannot be rendered gets ``error``."""
    entries = {}
    if isinstance(placement, Mapping) and isinstance(placement.get("guests"), list):
        entries = {g.get("name"): g for g in placement["guests"] if isinstance(g, Mapping)}
    out: Dict[str, Dict[str, Any]] = {}
    for name in sorted(statements or {}):
        entry = entries.get(name)
        if entry is None:
            out[name] = {"error": "guest %s is not in the placement of %s" % (name, host)}
            continue
        try:
            out[name] = render_guest(name, statements[name], entry, host, issued, **options)
        except (HvfleetError, RenderError, DocumentError, ValueError, TypeError) as err:
            out[name] = {"error": str(err)}
    return out


def with_records(placement: Any, rendered: Mapping[str, Mapping[str, Any]]) -> Any:
    """The placement as it is once applied: each rendered guest carries the record it was given."""
    if not isinstance(placement, Mapping) or not isinstance(placement.get("guests"), list):
        return placement
    out = dict(placement)
    guests = []
    for guest in placement["guests"]:
        if isinstance(guest, Mapping) and guest.get("name") in rendered and rendered[guest["name"]].get("record"):
            guest = dict(guest, record=rendered[guest["name"]]["record"], record_error=None)
        guests.append(guest)
    out["guests"] = guests
    return out


def text_file(host: str, name: str, rendered: Mapping[str, Any]) -> str:
    """One readable file per guest: the three renderings, in the order an operator checks them."""
    if rendered.get("error"):
        return "# %s on %s: not rendered\n%s\n" % (name, host, rendered["error"])
    lines = [
        "# %s on %s" % (name, host),
        "# granted: %s" % (", ".join(rendered["granted"]) or "nothing"),
        "# CPUID carries: %s; the statement document (fw_cfg, SMBIOS) carries all four"
        % (", ".join(rendered["cpuid_delivers"]) or "nothing"),
        "",
        "## CPUID the guest reads",
        rendered["cpuid_table"].rstrip("\n"),
        "",
        "## QEMU arguments (without libvirt; one argument a line)",
    ]
    lines += rendered["qemu_args"]
    lines += ["", "## libvirt domain XML (the parts hvfleet.smt sets)", rendered["libvirt_xml"].rstrip("\n")]
    lines += ["# note: %s" % note for note in rendered.get("libvirt_notes", ())]
    return "\n".join(lines) + "\n"
