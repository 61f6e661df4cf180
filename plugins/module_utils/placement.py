# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SMT-aware pinning: plan where guests run so that true statements can be given, and lint what runs.

A guest can only be told "your siblings are real siblings and nothing else
runs beside you" when its vCPUs own whole physical cores. Operators who type
CPU lists by hand split cores between guests, host tasks and emulator threads
without noticing; Nova packs first-fit and shows guests invented topologies.
This module plans in whole cores instead, and reports every core that is
split across pools, so the hint engine has something it can say yes to.

Everything here is pure: host facts (docs/facts.md) and placements
(docs/placement.md) in, a placement of the same shape out (``source: plan``),
so the hint engine judges a plan exactly as it judges what runs.

How a batch is planned (docs/planner.md has the long form):

1. The ledger records who uses every online CPU: housekeeping, the guests
   already placed (never moved unless ``defrag`` is asked), their reserved
   idle siblings.
2. Each guest's policy gives its *shapes*: physical cores of one thread count
   (P-cores 2, E-cores 1, SMT4 4, ...) and how many vCPUs go on each core.
   Every shape has a guest topology consistent with the pins.
3. An exact search over whole free cores per (NUMA node, thread count) places
   as many guests as possible (then as many vCPUs, then the preferred shapes);
   past a budget it falls back to best-fit greedy.
4. Concrete cores are taken like Kubernetes' CPU manager does: whole
   packages, then whole last-level-cache groups, then the cache group that
   fits best, then whole cores; threads come last.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import (
    format_cpulist,
    parse_cpulist,
    parse_libvirt_cpuset,
)
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import CpulistError, PlanError

SCHEMA = 1
THREAD_POLICIES = ("require", "isolate", "prefer", "share")
ODD_VCPUS = ("reject", "pad", "withhold")
EMULATOR_POLICIES = ("share", "isolate")
NUMA_WORDS = ("auto", "single")
STATEMENTS = ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated")
REQUEST_KEYS = ("name", "vcpus", "thread_policy", "odd_vcpus", "emulator", "numa", "iothreads", "migration_domain")
PLACEMENT_STATEMENTS = ("accurate_topology", "no_nonarch_core_sharing", "dedicated")

#: States the exact search may visit before it hands over to greedy packers (hosts of <= 16 cores
#: need under 200; 5,000 take about half a second here).
DEFAULT_SEARCH_BUDGET = 5000
#: Largest set of placed guests ``defrag`` tries moving together.
DEFAULT_MAX_MOVES = 3

FREE, LEFTOVER, BLOCKED = "free", "leftover", "blocked"
ROLE_VCPU, ROLE_FLOAT, ROLE_EMULATOR, ROLE_IOTHREAD, ROLE_RESERVED = (
    "vcpu", "float", "emulator", "iothread", "reserved")


# --------------------------------------------------------------------------- host model

@dataclass(frozen=True)
class Core:
    """One physical core: the unit the planner hands out."""

    index: int                 # position in hvfleet_smt.cores
    package: int
    die: int                   # -1 when the facts do not say
    node: int
    llc: int                   # index of its last-level-cache group
    threads: Tuple[int, ...]   # online threads, ascending

    @property
    def size(self) -> int:
        return len(self.threads)

    def describe(self) -> str:
        return "core %d (CPUs %s, package %d, NUMA node %d)" % (
            self.index, format_cpulist(self.threads), self.package, self.node)


@dataclass(frozen=True)
class Host:
    cores: Tuple[Core, ...]
    online: FrozenSet[int]
    known: FrozenSet[int]      # every CPU id the facts mention (online, offline, present, possible)
    nr_cpus: int
    nodes: Tuple[int, ...]
    isolated: FrozenSet[int]
    nohz_full: FrozenSet[int]
    core_of: Mapping[int, int] = field(compare=False, hash=False, repr=False)

    def core(self, cpu: int) -> Core:
        return self.cores[self.core_of[cpu]]

    @property
    def classes(self) -> Tuple[int, ...]:
        """Thread counts of the host's cores, most threads first (P-cores before E-cores)."""
        return tuple(sorted({c.size for c in self.cores}, reverse=True))

    def node_cpus(self, nodes: Iterable[int]) -> FrozenSet[int]:
        wanted = set(nodes)
        return frozenset(t for c in self.cores if c.node in wanted for t in c.threads)


def parse_host(facts: Any) -> Host:
    """Check the facts document enough to plan from it; anything inconsistent stops the plan.

    The planner trusts sibling sets absolutely (they decide which statements
    are true), so a CPU in two cores or in two NUMA nodes is an error, not
    something to smooth over.
    """
    where = "hvfleet_smt"
    doc = _unwrap(facts, "hvfleet_smt")
    _require_mapping(where, doc, "the host facts document of hvfleet.smt.smt_facts (docs/facts.md)")
    raw_cores = doc.get("cores")
    if not isinstance(raw_cores, list) or not raw_cores:
        raise PlanError(where + ".cores", raw_cores, "a non-empty list of physical cores, each {package, threads}")
    cpus = doc.get("cpus")
    cpus = {} if cpus is None else cpus
    _require_mapping(where + ".cpus", cpus, "a mapping of CPU lists (online, offline, isolated, ...)")
    pre = _parse_cores(where, raw_cores)
    threads_union = frozenset(t for entry in pre for t in entry[2])
    online = _optional_ids(where + ".cpus.online", cpus.get("online"))
    if online is None:
        online = threads_union
    elif online != threads_union:
        raise PlanError(where + ".cpus.online", _fmt(online),
                        "exactly the CPUs of hvfleet_smt.cores (%s)" % _fmt(threads_union))
    known = set(online)
    for key in ("offline", "present", "possible"):
        known.update(_optional_ids(where + ".cpus." + key, cpus.get(key)) or ())
    node_of = _parse_nodes(where + ".numa_nodes", doc.get("numa_nodes"), online)
    llc_of = _parse_llc(where + ".llc_groups", doc.get("llc_groups"), online)
    cores = []
    for index, (package, die, threads) in enumerate(pre):
        node = _common(where + ".cores[%d].threads" % index, threads, node_of, "NUMA node")
        if llc_of:
            llc = _common(where + ".cores[%d].threads" % index, threads, llc_of, "last-level-cache group")
        else:
            llc = -1 - index  # replaced below: one group per package and die
        cores.append(Core(index, package, die, node, llc, threads))
    if not llc_of:
        groups: Dict[Tuple[int, int], int] = {}
        cores = [Core(c.index, c.package, c.die, c.node, groups.setdefault((c.package, c.die), len(groups)), c.threads)
                 for c in cores]
    isolated = _optional_ids(where + ".cpus.isolated", cpus.get("isolated")) or frozenset()
    nohz = _optional_ids(where + ".cpus.nohz_full", cpus.get("nohz_full")) or frozenset()
    cmdline = doc.get("cmdline") if isinstance(doc.get("cmdline"), Mapping) else {}
    if not isolated and isinstance(cmdline.get("isolcpus"), Mapping):
        isolated = _optional_ids(where + ".cmdline.isolcpus.cpus", cmdline["isolcpus"].get("cpus")) or frozenset()
    if not nohz:
        nohz = _optional_ids(where + ".cmdline.nohz_full", cmdline.get("nohz_full")) or frozenset()
    core_of = {t: c.index for c in cores for t in c.threads}
    return Host(
        cores=tuple(cores),
        online=frozenset(online),
        known=frozenset(known),
        nr_cpus=max(known) + 1,
        nodes=tuple(sorted(set(node_of.values()))),
        isolated=frozenset(isolated) & frozenset(online),
        nohz_full=frozenset(nohz) & frozenset(online),
        core_of=core_of,
    )


def _parse_cores(where: str, raw_cores: list) -> List[Tuple[int, int, Tuple[int, ...]]]:
    seen: Dict[int, int] = {}
    parsed = []
    for index, raw in enumerate(raw_cores):
        here = "%s.cores[%d]" % (where, index)
        _require_mapping(here, raw, "a core {package, die, core, threads}")
        threads = _optional_ids(here + ".threads", raw.get("threads"))
        if not threads:
            raise PlanError(here + ".threads", raw.get("threads"), "a non-empty list of the core's online CPU ids")
        for cpu in threads:
            if cpu in seen:
                raise PlanError(here + ".threads", _fmt(threads),
                                "CPUs of no other core (CPU %d is in cores[%d] too)" % (cpu, seen[cpu]))
            seen[cpu] = index
        package = _int(here + ".package", raw.get("package", 0), minimum=-1)
        die = raw.get("die")
        die = -1 if die is None else _int(here + ".die", die, minimum=-1)
        parsed.append((package, die, tuple(sorted(threads))))
    return parsed


def _parse_nodes(where: str, raw: Any, online: FrozenSet[int]) -> Dict[int, int]:
    if raw is None or raw == []:
        return {cpu: 0 for cpu in online}
    if not isinstance(raw, list):
        raise PlanError(where, raw, "a list of {id, cpus}")
    node_of: Dict[int, int] = {}
    for index, node in enumerate(raw):
        here = "%s[%d]" % (where, index)
        _require_mapping(here, node, "a NUMA node {id, cpus}")
        node_id = _int(here + ".id", node.get("id"), minimum=0)
        for cpu in _optional_ids(here + ".cpus", node.get("cpus")) or ():
            if cpu in node_of and node_of[cpu] != node_id:
                raise PlanError(here + ".cpus", cpu, "CPUs in one NUMA node only (CPU %d is in node %d too)"
                                % (cpu, node_of[cpu]))
            node_of[cpu] = node_id
    orphans = sorted(online - set(node_of))
    if orphans:
        raise PlanError(where, _fmt(orphans), "a NUMA node for every online CPU (these have none)")
    return {cpu: node for cpu, node in node_of.items() if cpu in online}


def _parse_llc(where: str, raw: Any, online: FrozenSet[int]) -> Dict[int, int]:
    if raw is None or raw == []:
        return {}
    if not isinstance(raw, list):
        raise PlanError(where, raw, "a list of CPU id lists")
    llc_of: Dict[int, int] = {}
    for index, group in enumerate(raw):
        here = "%s[%d]" % (where, index)
        for cpu in _optional_ids(here, group) or ():
            if cpu in llc_of:
                raise PlanError(here, cpu, "CPUs in one cache group only (CPU %d is in group %d too)"
                                % (cpu, llc_of[cpu]))
            llc_of[cpu] = index
    orphans = sorted(online - set(llc_of))
    if orphans:
        raise PlanError(where, _fmt(orphans), "a cache group for every online CPU (these have none)")
    return llc_of


def _common(where: str, threads: Sequence[int], mapping: Mapping[int, int], what: str) -> int:
    values = {mapping[t] for t in threads}
    if len(values) != 1:
        raise PlanError(where, _fmt(threads), "siblings in one %s (they are in %s)"
                        % (what, ", ".join(str(v) for v in sorted(values))))
    return values.pop()


# --------------------------------------------------------------------------- placements

@dataclass(frozen=True)
class Topology:
    sockets: int
    dies: int
    clusters: int
    cores: int
    threads: int

    @property
    def vcpus(self) -> int:
        return self.sockets * self.dies * self.clusters * self.cores * self.threads

    def as_dict(self) -> Dict[str, int]:
        return {"sockets": self.sockets, "dies": self.dies, "clusters": self.clusters,
                "cores": self.cores, "threads": self.threads}


@dataclass(frozen=True)
class PlacedGuest:
    """A guest as a placement describes it; the planner never edits one (except a defrag move)."""

    name: str
    vcpus: Tuple[Tuple[int, ...], ...]
    emulator: Tuple[int, ...]
    iothreads: Tuple[Tuple[int, ...], ...]
    reserved: Tuple[int, ...]
    topology: Optional[Topology]
    tolerant: bool             # its plan gave siblings of its cores away on purpose
    shared: bool               # planned with thread_policy share: floats over the shared pool, however small
    record: Mapping[str, Any] = field(compare=False, hash=False, repr=False)
    emulator_floats: bool = False  # no <emulatorpin>, no <vcpu cpuset>: libvirt runs it on every online CPU

    @property
    def pinned(self) -> bool:
        """Every vCPU on exactly one pCPU of its own: the only guests defrag may move."""
        return bool(self.vcpus) and not self.shared and all(len(p) == 1 for p in self.vcpus)

    def vcpu_role(self, pins: Sequence[int]) -> str:
        return ROLE_VCPU if len(pins) == 1 and not self.shared else ROLE_FLOAT

    @property
    def vcpu_cpus(self) -> FrozenSet[int]:
        return frozenset(c for pins in self.vcpus for c in pins)


@dataclass(frozen=True)
class Placement:
    housekeeping: Optional[FrozenSet[int]]
    housekeeping_source: Optional[str]
    guests: Tuple[PlacedGuest, ...]


def parse_placement(placement: Any, host: Host) -> Placement:
    """Read the docs/placement.md shape (bare, or under ``hvfleet_placement``)."""
    if placement is None:
        return Placement(None, None, ())
    where = "hvfleet_placement"
    doc = _unwrap(placement, "hvfleet_placement")
    _require_mapping(where, doc, "a placement document (docs/placement.md)")
    schema = doc.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise PlanError(where + ".schema", schema, "schema %d" % SCHEMA)
    housekeeping = None
    if doc.get("housekeeping") is not None:
        housekeeping = _cpus_of(where + ".housekeeping", doc["housekeeping"], host, allow_empty=True)
    raw_guests = doc.get("guests")
    raw_guests = [] if raw_guests is None else raw_guests
    if not isinstance(raw_guests, list):
        raise PlanError(where + ".guests", raw_guests, "a list of guests")
    guests = []
    names: Set[str] = set()
    for index, raw in enumerate(raw_guests):
        guest = _parse_placed_guest("%s.guests[%d]" % (where, index), raw, host)
        if guest.name in names:
            raise PlanError("%s.guests[%d].name" % (where, index), guest.name, "a name no other guest has")
        names.add(guest.name)
        guests.append(guest)
    source = doc.get("housekeeping_source")
    return Placement(housekeeping, source if isinstance(source, str) else None, tuple(guests))


def _parse_placed_guest(where: str, raw: Any, host: Host) -> PlacedGuest:
    _require_mapping(where, raw, "a guest {name, vcpus, topology, emulator, iothreads}")
    name = _name(where + ".name", raw.get("name"))
    raw_vcpus = raw.get("vcpus")
    if not isinstance(raw_vcpus, list) or not raw_vcpus:
        raise PlanError(where + ".vcpus", raw_vcpus, "a non-empty list with one pCPU set per vCPU")
    vcpus = tuple(tuple(sorted(_cpus_of("%s.vcpus[%d]" % (where, i), pins, host)))
                  for i, pins in enumerate(raw_vcpus))
    emulator_raw = raw.get("emulator")
    floats = False
    if emulator_raw is None:
        # libvirt's default without <emulatorpin>: the <vcpu cpuset>, else every
        # online CPU (docs/placement.md), as the hint engine takes it.
        cpuset = raw.get("vcpu_cpuset")
        floats = cpuset is None
        if cpuset is not None:
            emulator = tuple(sorted(_cpus_of(where + ".vcpu_cpuset", cpuset, host)))
        else:
            emulator = tuple(sorted(host.online))
    else:
        emulator = tuple(sorted(_cpus_of(where + ".emulator", emulator_raw, host, allow_empty=True)))
    io_raw = raw.get("iothreads") or []
    if not isinstance(io_raw, list):
        raise PlanError(where + ".iothreads", io_raw, "a list with one pCPU set per iothread")
    iothreads = tuple(tuple(sorted(_cpus_of("%s.iothreads[%d]" % (where, i), pins, host)))
                      for i, pins in enumerate(io_raw))
    reserved = tuple(sorted(_cpus_of(where + ".reserved", raw.get("reserved") or [], host, allow_empty=True)))
    topology = None
    if raw.get("topology") is not None:
        topology = _topology(where + ".topology", raw["topology"])
    record = raw.get("plan")
    tolerant = isinstance(record, Mapping) and record.get("core_sharing") == "tolerant"
    shared = isinstance(record, Mapping) and record.get("thread_policy") == "share"
    return PlacedGuest(name, vcpus, emulator, iothreads, reserved, topology, tolerant, shared, raw, floats)


def _topology(where: str, raw: Any) -> Topology:
    _require_mapping(where, raw, "{sockets, dies, clusters, cores, threads}")
    values = [_int("%s.%s" % (where, key), raw.get(key, 1 if key in ("dies", "clusters") else None), minimum=1)
              for key in ("sockets", "dies", "clusters", "cores", "threads")]
    return Topology(*values)


# --------------------------------------------------------------------------- requests

@dataclass(frozen=True)
class Request:
    """A guest to place, as the operator asked for it."""

    name: str
    vcpus: int
    thread_policy: str = "require"
    odd_vcpus: str = "reject"
    emulator: str = "share"
    numa: Any = "auto"         # "auto", "single" or a node id
    iothreads: int = 0
    migration_domain: Optional[str] = None
    keep: Optional[Tuple[int, int, bool]] = None   # defrag: (cores, threads per core, reserve) to keep
    keep_topology: Optional[Topology] = None       # defrag: the exposed topology, unchanged by a move
    origin: Optional[Mapping[str, Any]] = field(default=None, compare=False, hash=False, repr=False)

    def record(self, tolerant: bool, withheld: Sequence[str]) -> Dict[str, Any]:
        return {"thread_policy": self.thread_policy, "odd_vcpus": self.odd_vcpus, "emulator": self.emulator,
                "numa": self.numa, "core_sharing": "tolerant" if tolerant else "exclusive",
                "withheld": list(withheld)}


def parse_requests(guests: Any, host: Host) -> Tuple[Request, ...]:
    if guests is None:
        return ()
    if not isinstance(guests, list):
        raise PlanError("guests", guests, "a list of guests to place, each {name, vcpus, thread_policy, ...}")
    requests = []
    names: Set[str] = set()
    for index, raw in enumerate(guests):
        request = _parse_request("guests[%d]" % index, raw, host)
        if request.name in names:
            raise PlanError("guests[%d].name" % index, request.name, "a name no other guest to place has")
        names.add(request.name)
        requests.append(request)
    return tuple(requests)


def _parse_request(where: str, raw: Any, host: Host) -> Request:
    _require_mapping(where, raw, "a guest {name, vcpus, thread_policy, odd_vcpus, emulator, numa}")
    unknown = sorted(str(k) for k in raw if k not in REQUEST_KEYS)
    if unknown:
        raise PlanError(where, ", ".join(unknown), "only the keys %s" % ", ".join(REQUEST_KEYS))
    name = _name(where + ".name", raw.get("name"))
    vcpus = _int(where + ".vcpus", raw.get("vcpus"), minimum=1)
    policy = _choice(where + ".thread_policy", raw.get("thread_policy", "require"), THREAD_POLICIES)
    odd = _choice(where + ".odd_vcpus", raw.get("odd_vcpus", "reject"), ODD_VCPUS)
    emulator = _choice(where + ".emulator", raw.get("emulator", "share"), EMULATOR_POLICIES)
    numa = raw.get("numa", "auto")
    if isinstance(numa, str) and numa.isdigit():
        numa = int(numa)
    if isinstance(numa, bool) or not (numa in NUMA_WORDS or isinstance(numa, int)):
        raise PlanError(where + ".numa", numa, "'auto', 'single' or a NUMA node id")
    if isinstance(numa, int) and numa not in host.nodes:
        raise PlanError(where + ".numa", numa, "a NUMA node of this host (%s)" % ", ".join(map(str, host.nodes)))
    iothreads = _int(where + ".iothreads", raw.get("iothreads", 0), minimum=0)
    domain = raw.get("migration_domain")
    if domain is not None and not isinstance(domain, str):
        raise PlanError(where + ".migration_domain", domain, "a group name or null")
    return Request(name, vcpus, policy, odd, emulator, numa, iothreads, domain)


# --------------------------------------------------------------------------- housekeeping

def resolve_housekeeping(spec: Any, host: Host, current: Placement) -> Tuple[FrozenSet[int], str]:
    """Turn the reservation into CPUs: whole cores per node, an explicit cpulist, or one per node.

    Counted cores keep the cores that already are housekeeping, then take the
    cores with the fewest threads (E-cores on hybrid parts), lowest first, and
    never a core a placed guest uses: placing must not change placed guests.
    """
    if spec is None:
        if current.housekeeping is None:
            raise PlanError("housekeeping", None, "a number of whole cores per NUMA node, a cpulist, or a mapping "
                            "of NUMA node id to either (or a current placement that names its housekeeping CPUs)")
        # systemd may allow offline CPUs; only online ones can run anything
        return current.housekeeping & host.online, current.housekeeping_source or "current placement"
    if isinstance(spec, Mapping):
        cpus: Set[int] = set()
        for key, value in spec.items():
            node = _int("housekeeping (node key)", int(key) if isinstance(key, str) and key.isdigit() else key,
                        minimum=0)
            if node not in host.nodes:
                raise PlanError("housekeeping[%r]" % (key,), key, "a NUMA node of this host (%s)"
                                % ", ".join(map(str, host.nodes)))
            cpus |= _housekeeping_in(value, host, current, [node], "housekeeping[%r]" % (key,))
        return frozenset(cpus), "plan: per NUMA node %s" % _describe_spec(spec)
    cpus = _housekeeping_in(spec, host, current, host.nodes, "housekeeping")
    return frozenset(cpus), "plan: %s" % _describe_spec(spec)


def _housekeeping_in(value: Any, host: Host, current: Placement, nodes: Sequence[int], where: str) -> Set[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise PlanError(where, value, "a number of whole cores (>= 0)")
        cpus: Set[int] = set()
        for node in nodes:
            cpus |= _counted_cores(value, host, current, node, where)
        return cpus
    explicit = set(_cpus_of(where, value, host, allow_empty=True, kernel=True))
    offline = sorted(explicit - host.online)
    if offline:
        raise PlanError(where, _fmt(explicit), "online CPUs only (%s are not online)" % _fmt(offline))
    wanted = set(nodes)
    outside = sorted(c for c in explicit if host.core(c).node not in wanted)
    if outside and len(nodes) == 1:
        raise PlanError(where, _fmt(explicit), "CPUs of NUMA node %d (%s are not)" % (nodes[0], _fmt(outside)))
    _refuse_taking_from_guests(where, explicit, current)
    return explicit


def _counted_cores(count: int, host: Host, current: Placement, node: int, where: str) -> Set[int]:
    before = current.housekeeping or frozenset()
    busy = {c for g in current.guests for c in _guest_held_cpus(g, before)}
    candidates = [c for c in host.cores if c.node == node and not busy.intersection(c.threads)]
    candidates.sort(key=lambda c: (not set(c.threads) <= before, c.size, c.index))
    if len(candidates) < count:
        raise PlanError(where, count, "at most %d whole cores in NUMA node %d (the others hold placed guests)"
                        % (len(candidates), node))
    return {t for c in candidates[:count] for t in c.threads}


def _refuse_taking_from_guests(where: str, cpus: Set[int], current: Placement) -> None:
    before = current.housekeeping or frozenset()
    for guest in current.guests:
        clash = sorted((cpus - before) & _guest_held_cpus(guest, before))
        if clash:
            raise PlanError(where, _fmt(cpus), "CPUs no placed guest is pinned to (guest %s uses %s; move it with "
                            "defrag or reserve other CPUs)" % (guest.name, _fmt(clash)))


def _guest_exclusive_cpus(guest: PlacedGuest) -> FrozenSet[int]:
    """CPUs a placed guest holds for itself: single-CPU vCPU pins and reserved siblings."""
    pinned = frozenset(c for pins in guest.vcpus if guest.vcpu_role(pins) == ROLE_VCPU for c in pins)
    return pinned | frozenset(guest.reserved)


def _guest_held_cpus(guest: PlacedGuest, housekeeping: FrozenSet[int]) -> FrozenSet[int]:
    """What housekeeping must not take: exclusive pins, reserved siblings, helpers outside the shared pool."""
    helpers = set(guest.emulator).union(*[set(p) for p in guest.iothreads]) - housekeeping
    return _guest_exclusive_cpus(guest) | frozenset(helpers)


def _describe_spec(spec: Any) -> str:
    if isinstance(spec, Mapping):
        return ", ".join("%s: %s" % (k, _describe_spec(v)) for k, v in sorted(spec.items(), key=lambda kv: str(kv[0])))
    if isinstance(spec, int):
        return "%d whole core%s per NUMA node" % (spec, "" if spec == 1 else "s")
    if isinstance(spec, str):
        return "CPUs %s" % spec
    return "CPUs %s" % format_cpulist(spec)


# --------------------------------------------------------------------------- ledger

class _Ledger:
    """Who may run on every online CPU while a plan is built (private and mutable)."""

    def __init__(self, host: Host, housekeeping: FrozenSet[int]):
        self.host = host
        self.housekeeping = housekeeping
        self.users: Dict[int, List[Tuple[str, str]]] = {cpu: [] for cpu in host.online}
        self.tolerant: Set[str] = set()
        self.floating_emulators: Set[str] = set()

    def copy(self) -> "_Ledger":
        other = _Ledger(self.host, self.housekeeping)
        other.users = {cpu: list(users) for cpu, users in self.users.items()}
        other.tolerant = set(self.tolerant)
        other.floating_emulators = set(self.floating_emulators)
        return other

    def add(self, name: str, role: str, cpus: Iterable[int]) -> None:
        for cpu in cpus:
            if cpu in self.users:
                self.users[cpu].append((name, role))

    def add_placed(self, guest: PlacedGuest) -> None:
        for pins in guest.vcpus:
            self.add(guest.name, guest.vcpu_role(pins), pins)
        self.add(guest.name, ROLE_EMULATOR, guest.emulator)
        for pins in guest.iothreads:
            self.add(guest.name, ROLE_IOTHREAD, pins)
        self.add(guest.name, ROLE_RESERVED, guest.reserved)
        if guest.tolerant:
            self.tolerant.add(guest.name)
        if guest.emulator_floats:
            self.floating_emulators.add(guest.name)

    def remove(self, name: str) -> None:
        for cpu, users in self.users.items():
            self.users[cpu] = [u for u in users if u[0] != name]
        self.tolerant.discard(name)

    def is_free(self, cpu: int) -> bool:
        return cpu not in self.housekeeping and not self.users[cpu]

    def free_threads(self, core: Core) -> Tuple[int, ...]:
        return tuple(t for t in core.threads if self.is_free(t))

    def state(self, core: Core) -> str:
        """FREE: nothing runs on it; LEFTOVER: only guests that gave their siblings away; else BLOCKED."""
        if self.housekeeping.intersection(core.threads):
            return BLOCKED
        users = [u for t in core.threads for u in self.users[t]]
        if not users:
            return FREE
        if all(role == ROLE_VCPU and name in self.tolerant for name, role in users) and self.free_threads(core):
            return LEFTOVER
        return BLOCKED

    def capacities(self) -> Dict[Tuple[int, int], int]:
        caps: Dict[Tuple[int, int], int] = {}
        for core in self.host.cores:
            key = (core.node, core.size)
            caps.setdefault(key, 0)
            if self.state(core) == FREE:
                caps[key] += 1
        return caps


# --------------------------------------------------------------------------- shapes

@dataclass(frozen=True)
class Shape:
    """How a guest's vCPUs sit on physical cores of one thread count.

    ``per_core`` vCPUs on each of ``cores`` cores, numbered core by core, so the
    guest topology ``cores x per_core`` shows siblings exactly where the host
    has them. Idle threads of those cores are held for the guest
    (``reserve``) or left to other guests that accept sharing.
    """

    cls: int
    per_core: int
    cores: int
    reserve: bool

    @property
    def tolerant(self) -> bool:
        return self.per_core < self.cls and not self.reserve

    @property
    def wasted_threads(self) -> int:
        return (self.cls - self.per_core) * self.cores if self.reserve else 0


def shapes_for(request: Request, classes: Sequence[int]) -> Tuple[Tuple[Shape, ...], List[str]]:
    """The layouts a policy allows on each kind of core, preferred first, and why others were refused."""
    if request.keep is not None:
        cores, per_core, reserve = request.keep
        return tuple(Shape(cls, per_core, cores, reserve) for cls in classes if cls >= per_core), []
    shapes: List[Shape] = []
    refused: List[str] = []
    v = request.vcpus
    for cls in classes:
        if request.thread_policy == "require":
            if v % cls == 0:
                shapes.append(Shape(cls, cls, v // cls, True))
            elif request.odd_vcpus == "reject":
                refused.append("%d vCPUs are not a multiple of %d threads per core" % (v, cls))
            else:
                per_core = _largest_divisor(v, cls)
                shapes.append(Shape(cls, per_core, v // per_core, request.odd_vcpus == "pad"))
        elif request.thread_policy == "isolate":
            shapes.append(Shape(cls, 1, v, True))
        elif request.thread_policy == "prefer":
            per_core = _largest_divisor(v, cls)
            shapes.append(Shape(cls, per_core, v // per_core, False))
    if request.thread_policy != "isolate":
        # cores the guest fills come first (an odd guest fits E-cores without waste), then more siblings
        shapes.sort(key=lambda s: (s.per_core < s.cls, -s.per_core, -s.cls))
    return tuple(shapes), refused


def _largest_divisor(n: int, limit: int) -> int:
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


# --------------------------------------------------------------------------- search

@dataclass(frozen=True)
class _Option:
    shape: Optional[Shape]
    take: Tuple[Tuple[Tuple[int, int], int], ...]   # ((node, cls), cores) for the vCPUs
    emulator: Optional[Tuple[int, int]]             # (node, cls) of an isolated emulator core
    score: int                                      # higher is preferred among equally good plans

    def need(self) -> Dict[Tuple[int, int], int]:
        need: Dict[Tuple[int, int], int] = {}
        for key, count in self.take:
            need[key] = need.get(key, 0) + count
        if self.emulator is not None:
            need[self.emulator] = need.get(self.emulator, 0) + 1
        return need

    @property
    def nodes(self) -> Tuple[int, ...]:
        return tuple(sorted({pair[0][0] for pair in self.take} | ({self.emulator[0]} if self.emulator else set())))


@dataclass(frozen=True)
class _Demand:
    request: Request
    shapes: Tuple[Shape, ...]
    refused: Tuple[str, ...]
    nodes: Tuple[int, ...]
    may_span: bool


def _demand(request: Request, host: Host) -> _Demand:
    shapes, refused = shapes_for(request, host.classes)
    if isinstance(request.numa, int):
        nodes: Tuple[int, ...] = (request.numa,)
    else:
        nodes = host.nodes
    return _Demand(request, shapes, tuple(refused), nodes, request.numa == "auto" and len(nodes) > 1)


def _options(demand: _Demand, caps: Mapping[Tuple[int, int], int], classes: Sequence[int]) -> List[_Option]:
    """Every way to place the guest on whole free cores of one node, or spread when no node can hold it."""
    isolate_emulator = demand.request.emulator == "isolate"
    emulator_classes = sorted(classes)   # fewest threads first: an emulator wastes least on an E-core
    if demand.request.thread_policy == "share":
        if not isolate_emulator:
            return [_Option(None, (), None, 0)]
        return [_Option(None, (), (node, cls), -rank)
                for node in demand.nodes for rank, cls in enumerate(emulator_classes) if caps.get((node, cls), 0) >= 1]
    found = []
    for rank, shape in enumerate(demand.shapes):
        for node in demand.nodes:
            key = (node, shape.cls)
            if caps.get(key, 0) < shape.cores:
                continue
            if not isolate_emulator:
                found.append(_Option(shape, ((key, shape.cores),), None, -10 * rank))
                continue
            for emu_rank, cls in enumerate(emulator_classes):
                spare = caps.get((node, cls), 0) - (shape.cores if cls == shape.cls else 0)
                if spare >= 1:
                    found.append(_Option(shape, ((key, shape.cores),), (node, cls), -10 * rank - emu_rank))
    if found or not demand.may_span:
        return found
    for rank, shape in enumerate(demand.shapes):
        option = _spread_option(demand, shape, caps, emulator_classes if isolate_emulator else None)
        if option is not None:
            found.append(_Option(option.shape, option.take, option.emulator, option.score - 10 * rank))
    return found


def _spread_option(demand: _Demand, shape: Shape, caps: Mapping[Tuple[int, int], int],
                   emulator_classes: Optional[Sequence[int]]) -> Optional[_Option]:
    """Fewest nodes: take from the nodes with the most free cores of the shape's kind first."""
    order = sorted(demand.nodes, key=lambda n: (-caps.get((n, shape.cls), 0), n))
    take = []
    need = shape.cores
    for node in order:
        have = caps.get((node, shape.cls), 0)
        if need and have:
            got = min(have, need)
            take.append(((node, shape.cls), got))
            need -= got
    if need:
        return None
    emulator = None
    if emulator_classes is not None:
        used = dict(take)
        used_nodes = [pair[0][0] for pair in take]
        nodes = used_nodes + [n for n in order if n not in used_nodes]
        spare = [(node, cls) for node in nodes for cls in emulator_classes
                 if caps.get((node, cls), 0) - used.get((node, cls), 0) >= 1]
        if not spare:
            return None
        emulator = spare[0]
    return _Option(shape, tuple(take), emulator, -1000 * (len(take) - 1))


class _BudgetExceeded(Exception):
    pass


Value = Tuple[int, int, int]   # guests placed, vCPUs placed, preference score


class _Search:
    """Exact: most guests placed, then most vCPUs, then preferred shapes; memoised on free-core counts.

    Whole free cores of one (node, thread count) are interchangeable for what
    fits, so the state is just those counts; while the guests left to place
    may go to any node, nodes are interchangeable too and the state is
    sorted by node. That makes the search exact on the hosts where it matters
    most (small, fragmented) and bounded on big ones, where ``budget`` states
    make it hand over to a portfolio of greedy packers.
    """

    def __init__(self, demands: Sequence[_Demand], keys: Sequence[Tuple[int, int]], classes: Sequence[int],
                 budget: int):
        self.demands = demands
        self.keys = list(keys)
        self.classes = classes
        self.budget = budget
        self.memo: Dict[Tuple[int, Tuple[int, ...]], Value] = {}
        nodes = sorted({key[0] for key in self.keys})
        self.node_slices = [[i for i, key in enumerate(self.keys) if key[0] == node] for node in nodes]
        uniform = len({tuple(self.keys[i][1] for i in sl) for sl in self.node_slices}) == 1
        self.bounds = [(sl[0], sl[-1] + 1) for sl in self.node_slices]   # keys are sorted: each node is a slice
        position = {key: i for i, key in enumerate(self.keys)}
        everything = {key: 1 << 30 for key in self.keys}
        # single-node options do not depend on what is free: list them once, as index vectors
        self.fixed: List[List[Tuple[_Option, Tuple[Tuple[int, int], ...]]]] = []
        for demand in demands:
            candidates = _options(_Demand(demand.request, demand.shapes, demand.refused, demand.nodes, False),
                                  everything, classes)
            self.fixed.append([(o, tuple((position[k], n) for k, n in o.need().items())) for o in candidates])
        self.symmetric_from = [False] * (len(demands) + 1)
        self.symmetric_from[len(demands)] = True
        for i in range(len(demands) - 1, -1, -1):
            self.symmetric_from[i] = uniform and self.symmetric_from[i + 1] and \
                not isinstance(demands[i].request.numa, int)

    def caps(self, vector: Tuple[int, ...]) -> Dict[Tuple[int, int], int]:
        return dict(zip(self.keys, vector))

    def after(self, vector: Tuple[int, ...], option: _Option) -> Tuple[int, ...]:
        need = option.need()
        return tuple(have - need.get(key, 0) for key, have in zip(self.keys, vector))

    def memo_key(self, i: int, vector: Tuple[int, ...]):
        if self.symmetric_from[i] and len(self.bounds) > 1:
            return (i, tuple(sorted([vector[a:b] for a, b in self.bounds])))
        return (i, vector)

    def feasible(self, i: int, vector: Tuple[int, ...]) -> List[Tuple[_Option, Tuple[int, ...]]]:
        """Options of guest ``i`` that fit ``vector``, each with the vector it leaves."""
        found = []
        for option, need in self.fixed[i]:
            if all(vector[pos] >= count for pos, count in need):
                left = list(vector)
                for pos, count in need:
                    left[pos] -= count
                found.append((option, tuple(left)))
        if not found and self.demands[i].may_span:
            found = [(o, self.after(vector, o)) for o in _options(self.demands[i], self.caps(vector), self.classes)]
        return found

    def value(self, i: int, vector: Tuple[int, ...]) -> Value:
        if i == len(self.demands):
            return (0, 0, 0)
        memo_key = self.memo_key(i, vector)
        cached = self.memo.get(memo_key)
        if cached is not None:
            return cached
        if len(self.memo) >= self.budget:
            raise _BudgetExceeded()
        best = self.value(i + 1, vector)
        vcpus = self.demands[i].request.vcpus
        for option, left in self.feasible(i, vector):
            sub = self.value(i + 1, left)
            if (sub[0] + 1, sub[1] + vcpus, sub[2] + option.score) > best:
                best = (sub[0] + 1, sub[1] + vcpus, sub[2] + option.score)
        self.memo[memo_key] = best
        return best

    def choose(self, vector: Tuple[int, ...]) -> List[Optional[_Option]]:
        choices: List[Optional[_Option]] = []
        for i, demand in enumerate(self.demands):
            target = self.value(i, vector)
            picked = None
            for option in _best_fit_order([pair[0] for pair in self.feasible(i, vector)], self.caps(vector)):
                after = self.after(vector, option)
                sub = self.value(i + 1, after)
                if (sub[0] + 1, sub[1] + demand.request.vcpus, sub[2] + option.score) == target:
                    picked, vector = option, after
                    break
            choices.append(picked)
        return choices


def _best_fit_order(options: List[_Option], caps: Mapping[Tuple[int, int], int]) -> List[_Option]:
    """Among equally good options, the node left with the fewest free cores of that kind (packing)."""
    def key(option: _Option):
        need = option.need()
        left = sum(caps.get(k, 0) - n for k, n in need.items())
        return (-option.score, left, option.nodes)
    return sorted(options, key=key)


def _first_fit_order(options: List[_Option], caps: Mapping[Tuple[int, int], int]) -> List[_Option]:
    """Nova's order: the lowest node that fits, then the preferred shape there."""
    return sorted(options, key=lambda option: (option.nodes, -option.score))


def _greedy(demands: Sequence[_Demand], caps: Mapping[Tuple[int, int], int], classes: Sequence[int],
            order: Sequence[int], fit) -> Tuple[List[Optional[_Option]], Value]:
    """One pass in ``order``, each guest on the first option ``fit`` ranks; returns choices and their value."""
    left = dict(caps)
    choices: List[Optional[_Option]] = [None] * len(demands)
    placed = vcpus = score = 0
    for i in order:
        options = fit(_options(demands[i], left, classes), left)
        if not options:
            continue
        choice = options[0]
        choices[i] = choice
        for key, count in choice.need().items():
            left[key] -= count
        placed, vcpus, score = placed + 1, vcpus + demands[i].request.vcpus, score + choice.score
    return choices, (placed, vcpus, score)


def _portfolio(demands: Sequence[_Demand], caps: Mapping[Tuple[int, int], int],
               classes: Sequence[int]) -> Tuple[List[Optional[_Option]], Value]:
    """When the exact search would take too long: the best of a few greedy packers.

    Arrival order first-fit is Nova's packer, so the plan never places fewer
    guests than Nova would; smallest-first best-fit is what usually places
    the most (for a single kind of core it is optimal in count).
    """
    def smallest(i: int):
        shapes = demands[i].shapes
        return (min((s.cores for s in shapes), default=0), -demands[i].request.vcpus, i)

    arrival = list(range(len(demands)))
    orders = [arrival, sorted(arrival, key=smallest), sorted(arrival, key=smallest, reverse=True)]
    best: Optional[Tuple[Value, int, List[Optional[_Option]]]] = None
    rank = 0
    for order in orders:
        for fit in (_best_fit_order, _first_fit_order):
            choices, value = _greedy(demands, caps, classes, order, fit)
            if best is None or value > best[0]:
                best = (value, rank, choices)
            rank += 1
    return (best[2], best[0]) if best else ([None] * len(demands), (0, 0, 0))


def _search(demands: Sequence[_Demand], caps: Dict[Tuple[int, int], int], classes: Sequence[int],
            budget: int) -> Tuple[List[Optional[_Option]], str]:
    keys = sorted(caps)
    choices, value = _portfolio(demands, caps, classes)
    if value == (len(demands), sum(d.request.vcpus for d in demands), 0) and len(demands) > 8:
        # Every guest placed on its preferred shape in one node: no plan scores better, so a big batch
        # skips the search (on big hosts it would only burn its budget); small ones keep its tie-breaks.
        return choices, "greedy portfolio (every guest placed as preferred, which is optimal)"
    if len(demands) <= 400:
        search = _Search(demands, keys, classes, budget)
        vector = tuple(caps[k] for k in keys)
        try:
            search.value(0, vector)
            return search.choose(vector), "exact"
        except _BudgetExceeded:
            pass
    placed = value[0]
    proof = "; its count meets the upper bound, so no plan places more guests" \
        if placed == _count_bound(demands, caps) else ""
    return choices, "greedy portfolio (the exact search passed %d states%s)" % (budget, proof)


def _count_bound(demands: Sequence[_Demand], caps: Mapping[Tuple[int, int], int]) -> int:
    """No plan places more guests than the smallest requests that fit in all free cores together."""
    needs = []
    for demand in demands:
        extra = 1 if demand.request.emulator == "isolate" else 0
        if demand.request.thread_policy == "share":
            needs.append(extra)
        elif demand.shapes:
            needs.append(min(s.cores for s in demand.shapes) + extra)
    total, count = sum(caps.values()), 0
    for need in sorted(needs):
        if need > total:
            break
        total -= need
        count += 1
    return count


# --------------------------------------------------------------------------- taking cores

def take_cores(candidates: Sequence[Core], universe: Sequence[Core], count: int) -> List[Core]:
    """Whole packages, then whole cache groups, then the cache group that fits best, then the fewest groups.

    ``candidates`` are the free cores of one kind in one node, ``universe`` all
    cores of that kind there (to tell a whole group from a partly used one).
    """
    pool = sorted(candidates, key=lambda c: c.index)
    chosen: List[Core] = []
    for step in (_take_whole_packages, _take_whole_llc_groups, _take_llc_best_fit, _take_fewest_llc_groups):
        need = count - len(chosen)
        if need <= 0:
            break
        got = step(pool, universe, need)
        chosen.extend(got)
        taken = {c.index for c in got}
        pool = [c for c in pool if c.index not in taken]
    if len(chosen) != count:
        raise AssertionError("take_cores: %d of %d cores from %d candidates" % (len(chosen), count, len(candidates)))
    return sorted(chosen, key=lambda c: c.index)


def _groups(cores: Iterable[Core], key) -> Dict[Any, List[Core]]:
    groups: Dict[Any, List[Core]] = {}
    for core in cores:
        groups.setdefault(key(core), []).append(core)
    return groups


def _take_whole(pool: Sequence[Core], universe: Sequence[Core], need: int, key) -> List[Core]:
    whole_size = {k: len(v) for k, v in _groups(universe, key).items()}
    taken: List[Core] = []
    for group_key, cores in sorted(_groups(pool, key).items(), key=lambda kv: (len(kv[1]), kv[0])):
        if len(cores) == whole_size[group_key] and need - len(taken) >= len(cores):
            taken.extend(cores)
    return taken


def _take_whole_packages(pool, universe, need):
    return _take_whole(pool, universe, need, lambda c: c.package)


def _take_whole_llc_groups(pool, universe, need):
    return _take_whole(pool, universe, need, lambda c: c.llc)


def _take_llc_best_fit(pool, universe, need):
    """The cache group with the fewest free cores that still holds the rest: packs, keeps big groups whole."""
    fitting = [(len(cores), key, cores) for key, cores in _groups(pool, lambda c: c.llc).items() if len(cores) >= need]
    if not fitting:
        return []
    cores = min(fitting, key=lambda t: (t[0], t[1]))[2]
    return cores[:need]


def _take_fewest_llc_groups(pool, universe, need):
    """Spread over as few cache groups as possible: biggest first, the remainder best-fit."""
    taken: List[Core] = []
    groups = sorted(_groups(pool, lambda c: c.llc).items(), key=lambda kv: (-len(kv[1]), kv[0]))
    for index, (_llc, cores) in enumerate(groups):
        rest = need - len(taken)
        if rest <= 0:
            break
        fit = [group[1] for group in groups[index:] if len(group[1]) >= rest]
        if fit:
            taken.extend(min(fit, key=len)[:rest])
            break
        taken.extend(cores)
    return taken


# --------------------------------------------------------------------------- allocation

@dataclass(frozen=True)
class Allocation:
    """Where one planned guest runs; turned into a placement entry by ``_entry``."""

    request: Request
    vcpus: Tuple[int, ...]          # one pCPU per vCPU, numbered core by core
    cores: Tuple[Core, ...]         # physical cores of the vCPUs, in guest order
    per_core: int                   # vCPUs per physical core (0 for floating guests)
    topology: Topology
    consistent: bool                # the topology shows siblings exactly where the pins have them
    floating: Tuple[int, ...]       # the shared pool, for thread_policy share
    emulator: Tuple[int, ...]
    emulator_core: Optional[Core]
    reserved: Tuple[int, ...]
    tolerant: bool
    withheld: Tuple[str, ...]


def _allocate(demand: _Demand, option: _Option, ledger: _Ledger) -> Allocation:
    request = demand.request
    host = ledger.host
    if option.shape is None:
        return _allocate_floating(request, option, ledger)
    shape = option.shape
    cores: List[Core] = []
    for (node, cls), count in option.take:
        picked = _leftover_cores(ledger, node, shape.per_core, count) if shape.tolerant else []
        universe = [c for c in host.cores if c.node == node and c.size == cls]
        free = [c for c in universe if ledger.state(c) == FREE and c not in picked]
        cores.extend(picked + take_cores(free, universe, count - len(picked)))
    return _commit_cores(request, sorted(cores, key=lambda c: c.index), shape.per_core, shape.reserve, option, ledger)


def _leftover_cores(ledger: _Ledger, node: int, per_core: int, count: int) -> List[Core]:
    """Fragments first: threads other tolerant guests left, fewest free threads first."""
    found = [c for c in ledger.host.cores if c.node == node and ledger.state(c) == LEFTOVER
             and len(ledger.free_threads(c)) >= per_core]
    found.sort(key=lambda c: (len(ledger.free_threads(c)), c.index))
    return found[:count]


def _commit_cores(request: Request, cores: List[Core], per_core: int, reserve: bool, option: Optional[_Option],
                  ledger: _Ledger) -> Allocation:
    vcpus: List[int] = []
    reserved: List[int] = []
    tolerant = False
    for core in cores:
        free = ledger.free_threads(core)
        vcpus.extend(free[:per_core])
        idle = free[per_core:]
        if reserve:
            reserved.extend(idle)
        elif idle or len(free) < core.size:
            tolerant = True
    vcpus = vcpus[:request.vcpus]
    ledger.add(request.name, ROLE_VCPU, vcpus)
    ledger.add(request.name, ROLE_RESERVED, reserved)
    if tolerant:
        ledger.tolerant.add(request.name)
    emulator, emulator_core = _emulator_pins(request, option, cores, ledger)
    topology = request.keep_topology or Topology(1, 1, 1, request.vcpus // per_core, per_core)
    consistent = sibling_exact(ledger.host, [[c] for c in vcpus], topology)
    withheld = ("no_nonarch_core_sharing",) if tolerant else ()
    return Allocation(request, tuple(vcpus), tuple(cores), per_core, topology, consistent, (), emulator,
                      emulator_core, tuple(sorted(reserved)), tolerant, withheld)


def _allocate_floating(request: Request, option: _Option, ledger: _Ledger) -> Allocation:
    pool = _shared_pool(request, ledger)
    emulator, emulator_core = _emulator_pins(request, option, [], ledger)
    ledger.add(request.name, ROLE_FLOAT, pool)
    return Allocation(request, (), (), 0, Topology(1, 1, 1, request.vcpus, 1), False, tuple(pool), emulator,
                      emulator_core, (), False, PLACEMENT_STATEMENTS)


def _shared_pool(request: Request, ledger: _Ledger) -> Tuple[int, ...]:
    """Floating guests and shared emulators run with the host tasks, near the guest when possible."""
    pool = ledger.housekeeping
    if isinstance(request.numa, int):
        local = pool & ledger.host.node_cpus([request.numa])
        pool = local or pool
    return tuple(sorted(pool))


def _emulator_pins(request: Request, option: Optional[_Option], cores: Sequence[Core],
                   ledger: _Ledger) -> Tuple[Tuple[int, ...], Optional[Core]]:
    if request.emulator == "share" or option is None or option.emulator is None:
        nodes = sorted({c.node for c in cores}) or (
            [request.numa] if isinstance(request.numa, int) else list(ledger.host.nodes))
        local = ledger.housekeeping & ledger.host.node_cpus(nodes)
        pins = tuple(sorted(local or ledger.housekeeping))
        ledger.add(request.name, ROLE_EMULATOR, pins)
        return pins, None
    node, cls = option.emulator
    near = {c.llc for c in cores}
    free = [c for c in ledger.host.cores if c.node == node and c.size == cls and ledger.state(c) == FREE]
    core = min(free, key=lambda c: (c.llc not in near, c.index))
    ledger.add(request.name, ROLE_EMULATOR, core.threads)
    return tuple(core.threads), core


def _fallback(demand: _Demand, ledger: _Ledger) -> Optional[Allocation]:
    """For guests that accept sharing a core: fragments and partly used cores the whole-core search ignores."""
    request = demand.request
    if request.thread_policy not in ("prefer", "require") or request.emulator == "isolate":
        return None
    nodes_list = [[n] for n in demand.nodes] + ([list(demand.nodes)] if demand.may_span else [])
    for shape in demand.shapes:
        if not shape.tolerant:
            continue
        for nodes in nodes_list:
            usable = _usable_cores(ledger, nodes, shape.per_core)
            if len(usable) >= shape.cores:
                return _commit_cores(request, sorted(usable[:shape.cores], key=lambda c: c.index),
                                     shape.per_core, False, None, ledger)
    if request.thread_policy != "prefer":
        return None
    for nodes in nodes_list:
        cores = _cores_for_threads(ledger, nodes, request.vcpus)
        if cores is not None:
            return _commit_threads(request, cores, ledger)
    return None


def _usable_cores(ledger: _Ledger, nodes: Sequence[int], per_core: int) -> List[Core]:
    cores = [c for c in ledger.host.cores if c.node in nodes and ledger.state(c) in (FREE, LEFTOVER)
             and len(ledger.free_threads(c)) >= per_core]
    cores.sort(key=lambda c: (ledger.state(c) == FREE, len(ledger.free_threads(c)), c.index))
    return cores


def _cores_for_threads(ledger: _Ledger, nodes: Sequence[int], count: int) -> Optional[List[Core]]:
    """Kubernetes' last step: single threads, partly used cores first, then whole cores."""
    cores = _usable_cores(ledger, nodes, 1)
    chosen, have = [], 0
    for core in cores:
        if have >= count:
            break
        chosen.append(core)
        have += len(ledger.free_threads(core))
    return chosen if have >= count else None


def _commit_threads(request: Request, cores: List[Core], ledger: _Ledger) -> Allocation:
    """``prefer`` when no consistent layout fits: every free thread, siblings together."""
    groups = []
    left = request.vcpus
    for core in sorted(cores, key=lambda c: c.index):
        threads = ledger.free_threads(core)[:left]
        groups.append(threads)
        left -= len(threads)
    sizes = {len(g) for g in groups}
    per_core = sizes.pop() if len(sizes) == 1 else 1
    if per_core > 1 and request.vcpus % per_core:
        per_core = 1
    vcpus = [t for g in groups for t in g]
    ledger.add(request.name, ROLE_VCPU, vcpus)
    ledger.tolerant.add(request.name)
    emulator = _emulator_pins(request, None, cores, ledger)[0]
    topology = Topology(1, 1, 1, request.vcpus // per_core, per_core)
    consistent = sibling_exact(ledger.host, [[c] for c in vcpus], topology)
    return Allocation(request, tuple(vcpus), tuple(cores), per_core, topology, consistent, (), emulator, None, (),
                      True, ("no_nonarch_core_sharing",))


# --------------------------------------------------------------------------- checks

def sibling_exact(host: Host, vcpus: Sequence[Sequence[int]], topology: Topology) -> bool:
    """accurate_topology's core: vCPUs i, j shown as siblings exactly when their pins share a core."""
    if topology.vcpus != len(vcpus) or any(len(p) != 1 for p in vcpus):
        return False
    pins = [p[0] for p in vcpus]
    if len(set(pins)) != len(pins) or any(p not in host.core_of for p in pins):
        return False
    for i in range(len(pins)):
        for j in range(i + 1, len(pins)):
            shown = i // topology.threads == j // topology.threads
            if shown != (host.core_of[pins[i]] == host.core_of[pins[j]]):
                return False
    return True


def check_plan(facts: Any, placement: Any) -> List[str]:
    """What is wrong with a planned placement on this host; empty when it may be applied.

    The planner runs it on its own output, so a planner bug cannot pin real
    guests; tests run it on every generated plan.
    """
    host = parse_host(facts)
    return _check(host, parse_placement(placement, host))


def _check(host: Host, current: Placement, only: Optional[FrozenSet[str]] = None) -> List[str]:
    """Problems of the planned guests (those with a plan record, or the names in ``only``).

    Guests that merely run (``source: live``) are what the host is; lint
    reports their splits, this reports what a plan got wrong.
    """
    problems: List[str] = []
    housekeeping = current.housekeeping or frozenset()
    offline = sorted(housekeeping - host.online)
    if offline and only is None:
        problems.append("housekeeping lists CPUs that are not online: %s" % _fmt(offline))
    holders: Dict[int, str] = {}
    for guest in current.guests:
        if only is None:
            planned = isinstance(guest.record.get("plan"), Mapping) or guest.record.get("source") == "plan"
        else:
            planned = guest.name in only
        if not planned:
            continue
        problems.extend(_check_guest(host, guest))
        owned = set(_guest_exclusive_cpus(guest))
        if guest.emulator and not set(guest.emulator) <= housekeeping:
            owned |= set(guest.emulator)
        for cpu in sorted(owned):
            if cpu in holders and holders[cpu] != guest.name:
                problems.append("CPU %d is given to both %s and %s" % (cpu, holders[cpu], guest.name))
            holders[cpu] = guest.name
        clash = sorted(housekeeping & _guest_exclusive_cpus(guest))
        if clash:
            problems.append("guest %s is pinned to housekeeping CPUs %s" % (guest.name, _fmt(clash)))
    for guest in current.guests:
        # An emulator floating by libvirt's default is on every CPU whatever the
        # plan does: lint and the hint engine report it, it is no plan's mistake.
        emulator = () if guest.emulator_floats else guest.emulator
        used = set(c for pins in guest.vcpus for c in pins) | set(emulator) | set(guest.reserved)
        used.update(c for pins in guest.iothreads for c in pins)
        for cpu in sorted(used):
            owner = holders.get(cpu)
            if owner is not None and owner != guest.name:
                problems.append("guest %s runs on CPU %d, which the plan gives to %s" % (guest.name, cpu, owner))
    return problems


def _check_guest(host: Host, guest: PlacedGuest) -> List[str]:
    problems = []
    offline = sorted({c for pins in guest.vcpus for c in pins} - host.online)
    if offline:
        problems.append("guest %s has vCPUs pinned to offline CPUs %s" % (guest.name, _fmt(offline)))
    if guest.topology is None or guest.topology.vcpus != len(guest.vcpus):
        problems.append("guest %s: topology %s does not show its %d vCPUs"
                        % (guest.name, guest.topology.as_dict() if guest.topology else None, len(guest.vcpus)))
    if guest.pinned:
        pins = [p[0] for p in guest.vcpus]
        if len(set(pins)) != len(pins):
            problems.append("guest %s pins two vCPUs to one CPU" % guest.name)
        if set(guest.reserved) & set(pins):
            problems.append("guest %s reserves CPUs it runs vCPUs on" % guest.name)
    return problems


# --------------------------------------------------------------------------- lint

@dataclass(frozen=True)
class Finding:
    code: str
    core: Core
    guests: Tuple[str, ...]
    pools: Tuple[Tuple[str, Tuple[int, ...]], ...]
    message: str

    def as_dict(self) -> Dict[str, Any]:
        return {"code": self.code, "core": {"index": self.core.index, "package": self.core.package,
                                            "node": self.core.node, "threads": list(self.core.threads)},
                "guests": list(self.guests), "pools": {name: list(cpus) for name, cpus in self.pools},
                "message": self.message}


LINT_CODES = {
    "housekeeping_split": "host tasks run on a sibling of a guest's CPU",
    "guests_split": "two guests run on one physical core",
    "isolcpus_split": "isolcpus isolates some threads of the core and not others",
    "nohz_full_split": "nohz_full covers some threads of the core and not others",
    "emulator_on_vcpu_core": "a guest's emulator or iothreads run on the core of its own vCPUs",
}


def lint(facts: Any, placement: Any) -> List[Dict[str, Any]]:
    """Every physical core split across pools on this host, with the guests it affects."""
    host = parse_host(facts)
    current = parse_placement(placement, host)
    return [f.as_dict() for f in lint_host(host, current.housekeeping or frozenset(), current.guests)]


def lint_host(host: Host, housekeeping: FrozenSet[int], guests: Sequence[PlacedGuest]) -> List[Finding]:
    findings: List[Finding] = []
    uses = _uses_by_cpu(guests)
    for core in host.cores:
        findings.extend(_lint_pools(core, housekeeping, uses))
        findings.extend(_lint_cpu_set(core, host.isolated, "isolcpus_split", "isolated", uses))
        findings.extend(_lint_cpu_set(core, host.nohz_full, "nohz_full_split", "nohz_full", uses))
        findings.extend(_lint_emulator(core, housekeeping, uses))
    return findings


def _uses_by_cpu(guests: Sequence[PlacedGuest]) -> Dict[int, List[Tuple[str, str]]]:
    uses: Dict[int, List[Tuple[str, str]]] = {}
    for guest in guests:
        for pins in guest.vcpus:
            role = guest.vcpu_role(pins)
            for cpu in pins:
                uses.setdefault(cpu, []).append((guest.name, role))
        for cpu in guest.emulator:
            uses.setdefault(cpu, []).append((guest.name, ROLE_EMULATOR))
        for pins in guest.iothreads:
            for cpu in pins:
                uses.setdefault(cpu, []).append((guest.name, ROLE_IOTHREAD))
        for cpu in guest.reserved:
            uses.setdefault(cpu, []).append((guest.name, ROLE_RESERVED))
    return uses


def _lint_pools(core: Core, housekeeping: FrozenSet[int], uses) -> List[Finding]:
    """Pools of a core: the shared pool (housekeeping, with what floats or shares there) and each guest."""
    pools: Dict[str, Set[int]] = {}
    for cpu in core.threads:
        shared = cpu in housekeeping
        if shared:
            pools.setdefault("housekeeping", set()).add(cpu)
        for name, role in uses.get(cpu, ()):
            if shared and role in (ROLE_FLOAT, ROLE_EMULATOR, ROLE_IOTHREAD):
                continue  # runs in the shared pool by design
            pools.setdefault("guest " + name, set()).add(cpu)
    guests = sorted(k[len("guest "):] for k in pools if k.startswith("guest "))
    if not guests or ("housekeeping" not in pools and len(guests) < 2):
        return []
    listing = tuple((k, tuple(sorted(v))) for k, v in sorted(pools.items()))
    where = "%s is split: %s" % (core.describe(), "; ".join("%s on %s" % (k, format_cpulist(v)) for k, v in listing))
    found = []
    if "housekeeping" in pools and guests:
        found.append(Finding("housekeeping_split", core, tuple(guests), listing, where))
    if len(guests) >= 2:
        found.append(Finding("guests_split", core, tuple(guests), listing, where))
    return found


def _lint_cpu_set(core: Core, cpus: FrozenSet[int], code: str, label: str, uses) -> List[Finding]:
    inside = tuple(t for t in core.threads if t in cpus)
    if not inside or len(inside) == core.size:
        return []
    outside = tuple(t for t in core.threads if t not in cpus)
    guests = tuple(sorted({use[0] for t in core.threads for use in uses.get(t, ())}))
    listing = ((label, inside), ("not " + label, outside))
    message = "%s is split: %s on %s, not on %s" % (
        core.describe(), label, format_cpulist(inside), format_cpulist(outside))
    return [Finding(code, core, guests, listing, message)]


def _lint_emulator(core: Core, housekeeping: FrozenSet[int], uses) -> List[Finding]:
    """Own helpers beside own vCPUs; a floating guest and its emulator in the shared pool are that pool's business."""
    vcpu_users: Dict[str, Set[int]] = {}
    helpers: Dict[str, Set[int]] = {}
    for cpu in core.threads:
        for name, role in uses.get(cpu, ()):
            if cpu in housekeeping and role != ROLE_VCPU:
                continue
            if role in (ROLE_VCPU, ROLE_FLOAT):
                vcpu_users.setdefault(name, set()).add(cpu)
            elif role in (ROLE_EMULATOR, ROLE_IOTHREAD):
                helpers.setdefault(name, set()).add(cpu)
    found = []
    for name in sorted(set(vcpu_users) & set(helpers)):
        listing = (("vcpus", tuple(sorted(vcpu_users[name]))), ("emulator", tuple(sorted(helpers[name]))))
        message = "%s: guest %s runs its emulator/iothreads on %s beside its vCPUs on %s" % (
            core.describe(), name, format_cpulist(helpers[name]), format_cpulist(vcpu_users[name]))
        found.append(Finding("emulator_on_vcpu_core", core, (name,), listing, message))
    return found


# --------------------------------------------------------------------------- the plan

@dataclass(frozen=True)
class _Outcome:
    allocations: Tuple[Allocation, ...]
    unplaced: Tuple[Tuple[Request, Tuple[Dict[str, str], ...]], ...]
    search: str


def _plan_batch(host: Host, ledger: _Ledger, requests: Sequence[Request], budget: int) -> _Outcome:
    """Place a batch into a ledger (mutated): exact search on whole cores, then fragments for the tolerant."""
    demands = [_demand(r, host) for r in requests]
    caps = ledger.capacities()
    choices, how = _search(demands, caps, host.classes, budget)
    allocations: Dict[str, Allocation] = {}
    for demand, option in zip(demands, choices):
        if option is not None:
            allocations[demand.request.name] = _allocate(demand, option, ledger)
    for demand, option in zip(demands, choices):
        if option is None:
            fallback = _fallback(demand, ledger)
            if fallback is not None:
                allocations[demand.request.name] = fallback
    unplaced = tuple((d.request, tuple(_why_unplaced(d, caps, ledger, host)))
                     for d in demands if d.request.name not in allocations)
    ordered = tuple(allocations[r.name] for r in requests if r.name in allocations)
    return _Outcome(ordered, unplaced, how)


def _why_unplaced(demand: _Demand, before: Mapping[Tuple[int, int], int], ledger: _Ledger,
                  host: Host) -> List[Dict[str, str]]:
    reasons = [{"code": "odd_vcpus_rejected", "message": "%s; odd_vcpus=reject (pad or withhold would place it)"
                % text} for text in demand.refused]
    if not demand.shapes and demand.request.thread_policy != "share":
        return reasons or [{"code": "no_shape", "message": "no core kind of this host fits the policy"}]
    if _options(demand, before, host.classes):
        reasons.append({"code": "crowded_out", "message": "fits on its own, but placing it would leave out more "
                        "guests (or vCPUs) of this batch than it places"})
        return reasons
    free = ", ".join("node %d: %d free %d-thread cores" % (node, count, cls)
                     for (node, cls), count in sorted(before.items()))
    needs = "; ".join("%d whole cores of %d threads" % (s.cores, s.cls) for s in demand.shapes) or "no vCPU cores"
    extra = " plus one core for the emulator" if demand.request.emulator == "isolate" else ""
    where = "NUMA node %d" % demand.request.numa if isinstance(demand.request.numa, int) else (
        "one NUMA node" if not demand.may_span else "the host")
    reasons.append({"code": "no_room", "message": "needs %s%s in %s; the host has %s"
                    % (needs, extra, where, free or "no free cores")})
    if ledger.floating_emulators:
        names = sorted(ledger.floating_emulators)
        several = len(names) > 1
        message = ("guest%s %s ha%s no emulator pin and no <vcpu cpuset>, so libvirt runs %s emulator on every "
                   "online CPU and no core is free of it; give %s an <emulatorpin> (or plan it with "
                   "hvfleet.smt.cpu_pinning)") % ("s" if several else "", ", ".join(names), "ve" if several else "s",
                                                  "their" if several else "its", "them" if several else "it")
        reasons.append({"code": "emulator_floating", "message": message})
    return reasons


def plan(facts: Any, guests: Any = None, housekeeping: Any = None, placement: Any = None, defrag: bool = False,
         search_budget: int = DEFAULT_SEARCH_BUDGET, max_moves: int = DEFAULT_MAX_MOVES) -> Dict[str, Any]:
    """Plan the guests onto the host around what is placed; see docs/planner.md for the document."""
    host = parse_host(facts)
    current = parse_placement(placement, host)
    requests = parse_requests(guests, host)
    placed_names = {g.name for g in current.guests}
    for request in requests:
        if request.name in placed_names:
            raise PlanError("guests: %s" % request.name, request.name,
                            "a guest that is not placed yet (remove it from the placement to plan it again)")
    cpus, source = resolve_housekeeping(housekeeping, host, current)
    _require_housekeeping_for(requests, cpus)
    ledger = _Ledger(host, cpus)
    for guest in current.guests:
        ledger.add_placed(guest)
    budget = _int("search_budget", search_budget, minimum=1)
    outcome = _plan_batch(host, ledger.copy(), requests, budget)
    moves: List[Dict[str, Any]] = []
    if defrag:
        outcome, moves = _defrag(host, ledger, current, requests, outcome, budget,
                                 _int("max_moves", max_moves, minimum=0))
    document = _placement_document(cpus, source, current.guests, outcome.allocations)
    planned_placement = parse_placement(document, host)
    problems = _check(host, planned_placement, frozenset(a.request.name for a in outcome.allocations))
    if problems:
        raise AssertionError("the planner produced an invalid plan: %s" % "; ".join(problems))
    statements, engine = engine_statements(_unwrap(facts, "hvfleet_smt"), document)
    result_guests = {a.request.name: _report(a, host, statements) for a in outcome.allocations}
    for request, reasons in outcome.unplaced:
        result_guests[request.name] = {"placed": False, "reasons": list(reasons)}
    return {
        "schema": SCHEMA,
        "placement": document,
        "guests": result_guests,
        "placed": [a.request.name for a in outcome.allocations if a.request.origin is None],
        "unplaced": [pair[0].name for pair in outcome.unplaced],
        "moves": moves,
        "lint": {
            "current": [f.as_dict() for f in lint_host(host, current.housekeeping or frozenset(), current.guests)],
            "planned": [f.as_dict() for f in lint_host(host, cpus, planned_placement.guests)],
        },
        "search": outcome.search,
        "statements_source": engine,
    }


def _require_housekeeping_for(requests: Sequence[Request], cpus: FrozenSet[int]) -> None:
    if cpus:
        return
    for request in requests:
        if request.thread_policy == "share" or request.emulator == "share":
            what = "thread_policy share" if request.thread_policy == "share" else "emulator share"
            raise PlanError("guests: %s" % request.name, what, "housekeeping CPUs to run on (the reservation is "
                            "empty): reserve housekeeping cores or use emulator: isolate")


def _placement_document(cpus: FrozenSet[int], source: str, current: Sequence[PlacedGuest],
                        allocations: Sequence[Allocation]) -> Dict[str, Any]:
    """Placed guests in their order (a moved one re-pinned in place), then the new ones."""
    moved = {a.request.name: a for a in allocations if a.request.origin is not None}
    guests = [_entry(moved[g.name]) if g.name in moved else copy.deepcopy(dict(g.record)) for g in current]
    guests.extend(_entry(a) for a in allocations if a.request.origin is None)
    return {"schema": SCHEMA, "housekeeping": sorted(cpus), "housekeeping_source": source, "guests": guests}


def _entry(allocation: Allocation) -> Dict[str, Any]:
    request = allocation.request
    if allocation.floating:
        vcpus = [list(allocation.floating) for _vcpu in range(request.vcpus)]
    else:
        vcpus = [[cpu] for cpu in allocation.vcpus]
    if request.origin is not None:
        entry = copy.deepcopy(dict(request.origin))
        entry.update({"vcpus": vcpus, "emulator": list(allocation.emulator), "reserved": list(allocation.reserved),
                      "iothreads": [list(allocation.emulator) for _io in range(request.iothreads)], "source": "plan",
                      "plan": dict(entry.get("plan") or {},
                                   **request.record(allocation.tolerant, allocation.withheld))})
        return entry
    return {
        "name": request.name,
        "state": "planned",
        "vcpus": vcpus,
        "topology": allocation.topology.as_dict(),
        "emulator": list(allocation.emulator),
        "iothreads": [list(allocation.emulator) for _io in range(request.iothreads)],
        "migration_domain": request.migration_domain,
        "source": "plan",
        "reserved": list(allocation.reserved),
        "plan": request.record(allocation.tolerant, allocation.withheld),
    }


def _report(allocation: Allocation, host: Host, statements: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    wasted = list(allocation.reserved)
    cores = sorted({host.core_of[c] for c in allocation.vcpus})
    return {
        "placed": True,
        "moved": allocation.request.origin is not None,
        "reasons": [],
        "vcpus": list(allocation.vcpus) if not allocation.floating else None,
        "floating": list(allocation.floating) or None,
        "physical_cores": [list(host.cores[i].threads) for i in cores],
        "numa_nodes": sorted({host.cores[i].node for i in cores}) or None,
        "topology": allocation.topology.as_dict(),
        "topology_consistent": allocation.consistent,
        "emulator": list(allocation.emulator),
        "emulator_core": list(allocation.emulator_core.threads) if allocation.emulator_core else None,
        "reserved": list(allocation.reserved),
        "wasted": {"cpus": wasted, "threads": len(wasted),
                   "cores": round(sum(1.0 / host.core(c).size for c in wasted), 3)},
        "core_sharing": "tolerant" if allocation.tolerant else "exclusive",
        "withheld": list(allocation.withheld),
        "statements": _statements_for(allocation, statements),
    }


def _statements_for(allocation: Allocation, statements: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """The engine's verdict on the plan, minus what the policy withholds (a later plan may break it)."""
    if statements is None:
        return None
    verdict = statements.get(allocation.request.name)
    if not isinstance(verdict, Mapping):
        return None
    result = {}
    for name in STATEMENTS:
        entry = verdict.get(name)
        entry = dict(entry) if isinstance(entry, Mapping) else {"granted": False, "reasons": [
            {"code": "engine_silent", "message": "the hint engine returned nothing for %s" % name}]}
        granted = entry.get("granted", entry.get("allowed")) is True
        reasons = list(entry.get("reasons") or [])
        if name in allocation.withheld and granted:
            granted = False
            reasons.append({"code": "withheld_by_plan", "message": _withheld_message(allocation)})
        result[name] = {"granted": granted, "reasons": reasons}
    return result


def _withheld_message(allocation: Allocation) -> str:
    if allocation.floating:
        return "thread_policy share: the guest floats over the shared pool, so the plan promises nothing about it"
    request = allocation.request
    return ("the idle siblings of this guest's cores are left to other guests (thread_policy %s, odd_vcpus %s), "
            "so a later plan may put someone beside it" % (request.thread_policy, request.odd_vcpus))


def engine_statements(facts: Mapping[str, Any], placement: Mapping[str, Any]) -> Tuple[Optional[Mapping[str, Any]], str]:
    """The one call into the hint engine (plugins/module_utils/hints.py, ``decide_host``).

    Kept in one place so the planner reports exactly what the engine would
    grant for the plan; while the engine is not installed, statements are
    null (never assumed granted).
    """
    try:
        from ansible_collections.hvfleet.smt.plugins.module_utils import hints
    except ImportError as err:
        if "hints" not in str(err):
            raise
        return None, "unavailable: plugins/module_utils/hints.py is not installed"
    decided = hints.decide_host(facts, placement, policy=None)
    if isinstance(decided, Mapping) and isinstance(decided.get("guests"), Mapping):
        decided = decided["guests"]
    if isinstance(decided, Mapping) and isinstance(decided.get("guests"), list):
        decided = {g.get("name"): g.get("statements", g) for g in decided["guests"] if isinstance(g, Mapping)}
    return decided, "hints.decide_host"


# --------------------------------------------------------------------------- defrag

@dataclass(frozen=True)
class _Trial:
    outcome: _Outcome          # moved guests first, then the batch
    ledger: _Ledger
    moved: Tuple[PlacedGuest, ...]

    @property
    def batch_placed(self) -> int:
        return len(self.outcome.allocations) - len(self.moved)


def _defrag(host: Host, ledger: _Ledger, current: Placement, requests: Sequence[Request], outcome: _Outcome,
            budget: int, max_moves: int) -> Tuple[_Outcome, List[Dict[str, Any]]]:
    """Fewest moves of placed guests that let more of the batch fit; with nothing left out, that free cores.

    Only pinned guests move, each keeping its vCPU count and exposed topology,
    so a move is a live re-pin, never a restart.
    """
    movable = [g for g in current.guests if _movable(host, g)]
    movable.sort(key=lambda g: (-_split_cores(host, ledger, g), len(g.vcpus), g.name))
    base = _Trial(outcome, _after(host, ledger, [], requests, budget), ())
    if outcome.unplaced:
        best = _moves_for_batch(host, ledger, requests, movable[:12], budget, max_moves, base)
    else:
        best = base
    best = _moves_for_cores(host, ledger, requests, movable, budget, max_moves, best)
    return best.outcome, _describe_moves(best)


def _movable(host: Host, guest: PlacedGuest) -> bool:
    if not guest.pinned or guest.topology is None or guest.topology.vcpus != len(guest.vcpus):
        return False
    return guest.topology.threads <= max(host.classes)


def _split_cores(host: Host, ledger: _Ledger, guest: PlacedGuest) -> int:
    """Cores the guest shares with anyone else or leaves partly idle: what moving it could free."""
    count = 0
    for index in sorted({host.core_of[c] for c in guest.vcpu_cpus if c in host.core_of}):
        core = host.cores[index]
        users = [u for t in core.threads for u in ledger.users[t]]
        others = [use[0] for use in users if use[0] != guest.name]
        mine = [t for t in core.threads if any(use[0] == guest.name for use in ledger.users[t])]
        if others or len(mine) < core.size or ledger.housekeeping.intersection(core.threads):
            count += 1
    return count


def _move_request(guest: PlacedGuest) -> Request:
    """A moved guest keeps its vCPU count and exposed topology: changing those needs a restart."""
    record = guest.record.get("plan") if isinstance(guest.record.get("plan"), Mapping) else {}
    per_core = guest.topology.threads if guest.topology is not None else 1
    numa = record.get("numa", "auto")
    if not (numa in NUMA_WORDS or (isinstance(numa, int) and not isinstance(numa, bool))):
        numa = "auto"
    return Request(
        guest.name, len(guest.vcpus),
        thread_policy=record.get("thread_policy") if record.get("thread_policy") in THREAD_POLICIES else "require",
        odd_vcpus=record.get("odd_vcpus") if record.get("odd_vcpus") in ODD_VCPUS else "pad",
        emulator="isolate" if record.get("emulator") == "isolate" else "share",
        numa=numa, iothreads=len(guest.iothreads),
        migration_domain=guest.record.get("migration_domain"),
        keep=(len(guest.vcpus) // per_core, per_core, not guest.tolerant),
        keep_topology=guest.topology, origin=guest.record)


def _after(host: Host, ledger: _Ledger, moved: Sequence[PlacedGuest], requests: Sequence[Request],
           budget: int) -> _Ledger:
    trial = ledger.copy()
    for guest in moved:
        trial.remove(guest.name)
    _plan_batch(host, trial, [_move_request(g) for g in moved], budget)
    _plan_batch(host, trial, requests, budget)
    return trial


def _try(host: Host, ledger: _Ledger, requests: Sequence[Request], moved: Sequence[PlacedGuest],
         budget: int) -> Optional[_Trial]:
    trial = ledger.copy()
    for guest in moved:
        trial.remove(guest.name)
    moved_outcome = _plan_batch(host, trial, [_move_request(g) for g in moved], budget)
    if moved_outcome.unplaced:
        return None
    batch = _plan_batch(host, trial, requests, budget)
    merged = _Outcome(moved_outcome.allocations + batch.allocations, batch.unplaced, batch.search)
    return _Trial(merged, trial, tuple(moved))


def _moves_for_batch(host, ledger, requests, movable, budget, max_moves, base: _Trial) -> _Trial:
    """Smallest set of moves (up to ``max_moves``) that places the most guests of the batch."""
    import itertools
    best = base
    for size in range(1, min(max_moves, len(movable)) + 1):
        for combo in itertools.combinations(movable, size):
            trial = _try(host, ledger, requests, combo, budget)
            if trial is not None and trial.batch_placed > best.batch_placed:
                best = trial
        if not best.outcome.unplaced:
            break
    return best


def _moves_for_cores(host, ledger, requests, movable, budget, max_moves, best: _Trial) -> _Trial:
    """Then, one move at a time, the move that frees the most whole cores, while any does."""
    free_now = _whole_free(host, best.ledger)
    while len(best.moved) < max_moves:
        step = None
        for guest in movable:
            if guest in best.moved:
                continue
            trial = _try(host, ledger, requests, best.moved + (guest,), budget)
            if trial is None or trial.batch_placed < best.batch_placed:
                continue
            gain = _whole_free(host, trial.ledger) - free_now
            if gain > 0 and (step is None or gain > step[0]):
                step = (gain, trial)
        if step is None:
            break
        free_now += step[0]
        best = step[1]
    return best


def _whole_free(host: Host, ledger: _Ledger) -> int:
    return sum(1 for c in host.cores if ledger.state(c) == FREE)


def _describe_moves(trial: _Trial) -> List[Dict[str, Any]]:
    by_name = {a.request.name: a for a in trial.outcome.allocations}
    moves = []
    for guest in trial.moved:
        allocation = by_name[guest.name]
        moves.append({
            "guest": guest.name,
            "from": {"vcpus": [list(p) for p in guest.vcpus], "emulator": list(guest.emulator),
                     "reserved": list(guest.reserved)},
            "to": {"vcpus": [[c] for c in allocation.vcpus], "emulator": list(allocation.emulator),
                   "reserved": list(allocation.reserved)},
            "restart_needed": False,
            "message": "re-pin %s from %s to %s; its topology stays, so it can move while running"
                       % (guest.name, format_cpulist(guest.vcpu_cpus), format_cpulist(allocation.vcpus)),
        })
    return moves


# --------------------------------------------------------------------------- small validators

def _unwrap(doc: Any, key: str) -> Any:
    if isinstance(doc, Mapping) and key in doc and len(doc) == 1:
        return doc[key]
    return doc


def _require_mapping(where: str, value: Any, expected: str) -> None:
    if not isinstance(value, Mapping):
        raise PlanError(where, value, expected)


def _int(where: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PlanError(where, value, "an integer >= %d" % minimum)
    return value


def _choice(where: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise PlanError(where, value, "one of %s" % ", ".join(choices))
    return value


def _name(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip() or \
            any(ch in value for ch in "/\n\r\t\0") or len(value) > 255:
        raise PlanError(where, value, "a guest (libvirt domain) name: 1-255 characters, no '/', no control "
                        "characters, no surrounding spaces")
    return value


def _optional_ids(where: str, value: Any) -> Optional[FrozenSet[int]]:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return frozenset(parse_cpulist(value))
        except CpulistError as err:
            raise PlanError(where, value, err.expected) from None
    if not isinstance(value, (list, tuple)):
        raise PlanError(where, value, "a list of CPU ids")
    for cpu in value:
        if isinstance(cpu, bool) or not isinstance(cpu, int) or cpu < 0:
            raise PlanError(where, value, "CPU ids as non-negative integers")
    if len(set(value)) != len(value):
        raise PlanError(where, value, "CPU ids without duplicates")
    return frozenset(value)


def _cpus_of(where: str, value: Any, host: Host, allow_empty: bool = False, kernel: bool = False) -> FrozenSet[int]:
    """A pin set as a list of ints or cpulist text (libvirt syntax, or the kernel's for reservations)."""
    if isinstance(value, str):
        text = value.strip()
        if not text and allow_empty:
            return frozenset()
        try:
            cpus = frozenset(parse_cpulist(text, host.nr_cpus) if kernel else parse_libvirt_cpuset(text))
        except CpulistError as err:
            raise PlanError(where, value, err.expected) from None
    elif isinstance(value, (list, tuple)):
        for cpu in value:
            if isinstance(cpu, bool) or not isinstance(cpu, int) or cpu < 0:
                raise PlanError(where, value, "CPU ids as non-negative integers, or cpulist text")
        cpus = frozenset(value)
    else:
        raise PlanError(where, value, "CPU ids as a list of integers or cpulist text such as '0-3,8'")
    if not cpus and not allow_empty:
        raise PlanError(where, value, "at least one CPU")
    unknown = sorted(cpus - host.known)
    if unknown:
        raise PlanError(where, _fmt(cpus), "CPUs of this host (%s are not)" % _fmt(unknown))
    return cpus


def _fmt(cpus: Iterable[int]) -> str:
    return format_cpulist(cpus) or "(none)"
