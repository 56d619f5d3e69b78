"""Crash and restart: the worker killed (SIGKILL) part-way through each DAG, and each sandbox restarted
mid-run, then the run retried or rerun; the end state must equal the fault-free run's.

The worker here is a ``dag.test`` process (tasks run in it, as in an ``airflow tasks`` child), started by
the test and killed with SIGKILL right after its N-th write call was answered by a sandbox, i.e. between a
write and the bookkeeping that follows it. The rerun is a new ``dag.test`` in the test process; for the
opportunity sync the lease of the requests the dead run held is shortened so the rerun takes them over.

Sandbox restarts use servers of this module on their own data directories: the server is stopped part-way
through a run and a new app is started on the same data directory and port (sessions are lost, data stays).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.opportunity.world import World
from tests.reliability.conftest import CATALOG_DAG, OPPORTUNITY_DAG, SMALL_CATALOGUE, DagResult
from tests.reliability.reliability_helpers import (
    LEDGER,
    acme_hierarchy_deal,
    diff,
    normalise_pair,
    write_calls,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HERE = Path(__file__).parent
REQUEST_BOOKKEEPING = ("Attempts__c", "Message__c")


def _state(sf: Any, ls: Any, drop: tuple[str, ...] = ()) -> list[list[str]]:
    snap = sf.snapshot()
    for records in snap["records"].values():
        for record in records:
            for name in drop:
                record.pop(name, None)
    return normalise_pair(snap, ls.snapshot())


def _deals(w: World) -> list[str]:
    acme = acme_hierarchy_deal(w)
    globex = w.account("Globex")
    plan, plan_lines = w.opportunity(
        globex, name="Globex plan", type_="Existing Customer - Replacement", lines=[(1, 80)]
    )
    w.override(plan, plan_lines[0], "Seat", amount=25)
    return [acme, w.request(opportunity=plan)]


def _kill_after_writes(
    box: Any, writes: int, dag_id: str, conf: dict[str, Any], log: Path
) -> tuple[bool, int]:
    """Start a worker running the DAG; SIGKILL it once ``box`` has answered ``writes`` write calls.

    Returns (killed before the run finished, write calls seen).
    """
    box.clear_requests()
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, str(HERE / "crash_runner.py"), dag_id, json.dumps(conf)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=dict(os.environ),
        )  # fmt: skip
        seen = 0
        deadline = time.monotonic() + 120
        try:
            while worker.poll() is None and time.monotonic() < deadline:
                seen = write_calls(box.requests())
                if seen >= writes:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait(10)
                    return True, seen
                time.sleep(0.02)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
    return False, seen


# --------------------------------------------------------------------------------- SIGKILL, catalogue

_REFERENCE: dict[str, Any] = {}


@pytest.mark.parametrize("writes", [1, 3, 6], ids=lambda n: f"after write call {n}")
def test_a_catalogue_worker_killed_part_way_converges_on_rerun(
    sandboxes: tuple[Any, Any], run_catalog: Callable[..., DagResult], writes: int, tmp_path: Path
) -> None:
    sf, ls = sandboxes
    if "catalogue" not in _REFERENCE:
        ls.seed(**SMALL_CATALOGUE)
        assert run_catalog().state == "success"
        _REFERENCE["catalogue"] = _state(sf, ls)
        sf.reset()
        ls.reset()
    ls.seed(**SMALL_CATALOGUE)

    killed, seen = _kill_after_writes(sf, writes, CATALOG_DAG, {}, tmp_path / "worker.log")
    rerun = run_catalog()

    LEDGER.add(f"crash: catalogue worker SIGKILL after Salesforce write {writes}", {"SIGKILL": int(killed)}, {},
               note=f"{seen} write call(s) before the kill")  # fmt: skip
    assert killed, (tmp_path / "worker.log").read_text()[-2000:]
    assert rerun.state == "success", rerun.report
    assert diff(_REFERENCE["catalogue"], _state(sf, ls)) == []


# ------------------------------------------------------------------------------- SIGKILL, opportunity


@pytest.mark.parametrize(
    ("box", "writes"),
    [("logisense", 1), ("logisense", 6), ("logisense", -1)],
    ids=[
        "after the first LogiSense write",
        "mid-provisioning",
        "between the last LogiSense write and the write-back",
    ],
)
def test_an_opportunity_worker_killed_part_way_converges_on_rerun_without_duplicates(
    sandboxes: tuple[Any, Any], run_opportunity: Callable[..., DagResult], monkeypatch: pytest.MonkeyPatch,
    box: str, writes: int, tmp_path: Path,
) -> None:  # fmt: skip
    sf, ls = sandboxes

    def world() -> World:
        w = World(sf.url, ls.url)
        w.build_catalogue()
        return w

    if "opportunity" not in _REFERENCE:
        w = world()
        requests_ = _deals(w)
        ls.clear_requests()
        assert run_opportunity(request_ids=requests_).state == "success"
        _REFERENCE["opportunity"] = _state(sf, ls, REQUEST_BOOKKEEPING)
        _REFERENCE["logisense_writes"] = write_calls(ls.requests())
        w.close()
        sf.reset()
        ls.reset()
    w = world()
    requests_ = _deals(w)
    target = ls
    if writes < 0:  # after every LogiSense write of the run, before (the last) Salesforce write-back
        writes = int(_REFERENCE["logisense_writes"])

    killed, _seen = _kill_after_writes(target, writes, OPPORTUNITY_DAG, {"request_ids": requests_},
                                      tmp_path / "worker.log")  # fmt: skip
    held = [w.get("LogiSense_Request__c", r)["Status__c"] for r in requests_]
    monkeypatch.setenv("LOGISENSE_OPPORTUNITY_LEASE_SECONDS", "1")
    time.sleep(1.1)
    runs = 0
    statuses = held
    while statuses != ["Completed", "Completed"] and runs < 3:
        run_opportunity()  # the next sweep takes over what the dead run held
        runs += 1
        statuses = [w.get("LogiSense_Request__c", r)["Status__c"] for r in requests_]

    LEDGER.add(f"crash: opportunity worker SIGKILL after {box} write {writes}", {}, {"SIGKILL": int(killed)},
               note=f"statuses after the kill {held}; {runs} rerun(s)")  # fmt: skip
    assert killed, (tmp_path / "worker.log").read_text()[-2000:]
    assert statuses == ["Completed", "Completed"]
    found = diff(_REFERENCE["opportunity"], _state(sf, ls, REQUEST_BOOKKEEPING))
    w.close()
    assert found == []


# ----------------------------------------------------------------------------------- sandbox restarts


class Restartable:
    """A sandbox served from its own data directory that can be restarted on the same port."""

    def __init__(self, module: str, data_dir: Path, tls: Any) -> None:
        self.module, self.data_dir, self.tls = module, data_dir, tls
        self.handle: Any = None
        self.port = 0
        self.restarts = 0
        self.session = requests.Session()
        self.session.verify = str(tls.ca)
        self.start()

    def start(self) -> None:
        import importlib

        from logisense_sync.sandbox.common.server import serve_in_thread

        app = importlib.import_module(self.module).create_app(self.data_dir)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.handle = serve_in_thread(app, self.tls, port=self.port)
                break
            except (RuntimeError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.port = self.handle.port

    def restart(self) -> None:
        self.handle.stop()
        self.start()
        self.restarts += 1

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(method, f"{self.url}/__sandbox__/{path}", json=body, timeout=120)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.control("POST", "reset")

    def seed(self, **body: Any) -> Any:
        return self.control("POST", "seed", body)

    def snapshot(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control("GET", "snapshot")
        return result

    def requests(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control("GET", "requests")
        return result

    def clear_requests(self) -> None:
        self.control("DELETE", "requests")


@pytest.fixture
def restartable(
    tmp_path: Path, sandbox_tls: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Restartable, Restartable]]:
    """Both sandboxes on their own data dirs, connections pointing at them."""
    sf = Restartable("logisense_sync.sandbox.salesforce.app", tmp_path / "sf", sandbox_tls)
    ls = Restartable("logisense_sync.sandbox.logisense.app", tmp_path / "ls", sandbox_tls)
    sf_conn = {
        "conn_type": "salesforce",
        "extra": {"consumer_key": "sandbox-client", "consumer_secret": "sandbox-secret",
                  "domain": f"127.0.0.1:{sf.port}/services/oauth2/token#"},
    }  # fmt: skip
    ls_conn = {
        "conn_type": "logisense", "host": ls.url, "login": "admin", "password": "sandbox",
        "extra": {"client_id": "sandbox", "api_version": "v10"},
    }  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", json.dumps(sf_conn))
    monkeypatch.setenv("AIRFLOW_CONN_LOGISENSE_DEFAULT", json.dumps(ls_conn))
    monkeypatch.setenv("LOGISENSE_OPPORTUNITY_CLAIM_SETTLE_SECONDS", "0.2")
    try:
        yield sf, ls
    finally:
        sf.handle.stop()
        ls.handle.stop()


def _restart_after_calls(box: Restartable, calls: int) -> threading.Thread:
    """In the background: restart ``box`` once it has recorded ``calls`` API calls.

    Each call is slowed down by 50 ms until the restart (the restarted app starts without latency), so the
    restart lands while the run still has calls to make instead of racing a run that takes 0.3 s.
    """
    box.control("POST", "settings", {"latency_ms": 50})

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if box.requests()["total"] >= calls:
                    box.restart()
                    return
            except requests.RequestException:
                pass
            time.sleep(0.02)
        box.control("POST", "settings", {"latency_ms": 0})

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("which", "calls"), [("salesforce", 6), ("logisense", 10)], ids=["Salesforce", "LogiSense"]
)
def test_the_catalogue_sync_converges_when_a_sandbox_restarts_mid_run(
    restartable: tuple[Restartable, Restartable],
    run_catalog: Callable[..., DagResult],
    which: str,
    calls: int,
) -> None:
    sf, ls = restartable
    sf.reset()
    ls.reset()
    ls.seed(**SMALL_CATALOGUE)
    assert run_catalog().state == "success"
    reference = _state(sf, ls)
    sf.reset()
    ls.reset()
    ls.seed(**SMALL_CATALOGUE)
    box = sf if which == "salesforce" else ls
    box.clear_requests()

    watcher = _restart_after_calls(box, calls)
    runs = [run_catalog()]
    watcher.join(10)
    while runs[-1].state != "success" and len(runs) < 3:
        runs.append(run_catalog())

    after_restart = box.requests()["total"]  # calls the run made to the restarted server
    counts = ({"restart": box.restarts}, {}) if which == "salesforce" else ({}, {"restart": box.restarts})
    LEDGER.add(f"restart: {which} sandbox mid catalogue run", *counts,
               note=f"after {calls} calls; {len(runs)} run(s)")  # fmt: skip
    assert box.restarts == 1
    assert after_restart > 0, "the restart happened mid-run"
    assert runs[-1].state == "success", runs[-1].report
    assert diff(reference, _state(sf, ls)) == []


@pytest.mark.parametrize(
    ("which", "calls"), [("salesforce", 12), ("logisense", 25)], ids=["Salesforce", "LogiSense"]
)
def test_the_opportunity_sync_converges_when_a_sandbox_restarts_mid_run(
    restartable: tuple[Restartable, Restartable], run_opportunity: Callable[..., DagResult],
    monkeypatch: pytest.MonkeyPatch, which: str, calls: int,
) -> None:  # fmt: skip
    sf, ls = restartable

    def fresh() -> tuple[World, list[str]]:
        sf.reset()
        ls.reset()
        w = World(sf.url, ls.url)
        w.build_catalogue()
        return w, _deals(w)

    w, requests_ = fresh()
    assert run_opportunity(request_ids=requests_).state == "success"
    reference = _state(sf, ls, REQUEST_BOOKKEEPING)
    w.close()
    w, requests_ = fresh()
    box = sf if which == "salesforce" else ls
    box.clear_requests()
    monkeypatch.setenv("LOGISENSE_OPPORTUNITY_LEASE_SECONDS", "1")

    watcher = _restart_after_calls(box, calls)
    runs = [run_opportunity(request_ids=requests_)]
    watcher.join(10)
    w.close()
    w = World(sf.url, ls.url)  # a restarted Salesforce forgets sessions: log in again
    statuses = [w.get("LogiSense_Request__c", r)["Status__c"] for r in requests_]
    while statuses != ["Completed", "Completed"] and len(runs) < 4:
        time.sleep(1.1)
        runs.append(run_opportunity())
        statuses = [w.get("LogiSense_Request__c", r)["Status__c"] for r in requests_]

    after_restart = box.requests()["total"]  # calls the run made to the restarted server
    counts = ({"restart": box.restarts}, {}) if which == "salesforce" else ({}, {"restart": box.restarts})
    LEDGER.add(f"restart: {which} sandbox mid opportunity run", *counts,
               note=f"after {calls} calls; {len(runs)} run(s)")  # fmt: skip
    assert box.restarts == 1
    assert after_restart > 0, "the restart happened mid-run"
    assert statuses == ["Completed", "Completed"]
    found = diff(reference, _state(sf, ls, REQUEST_BOOKKEEPING))
    w.close()
    assert found == []
