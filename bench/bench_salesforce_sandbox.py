"""Benchmark: the Salesforce sandbox under the two loads the pipelines put on it.

(a) a 100,000-row Bulk API 2.0 upsert into PricebookEntry by ``LogiSense_Id__c`` (10 custom price books x
    2,500 products x 4 currencies; the products and their standard entries are created first, untimed), run
    twice: the first pass creates every entry, the second updates them all;
(b) a 50,000-row SOQL query (with a parent field, ``Product2.LogiSense_Id__c``) read through
    ``nextRecordsUrl`` pages with simple-salesforce ``query_all_iter``.

The sandbox runs in a subprocess (``logisense-sync sandbox`` on free ports, a temporary data dir); the client
is unmodified simple-salesforce in this process. Printed per phase: wall time, rows/s, and the peak RSS of the
sandbox process and of this (the client) process, sampled every 10 ms with psutil.

Run: ``.venv/bin/python -m bench.bench_salesforce_sandbox [--products 2500] [--pricebooks 10]``
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
        product_rows = [
            {
                "Name": f"Bench plan {i:05d}",
                "ProductCode": f"B{i:05d}",
                "IsActive": "true",
                "LogiSense_Id__c": f"PF-{i}",
            }
            for i in range(products)
        ]
        with measured("setup: Product2 bulk2 upsert", products, sandbox, figures):
            _check_jobs(
                sf.bulk2.Product2.upsert(records=product_rows, external_id_field="LogiSense_Id__c", wait=0.2),
                products,
                "Product2 upsert",
            )
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


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--products", type=int, default=2500)
    parser.add_argument("--pricebooks", type=int, default=10)
    parser.add_argument("--query-rows", type=int, default=50_000)
    args = parser.parse_args(argv if argv is not None else [])
    upsert_rows = args.pricebooks * args.products * len(CURRENCIES)
    print(
        f"Salesforce sandbox: {upsert_rows:,}-row PricebookEntry upsert,"
        f" {args.query_rows:,}-row SOQL query (peak RSS sampled every 10 ms)",
        flush=True,
    )
    run(args.products, args.pricebooks, args.query_rows)


if __name__ == "__main__":
    main(sys.argv[1:])
