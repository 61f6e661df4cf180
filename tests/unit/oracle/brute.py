# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A brute-force oracle for the four SMT statements.

Written straight from the definitions (DOMAIN.md "The four statements,
precisely" and the project's stricter decisions in docs/statements.md), in
the most literal way: pairwise over vCPUs, linear scans over every core,
thread and guest, no indexes. It shares no code with the engine and imports
nothing from plugins/, so a mistake would have to be made twice, in two
different shapes, to go unnoticed.

Its only output is booleans (and whether a placement is malformed). The
engine's reasons are checked elsewhere.
"""

STATEMENTS = ("no_smt", "accurate_topology", "no_nonarch_core_sharing", "dedicated")


class Malformed(Exception):
    """The placement is not a placement: the engine must raise, not decide."""


# ---------------------------------------------------------------------------
# Input checks, from docs/statements.md "Errors and denials"
# ---------------------------------------------------------------------------


def _is_map(value):
    return isinstance(value, dict) or (hasattr(value, "keys") and hasattr(value, "get") and hasattr(value, "items"))


def _is_seq(value):
    return isinstance(value, (list, tuple))


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_plain_int(value):
    # Exactly int, as hints.py checks: bool and Ansible's tagged subclasses are not.
    return type(value) is int  # pylint: disable=unidiomatic-typecheck


def facts_valid(facts):
    """True when the facts follow docs/facts.md closely enough to decide on."""
    if not _is_map(facts):
        return False
    smt = facts.get("smt")
    if not _is_map(smt) or not isinstance(smt.get("control"), str):
        return False
    cpus = facts.get("cpus")
    if not _is_map(cpus):
        return False
    for key in ("online", "present"):
        values = cpus.get(key)
        if not _is_seq(values):
            return False
        for value in values:
            if not _is_plain_int(value) or value < 0:
                return False
    online = set(cpus["online"])
    present = set(cpus["present"])
    if len(online) == 0:
        return False
    for cpu in online:
        if cpu not in present:
            return False
    cores = facts.get("cores")
    if not _is_seq(cores):
        return False
    seen = []
    seen_set = set()
    for core in cores:
        if not _is_map(core):
            return False
        threads = core.get("threads")
        if not _is_seq(threads) or len(threads) == 0:
            return False
        for cpu in threads:
            if not _is_plain_int(cpu):
                return False
            if cpu in seen_set:
                return False
            seen.append(cpu)
            seen_set.add(cpu)
    # Every online CPU in exactly one core, and nothing else.
    for cpu in online:
        if cpu not in seen:
            return False
    for cpu in seen_set:
        if cpu not in online:
            return False
    hypervisor = facts.get("hypervisor")
    if not _is_map(hypervisor):
        return False
    if not isinstance(hypervisor.get("guest"), bool):
        return False
    vouched = hypervisor.get("vouched")
    if vouched is not None:
        if not _is_map(vouched):
            return False
        for value in vouched.values():
            if not isinstance(value, bool):
                return False
    return True


def _cpu_set_ok(value, allow_empty=False):
    if not _is_seq(value):
        return False
    if len(value) == 0 and not allow_empty:
        return False
    for cpu in value:
        if not _is_int(cpu) or cpu < 0:
            return False
    return len(set(value)) == len(value)


def vcpu_sets(guest):
    """The pin sets in vCPU-id order, from either the list or the mapping form."""
    vcpus = guest.get("vcpus")
    if _is_map(vcpus):
        out = []
        for vcpu in range(len(vcpus)):
            for key, value in vcpus.items():
                if key == vcpu or key == str(vcpu):
                    out.append(value)
        return out
    return list(vcpus)


def _vcpu_ids_ok(vcpus):
    keys = list(vcpus.keys())
    ids = []
    for key in keys:
        if isinstance(key, str) and key.isdigit():
            key = int(key)
        if not _is_plain_int(key):
            return False
        ids.append(key)
    for vcpu in range(len(keys)):
        if ids.count(vcpu) != 1:
            return False
    return True


def placement_malformed(placement, facts, valid=None):
    """True when the engine must refuse the placement with an error.

    ``valid`` is facts_valid(facts) when the caller already knows it.
    """
    if not _is_map(placement):
        return True
    housekeeping = placement.get("housekeeping")
    if housekeeping is not None and not _cpu_set_ok(housekeeping, allow_empty=True):
        return True
    source = placement.get("housekeeping_source")
    if source is not None and not isinstance(source, str):
        return True
    guests = placement.get("guests")
    if not _is_seq(guests):
        return True
    present = None
    if valid is None:
        valid = facts is not None and facts_valid(facts)
    if valid:
        present = set(facts["cpus"]["present"])
    names = []
    for guest in guests:
        if not _is_map(guest):
            return True
        name = guest.get("name")
        if not isinstance(name, str) or name == "":
            return True
        if name in names:
            return True
        names.append(name)
        vcpus = guest.get("vcpus")
        if _is_map(vcpus):
            if len(vcpus) == 0 or not _vcpu_ids_ok(vcpus):
                return True
        elif not _is_seq(vcpus) or len(vcpus) == 0:
            return True
        sets = vcpu_sets(guest)
        for cpus in sets:
            if not _cpu_set_ok(cpus):
                return True
        topology = guest.get("topology")
        if topology is not None:
            if not _is_map(topology):
                return True
            for key in ("sockets", "cores", "threads"):
                if not _is_int(topology.get(key)) or topology.get(key) < 1:
                    return True
            for key in ("dies", "clusters"):
                if key in topology and (not _is_int(topology[key]) or topology[key] < 1):
                    return True
        emulator = guest.get("emulator")
        if emulator is not None and not _cpu_set_ok(emulator):
            return True
        cpuset = guest.get("vcpu_cpuset")
        if cpuset is not None and not _cpu_set_ok(cpuset):
            return True
        iothreads = guest.get("iothreads")
        if iothreads is not None:
            if not _is_seq(iothreads):
                return True
            for cpus in iothreads:
                if not _cpu_set_ok(cpus):
                    return True
        domain = guest.get("migration_domain")
        if domain is not None and not isinstance(domain, str):
            if not _is_seq(domain):
                return True
            for host in domain:
                if not isinstance(host, str) or host == "":
                    return True
        if present is not None:
            everything = [cpu for cpus in sets for cpu in cpus]
            if emulator is not None:
                everything += list(emulator)
            if cpuset is not None:
                everything += list(cpuset)
            for cpus in iothreads or []:
                everything += list(cpus)
            for cpu in everything:
                if cpu not in present:
                    return True
    return False


# ---------------------------------------------------------------------------
# The definitions
# ---------------------------------------------------------------------------


def _threads_of_cores(facts):
    return [list(core["threads"]) for core in facts["cores"]]


def _same_core(facts, a, b):
    for threads in _threads_of_cores(facts):
        if a in threads and b in threads:
            return True
    return False


def _offline_present(facts):
    online = list(facts["cpus"]["online"])
    return [cpu for cpu in facts["cpus"]["present"] if cpu not in online]


def _emulator(guest, facts):
    if guest.get("emulator") is not None:
        return list(guest["emulator"])
    # docs/placement.md: without a pin the emulator runs on the <vcpu cpuset> when
    # the placement gives one; without either, on every online CPU (libvirt's
    # formatdomain documentation of <emulatorpin>).
    if guest.get("vcpu_cpuset") is not None:
        return list(guest["vcpu_cpuset"])
    return list(facts["cpus"]["online"])


def _iothreads(guest):
    return [list(cpus) for cpus in (guest.get("iothreads") or [])]


def _housekeeping(placement, facts):
    if placement.get("housekeeping") is None:
        # Unknown: host tasks may run anywhere.
        return list(facts["cpus"]["present"])
    return list(placement["housekeeping"])


def has_foreign_user(facts, placement, me, cpu):
    """DOMAIN.md: another guest's vCPU, emulator or iothread; this guest's own
    emulator or iothreads; host tasks (the CPU is in the housekeeping set)."""
    if cpu in _housekeeping(placement, facts):
        return True
    for guest in placement["guests"]:
        if guest is me:
            if cpu in _emulator(guest, facts):
                return True
            for cpus in _iothreads(guest):
                if cpu in cpus:
                    return True
        else:
            for cpus in vcpu_sets(guest):
                if cpu in cpus:
                    return True
            if cpu in _emulator(guest, facts):
                return True
            for cpus in _iothreads(guest):
                if cpu in cpus:
                    return True
    return False


def _is_vcpu_pin(sets, cpu):
    for cpus in sets:
        if cpu in cpus:
            return True
    return False


def _one_pin_each(sets):
    for cpus in sets:
        if len(cpus) != 1:
            return False
    return True


def _pins_distinct(sets):
    n = len(sets)
    for i in range(n):
        for j in range(n):
            if i != j and sets[i][0] == sets[j][0]:
                return False
    return True


def _pins_online(facts, sets):
    for cpus in sets:
        if cpus[0] not in facts["cpus"]["online"]:
            return False
    return True


def raw_no_smt(facts):
    control = facts["smt"]["control"]
    if control not in ("forceoff", "notsupported", "notimplemented"):
        return False
    for threads in _threads_of_cores(facts):
        if len(threads) != 1:
            return False
    if control == "notimplemented" and len(_offline_present(facts)) > 0:
        return False
    return True


def raw_accurate_topology(facts, me):
    sets = vcpu_sets(me)
    topology = me.get("topology")
    if topology is None:
        return False
    product = (
        topology["sockets"] * topology.get("dies", 1) * topology.get("clusters", 1) * topology["cores"] * topology["threads"]
    )
    n = len(sets)
    if product != n:
        return False
    if not _one_pin_each(sets) or not _pins_online(facts, sets) or not _pins_distinct(sets):
        return False
    threads = topology["threads"]
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            shown_siblings = i // threads == j // threads
            real_siblings = _same_core(facts, sets[i][0], sets[j][0])
            if shown_siblings != real_siblings:
                return False
    return True


def no_co_residency(facts, placement, me):
    """For every core C holding a vCPU pin, for every thread B of C that has
    a foreign user, no other thread A != B of C is a vCPU pin of this guest."""
    sets = vcpu_sets(me)
    for threads in _threads_of_cores(facts):
        holds_pin = False
        for cpu in threads:
            if _is_vcpu_pin(sets, cpu):
                holds_pin = True
        if not holds_pin:
            continue
        for b in threads:
            if not has_foreign_user(facts, placement, me, b):
                continue
            for a in threads:
                if a != b and _is_vcpu_pin(sets, a):
                    return False
    return True


def offline_cannot_return(facts):
    """Project rule (stricter than DOMAIN.md for notimplemented)."""
    if facts["smt"]["control"] in ("forceoff", "notsupported"):
        return True
    return len(_offline_present(facts)) == 0


def raw_dedicated(facts, placement, me):
    sets = vcpu_sets(me)
    if not _one_pin_each(sets) or not _pins_distinct(sets) or not _pins_online(facts, sets):
        return False
    for cpus in sets:
        if has_foreign_user(facts, placement, me, cpus[0]):
            return False
    return True


def _vouched(facts, statement):
    vouched = facts["hypervisor"].get("vouched") or {}
    return vouched.get(statement) is True


def decide_guest(facts, placement, me):
    nested = facts["hypervisor"]["guest"]
    no_smt = raw_no_smt(facts) and (not nested or _vouched(facts, "no_smt"))
    accurate = raw_accurate_topology(facts, me) and (not nested or _vouched(facts, "accurate_topology"))
    sharing = (no_smt or (accurate and no_co_residency(facts, placement, me) and offline_cannot_return(facts))) and (
        not nested
        or _vouched(facts, "no_smt")
        or (_vouched(facts, "accurate_topology") and _vouched(facts, "no_nonarch_core_sharing"))
    )
    dedicated = raw_dedicated(facts, placement, me) and (not nested or _vouched(facts, "dedicated"))
    return {
        "no_smt": no_smt,
        "accurate_topology": accurate,
        "no_nonarch_core_sharing": sharing,
        "dedicated": dedicated,
    }


def oracle_host(facts, placement):
    """{guest: {statement: bool}}; raises Malformed when the engine must raise."""
    valid = facts is not None and facts_valid(facts)
    if placement_malformed(placement, facts, valid):
        raise Malformed()
    out = {}
    for guest in placement["guests"]:
        if not valid:
            out[guest["name"]] = {statement: False for statement in STATEMENTS}
        else:
            out[guest["name"]] = decide_guest(facts, placement, guest)
    return out


def oracle_domain(members, guest, current_host):
    """Granted only where every host of the domain grants it."""
    hosts = list(members)
    if current_host not in hosts:
        hosts.append(current_host)
    out = {statement: True for statement in STATEMENTS}
    for host in hosts:
        facts, placement = members.get(host, (None, None))
        if placement is None:
            here = {statement: False for statement in STATEMENTS}
        else:
            decided = oracle_host(facts, placement)
            if guest in decided:
                here = decided[guest]
            else:
                here = {statement: False for statement in STATEMENTS}
        for statement in STATEMENTS:
            out[statement] = out[statement] and here[statement]
    return out
