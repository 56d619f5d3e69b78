"""The ``logisense`` connection type: registered with its form, read from Connections, testable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from logisense_sync.orchestration.hook import LogiSenseHook, parse_verify


def _set_connection(
    monkeypatch: pytest.MonkeyPatch, conn: dict[str, Any], conn_id: str = "logisense_default"
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def _sandbox_connection(sandbox: Any) -> dict[str, Any]:
    # The documented AIRFLOW_CONN_LOGISENSE_DEFAULT shape, with the sandbox CA as the verify extra.
    return {
        "conn_type": "logisense",
        "host": sandbox.url,
        "login": "admin",
        "password": "sandbox",
        "extra": {"client_id": "sandbox", "api_version": "v10", "verify": str(sandbox.ca)},
    }


def test_airflow_lists_the_logisense_connection_type_with_its_form_fields() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    info = ProvidersManagerTaskRuntime().hooks["logisense"]
    assert info is not None
    assert info.hook_class_name == "logisense_sync.orchestration.hook.LogiSenseHook"
    assert info.hook_name == "LogiSense Billing"
    assert info.connection_id_attribute_name == "logisense_conn_id"
    assert info.connection_testable
    manager = ProvidersManager()
    widgets = manager.connection_form_widgets
    labels = {
        name: widgets[f"extra__logisense__{name}"].field["schema"]["title"]
        for name in ("client_id", "api_version", "verify")
    }
    assert labels == {
        "client_id": "Client ID",
        "api_version": "API Version",
        "verify": "CA Bundle Path / Verify TLS",
    }
    assert widgets["extra__logisense__api_version"].field["value"] == "v10"
    behaviour = manager.field_behaviours["logisense"]
    assert behaviour["relabeling"] == {"host": "Base URL", "login": "Username"}
    assert set(behaviour["hidden_fields"]) == {"schema", "port"}


def test_a_logisense_connection_resolves_to_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import BaseHook

    _set_connection(
        monkeypatch,
        {"conn_type": "logisense", "host": "https://x.test", "login": "a", "extra": {"client_id": "c"}},
        conn_id="logisense_other",
    )
    hook = BaseHook.get_hook("logisense_other")
    assert isinstance(hook, LogiSenseHook)
    assert hook.logisense_conn_id == "logisense_other"


def test_the_legacy_field_behaviour_matches_the_provider_info() -> None:
    behaviour = LogiSenseHook.get_ui_field_behaviour()
    assert behaviour["relabeling"] == {"host": "Base URL", "login": "Username"}
    assert behaviour["hidden_fields"] == ["schema", "port"]


def test_the_client_is_built_from_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_connection(
        monkeypatch,
        {
            "conn_type": "logisense",
            "host": "https://tenant.example.test/",
            "login": "api-user",
            "password": "Secret-123",
            "extra": {"client_id": "abc123", "api_version": "v9", "verify": "/etc/ca.pem", "max_retries": 2},
        },
    )
    client = LogiSenseHook().get_client()
    assert client.base_url == "https://tenant.example.test"
    assert client.username == "api-user"
    assert client.client_id == "abc123"
    assert client.api_version == "v9"
    assert client.verify == "/etc/ca.pem"
    assert client.retry_policy.max_retries == 2
    assert client.login_url == "https://tenant.example.test/AuthorizationServer/api/v9/Access/Login"
    assert "Secret-123" not in repr(client)


def test_a_bare_host_and_port_become_an_https_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_connection(
        monkeypatch,
        {"conn_type": "logisense", "host": "127.0.0.1", "port": 8444, "login": "admin", "password": "x",
         "extra": {"client_id": "sandbox"}},
    )  # fmt: skip
    client = LogiSenseHook().get_client()
    assert client.base_url == "https://127.0.0.1:8444"
    assert client.api_version == "v10"
    assert client.verify is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("true", True), ("False", False), (False, False), ("/ca.pem", "/ca.pem")],
)
def test_the_verify_extra_takes_a_flag_or_a_ca_bundle_path(value: Any, expected: Any) -> None:
    assert parse_verify(value) == expected


def test_test_connection_logs_in_and_reads_currencies(
    monkeypatch: pytest.MonkeyPatch, logisense_sandbox: Any
) -> None:
    _set_connection(monkeypatch, _sandbox_connection(logisense_sandbox))
    ok, message = LogiSenseHook().test_connection()
    assert ok, message
    assert "USD" in message


def test_test_connection_reports_refused_credentials_without_the_password(
    monkeypatch: pytest.MonkeyPatch, logisense_sandbox: Any
) -> None:
    conn = _sandbox_connection(logisense_sandbox) | {"password": "Not-The-Password-42"}
    _set_connection(monkeypatch, conn)
    ok, message = LogiSenseHook().test_connection()
    assert not ok
    assert "invalid_grant" in message
    assert "Not-The-Password-42" not in message


def test_test_connection_reports_an_incomplete_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_connection(monkeypatch, {"conn_type": "logisense", "host": "https://x.test", "login": "admin"})
    ok, message = LogiSenseHook().test_connection()
    assert not ok
    assert "client_id" in message


def test_a_uri_form_connection_keeps_the_https_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # The form Airflow's "Test" button and `airflow connections add --conn-uri` use.
    monkeypatch.setenv(
        "AIRFLOW_CONN_LOGISENSE_URI",
        "logisense://https://admin:S3cret@127.0.0.1%3A8444/?client_id=sandbox&api_version=v10",
    )
    client = LogiSenseHook("logisense_uri").get_client()
    assert client.base_url == "https://127.0.0.1:8444"
    assert (client.username, client.client_id, client.api_version) == ("admin", "sandbox", "v10")
