"""The sandboxes' control plane: reset, seed, fault injection, latency and a recorder of every call.

Mounted under ``/__sandbox__/`` (no auth; the sandboxes bind loopback only). Faults are consumed by the
next matching calls: HTTP faults are applied by the middleware before the vendor route runs, per-record
faults (such as Salesforce's ``UNABLE_TO_LOCK_ROW``) are taken by the vendor code that processes records.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from logisense_sync.sandbox.common.server import TRANSPORT_KEY

PREFIX = "/__sandbox__"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ID_SEGMENT = re.compile(r"^(\d+|[a-zA-Z0-9]{15}|[a-zA-Z0-9]{18})$")


class Fault(BaseModel):
    """One injected fault, applied to the next ``count`` calls whose method and path match."""

    method: str = "*"
    path: str = ".*"
    count: int = 1
    probability: float = Field(default=1.0, ge=0, le=1)
    status: int | None = None
    error_code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    drop_connection: bool = False
    latency_ms: int = 0
    record_error: str | None = None
    record_rate: float = Field(default=1.0, ge=0, le=1)

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a call."""
        return (self.method == "*" or self.method.upper() == method.upper()) and bool(
            re.search(self.path, path)
        )


class FaultList(BaseModel):
    """Body of ``POST /__sandbox__/faults``: one fault or several."""

    faults: list[Fault]
    seed: int | None = None


def route_of(path: str) -> str:
    """Collapse ids in a path so calls count per route: ``/Account/12`` becomes ``/Account/{id}``."""
    return "/".join(
        "{id}" if _ID_SEGMENT.match(seg) and any(c.isdigit() for c in seg) else seg for seg in path.split("/")
    )


class ControlPlane:
    """Thread-safe fault queue, latency setting and call recorder shared by a sandbox app."""

    def __init__(self, latency_ms: int = 0, seed: int = 0) -> None:
        self.latency_ms = latency_ms
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._random = random.Random(seed)
        self._calls: deque[dict[str, Any]] = deque(maxlen=5000)
        self._by_route: Counter[str] = Counter()
        self._total = 0
        self._writes = 0
        self.injected: Counter[str] = Counter()

    def add_faults(self, faults: list[Fault], seed: int | None = None) -> None:
        """Queue faults (after any already queued)."""
        with self._lock:
            if seed is not None:
                self._random.seed(seed)
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[Fault]:
        """The faults still queued."""
        with self._lock:
            return list(self._faults)

    def _take(self, method: str, path: str, per_record: bool) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.record_error is not None) != per_record or not fault.matches(method, path):
                    continue
                if self._random.random() >= fault.probability:
                    continue
                if fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                self.injected[fault.record_error or fault.error_code or str(fault.status or "drop")] += 1
                return fault.model_copy()
        return None

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Consume the first HTTP-level fault matching this call, if any."""
        return self._take(method, path, per_record=False)

    def take_record_fault(self, method: str, path: str) -> Fault | None:
        """Consume the first per-record fault matching this call, if any."""
        return self._take(method, path, per_record=True)

    def should_fail_record(self, fault: Fault) -> bool:
        """Draw whether one record fails under a per-record fault (deterministic for a given seed)."""
        with self._lock:
            return self._random.random() < fault.record_rate

    def record(self, method: str, path: str, status: int) -> None:
        """Remember one call."""
        route = f"{method} {route_of(path)}"
        with self._lock:
            self._total += 1
            self._writes += method in WRITE_METHODS
            self._by_route[route] += 1
            self._calls.append({"method": method, "path": path, "status": status, "at": time.time()})

    def requests(self) -> dict[str, Any]:
        """Recorded calls: totals, writes, counts by route and the most recent calls."""
        with self._lock:
            return {
                "total": self._total,
                "writes": self._writes,
                "by_route": dict(self._by_route),
                "injected": dict(self.injected),
                "calls": list(self._calls),
            }

    def clear_requests(self) -> None:
        """Forget recorded calls."""
        with self._lock:
            self._calls.clear()
            self._by_route.clear()
            self._total = self._writes = 0
            self.injected.clear()


ErrorResponse = Callable[[int, str, str], Response]


class ControlMiddleware:
    """Pure ASGI middleware: records each vendor call, adds latency and applies HTTP faults."""

    def __init__(self, app: ASGIApp, control: ControlPlane, error_response: ErrorResponse) -> None:
        self.app = app
        self.control = control
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        fault = self.control.take_fault(method, path)
        delay = self.control.latency_ms + (fault.latency_ms if fault else 0)
        if delay:
            await asyncio.sleep(delay / 1000)
        if fault and fault.drop_connection:
            self.control.record(method, path, 0)
            transport = scope.get("state", {}).get(TRANSPORT_KEY)
            if transport is not None:
                transport.abort()
                return
            msg = "connection dropped by an injected fault"
            raise ConnectionAbortedError(msg)
        if fault and fault.status:
            response = self.error_response(
                fault.status, fault.error_code or "SERVER_UNAVAILABLE", fault.message or "Injected fault"
            )
            if fault.retry_after is not None:
                response.headers["Retry-After"] = str(int(fault.retry_after) or 1)
            self.control.record(method, path, fault.status)
            await response(scope, receive, send)
            return
        status = 500

        async def send_and_capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_capture)
        finally:
            self.control.record(method, path, status)


def install_control_plane(
    app: FastAPI,
    control: ControlPlane,
    *,
    reset: Callable[[], None],
    seed: Callable[[dict[str, Any]], dict[str, Any]],
    snapshot: Callable[[], dict[str, Any]],
    error_response: ErrorResponse,
    settings: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> None:
    """Add the ``/__sandbox__/`` routes and the recording/fault middleware to a sandbox app.

    Args:
        app: the vendor app.
        control: its control plane state.
        reset: empties the sandbox (back to its ``empty`` seed).
        seed: loads a profile, given the request body (``{"profile": "demo"}`` or a generator spec).
        snapshot: the full state, for comparing runs.
        error_response: renders an injected HTTP fault in the vendor's error format.
        settings: applies vendor-specific settings (token lifetime, API limits) and returns them all.
    """

    def run_sync(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return asyncio.to_thread(fn, *args)

    @app.post(f"{PREFIX}/reset", include_in_schema=False)
    async def _reset() -> dict[str, Any]:
        await run_sync(reset)
        control.clear_faults()
        control.clear_requests()
        return {"reset": True}

    @app.post(f"{PREFIX}/seed", include_in_schema=False)
    async def _seed(request: Request) -> dict[str, Any]:
        body = await request.json() if await request.body() else {"profile": "demo"}
        result: dict[str, Any] = await run_sync(seed, body)
        return result

    @app.get(f"{PREFIX}/snapshot", include_in_schema=False)
    async def _snapshot() -> dict[str, Any]:
        result: dict[str, Any] = await run_sync(snapshot)
        return result

    @app.post(f"{PREFIX}/faults", include_in_schema=False)
    async def _add_faults(request: Request) -> dict[str, Any]:
        body = await request.json()
        spec = FaultList.model_validate(body if "faults" in body else {"faults": [body]})
        control.add_faults(spec.faults, spec.seed)
        return {"faults": [f.model_dump() for f in control.faults()]}

    @app.get(f"{PREFIX}/faults", include_in_schema=False)
    async def _list_faults() -> dict[str, Any]:
        return {"faults": [f.model_dump() for f in control.faults()]}

    @app.delete(f"{PREFIX}/faults", include_in_schema=False)
    async def _clear_faults() -> dict[str, Any]:
        control.clear_faults()
        return {"faults": []}

    @app.get(f"{PREFIX}/requests", include_in_schema=False)
    async def _requests() -> dict[str, Any]:
        return control.requests()

    @app.delete(f"{PREFIX}/requests", include_in_schema=False)
    async def _clear_requests() -> dict[str, Any]:
        control.clear_requests()
        return control.requests()

    @app.post(f"{PREFIX}/settings", include_in_schema=False)
    async def _settings(request: Request) -> JSONResponse:
        body: dict[str, Any] = await request.json()
        if "latency_ms" in body:
            control.latency_ms = int(body.pop("latency_ms"))
        result = await run_sync(settings, body) if settings else {}
        return JSONResponse({"latency_ms": control.latency_ms, **result})

    app.add_middleware(ControlMiddleware, control=control, error_response=error_response)
