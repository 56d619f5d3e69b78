"""
### LogiSense catalogue → Salesforce

Nightly (02:00 UTC) and from the Salesforce "Sync Pricebook" button: LogiSense price books, packages,
frequencies, currencies, services and prices become Salesforce `Pricebook2`, `Product2`, `PricebookEntry`
and `Product_Service__c` records. Only what differs from Salesforce is written; hand edits on integrated
records are put back (LogiSense wins) and counted as drift; nothing is ever deleted but unreferenced
service lines.

| param | meaning |
| --- | --- |
| `price_book_ids` | LogiSense price book ids to sync; empty = every price book (the button passes one) |
| `full_refresh` | the whole catalogue (ignores `price_book_ids`), and ignore the drift state (see below) |
| `dry_run` | compute and report the plan (counts and first rows per object and operation), write nothing |

Nothing cached decides what is written: every run diffs against Salesforce as it is now, so a rerun with
nothing changed writes nothing and `full_refresh` is never needed for correctness. The only state kept is
one hash per synced record (under the run base dir, `state/catalog`), used to tell drift (a hand edit in
Salesforce put back) from a LogiSense change in the report; `full_refresh` ignores it.
Keys (`LogiSense_Id__c`): `pb:{priceBook}`, `pf:{packageFrequency}`, `pbe:{priceBook}:{packageFrequency}:{CUR}`,
`psl:{priceBook}:{packageFrequency}:{CUR}:{service}:{R<status>|O<transition>|U<usageRate>}`.

Tasks: `extract` (LogiSense → parquet) → `plan` (transform, validate, diff against Salesforce → parquet)
→ `load` (writes, parents before children; skipped on dry runs; its success updates the catalogue Asset)
→ `report` (always runs; its return value is the run's report; fails the run if anything failed).

Large frames never travel through XCom or the metadata DB: each task writes parquet files into a run-scoped
folder (`$LOGISENSE_SYNC_RUN_DIR/<dag_id>/<run_id>`, default under `$AIRFLOW_HOME/logisense_sync_runs`) and
passes only small dicts of paths and counts; separate tasks retry only the stage that failed (a load retry
re-plans first). The folder must be shared by the workers (one machine, or a shared volume).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from logisense_sync.orchestration.assets import CATALOG_ASSET


@dag(
    dag_id="logisense_catalog_sync",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["logisense", "salesforce", "catalogue"],
    default_args={
        "owner": "revenue-operations",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
    },
    params={
        "price_book_ids": Param(
            [],
            type="array",
            items={"type": "integer", "minimum": 1},
            uniqueItems=True,
            description="LogiSense price book ids; empty = every active price book.",
        ),
        "full_refresh": Param(False, type="boolean", description="Compare everything, ignore narrowing."),
        "dry_run": Param(False, type="boolean", description="Plan and report only; write nothing."),
    },
)
def logisense_catalog_sync() -> None:
    @task
    def extract(**context: Any) -> dict[str, Any]:
        from logisense_sync.orchestration import tasks

        return tasks.extract(context)

    @task
    def plan(extracted: dict[str, Any], **context: Any) -> dict[str, Any]:
        from logisense_sync.orchestration import tasks

        return tasks.plan(extracted, context)

    @task(outlets=[CATALOG_ASSET])
    def load(planned: dict[str, Any], **context: Any) -> dict[str, Any]:
        from logisense_sync.orchestration import tasks

        return tasks.load(planned, context)

    # Retried like the others: it only reads the run folder, and a report lost with its worker must not fail
    # a run whose load succeeded. A failed run still fails at once (AirflowFailException is never retried).
    @task(trigger_rule="all_done")
    def report(**context: Any) -> dict[str, Any]:
        from logisense_sync.orchestration import tasks

        return tasks.report(context)

    loaded = load(plan(extract()))
    loaded >> report()


logisense_catalog_sync()
