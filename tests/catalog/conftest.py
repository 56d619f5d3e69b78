"""Fixtures for the catalogue sync: both sandboxes wired as Airflow connections, plain-HTTP views of each
(independent of the project's clients), and a helper that runs the DAG with ``dag.test`` and returns its report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.catalog.catalog_helpers import DAG_ID, LogiSenseApi, Run, SalesforceApi, report_of

DEFAULT_CONF: dict[str, Any] = {"price_book_ids": [], "full_refresh": False, "dry_run": False}


@pytest.fixture
def sandboxes(airflow_connections: tuple[Any, Any]) -> tuple[Any, Any]:
    """Both sandboxes reset; LogiSense seeded with the demo catalogue; connections set."""
    sf_box, ls_box = airflow_connections
    ls_box.seed("demo")
    sf_box.clear_requests()
    return sf_box, ls_box


@pytest.fixture
def logisense_api(sandboxes: tuple[Any, Any]) -> LogiSenseApi:
    """Plain-requests access to the LogiSense sandbox."""
    ls_box = sandboxes[1]
    session = requests.Session()
    session.verify = str(ls_box.ca)
    token = session.post(
        f"{ls_box.url}/AuthorizationServer/api/v10/Access/Login",
        data={"grant_type": "password", "username": "admin", "password": "sandbox", "client_id": "sandbox"},
        timeout=30,
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    return LogiSenseApi(ls_box.url, session)


@pytest.fixture
def salesforce_api(sandboxes: tuple[Any, Any]) -> SalesforceApi:
    """simple-salesforce against the Salesforce sandbox."""
    from simple_salesforce import Salesforce

    host = sandboxes[0].url.removeprefix("https://")
    sf = Salesforce(
        consumer_key="sandbox-client",
        consumer_secret="sandbox-secret",
        domain=f"{host}/services/oauth2/token#",
    )
    return SalesforceApi(sf)


@pytest.fixture
def run_sync(dagbag: Any, sandboxes: tuple[Any, Any]) -> Callable[..., Run]:
    """Run the catalogue DAG through ``dag.test(run_conf=...)``; returns state, task states and report."""

    def run(**conf: Any) -> Run:
        dag = dagbag.dags[DAG_ID]
        # A failing task must fail the test now, not after the DAG's retry delay.
        retries = {task.task_id: task.retries for task in dag.tasks}
        for task in dag.tasks:
            task.retries = 0
        try:
            # dag.test merges run_conf into the DAG's own params: pass every param so none leaks between runs.
            dag_run = dag.test(run_conf=DEFAULT_CONF | conf)
        finally:
            for task in dag.tasks:
                task.retries = retries[task.task_id]
        tasks = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
        return Run(
            state=str(dag_run.state), tasks=tasks, report=report_of(dag_run.run_id), run_id=dag_run.run_id
        )

    return run
