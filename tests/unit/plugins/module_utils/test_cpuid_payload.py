# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CPUID/fw_cfg boot sector's encoding and the parser of what it prints, without QEMU.

test_cpuid_kvm.py runs the sector in real QEMU; these pin down the bytes that
make it talk to fw_cfg as docs/specs/fw_cfg.rst says (selector 0x510 written
16-bit, data 0x511 read bytewise, big-endian directory fields) and the output
format the Molecule scenarios parse.
"""

import importlib.util
from pathlib import Path

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils import statement_document as sd

PAYLOAD_DIR = Path(__file__).resolve().parents[4] / "tests" / "infra" / "payloads" / "cpuid"


def load(name):
    spec = importlib.util.spec_from_file_location(name, PAYLOAD_DIR / ("%s.py" % name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


payload = load("cpuid_payload")
probe = load("cpuid_probe")
SECTOR = payload.boot_sector()


def test_sector_is_one_bootable_sector_with_the_table_last():
    assert len(SECTOR) == 512 and SECTOR[-2:] == b"\x55\xaa"
    table = b"".join(bytes((subleaf,)) + leaf.to_bytes(4, "little")
                     for leaf, subleaf in payload.QUERIES)
    assert len(table) == 5 * len(payload.QUERIES)
    code = SECTOR[:-2].rstrip(b"\x00")
    assert code.endswith(table)
    # sub-leaf first, then the leaf little-endian: (0xB, 1) and the last query
    assert bytes((1,)) + (0xB).to_bytes(4, "little") in table
    assert table[-5:] == b"\x00" + (0x8000001E).to_bytes(4, "little")


def test_file_name_matches_the_renderers_and_is_compared_with_its_nul():
    assert payload.FW_CFG_FILE == sd.FW_CFG_NAME
    name = sd.FW_CFG_NAME.encode("ascii") + b"\x00"
    assert name in SECTOR
    # mov si, name; mov di, BUFFER + 8 (the entry's name); mov cl, len + NUL; repe cmpsb; jne
    at = SECTOR.index(b"\xBF\x08\x06\xB1" + bytes((len(name),)) + b"\xF3\xA6\x75")
    assert SECTOR[at - 3] == 0xBE


def test_signature_then_file_directory_over_the_legacy_ports():
    # mov si, prefix; call puts; mov dx, 0x510; xor ax, ax; out dx, ax; inc dx; mov cl, 4
    assert b"\xBA\x10\x05\x31\xC0\xEF\x42\xB1\x04" in SECTOR
    # cmp dword [0x600], "QEMU": the four bytes as read from the data port
    assert b"\x66\x81\x3E\x00\x06QEMU" in SECTOR
    # mov ax, 0x19 (FW_CFG_FILE_DIR); dec dx; out dx, ax; inc dx
    assert b"\xB8\x19\x00\x4A\xEF\x42" in SECTOR
    # the count and the size are big-endian: mov eax, [0x600]; bswap eax
    assert SECTOR.count(b"\x66\xA1\x00\x06\x66\x0F\xC8") == 2
    # the selector is big-endian in the entry: mov ax, [0x604]; xchg al, ah; select
    assert b"\xA1\x04\x06\x86\xC4\x4A\xEF\x42" in SECTOR
    # bytes come from the data port: mov di, 0x600; rep insb
    assert b"\xBF\x00\x06\xF3\x6C" in SECTOR


def test_putc_keeps_the_data_port_in_dx():
    assert b"\x52\xBA\xF8\x03\xEE\x5A\xC3" in SECTOR  # push dx; mov dx, 0x3f8; out; pop dx; ret


def test_markers_cannot_be_mistaken_for_the_end_marker():
    """Waiters look for END; no marker, and no hex digit string, contains it."""
    for mark in (payload.MARK_BEGIN, payload.MARK_DONE, payload.MARK_NONE, payload.MARK_NODEV):
        assert "END" not in mark and mark.startswith("FWCFG-")
    for text in (b"FWCFG-\x00", b"BEGIN\x00", b"NONE\x00", b"NODEV\x00", b"\r\nFWCFG-DONE\x00",
                 b"\r\nEND\r\n\x00"):
        assert text in SECTOR


@pytest.mark.parametrize("name", ["", "opt/" + "x" * 52])
def test_file_names_qemu_cannot_hold_are_refused(name):
    with pytest.raises(ValueError, match="fw_cfg file name"):
        payload.boot_sector(fw_cfg_file=name)


def test_a_payload_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match="fit in a boot sector"):
        payload.boot_sector(queries=payload.QUERIES * 2)
    with pytest.raises(ValueError, match="at least one"):
        payload.boot_sector(queries=())
    with pytest.raises(ValueError, match="cannot encode"):
        payload.boot_sector(queries=((0x1, 0x100),))


LOG = ("C 40000001 00000000 01007AFB 00000000 00000000 00000001\r\n"
       "FWCFG-BEGIN 00000004\r\n51554A44\r\nFWCFG-DONE\r\nEND\r\n")


def test_parse_file_section():
    assert payload.parse_fw_cfg(LOG) == {"state": "file", "size": 4, "data": b"QUJD"}


@pytest.mark.parametrize("text,state", [
    ("FWCFG-NONE\r\nEND\r\n", "none"),
    ("FWCFG-NODEV\r\nEND\r\n", "nodev"),
    ("C 40000001 00000000 01007AFB 00000000 00000000 00000001\r\nEND\r\n", "missing"),
    (LOG + "FWCFG-NONE\r\nEND\r\n", "none"),   # the last boot counts
    ("FWCFG-NONE\r\nEND\r\n" + LOG, "file"),
])
def test_parse_states(text, state):
    assert payload.parse_fw_cfg(text)["state"] == state


@pytest.mark.parametrize("text,message", [
    ("FWCFG-BEGIN 00000004\r\n5155", "cut short"),
    ("FWCFG-BEGIN 00000004\r\n51554A\r\nFWCFG-DONE\r\n", "says 4 bytes, the guest printed 3"),
    ("FWCFG-BEGIN 00000002\r\n51554A44\r\nFWCFG-DONE\r\n", "says 2 bytes"),
    ("FWCFG-BEGIN 00000002\r\n51 55\r\nFWCFG-DONE\r\n", "garbled"),
])
def test_parse_refuses_a_damaged_section(text, message):
    with pytest.raises(ValueError, match=message):
        payload.parse_fw_cfg(text)


def document_log(content):
    data = content.encode("ascii")
    return "FWCFG-BEGIN %08X\r\n%s\r\nFWCFG-DONE\r\nEND\r\n" % (len(data), data.hex().upper())


def test_read_fw_cfg_parses_the_document_with_the_guest_parser():
    text = probe.document_text(probe.statements(dedicated=True))
    read = probe.read_fw_cfg(document_log(sd.fw_cfg_content(text)))
    assert read["state"] == "file" and read["error"] is None
    assert read["content"] == sd.fw_cfg_content(text)
    assert read["document"] == sd.parse_document(text).to_dict()
    assert read["document"]["statements"]["dedicated"]["granted"] is True


def test_read_fw_cfg_reports_what_it_cannot_read():
    raw = probe.read_fw_cfg(document_log('{"format":"x"}'))
    assert raw["state"] == "file" and raw["document"] is None and "base64" in raw["error"]
    damaged = probe.read_fw_cfg("FWCFG-BEGIN 00000009\r\n00\r\nFWCFG-DONE\r\n")
    assert damaged["state"] == "garbled" and "says 9 bytes" in damaged["error"]


def test_read_serial_takes_the_last_boot(tmp_path):
    log = tmp_path / "guest.serial.log"
    text = probe.document_text(probe.statements())
    log.write_text("FWCFG-NONE\r\nEND\r\n" + LOG.split("FWCFG", maxsplit=1)[0] + document_log(sd.fw_cfg_content(text)))
    read = probe.read_serial(str(log))
    assert read["finished"] is True
    assert read["leaves"]["40000001/00"]["edx"] == "0x00000001"
    assert read["fw_cfg"]["document"]["statements"]["dedicated"]["granted"] is False
    assert probe.main(["read-serial", str(tmp_path / "absent.log")]) == 2
