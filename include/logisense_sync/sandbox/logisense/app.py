"""The LogiSense sandbox app: AuthorizationServer login, ResourceServer v10 routes and the control plane."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, HTTPException, Request
from starlette.responses import Response

from logisense_sync.sandbox.common.control import ControlPlane, install_control_plane
from logisense_sync.sandbox.logisense import rules
from logisense_sync.sandbox.logisense import seed as seeding
from logisense_sync.sandbox.logisense.auth import DEFAULT_LIFETIME, TokenIssuer
from logisense_sync.sandbox.logisense.errors import ErrorItem, LogiSenseError, bad_request
from logisense_sync.sandbox.logisense.routes import (
    Call,
    error_type,
    handle,
    pagination_header,
    parse_body,
    resolve,
)
from logisense_sync.sandbox.logisense.store import Query, Store, new_tracking_id

logger = logging.getLogger(__name__)

DB_NAME = "logisense.sqlite3"
API_VERSIONS = frozenset(f"v{n}" for n in range(4, 11))
MAX_GENERATED_PACKAGES = 100_000


try:  # msgspec (an Airflow dependency) encodes a 10,000-item page about ten times faster than json
    import msgspec

    _encode: Callable[[Any], bytes] = msgspec.json.Encoder().encode
except ImportError:  # pragma: no cover - fallback when msgspec is absent

    def _encode(body: Any) -> bytes:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _json(body: Any, status: int = 200, tracking_id: str | None = None) -> Response:
    return _encoded(_encode(body), status, tracking_id)


def _encoded(payload: bytes, status: int = 200, tracking_id: str | None = None) -> Response:
    headers = {"X-Tracking-Id": tracking_id} if tracking_id else None
    return Response(
        payload,
        status_code=status,
        media_type="application/json; charset=utf-8",
        headers=headers,
    )


def error_response(exc: LogiSenseError, type_: str) -> Response:
    """Render a LogiSense error envelope."""
    tracking_id = new_tracking_id()
    return _json({"trackingId": tracking_id, "type": type_, "errors": exc.items()}, exc.status, tracking_id)


def fault_response(status: int, error_code: str, message: str) -> Response:
    """Render an injected HTTP fault as a LogiSense error envelope."""
    code = int(error_code) if error_code.isdigit() else status
    tracking_id = new_tracking_id()
    body = {"trackingId": tracking_id, "type": "read", "errors": [{"code": code, "message": message}]}
    return _json(body, status, tracking_id)


def seed_profile(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    """Load a profile: ``{"profile": "demo"}``, ``{"profile": "empty"}`` or the generator spec."""
    profile = body.get("profile", "demo")
    if profile == "demo":
        return seeding.load_demo(store)
    if profile == "empty":
        seeding.load_system(store)
        return {"profile": "empty", "counts": store.counts()}
    if profile == "generated":
        packages = body.get("packages", 100)
        if not isinstance(packages, int) or not 1 <= packages <= MAX_GENERATED_PACKAGES:
            msg = f"'packages' must be an integer between 1 and {MAX_GENERATED_PACKAGES}"
            raise HTTPException(400, msg)
        return seeding.load_generated(store, packages, int(body.get("seed", 42)))
    msg = f"unknown profile {profile!r}: use 'demo', 'empty' or 'generated'"
    raise HTTPException(400, msg)


def _answer(store: Store, call: Call, body: Any, pagination: Query | None) -> tuple[str, bytes]:
    """Run a ResourceServer call and encode its envelope: (tracking id, JSON body)."""
    result = handle(store, call, body, pagination)
    tracking_id = new_tracking_id()
    return tracking_id, _encode({"trackingId": tracking_id, **result})


def create_app(data_dir: Path, *, seed: str = "empty", latency_ms: int = 0) -> FastAPI:
    """The LogiSense sandbox.

    Args:
        data_dir: where state lives (``logisense.sqlite3``); created if missing.
        seed: ``empty`` keeps existing state (a fresh data dir gets the owner's system data only);
            ``demo`` loads the demo catalogue unless the tenant already has packages (then keeps it).
        latency_ms: delay added to every API call.

    Returns:
        The FastAPI app (serve it over HTTPS).
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(data_dir / DB_NAME)
    rules.install(store)
    if seed == "demo":
        # a restart with --seed demo keeps what is there (CONTRACT: a restart loses nothing)
        if store.fresh or store.counts()["Package"] == 0:
            seeding.load_demo(store)
    elif seed == "empty":
        if store.fresh:
            seeding.load_system(store)
    else:
        msg = f"unknown seed {seed!r}: use 'empty' or 'demo'"
        raise ValueError(msg)
    secret = store.meta("jwt_secret")
    if secret is None:
        secret = TokenIssuer.new_secret()
        store.set_meta("jwt_secret", secret)
    issuer = TokenIssuer(secret, int(store.meta("token_lifetime") or DEFAULT_LIFETIME))
    control = ControlPlane(latency_ms=latency_ms)

    app = FastAPI(title="LogiSense sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.issuer = issuer

    @app.post("/AuthorizationServer/api/{version}/Access/Login", include_in_schema=False)
    @app.post("/AuthorizationServer/Access/Login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        status, body = issuer.login(form)
        return _json(body, status)

    @app.api_route(
        "/ResourceServer/api/{version}/{path:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def resource(version: str, path: str, request: Request) -> Response:
        method = request.method
        type_ = error_type(method, path)
        try:
            issuer.verify(request.headers.get("authorization"))
            if version.lower() not in API_VERSIONS:
                msg_0 = f"API version '{version}' is not supported; use v10."
                raise bad_request(msg_0)
            call = resolve(method, path)
            body = parse_body(await request.body()) if method in ("POST", "PUT", "PATCH") else None
            pagination = None
            if call.action in ("paged", "paged_detail"):
                pagination = pagination_header(request.headers.get("pagination"), dict(request.query_params))
            # the page is rendered and encoded in the worker thread too, not on the event loop
            tracking_id, payload = await asyncio.to_thread(_answer, store, call, body, pagination)
        except LogiSenseError as exc:
            return error_response(exc, type_)
        except Exception:  # any bug answers as LogiSense would: a 500 error envelope (logged)
            logger.exception("LogiSense sandbox failed on %s %s", method, path)
            return error_response(LogiSenseError(500, [ErrorItem(500, "An error has occurred.")]), type_)
        return _encoded(payload, 200, tracking_id)

    def reset() -> None:
        seeding.load_system(store)
        issuer.lifetime = DEFAULT_LIFETIME
        store.set_meta("token_lifetime", str(DEFAULT_LIFETIME))

    def settings(body: dict[str, Any]) -> dict[str, Any]:
        if "token_lifetime_seconds" in body:
            issuer.lifetime = max(1, int(body["token_lifetime_seconds"]))
            store.set_meta("token_lifetime", str(issuer.lifetime))
        return {"token_lifetime_seconds": issuer.lifetime}

    install_control_plane(
        app,
        control,
        reset=reset,
        seed=lambda body: seed_profile(store, body),
        snapshot=store.snapshot,
        error_response=fault_response,
        settings=settings,
    )
    return app
