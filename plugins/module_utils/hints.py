# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hint engine: which SMT statements a guest may be given, and why.

A granted statement turns a guest's SMT mitigations off, and it is fixed at
the guest's boot. So the engine is deliberately one-sided: anything unknown,
missing or malformed denies, and every grant names the facts that allowed it.
The definitions it implements are in docs/statements.md (from DOMAIN.md's
"The four statements, precisely", with the project's stricter decisions);
tests/unit/oracle/ checks it against a brute-force reading of the same text.

Pure: plain data in (host facts as in docs/facts.md, placements as in
docs/placement.md), plain data out. No Ansible, no I/O.

Speed matters (a fleet of 10,000 hosts is decided on one controller core;
benchmarks/hints_scale.py), and in CPython every operation and every object
made counts. So each host is prepared once (CPU -> core map, who may run on
each CPU, and whether all its guests are pinned to distinct online CPUs), each
guest is checked with a few set operations, and the common guest -- pinned to
whole cores, helpers elsewhere -- takes no other step. Sentences for reasons
are built only for the items they show; the indexes they need (who owns a
CPU, which helpers share it) are built once per host, the first time a
sentence asks. Some reason dicts (grants, fixed sentences) are shared between
guests and hosts: results are to be read, not changed in place.
"""

from __future__ import annotations

# Exact type checks (type(x) is int) are deliberate here: bool is an int, and
# they are also what keeps the per-guest checks fast. Subclasses (Ansible's
# tagged values) take the careful path. pylint: disable=unidiomatic-typecheck

from collections import abc
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate, chain, islice, repeat
from operator import countOf, itemgetter
from typing import AbstractSet, Any, Dict, FrozenSet, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError

STATEMENTS = ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated")

# Values of smt/control under which SMT cannot come back (KVM's
# !cpu_smt_possible(), plus notimplemented where SMT cannot be toggled at all).
SMT_IMPOSSIBLE = frozenset(("forceoff", "notsupported", "notimplemented"))
# Under these an offline CPU cannot return as a sibling thread: forceoff keeps
# siblings down until reboot, notsupported means one thread per core. Stricter
# than DOMAIN.md, which also lists notimplemented: without SMT control a CPU
# can still be onlined one by one (DOMAIN.md's own no_smt rule says so).
OFFLINE_CANNOT_RETURN = frozenset(("forceoff", "notsupported"))

# At most this many reasons of one code per statement; the rest are counted in
# one more reason, so a 256-vCPU floating guest does not produce 256 sentences.
MAX_REASONS_PER_CODE = 2

_SEQUENCE_TYPES = frozenset((list, tuple))

Reason = Dict[str, str]
Statements = Dict[str, Any]


class PlacementError(HvfleetError, ValueError):
    """A placement is not a placement: it cannot be decided, only fixed.

    Raised for shapes and types (what docs/statements.md lists as errors);
    things that can really happen on a host (floating vCPUs, shared or
    offline pins, a topology that does not match) are denials instead.
    """

    def __init__(self, host: Optional[str], path: str, value: Any, expected: str):
        self.host = host
        self.path = path
        self.value = value
        self.expected = expected
        where = "placement" if host is None else "placement of host %s" % host
        super().__init__("%s: %s: got %s, expected %s" % (where, path, _show(value), expected))


@dataclass(frozen=True)
class Policy:
    """What the operator allows on top of the facts.

    Policy can only take statements away: ``withhold`` lists statements that
    are never granted (reason ``withheld_by_policy``), e.g. ``dedicated`` on
    a fleet whose guests must never skip their PV spinlocks.
    """

    withhold: FrozenSet[str] = frozenset()

    def __post_init__(self):
        unknown = set(self.withhold) - set(STATEMENTS)
        if unknown:
            raise ValueError(
                "policy.withhold: unknown statement(s) %s, expected some of %s"
                % (", ".join(sorted(map(str, unknown))), ", ".join(STATEMENTS))
            )


_DEFAULT_POLICY = Policy()


# --------------------------------------------------------------------------
# Host facts
# --------------------------------------------------------------------------


class HostView(NamedTuple):
    """One host's facts, checked and indexed for the per-guest decisions (a NamedTuple: cheap to build per host)."""

    control: str
    online: FrozenSet[int]
    online_sorted: Tuple[int, ...]  # where an emulator without a pin may run (libvirt's default)
    present: FrozenSet[int]
    offline: Tuple[int, ...]  # present CPUs that are not online
    core_of: Mapping[int, int]  # online CPU -> index into cores
    cores: Tuple[Sequence[int], ...]  # online threads per physical core
    core_sizes: Tuple[int, ...]  # len() of each of cores
    core_width: int  # the online threads of every core, when all cores have as many; else 0
    smt_cores: bool  # some core has more than one online thread
    nested: bool
    vouched: FrozenSet[str]
    collected_at: Any
    raw_cores: Sequence[Any]  # the facts' core entries, for naming cores in sentences
    memo: Dict[Any, Any]  # host-independent results shared by hosts of the same shape
    labels: Dict[Any, Any]  # memo for sentences only (core index -> label); never read by a decision


class _Shape(NamedTuple):
    """What hosts with the same CPUs, cores and online set share, checked once.

    A fleet has few hardware models, so most hosts' facts equal an earlier
    host's in everything the index is built from. Reuse needs full equality
    of those lists plus the same type check as a fresh read, so a decision
    never depends on which hosts were read before.
    """

    online_list: List[int]
    present_list: List[int]
    threads_lists: List[List[int]]
    online: FrozenSet[int]
    online_sorted: Tuple[int, ...]
    present: FrozenSet[int]
    offline: Tuple[int, ...]
    core_of: Dict[int, int]
    cores: Tuple[Sequence[int], ...]
    core_sizes: Tuple[int, ...]
    core_width: int
    smt_cores: bool
    memo: Dict[Any, Any]


_SHAPES: Dict[Tuple[int, int, int], _Shape] = {}
_SHAPES_MAX = 256
_THREADS = itemgetter("threads")
_INT_ONLY = frozenset((int,))


class _FactsProblem(Exception):
    pass


def read_facts(facts: Any) -> HostView:
    """Check host facts against docs/facts.md and index them.

    Raises ``ValueError`` with the field and value when they do not fit. The
    engine turns that into a ``facts_invalid`` denial rather than an error:
    facts come from machines (possibly an older collection's cache), and a
    bad host must not stop the rest of the fleet from being decided.
    """
    try:
        return _read_facts(facts)
    except _FactsProblem as problem:
        raise ValueError(str(problem)) from None


def _read_facts(facts: Any) -> HostView:
    if not _is_mapping(facts):
        raise _FactsProblem("facts: got %s, expected a mapping (docs/facts.md)" % _show(facts))
    smt = _field(facts, "smt", Mapping, "a mapping")
    control = _field(smt, "control", str, "a string such as 'on' or 'forceoff'", "smt.")
    cpus = _field(facts, "cpus", Mapping, "a mapping")
    online = cpus.get("online")
    present = cpus.get("present")
    raw_cores = facts.get("cores")
    shape = None
    key = None
    if type(online) is list and type(present) is list and type(raw_cores) is list:
        key = (len(online), len(present), len(raw_cores))
        known = _SHAPES.get(key)
        if known is not None and online == known.online_list and present == known.present_list:
            try:
                threads_lists = list(map(_THREADS, raw_cores))
            except (TypeError, KeyError, AttributeError):
                threads_lists = None
            if (
                threads_lists == known.threads_lists
                and countOf(map(type, threads_lists), list) == len(threads_lists)
                # Plain ints only (True == 1, so equal lists prove nothing about types); the
                # cores' threads are as many as the online CPUs, since they equal the known ones.
                and countOf(map(type, online), int) == len(online)
                and countOf(map(type, present), int) == len(present)
                and countOf(map(type, chain.from_iterable(threads_lists)), int) == len(online)
            ):
                shape = known
    if shape is None:
        shape = _read_shape(cpus, raw_cores)
        if key is not None:
            if len(_SHAPES) >= _SHAPES_MAX:
                _SHAPES.clear()
            _SHAPES[key] = shape
    hypervisor = _field(facts, "hypervisor", Mapping, "a mapping")
    nested = hypervisor.get("guest")
    if type(nested) is not bool:
        raise _FactsProblem("hypervisor.guest: got %s, expected true or false" % _show(nested))
    vouched_raw = hypervisor.get("vouched")
    if vouched_raw is None:
        vouched = frozenset()
    elif _is_mapping(vouched_raw):
        for key, value in vouched_raw.items():
            if type(value) is not bool:
                raise _FactsProblem(
                    "hypervisor.vouched.%s: got %s, expected true or false" % (key, _show(value))
                )
        vouched = frozenset(key for key, value in vouched_raw.items() if value is True)
    else:
        raise _FactsProblem(
            "hypervisor.vouched: got %s, expected a mapping statement -> bool" % _show(vouched_raw)
        )
    return HostView(
        control=control,
        online=shape.online,
        online_sorted=shape.online_sorted,
        present=shape.present,
        offline=shape.offline,
        core_of=shape.core_of,
        cores=shape.cores,
        core_sizes=shape.core_sizes,
        core_width=shape.core_width,
        smt_cores=shape.smt_cores,
        nested=nested,
        vouched=vouched,
        collected_at=facts.get("collected_at"),
        raw_cores=raw_cores,
        memo=shape.memo,
        labels={},
    )


def _read_shape(cpus: Mapping, raw_cores: Any) -> _Shape:
    """Check the CPU lists and cores, and index them (the part hosts can share).

    Exact types take the fast path; subclasses (Ansible's tagged lists and
    ints, lazy templated containers) are checked with isinstance and copied
    into plain lists of plain ints, so they decide exactly like plain data.
    """
    online = _cpu_list(cpus, "online")
    present = _cpu_list(cpus, "present")
    online_set = frozenset(online)
    present_set = frozenset(present)
    if not online_set:
        raise _FactsProblem("cpus.online: got [], expected at least one online CPU")
    if not online_set <= present_set:
        raise _FactsProblem(
            "cpus.online: CPUs %s are online but not in cpus.present" % _cpus(online_set - present_set)
        )
    if not isinstance(raw_cores, (list, tuple)):
        raise _FactsProblem("cores: got %s, expected a list of cores" % _show(raw_cores))
    if set(map(type, raw_cores)) <= {dict}:
        threads_lists = [core.get("threads") for core in raw_cores]
    else:
        threads_lists = [core.get("threads") if _is_mapping(core) else None for core in raw_cores]
    if not set(map(type, threads_lists)) <= _SEQUENCE_TYPES or not all(threads_lists):
        index = next(
            (i for i, threads in enumerate(threads_lists) if not isinstance(threads, (list, tuple)) or not threads),
            None,
        )
        if index is not None:
            raise _FactsProblem(
                "cores[%d]: got %s, expected a mapping whose 'threads' is a non-empty list of CPU ids"
                % (index, _show(raw_cores[index]))
            )
        threads_lists = [list(threads) for threads in threads_lists]  # list/tuple subclasses
    core_of = {cpu: index for index, threads in enumerate(threads_lists) for cpu in threads}
    if core_of and set(map(type, core_of)) != _INT_ONLY:
        bad = next((cpu for cpu in core_of if not _is_int(cpu)), None)
        if bad is not None:
            raise _FactsProblem("cores[].threads: got %s, expected CPU ids (ints)" % _show(bad))
        threads_lists = [[int(cpu) for cpu in threads] for threads in threads_lists]  # int subclasses
        core_of = {cpu: index for index, threads in enumerate(threads_lists) for cpu in threads}
    if len(core_of) != sum(map(len, threads_lists)):
        raise _FactsProblem("cores[].threads: a CPU is listed twice (in one core or in two)")
    if core_of.keys() != online_set:
        raise _FactsProblem(
            "cores[].threads: the cores' threads (%s) differ from cpus.online (%s)"
            % (_cpus(core_of), _cpus(online_set))
        )
    core_sizes = tuple(map(len, threads_lists))
    return _Shape(
        online_list=list(online),
        present_list=list(present),
        threads_lists=[list(threads) for threads in threads_lists],
        online=online_set,
        online_sorted=tuple(sorted(online_set)),
        present=present_set,
        offline=tuple(sorted(present_set - online_set)),
        core_of=core_of,
        cores=tuple(threads_lists),
        core_sizes=core_sizes,
        core_width=core_sizes[0] if len(set(core_sizes)) == 1 else 0,
        smt_cores=len(threads_lists) != len(online_set),
        memo={},
    )


def _is_mapping(value: Any) -> bool:
    """Mapping check that costs nothing for plain dicts (typing.Mapping's isinstance is slow)."""
    return type(value) is dict or isinstance(value, abc.Mapping)


def _field(parent: Mapping, key: str, kind: Any, expected: str, prefix: str = "") -> Any:
    value = parent.get(key)
    if kind is Mapping:
        kind = abc.Mapping
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _FactsProblem("%s%s: got %s, expected %s" % (prefix, key, _show(value), expected))
    return value


def _is_int(value: Any) -> bool:
    """An int or an int subclass (Ansible tags ints with their origin), but not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _cpu_list(cpus: Mapping, key: str) -> Sequence[int]:
    value = cpus.get(key)
    if isinstance(value, (list, tuple)) and value and set(map(type, value)) != _INT_ONLY and all(map(_is_int, value)):
        value = [int(cpu) for cpu in value]  # int subclasses: plain ints from here on
    if not isinstance(value, (list, tuple)) or (value and set(map(type, value)) != _INT_ONLY) or (
        value and min(value) < 0
    ):
        raise _FactsProblem("cpus.%s: got %s, expected a list of CPU ids (ints >= 0)" % (key, _show(value)))
    return value


# --------------------------------------------------------------------------
# Placement
# --------------------------------------------------------------------------


class Topology(NamedTuple):
    sockets: int
    dies: int
    clusters: int
    cores: int
    threads: int

    @property
    def product(self) -> int:
        return self.sockets * self.dies * self.clusters * self.cores * self.threads

    def __str__(self) -> str:
        shown = [("sockets", self.sockets), ("dies", self.dies), ("clusters", self.clusters),
                 ("cores", self.cores), ("threads", self.threads)]
        return ", ".join("%s=%d" % (key, value) for key, value in shown if value != 1 or key not in ("dies", "clusters"))


class Guest(NamedTuple):
    """One guest's placement, checked."""

    name: str
    n: int  # vCPU count
    cpusets: Optional[Tuple[Tuple[int, ...], ...]]  # per vCPU id, its pCPUs; None when ``pins`` says it all
    pins: Optional[Tuple[int, ...]]  # one pCPU per vCPU, when every vCPU has exactly one
    topology: Optional[Topology]  # None: not known
    emulator: Tuple[int, ...]
    emulator_default: bool  # no emulator pin given: libvirt's default applies (emulator_source says which)
    iothreads: Tuple[Tuple[int, ...], ...]
    topology_info: Optional["_TopologyInfo"]  # derived from topology, shared by guests showing the same
    # Where ``emulator`` came from: "pin" (given), "vcpu_cpuset" (no pin: libvirt
    # runs it on the domain's <vcpu cpuset>) or "online" (no pin and no cpuset:
    # libvirt runs it on every online CPU; docs/placement.md).
    emulator_source: str = "pin"


class _TopologyInfo(NamedTuple):
    """An exposed topology with what every guest showing it needs, computed once."""

    topology: Topology
    product: int
    threads: int
    grant: Reason  # the topology_accurate sentence


_TOPOLOGIES: Dict[Tuple[Any, ...], _TopologyInfo] = {}
_TOPOLOGIES_MAX = 4096


def _topology_info(topology: Topology) -> _TopologyInfo:
    info = _TOPOLOGIES.get(topology)
    if info is None:
        product = topology.product
        info = _TopologyInfo(
            topology,
            product,
            topology.threads,
            _reason(
                "topology_accurate",
                "each of the %d vCPUs has its own online pCPU, and the exposed topology (%s) shows two vCPUs "
                "as siblings exactly when their pCPUs share a physical core" % (product, topology),
            ),
        )
        if len(_TOPOLOGIES) >= _TOPOLOGIES_MAX:
            _TOPOLOGIES.clear()
        _TOPOLOGIES[topology] = info
    return info


class Placement(NamedTuple):
    """One host's placement, checked."""

    housekeeping: Optional[FrozenSet[int]]  # None: not known, so every CPU
    housekeeping_source: Optional[str]
    guests: Tuple[Guest, ...]


def validate_placement(placement: Any, facts: Any = None, host: Optional[str] = None) -> Placement:
    """Check a placement's shape and return it parsed; raise PlacementError if it is not one.

    Errors (the placement cannot be decided, only fixed): not a mapping,
    ``guests`` not a list, a guest without a unique non-empty name, vCPU ids
    that are not 0..n-1, a vCPU or emulator or iothread pin set that is not a
    non-empty list of distinct CPU ids (ints >= 0; cpulist strings such as
    '0-3' are refused: convert them with the hvfleet.smt.cpulist filter), a
    topology with a missing or non-positive count, and, when the facts are
    valid, a guest pin on a CPU the host does not have (not in cpus.present).

    Everything else that can be true of a real host is a denial, decided per
    statement: floating vCPUs, two vCPUs on one pCPU, pins on offline CPUs, a
    topology whose product differs from the vCPU count (libvirt checks it
    against the maximum vCPU count, so hot-pluggable vCPUs make it real), an
    unknown topology or housekeeping set.
    """
    view = None
    if facts is not None:
        try:
            view = _read_facts(facts)
        except _FactsProblem:
            view = None
    return _parse_placement(
        placement,
        view.present if view is not None else None,
        host,
        view.online_sorted if view is not None else (),
    )


def _parse_placement(
    placement: Any, present: Optional[FrozenSet[int]], host: Optional[str], online: Tuple[int, ...] = ()
) -> Placement:
    """``online``: the host's online CPUs (empty when unknown); kept for libvirt's emulator default (docs/placement.md)."""
    if not _is_mapping(placement):
        raise PlacementError(host, "placement", placement, "a mapping (docs/placement.md)")
    housekeeping_raw = placement.get("housekeeping")
    if housekeeping_raw is None:
        housekeeping = None
    else:
        housekeeping = frozenset(_cpu_set(housekeeping_raw, host, "housekeeping", allow_empty=True))
    source = placement.get("housekeeping_source")
    if source is not None and not isinstance(source, str):
        raise PlacementError(host, "housekeeping_source", source, "a string or null")
    guests_raw = placement.get("guests")
    if not isinstance(guests_raw, (list, tuple)):
        raise PlacementError(host, "guests", guests_raw, "a list of guests ([] when there are none)")
    batch = _parse_guests_batch(guests_raw, present, online)
    if batch is not None:
        return Placement(housekeeping, source, batch)
    guests = []
    names = set()
    for index, raw in enumerate(guests_raw):
        guest = _parse_guest(raw, index, present, host, online)
        if guest.name in names:
            raise PlacementError(host, "guests[%d].name" % index, guest.name, "a name no other guest has")
        names.add(guest.name)
        guests.append(guest)
    return Placement(housekeeping, source, tuple(guests))


_NONE_OR_DICT = frozenset((type(None), dict))
_NONE_OR_LIST = frozenset((type(None), list))
_NONE_OR_STR = frozenset((type(None), str))
_STR_ONLY = frozenset((str,))


def _parse_guests_batch(
    guests_raw: Any, present: Optional[FrozenSet[int]], online: Tuple[int, ...]
) -> Optional[Tuple["Guest", ...]]:
    """Every guest of a host at once, when all have the common shape; None otherwise.

    A host's guests are checked with a few C-level passes over all their pins
    together instead of a few per guest. It accepts only what the per-guest
    parser accepts and builds the same Guests; anything unusual (floating
    vCPUs, mapping-form vCPUs, subclassed values, any error) returns None and
    the per-guest parser takes over, with its exact messages.
    """
    if type(guests_raw) is not list or not guests_raw or set(map(type, guests_raw)) != _DICT_ONLY:
        return None
    get = dict.get
    names = list(map(get, guests_raw, repeat("name")))
    vcpus_all = list(map(get, guests_raw, repeat("vcpus")))
    if (
        set(map(type, names)) != _STR_ONLY
        or not all(names)
        or len(set(names)) != len(names)
        or set(map(type, vcpus_all)) != _LIST_ONLY
        or not all(vcpus_all)
    ):
        return None
    sets = list(chain.from_iterable(vcpus_all))
    # Counting is cheaper than collecting the types into a set; every count is over a non-empty list here.
    if countOf(map(type, sets), list) != len(sets) or countOf(map(len, sets), 1) != len(sets):
        return None
    flat = tuple(map(_FIRST, sets))
    # Exact ints; the host's CPUs when known (cpus.present holds ints >= 0 only), else ints >= 0.
    if countOf(map(type, flat), int) != len(flat) or (
        not present.issuperset(flat) if present is not None else min(flat) < 0
    ):
        return None
    emulators = list(map(get, guests_raw, repeat("emulator")))
    iothreads_all = list(map(get, guests_raw, repeat("iothreads")))
    topologies = list(map(get, guests_raw, repeat("topology")))
    domains = list(map(get, guests_raw, repeat("migration_domain")))
    cpusets = list(map(get, guests_raw, repeat("vcpu_cpuset")))
    if (
        not set(map(type, cpusets)) <= _NONE_OR_LIST
        or not set(map(type, emulators)) <= _NONE_OR_LIST
        or not set(map(type, iothreads_all)) <= _NONE_OR_LIST
        or set(map(type, topologies)) != _DICT_ONLY
        or not set(map(type, domains)) <= _NONE_OR_STR
    ):
        return None
    # Every emulator, iothread and <vcpu cpuset> pin set, as tuples: emulators in
    # guest order, then iothreads in guest order, then cpusets.
    helper_sets = [cpus for cpus in emulators if cpus is not None]
    helper_sets.extend(chain.from_iterable(iothreads for iothreads in iothreads_all if iothreads))
    helper_sets.extend(cpus for cpus in cpusets if cpus is not None)
    helper_tuples: List[Tuple[int, ...]] = []
    if helper_sets:
        if set(map(type, helper_sets)) != _LIST_ONLY or not all(helper_sets):
            return None
        helper_tuples = list(map(tuple, helper_sets))
        if countOf(map(type, chain.from_iterable(helper_tuples)), int) != sum(map(len, helper_tuples)):
            return None
        # Guests' helpers often share a pin set: check each distinct set once
        # (plain ints only by now, so equal tuples mean equal sets of CPUs).
        distinct = set(helper_tuples)
        if (
            (not present.issuperset(chain.from_iterable(distinct)) if present is not None else min(map(min, distinct)) < 0)
            or any(len(set(cpus)) != len(cpus) for cpus in distinct)
        ):
            return None
    counts = list(
        zip(
            map(get, topologies, repeat("sockets")),
            map(get, topologies, repeat("dies"), repeat(1)),
            map(get, topologies, repeat("clusters"), repeat(1)),
            map(get, topologies, repeat("cores")),
            map(get, topologies, repeat("threads")),
        )
    )
    if countOf(map(type, chain.from_iterable(counts)), int) != 5 * len(counts):
        return None
    infos = list(map(_TOPOLOGIES.get, counts))  # a hit is an equal tuple of ints, checked when it was cached
    if None in infos:
        if min(chain.from_iterable(counts)) < 1:
            return None
        infos = [info or _topology_info(Topology(*count)) for info, count in zip(infos, counts)]
    sizes = list(map(len, vcpus_all))
    ends = list(accumulate(sizes))
    pins_all = [flat[start:end] for start, end in zip(chain((0,), ends), ends)]
    tuples = iter(helper_tuples)
    emulator_tuples = [None if cpus is None else next(tuples) for cpus in emulators]
    iothread_tuples = [tuple(islice(tuples, len(iothreads))) if iothreads else () for iothreads in iothreads_all]
    sources = ["online" if cpus is None else "pin" for cpus in emulators]
    if None in emulator_tuples:
        for index, emulator in enumerate(emulator_tuples):
            if emulator is None:
                cpuset = cpusets[index]
                if cpuset is None:
                    emulator_tuples[index] = online or tuple(sorted(set(pins_all[index])))
                else:
                    emulator_tuples[index] = tuple(sorted(cpuset))
                    sources[index] = "vcpu_cpuset"
    # Guest(...) field by field, built with tuple.__new__ (what Guest._make
    # does) so no Python-level __new__ runs per guest.
    return tuple(
        map(
            tuple.__new__,
            repeat(Guest),
            zip(
                names,
                sizes,
                repeat(None),
                pins_all,
                map(_INFO_TOPOLOGY, infos),
                emulator_tuples,
                [source != "pin" for source in sources],
                iothread_tuples,
                infos,
                sources,
            ),
        )
    )


_INFO_TOPOLOGY = itemgetter(0)


_SET_EXPECTED = "a non-empty list of distinct CPU ids (ints >= 0; convert cpulist strings with hvfleet.smt.cpulist)"


def _cpu_set(value: Any, host: Optional[str], path: str, allow_empty: bool = False) -> Tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or (not value and not allow_empty):
        raise PlacementError(host, path, value, _SET_EXPECTED)
    if value and countOf(map(type, value), int) != len(value):
        bad = next(cpu for cpu in value if type(cpu) is not int)
        # Subclasses of int (not bool) are ints that Ansible tagged with their origin.
        if not (isinstance(bad, int) and not isinstance(bad, bool)) or not all(
            isinstance(cpu, int) and not isinstance(cpu, bool) for cpu in value
        ):
            raise PlacementError(host, path, value, _SET_EXPECTED)
        value = [int(cpu) for cpu in value]
    if value and min(value) < 0:
        raise PlacementError(host, path, value, _SET_EXPECTED)
    if len(set(value)) != len(value):
        raise PlacementError(host, path, value, _SET_EXPECTED + "; a CPU is listed twice")
    return tuple(value)


_LIST_ONLY = frozenset((list,))
_ONE = frozenset((1,))


def _parse_guest(
    raw: Any, index: int, present: Optional[FrozenSet[int]], host: Optional[str], online: Tuple[int, ...] = ()
) -> Guest:
    """The common shape, checked with a few C-level passes; anything else goes the careful way.

    Both ways accept and reject exactly the same inputs and build the same
    Guest; the careful one also says what is wrong.
    """
    if type(raw) is dict:
        name = raw.get("name")
        vcpus = raw.get("vcpus")
        if (
            type(name) is str
            and name
            and type(vcpus) is list
            and vcpus
            and set(map(type, vcpus)) == _LIST_ONLY
            and set(map(len, vcpus)) == _ONE
        ):
            pins = tuple(map(_FIRST, vcpus))
            if set(map(type, pins)) == _INT_ONLY and min(pins) >= 0 and (present is None or present.issuperset(pins)):
                topology_raw = raw.get("topology")
                info = None
                if topology_raw is not None:
                    if type(topology_raw) is dict:
                        counts = (
                            topology_raw.get("sockets"),
                            topology_raw.get("dies", 1),
                            topology_raw.get("clusters", 1),
                            topology_raw.get("cores"),
                            topology_raw.get("threads"),
                        )
                        if set(map(type, counts)) == _INT_ONLY:  # also keeps True (== 1) out
                            info = _TOPOLOGIES.get(counts)
                    if info is None:
                        info = _topology_info(_parse_topology(topology_raw, host, index, name))
                emulator_raw = raw.get("emulator")
                cpuset_raw = raw.get("vcpu_cpuset")
                iothreads_raw = raw.get("iothreads")
                domain = raw.get("migration_domain")
                if emulator_raw is None and cpuset_raw is None:
                    emulator = online or tuple(sorted(set(pins)))
                    emulator_default = "online"
                elif emulator_raw is None:  # libvirt runs the emulator on the <vcpu cpuset>
                    emulator = tuple(sorted(cpuset_raw)) if _plain_cpus(cpuset_raw, present) else None
                    emulator_default = "vcpu_cpuset"
                elif _plain_cpus(emulator_raw, present) and (cpuset_raw is None or _plain_cpus(cpuset_raw, present)):
                    emulator = tuple(emulator_raw)
                    emulator_default = "pin"
                else:
                    emulator = None
                iothreads = _fast_iothreads(iothreads_raw, present)
                if emulator is not None and iothreads is not None and (domain is None or type(domain) is str):
                    return Guest(
                        name,
                        len(pins),
                        None,
                        pins,
                        info.topology if info is not None else None,
                        emulator,
                        emulator_default != "pin",
                        iothreads,
                        info,
                        emulator_default,
                    )
    return _parse_guest_slow(raw, index, present, host, online)


def _plain_cpus(value: Any, present: Optional[FrozenSet[int]]) -> bool:
    """A pin set in the common shape: a non-empty list of distinct plain ints >= 0 that the host has."""
    return (
        type(value) is list
        and bool(value)
        and set(map(type, value)) == _INT_ONLY
        and min(value) >= 0
        and len(set(value)) == len(value)
        and (present is None or present.issuperset(value))
    )


def _fast_iothreads(raw: Any, present: Optional[FrozenSet[int]]) -> Optional[Tuple[Tuple[int, ...], ...]]:
    """Iothread pin sets in the common shape, or None to let the careful parser decide."""
    if raw is None or (type(raw) is list and not raw):
        return ()
    if type(raw) is not list or set(map(type, raw)) != _LIST_ONLY or not all(raw):
        return None
    out = []
    for cpus in raw:
        if set(map(type, cpus)) != _INT_ONLY or min(cpus) < 0 or len(set(cpus)) != len(cpus):
            return None
        if present is not None and not present.issuperset(cpus):
            return None
        out.append(tuple(cpus))
    return tuple(out)


def _parse_guest_slow(
    raw: Any, index: int, present: Optional[FrozenSet[int]], host: Optional[str], online: Tuple[int, ...] = ()
) -> Guest:
    if type(raw) is not dict and not _is_mapping(raw):
        raise PlacementError(host, "guests[%d]" % index, raw, "a mapping describing one guest")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise PlacementError(host, "guests[%d].name" % index, name, "a non-empty string")
    vcpus = raw.get("vcpus")
    pins = None
    # Fast path: a list of one-element lists of plain ints (every vCPU pinned).
    if type(vcpus) is list and vcpus and set(map(type, vcpus)) <= _SEQUENCE_TYPES and set(map(len, vcpus)) == {1}:
        candidate = tuple(map(_FIRST, vcpus))
        if set(map(type, candidate)) == {int} and min(candidate) >= 0:
            pins = candidate
    if pins is not None:
        cpusets = None
        used = pins
    else:
        where = "guests[%d] (%s)" % (index, name)
        if _is_mapping(vcpus):
            vcpus = _vcpus_from_mapping(vcpus, host, where)
        if not isinstance(vcpus, (list, tuple)) or not vcpus:
            raise PlacementError(host, where + ".vcpus", vcpus, "a non-empty list: one pin set per vCPU id")
        cpusets = []
        previous_raw = previous = None
        for vcpu, cpus in enumerate(vcpus):
            # Floating vCPUs usually repeat one big set: check it once. Equal is
            # not enough on its own ([True] == [1]): the elements must be ints.
            if (
                previous_raw is not None
                and type(cpus) is type(previous_raw)
                and cpus == previous_raw
                and countOf(map(type, cpus), int) == len(cpus)
            ):
                cpusets.append(previous)
                continue
            previous_raw = cpus
            previous = _cpu_set(cpus, host, "%s.vcpus[%d]" % (where, vcpu))
            cpusets.append(previous)
        cpusets = tuple(cpusets)
        if set(map(len, cpusets)) == {1}:
            pins = tuple(map(_FIRST, cpusets))
            used = pins
            cpusets = None
        else:
            used = frozenset().union(*{id(cpus): cpus for cpus in cpusets}.values())  # repeated sets once
    if present is not None and not present.issuperset(used):
        _absent(host, "guests[%d] (%s).vcpus" % (index, name), _cpusets(pins, cpusets), present)
    topology_raw = raw.get("topology")
    topology = None if topology_raw is None else _parse_topology(topology_raw, host, index, name)
    cpuset_raw = raw.get("vcpu_cpuset")
    cpuset = None
    if cpuset_raw is not None:
        cpuset = _cpu_set(cpuset_raw, host, "guests[%d] (%s).vcpu_cpuset" % (index, name))
        if present is not None and not present.issuperset(cpuset):
            _absent(host, "guests[%d] (%s).vcpu_cpuset" % (index, name), [cpuset], present)
    emulator_raw = raw.get("emulator")
    if emulator_raw is None:
        # libvirt without <emulatorpin>: the <vcpu cpuset> if the domain has one,
        # else every online CPU (formatdomain, qemuProcessSetupPid). Only when
        # the facts are unusable is `online` unknown; nothing is granted then.
        if cpuset is not None:
            emulator = tuple(sorted(cpuset))
            emulator_default = "vcpu_cpuset"
        else:
            emulator = online or tuple(sorted(set(used)))
            emulator_default = "online"
    else:
        emulator = _cpu_set(emulator_raw, host, "guests[%d] (%s).emulator" % (index, name))
        emulator_default = "pin"
        if present is not None and not present.issuperset(emulator):
            _absent(host, "guests[%d] (%s).emulator" % (index, name), [emulator], present)
    iothreads_raw = raw.get("iothreads")
    if not iothreads_raw:
        if iothreads_raw is not None and not isinstance(iothreads_raw, (list, tuple)):
            raise PlacementError(
                host, "guests[%d] (%s).iothreads" % (index, name), iothreads_raw, "a list of pin sets, one per iothread"
            )
        iothreads = ()
    elif isinstance(iothreads_raw, (list, tuple)):
        iothreads = tuple(
            _cpu_set(cpus, host, "guests[%d] (%s).iothreads[%d]" % (index, name, i))
            for i, cpus in enumerate(iothreads_raw)
        )
        if present is not None and not present.issuperset(cpu for cpus in iothreads for cpu in cpus):
            _absent(host, "guests[%d] (%s).iothreads" % (index, name), iothreads, present)
    else:
        raise PlacementError(
            host, "guests[%d] (%s).iothreads" % (index, name), iothreads_raw, "a list of pin sets, one per iothread"
        )
    domain = raw.get("migration_domain")
    if domain is not None and not isinstance(domain, str) and not (
        isinstance(domain, (list, tuple)) and all(isinstance(h, str) and h for h in domain)
    ):
        raise PlacementError(
            host,
            "guests[%d] (%s).migration_domain" % (index, name),
            domain,
            "null, an inventory group name or a list of host names",
        )
    info = _topology_info(topology) if topology is not None else None
    return Guest(
        name,
        len(pins) if pins is not None else len(cpusets),
        cpusets,
        pins,
        info.topology if info is not None else None,
        emulator,
        emulator_default != "pin",
        iothreads,
        info,
        emulator_default,
    )


_FIRST = itemgetter(0)


def _cpusets(pins: Optional[Sequence[int]], cpusets: Optional[Sequence[Sequence[int]]]) -> Sequence[Sequence[int]]:
    """Per-vCPU pin sets, whichever way the guest stores them."""
    if cpusets is not None:
        return cpusets
    return [(cpu,) for cpu in pins]


def _absent(host: Optional[str], path: str, cpusets: Sequence[Sequence[int]], present: FrozenSet[int]) -> None:
    for index, cpus in enumerate(cpusets):
        missing = sorted(set(cpus) - present)
        if missing:
            raise PlacementError(
                host,
                "%s[%d]" % (path, index) if not path.endswith(("emulator", "vcpu_cpuset")) else path,
                list(cpus),
                "CPUs the host has (cpus.present: %s); CPU %d is not present" % (_cpus(present), missing[0]),
            )


def _vcpus_from_mapping(vcpus: Mapping, host: Optional[str], where: str) -> List[Any]:
    """Accept ``{vcpu_id: pins}`` (libvirt's vcpupin shape), as long as the ids are 0..n-1."""
    by_id = {}
    for key, cpus in vcpus.items():
        vcpu = key
        if isinstance(key, str) and key.isdigit():
            vcpu = int(key)
        if type(vcpu) is not int or vcpu < 0 or vcpu >= len(vcpus):
            raise PlacementError(
                host,
                where + ".vcpus",
                key,
                "vCPU ids 0..%d (the guest has %d vCPUs)" % (len(vcpus) - 1, len(vcpus)),
            )
        if vcpu in by_id:
            raise PlacementError(host, where + ".vcpus", key, "each vCPU id once")
        by_id[vcpu] = cpus
    return [by_id[vcpu] for vcpu in range(len(vcpus))]


def _parse_topology(raw: Any, host: Optional[str], index: int, name: str) -> Topology:
    where = "guests[%d] (%s).topology" % (index, name)
    if not _is_mapping(raw):
        raise PlacementError(host, where, raw, "a mapping {sockets, dies, clusters, cores, threads} or null")
    counts = (raw.get("sockets"), raw.get("dies", 1), raw.get("clusters", 1), raw.get("cores"), raw.get("threads"))
    if set(map(type, counts)) == {int} and min(counts) >= 1:
        return Topology(*counts)
    for key, value in zip(Topology._fields, counts):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise PlacementError(host, "%s.%s" % (where, key), value, "a positive integer")
    return Topology(*(int(value) for value in counts))


# --------------------------------------------------------------------------
# Who may run where
# --------------------------------------------------------------------------


_PINS = itemgetter(3)  # Guest.pins (None or a non-empty tuple)
_EMULATOR = itemgetter(5)  # Guest.emulator
_IOTHREADS = itemgetter(7)  # Guest.iothreads


class _Usage(NamedTuple):
    """Per-CPU users of one host, computed once for all its guests."""

    housekeeping: FrozenSet[int]  # unknown housekeeping: every present CPU
    aux: AbstractSet[int]  # housekeeping + every guest's emulator and iothread pins
    helpers: AbstractSet[int]  # every guest's emulator and iothread pins
    multi: FrozenSet[int]  # CPUs where vCPUs of two or more guests may run
    vcpus: AbstractSet[int]  # CPUs where some guest's vCPUs may run (with aux: every CPU with a user)
    foreign_on_own_pin: AbstractSet[int]  # a guest's own vCPU pin here has a foreign user
    pins_exclusive: bool  # every guest pinned 1:1 to online CPUs, no CPU pinned twice (by one guest or two)


def _vcpu_sets(guests: Sequence["Guest"]) -> List[FrozenSet[int]]:
    """Where each guest's vCPUs may run (floating vCPUs usually share one pin set object: each set taken once)."""
    return [
        frozenset(guest.pins) if guest.pins is not None else frozenset().union(*{id(c): c for c in guest.cpusets}.values())
        for guest in guests
    ]


def _usage(view: HostView, placement: Placement) -> _Usage:
    guests = placement.guests
    housekeeping = placement.housekeeping if placement.housekeeping is not None else view.present
    helpers: set = set()
    if guests:
        helpers.update(*map(_EMULATOR, guests))
        helpers.update(*chain.from_iterable(map(_IOTHREADS, guests)))
    aux = helpers.union(housekeeping)
    multi: FrozenSet[int] = frozenset()
    pins = list(map(_PINS, guests))
    if all(pins):  # every guest pinned 1:1 (pins is None otherwise)
        total = sum(map(len, pins))
        vcpu_cpus = set(chain.from_iterable(pins))
        clash = len(vcpu_cpus) != total and len(vcpu_cpus) != sum(len(set(cpus)) for cpus in pins)
        pins_exclusive = len(vcpu_cpus) == total and view.online.issuperset(vcpu_cpus)
        sets = None
    else:
        sets = _vcpu_sets(guests)
        vcpu_cpus = set().union(*sets)
        clash = len(vcpu_cpus) != sum(map(len, sets))
        pins_exclusive = False
    if clash:
        # Some CPU carries vCPUs of two guests: which ones, one set operation per guest.
        seen: set = set()
        shared: set = set()
        for cpus in sets if sets is not None else map(frozenset, pins):
            shared.update(seen.intersection(cpus))
            seen.update(cpus)
        multi = frozenset(shared)
    return _Usage(
        housekeeping=frozenset(housekeeping),
        aux=aux,
        helpers=helpers,
        multi=multi,
        vcpus=vcpu_cpus,
        foreign_on_own_pin=aux | multi if multi else aux,
        pins_exclusive=pins_exclusive,
    )


# --------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------


def _reason(code: str, message: str) -> Reason:
    return {"code": code, "message": message}


def _capped(code: str, items: Iterable[Any], what: str, sentence: Optional[Any] = None) -> List[Reason]:
    """One reason per item, but only the first few get a sentence; the rest are counted.

    ``sentence`` turns an item into its sentence; it is called only for the
    items shown, so a huge guest costs no more words than a small one.
    """
    out = []
    extra = 0
    for item in items:
        if len(out) < MAX_REASONS_PER_CODE:
            out.append(_reason(code, sentence(item) if sentence is not None else item))
        else:
            extra += 1
    if extra:
        out.append(_reason(code, "and %d more %s like these" % (extra, what)))
    return out


def _result(granted: bool, reasons: List[Reason]) -> Dict[str, Any]:
    return {"granted": granted, "reasons": reasons}


def _decide_no_smt(view: HostView) -> Tuple[bool, List[Reason]]:
    """no_smt depends on the host only, so it is decided once per host."""
    denials = []
    control = view.control
    if control not in SMT_IMPOSSIBLE:
        if control == "off":
            denials.append(
                _reason(
                    "smt_reversible",
                    "SMT control is 'off': it can be switched back on at runtime; to make it final, "
                    "write 'forceoff' to /sys/devices/system/cpu/smt/control or boot with nosmt=force",
                )
            )
        elif control == "on":
            denials.append(_reason("smt_on", "SMT control is 'on': sibling threads run"))
        elif control.isdigit():
            denials.append(
                _reason("smt_on", "SMT control is '%s': SMT is on with up to %s threads per core" % (control, control))
            )
        elif control == "unknown":
            denials.append(
                _reason(
                    "smt_unknown",
                    "SMT control is 'unknown' (no smt/control file, kernel older than 4.19?), so SMT may be on",
                )
            )
        else:
            denials.append(
                _reason("smt_unknown", "SMT control is %r, which is not a known value, so SMT may be on" % control)
            )
    if view.smt_cores:
        multi = [threads for threads in view.cores if len(threads) > 1]
        denials.append(
            _reason(
                "multi_thread_core",
                "%d online core%s more than one online thread (e.g. the core of CPUs %s)"
                % (len(multi), " has" if len(multi) == 1 else "s have", _cpus(multi[0])),
            )
        )
    if control == "notimplemented" and view.offline:
        denials.append(
            _reason(
                "offline_cpu_may_return",
                "SMT control is 'notimplemented' and CPUs %s are offline: without SMT control they can "
                "still be brought online, and they may be siblings" % _cpus(view.offline),
            )
        )
    if view.nested and "no_smt" not in view.vouched:
        denials.append(_nested_unvouched("no_smt", "no_smt"))
    if denials:
        return False, denials
    grants = [
        _reason(
            "smt_impossible",
            "SMT control is '%s' and each of the %d online cores has one thread" % (control, len(view.cores)),
        )
    ]
    if view.nested:
        grants.append(_nested_vouched("no_smt"))
    return True, grants


def _nested_unvouched(statement: str, needs: str) -> Reason:
    return _reason(
        "nested_unvouched",
        "this host is itself a VM (hypervisor flag): its topology describes virtual CPUs, and its own "
        "hypervisor did not vouch for %s, which %s needs" % (needs, statement),
    )


def _nested_vouched(vouched: str) -> Reason:
    return _reason(
        "nested_vouched",
        "this host is itself a VM, and its own hypervisor vouched for %s" % vouched,
    )


class _HostContext(NamedTuple):
    view: HostView
    placement: Placement
    usage: _Usage
    no_smt: Tuple[bool, List[Reason]]
    nn_nested_ok: bool
    offline_reason: Optional[Reason]
    cache: Dict[str, Any]  # lazily built indexes used only to word denials
    no_smt_codes: str  # no_smt's denial codes, for needs_accurate_topology


def _host_context(view: HostView, placement: Placement) -> _HostContext:
    key = ("host", view.control, view.nested, view.vouched)
    shared = view.memo.get(key)
    if shared is None:
        shared = _host_decisions(view)
        view.memo[key] = shared
    no_smt, nn_nested_ok, offline_reason = shared
    return _HostContext(
        view, placement, _usage(view, placement), no_smt, nn_nested_ok, offline_reason, {}, _codes(no_smt[1])
    )


def _host_decisions(view: HostView) -> Tuple[Tuple[bool, List[Reason]], bool, Optional[Reason]]:
    """What depends on the host alone (its shape, SMT control and nesting), decided once."""
    vouched = view.vouched
    nn_nested_ok = (not view.nested) or "no_smt" in vouched or (
        "accurate_topology" in vouched and "no_nonarch_core_sharing" in vouched
    )
    offline_reason = None
    if view.control not in OFFLINE_CANNOT_RETURN and view.offline:
        offline_reason = _reason(
            "offline_cpu_may_return",
            "CPUs %s are offline and SMT control is '%s': one of them may be a sibling of a vCPU's pCPU "
            "and come back online beside it" % (_cpus(view.offline), view.control),
        )
    return _decide_no_smt(view), nn_nested_ok, offline_reason


@lru_cache(maxsize=1024)
def _grant_cores(n: int) -> Reason:
    return _reason(
        "cores_exclusive",
        "no thread of a physical core holding one of the %d vCPUs has a foreign user that could run beside "
        "a vCPU" % n,
    )


@lru_cache(maxsize=1024)
def _grant_pins(n: int) -> Reason:
    return _reason(
        "pins_exclusive",
        "each of the %d vCPUs has its own online pCPU that nothing else may run on" % n,
    )


_NESTED_VOUCHED = {
    "accurate_topology": _nested_vouched("accurate_topology"),
    "dedicated": _nested_vouched("dedicated"),
}


def _decide_guest(
    ctx: _HostContext, guest: Guest, policy: Policy, host: Optional[str] = None, collected_at: Any = None
) -> Dict[str, Any]:
    """The four statements for one guest, plus ``host`` and ``facts_collected_at``.

    The common guest (pinned 1:1 to whole cores, helpers elsewhere) is
    decided with a handful of set operations; the denial helpers below are
    called only when something is denied, and word only what is shown.
    """
    view = ctx.view
    usage = ctx.usage
    n = guest.n
    pins = guest.pins

    # -- pins: shared by accurate_topology, dedicated and core sharing -----
    if pins is None:
        pins_ok = False
    elif usage.pins_exclusive:
        pins_ok = True  # every guest's pins are distinct online CPUs no other guest pins (checked once per host)
    else:
        pins_ok = len(set(pins)) == n and view.online.issuperset(pins)
    if pins_ok:
        cores = itemgetter(*pins)(view.core_of) if n > 1 else (view.core_of[pins[0]],)  # physical core of each vCPU
        touched = set(cores)
        pin_denials: List[Reason] = []
    else:
        cores = touched = None
        pin_denials = _pin_denials(view, guest)

    # -- accurate_topology -------------------------------------------------
    info = guest.topology_info
    if info is None:
        acc_denials = pin_denials + [_TOPOLOGY_UNKNOWN]
    elif info.product != n:
        acc_denials = pin_denials + [
            _reason(
                "topology_product_mismatch",
                "the exposed topology (%s) has %d CPUs, but the guest has %d vCPUs" % (info.topology, info.product, n),
            )
        ]
    elif cores is None:
        acc_denials = list(pin_denials)
    else:
        threads = info.threads
        distinct = len(touched)
        if threads == 1:
            matches = distinct == n
        else:
            # Threads vary fastest, so vCPU i is in sibling group i // threads and
            # cores[k::threads] is the core of each group's k-th thread: each group
            # is on one core when those slices are equal, and no core holds two
            # groups when there are as many distinct cores as groups.
            first = cores[::threads]
            if threads == 2:
                one_core_each = cores[1::2] == first
            else:
                one_core_each = all(cores[k::threads] == first for k in range(1, threads))
            matches = distinct == n // threads and one_core_each
        acc_denials = [] if matches else _sibling_mismatch(view, pins, cores, threads)
    nested = view.nested
    if nested and "accurate_topology" not in view.vouched:
        acc_denials.append(_nested_unvouched("accurate_topology", "accurate_topology"))
    if acc_denials:
        acc = {"granted": False, "reasons": acc_denials}
    else:
        acc = {"granted": True, "reasons": [info.grant]}
        if nested:
            acc["reasons"].append(_NESTED_VOUCHED["accurate_topology"])

    # -- dedicated ---------------------------------------------------------
    foreign_free = pins_ok and usage.foreign_on_own_pin.isdisjoint(pins)  # no foreign user on a vCPU's pCPU
    if not pins_ok:
        ded_denials = list(pin_denials)
    elif foreign_free:
        ded_denials = []
    else:
        ded_denials = _foreign_on_pins(ctx, guest)
    if nested and "dedicated" not in view.vouched:
        ded_denials.append(_nested_unvouched("dedicated", "dedicated"))
    if ded_denials:
        ded = {"granted": False, "reasons": ded_denials}
    else:
        ded = {"granted": True, "reasons": [_grant_pins(n)]}
        if nested:
            ded["reasons"].append(_NESTED_VOUCHED["dedicated"])

    # -- no_smt, no_nonarch_core_sharing -----------------------------------
    no_smt_granted, no_smt_reasons = ctx.no_smt
    if no_smt_granted:
        nn = {"granted": True, "reasons": list(no_smt_reasons)}
    else:
        nn_denials = []
        if acc_denials:
            nn_denials.append(
                _reason(
                    "needs_accurate_topology",
                    "no_smt is denied (%s) and accurate_topology is denied (%s)"
                    % (ctx.no_smt_codes, _codes(acc_denials)),
                )
            )
        if ctx.offline_reason is not None:
            nn_denials.append(ctx.offline_reason)
        # Whole cores, all ours, none of them with a foreign user: nothing to share (the common case).
        if cores is not None and view.smt_cores and not (foreign_free and _whole_cores(view, touched, n)):
            pinset = frozenset(pins)
            if _co_resident(ctx, pinset, cores, touched):
                nn_denials.extend(
                    _sibling_sharing(ctx, guest, pinset, touched)
                    or [_reason("sibling_shared", "a foreign user may run beside a vCPU (could not name the threads: "
                                "please report this as a bug)")]
                )
        if not ctx.nn_nested_ok:
            nn_denials.append(
                _nested_unvouched("no_nonarch_core_sharing", "no_smt, or accurate_topology and no_nonarch_core_sharing")
            )
        if nn_denials:
            nn = {"granted": False, "reasons": nn_denials}
        else:
            nn = {"granted": True, "reasons": [acc["reasons"][0], _grant_cores(n)]}
            if nested:
                nn["reasons"].append(
                    _nested_vouched(
                        "no_smt" if "no_smt" in view.vouched else "accurate_topology and no_nonarch_core_sharing"
                    )
                )

    out = {
        "no_smt": {"granted": no_smt_granted, "reasons": list(no_smt_reasons)},
        "accurate_topology": acc,
        "no_nonarch_core_sharing": nn,
        "dedicated": ded,
        "host": host,
        "facts_collected_at": collected_at,
    }
    if policy.withhold:
        for statement in policy.withhold:
            out[statement] = {
                "granted": False,
                "reasons": [_reason("withheld_by_policy", "the policy withholds %s on every guest" % statement)],
            }
    return out


def _whole_cores(view: HostView, touched: set, n: int) -> bool:
    """Do ``n`` distinct pCPUs on the cores ``touched`` fill those cores (every online thread one of them)?"""
    width = view.core_width
    return (len(touched) * width if width else sum(map(view.core_sizes.__getitem__, touched))) == n


_TOPOLOGY_UNKNOWN = _reason("topology_unknown", "the guest's exposed topology is not known (placement has no topology)")


def _co_resident(ctx: _HostContext, pinset: FrozenSet[int], cores: Sequence[int], touched: set) -> bool:
    """Could a foreign user run on one thread of a core while a vCPU runs on another?

    Two cases, both with set operations: a thread that is not ours but has
    any user, in a core that holds one of our vCPUs; or a vCPU's own thread
    with a foreign user, in a core that holds another of our vCPUs. (A
    foreign user on the only vCPU of its core merely time-shares that thread.)
    ``touched`` is ``set(cores)``, the physical cores of the vCPUs.
    """
    usage = ctx.usage
    view = ctx.view
    whole = _whole_cores(view, touched, len(pinset))
    if not whole:
        # Some thread of those cores is not ours: does anything use it?
        others = set().union(*map(view.cores.__getitem__, touched)) - pinset
        if not (usage.aux.isdisjoint(others) and usage.vcpus.isdisjoint(others)):
            return True
    if len(touched) == len(pinset):
        return False  # one vCPU per core: a foreign user on its thread only time-shares it
    if usage.foreign_on_own_pin.isdisjoint(pinset):
        return False
    if whole and view.core_width:
        return True  # whole cores, each with core_width (two or more, as vCPUs outnumber cores) of our vCPUs
    # Is one of those pCPUs in a core that holds two or more of our vCPUs?
    per_core: Dict[int, int] = {}
    for core in cores:
        per_core[core] = per_core.get(core, 0) + 1
    core_of = view.core_of
    return any(per_core[core_of[cpu]] > 1 for cpu in pinset & usage.foreign_on_own_pin)


def _pin_denials(view: HostView, guest: Guest) -> List[Reason]:
    """Why the vCPUs are not pinned 1:1 to online pCPUs (floating, shared, offline)."""
    if guest.pins is None:
        floating: Dict[Tuple[int, ...], List[int]] = {}
        for vcpu, cpus in enumerate(guest.cpusets):
            if len(cpus) != 1:
                floating.setdefault(cpus, []).append(vcpu)
        return _capped(
            "vcpu_floating",
            list(floating.items()),
            "pin sets",
            lambda item: "vCPU%s %s may run on CPUs %s, not on exactly one pCPU each"
            % ("s" if len(item[1]) > 1 else "", _cpus(item[1]), _cpus(item[0])),
        )
    pins = guest.pins
    denials = []
    if len(set(pins)) != len(pins):
        denials.extend(_pin_shared(pins))
    if not view.online.issuperset(pins):
        denials.extend(
            _capped(
                "pin_offline",
                [(vcpu, cpu) for vcpu, cpu in enumerate(pins) if cpu not in view.online],
                "vCPUs",
                lambda hit: "vCPU %d is pinned to CPU %d, which is offline" % hit,
            )
        )
    return denials


def _codes(reasons: Sequence[Reason]) -> str:
    """The codes of ``reasons``, each once, in order of first appearance ('smt_on, multi_thread_core')."""
    return ", ".join(dict.fromkeys(map(_CODE, reasons)))


_CODE = itemgetter("code")


def _pin_shared(pins: Sequence[int]) -> List[Reason]:
    by_cpu: Dict[int, List[int]] = {}
    for vcpu, cpu in enumerate(pins):
        by_cpu.setdefault(cpu, []).append(vcpu)
    return _capped(
        "pin_shared",
        (
            "vCPUs %s are all pinned to CPU %d" % (", ".join(map(str, vcpus)), cpu)
            for cpu, vcpus in sorted(by_cpu.items())
            if len(vcpus) > 1
        ),
        "shared pCPUs",
    )


def _sibling_mismatch(view: HostView, pins: Sequence[int], cores: Sequence[int], threads: int) -> List[Reason]:
    """Say which vCPUs break "siblings in the guest exactly when siblings on the host".

    Sibling group g (threads vary fastest) is vCPUs g * threads .. g * threads + threads - 1.
    """
    on_core: Dict[int, List[int]] = {}  # physical core -> its vCPUs, cores in order of first use
    for vcpu, core in enumerate(cores):
        on_core.setdefault(core, []).append(vcpu)
    if threads == 1:  # every vCPU its own group: none is split, a core with two vCPUs hides siblings
        split: List[List[int]] = []
        hidden = [(core, vcpus) for core, vcpus in on_core.items() if len(vcpus) > 1]
    else:
        split = [
            list(range(first, first + threads))
            for first in range(0, len(cores), threads)
            if len(set(cores[first:first + threads])) > 1
        ]
        hidden = [(core, vcpus) for core, vcpus in on_core.items() if len({v // threads for v in vcpus}) > 1]
    return _capped(
        "split_siblings",
        split,
        "sibling groups",
        lambda vcpus: "vCPUs %s are shown as SMT siblings of one core, but run on different physical cores: %s"
        % (", ".join(map(str, vcpus)), ", ".join("CPU %d on %s" % (pins[v], _core_label(view, cores[v])) for v in vcpus)),
    ) + _capped(
        "hidden_siblings",
        hidden,
        "physical cores",
        lambda item: "vCPUs %s are shown on different cores, but run on one physical core, %s (CPUs %s)"
        % (", ".join(map(str, item[1])), _core_label(view, item[0]), _cpus([pins[v] for v in item[1]])),
    )


def _sibling_sharing(ctx: _HostContext, guest: Guest, pinset: FrozenSet[int], touched: Iterable[int]) -> List[Reason]:
    """Co-residency: a foreign user on a thread B of a core where another thread is one of our vCPUs.

    A foreign user on the very thread a lone vCPU runs on only time-shares it
    and is allowed here (dedicated is what forbids it); anywhere else in the
    core it runs beside a vCPU at the same time. Every clash is counted, but
    only the first few are put into words.
    """
    usage = ctx.usage
    aux = usage.aux
    vcpus = usage.vcpus
    foreign_on_own = usage.foreign_on_own_pin
    view = ctx.view
    view_cores = view.cores
    shown = []  # (cpu A: our vCPU's pCPU, core, cpu B: has a foreign user), the first few
    count = 0
    width = view.core_width
    if width and _whole_cores(view, touched, len(pinset)):
        # Every thread of those cores is ours (the usual whole-core guest): a thread with a foreign
        # user clashes with each of the other width - 1 threads of its core. Only the first few
        # cores are looked at, to find the clashes put into words.
        foreign = pinset & foreign_on_own
        count = (width - 1) * len(foreign)
        for core in sorted(touched):
            threads = view_cores[core]
            for cpu_b in threads:
                if cpu_b in foreign:
                    for cpu_a in threads:
                        if cpu_a != cpu_b:
                            shown.append((cpu_a, core, cpu_b))
            if len(shown) >= MAX_REASONS_PER_CODE:
                del shown[MAX_REASONS_PER_CODE:]
                break
    else:
        for core in sorted(touched):
            threads = view_cores[core]
            if len(threads) == 1:
                continue
            foreign = [cpu for cpu in threads if (cpu in foreign_on_own if cpu in pinset else cpu in aux or cpu in vcpus)]
            if not foreign:
                continue
            mine = [cpu for cpu in threads if cpu in pinset]
            if len(shown) == MAX_REASONS_PER_CODE:  # only counted: every (mine, foreign) pair but a thread with itself
                count += len(foreign) * len(mine) - len(pinset.intersection(foreign))
                continue
            for cpu_b in foreign:
                for cpu_a in mine:
                    if cpu_a != cpu_b:
                        count += 1
                        if len(shown) < MAX_REASONS_PER_CODE:
                            shown.append((cpu_a, core, cpu_b))
    if not count:
        return []
    vcpu_of = guest.pins.index  # pins are distinct here
    out = []
    for cpu_a, core, cpu_b in shown:
        users = _words(ctx, guest, cpu_b)
        verb = "uses" if len(users) == 1 else "use"
        if cpu_b in pinset:
            text = "vCPU %d on CPU %d shares %s with CPU %d (vCPU %d of this guest), which %s also %s" % (
                vcpu_of(cpu_a), cpu_a, _core_label(view, core), cpu_b, vcpu_of(cpu_b), _and(users), verb)
        else:
            text = "vCPU %d on CPU %d shares %s with CPU %d, which %s %s" % (
                vcpu_of(cpu_a), cpu_a, _core_label(view, core), cpu_b, _and(users), verb)
        out.append(_reason("sibling_shared", text))
    if count > len(shown):
        out.append(_reason("sibling_shared", "and %d more shared siblings like these" % (count - len(shown))))
    return out


def _foreign_on_pins(ctx: _HostContext, guest: Guest) -> List[Reason]:
    """Name every kind of foreign user found on the guest's own pCPUs (dedicated's denials).

    One reason per kind (housekeeping, own emulator, own iothreads), listing
    the vCPUs; other guests get one sentence per pCPU, since each names who.
    Which pCPUs have which kind of user is found with set operations.
    """
    usage = ctx.usage
    pins = guest.pins
    hit = usage.foreign_on_own_pin.intersection(pins)  # this guest's pCPUs with a foreign user
    on_emulator = hit.intersection(guest.emulator)
    on_iothread = hit.intersection(chain.from_iterable(guest.iothreads))
    own = on_emulator | on_iothread
    # Other guests: their vCPUs, or their emulator or iothreads (on a CPU of our own helpers too, only if shared).
    others = (hit & usage.multi) | ((hit - own) & usage.helpers)
    if own:
        others |= own & _shared_helpers(ctx)
    out = []
    housekeeping = hit & usage.housekeeping
    if housekeeping:
        out.append(
            _reason(
                "housekeeping_on_pin",
                "%s: host tasks may run there (%s)" % (_vcpus_on(pins, housekeeping), _housekeeping_source(ctx.placement)),
            )
        )
    if on_emulator:
        emulator = _cpus(guest.emulator)
        out.append(
            _reason(
                "emulator_on_pin",
                "%s: this guest's emulator threads may run there (emulator pin set %s%s)"
                % (
                    # all of the emulator's CPUs (its pin set has each once): same cpulist
                    _vcpus_on(pins, on_emulator, emulator if len(on_emulator) == len(guest.emulator) else None),
                    emulator,
                    _emulator_default_note(guest),
                ),
            )
        )
    if on_iothread:
        out.append(
            _reason(
                "iothread_on_pin",
                "%s: this guest's iothreads may run there (%s)"
                % (
                    _vcpus_on(pins, on_iothread),
                    "; ".join("iothread %d on %s" % (i, _cpus(cpus)) for i, cpus in enumerate(guest.iothreads)),
                ),
            )
        )
    if others:
        out.extend(
            _capped(
                "guest_on_pin",
                [(vcpu, cpu) for vcpu, cpu in enumerate(pins) if cpu in others],
                "vCPUs",
                lambda hit: "vCPU %d's CPU %d is also used by %s"
                % (hit[0], hit[1], _and(_words(ctx, guest, hit[1], include_self=False))),
            )
        )
    return out


def _vcpus_on(pins: Sequence[int], cpus: FrozenSet[int], cpus_text: Optional[str] = None) -> str:
    """'vCPUs 0-3 run on CPUs 8-11' for some of a guest's pCPUs (its pins are distinct); ``cpus_text``: _cpus(cpus)."""
    if len(cpus) == 1:
        cpu = next(iter(cpus))
        return "vCPU %d runs on CPU %d" % (pins.index(cpu), cpu)
    vcpus = "0-%d" % (len(pins) - 1) if len(cpus) == len(pins) else _cpus(map(pins.index, cpus))  # all: 0..n-1
    return "vCPUs %s run on CPUs %s" % (vcpus, cpus_text or _cpus(cpus))


def _other_helper_on(ctx: _HostContext, cpu: int, mine: bool) -> bool:
    """Another guest's emulator or iothreads may run on ``cpu`` (``mine``: this guest's helpers may too)."""
    if not mine:
        return cpu in ctx.usage.helpers
    return cpu in _shared_helpers(ctx)


def _shared_helpers(ctx: _HostContext) -> AbstractSet[int]:
    """CPUs of vCPUs that the emulator or iothread pin sets of two or more guests hold (built once per host, for wording).

    Only such CPUs are ever asked about (a guest's own pCPU that its own
    helpers use too), so guests whose helpers stay off every vCPU's CPU --
    most, on housekeeping CPUs -- are passed over.
    """
    cached = ctx.cache.get("shared_helpers")
    if cached is None:
        usage = ctx.usage
        asked = usage.vcpus & usage.helpers
        seen: set = set()
        cached = set()
        if asked:
            for guest in ctx.placement.guests:
                if asked.isdisjoint(guest.emulator) and all(map(asked.isdisjoint, guest.iothreads)):
                    continue
                cpus = asked.intersection(chain(guest.emulator, *guest.iothreads))
                cached.update(seen.intersection(cpus))
                if len(cached) == len(asked):
                    break  # all of them (e.g. every online CPU, for two unpinned emulators): nothing to add
                seen.update(cpus)
        ctx.cache["shared_helpers"] = cached
    return cached


def _words(ctx: _HostContext, guest: Guest, cpu: int, include_self: bool = True) -> List[str]:
    """Who else may run on ``cpu``, in words: host tasks, this guest's helpers, other guests.

    Only denials need this, and only for the CPUs their sentences name.
    Other guests are listed by guest, then vCPUs before emulator before
    iothreads. Those whose pin sets are narrow come from per-CPU indexes;
    wide sets (floating vCPUs, unpinned emulators) are worded and sorted
    once per host, so a CPU that only they share costs a lookup.
    """
    words = []
    if include_self:
        if cpu in ctx.usage.housekeeping:
            words.append("host tasks (%s)" % _housekeeping_source(ctx.placement))
        if cpu in guest.emulator:
            words.append("this guest's emulator" + _emulator_default_note(guest))
        if guest.iothreads:
            words.extend("this guest's iothread %d" % i for i, cpus in enumerate(guest.iothreads) if cpu in cpus)
    name = guest.name
    usage = ctx.usage
    multi = cpu in usage.multi
    if not multi:
        if cpu in guest.pins:  # only this guest's vCPUs: anyone else is another guest's emulator or iothread
            mine = cpu in guest.emulator or (bool(guest.iothreads) and any(cpu in cpus for cpus in guest.iothreads))
            if not _other_helper_on(ctx, cpu, mine):
                return words
        elif cpu not in usage.helpers:  # at most one other guest's vCPUs, no emulator or iothread
            owner = _owner(ctx).get(cpu)
            if owner is not None:
                words.append(_owner_words(ctx, owner, cpu))
            return words
    users = _users(ctx)
    found = _narrow_users_at(ctx, users, cpu, multi, name)
    wide = [group for group in users.wide if cpu in group.cpus]
    if len(wide) == 1 and not found:
        group = wide[0]
        if name not in (group.names if multi else group.helper_names):  # the usual floating case: worded already
            words.extend(group.texts if multi else group.helper_texts)
            return words
    for group in wide:
        found.extend(entry for entry in (group.users if multi else group.helpers) if entry[0] != name)
    found.sort()
    words.extend([text for _owner, _order, text in found])
    return words


def _narrow_users_at(
    ctx: _HostContext, users: "_Users", cpu: int, multi: bool, skip: str
) -> List[Tuple[str, int, str]]:
    """(guest, order, words) of the users of ``cpu`` that the per-CPU indexes know, but guest ``skip``; unsorted.

    Order 0 is a guest's vCPUs, 1 its emulator, 2 + i its iothread i. Off
    usage.multi, the owner map names the only guest whose vCPUs may run there.
    """
    found = []
    if not multi:
        owner = _owner(ctx).get(cpu)
        if owner is not None and owner != skip:
            found.append((owner, 0, _owner_words(ctx, owner, cpu)))
    else:
        pinned = users.vcpu_at.get(cpu)
        if pinned is not None and pinned[0] != skip:
            found.append((pinned[0], 0, _vcpu_words(*pinned)))
        found.extend(
            [(name, 0, _vcpu_words(name, vcpus)) for name, vcpus in users.vcpus_at.get(cpu, ()) if name != skip]
        )
    helpers = users.helpers_at.get(cpu)
    if helpers:
        found.extend(_worded_helpers(ctx, [helper for helper in helpers if helper[0] != skip]))
    return found


def _worded_helpers(ctx: _HostContext, helpers: Iterable[Tuple[str, int]]) -> List[Tuple[str, int, str]]:
    """(guest, order) of emulators and iothreads -> (guest, order, words), each worded once per host."""
    worded = ctx.cache.get("helper_words")
    if worded is None:
        worded = ctx.cache["helper_words"] = {}
    out = []
    for helper in helpers:
        text = worded.get(helper)
        if text is None:
            text = worded[helper] = _helper_words(ctx, *helper)
        out.append((helper[0], helper[1], text))
    return out


def _vcpu_words(name: str, vcpus: Any) -> str:
    """'guest db (vCPU 3)' for one vCPU id, 'guest db (vCPUs 0-3)' for a list of them."""
    if type(vcpus) is int:
        return "guest %s (vCPU %d)" % (name, vcpus)
    return "guest %s (vCPU%s %s)" % (name, "s" if len(vcpus) > 1 else "", _cpus(vcpus))


def _owner_words(ctx: _HostContext, owner: str, cpu: int) -> str:
    """The vCPUs of guest ``owner`` (the only guest whose vCPUs use ``cpu``) on that CPU, in words."""
    other = _guest_named(ctx, owner)
    pins = other.pins
    if pins is not None:
        if pins.count(cpu) == 1:
            return _vcpu_words(owner, pins.index(cpu))
        return _vcpu_words(owner, [vcpu for vcpu, pin in enumerate(pins) if pin == cpu])
    return _vcpu_words(owner, [vcpu for vcpu, cpus in enumerate(other.cpusets) if cpu in cpus])


def _owner(ctx: _HostContext) -> Dict[int, str]:
    """CPU -> a guest whose vCPUs may run there (the only one, off usage.multi); built once per host, for wording."""
    owner = ctx.cache.get("owner")
    if owner is None:
        guests = ctx.placement.guests
        names = list(map(_FIRST, guests))  # Guest.name
        if all(map(_PINS, guests)):
            pins = list(map(_PINS, guests))
            owner = dict(zip(chain.from_iterable(pins), chain.from_iterable(map(repeat, names, map(len, pins)))))
        else:
            sets = _vcpu_sets(guests)
            owner = dict(zip(chain.from_iterable(sets), chain.from_iterable(map(repeat, names, map(len, sets)))))
        ctx.cache["owner"] = owner
    return owner


def _guest_named(ctx: _HostContext, name: str) -> Guest:
    by_name = ctx.cache.get("by_name")
    if by_name is None:
        guests = ctx.placement.guests
        by_name = ctx.cache["by_name"] = dict(zip(map(_FIRST, guests), guests))  # Guest.name is field 0
    return by_name[name]


def _helper_words(ctx: _HostContext, other: str, order: int) -> str:
    """Another guest's emulator (order 1) or iothread (order 2 + index), saying when it floats by default."""
    if order != 1:
        return "guest %s's iothread %d" % (other, order - 2)
    if _guest_named(ctx, other).emulator_source == "online":
        return "guest %s's emulator (not pinned, so on every online CPU)" % other
    return "guest %s's emulator" % other


_NARROW = 16  # pin sets up to this size are indexed per CPU; wider ones are kept whole


class _Wide(NamedTuple):
    """Users of one wide pin set (floating vCPUs, emulators on every online CPU), worded and sorted once."""

    cpus: FrozenSet[int]
    users: List[Tuple[str, int, str]]  # (guest, order, words): vCPUs, emulators and iothreads
    helpers: List[Tuple[str, int, str]]  # the emulators and iothreads among them
    names: FrozenSet[str]  # the guests among users
    helper_names: FrozenSet[str]
    texts: List[str]  # the words of users, in order
    helper_texts: List[str]


class _Users(NamedTuple):
    """Who may run where, beyond the owner map; built once per host, the first time a sentence needs it."""

    vcpu_at: Dict[int, Tuple[str, int]]  # CPU -> (guest, vCPU id): pinned vCPUs, when no two share a CPU
    vcpus_at: Dict[int, List[Tuple[str, Any]]]  # CPU of several guests' vCPUs -> (guest, vCPU id or ids): the rest
    helpers_at: Dict[int, List[Tuple[str, int]]]  # CPU -> (guest, 1: emulator or 2 + i: iothread i)
    wide: List[_Wide]  # one per distinct wide pin set


def _users(ctx: _HostContext) -> _Users:
    """Users where the owner map is not enough: shared vCPU CPUs, emulators, iothreads.

    vCPUs on CPUs shared by several guests: pinned vCPUs are indexed by CPU
    in one pass when no two share a CPU (floating guests are what usually
    makes a CPU shared), other narrow pin sets are spread per CPU; all are
    worded only when a sentence names that CPU. Emulators and iothreads are
    grouped by their pin set -- a host's helpers usually share a few sets
    (the housekeeping CPUs, every online CPU) -- and narrow sets indexed per
    CPU, in one pass when they do not overlap. Wide sets (floating vCPUs,
    unpinned emulators) are kept whole, one per distinct set, so a CPU is
    checked against each set once.
    """
    cached = ctx.cache.get("users")
    if cached is not None:
        return cached
    guests = ctx.placement.guests
    multi = ctx.usage.multi
    vcpu_at: Dict[int, Tuple[str, int]] = {}
    vcpus_at: Dict[int, List[Tuple[str, Any]]] = {}
    wide_vcpus: Dict[Tuple[int, ...], List[Tuple[str, int, str]]] = {}
    if multi:
        pinned = [guest for guest in guests if guest.pins is not None]
        pins_of = [guest.pins for guest in pinned]
        flat = list(chain.from_iterable(pins_of))
        # (guest, vCPU id) of each pin, in the order of ``flat``
        refs = chain.from_iterable(map(zip, map(repeat, [guest.name for guest in pinned]), map(range, map(len, pins_of))))
        vcpu_at = dict(zip(flat, refs))
        if len(vcpu_at) != len(flat):  # some CPU carries two pinned vCPUs: one list per CPU
            vcpu_at = {}
            for guest in pinned:
                for vcpu, cpu in enumerate(guest.pins):
                    if cpu in multi:
                        vcpus_at.setdefault(cpu, []).append((guest.name, vcpu))
        for guest in guests:
            if guest.pins is not None:
                continue
            name = guest.name
            groups: Dict[int, Tuple[Tuple[int, ...], List[int]]] = {}
            for vcpu, cpus in enumerate(guest.cpusets):
                groups.setdefault(id(cpus), (cpus, []))[1].append(vcpu)
            for cpus, vcpus in groups.values():
                if len(cpus) > _NARROW:
                    wide_vcpus.setdefault(cpus, []).append((name, 0, _vcpu_words(name, vcpus)))
                    continue
                for cpu in cpus:
                    if cpu in multi:
                        vcpus_at.setdefault(cpu, []).append((name, vcpus))
    by_set: Dict[Tuple[int, ...], List[Tuple[str, int]]] = {}
    for guest in guests:
        name = guest.name
        by_set.setdefault(guest.emulator, []).append((name, 1))
        for index, cpus in enumerate(guest.iothreads):
            by_set.setdefault(cpus, []).append((name, 2 + index))
    narrow = [cpus for cpus in by_set if len(cpus) <= _NARROW]
    sizes = list(map(len, narrow))
    helpers_at = dict(
        zip(chain.from_iterable(narrow), chain.from_iterable(map(repeat, map(by_set.__getitem__, narrow), sizes)))
    )
    if len(helpers_at) != sum(sizes):  # overlapping pin sets: one list per CPU
        helpers_at = {}
        for cpus in narrow:
            for cpu in cpus:
                helpers_at.setdefault(cpu, []).extend(by_set[cpus])
    wide_helpers = {cpus: helpers for cpus, helpers in by_set.items() if len(cpus) > _NARROW}
    wide = []
    for cpus in dict.fromkeys(chain(wide_vcpus, wide_helpers)):
        helpers = sorted(_worded_helpers(ctx, wide_helpers.get(cpus, ())))
        users = sorted(wide_vcpus.get(cpus, []) + helpers)
        wide.append(
            _Wide(
                frozenset(cpus),
                users,
                helpers,
                frozenset(map(_FIRST, users)),
                frozenset(map(_FIRST, helpers)),
                [entry[2] for entry in users],
                [entry[2] for entry in helpers],
            )
        )
    cached = ctx.cache["users"] = _Users(vcpu_at, vcpus_at, helpers_at, wide)
    return cached


def _emulator_default_note(guest: Guest) -> str:
    if guest.emulator_source == "online":
        return " (no emulator pin and no <vcpu cpuset>: libvirt runs it on every online CPU)"
    if guest.emulator_source == "vcpu_cpuset":
        return " (no emulator pin: libvirt runs it on the <vcpu cpuset>)"
    return ""


def _housekeeping_source(placement: Placement) -> str:
    if placement.housekeeping is None:
        return "housekeeping set unknown, so every CPU counts as one"
    return "housekeeping from %s" % (placement.housekeeping_source or "the placement")


def _core_label(view: HostView, index: int) -> str:
    """How sentences name a physical core ('core 3 of package 1'), worded once per host and core."""
    labels = view.labels
    label = labels.get(index)
    if label is None:
        raw = view.raw_cores[index]
        if _is_mapping(raw):
            core = raw.get("core")
            package = raw.get("package")
        else:
            core = package = None
        if type(core) is not int:
            label = "the core of CPUs %s" % _cpus(view.cores[index])
        elif type(package) is int and _several_packages(view):
            label = "core %d of package %d" % (core, package)
        else:
            label = "core %d" % core
        labels[index] = label
    return label


def _several_packages(view: HostView) -> bool:
    cached = view.labels.get("several_packages")
    if cached is None:
        raw = view.raw_cores
        first, last = raw[0], raw[-1]
        if type(first) is dict and type(last) is dict and first.get("package") != last.get("package"):
            cached = True  # cores are listed by package: the first and last differ on most multi-package hosts
        elif set(map(type, raw)) == _DICT_ONLY:  # plain dicts (as facts usually are): one C-level pass
            cached = len(set(map(dict.get, raw, repeat("package")))) > 1
        else:
            cached = len({c.get("package") for c in raw if _is_mapping(c)}) > 1
        view.labels["several_packages"] = cached
    return cached


_DICT_ONLY = frozenset((dict,))


def _denied_all(reason: Reason) -> Dict[str, Dict[str, Any]]:
    return {statement: _result(False, [reason]) for statement in STATEMENTS}


def decide_host(
    facts: Any,
    placement: Any,
    policy: Optional[Policy] = None,
    host: Optional[str] = None,
    guests: Optional[Iterable[str]] = None,
) -> Dict[str, Statements]:
    """Decide the four statements for the guests of one host.

    Returns ``{guest name: {no_smt: {granted, reasons}, accurate_topology:
    ..., no_nonarch_core_sharing: ..., dedicated: ..., host,
    facts_collected_at}}`` for every guest in the placement (or only those
    named in ``guests``). ``facts`` may be None (every statement denied,
    ``no_facts``) or invalid (denied, ``facts_invalid``); a malformed
    placement raises PlacementError, because it is a document to fix, not a
    state of the world.
    """
    policy = policy or _DEFAULT_POLICY
    wanted = None if guests is None else set(guests)
    view = None
    problem = None
    if facts is None:
        problem = _reason("no_facts", "no SMT facts for host %s" % (host or "(unnamed)"))
    else:
        try:
            view = _read_facts(facts)
        except _FactsProblem as err:
            problem = _reason("facts_invalid", "the SMT facts of host %s are invalid: %s" % (host or "(unnamed)", err))
    parsed = _parse_placement(
        placement, view.present if view is not None else None, host, view.online_sorted if view is not None else ()
    )
    collected_at = view.collected_at if view is not None else (
        facts.get("collected_at") if _is_mapping(facts) else None
    )
    results: Dict[str, Statements] = {}
    if view is None:
        for guest in parsed.guests:
            if wanted is None or guest.name in wanted:
                out = _denied_all(problem)
                out["host"] = host
                out["facts_collected_at"] = collected_at
                results[guest.name] = out
        return results
    ctx = _host_context(view, parsed)
    chosen = parsed.guests if wanted is None else [guest for guest in parsed.guests if guest.name in wanted]
    return {guest.name: _decide_guest(ctx, guest, policy, host, collected_at) for guest in chosen}


def decide_domains(
    members: Mapping[str, Tuple[Any, Any]],
    domains: Mapping[str, Sequence[str]],
    current_host: str,
    policy: Optional[Policy] = None,
) -> Dict[str, Statements]:
    """Decide guests of ``current_host`` across their migration domains.

    ``members`` maps each host name to ``(facts, placement)`` (either may be
    None); ``domains`` maps each guest to decide to the hosts it may be
    live-migrated to (the current host is always included). Each host is
    prepared once, however many guests it serves. A statement is granted
    only if every host grants it for the guest's placement there.
    """
    policy = policy or _DEFAULT_POLICY
    needed: Dict[str, set] = {}
    for guest, hosts in domains.items():
        for name in _domain_hosts(hosts, current_host):
            needed.setdefault(name, set()).add(guest)
    per_host: Dict[str, Dict[str, Statements]] = {}
    for name, guests in needed.items():
        facts, placement = members.get(name, (None, None))
        if placement is None:
            per_host[name] = {}
            continue
        per_host[name] = decide_host(facts, placement, policy, host=name, guests=guests)
    current_facts = members.get(current_host, (None, None))[0]
    collected_at = current_facts.get("collected_at") if _is_mapping(current_facts) else None
    return {
        guest: _combine(guest, _domain_hosts(hosts, current_host), current_host, per_host, members, collected_at)
        for guest, hosts in domains.items()
    }


def decide_domain(
    members: Mapping[str, Tuple[Any, Any]],
    guest: str,
    current_host: str,
    policy: Optional[Policy] = None,
) -> Statements:
    """Decide one guest across its migration domain: every host in ``members``."""
    return decide_domains(members, {guest: list(members)}, current_host, policy)[guest]


def _domain_hosts(hosts: Iterable[str], current_host: str) -> List[str]:
    """The current host first, then the peers in a stable order, each once."""
    return [current_host] + sorted(set(hosts) - {current_host})


def _combine(
    guest: str,
    hosts: List[str],
    current_host: str,
    per_host: Mapping[str, Mapping[str, Statements]],
    members: Mapping[str, Tuple[Any, Any]],
    collected_at: Any,
) -> Statements:
    decided: Dict[str, Statements] = {}
    for name in hosts:
        facts, placement = members.get(name, (None, None))
        statements = per_host.get(name, {}).get(guest)
        if facts is None:
            statements = _denied_all(_reason("no_facts", "host %s has no SMT facts" % name))
        elif statements is None:
            statements = _denied_all(_reason("no_placement", "host %s has no placement for guest %s" % (name, guest)))
        decided[name] = statements
    out: Statements = {}
    peers = hosts[1:]
    for statement in STATEMENTS:
        granted = all(decided[name][statement]["granted"] for name in hosts)
        if granted:
            reasons = [_with_host(reason, current_host) for reason in decided[current_host][statement]["reasons"]]
            if peers:
                reasons.append(
                    dict(
                        _reason(
                            "migration_domain_grants",
                            "granted on every host of the migration domain: %s" % ", ".join(hosts),
                        ),
                        host=current_host,
                    )
                )
        else:
            reasons = []
            for name in hosts:
                result = decided[name][statement]
                if result["granted"]:
                    continue
                if name != current_host:
                    reasons.append(
                        dict(
                            _reason(
                                "migration_peer_denies",
                                "host %s, to which guest %s may migrate, denies %s (%s)"
                                % (name, guest, statement, _codes(result["reasons"])),
                            ),
                            host=name,
                        )
                    )
                reasons.extend(_with_host(reason, name) for reason in result["reasons"])
        out[statement] = {"granted": granted, "reasons": reasons}
    out["host"] = current_host
    out["facts_collected_at"] = collected_at
    out["migration_domain"] = list(hosts)
    return out


def _with_host(reason: Reason, host: str) -> Reason:
    return dict(reason, host=host)


def deny_unknown_domain(statements: Statements, guest: str, current_host: str) -> Statements:
    """Deny every statement of a guest whose migration domain nobody declared.

    A guest without a declared domain is not known to stay put: libvirt lets
    it be live-migrated to any host that accepts it, including hosts whose
    facts and placement were never checked. Since a statement cannot be
    taken back after boot, that is an unknown host, and unknown denies. The
    current host's own denials follow, so the result still says what else
    would need fixing; an explicit empty domain (``[]``) means "never
    migrates" and is decided on the current host alone.
    """
    first = _reason(
        "migration_domain_unknown",
        "guest %s declares no migration domain, so it may be live-migrated to hosts that were never "
        "checked; declare migration_domain (an inventory group, a list of hosts, or [] if it never "
        "migrates)" % guest,
    )
    first["host"] = current_host
    out: Statements = dict(statements)
    for statement in STATEMENTS:
        prior = statements[statement]
        reasons = [first]
        if not prior["granted"]:
            reasons.extend(
                reason for reason in prior["reasons"] if reason["code"] != "migration_domain_grants"
            )
        out[statement] = {"granted": False, "reasons": reasons}
    out["migration_domain"] = None
    return out


def plain_data(value: Any) -> Any:
    """Plain dict/list/str/int/float/bool/None from data that may carry subclasses.

    Ansible hands plugins tagged containers and scalars (subclasses of dict,
    str, int...); the engine checks types strictly, so the faces pass inputs
    through this first. Anything that is not data is left for the checks to
    refuse by name.
    """
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is float or kind is str:
        return value
    if _is_mapping(value):
        return {plain_data(key): plain_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(item) for item in value]
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return base(value)
    return value


# --------------------------------------------------------------------------
# Small formatting helpers
# --------------------------------------------------------------------------


def _cpus(cpus: Iterable[int]) -> str:
    """Kernel-style cpulist ('0-3,8') for sentences."""
    ordered = sorted(set(cpus))
    if not ordered:
        return "(none)"
    start = prev = ordered[0]
    if ordered[-1] - start == len(ordered) - 1:  # one run, the usual case
        return str(start) if len(ordered) == 1 else "%d-%d" % (start, ordered[-1])
    parts = []
    for cpu in ordered[1:]:
        if cpu == prev + 1:
            prev = cpu
            continue
        parts.append(str(start) if start == prev else "%d-%d" % (start, prev))
        start = prev = cpu
    parts.append(str(start) if start == prev else "%d-%d" % (start, prev))
    return ",".join(parts)


def _and(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
