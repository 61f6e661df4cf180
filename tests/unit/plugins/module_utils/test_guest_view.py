# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a guest reads from fw_cfg, SMBIOS and CPUID, and how the channels vote.

The channels are laid out as a Linux guest exports them (fw_cfg's ``raw`` file,
dmi-sysfs' raw type 11 structure, the cpuid driver's device, here a sparse
file with 16 bytes at offset = leaf), so the readers are tested on bytes, not
on mocks.
"""

from __future__ import annotations

import os
import struct

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils import guest_view as gv
from ansible_collections.hvfleet.smt.plugins.module_utils import statement_document as sd
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError

ISSUED = "2026-11-25T05:00:00Z"
NAMES = sd.STATEMENT_NAMES


def document_text(granted=(), host="hv1", issued=ISSUED, codes=("sibling_shared",)):
    statements = sd.statements_from_data({
        name: {"granted": name in granted,
               "reasons": [] if name in granted else [{"code": c, "message": "m"} for c in codes]}
        for name in NAMES})
    return sd.encode_document(sd.build_document(statements, host, "rack-a", issued))


def dmi_structure(strings, handle=0x0B00):
    """An SMBIOS type 11 structure as /sys/firmware/dmi/entries/11-0/raw holds it."""
    head = struct.pack("<BBHB", 11, 5, handle, len(strings))
    body = b"".join(s.encode("ascii") + b"\x00" for s in strings) + b"\x00"
    return head + body


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data if isinstance(data, bytes) else data.encode("ascii"))


def regs(eax=0, ebx=0, ecx=0, edx=0):
    return struct.pack("<IIII", eax, ebx, ecx, edx)


def signature_regs(max_leaf, text):
    raw = text.encode("ascii").ljust(12, b"\x00")
    return regs(max_leaf, *struct.unpack("<III", raw))


def write_cpuid(root, leaves, cpu=0):
    """A sparse stand-in for /dev/cpu/N/cpuid: pread at offset=leaf returns that leaf.

    A file cannot hold two leaves closer than 16 apart (the driver can), so
    only sparse tables go here; the rest go through ``table``.
    """
    ordered = sorted(leaves)
    assert all(b - a >= 16 for a, b in zip(ordered, ordered[1:])), "leaves overlap in a file"
    path = os.path.join(root, gv.CPUID_DEVICE % cpu)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(0x40010000 + 16)
        for leaf, data in leaves.items():
            handle.seek(leaf)
            handle.write(data)
    return path


def table(leaves):
    """A CPUID reader over a table of leaves; absent leaves read as zeros."""
    return lambda leaf, subleaf: struct.unpack("<IIII", leaves.get(leaf, regs()))


def view_with_cpuid(root, leaves):
    """The guest view with CPUID from a table and the documents from files under root."""
    channel = gv.interpret_cpuid(table(leaves), "table")
    told, disagreements = gv.decide(gv.read_fw_cfg(root), gv.read_smbios(root), channel)
    return gv.GuestView(told, (gv.read_fw_cfg(root), gv.read_smbios(root), channel), disagreements)


def kvm_leaves(dedicated, hypervisor_bit=True, base=0x40000000):
    return {1: regs(ecx=(1 << 31) if hypervisor_bit else 0),
            base: signature_regs(base + 1, "KVMKVMKVM"),
            base + 1: regs(eax=0x01000efb, edx=1 if dedicated else 0)}


def hyperv_leaves(nonarch, dedicated=False):
    leaves = {1: regs(ecx=1 << 31),
              0x40000000: signature_regs(0x4000000A, "Microsoft Hv"),
              0x40000001: regs(eax=gv.HYPERV_INTERFACE),
              0x40000004: regs(eax=(1 << 5) | ((1 << 18) if nonarch else 0))}
    leaves.update({k: v for k, v in kvm_leaves(dedicated, base=0x40000100).items() if k != 1})
    return leaves


@pytest.fixture
def guest(tmp_path):
    """A guest root with all three interfaces present and nothing said."""
    root = str(tmp_path)
    os.makedirs(os.path.join(root, gv.FW_CFG_DIR, "by_name"))
    write(os.path.join(root, gv.DMI_ENTRIES, "11-0", "raw"), dmi_structure(["io.systemd.credential:x=y"]))
    return root


def say_fw_cfg(root, text):
    write(os.path.join(root, gv.FW_CFG_RAW), sd.fw_cfg_content(text))


def say_smbios(root, text, others=("io.systemd.credential:x=y",)):
    write(os.path.join(root, gv.DMI_ENTRIES, "11-0", "raw"), dmi_structure(list(others) + [sd.oem_string(text)]))


def statements(view):
    return {told.name: told for told in view.statements}


class TestChannels:
    def test_nothing_said(self, guest):
        view = gv.read_guest_view(guest)
        status = {name: ch.status for name, ch in zip(gv.CHANNELS, view.channels)}
        assert status == {"fw_cfg": "absent", "smbios": "absent", "cpuid": "unavailable"}
        assert view.to_dict()["granted"] == []
        assert all(told.reasons == ("not_told",) for told in view.statements)

    def test_interfaces_missing_read_unavailable(self, tmp_path):
        view = gv.read_guest_view(str(tmp_path))
        assert [ch.status for ch in view.channels] == ["unavailable"] * 3
        assert "modprobe qemu_fw_cfg" in view.channels[0].detail
        assert "dmi-sysfs" in view.channels[1].detail
        assert "modprobe cpuid" in view.channels[2].detail

    def test_both_documents_agree(self, guest):
        text = document_text(("accurate_topology", "dedicated"))
        say_fw_cfg(guest, text)
        say_smbios(guest, text)
        view = gv.read_guest_view(guest)
        told = statements(view)
        assert view.to_dict()["granted"] == ["accurate_topology", "dedicated"]
        assert told["accurate_topology"].told_by == ("fw_cfg", "smbios")
        assert told["no_smt"].granted is False
        assert told["no_smt"].denied_by == ("fw_cfg", "smbios")
        assert told["no_smt"].reasons == ("sibling_shared",)
        assert view.disagreements == ()

    def test_one_channel_is_enough(self, guest):
        say_smbios(guest, document_text(("no_smt",)))
        view = gv.read_guest_view(guest)
        assert view.granted("no_smt") and statements(view)["no_smt"].told_by == ("smbios",)

    def test_channels_disagree_means_not_granted(self, guest):
        say_fw_cfg(guest, document_text(("accurate_topology", "dedicated")))
        say_smbios(guest, document_text(("dedicated",)))
        view = gv.read_guest_view(guest)
        told = statements(view)
        assert not told["accurate_topology"].granted and told["accurate_topology"].conflict
        assert "channels_disagree" in told["accurate_topology"].reasons
        assert told["dedicated"].granted and not told["dedicated"].conflict
        assert {"statement": "accurate_topology", "kind": "statement",
                "granted_by": ["fw_cfg"], "denied_by": ["smbios"]} in view.disagreements

    def test_documents_from_different_hosts_are_flagged(self, guest):
        say_fw_cfg(guest, document_text(("dedicated",), host="hv1"))
        say_smbios(guest, document_text(("dedicated",), host="hv2"))
        view = gv.read_guest_view(guest)
        assert view.granted("dedicated")
        assert [d for d in view.disagreements if d["kind"] == "documents_differ"][0]["fields"] == ["host"]

    def test_invalid_document_votes_no(self, guest):
        say_fw_cfg(guest, document_text(("dedicated",)))
        write(os.path.join(guest, gv.DMI_ENTRIES, "11-0", "raw"),
              dmi_structure([sd.OEM_PREFIX + '{"format":"hvfleet.smt/statements","version":2}']))
        view = gv.read_guest_view(guest)
        assert view.channels[1].status == "invalid" and "version" in view.channels[1].detail
        assert not view.granted("dedicated")
        assert "channel_invalid" in statements(view)["dedicated"].reasons

    def test_fw_cfg_not_base64_is_invalid(self, guest):
        write(os.path.join(guest, gv.FW_CFG_RAW), "{not base64}")
        channel = gv.read_fw_cfg(guest)
        assert channel.status == "invalid" and "base64" in channel.detail

    def test_two_oem_strings_with_our_prefix_are_invalid(self, guest):
        text = document_text(("dedicated",))
        write(os.path.join(guest, gv.DMI_ENTRIES, "11-0", "raw"), dmi_structure([sd.oem_string(text)]))
        write(os.path.join(guest, gv.DMI_ENTRIES, "11-1", "raw"), dmi_structure([sd.oem_string(text)]))
        assert gv.read_smbios(guest).status == "invalid"

    def test_truncated_dmi_structure_is_invalid(self, guest):
        write(os.path.join(guest, gv.DMI_ENTRIES, "11-0", "raw"), b"\x0b\x05\x00")
        assert gv.read_smbios(guest).status == "invalid"

    def test_unreadable_is_not_a_vote(self, guest):
        say_smbios(guest, document_text(("dedicated",)))
        # A directory where the file should be: open() fails as it does for a
        # non-root reader of the root-only file (root would read mode 0 files).
        os.makedirs(os.path.join(guest, gv.FW_CFG_RAW))
        view = gv.read_guest_view(guest)
        assert view.channels[0].status == "unreadable" and gv.FW_CFG_RAW in view.channels[0].detail
        assert statements(view)["dedicated"].told_by == ("smbios",)

    def test_sysroot_must_exist(self, tmp_path):
        with pytest.raises(HvfleetError, match="not a directory"):
            gv.read_guest_view(str(tmp_path / "nope"))


class TestCpuid:
    def test_kvm_hint_dedicated(self):
        channel = gv.interpret_cpuid(table(kvm_leaves(dedicated=True)))
        assert channel.status == "read" and channel.kvm_base == 0x40000000
        assert channel.kvm_hints_realtime is True and channel.hyperv_base is None
        assert channel.to_dict()["signatures"] == [{"leaf": "0x40000000", "signature": "KVMKVMKVM\\x00\\x00\\x00"}]

    def test_cpuid_alone_grants_dedicated(self, guest):
        view = view_with_cpuid(guest, kvm_leaves(dedicated=True))
        assert view.to_dict()["granted"] == ["dedicated"]
        assert statements(view)["dedicated"].told_by == ("cpuid",)

    def test_cpuid_bit_clear_against_document_grant_is_a_conflict(self, guest):
        say_fw_cfg(guest, document_text(("dedicated",)))
        view = view_with_cpuid(guest, kvm_leaves(dedicated=False))
        told = statements(view)["dedicated"]
        assert not told.granted and told.conflict and told.denied_by == ("cpuid",)

    def test_cpuid_speaks_only_for_its_two_statements(self, guest):
        say_fw_cfg(guest, document_text(("accurate_topology",)))
        view = view_with_cpuid(guest, kvm_leaves(dedicated=False))
        assert view.granted("accurate_topology")
        assert statements(view)["accurate_topology"].denied_by == ()

    def test_hyperv_nonarch_and_kvm_moved_to_0x40000100(self):
        channel = gv.interpret_cpuid(table(hyperv_leaves(nonarch=True, dedicated=True)))
        assert channel.hyperv_base == 0x40000000 and channel.hyperv_no_nonarch_core_sharing is True
        assert channel.kvm_base == 0x40000100 and channel.kvm_hints_realtime is True

    def test_hyperv_bit_clear(self, guest):
        view = view_with_cpuid(guest, hyperv_leaves(nonarch=False))
        assert statements(view)["no_nonarch_core_sharing"].denied_by == ("cpuid",)

    def test_hypervisor_bit_clear_reads_nothing(self, guest):
        write_cpuid(guest, {1: regs(), 0x40000000: signature_regs(0x40000001, "KVMKVMKVM")})
        channel = gv.read_cpuid(guest)
        assert channel.status == "no_hypervisor" and channel.hypervisor_bit is False
        assert channel.kvm_base is None and channel.vote("dedicated") is None

    def test_other_hypervisor_is_reported_and_says_nothing(self, guest):
        write_cpuid(guest, {1: regs(ecx=1 << 31), 0x40000000: signature_regs(0x40000001, "TCGTCGTCGTCG")})
        channel = gv.read_cpuid(guest)
        assert channel.status == "read" and channel.kvm_base is None and channel.hyperv_base is None
        assert "'TCGTCGTCGTCG' at 0x40000000" in channel.detail
        assert channel.vote("dedicated") is None

    def test_short_read_is_unreadable(self, guest):
        path = os.path.join(guest, gv.CPUID_DEVICE % 0)
        write(path, b"\x00" + regs(ecx=1 << 31))  # leaf 1 at offset 1, nothing beyond
        channel = gv.read_cpuid(guest)
        assert channel.status == "unreadable" and "short read" in channel.detail

    def test_device_reader_reads_at_offset_leaf(self, guest):
        path = write_cpuid(guest, {1: regs(ecx=1 << 31), 0x40000000: signature_regs(0x40000001, "KVMKVMKVM")})
        read, close = gv.device_reader(path)
        try:
            assert read(1, 0) == (0, 0, 1 << 31, 0)
            assert read(0x40000000, 0)[0] == 0x40000001
        finally:
            close()


class TestOwnView:
    def test_from_facts(self):
        facts = {"smt": {"control": "on", "active": True, "threads_per_core": {"min": 2, "max": 2}},
                 "vulnerabilities": {"mds": {"raw": "x; SMT Host state unknown", "smt": "host_state_unknown",
                                             "stibp": None},
                                     "spectre_v2": {"raw": "y", "smt": None, "stibp": "conditional"}},
                 "core_scheduling": {"status": "not_built", "detail": "EINVAL"},
                 "hypervisor": {"guest": True}, "cmdline": {"raw": "quiet"}}
        own = gv.own_view(facts)
        assert own["threads_per_core"] == 2 and own["smt_control"] == "on"
        assert own["vulnerabilities_smt"] == {"mds": "host_state_unknown"}
        assert own["stibp"] == "conditional" and own["core_scheduling"]["status"] == "not_built"
