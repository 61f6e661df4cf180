# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The statements a guest is given, and the small document that carries all four.

CPUID can carry only two statements, and only to guests that read the right
leaves. The document carries all four -- granted or not, with the engine's
reason codes -- to any guest that can read fw_cfg or SMBIOS: a Linux guest
under ``/sys/firmware/qemu_fw_cfg/by_name/opt/org.hvfleet/smt-hints/raw``
(base64, see ``FW_CFG_MAX_BYTES``) and ``/sys/firmware/dmi/entries/11-*/raw``,
Windows through WMI's ``OEMStringArray``.

The host side builds and encodes it; the guest side parses it with the same
code. The schema is in docs/statement-document.md; the parser is strict, and
a document it cannot read grants nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, List, Mapping, Optional, Tuple, Union

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import DocumentError, RenderError

STATEMENT_NAMES = ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated")
REASON_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

FORMAT = "hvfleet.smt/statements"
VERSION = 1
#: fw_cfg file name: QEMU and libvirt want user files under ``opt/`` with a
#: reverse-DNS prefix; QEMU's limit is 55 characters.
FW_CFG_NAME = "opt/org.hvfleet/smt-hints"
#: SMBIOS type 11 holds unnamed strings that other tools share (systemd's
#: ``io.systemd.credential:``), so ours is found by this prefix.
OEM_PREFIX = "org.hvfleet.smt-hints:"
#: Far below the 64 KiB SMBIOS 2.x table and fw_cfg limits, and ~5x a
#: realistic document: a larger one means the engine emitted something odd.
MAX_DOCUMENT_BYTES = 2048
#: The fw_cfg file holds the document base64-encoded (RFC 4648, padded). libvirt
#: (9.0 checked) writes ``<sysinfo type='fwcfg'>`` values into ``-fw_cfg
#: …,string=`` with XML entities and without doubling commas, so raw JSON makes
#: QEMU refuse to start; base64 has neither commas nor markup characters.
#: Direct QEMU arguments use the same encoding, so a guest reads one format.
FW_CFG_MAX_BYTES = 4 * ((MAX_DOCUMENT_BYTES + 2) // 3)
ISSUED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
MISSING = "statement_missing"


# --------------------------------------------------------------------------
# The engine's statements (input to renderers and to the document)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True)
class Statement:
    name: str
    granted: bool
    reasons: Tuple[Reason, ...]


@dataclass(frozen=True)
class GuestStatements:
    no_smt: Statement
    accurate_topology: Statement
    no_nonarch_core_sharing: Statement
    dedicated: Statement

    def get(self, name: str) -> Statement:
        if name not in STATEMENT_NAMES:
            raise RenderError(
                "unknown statement %r: expected one of %s" % (name, ", ".join(STATEMENT_NAMES)))
        return getattr(self, name)

    def __iter__(self):
        return iter([self.get(name) for name in STATEMENT_NAMES])


def statements_from_data(data: Any, source: str = "statements") -> GuestStatements:
    """Read the hint engine's ``{statement: {granted, reasons: [{code, message}]}}``.

    An absent statement is denied (reason ``statement_missing``): unknown
    means deny. Keys that are not statements (the engine adds ``host``,
    ``timestamp``) are ignored. ``granted`` must be a real boolean: the string
    ``"false"`` is truthy and would otherwise grant.
    """
    if not isinstance(data, Mapping):
        raise RenderError("%s: expected a mapping of statement name to {granted, reasons}, got %s"
                          % (source, _show(data)))
    parsed = {}
    for name in STATEMENT_NAMES:
        where = "%s.%s" % (source, name)
        entry = data.get(name)
        if entry is None:
            parsed[name] = Statement(name, False, (
                Reason(MISSING, "the hint engine gave no decision for %s" % name),))
            continue
        if not isinstance(entry, Mapping):
            raise RenderError("%s: expected a mapping with granted and reasons, got %s"
                              % (where, _show(entry)))
        granted = entry.get("granted")
        if not isinstance(granted, bool):
            raise RenderError("%s.granted: expected true or false, got %s" % (where, _show(granted)))
        parsed[name] = Statement(name, granted, _reasons(entry.get("reasons", ()), where))
    return GuestStatements(**parsed)


def _reasons(data: Any, where: str) -> Tuple[Reason, ...]:
    if not isinstance(data, (list, tuple)):
        raise RenderError("%s.reasons: expected a list of {code, message}, got %s"
                          % (where, _show(data)))
    reasons = []
    for index, item in enumerate(data):
        at = "%s.reasons[%d]" % (where, index)
        if not isinstance(item, Mapping):
            raise RenderError("%s: expected {code, message}, got %s" % (at, _show(item)))
        code = item.get("code")
        if not isinstance(code, str) or not REASON_CODE.match(code):
            raise RenderError("%s.code: expected a reason code (lowercase letter, then letters, "
                              "digits, underscores; at most 64), got %s" % (at, _show(code)))
        message = item.get("message", "")
        if not isinstance(message, str):
            raise RenderError("%s.message: expected a string, got %s" % (at, _show(message)))
        reasons.append(Reason(code, message))
    return tuple(reasons)


# --------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class DocumentStatement:
    granted: bool
    reasons: Tuple[str, ...]  # reason codes; messages stay on the host


@dataclass(frozen=True)
class StatementDocument:
    version: int
    host: str
    migration_domain: Optional[str]
    issued: str  # UTC, ISO 8601 with seconds and 'Z'
    statements: Tuple[Tuple[str, DocumentStatement], ...]  # STATEMENT_NAMES order

    def statement(self, name: str) -> DocumentStatement:
        for known, entry in self.statements:
            if known == name:
                return entry
        return DocumentStatement(False, (MISSING,))

    def granted(self, name: str) -> bool:
        return self.statement(name).granted is True

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": self.version,
            "host": self.host,
            "migration_domain": self.migration_domain,
            "issued": self.issued,
            "statements": {name: {"granted": entry.granted, "reasons": list(entry.reasons)}
                           for name, entry in self.statements},
        }


def build_document(statements: Iterable[Statement], host: str, migration_domain: Optional[str],
                   issued: Union[str, datetime]) -> StatementDocument:
    """The document for one guest. ``issued`` comes from the caller: this stays pure."""
    _check_name(host, "host", RenderError)
    if migration_domain is not None:
        _check_name(migration_domain, "migration_domain", RenderError)
    by_name = {statement.name: statement for statement in statements}
    entries = []
    for name in STATEMENT_NAMES:
        statement = by_name.get(name)
        if statement is None:
            entries.append((name, DocumentStatement(False, (MISSING,))))
            continue
        codes = tuple(dict.fromkeys(reason.code for reason in statement.reasons))
        entries.append((name, DocumentStatement(statement.granted is True, codes)))
    document = StatementDocument(VERSION, host, migration_domain, _issued(issued),
                                 tuple(entries))
    encode_document(document)  # size check now, where the caller can still act on it
    return document


def _issued(value: Union[str, datetime]) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise RenderError("issued: expected a timezone-aware time, got naive %s" % value)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str) and ISSUED.match(value):
        return value
    raise RenderError("issued: expected UTC time like 2026-11-25T05:00:00Z, got %s" % _show(value))


def _check_name(value: Any, what: str, error) -> None:
    if (not isinstance(value, str) or not value or len(value) > 255
            or any(ord(char) < 0x20 or ord(char) > 0x7E for char in value)):
        message = "expected 1-255 printable ASCII characters, got %s" % _show(value)
        if error is RenderError:
            raise RenderError("%s: %s" % (what, message))
        raise error(what, value, "1-255 printable ASCII characters")


def encode_document(document: StatementDocument) -> str:
    """Compact, key-sorted, ASCII-only JSON: stable bytes, and safe in an SMBIOS string."""
    text = json.dumps(document.to_dict(), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True)
    if len(text) > MAX_DOCUMENT_BYTES:
        raise RenderError("statement document is %d bytes, at most %d fit the channels; "
                          "too many reason codes?" % (len(text), MAX_DOCUMENT_BYTES))
    return text


def parse_document(data: Union[str, bytes], source: str = "statement document") -> StatementDocument:
    """Read a document as a guest finds it; raise :class:`DocumentError` on anything unexpected.

    Accepts trailing NULs and whitespace (firmware channels pad). Unknown
    top-level keys and unknown statements are ignored, so additions do not
    need a new version; a missing statement reads as denied. A different
    ``version`` is refused: its fields may not mean what this reader thinks.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("ascii")
        except UnicodeDecodeError:
            raise DocumentError(source, data[:60], "ASCII JSON")
    if not isinstance(data, str):
        raise DocumentError(source, data, "a JSON text")
    text = data.rstrip("\x00 \t\r\n")
    if len(text) > MAX_DOCUMENT_BYTES:
        raise DocumentError(source, text, "at most %d bytes" % MAX_DOCUMENT_BYTES)
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys)
    except ValueError as exc:
        raise DocumentError(source, text, "a JSON object (%s)" % exc)
    if not isinstance(document, dict):
        raise DocumentError(source, text, "a JSON object")
    if document.get("format") != FORMAT:
        raise DocumentError(source + ".format", document.get("format"), repr(FORMAT))
    version = document.get("version")
    if version != VERSION or isinstance(version, bool):
        raise DocumentError(source + ".version", version,
                            "%d (this reader knows only version %d)" % (VERSION, VERSION))
    host = document.get("host")
    _check_name(host, source + ".host", DocumentError)
    domain = document.get("migration_domain")
    if domain is not None:
        _check_name(domain, source + ".migration_domain", DocumentError)
    issued = document.get("issued")
    if not isinstance(issued, str) or not ISSUED.match(issued):
        raise DocumentError(source + ".issued", issued, "UTC time like 2026-11-25T05:00:00Z")
    statements = document.get("statements")
    if not isinstance(statements, dict):
        raise DocumentError(source + ".statements", statements, "an object")
    entries = []
    for name in STATEMENT_NAMES:
        entry = statements.get(name)
        where = "%s.statements.%s" % (source, name)
        if entry is None:
            entries.append((name, DocumentStatement(False, (MISSING,))))
            continue
        if not isinstance(entry, dict):
            raise DocumentError(where, entry, "an object with granted and reasons")
        granted = entry.get("granted")
        if not isinstance(granted, bool):
            raise DocumentError(where + ".granted", granted, "true or false")
        reasons = entry.get("reasons")
        if not isinstance(reasons, list) or not all(
                isinstance(code, str) and REASON_CODE.match(code) for code in reasons):
            raise DocumentError(where + ".reasons", reasons, "a list of reason codes")
        entries.append((name, DocumentStatement(granted, tuple(reasons))))
    return StatementDocument(VERSION, host, domain, issued, tuple(entries))


def _unique_keys(pairs):
    """A repeated key would let two JSON readers disagree on what was granted."""
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key %r" % key)
        result[key] = value
    return result


# --------------------------------------------------------------------------
# Channels
# --------------------------------------------------------------------------

def escape_qemu_option(value: str) -> str:
    """QEMU's option syntax ends a value at a single comma; a literal comma is doubled."""
    return value.replace(",", ",,")


def oem_string(text: str) -> str:
    return OEM_PREFIX + text


def fw_cfg_content(text: str) -> str:
    """What the fw_cfg file holds: the encoded document in base64 (see ``FW_CFG_MAX_BYTES``)."""
    _check_text(text)
    return base64.b64encode(text.encode("ascii")).decode("ascii")


def document_from_fw_cfg(data: Union[str, bytes], source: str = "fw_cfg " + FW_CFG_NAME) -> str:
    """The document text from the fw_cfg file's content (``…/by_name/<name>/raw``)."""
    if isinstance(data, str):
        data = data.encode("ascii", errors="replace")
    if not isinstance(data, bytes):
        raise DocumentError(source, data, "base64 text")
    data = data.rstrip(b"\x00 \t\r\n")
    if len(data) > FW_CFG_MAX_BYTES:
        raise DocumentError(source, data, "at most %d bytes of base64" % FW_CFG_MAX_BYTES)
    try:
        decoded = base64.b64decode(data, validate=True)
        return decoded.decode("ascii")
    except (binascii.Error, ValueError):
        raise DocumentError(source, data, "base64 (RFC 4648) of the JSON document")


def qemu_arguments(text: str) -> List[str]:
    """``-fw_cfg`` and ``-smbios type=11`` arguments (an argument list, no shell)."""
    _check_text(text)
    return [
        "-fw_cfg", "name=%s,string=%s" % (FW_CFG_NAME, escape_qemu_option(fw_cfg_content(text))),
        "-smbios", "type=11,value=%s" % escape_qemu_option(oem_string(text)),
    ]


def libvirt_entries(text: str) -> Tuple[Tuple[str, str], Tuple[str, str]]:
    """``(fw_cfg name, content)`` and ``(OEM prefix, OEM string)`` for ``cpuid.libvirt_changes``.

    libvirt doubles the commas of OEM strings itself and the XML serializer
    escapes markup, so the OEM string goes in unchanged; the fw_cfg content is
    base64 because libvirt does not escape that one for QEMU.
    """
    _check_text(text)
    return (FW_CFG_NAME, fw_cfg_content(text)), (OEM_PREFIX, oem_string(text))


def _check_text(text: Any) -> None:
    if not isinstance(text, str) or not text or len(text) > MAX_DOCUMENT_BYTES:
        raise RenderError("statement document: expected encoded JSON of at most %d bytes, got %s"
                          % (MAX_DOCUMENT_BYTES, _show(text)))
    if any(ord(char) < 0x20 or ord(char) > 0x7E for char in text):
        raise RenderError("statement document: expected printable ASCII (encode_document "
                          "output), got %s" % _show(text))


def document_from_oem_strings(strings: Iterable[str], source: str = "SMBIOS OEM strings") -> Optional[str]:
    """The document text among a guest's OEM strings; None when there is none.

    Two strings with our prefix are an error rather than a choice: one of
    them was not put there by the renderer, and picking either could pick
    the forged one.
    """
    found = [string[len(OEM_PREFIX):] for string in strings if string.startswith(OEM_PREFIX)]
    if len(found) > 1:
        raise DocumentError(source, found, "at most one string starting with %r" % OEM_PREFIX)
    return found[0] if found else None


def oem_strings_from_dmi(raw: bytes, source: str = "/sys/firmware/dmi/entries/11-0/raw") -> List[str]:
    """The strings of one SMBIOS type 11 structure, as Linux exports it raw.

    Layout (SMBIOS spec, 7.12): type (11), length of the formatted area,
    handle (2 bytes), string count; then the strings, each NUL-terminated,
    and one more NUL.
    """
    if not isinstance(raw, bytes) or len(raw) < 5:
        raise DocumentError(source, raw, "an SMBIOS structure of at least 5 bytes")
    if raw[0] != 11:
        raise DocumentError(source, raw[:8], "an SMBIOS type 11 (OEM strings) structure")
    length, count = raw[1], raw[4]
    if length < 5 or length > len(raw):
        raise DocumentError(source, raw[:8], "a formatted-area length between 5 and %d" % len(raw))
    strings = []
    position = length
    for _index in range(count):
        end = raw.find(b"\x00", position)
        if end < 0:
            raise DocumentError(source, raw[position:position + 60], "NUL-terminated strings")
        strings.append(raw[position:end].decode("ascii", errors="replace"))
        position = end + 1
    return strings


def _show(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
