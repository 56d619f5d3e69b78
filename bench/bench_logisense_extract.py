"""Benchmark: read a generated LogiSense catalogue (10,000 packages, about 1.1 M price rows) into frames.

Starts the sandboxes with ``logisense-sync sandbox`` in a subprocess (free ports, a temporary data dir), seeds
the generator (seed time and the sandbox's peak RSS), then measures:

- sandbox-side cost of one 10,000-row Search page of the largest resource at its start, middle and end
  (run in this process on the sandbox's own SQLite file: the store query plus the JSON rendering of the
  envelope, no HTTP), with the SQL the store runs for a deep page;
- a raw read of every page of every catalogue resource through :class:`LogiSenseClient` (``search_pages``,
  a few resources at a time like ``read_catalog``): wall time, calls, rows/s, peak RSS of the sandbox and of
  this (the client's) process;
- unless ``--raw-only``: :func:`logisense_sync.extract.catalog.read_catalog` (frames) against a baseline of
  the same pages fetched and JSON-decoded only, so the ratio shows what frame building costs; a
  one-price-book read shows the narrowing.

Run: ``.venv/bin/python -m bench.bench_logisense_extract [--packages 10000] [--raw-only]`` (``make bench`` runs
it too). One million price book entries: ``--packages 65400 --raw-only``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
from logisense_sync.clients.logisense import LogiSenseClient
from logisense_sync.extract.catalog import CATALOG_RESOURCES, read_catalog
from logisense_sync.sandbox.logisense import app as ls_app
from logisense_sync.sandbox.logisense.resources import BY_ROUTE
from logisense_sync.sandbox.logisense.routes import Call, handle
from logisense_sync.sandbox.logisense.store import Store

from bench._sandboxes import Box, PeakRss, running_sandboxes

PAGE = 10_000
BIG = (
    "Package/Frequency/Currency",
    "Package/Service/PricePlan",
    "Package/Service/PricePlan/Recurring",
    "Package/Service/PricePlan/OneTime",
)


@dataclass
class Measure:
    label: str
    seconds: float
    calls: int
    rows: int
    rss_start_mb: float
    rss_peak_mb: float
    sandbox_peak_mb: float = 0.0
    sandbox_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    def line(self) -> str:
        return (
            f"{self.label:<40} {self.seconds:8.2f} s  {self.calls:5d} calls  {self.rows:>9,d} rows  "
            f"{self.rows / self.seconds:>9,.0f} rows/s  "
            f"client RSS {self.rss_start_mb:6.0f} -> peak {self.rss_peak_mb:6.0f} MB "
            f"(+{self.rss_peak_mb - self.rss_start_mb:.0f}), sandbox peak {self.sandbox_peak_mb:6.0f} MB; "
            f"CPU sandbox {self.sandbox_cpu_s:.1f} s, client {self.client_cpu_s:.1f} s"
        )


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def measure(label: str, sandbox: Box, process: psutil.Process, work: Callable[[], int]) -> Measure:
    sandbox.control("DELETE", "requests")
    me = psutil.Process()
    with PeakRss(client=me, sandbox=process) as rss:
        cpu = (_cpu(process), _cpu(me))
        started = time.perf_counter()
        rows = work()
        seconds = time.perf_counter() - started
        cpu = (_cpu(process) - cpu[0], _cpu(me) - cpu[1])
    calls = int(sandbox.control("GET", "requests")["total"])
    mb = 2**20
    return Measure(
        label,
        seconds,
        calls,
        rows,
        rss.start["client"] / mb,
        rss.peak["client"] / mb,
        rss.peak["sandbox"] / mb,
        *cpu,
    )


def probe_pages(db_path: Path, route: str, rows: int) -> None:
    """Time single Search pages of ``route`` in this process, on the sandbox's SQLite file (no HTTP)."""
    store = Store(db_path)
    last = max(1, -(-rows // PAGE))
    statements: list[str] = []

    def page(number: int) -> tuple[float, float, int]:
        body = {
            "query": {
                "top": PAGE,
                "orderBy": [{"name": "identity", "direction": "asc"}],
                "pagination": {"pageNumber": number, "pageSize": PAGE},
            }
        }
        started = time.perf_counter()
        result = handle(store, Call(BY_ROUTE[route], "search"), body, None)
        queried = time.perf_counter()
        payload = ls_app._json({"trackingId": "x", **result}).body  # the app's own renderer
        return queried - started, time.perf_counter() - queried, len(payload)

    # Every page in order, as a client reads them; the first call also pays the (cached) count.
    deep = max(1, last - 20)
    timings: dict[int, tuple[float, float, int]] = {}
    started = time.perf_counter()
    for number in range(1, last + 1):
        if number == deep:
            store.conn.set_trace_callback(statements.append)
        timings[number] = page(number)
        store.conn.set_trace_callback(None)
    total = time.perf_counter() - started
    print(
        f"  sandbox-side cost of each {PAGE:,}-row Search page of {route} (in-process, no HTTP): "
        f"{last} pages read in order in {total:.1f} s ({total / last:.3f} s a page)"
    )
    tenth = max(1, last // 10)
    for label, numbers in (("first", range(1, tenth + 1)), ("last", range(last - tenth + 1, last + 1))):
        spent = sorted(sum(timings[n][:2]) for n in numbers)
        print(
            f"    {label} {len(spent)} pages: median {statistics.median(spent):.3f} s, "
            f"p90 {spent[int(0.9 * (len(spent) - 1))]:.3f} s, max {spent[-1]:.3f} s"
        )
    # Single pages, best of three (the in-order read and two re-reads right after the page before it), so a
    # busy machine's noise does not hide the cost that depends on the page's depth.
    for number in sorted({1, 2, last // 2, deep, last - 1} - {0}):
        tries = [timings[number]]
        for _ in range(2):
            if number > 1:
                page(number - 1)
            tries.append(page(number))
        query_s, encode_s, size = min(tries, key=lambda t: t[0] + t[1])
        print(
            f"    page {number:4d}: {query_s + encode_s:6.3f} s (store {query_s:.3f} s + JSON {encode_s:.3f} s), "
            f"{size / 2**20:.1f} MB (best of 3)"
        )
    for sql in dict.fromkeys(statements):
        text = " ".join(sql.split())
        print(f"      SQL of page {deep}: {text[:200]} ... {text[-120:]}")
    store.close()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--packages", type=int, default=int(os.environ.get("BENCH_LOGISENSE_PACKAGES", "10000"))
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=3, help="resources read at once in the raw read")
    parser.add_argument(
        "--raw-only", action="store_true", help="seed, page probe and raw read only (no read_catalog frames)"
    )
    # ``python -m bench`` calls main() with its own argv in sys.argv: read options only when given here.
    args = parser.parse_args(argv or [])

    with running_sandboxes(prefix="bench-logisense-") as boxes:
        sandbox = boxes.logisense
        with PeakRss(sandbox=boxes.process) as seed_rss:
            started = time.perf_counter()
            seeded = sandbox.control(
                "POST",
                "seed",
                {"profile": "generated", "packages": args.packages, "seed": args.seed},
                timeout=3600,
            )
            seed_seconds = time.perf_counter() - started
        counts: dict[str, int] = seeded.get("counts", {})
        print(f"LogiSense catalogue extract, {args.packages} packages")
        print(
            f"  seeded in {seed_seconds:.1f} s (sandbox reports {seeded.get('seconds')} s), sandbox RSS "
            f"{seed_rss.start['sandbox'] / 2**20:.0f} -> peak {seed_rss.peak['sandbox'] / 2**20:.0f} MB, "
            f"after the seed {boxes.process.memory_info().rss / 2**20:.0f} MB"
        )
        print("  rows: " + ", ".join(f"{r} {counts.get(r, 0):,}" for r in BIG))
        largest = max(BIG, key=lambda r: counts.get(r, 0))
        probe_pages(sandbox.ca.parent / "logisense" / "logisense.sqlite3", largest, counts.get(largest, 0))

        client = LogiSenseClient(sandbox.url, "admin", "sandbox", "sandbox", verify=str(sandbox.ca))
        client.login()
        per_resource: dict[str, tuple[int, float]] = {}

        def read_resource(route: str) -> int:
            started = time.perf_counter()
            total = 0
            for page in client.search_pages(route):
                total += len(page)
            per_resource[route] = (total, time.perf_counter() - started)
            return total

        def fetch_only() -> int:
            # Every page of every catalogue resource, decoded, no frames (what any client must at least do).
            with ThreadPoolExecutor(max(1, args.threads)) as pool:
                return sum(pool.map(read_resource, [spec.route for spec in CATALOG_RESOURCES]))

        frames_mb: list[float] = []

        def full() -> int:
            catalog = read_catalog(client)
            frames_mb.append(sum(f.memory_usage(deep=True).sum() for f in catalog.frames().values()) / 2**20)
            return sum(catalog.row_counts().values())

        books = list(client.search("PriceBook", {"isStandard": False}))

        def one_book() -> int:
            catalog = read_catalog(client, [books[0]["identity"]])
            return sum(catalog.row_counts().values())

        def full_sequential() -> int:
            catalog = read_catalog(client, prefetch=False)
            return sum(catalog.row_counts().values())

        process = boxes.process
        results: list[Measure] = []
        warm: Measure | None = None
        if args.raw_only:
            results.append(
                measure(f"raw read, every page ({args.threads} threads)", sandbox, process, fetch_only)
            )
        else:
            # Warm the sandbox's caches (SQLite pages, counts) so the first measurement is not penalised.
            warm = measure("warm-up (fetch only, not compared)", sandbox, process, fetch_only)
            results.append(measure("baseline: fetch + decode pages only", sandbox, process, fetch_only))
            results.append(measure("read_catalog (all price books)", sandbox, process, full))
            results.append(measure("read_catalog (no prefetch thread)", sandbox, process, full_sequential))
            if books:
                label = f"read_catalog (book {books[0]['name']!r} + standard)"
                results.append(measure(label, sandbox, process, one_book))
        client.close()

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  reads (client pid {os.getpid()}, load {load}):")
    if warm is not None:
        print("  " + warm.line())
    for result in results:
        print("  " + result.line())
    for route in BIG:
        if route in per_resource:
            n, s = per_resource[route]
            print(f"    {route:<40} {n:>9,d} rows {s:7.1f} s {n / max(s, 1e-9):>9,.0f} rows/s")
    if not args.raw_only:
        base, frames = results[0], results[1]
        print(f"  ratio read_catalog / baseline: {frames.seconds / base.seconds:.2f}x time")
        print(f"  frames held in memory (deep): {frames_mb[0]:.0f} MB")
    print(
        "  ru_maxrss of the client process: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
