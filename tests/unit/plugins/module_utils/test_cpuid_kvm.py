# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The renderers against real QEMU with -accel kvm: what a guest reads is what the table says.

Boots the CPUID boot sector (tests/infra/payloads/cpuid/) with the rendered
QEMU arguments, in a 64 KiB loader instead of SeaBIOS so that the whole file
takes about two seconds. The Molecule scenario cpuid_kvm runs the same checks
through SeaBIOS. Without QEMU or /dev/kvm these tests fail, never skip: the
proof is the point of the renderers.
"""

import importlib.util
import json
import os
from pathlib import Path

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils import statement_document as sd

PROBE_PATH = (Path(__file__).resolve().parents[4] / "tests" / "infra" / "payloads" / "cpuid"
              / "cpuid_probe.py")


def load_probe():
    spec = importlib.util.spec_from_file_location("cpuid_probe", PROBE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


probe = load_probe()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    try:
        return probe.run_all(str(tmp_path_factory.mktemp("cpuid-kvm")), firmware="loader")
    except probe.ProbeError as exc:
        pytest.fail("cannot run the CPUID proof: %s" % exc)


def checks(report, *words):
    found = [c for c in report["checks"] if all(word in c["name"] for word in words)]
    assert found, "no check named with %r in %s" % (words, [c["name"] for c in report["checks"]])
    return found


def failed(found):
    return "\n".join("%s: %s" % (c["name"], c["detail"]) for c in found if not c["ok"])


def edx(report, run, leaf="40000001/00"):
    return int(report["runs"][run]["leaves"][leaf]["edx"], 16)


def test_qemu_and_kvm_are_available():
    try:
        probe.require_qemu_and_kvm()
    except probe.ProbeError as exc:
        pytest.fail(str(exc))


def test_every_guest_ran_to_the_end(report):
    found = checks(report, "ran to isa-debug-exit")
    assert len(found) >= 5
    assert not failed(found), failed(found)


def test_hint_bit_set_exactly_when_dedicated_is_granted(report):
    assert edx(report, "dedicated_granted") & 1 == 1
    assert edx(report, "dedicated_denied") & 1 == 0
    assert edx(report, "baseline") & 1 == 0
    assert "kvm-hint-dedicated=on" in report["runs"]["dedicated_granted"]["arguments"][3]
    assert "kvm-hint-dedicated" not in report["runs"]["dedicated_denied"]["arguments"][3]
    found = checks(report, "KVM_HINTS_REALTIME") + checks(report, "applied kvm-hint-dedicated")
    assert not failed(found), failed(found)


def test_no_other_bit_changes_against_the_baseline(report):
    found = checks(report, "bits changed against the baseline")
    assert len(found) == 2
    assert not failed(found), failed(found)
    granted = report["runs"]["dedicated_granted"]["leaves"]
    baseline = report["runs"]["baseline"]["leaves"]
    differing = {(slot, reg) for slot in baseline for reg in baseline[slot]
                 if granted[slot][reg] != baseline[slot][reg]}
    assert differing == {("40000001/00", "edx")}


def test_cpuid_table_matches_the_guest(report):
    found = checks(report, "rows")
    assert not failed(found), failed(found)


def test_hyperv_bit_accepted_and_explained(report, capsys):
    """Where KVM lacks KVM_CAP_HYPERV the bit cannot be read back; say so loudly."""
    found = checks(report, "nonarch_hyperv")
    assert not failed(found), failed(found)
    props = report["runs"]["nonarch_hyperv"]["properties"]
    assert props["hv-no-nonarch-coresharing"] == "on" and props["hv-relaxed"] is True
    if not report["hyperv_readable"]:
        note = checks(report, "NOT readable")[0]
        with capsys.disabled():
            print("\nNOTE cpuid_kvm: %s\n      %s" % (note["name"], note["detail"]))


def test_statement_document_arguments_are_accepted_by_qemu(tmp_path):
    """The doubled commas of -fw_cfg/-smbios parse in real QEMU (a single one would not)."""
    binary = probe.require_qemu_and_kvm()
    images = probe.write_images(str(tmp_path))
    data = {name: {"granted": name == "dedicated", "reasons": [] if name == "dedicated" else [
        {"code": "sibling_shared", "message": "m"}]} for name in sd.STATEMENT_NAMES}
    text = sd.encode_document(sd.build_document(
        sd.statements_from_data(data), "hv1", "rack-a", "2026-11-25T05:00:00Z"))
    assert text.count(",") > 5
    result = probe.boot(binary, images["loader"], "loader", "kvm",
                        ["-cpu", "host,-arch-capabilities"] + sd.qemu_arguments(text),
                        str(tmp_path), "document")
    assert result["finished"], json.dumps(result, indent=1, default=str)
    assert os.path.getsize(images["seabios"]) == 512
    read = result["fw_cfg"]
    assert read["state"] == "file", read
    assert read["content"] == sd.fw_cfg_content(text)
    assert read["document"] == sd.parse_document(text).to_dict()


def test_guest_reads_the_document_over_fw_cfg_exactly_when_given(report):
    """The granted and denied cases boot with their document; the baseline without any."""
    found = checks(report, "fw_cfg")
    assert len(found) == 3
    assert not failed(found), failed(found)
    assert report["runs"]["baseline"]["fw_cfg"]["state"] == "none"
    granted = report["runs"]["dedicated_granted"]["fw_cfg"]["document"]
    refused = report["runs"]["dedicated_denied"]["fw_cfg"]["document"]
    assert granted["statements"]["dedicated"]["granted"] is True
    assert refused["statements"]["dedicated"]["granted"] is False
    assert refused["statements"]["dedicated"]["reasons"] == ["test_denied"]


def _boot_payload(tmp_path, name, fw_cfg, fw_cfg_file=None):
    binary = probe.require_qemu_and_kvm()
    sector = probe.cpuid_payload.boot_sector(fw_cfg_file=fw_cfg_file)
    image = tmp_path / ("%s.bin" % name)
    image.write_bytes(probe.cpuid_payload.firmware_image(sector))
    arguments = ["-cpu", "host,-arch-capabilities"]
    for file_name, content in fw_cfg:
        arguments += ["-fw_cfg", "name=%s,string=%s" % (file_name, content)]
    result = probe.boot(binary, str(image), "loader", "kvm", arguments, str(tmp_path), name)
    assert result["finished"], json.dumps(result, indent=1, default=str)
    return result["fw_cfg"]


def test_only_the_exact_file_name_is_read(tmp_path):
    """Names that share a prefix with the file, before and after it in the directory, do not match."""
    decoys = [("opt/org.hvfleet/smt-hint", "c2hvcnQ="), ("opt/org.hvfleet/smt-hints2", "bG9uZw==")]
    assert _boot_payload(tmp_path, "decoys", decoys)["state"] == "none"
    read = _boot_payload(tmp_path, "among", decoys + [(sd.FW_CFG_NAME, "dGhlIG9uZQ==")])
    assert (read["state"], read["size"], read["content"]) == ("file", 12, "dGhlIG9uZQ==")
    assert read["document"] is None and "JSON" in read["error"]


def test_another_file_name_is_found_when_asked_for(tmp_path):
    """The name is a parameter of the sector: a shorter one is compared over its own length."""
    name = "opt/org.example/a"
    read = _boot_payload(tmp_path, "other", [(sd.FW_CFG_NAME, "WFla"), (name, "QUJD")], name)
    assert (read["state"], read["content"]) == ("file", "QUJD")
