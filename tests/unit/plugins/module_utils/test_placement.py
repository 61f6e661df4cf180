"""Planner and lint: policies, hierarchy, housekeeping, defrag, input errors (examples)."""

import copy

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils import placement as P
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import PlanError


REAL_ENGINE = P.engine_statements


@pytest.fixture(autouse=True)
def granting_engine(monkeypatch):
    """Most tests judge the planner alone: an engine that grants everything shows what the plan withholds.

    The hint engine itself is exercised in test_statements_come_from_the_hint_engine.
    """
    calls = []

    def fake(facts, placement):
        calls.append(placement)
        return {g["name"]: {s: {"granted": True, "reasons": []} for s in P.STATEMENTS}
                for g in placement["guests"]}, "granting test engine"
    monkeypatch.setattr(P, "engine_statements", fake)
    return calls


def facts_for(cores, nodes=None, llc=None, isolated=(), nohz_full=(), control="on", packages=None):
    """Host facts (docs/facts.md) from a list of thread lists, one per physical core."""
    nodes = nodes or [0] * len(cores)
    packages = packages or nodes
    online = sorted(t for threads in cores for t in threads)
    ordered = sorted(range(len(cores)), key=lambda i: min(cores[i]))
    llc_groups = []
    if llc is not None:
        for group in sorted(set(llc)):
            llc_groups.append(sorted(t for i, threads in enumerate(cores) if llc[i] == group for t in threads))
    sizes = sorted({len(t) for t in cores})
    return {
        "schema": 1,
        "collected_at": "2026-11-25T00:00:00Z",
        "smt": {"control": control, "active": sizes[-1] > 1, "possible": control not in ("forceoff", "notsupported"),
                "threads_per_core": {"min": sizes[0], "max": sizes[-1]}},
        "cpus": {"online": online, "offline": [], "present": online, "possible": online,
                 "isolated": sorted(isolated), "nohz_full": sorted(nohz_full), "kernel_max": 8191},
        "cores": [{"package": packages[i], "die": 0, "cluster": None, "core": i, "threads": sorted(cores[i])}
                  for i in ordered],
        "packages": [],
        "numa_nodes": [{"id": n, "cpus": sorted(t for i, threads in enumerate(cores) if nodes[i] == n for t in threads)}
                       for n in sorted(set(nodes))],
        "llc_groups": llc_groups,
        "hypervisor": {"guest": False, "vendor": None, "vouched": {}},
    }


def smt2(n_cores, nodes=1):
    """Linux numbering: CPU i and i + n are siblings."""
    per = n_cores // nodes
    return facts_for([[i, i + n_cores] for i in range(n_cores)], nodes=[i // per for i in range(n_cores)])


def guest(name, vcpus, **kw):
    return dict(name=name, vcpus=vcpus, **kw)


def planned(result, name):
    return next(g for g in result["placement"]["guests"] if g["name"] == name)


def cores_of(facts, cpus):
    index = {t: i for i, c in enumerate(facts["cores"]) for t in c["threads"]}
    return sorted({index[c] for c in cpus})


# --------------------------------------------------------------------------- policies

def test_require_takes_whole_cores_and_numbers_siblings_together():
    facts = smt2(8)
    result = P.plan(facts, [guest("db", 4)], housekeeping=1)
    entry = planned(result, "db")
    assert entry["vcpus"] == [[1], [9], [2], [10]]
    assert entry["topology"] == {"sockets": 1, "dies": 1, "clusters": 1, "cores": 2, "threads": 2}
    assert entry["reserved"] == []
    assert entry["source"] == "plan" and entry["state"] == "planned"
    assert result["placement"]["housekeeping"] == [0, 8]
    assert entry["emulator"] == [0, 8]
    assert result["guests"]["db"]["wasted"]["threads"] == 0


def test_require_odd_is_rejected_on_smt_host():
    result = P.plan(smt2(8), [guest("odd", 3)], housekeeping=1)
    assert result["unplaced"] == ["odd"]
    codes = [r["code"] for r in result["guests"]["odd"]["reasons"]]
    assert "odd_vcpus_rejected" in codes


def test_require_odd_goes_to_e_cores_with_one_thread_topology():
    # 4 P-cores (2 threads) and 4 E-cores (1 thread)
    cores = [[0, 1], [2, 3], [4, 5], [6, 7], [8], [9], [10], [11]]
    result = P.plan(facts_for(cores), [guest("odd", 3)], housekeeping=[0, 1])
    entry = planned(result, "odd")
    assert entry["vcpus"] == [[8], [9], [10]]
    assert entry["topology"]["threads"] == 1 and entry["topology"]["cores"] == 3
    assert entry["reserved"] == [] and result["guests"]["odd"]["wasted"]["threads"] == 0


def test_require_even_prefers_p_cores_on_hybrid():
    cores = [[0, 1], [2, 3], [4, 5], [6, 7], [8], [9], [10], [11]]
    result = P.plan(facts_for(cores), [guest("even", 4)], housekeeping=[8])
    entry = planned(result, "even")
    assert entry["topology"]["threads"] == 2
    assert all(c < 8 for pins in entry["vcpus"] for c in pins)


def test_pad_reserves_the_idle_siblings_and_reports_waste():
    result = P.plan(smt2(8), [guest("padded", 3, odd_vcpus="pad")], housekeeping=1)
    entry = planned(result, "padded")
    assert entry["topology"]["threads"] == 1 and entry["topology"]["cores"] == 3
    pins = [p[0] for p in entry["vcpus"]]
    assert entry["reserved"] == sorted(p + 8 for p in pins)
    report = result["guests"]["padded"]
    assert report["wasted"]["threads"] == 3 and report["wasted"]["cores"] == 1.5
    assert report["withheld"] == []


def test_pad_prefers_cores_it_fills_on_hybrid():
    cores = [[0, 1], [2, 3], [4, 5], [6, 7], [8], [9], [10], [11]]
    result = P.plan(facts_for(cores), [guest("odd", 3, odd_vcpus="pad")], housekeeping=[0, 1])
    assert planned(result, "odd")["vcpus"] == [[8], [9], [10]]
    assert result["guests"]["odd"]["wasted"]["threads"] == 0


def test_isolate_prefers_p_cores_on_hybrid():
    cores = [[0, 1], [2, 3], [4, 5], [6, 7], [8], [9], [10], [11]]
    result = P.plan(facts_for(cores), [guest("iso", 2, thread_policy="isolate")], housekeeping=[8])
    entry = planned(result, "iso")
    assert all(p[0] < 8 for p in entry["vcpus"]) and len(entry["reserved"]) == 2


def test_pad_on_smt4_uses_the_largest_divisor():
    cores = [[i * 4 + t for t in range(4)] for i in range(4)]
    result = P.plan(facts_for(cores), [guest("six", 6, odd_vcpus="pad")], housekeeping=[0, 1, 2, 3])
    entry = planned(result, "six")
    assert entry["topology"]["threads"] == 3 and entry["topology"]["cores"] == 2
    assert len(entry["reserved"]) == 2
    assert P.sibling_exact(P.parse_host(facts_for(cores)), entry["vcpus"], P.Topology(**entry["topology"]))


def test_withhold_leaves_siblings_to_others_and_withholds_the_statement():
    facts = smt2(4)
    result = P.plan(facts, [guest("w1", 3, odd_vcpus="withhold"), guest("w2", 3, odd_vcpus="withhold")],
                    housekeeping=[0, 4])
    one, two = planned(result, "w1"), planned(result, "w2")
    assert one["reserved"] == [] and two["reserved"] == []
    assert one["plan"]["core_sharing"] == "tolerant"
    assert cores_of(facts, [p[0] for p in one["vcpus"]]) == cores_of(facts, [p[0] for p in two["vcpus"]])
    statements = result["guests"]["w1"]["statements"]
    assert statements["no_nonarch_core_sharing"]["granted"] is False
    assert [r["code"] for r in statements["no_nonarch_core_sharing"]["reasons"]] == ["withheld_by_plan"]
    assert statements["accurate_topology"]["granted"] is True
    codes = {f["code"] for f in result["lint"]["planned"]}
    assert codes == {"guests_split"}


def test_isolate_reserves_every_other_thread_on_smt4():
    cores = [[i * 4 + t for t in range(4)] for i in range(4)]
    result = P.plan(facts_for(cores), [guest("iso", 2, thread_policy="isolate")], housekeeping=[0, 1, 2, 3])
    entry = planned(result, "iso")
    pins = [p[0] for p in entry["vcpus"]]
    assert len({c // 4 for c in pins}) == 2
    assert sorted(entry["reserved"] + pins) == sorted(t for c in {p // 4 for p in pins} for t in cores[c])
    assert result["guests"]["iso"]["wasted"]["threads"] == 6


def test_prefer_uses_whole_cores_when_it_can():
    result = P.plan(smt2(8), [guest("p", 4, thread_policy="prefer")], housekeeping=1)
    assert planned(result, "p")["topology"]["threads"] == 2
    assert result["guests"]["p"]["core_sharing"] == "exclusive"


def test_prefer_falls_back_to_threads_on_a_fragmented_host():
    facts = smt2(4)
    placed = {"schema": 1, "housekeeping": [0, 4], "guests": [
        {"name": "old1", "vcpus": [[1]], "topology": {"sockets": 1, "dies": 1, "cores": 1, "threads": 1},
         "emulator": [0, 4], "plan": {"core_sharing": "tolerant"}},
        {"name": "old2", "vcpus": [[2]], "topology": {"sockets": 1, "dies": 1, "cores": 1, "threads": 1},
         "emulator": [0, 4], "plan": {"core_sharing": "tolerant"}},
    ]}
    result = P.plan(facts, [guest("p", 3, thread_policy="prefer")], placement=placed)
    entry = planned(result, "p")
    # the leftover siblings of the tolerant guests first, then the free core
    assert entry["vcpus"] == [[5], [6], [3]]
    assert entry["topology"]["threads"] == 1
    assert result["guests"]["p"]["topology_consistent"] is True
    assert result["guests"]["p"]["core_sharing"] == "tolerant"


def test_share_floats_over_housekeeping_and_promises_nothing():
    result = P.plan(smt2(8), [guest("s", 2, thread_policy="share")], housekeeping=1)
    entry = planned(result, "s")
    assert entry["vcpus"] == [[0, 8], [0, 8]]
    assert result["guests"]["s"]["withheld"] == list(P.PLACEMENT_STATEMENTS)
    assert result["lint"]["planned"] == []


def test_share_without_housekeeping_is_an_error():
    with pytest.raises(PlanError, match="housekeeping CPUs"):
        P.plan(smt2(4), [guest("s", 2, thread_policy="share")], housekeeping=0)


def test_emulator_isolate_gets_its_own_core_never_a_sibling():
    facts = smt2(8)
    result = P.plan(facts, [guest("e", 4, emulator="isolate")], housekeeping=1)
    entry = planned(result, "e")
    vcpu_cores = cores_of(facts, [p[0] for p in entry["vcpus"]])
    emulator_cores = cores_of(facts, entry["emulator"])
    assert len(emulator_cores) == 1 and emulator_cores[0] not in vcpu_cores
    assert sorted(entry["emulator"]) == facts["cores"][emulator_cores[0]]["threads"]
    assert result["lint"]["planned"] == []


def test_emulator_isolate_prefers_an_e_core():
    cores = [[0, 1], [2, 3], [4, 5], [6, 7], [8], [9]]
    result = P.plan(facts_for(cores), [guest("e", 4, emulator="isolate")], housekeeping=[0, 1])
    assert len(planned(result, "e")["emulator"]) == 1


def test_smt8_host():
    cores = [[i * 8 + t for t in range(8)] for i in range(3)]
    result = P.plan(facts_for(cores), [guest("big", 16)], housekeeping=list(range(8)))
    entry = planned(result, "big")
    assert entry["topology"]["threads"] == 8 and entry["topology"]["cores"] == 2


# --------------------------------------------------------------------------- NUMA and hierarchy

def test_numa_node_is_respected():
    result = P.plan(smt2(8, nodes=2), [guest("n1", 2, numa=1)], housekeeping=1)
    entry = planned(result, "n1")
    assert all(4 <= p[0] % 8 < 8 for p in entry["vcpus"])
    assert entry["emulator"] == [4, 12]


def test_auto_spans_nodes_only_when_no_node_can_hold_the_guest():
    facts = smt2(8, nodes=2)
    result = P.plan(facts, [guest("wide", 12)], housekeeping=1)
    assert result["guests"]["wide"]["numa_nodes"] == [0, 1]
    result = P.plan(facts, [guest("narrow", 6)], housekeeping=1)
    assert len(result["guests"]["narrow"]["numa_nodes"]) == 1


def test_single_never_spans():
    result = P.plan(smt2(8, nodes=2), [guest("wide", 12, numa="single")], housekeeping=1)
    assert result["unplaced"] == ["wide"]
    assert result["guests"]["wide"]["reasons"][-1]["code"] == "no_room"


def test_best_fit_node_leaves_room_for_the_next_guest():
    # node 0 has 3 free cores, node 1 has 2: first-fit would put the small guest
    # in node 0 and strand the big one.
    facts = facts_for([[i, i + 12] for i in range(12)], nodes=[0] * 6 + [1] * 6)
    blockers = {"schema": 1, "housekeeping": [0, 12, 6, 18], "guests": [
        {"name": "x%d" % c, "vcpus": [[c], [c + 12]], "topology": {"sockets": 1, "dies": 1, "cores": 1, "threads": 2},
         "emulator": [0, 12]} for c in (1, 2, 7, 8, 9)]}
    result = P.plan(facts, [guest("small", 4, numa="single"), guest("big", 6, numa="single")], placement=blockers)
    assert result["unplaced"] == []
    assert result["guests"]["small"]["numa_nodes"] == [1]
    assert result["guests"]["big"]["numa_nodes"] == [0]


def test_cache_group_best_fit():
    # one node, three LLC groups of 4 cores; group 1 has exactly 2 free cores
    facts = facts_for([[i, i + 12] for i in range(12)], llc=[i // 4 for i in range(12)])
    blockers = {"schema": 1, "housekeeping": [0, 12], "guests": [
        {"name": "x", "vcpus": [[4], [16], [5], [17]], "topology": {"sockets": 1, "dies": 1, "cores": 2, "threads": 2},
         "emulator": [0, 12]}]}
    result = P.plan(facts, [guest("g", 4)], placement=blockers)
    assert sorted(p[0] for p in planned(result, "g")["vcpus"]) == [6, 7, 18, 19]


def test_whole_cache_groups_are_taken_first():
    facts = facts_for([[i, i + 12] for i in range(12)], llc=[i // 4 for i in range(12)])
    result = P.plan(facts, [guest("g", 10)], housekeeping=[0, 12])
    cores = cores_of(facts, [p[0] for p in planned(result, "g")["vcpus"]])
    assert {4, 5, 6, 7} <= set(cores) or {8, 9, 10, 11} <= set(cores)


def test_exact_search_places_more_than_arrival_order():
    # 3 free cores: arrival order would place the 4-vCPU guest... and then not
    # the two 2-vCPU ones; the search places the most guests.
    facts = smt2(4)
    result = P.plan(facts, [guest("a", 6), guest("b", 2), guest("c", 2), guest("d", 2)], housekeeping=1)
    assert sorted(result["placed"]) == ["b", "c", "d"]
    assert result["search"] == "exact"
    assert result["guests"]["a"]["reasons"][-1]["code"] == "crowded_out"


def test_search_budget_falls_back_to_greedy_and_stays_valid():
    result = P.plan(smt2(16, nodes=2), [guest("g%d" % i, 2) for i in range(10)], housekeeping=1, search_budget=1)
    assert result["search"].startswith("greedy")
    assert P.check_plan(smt2(16, nodes=2), result["placement"]) == []


# --------------------------------------------------------------------------- placed guests

def test_placed_guests_are_never_changed_nor_shared_with():
    facts = smt2(8)
    current = {"schema": 1, "housekeeping": [0, 8], "guests": [
        {"name": "old", "uuid": "u-1", "state": "running", "vcpus": [[1], [2]],
         "topology": {"sockets": 1, "dies": 1, "clusters": 1, "cores": 2, "threads": 1},
         "emulator": [0, 8], "iothreads": [], "migration_domain": None, "source": "live"}]}
    before = copy.deepcopy(current)
    result = P.plan(facts, [guest("new", 4)], placement=current)
    assert current == before
    assert result["placement"]["guests"][0] == before["guests"][0]
    pins = {p[0] for p in planned(result, "new")["vcpus"]}
    assert pins.isdisjoint({1, 2, 9, 10})  # not even the idle siblings of "old"


def test_reserved_siblings_of_a_placed_guest_stay_reserved():
    facts = smt2(4)
    current = {"schema": 1, "housekeeping": [0, 4], "guests": [
        {"name": "iso", "vcpus": [[1]], "topology": {"sockets": 1, "dies": 1, "cores": 1, "threads": 1},
         "emulator": [0, 4], "reserved": [5], "plan": {"core_sharing": "exclusive"}}]}
    result = P.plan(facts, [guest("w", 1, thread_policy="prefer")], placement=current)
    assert planned(result, "w")["vcpus"][0][0] not in (1, 5)


def test_a_placed_guest_without_emulator_pin_floats_it_over_every_online_cpu():
    """libvirt's default (docs/placement.md): no core is free of that emulator, and the planner says why."""
    facts = smt2(4)
    current = {"schema": 1, "housekeeping": [0, 4], "guests": [
        {"name": "old", "vcpus": [[1], [5]], "topology": {"sockets": 1, "dies": 1, "cores": 1, "threads": 2}}]}
    result = P.plan(facts, [guest("new", 2)], placement=current)
    assert result["unplaced"] == ["new"]
    codes = [r["code"] for r in result["guests"]["new"]["reasons"]]
    assert codes == ["no_room", "emulator_floating"]
    assert "guest old has no emulator pin" in result["guests"]["new"]["reasons"][1]["message"]
    # Its <vcpu cpuset> keeps the emulator there, so the other cores are free again.
    current["guests"][0]["vcpu_cpuset"] = [0, 4]
    result = P.plan(facts, [guest("new", 2)], placement=current)
    assert result["placed"] == ["new"]


def test_a_guest_name_already_placed_is_an_error():
    current = {"schema": 1, "housekeeping": [0, 4], "guests": [{"name": "a", "vcpus": [[1]]}]}
    with pytest.raises(PlanError, match="not placed yet"):
        P.plan(smt2(4), [guest("a", 2)], placement=current)


# --------------------------------------------------------------------------- housekeeping

def test_housekeeping_whole_cores_per_node():
    result = P.plan(smt2(8, nodes=2), [], housekeeping=1)
    assert result["placement"]["housekeeping"] == [0, 4, 8, 12]


def test_housekeeping_prefers_e_cores():
    cores = [[0, 1], [2, 3], [4], [5]]
    result = P.plan(facts_for(cores), [], housekeeping=1)
    assert result["placement"]["housekeeping"] == [4]


def test_housekeeping_cpulist_and_mapping():
    facts = smt2(8, nodes=2)
    assert P.plan(facts, [], housekeeping="0,8")["placement"]["housekeeping"] == [0, 8]
    assert P.plan(facts, [], housekeeping={"1": 1})["placement"]["housekeeping"] == [4, 12]
    assert P.plan(facts, [], housekeeping={0: "0,8", 1: 1})["placement"]["housekeeping"] == [0, 4, 8, 12]


def test_housekeeping_from_the_current_placement():
    current = {"schema": 1, "housekeeping": [3, 7], "guests": []}
    assert P.plan(smt2(4), [], placement=current)["placement"]["housekeeping"] == [3, 7]


@pytest.mark.parametrize("spec, match", [
    (None, "a number of whole cores per NUMA node"),
    (-1, "whole cores"),
    ("0-3,x", "kernel cpulist"),
    ("99", "CPUs below 16"),
    ({5: 1}, "NUMA node of this host"),
    ({1: "0"}, "CPUs of NUMA node 1"),
    (9, "at most 4 whole cores"),
])
def test_housekeeping_errors(spec, match):
    with pytest.raises(PlanError, match=match):
        P.plan(smt2(8, nodes=2), [], housekeeping=spec)


def test_housekeeping_refuses_cpus_of_a_placed_guest():
    current = {"schema": 1, "housekeeping": [0, 4], "guests": [{"name": "a", "vcpus": [[1]]}]}
    with pytest.raises(PlanError, match="guest a uses 1"):
        P.plan(smt2(4), [], housekeeping="0-1", placement=current)


def test_counted_housekeeping_skips_cores_of_placed_guests():
    current = {"schema": 1, "guests": [{"name": "a", "vcpus": [[0]], "emulator": [0]}]}
    result = P.plan(smt2(4), [], housekeeping=1, placement=current)
    assert result["placement"]["housekeeping"] == [1, 5]


# --------------------------------------------------------------------------- input validation

@pytest.mark.parametrize("guests, match", [
    ("db", "a list of guests"),
    ([{"name": "a", "vcpus": 2, "thread-policy": "x"}], "only the keys"),
    ([{"name": "a", "vcpus": 0}], r"guests\[0\].vcpus: got 0"),
    ([{"name": "a", "vcpus": True}], "an integer"),
    ([{"name": "a", "vcpus": "2"}], "an integer"),
    ([{"name": "a/b", "vcpus": 2}], "libvirt"),
    ([{"name": "", "vcpus": 2}], "libvirt"),
    ([{"name": "a", "vcpus": 2, "thread_policy": "always"}], "one of require, isolate, prefer, share"),
    ([{"name": "a", "vcpus": 2, "odd_vcpus": "round"}], "one of reject, pad, withhold"),
    ([{"name": "a", "vcpus": 2, "emulator": "dedicated"}], "one of share, isolate"),
    ([{"name": "a", "vcpus": 2, "numa": 7}], "NUMA node of this host"),
    ([{"name": "a", "vcpus": 2, "numa": "near"}], "'auto', 'single'"),
    ([{"name": "a", "vcpus": 2}, {"name": "a", "vcpus": 2}], "a name no other guest"),
    (["a"], r"guests\[0\]: got 'a'"),
])
def test_request_errors(guests, match):
    with pytest.raises(PlanError, match=match):
        P.plan(smt2(4), guests, housekeeping=1)


def test_numa_node_as_text_is_accepted():
    result = P.plan(smt2(8, nodes=2), [guest("a", 2, numa="1")], housekeeping=1)
    assert result["guests"]["a"]["numa_nodes"] == [1]


@pytest.mark.parametrize("placement, match", [
    ({"schema": 2}, "schema 1"),
    ({"guests": {}}, "a list of guests"),
    ({"guests": [{"name": "a"}]}, r"guests\[0\].vcpus"),
    ({"guests": [{"name": "a", "vcpus": [[1, "x"]]}]}, "CPU ids"),
    ({"guests": [{"name": "a", "vcpus": ["1-x"]}]}, "libvirt cpuset"),
    ({"guests": [{"name": "a", "vcpus": [[77]]}]}, "CPUs of this host"),
    ({"guests": [{"name": "a", "vcpus": [[1]]}, {"name": "a", "vcpus": [[2]]}]}, "a name no other guest has"),
    ({"guests": [{"name": "a", "vcpus": [[1]], "topology": {"sockets": 0, "cores": 1, "threads": 1}}]},
     "sockets: got 0"),
    ({"housekeeping": "0-x"}, "housekeeping"),
])
def test_placement_errors(placement, match):
    with pytest.raises(PlanError, match=match):
        P.plan(smt2(4), [], housekeeping=1, placement=placement)


def test_libvirt_cpuset_text_in_a_placement():
    current = {"guests": [{"name": "a", "vcpus": ["1", "2"], "emulator": "0-3,^1,^2"}], "housekeeping": "0,4"}
    result = P.plan(smt2(4), [], placement=current)
    assert result["placement"]["housekeeping"] == [0, 4]


@pytest.mark.parametrize("mutate, match", [
    (lambda f: f.update(cores=[]), "non-empty list of physical cores"),
    (lambda f: f["cores"][1].update(threads=[0, 5]), "CPUs of no other core"),
    (lambda f: f["cores"][0].update(threads=[]), "non-empty list"),
    (lambda f: f["cores"][0].update(threads=[0, -4]), "non-negative"),
    (lambda f: f["cpus"].update(online=[0, 1]), "exactly the CPUs of hvfleet_smt.cores"),
    (lambda f: f.update(numa_nodes=[{"id": 0, "cpus": [0, 1, 2, 3]}, {"id": 1, "cpus": [4, 5, 6, 7]}]),
     "siblings in one NUMA node"),
    (lambda f: f.update(numa_nodes=[{"id": 0, "cpus": [0, 4]}]), "a NUMA node for every online CPU"),
    (lambda f: f.update(llc_groups=[[0, 1, 2, 3], [4, 5, 6, 7]]), "siblings in one last-level-cache group"),
    (lambda f: f.update(cpus="0-3"), "a mapping of CPU lists"),
])
def test_facts_errors(mutate, match):
    facts = smt2(4)
    mutate(facts)
    with pytest.raises(PlanError, match=match):
        P.plan(facts, [], housekeeping=1)


def test_facts_under_their_fact_name_are_accepted():
    result = P.plan({"hvfleet_smt": smt2(4)}, [guest("a", 2)], housekeeping=1,
                    placement={"hvfleet_placement": {"schema": 1, "guests": []}})
    assert result["placed"] == ["a"]


# --------------------------------------------------------------------------- lint

def test_lint_reports_every_kind_of_split_with_the_guests():
    facts = facts_for([[0, 4], [1, 5], [2, 6], [3, 7]], isolated=[1, 2, 6, 3, 7], nohz_full=[2, 3, 7])
    current = {"schema": 1, "housekeeping": [0, 5], "guests": [
        {"name": "a", "vcpus": [[1]], "emulator": [0]},
        {"name": "b", "vcpus": [[2]], "emulator": [6]},
        {"name": "c", "vcpus": [[3]], "emulator": [0]},
        {"name": "d", "vcpus": [[7]], "emulator": [0]},
    ]}
    found = {(f["code"], tuple(f["core"]["threads"])): f["guests"] for f in P.lint(facts, current)}
    assert found == {
        ("housekeeping_split", (1, 5)): ["a"],
        ("isolcpus_split", (1, 5)): ["a"],
        ("emulator_on_vcpu_core", (2, 6)): ["b"],
        ("nohz_full_split", (2, 6)): ["b"],
        ("guests_split", (3, 7)): ["c", "d"],
    }


def test_lint_message_names_the_core_and_pools():
    facts = smt2(4)
    current = {"schema": 1, "housekeeping": [0], "guests": [{"name": "a", "vcpus": [[4]], "emulator": [0]}]}
    (finding,) = P.lint(facts, current)
    assert finding["code"] == "housekeeping_split"
    assert "CPUs 0,4" in finding["message"] and "guest a on 4" in finding["message"]
    assert finding["pools"] == {"housekeeping": [0], "guest a": [4]}


def test_lint_of_unpinned_emulator():
    facts = smt2(4)
    current = {"schema": 1, "housekeeping": [0, 4], "guests": [{"name": "a", "vcpus": [[1], [5]]}]}
    assert [f["code"] for f in P.lint(facts, current)] == ["emulator_on_vcpu_core"]


def test_lint_of_a_clean_plan_is_empty():
    facts = smt2(8)
    result = P.plan(facts, [guest("a", 4), guest("b", 2, thread_policy="isolate"), guest("c", 2, emulator="isolate")],
                    housekeeping=1)
    assert result["unplaced"] == []
    assert result["lint"]["planned"] == []
    assert P.lint(facts, result["placement"]) == []


# --------------------------------------------------------------------------- defrag

def fragmented():
    """Two guests that accept sharing, each on one thread of two cores: four cores half used, one free."""
    facts = smt2(6)
    topology = {"sockets": 1, "dies": 1, "cores": 2, "threads": 1}
    current = {"schema": 1, "housekeeping": [0, 6], "guests": [
        {"name": "f1", "vcpus": [[1], [2]], "topology": topology, "emulator": [0, 6],
         "plan": {"core_sharing": "tolerant"}},
        {"name": "f2", "vcpus": [[9], [10]], "topology": topology, "emulator": [0, 6],
         "plan": {"core_sharing": "tolerant"}},
    ]}
    return facts, current


def test_without_defrag_nothing_moves():
    facts, current = fragmented()
    result = P.plan(facts, [guest("new", 4)], placement=current)
    assert result["unplaced"] == ["new"] and result["moves"] == []
    assert result["placement"]["guests"][:2] == current["guests"]


def test_defrag_moves_the_fewest_guests_to_fit_the_batch():
    facts, current = fragmented()
    result = P.plan(facts, [guest("new", 4)], placement=current, defrag=True)
    assert result["unplaced"] == [] and result["placed"] == ["new"]
    assert len(result["moves"]) == 1
    moved = result["moves"][0]["guest"]
    entry = planned(result, moved)
    assert entry["topology"] == next(g for g in current["guests"] if g["name"] == moved)["topology"]
    assert result["guests"][moved]["moved"] is True
    assert result["moves"][0]["restart_needed"] is False
    assert P.check_plan(facts, result["placement"]) == []


def test_defrag_without_a_batch_frees_whole_cores():
    facts, current = fragmented()
    result = P.plan(facts, [], placement=current, defrag=True)
    assert len(result["moves"]) >= 1
    host = P.parse_host(facts)
    used = {c for g in result["placement"]["guests"] for pins in g["vcpus"] for c in pins}
    used |= {c for g in result["placement"]["guests"] for c in g.get("reserved", [])}
    free_cores = [c for c in host.cores if not used.intersection(c.threads) and 0 not in c.threads]
    assert len(free_cores) >= 1


# --------------------------------------------------------------------------- statements and checks

def test_statements_come_from_the_hint_engine(monkeypatch):
    monkeypatch.setattr(P, "engine_statements", REAL_ENGINE)
    result = P.plan(smt2(8), [guest("db", 4), guest("iso", 2, thread_policy="isolate")], housekeeping=1)
    assert result["statements_source"] == "hints.decide_host"
    for name in ("db", "iso"):
        statements = result["guests"][name]["statements"]
        assert {k: statements[k]["granted"] for k in P.STATEMENTS} == {
            "no_smt": False, "accurate_topology": True, "no_nonarch_core_sharing": True, "dedicated": True}


def test_engine_call_site_is_single_and_withholding_only_takes_away(granting_engine):
    result = P.plan(smt2(4), [guest("w", 3, odd_vcpus="withhold")], housekeeping=1)
    assert len(granting_engine) == 1 and granting_engine[0] == result["placement"]
    statements = result["guests"]["w"]["statements"]
    assert statements["no_nonarch_core_sharing"]["granted"] is False
    assert statements["dedicated"]["granted"] is True


def test_without_the_engine_statements_are_null(monkeypatch):
    monkeypatch.setattr(P, "engine_statements", lambda facts, placement: (None, "unavailable: test"))
    result = P.plan(smt2(4), [guest("a", 2)], housekeeping=1)
    assert result["guests"]["a"]["statements"] is None
    assert result["statements_source"] == "unavailable: test"


def test_check_plan_finds_what_is_wrong():
    facts = smt2(4)
    broken = {"schema": 1, "housekeeping": [0, 4], "guests": [
        {"name": "a", "vcpus": [[1], [1]], "topology": {"sockets": 1, "dies": 1, "cores": 1, "threads": 1},
         "source": "plan", "emulator": [0], "reserved": [5]},
        {"name": "b", "vcpus": [[5]], "source": "plan", "emulator": [0], "reserved": []},
        {"name": "c", "vcpus": [[0]], "source": "plan", "emulator": [0], "reserved": []},
    ]}
    problems = " | ".join(P.check_plan(facts, broken))
    assert "topology" in problems
    assert "pins two vCPUs to one CPU" in problems
    assert "CPU 5 is given to both a and b" in problems
    assert "guest c is pinned to housekeeping CPUs 0" in problems
