#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark (not a test): the main playbook against plain hardware fact gathering, at fleet size.

The promise is that reading SMT facts and writing the fleet report costs no
more than the hardware facts every fleet already gathers. So on the same
simulated hosts, in the same run and with the same Ansible settings, this
times

* ``setup``:  ``ansible.builtin.setup gather_subset=hardware`` on every host;
* ``main``:   ``hvfleet.smt.main``, the whole pipeline: smt_facts on every
  host, then per host (on the controller) the plan of its declared guests,
  smt_hints, the rendered guest settings (CPUID table, QEMU arguments, libvirt
  XML) written as one file per guest, smt_audit, and the report once;
* ``gather``: ``hvfleet.smt.awx.gather`` (the AWX gather job: clear_facts,
  smt_facts; placement facts are skipped without libvirt),

and prints wall and CPU seconds and main/setup ratios (target: <= 1.0).
Every host declares ``--guests`` sample guests (planner requests), so the
decisions and the emitted files are real work, not empty loops.

Hosts are simulated: local connection, each with a sysroot from the fixture
generator (many hosts share a few trees; setup reads this machine). Every
host gets a real interpreter, never the pyenv shim (TOOLING.md: the shim
costs 0.06 s per module run). Runs are interleaved (setup, main, gather,
setup, ...) so load from other users of the machine hits all of them alike;
CPU seconds (this process's children) are the steadier figure on a shared
machine.

    .venv/bin/python benchmarks/playbook_scale.py --hosts 100 1000 --forks 8

Results: a table on stdout and ``benchmarks/output/playbook_scale/<time>/results.json``
(logs of every run next to it). ``--task-times`` also writes, next to each
log, where that run's time went task by task (wall seconds, CPU seconds of the
controller process and of the workers and modules it waited for), from a small
callback written into the output directory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Sequence

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS_ROOT = REPO_ROOT / ".cache" / "collections"
COLLECTION_LINK = COLLECTIONS_ROOT / "ansible_collections" / "hvfleet" / "smt"
FIXTURE_GENERATOR = REPO_ROOT / "tests" / "fixtures" / "sysfs.py"
OUTPUT_ROOT = REPO_ROOT / "benchmarks" / "output" / "playbook_scale"

# A mix of shapes; the hosts take them round robin.
DEFAULT_TOPOLOGIES = ("intel_2s_smt2_interleaved", "amd_epyc_naples_4die", "intel_smt_forceoff", "power9_smt4_on")

SETUP_PLAYBOOK = """\
---
- name: Hardware facts only (the baseline)
  hosts: all
  gather_facts: false
  tasks:
    - name: Gather hardware facts
      ansible.builtin.setup:
        gather_subset: [hardware]
"""

# A callback for --task-times: per task, wall time and CPU time of the
# controller process and of its reaped children (workers and modules).
TASK_TIMES_CALLBACK = '''\
from __future__ import annotations

import os
import resource
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_times
type: aggregate
short_description: wall and CPU seconds per task (benchmarks/playbook_scale.py --task-times)
description: Writes wall and CPU seconds per task to the file named by HVFLEET_TASK_TIMES.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._current = None
        self._rows = []
        self._start = time.monotonic()

    @staticmethod
    def _cpu():
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime

    def _close(self):
        if self._current is not None:
            name, started, (own, children) = self._current
            own2, children2 = self._cpu()
            self._rows.append((time.monotonic() - started, own2 - own, children2 - children, name))
            self._current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        self._current = (task.get_name(), time.monotonic(), self._cpu())

    def v2_playbook_on_play_start(self, play):
        self._close()

    def v2_playbook_on_stats(self, stats):
        self._close()
        with open(os.environ["HVFLEET_TASK_TIMES"], "w", encoding="utf-8") as out:
            out.write("%8s %10s %10s  task (total %.1f s wall)\\n"
                      % ("wall s", "ctrl cpu", "child cpu", time.monotonic() - self._start))
            for wall, own, children, name in self._rows:
                out.write("%8.2f %10.2f %10.2f  %s\\n" % (wall, own, children, name))
'''

JOBS = {
    "setup": None,  # written into the output directory
    "main": "hvfleet.smt.main",
    "gather": "hvfleet.smt.awx.gather",
}
# Planner requests each host declares (the first --guests of them).
SAMPLE_GUESTS = (
    {"name": "db-1", "vcpus": 4, "thread_policy": "require", "emulator": "isolate"},
    {"name": "web-1", "vcpus": 2, "thread_policy": "require"},
    {"name": "batch-1", "vcpus": 2, "thread_policy": "share"},
)


@dataclass(frozen=True)
class Sample:
    hosts: int
    job: str
    repeat: int
    wall_s: float
    cpu_s: float
    returncode: int
    log: str


def ensure_collection_link() -> None:
    """The same symlink tests/conftest.py maintains, so the benchmark runs the checkout."""
    if COLLECTION_LINK.is_symlink() and COLLECTION_LINK.resolve() == REPO_ROOT:
        return
    if COLLECTION_LINK.exists() and not COLLECTION_LINK.is_symlink():
        sys.exit("ERROR: %s is a real directory; expected a symlink to %s" % (COLLECTION_LINK, REPO_ROOT))
    COLLECTION_LINK.parent.mkdir(parents=True, exist_ok=True)
    if COLLECTION_LINK.is_symlink():
        COLLECTION_LINK.unlink()
    COLLECTION_LINK.symlink_to(REPO_ROOT, target_is_directory=True)


def real_interpreter() -> str:
    """The interpreter behind this venv's python, resolved past every symlink (never a shim)."""
    path = os.path.realpath(sys.executable)
    with open(path, "rb") as handle:
        if handle.read(2) == b"#!":
            sys.exit("ERROR: %s is a script (a pyenv shim?); run this with a venv's python" % path)
    return path


def make_sysroots(workdir: Path, topologies: Sequence[str]) -> List[Path]:
    roots = []
    for name in topologies:
        root = workdir / "sysroots" / name
        if not root.exists():
            proc = subprocess.run([sys.executable, str(FIXTURE_GENERATOR), name, str(root)],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.exit("ERROR: fixture generator failed for %s:\n%s%s" % (name, proc.stdout, proc.stderr))
        roots.append(root)
    return roots


def write_inventory(path: Path, count: int, sysroots: Sequence[Path], interpreter: str, guests: int) -> None:
    hosts = {"hv%04d" % i: {"hvfleet_smt_sysroot": str(sysroots[i % len(sysroots)])} for i in range(count)}
    variables = {"ansible_connection": "local", "ansible_python_interpreter": interpreter}
    if guests:
        variables.update({"hvfleet_smt_guests": list(SAMPLE_GUESTS[:guests]), "hvfleet_smt_housekeeping": 1,
                          "hvfleet_smt_migration_domain": []})
    inventory = {"all": {"vars": variables, "hosts": hosts}}
    path.write_text(yaml.safe_dump(inventory, sort_keys=True), encoding="utf-8")


def ansible_env(home: Path, forks: int, strategy: str, pipelining: bool) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update({
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_ROOT),
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_STRATEGY": strategy,
        "ANSIBLE_PIPELINING": "true" if pipelining else "false",
        # Fact caching off: the benchmark measures gathering, not a cache backend.
        "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.memory",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
    })
    return env


def run_job(cmd: Sequence[str], env: Dict[str, str], cwd: Path, log: Path) -> tuple:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run(list(cmd), cwd=str(cwd), env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def check_report(report_dir: Path, count: int, guests: int) -> None:
    """A benchmark of a run that did not do the work measures nothing."""
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    summary = report["summary"]
    if len(report["hosts"]) != count or summary["hosts_failed"] != 0:
        sys.exit("ERROR: report in %s has %d hosts, %d failed; expected %d, 0"
                 % (report_dir, len(report["hosts"]), summary["hosts_failed"], count))
    emitted = len(list((report_dir / "guests").glob("*.txt"))) if (report_dir / "guests").is_dir() else 0
    audited = sum(1 for host in report["hosts"] if host.get("audit"))
    if guests and (emitted < count or audited != count):
        sys.exit("ERROR: report in %s: %d guest settings files and %d audited hosts for %d hosts"
                 % (report_dir, emitted, audited, count))


def summarize(samples: Sequence[Sample]) -> List[dict]:
    rows = []
    for count in sorted({s.hosts for s in samples}):
        best = {}
        for job in JOBS:
            mine = [s for s in samples if s.hosts == count and s.job == job]
            if mine:
                best[job] = (min(s.wall_s for s in mine), min(s.cpu_s for s in mine))
        row = {"hosts": count}
        for job, (wall, cpu) in best.items():
            row[job + "_wall_s"] = round(wall, 1)
            row[job + "_cpu_s"] = round(cpu, 1)
        for job in JOBS:
            if job != "setup" and job in best and "setup" in best:
                row[job + "_vs_setup_wall"] = round(best[job][0] / best["setup"][0], 2)
                row[job + "_vs_setup_cpu"] = round(best[job][1] / best["setup"][1], 2)
        rows.append(row)
    return rows


def print_table(rows: Sequence[dict], settings: dict) -> None:
    print("\nplaybook_scale: %s" % ", ".join("%s=%s" % kv for kv in settings.items()))
    print("%6s  %-17s %8s %8s   %s" % ("hosts", "job", "wall s", "cpu s", "vs setup (wall / cpu)"))
    for row in rows:
        for job in JOBS:
            if job + "_wall_s" not in row:
                continue
            key = job + "_vs_setup_wall"
            ratio = "%.2f / %.2f" % (row[key], row[job + "_vs_setup_cpu"]) if key in row else ""
            print("%6d  %-17s %8.1f %8.1f   %s" % (row["hosts"], job, row[job + "_wall_s"], row[job + "_cpu_s"], ratio))
    print("(best of the repeats; target: main vs setup <= 1.0)")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--forks", type=int, default=8)
    parser.add_argument("--strategy", default="linear", choices=["linear", "free"])
    parser.add_argument("--no-pipelining", dest="pipelining", action="store_false")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each job per size (best is reported)")
    parser.add_argument("--jobs", nargs="+", default=list(JOBS), choices=list(JOBS))
    parser.add_argument("--topologies", nargs="+", default=list(DEFAULT_TOPOLOGIES))
    parser.add_argument("--guests", type=int, default=2, choices=range(0, len(SAMPLE_GUESTS) + 1),
                        help="sample guests each host declares for the main job to plan, decide, render and audit")
    parser.add_argument("--task-times", action="store_true",
                        help="write per-task wall and CPU seconds next to each run's log")
    args = parser.parse_args(argv)
    if args.forks > 8:
        print("note: forks > 8 on a shared 2-core machine measures the neighbours", file=sys.stderr)

    ensure_collection_link()
    interpreter = real_interpreter()
    outdir = OUTPUT_ROOT / time.strftime("%Y%m%dT%H%M%S")
    outdir.mkdir(parents=True)
    (outdir / "setup.yml").write_text(SETUP_PLAYBOOK, encoding="utf-8")
    if args.task_times:
        (outdir / "callback_plugins").mkdir()
        (outdir / "callback_plugins" / "task_times.py").write_text(TASK_TIMES_CALLBACK, encoding="utf-8")
    sysroots = make_sysroots(OUTPUT_ROOT, args.topologies)
    env = ansible_env(outdir / "ansible-home", args.forks, args.strategy, args.pipelining)
    playbook_bin = str(Path(sys.executable).parent / "ansible-playbook")
    settings = {"forks": args.forks, "strategy": args.strategy, "pipelining": args.pipelining,
                "interpreter": interpreter, "sysroots": len(sysroots), "repeat": args.repeat, "guests": args.guests}

    samples: List[Sample] = []
    for count in args.hosts:
        inventory = outdir / ("inventory-%d.yml" % count)
        write_inventory(inventory, count, sysroots, interpreter, args.guests)
        for rep in range(args.repeat):
            for job in args.jobs:
                playbook = JOBS[job] or str(outdir / ("%s.yml" % job))
                report_dir = outdir / ("report-%d-%d" % (count, rep))
                cmd = [playbook_bin, "-i", str(inventory), playbook, "-e", "smt_report_dir=%s" % report_dir]
                log = outdir / ("%s-%d-%d.log" % (job, count, rep))
                job_env = env
                if args.task_times:
                    job_env = dict(env, ANSIBLE_CALLBACK_PLUGINS=str(outdir / "callback_plugins"),
                                   ANSIBLE_CALLBACKS_ENABLED="task_times",
                                   HVFLEET_TASK_TIMES=str(outdir / ("%s-%d-%d.task-times.txt" % (job, count, rep))))
                wall, cpu, rc = run_job(cmd, job_env, outdir, log)
                samples.append(Sample(count, job, rep, wall, cpu, rc, str(log)))
                print("%5d hosts  %-6s run %d: %7.1f s wall, %7.1f s cpu%s" % (
                    count, job, rep, wall, cpu, "" if rc == 0 else "  FAILED (exit %d, %s)" % (rc, log)),
                    flush=True)
                if rc != 0:
                    print(log.read_text(encoding="utf-8")[-3000:], file=sys.stderr)
                    return 1
                if job == "main":
                    check_report(report_dir, count, args.guests)

    rows = summarize(samples)
    (outdir / "results.json").write_text(json.dumps(
        {"settings": settings, "summary": rows, "samples": [asdict(s) for s in samples]}, indent=2) + "\n",
        encoding="utf-8")
    print_table(rows, settings)
    print("results: %s" % (outdir / "results.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
