"""Run every ``bench/bench_*.py`` ``main()`` in name order (or only those named on the command line).

    python -m bench                 # all of them (``make bench``)
    python -m bench catalog         # bench_catalog.py only
    python -m bench --list

Each benchmark prints its own figures and the ratios against the baselines it measures in the same run.
A benchmark that raises is reported and the others still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Return the benchmark module names (``bench_<topic>``), sorted."""
    return sorted(path.stem for path in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="topics or module names to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in args.names] or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available}")
    if not wanted:
        print("no bench/bench_*.py benchmarks found")
        return 0

    failed: list[str] = []
    timings: list[tuple[str, float, str]] = []
    for name in wanted:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(f"bench.{name}").main()
            outcome = "ok"
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            outcome = "FAILED"
        timings.append((name, time.perf_counter() - started, outcome))

    print("\n=== summary ===")
    for name, seconds, outcome in timings:
        print(f"{name:<40} {seconds:8.1f} s  {outcome}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
