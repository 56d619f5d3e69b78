"""What every benchmark needs: both sandboxes in a child process, and a peak-memory sampler."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import requests
from logisense_sync.processes import free_port


@dataclass
class Box:
    """One sandbox of a running ``logisense-sync sandbox``: its base URL, port and CA."""

    url: str
    port: int
    ca: Path

    def control(self, method: str, path: str, body: Any = None, timeout: float = 3600) -> Any:
        """Call the control plane (``/__sandbox__/{path}``) and return its JSON answer."""
        # verify per request: a session-level verify loses to REQUESTS_CA_BUNDLE in requests.
        response = requests.request(
            method, f"{self.url}/__sandbox__/{path}", json=body, timeout=timeout, verify=str(self.ca)
        )
        response.raise_for_status()
        return response.json()


@dataclass
class Sandboxes:
    """Both sandboxes and the process serving them."""

    salesforce: Box
    logisense: Box
    process: psutil.Process


@contextmanager
def running_sandboxes(*, latency_ms: int = 0, prefix: str = "bench-") -> Iterator[Sandboxes]:
    """Start ``logisense-sync sandbox`` on free ports in a temporary data dir; stop and remove it afterwards.

    ``REQUESTS_CA_BUNDLE`` is pointed at the sandbox CA for this process, so simple-salesforce trusts it.
    """
    data = Path(tempfile.mkdtemp(prefix=prefix))
    sf_port, ls_port = free_port(), free_port()
    exe = shutil.which("logisense-sync", path=str(Path(sys.executable).parent)) or "logisense-sync"
    command = [
        exe, "sandbox", "--data-dir", str(data), "--seed", "empty", "--latency-ms", str(latency_ms),
        "--salesforce-port", str(sf_port), "--logisense-port", str(ls_port),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ca = data / "ca.pem"
    boxes = Sandboxes(
        Box(f"https://127.0.0.1:{sf_port}", sf_port, ca),
        Box(f"https://127.0.0.1:{ls_port}", ls_port, ca),
        psutil.Process(process.pid),
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"logisense-sync sandbox exited {process.returncode}: {err[-1500:]}")
            with suppress(requests.RequestException):
                if ca.exists():
                    boxes.salesforce.control("GET", "requests", timeout=2)
                    boxes.logisense.control("GET", "requests", timeout=2)
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the sandboxes did not start within 90 s")
            time.sleep(0.2)
        os.environ["REQUESTS_CA_BUNDLE"] = str(ca)
        yield boxes
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(data, ignore_errors=True)


class PeakRss:
    """Samples the RSS of some processes every 10 ms while a block runs (ru_maxrss cannot be reset).

    ``PeakRss()`` watches this process under the name ``client``; ``peak`` and ``start`` are in bytes.
    """

    def __init__(self, **processes: psutil.Process) -> None:
        self.processes = processes or {"client": psutil.Process()}
        self.peak = dict.fromkeys(self.processes, 0)
        self.start = dict.fromkeys(self.processes, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for name, proc in self.processes.items():
            with suppress(psutil.Error):
                self.peak[name] = max(self.peak[name], proc.memory_info().rss)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self._sample()

    def __enter__(self) -> PeakRss:
        gc.collect()
        for name, proc in self.processes.items():
            self.start[name] = self.peak[name] = proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
