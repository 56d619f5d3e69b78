"""The ``logisense-sync`` console script: ``sandbox`` serves both sandboxes, ``connections`` prints env."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests
from logisense_sync.cli import main
from logisense_sync.processes import ManagedProcess, free_port

CLI = str(Path(sys.executable).with_name("logisense-sync"))


class RunningSandboxes:
    """A ``logisense-sync sandbox`` process and how to reach it."""

    def __init__(self, data_dir: Path, log: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.salesforce_port, self.logisense_port = free_port(), free_port()
        self.process = ManagedProcess(
            "sandbox",
            [
                CLI,
                "sandbox",
                "--data-dir",
                str(data_dir),
                "--salesforce-port",
                str(self.salesforce_port),
                "--logisense-port",
                str(self.logisense_port),
                *extra,
            ],
            env={"PATH": "/usr/bin:/bin", "HOME": str(data_dir.parent)},
            log_path=log,
        )
        self.session = requests.Session()
        self.session.trust_env = False

    @property
    def salesforce(self) -> str:
        return f"https://127.0.0.1:{self.salesforce_port}"

    @property
    def logisense(self) -> str:
        return f"https://127.0.0.1:{self.logisense_port}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.running(), self.process.log_tail()
            if (self.data_dir / "ca.pem").exists():
                self.session.verify = str(self.data_dir / "ca.pem")
                try:
                    for url in (self.salesforce, self.logisense):
                        self.session.get(f"{url}/__sandbox__/requests", timeout=5).raise_for_status()
                except requests.RequestException:
                    pass
                else:
                    return
            time.sleep(0.2)
        pytest.fail(f"sandboxes not ready after {timeout:.0f} s:\n{self.process.log_tail()}")

    def salesforce_token(self) -> str:
        response = self.session.post(
            f"{self.salesforce}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=("sandbox-client", "sandbox-secret"),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandboxes]:
    """One sandbox process shared by the read-only tests of this module."""
    tmp_path = tmp_path_factory.mktemp("cli")
    running = RunningSandboxes(tmp_path / "data", tmp_path / "sandbox.log")
    try:
        running.wait_ready()
        yield running
    finally:
        running.process.stop(timeout=10)


def test_sandbox_command_serves_both_sandboxes_over_https_with_its_own_ca(
    sandboxes: RunningSandboxes,
) -> None:
    assert (sandboxes.data_dir / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert sandboxes.salesforce_token()
    login = sandboxes.session.post(
        f"{sandboxes.logisense}/AuthorizationServer/api/v10/Access/Login",
        data={"username": "admin", "password": "sandbox", "grant_type": "password", "client_id": "sandbox"},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{sandboxes.salesforce}/__sandbox__/requests", verify=True, timeout=5)


def test_sandbox_command_prints_addresses_credentials_and_control_plane(sandboxes: RunningSandboxes) -> None:
    banner = sandboxes.process.log_path.read_text()
    for expected in (
        sandboxes.salesforce,
        sandboxes.logisense,
        "sandbox-client",
        "sandbox-secret",
        "integration@sandbox.example",
        "/AuthorizationServer/api/v10/Access/Login",
        "__sandbox__",
        str((sandboxes.data_dir / "ca.pem").resolve()),
    ):
        assert expected in banner


def test_sandbox_command_binds_loopback_only(sandboxes: RunningSandboxes) -> None:
    listening = {
        (conn.laddr.ip, conn.laddr.port)
        for conn in psutil.Process(sandboxes.process.pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }
    assert listening == {("127.0.0.1", sandboxes.salesforce_port), ("127.0.0.1", sandboxes.logisense_port)}


def test_sandbox_command_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    running = RunningSandboxes(tmp_path / "data", tmp_path / "sandbox.log")
    try:
        running.wait_ready()
        running.process.popen.terminate()
        assert running.process.popen.wait(timeout=15) == 0
    finally:
        running.process.stop(timeout=5)


def test_a_restart_keeps_the_sandboxes_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = RunningSandboxes(data, tmp_path / "first.log")
    try:
        first.wait_ready()
        headers = {"Authorization": f"Bearer {first.salesforce_token()}"}
        created = first.session.post(
            f"{first.salesforce}/services/data/v59.0/sobjects/Account/",
            json={"Name": "Survives Restart Ltd"},
            headers=headers,
            timeout=10,
        )
        assert created.status_code == 201, created.text
        account_id = created.json()["id"]
    finally:
        first.process.stop(timeout=10)

    second = RunningSandboxes(data, tmp_path / "second.log")
    try:
        second.wait_ready()
        headers = {"Authorization": f"Bearer {second.salesforce_token()}"}
        fetched = second.session.get(
            f"{second.salesforce}/services/data/v59.0/sobjects/Account/{account_id}",
            headers=headers,
            timeout=10,
        )
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["Name"] == "Survives Restart Ltd"
    finally:
        second.process.stop(timeout=10)


def test_sandbox_command_fails_clearly_when_a_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = ManagedProcess(
            "sandbox",
            [
                CLI,
                "sandbox",
                "--data-dir",
                str(tmp_path / "d"),
                "--salesforce-port",
                str(port),
                "--logisense-port",
                str(free_port()),
            ],
            env={"PATH": "/usr/bin:/bin"},
            log_path=tmp_path / "log",
        )
        try:
            assert process.popen.wait(timeout=60) != 0
        finally:
            process.stop(timeout=5)
    assert str(port) in process.log_path.read_text()


def test_connections_command_prints_airflow_connections_for_the_sandboxes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["connections", "--salesforce-port", "9443", "--data-dir", "/srv/sandbox"]) == 0
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in capsys.readouterr().out.strip().splitlines()
    )
    salesforce = json.loads(exports["AIRFLOW_CONN_SALESFORCE_DEFAULT"].strip("'"))
    logisense = json.loads(exports["AIRFLOW_CONN_LOGISENSE_DEFAULT"].strip("'"))
    assert salesforce["conn_type"] == "salesforce"
    assert salesforce["extra"]["domain"] == "127.0.0.1:9443/services/oauth2/token#"
    assert logisense["conn_type"] == "logisense"
    assert logisense["host"] == "https://127.0.0.1:8444"
    assert exports["REQUESTS_CA_BUNDLE"].strip("'") == "/srv/sandbox/ca.pem"


@pytest.mark.parametrize("argv", [["sandbox", "--latency-ms", "-5"], ["sandbox", "--seed", "bogus"], []])
def test_bad_arguments_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
