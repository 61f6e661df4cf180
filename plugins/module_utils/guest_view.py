# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a guest has been told about SMT, by which channel, read from inside the guest.

A guest learns its statements through up to three channels: the statement
document in fw_cfg, the same document as an SMBIOS type 11 OEM string, and
two CPUID bits (KVM_HINTS_REALTIME for ``dedicated``, Hyper-V's
NoNonArchitecturalCoreSharing for ``no_nonarch_core_sharing``). Any of them
can be missing, unreadable, stale or forged, so each is read on its own and
then they vote: a statement counts as granted only when at least one channel
grants it and no channel that speaks for it says otherwise. A disagreement is
reported and reads as "not granted" -- a false "yes" switches a guest's
defences off, a false "no" only costs speed.

Everything here reads files under a ``sysroot`` (fixture trees in tests, ``/``
in a guest) and never needs root where the files are readable; nothing
guesses: a channel that cannot be read says so.
"""

from __future__ import annotations

import errno
import glob
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import DocumentError, HvfleetError
from ansible_collections.hvfleet.smt.plugins.module_utils.statement_document import (
    FW_CFG_MAX_BYTES,
    FW_CFG_NAME,
    OEM_PREFIX,
    STATEMENT_NAMES,
    StatementDocument,
    document_from_fw_cfg,
    document_from_oem_strings,
    oem_strings_from_dmi,
    parse_document,
)

FW_CFG_DIR = "sys/firmware/qemu_fw_cfg"
FW_CFG_RAW = FW_CFG_DIR + "/by_name/" + FW_CFG_NAME + "/raw"
DMI_ENTRIES = "sys/firmware/dmi/entries"
CPUID_DEVICE = "dev/cpu/%d/cpuid"

# Channel states. "read" is the only one whose content counts.
READ = "read"
ABSENT = "absent"  # the interface is there, our entry is not: nothing was said
UNAVAILABLE = "unavailable"  # the interface is not there (driver not loaded, not QEMU): cannot tell
UNREADABLE = "unreadable"  # there, but this process may not read it (not root): cannot tell
INVALID = "invalid"  # there, but not a document this reader accepts: votes "not granted"
NO_HYPERVISOR = "no_hypervisor"  # CPUID.1:ECX[31] clear: hypervisor leaves mean nothing

CHANNELS = ("fw_cfg", "smbios", "cpuid")
#: Which statements each CPUID signature can carry (docs/guest-channels.md).
CPUID_STATEMENTS = {"dedicated": "kvm", "no_nonarch_core_sharing": "hyperv"}

KVM_SIGNATURE = b"KVMKVMKVM\x00\x00\x00"
HYPERV_SIGNATURE = b"Microsoft Hv"
HYPERV_INTERFACE = 0x31237648  # "Hv#1"
HYPERVISOR_BIT = 1 << 31  # CPUID.1:ECX
KVM_HINTS_REALTIME = 1 << 0  # 0x40000001 EDX
HV_NO_NONARCH_CORESHARING = 1 << 18  # 0x40000004 EAX
#: Linux scans 0x40000000..0x4000FF00 in steps of 0x100 for hypervisor signatures.
HYPERVISOR_BASES = tuple(range(0x40000000, 0x40010000, 0x100))
MAX_DMI_BYTES = 65536

Registers = Tuple[int, int, int, int]  # eax, ebx, ecx, edx
CpuidReader = Callable[[int, int], Registers]


# --------------------------------------------------------------------------
# Channels
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class DocumentChannel:
    """One of the two document channels as read: its state and, when read, the document."""

    name: str
    status: str
    path: str
    detail: str
    document: Optional[StatementDocument] = None

    def vote(self, statement: str) -> Optional[bool]:
        """True/False when this channel speaks for ``statement``; None when it says nothing."""
        if self.status == READ and self.document is not None:
            return self.document.granted(statement)
        if self.status == INVALID:
            return False
        return None

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "path": self.path,
            "detail": self.detail,
            "document": None if self.document is None else self.document.to_dict(),
        }


@dataclass(frozen=True)
class CpuidChannel:
    """The hypervisor CPUID leaves as read through the ``cpuid`` driver."""

    status: str
    path: str
    detail: str
    hypervisor_bit: Optional[bool] = None
    signatures: Tuple[Tuple[int, str], ...] = ()  # (leaf, printable signature)
    kvm_base: Optional[int] = None
    kvm_hints_realtime: Optional[bool] = None
    hyperv_base: Optional[int] = None
    hyperv_no_nonarch_core_sharing: Optional[bool] = None

    def vote(self, statement: str) -> Optional[bool]:
        """Only a bit in leaves that are really there speaks; a missing leaf says nothing."""
        if self.status != READ:
            return None
        if statement == "dedicated":
            return self.kvm_hints_realtime
        if statement == "no_nonarch_core_sharing":
            return self.hyperv_no_nonarch_core_sharing
        return None

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "path": self.path,
            "detail": self.detail,
            "hypervisor_bit": self.hypervisor_bit,
            "signatures": [{"leaf": "0x%08x" % leaf, "signature": text} for leaf, text in self.signatures],
            "kvm": None if self.kvm_base is None else {
                "base": "0x%08x" % self.kvm_base, "hints_realtime": self.kvm_hints_realtime},
            "hyperv": None if self.hyperv_base is None else {
                "base": "0x%08x" % self.hyperv_base,
                "no_nonarch_core_sharing": self.hyperv_no_nonarch_core_sharing},
        }


def _read_bytes(path: str, limit: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(limit + 1)


def _cannot(err: OSError) -> str:
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (reading it needs root)"
    return err.strerror or str(err)


def read_fw_cfg(sysroot: str) -> DocumentChannel:
    path = os.path.join(sysroot, FW_CFG_RAW)
    if not os.path.exists(path):
        if os.path.isdir(os.path.join(sysroot, FW_CFG_DIR)):
            return DocumentChannel("fw_cfg", ABSENT, path, "fw_cfg has no %s: nothing was said here" % FW_CFG_NAME)
        return DocumentChannel("fw_cfg", UNAVAILABLE, path,
                               "no /%s: the qemu_fw_cfg driver is not loaded (modprobe qemu_fw_cfg) "
                               "or this is not a QEMU guest" % FW_CFG_DIR)
    try:
        raw = _read_bytes(path, FW_CFG_MAX_BYTES + 64)
    except OSError as err:
        return DocumentChannel("fw_cfg", UNREADABLE, path, "%s: %s" % (path, _cannot(err)))
    try:
        document = parse_document(document_from_fw_cfg(raw, source=path), source=path)
    except DocumentError as err:
        return DocumentChannel("fw_cfg", INVALID, path, str(err))
    return DocumentChannel("fw_cfg", READ, path, "statement document read", document)


def read_smbios(sysroot: str) -> DocumentChannel:
    entries = os.path.join(sysroot, DMI_ENTRIES)
    where = os.path.join(entries, "11-*", "raw")
    if not os.path.isdir(entries):
        return DocumentChannel("smbios", UNAVAILABLE, where,
                               "no /%s: the dmi-sysfs driver is not loaded (modprobe dmi-sysfs)" % DMI_ENTRIES)
    strings: List[str] = []
    for entry in sorted(glob.glob(os.path.join(entries, "11-*"))):
        raw_path = os.path.join(entry, "raw")
        try:
            raw = _read_bytes(raw_path, MAX_DMI_BYTES)
            strings.extend(oem_strings_from_dmi(raw, source=raw_path))
        except OSError as err:
            return DocumentChannel("smbios", UNREADABLE, where, "%s: %s" % (raw_path, _cannot(err)))
        except DocumentError as err:
            return DocumentChannel("smbios", INVALID, where, str(err))
    try:
        text = document_from_oem_strings(strings, source=where)
        if text is None:
            return DocumentChannel("smbios", ABSENT, where,
                                   "no SMBIOS OEM string starts with %r: nothing was said here" % OEM_PREFIX)
        document = parse_document(text, source="SMBIOS OEM string " + OEM_PREFIX)
    except DocumentError as err:
        return DocumentChannel("smbios", INVALID, where, str(err))
    return DocumentChannel("smbios", READ, where, "statement document read", document)


def device_reader(path: str) -> Tuple[CpuidReader, Callable[[], None]]:
    """A reader over the ``cpuid`` driver: pread at ``leaf | subleaf << 32`` gives 16 bytes."""
    fd = os.open(path, os.O_RDONLY)

    def read(leaf: int, subleaf: int = 0) -> Registers:
        data = os.pread(fd, 16, leaf | (subleaf << 32))
        if len(data) != 16:
            raise OSError(errno.EIO, "short read (%d bytes) at leaf 0x%08x" % (len(data), leaf))
        return tuple(int.from_bytes(data[i:i + 4], "little") for i in range(0, 16, 4))  # type: ignore[return-value]

    return read, lambda: os.close(fd)


def _signature(ebx: int, ecx: int, edx: int) -> bytes:
    return b"".join(value.to_bytes(4, "little") for value in (ebx, ecx, edx))


def _printable(raw: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else "\\x%02x" % b for b in raw)


def interpret_cpuid(read: CpuidReader, path: str = "cpuid") -> CpuidChannel:
    """Decide what the hypervisor leaves say, the way Linux finds them.

    Without the hypervisor bit the 0x4000_0000 range is undefined (an Intel
    CPU answers any leaf above its maximum with the highest basic leaf), so
    nothing there is read as a statement.
    """
    ecx = read(1, 0)[2]
    if not ecx & HYPERVISOR_BIT:
        return CpuidChannel(NO_HYPERVISOR, path,
                            "CPUID.1:ECX bit 31 (hypervisor) is clear: the CPU claims bare metal, "
                            "so the hypervisor leaves carry no statement", hypervisor_bit=False)
    signatures = []
    kvm_base = hyperv_base = None
    for base in HYPERVISOR_BASES:
        eax, ebx, ecx_, edx = read(base, 0)
        raw = _signature(ebx, ecx_, edx)
        if raw == KVM_SIGNATURE and kvm_base is None:
            kvm_base = base
        elif raw == HYPERV_SIGNATURE and hyperv_base is None:
            hyperv_base = base
        else:
            if eax < base or eax > base + 0xFF or not any(raw) or not all(0x20 <= b < 0x7F or b == 0 for b in raw):
                continue
        signatures.append((base, _printable(raw)))
    hints = nonarch = None
    if kvm_base is not None:
        # KVM_CPUID_FEATURES sits right after the signature leaf (a max leaf of 0 means it too).
        hints = bool(read(kvm_base + 1, 0)[3] & KVM_HINTS_REALTIME)
    if hyperv_base is not None:
        max_leaf = read(hyperv_base, 0)[0]
        if read(hyperv_base + 1, 0)[0] == HYPERV_INTERFACE and max_leaf >= hyperv_base + 4:
            nonarch = bool(read(hyperv_base + 4, 0)[0] & HV_NO_NONARCH_CORESHARING)
    if kvm_base is None and hyperv_base is None:
        seen = ", ".join("%r at 0x%08x" % (text, leaf) for leaf, text in signatures) or "no signature"
        detail = "hypervisor bit set, but no KVM or Hyper-V leaves (%s): CPUID carries no statement here" % seen
    else:
        detail = "hypervisor leaves read"
    return CpuidChannel(READ, path, detail, True, tuple(signatures), kvm_base, hints, hyperv_base, nonarch)


def read_cpuid(sysroot: str, cpu: int = 0) -> CpuidChannel:
    path = os.path.join(sysroot, CPUID_DEVICE % cpu)
    if not os.path.exists(path):
        return CpuidChannel(UNAVAILABLE, path,
                            "no /%s: the cpuid driver is not loaded (modprobe cpuid); CPUID not read, "
                            "nothing assumed" % (CPUID_DEVICE % cpu))
    try:
        read, close = device_reader(path)
    except OSError as err:
        return CpuidChannel(UNREADABLE, path, "%s: %s" % (path, _cannot(err)))
    try:
        return interpret_cpuid(read, path)
    except OSError as err:
        return CpuidChannel(UNREADABLE, path, "%s: %s" % (path, _cannot(err)))
    finally:
        close()


# --------------------------------------------------------------------------
# The vote
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Told:
    """One statement as the guest ends up believing it."""

    name: str
    granted: bool
    told_by: Tuple[str, ...]  # channels that grant it
    denied_by: Tuple[str, ...]  # channels that speak for it and do not grant it
    conflict: bool
    reasons: Tuple[str, ...]  # the documents' reason codes, plus our own

    def to_dict(self) -> dict:
        return {"granted": self.granted, "told_by": list(self.told_by), "denied_by": list(self.denied_by),
                "conflict": self.conflict, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class GuestView:
    statements: Tuple[Told, ...]
    channels: Tuple[object, ...]  # DocumentChannel, DocumentChannel, CpuidChannel
    disagreements: Tuple[dict, ...]
    own: Dict[str, object] = field(default_factory=dict)

    def granted(self, name: str) -> bool:
        return any(told.name == name and told.granted for told in self.statements)

    def to_dict(self) -> dict:
        return {
            "statements": {told.name: told.to_dict() for told in self.statements},
            "granted": [told.name for told in self.statements if told.granted],
            "channels": {name: channel.to_dict() for name, channel in zip(CHANNELS, self.channels)},  # type: ignore[attr-defined]
            "disagreements": list(self.disagreements),
            "guest": dict(self.own),
        }


def decide(fw_cfg: DocumentChannel, smbios: DocumentChannel, cpuid: CpuidChannel) -> Tuple[Tuple[Told, ...], Tuple[dict, ...]]:
    """Per statement: granted only when some channel grants it and none that speaks for it disagrees."""
    channels = (("fw_cfg", fw_cfg), ("smbios", smbios), ("cpuid", cpuid))
    told = []
    disagreements = []
    for name in STATEMENT_NAMES:
        votes = [(channel_name, channel.vote(name)) for channel_name, channel in channels]
        yes = tuple(channel_name for channel_name, vote in votes if vote is True)
        no = tuple(channel_name for channel_name, vote in votes if vote is False)
        conflict = bool(yes) and bool(no)
        reasons: List[str] = []
        for channel in (fw_cfg, smbios):
            if channel.status == READ and channel.document is not None:
                for code in channel.document.statement(name).reasons:
                    if code not in reasons:
                        reasons.append(code)
            elif channel.status == INVALID and "channel_invalid" not in reasons:
                reasons.append("channel_invalid")
        if conflict:
            reasons.append("channels_disagree")
            disagreements.append({"statement": name, "kind": "statement",
                                  "granted_by": list(yes), "denied_by": list(no)})
        if not yes and not no:
            reasons.append("not_told")
        told.append(Told(name, bool(yes) and not no, yes, no, conflict, tuple(reasons)))
    if fw_cfg.status == READ and smbios.status == READ and fw_cfg.document != smbios.document:
        differing = [key for key in ("host", "migration_domain", "issued")
                     if getattr(fw_cfg.document, key) != getattr(smbios.document, key)]
        disagreements.append({"statement": None, "kind": "documents_differ", "fields": differing,
                              "granted_by": [], "denied_by": []})
    return tuple(told), tuple(disagreements)


def read_guest_view(sysroot: str = "/", cpu: int = 0,
                    own: Optional[Dict[str, object]] = None) -> GuestView:
    if not os.path.isdir(sysroot):
        raise HvfleetError("sysroot %r: not a directory; expected the guest's root (/) or a fixture tree" % sysroot)
    fw_cfg, smbios, cpuid = read_fw_cfg(sysroot), read_smbios(sysroot), read_cpuid(sysroot, cpu)
    statements, disagreements = decide(fw_cfg, smbios, cpuid)
    return GuestView(statements, (fw_cfg, smbios, cpuid), disagreements, dict(own or {}))


def own_view(facts: Dict[str, object]) -> Dict[str, object]:
    """The guest's own SMT picture, from an ``hvfleet_smt`` facts document (facts.collect)."""
    smt = dict(facts.get("smt") or {})  # type: ignore[arg-type]
    vulnerabilities = facts.get("vulnerabilities") or {}
    smt_mentions = {name: entry.get("smt") for name, entry in vulnerabilities.items()  # type: ignore[union-attr]
                    if isinstance(entry, dict) and entry.get("smt")}
    stibp = (vulnerabilities.get("spectre_v2") or {}).get("stibp") if isinstance(vulnerabilities, dict) else None
    threads = (smt.get("threads_per_core") or {}).get("max")  # type: ignore[union-attr]
    return {
        "smt_control": smt.get("control"),
        "smt_active": smt.get("active"),
        "threads_per_core": threads,
        "hypervisor": facts.get("hypervisor"),
        "vulnerabilities_smt": smt_mentions,
        "stibp": stibp,
        "core_scheduling": facts.get("core_scheduling"),
        "cmdline": (facts.get("cmdline") or {}).get("raw"),  # type: ignore[union-attr]
    }


def summary(statements: Sequence[Told]) -> str:
    granted = [told.name for told in statements if told.granted]
    return "granted: %s" % (", ".join(granted) if granted else "none")
