"""Shared fixtures: Airflow configured before it is imported, and both sandboxes served over HTTPS.

Airflow reads its configuration at import time, so every ``AIRFLOW__*`` variable is set here, at the top
of the root conftest, before any test module can import it.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-home-")
os.environ.update(
    {
        "AIRFLOW_HOME": _AIRFLOW_HOME,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "LOGISENSE_SYNC_RUN_DIR": str(pathlib.Path(_AIRFLOW_HOME) / "runs"),
    }
)


@dataclass
class Sandbox:
    """A running sandbox: base URL, control plane and an HTTPS session that trusts its CA."""

    url: str
    ca: pathlib.Path
    session: requests.Session

    @property
    def control_url(self) -> str:
        """Base URL of the control plane."""
        return f"{self.url}/__sandbox__"

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call the control plane, e.g. ``control("POST", "faults", {...})``; returns the JSON answer."""
        response = self.session.request(method, f"{self.control_url}/{path}", json=body, timeout=300)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Back to the empty profile, with no faults and no recorded calls."""
        self.control("POST", "reset")

    def seed(self, profile: str = "demo", **spec: Any) -> Any:
        """Load a profile (``demo``) or a generator spec."""
        return self.control("POST", "seed", {"profile": profile, **spec})

    def faults(self, *faults: dict[str, Any], seed: int | None = None) -> Any:
        """Inject faults into the next matching calls."""
        return self.control("POST", "faults", {"faults": list(faults), "seed": seed})

    def requests(self) -> dict[str, Any]:
        """Recorded calls with counts by route."""
        result: dict[str, Any] = self.control("GET", "requests")
        return result

    def clear_requests(self) -> None:
        """Forget recorded calls (e.g. after setting a test up)."""
        self.control("DELETE", "requests")

    def snapshot(self) -> dict[str, Any]:
        """The sandbox's full state."""
        result: dict[str, Any] = self.control("GET", "snapshot")
        return result


@pytest.fixture(scope="session")
def sandbox_tls(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The sandbox CA and server certificate; requests trusts the CA for the whole test session."""
    from logisense_sync.sandbox.common.tls import ensure_tls

    tls = ensure_tls(tmp_path_factory.mktemp("sandbox-tls"))
    # REQUESTS_CA_BUNDLE overrides Session.verify in requests, so it must name the sandbox CA.
    os.environ["REQUESTS_CA_BUNDLE"] = str(tls.ca)
    os.environ["CURL_CA_BUNDLE"] = str(tls.ca)
    return tls


@pytest.fixture(scope="session")
def sandbox_ca(sandbox_tls: Any) -> pathlib.Path:
    """Path of the CA certificate that signs both sandboxes' certificates."""
    ca: pathlib.Path = sandbox_tls.ca
    return ca


def _serve(factory_module: str, data_dir: pathlib.Path, tls: Any) -> Iterator[Sandbox]:
    import importlib

    from logisense_sync.sandbox.common.server import serve_in_thread

    app = importlib.import_module(factory_module).create_app(data_dir)
    handle = serve_in_thread(app, tls)
    session = requests.Session()
    session.verify = str(tls.ca)
    try:
        yield Sandbox(url=handle.url, ca=tls.ca, session=session)
    finally:
        session.close()
        handle.stop()


@pytest.fixture(scope="session")
def _salesforce_server(tmp_path_factory: pytest.TempPathFactory, sandbox_tls: Any) -> Iterator[Sandbox]:
    yield from _serve(
        "logisense_sync.sandbox.salesforce.app", tmp_path_factory.mktemp("salesforce-data"), sandbox_tls
    )


@pytest.fixture(scope="session")
def _logisense_server(tmp_path_factory: pytest.TempPathFactory, sandbox_tls: Any) -> Iterator[Sandbox]:
    yield from _serve(
        "logisense_sync.sandbox.logisense.app", tmp_path_factory.mktemp("logisense-data"), sandbox_tls
    )


@pytest.fixture
def salesforce_sandbox(_salesforce_server: Sandbox) -> Sandbox:
    """The Salesforce sandbox, reset to an empty org before the test."""
    _salesforce_server.reset()
    return _salesforce_server


@pytest.fixture
def logisense_sandbox(_logisense_server: Sandbox) -> Sandbox:
    """The LogiSense sandbox, reset to an empty tenant before the test."""
    _logisense_server.reset()
    return _logisense_server


def salesforce_connection(sandbox: Sandbox) -> dict[str, Any]:
    """Airflow connection (JSON form) for the Salesforce sandbox: client credentials via the domain trick."""
    host = sandbox.url.removeprefix("https://")
    return {
        "conn_type": "salesforce",
        "extra": {
            "consumer_key": "sandbox-client",
            "consumer_secret": "sandbox-secret",
            "domain": f"{host}/services/oauth2/token#",
        },
    }


def logisense_connection(sandbox: Sandbox) -> dict[str, Any]:
    """Airflow connection (JSON form) for the LogiSense sandbox."""
    return {
        "conn_type": "logisense",
        "host": sandbox.url,
        "login": "admin",
        "password": "sandbox",
        "extra": {"client_id": "sandbox", "api_version": "v10"},
    }


@pytest.fixture
def airflow_connections(
    monkeypatch: pytest.MonkeyPatch, salesforce_sandbox: Sandbox, logisense_sandbox: Sandbox
) -> tuple[Sandbox, Sandbox]:
    """Both sandboxes, reset, with ``salesforce_default`` and ``logisense_default`` pointing at them."""
    sf_conn, ls_conn = salesforce_connection(salesforce_sandbox), logisense_connection(logisense_sandbox)
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", json.dumps(sf_conn))
    monkeypatch.setenv("AIRFLOW_CONN_LOGISENSE_DEFAULT", json.dumps(ls_conn))
    return salesforce_sandbox, logisense_sandbox


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """An initialised Airflow metadata database (SQLite in the session's AIRFLOW_HOME)."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture(scope="session")
def dagbag(airflow_db: None) -> Any:
    """Every DAG in dags/, parsed once per session."""
    from airflow.models import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))
