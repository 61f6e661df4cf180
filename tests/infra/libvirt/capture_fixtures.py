#!/usr/bin/env python
"""Capture unit-test fixtures from real libvirt domains: XML (live, inactive) and QEMU threads.

Hand-written XML drifts from what libvirt really emits (attribute order,
defaults it fills in, elements it adds to the live definition); fixtures
captured here keep the parsers honest. The thread capture is a minimal copy
of ``/proc/<pid>``: the cmdline (to find the process by ``-uuid``), each
thread's ``comm`` and the ``Name``/``Cpus_allowed_list`` lines of ``status``,
so module tests can lay out a fake ``/proc`` under a sysroot.

Usage: capture_fixtures.py OUTPUT_DIR NAME... (domains of qemu:///system)
Writes NAME.live.xml (running domains), NAME.inactive.xml, NAME.threads.json.
"""

import json
import os
import subprocess
import sys

URI = "qemu:///system"


def virsh(*args):
    result = subprocess.run(["virsh", "-r", "-c", URI] + list(args), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit("virsh %s: %s" % (" ".join(args), result.stderr.strip()))
    return result.stdout


def qemu_pid(uuid):
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if b"-uuid" in argv and argv[argv.index(b"-uuid") + 1:][:1] == [uuid.encode()]:
            return int(entry), [a.decode() for a in argv if a]
    return None, None


def threads(pid):
    found = []
    for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int):
        base = "/proc/%d/task/%s/" % (pid, tid)
        with open(base + "comm") as handle:
            comm = handle.read().rstrip("\n")
        with open(base + "status") as handle:
            kept = [line.rstrip("\n") for line in handle
                    if line.startswith(("Name:", "Cpus_allowed_list:"))]
        found.append({"tid": int(tid), "comm": comm, "status": kept})
    return found


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[0]
    os.makedirs(out, exist_ok=True)
    for name in argv[1:]:
        short = name
        state = virsh("domstate", "--domain", name).strip()
        uuid = virsh("domuuid", "--domain", name).strip()
        with open(os.path.join(out, short + ".inactive.xml"), "w") as handle:
            handle.write(virsh("dumpxml", "--inactive", "--domain", name))
        if state == "running":
            with open(os.path.join(out, short + ".live.xml"), "w") as handle:
                handle.write(virsh("dumpxml", "--domain", name))
            pid, cmdline = qemu_pid(uuid)
            if pid is None:
                raise SystemExit("%s: no QEMU process with -uuid %s" % (name, uuid))
            with open(os.path.join(out, short + ".threads.json"), "w") as handle:
                json.dump({"pid": pid, "cmdline": cmdline, "threads": threads(pid)}, handle, indent=1)
                handle.write("\n")
        print("%s: %s" % (name, state))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
