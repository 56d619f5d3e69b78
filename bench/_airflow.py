"""The embedded runtime for benchmarks: the demo's sandboxes and ``airflow standalone`` in a temporary home."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logisense_sync.demo import (
    AirflowApi,
    DemoSettings,
    _start_airflow,
    _start_sandboxes,
    _wait_for_dags,
    load_secrets,
)
from logisense_sync.processes import ProcessSet, free_port

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BenchSettings(DemoSettings):
    """The demo's layout, under a temporary home instead of ``.demo/``."""

    bench_home: Path = Path(".")

    @property
    def home(self) -> Path:
        return self.bench_home


@dataclass
class Runtime:
    """A running embedded runtime: where things are, the Airflow API, its processes and the admin secrets."""

    settings: BenchSettings
    api: AirflowApi
    procs: ProcessSet
    secrets: dict[str, Any]


def _write_airflow_cfg(settings: BenchSettings) -> None:
    """Free ports for the worker and triggerer log servers (the demo leaves them on 8793/8794)."""
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    (settings.airflow_home / "airflow.cfg").write_text(
        f"[logging]\nworker_log_server_port = {free_port()}\ntrigger_log_server_port = {free_port()}\n"
    )


@contextmanager
def embedded_runtime(name: str, *, seed: str) -> Iterator[Runtime]:
    """Start both sandboxes (``seed`` profile) and ``airflow standalone`` on free ports; stop them all after."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        settings = BenchSettings(
            root=REPO,
            salesforce_port=free_port(),
            logisense_port=free_port(),
            airflow_port=free_port(),
            bench_home=Path(tmp),
        )
        secrets = load_secrets(settings.home)
        os.environ["REQUESTS_CA_BUNDLE"] = str(settings.ca)
        with ProcessSet() as procs:
            started = time.monotonic()
            _start_sandboxes(settings, procs, seed=seed)
            _write_airflow_cfg(settings)
            _start_airflow(settings, secrets, procs)
            api = AirflowApi(settings.airflow_url, "admin", secrets["admin_password"])
            _wait_for_dags(api, procs)
            print(f"{name} bench: sandboxes + airflow standalone up in {time.monotonic() - started:.1f} s")
            yield Runtime(settings, api, procs, secrets)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[index]
