#!/usr/bin/env python
"""Print a running libvirt domain's QEMU threads with their names and allowed CPUs, as JSON.

Molecule's verify step compares guest_placement_facts with this: an
independent reading of the kernel's truth that shares no code with the
collection (the pid comes from libvirt's own pidfile, not from matching
``-uuid`` as the module does).

Threads are grouped straight from their names (QEMU with debug-threads=on):
"CPU <n>/<accel>" is vCPU n, "IO iothread<n>" libvirt's iothread n, "kvm-*"
a KVM worker the kernel attaches to the process, anything else an emulator
thread ("emulator" is the union of their allowed CPUs).

Usage: proc_threads.py DOMAIN_NAME   (root: /run/libvirt/qemu/*.pid is root-only)
Output: {"pid": N, "vcpus": {"0": [1]}, "iothreads": {"1": [0]}, "emulator": [0],
         "kvm_workers": [[1]], "threads": [{"tid": N, "comm": "CPU 0/KVM", "cpus": [1]}, ...]}
"""

import json
import os
import re
import sys

PIDFILE = "/run/libvirt/qemu/%s.pid"


def parse(text):
    """The kernel prints 'a' and 'a-b' ranges, comma-joined."""
    cpus = []
    for part in text.split(","):
        lo, _dash, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def group(pid, threads):
    out = {"pid": pid, "vcpus": {}, "iothreads": {}, "emulator": set(), "kvm_workers": [], "threads": threads}
    for thread in threads:
        vcpu = re.match(r"^CPU (\d+)/", thread["comm"])
        iothread = re.match(r"^IO iothread(\d+)$", thread["comm"])
        if vcpu:
            out["vcpus"][vcpu.group(1)] = thread["cpus"]
        elif iothread:
            out["iothreads"][iothread.group(1)] = thread["cpus"]
        elif thread["comm"].startswith("kvm-"):
            out["kvm_workers"].append(thread["cpus"])
        else:
            out["emulator"].update(thread["cpus"])
    out["emulator"] = sorted(out["emulator"])
    return out


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(PIDFILE % argv[0]) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError) as exc:
        print("proc_threads.py: no pid for domain %s: %s" % (argv[0], exc), file=sys.stderr)
        return 1
    threads = []
    task_dir = "/proc/%d/task" % pid
    for tid in sorted(os.listdir(task_dir), key=int):
        with open(os.path.join(task_dir, tid, "comm")) as handle:
            comm = handle.read().rstrip("\n")
        with open(os.path.join(task_dir, tid, "status")) as handle:
            cpus = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("Cpus_allowed_list:"))
        threads.append({"tid": int(tid), "comm": comm, "cpus": parse(cpus)})
    json.dump(group(pid, threads), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
