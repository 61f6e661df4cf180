# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The statement document: host-side build and encode, guest-side parse, channel encodings."""

import base64
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.hvfleet.smt.plugins.module_utils import statement_document as sd
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import DocumentError, RenderError

NAMES = sd.STATEMENT_NAMES
ISSUED = "2026-11-25T05:00:00Z"
CODES = st.from_regex(r"\A[a-z][a-z0-9_]{0,20}\Z")
NAME_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)


def engine(granted=(), codes=("sibling_shared",)):
    return sd.statements_from_data({
        name: {"granted": name in granted,
               "reasons": [] if name in granted else [{"code": c, "message": "m"} for c in codes]}
        for name in NAMES})


def text_of(granted=(), host="hv1", domain="rack-a"):
    return sd.encode_document(sd.build_document(engine(granted), host, domain, ISSUED))


def unescape_qemu(value):
    """QEMU's reading of an option value: a doubled comma is one comma, a single one ends it."""
    out, index = [], 0
    while index < len(value):
        if value[index] == ",":
            assert value[index + 1: index + 2] == ",", "single comma would end the value"
            index += 1
        out.append(value[index])
        index += 1
    return "".join(out)


class TestBuildAndEncode:
    def test_shape(self):
        document = json.loads(text_of(("dedicated",)))
        assert document == {
            "format": "hvfleet.smt/statements", "version": 1, "host": "hv1",
            "migration_domain": "rack-a", "issued": ISSUED,
            "statements": {
                "no_smt": {"granted": False, "reasons": ["sibling_shared"]},
                "accurate_topology": {"granted": False, "reasons": ["sibling_shared"]},
                "no_nonarch_core_sharing": {"granted": False, "reasons": ["sibling_shared"]},
                "dedicated": {"granted": True, "reasons": []}}}

    def test_compact_sorted_ascii(self):
        text = text_of()
        assert " " not in text and text.isascii()
        assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))

    def test_reason_codes_deduplicated_in_order(self):
        document = sd.build_document(engine(codes=("b_code", "a_code", "b_code")), "h", None, ISSUED)
        assert document.statement("no_smt").reasons == ("b_code", "a_code")

    def test_messages_stay_on_the_host(self):
        assert "vCPU 3" not in text_of()

    def test_datetime_is_converted_to_utc(self):
        moment = datetime(2026, 11, 25, 6, 0, 0, tzinfo=timezone(timedelta(hours=1)))
        assert sd.build_document(engine(), "h", None, moment).issued == ISSUED

    @pytest.mark.parametrize("issued", ["2026-11-25 05:00:00", "2026-11-25T05:00:00+00:00",
                                        datetime(2026, 11, 25), 1795584046])
    def test_issued_must_be_utc(self, issued):
        with pytest.raises(RenderError, match="issued: expected"):
            sd.build_document(engine(), "h", None, issued)

    @pytest.mark.parametrize("host", ["", "h\nx", "h\u00e9", None, "x" * 256])
    def test_host_is_printable_ascii(self, host):
        with pytest.raises(RenderError, match="host: expected 1-255 printable ASCII"):
            sd.build_document(engine(), host, None, ISSUED)

    def test_too_large_is_refused_on_the_host(self):
        codes = tuple("reason_%03d_%s" % (i, "x" * 40) for i in range(40))
        with pytest.raises(RenderError, match="at most 2048 fit the channels"):
            sd.build_document(engine(codes=codes), "h", None, ISSUED)

    def test_missing_statement_is_denied_in_the_document(self):
        document = sd.build_document([sd.Statement("dedicated", True, ())], "h", None, ISSUED)
        assert document.granted("dedicated")
        assert document.statement("no_smt") == sd.DocumentStatement(False, ("statement_missing",))


class TestParse:
    def test_round_trip(self):
        document = sd.parse_document(text_of(("no_smt", "dedicated")))
        assert document.granted("no_smt") and document.granted("dedicated")
        assert not document.granted("accurate_topology")
        assert document.statement("accurate_topology").reasons == ("sibling_shared",)
        assert (document.host, document.migration_domain, document.issued) == (
            "hv1", "rack-a", ISSUED)

    @given(granted=st.sets(st.sampled_from(NAMES)), codes=st.lists(CODES, max_size=3),
           host=NAME_TEXT, domain=st.one_of(st.none(), NAME_TEXT))
    def test_property_round_trip_through_every_channel(self, granted, codes, host, domain):
        document = sd.build_document(engine(tuple(granted), tuple(codes)), host, domain, ISSUED)
        text = sd.encode_document(document)
        assert sd.parse_document(text) == document
        assert sd.parse_document(text.encode() + b"\x00\n") == document
        fw_cfg, smbios = sd.qemu_arguments(text)[1], sd.qemu_arguments(text)[3]
        content = unescape_qemu(fw_cfg.split("string=", 1)[1])
        assert re.match(r"^[A-Za-z0-9+/=]+$", content), "nothing libvirt or QEMU would escape"
        assert sd.parse_document(sd.document_from_fw_cfg(content.encode() + b"\x00")) == document
        oem = unescape_qemu(smbios.split("value=", 1)[1])
        assert sd.parse_document(sd.document_from_oem_strings(["other", oem])) == document
        for name in NAMES:
            assert document.granted(name) == (name in granted)

    def test_bytes_with_padding(self):
        assert sd.parse_document(text_of().encode("ascii") + b"\x00\x00").host == "hv1"

    @pytest.mark.parametrize("mutate, match", [
        (lambda d: d.update(version=2), r"\.version: read 2, expected 1 \(this reader knows only"),
        (lambda d: d.update(version=True), r"\.version"),
        (lambda d: d.update(format="other"), r"\.format"),
        (lambda d: d.update(host=""), r"\.host"),
        (lambda d: d.update(issued="yesterday"), r"\.issued"),
        (lambda d: d.update(statements=[]), r"\.statements: read \[\]"),
        (lambda d: d["statements"]["dedicated"].update(granted="true"), r"dedicated\.granted"),
        (lambda d: d["statements"]["dedicated"].update(granted=1), r"dedicated\.granted"),
        (lambda d: d["statements"]["no_smt"].update(reasons=["Bad Code"]), r"no_smt\.reasons"),
        (lambda d: d["statements"].update(no_smt=True), r"no_smt: read True"),
    ])
    def test_strict(self, mutate, match):
        document = json.loads(text_of(NAMES))
        mutate(document)
        with pytest.raises(DocumentError, match=match):
            sd.parse_document(json.dumps(document), source="fw_cfg")

    def test_missing_statement_reads_as_denied(self):
        document = json.loads(text_of(NAMES))
        del document["statements"]["dedicated"]
        parsed = sd.parse_document(json.dumps(document))
        assert not parsed.granted("dedicated")
        assert parsed.statement("dedicated").reasons == ("statement_missing",)

    def test_unknown_keys_and_statements_are_ignored(self):
        document = json.loads(text_of(NAMES))
        document["added_later"] = {"x": 1}
        document["statements"]["future_statement"] = {"granted": True, "reasons": []}
        assert sd.parse_document(json.dumps(document)).granted("no_smt")

    def test_duplicate_keys_are_refused(self):
        text = text_of(()).replace('"dedicated":{"granted":false',
                                   '"dedicated":{"granted":true,"granted":false', 1)
        with pytest.raises(DocumentError, match="duplicate key 'granted'"):
            sd.parse_document(text)

    @pytest.mark.parametrize("data, match", [
        (b"\xff\xfe", "expected ASCII JSON"),
        ("not json", "expected a JSON object"),
        ("[1, 2]", "expected a JSON object"),
        ("{" + " " * 3000 + "}", "at most 2048 bytes"),
        (42, "expected a JSON text"),
    ])
    def test_unreadable(self, data, match):
        with pytest.raises(DocumentError, match=match):
            sd.parse_document(data, source="/sys/firmware/qemu_fw_cfg/by_name/x/raw")


class TestChannels:
    def test_qemu_arguments(self):
        text = text_of()
        arguments = sd.qemu_arguments(text)
        assert arguments == [
            "-fw_cfg", "name=opt/org.hvfleet/smt-hints,string=" + base64.b64encode(
                text.encode()).decode(),
            "-smbios", "type=11,value=org.hvfleet.smt-hints:" + text.replace(",", ",,")]

    @pytest.mark.parametrize("raw, match", [
        (b"not base64!", "base64"),
        (b"e30", "base64"),  # unpadded
        (b"\xff", "base64"),
        (b"A" * 2736, "at most 2732 bytes of base64"),
        (42, "base64 text"),
    ])
    def test_fw_cfg_content_errors(self, raw, match):
        with pytest.raises(DocumentError, match=match):
            sd.document_from_fw_cfg(raw)

    def test_fw_cfg_content_of_the_largest_document_fits(self):
        assert len(sd.fw_cfg_content("x" * sd.MAX_DOCUMENT_BYTES)) == sd.FW_CFG_MAX_BYTES

    def test_fw_cfg_name_fits_qemu(self):
        assert sd.FW_CFG_NAME.startswith("opt/") and len(sd.FW_CFG_NAME) <= 55

    def test_libvirt_entries_oem_unescaped_fw_cfg_base64(self):
        text = text_of()
        (name, value), (prefix, oem) = sd.libvirt_entries(text)
        assert (name, prefix, oem) == (sd.FW_CFG_NAME, sd.OEM_PREFIX, sd.OEM_PREFIX + text)
        assert sd.document_from_fw_cfg(value) == text

    @pytest.mark.parametrize("text", ["", "a\nb", "\u00e9", None, "x" * 2049])
    def test_channels_take_only_encoded_documents(self, text):
        with pytest.raises(RenderError, match="statement document: expected"):
            sd.qemu_arguments(text)

    def test_oem_strings_without_ours(self):
        assert sd.document_from_oem_strings(["io.systemd.credential:a=b"]) is None

    def test_two_of_ours_is_an_error(self):
        with pytest.raises(DocumentError, match="at most one string starting with"):
            sd.document_from_oem_strings([sd.oem_string("{}"), sd.oem_string("{}")])

    def test_dmi_raw_type_11(self):
        strings = [b"io.systemd.credential:a=b", sd.oem_string(text_of(NAMES)).encode()]
        raw = bytes((11, 5, 0x00, 0x0B, len(strings))) + b"\x00".join(strings) + b"\x00\x00"
        found = sd.oem_strings_from_dmi(raw)
        assert found[0] == "io.systemd.credential:a=b"
        assert sd.parse_document(sd.document_from_oem_strings(found)).granted("dedicated")

    @pytest.mark.parametrize("raw, match", [
        (b"\x0b\x05", "at least 5 bytes"),
        (bytes((1, 5, 0, 0, 1)) + b"x\x00\x00", "type 11"),
        (bytes((11, 9, 0, 0, 1)) + b"x\x00", "formatted-area length"),
        (bytes((11, 5, 0, 0, 2)) + b"x\x00y", "NUL-terminated strings"),
        ("text", "at least 5 bytes"),
    ])
    def test_dmi_raw_errors(self, raw, match):
        with pytest.raises(DocumentError, match=match):
            sd.oem_strings_from_dmi(raw)
