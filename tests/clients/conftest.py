"""LogiSense client fixtures: a client wired to the sandbox with a fake clock and a sleep recorder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from logisense_sync.clients.logisense import LogiSenseClient


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def ls_clock() -> FakeClock:
    """The client's clock (token expiry, elapsed times)."""
    return FakeClock()


@pytest.fixture
def ls_sleeps() -> list[float]:
    """Every backoff wait the client asked for, instead of sleeping."""
    return []


@pytest.fixture
def make_ls_client(logisense_sandbox: Any, ls_clock: FakeClock, ls_sleeps: list[float]) -> Iterator[Any]:
    """Build clients against the (reset) LogiSense sandbox; closed after the test."""
    made: list[LogiSenseClient] = []

    def make(**kwargs: Any) -> LogiSenseClient:
        options: dict[str, Any] = {
            "verify": str(logisense_sandbox.ca),
            "sleep": ls_sleeps.append,
            "clock": ls_clock,
            "max_retries": 3,
            "timeout": (5.0, 30.0),
        }
        options.update(kwargs)
        password = options.pop("password", "sandbox")
        client = LogiSenseClient(logisense_sandbox.url, "admin", password, "sandbox", **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def ls_client(make_ls_client: Any) -> LogiSenseClient:
    """A client for the reset sandbox (3 retries, recorded sleeps, fake clock)."""
    made: LogiSenseClient = make_ls_client()
    return made


def route_count(sandbox: Any, method: str, route: str) -> int:
    """How many calls the sandbox recorded for ``METHOD /ResourceServer/api/v10/<route>``."""
    by_route: dict[str, int] = sandbox.requests()["by_route"]
    prefix = "/AuthorizationServer/api/v10/" if route.startswith("Access/") else "/ResourceServer/api/v10/"
    return by_route.get(f"{method} {prefix}{route}", 0)
