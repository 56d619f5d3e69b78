"""Fixtures of the opportunity sync tests: both sandboxes reset, the test catalogue, and a DAG runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.opportunity.world import World

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def logisense_writes(requests: dict[str, Any]) -> dict[str, int]:
    """Write calls (not Search, not login) by route, from a sandbox's ``/__sandbox__/requests``."""
    writes: dict[str, int] = {}
    for route, count in requests["by_route"].items():
        method, _, path = route.partition(" ")
        if method in WRITE_METHODS and not path.endswith("/Search") and "/AuthorizationServer/" not in path:
            writes[route] = writes.get(route, 0) + count
    return writes


def salesforce_writes(requests: dict[str, Any]) -> dict[str, int]:
    """Write calls (DML) by route, from the Salesforce sandbox's ``/__sandbox__/requests`` (login excluded)."""
    writes: dict[str, int] = {}
    for route, count in requests["by_route"].items():
        method, _, path = route.partition(" ")
        if method in WRITE_METHODS and "/oauth2/" not in path and "/Soap/" not in path:
            writes[route] = writes.get(route, 0) + count
    return writes


@pytest.fixture
def world(airflow_connections: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Both sandboxes reset, the Cloud PBX catalogue on both sides, connections pointing at them."""
    sf, ls = airflow_connections
    monkeypatch.setenv("LOGISENSE_OPPORTUNITY_CLAIM_SETTLE_SECONDS", "0.2")
    w = World(sf.url, ls.url)
    w.build_catalogue()
    w.sf_sandbox, w.ls_sandbox = sf, ls  # type: ignore[attr-defined]
    sf.clear_requests()
    ls.clear_requests()
    yield w
    w.close()


@pytest.fixture
def run_dag(dagbag: Any) -> Callable[..., Any]:
    """Run ``logisense_opportunity_sync`` once through ``dag.test`` and return the DagRun."""

    def run(request_ids: list[str] | tuple[str, ...] = (), *, dry_run: bool = False) -> Any:
        dag = dagbag.dags["logisense_opportunity_sync"]
        return dag.test(run_conf={"request_ids": list(request_ids), "dry_run": dry_run})

    return run


def unit_states(dag_run: Any) -> dict[str, list[str]]:
    """Task id → states of its task instances (mapped units listed in map-index order)."""
    states: dict[str, list[str]] = {}
    for ti in sorted(dag_run.get_task_instances(), key=lambda t: (t.task_id, t.map_index)):
        states.setdefault(ti.task_id, []).append(str(ti.state))
    return states
