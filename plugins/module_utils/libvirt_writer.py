# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The few libvirt calls the domain writers share (``libvirt_pinning``, ``guest_cpuid_settings``).

Thin on purpose: the decisions are in the pure modules (``pinning_xml``,
``cpuid``); this only reads and writes definitions through the libvirt
Python binding, which the caller imports and passes in (so the module can
report a missing binding with ``missing_required_lib``, and this file stays
importable without it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError

RESTART_METHODS = ("shutdown", "destroy")


class LibvirtWriteError(HvfleetError):
    """libvirt refused or the domain is not one we may write; the message names the domain."""


@dataclass
class DomainHandle:
    """A persistent domain and the XML views the writers need."""

    name: str
    domain: Any
    running: bool
    inactive_xml: str        # with secrets (VIR_DOMAIN_XML_SECURE): what is defined back
    inactive_display: str    # without secrets: what diffs show
    live_xml: Optional[str]  # running domains only


def open_domain(libvirt: Any, conn: Any, name: str) -> DomainHandle:
    """Look the domain up and read its definitions; only persistent domains are written."""
    try:
        domain = conn.lookupByName(name)
    except libvirt.libvirtError as err:
        raise LibvirtWriteError("domain %s: not found on %s (%s)" % (name, conn.getURI(), err))
    try:
        if not domain.isPersistent():
            raise LibvirtWriteError(
                "domain %s is transient: there is no persistent definition to write (define it first)" % name)
        running = bool(domain.isActive())
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE
        return DomainHandle(
            name=name,
            domain=domain,
            running=running,
            inactive_xml=domain.XMLDesc(flags | libvirt.VIR_DOMAIN_XML_SECURE),
            inactive_display=domain.XMLDesc(flags),
            live_xml=domain.XMLDesc(0) if running else None,
        )
    except libvirt.libvirtError as err:
        raise LibvirtWriteError("domain %s: reading its definition failed: %s" % (name, err))


def library_version(conn: Any) -> Tuple[int, int, int]:
    """The libvirt daemon's version (``getLibVersion``: major * 1,000,000 + minor * 1,000 + micro)."""
    number = int(conn.getLibVersion())
    return (number // 1000000, (number // 1000) % 1000, number % 1000)


def define(libvirt: Any, conn: Any, name: str, xml: str) -> None:
    try:
        conn.defineXML(xml)
    except libvirt.libvirtError as err:
        raise LibvirtWriteError("domain %s: libvirt refused the new definition: %s" % (name, err))


def restart(libvirt: Any, handle: DomainHandle, method: str, timeout: float) -> None:
    """Stop the domain and start it from its persistent definition.

    ``shutdown`` asks the guest (ACPI) and waits up to ``timeout`` seconds;
    a guest that does not stop is an error, never a forced power-off.
    ``destroy`` powers it off at once (guests that cannot shut down).
    """
    if method not in RESTART_METHODS:
        raise LibvirtWriteError("restart_method: expected one of %s, got %r" % (", ".join(RESTART_METHODS), method))
    domain = handle.domain
    try:
        if method == "destroy":
            domain.destroy()
        else:
            domain.shutdown()
            deadline = time.monotonic() + timeout
            while domain.isActive():
                if time.monotonic() > deadline:
                    raise LibvirtWriteError(
                        "domain %s did not shut down within %d s; it still runs the old definition "
                        "(restart it yourself, or use restart_method: destroy)" % (handle.name, timeout))
                time.sleep(0.5)
        domain.create()
    except libvirt.libvirtError as err:
        raise LibvirtWriteError("domain %s: restart (%s) failed: %s" % (handle.name, method, err))
