"""smt_facts as a module process: facts on a small real-shaped tree, clean failures."""

CPU = "sys/devices/system/cpu/"


def small_host(write_tree, root, control="on", extra=None):
    files = {
        CPU + "online": "0-3\n", CPU + "present": "0-3\n", CPU + "possible": "0-3\n",
        CPU + "smt/control": control + "\n", CPU + "smt/active": "1\n",
        "proc/cpuinfo": "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu ht\n\n",
        "proc/cmdline": "ro quiet\n",
    }
    for cpu in range(4):
        topo = CPU + "cpu%d/topology/" % cpu
        files[topo + "physical_package_id"] = "0\n"
        files[topo + "core_id"] = "%d\n" % (cpu % 2)
        files[topo + "thread_siblings_list"] = "%d,%d\n" % (cpu % 2, cpu % 2 + 2)
    files.update(extra or {})
    return write_tree(root, files)


def test_facts_of_a_two_core_smt_host(run_module, write_tree, tmp_path):
    result = run_module("smt_facts", sysroot=small_host(write_tree, tmp_path))
    facts = result["ansible_facts"]["hvfleet_smt"]
    assert result["changed"] is False
    assert [c["threads"] for c in facts["cores"]] == [[0, 2], [1, 3]]
    assert facts["smt"] == {"control": "on", "active": True, "possible": True,
                            "threads_per_core": {"min": 2, "max": 2}}
    assert facts["hypervisor"]["guest"] is False
    assert facts["core_scheduling"]["status"] == "unknown"  # not probed off "/"


def test_check_mode_returns_the_same_facts(run_module, write_tree, tmp_path):
    result = run_module("smt_facts", check_mode=True, sysroot=small_host(write_tree, tmp_path))
    assert result["ansible_facts"]["hvfleet_smt"]["smt"]["control"] == "on"


def test_malformed_file_fails_with_path_value_expected(run_module, write_tree, tmp_path):
    root = small_host(write_tree, tmp_path, extra={CPU + "cpu1/topology/thread_siblings_list": "1,4\n"})
    result = run_module("smt_facts", sysroot=root)
    assert result["failed"] is True
    assert result["path"].endswith("cpu1/topology/thread_siblings_list")
    assert "read '1,4'" in result["msg"] and "only online CPUs" in result["msg"]


def test_unknown_control_value_is_refused(run_module, write_tree, tmp_path):
    result = run_module("smt_facts", sysroot=small_host(write_tree, tmp_path, control="maybe"))
    assert result["failed"] is True and "smt/control" in result["msg"] and "forceoff" in result["msg"]


def test_missing_sysroot(run_module, write_tree, tmp_path):
    result = run_module("smt_facts", sysroot=str(tmp_path / "nope"))
    assert result["failed"] is True and "sysroot" in result["msg"]
