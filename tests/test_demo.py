"""``make demo`` settings: secrets generated once, Airflow configured as the contract says, clear port errors."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
from logisense_sync.demo import DemoError, DemoSettings, _fail_if_ports_taken, airflow_env, load_secrets
from logisense_sync.processes import free_port


def test_secrets_are_generated_once_private_and_reused(tmp_path: Path) -> None:
    first = load_secrets(tmp_path / ".demo")
    again = load_secrets(tmp_path / ".demo")
    assert first == again
    assert set(first) == {"admin_password", "jwt_secret", "api_secret_key"}
    assert len(first["jwt_secret"]) >= 64
    assert stat.S_IMODE((tmp_path / ".demo" / "secrets.json").stat().st_mode) == 0o600


def test_secrets_differ_between_checkouts(tmp_path: Path) -> None:
    assert load_secrets(tmp_path / "a") != load_secrets(tmp_path / "b")


def test_airflow_runs_embedded_on_loopback_with_the_sandbox_connections(tmp_path: Path) -> None:
    settings = DemoSettings(root=tmp_path, airflow_port=8080, salesforce_port=8443, logisense_port=8444)
    env = airflow_env(settings, load_secrets(settings.home))
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")
    assert env["AIRFLOW__CORE__PARALLELISM"] == "4"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str((tmp_path / "dags").resolve())
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["REQUESTS_CA_BUNDLE"] == str((tmp_path / ".demo" / "sandbox" / "ca.pem").resolve())
    salesforce = json.loads(env["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
    assert salesforce["conn_type"] == "salesforce"
    assert salesforce["extra"]["domain"] == "127.0.0.1:8443/services/oauth2/token#"
    assert json.loads(env["AIRFLOW_CONN_LOGISENSE_DEFAULT"])["host"] == "https://127.0.0.1:8444"


def test_a_taken_port_stops_the_demo_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = DemoSettings(
            root=tmp_path, salesforce_port=free_port(), logisense_port=port, airflow_port=free_port()
        )
        with pytest.raises(
            DemoError, match=rf"127\.0\.0\.1:{port} \(for the LogiSense sandbox\) is already in use"
        ):
            _fail_if_ports_taken(settings)
