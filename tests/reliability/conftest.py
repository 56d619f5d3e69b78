"""Fixtures of the reliability suite: both sandboxes wired into Airflow, a small catalogue, DAG runners.

Reuses the opportunity tests' ``World`` (a Cloud PBX catalogue on both sides and deal builders) and the
catalogue tests' report reader; runs both DAGs in-process with ``dag.test``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.opportunity.world import World
from tests.reliability.reliability_helpers import LEDGER

CATALOG_DAG = "logisense_catalog_sync"
OPPORTUNITY_DAG = "logisense_opportunity_sync"
# A small generated catalogue: 2 packages, 4 frequencies, 3 price books, 4 currencies.
SMALL_CATALOGUE = {"profile": "generated", "packages": 2, "seed": 7}


@dataclass
class DagResult:
    """One finished DAG run: state, task states (mapped units in map-index order) and its report."""

    run_id: str
    state: str
    tasks: dict[str, list[str]]
    report: dict[str, Any]


def xcom_value(dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
    """A task's XCom from the metadata database (decoded), or None."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id, key=key, map_index=-1)
            .one_or_none()
        )
        value = None if row is None else row.value
    while isinstance(value, bytes | str):
        try:
            value = json.loads(value)
        except ValueError:
            break
    return value


def run_dag(dagbag: Any, dag_id: str, conf: dict[str, Any]) -> DagResult:
    """Run a DAG once through ``dag.test`` and collect its outcome."""
    dag_run = dagbag.dags[dag_id].test(run_conf=conf)
    tasks: dict[str, list[str]] = {}
    for ti in sorted(dag_run.get_task_instances(), key=lambda t: (t.task_id, t.map_index)):
        tasks.setdefault(ti.task_id, []).append(str(ti.state))
    report = xcom_value(dag_id, dag_run.run_id, "report") or {}
    return DagResult(dag_run.run_id, str(dag_run.state), tasks, report)


@pytest.fixture
def sandboxes(airflow_connections: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """Both sandboxes reset, connections set, claims settle fast."""
    monkeypatch.setenv("LOGISENSE_OPPORTUNITY_CLAIM_SETTLE_SECONDS", "0.2")
    return airflow_connections


@pytest.fixture
def world(sandboxes: tuple[Any, Any]) -> Iterator[World]:
    """The opportunity tests' Cloud PBX catalogue on both sides, recorded calls cleared."""
    sf, ls = sandboxes
    w = World(sf.url, ls.url)
    w.build_catalogue()
    sf.clear_requests()
    ls.clear_requests()
    yield w
    w.close()


@pytest.fixture
def run_catalog(dagbag: Any) -> Callable[..., DagResult]:
    """Run ``logisense_catalog_sync`` with the given conf."""
    return lambda **conf: run_dag(dagbag, CATALOG_DAG, conf)


@pytest.fixture
def run_opportunity(dagbag: Any) -> Callable[..., DagResult]:
    """Run ``logisense_opportunity_sync`` with the given conf (``request_ids``, ``dry_run``)."""
    return lambda **conf: run_dag(dagbag, OPPORTUNITY_DAG, conf)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the faults injected per scenario (the reliability figures) at the end of the run."""
    if not LEDGER.rows:
        return
    terminalreporter.section("reliability: faults injected per run")
    for row in LEDGER.rows:
        total = sum(row["salesforce"].values()) + sum(row["logisense"].values())
        terminalreporter.write_line(
            f"{row['scenario']}: {total} faults; Salesforce {row['salesforce']}; LogiSense {row['logisense']}"
            + (f"; {row['note']}" if row.get("note") else "")
        )
