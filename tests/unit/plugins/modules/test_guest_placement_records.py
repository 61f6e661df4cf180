"""guest_placement_facts: each domain's hvfleet record, and libvirtd's files as a backend.

The records are written with domain_metadata (the writers' contract) into the
captured real domain XML; the files backend reads the XML that libvirtd keeps
(persistent definitions, and <domstatus> files around running ones).
"""

import json
from pathlib import Path

from ansible_collections.hvfleet.smt.plugins.module_utils.domain_metadata import Record, set_record

FIXTURES = Path(__file__).resolve().parents[1] / "module_utils" / "fixtures" / "libvirt"
STATEMENTS = {"format": "hvfleet.smt/statements", "version": 1, "host": "hv-1", "migration_domain": None,
              "issued": "2026-11-25T05:00:00Z",
              "statements": {"dedicated": {"granted": True, "reasons": ["pins_exclusive"]}}}
RECORD = Record(plan={"vcpus": [[1], [0]]}, statements=STATEMENTS)


def base(extra=None):
    files = {"sys/devices/system/cpu/online": "0-1\n", "sys/devices/system/cpu/isolated": "\n",
             "proc/1/cmdline": "/sbin/init\0"}
    files.update(extra or {})
    return files


def xml(name, kind="inactive"):
    return (FIXTURES / ("%s.%s.xml" % (name, kind))).read_text()


def test_files_backend_reads_definitions_status_files_and_records(run_module, write_tree, tmp_path):
    pinned = set_record(xml("hvfleet-test-pinned"), RECORD, "test")
    live = "<domstatus state='running' reason='booted' pid='4242'>\n%s</domstatus>\n" % set_record(
        xml("hvfleet-test-pinned", "live"), RECORD, "test")
    root = write_tree(tmp_path / "root", base({
        "etc/libvirt/qemu/hvfleet-test-pinned.xml": pinned,
        "etc/libvirt/qemu/hvfleet-test-defined.xml": xml("hvfleet-test-defined"),
        "run/libvirt/qemu/hvfleet-test-pinned.xml": live,
        "etc/libvirt/qemu/networks/default.xml": "<network/>",
    }))
    result = run_module("guest_placement_facts", backend="files", sysroot=root)
    assert not result.get("failed"), result.get("msg")
    guests = {g["name"]: g for g in result["ansible_facts"]["hvfleet_placement"]["guests"]}
    assert sorted(guests) == ["hvfleet-test-defined", "hvfleet-test-pinned"]
    pinned_guest = guests["hvfleet-test-pinned"]
    assert pinned_guest["state"] == "running" and pinned_guest["source"] == "live_definition"
    assert pinned_guest["record"] == json.loads(json.dumps(RECORD.to_dict()))
    assert pinned_guest["record_error"] is None
    defined = guests["hvfleet-test-defined"]
    assert defined["state"] == "shut off" and defined["record"] is None and defined["record_error"] is None


def test_unreadable_record_is_named_for_its_domain_alone(run_module, write_tree, tmp_path):
    broken = set_record(xml("hvfleet-test-pinned"), RECORD, "test").replace(
        'hvfleet:record version="1"', 'hvfleet:record version="2"')
    root = write_tree(tmp_path / "root", base({
        "etc/libvirt/qemu/hvfleet-test-pinned.xml": broken,
        "etc/libvirt/qemu/hvfleet-test-defined.xml": set_record(xml("hvfleet-test-defined"), RECORD, "test"),
    }))
    result = run_module("guest_placement_facts", backend="files", sysroot=root)
    assert not result.get("failed"), result.get("msg")
    guests = {g["name"]: g for g in result["ansible_facts"]["hvfleet_placement"]["guests"]}
    bad = guests["hvfleet-test-pinned"]
    assert bad["record"] is None and "hvfleet-test-pinned" in bad["record_error"] and "version" in bad["record_error"]
    assert guests["hvfleet-test-defined"]["record"]["statements"] == STATEMENTS


def test_files_backend_unknown_domain_fails_naming_it(run_module, write_tree, tmp_path):
    root = write_tree(tmp_path / "root", base())
    result = run_module("guest_placement_facts", backend="files", sysroot=root, domains=["nope"])
    assert result["failed"] and "nope" in result["msg"]
