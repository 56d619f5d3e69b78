"""Benchmark: the catalogue sync at 1,000 / 100,000 / 1,000,000 price book entries against the sandboxes.

Starts ``logisense-sync sandbox --latency-ms 50`` (free ports, temporary data dir), seeds a generated LogiSense
catalogue sized for the wanted number of PricebookEntry records (about 15 entries per generated package), and
measures in this process:

- the full sync (extract → plan → load, :func:`logisense_sync.pipelines.catalog_sync.sync_catalog`) into an
  empty org: wall time, API calls (Salesforce ``/limits`` DailyApiRequests delta, plus the LogiSense calls the
  sandbox recorded), peak RSS of this process;
- the no-change rerun: wall time and Salesforce data write calls (zero expected);
- baselines on the same data, on a fixed random sample of its PricebookEntry rows (seed 42), per-row rate
  extrapolated to every record the sync wrote (labelled "extrapolated"): per-record REST upserts through
  simple-salesforce (``sf.PricebookEntry.upsert('LogiSense_Id__c/<key>', ...)``) and the Airflow provider's
  ``SalesforceBulkOperator`` (Bulk API 1.0, upsert on ``LogiSense_Id__c``);
- the "Sync Pricebook" button path on the demo data: one price book into an empty org (pipeline time; Airflow's
  own trigger-to-start overhead is not included).

Run: ``.venv/bin/python -m bench.bench_catalog_sync [--scales 1000,100000,1000000] [--latency-ms 50]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from bench._sandboxes import Box, PeakRss, running_sandboxes

ENTRIES_PER_PACKAGE = (
    15.3  # measured on the generator: 1,528 Package/Frequency/Currency rows per 100 packages
)
DATA_ROUTES = ("/composite/sobjects", "/sobjects/", "/jobs/ingest", "/services/async/")
#: The process serving both sandboxes, once started (its peak RSS is reported beside the client's).
SANDBOXES: list[psutil.Process] = []


@dataclass
class Row:
    label: str
    seconds: float
    api_calls: int
    peak_mb: float | None = None
    writes: int | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        peak = f"{self.peak_mb:7.0f} MB" if self.peak_mb is not None else "      - MB"
        writes = f"{self.writes:6d}" if self.writes is not None else "     -"
        return f"  {self.label:<46} {self.seconds:10.1f} s {self.api_calls:9,d} calls {peak} writes {writes}  {self.note}"


def _simple_salesforce(box: Box) -> Any:
    from simple_salesforce import Salesforce

    host = box.url.removeprefix("https://")
    return Salesforce(
        consumer_key="sandbox-client",
        consumer_secret="sandbox-secret",
        domain=f"{host}/services/oauth2/token#",
    )


def _api_used(sf: Any) -> int:
    limits = sf.limits()["DailyApiRequests"]
    return int(limits["Max"]) - int(limits["Remaining"])


def _writes(box: Box) -> int:
    routes = box.control("GET", "requests")["by_route"]
    return sum(
        n for route, n in routes.items()
        if route.split(" ", 1)[0] in {"POST", "PUT", "PATCH", "DELETE"} and any(p in route for p in DATA_ROUTES)
    )  # fmt: skip


def _logisense(ls: Box) -> Any:
    from logisense_sync.clients.logisense import LogiSenseClient

    return LogiSenseClient(base_url=ls.url, username="admin", password="sandbox", client_id="sandbox")


def _measure(label: str, sf_box: Box, ls_box: Box, work: Callable[[], Any]) -> tuple[Row, Any]:
    probe = _simple_salesforce(sf_box)
    before = _api_used(probe)
    sf_box.control("DELETE", "requests")
    ls_box.control("DELETE", "requests")
    watched = {"client": psutil.Process(), **({"sandboxes": SANDBOXES[0]} if SANDBOXES else {})}
    with PeakRss(**watched) as rss:
        started = time.perf_counter()
        result = work()
        seconds = time.perf_counter() - started
    sf_calls = _api_used(probe) - before - 1  # the second /limits call itself
    ls_calls = int(ls_box.control("GET", "requests")["total"])
    row = Row(label, seconds, sf_calls + ls_calls, rss.peak["client"] / 2**20, _writes(sf_box))
    row.extra = {"salesforce_calls": sf_calls, "logisense_calls": ls_calls}
    if "sandboxes" in rss.peak:
        row.extra["sandboxes_peak_mb"] = round(rss.peak["sandboxes"] / 2**20)
    return row, result


def _sync(sf_box: Box, ls_box: Box, work_dir: Path, books: tuple[int, ...] = ()) -> Any:
    from logisense_sync.clients.salesforce import SalesforceClient
    from logisense_sync.pipelines.catalog_shards import SHARD_ENTRIES
    from logisense_sync.pipelines.catalog_sync import SyncOptions, sync_catalog

    run_dir = Path(tempfile.mkdtemp(dir=work_dir))
    return sync_catalog(
        _logisense(ls_box),
        SalesforceClient(_simple_salesforce(sf_box)),
        run_dir,
        SyncOptions(price_book_ids=books),
        as_of=dt.datetime.now(dt.UTC),
        state_dir=work_dir / "state",
        shard_entries=int(os.environ.get("BENCH_SHARD_ENTRIES") or SHARD_ENTRIES),
    )


def _sample_entries(sf_box: Box, size: int) -> list[dict[str, Any]]:
    from logisense_sync.clients.salesforce import SalesforceClient

    frame = SalesforceClient(_simple_salesforce(sf_box)).query_frame(
        "SELECT LogiSense_Id__c, UnitPrice, IsActive FROM PricebookEntry WHERE LogiSense_Id__c != null"
    )
    rows = frame.to_dict(orient="records")
    rng = random.Random(42)
    sample = rng.sample(rows, min(size, len(rows)))
    return [
        {"LogiSense_Id__c": r["LogiSense_Id__c"], "UnitPrice": float(r["UnitPrice"]),
         "IsActive": str(r["IsActive"]).lower() == "true"}
        for r in sample
    ]  # fmt: skip


def _rest_baseline(sf_box: Box, sample: list[dict[str, Any]]) -> None:
    sf = _simple_salesforce(sf_box)
    for record in sample:
        key = record["LogiSense_Id__c"]
        sf.PricebookEntry.upsert(
            f"LogiSense_Id__c/{key}", {"UnitPrice": record["UnitPrice"], "IsActive": True}
        )


def _bulk_operator_baseline(sf_box: Box, sample: list[dict[str, Any]]) -> None:
    host = sf_box.url.removeprefix("https://")
    os.environ["AIRFLOW_CONN_SALESFORCE_BENCH"] = json.dumps(
        {"conn_type": "salesforce", "extra": {"consumer_key": "sandbox-client", "consumer_secret": "sandbox-secret",
                                              "domain": f"{host}/services/oauth2/token#"}}
    )  # fmt: skip
    from airflow.providers.salesforce.operators.bulk import SalesforceBulkOperator

    bulk_baseline = SalesforceBulkOperator(
        task_id="bulk_baseline",
        operation="upsert",
        object_name="PricebookEntry",
        payload=[{**r, "IsActive": True} for r in sample],
        external_id_field="LogiSense_Id__c",
        batch_size=10000,
        salesforce_conn_id="salesforce_bench",
    )
    bulk_baseline.execute(context={})  # type: ignore[arg-type]


def run_scale(
    entries: int,
    sf_box: Box,
    ls_box: Box,
    work_dir: Path,
    rest_sample: int,
    bulk_sample: int,
    baselines: bool = True,
) -> None:
    packages = max(1, math.ceil(entries / ENTRIES_PER_PACKAGE))
    sf_box.control("POST", "reset")
    started = time.perf_counter()
    seeded = ls_box.control("POST", "seed", {"profile": "generated", "packages": packages, "seed": 42})
    print(f"\n== {entries:,} price book entries wanted: {packages:,} generated packages "
          f"({seeded['counts'].get('Package/Frequency/Currency', 0):,} connectors, seeded in "
          f"{time.perf_counter() - started:.0f} s)")  # fmt: skip

    full, report = _measure(
        "catalogue sync (full, empty org)", sf_box, ls_box, lambda: _sync(sf_box, ls_box, work_dir)
    )
    written = sum(sum(ops.values()) for ops in report.done.values())
    pbe = report.done.get("PricebookEntry", {}).get("create", 0)
    full.note = f"{written:,} records written ({pbe:,} PricebookEntry), ok={report.ok}, stages {report.api_calls['seconds']}"
    rerun, again = _measure("no-change rerun", sf_box, ls_box, lambda: _sync(sf_box, ls_box, work_dir))
    rerun.note = f"planned {sum(sum(o.values()) for o in again.planned.values())} writes, stages {again.api_calls['seconds']}"

    rows = [full, rerun]
    if not baselines:
        for row in rows:
            print(row.line())
        print(f"  sync API calls: {full.extra}; rerun: {rerun.extra}, data writes {rerun.writes}")
        return
    sample = _sample_entries(sf_box, rest_sample)
    rest, _ = _measure(
        "baseline: per-record REST upserts (sample)", sf_box, ls_box, lambda: _rest_baseline(sf_box, sample)
    )
    rows.append(rest)
    per_row = rest.seconds / max(1, len(sample))
    rows.append(Row("  ... extrapolated to all records", per_row * written, written, None, None,
                    f"EXTRAPOLATED from {len(sample)} rows at {per_row * 1000:.0f} ms/row"))  # fmt: skip
    bulk_rows = _sample_entries(sf_box, bulk_sample)
    bulk, _ = _measure(
        "baseline: SalesforceBulkOperator (sample)",
        sf_box,
        ls_box,
        lambda: _bulk_operator_baseline(sf_box, bulk_rows),
    )
    rows.append(bulk)
    per_row_bulk = bulk.seconds / max(1, len(bulk_rows))
    calls_per_row = bulk.api_calls / max(1, len(bulk_rows))
    rows.append(Row("  ... extrapolated to all records", per_row_bulk * written, int(calls_per_row * written), None,
                    None, f"EXTRAPOLATED from {len(bulk_rows)} rows"))  # fmt: skip
    for row in rows:
        print(row.line())
    print(f"  ratios (baseline / sync): REST {rows[3].seconds / full.seconds:,.1f}x time, "
          f"{rows[3].api_calls / max(1, full.api_calls):,.0f}x calls; "
          f"BulkOperator {rows[5].seconds / full.seconds:,.1f}x time, "
          f"{rows[5].api_calls / max(1, full.api_calls):,.1f}x calls")  # fmt: skip
    print(f"  sync API calls: {full.extra}; rerun: {rerun.extra}, data writes {rerun.writes}")


def button_sync(sf_box: Box, ls_box: Box, work_dir: Path) -> None:
    sf_box.control("POST", "reset")
    ls_box.control("POST", "seed", {"profile": "demo"})
    book = next(b for b in _logisense(ls_box).list_all("PriceBook") if not b.get("isStandard"))
    row, report = _measure(
        f"button: one price book ({book['name']}) into an empty org", sf_box, ls_box,
        lambda: _sync(sf_box, ls_box, work_dir, (int(book["identity"]),)),
    )  # fmt: skip
    row.note = f"ok={report.ok}, {sum(sum(o.values()) for o in report.done.values())} records"
    print("\n== demo data, the Sync Pricebook button path (pipeline time, no Airflow trigger overhead)")
    print(row.line())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    # 1,000,000 entries = 65,360 generated packages (10.3 M LogiSense rows, 9.4 M Salesforce records): about
    # 17 minutes with its rerun and baselines, the sandboxes' process peaking near 5 GB and ~10 GB of disk.
    parser.add_argument("--scales", default=os.environ.get("BENCH_CATALOG_SCALES", "1000,100000,1000000"))
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--rest-sample", type=int, default=200)
    parser.add_argument("--bulk-sample", type=int, default=10000)
    parser.add_argument("--verbose", action="store_true", help="log the pipeline stages to stderr")
    parser.add_argument(
        "--shard-entries", type=int, help="price book entries per plan shard (default: the sync's)"
    )
    parser.add_argument("--no-baselines", action="store_true", help="only the sync and its rerun")
    args = parser.parse_args(argv or [])
    if args.shard_entries:
        os.environ["BENCH_SHARD_ENTRIES"] = str(args.shard_entries)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    scales = [int(s) for s in args.scales.split(",") if s]
    work_dir = Path(tempfile.mkdtemp(prefix="bench-catalog-runs-"))
    print(f"catalogue sync benchmark: scales {scales}, latency {args.latency_ms} ms per call, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    try:
        with running_sandboxes(latency_ms=args.latency_ms, prefix="bench-catalog-") as boxes:
            sf_box, ls_box = boxes.salesforce, boxes.logisense
            SANDBOXES.append(boxes.process)
            button_sync(sf_box, ls_box, work_dir)
            for entries in scales:
                run_scale(
                    entries,
                    sf_box,
                    ls_box,
                    work_dir,
                    args.rest_sample,
                    args.bulk_sample,
                    not args.no_baselines,
                )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    pd.set_option("display.width", 200)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
