"""Helpers for the catalogue sync tests: plain-HTTP views of both sandboxes and DAG run results."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

DAG_ID = "logisense_catalog_sync"
DATA_ROUTES = ("/composite/sobjects", "/sobjects/", "/jobs/ingest", "/services/async/")


@dataclass
class LogiSenseApi:
    """LogiSense sandbox through plain requests (login once, then GET/PATCH resources)."""

    url: str
    session: requests.Session

    def _api(self, path: str) -> str:
        return f"{self.url}/ResourceServer/api/v10/{path}"

    def all(self, route: str) -> list[dict[str, Any]]:
        """Every object of a resource."""
        response = self.session.get(self._api(f"{route}/"), timeout=60)
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def delete(self, route: str, identity: int) -> None:
        """DELETE one object."""
        response = self.session.delete(self._api(f"{route}/{identity}"), timeout=60)
        assert response.status_code == 200, response.text

    def patch(self, route: str, identity: int, body: dict[str, Any]) -> None:
        """PATCH one object."""
        response = self.session.patch(self._api(f"{route}/{identity}"), json=body, timeout=60)
        assert response.status_code == 200, response.text


@dataclass
class SalesforceApi:
    """Salesforce sandbox through simple-salesforce (client credentials), for SOQL checks and hand edits."""

    sf: Any

    def query(self, soql: str) -> list[dict[str, Any]]:
        """All records of a query (attributes dropped, parents as nested dicts)."""
        return [{k: v for k, v in r.items() if k != "attributes"} for r in self.sf.query_all(soql)["records"]]


def data_writes(sf_box: Any) -> dict[str, int]:
    """Data-changing calls recorded by the Salesforce sandbox (DML routes only; no login, no query jobs)."""
    routes = sf_box.requests()["by_route"]
    return {
        route: n
        for route, n in routes.items()
        if route.split(" ", 1)[0] in {"POST", "PUT", "PATCH", "DELETE"}
        and any(part in route for part in DATA_ROUTES)
    }


@dataclass
class Run:
    """One finished DAG run: its state, task states and the report (XCom of the last task)."""

    state: str
    tasks: dict[str, str]
    report: dict[str, Any]
    run_id: str = ""


def report_of(run_id: str) -> dict[str, Any]:
    """The report task's return value (XCom) for a run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=DAG_ID, run_id=run_id, task_id="report", key="return_value")
            .one_or_none()
        )
        if row is None:
            return {}
        value = row.value
    if isinstance(value, bytes | str):
        value = json.loads(value)
    if isinstance(value, str):
        value = json.loads(value)
    assert isinstance(value, dict)
    return value


def catalog_asset_events(run_id: str) -> list[str]:
    """Tasks that emitted an event for the catalogue Asset in a run."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetEvent.source_task_id)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .filter(AssetModel.name == "salesforce_logisense_catalog", AssetEvent.source_run_id == run_id)
            .all()
        )
    return [str(r[0]) for r in rows]
