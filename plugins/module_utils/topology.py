# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's CPU topology as the kernel sees it, read from sysfs under a sysroot.

The model is what every decision downstream rests on, so the reader is
strict: a sibling list that contradicts another, a CPU that is online but
has no place in the topology, or a value outside the kernel's vocabulary
fails the read. "No SMT" is never concluded from sibling lists: with
``smt/control=off`` the siblings are offline and vanish from every list;
only ``smt/control`` tells ``off`` from ``notsupported``.
"""

from __future__ import annotations

import os
from typing import Dict, FrozenSet, List, Optional, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import format_cpulist
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import FactsError
from ansible_collections.hvfleet.smt.plugins.module_utils.sysfs import (
    cpulist_of,
    list_dir,
    read_cpulist,
    read_hexmask,
    read_int,
    read_text,
)

CPU_DIR = "sys/devices/system/cpu"
NODE_DIR = "sys/devices/system/node"

#: ``smt/control`` values for which KVM's ``cpu_smt_possible()`` is false.
SMT_IMPOSSIBLE = frozenset(("forceoff", "notsupported", "notimplemented"))
SMT_WORDS = frozenset(("on", "off")) | SMT_IMPOSSIBLE
SMT_EXPECTED = "one of on, off, forceoff, notsupported, notimplemented, or a thread count"


class _Record:
    """Base of the reader's records: plain ``__slots__`` classes, not dataclasses.

    smt_facts runs from an AnsiballZ zip, so this file is compiled and its
    classes are created on every run. Creating a frozen ``@dataclass``
    ``exec``-compiles its ``__init__``, ``__eq__``, ``__hash__``,
    ``__setattr__``...: the seven this reader had cost ~2.4 ms of CPU per run
    on Python 3.11 (benchmarks/facts_vs_lscpu), a slotted class microseconds.
    Records are built once by the reader and only read afterwards; equality
    and repr compare and show the slots.
    """

    __slots__ = ()

    def _values(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other):
        return type(other) is type(self) and other._values() == self._values()

    def __hash__(self):
        return hash(self._values())

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (name, getattr(self, name)) for name in self.__slots__))


class SmtState(_Record):
    __slots__ = ("control", "active")

    def __init__(self, control: str, active: Optional[bool]):
        self.control = control  # as read, or "unknown" when smt/control is absent
        self.active = active

    @property
    def possible(self) -> bool:
        """KVM's ``cpu_smt_possible()``: only these three words rule SMT out for good."""
        return self.control not in SMT_IMPOSSIBLE


class PhysicalCore(_Record):
    __slots__ = ("package", "die", "cluster", "core", "threads")

    def __init__(self, package: int, die: Optional[int], cluster: Optional[int], core: int,
                 threads: Tuple[int, ...]):
        self.package = package
        self.die = die
        self.cluster = cluster
        self.core = core
        self.threads = threads  # online threads, ascending


class CpuSets(_Record):
    __slots__ = ("online", "offline", "present", "possible", "isolated", "nohz_full", "kernel_max")

    def __init__(self, online: Tuple[int, ...], offline: Tuple[int, ...], present: Tuple[int, ...],
                 possible: Tuple[int, ...], isolated: Tuple[int, ...], nohz_full: Tuple[int, ...],
                 kernel_max: Optional[int]):
        self.online = online
        self.offline = offline
        self.present = present
        self.possible = possible
        self.isolated = isolated
        self.nohz_full = nohz_full
        self.kernel_max = kernel_max


class Topology(_Record):
    __slots__ = ("smt", "cpus", "cores", "numa_nodes", "llc_groups")

    def __init__(self, smt: SmtState, cpus: CpuSets, cores: Tuple[PhysicalCore, ...],
                 numa_nodes: Tuple[Tuple[int, Tuple[int, ...]], ...], llc_groups: Tuple[Tuple[int, ...], ...]):
        self.smt = smt
        self.cpus = cpus
        self.cores = cores
        self.numa_nodes = numa_nodes
        self.llc_groups = llc_groups

    @property
    def threads_per_core(self) -> Tuple[int, int]:
        """(min, max) over cores: hybrid parts mix 2-thread P-cores and 1-thread E-cores."""
        counts = [len(core.threads) for core in self.cores]
        return (min(counts), max(counts)) if counts else (0, 0)


class CpuinfoEntry(_Record):
    """What ``/proc/cpuinfo`` says about one CPU; used for identity and as fallback."""

    __slots__ = ("processor", "fields")

    def __init__(self, processor: int, fields: Tuple[Tuple[str, str], ...]):
        self.processor = processor
        self.fields = fields

    def get(self, key: str) -> Optional[str]:
        for name, value in self.fields:
            if name == key:
                return value
        return None


def read_topology(sysroot: str = "/", cpuinfo: Optional[Dict[int, CpuinfoEntry]] = None) -> Topology:
    """Read the whole topology; ``cpuinfo`` is only consulted for CPUs without ``topology/``.

    ``cpuinfo`` may hold only the first block: the whole file is read here
    when a CPU without ``topology/`` needs the fallback.
    """
    base = os.path.join(sysroot, CPU_DIR)
    cpus = read_cpu_sets(base)
    smt = read_smt(base)
    locations = {}
    siblings: Dict[int, FrozenSet[int]] = {}
    sources: Dict[int, str] = {}
    missing = []
    nr_cpus = max(cpus.possible) + 1
    prefix = os.path.join(base, "cpu")
    groups: Dict[str, Tuple[FrozenSet[int], int]] = {}
    for cpu in cpus.online:
        found = _read_cpu_topology(prefix, cpu, nr_cpus, groups)
        if found is None:
            missing.append(cpu)
            continue
        locations[cpu], siblings[cpu], sources[cpu] = found
    if missing:
        _fallback_to_cpuinfo(sysroot, missing, cpus.online, cpuinfo, locations, siblings, sources)
    cores = _cores(cpus.online, locations, siblings, sources)
    return Topology(
        smt=smt,
        cpus=cpus,
        cores=cores,
        numa_nodes=read_numa_nodes(sysroot),
        llc_groups=read_llc_groups(base, cpus.online),
    )


def read_cpu_sets(base: str) -> CpuSets:
    online = read_cpulist(os.path.join(base, "online"))
    present = read_cpulist(os.path.join(base, "present"))
    possible = read_cpulist(os.path.join(base, "possible"))
    if not online:
        raise FactsError(os.path.join(base, "online"), "", "at least one online CPU")
    if not possible:
        raise FactsError(os.path.join(base, "possible"), "", "at least one possible CPU")
    _require_subset(base, "online", online, "present", present)
    _require_subset(base, "present", present, "possible", possible)
    offline = read_cpulist(os.path.join(base, "offline"), optional=True)
    if offline is None:
        offline = sorted(set(possible) - set(online))
    if set(offline) & set(online):
        raise FactsError(
            os.path.join(base, "offline"),
            ",".join(map(str, offline)),
            "no CPU that 'online' also lists",
        )
    isolated = read_cpulist(os.path.join(base, "isolated"), optional=True) or []
    nohz_text = read_text(os.path.join(base, "nohz_full"), optional=True)
    nohz = [] if nohz_text is None or nohz_text.strip() == "(null)" else cpulist_of(
        os.path.join(base, "nohz_full"), nohz_text
    )
    kernel_max = read_int(os.path.join(base, "kernel_max"), optional=True)
    return CpuSets(
        online=tuple(online),
        offline=tuple(offline),
        present=tuple(present),
        possible=tuple(possible),
        isolated=tuple(isolated),
        nohz_full=tuple(nohz),
        kernel_max=kernel_max,
    )


def _require_subset(base: str, small_name: str, small: List[int], big_name: str, big: List[int]) -> None:
    outside = sorted(set(small) - set(big))
    if outside:
        raise FactsError(
            os.path.join(base, small_name),
            format_cpulist(small),
            "CPUs that '%s' lists too (not %s)" % (big_name, ",".join(map(str, outside))),
        )


def read_smt(base: str) -> SmtState:
    control_path = os.path.join(base, "smt", "control")
    text = read_text(control_path, optional=True)
    if text is None:
        control = "unknown"
    else:
        control = text.strip()
        if control not in SMT_WORDS and not (control.isdigit() and int(control) >= 1):
            raise FactsError(control_path, text, SMT_EXPECTED)
    active_path = os.path.join(base, "smt", "active")
    active_text = read_text(active_path, optional=True)
    active = None
    if active_text is not None:
        if active_text.strip() not in ("0", "1"):
            raise FactsError(active_path, active_text, "0 or 1")
        active = active_text.strip() == "1"
    return SmtState(control=control, active=active)


def _read_cpu_topology(prefix: str, cpu: int, nr_cpus: int, groups: Dict[str, Tuple[FrozenSet[int], int]]):
    """(location, siblings, source file) for one CPU; ``None`` without ``topology/``.

    Every CPU's package and sibling list are read: they are what
    :func:`_cores` checks for consistency (symmetric sibling sets inside one
    package). Die, cluster and core id are read only for the lowest thread of
    its sibling set, the one whose ids name the core (``_cores`` takes the
    core's location from there); on an SMT2 host that is 3.5 reads per CPU
    instead of 5. The others get ``None`` for those ids, which nothing reads.
    ``groups`` maps a sibling list's text to its set and lowest CPU: every
    thread of a core prints the same list, so it is parsed once per core.
    """
    topo = "%s%d/topology/" % (prefix, cpu)
    package = read_int(topo + "physical_package_id", True, -1)
    if package is None:
        if list_dir(topo[:-1]) is None:
            return None
        raise FactsError(topo + "physical_package_id", "<missing>", "a package id")
    source = topo + "thread_siblings_list"
    text = read_text(source, True)
    if text is not None:
        known = groups.get(text)
        if known is None:
            siblings = cpulist_of(source, text)  # ascending: the first is the lowest
            known = groups[text] = (frozenset(siblings), siblings[0] if siblings else -1)
        group, lowest = known
    else:
        source = topo + "thread_siblings"
        siblings = read_hexmask(source, optional=True, nr_cpus=nr_cpus)
        if siblings is None:
            raise FactsError(topo + "thread_siblings_list", "<missing>",
                             "a sibling list (or the hex mask thread_siblings)")
        group = frozenset(siblings)
        lowest = min(group) if group else -1
    if group and cpu != lowest:
        return (package, None, None, None), group, source
    die = read_int(topo + "die_id", True, -1)
    cluster = read_int(topo + "cluster_id", True, -1)
    core = read_int(topo + "core_id", False, -1)
    return (package, die, cluster, core), group, source


def _fallback_to_cpuinfo(sysroot, missing, online, cpuinfo, locations, siblings, sources) -> None:
    """Place CPUs that have no ``topology/`` by ``physical id`` and ``core id``.

    Some containers and very old kernels show ``/proc/cpuinfo`` but no
    topology directories. Siblings are then CPUs with the same package and
    core id — the same rule lscpu falls back to.
    """
    path = os.path.join(sysroot, "proc", "cpuinfo")
    entries = cpuinfo if cpuinfo is not None else read_cpuinfo(sysroot)
    keys = {}
    for cpu in online:
        entry = entries.get(cpu)
        if entry is None:
            if cpu in missing:
                raise FactsError(
                    os.path.join(sysroot, CPU_DIR, "cpu%d" % cpu, "topology"),
                    "<missing>",
                    "a topology directory for online CPU %d, or its 'physical id' and 'core id' in %s" % (cpu, path),
                )
            continue
        package, core = entry.get("physical id"), entry.get("core id")
        if package is None or core is None:
            if cpu in missing:
                raise FactsError(
                    path, "processor %d without 'physical id'/'core id'" % cpu,
                    "'physical id' and 'core id' for online CPU %d, which has no topology directory" % cpu,
                )
            continue
        if not package.isdigit() or not core.isdigit():
            raise FactsError(path, "physical id %r, core id %r" % (package, core), "integers")
        keys[cpu] = (int(package), int(core))
    for cpu in missing:
        key = keys[cpu]
        locations[cpu] = (key[0], None, None, key[1])
        siblings[cpu] = frozenset(c for c, k in keys.items() if k == key)
        sources[cpu] = path


def _cores(online, locations, siblings, sources) -> Tuple[PhysicalCore, ...]:
    """Group online CPUs into physical cores, checking the kernel's lists agree."""
    online_set = frozenset(online)
    cores = []
    seen = set()
    for cpu in online:
        if cpu in seen:
            continue  # checked with the lowest thread of its set: same set, same package, all online
        group = siblings[cpu]
        if cpu not in group:
            raise FactsError(sources[cpu], _fmt(group), "a sibling list that contains CPU %d itself" % cpu)
        if not group <= online_set:
            raise FactsError(sources[cpu], _fmt(group), "only online CPUs (not %s)" % _fmt(group - online_set))
        for other in group:
            if siblings[other] != group:
                raise FactsError(
                    sources[cpu], _fmt(group),
                    "the same siblings as CPU %d lists in %s (%s)" % (other, sources[other], _fmt(siblings[other])),
                )
            if locations[other][0] != locations[cpu][0]:
                raise FactsError(
                    sources[cpu], _fmt(group),
                    "siblings in one package (CPU %d is in package %d, CPU %d in package %d)"
                    % (cpu, locations[cpu][0], other, locations[other][0]),
                )
        seen.update(group)
        package, die, cluster, core = locations[min(group)]
        cores.append(PhysicalCore(package, die, cluster, core, tuple(sorted(group))))
    return tuple(cores)


def read_numa_nodes(sysroot: str) -> Tuple[Tuple[int, Tuple[int, ...]], ...]:
    base = os.path.join(sysroot, NODE_DIR)
    names = list_dir(base) or []
    nodes = []
    for name in names:
        if name.startswith("node") and name[4:].isdigit():
            cpus = read_cpulist(os.path.join(base, name, "cpulist"))
            nodes.append((int(name[4:]), tuple(cpus)))
    return tuple(sorted(nodes))


def read_llc_groups(base: str, online) -> Tuple[Tuple[int, ...], ...]:
    """CPUs sharing the last-level cache, for the planner; empty when sysfs has no caches.

    Only CPUs not yet covered by a group are read, so a 4,096-CPU host costs a
    few dozen directory reads rather than thousands.
    """
    online_set = frozenset(online)
    covered = set()
    groups = []
    for cpu in online:
        if cpu in covered:
            continue
        cache = os.path.join(base, "cpu%d" % cpu, "cache")
        names = list_dir(cache)
        if not names:
            return ()
        best = None
        for name in names:
            if not (name.startswith("index") and name[5:].isdigit()):
                continue
            kind = read_text(os.path.join(cache, name, "type"), optional=True)
            if kind is not None and kind.strip() == "Instruction":
                continue
            level = read_int(os.path.join(cache, name, "level"), minimum=1)
            if best is None or level > best[0]:
                best = (level, name)
        if best is None:
            return ()
        shared = read_cpulist(os.path.join(cache, best[1], "shared_cpu_list"))
        group = tuple(c for c in shared if c in online_set) or (cpu,)
        covered.update(group)
        covered.add(cpu)
        groups.append(group)
    return tuple(groups)


def read_cpuinfo(sysroot: str, first_only: bool = False) -> Dict[int, CpuinfoEntry]:
    """Parse ``/proc/cpuinfo`` into entries by processor number.

    ``first_only`` parses only the first processor block and the blocks
    without a processor (the trailer non-x86 hosts end with, e.g. POWER's
    ``platform``): identity (vendor, flags, platform) needs no more, and a
    4,096-CPU cpuinfo is megabytes. The file is still read whole (one read);
    only the per-line parsing of the other blocks is skipped.
    """
    path = os.path.join(sysroot, "proc", "cpuinfo")
    text = read_text(path, optional=True)
    if text is None:
        return {}
    entries: Dict[int, CpuinfoEntry] = {}
    trailer = []
    for block in text.split("\n\n"):
        if entries and first_only and (block.startswith("processor") or "\nprocessor" in block):
            continue  # another CPU's block: not needed for identity
        fields = tuple(
            (name.strip(), value.strip())
            for name, sep, value in (line.partition(":") for line in block.splitlines())
            if sep
        )
        if not fields:
            continue
        processor = dict(fields).get("processor")
        if processor is None:
            trailer.extend(fields)  # non-x86 hosts end with "timebase", "Hardware", ...
            continue
        if not processor.isdigit():
            raise FactsError(path, "processor : %s" % processor, "'processor : N' with N a CPU number")
        entries[int(processor)] = CpuinfoEntry(int(processor), fields)
    if trailer:
        entries[-1] = CpuinfoEntry(-1, tuple(trailer))
    return entries


def _fmt(cpus) -> str:
    return ",".join(str(c) for c in sorted(cpus))
