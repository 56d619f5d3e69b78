"""Wire format of the ResourceServer: resolve ``X/...`` to a resource and a verb, render the envelopes.

Every resource answers the same route set (RESOURCES.md §2), so one dispatcher serves them all from the
registry in ``resources.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from logisense_sync.sandbox.logisense.errors import LogiSenseError, bad_request, unknown_route
from logisense_sync.sandbox.logisense.resources import BY_ROUTE_LOWER, Resource
from logisense_sync.sandbox.logisense.store import DEFAULT_TOP, MAX_TOP, Query, Store


@dataclass
class Call:
    """A parsed ResourceServer call."""

    resource: Resource
    action: str  # list, paged, paged_detail, get, detail, create, update, patch, delete, search
    identity: int | None = None


def error_type(method: str, path: str) -> str:
    """The ``type`` of an error envelope for a call."""
    if path.rstrip("/").lower().endswith("/search"):
        return "search"
    return {"GET": "read", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, "read"
    )


def resolve(method: str, path: str) -> Call:
    """Map ``Package/Service/PricePlan/12/Detail`` (after ``/api/v10/``) to a resource and action."""
    segments = [s for s in path.split("/") if s]
    for cut in range(min(len(segments), 4), 0, -1):
        res = BY_ROUTE_LOWER.get("/".join(segments[:cut]).lower())
        if res is None:
            continue
        rest = [s.lower() for s in segments[cut:]]
        ident = _int(rest[0]) if rest else None
        if method == "GET":
            if not rest:
                return Call(res, "list")
            if rest == ["paged"]:
                return Call(res, "paged")
            if rest == ["paged", "detail"]:
                return Call(res, "paged_detail")
            if ident is not None and len(rest) == 1:
                return Call(res, "get", ident)
            if ident is not None and rest[1:] == ["detail"]:
                return Call(res, "detail", ident)
        elif method == "POST":
            if not rest:
                return Call(res, "create")
            if rest == ["search"]:
                return Call(res, "search")
        elif method in ("PUT", "PATCH", "DELETE") and ident is not None and len(rest) == 1:
            return Call(res, {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method], ident)
        break
    raise unknown_route(path)


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _reject_constant(value: str) -> Any:
    msg = f"'{value}' is not valid JSON."
    raise ValueError(msg)


def parse_body(raw: bytes) -> Any:
    """JSON body (NaN/Infinity rejected); None for an empty body."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        msg = f"The body is not valid JSON: {exc}"
        raise bad_request(msg) from None


def pagination_header(header: str | None, query: dict[str, str]) -> Query:
    """Page of a ``Paged`` route: the ``Pagination`` JSON header, or ``pageNumber``/``pageSize`` "
    "parameters."""
    spec: dict[str, Any] = {}
    if header:
        try:
            spec = json.loads(header)
        except ValueError:
            msg = 'The \'Pagination\' header must be JSON like {"pageNumber":1,"pageSize":100}.'
            raise bad_request(msg) from None
        if not isinstance(spec, dict):
            msg = "The 'Pagination' header must be a JSON object."
            raise bad_request(msg)
    for key in ("pageNumber", "pageSize"):
        if key in query:
            if not query[key].isdigit():
                msg = f"'{key}' must be a positive integer."
                raise bad_request(msg)
            spec[key] = int(query[key])
    page, size = spec.get("pageNumber", 1), spec.get("pageSize", DEFAULT_TOP)
    if not isinstance(page, int) or page < 1 or not isinstance(size, int) or not 1 <= size <= MAX_TOP:
        msg = f"'pageNumber' must be >= 1 and 'pageSize' between 1 and {MAX_TOP}."
        raise bad_request(msg)
    return Query(
        where="",
        params=[],
        order=[],
        fields=None,
        top=size,
        page=page,
        page_size=size,
        exclude_total=bool(spec.get("excludeTotalCount", False)),
    )


def handle(store: Store, call: Call, body: Any, pagination: Query | None) -> dict[str, Any]:
    """Run a call against the store; returns the envelope without ``trackingId``."""
    res = call.resource
    if call.action == "list":
        items, total = store.search(res, Query("", [], [], None, MAX_TOP, None, None), detail=False)
        if total is not None and total > len(items):
            items = _all(store, res)
        return {"totalCount": len(items), "items": items}
    if call.action in ("paged", "paged_detail"):
        assert pagination is not None
        items, total = store.search(res, pagination, detail=call.action == "paged_detail")
        return _paged(pagination, items, total)
    if call.action in ("get", "detail"):
        assert call.identity is not None
        return {"totalCount": 1, "items": [store.get(res, call.identity, detail=call.action == "detail")]}
    if call.action == "search":
        q = store.parse_query(res, body)
        items, total = store.search(res, q)
        if q.page is not None:
            return _paged(q, items, total)
        return {"totalCount": total, "items": items}
    if call.action == "create":
        if not isinstance(body, dict):
            msg = f"A '{res.dto}' must be a JSON object."
            raise bad_request(msg)
        with store.write("create") as tx:
            store.create(tx, res, body)
        return {"type": "create", "results": store.results(tx)}
    assert call.identity is not None
    if call.action in ("update", "patch"):
        if not isinstance(body, dict):
            msg = f"A '{res.dto}' must be a JSON object."
            raise bad_request(msg)
        kind = call.action
        with store.write(kind) as tx:
            store.update(tx, res, call.identity, body, children=kind == "patch")
        return {"type": kind, "results": store.results(tx)}
    if call.action == "delete":
        with store.write("delete") as tx:
            store.delete(tx, res, call.identity)
        return {"type": "delete", "results": store.results(tx)}
    raise LogiSenseError(404, [])


def _all(store: Store, res: Resource) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        q = Query("", [], [], None, MAX_TOP, page, MAX_TOP, exclude_total=True)
        chunk, _ = store.search(res, q)
        items += chunk
        if len(chunk) < MAX_TOP:
            return items
        page += 1


def _paged(q: Query, items: list[dict[str, Any]], total: int | None) -> dict[str, Any]:
    return {
        "pagination": {"pageNumber": q.page, "pageSize": q.page_size, "excludeTotalCount": q.exclude_total},
        "pagedResults": {"totalCount": total, "items": items},
    }
