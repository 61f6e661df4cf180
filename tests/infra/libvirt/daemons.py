#!/usr/bin/env python
"""Start and stop a root libvirtd + virtlogd for tests, on machines with or without systemd.

CI machines of this kind have no systemd, and package installs start no
services, so a scenario that needs a real libvirt must bring it up itself.
The daemons are system-wide (a root libvirtd always uses /run/libvirt,
/etc/libvirt and /var/lib/libvirt: the QEMU driver has no private-directory
mode for a daemon), and other work on the machine may use them too. So:

* ``start`` is idempotent: a daemon that is already running is left alone and
  recorded as *not ours*; only what this script starts is recorded as ours.
* ``stop`` stops only daemons recorded as ours, and leaves libvirtd running
  while it still runs domains (someone else's: callers destroy their own
  domains first), unless ``--force``.

With systemd as PID 1 the units are started/stopped through ``systemctl``
instead (a hand-started daemon would fight the socket units).

Output: one JSON document on stdout with ``changed`` and per-daemon details,
so Ansible tasks can use it for ``changed_when``.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

DAEMONS = ("virtlogd", "libvirtd")  # start order; stop in reverse
PIDFILES = {"virtlogd": "/run/virtlogd.pid", "libvirtd": "/run/libvirtd.pid"}
URI = "qemu:///system"
DEFAULT_STATE_DIR = "/var/tmp/hvfleet-libvirt"
RECORD = "daemons.json"
READY_TIMEOUT = 90.0  # the first start probes QEMU capabilities (~8 s here)
STOP_TIMEOUT = 20.0
PACKAGES = "libvirt-daemon-system libvirt-clients"


class InfraError(Exception):
    """A failure the operator can act on; printed without a traceback."""


def running_pid(daemon):
    """Return the pid of a running `daemon` according to its pidfile, else None."""
    try:
        with open(PIDFILES[daemon]) as handle:
            pid = int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0 or process_name(pid) != daemon:
        return None
    return pid


def process_name(pid):
    try:
        with open("/proc/%d/comm" % pid) as handle:
            return handle.read().strip()
    except OSError:
        return None


def systemd_running():
    return os.path.isdir("/run/systemd/system")


def require_binaries(names):
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        raise InfraError(
            "%s not found on PATH; install the Debian packages: %s"
            % (", ".join(missing), PACKAGES))


def virsh_ready():
    try:
        result = subprocess.run(
            ["virsh", "-c", URI, "version"], capture_output=True, text=True,
            timeout=READY_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def wait_ready():
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if virsh_ready():
            return
        time.sleep(0.5)
    raise InfraError("libvirtd did not answer on %s within %.0f s" % (URI, READY_TIMEOUT))


def load_record(state_dir):
    try:
        with open(os.path.join(state_dir, RECORD)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InfraError("cannot read %s: %s" % (os.path.join(state_dir, RECORD), exc))


def save_record(state_dir, record):
    os.makedirs(state_dir, mode=0o755, exist_ok=True)
    path = os.path.join(state_dir, RECORD)
    if not record:
        if os.path.exists(path):
            os.unlink(path)
        return
    with open(path + ".tmp", "w") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)


def start(state_dir):
    require_binaries(["virsh"] + ([] if systemd_running() else list(DAEMONS)))
    record = load_record(state_dir)
    report = {"changed": False, "daemons": {}}
    for daemon in DAEMONS:
        pid = running_pid(daemon)
        if pid is not None:
            ours = record.get(daemon, {}).get("pid") == pid
            report["daemons"][daemon] = {"pid": pid, "started_now": False, "ours": ours}
            continue
        if systemd_running():
            run(["systemctl", "start", daemon + ".service"])
            how = "systemd"
        else:
            run([daemon, "-d"])
            how = "direct"
        pid = wait_pid(daemon)
        record[daemon] = {"pid": pid, "how": how}
        save_record(state_dir, record)
        report["changed"] = True
        report["daemons"][daemon] = {"pid": pid, "started_now": True, "ours": True}
    wait_ready()
    return report


def wait_pid(daemon):
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:
        pid = running_pid(daemon)
        if pid is not None:
            return pid
        time.sleep(0.1)
    raise InfraError("%s did not write %s after starting" % (daemon, PIDFILES[daemon]))


def run(argv):
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InfraError("%s failed (rc=%d): %s" % (
            " ".join(argv), result.returncode, (result.stderr or result.stdout).strip()))
    return result.stdout


def active_domains():
    result = subprocess.run(
        ["virsh", "-c", URI, "list", "--name"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return []
    return [line for line in result.stdout.splitlines() if line.strip()]


def stop(state_dir, force):
    record = load_record(state_dir)
    report = {"changed": False, "daemons": {}, "kept": []}
    for daemon in reversed(DAEMONS):
        entry = record.get(daemon)
        pid = running_pid(daemon)
        if entry is None or pid != entry.get("pid"):
            record.pop(daemon, None)
            report["daemons"][daemon] = {"pid": pid, "stopped": False, "ours": False}
            continue
        if daemon == "libvirtd" and not force:
            domains = active_domains()
            if domains:
                report["kept"].append(
                    "libvirtd kept running: it still runs domains %s" % ", ".join(domains))
                report["daemons"][daemon] = {"pid": pid, "stopped": False, "ours": True}
                # virtlogd holds those domains' logs: keep it too.
                report["daemons"]["virtlogd"] = {
                    "pid": running_pid("virtlogd"), "stopped": False, "ours": True}
                save_record(state_dir, record)
                return report
        if entry.get("how") == "systemd":
            run(["systemctl", "stop", daemon + ".service"])
        else:
            terminate(daemon, pid)
        record.pop(daemon)
        save_record(state_dir, record)
        report["changed"] = True
        report["daemons"][daemon] = {"pid": pid, "stopped": True, "ours": True}
    save_record(state_dir, record)
    return report


def terminate(daemon, pid):
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if process_name(pid) != daemon:
            return
        time.sleep(0.1)
    raise InfraError("%s (pid %d) did not exit within %.0f s of SIGTERM" % (daemon, pid, STOP_TIMEOUT))


def status(state_dir):
    record = load_record(state_dir)
    daemons = {}
    for daemon in DAEMONS:
        pid = running_pid(daemon)
        daemons[daemon] = {"pid": pid, "ours": pid is not None and record.get(daemon, {}).get("pid") == pid}
    return {"changed": False, "daemons": daemons, "ready": virsh_ready() if daemons["libvirtd"]["pid"] else False}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--state-dir", default=os.environ.get("HVFLEET_LIBVIRT_STATE", DEFAULT_STATE_DIR))
    parser.add_argument("--force", action="store_true", help="stop our libvirtd even if domains still run")
    args = parser.parse_args(argv)
    if os.geteuid() != 0 and args.action != "status":
        print("daemons.py %s: must run as root (a system libvirtd)" % args.action, file=sys.stderr)
        return 2
    try:
        if args.action == "start":
            report = start(args.state_dir)
        elif args.action == "stop":
            report = stop(args.state_dir, args.force)
        else:
            report = status(args.state_dir)
    except InfraError as exc:
        print("daemons.py %s: %s" % (args.action, exc), file=sys.stderr)
        return 1
    json.dump(report, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
