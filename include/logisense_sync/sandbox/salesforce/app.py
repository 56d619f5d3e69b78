"""The Salesforce sandbox app: `create_app(data_dir, seed=..., latency_ms=...)`.

`app.state.sandbox` is the `SandboxContext` (`schema`, `store`, `dml`, `auth`, `control`) other route
modules build on: SOQL routes come from `query_routes.build_query_router(ctx)` and use
`Depends(ctx.require_session)`; raising `SalesforceApiError` anywhere renders Salesforce's error body.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from logisense_sync.sandbox.common.control import ControlPlane, install_control_plane
from logisense_sync.sandbox.salesforce import ids
from logisense_sync.sandbox.salesforce.auth import Auth, Session, build_auth_router
from logisense_sync.sandbox.salesforce.errors import BulkV1Error, SalesforceApiError, error_response
from logisense_sync.sandbox.salesforce.rules import Dml
from logisense_sync.sandbox.salesforce.schema import Schema, default_metadata_dir, load_schema
from logisense_sync.sandbox.salesforce.seed import seed_demo, seed_generated, seed_org_basics
from logisense_sync.sandbox.salesforce.store import Store

logger = logging.getLogger(__name__)

#: Environment variable naming another sfdx `main/default` folder to load the custom schema from.
METADATA_ENV = "LOGISENSE_SYNC_SF_METADATA"
DB_NAME = "salesforce.sqlite3"


@dataclass
class SandboxContext:
    """Everything the route modules share."""

    schema: Schema
    store: Store
    dml: Dml
    auth: Auth
    control: ControlPlane
    data_dir: Path
    rest: Any = None
    bulk: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> str | None:
        """Id of the integration user every API call runs as."""
        return self.dml.user_id

    def require_session(self, request: Request) -> Session:
        """FastAPI dependency: a valid Bearer session (else 401 INVALID_SESSION_ID); counts the API call."""
        return self.auth.require_session(request)

    def bulk_usage(self) -> dict[str, int]:
        """Bulk API counters for /limits."""
        return self.bulk.usage() if self.bulk is not None else {}

    def reset(self) -> None:
        """Back to the empty org (org basics only); sessions stay valid."""
        self.store.clear()
        self.dml.invalidate()
        if self.bulk is not None:
            self.bulk.reset()
        self.auth.reset()
        for cache in (getattr(self, "query_cursors", None), getattr(self, "query_jobs", None)):
            if cache is not None:
                cache.clear()
        seed_org_basics(self.dml)

    def seed(self, body: dict[str, Any]) -> dict[str, Any]:
        """Load a seed profile (`demo`, `empty`)."""
        profile = str(body.get("profile", "demo"))
        if profile == "empty":
            seed_org_basics(self.dml)
            return {"profile": "empty", "created": {}}
        if profile == "demo":
            return {"profile": "demo", "created": seed_demo(self.dml)}
        if profile == "generate":
            return {"profile": "generate", "created": seed_generated(self.dml, body)}
        raise SalesforceApiError(
            400, "INVALID_INPUT", f"unknown seed profile {profile!r} (use demo or empty)"
        )

    def snapshot(self) -> dict[str, Any]:
        """Every record of every object, for comparing runs."""
        with self.store.lock:
            return {"records": self.store.snapshot()}

    def settings(self, body: dict[str, Any]) -> dict[str, Any]:
        """Control-plane settings: session lifetime, daily API limit, usage, JWT certificate."""
        return self.auth.settings(body)


class LimitInfoMiddleware:
    """Adds `Sforce-Limit-Info: api-usage=N/M` to every REST response (not `/services/data/` itself)."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/services/data/v"):
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"sforce-limit-info", self.auth.limit_info().encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)


def _metadata_dir() -> Path:
    override = os.environ.get(METADATA_ENV)
    return Path(override) if override else default_metadata_dir()


def create_app(data_dir: Path, *, seed: str = "empty", latency_ms: int = 0) -> FastAPI:
    """The Salesforce sandbox.

    Args:
        data_dir: where state lives (`salesforce.sqlite3`, the JWT key pair); created if missing.
        seed: `empty` keeps existing state (adding only missing org basics); `demo` adds the demo accounts.
        latency_ms: delay added to every API call.

    Returns:
        The FastAPI app (serve it over HTTPS).
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    schema = load_schema(_metadata_dir())
    store = Store(schema, data_dir / DB_NAME)
    dml = Dml(schema, store)
    org_id = store.meta.get("org_id") or ids.make_id("00D", 1)
    store.meta["org_id"] = org_id
    auth = Auth(data_dir, str(org_id), lambda: dml.user_id)
    control = ControlPlane(latency_ms=latency_ms)
    ctx = SandboxContext(schema=schema, store=store, dml=dml, auth=auth, control=control, data_dir=data_dir)
    seed_org_basics(dml)
    if seed == "demo":
        seed_demo(dml)
    elif seed != "empty":
        msg = f"unknown seed {seed!r}: use 'empty' or 'demo'"
        raise ValueError(msg)
    store.save_meta()

    app = FastAPI(title="Salesforce sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = ctx

    @app.exception_handler(SalesforceApiError)
    async def _sf_error(request: Request, exc: SalesforceApiError) -> Response:
        return exc.response()

    @app.exception_handler(BulkV1Error)
    async def _bulk_error(request: Request, exc: BulkV1Error) -> Response:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return error_response(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed.")
        if exc.status_code == 404:
            return error_response(404, "NOT_FOUND", "The requested resource does not exist")
        return error_response(exc.status_code, "UNKNOWN_EXCEPTION", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse(
            [{"message": "The request body or parameters are invalid", "errorCode": "INVALID_INPUT"}],
            status_code=400,
        )

    from logisense_sync.sandbox.salesforce.bulk import build_bulk_router
    from logisense_sync.sandbox.salesforce.rest import build_rest_router

    app.include_router(build_auth_router(auth))
    try:
        from logisense_sync.sandbox.salesforce.query_routes import build_query_router
    except ImportError:
        logger.warning("SOQL query routes are not available (query_routes missing)")
    else:
        app.include_router(build_query_router(ctx))
    app.include_router(build_rest_router(ctx))
    app.include_router(build_bulk_router(ctx))
    install_control_plane(
        app,
        control,
        reset=ctx.reset,
        seed=ctx.seed,
        snapshot=ctx.snapshot,
        error_response=error_response,
        settings=ctx.settings,
    )
    app.add_middleware(LimitInfoMiddleware, auth=auth)
    return app
