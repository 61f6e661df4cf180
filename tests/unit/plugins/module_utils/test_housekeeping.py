"""The housekeeping set from isolcpus, cgroup cpusets and systemd AllowedCPUs= drop-ins."""

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils.errors import FactsError
from ansible_collections.hvfleet.smt.plugins.module_utils.housekeeping import (
    UnitBound,
    cgroup_candidates,
    dropin_order,
    housekeeping,
    parse_systemd_cpu_set,
    unit_file_candidates,
    unit_from_cgroup,
    unit_from_systemd_files,
    unit_unbound,
    unit_without_cpuset,
)

ONLINE = list(range(8))


def bound(unit, cpus):
    return UnitBound(unit, tuple(cpus), "test")


def all_bound(cpus):
    return [bound(u, cpus) for u in ("system.slice", "user.slice", "init.scope")]


def test_an_unbound_unit_makes_every_online_cpu_housekeeping():
    units = all_bound([0, 1])[:2] + [unit_unbound("init.scope")]
    result = housekeeping(ONLINE, isolated=[2, 3, 4, 5, 6, 7], units=units)
    assert result.cpus == tuple(ONLINE)
    assert "init.scope" in result.source and "not bound" in result.source


def test_isolcpus_and_bound_slices_leave_only_the_housekeeping_cores():
    result = housekeeping(ONLINE, isolated=[2, 3, 4, 5, 6, 7], units=all_bound([0, 1]))
    assert result.cpus == (0, 1)
    assert "2-7 isolated" in result.source and "system.slice 0-1" in result.source


def test_slices_without_isolcpus_do_not_keep_kernel_work_off_the_other_cpus():
    """Not isolated = unbound kernel work and default-affinity tasks may land there."""
    assert housekeeping(ONLINE, isolated=[], units=all_bound([0, 1])).cpus == tuple(ONLINE)


def test_a_slice_wider_than_the_non_isolated_cpus_widens_the_set():
    units = all_bound([0, 1])
    units[1] = bound("user.slice", [0, 1, 6])
    assert housekeeping(ONLINE, isolated=[2, 3, 4, 5, 6, 7], units=units).cpus == (0, 1, 6)


def test_offline_cpus_in_a_bound_are_not_housekeeping():
    result = housekeeping([0, 1, 2, 3], isolated=[2, 3], units=all_bound([0, 1, 9]))
    assert result.cpus == (0, 1)
    assert result.as_detail()["units"][0] == {"unit": "system.slice", "cpus": [0, 1, 9], "source": "test"}


def test_cgroup_file_is_the_bound():
    unit = unit_from_cgroup("system.slice", "/sys/fs/cgroup/system.slice/cpuset.cpus.effective", "0-1,4\n")
    assert unit.cpus == (0, 1, 4) and "cpuset.cpus.effective" in unit.source


def test_malformed_cgroup_file_names_the_path():
    with pytest.raises(FactsError) as err:
        unit_from_cgroup("user.slice", "/sys/fs/cgroup/user.slice/cpuset.cpus.effective", "zero\n")
    assert "/sys/fs/cgroup/user.slice/cpuset.cpus.effective" in str(err.value) and "'zero'" in str(err.value)


def test_cgroup_without_cpuset_is_not_a_bound():
    assert unit_without_cpuset("init.scope", "/sys/fs/cgroup/init.scope").cpus is None


def test_cgroup_candidates_try_v2_then_hybrid_then_v1():
    assert [d for d, _name in cgroup_candidates("system.slice")] == [
        "sys/fs/cgroup/system.slice", "sys/fs/cgroup/unified/system.slice", "sys/fs/cgroup/cpuset/system.slice"]


@pytest.mark.parametrize("text, cpus", [
    ("0-3", (0, 1, 2, 3)),
    ("0 2,4-5", (0, 2, 4, 5)),
    ("  1  ", (1,)),
    ("3,1,1", (1, 3)),
])
def test_systemd_cpu_set(text, cpus):
    assert parse_systemd_cpu_set(text, "f.conf") == cpus


@pytest.mark.parametrize("text", ["0-", "a", "3-1", "0-3:1/2", "all", "-1"])
def test_systemd_cpu_set_rejects_other_syntaxes_naming_the_file(text):
    with pytest.raises(FactsError) as err:
        parse_systemd_cpu_set(text, "/etc/systemd/system/system.slice.d/x.conf")
    assert "/etc/systemd/system/system.slice.d/x.conf" in str(err.value) and "systemd CPU set" in str(err.value)


def test_allowed_cpus_merge_and_reset_as_systemd_does():
    files = [
        ("/usr/lib/systemd/system/system.slice", "[Unit]\nDescription=System Slice\n"),
        ("/etc/systemd/system/system.slice.d/10-a.conf", "[Slice]\nAllowedCPUs=0-3\n"),
        ("/etc/systemd/system/system.slice.d/20-b.conf", "[Slice]\nAllowedCPUs=\nAllowedCPUs=0\n"),
        ("/etc/systemd/system/system.slice.d/30-c.conf", "# comment\n[Slice]\nAllowedCPUs=1 \\\n 8\n"),
    ]
    unit = unit_from_systemd_files("system.slice", files)
    assert unit.cpus == (0, 1, 8)
    assert "20-b.conf" in unit.source and "30-c.conf" in unit.source and "10-a.conf" not in unit.source


def test_allowed_cpus_outside_the_units_section_do_not_count():
    files = [("/etc/systemd/system/init.scope.d/x.conf", "[Slice]\nAllowedCPUs=0\n[Service]\nAllowedCPUs=1\n")]
    assert unit_from_systemd_files("init.scope", files).cpus is None  # a scope reads [Scope]
    files = [("/etc/systemd/system/init.scope.d/x.conf", "[Scope]\nAllowedCPUs=0-1\n")]
    assert unit_from_systemd_files("init.scope", files).cpus == (0, 1)


def test_a_final_reset_leaves_the_unit_unbound():
    files = [("a.conf", "[Slice]\nAllowedCPUs=0\n"), ("b.conf", "[Slice]\nAllowedCPUs=\n")]
    unit = unit_from_systemd_files("user.slice", files)
    assert unit.cpus is None and "reset in b.conf" in unit.source


def test_no_files_means_unbound():
    assert unit_from_systemd_files("user.slice", []).cpus is None


def test_dropins_mask_by_name_and_apply_in_name_order():
    order = dropin_order([
        ("/etc/systemd/system.control/system.slice.d", ["50-AllowedCPUs.conf"]),
        ("/etc/systemd/system/system.slice.d", ["50-AllowedCPUs.conf", "90-z.conf", "README"]),
        ("/usr/lib/systemd/system/slice.d", ["10-all.conf"]),
    ])
    assert order == [
        "/usr/lib/systemd/system/slice.d/10-all.conf",
        "/etc/systemd/system.control/system.slice.d/50-AllowedCPUs.conf",
        "/etc/systemd/system/system.slice.d/90-z.conf",
    ]


def test_unit_file_candidates_cover_control_etc_run_and_lib():
    dirs = [d for d, kind in unit_file_candidates("system.slice") if kind == "dropin"]
    assert dirs[0] == "/etc/systemd/system.control/system.slice.d"
    assert "/etc/systemd/system/system.slice.d" in dirs and "/lib/systemd/system/slice.d" in dirs
    assert dirs.index("/etc/systemd/system/system.slice.d") < dirs.index("/run/systemd/system/system.slice.d")
