# -*- coding: utf-8 -*-
# Copyright (c) hvfleet.smt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions read facts from the fact cache: two runs, two processes, one cache.

This is what job slicing relies on (docs/awx.md): one job gathers facts into
the cache, a later job with ``gather_facts: false`` reads every host's facts
from it. Each backend gets the same three checks:

* facts written by the main playbook reach the report of a second run that
  gathers nothing (same ``collected_at``: read, not re-gathered);
* the same second run against an empty cache reports every host as missing,
  so the first check cannot pass without the cache;
* the AWX gather job replaces a host's cached facts with its error when the
  host breaks, instead of leaving yesterday's facts next to today's error.

redis runs as a real ``redis-server`` on 127.0.0.1 and a free port, started
and stopped here; community.general (for its redis cache plugin) comes from
the pinned ``ansible`` wheel (cache_collections.py).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Mapping

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cache_collections import collections_paths  # noqa: E402  pylint: disable=wrong-import-position
from runner_support import (  # noqa: E402  pylint: disable=wrong-import-position
    AWX_PLAYBOOKS, MAIN_PLAYBOOK, Fleet, ansible_env, ansible_playbook, build_fleet, generate_sysroots,
)

REPORT_PLAYBOOK = AWX_PLAYBOOKS / "report.yml"
DECIDE_PLAYBOOK = AWX_PLAYBOOKS / "decide.yml"
GATHER_PLAYBOOK = AWX_PLAYBOOKS / "gather.yml"
REDIS_START_TIMEOUT = 10.0
EMPTY_REDIS_DB = 15
_REDIS_DBS = itertools.count(1)


# --------------------------------------------------------------------------
# Cache backends


@dataclass(frozen=True)
class Backend:
    name: str
    env: Mapping[str, str]
    collections: tuple

    def empty_variant(self, tmp_path: Path) -> "Backend":
        """The same plugin pointed at a cache nobody wrote to."""
        if self.name == "jsonfile":
            env = dict(self.env, ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "empty-cache"))
        else:
            host, port, _db = self.env["ANSIBLE_CACHE_PLUGIN_CONNECTION"].split(":")
            env = dict(self.env, ANSIBLE_CACHE_PLUGIN_CONNECTION="%s:%s:%d" % (host, port, EMPTY_REDIS_DB))
        return Backend(self.name, env, self.collections)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class RedisServer:
    port: int
    process: subprocess.Popen
    log: Path

    def client(self, db: int = 0):
        import redis  # pylint: disable=import-outside-toplevel
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=5)


def _start_redis(workdir: Path) -> RedisServer:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (Debian package redis-server, hack/apt-packages.txt)", pytrace=False)
    try:
        import redis  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError as err:
        pytest.fail("the python redis client is not importable (%s); install tests/requirements-dev.txt" % err,
                    pytrace=False)
    workdir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = _free_port()
        log = workdir / ("redis-%d.log" % port)
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", str(workdir), "--logfile", str(log), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        srv = RedisServer(port=port, process=proc, log=log)
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if srv.client().ping():
                    return srv
            except Exception as err:  # pylint: disable=broad-except  # redis raises several connection errors
                last_error = repr(err)
            time.sleep(0.1)
        proc.terminate()
        proc.wait(timeout=10)
        last_error += "\n" + (log.read_text(encoding="utf-8", errors="replace") if log.exists() else "")
    pytest.fail("redis-server did not answer PING within %.0f s on a free port (3 tries): %s"
                % (REDIS_START_TIMEOUT, last_error), pytrace=False)
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    srv = _start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield srv
    finally:
        srv.process.terminate()
        try:
            srv.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            srv.process.kill()
            srv.process.wait(timeout=10)


@pytest.fixture(scope="module")
def community_general() -> tuple:
    return tuple(collections_paths(["community.general"]))


@pytest.fixture(params=["jsonfile", "redis"])
def backend(request, tmp_path) -> Backend:
    if request.param == "jsonfile":
        return Backend("jsonfile", {
            "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "fact-cache"),
        }, ())
    srv = request.getfixturevalue("redis_server")
    # one database per test, so tests cannot see each other's facts (15 is the "empty" one)
    db = next(_REDIS_DBS)
    if db >= EMPTY_REDIS_DB:
        pytest.fail("more redis-backed tests than databases 1-14; give them another prefix", pytrace=False)
    srv.client(db).flushdb()
    return Backend("redis", {
        "ANSIBLE_CACHE_PLUGIN": "community.general.redis",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": "127.0.0.1:%d:%d" % (srv.port, db),
        "ANSIBLE_CACHE_PLUGIN_PREFIX": "hvfleet_smt_test_",
    }, request.getfixturevalue("community_general"))


# --------------------------------------------------------------------------
# Helpers


def _env(backend: Backend, tmp_path: Path) -> Dict[str, str]:
    return ansible_env(home=tmp_path / "ansible-home", extra_collections=backend.collections, extra=backend.env)


def _report(report_dir: Path) -> Dict[str, dict]:
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    return {host["name"]: host for host in report["hosts"]}


@pytest.fixture(scope="module")
def sysroots(tmp_path_factory) -> Dict[str, Path]:
    return generate_sysroots(tmp_path_factory.mktemp("sysroots"))


@pytest.fixture
def fleet(sysroots, tmp_path) -> Fleet:
    return build_fleet(tmp_path / "fleet", sysroots)


# --------------------------------------------------------------------------
# Tests


def test_second_run_reports_facts_from_the_cache(backend, fleet, tmp_path):
    env = _env(backend, tmp_path)
    ansible_playbook(MAIN_PLAYBOOK, fleet, env, tmp_path, {"smt_report_dir": str(tmp_path / "first")})
    ansible_playbook(REPORT_PLAYBOOK, fleet, env, tmp_path, {"smt_report_dir": str(tmp_path / "second")})

    first, second = _report(tmp_path / "first"), _report(tmp_path / "second")
    assert sorted(second) == sorted(fleet.hosts)
    for host in fleet.hosts:
        assert second[host]["error"] is None, second[host]
        assert second[host]["smt_control"] == fleet.expected_smt_control(host), host
        # read from the cache, not gathered again
        assert second[host]["collected_at"] == first[host]["collected_at"], host
        assert second[host] == first[host], host


def test_second_run_without_the_cache_has_no_facts(backend, fleet, tmp_path):
    """Guards the test above: the report playbook itself gathers nothing."""
    empty = _env(backend.empty_variant(tmp_path), tmp_path)
    ansible_playbook(REPORT_PLAYBOOK, fleet, empty, tmp_path, {"smt_report_dir": str(tmp_path / "second")})

    second = _report(tmp_path / "second")
    assert sorted(second) == sorted(fleet.hosts)
    assert {host: entry["error"] for host, entry in second.items()} == {
        host: "no hvfleet_smt facts" for host in fleet.hosts}


def test_gather_job_replaces_stale_facts_with_the_error(backend, fleet, tmp_path):
    env = _env(backend, tmp_path)
    ansible_playbook(GATHER_PLAYBOOK, fleet, env, tmp_path)
    ansible_playbook(REPORT_PLAYBOOK, fleet, env, tmp_path, {"smt_report_dir": str(tmp_path / "before")})
    before = _report(tmp_path / "before")
    assert all(before[h]["error"] is None for h in fleet.hosts), before

    # The same host now fails: its sysroot is gone.
    broken = "hv-naples"
    gone = tmp_path / "no-such-sysroot"
    broken_fleet = build_fleet(tmp_path / "broken-fleet", fleet.sysroots, {broken: gone})
    ansible_playbook(GATHER_PLAYBOOK, broken_fleet, env, tmp_path)
    ansible_playbook(REPORT_PLAYBOOK, broken_fleet, env, tmp_path, {"smt_report_dir": str(tmp_path / "after")})
    after = _report(tmp_path / "after")

    assert str(gone) in (after[broken]["error"] or ""), after[broken]
    assert "smt_control" not in after[broken], "stale facts survived next to the error: %r" % after[broken]
    for host in fleet.hosts:
        if host != broken:
            assert after[host]["error"] is None, after[host]
            assert after[host]["smt_control"] == fleet.expected_smt_control(host), host


def _sibling_pair(sysroot: Path) -> list:
    """Two SMT siblings of one physical core, as the fixture's kernel files say."""
    text = (sysroot / "sys/devices/system/cpu/cpu0/topology/thread_siblings_list").read_text(encoding="ascii").strip()
    cpus = [int(c) for c in text.replace("-", ",").split(",")]
    assert len(cpus) == 2, "expected a 2-thread core in %s, got %r" % (sysroot, text)
    return cpus


def test_decide_job_decides_from_cached_facts_and_refuses_uncovered_domains(backend, fleet, tmp_path):
    """Under slicing a host can miss the cache (its slice failed, it joined later): unknown means deny.

    The guest on hv-naples lives in migration domain "domain_a"; the decide
    job, run with limit = that group as AWX runs it, must decide its four
    statements from facts it did not gather. "domain_b" also holds a host
    that was never gathered and must be refused as a whole.
    """
    env = _env(backend, tmp_path)
    ansible_playbook(GATHER_PLAYBOOK, fleet, env, tmp_path)

    naples = fleet.sysroots["hv-naples"]
    siblings = _sibling_pair(naples)
    placement = {
        "schema": 1,
        "housekeeping": [c for c in range(0, 64) if c not in siblings][:2],
        "housekeeping_source": "test inventory",
        "guests": [{
            "name": "vm-1", "state": "running", "vcpus": [[siblings[0]], [siblings[1]]],
            "topology": {"sockets": 1, "dies": 1, "clusters": 1, "cores": 1, "threads": 2},
            "emulator": [c for c in range(0, 64) if c not in siblings][:2], "iothreads": [],
            "migration_domain": None, "source": "live",
        }],
    }
    newcomer = "hv-newcomer"
    grown = build_fleet(tmp_path / "grown-fleet", fleet.sysroots, {newcomer: naples},
                        groups={"domain_a": ["hv-naples", "hv-forceoff"], "domain_b": ["hv-naples", newcomer]},
                        host_vars={"hv-naples": {"hvfleet_placement": placement}})

    refused = ansible_playbook(DECIDE_PLAYBOOK, grown, env, tmp_path,
                               {"smt_report_dir": str(tmp_path / "refused")}, limit="domain_b", expect_failure=True)
    assert "Without facts: %s " % newcomer in refused.stdout, refused.stdout
    assert not (tmp_path / "refused").exists()

    ansible_playbook(DECIDE_PLAYBOOK, grown, env, tmp_path, {"smt_report_dir": str(tmp_path / "decided")},
                     limit="domain_a")
    report = _report(tmp_path / "decided")
    assert sorted(report) == ["hv-forceoff", "hv-naples"]
    guests = {g["name"]: g for g in report["hv-naples"]["guests"]}
    assert sorted(guests) == ["vm-1"], report["hv-naples"]
    statements = guests["vm-1"]["statements"]
    assert sorted(statements) == ["accurate_topology", "dedicated", "no_nonarch_core_sharing", "no_smt"]
    for name, statement in statements.items():
        # decided by the engine: a grant or a denial always names its reasons
        assert statement["reasons"], (name, statement)
        assert all(r["code"] for r in statement["reasons"]), (name, statement)


def test_redis_holds_one_entry_per_host(redis_server, community_general, fleet, tmp_path):
    """The redis plugin's own bookkeeping: a key per host and the keyset AWX-side tooling would scan."""
    db = next(_REDIS_DBS)
    backend = Backend("redis", {
        "ANSIBLE_CACHE_PLUGIN": "community.general.redis",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": "127.0.0.1:%d:%d" % (redis_server.port, db),
        "ANSIBLE_CACHE_PLUGIN_PREFIX": "hvfleet_smt_test_",
    }, community_general)
    ansible_playbook(GATHER_PLAYBOOK, fleet, _env(backend, tmp_path), tmp_path)

    client = redis_server.client(db)
    keys = sorted(k.decode() for k in client.zrange("ansible_cache_keys", 0, -1))
    # ansible-core >= 2.19 prefixes each host with its cache schema ("s1_")
    assert [k.split("_", 1)[1] if k.startswith("s1_") else k for k in keys] == sorted(fleet.hosts), keys
    for key in keys:
        document = json.loads(client.get("hvfleet_smt_test_" + key))
        facts = json.loads(document["__payload__"]) if "__payload__" in document else document
        assert "hvfleet_smt" in facts and "schema" in facts["hvfleet_smt"], (key, sorted(facts))
