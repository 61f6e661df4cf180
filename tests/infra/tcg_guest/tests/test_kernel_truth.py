"""The oracle's parsers decide whether a Molecule run passes; a parser that
accepted garbage would let wrong facts through, so its refusals are tested
as much as its answers."""

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

_PATH = Path(__file__).resolve().parent.parent / "ansible" / "filter_plugins" / "kernel_truth.py"
_SPEC = importlib.util.spec_from_file_location("kernel_truth", _PATH)
kt = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(kt)

LSCPU_ON = """\
# The following is the parsable format, which can be fed to other
# CPU,Core,Socket,Online
0,0,0,Y
1,0,0,Y
2,1,0,Y
3,1,0,Y
4,2,1,Y
5,2,1,Y
6,3,1,Y
7,3,1,Y
"""

LSCPU_OFF = """\
# CPU,Core,Socket,Online
0,0,0,Y
1,,,N
2,1,0,Y
3,,,N
4,2,1,Y
5,,,N
6,3,1,Y
7,,,N
"""


def test_cpulist_ranges_and_singles():
    assert kt.kernel_cpulist("0-2,5,7-8\n") == [0, 1, 2, 5, 7, 8]


def test_cpulist_empty_means_none():
    assert kt.kernel_cpulist("\n") == []


@pytest.mark.parametrize("text", ["0-", "a", "3-1", "0,,1", "0-1:2/4"])
def test_cpulist_refuses_what_the_kernel_never_prints(text):
    with pytest.raises(AnsibleFilterError, match="cpu/online"):
        kt.kernel_cpulist(text, "cpu/online")


def test_lscpu_view_with_smt_on():
    view = kt.lscpu_view(LSCPU_ON)
    assert view["online"] == list(range(8))
    assert view["offline"] == []
    assert view["cores"] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert view["sockets"] == [{"id": 0, "cpus": [0, 1, 2, 3]}, {"id": 1, "cpus": [4, 5, 6, 7]}]


def test_lscpu_view_with_smt_off_leaves_offline_cpus_out_of_cores():
    view = kt.lscpu_view(LSCPU_OFF)
    assert view["online"] == [0, 2, 4, 6]
    assert view["offline"] == [1, 3, 5, 7]
    assert view["cores"] == [[0], [2], [4], [6]]


def test_lscpu_view_keys_cores_by_socket_too():
    # The same core index on two sockets is two physical cores.
    view = kt.lscpu_view("0,0,0,Y\n1,0,1,Y\n")
    assert view["cores"] == [[0], [1]]


@pytest.mark.parametrize("line", ["0,0,0", "x,0,0,Y", "0,0,0,maybe", "0,,,Y", "0,a,0,Y"])
def test_lscpu_view_refuses_malformed_rows(line):
    with pytest.raises(AnsibleFilterError, match="lscpu"):
        kt.lscpu_view(line + "\n")


def test_lscpu_view_refuses_output_without_cpus():
    with pytest.raises(AnsibleFilterError, match="no CPU rows"):
        kt.lscpu_view("# CPU,Core,Socket,Online\n")


def test_sysfs_values_keeps_empty_files():
    out = "/sys/devices/system/cpu/smt/control:on\n/sys/devices/system/cpu/offline:\n"
    assert kt.sysfs_values(out) == {
        "/sys/devices/system/cpu/smt/control": "on",
        "/sys/devices/system/cpu/offline": "",
    }


def test_sysfs_values_names_missing_required_files():
    with pytest.raises(AnsibleFilterError, match="smt/control: not found"):
        kt.sysfs_values("/sys/devices/system/cpu/online:0-1\n", ["/sys/devices/system/cpu/smt/control"])


def test_sysfs_values_refuses_lines_without_a_path():
    with pytest.raises(AnsibleFilterError, match="expected /path:value"):
        kt.sysfs_values("on\n")


def test_sibling_sets_are_distinct_and_sorted():
    out = "".join(
        f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list:{pair}\n"
        for cpu, pair in [(0, "0-1"), (1, "0-1"), (2, "2,3"), (3, "2-3")]
    )
    assert kt.sibling_sets(out) == [[0, 1], [2, 3]]


def test_sibling_sets_refuse_a_cpu_missing_from_its_own_list():
    with pytest.raises(AnsibleFilterError, match="cpu2 itself"):
        kt.sibling_sets("/sys/devices/system/cpu/cpu2/topology/thread_siblings_list:0-1\n")


def test_fact_cores_order_matches_the_oracle():
    cores = [{"threads": [6, 7]}, {"threads": [1, 0]}, {"threads": [2, 3]}]
    assert kt.fact_cores(cores) == [[0, 1], [2, 3], [6, 7]]
