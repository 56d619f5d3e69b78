"""The docker-compose topology, as processes on loopback: Postgres metadata DB, Redis broker, CeleryExecutor.

Starts ``airflow db migrate``, then api-server, scheduler, dag-processor and a celery worker, each in its own
process group, against a PostgreSQL database created for this test and a dedicated Redis database and queue.
A tiny DAG of its own (written to a temp dir) is triggered through the REST API, with a JWT from
``/auth/token``.
Everything started here is stopped, and the database dropped, even when the test fails.
"""

from __future__ import annotations

import os
import secrets
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import redis
import requests
from logisense_sync.processes import ProcessSet, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

PG_ADMIN_DSN = os.environ.get("LOGISENSE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LOGISENSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
DAG_ID = "distributed_probe"
STARTUP_TIMEOUT = 90.0
RUN_TIMEOUT = 90.0

PROBE_DAG = textwrap.dedent(
    f'''
    """Probe DAG for the distributed-topology test: reports which component ran it."""
    import os

    import pendulum
    from airflow.sdk import dag, task


    @dag(
        dag_id="{DAG_ID}",
        schedule=None,
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        tags=["test"],
        default_args={{"owner": "tests", "retries": 0}},
    )
    def probe():
        @task
        def where_am_i() -> dict:
            return {{"role": os.environ.get("PROBE_ROLE", "unknown"), "pid": os.getpid()}}

        where_am_i()


    probe()
    '''
)


@dataclass
class Topology:
    """The running components and how to reach them."""

    api_url: str
    username: str
    password: str
    queue: str
    worker_log: Path


def _airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def _clean_env() -> dict[str, str]:
    """The parent's environment without any Airflow settings (the test session configures its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    return env


@pytest.fixture
def metadata_db() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards (also after a failure)."""
    name = f"logisense_dist_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(PG_ADMIN_DSN)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required at {PG_ADMIN_DSN} (set LOGISENSE_TEST_PG_DSN): {exc}")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        user = admin.get_dsn_parameters()["user"]
        yield f"postgresql+psycopg2://{user}@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def broker() -> Iterator[tuple[str, str]]:
    """The running Redis (a dedicated database number) and a queue name no other run uses."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is required at {REDIS_URL} (set LOGISENSE_TEST_REDIS_URL): {exc}")
    queue = f"dist_{uuid.uuid4().hex[:10]}"
    try:
        yield REDIS_URL, queue
    finally:
        for key in client.scan_iter(match=f"*{queue}*"):
            client.delete(key)
        client.close()


def celery_env(
    home: Path,
    dags: Path,
    passwords: Path,
    port: int,
    metadata_db: str,
    broker_url: str,
    queue: str,
    **overrides: str,
) -> dict[str, str]:
    """Environment shared by every process of a CeleryExecutor topology on loopback (``overrides`` win)."""
    api_url = f"http://127.0.0.1:{port}"
    return (
        _clean_env()
        | {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "ci:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_db}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        }
        | overrides
    )


@pytest.fixture
def topology(tmp_path: Path, metadata_db: str, broker: tuple[str, str]) -> Iterator[Topology]:
    """api-server, scheduler, dag-processor and celery worker on loopback, stopped afterwards."""
    broker_url, queue = broker
    home = tmp_path / "airflow"
    dags = tmp_path / "dags"
    dags.mkdir(parents=True)
    (dags / "probe_dag.py").write_text(PROBE_DAG)
    password = secrets.token_urlsafe(16)
    home.mkdir()
    passwords = home / "passwords.json"
    passwords.write_text(f'{{"ci": "{password}"}}')
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    env = celery_env(home, dags, passwords, port, metadata_db, broker_url, queue)
    airflow = _airflow_bin()
    logs = tmp_path / "logs"
    with ProcessSet() as procs:
        migrate = procs.start("migrate", [airflow, "db", "migrate"], env=env, log_path=logs / "migrate.log")
        if migrate.popen.wait(timeout=120) != 0:
            pytest.fail(f"airflow db migrate failed:\n{migrate.log_tail()}")
        procs.start("api-server", [airflow, "api-server"], env=env, log_path=logs / "api-server.log")
        procs.start("scheduler", [airflow, "scheduler"], env=env, log_path=logs / "scheduler.log")
        procs.start("dag-processor", [airflow, "dag-processor"], env=env, log_path=logs / "dag-processor.log")
        worker = procs.start(
            "celery worker",
            [airflow, "celery", "worker", "--queues", queue, "--skip-serve-logs", "--without-gossip"],
            env=env | {"PROBE_ROLE": "celery-worker"},
            log_path=logs / "worker.log",
        )
        procs.processes.remove(migrate)
        _wait_healthy(api_url, procs)
        yield Topology(api_url, "ci", password, queue, worker.log_path)


def _wait_healthy(api_url: str, procs: ProcessSet) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            health = requests.get(f"{api_url}/api/v2/monitor/health", timeout=2).json()
        except (requests.ConnectionError, requests.Timeout, ValueError):
            health = {}
        if health.get("scheduler", {}).get("status") == "healthy":
            return
        time.sleep(0.5)
    pytest.fail(f"Airflow at {api_url} was not healthy within {STARTUP_TIMEOUT:.0f} s")


def _token(topo: Topology) -> str:
    response = requests.post(
        f"{topo.api_url}/auth/token",
        json={"username": topo.username, "password": topo.password},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["access_token"])


def _wait_for(session: requests.Session, url: str, done: Any, timeout: float, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = session.get(url, timeout=10)
        if response.status_code == 200:
            body = response.json()
            if done(body):
                return body
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last answer: {body}")


def test_rest_triggered_run_succeeds_on_the_celery_worker(topology: Topology) -> None:
    api = topology.api_url
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {_token(topology)}"

    _wait_for(session, f"{api}/api/v2/dags/{DAG_ID}", lambda d: True, STARTUP_TIMEOUT, "the DAG to be parsed")
    triggered = session.post(
        f"{api}/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {}}, timeout=10
    )
    assert triggered.status_code == 200, triggered.text
    run_id = triggered.json()["dag_run_id"]

    run = _wait_for(
        session,
        f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}",
        lambda r: r["state"] in {"success", "failed"},
        RUN_TIMEOUT,
        "the run to finish",
    )
    assert run["state"] == "success", topology.worker_log.read_text(errors="replace")[-3000:]

    instance = session.get(
        f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/where_am_i", timeout=10
    ).json()
    assert instance["queue"] == topology.queue
    xcom = session.get(
        f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/where_am_i/xcomEntries/return_value",
        timeout=10,
    ).json()
    assert xcom["value"]["role"] == "celery-worker"
    assert "execute_workload" in topology.worker_log.read_text(errors="replace")

    anonymous = requests.post(
        f"{api}/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {}}, timeout=10
    )
    assert anonymous.status_code == 401
    assert requests.get(f"{api}/api/v2/dags", timeout=10).status_code == 401
