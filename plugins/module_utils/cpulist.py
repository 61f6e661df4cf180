# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CPU list syntaxes: what the kernel prints, what it accepts, and libvirt's.

Three grammars meet at the edges of this collection and they differ in ways
that matter: sysfs *prints* only ``a`` and ``a-b`` (so anything else in a sysfs
file means the file is not what we think it is); the kernel command line
*accepts* strides, ``N`` and ``all`` (``lib/bitmap-str.c``); libvirt adds ``^n``
exclusions. Each gets its own parser so that leniency meant for one never
leaks into another. Hex masks are the pre-``*_list`` sysfs form.
"""

from __future__ import annotations

from typing import Iterable, List, Optional

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import CpulistError

PRINTED = "a kernel cpulist such as '0-3,8-11' (ascending 'a' or 'a-b' ranges, comma-joined)"
ACCEPTED = (
    "a kernel cpulist: comma-separated 'a', 'a-b', 'a-b:used/group', "
    "'N' for the last CPU, or 'all'"
)
LIBVIRT = "a libvirt cpuset such as '0-3,^2,8'"
HEXMASK = "a hex CPU mask: comma-separated 32-bit words, most significant first"


def parse_printed(text: str) -> List[int]:
    """Parse a cpulist exactly as sysfs prints it (strict, ascending, no overlap).

    Used for sysfs files: a sysfs file that does not look printed by the
    kernel is corrupt or not a sysfs file, and guessing would hide that.
    """
    body = text.strip()
    if not body:
        return []
    cpus: List[int] = []
    last = -1
    for region in body.split(","):
        lo, sep, hi = region.partition("-")
        if not _is_uint(lo) or (sep and not _is_uint(hi)):
            raise CpulistError(text, PRINTED)
        first = int(lo)
        end = int(hi) if sep else first
        if first <= last or end < first:
            raise CpulistError(text, PRINTED)
        cpus.extend(range(first, end + 1))
        last = end
    return cpus


def parse_cpulist(text: str, nr_cpus: Optional[int] = None) -> List[int]:
    """Parse what the kernel accepts on its command line and in writable files.

    Mirrors ``bitmap_parselist``: regions split by commas or white space,
    empty regions skipped, ``a-b:used/group`` strides, ``N`` and ``all``
    meaning the last CPU and every CPU (both need ``nr_cpus``). Returns a
    sorted list without duplicates.
    """
    if not isinstance(text, str):
        raise CpulistError(text, ACCEPTED)
    seen = set()
    for region in text.replace(",", " ").split():
        seen.update(_accepted_region(text, region, nr_cpus))
    return sorted(seen)


def _accepted_region(text: str, region: str, nr_cpus: Optional[int]) -> Iterable[int]:
    span, colon, pattern = region.partition(":")
    if span == "all":
        first, end = 0, _last(text, nr_cpus)
    else:
        lo, dash, hi = span.partition("-")
        first = _number(text, lo, nr_cpus)
        end = _number(text, hi, nr_cpus) if dash else first
        if colon and not dash:
            raise CpulistError(text, ACCEPTED)
    used, group = end - first + 1, end - first + 1
    if colon:
        u, slash, g = pattern.partition("/")
        if not slash or not _is_uint(u) or not _is_uint(g):
            raise CpulistError(text, ACCEPTED)
        used, group = int(u), int(g)
        if group == 0 or used > group:
            raise CpulistError(text, ACCEPTED + " (with used <= group and group > 0)")
    if first > end:
        raise CpulistError(text, ACCEPTED + " (ranges ascending)")
    if nr_cpus is not None and end >= nr_cpus:
        raise CpulistError(text, "CPUs below %d" % nr_cpus)
    return (c for c in range(first, end + 1) if (c - first) % group < used)


def _number(text: str, token: str, nr_cpus: Optional[int]) -> int:
    if token == "N":
        return _last(text, nr_cpus)
    if not _is_uint(token):
        raise CpulistError(text, ACCEPTED)
    return int(token)


def _last(text: str, nr_cpus: Optional[int]) -> int:
    if nr_cpus is None or nr_cpus < 1:
        raise CpulistError(text, ACCEPTED + "; 'N' and 'all' need the host's CPU count")
    return nr_cpus - 1


def parse_libvirt_cpuset(text: str) -> List[int]:
    """Parse libvirt's cpuset syntax (``1-4,^2``): exclusions apply to the whole set."""
    if not isinstance(text, str) or not text.strip():
        raise CpulistError(text, LIBVIRT)
    include, exclude = set(), set()
    for region in text.strip().split(","):
        region = region.strip()
        target = exclude if region.startswith("^") else include
        region = region[1:] if region.startswith("^") else region
        lo, dash, hi = region.partition("-")
        if not _is_uint(lo) or (dash and not _is_uint(hi)):
            raise CpulistError(text, LIBVIRT)
        end = int(hi) if dash else int(lo)
        if end < int(lo):
            raise CpulistError(text, LIBVIRT + " (ranges ascending)")
        target.update(range(int(lo), end + 1))
    cpus = sorted(include - exclude)
    if not cpus:
        raise CpulistError(text, LIBVIRT + " that leaves at least one CPU")
    return cpus


def parse_hexmask(text: str) -> List[int]:
    """Parse the hex mask form that kernels before ``*_list`` files print."""
    words = text.strip().split(",")
    if words == [""]:
        raise CpulistError(text, HEXMASK)
    cpus: List[int] = []
    base = 32 * (len(words) - 1)
    for index, word in enumerate(words):
        if not word or len(word) > 8 or not all(c in "0123456789abcdefABCDEF" for c in word):
            raise CpulistError(text, HEXMASK)
        value = int(word, 16)
        offset = base - 32 * index
        bit = 0
        while value:
            if value & 1:
                cpus.append(offset + bit)
            value >>= 1
            bit += 1
    return sorted(cpus)


def format_cpulist(cpus: Iterable[int]) -> str:
    """Format as the kernel prints: ascending ``a`` / ``a-b`` ranges, comma-joined."""
    ordered = sorted(set(_as_cpu(c) for c in cpus))
    parts = []
    start = prev = None
    for cpu in ordered:
        if start is None:
            start = prev = cpu
        elif cpu == prev + 1:
            prev = cpu
        else:
            parts.append(_range(start, prev))
            start = prev = cpu
    if start is not None:
        parts.append(_range(start, prev))
    return ",".join(parts)


def format_hexmask(cpus: Iterable[int], nr_cpus: int) -> str:
    """Format as old kernels print masks: 32-bit words, most significant first."""
    value = 0
    for cpu in cpus:
        value |= 1 << _as_cpu(cpu)
    words = max(1, (nr_cpus + 31) // 32)
    return ",".join(
        "%08x" % ((value >> (32 * i)) & 0xFFFFFFFF) for i in reversed(range(words))
    )


def _range(start: int, end: int) -> str:
    return str(start) if start == end else "%d-%d" % (start, end)


def _as_cpu(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CpulistError(repr(value), "CPU ids as non-negative integers")
    return value


def _is_uint(token: str) -> bool:
    """ASCII digits only (``str.isdigit`` alone also takes e.g. ``"\u0663"``); C speed, no generator."""
    return token.isdigit() and token.isascii()
