"""Benchmark: the Closed:Won sync on the embedded runtime (``airflow standalone``, SQLite, LocalExecutor).

Starts both sandboxes (``logisense-sync sandbox``, empty seed, free ports, a temporary directory) and
``airflow standalone`` with the demo's settings (``logisense_sync.demo``: 4 worker slots, DAGs unpaused),
builds the test catalogue (``tests/opportunity/world.py``: one package, two services, mirrored into
Salesforce), then measures:

* **click latency**: 20 single-opportunity clicks, one after the other, each exactly what the Salesforce button
  does (``logisense_sync.button.press``: insert the request, ``POST /auth/token``, ``POST dagRuns``); the time
  from the REST trigger to the request reading ``Completed`` in Salesforce. p50 and p95 (target p50 < 10 s).
  Baseline in the same run: a bare Airflow round trip (trigger -> run ``success``) of the same DAG with a
  request id that matches nothing, i.e. the scheduling overhead alone.
* **throughput**: 500 queued opportunities (each a new customer with one product) worked by one sweep run
  (``request_ids`` empty); the time from the trigger until all 500 requests are ``Completed`` (target < 2 min).

Run: ``.venv/bin/python -m bench.bench_opportunity_sync [--clicks 20] [--queued 500]``. Uses 2 cores for a
few minutes; run it alone.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

import requests
from logisense_sync import button
from logisense_sync.cli import SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET
from logisense_sync.clients.soql import format_soql
from logisense_sync.demo import AirflowApi

from bench._airflow import embedded_runtime, percentile

DAG_ID = "logisense_opportunity_sync"


def _query(sf: button.SalesforceRest, soql: str) -> list[dict[str, Any]]:
    response = sf.session.get(
        f"{sf.instance_url}/services/data/{sf.api_version}/query/",
        params={"q": soql},
        headers={"Authorization": f"Bearer {sf.access_token}"},
        timeout=60,
    )
    response.raise_for_status()
    body = response.json()
    records: list[dict[str, Any]] = body["records"]
    while not body.get("done", True):
        response = sf.session.get(
            f"{sf.instance_url}{body['nextRecordsUrl']}",
            headers={"Authorization": f"Bearer {sf.access_token}"},
            timeout=60,
        )
        body = response.json()
        records += body["records"]
    return records


def _wait_run(api: AirflowApi, run_id: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}") or {}
        if run.get("state") in ("success", "failed"):
            return str(run["state"])
        time.sleep(0.2)
    return "timeout"


def measure_clicks(
    world: Any, sf: button.SalesforceRest, airflow: button.AirflowApi, clicks: int
) -> list[float]:
    """Latency of single clicks: REST trigger -> request Completed."""
    latencies: list[float] = []
    for n in range(clicks):
        opp, _ = world.opportunity(world.account(f"Click customer {n}"), name=f"Click deal {n}")
        started = time.monotonic()
        pressed = button.press(sf, airflow, opportunity_id=opp)
        result = button.wait_for_request(sf, pressed.request_id, timeout=120, poll=0.1)
        latencies.append(time.monotonic() - started)
        if result["Status__c"] != "Completed":
            msg = f"click {n} ended {result['Status__c']}: {result['Message__c']}"
            raise RuntimeError(msg)
    return latencies


def measure_sweep(world: Any, sf: button.SalesforceRest, api: AirflowApi, queued: int) -> tuple[float, float]:
    """Time for one sweep run to complete ``queued`` requests; returns (seconds, setup seconds)."""
    setup_started = time.monotonic()
    ids = []
    for n in range(queued):
        opp, _ = world.opportunity(world.account(f"Queued customer {n}"), name=f"Queued deal {n}")
        ids.append(world.request(opportunity=opp))
    setup = time.monotonic() - setup_started
    started = time.monotonic()
    run_id = api.trigger(DAG_ID, {"request_ids": [], "dry_run": False})
    soql = format_soql(
        "SELECT Status__c, COUNT(Id) n FROM LogiSense_Request__c WHERE Id IN {ids} GROUP BY Status__c",
        ids=ids,
    )
    deadline = started + 900
    while time.monotonic() < deadline:
        counts = {r["Status__c"]: r["n"] for r in _query(sf, soql)}
        if counts.get("Completed", 0) + counts.get("Failed", 0) >= queued:
            break
        time.sleep(1)
    elapsed = time.monotonic() - started
    state = _wait_run(api, run_id)
    print(f"  sweep run {run_id}: {state}; request statuses {counts}")
    return elapsed, setup


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_opportunity_sync")
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--queued", type=int, default=500)
    args = parser.parse_args(argv)

    from tests.opportunity.world import World  # the test catalogue and deal builders

    with embedded_runtime("opportunity", seed="empty") as runtime:
        settings, api, secrets = runtime.settings, runtime.api, runtime.secrets
        world = World(settings.salesforce_url, settings.logisense_url)
        world.build_catalogue()
        session = requests.Session()
        sf = button.SalesforceRest.login(
            settings.salesforce_url, SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET, session=session
        )
        airflow = button.AirflowApi(
            settings.airflow_url, "admin", secrets["admin_password"], requests.Session()
        )

        # warm-up click (the first run of a fresh scheduler is slower), not counted
        measure_clicks(world, sf, airflow, 1)
        # baseline: trigger -> success of a run with nothing to do (pure Airflow scheduling overhead)
        baseline: list[float] = []
        for _ in range(3):
            started = time.monotonic()
            run = airflow.trigger(DAG_ID, {"request_ids": [uuid.uuid4().hex[:18]]})
            _wait_run(api, str(run["dag_run_id"]))
            baseline.append(time.monotonic() - started)
        latencies = measure_clicks(world, sf, airflow, args.clicks)
        p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
        base = statistics.median(baseline)
        print(
            f"  click latency over {args.clicks} clicks: p50 {p50:.2f} s, p95 {p95:.2f} s, "
            f"max {max(latencies):.2f} s (target p50 < 10 s)"
        )
        print(
            f"  baseline empty run (trigger -> success): median {base:.2f} s; p50 / baseline = {p50 / base:.2f}"
        )
        sweep, setup = measure_sweep(world, sf, api, args.queued)
        print(
            f"  throughput: {args.queued} queued opportunities in one run: {sweep:.1f} s "
            f"({args.queued / sweep:.1f} per s; target < 120 s); setup {setup:.1f} s"
        )
        ls_calls = requests.get(f"{settings.logisense_url}/__sandbox__/requests", timeout=30).json()["total"]
        print(f"  LogiSense API calls in total: {ls_calls}")
        world.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
