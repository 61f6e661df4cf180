"""smt_control as a module process against a writable control file."""

CONTROL = "sys/devices/system/cpu/smt/control"


def test_writes_and_reports_diff(run_module, write_tree, tmp_path):
    root = write_tree(tmp_path, {CONTROL: "on\n"})
    result = run_module("smt_control", diff=True, state="forceoff", sysroot=root)
    assert result["changed"] and result["before"] == "on" and result["after"] == "forceoff"
    assert result["diff"]["after"] == "forceoff\n"
    assert (tmp_path / CONTROL).read_text() == "forceoff"
    again = run_module("smt_control", state="forceoff", sysroot=root)
    assert again["changed"] is False


def test_check_mode_changes_nothing(run_module, write_tree, tmp_path):
    root = write_tree(tmp_path, {CONTROL: "on\n"})
    result = run_module("smt_control", check_mode=True, state="off", sysroot=root)
    assert result["changed"] and result["after"] == "off"
    assert (tmp_path / CONTROL).read_text() == "on\n"


def test_leaving_forceoff_is_refused_before_writing(run_module, write_tree, tmp_path):
    root = write_tree(tmp_path, {CONTROL: "forceoff\n"})
    result = run_module("smt_control", state="on", sysroot=root)
    assert result["failed"] and "reboot" in result["msg"]
    assert (tmp_path / CONTROL).read_text() == "forceoff\n"
