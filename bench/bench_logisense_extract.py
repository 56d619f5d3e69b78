"""Benchmark: read a generated LogiSense catalogue (10,000 packages, about 1.1 M price rows) into frames.

Starts the sandboxes with ``logisense-sync sandbox`` in a subprocess (free ports, a temporary data dir), seeds
the generator, then times :func:`logisense_sync.extract.catalog.read_catalog` in this process: wall time, API
calls (from ``GET /__sandbox__/requests``) and the peak RSS growth of this (the client's) process. The
baseline, measured in the same run, is the same Search pages fetched and JSON-decoded without building
frames, so the ratio shows what frame building costs on top of the transfer. A one-price-book read
shows the narrowing.

Run: ``.venv/bin/python -m bench.bench_logisense_extract [--packages 10000]`` (``make bench`` runs it too).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from logisense_sync.clients.logisense import LogiSenseClient
from logisense_sync.extract.catalog import CATALOG_RESOURCES, read_catalog

from bench._sandboxes import Box, PeakRss, running_sandboxes


@dataclass
class Measure:
    label: str
    seconds: float
    calls: int
    rows: int
    rss_start_mb: float
    rss_peak_mb: float

    def line(self) -> str:
        return (
            f"{self.label:<40} {self.seconds:8.2f} s  {self.calls:5d} calls  {self.rows:>9,d} rows  "
            f"{self.rows / self.seconds:>9,.0f} rows/s  "
            f"RSS {self.rss_start_mb:6.0f} -> peak {self.rss_peak_mb:6.0f} MB "
            f"(+{self.rss_peak_mb - self.rss_start_mb:.0f})"
        )


def measure(label: str, sandbox: Box, work: Callable[[], int]) -> Measure:
    sandbox.control("DELETE", "requests")
    with PeakRss() as rss:
        started = time.perf_counter()
        rows = work()
        seconds = time.perf_counter() - started
    calls = int(sandbox.control("GET", "requests")["total"])
    return Measure(label, seconds, calls, rows, rss.start["client"] / 2**20, rss.peak["client"] / 2**20)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--packages", type=int, default=int(os.environ.get("BENCH_LOGISENSE_PACKAGES", "10000"))
    )
    parser.add_argument("--seed", type=int, default=42)
    # ``python -m bench`` calls main() with its own argv in sys.argv: read options only when given here.
    args = parser.parse_args(argv or [])

    with running_sandboxes(prefix="bench-logisense-") as boxes:
        sandbox = boxes.logisense
        started = time.perf_counter()
        seeded = sandbox.control(
            "POST",
            "seed",
            {"profile": "generated", "packages": args.packages, "seed": args.seed},
            timeout=1800,
        )
        print(
            f"seeded {args.packages} packages in {time.perf_counter() - started:.1f} s: "
            f"{seeded.get('counts')}"
        )
        client = LogiSenseClient(sandbox.url, "admin", "sandbox", "sandbox", verify=str(sandbox.ca))
        client.login()

        def fetch_only() -> int:
            # Baseline: the same pages, decoded, no frames (what any client must at least do).
            total = 0
            for spec in CATALOG_RESOURCES:
                for page in client.search_pages(spec.route):
                    total += len(page)
            return total

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

        # Warm the sandbox's caches (SQLite pages, counts) so the first measurement is not penalised.
        warm = measure("warm-up (fetch only, not compared)", sandbox, fetch_only)
        results = [measure("baseline: fetch + decode pages only", sandbox, fetch_only)]
        results.append(measure("read_catalog (all price books)", sandbox, full))
        results.append(measure("read_catalog (no prefetch thread)", sandbox, full_sequential))
        if books:
            results.append(measure(f"read_catalog (book {books[0]['name']!r} + standard)", sandbox, one_book))
        client.close()

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"LogiSense catalogue extract, {args.packages} packages (client pid {os.getpid()}, load {load})")
    print("  " + warm.line())
    for result in results:
        print("  " + result.line())
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
