"""guest_smt_hints as a module process on a guest-shaped tree, and the policy filter on its output."""

import base64
import json
import struct

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hvfleet.smt.plugins.filter.guest_smt_defence import guest_smt_defence

CPU = "sys/devices/system/cpu/"
FW_CFG = "sys/firmware/qemu_fw_cfg/by_name/opt/org.hvfleet/smt-hints/raw"
DOC = {"format": "hvfleet.smt/statements", "version": 1, "host": "hv1", "migration_domain": None,
       "issued": "2026-11-25T05:00:00Z",
       "statements": {"no_smt": {"granted": False, "reasons": ["smt_reversible"]},
                      "accurate_topology": {"granted": True, "reasons": []},
                      "no_nonarch_core_sharing": {"granted": False, "reasons": ["sibling_shared"]},
                      "dedicated": {"granted": True, "reasons": []}}}


def guest_tree(write_tree, root, document=None):
    text = json.dumps(document or DOC, sort_keys=True, separators=(",", ":"))
    files = {
        CPU + "online": "0-3\n", CPU + "present": "0-3\n", CPU + "possible": "0-3\n",
        CPU + "smt/control": "on\n", CPU + "smt/active": "1\n",
        CPU + "vulnerabilities/mds": "Mitigation: Clear CPU buffers; SMT Host state unknown\n",
        CPU + "vulnerabilities/spectre_v2": "Mitigation: Retpolines; STIBP: conditional; RSB filling\n",
        "proc/cpuinfo": "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu ht hypervisor\n\n",
        "proc/cmdline": "ro quiet\n",
        FW_CFG: base64.b64encode(text.encode()).decode(),
    }
    for cpu in range(4):
        topo = CPU + "cpu%d/topology/" % cpu
        files[topo + "physical_package_id"] = "0\n"
        files[topo + "core_id"] = "%d\n" % (cpu // 2)
        files[topo + "thread_siblings_list"] = "%d-%d\n" % (cpu // 2 * 2, cpu // 2 * 2 + 1)
    return write_tree(root, files)


def test_reads_the_document_and_the_guest(run_module, write_tree, tmp_path):
    result = run_module("guest_smt_hints", sysroot=guest_tree(write_tree, tmp_path))
    facts = result["ansible_facts"]["hvfleet_guest_smt"]
    assert result["changed"] is False and result["summary"] == "granted: accurate_topology, dedicated"
    assert facts["granted"] == ["accurate_topology", "dedicated"]
    assert facts["statements"]["no_nonarch_core_sharing"] == {
        "granted": False, "told_by": [], "denied_by": ["fw_cfg"], "conflict": False, "reasons": ["sibling_shared"]}
    assert {name: ch["status"] for name, ch in facts["channels"].items()} == {
        "fw_cfg": "read", "smbios": "unavailable", "cpuid": "unavailable"}
    assert facts["guest"]["threads_per_core"] == 2 and facts["guest"]["stibp"] == "conditional"
    assert facts["guest"]["hypervisor"]["guest"] is True
    assert facts["guest"]["core_scheduling"]["status"] == "unknown"  # not probed off "/"

    decision = guest_smt_defence(facts, untrusted_workloads=True, fallback="nosmt")
    assert decision["rule"] == "R4_core_scheduling_missing" and decision["present"] == ["nosmt"]


def test_a_garbled_document_grants_nothing(run_module, write_tree, tmp_path):
    root = guest_tree(write_tree, tmp_path)
    (tmp_path / FW_CFG).write_text(base64.b64encode(b'{"format":"other"}').decode())
    facts = run_module("guest_smt_hints", sysroot=root)["ansible_facts"]["hvfleet_guest_smt"]
    assert facts["granted"] == [] and facts["channels"]["fw_cfg"]["status"] == "invalid"
    assert "format" in facts["channels"]["fw_cfg"]["detail"]


def test_bad_sysroot_fails_cleanly(run_module, tmp_path):
    result = run_module("guest_smt_hints", sysroot=str(tmp_path / "missing"))
    assert result["failed"] and "missing" in result["msg"]


def test_filter_refuses_other_input():
    with pytest.raises(AnsibleFilterError, match="hvfleet_guest_smt"):
        guest_smt_defence({"granted": "all"})
    with pytest.raises(AnsibleFilterError, match="fallback"):
        guest_smt_defence({"granted": [], "guest": {}}, fallback="off")


def test_cpuid_device_is_read_when_present(run_module, write_tree, tmp_path):
    root = guest_tree(write_tree, tmp_path)
    device = tmp_path / "dev/cpu/0/cpuid"
    device.parent.mkdir(parents=True)
    with open(device, "wb") as handle:  # leaf 1 with the hypervisor bit, a TCG signature
        handle.truncate(0x40010000 + 16)
        handle.seek(1)
        handle.write(struct.pack("<IIII", 0, 0, 1 << 31, 0))
        handle.seek(0x40000000)
        handle.write(struct.pack("<I", 0x40000001) + b"TCGTCGTCGTCG")
    facts = run_module("guest_smt_hints", sysroot=root)["ansible_facts"]["hvfleet_guest_smt"]
    cpuid = facts["channels"]["cpuid"]
    assert cpuid["status"] == "read" and cpuid["hypervisor_bit"] is True and cpuid["kvm"] is None
    assert cpuid["signatures"] == [{"leaf": "0x40000000", "signature": "TCGTCGTCGTCG"}]
    assert facts["statements"]["dedicated"]["told_by"] == ["fw_cfg"]
