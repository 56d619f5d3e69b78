"""Task callables of ``logisense_catalog_sync``: thin wrappers over the catalogue pipeline.

Why four tasks and a run folder: extract, plan and load each take seconds to minutes and fail for different
reasons (LogiSense down, Salesforce down, record errors); separate tasks retry only what failed and show where
time went. Frames go between them as parquet files in a run-scoped folder
(``$LOGISENSE_SYNC_RUN_DIR/<dag_id>/<run_id>``, default under ``$AIRFLOW_HOME``), never through XCom: XCom
carries only small summaries. The folder must be visible to every worker (one machine, or a shared volume).

Errors: :class:`~logisense_sync.errors.FatalError` becomes ``AirflowFailException`` (no retry);
:class:`~logisense_sync.errors.RetriableError` propagates so Airflow retries the task.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from logisense_sync.errors import FatalError

log = logging.getLogger(__name__)

PARAMS = frozenset({"price_book_ids", "full_refresh", "dry_run"})


def base_dir() -> Path:
    """Root of run folders and state: ``$LOGISENSE_SYNC_RUN_DIR`` or ``$AIRFLOW_HOME/logisense_sync_runs``."""
    configured = os.environ.get("LOGISENSE_SYNC_RUN_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("AIRFLOW_HOME", str(Path.home() / "airflow"))) / "logisense_sync_runs"


def run_dir(context: dict[str, Any]) -> Path:
    """The run's folder: ``<base>/<dag_id>/<run_id>`` (run id made file-name safe)."""
    dag_run = context.get("dag_run")
    dag_id = getattr(dag_run, "dag_id", None) or "logisense_catalog_sync"
    run_id = str(context.get("run_id") or getattr(dag_run, "run_id", "manual"))
    return base_dir() / dag_id / re.sub(r"[^A-Za-z0-9_.+-]", "_", run_id)


def state_dir() -> Path:
    """Where the catalogue sync keeps last-synced record hashes (drift detection only)."""
    return base_dir() / "state" / "catalog"


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn a FatalError into AirflowFailException (no retry); let RetriableError through (retry)."""
    try:
        yield
    except FatalError as exc:
        raise AirflowFailException(str(exc)) from exc


def options(context: dict[str, Any]) -> Any:
    """Read and check the run's params; unknown conf keys fail the run before any work.

    Raises:
        AirflowFailException: the conf has a key the DAG does not know (e.g. ``dryrun``).
    """
    from logisense_sync.pipelines.catalog_sync import SyncOptions

    conf = getattr(context.get("dag_run"), "conf", None) or {}
    unknown = sorted(set(conf) - PARAMS)
    if unknown:
        msg = f"unknown conf key(s) {unknown}; this DAG takes {sorted(PARAMS)}"
        raise AirflowFailException(msg)
    params = context.get("params") or {}
    return SyncOptions(
        price_book_ids=tuple(int(i) for i in params.get("price_book_ids") or ()),
        full_refresh=bool(params.get("full_refresh", False)),
        dry_run=bool(params.get("dry_run", False)),
    )


def _as_of(context: dict[str, Any]) -> dt.datetime:
    dag_run = context.get("dag_run")
    for value in (getattr(dag_run, "run_after", None), context.get("logical_date")):
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC)


def extract(context: dict[str, Any]) -> dict[str, Any]:
    """Check the params, then read LogiSense into the run folder."""
    opts = options(context)
    from logisense_sync.orchestration.connections import logisense_client
    from logisense_sync.pipelines.catalog_sync import extract_catalog

    folder = run_dir(context)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    with translate_errors():
        summary = extract_catalog(logisense_client(), folder, opts)
    return {"run_dir": str(folder), **summary}


def plan(extracted: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Transform, validate and diff against Salesforce; the plan goes to the run folder."""
    opts = options(context)
    from logisense_sync.orchestration.connections import salesforce_client
    from logisense_sync.pipelines.catalog_sync import plan_catalog

    folder = Path(extracted["run_dir"])
    with translate_errors():
        summary = plan_catalog(
            salesforce_client(), folder, opts, as_of=_as_of(context), state_dir=state_dir()
        )
    return {
        "run_dir": str(folder),
        "planned": summary["planned"],
        "drift": summary["drift"],
        "skipped_total": summary["skipped_total"],
    }


def load(planned: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Write the plan (skipped on dry runs: no Asset event); fail naming the records that failed.

    A retry re-plans first, so what an earlier try wrote is not written twice.
    """
    opts = options(context)
    if opts.dry_run:
        msg = "dry run: the plan is in the report, nothing is written"
        raise AirflowSkipException(msg)
    from logisense_sync.orchestration.connections import salesforce_client
    from logisense_sync.pipelines.catalog_sync import load_catalog, plan_catalog
    from logisense_sync.pipelines.report import SyncReport

    folder = Path(planned["run_dir"])
    ti = context.get("ti")
    with translate_errors():
        sf = salesforce_client()
        if ti is not None and int(getattr(ti, "try_number", 1) or 1) > 1:
            log.info("retry: re-planning against Salesforce before loading")
            plan_catalog(sf, folder, opts, as_of=_as_of(context), state_dir=state_dir())
        summary = load_catalog(sf, folder, state_dir=state_dir())
        report = SyncReport(name="logisense_catalog_sync", run_id=str(context.get("run_id", "")))
        report.add_failed(summary["failed"], summary["failed_total"])
        report.not_processed = summary["not_processed"]
        report.stopped = summary["stopped"]
        report.raise_if_failed()
    return {"done": summary["done"], "salesforce_calls": summary["salesforce_calls"]}


def report(context: dict[str, Any]) -> dict[str, Any]:
    """Log the run's report and return it (small JSON); fail if the run failed anywhere.

    Runs whatever happened upstream (trigger rule ``all_done``). The report is pushed as this task's
    ``return_value`` before failing, so a failed run keeps its report too.
    """
    opts = options(context)
    from logisense_sync.pipelines.catalog_sync import build_report

    folder = run_dir(context)
    missing = [s for s in ("extract", "plan") if not (folder / f"{s}.json").exists()]
    if not opts.dry_run and not (folder / "load.json").exists():
        missing.append("load")
    error = f"stage(s) {', '.join(missing)} did not finish (see their task logs)" if missing else None
    result = build_report(folder, run_id=str(context.get("run_id", "")), error=error)
    result.log(log)
    payload = result.to_dict()
    if not result.ok:
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key="return_value", value=payload)
        msg = f"catalogue sync failed: {result.failed_total} record(s) failed; {result.stopped or ''}"
        raise AirflowFailException(msg)
    # a successful run keeps only its small JSON summaries; a failed one keeps every file for inspection
    shutil.rmtree(folder / "extract", ignore_errors=True)
    shutil.rmtree(folder / "load", ignore_errors=True)
    shutil.rmtree(folder / "plan", ignore_errors=True)
    return payload
