"""The Celery worker SIGKILLed mid-run on the distributed topology (PostgreSQL, Redis, CeleryExecutor).

Reuses the distributed-topology helpers of ``tests/airflow/test_distributed.py`` (a fresh database, a
dedicated Redis queue, the process set), but serves the project's DAGs with connections to this session's
sandboxes. The Closed:Won run is triggered through the REST API exactly as the button does; once LogiSense
has answered the first writes, the worker's whole process group is killed with SIGKILL and a new worker is
started. Airflow notices the lost task (heartbeat timeout shortened to 10 s) and retries it (``retries=2``);
the retried unit takes the requests back (same run id) and finishes them. The end state must equal the
fault-free run's.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from logisense_sync.processes import ProcessSet, free_port

from tests.airflow.test_distributed import _airflow_bin, _wait_healthy, celery_env
from tests.airflow.test_distributed import broker as broker  # the fixtures, reused
from tests.airflow.test_distributed import metadata_db as metadata_db
from tests.opportunity.world import World
from tests.reliability.conftest import OPPORTUNITY_DAG, DagResult
from tests.reliability.reliability_helpers import (
    LEDGER,
    acme_hierarchy_deal,
    diff,
    normalise_pair,
    write_calls,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parents[2]
REQUEST_BOOKKEEPING = ("Attempts__c", "Message__c")


@dataclass
class Cluster:
    """The running topology: API URL, admin credentials, and a way to kill and replace the worker."""

    api_url: str
    password: str
    procs: ProcessSet
    worker_args: list[str]
    env: dict[str, str]
    logs: Path
    workers: int = 1

    def token(self) -> str:
        response = requests.post(
            f"{self.api_url}/auth/token", json={"username": "ci", "password": self.password}, timeout=10
        )
        assert response.status_code == 201, response.text
        return str(response.json()["access_token"])

    def kill_worker(self) -> None:
        """SIGKILL the current worker and every process under it, as a lost host or container would.

        Killing the worker's process group is not enough: Airflow runs each task in a process group of its
        own (so that it can signal the task's subprocesses), and a task left behind would finish the
        "killed" unit by itself while Airflow retries it.
        """
        worker = next(p for p in self.procs.processes if p.name.startswith("celery worker"))
        tree = psutil.Process(worker.pid).children(recursive=True)
        os.killpg(worker.pid, signal.SIGKILL)
        for proc in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        worker.popen.wait(10)
        psutil.wait_procs(tree, timeout=10)
        assert not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], "survivors"
        self.procs.processes.remove(worker)

    def start_worker(self) -> None:
        self.workers += 1
        self.procs.start(
            f"celery worker {self.workers}", self.worker_args, env=self.env,
            log_path=self.logs / f"worker{self.workers}.log",
        )  # fmt: skip


@pytest.fixture
def cluster(
    tmp_path: Path, metadata_db: str, broker: tuple[str, str], airflow_connections: tuple[Any, Any]
) -> Iterator[Cluster]:
    """api-server, scheduler, dag-processor and a Celery worker serving the project's DAGs."""
    broker_url, queue = broker
    home = tmp_path / "airflow"
    home.mkdir()
    password = secrets.token_urlsafe(16)
    (home / "passwords.json").write_text(json.dumps({"ci": password}))
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    passthrough = {
        k: os.environ[k]
        for k in ("AIRFLOW_CONN_SALESFORCE_DEFAULT", "AIRFLOW_CONN_LOGISENSE_DEFAULT", "REQUESTS_CA_BUNDLE")
    }
    env = celery_env(
        home, REPO / "dags", home / "passwords.json", port, metadata_db, broker_url, queue,
        **passthrough,
        LOGISENSE_SYNC_RUN_DIR=str(tmp_path / "runs"),
        LOGISENSE_OPPORTUNITY_CLAIM_SETTLE_SECONDS="0.2",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",  # the catalogue DAG must not run here
        AIRFLOW__CELERY__WORKER_CONCURRENCY="2",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="10",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="2",
    )  # fmt: skip
    airflow = _airflow_bin()
    logs = tmp_path / "logs"
    worker_args = [airflow, "celery", "worker", "--queues", queue, "--skip-serve-logs", "--without-gossip"]
    with ProcessSet() as procs:
        migrate = procs.start("migrate", [airflow, "db", "migrate"], env=env, log_path=logs / "migrate.log")
        if migrate.popen.wait(timeout=180) != 0:
            pytest.fail(f"airflow db migrate failed:\n{migrate.log_tail()}")
        procs.processes.remove(migrate)
        procs.start("api-server", [airflow, "api-server"], env=env, log_path=logs / "api-server.log")
        procs.start("scheduler", [airflow, "scheduler"], env=env, log_path=logs / "scheduler.log")
        procs.start("dag-processor", [airflow, "dag-processor"], env=env, log_path=logs / "dag-processor.log")
        procs.start("celery worker 1", worker_args, env=env, log_path=logs / "worker1.log")
        _wait_healthy(api_url, procs)
        yield Cluster(api_url, password, procs, worker_args, env, logs)


def _deals(w: World) -> list[str]:
    return [acme_hierarchy_deal(w)]


def _xcom(session: requests.Session, api: str, run_id: str, map_index: int) -> list[dict[str, Any]]:
    """The outcomes a sync_request unit returned (empty when it returned none)."""
    response = session.get(
        f"{api}/api/v2/dags/{OPPORTUNITY_DAG}/dagRuns/{run_id}/taskInstances/sync_request/xcomEntries/return_value",
        params={"map_index": map_index, "deserialize": True},
        timeout=10,
    )
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    value = response.json()["value"]
    items = json.loads(value) if isinstance(value, str) else value
    return [item for item in items or [] if isinstance(item, dict)]


def _state(sf: Any, ls: Any) -> list[list[str]]:
    snap = sf.snapshot()
    for records in snap["records"].values():
        for record in records:
            for name in REQUEST_BOOKKEEPING:
                record.pop(name, None)
    return normalise_pair(snap, ls.snapshot())


def test_a_celery_worker_killed_mid_provisioning_is_retried_by_airflow_and_converges(
    airflow_connections: tuple[Any, Any], cluster: Cluster, run_opportunity: Any, tmp_path: Path
) -> None:
    sf, ls = airflow_connections
    # the fault-free reference, in-process
    w = World(sf.url, ls.url)
    w.build_catalogue()
    ref_requests = _deals(w)
    reference_run: DagResult = run_opportunity(request_ids=ref_requests)
    assert reference_run.state == "success"
    reference = _state(sf, ls)
    w.close()
    sf.reset()
    ls.reset()
    w = World(sf.url, ls.url)
    w.build_catalogue()
    request_ids = _deals(w)
    ls.clear_requests()

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {cluster.token()}"
    api = cluster.api_url
    deadline = time.monotonic() + 90
    while session.get(f"{api}/api/v2/dags/{OPPORTUNITY_DAG}", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the DAG was not parsed"
        time.sleep(0.5)
    # Unpausing also starts the latest scheduled sweep (it may take the request first: either way one run
    # works it, and whichever does is the one killed).
    unpaused = session.patch(f"{api}/api/v2/dags/{OPPORTUNITY_DAG}", json={"is_paused": False}, timeout=10)
    assert unpaused.status_code == 200, unpaused.text
    triggered = session.post(
        f"{api}/api/v2/dags/{OPPORTUNITY_DAG}/dagRuns",
        json={"logical_date": None, "conf": {"request_ids": request_ids}},
        timeout=10,
    )
    assert triggered.status_code == 200, triggered.text
    run_id = triggered.json()["dag_run_id"]

    deadline = time.monotonic() + 120
    while write_calls(ls.requests()) < 2:
        assert time.monotonic() < deadline, "the run never wrote to LogiSense"
        time.sleep(0.02)
    cluster.kill_worker()
    cluster.start_worker()

    deadline = time.monotonic() + 240
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = session.get(f"{api}/api/v2/dags/{OPPORTUNITY_DAG}/dagRuns", timeout=10).json()["dag_runs"]
        if runs and all(r["state"] in {"success", "failed"} for r in runs):
            break
        time.sleep(1)
    states = {r["dag_run_id"]: r["state"] for r in runs}
    state = states[run_id]
    retried: list[dict[str, Any]] = [  # the sync_request tries Airflow started again after the kill
        t
        for r in runs
        for t in session.get(
            f"{api}/api/v2/dags/{OPPORTUNITY_DAG}/dagRuns/{r['dag_run_id']}/taskInstances", timeout=10
        ).json()["task_instances"]
        if t["task_id"] == "sync_request" and t["try_number"] >= 2
    ]
    finished_by_retry = [
        item["outcome"]
        for t in retried
        for item in _xcom(session, api, t["dag_run_id"], t["map_index"])
        if item.get("request_id") == request_ids[0]
    ]

    LEDGER.add("crash: Celery worker SIGKILL mid-provisioning (distributed topology)", {}, {"SIGKILL": 1},
               note=f"runs {states}; retried units {[(t['dag_run_id'], t['try_number']) for t in retried]}")  # fmt: skip
    # The triggered run, and the sweep that unpausing started, both succeed: a task lost with the worker
    # (whichever it was: the unit, or the other run's claim or report) is retried, never fails its run.
    assert state == "success", (cluster.logs / "scheduler.log").read_text(errors="replace")[-3000:]
    assert set(states.values()) == {"success"}, states
    assert retried, "the killed unit was retried by Airflow"
    assert finished_by_retry == ["completed"], "the retried unit, not a survivor of the kill, did the work"
    assert w.get("LogiSense_Request__c", request_ids[0])["Status__c"] == "Completed"
    found = diff(reference, _state(sf, ls))
    w.close()
    assert found == []
