"""Boot parameter edits shared by check mode, diff and the real run."""

import pytest

from ansible_collections.hvfleet.smt.plugins.module_utils.boot_params import (
    BootParamError,
    edit_params,
    missing_from,
    read_grub_default,
    write_grub_default,
)


def test_present_replaces_same_name_in_place():
    assert edit_params("quiet nosmt splash", ["nosmt=force"], []) == "quiet nosmt=force splash"
    assert edit_params("nosmt quiet nosmt=force", ["nosmt=force"], []) == "nosmt=force quiet"
    assert edit_params("quiet", ["isolcpus=2-3"], []) == "quiet isolcpus=2-3"


def test_absent_removes_every_form():
    assert edit_params("nosmt=force quiet nosmt", [], ["nosmt"]) == "quiet"


def test_edit_is_idempotent():
    once = edit_params("quiet nosmt", ["nosmt=force", "irqaffinity=0-1"], ["isolcpus"])
    assert edit_params(once, ["nosmt=force", "irqaffinity=0-1"], ["isolcpus"]) == once


@pytest.mark.parametrize("bad", ["a b", "x;rm", "$(id)", "", "=1", "a=`x`"])
def test_refuses_unsafe_parameters(bad):
    with pytest.raises(BootParamError):
        edit_params("quiet", [bad], [])


def test_missing_from_running_cmdline():
    assert missing_from("ro nosmt", ["nosmt=force"], []) == ["nosmt=force"]
    assert missing_from("ro nosmt=force", ["nosmt=force"], []) == []
    assert missing_from("ro nosmt", [], ["nosmt"]) == ["-nosmt"]


def test_grub_default_round_trip():
    text = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="quiet"\n'
    index, value = read_grub_default(text, "/etc/default/grub")
    assert (index, value) == (1, "quiet")
    assert write_grub_default(text, index, "quiet nosmt=force") == 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="quiet nosmt=force"\n'
    assert read_grub_default("GRUB_DEFAULT=0\n", "f") == (-1, "")
    assert write_grub_default("GRUB_DEFAULT=0\n", -1, "nosmt") == 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="nosmt"\n'


def test_grub_default_refuses_shell_expansion():
    with pytest.raises(BootParamError) as err:
        read_grub_default('GRUB_CMDLINE_LINUX="$EXTRA quiet"\n', "/etc/default/grub")
    assert "/etc/default/grub line 1" in str(err.value)
