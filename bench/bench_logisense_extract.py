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
import gc
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import requests
from logisense_sync.clients.logisense import LogiSenseClient
from logisense_sync.extract.catalog import CATALOG_RESOURCES, read_catalog
from logisense_sync.processes import free_port


@dataclass
class Sandbox:
    url: str
    ca: Path
    session: requests.Session

    def control(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        # verify per request: a session-level verify loses to REQUESTS_CA_BUNDLE in requests.
        response = self.session.request(
            method, f"{self.url}/__sandbox__/{path}", json=body, timeout=timeout, verify=str(self.ca)
        )
        response.raise_for_status()
        return response.json()


# Fallback when the CLI cannot start (e.g. the Salesforce half is broken): the LogiSense app alone.
_SERVE_LOGISENSE_ONLY = """
import sys
from pathlib import Path
from logisense_sync.sandbox.common.server import serve_forever
from logisense_sync.sandbox.common.tls import ensure_tls
from logisense_sync.sandbox.logisense.app import create_app
data = Path(sys.argv[1])
tls = ensure_tls(data)
(data / "logisense").mkdir(parents=True, exist_ok=True)
serve_forever([(create_app(data / "logisense"), int(sys.argv[2]))], tls)
"""


def _start(command: list[str], sandbox: Sandbox) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"{command[0]} exited with {process.returncode}: {err[-1500:]}")
        if sandbox.ca.exists():
            try:
                sandbox.control("GET", "requests", timeout=2)
                return process
            except requests.RequestException:
                pass
        if time.monotonic() > deadline:
            _stop(process)
            raise RuntimeError("the sandbox did not start within 60 s")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_sandbox() -> Iterator[Sandbox]:
    """Start ``logisense-sync sandbox`` (or, failing that, the LogiSense app alone) on free ports."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-logisense-"))
    port = free_port()
    sandbox = Sandbox(f"https://127.0.0.1:{port}", data_dir / "ca.pem", requests.Session())
    exe = shutil.which("logisense-sync", path=str(Path(sys.executable).parent)) or "logisense-sync"
    cli = [
        exe, "sandbox", "--data-dir", str(data_dir), "--seed", "empty",
        "--logisense-port", str(port), "--salesforce-port", str(free_port()),
    ]  # fmt: skip
    try:
        try:
            process = _start(cli, sandbox)
        except (RuntimeError, OSError) as exc:
            print(
                f"logisense-sync sandbox did not start ({str(exc)[-300:]!r}); serving the LogiSense app alone"
            )
            process = _start([sys.executable, "-c", _SERVE_LOGISENSE_ONLY, str(data_dir), str(port)], sandbox)
        try:
            yield sandbox
        finally:
            _stop(process)
    finally:
        sandbox.session.close()
        shutil.rmtree(data_dir, ignore_errors=True)


class PeakRss:
    """Samples this process's RSS every 10 ms while a block runs (ru_maxrss cannot be reset)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        gc.collect()
        self.start = self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


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


def measure(label: str, sandbox: Sandbox, work: Callable[[], int]) -> Measure:
    sandbox.control("DELETE", "requests")
    with PeakRss() as rss:
        started = time.perf_counter()
        rows = work()
        seconds = time.perf_counter() - started
    calls = int(sandbox.control("GET", "requests")["total"])
    return Measure(label, seconds, calls, rows, rss.start / 2**20, rss.peak / 2**20)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--packages", type=int, default=int(os.environ.get("BENCH_LOGISENSE_PACKAGES", "10000"))
    )
    parser.add_argument("--seed", type=int, default=42)
    # ``python -m bench`` calls main() with its own argv in sys.argv: read options only when given here.
    args = parser.parse_args(argv or [])

    with running_sandbox() as sandbox:
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
