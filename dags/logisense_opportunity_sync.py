"""
### Salesforce Closed:Won → LogiSense accounts, contacts, price plans and account packages

Works the `LogiSense_Request__c` queue. The Salesforce "Push to LogiSense" buttons (Opportunity and Account)
insert a request with Status `Waiting` and trigger this DAG through the REST API with
`{"request_ids": ["<request id>"]}`; the 15-minute schedule sweeps every `Waiting` request as a safety net.

| param | meaning |
| --- | --- |
| `request_ids` | 18-character `LogiSense_Request__c` ids; empty = every `Waiting` request |
| `dry_run` | validate and report what would happen; write nothing on either side, not even the claim |

Tasks:
- `claim`: marks the requests `Processing` with this run's id (a lease: `Airflow_Run_Id__c` + the claim
  time), re-reads them and keeps only those this run won, so overlapping runs never work the same request;
  `Processing` requests whose run died are taken over once their lease expires.
- `sync_request` (mapped; one unit per request, labelled with the opportunity or account; a sweep of more
  than `LOGISENSE_OPPORTUNITY_MAX_UNITS` (32) requests is split into that many batches, each labelled with
  its first and last opportunity and worked request by request in isolation): validates the whole deal
  (every problem goes into `Message__c`, nothing is written to LogiSense if there is any), then provisions
  ancestors first (accounts, parent links, invoicers, tax account, contacts, then account packages or an
  account price plan per Opportunity Type), every LogiSense object marked with `extensions.sfdcid` and
  looked up before any create; then writes ids and the outcome back to Salesforce. A unit with a failed
  request is red.
- `report`: always runs; counts the outcomes; fails the run when a unit failed (without a retry; a report
  lost with its worker is retried).

Transient errors (LogiSense 429/5xx, Salesforce lock or limit errors) put the request back to `Waiting`; the
unit is retried by Airflow, then by later sweeps, up to `LOGISENSE_OPPORTUNITY_MAX_ATTEMPTS` attempts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

# Bounded concurrency against LogiSense: at most this many requests are provisioned at once per run.
_UNITS_PER_RUN = 4


@dag(
    dag_id="logisense_opportunity_sync",
    schedule="*/15 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Several runs may overlap on purpose: each button click triggers its own run, and a long sweep must not
    # hold a rep's click back for minutes. The claim (a lease on each request) keeps runs from working the
    # same request; 3 runs x _UNITS_PER_RUN units bounds the load on LogiSense and on a 2-core worker.
    max_active_runs=3,
    doc_md=__doc__,
    tags=["logisense", "salesforce", "opportunity"],
    default_args={
        "owner": "revenue-operations",
        "retries": 2,
        "retry_delay": timedelta(seconds=10),
        "retry_exponential_backoff": True,
    },
    params={
        "request_ids": Param(
            [],
            type="array",
            items={"type": "string", "pattern": "^[a-zA-Z0-9]{18}$"},
            uniqueItems=True,
            description="LogiSense_Request__c ids (18 characters); empty = every Waiting request.",
        ),
        "dry_run": Param(False, type="boolean", description="Validate and report only; write nothing."),
    },
)
def logisense_opportunity_sync() -> None:
    @task
    def claim(**context: Any) -> list[dict[str, Any]]:
        from logisense_sync.orchestration import opportunity_tasks

        return opportunity_tasks.claim(context)

    @task(map_index_template="{{ request_label }}", max_active_tis_per_dagrun=_UNITS_PER_RUN)
    def sync_request(unit: dict[str, Any], **context: Any) -> list[dict[str, Any]]:
        from logisense_sync.orchestration import opportunity_tasks

        return opportunity_tasks.sync_request(unit, context)

    # The report retries like every task (default_args): it only reads XComs, so a try lost with its worker
    # (heartbeat timeout) must not fail a run whose units all completed. A failed unit still fails the run at
    # once: AirflowFailException is never retried.
    @task(trigger_rule="all_done")
    def report(claimed: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
        from logisense_sync.orchestration import opportunity_tasks

        return opportunity_tasks.report(claimed, context)

    claimed = claim()
    sync_request.expand(unit=claimed) >> report(claimed)


logisense_opportunity_sync()
