"""Task callables of the ``logisense_opportunity_sync`` DAG: clients from Connections, errors to Airflow.

Each function takes the task context, calls one pipeline function and translates its errors: a request that
failed for good makes its unit fail without retry (``AirflowFailException``); a transient error propagates so
Airflow retries the unit (the pipeline already put the request back to ``Waiting``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException

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
    """Claim the run's requests (none in a dry run) and return ``[{"request_id", "label"}]`` for mapping."""
    from logisense_sync.pipelines import opportunity_sync

    _reject_unknown_conf(context)
    params = context["params"]
    run_id = str(context["run_id"])
    held, notes = opportunity_sync.claim(
        _salesforce(),
        run_id,
        list(params.get("request_ids") or []),
        _settings(),
        dry_run=bool(params["dry_run"]),
    )
    for note in notes:
        logger.info("not taken: %s", note)
    logger.info(
        "%d request(s) to work%s", len(held), " (dry run: nothing claimed)" if params["dry_run"] else ""
    )
    return [req.to_xcom() for req in held]


def sync_request(request: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Work one request; fail the unit (no retry) when the request failed, re-raise transient errors."""
    from logisense_sync.pipelines import opportunity_sync

    live: dict[str, Any] = get_current_context()  # type: ignore[assignment]
    live["request_label"] = request.get("label") or request["request_id"]
    params = context["params"]
    dry_run = bool(params["dry_run"])
    sf, ls = _salesforce(), _logisense()
    try:
        outcome = opportunity_sync.sync_request(
            sf, ls, request["request_id"], str(context["run_id"]), _settings(), dry_run=dry_run
        )
    finally:
        ls.close()
    logger.info("%s: %s - %s", outcome.label, outcome.outcome.value, outcome.message)
    if outcome.outcome == opportunity_sync.Outcome.FAILED:
        msg = f"{outcome.label}: {outcome.message}"
        raise AirflowFailException(msg)
    return outcome.to_dict()


def report(claimed: list[dict[str, Any]], context: dict[str, Any]) -> dict[str, Any]:
    """Count what the run's units did (read back from their XComs); fail the run if a unit failed."""
    from logisense_sync.pipelines import opportunity_sync

    ti = context["ti"]
    outcomes: list[dict[str, Any]] = []
    failed_units: list[str] = []
    for index, request in enumerate(claimed):
        item = ti.xcom_pull(task_ids="sync_request", map_indexes=index, default=None)
        if isinstance(item, dict):
            outcomes.append(item)
        else:  # the unit failed: its request failed (see Message__c) or it crashed (see the unit's log)
            failed_units.append(str(request.get("label") or request["request_id"]))
    summary = opportunity_sync.summarize(outcomes)
    summary["claimed"] = len(claimed)
    summary["failed_units"] = failed_units
    logger.info("opportunity sync report: %s", summary)
    if failed_units:
        msg = f"{len(failed_units)} of {len(claimed)} request(s) did not complete: {', '.join(failed_units)}"
        raise AirflowFailException(msg)
    return summary
