# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan, the QEMU arguments and the CPUID table: only granted statements reach a guest."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.hvfleet.smt.plugins.module_utils import cpuid
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import HvfleetError, RenderError

NAMES = cpuid.STATEMENT_NAMES
FLAT = {"sockets": 1, "dies": 1, "cores": 2, "threads": 1}


def engine(granted=(), reasons=None):
    """Statements as the hint engine returns them; denied ones carry a reason."""
    data = {}
    for name in NAMES:
        if name in granted:
            data[name] = {"granted": True, "reasons": []}
        else:
            data[name] = {"granted": False, "reasons": (reasons or {}).get(
                name, [{"code": "sibling_shared", "message": "vCPU 0 shares core 3 with db-2"}])}
    return data


def plan(granted=(), topology=None, **kwargs):
    return cpuid.plan_cpuid(cpuid.statements_from_data(engine(granted)),
                            cpuid.topology_from_data(topology or FLAT), **kwargs)


def row(rows, leaf, register, low):
    found = [r for r in rows if r.leaf == leaf and r.register == register and r.low == low]
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- input


class TestStatementsInput:
    def test_absent_statement_is_denied_with_a_reason(self):
        statements = cpuid.statements_from_data({"dedicated": {"granted": True, "reasons": []}})
        assert statements.dedicated.granted is True
        assert statements.no_smt.granted is False
        assert [r.code for r in statements.no_smt.reasons] == ["statement_missing"]

    def test_non_statement_keys_are_ignored(self):
        data = engine(("dedicated",))
        data.update(host="hv1", timestamp="2026-11-25T05:00:00Z")
        assert cpuid.statements_from_data(data).dedicated.granted is True

    @pytest.mark.parametrize("value", ["true", "false", 1, 0, None, [True]])
    def test_granted_must_be_a_real_boolean(self, value):
        data = engine()
        data["dedicated"] = {"granted": value, "reasons": []}
        if value is None:
            data["dedicated"] = {"reasons": []}
        with pytest.raises(RenderError, match=r"statements\.dedicated\.granted: expected true or false"):
            cpuid.statements_from_data(data)

    @pytest.mark.parametrize("reasons, match", [
        ("sibling_shared", r"reasons: expected a list"),
        (["sibling_shared"], r"reasons\[0\]: expected \{code, message\}"),
        ([{"code": "Sibling Shared"}], r"reasons\[0\]\.code: expected a reason code"),
        ([{"code": "x" * 65}], r"reasons\[0\]\.code"),
        ([{"code": "ok", "message": 3}], r"reasons\[0\]\.message: expected a string"),
    ])
    def test_malformed_reasons_name_the_place(self, reasons, match):
        data = engine()
        data["no_smt"] = {"granted": False, "reasons": reasons}
        with pytest.raises(RenderError, match=match):
            cpuid.statements_from_data(data)

    def test_not_a_mapping(self):
        with pytest.raises(RenderError, match="guest db-1: expected a mapping"):
            cpuid.statements_from_data(["dedicated"], source="guest db-1")

    def test_render_error_is_an_hvfleet_error(self):
        assert issubclass(RenderError, HvfleetError)


class TestTopologyInput:
    def test_dies_and_clusters_default_to_one(self):
        topology = cpuid.topology_from_data({"sockets": 2, "cores": 4, "threads": 2})
        assert (topology.dies, topology.clusters, topology.vcpus) == (1, 1, 16)

    @pytest.mark.parametrize("key, value", [
        ("cores", 0), ("threads", -1), ("sockets", "2"), ("dies", True), ("cores", None)])
    def test_rejects_non_positive_integers(self, key, value):
        data = dict(FLAT)
        data[key] = value
        with pytest.raises(RenderError, match=r"topology\.%s: expected a positive integer" % key):
            cpuid.topology_from_data(data)

    def test_x86_has_no_clusters(self):
        with pytest.raises(RenderError, match="clusters must be 1, got 2"):
            plan(topology=dict(FLAT, clusters=2))


class TestVersions:
    @pytest.mark.parametrize("text, expected", [
        ("7.2.22", (7, 2, 22)), ("9.0", (9, 0)), ("10.1.0 (Debian 10.1.0-1)", (10, 1, 0)),
        ([6, 1], (6, 1)), ((5, 7, 0), (5, 7, 0))])
    def test_parses(self, text, expected):
        assert cpuid.version_tuple(text, "QEMU") == expected

    @pytest.mark.parametrize("text", ["", "seven", None, [], [7, "2"], 7.2, [True]])
    def test_rejects(self, text):
        with pytest.raises(RenderError, match="QEMU version: expected MAJOR.MINOR"):
            cpuid.version_tuple(text, "QEMU")


# ---------------------------------------------------------------- the plan


class TestPlan:
    def test_default_emits_granted_cpuid_statements_only(self):
        settings = plan(("dedicated", "no_smt"))
        assert settings.delivered == ("dedicated",)
        assert settings.hint_dedicated and not settings.hv_no_nonarch_coresharing

    def test_nothing_granted_emits_nothing(self):
        settings = plan()
        assert settings.delivered == ()

    def test_nonarch_needs_the_hyperv_opt_in_by_default(self):
        assert plan(("no_nonarch_core_sharing",)).delivered == ()
        assert plan(("no_nonarch_core_sharing",), hyperv=True).delivered == (
            "no_nonarch_core_sharing",)

    def test_requesting_a_denied_statement_raises_with_the_engine_reasons(self):
        statements = cpuid.statements_from_data(engine(
            reasons={"dedicated": [{"code": "foreign_user", "message": "emulator on CPU 5"}]}))
        with pytest.raises(RenderError) as error:
            cpuid.plan_cpuid(statements, cpuid.topology_from_data(FLAT), request=["dedicated"])
        assert error.value.statement == "dedicated"
        assert error.value.reasons == (("foreign_user", "emulator on CPU 5"),)
        assert "refusing to emit dedicated" in str(error.value)
        assert "foreign_user" in str(error.value)

    def test_requesting_nonarch_without_hyperv_raises(self):
        with pytest.raises(RenderError, match="opt in to Hyper-V"):
            plan(("no_nonarch_core_sharing",), request=["no_nonarch_core_sharing"])

    @pytest.mark.parametrize("name", ["no_smt", "accurate_topology"])
    def test_statements_without_a_cpuid_channel_cannot_be_requested(self, name):
        with pytest.raises(RenderError, match="%s has no CPUID channel" % name):
            plan(NAMES, request=[name])

    def test_unknown_statement_in_request(self):
        with pytest.raises(RenderError, match="no CPUID channel"):
            plan(NAMES, request=["trustworthy_smt"])

    def test_the_gate_itself_refuses(self):
        denied = cpuid.Statement("dedicated", False, (cpuid.Reason("foreign_user", "m"),))
        with pytest.raises(RenderError, match=r"refusing to emit dedicated: .*\(foreign_user\)"):
            cpuid.require_granted(denied)
        cpuid.require_granted(cpuid.Statement("dedicated", True, ()))

    @pytest.mark.parametrize("vendor", ["AMD", "intel", ""])
    def test_vendor_vocabulary(self, vendor):
        with pytest.raises(RenderError, match="vendor: expected one of GenuineIntel, AuthenticAMD"):
            plan(vendor=vendor)

    def test_hyperv_must_be_boolean(self):
        with pytest.raises(RenderError, match="hyperv: expected true or false"):
            plan(hyperv="yes")


@given(granted=st.sets(st.sampled_from(NAMES)),
       request=st.one_of(st.none(), st.lists(st.sampled_from(NAMES + ("bogus",)), max_size=4)),
       hyperv=st.booleans())
def test_no_path_from_a_denied_statement_to_any_rendering(granted, request, hyperv):
    """Whatever is asked, a denied statement never appears in arguments, XML or table."""
    try:
        settings = plan(tuple(granted), request=request, hyperv=hyperv,
                        vendor="AuthenticAMD")
    except RenderError:
        assert request is not None
        return
    assert set(settings.delivered) <= granted
    arguments = " ".join(cpuid.qemu_arguments(settings, "7.2.0"))
    changes = cpuid.libvirt_changes(settings, "10.1.0")
    table = cpuid.cpuid_table(settings)
    dedicated = "dedicated" in granted
    nonarch = "no_nonarch_core_sharing" in granted
    if not dedicated:
        assert "kvm-hint-dedicated" not in arguments and not changes.hint_dedicated
        assert all(r.value == 0 for r in table if r.cause == "dedicated")
    if not nonarch:
        assert "nonarch" not in arguments and not changes.qemu_args
        assert all(r.value == 0 for r in table if r.cause == "no_nonarch_core_sharing")
    if request is None:
        assert settings.hint_dedicated == dedicated
        assert settings.hv_no_nonarch_coresharing == (nonarch and hyperv)


# ---------------------------------------------------------------- QEMU


class TestQemuArguments:
    def test_dedicated_granted(self):
        assert cpuid.qemu_arguments(plan(("dedicated",)), "7.2.22",
                                    extra_cpu_flags=["-arch-capabilities"]) == [
            "-smp", "2,sockets=1,dies=1,cores=2,threads=1",
            "-cpu", "host,-arch-capabilities,kvm-hint-dedicated=on,enforce"]

    def test_hyperv_guest_gets_the_minimal_enlightenment_and_the_bit(self):
        arguments = cpuid.qemu_arguments(plan(("no_nonarch_core_sharing",), hyperv=True), "7.2")
        assert arguments[3] == "host,hv-relaxed=on,hv-no-nonarch-coresharing=on,enforce"

    def test_hyperv_guest_without_the_statement_keeps_the_leaf_layout(self):
        arguments = cpuid.qemu_arguments(plan(hyperv=True), "7.2")
        assert arguments[3] == "host,hv-relaxed=on,enforce"

    def test_amd_smt_guest_gets_topoext(self):
        settings = plan(topology={"sockets": 1, "cores": 2, "threads": 2}, vendor="AuthenticAMD")
        assert "topoext=on" in cpuid.qemu_arguments(settings, "7.2")[3].split(",")
        intel = plan(topology={"sockets": 1, "cores": 2, "threads": 2}, vendor="GenuineIntel")
        assert "topoext" not in cpuid.qemu_arguments(intel, "7.2")[3]

    def test_enforce_can_be_dropped(self):
        assert cpuid.qemu_arguments(plan(), "7.2", enforce=False)[3] == "host"

    def test_smp_omits_dies_before_qemu_4_1(self):
        assert cpuid.qemu_arguments(plan(), "4.0.0")[1] == "2,sockets=1,cores=2,threads=1"
        with pytest.raises(RenderError, match=r"topology.dies=2 needs QEMU 4.1 or later, the target has 4.0"):
            cpuid.qemu_arguments(plan(topology=dict(FLAT, dies=2)), "4.0")

    def test_version_floors(self):
        with pytest.raises(RenderError, match="kvm-hint-dedicated needs QEMU 2.12"):
            cpuid.qemu_arguments(plan(("dedicated",)), "2.11.0")
        with pytest.raises(RenderError, match="hv-no-nonarch-coresharing needs QEMU 4.2"):
            cpuid.qemu_arguments(plan(("no_nonarch_core_sharing",), hyperv=True), "4.1.1")

    @pytest.mark.parametrize("flag", ["a,b", "vendor=Genuine,Intel", "", " pmu=off", "x;y"])
    def test_extra_flags_cannot_smuggle_options(self, flag):
        with pytest.raises(RenderError, match="extra_cpu_flags"):
            cpuid.qemu_arguments(plan(), "7.2", extra_cpu_flags=[flag])

    @pytest.mark.parametrize("model", ["host,kvm=off", "-host", ""])
    def test_cpu_model_is_a_name(self, model):
        with pytest.raises(RenderError, match="cpu_model"):
            cpuid.qemu_arguments(plan(), "7.2", cpu_model=model)


# ---------------------------------------------------------------- CPUID table


class TestCpuidTable:
    def test_hint_bit_follows_the_grant(self):
        assert row(cpuid.cpuid_table(plan(("dedicated",))), 0x40000001, "edx", 0).value == 1
        assert row(cpuid.cpuid_table(plan()), 0x40000001, "edx", 0).value == 0

    def test_hyperv_moves_kvm_leaves_and_adds_hyperv_rows(self):
        rows = cpuid.cpuid_table(plan(("dedicated", "no_nonarch_core_sharing"), hyperv=True))
        assert row(rows, 0x40000101, "edx", 0).value == 1
        assert not [r for r in rows if r.leaf == 0x40000001 and r.register == "edx"]
        assert row(rows, 0x40000004, "eax", 18).value == 1
        assert row(rows, 0x40000004, "eax", 5).value == 1
        assert row(rows, 0x40000000, "ebx", 0).value == cpuid.HYPERV_SIGNATURE[0]
        assert row(rows, 0x40000100, "ebx", 0).value == cpuid.KVM_SIGNATURE[0]

    def test_nonarch_row_is_zero_when_not_granted(self):
        rows = cpuid.cpuid_table(plan(hyperv=True))
        assert row(rows, 0x40000004, "eax", 18).value == 0

    def test_no_hyperv_rows_without_hyperv(self):
        rows = cpuid.cpuid_table(plan(NAMES))
        assert not [r for r in rows if r.cause in ("hyperv", "no_nonarch_core_sharing")]

    @pytest.mark.parametrize("granted", [(), NAMES])
    @pytest.mark.parametrize("hyperv", [False, True])
    def test_never_the_unmerged_2019_kvm_bits(self, granted, hyperv):
        """Feature bit 14 is ASYNC_PF_INT; hint bits above 0 do not exist."""
        settings = plan(granted, hyperv=hyperv)
        kvm_features = [r for r in cpuid.cpuid_table(settings) if r.leaf == settings.kvm_base + 1]
        assert [(r.register, r.high, r.low) for r in kvm_features] == [("edx", 0, 0)]

    def test_topology_rows_follow_qemu_7_2(self):
        rows = cpuid.cpuid_table(plan(topology={"sockets": 1, "dies": 2, "cores": 3, "threads": 2},
                                      vendor="GenuineIntel"))
        values = {(r.leaf, r.subleaf, r.register, r.low): r.value for r in rows}
        assert values[(0x1, None, "ebx", 16)] == 6  # one die, as QEMU 7.2 counts
        assert values[(0xB, 0, "eax", 0)] == 1 and values[(0xB, 0, "ebx", 0)] == 2
        assert values[(0xB, 1, "eax", 0)] == 4 and values[(0xB, 1, "ebx", 0)] == 6
        assert values[(0x1F, 1, "eax", 0)] == 3 and values[(0x1F, 2, "ebx", 0)] == 12
        assert values[(0x1F, 2, "ecx", 8)] == 5
        assert values[(0x4, 0, "eax", 26)] == 2
        assert not [r for r in rows if r.vendor == "AuthenticAMD"]

    def test_no_0x1f_with_one_die(self):
        rows = cpuid.cpuid_table(plan(topology={"sockets": 2, "cores": 2, "threads": 2}))
        assert not [r for r in rows if r.leaf == 0x1F]

    def test_unknown_vendor_lists_both_tagged(self):
        rows = cpuid.cpuid_table(plan())
        assert {r.vendor for r in rows} == {None, "GenuineIntel", "AuthenticAMD"}

    def test_topoext_row_for_amd_smt(self):
        rows = cpuid.cpuid_table(plan(topology={"sockets": 1, "cores": 2, "threads": 2},
                                      vendor="AuthenticAMD"))
        assert row(rows, 0x80000001, "ecx", 22).value == 1
        assert row(rows, 0x8000001E, "ebx", 8).value == 1

    @given(threads=st.integers(1, 4), cores=st.integers(1, 16), dies=st.integers(1, 4))
    def test_values_fit_their_fields(self, threads, cores, dies):
        topology = {"sockets": 1, "dies": dies, "cores": cores, "threads": threads}
        for r in cpuid.cpuid_table(plan(NAMES, topology=topology, hyperv=True)):
            assert 0 <= r.value < (1 << (r.high - r.low + 1)), r
            assert r.extract(r.value << r.low) == r.value

    def test_to_dict_and_text(self):
        rows = cpuid.cpuid_table(plan(("dedicated",), vendor="AuthenticAMD"))
        hint = row(rows, 0x40000001, "edx", 0).to_dict()
        assert hint == {"leaf": "0x40000001", "subleaf": None, "register": "edx", "bits": "0",
                        "value": 1, "meaning": hint["meaning"], "cause": "dedicated",
                        "vendor": None, "condition": ""}
        assert row(rows, 0x1, "ebx", 16).to_dict()["bits"] == "23:16"
        text = cpuid.format_table(rows)
        assert "0x40000001 -    edx 0     0x1        dedicated" in text
        assert len(text.splitlines()) == len(rows) + 1


def test_every_combination_renders():
    """All 16 grant combinations x hyperv x vendor produce consistent output without errors."""
    for count in range(len(NAMES) + 1):
        for granted in itertools.combinations(NAMES, count):
            for hyperv, vendor in itertools.product((False, True), (None,) + cpuid.VENDORS):
                settings = plan(granted, hyperv=hyperv, vendor=vendor)
                cpuid.qemu_arguments(settings, "7.2")
                cpuid.libvirt_changes(settings, "9.0.0")
                assert cpuid.cpuid_table(settings)
