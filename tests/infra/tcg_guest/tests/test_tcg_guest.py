"""Pure parts of the guest tool: what it hashes, which kernel it picks, how
it starts QEMU. Booting itself is tested by the real_kernel scenario."""

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "tcg_guest.py"
_SPEC = importlib.util.spec_from_file_location("tcg_guest", _PATH)
tg = importlib.util.module_from_spec(_SPEC)
sys.modules["tcg_guest"] = tg  # dataclasses resolve annotations through it
_SPEC.loader.exec_module(tg)


def _recipe(**changes):
    base = {"public_key": "ssh-ed25519 AAAA test", "files": {"usr/local/sbin/tcg-init": b"#!/bin/sh\n"}, "tool": "mmdebstrap 1.3.5"}
    base.update(changes)
    return tg.recipe_hash(tg.recipe(base["public_key"], base["files"], base["tool"]))


def test_recipe_hash_is_stable():
    assert _recipe() == _recipe()


@pytest.mark.parametrize(
    "change",
    [
        {"public_key": "ssh-ed25519 BBBB other"},
        {"files": {"usr/local/sbin/tcg-init": b"#!/bin/sh\nexit 1\n"}},
        {"tool": "mmdebstrap 1.4.0"},
    ],
)
def test_recipe_hash_follows_every_input(change):
    assert _recipe(**change) != _recipe()


def test_overlay_holds_the_guest_init():
    assert "usr/local/sbin/tcg-init" in tg.overlay_files()


def test_find_kernel_takes_the_newest_with_modules(tmp_path, monkeypatch):
    boot, modules = tmp_path / "boot", tmp_path / "modules"
    for version in ("6.1.0-9-amd64", "6.1.0-56-amd64", "6.12.0-1-amd64"):
        boot.mkdir(exist_ok=True)
        (boot / f"vmlinuz-{version}").write_bytes(b"")
    for version in ("6.1.0-9-amd64", "6.1.0-56-amd64"):
        (modules / version).mkdir(parents=True)
    monkeypatch.setattr(tg, "MODULES_ROOT", modules)
    monkeypatch.delenv("TCG_GUEST_KERNEL", raising=False)
    assert tg.find_kernel(boot).version == "6.1.0-56-amd64"


def test_find_kernel_names_the_package_when_none_fits(tmp_path, monkeypatch):
    monkeypatch.setattr(tg, "MODULES_ROOT", tmp_path / "modules")
    monkeypatch.delenv("TCG_GUEST_KERNEL", raising=False)
    with pytest.raises(tg.GuestError, match="linux-image-amd64"):
        tg.find_kernel(tmp_path)


def test_missing_initrd_modules_accepts_compressed_modules():
    listing = "\n".join([
        "usr/lib/modules/6.12.0-1-amd64/kernel/drivers/virtio/virtio_pci.ko.xz",
        "usr/lib/modules/6.12.0-1-amd64/kernel/drivers/block/virtio_blk.ko.zst",
        "usr/lib/modules/6.12.0-1-amd64/kernel/fs/ext4/ext4.ko",
        "usr/lib/modules/6.12.0-1-amd64/kernel/drivers/firmware/qemu_fw_cfg.ko.xz",
        "usr/lib/modules/6.12.0-1-amd64/kernel/arch/x86/kernel/cpuid.ko",
    ])
    assert tg.missing_initrd_modules(listing) == ["virtio_net"]


def test_qemu_gets_intel_smt_topology_and_a_loopback_only_port(tmp_path):
    kernel = tg.Kernel("6.1.0-56-amd64", Path("/boot/vmlinuz-6.1.0-56-amd64"))
    argv = tg.qemu_argv(kernel, tmp_path / "initrd", tmp_path / "img", 2222, tmp_path,
                        tg.DEFAULT_SMP, tg.DEFAULT_CPU, 1024)
    assert argv[argv.index("-smp") + 1] == "8,sockets=2,cores=2,threads=2"
    assert argv[argv.index("-cpu") + 1] == "max,vendor=GenuineIntel,-hypervisor,-monitor"
    assert argv[argv.index("-accel") + 1] == "tcg"
    netdev = argv[argv.index("-netdev") + 1]
    assert "hostfwd=tcp:127.0.0.1:2222-:22" in netdev and "restrict=on" in netdev
    assert "snapshot=on" in argv[argv.index("-drive") + 1]


def test_a_stale_pidfile_of_another_process_is_not_ours(tmp_path):
    pidfile = tmp_path / "qemu.pid"
    # pid 1 exists but is no QEMU started with this pidfile.
    assert not tg.is_our_qemu(1, pidfile)


def test_a_garbled_pidfile_is_reported_with_its_path(tmp_path):
    pidfile = tmp_path / "qemu.pid"
    pidfile.write_text("qemu\n")
    with pytest.raises(tg.GuestError, match="qemu.pid"):
        tg.read_pid(pidfile)


def test_hook_paths_with_whitespace_are_refused():
    with pytest.raises(tg.GuestError, match="whitespace"):
        tg.no_whitespace(Path("/tmp/a b"), "staging directory")


def test_extra_arguments_come_last_and_unchanged(tmp_path):
    kernel = tg.Kernel("6.1.0-56-amd64", Path("/boot/vmlinuz-6.1.0-56-amd64"))
    extra = ["-fw_cfg", "name=opt/org.hvfleet/smt-hints,string=eyJ9", "-smbios", "type=11,value=a,,b"]
    argv = tg.qemu_argv(kernel, tmp_path / "initrd", tmp_path / "img", 2222, tmp_path,
                        tg.DEFAULT_SMP, tg.DEFAULT_CPU, 1024, extra)
    assert argv[-4:] == extra


def test_extra_arguments_file_must_be_a_list_of_strings(tmp_path):
    good = tmp_path / "good.json"
    good.write_text('["-fw_cfg", "name=opt/x,string=y"]')
    assert tg.load_extra_args(good) == ["-fw_cfg", "name=opt/x,string=y"]
    assert tg.load_extra_args(None) == []
    bad = tmp_path / "bad.json"
    bad.write_text('{"-fw_cfg": 1}')
    with pytest.raises(tg.GuestError, match="bad.json"):
        tg.load_extra_args(bad)


def test_the_initrd_carries_the_guest_channel_drivers():
    assert {"qemu_fw_cfg", "cpuid"} <= set(tg.INITRD_MODULES)
