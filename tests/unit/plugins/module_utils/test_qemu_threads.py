"""QEMU thread names and affinities -> vCPU, emulator and iothread pins.

The captured fixtures are real QEMU 7.2 processes started by libvirt 9.0
(tests/infra/libvirt/capture_fixtures.py); the rest are names QEMU uses in
other configurations.
"""

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import FactsError
from ansible_collections.hvfleet.smt.plugins.module_utils.qemu_threads import (
    QemuThread,
    affinity_from_status,
    classify_threads,
    parse_cmdline,
    qemu_pids_for_uuid,
)

FIXTURES = Path(__file__).parent / "fixtures" / "libvirt"


def captured(name):
    data = json.loads((FIXTURES / ("%s.threads.json" % name)).read_text())
    threads = [
        QemuThread(t["tid"], t["comm"], affinity_from_status("\n".join(t["status"]), "status"))
        for t in data["threads"]
    ]
    return data, threads


def test_pinned_domain_threads_as_captured():
    _data, threads = captured("hvfleet-test-pinned")
    placement = classify_threads(threads, iothread_ids=[])
    assert placement.vcpus == {0: (1,), 1: (0,)}
    assert placement.emulator == (0,)
    assert placement.iothreads == {}
    assert placement.accelerator == "KVM"
    # kvm-nx-lpage-recovery sits inside the vCPUs' CPUs: kept apart, not an emulator thread
    assert placement.kvm_workers == ((0,),)
    assert placement.notes == ()


def test_iothread_domain_separates_libvirt_iothreads_from_the_monitor_thread():
    _data, threads = captured("hvfleet-test-iothreads")
    assert "IO mon_iothread" in [t.name for t in threads]
    placement = classify_threads(threads, iothread_ids=[1, 2])
    assert placement.iothreads == {1: (0,), 2: (1,)}
    assert placement.vcpus == {0: (1,)}
    assert placement.emulator == (1,)


def test_tcg_domain_names_its_vcpu_thread_cpu_n_tcg():
    _data, threads = captured("hvfleet-test-floating")
    placement = classify_threads(threads, iothread_ids=[])
    assert placement.vcpus == {0: (0, 1)}  # vCPU 1 is offline: no thread
    assert placement.accelerator == "TCG"
    assert placement.vcpu_affinity(1) is None


def test_single_threaded_tcg_thread_runs_every_vcpu():
    threads = [QemuThread(10, "qemu-system-x86", (0,)), QemuThread(11, "ALL CPUs/TCG", (2, 3))]
    placement = classify_threads(threads, [])
    assert placement.vcpus == {}
    assert placement.all_vcpus == (2, 3)
    assert placement.vcpu_affinity(0) == (2, 3) and placement.vcpu_affinity(7) == (2, 3)
    assert [code for code, _message in placement.notes] == ["single_threaded_tcg"]


def test_iothread_name_of_an_undeclared_iothread_is_an_emulator_thread():
    threads = [QemuThread(10, "qemu-system-x86", (0,)), QemuThread(11, "IO iothread3", (5,))]
    placement = classify_threads(threads, iothread_ids=[1])
    assert placement.iothreads == {}
    assert placement.emulator == (0, 5)


def test_kvm_worker_outside_the_vcpus_counts_as_emulator_thread():
    threads = [
        QemuThread(10, "qemu-system-x86", (0,)),
        QemuThread(11, "CPU 0/KVM", (4,)),
        QemuThread(12, "kvm-nx-lpage-re", (4, 5)),
    ]
    placement = classify_threads(threads, [])
    assert placement.emulator == (0, 4, 5)
    assert placement.kvm_workers == ()
    assert placement.notes[0][0] == "kvm_worker_outside_vcpus"
    assert "kvm-nx-lpage-re" in placement.notes[0][1] and "4-5" in placement.notes[0][1]


def test_two_threads_claiming_one_vcpu_are_merged_and_noted():
    threads = [QemuThread(11, "CPU 0/KVM", (4,)), QemuThread(12, "CPU 0/KVM", (5,))]
    placement = classify_threads(threads, [])
    assert placement.vcpus == {0: (4, 5)}
    assert [code for code, _message in placement.notes] == ["vcpu_threads_duplicate"]


def test_unnamed_threads_are_all_emulator_threads():
    """Without debug-threads every thread is named after the binary: no vCPU is identified."""
    threads = [QemuThread(10 + i, "qemu-system-x86", (i,)) for i in range(3)]
    placement = classify_threads(threads, [1])
    assert placement.vcpus == {} and placement.iothreads == {}
    assert placement.emulator == (0, 1, 2)


@given(st.lists(st.tuples(
    st.sampled_from(["CPU 0/KVM", "CPU 1/TCG", "ALL CPUs/TCG", "IO iothread1", "IO iothread9",
                     "IO mon_iothread", "kvm-nx-lpage-re", "call_rcu", "qemu-system-x86", "vhost-42"]),
    st.frozensets(st.integers(0, 15), min_size=1)), max_size=12))
def test_no_cpu_of_any_thread_is_lost(rows):
    """Whatever the names, every CPU some thread may use shows up in some category."""
    threads = [QemuThread(i, name, tuple(sorted(cpus))) for i, (name, cpus) in enumerate(rows)]
    placement = classify_threads(threads, iothread_ids=[1])
    seen = set(placement.emulator) | set(placement.all_vcpus or ())
    for cpus in list(placement.vcpus.values()) + list(placement.iothreads.values()) + list(placement.kvm_workers):
        seen |= set(cpus)
    assert seen == {cpu for _name, cpus in rows for cpu in cpus}


def test_affinity_from_a_real_status_file():
    status = "Name:\tCPU 0/KVM\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1,4\nMems_allowed_list:\t0\n"
    assert affinity_from_status(status, "/proc/1/task/2/status") == (0, 1, 4)


@pytest.mark.parametrize("status, expected", [
    ("Name:\tx\n", "a line starting with Cpus_allowed_list:"),
    ("Cpus_allowed_list:\t0-x\n", "a kernel cpulist"),
    ("Cpus_allowed_list:\t\n", "at least one CPU"),
])
def test_bad_status_names_the_file(status, expected):
    with pytest.raises(FactsError) as err:
        affinity_from_status(status, "/proc/7/task/8/status")
    assert "/proc/7/task/8/status" in str(err.value) and expected in str(err.value)


def test_qemu_pid_found_by_uuid_from_a_captured_cmdline():
    data, _threads = captured("hvfleet-test-pinned")
    uuid = data["cmdline"][data["cmdline"].index("-uuid") + 1]
    processes = [(1, ["/sbin/init"]), (data["pid"], data["cmdline"]), (5, ["qemu", "-uuid", "other"])]
    assert qemu_pids_for_uuid(processes, uuid.upper()) == [data["pid"]]
    assert qemu_pids_for_uuid(processes, "nope") == []
    assert qemu_pids_for_uuid([(9, ["qemu", "-uuid"])], "x") == []


def test_parse_cmdline_splits_on_nul():
    assert parse_cmdline(b"qemu\0-name\0guest=a b,debug-threads=on\0") == [
        "qemu", "-name", "guest=a b,debug-threads=on"]
