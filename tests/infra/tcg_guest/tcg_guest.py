#!/usr/bin/env python
"""Build, boot and stop a disposable TCG guest that has real SMT siblings.

The collection's claims about SMT are only as good as its reading of a real
kernel's sysfs. Synthetic trees cannot show what the kernel does when
`smt/control` is written, so the Molecule scenario `real_kernel` runs the
modules against a Debian kernel booted under QEMU's TCG with a 2-socket,
2-core, 2-thread topology. This script is that guest's whole lifecycle:

    tcg_guest.py build                       # image (cached by recipe hash)
    tcg_guest.py boot --state-dir DIR        # fresh guest, waits for SSH
    tcg_guest.py ssh --state-dir DIR [CMD]   # a shell in it, for debugging
    tcg_guest.py stop --state-dir DIR        # ends the guest, if any

Every external command is an argument list; nothing is passed to a shell.
Runs on the host's Python (3.9+), standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
OVERLAY_DIR = HERE / "rootfs"

# Bump when the image layout changes in a way the recipe does not capture.
RECIPE_FORMAT = 1
SUITE = "bookworm"
VARIANT = "essential"
PACKAGES = ("python3", "openssh-server", "util-linux", "mount", "procps", "iproute2")
DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
GUEST_INIT = "/usr/local/sbin/tcg-init"
IMAGE_NAME = "rootfs.ext4"
RECIPE_NAME = "recipe.json"
KEY_NAME = "id_ed25519"
EXECUTABLES = {"usr/local/sbin/tcg-init"}

DEFAULT_SMP = "8,sockets=2,cores=2,threads=2"
# -monitor: without MONITOR/MWAIT an offline vCPU parks in HLT. With it, Linux
# parks offline CPUs in an MWAIT loop that TCG treats as a no-op on SMP guests,
# so after `smt/control=off` four vCPUs spin and the guest crawls.
DEFAULT_CPU = "max,vendor=GenuineIntel,-hypervisor,-monitor"
DEFAULT_MEMORY_MB = 1024
DEFAULT_TIMEOUT_S = 300.0
MODULES_ROOT = Path("/lib/modules")
# qemu_fw_cfg and cpuid: the guest_view scenario reads the statement document
# from /sys/firmware/qemu_fw_cfg and CPUID through /dev/cpu/N/cpuid (dmi-sysfs
# is built into Debian's kernel). The guest's root has no /lib/modules, so
# they come with the initrd, which loads every module it lists.
INITRD_MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "ext4", "qemu_fw_cfg", "cpuid")
INITRAMFS_CONF = "MODULES=list\nBUSYBOX=auto\nKEYMAP=n\nCOMPRESS=zstd\nCOMPRESSLEVEL=1\nFSTYPE=ext4\nRUNSIZE=10%\n"
STATE_FILE = "guest.json"
PIDFILE = "qemu.pid"
CONSOLE = "console.log"


class GuestError(Exception):
    """A failure the user can act on; printed as one message, no traceback."""


@dataclass(frozen=True)
class Kernel:
    version: str
    vmlinuz: Path


@dataclass(frozen=True)
class Image:
    path: Path
    key: Path
    recipe_hash: str
    built: bool
    build_seconds: Optional[float]


@dataclass(frozen=True)
class Guest:
    """What a running guest needs to be reached and stopped."""

    host: str
    port: int
    user: str
    key: Path
    pid: int
    pidfile: Path
    console: Path
    image: Path
    kernel: Path
    initrd: Path
    smp: str
    cpu: str

    def to_json(self) -> Dict[str, object]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "key": str(self.key),
            "pid": self.pid,
            "pidfile": str(self.pidfile),
            "console": str(self.console),
            "image": str(self.image),
            "kernel": str(self.kernel),
            "initrd": str(self.initrd),
            "smp": self.smp,
            "cpu": self.cpu,
        }


# ---------------------------------------------------------------- helpers


def run(argv: Sequence[str], what: str, **kwargs: object) -> subprocess.CompletedProcess:
    """Run argv; a failure names the step and shows the command's own words."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)  # checked below
    except FileNotFoundError:
        raise GuestError(f"{what}: {argv[0]} is not installed") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-4000:]
        raise GuestError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{detail}")
    return proc


def default_cache_dir() -> Path:
    return Path(os.environ.get("TCG_GUEST_CACHE", str(REPO_ROOT / ".cache" / "tcg-guest")))


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Serialise builds: two scenarios starting at once must not both build."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="ascii") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def no_whitespace(path: Path, what: str) -> Path:
    """mmdebstrap's special hooks split their arguments on whitespace."""
    if re.search(r"\s", str(path)):
        raise GuestError(f"{what} {str(path)!r} contains whitespace; mmdebstrap cannot take it")
    return path


# ---------------------------------------------------------------- image


def ensure_key(cache: Path) -> Path:
    """The test key lives beside the images: its public half is baked in."""
    key = cache / "ssh" / KEY_NAME
    if not key.exists() or not key.with_suffix(".pub").exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        for stale in (key, key.with_suffix(".pub")):
            if stale.exists():
                stale.unlink()
        run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hvfleet-tcg-guest", "-f", str(key)],
            "generating the test SSH key",
        )
    key.chmod(0o600)
    return key


def overlay_files() -> Dict[str, bytes]:
    """Files copied over the debootstrapped tree, by path relative to /."""
    files = {}
    for path in sorted(OVERLAY_DIR.rglob("*")):
        if path.is_file():
            files[path.relative_to(OVERLAY_DIR).as_posix()] = path.read_bytes()
    if "usr/local/sbin/tcg-init" not in files:
        raise GuestError(f"{OVERLAY_DIR}: the guest init usr/local/sbin/tcg-init is missing")
    return files


def mmdebstrap_version() -> str:
    return run(["mmdebstrap", "--version"], "asking mmdebstrap for its version").stdout.strip()


def recipe(public_key: str, files: Dict[str, bytes], tool_version: str) -> Dict[str, object]:
    """Everything that shapes the image; its hash names the cached copy."""
    return {
        "format": RECIPE_FORMAT,
        "suite": SUITE,
        "variant": VARIANT,
        "packages": list(PACKAGES),
        "dpkg_options": list(DPKG_OPTIONS),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
        "authorized_key": public_key.strip(),
        "mmdebstrap": tool_version,
    }


def recipe_hash(rec: Dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()[:16]


def stage_overlay(staging: Path, files: Dict[str, bytes], public_key: str) -> None:
    """Lay out the overlay with explicit modes: a git checkout keeps no modes
    but the executable bit, and sshd refuses a group-writable key file."""
    staging.chmod(0o755)  # becomes the mode of / in the guest
    for name, data in files.items():
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o755 if name in EXECUTABLES else 0o644)
    ssh_dir = staging / "root" / ".ssh"
    ssh_dir.mkdir(parents=True)
    (ssh_dir / "authorized_keys").write_text(public_key.strip() + "\n", encoding="ascii")
    (ssh_dir / "authorized_keys").chmod(0o600)
    ssh_dir.chmod(0o700)
    (staging / "root").chmod(0o700)
    for directory in staging.rglob("*"):
        if directory.is_dir() and directory not in (ssh_dir, staging / "root"):
            directory.chmod(0o755)


def mmdebstrap_argv(staging: Path, tree: Path) -> List[str]:
    argv = ["mmdebstrap", f"--variant={VARIANT}", "--include=" + ",".join(PACKAGES)]
    argv += [f"--dpkgopt={option}" for option in DPKG_OPTIONS]
    argv += [f"--customize-hook=sync-in {staging} /", SUITE, str(tree)]
    return argv


def tree_bytes(root: Path) -> int:
    total = 0
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def image_size_bytes(payload: int) -> int:
    """Room for the files, inode tables and a little scratch space; the guest
    writes to a throw-away snapshot, so the image never needs to grow."""
    mib = 1 << 20
    wanted = payload * 13 // 10 + 128 * mib
    return (wanted + mib - 1) // mib * mib


def mke2fs_argv(tree: Path, image: Path, size: int) -> List[str]:
    """mke2fs -d copies a directory into the new file system without a
    mount (e2fsprogs 1.47.0 cannot read a tarball there yet)."""
    return [
        "mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-L", "tcg-root",
        "-E", "root_owner=0:0", "-d", str(tree), str(image), f"{size // 1024}k",
    ]


def build_image(cache: Path, force: bool = False) -> Image:
    key = ensure_key(cache)
    public_key = key.with_suffix(".pub").read_text(encoding="ascii")
    files = overlay_files()
    rec = recipe(public_key, files, mmdebstrap_version())
    digest = recipe_hash(rec)
    final = cache / digest
    image = final / IMAGE_NAME
    with locked(cache / "build.lock"):
        if image.exists() and not force:
            return Image(image, key, digest, built=False, build_seconds=None)
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f"{digest}.", suffix=".tmp", dir=str(cache)))
        staging = Path(tempfile.mkdtemp(prefix="tcg-guest-overlay."))
        try:
            no_whitespace(staging, "staging directory")
            no_whitespace(work, "build directory")
            stage_overlay(staging, files, public_key)
            tree = work / "rootfs"
            run(mmdebstrap_argv(staging, tree), "mmdebstrap (building the guest root filesystem)")
            size = image_size_bytes(tree_bytes(tree))
            run(mke2fs_argv(tree, work / IMAGE_NAME, size), "mke2fs (packing the image)")
            shutil.rmtree(tree)
            (work / RECIPE_NAME).write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            if final.exists():
                shutil.rmtree(final)
            work.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)
        prune_images(cache, keep=digest)
        return Image(image, key, digest, built=True, build_seconds=round(time.monotonic() - started, 1))


def prune_images(cache: Path, keep: str) -> None:
    """Old images are ~300 MB each and never reused once the recipe moved."""
    for entry in cache.iterdir():
        if entry.is_dir() and entry.name != keep and (entry / RECIPE_NAME).exists():
            shutil.rmtree(entry, ignore_errors=True)


# ---------------------------------------------------------------- kernel


def version_key(version: str) -> Tuple[object, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"[.-]", version))


def find_kernel(boot: Path = Path("/boot")) -> Kernel:
    """The newest Debian kernel in /boot with its modules installed (the
    guest's initrd is built from them)."""
    override = os.environ.get("TCG_GUEST_KERNEL")
    candidates = []
    for vmlinuz in boot.glob("vmlinuz-*"):
        version = vmlinuz.name[len("vmlinuz-"):]
        if (MODULES_ROOT / version).is_dir() and (override is None or override == version):
            candidates.append(Kernel(version, vmlinuz))
    if not candidates:
        wanted = f"version {override} (TCG_GUEST_KERNEL)" if override else "any version"
        raise GuestError(
            f"{boot}: no vmlinuz-* with modules in {MODULES_ROOT}/<version> for {wanted}; "
            "install the Debian package linux-image-amd64"
        )
    return max(candidates, key=lambda kernel: version_key(kernel.version))


def initrd_key(kernel: Kernel) -> str:
    """Same kernel file and same module list: same initrd."""
    stat = kernel.vmlinuz.stat()
    material = json.dumps([kernel.version, stat.st_size, int(stat.st_mtime), INITRAMFS_CONF, INITRD_MODULES])
    return hashlib.sha256(material.encode()).hexdigest()[:12]


def missing_initrd_modules(listing: str, wanted: Sequence[str] = INITRD_MODULES) -> List[str]:
    """Modules of `wanted` absent from an lsinitramfs listing (newer Debian
    kernels ship them compressed: .ko.xz, .ko.zst)."""
    names = set()
    for line in listing.splitlines():
        match = re.search(r"/([^/]+)\.ko(\.[a-z0-9]+)?$", line.strip())
        if match:
            names.add(match.group(1))
    return [module for module in wanted if module not in names]


def build_initrd(cache: Path, kernel: Kernel) -> Path:
    """A small initrd with only the virtio and ext4 modules. Debian's own
    (MODULES=most, ~35 MB) costs about 12 s more to unpack and probe under
    TCG, and it may have been built with MODULES=dep for another machine."""
    target = cache / "initrd" / f"initrd.img-{kernel.version}-{initrd_key(kernel)}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(cache / "build.lock"):
        if target.exists():
            return target
        conf = Path(tempfile.mkdtemp(prefix="tcg-guest-initramfs."))
        partial = target.with_name(target.name + ".tmp")
        try:
            for sub in ("conf.d", "hooks", "scripts"):
                (conf / sub).mkdir()
            (conf / "initramfs.conf").write_text(INITRAMFS_CONF, encoding="ascii")
            (conf / "modules").write_text("\n".join(INITRD_MODULES) + "\n", encoding="ascii")
            run(["mkinitramfs", "-d", str(conf), "-o", str(partial), kernel.version],
                f"mkinitramfs (building the guest initrd for {kernel.version})")
            listing = run(["lsinitramfs", str(partial)], f"listing {partial}").stdout
            missing = missing_initrd_modules(listing)
            if missing:
                raise GuestError(
                    f"{partial}: lacks {', '.join(missing)}; the guest's virtio disk and network need them "
                    f"(are they in {MODULES_ROOT / kernel.version}?)"
                )
            partial.rename(target)
        finally:
            shutil.rmtree(conf, ignore_errors=True)
            partial.unlink(missing_ok=True)
    for stale in target.parent.iterdir():
        if stale != target:
            stale.unlink()
    return target


# ---------------------------------------------------------------- guest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def qemu_argv(kernel: Kernel, initrd: Path, image: Path, port: int, state: Path, smp: str, cpu: str, memory_mb: int,
              extra: Sequence[str] = ()) -> List[str]:
    cmdline = " ".join([
        "root=/dev/vda", "rw", "rootfstype=ext4", f"init={GUEST_INIT}", "console=ttyS0",
        "loglevel=4", "panic=-1", "fsck.mode=skip", "noresume", "net.ifnames=0",
    ])
    return [
        "qemu-system-x86_64",
        "-name", "hvfleet-tcg-guest",
        "-accel", "tcg",
        "-cpu", cpu,
        "-smp", smp,
        "-m", str(memory_mb),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-kernel", str(kernel.vmlinuz),
        "-initrd", str(initrd),
        "-append", cmdline,
        "-drive", f"file={image},format=raw,if=virtio,snapshot=on",
        "-netdev", f"user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device", "virtio-net-pci,netdev=net0",
        "-serial", f"file:{state / CONSOLE}",
        "-pidfile", str(state / PIDFILE),
        "-daemonize",
        *extra,
    ]


def load_extra_args(path: Optional[Path]) -> List[str]:
    """Extra QEMU arguments (e.g. -fw_cfg/-smbios) from a JSON list of strings."""
    if path is None:
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise GuestError(f"{path}: {err}; expected a JSON list of QEMU arguments") from None
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise GuestError(f"{path}: expected a JSON list of strings (QEMU arguments), got {str(data)[:120]}")
    return data


def ssh_argv(key: Path, port: int, command: Sequence[str] = (), connect_timeout: int = 10) -> List[str]:
    return [
        "ssh", "-i", str(key), "-p", str(port),
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", "-o", f"ConnectTimeout={connect_timeout}",
        "root@127.0.0.1", *command,
    ]


def console_tail(console: Path, lines: int = 40) -> str:
    try:
        text = console.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"(no console log at {console})"
    tail = text.splitlines()[-lines:]
    return f"last {len(tail)} lines of {console}:\n" + "\n".join(tail)


def read_pid(pidfile: Path) -> Optional[int]:
    try:
        text = pidfile.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    if not text.isdigit():
        raise GuestError(f"{pidfile}: read {text!r}: expected a process id")
    return int(text)


def is_our_qemu(pid: int, pidfile: Path) -> bool:
    """A pidfile can outlive its process and the pid be reused: only a QEMU
    started with this very pidfile is ours to stop."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return bool(argv) and argv[0].endswith(b"qemu-system-x86_64") and str(pidfile).encode() in argv


def running_pid(state: Path) -> Optional[int]:
    pidfile = state / PIDFILE
    pid = read_pid(pidfile)
    return pid if pid is not None and is_our_qemu(pid, pidfile) else None


def wait_for_ssh(key: Path, port: int, state: Path, pid: int, timeout: float) -> float:
    started = time.monotonic()
    last_error = ""
    while True:
        if not is_our_qemu(pid, state / PIDFILE):
            raise GuestError(f"QEMU (pid {pid}) exited before SSH answered on 127.0.0.1:{port}\n" + console_tail(state / CONSOLE))
        proc = subprocess.run(ssh_argv(key, port, ["true"], connect_timeout=5), capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            return round(time.monotonic() - started, 1)
        last_error = (proc.stderr or "").strip()
        if time.monotonic() - started > timeout:
            raise GuestError(
                f"guest did not answer SSH on 127.0.0.1:{port} within {timeout:.0f} s "
                f"(last ssh error: {last_error or 'none'}); QEMU pid {pid} left running, "
                f"stop it with: {sys.argv[0]} stop --state-dir {state}\n" + console_tail(state / CONSOLE)
            )
        time.sleep(1)


def boot(state: Path, cache: Path, port: Optional[int], smp: str, cpu: str, memory_mb: int, timeout: float,
         extra: Sequence[str] = ()) -> Dict[str, object]:
    state.mkdir(parents=True, exist_ok=True)
    existing = running_pid(state)
    if existing is not None:
        raise GuestError(f"{state}: a guest is already running (QEMU pid {existing}); stop it first")
    image = build_image(cache)
    kernel = find_kernel()
    initrd = build_initrd(cache, kernel)
    for stale in (state / PIDFILE, state / CONSOLE, state / STATE_FILE):
        if stale.exists():
            stale.unlink()
    started = time.monotonic()
    chosen = port if port is not None else free_port()
    run(qemu_argv(kernel, initrd, image.path, chosen, state, smp, cpu, memory_mb, extra), "starting QEMU")
    pid = read_pid(state / PIDFILE)
    if pid is None:
        raise GuestError(f"{state / PIDFILE}: QEMU daemonized but wrote no pidfile")
    guest = Guest("127.0.0.1", chosen, "root", image.key, pid, state / PIDFILE, state / CONSOLE,
                  image.path, kernel.vmlinuz, initrd, smp, cpu)
    (state / STATE_FILE).write_text(json.dumps(guest.to_json(), indent=2) + "\n", encoding="utf-8")
    ssh_seconds = wait_for_ssh(image.key, chosen, state, pid, timeout)
    result = dict(guest.to_json())
    result.update({
        "image_built": image.built,
        "image_build_seconds": image.build_seconds,
        "recipe_hash": image.recipe_hash,
        "boot_to_ssh_seconds": ssh_seconds,
        "total_seconds": round(time.monotonic() - started, 1),
    })
    return result


def stop(state: Path, grace: float = 15.0) -> Dict[str, object]:
    pid = running_pid(state)
    if pid is None:
        return {"stopped": False, "reason": "no guest running", "state_dir": str(state)}
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and is_our_qemu(pid, state / PIDFILE):
        time.sleep(0.2)
    if is_our_qemu(pid, state / PIDFILE):
        os.kill(pid, signal.SIGKILL)
    (state / PIDFILE).unlink(missing_ok=True)
    return {"stopped": True, "pid": pid, "state_dir": str(state)}


def load_guest(state: Path) -> Dict[str, object]:
    path = state / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GuestError(f"{path}: no guest state; boot one with: {sys.argv[0]} boot --state-dir {state}") from None
    except json.JSONDecodeError as err:
        raise GuestError(f"{path}: not valid JSON ({err}); expected the state written by 'boot'") from None


# ---------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="image cache (default: $TCG_GUEST_CACHE or <repo>/.cache/tcg-guest)")
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="build the image unless the cached one matches the recipe")
    build.add_argument("--force", action="store_true", help="rebuild even when cached")

    start = sub.add_parser("boot", help="boot a fresh guest and wait until SSH answers")
    start.add_argument("--state-dir", type=Path, required=True)
    start.add_argument("--port", type=int, default=None, help="host port for SSH (default: a free one)")
    start.add_argument("--smp", default=DEFAULT_SMP)
    start.add_argument("--cpu", default=DEFAULT_CPU)
    start.add_argument("--memory", type=int, default=DEFAULT_MEMORY_MB, help="MiB")
    start.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds to wait for SSH")
    start.add_argument("--qemu-args-file", type=Path, default=None,
                       help="JSON list of extra QEMU arguments (e.g. the statement's -fw_cfg and -smbios)")

    end = sub.add_parser("stop", help="stop the guest of a state dir (no error when none runs)")
    end.add_argument("--state-dir", type=Path, required=True)

    shell = sub.add_parser("ssh", help="run ssh into the guest of a state dir")
    shell.add_argument("--state-dir", type=Path, required=True)
    shell.add_argument("remote", nargs=argparse.REMAINDER, help="command to run (default: a login shell)")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    cache = (args.cache_dir or default_cache_dir()).resolve()
    try:
        if args.command == "build":
            image = build_image(cache, force=args.force)
            kernel = find_kernel()
            initrd = build_initrd(cache, kernel)
            print(json.dumps({"image": str(image.path), "key": str(image.key), "recipe_hash": image.recipe_hash,
                              "built": image.built, "build_seconds": image.build_seconds,
                              "kernel": str(kernel.vmlinuz), "initrd": str(initrd)}))
        elif args.command == "boot":
            print(json.dumps(boot(args.state_dir.resolve(), cache, args.port, args.smp, args.cpu,
                                  args.memory, args.timeout, load_extra_args(args.qemu_args_file))))
        elif args.command == "stop":
            print(json.dumps(stop(args.state_dir.resolve())))
        elif args.command == "ssh":
            guest = load_guest(args.state_dir.resolve())
            remote = [part for part in args.remote if part != "--"]
            os.execvp("ssh", ssh_argv(Path(str(guest["key"])), int(str(guest["port"])), remote))
    except GuestError as err:
        print(f"tcg_guest: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
