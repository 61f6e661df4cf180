"""libvirt domain XML -> guest placement.

Fixtures ``fixtures/libvirt/*.xml`` are ``virsh dumpxml`` (live) and
``--inactive`` of the test domains of tests/infra/libvirt, captured from
libvirt 9.0 / QEMU 7.2; the edge cases below are hand-written.
"""

import dataclasses
import json
from pathlib import Path

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils.hints import validate_placement
from ansible_collections.hvfleet.smt.plugins.module_utils.libvirt_domain import (
    DomainSnapshot,
    DomainXMLError,
    Topology,
    declared_pins,
    guest_placement,
    parse_domain_xml,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.qemu_threads import (
    QemuThread,
    ThreadPlacement,
    affinity_from_status,
    classify_threads,
)

FIXTURES = Path(__file__).parent / "fixtures" / "libvirt"
ONLINE = [0, 1]


def fixture(name, kind):
    return parse_domain_xml((FIXTURES / ("%s.%s.xml" % (name, kind))).read_text(), name)


def captured_threads(name, iothread_ids):
    data = json.loads((FIXTURES / ("%s.threads.json" % name)).read_text())
    threads = [QemuThread(t["tid"], t["comm"], affinity_from_status("\n".join(t["status"]), "s"))
               for t in data["threads"]]
    return data["pid"], classify_threads(threads, iothread_ids)


def running(name):
    live, config = fixture(name, "live"), fixture(name, "inactive")
    pid, threads = captured_threads(name, live.iothread_ids)
    return DomainSnapshot(name, "running", True, True, live, config, pid, threads)


def domain(body, vcpu="<vcpu placement='static'>4</vcpu>", extra_root=""):
    return "<domain type='kvm'%s><name>t</name>%s%s</domain>" % (extra_root, vcpu, body)


# --------------------------------------------------------------------------
# Captured XML
# --------------------------------------------------------------------------


def test_pinned_live_definition():
    d = fixture("hvfleet-test-pinned", "live")
    assert d.name == "hvfleet-test-pinned" and d.virt_type == "kvm"
    assert d.domain_id is not None and d.uuid
    assert d.max_vcpus == 2 and d.online_vcpus == (0, 1)
    assert dict(d.vcpupins) == {0: (1,), 1: (0,)}
    assert d.emulatorpin == (0,)
    assert d.topology == Topology(1, 1, 1, 1, 2) and d.topology_declared
    assert declared_pins(d, ONLINE).vcpus == ((1,), (0,))


def test_inactive_xml_has_no_domain_id():
    assert fixture("hvfleet-test-pinned", "inactive").domain_id is None


def test_floating_domain_defaults():
    """No pins, no cpuset: everything floats; no <topology>: one socket per maximum vCPU."""
    d = fixture("hvfleet-test-floating", "live")
    assert d.max_vcpus == 2 and d.online_vcpus == (0,)  # <vcpu current='1'>2</vcpu>
    assert d.topology == Topology(2, 1, 1, 1, 1) and not d.topology_declared
    pins = declared_pins(d, ONLINE)
    assert pins.vcpus == ((0, 1), (0, 1)) and pins.emulator == (0, 1) and pins.iothreads == ()


def test_iothread_domain_inherits_the_vcpu_cpuset_where_no_pin_is_given():
    d = fixture("hvfleet-test-iothreads", "live")
    assert d.cpuset == (1,)  # written as '0-1,^0'
    assert d.iothread_ids == (1, 2) and dict(d.iothreadpins) == {1: (0,)}
    pins = declared_pins(d, ONLINE)
    assert pins.vcpus == ((1,),) and pins.emulator == (1,) and pins.iothreads == ((0,), (1,))


def test_defined_only_domain():
    d = fixture("hvfleet-test-defined", "inactive")
    assert d.domain_id is None and d.max_vcpus == 4
    assert d.topology == Topology(2, 1, 1, 2, 1)
    pins = declared_pins(d, ONLINE)
    assert pins.vcpus == ((0, 1), (0, 1), (0, 1), (1,))
    assert pins.emulator == (0,)  # libvirt stored '0-1,^1' as '0'


# --------------------------------------------------------------------------
# Hand-written edge cases
# --------------------------------------------------------------------------


def test_no_cputune_and_no_cpuset_float_over_the_online_cpus():
    pins = declared_pins(parse_domain_xml(domain(""), "t"), [0, 1, 2, 3, 8])
    assert pins.vcpus == ((0, 1, 2, 3, 8),) * 4 and pins.emulator == (0, 1, 2, 3, 8)


def test_cpuset_with_caret_exclusions():
    d = parse_domain_xml(domain("", vcpu="<vcpu placement='static' cpuset='0-7,^2-3,^6'>2</vcpu>"), "t")
    assert d.cpuset == (0, 1, 4, 5, 7)
    assert declared_pins(d, range(16)).emulator == (0, 1, 4, 5, 7)


def test_placement_auto_ignores_the_cpuset_numad_chooses_at_start():
    d = parse_domain_xml(domain("", vcpu="<vcpu placement='auto' cpuset='1'>2</vcpu>"), "t")
    assert declared_pins(d, [0, 1, 2]).vcpus == ((0, 1, 2), (0, 1, 2))


def test_topology_with_dies_and_clusters():
    d = parse_domain_xml(domain(
        "<cpu><topology sockets='2' dies='2' clusters='2' cores='2' threads='2'/></cpu>",
        vcpu="<vcpu>32</vcpu>"), "t")
    assert d.topology.as_dict() == {"sockets": 2, "dies": 2, "clusters": 2, "cores": 2, "threads": 2}


def test_topology_defaults_dies_and_clusters_to_one():
    d = parse_domain_xml(domain("<cpu><topology sockets='1' cores='2' threads='2'/></cpu>"), "t")
    assert d.topology == Topology(1, 1, 1, 2, 2)


def test_hotpluggable_vcpus_listed_by_libvirt():
    body = ("<vcpus><vcpu id='0' enabled='yes'/><vcpu id='1' enabled='no'/>"
            "<vcpu id='2' enabled='yes'/><vcpu id='3' enabled='no'/></vcpus>")
    d = parse_domain_xml(domain(body, vcpu="<vcpu current='2'>4</vcpu>"), "t")
    assert d.online_vcpus == (0, 2)


def test_iothread_ids_fill_the_lowest_free_ids():
    d = parse_domain_xml(domain("<iothreads>3</iothreads><iothreadids><iothread id='5'/></iothreadids>"), "t")
    assert d.iothread_ids == (1, 2, 5)


@pytest.mark.parametrize("xml, where, expected", [
    (domain("<cputune><vcpupin vcpu='0' cpuset='a-b'/></cputune>"), "vcpupin vcpu='0' cpuset", "libvirt cpuset"),
    (domain("<cputune><vcpupin vcpu='0' cpuset='0-3,^0-3'/></cputune>"), "vcpupin vcpu='0'", "at least one CPU"),
    (domain("<cputune><vcpupin vcpu='4' cpuset='1'/></cputune>"), "<vcpupin vcpu>", "vCPU ids 0..3"),
    (domain("<cputune><vcpupin vcpu='x' cpuset='1'/></cputune>"), "<vcpupin vcpu>", "an integer"),
    (domain("<cputune><vcpupin vcpu='1' cpuset='1'/><vcpupin vcpu='1' cpuset='2'/></cputune>"),
     "<vcpupin vcpu>", "one <vcpupin> per vcpu"),
    (domain("<cputune><emulatorpin cpuset=''/></cputune>"), "<emulatorpin cpuset>", "libvirt cpuset"),
    (domain("<iothreads>1</iothreads><cputune><iothreadpin iothread='2' cpuset='1'/></cputune>"),
     "<iothreadpin iothread>", "an iothread id the domain defines (1)"),
    (domain("<cpu><topology sockets='1' cores='2' threads='1'/></cpu>"), "<cpu><topology>", "maximum vCPU count 4"),
    (domain("<cpu><topology sockets='4' cores='1'/></cpu>"), "<cpu><topology threads>", "an integer >= 1"),
    (domain("<cpu><topology sockets='0' cores='4' threads='1'/></cpu>"), "<cpu><topology sockets>", ">= 1"),
    (domain("", vcpu="<vcpu>0</vcpu>"), "<vcpu>", "an integer >= 1"),
    (domain("", vcpu="<vcpu>four</vcpu>"), "<vcpu>", "an integer >= 1"),
    (domain("", vcpu="<vcpu current='5'>4</vcpu>"), "<vcpu current>", "at most the maximum"),
    (domain("", vcpu="<vcpu placement='random'>4</vcpu>"), "<vcpu placement>", "'static' or 'auto'"),
    (domain("", vcpu=""), "<vcpu>", "a <vcpu> element"),
])
def test_malformed_values_name_the_domain_and_the_element(xml, where, expected):
    with pytest.raises(DomainXMLError) as err:
        parse_domain_xml(xml, "label")
    message = str(err.value)
    assert message.startswith("domain t: ") and where in message and expected in message


def test_unparsable_xml_names_the_label():
    with pytest.raises(DomainXMLError) as err:
        parse_domain_xml("<domain><name>x</name", "db-7")
    assert str(err.value).startswith("domain db-7: ") and "well-formed" in str(err.value)


def test_not_a_domain_document():
    with pytest.raises(DomainXMLError) as err:
        parse_domain_xml("<network><name>default</name></network>", "db-7")
    assert "<domain>" in str(err.value)


# --------------------------------------------------------------------------
# Guest placement entries
# --------------------------------------------------------------------------


def test_running_pinned_guest_from_its_real_threads():
    entry = guest_placement(running("hvfleet-test-pinned"), ONLINE)
    assert entry["source"] == "live" and entry["state"] == "running"
    assert entry["vcpus"] == [[1], [0]] and entry["emulator"] == [0] and entry["iothreads"] == []
    assert entry["topology"] == {"sockets": 1, "dies": 1, "clusters": 1, "cores": 1, "threads": 2}
    assert entry["disagreements"] == []
    assert entry["definitions"]["live"]["vcpus"] == [[1], [0]]
    assert entry["definitions"]["config"]["emulator"] == [0]


def test_running_iothread_guest():
    entry = guest_placement(running("hvfleet-test-iothreads"), ONLINE)
    assert entry["iothreads"] == [[0], [1]] and entry["iothread_ids"] == [1, 2]
    assert entry["vcpus"] == [[1]] and entry["emulator"] == [1]
    assert entry["disagreements"] == []


def test_offline_vcpu_keeps_its_declared_pins():
    entry = guest_placement(running("hvfleet-test-floating"), ONLINE)
    assert entry["online_vcpus"] == [0]
    assert entry["vcpus"] == [[0, 1], [0, 1]] and entry["disagreements"] == []


def test_thread_affinity_wins_and_the_difference_is_reported():
    snap = running("hvfleet-test-pinned")
    drifted = ThreadPlacement(vcpus={0: (0, 1), 1: (0,)}, emulator=(0, 1), iothreads={})
    entry = guest_placement(dataclasses.replace(snap, threads=drifted), ONLINE)
    assert entry["vcpus"] == [[0, 1], [0]] and entry["emulator"] == [0, 1]
    codes = {d["code"]: d["message"] for d in entry["disagreements"]}
    assert "vCPU 0's thread may run on CPUs 0-1; the definition pins it to 1" == codes["vcpu_affinity_differs"]
    assert "CPUs 0-1" in codes["emulator_affinity_differs"]


def test_vcpu_without_a_named_thread_is_widened_by_the_unidentified_threads():
    snap = running("hvfleet-test-pinned")
    unnamed = ThreadPlacement(vcpus={1: (0,)}, emulator=(0, 1), iothreads={})
    entry = guest_placement(dataclasses.replace(snap, threads=unnamed), ONLINE)
    assert entry["vcpus"][0] == [0, 1]
    assert "vcpu_thread_missing" in [d["code"] for d in entry["disagreements"]]


def test_missing_iothread_thread_is_widened_and_reported():
    snap = running("hvfleet-test-iothreads")
    threads = ThreadPlacement(vcpus={0: (1,)}, emulator=(1,), iothreads={2: (1,)})
    entry = guest_placement(dataclasses.replace(snap, threads=threads), ONLINE)
    assert entry["iothreads"] == [[0, 1], [1]]
    assert [d["code"] for d in entry["disagreements"]] == ["iothread_thread_missing"]


def test_unreadable_threads_fall_back_to_the_live_definition():
    snap = running("hvfleet-test-pinned")
    entry = guest_placement(
        dataclasses.replace(snap, threads=None, qemu_pid=None, threads_problem="permission denied"), ONLINE)
    assert entry["source"] == "live_definition" and entry["vcpus"] == [[1], [0]]
    assert entry["disagreements"][0]["code"] == "threads_unread"
    assert "permission denied" in entry["disagreements"][0]["message"]


def test_persistent_definition_that_differs_is_reported():
    snap = running("hvfleet-test-pinned")
    config = parse_domain_xml(
        (FIXTURES / "hvfleet-test-pinned.inactive.xml").read_text().replace("vcpu='0' cpuset='1'", "vcpu='0' cpuset='0'"),
        "x")
    entry = guest_placement(dataclasses.replace(snap, config=config), ONLINE)
    assert entry["vcpus"] == [[1], [0]]  # what runs now
    assert entry["definitions"]["config"]["vcpus"] == [[0], [0]]
    assert [d["code"] for d in entry["disagreements"]] == ["config_differs"]
    assert "vCPU pins" in entry["disagreements"][0]["message"]


def test_defined_only_guest_uses_its_persistent_definition():
    config = fixture("hvfleet-test-defined", "inactive")
    entry = guest_placement(DomainSnapshot("hvfleet-test-defined", "shut off", False, True, None, config), ONLINE)
    assert entry["source"] == "config" and entry["qemu_pid"] is None
    assert entry["definitions"]["live"] is None
    assert entry["vcpus"] == [[0, 1], [0, 1], [0, 1], [1]] and entry["disagreements"] == []


def test_the_hint_engine_accepts_the_placement_built_from_real_domains():
    """The contract test: what this module reports, the engine parses unchanged."""
    guests = [guest_placement(running(n), ONLINE) for n in
              ("hvfleet-test-pinned", "hvfleet-test-iothreads", "hvfleet-test-floating")]
    guests.append(guest_placement(DomainSnapshot(
        "hvfleet-test-defined", "shut off", False, True, None, fixture("hvfleet-test-defined", "inactive")), ONLINE))
    placement = validate_placement({"schema": 1, "housekeeping": [0, 1], "housekeeping_source": "t", "guests": guests})
    by_name = {g.name: g for g in placement.guests}
    assert by_name["hvfleet-test-pinned"].pins == (1, 0)
    assert by_name["hvfleet-test-pinned"].emulator == (0,) and not by_name["hvfleet-test-pinned"].emulator_default
    assert by_name["hvfleet-test-iothreads"].iothreads == ((0,), (1,))
    assert by_name["hvfleet-test-floating"].pins is None
