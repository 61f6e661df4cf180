"""The controller-side file writer shared by smt_report_files and smt_guest_files."""

import os
import stat

from ansible_collections.hvfleet.smt.plugins.plugin_utils.controller_files import (
    NEW_FILE_MODE,
    file_differs,
    replace_file,
)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_missing_file_differs_in_content_and_in_mode_only_when_modes_are_managed(tmp_path):
    path = str(tmp_path / "f")
    assert file_differs(path, b"x") == (True, False)
    assert file_differs(path, b"x", 0o644) == (True, True)


def test_same_bytes_do_not_differ_but_a_managed_mode_does(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    os.chmod(path, 0o600)
    assert file_differs(str(path), b"x") == (False, False)
    assert file_differs(str(path), b"y") == (True, False)
    assert file_differs(str(path), b"x", 0o644) == (False, True)
    assert file_differs(str(path), b"x", 0o600) == (False, False)


def test_replace_file_writes_whole_and_leaves_no_temporary_file(tmp_path):
    path = str(tmp_path / "f")
    replace_file(path, b"new")
    assert open(path, "rb").read() == b"new"
    assert mode_of(path) == NEW_FILE_MODE
    assert os.listdir(str(tmp_path)) == ["f"]


def test_replace_file_keeps_an_existing_mode_unless_told_one(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    replace_file(str(path), b"new")
    assert path.read_bytes() == b"new" and mode_of(str(path)) == 0o600
    replace_file(str(path), b"newer", 0o644)
    assert path.read_bytes() == b"newer" and mode_of(str(path)) == 0o644
