# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Random hosts, placements and migration domains for engine-vs-oracle checks.

Plain ``random.Random`` so the soak can make a million cases quickly; the
Hypothesis tests draw the knobs (sizes, SMT control, nesting, guest kinds,
seed) and call these builders, so shrinking still lands on small hosts.

Random pins almost always deny, which would leave grants untested. So most
guests are built *near-valid*: whole cores, one thread per core, topologies
that match or miss by one, emulators and housekeeping on siblings. Both
directions of agreement need both kinds.
"""

import random

STATEMENTS = ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated")
CONTROLS = ("on", "off", "forceoff", "notsupported", "notimplemented", "1", "2", "4", "8", "unknown", "bogus")
GUEST_KINDS = (
    "whole_cores",
    "whole_cores",
    "one_per_core",
    "one_per_core",
    "near_miss",
    "near_miss",
    "random",
    "floating",
    "offline_pin",
    "shared_pin",
)
NUMBERINGS = ("linear", "interleaved", "shuffled")


class HostShape:
    """The physical truth behind generated facts: every core with all its threads."""

    def __init__(self, cores, offline, facts):
        self.cores = cores  # list of lists of CPU ids, all threads incl. offline
        self.offline = offline  # set of CPU ids
        self.facts = facts

    def online_cores(self):
        out = []
        for threads in self.cores:
            live = [cpu for cpu in threads if cpu not in self.offline]
            if live:
                out.append(live)
        return out


def build_host(
    r,
    packages=None,
    cores_per_package=None,
    threads=None,
    hybrid=None,
    control=None,
    numbering=None,
    offline_mode=None,
    nested=None,
    vouched=None,
):
    """A host's facts (docs/facts.md) and its shape. Unset knobs are drawn from ``r``."""
    if packages is None:
        packages = r.choice((1, 1, 1, 2, 2, 4))
    if cores_per_package is None:
        cores_per_package = r.choice((1, 2, 2, 3, 4, 4, 6, 8, 8, 12, 16))
    if threads is None:
        threads = r.choice((1, 2, 2, 2, 2, 4, 8))
    if hybrid is None:
        hybrid = r.random() < 0.2
    if control is None:
        control = r.choice(CONTROLS)
    if numbering is None:
        numbering = r.choice(NUMBERINGS)
    if offline_mode is None:
        offline_mode = r.choice(("none", "none", "none", "smt_off", "smt_off", "random", "package"))
    if nested is None:
        nested = r.random() < 0.25
    per_core = []
    for _package in range(packages):
        for _core in range(cores_per_package):
            if hybrid and r.random() < 0.5:
                per_core.append(1)
            else:
                per_core.append(threads)
    if control == "notsupported" and r.random() < 0.8:
        per_core = [1 for _threads in per_core]
    total = sum(per_core)
    ids = _number(r, per_core, numbering)
    cores = []
    position = 0
    for count in per_core:
        cores.append(sorted(ids[position:position + count]))
        position += count
    offline = set()
    realistic_off = control in ("off", "forceoff") or (control == "1" and r.random() < 0.7)
    if offline_mode == "smt_off" or (realistic_off and r.random() < 0.8):
        for threads_of_core in cores:
            offline.update(threads_of_core[1:])
    if offline_mode == "random":
        for cpu in range(total):
            if r.random() < 0.15:
                offline.add(cpu)
    if offline_mode == "package" and packages > 1:
        offline.update(cpu for threads_of_core in cores[: cores_per_package] for cpu in threads_of_core)
    if len(offline) >= total:
        offline.discard(cores[0][0])
    online = sorted(set(range(total)) - offline)
    present = list(range(total))
    facts_cores = []
    index = 0
    for package in range(packages):
        for core_id in range(cores_per_package):
            live = [cpu for cpu in cores[index] if cpu not in offline]
            if live:
                facts_cores.append({"package": package, "die": 0, "cluster": None, "core": core_id, "threads": live})
            index += 1
    facts_cores.sort(key=lambda core: core["threads"][0])
    if vouched is None:
        vouched = {}
        if nested and r.random() < 0.8:
            for statement in STATEMENTS:
                if r.random() < 0.5:
                    vouched[statement] = r.random() < 0.7
    facts = {
        "schema": 1,
        "collected_at": "2026-11-25T05:20:00Z",
        "smt": {"control": control, "active": None, "possible": control not in ("forceoff", "notsupported", "notimplemented")},
        "cpus": {"online": online, "offline": sorted(offline), "present": present, "possible": present, "isolated": []},
        "cores": facts_cores,
        "hypervisor": {"guest": nested, "vendor": None, "vouched": vouched},
    }
    if r.random() < 0.1:
        del facts["hypervisor"]["vouched"]
    return HostShape(cores, offline, facts)


def _number(r, per_core, numbering):
    """CPU ids in core order: linear (siblings adjacent), interleaved (siblings N apart), or shuffled."""
    total = sum(per_core)
    if numbering == "linear":
        return list(range(total))
    if numbering == "interleaved":
        # Thread k of every core first, then thread k+1: Intel's usual numbering.
        slots = []
        for k in range(max(per_core)):
            for core, count in enumerate(per_core):
                if k < count:
                    slots.append((core, k))
        cpu_of = {slot: cpu for cpu, slot in enumerate(slots)}
        return [cpu_of[(core, k)] for core, count in enumerate(per_core) for k in range(count)]
    ids = list(range(total))
    r.shuffle(ids)
    return ids


# ---------------------------------------------------------------------------
# Placements
# ---------------------------------------------------------------------------


def build_placement(r, shape, guests=None, kinds=None):
    """A placement for ``shape``: housekeeping, guests of mixed kinds, emulators, iothreads."""
    online_cores = shape.online_cores()
    online = [cpu for threads in online_cores for cpu in threads]
    present = list(range(sum(len(t) for t in shape.cores)))
    free = list(range(len(online_cores)))
    r.shuffle(free)
    placement = {"schema": 1, "guests": []}
    mode = r.choice(("none", "first_core", "first_thread", "random", "all", "unknown", "empty"))
    housekeeping = []
    if mode == "first_core" and free:
        core = free.pop()
        housekeeping = list(online_cores[core])
    elif mode == "first_thread" and free:
        core = free.pop()
        housekeeping = [online_cores[core][0]]
    elif mode == "random":
        housekeeping = [cpu for cpu in present if r.random() < 0.1]
    elif mode == "all":
        housekeeping = list(present)
    if mode == "unknown":
        pass
    else:
        placement["housekeeping"] = sorted(housekeeping)
        placement["housekeeping_source"] = "generated (%s)" % mode
    if guests is None:
        guests = r.choice((0, 1, 1, 2, 2, 3, 4, 6))
    for index in range(guests):
        kind = kinds[index % len(kinds)] if kinds else r.choice(GUEST_KINDS)
        guest = _build_guest(r, shape, online_cores, online, present, free, kind, housekeeping)
        guest["name"] = "g%d" % index
        placement["guests"].append(guest)
    for guest in placement["guests"]:
        _add_helpers(r, guest, placement, online_cores, present, free, housekeeping)
    if r.random() < 0.1:
        for guest in placement["guests"]:
            if r.random() < 0.5:
                guest["vcpus"] = {str(i): cpus for i, cpus in enumerate(guest["vcpus"])}
    return placement


def _take_cores(r, free, count):
    taken = []
    while free and len(taken) < count:
        taken.append(free.pop())
    return taken


def _build_guest(r, shape, online_cores, online, present, free, kind, housekeeping):
    guest = {"state": r.choice(("running", "shut off", "planned"))}
    if kind in ("whole_cores", "near_miss", "offline_pin", "shared_pin"):
        taken = _take_cores(r, free, r.choice((1, 1, 2, 2, 3, 4)))
        if not taken:
            taken = [r.randrange(len(online_cores))]
        pins = [cpu for core in taken for cpu in online_cores[core]]
        widths = {len(online_cores[core]) for core in taken}
        threads = widths.pop() if len(widths) == 1 else r.choice((1, 2))
        if len(pins) % threads:
            threads = 1
        cores = len(pins) // threads
        sockets = 1
        if cores % 2 == 0 and r.random() < 0.3:
            sockets, cores = 2, cores // 2
        topology = {"sockets": sockets, "dies": 1, "clusters": 1, "cores": cores, "threads": threads}
        if kind == "near_miss":
            _near_miss(r, pins, topology, online)
        elif kind == "offline_pin":
            offline = sorted(shape.offline)
            if offline:
                pins[r.randrange(len(pins))] = r.choice(offline)
        elif kind == "shared_pin" and len(pins) > 1:
            i, j = r.sample(range(len(pins)), 2)
            pins[i] = pins[j]
        guest["vcpus"] = [[cpu] for cpu in pins]
        guest["topology"] = topology
    elif kind == "one_per_core":
        taken = _take_cores(r, free, r.choice((1, 2, 3, 4)))
        if not taken:
            taken = [r.randrange(len(online_cores))]
        pins = [r.choice(online_cores[core]) for core in taken]
        guest["vcpus"] = [[cpu] for cpu in pins]
        guest["topology"] = {"sockets": 1, "cores": len(pins), "threads": 1}
    elif kind == "random":
        n = r.choice((1, 2, 3, 4, 6, 8))
        guest["vcpus"] = [[r.choice(present)] if r.random() < 0.8 else r.sample(present, min(len(present), 2)) for _vcpu in range(n)]
        t = r.choice((1, 2, 4))
        guest["topology"] = {"sockets": 1, "cores": max(1, n // t), "threads": t} if r.random() < 0.9 else None
    else:  # floating
        n = r.choice((1, 2, 4))
        guest["vcpus"] = [list(online) for _vcpu in range(n)]
        guest["topology"] = {"sockets": n, "cores": 1, "threads": 1}
    if r.random() < 0.05:
        guest["topology"] = None
    return guest


def _near_miss(r, pins, topology, online):
    """Break a whole-core placement in one small way (or not at all)."""
    how = r.choice(("swap", "threads_up", "threads_down", "threads_halve", "product", "rotate", "keep", "keep"))
    if how == "swap" and len(pins) > 2:
        i, j = r.sample(range(len(pins)), 2)
        pins[i], pins[j] = pins[j], pins[i]
    elif how == "threads_up":
        topology["threads"] *= 2
        topology["cores"] = max(1, topology["cores"] // 2)
        if topology["sockets"] > 1 and topology["cores"] * topology["threads"] * topology["sockets"] != len(pins):
            topology["sockets"] = 1
    elif how == "threads_down" and topology["threads"] > 1:
        topology["cores"] *= topology["threads"]
        topology["threads"] = 1
    elif how == "threads_halve" and topology["threads"] % 2 == 0:
        # Two sibling groups on one SMT4/SMT8 core: siblings hidden from the guest.
        topology["threads"] //= 2
        topology["cores"] *= 2
    elif how == "product":
        topology["cores"] += 1
    elif how == "rotate" and len(pins) > 1:
        pins.append(pins.pop(0))


def _add_helpers(r, guest, placement, online_cores, present, free, housekeeping):
    """Emulator and iothread pins: default, on housekeeping, on a sibling, on its own pin, elsewhere."""
    pins = [cpu for cpus in guest["vcpus"] for cpu in cpus] if isinstance(guest["vcpus"], list) else []
    choice = r.choice(("default", "housekeeping", "housekeeping", "sibling", "own_pin", "free_core", "other_guest"))
    emulator = None
    if choice == "housekeeping" and housekeeping:
        emulator = sorted(set(r.sample(housekeeping, min(len(housekeeping), 2))))
    elif choice == "sibling" and pins:
        core = _core_of(online_cores, pins[0])
        if core is not None:
            siblings = [cpu for cpu in online_cores[core] if cpu not in pins] or list(online_cores[core])
            emulator = [r.choice(siblings)]
    elif choice == "own_pin" and pins:
        emulator = [pins[-1]]
    elif choice == "free_core" and free:
        emulator = list(online_cores[free.pop()])
    elif choice == "other_guest":
        others = [g for g in placement["guests"] if g is not guest and isinstance(g["vcpus"], list)]
        if others:
            emulator = [r.choice(r.choice(others)["vcpus"])[0]]
    elif choice != "default":
        emulator = [r.choice(present)]
    if emulator is not None:
        guest["emulator"] = emulator
    elif r.random() < 0.5:
        guest["emulator"] = None
    if r.random() < 0.25:
        # libvirt's <vcpu cpuset>: where an emulator without a pin runs. Often
        # the housekeeping CPUs (the tidy case), sometimes the vCPU pins only.
        if housekeeping and r.random() < 0.5:
            guest["vcpu_cpuset"] = sorted(set(housekeeping))
        elif pins:
            guest["vcpu_cpuset"] = sorted(set(pins))
    if r.random() < 0.3:
        guest["iothreads"] = [list(emulator) if emulator else [r.choice(present)] for _iothread in range(r.choice((1, 2)))]
    elif r.random() < 0.5:
        guest["iothreads"] = []


def _core_of(online_cores, cpu):
    for index, threads in enumerate(online_cores):
        if cpu in threads:
            return index
    return None


# ---------------------------------------------------------------------------
# Malformed inputs, for the error-vs-denial boundary
# ---------------------------------------------------------------------------

FACTS_CORRUPTIONS = (
    "not_mapping",
    "no_smt",
    "control_int",
    "online_str",
    "online_empty",
    "online_not_present",
    "core_missing_cpu",
    "core_duplicate_cpu",
    "core_extra_cpu",
    "threads_empty",
    "guest_none",
    "vouched_str",
    "vouched_value",
    "cores_not_list",
    "negative_cpu",
    "online_float",
    "threads_bool",
)

PLACEMENT_CORRUPTIONS = (
    "not_mapping",
    "guests_missing",
    "guest_not_mapping",
    "name_missing",
    "name_duplicate",
    "vcpus_empty",
    "vcpus_str",
    "pin_str",
    "pin_bool",
    "pin_bool_repeat",
    "pin_negative",
    "pin_empty",
    "pin_duplicate",
    "pin_absent_cpu",
    "vcpu_id_gap",
    "topology_zero",
    "topology_str",
    "topology_missing_key",
    "emulator_empty",
    "emulator_absent_cpu",
    "vcpu_cpuset_empty",
    "vcpu_cpuset_absent_cpu",
    "iothreads_str",
    "housekeeping_str",
    "housekeeping_duplicate",
    "migration_domain_int",
)


def corrupt_facts(r, facts, how=None):
    """Return facts broken in one named way (the original is not modified)."""
    how = how or r.choice(FACTS_CORRUPTIONS)
    facts = _copy(facts)
    online = facts["cpus"]["online"]
    if how == "not_mapping":
        return ["not", "facts"]
    if how == "no_smt":
        del facts["smt"]
    elif how == "control_int":
        facts["smt"]["control"] = 1
    elif how == "online_str":
        facts["cpus"]["online"] = [str(cpu) for cpu in online]
    elif how == "online_empty":
        facts["cpus"]["online"] = []
    elif how == "online_not_present":
        facts["cpus"]["online"] = online + [max(facts["cpus"]["present"]) + 1]
    elif how == "core_missing_cpu":
        core = facts["cores"][-1]
        if len(core["threads"]) > 1:
            core["threads"] = core["threads"][:-1]
        else:
            facts["cores"].pop()
    elif how == "core_duplicate_cpu":
        facts["cores"][0]["threads"] = facts["cores"][0]["threads"] + [facts["cores"][0]["threads"][0]]
    elif how == "core_extra_cpu":
        facts["cores"][0]["threads"] = facts["cores"][0]["threads"] + [max(facts["cpus"]["present"]) + 7]
    elif how == "threads_empty":
        facts["cores"].append({"package": 0, "core": 999, "threads": []})
    elif how == "guest_none":
        facts["hypervisor"]["guest"] = None
    elif how == "vouched_str":
        facts["hypervisor"]["vouched"] = "no_smt"
    elif how == "vouched_value":
        facts["hypervisor"]["vouched"] = {"no_smt": "yes"}
    elif how == "cores_not_list":
        facts["cores"] = {"0": facts["cores"]}
    elif how == "online_float":
        # Equal to the ints of a host already seen: a cache keyed on equality must still refuse it.
        facts["cpus"]["online"] = [float(cpu) for cpu in online]
    elif how == "threads_bool":
        threads = facts["cores"][0]["threads"]
        facts["cores"][0]["threads"] = [True if cpu == 1 else cpu for cpu in threads]
        if 1 not in threads:
            facts["cores"][0]["threads"] = [bool(cpu) if cpu in (0, 1) else cpu for cpu in threads] + [False]
    elif how == "negative_cpu":
        facts["cpus"]["present"] = facts["cpus"]["present"] + [-1]
    return facts


def corrupt_placement(r, placement, facts, how=None):
    """Return the placement broken in one named way (the original is not modified)."""
    how = how or r.choice(PLACEMENT_CORRUPTIONS)
    placement = _copy(placement)
    guests = placement["guests"]
    if not guests and how not in ("not_mapping", "guests_missing", "housekeeping_str", "housekeeping_duplicate"):
        guests.append({"name": "added", "vcpus": [[0]], "topology": {"sockets": 1, "cores": 1, "threads": 1}})
    guest = guests[r.randrange(len(guests))] if guests else None
    if guest is not None and not isinstance(guest.get("vcpus"), list):
        guest["vcpus"] = [guest["vcpus"][str(i)] for i in range(len(guest["vcpus"]))]
    absent = max(facts["cpus"]["present"]) + 1 if isinstance(facts, dict) and _present_ok(facts) else 100000
    if how == "not_mapping":
        return [placement]
    if how == "guests_missing":
        del placement["guests"]
    elif how == "guest_not_mapping":
        guests[0] = "g0"
    elif how == "name_missing":
        guest["name"] = ""
    elif how == "name_duplicate":
        guests.append(_copy(guest))
    elif how == "vcpus_empty":
        guest["vcpus"] = []
    elif how == "vcpus_str":
        guest["vcpus"] = "0-3"
    elif how == "pin_str":
        guest["vcpus"][0] = ["0-3"]
    elif how == "pin_bool":
        guest["vcpus"][0] = [True]
    elif how == "pin_bool_repeat":
        # [[1], [True]]: equal to the set before it, which a shortcut must not trust.
        guest["vcpus"] = [[1], [True]] + guest["vcpus"][2:]
    elif how == "pin_negative":
        guest["vcpus"][0] = [-1]
    elif how == "pin_empty":
        guest["vcpus"][0] = []
    elif how == "pin_duplicate":
        guest["vcpus"][0] = [guest["vcpus"][0][0], guest["vcpus"][0][0]]
    elif how == "pin_absent_cpu":
        guest["vcpus"][0] = [absent]
    elif how == "vcpu_id_gap":
        guest["vcpus"] = {str(i + 1): cpus for i, cpus in enumerate(guest["vcpus"])}
    elif how == "topology_zero":
        guest["topology"] = {"sockets": 1, "cores": 0, "threads": 1}
    elif how == "topology_str":
        guest["topology"] = "1x2x2"
    elif how == "topology_missing_key":
        guest["topology"] = {"sockets": 1, "threads": 1}
    elif how == "emulator_empty":
        guest["emulator"] = []
    elif how == "emulator_absent_cpu":
        guest["emulator"] = [absent]
    elif how == "vcpu_cpuset_empty":
        guest["vcpu_cpuset"] = []
    elif how == "vcpu_cpuset_absent_cpu":
        guest["vcpu_cpuset"] = [absent]
    elif how == "iothreads_str":
        guest["iothreads"] = "0-1"
    elif how == "housekeeping_str":
        placement["housekeeping"] = "0-1"
    elif how == "housekeeping_duplicate":
        placement["housekeeping"] = [0, 0]
    elif how == "migration_domain_int":
        guest["migration_domain"] = 3
    return placement


def _present_ok(facts):
    cpus = facts.get("cpus")
    return isinstance(cpus, dict) and isinstance(cpus.get("present"), list) and cpus["present"] and all(
        type(cpu) is int for cpu in cpus["present"]  # pylint: disable=unidiomatic-typecheck  # exactly int, not bool
    )


def _copy(value):
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


# ---------------------------------------------------------------------------
# Whole cases
# ---------------------------------------------------------------------------


def host_case(r, malformed_rate=0.03, **knobs):
    """(facts, placement) for one host; sometimes malformed, sometimes without facts."""
    shape = build_host(r, **knobs)
    placement = build_placement(r, shape)
    facts = shape.facts
    roll = r.random()
    if roll < malformed_rate:
        facts = corrupt_facts(r, facts)
    elif roll < 2 * malformed_rate:
        placement = corrupt_placement(r, placement, facts)
    elif roll < 2 * malformed_rate + 0.01:
        facts = None
    return facts, placement


def domain_case(r, malformed_rate=0.01):
    """(members, guest, current_host): a guest placed on up to four hosts."""
    hosts = ["hv%d" % i for i in range(r.choice((1, 2, 2, 3, 4)))]
    members = {}
    guest = "g0"
    for host in hosts:
        shape = build_host(r, cores_per_package=r.choice((1, 2, 4, 8)))
        placement = build_placement(r, shape, guests=r.choice((1, 1, 2, 3)))
        if r.random() < 0.1:
            placement["guests"] = [g for g in placement["guests"] if g["name"] != guest]
        facts = shape.facts
        roll = r.random()
        if roll < 0.05:
            facts = None
        elif roll < 0.08:
            placement = None
        elif roll < 0.08 + malformed_rate:
            facts = corrupt_facts(r, facts)
        members[host] = (facts, placement)
    return members, guest, hosts[0]


def seeded(seed):
    return random.Random(seed)
