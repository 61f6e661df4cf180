# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The main playbook through ansible-runner, the library AWX runs every job with.

AWX sees a job only through runner's events and artifacts: per-host task
results drive its host summaries, ``playbook_on_stats`` its job status, the
``fact_cache`` directory its fact storage. So this test checks what AWX would
see, not just that ansible-playbook exits 0.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, List, NamedTuple

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from runner_support import MAIN_PLAYBOOK, ansible_env, build_fleet, generate_sysroots  # noqa: E402  pylint: disable=wrong-import-position

try:
    import ansible_runner
except ImportError as err:  # pragma: no cover - the failure itself is the message
    # Not a skip: CI must have ansible-runner (tests/requirements-dev.txt).
    pytest.fail("ansible-runner is not importable (%s); install tests/requirements-dev.txt" % err, pytrace=False)

FACTS_ACTION = "hvfleet.smt.smt_facts"


class RunnerJob(NamedTuple):
    """One ansible-runner run of the main playbook and what it left behind."""

    fleet: Any
    pdd: Path  # runner's private data directory
    report_dir: Path
    result: Any  # ansible_runner.Runner
    events: List[dict]


def _private_data_dir(tmp_path: Path):
    fleet = build_fleet(tmp_path / "fleet", generate_sysroots(tmp_path / "sysroots"))
    pdd = tmp_path / "runner"
    (pdd / "project").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    # runner takes every file under inventory/ as an inventory source
    (pdd / "inventory" / "hosts.yml").write_text(fleet.inventory.read_text(encoding="utf-8"), encoding="utf-8")
    return fleet, pdd


@pytest.fixture(scope="module")
def runner_job(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("runner")
    fleet, pdd = _private_data_dir(tmp_path)
    report_dir = tmp_path / "report"
    env = ansible_env(home=tmp_path / "ansible-home")
    with pytest.MonkeyPatch.context() as patch:
        # runner starts from os.environ: keep the caller's ANSIBLE_* settings out of the job
        for key in [k for k in os.environ if k.startswith("ANSIBLE_")]:
            patch.delenv(key)
        result = ansible_runner.run(
            private_data_dir=str(pdd),
            playbook=str(MAIN_PLAYBOOK),
            extravars={"smt_report_dir": str(report_dir)},
            envvars={k: v for k, v in env.items() if k.startswith(("ANSIBLE_", "PATH", "PYTHON"))},
            ident="main",
            quiet=True,
        )
    events = list(result.events)
    return RunnerJob(fleet, pdd, report_dir, result, events)


def _stdout(pdd: Path) -> str:
    path = pdd / "artifacts" / "main" / "stdout"
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else "<no stdout artifact>"


def test_job_succeeds(runner_job):
    pdd, result = runner_job.pdd, runner_job.result
    assert (result.status, result.rc) == ("successful", 0), _stdout(pdd)


def test_smt_facts_ok_once_per_host(runner_job):
    fleet, pdd, events = runner_job.fleet, runner_job.pdd, runner_job.events
    ok_hosts = [e["event_data"]["host"] for e in events
                if e["event"] == "runner_on_ok" and e["event_data"].get("task_action") == FACTS_ACTION]
    assert sorted(ok_hosts) == sorted(fleet.hosts), _stdout(pdd)
    for event in events:
        if event["event"] == "runner_on_ok" and event["event_data"].get("task_action") == FACTS_ACTION:
            facts = event["event_data"]["res"]["ansible_facts"]["hvfleet_smt"]
            host = event["event_data"]["host"]
            assert facts["smt"]["control"] == fleet.expected_smt_control(host), host


def test_no_failed_or_unreachable_host_events(runner_job):
    pdd, events = runner_job.pdd, runner_job.events
    bad = [(e["event"], e["event_data"].get("host")) for e in events
           if e["event"] in ("runner_on_failed", "runner_on_unreachable", "runner_item_on_failed")]
    assert bad == [], _stdout(pdd)


def test_stats_event_reports_every_host_without_failures(runner_job):
    fleet, events = runner_job.fleet, runner_job.events
    stats = [e for e in events if e["event"] == "playbook_on_stats"]
    assert len(stats) == 1, [e["event"] for e in events]
    data = stats[0]["event_data"]
    assert data["failures"] == {} and data["dark"] == {}, data
    assert sorted(data["ok"]) == sorted(fleet.hosts), data


def test_artifacts(runner_job):
    pdd, report_dir, result = runner_job.pdd, runner_job.report_dir, runner_job.result
    artifacts = pdd / "artifacts" / "main"
    stdout = (artifacts / "stdout").read_text(encoding="utf-8")
    assert "PLAY RECAP" in stdout and str(report_dir) in stdout
    assert (artifacts / "rc").read_text(encoding="utf-8").strip() == "0"
    assert (artifacts / "status").read_text(encoding="utf-8").strip() == "successful"
    assert len(list((artifacts / "job_events").glob("*.json"))) == len(list(result.events))


def test_report_written_with_every_host(runner_job):
    fleet, report_dir = runner_job.fleet, runner_job.report_dir
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["hosts_failed"] == 0, report["summary"]
    by_name = {h["name"]: h for h in report["hosts"]}
    assert sorted(by_name) == sorted(fleet.hosts)
    for host in fleet.hosts:
        assert by_name[host]["error"] is None, by_name[host]
        assert by_name[host]["smt_control"] == fleet.expected_smt_control(host), host
    assert (report_dir / "summary.txt").read_text(encoding="utf-8").startswith("hvfleet.smt report")


def test_runner_fact_cache_holds_the_facts(runner_job):
    """runner's default jsonfile cache is where AWX picks facts up after a job (use_fact_cache)."""
    fleet, pdd = runner_job.fleet, runner_job.pdd
    fact_cache = pdd / "artifacts" / "main" / "fact_cache"
    for host in fleet.hosts:
        # ansible-core >= 2.19 prefixes keys with its cache schema ("s1_")
        # and wraps the facts in a JSON string under "__payload__".
        files = sorted(fact_cache.glob("*%s" % host))
        assert [f.name for f in files] in (["s1_%s" % host], [host]), sorted(os.listdir(fact_cache))
        document = json.loads(files[0].read_text(encoding="utf-8"))
        facts = json.loads(document["__payload__"]) if "__payload__" in document else document
        assert facts["hvfleet_smt"]["smt"]["control"] == fleet.expected_smt_control(host), (host, facts)
