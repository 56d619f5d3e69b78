"""Security: who may trigger, what a trigger may carry, where secrets never go, what the sandboxes expose.

The Airflow API checks run against a bare ``airflow api-server`` (SQLite, SimpleAuthManager with an
admin and a viewer, the project's DAGs serialized by ``airflow dags reserialize``): no scheduler, so a
trigger that gets through only queues a run.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from logisense_sync.processes import ProcessSet, free_port

from tests.opportunity.world import World
from tests.reliability.conftest import CATALOG_DAG, OPPORTUNITY_DAG, DagResult

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------ Airflow REST API


@dataclass
class ApiServer:
    """A running api-server and the passwords of its two users."""

    url: str
    passwords: dict[str, str]

    def token(self, user: str) -> str:
        """A JWT for ``user`` from ``/auth/token``."""
        response = requests.post(
            f"{self.url}/auth/token",
            json={"username": user, "password": self.passwords[user]},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["access_token"])

    def trigger(self, dag_id: str, conf: Any, token: str | None) -> requests.Response:
        """``POST /api/v2/dags/{dag_id}/dagRuns`` as the Salesforce button does."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(
            f"{self.url}/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": conf},
            headers=headers,
            timeout=30,
        )

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """The DAG's runs (as the admin)."""
        response = requests.get(
            f"{self.url}/api/v2/dags/{dag_id}/dagRuns",
            headers={"Authorization": f"Bearer {self.token('ci')}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        runs: list[dict[str, Any]] = response.json()["dag_runs"]
        return runs


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """``airflow api-server`` on loopback with users ``ci`` (admin) and ``viewer1`` (viewer)."""
    home = tmp_path_factory.mktemp("api-home")
    passwords = {"ci": secrets.token_urlsafe(12), "viewer1": secrets.token_urlsafe(12)}
    (home / "passwords.json").write_text(json.dumps(passwords))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")} | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "ci:admin,viewer1:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    logs = home / "logs-procs"
    with ProcessSet() as procs:
        for name, args in (("migrate", ["db", "migrate"]), ("reserialize", ["dags", "reserialize"])):
            step = procs.start(name, [airflow, *args], env=env, log_path=logs / f"{name}.log")
            if step.popen.wait(timeout=180) != 0:
                pytest.fail(f"airflow {' '.join(args)} failed:\n{step.log_tail()}")
            procs.processes.remove(step)
        server = procs.start("api-server", [airflow, "api-server"], env=env, log_path=logs / "api.log")
        url = f"http://127.0.0.1:{port}"
        import time

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            procs.check_alive()
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"api-server did not start:\n{server.log_tail()}")
        yield ApiServer(url, passwords)


GOOD_CONF = {OPPORTUNITY_DAG: {"request_ids": ["a0X8c000000001AAAA"]}, CATALOG_DAG: {"price_book_ids": [2]}}


@pytest.mark.parametrize("dag_id", [CATALOG_DAG, OPPORTUNITY_DAG])
def test_a_trigger_without_credentials_is_refused_with_401(api_server: ApiServer, dag_id: str) -> None:
    assert api_server.trigger(dag_id, GOOD_CONF[dag_id], token=None).status_code == 401
    # A forged or garbled token is refused too (Airflow answers 403 "Invalid JWT token" for it).
    forged = api_server.trigger(dag_id, GOOD_CONF[dag_id], token="eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJjaSJ9.x")
    assert forged.status_code in {401, 403}


@pytest.mark.parametrize("dag_id", [CATALOG_DAG, OPPORTUNITY_DAG])
def test_a_viewer_may_look_but_a_trigger_is_refused_with_403(api_server: ApiServer, dag_id: str) -> None:
    token = api_server.token("viewer1")
    seen = requests.get(
        f"{api_server.url}/api/v2/dags/{dag_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert seen.status_code == 200, seen.text

    assert api_server.trigger(dag_id, GOOD_CONF[dag_id], token=token).status_code == 403
    assert api_server.runs(dag_id) == [] or all(
        r["conf"] != GOOD_CONF[dag_id] for r in api_server.runs(dag_id)
    )


API_BAD_CONF = [
    (OPPORTUNITY_DAG, {"request_ids": "a0X8c000000001AAAA"}, "a single id instead of a list"),
    (OPPORTUNITY_DAG, {"request_ids": ["a0X8c000000001A"]}, "a 15-character id"),
    (OPPORTUNITY_DAG, {"request_ids": ["x' OR Name != 'y"]}, "a SOQL injection as an id"),
    (OPPORTUNITY_DAG, {"dry_run": "yes"}, "a string for dry_run"),
    (CATALOG_DAG, {"price_book_ids": ["1; DROP"]}, "a string price book id"),
    (CATALOG_DAG, {"price_book_ids": [-1]}, "a negative price book id"),
    (CATALOG_DAG, {"full_refresh": "true"}, "a string for full_refresh"),
]


@pytest.mark.parametrize(
    ("dag_id", "conf"), [(d, c) for d, c, _ in API_BAD_CONF], ids=[i for _, _, i in API_BAD_CONF]
)
def test_an_admin_trigger_with_malformed_conf_is_refused_with_400_and_queues_no_run(
    api_server: ApiServer, dag_id: str, conf: dict[str, Any]
) -> None:
    before = len(api_server.runs(dag_id))

    response = api_server.trigger(dag_id, conf, token=api_server.token("ci"))

    assert response.status_code == 400, response.text
    assert next(iter(conf)) in response.text
    assert len(api_server.runs(dag_id)) == before


def test_an_admin_trigger_with_good_conf_is_accepted(api_server: ApiServer) -> None:
    response = api_server.trigger(OPPORTUNITY_DAG, GOOD_CONF[OPPORTUNITY_DAG], token=api_server.token("ci"))

    assert response.status_code == 200, response.text
    assert response.json()["conf"] == GOOD_CONF[OPPORTUNITY_DAG]


# ------------------------------------------------------------------------------ conf before any work


@pytest.mark.parametrize(
    ("dag_id", "conf"),
    [
        (OPPORTUNITY_DAG, {"request_ids": ["a0X8c000000001AAAA' OR Id != '"]}),
        (CATALOG_DAG, {"price_book_ids": "all"}),
    ],
    ids=["opportunity sync", "catalogue sync"],
)
def test_dag_test_with_malformed_conf_raises_before_either_sandbox_is_called(
    sandboxes: tuple[Any, Any], dagbag: Any, dag_id: str, conf: dict[str, Any]
) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    sf, ls = sandboxes
    sf.clear_requests()
    ls.clear_requests()

    with pytest.raises(ParamValidationError):
        dagbag.dags[dag_id].test(run_conf=conf)

    assert sf.requests()["total"] == 0
    assert ls.requests()["total"] == 0


# ------------------------------------------------------------------------------------- secrets


SF_SESSION = re.compile(r"00D[a-zA-Z0-9]{12}![\w.-]{20,}")
JWT = re.compile(r"eyJ[\w-]{8,}\.(eyJ[\w-]{8,})\.[\w-]{8,}")
LITERAL_SECRETS = [
    "sandbox-secret",  # the Salesforce consumer secret of the sandbox connection
    re.compile(r"password\W{1,6}sandbox\b", re.IGNORECASE),  # the LogiSense password in a form or JSON
    re.compile(r"client_secret\W{1,6}\w", re.IGNORECASE),
    re.compile(r"Bearer\s+[\w.!-]{20,}"),
]


def _logisense_jwts(text: str) -> list[str]:
    """JWTs issued by the LogiSense sandbox (Airflow's own execution tokens are not ours to judge)."""
    found = []
    for match in JWT.finditer(text):
        payload = match.group(1) + "=" * (-len(match.group(1)) % 4)
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload))
        except ValueError:
            continue
        if claims.get("aud") == "sandbox" or "unique_name" in claims:
            found.append(match.group(0)[:24] + "…")
    return found


def secrets_in(text: str) -> list[str]:
    """Every secret-looking thing in ``text``: Salesforce sessions, LogiSense tokens, passwords, secrets."""
    found = [m.group(0)[:24] + "…" for m in SF_SESSION.finditer(text)] + _logisense_jwts(text)
    for pattern in LITERAL_SECRETS:
        if isinstance(pattern, str):
            found += [pattern] if pattern in text else []
        else:
            found += [m.group(0)[:24] for m in pattern.finditer(text)]
    return found


def test_the_secret_scanner_finds_each_kind_of_secret() -> None:
    samples = [
        "session 00D8c0000000001!AQ0AQH0dMHZfz972Szmpkb58urFRkgeBGsxL_QJWwYMfAbUeeG7c1E6LB",
        "Authorization: Bearer abcdefghijklmnopqrstuvwxyz",
        "data={'username': 'admin', 'password': 'sandbox'}",
        "consumer_secret=sandbox-secret",
        "client_secret=s3cr3t",
    ]
    assert all(secrets_in(s) for s in samples)
    assert secrets_in("logged in to https://127.0.0.1:8444 as admin (client sandbox)") == []


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(
                f"{record.levelname} {record.name} {record.getMessage()} {record.exc_text or ''}"
            )
        except Exception as exc:  # noqa: BLE001 - a broken log call must not hide the others
            self.lines.append(f"unformattable record {record.msg!r}: {exc}")


@pytest.fixture
def full_runs(
    world: World,
    sandboxes: tuple[Any, Any],
    run_catalog: Callable[..., DagResult],
    run_opportunity: Callable[..., DagResult],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[DagResult], str]:
    """Both DAGs run once with every logger at DEBUG (a catalogue sync, then a good and a failing deal).

    Task output in ``dag.test`` goes through structlog to stdout (captured with ``capfd``); stdlib records
    are collected by a root handler that is re-attached before each run (Airflow reconfigures logging).
    """
    ls = sandboxes[1]
    monkeypatch.setenv("AIRFLOW__LOGGING__LOGGING_LEVEL", "DEBUG")
    ls.seed(**{"profile": "generated", "packages": 1, "seed": 3})
    acc = world.account("Secretive Inc")
    world.contact(acc, "Keeper")
    good = world.request(opportunity=world.opportunity(acc, name="Good")[0])
    bad = world.request(opportunity=world.opportunity(acc, name="Bad", lines=[(1, 91)])[0])
    collect = _Collect()
    root = logging.getLogger()
    runs: list[DagResult] = []
    level = root.level
    try:
        for run in (
            lambda: run_catalog(price_book_ids=[2]),
            lambda: run_opportunity(request_ids=[good, bad]),
        ):
            root.setLevel(logging.DEBUG)
            if collect not in root.handlers:
                root.addHandler(collect)
            runs.append(run())
    finally:
        root.removeHandler(collect)
        root.setLevel(level)
    out, err = capfd.readouterr()
    return runs, "\n".join([*collect.lines, out, err])


def test_no_password_token_or_secret_reaches_logs_xcoms_reports_or_request_messages(
    world: World, full_runs: tuple[list[DagResult], str]
) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    runs, captured = full_runs
    assert [r.tasks.get("claim", ["success"]) for r in runs][-1] == ["success"]
    places: dict[str, str] = {"captured DEBUG logs": captured}
    home = Path(os.environ["AIRFLOW_HOME"])
    for path in [*home.glob("logs/**/*"), *Path(os.environ["LOGISENSE_SYNC_RUN_DIR"]).glob("**/*")]:
        if path.is_file():  # dag.test writes no task log files; real workers do (scanned when present)
            places[str(path)] = path.read_text(errors="replace")
    with create_session() as session:
        for row in session.query(XComModel).filter(XComModel.run_id.in_([r.run_id for r in runs])):
            places[f"xcom {row.task_id}[{row.map_index}]"] = json.dumps(row.value, default=str)
    for rec in world.sf.query_all("SELECT Id, Message__c FROM LogiSense_Request__c")["records"]:
        places[f"Message__c of {rec['Id']}"] = rec["Message__c"] or ""
    assert any("Message__c" in k and v for k, v in places.items()), "the failing deal left a message"
    assert len(captured) > 10_000, "logs were captured"
    assert "DEBUG logisense_sync" in captured or "[debug" in captured

    assert any(k.startswith("xcom report") for k in places)
    leaks = {place: found for place, text in places.items() if (found := secrets_in(text))}

    assert leaks == {}


# ------------------------------------------------------------------------------------- loopback


def test_the_sandboxes_of_this_test_session_listen_on_loopback_only(sandboxes: tuple[Any, Any]) -> None:
    ports = {int(box.url.rsplit(":", 1)[1]) for box in sandboxes}
    listening = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process().net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port in ports
    }
    assert listening == {("127.0.0.1", port) for port in ports}


def test_every_way_to_start_a_sandbox_defaults_to_loopback() -> None:
    import inspect

    from logisense_sync import cli
    from logisense_sync.sandbox.common import server

    assert inspect.signature(server.serve_in_thread).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(server.serve_forever).parameters["host"].default == "127.0.0.1"
    assert cli.build_parser().parse_args(["sandbox"]).host == "127.0.0.1"


def test_compose_file_holds_no_secret_and_env_example_no_real_token() -> None:
    # Extends tests/test_compose.py (literal passwords, ${VAR} references) with the scanner above.
    # .env.example deliberately carries the sandboxes' published credentials (CONTRACT §4), not secrets.
    assert secrets_in((REPO / "docker-compose.yaml").read_text()) == []
    example = (REPO / ".env.example").read_text()
    assert [m.group(0) for m in SF_SESSION.finditer(example)] + _logisense_jwts(example) == []
    assert JWT.search(example) is None
