# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""QEMU thread names and affinities -> where a running guest's vCPUs, emulator and iothreads may run.

A definition says what libvirt meant to apply; the kernel's affinity of each
thread (``/proc/<pid>/task/<tid>/status`` ``Cpus_allowed_list``, already
narrowed by the cpuset cgroup) is what the scheduler obeys. This module turns
the second into the placement shape, from plain data so it is testable.

Thread names are QEMU's (``-name ...,debug-threads=on``, which libvirt always
passes), as seen in ``comm`` (at most 15 characters) on QEMU 7.2 under
libvirt 9.0, checked on a running domain:

* ``CPU <n>/KVM`` (or ``/TCG`` with multi-threaded TCG, ``/HVF``, ...): vCPU ``n``;
* ``ALL CPUs/TCG``: single-threaded TCG, one thread runs every vCPU;
* ``IO iothread<n>``: libvirt's iothread ``n`` (libvirt names the objects
  ``iothread<n>``); ``IO mon_iothread`` is QEMU's monitor thread, not one of them;
* ``kvm-nx-lpage-re`` (kvm-nx-lpage-recovery): a KVM worker the kernel 6.13+
  attaches to the process from the first vCPU's context; it inherits a vCPU's
  cgroup, so it stays on the guest's own vCPU CPUs. It is kept apart while it
  does; if it ever may run elsewhere it counts as an emulator thread;
* everything else (the main thread, named after the binary, ``call_rcu``,
  ``worker``, ``vhost-<pid>``, ...): emulator threads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from ansible_collections.hvfleet.smt.plugins.module_utils.cpulist import format_cpulist, parse_printed
from ansible_collections.hvfleet.smt.plugins.module_utils.errors import CpulistError, FactsError

Cpus = Tuple[int, ...]

VCPU_NAME = re.compile(r"^CPU (\d+)/([A-Za-z0-9_]+)$")
ALL_VCPUS_NAME = re.compile(r"^ALL CPUs/([A-Za-z0-9_]+)$")
IOTHREAD_NAME = re.compile(r"^IO iothread(\d+)$")
KVM_WORKER_PREFIX = "kvm-"
AFFINITY_KEY = "Cpus_allowed_list:"


@dataclass(frozen=True)
class QemuThread:
    """One thread of a QEMU process: its id, ``comm`` and allowed CPUs."""

    tid: int
    name: str
    cpus: Cpus


@dataclass(frozen=True)
class ThreadPlacement:
    """The threads of one QEMU process, sorted by what they run for the guest."""

    vcpus: Mapping[int, Cpus]  # vCPU id -> CPUs its own thread may run on
    emulator: Cpus  # union over every emulator thread
    iothreads: Mapping[int, Cpus]  # libvirt iothread id -> CPUs
    all_vcpus: Optional[Cpus] = None  # single-threaded TCG: the one thread that runs every vCPU
    kvm_workers: Tuple[Cpus, ...] = ()
    accelerator: Optional[str] = None
    notes: Tuple[Tuple[str, str], ...] = field(default_factory=tuple)  # (code, message)

    def vcpu_affinity(self, vcpu_id: int) -> Optional[Cpus]:
        """The CPUs vCPU ``vcpu_id`` may run on, from its own thread and/or a shared TCG thread."""
        own = self.vcpus.get(vcpu_id)
        if self.all_vcpus is None or own is None:
            return own if own is not None else self.all_vcpus
        return tuple(sorted(set(own) | set(self.all_vcpus)))


def affinity_from_status(text: str, path: str) -> Cpus:
    """Return ``Cpus_allowed_list`` from the contents of a ``/proc/.../status`` file."""
    for line in text.splitlines():
        if line.startswith(AFFINITY_KEY):
            value = line[len(AFFINITY_KEY):].strip()
            try:
                cpus = parse_printed(value)
            except CpulistError:
                raise FactsError(path, value, "a kernel cpulist such as '0-3,8' after %s" % AFFINITY_KEY)
            if not cpus:
                raise FactsError(path, value, "at least one CPU after %s" % AFFINITY_KEY)
            return tuple(cpus)
    raise FactsError(path, text[:120], "a line starting with %s" % AFFINITY_KEY)


def qemu_pids_for_uuid(processes: Iterable[Tuple[int, Sequence[str]]], uuid: str) -> List[int]:
    """Pids whose command line has ``-uuid <uuid>`` (libvirt passes it to every QEMU it starts).

    Matching the UUID rather than the name survives renames and names that
    QEMU's ``-name guest=`` escaping would mangle.
    """
    wanted = uuid.lower()
    found = []
    for pid, argv in processes:
        for index, arg in enumerate(argv[:-1]):
            if arg == "-uuid" and argv[index + 1].lower() == wanted:
                found.append(pid)
                break
    return sorted(found)


def parse_cmdline(raw: bytes) -> List[str]:
    """Split ``/proc/<pid>/cmdline`` (NUL-separated, NUL-terminated) into arguments."""
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def classify_threads(threads: Sequence[QemuThread], iothread_ids: Iterable[int]) -> ThreadPlacement:
    """Sort a QEMU process's threads into vCPU, iothread, KVM worker and emulator threads."""
    known_iothreads = set(iothread_ids)
    vcpus: Dict[int, Set[int]] = {}
    iothreads: Dict[int, Set[int]] = {}
    emulator: Set[int] = set()
    workers: List[QemuThread] = []
    all_vcpus: Optional[Set[int]] = None
    accelerators: Set[str] = set()
    notes: List[Tuple[str, str]] = []
    for thread in threads:
        vcpu = VCPU_NAME.match(thread.name)
        if vcpu:
            vcpu_id = int(vcpu.group(1))
            if vcpu_id in vcpus:
                notes.append((
                    "vcpu_threads_duplicate",
                    "more than one thread is named 'CPU %d/...'; vCPU %d is taken to run on all their CPUs"
                    % (vcpu_id, vcpu_id),
                ))
            vcpus.setdefault(vcpu_id, set()).update(thread.cpus)
            accelerators.add(vcpu.group(2))
            continue
        every = ALL_VCPUS_NAME.match(thread.name)
        if every:
            all_vcpus = (all_vcpus or set()) | set(thread.cpus)
            accelerators.add(every.group(1))
            continue
        io = IOTHREAD_NAME.match(thread.name)
        if io and int(io.group(1)) in known_iothreads:
            iothreads.setdefault(int(io.group(1)), set()).update(thread.cpus)
            continue
        if thread.name.startswith(KVM_WORKER_PREFIX):
            workers.append(thread)
            continue
        emulator.update(thread.cpus)
    if all_vcpus is not None:
        notes.append((
            "single_threaded_tcg",
            "one thread runs every vCPU (single-threaded TCG) on CPUs %s" % _fmt(all_vcpus),
        ))
    vcpu_cpus: Set[int] = set(all_vcpus or ())
    for cpus in vcpus.values():
        vcpu_cpus.update(cpus)
    kept = []
    for worker in workers:
        if vcpu_cpus and vcpu_cpus.issuperset(worker.cpus):
            kept.append(worker.cpus)
        else:
            emulator.update(worker.cpus)
            notes.append((
                "kvm_worker_outside_vcpus",
                "KVM worker thread '%s' (tid %d) may run on CPUs %s, outside the vCPUs' CPUs %s; "
                "it is counted as an emulator thread"
                % (worker.name, worker.tid, _fmt(worker.cpus), _fmt(vcpu_cpus)),
            ))
    return ThreadPlacement(
        vcpus={key: tuple(sorted(cpus)) for key, cpus in sorted(vcpus.items())},
        emulator=tuple(sorted(emulator)),
        iothreads={key: tuple(sorted(cpus)) for key, cpus in sorted(iothreads.items())},
        all_vcpus=tuple(sorted(all_vcpus)) if all_vcpus is not None else None,
        kvm_workers=tuple(kept),
        accelerator="/".join(sorted(accelerators)) or None,
        notes=tuple(notes),
    )


def _fmt(cpus: Iterable[int]) -> str:
    return format_cpulist(cpus) or "(none)"
