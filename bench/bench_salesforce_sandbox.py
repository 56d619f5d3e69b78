"""Benchmark: the Salesforce sandbox under the two loads the pipelines put on it.

(a) a 100,000-row Bulk API 2.0 upsert into PricebookEntry by ``LogiSense_Id__c`` (10 custom price books x
    2,500 products x 4 currencies; the products and their standard entries are created first, untimed), run
    twice: the first pass creates every entry, the second updates them all;
(b) a 50,000-row SOQL query (with a parent field, ``Product2.LogiSense_Id__c``) read through
    ``nextRecordsUrl`` pages with simple-salesforce ``query_all_iter``.

The sandbox runs in a subprocess (``logisense-sync sandbox`` on free ports, a temporary data dir); the client
is unmodified simple-salesforce in this process. Printed per phase: wall time, rows/s, and the peak RSS of the
sandbox process and of this (the client) process, sampled every 10 ms with psutil.

With ``--lines N`` it runs the catalogue-scale load instead: N ``Product_Service__c`` charge lines (about 61
per product, 4 price books, 4 currencies, like the 1,000,000-entry catalogue's 8,000,000 lines) upserted through
Bulk API 2.0 with our client (``SalesforceClient.upsert(object, 'LogiSense_Id__c', frame)``, relationship
columns ``Product__r.LogiSense_Id__c`` and ``Pricebook__r.LogiSense_Id__c``), once creating and once updating
every line, then read back whole through one Bulk API 2.0 query job (``maxRecords=1000000`` pages, as the
client's ``query_frame`` does; the pages are streamed and counted, not parsed). It also prints the sandbox's
RSS per stored record.

Run: ``.venv/bin/python -m bench.bench_salesforce_sandbox [--products 2500] [--pricebooks 10]``
or ``.venv/bin/python -m bench.bench_salesforce_sandbox --lines 2000000``
(``make bench`` runs it too; it is never part of the test suite).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psutil
from logisense_sync.clients.soql import format_soql
from simple_salesforce import Salesforce

from bench._sandboxes import PeakRss, running_sandboxes

CURRENCIES = ("USD", "EUR", "GBP", "CAD")
CONSUMER_KEY, CONSUMER_SECRET = "sandbox-client", "sandbox-secret"
MB = 1024 * 1024


@dataclass
class Figure:
    phase: str
    rows: int
    seconds: float
    peaks: dict[str, int]
    starts: dict[str, int]

    def line(self) -> str:
        rate = self.rows / self.seconds if self.seconds else float("inf")
        mem = "  ".join(
            f"{name} peak {peak / MB:7.1f} MB (+{(peak - self.starts[name]) / MB:6.1f})"
            for name, peak in self.peaks.items()
        )
        return f"{self.phase:<40} {self.rows:>8,} rows {self.seconds:8.2f} s {rate:>10,.0f} rows/s  {mem}"


@contextmanager
def measured(phase: str, rows: int, sandbox: psutil.Process, figures: list[Figure]) -> Iterator[None]:
    with PeakRss(sandbox=sandbox, client=psutil.Process()) as rss:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
    figure = Figure(phase, rows, elapsed, rss.peak, rss.start)
    figures.append(figure)
    print(figure.line(), flush=True)


def _check_jobs(results: list[dict[str, Any]], expected: int, what: str) -> None:
    processed = sum(int(r["numberRecordsProcessed"]) for r in results)
    failed = sum(int(r["numberRecordsFailed"]) for r in results)
    if processed != expected or failed:
        msg = f"{what}: {processed} processed, {failed} failed (expected {expected} processed, 0 failed)"
        raise RuntimeError(msg)


def _upsert_products(
    sf: Salesforce, products: int, digits: int, sandbox: psutil.Process, figures: list[Figure]
) -> None:
    """Setup: ``products`` Product2 records (``PF-<i>``) through one simple-salesforce Bulk 2.0 upsert."""
    rows = [
        {"Name": f"Bench plan {i:0{digits}d}", "ProductCode": f"B{i:0{digits}d}", "IsActive": "true",
         "LogiSense_Id__c": f"PF-{i}"}
        for i in range(products)
    ]  # fmt: skip
    with measured("setup: Product2 bulk2 upsert", products, sandbox, figures):
        results = sf.bulk2.Product2.upsert(records=rows, external_id_field="LogiSense_Id__c", wait=0.2)
        _check_jobs(results, products, "Product2 upsert")


def run(products: int, pricebooks: int, query_rows: int) -> list[Figure]:
    """Run both phases against a fresh sandbox; return the figures."""
    figures: list[Figure] = []
    with running_sandboxes(prefix="bench-salesforce-") as boxes:
        sandbox = boxes.process
        sf = Salesforce(
            consumer_key=CONSUMER_KEY,
            consumer_secret=CONSUMER_SECRET,
            domain=f"127.0.0.1:{boxes.salesforce.port}/services/oauth2/token#",
        )
        # -- setup (untimed beyond its own line): products, standard entries, custom price books
        standard = sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"][0]["Id"]
        _upsert_products(sf, products, 5, sandbox, figures)
        product_ids = {
            r["LogiSense_Id__c"]: r["Id"]
            for r in sf.query_all_iter(
                "SELECT Id, LogiSense_Id__c FROM Product2 WHERE LogiSense_Id__c LIKE 'PF-%'"
            )
        }
        standard_rows = [
            {
                "Pricebook2Id": standard,
                "Product2Id": product_ids[f"PF-{i}"],
                "CurrencyIsoCode": currency,
                "UnitPrice": "10.0",
                "IsActive": "true",
            }
            for i in range(products)
            for currency in CURRENCIES
        ]
        with measured("setup: standard entries bulk2 insert", len(standard_rows), sandbox, figures):
            _check_jobs(
                sf.bulk2.PricebookEntry.insert(records=standard_rows, wait=0.2),
                len(standard_rows),
                "standard entries",
            )
        book_ids = [
            sf.Pricebook2.create({"Name": f"Bench book {b}", "IsActive": True, "LogiSense_Id__c": f"BB-{b}"})[
                "id"
            ]
            for b in range(pricebooks)
        ]
        entries = [
            {
                "LogiSense_Id__c": f"BE-{b}-{i}-{currency}",
                "Pricebook2Id": book,
                "Product2Id": product_ids[f"PF-{i}"],
                "CurrencyIsoCode": currency,
                "UnitPrice": f"{12 + b}.5",
                "IsActive": "true",
            }
            for b, book in enumerate(book_ids)
            for i in range(products)
            for currency in CURRENCIES
        ]
        # -- (a) the timed upsert: the first pass creates every entry, the second updates the price
        for label, price in (("create", None), ("update", "99.0")):
            if price is not None:  # Pricebook2Id, Product2Id and CurrencyIsoCode are create-only
                entries = [
                    {"LogiSense_Id__c": e["LogiSense_Id__c"], "UnitPrice": price, "IsActive": "true"}
                    for e in entries
                ]
            with measured(f"(a) PricebookEntry bulk2 upsert {label}", len(entries), sandbox, figures):
                _check_jobs(
                    sf.bulk2.PricebookEntry.upsert(
                        records=entries, external_id_field="LogiSense_Id__c", wait=0.2
                    ),
                    len(entries),
                    f"PricebookEntry upsert ({label})",
                )
        # -- (b) the timed query: query_rows entries with a parent field, paged through nextRecordsUrl
        per_book = products * len(CURRENCIES)
        books = max(1, query_rows // per_book)
        soql = format_soql(
            "SELECT Id, LogiSense_Id__c, UnitPrice, CurrencyIsoCode, IsActive, Product2.LogiSense_Id__c"
            " FROM PricebookEntry WHERE Pricebook2Id IN {}",
            book_ids[:books],
        )
        expected = books * per_book
        with measured("(b) SOQL query_all_iter (2,000/page)", expected, sandbox, figures):
            count = sum(1 for _ in sf.query_all_iter(soql))
        if count != expected:
            msg = f"query returned {count} rows, expected {expected}"
            raise RuntimeError(msg)
    return figures


LINES_PER_PRODUCT = 61
LINE_BOOKS = 4
LINE_CHUNK = 500_000
LINE_COLUMNS = (
    "Id, LogiSense_Id__c, Service_Name__c, Charge_Type__c, Service_Status__c, Amount__c, Default_Quantity__c,"
    " Minimum_Quantity__c, Maximum_Quantity__c, CurrencyIsoCode, Product__r.LogiSense_Id__c,"
    " Pricebook__r.LogiSense_Id__c"
)


def _line_frame(start: int, stop: int, products: int, *, create: bool) -> Any:
    """Charge lines ``start``..``stop``: one per (product, book, currency, service slot)."""
    import numpy as np
    import pandas as pd

    n = np.arange(start, stop)
    per_product = LINE_BOOKS * len(CURRENCIES)
    slots = max(1, LINES_PER_PRODUCT // per_product + 1)
    slot = n % slots
    rest = n // slots
    cur = rest % len(CURRENCIES)
    rest //= len(CURRENCIES)
    book = rest % LINE_BOOKS
    product = (rest // LINE_BOOKS) % products
    currency = np.array(CURRENCIES)[cur]
    charge = np.array(["Recurring", "One-Time", "Usage"])[slot % 3]
    key = pd.Series(
        [
            f"psl:BB-{b}:PF-{p}:{c}:{s}:R{i}"
            for b, p, c, s, i in zip(book, product, currency, slot, n, strict=True)
        ]
    )
    amount = (n % 997 + (0.5 if create else 0.25)).astype(str)
    frame = pd.DataFrame(
        {
            "LogiSense_Id__c": key,
            "Service_Name__c": [f"Service {s % 40}" for s in slot],
            "Charge_Type__c": charge,
            "Service_Status__c": "Active",
            "Amount__c": amount,
            "Default_Quantity__c": "1.0",
            "Minimum_Quantity__c": "0.0",
            "Maximum_Quantity__c": "10.0",
        }
    )
    if create:
        frame["Product__r.LogiSense_Id__c"] = [f"PF-{p}" for p in product]
        frame["Pricebook__r.LogiSense_Id__c"] = [f"BB-{b}" for b in book]
        frame["CurrencyIsoCode"] = currency
    return frame


def _ingest_jobs(sf: Salesforce) -> list[dict[str, Any]]:
    """Every Bulk 2.0 ingest job the sandbox knows (``GET jobs/ingest``: one page holds them all)."""
    records: list[dict[str, Any]] = sf.restful("jobs/ingest")["records"]
    return records


def run_lines(lines: int, *, query: bool = True) -> list[Figure]:
    """The catalogue-scale load: ``lines`` Product_Service__c rows created, updated and read back."""
    import math

    import requests
    from logisense_sync.clients.salesforce import SalesforceClient

    figures: list[Figure] = []
    products = max(1, math.ceil(lines / LINES_PER_PRODUCT))
    with running_sandboxes(prefix="bench-salesforce-") as boxes:
        sandbox = boxes.process
        base_rss = sandbox.memory_info().rss
        sf = Salesforce(
            consumer_key=CONSUMER_KEY,
            consumer_secret=CONSUMER_SECRET,
            domain=f"127.0.0.1:{boxes.salesforce.port}/services/oauth2/token#",
        )
        client = SalesforceClient(sf)
        for b in range(LINE_BOOKS):
            sf.Pricebook2.create({"Name": f"Bench book {b}", "IsActive": True, "LogiSense_Id__c": f"BB-{b}"})
        _upsert_products(sf, products, 6, sandbox, figures)
        for label, create in (("create", True), ("update", False)):
            making = 0.0
            jobs_before = {j["id"] for j in _ingest_jobs(sf)}
            with measured(f"Product_Service__c bulk2 upsert {label}", lines, sandbox, figures):
                for start in range(0, lines, LINE_CHUNK):
                    began = time.perf_counter()
                    frame = _line_frame(start, min(lines, start + LINE_CHUNK), products, create=create)
                    making += time.perf_counter() - began
                    results = client.upsert("Product_Service__c", "LogiSense_Id__c", frame)
                    bad = results.loc[~results["success"].astype(bool)]
                    if len(bad):
                        msg = f"{label}: {len(bad)} failed, e.g. {bad.head(3).to_dict('records')}"
                        raise RuntimeError(msg)
                    del frame, results
            jobs = [j for j in _ingest_jobs(sf) if j["id"] not in jobs_before]
            processing = sum(int(j["totalProcessingTime"]) for j in jobs) / 1000
            wall = figures[-1].seconds
            print(
                f"    {label}: {lines / max(wall - making, 1e-9):,.0f} rows/s without making the test frames"
                f" ({making:.1f} s), {lines / max(processing, 1e-9):,.0f} rows/s of sandbox job processing"
                f" ({len(jobs)} jobs, {processing:.1f} s from UploadComplete to JobComplete)",
                flush=True,
            )
        stored = lines + products + LINE_BOOKS
        rss = sandbox.memory_info().rss
        print(
            f"sandbox RSS {rss / MB:,.0f} MB after {stored:,} records"
            f" ({(rss - base_rss) / stored:,.0f} bytes per record over the empty sandbox's {base_rss / MB:,.0f} MB)",
            flush=True,
        )
        if query:
            session = requests.Session()
            session.headers.update({"Authorization": f"Bearer {sf.session_id}"})
            jobs = f"https://127.0.0.1:{boxes.salesforce.port}/services/data/v59.0/jobs/query"
            soql = f"SELECT {LINE_COLUMNS} FROM Product_Service__c WHERE LogiSense_Id__c != null"
            count = 0
            with measured("Bulk 2.0 query job, every line", lines, sandbox, figures):
                job = session.post(jobs, json={"operation": "query", "query": soql}, timeout=3600)
                job.raise_for_status()
                job_id = job.json()["id"]
                while session.get(f"{jobs}/{job_id}", timeout=600).json()["state"] != "JobComplete":
                    time.sleep(0.2)
                locator: str | None = None
                while True:
                    params: dict[str, Any] = {"maxRecords": 1_000_000}
                    if locator:
                        params["locator"] = locator
                    with session.get(
                        f"{jobs}/{job_id}/results", params=params, stream=True, timeout=3600
                    ) as r:
                        r.raise_for_status()
                        for _ in r.iter_content(1 << 20):
                            pass
                        count += int(r.headers["Sforce-NumberOfRecords"])
                        locator = r.headers.get("Sforce-Locator")
                    if not locator or locator == "null":
                        break
            if count != lines:
                msg = f"query returned {count} rows, expected {lines}"
                raise RuntimeError(msg)
    return figures


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--products", type=int, default=2500)
    parser.add_argument("--pricebooks", type=int, default=10)
    parser.add_argument("--query-rows", type=int, default=50_000)
    parser.add_argument(
        "--lines",
        type=int,
        default=0,
        help="run the catalogue-scale load instead: N Product_Service__c lines created, updated, queried",
    )
    parser.add_argument("--no-query", action="store_true", help="with --lines: skip the query phase")
    args = parser.parse_args(argv if argv is not None else [])
    if args.lines:
        print(
            f"Salesforce sandbox: {args.lines:,} Product_Service__c lines, Bulk 2.0 upsert create + update,"
            " Bulk 2.0 query (peak RSS sampled every 10 ms)",
            flush=True,
        )
        run_lines(args.lines, query=not args.no_query)
        return
    upsert_rows = args.pricebooks * args.products * len(CURRENCIES)
    print(
        f"Salesforce sandbox: {upsert_rows:,}-row PricebookEntry upsert,"
        f" {args.query_rows:,}-row SOQL query (peak RSS sampled every 10 ms)",
        flush=True,
    )
    run(args.products, args.pricebooks, args.query_rows)


if __name__ == "__main__":
    main(sys.argv[1:])
