"""Planner properties over generated hosts, placements and batches (Hypothesis).

Hosts: 1-3 NUMA nodes, 1-6 cores per node, SMT1/2/4/8 or hybrid P/E cores,
Linux or shuffled CPU numbering, one or two cache groups per node. Placed
guests sit on random threads (fragmentation); batches mix every policy.
"""

import copy
import itertools

from hypothesis import assume, given
from hypothesis import strategies as st

from ansible_collections.hvfleet.smt.plugins.module_utils import placement as P
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import PlanError

REAL_ENGINE = P.engine_statements


@st.composite
def hosts(draw, max_cores_per_node=6):
    nodes = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["smt1", "smt2", "smt2", "smt4", "smt8", "hybrid"]))
    per_node = draw(st.integers(1, 3 if kind == "smt8" else max_cores_per_node))
    sizes = []
    for _core in range(nodes * per_node):
        if kind == "hybrid":
            sizes.append(draw(st.sampled_from([1, 2])))
        else:
            sizes.append({"smt1": 1, "smt2": 2, "smt4": 4, "smt8": 8}[kind])
    total = sum(sizes)
    ids = list(range(total))
    if draw(st.booleans()):
        ids = draw(st.permutations(ids))
    cores, cursor = [], 0
    for size in sizes:
        cores.append(sorted(ids[cursor:cursor + size]))
        cursor += size
    # sometimes a sibling is offline (smt on, CPU offlined by hand): it leaves its core's thread list
    offline = []
    if draw(st.booleans()) and max(sizes) > 1:
        for core in cores:
            if len(core) > 1 and draw(st.booleans()):
                offline.append(core.pop())
    present = sorted(ids)
    node_of = [i // per_node for i in range(len(cores))]
    split = draw(st.booleans())
    llc_of = [node_of[i] * 2 + (1 if split and (i % per_node) >= per_node // 2 else 0) for i in range(len(cores))]
    online = sorted(t for core in cores for t in core)
    ordered = sorted(range(len(cores)), key=lambda i: min(cores[i]))
    isolated = draw(st.sets(st.sampled_from(online), max_size=4))
    return {
        "schema": 1,
        "collected_at": "2026-11-25T00:00:00Z",
        "smt": {"control": "on" if max(sizes) > 1 else "notsupported", "active": max(sizes) > 1,
                "possible": max(sizes) > 1, "threads_per_core": {"min": min(sizes), "max": max(sizes)}},
        "cpus": {"online": online, "offline": sorted(offline), "present": present, "possible": present,
                 "isolated": sorted(isolated), "nohz_full": [], "kernel_max": 8191},
        "cores": [{"package": node_of[i], "die": 0, "cluster": None, "core": i, "threads": cores[i]} for i in ordered],
        "packages": [],
        "numa_nodes": [{"id": n, "cpus": sorted(t for i, c in enumerate(cores) if node_of[i] == n for t in c)}
                       for n in range(nodes)],
        "llc_groups": [sorted(t for i, c in enumerate(cores) if llc_of[i] == g for t in c) for g in sorted(set(llc_of))],
        "hypervisor": {"guest": False, "vendor": None, "vouched": {}},
    }


@st.composite
def scenarios(draw, max_cores_per_node=6, policies=P.THREAD_POLICIES):
    facts = draw(hosts(max_cores_per_node))
    host = P.parse_host(facts)
    housekeeping = sorted(host.cores[0].threads)
    free = [c for c in host.online if c not in housekeeping]
    placed = []
    for index in range(draw(st.integers(0, 3))):
        if not free:
            break
        pins = draw(st.lists(st.sampled_from(free), min_size=1, max_size=3, unique=True))
        free = [c for c in free if c not in pins]
        entry = {"name": "placed%d" % index, "state": "running", "vcpus": [[c] for c in pins],
                 "topology": {"sockets": 1, "dies": 1, "clusters": 1, "cores": len(pins), "threads": 1},
                 "emulator": draw(st.sampled_from([housekeeping, sorted(pins)])), "iothreads": [],
                 "migration_domain": None, "source": "live"}
        shape = draw(st.sampled_from(["pinned", "pinned", "tolerant", "floating", "emulator floats", "no topology",
                                      "bad topology"]))
        if shape == "tolerant":
            entry["plan"] = {"core_sharing": "tolerant"}
        elif shape == "floating":   # <vcpu cpuset>: vCPUs and emulator over some CPUs
            entry["vcpus"] = [sorted(pins)] * len(pins)
            entry["vcpu_cpuset"] = sorted(pins)
            del entry["emulator"]
        elif shape == "emulator floats":   # no <emulatorpin>, no <vcpu cpuset>: every online CPU (libvirt)
            del entry["emulator"]
        elif shape == "no topology":
            del entry["topology"]
        elif shape == "bad topology":
            entry["topology"]["cores"] += 1
        placed.append(entry)
    if facts["cpus"]["offline"] and draw(st.booleans()):
        housekeeping = sorted(housekeeping + facts["cpus"]["offline"][:1])   # systemd may list offline CPUs
    batch = []
    for index in range(draw(st.integers(0, 5))):
        batch.append({
            "name": "new%d" % index,
            "vcpus": draw(st.integers(1, 8)),
            "thread_policy": draw(st.sampled_from(policies)),
            "odd_vcpus": draw(st.sampled_from(P.ODD_VCPUS)),
            "emulator": draw(st.sampled_from(P.EMULATOR_POLICIES)),
            "numa": draw(st.sampled_from(["auto", "single"] + list(host.nodes))),
        })
    placement = {"schema": 1, "housekeeping": housekeeping, "housekeeping_source": "test", "guests": placed}
    return facts, placement, batch


def plan_without_engine(*args, **kwargs):
    """Most properties are about the planner alone; the engine is the last test's business."""
    saved = P.engine_statements
    P.engine_statements = lambda facts, placement: (None, "stubbed")
    try:
        return P.plan(*args, **kwargs)
    finally:
        P.engine_statements = saved


def owned_cpus(entry, housekeeping):
    """CPUs a planned guest holds alone: its pins, reserved siblings, an isolated emulator core."""
    cpus = set(entry.get("reserved", []))
    if entry["plan"]["thread_policy"] != "share":
        cpus |= {p[0] for p in entry["vcpus"]}
    cpus |= set(entry["emulator"]) - set(housekeeping)
    return cpus


def used_cpus(entry, online):
    cpus = {c for pins in entry["vcpus"] for c in pins}
    if "emulator" in entry:
        cpus |= set(entry["emulator"])
    else:
        cpus |= set(entry["vcpu_cpuset"]) if "vcpu_cpuset" in entry else set(online)
    cpus |= set(entry.get("reserved") or [])
    return cpus


@given(scenarios())
def test_plan_invariants(scenario):
    facts, placement, batch = scenario
    before = copy.deepcopy(placement)
    result = plan_without_engine(facts, batch, placement=placement)
    host = P.parse_host(facts)
    document = result["placement"]
    housekeeping = document["housekeeping"]

    housekeeping = [c for c in housekeeping if c in host.online]
    # placing never changes placed guests (nor the caller's document)
    assert placement == before
    assert document["guests"][:len(before["guests"])] == before["guests"]
    new = document["guests"][len(before["guests"]):]
    assert sorted(g["name"] for g in new) == sorted(result["placed"])
    assert sorted(result["placed"] + result["unplaced"]) == sorted(g["name"] for g in batch)

    # no pCPU given to two guests, nor to a placed guest, nor to host tasks
    taken = set()
    for guest in before["guests"]:
        taken |= used_cpus(guest, facts["cpus"]["online"])
    for entry in new:
        mine = owned_cpus(entry, housekeeping)
        assert not mine & taken, (entry["name"], mine & taken)
        assert not mine & set(housekeeping)
        taken |= mine

    requests = {g["name"]: g for g in batch}
    for entry in new:
        request = requests[entry["name"]]
        report = result["guests"][entry["name"]]
        topology = P.Topology(**entry["topology"])
        # exposed topology product = vCPUs
        assert topology.vcpus == request["vcpus"] == len(entry["vcpus"])
        if request["thread_policy"] == "share":
            assert all(pins == housekeeping or set(pins) <= set(housekeeping) for pins in entry["vcpus"])
            continue
        pins = [p[0] for p in entry["vcpus"]]
        exact = P.sibling_exact(host, entry["vcpus"], topology)
        assert exact == report["topology_consistent"]
        cores = {host.core_of[p] for p in pins}
        if request["thread_policy"] in ("require", "isolate"):
            # sibling-exactness holds for every layout these policies allow
            assert exact
        if request["thread_policy"] == "isolate" or (
                request["thread_policy"] == "require" and request["odd_vcpus"] != "withhold"):
            assert entry["plan"]["core_sharing"] == "exclusive"
        if entry["plan"]["core_sharing"] == "exclusive":
            # whole cores: every thread of every vCPU core is a pin or reserved for this guest
            for index in cores:
                assert set(host.cores[index].threads) <= set(pins) | set(entry["reserved"]), entry
        else:
            assert "no_nonarch_core_sharing" in entry["plan"]["withheld"]
        if request["thread_policy"] == "isolate":
            # isolate: one vCPU per core, the idle siblings reserved
            assert len(cores) == len(pins)
            assert sorted(entry["reserved"]) == sorted(
                t for c in cores for t in host.cores[c].threads if t not in pins)
        if request["emulator"] == "isolate":
            emulator_cores = {host.core_of[c] for c in entry["emulator"]}
            assert len(emulator_cores) == 1 and not emulator_cores & cores
            assert sorted(entry["emulator"]) == list(host.cores[emulator_cores.pop()].threads)
        else:
            assert set(entry["emulator"]) <= set(housekeeping)
        assert report["wasted"]["threads"] == len(entry["reserved"])

    # the plan validates against the facts
    assert P.check_plan(facts, document) == []


@given(scenarios())
def test_planner_creates_no_split_except_between_guests_that_accept_it(scenario):
    facts, placement, batch = scenario
    result = plan_without_engine(facts, batch, placement=placement)
    tolerant = {g["name"] for g in result["placement"]["guests"]
                if (g.get("plan") or {}).get("core_sharing") == "tolerant"}
    current = {(f["code"], tuple(f["core"]["threads"]), tuple(f["guests"])) for f in result["lint"]["current"]}
    for finding in result["lint"]["planned"]:
        key = (finding["code"], tuple(finding["core"]["threads"]), tuple(finding["guests"]))
        new_names = set(finding["guests"]) & set(result["placed"])
        if not new_names or finding["code"] in ("isolcpus_split", "nohz_full_split"):
            continue
        assert finding["code"] == "guests_split", finding
        assert set(finding["guests"]) <= tolerant, (finding, key in current)


@given(scenarios(max_cores_per_node=4))
def test_defrag_places_at_least_as_many_and_moves_only_placed_pinned_guests(scenario):
    facts, placement, batch = scenario
    plain = plan_without_engine(facts, batch, placement=placement)
    moved = plan_without_engine(facts, batch, placement=placement, defrag=True, max_moves=2)
    assert len(moved["placed"]) >= len(plain["placed"])
    assert len(moved["moves"]) <= 2
    placed_names = {g["name"] for g in placement["guests"]}
    for move in moved["moves"]:
        assert move["guest"] in placed_names
        original = next(g for g in placement["guests"] if g["name"] == move["guest"])
        entry = next(g for g in moved["placement"]["guests"] if g["name"] == move["guest"])
        assert entry["topology"] == original["topology"]
        assert len(entry["vcpus"]) == len(original["vcpus"])
    unmoved = placed_names - {m["guest"] for m in moved["moves"]}
    for entry in moved["placement"]["guests"]:
        if entry["name"] in unmoved:
            assert entry == next(g for g in placement["guests"] if g["name"] == entry["name"])
    assert P.check_plan(facts, moved["placement"]) == []


def most_guests(host, free, batch):
    """Brute force, written apart from the planner: most require guests that fit in one node each."""
    def options(request):
        for (node, size), count in free.items():
            if request["vcpus"] % size == 0:
                yield (node, size), request["vcpus"] // size

    for r in range(len(batch), 0, -1):
        for subset in itertools.combinations(batch, r):
            if _fits(list(subset), dict(free), options):
                return r
    return 0


def _fits(subset, free, options):
    if not subset:
        return True
    first, rest = subset[0], subset[1:]
    for key, count in options(first):
        if free[key] >= count:
            free[key] -= count
            if _fits(rest, free, options):
                return True
            free[key] += count
    return False


@given(scenarios(max_cores_per_node=5, policies=("require",)))
def test_exact_on_small_hosts(scenario):
    facts, placement, batch = scenario
    for request in batch:
        request.update(odd_vcpus="reject", emulator="share", numa="single")
    result = plan_without_engine(facts, batch, placement=placement)
    host = P.parse_host(facts)
    busy = {c for g in placement["guests"] for c in used_cpus(g, facts["cpus"]["online"])} | set(placement["housekeeping"])
    free = {}
    for core in host.cores:
        key = (core.node, core.size)
        free.setdefault(key, 0)
        if not busy & set(core.threads):
            free[key] += 1
    assert result["search"] == "exact"
    assert len(result["placed"]) == most_guests(host, free, batch)


@given(scenarios(policies=("require", "isolate")))
def test_engine_grants_what_whole_core_plans_promise(scenario):
    facts, placement, batch = scenario
    for request in batch:
        request["odd_vcpus"] = "pad" if request["odd_vcpus"] == "withhold" else request["odd_vcpus"]
    assume(not facts["cpus"]["offline"])   # an offline sibling may come back: the engine denies, rightly
    try:
        result = P.plan(facts, batch, placement=placement)
    except PlanError:
        assume(False)
    assert result["statements_source"] == "hints.decide_host"
    for name in result["placed"]:
        statements = result["guests"][name]["statements"]
        granted = {k: v["granted"] for k, v in statements.items()}
        assert granted["accurate_topology"] and granted["no_nonarch_core_sharing"] and granted["dedicated"], (
            name, {k: [r["code"] for r in v["reasons"]] for k, v in statements.items() if not v["granted"]})
