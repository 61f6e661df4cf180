"""cpulist grammars: what sysfs prints, what the kernel accepts, libvirt, hex masks."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import (
    format_cpulist,
    format_hexmask,
    parse_cpulist,
    parse_hexmask,
    parse_libvirt_cpuset,
    parse_printed,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import CpulistError

cpu_sets = st.sets(st.integers(min_value=0, max_value=4095), max_size=200)


@pytest.mark.parametrize("text, cpus", [
    ("", []),
    ("\n", []),
    ("0", [0]),
    ("0-3\n", [0, 1, 2, 3]),
    ("0-1,4,8-9", [0, 1, 4, 8, 9]),
])
def test_printed_accepts_what_sysfs_prints(text, cpus):
    assert parse_printed(text) == cpus


@pytest.mark.parametrize("text", ["0-", "3-1", "a", "0,,1", "0-3:1/2", "1,0", "0-2,2", " 0 1", "-1", "N", "0x1"])
def test_printed_rejects_anything_else(text):
    with pytest.raises(CpulistError) as err:
        parse_printed(text)
    assert repr(text) in str(err.value)


@pytest.mark.parametrize("text, nr, cpus", [
    ("0-1023:2/256", 1024, [0, 1, 256, 257, 512, 513, 768, 769]),
    ("0-7:1/4", None, [0, 4]),
    ("N", 8, [7]),
    ("4-N", 8, [4, 5, 6, 7]),
    ("all", 4, [0, 1, 2, 3]),
    ("all:1/2", 4, [0, 2]),
    ("0,,1", None, [0, 1]),          # bitmap_find_region() skips empty regions
    ("  2 , 0 ", None, [0, 2]),      # and white space
    ("3,1-2,2", None, [1, 2, 3]),    # overlap and order are fine on input
    ("", None, []),
])
def test_kernel_grammar(text, nr, cpus):
    assert parse_cpulist(text, nr) == cpus


@pytest.mark.parametrize("text, nr", [
    ("0-", None), ("3-1", None), ("a", None), ("0-3:0/0", None), ("0-3:3/2", None),
    ("5:1/2", None), ("N", None), ("all", None), ("8", 8), ("0-3:1", None), ("1-2-3", None),
])
def test_kernel_grammar_rejects(text, nr):
    with pytest.raises(CpulistError) as err:
        parse_cpulist(text, nr)
    assert repr(text) in str(err.value)


def test_libvirt_cpuset_exclusions():
    assert parse_libvirt_cpuset("0-4,^2,8") == [0, 1, 3, 4, 8]
    assert parse_libvirt_cpuset("^1,0-3") == [0, 2, 3]
    for bad in ["", "^0", "0-3,^0-3", "x", "3-1"]:
        with pytest.raises(CpulistError):
            parse_libvirt_cpuset(bad)


@pytest.mark.parametrize("text, cpus", [
    ("00000000,0000000f\n", [0, 1, 2, 3]),
    ("00000001,00000000", [32]),
    ("80000000", [31]),
    ("ff", list(range(8))),
])
def test_hexmask(text, cpus):
    assert parse_hexmask(text) == cpus


@pytest.mark.parametrize("text", ["", "0g", "123456789", "00000001,,0", " "])
def test_hexmask_rejects(text):
    with pytest.raises(CpulistError):
        parse_hexmask(text)


def test_format_rejects_non_cpu_values():
    for bad in ([-1], ["1"], [True], [1.0]):
        with pytest.raises(CpulistError):
            format_cpulist(bad)


@given(cpu_sets)
def test_format_then_parse_round_trips(cpus):
    text = format_cpulist(cpus)
    assert parse_printed(text) == sorted(cpus)
    assert parse_cpulist(text) == sorted(cpus)


@given(cpu_sets)
def test_hexmask_round_trips(cpus):
    assert parse_hexmask(format_hexmask(cpus, 4096)) == sorted(cpus)


@given(st.integers(0, 300), st.integers(0, 300), st.integers(1, 40), st.integers(0, 40))
def test_stride_matches_definition(start, length, group, used):
    """``a-b:u/g`` sets, in each group of g starting at a, the first u bits (lib/bitmap-str.c)."""
    end = start + length
    if used > group:
        with pytest.raises(CpulistError):
            parse_cpulist("%d-%d:%d/%d" % (start, end, used, group))
        return
    expected = [c for c in range(start, end + 1) if (c - start) % group < used]
    assert parse_cpulist("%d-%d:%d/%d" % (start, end, used, group)) == expected
