"""docker-compose.yaml: the official Airflow topology, secrets only from .env, ports on 127.0.0.1 only."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_TEXT = (REPO / "docker-compose.yaml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
AIRFLOW_SERVICES = [
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
]
SECRET_NAME = re.compile(r"PASSWORD(?!S_FILE)|SECRET|FERNET|TOKEN|_KEY$|_AUTH$", re.IGNORECASE)
REQUIRED_REF = re.compile(r"^\$\{[A-Z0-9_]+(:\?[^}]*)?\}$")
ENV_EXAMPLE = REPO / ".env.example"


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in _strings(key) + _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def test_compose_file_has_the_airflow_topology_and_the_sandboxes() -> None:
    assert set(SERVICES) == {"postgres", "redis", "sandboxes", *AIRFLOW_SERVICES}
    assert "x-airflow-common" in COMPOSE
    assert SERVICES["airflow-worker"]["command"] == "celery worker"
    assert SERVICES["airflow-worker"]["deploy"]["replicas"]
    assert "db migrate" in SERVICES["airflow-init"]["command"][1]


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_every_airflow_component_shares_executor_database_broker_and_jwt_secret(service: str) -> None:
    env = SERVICES[service]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW_JWT_SECRET:?")
    assert env["AIRFLOW__API__SECRET_KEY"].startswith("${AIRFLOW_API_SECRET_KEY:?")
    assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "@redis:6379/" in env["AIRFLOW__CELERY__BROKER_URL"]
    assert env["AIRFLOW_CONN_SALESFORCE_DEFAULT"].startswith("${")
    assert env["AIRFLOW_CONN_LOGISENSE_DEFAULT"].startswith("${")


def test_secret_settings_come_only_from_env_without_defaults() -> None:
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_REF.match(str(value)), (name, key, value)


def test_no_literal_password_or_secret_appears_anywhere() -> None:
    for text in _strings(COMPOSE):
        # user:password@host in a URL: the password must be a variable reference.
        for password in re.findall(r"://[^:/@\s]*:([^@\s]*)@", text):
            assert password.startswith("${"), text
        # Variable defaults (${VAR:-value}) are allowed only for non-secret variables.
        for variable, default in re.findall(r"\$\{([A-Z0-9_]+):-([^}]*)\}", text):
            assert not SECRET_NAME.search(variable), f"{variable} defaults to {default!r}"
    redis_command = SERVICES["redis"]["command"]
    assert redis_command[redis_command.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    lowered = COMPOSE_TEXT.lower()
    for known in ("sandbox-secret", "airflow:airflow@", "password: airflow", "changeme"):
        assert known not in lowered


def test_ports_are_published_on_loopback_only() -> None:
    published = [port for service in SERVICES.values() for port in service.get("ports", [])]
    assert published, "the API server and the sandboxes are published"
    for port in published:
        assert str(port).startswith("127.0.0.1:"), port
    assert "127.0.0.1:8080:8080" in SERVICES["airflow-apiserver"]["ports"]


def test_env_example_lists_every_required_variable_with_placeholders_for_secrets() -> None:
    required = {var for text in _strings(COMPOSE) for var in re.findall(r"\$\{([A-Z0-9_]+):\?", text)}
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#")]
    example = dict(line.split("=", 1) for line in lines)
    assert required <= set(example)
    for key, value in example.items():
        if SECRET_NAME.search(key) and not key.startswith("AIRFLOW_CONN_"):
            assert value.startswith("<generate"), f"{key} must be a placeholder, not a value"


def test_env_example_connections_point_at_the_sandboxes_service() -> None:
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if line.startswith("AIRFLOW_CONN_")]
    conns = {key: json.loads(value.strip("'")) for key, value in (line.split("=", 1) for line in lines)}
    salesforce = conns["AIRFLOW_CONN_SALESFORCE_DEFAULT"]
    assert salesforce["conn_type"] == "salesforce"
    assert salesforce["extra"]["domain"] == "sandboxes:8443/services/oauth2/token#"
    assert conns["AIRFLOW_CONN_LOGISENSE_DEFAULT"]["host"] == "https://sandboxes:8444"
    assert "sandboxes" in SERVICES["sandboxes"]["command"]  # --tls-hostname: the certificate covers the name


def test_env_file_is_git_ignored() -> None:
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()
