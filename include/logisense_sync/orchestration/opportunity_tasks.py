"""Task callables of the ``logisense_opportunity_sync`` DAG: clients from Connections, errors to Airflow.

Each function takes the task context, calls one pipeline function and translates its errors: a request that
failed for good makes its unit fail without retry (``AirflowFailException``); a transient error propagates so
Airflow retries the unit (the pipeline already put the request back to ``Waiting``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from logisense_sync.errors import FatalError

if TYPE_CHECKING:
    from logisense_sync.clients.logisense import LogiSenseClient
    from logisense_sync.clients.salesforce import SalesforceClient

logger = logging.getLogger(__name__)


def _salesforce() -> SalesforceClient:
    from logisense_sync.orchestration import connections

    return connections.salesforce_client()


def _logisense() -> LogiSenseClient:
    from logisense_sync.orchestration import connections

    return connections.logisense_client()


def _settings() -> Any:
    from logisense_sync.pipelines.opportunity.settings import OpportunitySyncSettings

    try:
        return OpportunitySyncSettings.from_env()
    except FatalError as exc:
        raise AirflowFailException(str(exc)) from exc


#: The run conf keys the DAG understands (CONTRACT §6).
CONF_KEYS = frozenset({"request_ids", "dry_run"})


def _reject_unknown_conf(context: dict[str, Any]) -> None:
    """Params cannot reject unknown keys; a typo such as ``dryrun`` must not turn into a real run."""
    dag_run = context.get("dag_run")
    conf = dict(getattr(dag_run, "conf", None) or {})
    unknown = sorted(set(conf) - CONF_KEYS)
    if unknown:
        msg = f"unknown run conf key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(CONF_KEYS))}"
        raise AirflowFailException(msg)


def claim(context: dict[str, Any]) -> list[dict[str, Any]]:
    """Claim the run's requests (none in a dry run); return the units to map: ``[{"request_ids", "label"}]``."""
    from logisense_sync.pipelines import opportunity_sync

    _reject_unknown_conf(context)
    params = context["params"]
    run_id = str(context["run_id"])
    settings = _settings()
    held, notes = opportunity_sync.claim(
        _salesforce(),
        run_id,
        list(params.get("request_ids") or []),
        settings,
        dry_run=bool(params["dry_run"]),
    )
    for note in notes:
        logger.info("not taken: %s", note)
    units = opportunity_sync.units(held, settings.max_units)
    logger.info(
        "%d request(s) to work in %d unit(s)%s",
        len(held),
        len(units),
        " (dry run: nothing claimed)" if params["dry_run"] else "",
    )
    return units


def sync_request(unit: dict[str, Any], context: dict[str, Any]) -> list[dict[str, Any]]:
    """Work a unit's requests; fail the unit when one failed, retry it (Airflow) after a transient error."""
    from logisense_sync.pipelines import opportunity_sync

    live: dict[str, Any] = get_current_context()  # type: ignore[assignment]
    live["request_label"] = unit.get("label") or ", ".join(unit["request_ids"])
    params = context["params"]
    sf, ls = _salesforce(), _logisense()
    try:
        result = opportunity_sync.sync_unit(
            sf, ls, unit["request_ids"], str(context["run_id"]), _settings(), dry_run=bool(params["dry_run"])
        )
    finally:
        ls.close()
    for outcome in result.outcomes:
        logger.info("%s: %s - %s", outcome.label, outcome.outcome.value, outcome.message)
    if result.transient:
        msg = f"{len(result.transient)} request(s) hit a transient error and went back to Waiting: "
        raise AirflowException(msg + "; ".join(result.transient))
    if result.failed:
        msg = "; ".join(f"{o.label}: {o.message}" for o in result.failed)
        raise AirflowFailException(msg)
    return [o.to_dict() for o in result.outcomes]


def report(claimed: list[dict[str, Any]], context: dict[str, Any]) -> dict[str, Any]:
    """Count what the run's units did (read back from their XComs); fail the run if a unit failed."""
    from logisense_sync.pipelines import opportunity_sync

    ti = context["ti"]
    outcomes: list[dict[str, Any]] = []
    failed_units: list[str] = []
    for index, unit in enumerate(claimed):
        items = ti.xcom_pull(task_ids="sync_request", map_indexes=index, default=None)
        if isinstance(items, list):
            outcomes.extend(item for item in items if isinstance(item, dict))
        else:  # the unit failed: a request failed (see Message__c) or it crashed (see the unit's log)
            failed_units.append(str(unit.get("label")))
    summary = opportunity_sync.summarize(outcomes)
    summary["claimed"] = sum(len(unit["request_ids"]) for unit in claimed)
    summary["units"] = len(claimed)
    summary["failed_units"] = failed_units
    logger.info("opportunity sync report: %s", summary)
    if failed_units:
        msg = f"{len(failed_units)} of {len(claimed)} unit(s) did not complete: {', '.join(failed_units)}"
        raise AirflowFailException(msg)
    return summary
