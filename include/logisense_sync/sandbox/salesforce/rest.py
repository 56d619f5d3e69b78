"""REST API: sObject CRUD and upsert, describe, sObject Collections, Composite, limits and versions.

The handlers are plain functions over (method, path segments, query, body) so Composite can run the same
code for its subrequests; the FastAPI routes only parse the wire format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from logisense_sync.sandbox.salesforce.auth import MAX_VERSION, MIN_VERSION, Session, check_version
from logisense_sync.sandbox.salesforce.describe import describe_basic, describe_global, describe_sobject
from logisense_sync.sandbox.salesforce.errors import SalesforceApiError, not_found, record_failure
from logisense_sync.sandbox.salesforce.rules import duplicate_external_id, duplicate_keys
from logisense_sync.sandbox.salesforce.schema import SObject
from logisense_sync.sandbox.salesforce.store import Record, ext_key

if TYPE_CHECKING:
    from logisense_sync.sandbox.salesforce.app import SandboxContext

MAX_COLLECTION = 200
MAX_COMPOSITE = 25
_REF = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
ROLLED_BACK = (
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)
_DEFAULT_FAULT_MESSAGES = {
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record",
    "API_TEMPORARILY_UNAVAILABLE": "API is temporarily unavailable",
}


@dataclass
class Result:
    """What a handler answers: status, JSON body (None for no body), extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def record_json(rec: Record, so: SObject, version: str, fields: list[str] | None = None) -> dict[str, Any]:
    """A record as REST returns it: `attributes` then every field (or the requested ones)."""
    out: dict[str, Any] = {
        "attributes": {"type": so.name, "url": f"/services/data/v{version}/sobjects/{so.name}/{rec['Id']}"}
    }
    if fields:
        for name in fields:
            f = so.field(name)
            if f is None:
                raise SalesforceApiError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on entity '{so.name}'. If you are attempting "
                    "to use a custom field, be sure to append the '__c' after the custom field name. Please "
                    "reference your WSDL or the describe call for the appropriate names.",
                )
            out[f.name] = rec.get(f.name)
    else:
        out.update({name: rec.get(name) for name in so.fields})
    return out


def fault_error(fault: Any) -> SalesforceApiError:
    """The per-record error of an injected fault."""
    code = str(fault.record_error)
    return record_failure(
        code, fault.message or _DEFAULT_FAULT_MESSAGES.get(code, "Injected record failure"), []
    )


def parse_json(raw: bytes) -> Any:
    """Request JSON, or 400 JSON_PARSER_ERROR."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SalesforceApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None


class RestApi:
    """The REST handlers, bound to one sandbox context."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx

    @property
    def dml(self) -> Any:
        return self.ctx.dml

    def _record_fault(self, method: str, path: str) -> SalesforceApiError | None:
        fault = self.ctx.control.take_record_fault(method, path)
        if fault is not None and self.ctx.control.should_fail_record(fault):
            return fault_error(fault)
        return None

    # ------------------------------------------------------------------ /sobjects

    def sobjects(
        self, method: str, segments: list[str], query: dict[str, str], body: Any, version: str
    ) -> Result:
        """Everything under `/sobjects/`: segments after `sobjects`, already percent-decoded."""
        path = f"/services/data/v{version}/sobjects/" + "/".join(segments)
        if not segments:
            if method != "GET":
                raise SalesforceApiError(
                    405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET"
                )
            return Result(200, describe_global(self.ctx.schema, version))
        so = self.ctx.schema.sobject(segments[0])
        if so is None:
            raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
        rest = segments[1:]
        if not rest:
            if method == "GET":
                return Result(200, describe_basic(so, version))
            if method == "POST":
                return self._create(so, body, version, path)
            raise SalesforceApiError(
                405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,POST"
            )
        if rest in (["deleted"], ["updated"]) and method == "GET":
            return Result(200, self._changes(so, rest[0], query))
        if rest == ["describe"] and method == "GET":
            return Result(200, describe_sobject(so, version, self.ctx.schema))
        if len(rest) == 1:
            return self._by_id(method, so, rest[0], query, body, version, path)
        if len(rest) == 2:
            return self._by_external_id(method, so, rest[0], rest[1], query, body, version, path)
        raise not_found()

    def _create(self, so: SObject, body: Any, version: str, path: str) -> Result:
        if not isinstance(body, dict):
            raise SalesforceApiError(
                400, "JSON_PARSER_ERROR", "Cannot deserialize the request body as an sObject"
            )
        fault = self._record_fault("POST", path)
        if fault is not None:
            raise fault
        with self.ctx.store.transaction():
            new_id = self.dml.insert(so, body)
        return Result(
            201,
            {"id": new_id, "success": True, "errors": []},
            {"Location": f"/services/data/v{version}/sobjects/{so.name}/{new_id}"},
        )

    def _by_id(
        self,
        method: str,
        so: SObject,
        record_id: str,
        query: dict[str, str],
        body: Any,
        version: str,
        path: str,
    ) -> Result:
        from logisense_sync.sandbox.salesforce import ids

        canonical = ids.normalize(record_id)
        if canonical is None or not canonical.startswith(so.key_prefix):
            if method == "POST" and so.field(record_id) is not None:
                # POST /sobjects/X/Id creates (upsert with the Id "external id" and no value).
                return self._create(so, body, version, path)
            raise SalesforceApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {record_id}",
            )
        rec = self.ctx.store.get(canonical, include_deleted=True)
        if rec is None:
            raise not_found()
        if rec["IsDeleted"]:
            raise SalesforceApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        if method == "GET":
            fields = [f for f in query.get("fields", "").split(",") if f.strip()]
            return Result(200, record_json(rec, so, version, [f.strip() for f in fields]))
        if method == "PATCH":
            if not isinstance(body, dict):
                raise SalesforceApiError(
                    400, "JSON_PARSER_ERROR", "Cannot deserialize the request body as an sObject"
                )
            fault = self._record_fault(method, path)
            if fault is not None:
                raise fault
            with self.ctx.store.transaction():
                self.dml.update(canonical, body, sobject=so)
            return Result(204)
        if method == "DELETE":
            fault = self._record_fault(method, path)
            if fault is not None:
                raise fault
            with self.ctx.store.transaction():
                self.dml.delete(canonical, sobject=so)
            return Result(204)
        raise SalesforceApiError(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{method}' not allowed. Allowed are HEAD,GET,PATCH,DELETE",
        )

    def _by_external_id(
        self,
        method: str,
        so: SObject,
        field_name: str,
        value: str,
        query: dict[str, str],
        body: Any,
        version: str,
        path: str,
    ) -> Result:
        f = self.dml.upsert_field(so, field_name)
        matches = self._match(so, f.name, value)
        if method == "GET":
            if not matches:
                raise not_found()
            if len(matches) > 1:
                return Result(300, [f"/services/data/v{version}/sobjects/{so.name}/{m}" for m in matches])
            rec = self.ctx.store.get(matches[0])
            assert rec is not None
            fields = [x.strip() for x in query.get("fields", "").split(",") if x.strip()]
            return Result(200, record_json(rec, so, version, fields))
        if method == "DELETE":
            if not matches:
                raise not_found()
            if len(matches) > 1:
                return Result(300, [f"/services/data/v{version}/sobjects/{so.name}/{m}" for m in matches])
            with self.ctx.store.transaction():
                self.dml.delete(matches[0], sobject=so)
            return Result(204)
        if method in ("PATCH", "POST"):
            if not isinstance(body, dict):
                raise SalesforceApiError(
                    400, "JSON_PARSER_ERROR", "Cannot deserialize the request body as an sObject"
                )
            if len(matches) > 1:
                return Result(300, [f"/services/data/v{version}/sobjects/{so.name}/{m}" for m in matches])
            for key in body:
                if key.lower() in ("id", f.name.lower()) and f.type != "id":
                    raise SalesforceApiError(
                        400,
                        "INVALID_FIELD",
                        f"Id and external ID fields are not allowed in the request body: {key}"
                        if key.lower() == "id"
                        else f"The external ID field {f.name} can't be specified in the request body",
                    )
            if query.get("updateOnly", "").lower() == "true" and not matches:
                raise not_found()
            fault = self._record_fault(method, path)
            if fault is not None:
                raise fault
            with self.ctx.store.transaction():
                record_id, created = self.dml.upsert(so, f.name, value, body)
            return Result(
                201 if created else 200,
                {"id": record_id, "success": True, "errors": [], "created": created},
                {"Location": f"/services/data/v{version}/sobjects/{so.name}/{record_id}"} if created else {},
            )
        raise SalesforceApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed.")

    def _changes(self, so: SObject, kind: str, query: dict[str, str]) -> dict[str, Any]:
        """`GET /sobjects/X/deleted/?start=&end=` and `/updated/` from SystemModstamp (UTC ISO bounds)."""
        start, end = _stamp(query.get("start", "")), _stamp(query.get("end", ""))
        if not start or not end:
            raise SalesforceApiError(400, "MALFORMED_QUERY", "start and end must be dateTime values")
        if "SystemModstamp" not in so.fields:
            raise SalesforceApiError(
                400, "INVALID_TYPE", f"sObject type '{so.name}' does not support replication"
            )
        hits = [
            r
            for r in self.ctx.store.scan(so.name, include_deleted=kind == "deleted")
            if start <= (r["SystemModstamp"] or "")[:19] <= end
            and bool(r["IsDeleted"]) == (kind == "deleted")
        ]
        latest = end + ".000+0000"
        if kind == "deleted":
            return {
                "deletedRecords": [{"id": r["Id"], "deletedDate": r["SystemModstamp"]} for r in hits],
                "earliestDateAvailable": start + ".000+0000",
                "latestDateCovered": latest,
            }
        return {"ids": [r["Id"] for r in hits], "latestDateCovered": latest}

    def _match(self, so: SObject, field_name: str, value: str) -> list[str]:
        matches = self.ctx.store.find_by_external_id(so.name, field_name, value)
        if not matches and "+" in value:  # get_by_custom_id sends spaces as '+'
            matches = self.ctx.store.find_by_external_id(so.name, field_name, value.replace("+", " "))
        return matches

    # ------------------------------------------------------------------ /composite/sobjects

    def collections(
        self, method: str, segments: list[str], query: dict[str, str], body: Any, version: str
    ) -> Result:
        """sObject Collections: create (POST), update (PATCH), upsert (PATCH X/Field), delete, retrieve."""
        path = f"/services/data/v{version}/composite/sobjects" + "".join("/" + s for s in segments)
        if method == "DELETE":
            id_list = [i for i in query.get("ids", "").split(",") if i]
            all_or_none = query.get("allOrNone", "false").lower() == "true"
            self._check_size(id_list)
            return Result(200, self._run_collection(id_list, all_or_none, "DELETE", path, self._delete_one))
        if method == "GET" and segments:
            so = self._collection_type(segments[0])
            id_list = [i for i in query.get("ids", "").split(",") if i]
            fields = [x for x in query.get("fields", "").split(",") if x]
            out: list[Any] = []
            for rid in id_list:
                rec = self.ctx.store.get(rid)
                out.append(
                    record_json(rec, so, version, fields or None)
                    if rec and rec["Id"][:3] == so.key_prefix
                    else None
                )
            return Result(200, out)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SalesforceApiError(400, "JSON_PARSER_ERROR", "The request body must contain a records list")
        records: list[Any] = body["records"]
        all_or_none = bool(body.get("allOrNone", False))
        self._check_size(records)
        if method == "POST" and not segments:
            return Result(200, self._run_collection(records, all_or_none, method, path, self._create_one))
        if method == "PATCH" and not segments:
            return Result(200, self._run_collection(records, all_or_none, method, path, self._update_one))
        if method == "PATCH" and len(segments) == 2:
            so = self._collection_type(segments[0])
            f = self.dml.upsert_field(so, segments[1])

            def key_of(item: Any) -> Any:
                if not isinstance(item, dict):
                    return None
                return next((v for k, v in item.items() if k.lower() == f.name.lower()), None)

            dups = duplicate_keys(f, [key_of(item) for item in records])

            def upsert_one(item: Any) -> dict[str, Any]:
                if not isinstance(item, dict):
                    raise SalesforceApiError(400, "INVALID_FIELD", "Each record must be an object", [])
                rtype = (item.get("attributes") or {}).get("type")
                if rtype is None:
                    raise SalesforceApiError(
                        400, "INVALID_INPUT", "Each record must specify attributes.type", []
                    )
                if str(rtype).lower() != so.name.lower():
                    raise SalesforceApiError(
                        400, "INVALID_INPUT", f"Record type {rtype} does not match {so.name}", []
                    )
                key = next((k for k in item if k.lower() == f.name.lower()), None)
                value = item.get(key) if key else None
                if dups and value not in (None, "") and ext_key(f, value) in dups:
                    raise duplicate_external_id(value)
                values = {k: v for k, v in item.items() if k != key}
                record_id, created = self.dml.upsert(so, f.name, value, values)
                return {"id": record_id, "success": True, "errors": [], "created": created}

            return Result(200, self._run_collection(records, all_or_none, method, path, upsert_one))
        raise not_found()

    def _check_size(self, items: list[Any]) -> None:
        if len(items) > MAX_COLLECTION:
            raise SalesforceApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call",
            )

    def _collection_type(self, name: str) -> SObject:
        so = self.ctx.schema.sobject(name)
        if so is None:
            raise SalesforceApiError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return so

    def _item_type(self, item: Any) -> tuple[SObject, dict[str, Any]]:
        if not isinstance(item, dict):
            raise SalesforceApiError(400, "INVALID_FIELD", "Each record must be an object", [])
        rtype = (item.get("attributes") or {}).get("type")
        if not rtype:
            raise SalesforceApiError(400, "INVALID_INPUT", "Each record must specify attributes.type", [])
        so = self.ctx.schema.sobject(str(rtype))
        if so is None:
            raise SalesforceApiError(400, "INVALID_TYPE", f"sObject type '{rtype}' is not supported.", [])
        return so, item

    def _create_one(self, item: Any) -> dict[str, Any]:
        so, values = self._item_type(item)
        if any(k.lower() == "id" for k in values):
            raise SalesforceApiError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        return {"id": self.dml.insert(so, values), "success": True, "errors": []}

    def _update_one(self, item: Any) -> dict[str, Any]:
        so, values = self._item_type(item)
        key = next((k for k in values if k.lower() == "id"), None)
        if key is None or not values.get(key):
            raise SalesforceApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
        body = {k: v for k, v in values.items() if k != key}
        return {"id": self.dml.update(values[key], body, sobject=so), "success": True, "errors": []}

    def _delete_one(self, item: Any) -> dict[str, Any]:
        return {"id": self.dml.delete(str(item)), "success": True, "errors": []}

    def _run_collection(
        self,
        items: list[Any],
        all_or_none: bool,
        method: str,
        path: str,
        one: Callable[[Any], dict[str, Any]],
    ) -> list[dict[str, Any]]:
        store = self.ctx.store
        fault = self.ctx.control.take_record_fault(method, path)
        results: list[dict[str, Any]] = []
        failed = False
        with store.transaction():
            start = store.mark()
            for item in items:
                try:
                    if fault is not None and self.ctx.control.should_fail_record(fault):
                        raise fault_error(fault)
                    with store.savepoint():
                        results.append(one(item))
                except SalesforceApiError as exc:
                    failed = True
                    result: dict[str, Any] = {"success": False, "errors": [exc.record_error()]}
                    if method == "DELETE":
                        result = {"id": str(item), **result}
                    results.append(result)
            if failed and all_or_none:
                store.rollback_to(start)
                code, message = ROLLED_BACK
                results = [
                    r
                    if not r["success"]
                    else {
                        **({"id": r["id"]} if method == "DELETE" else {}),
                        "success": False,
                        "errors": [{"statusCode": code, "message": message, "fields": []}],
                    }
                    for r in results
                ]
        return results

    # ------------------------------------------------------------------ /composite

    def composite(self, body: Any, version: str) -> Result:
        """`POST /composite` with `@{ref.field}` references; allOrNone rolls everything back."""
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            raise SalesforceApiError(400, "JSON_PARSER_ERROR", "compositeRequest is required")
        subrequests: list[Any] = body["compositeRequest"]
        if len(subrequests) > MAX_COMPOSITE:
            raise SalesforceApiError(
                400, "LIMIT_EXCEEDED", f"Exceeded max number of subrequests allowed: {MAX_COMPOSITE}"
            )
        all_or_none = bool(body.get("allOrNone", False))
        store = self.ctx.store
        responses: list[dict[str, Any]] = []
        outputs: dict[str, Any] = {}
        halted = False
        with store.transaction():
            start = store.mark()
            for sub in subrequests:
                ref_id = str(sub.get("referenceId", ""))
                if halted:
                    responses.append(_halted(ref_id))
                    continue
                try:
                    method = str(sub.get("method", "GET")).upper()
                    url = _substitute(str(sub.get("url", "")), outputs)
                    sub_body = _substitute(sub.get("body"), outputs)
                    with store.savepoint():
                        result = self.dispatch(method, url, sub_body)
                except SalesforceApiError as exc:
                    result = Result(exc.status, exc.body())
                except _UnresolvedReference as exc:
                    result = Result(400, [{"errorCode": "PROCESSING_HALTED", "message": str(exc)}])
                responses.append(
                    {
                        "body": result.body,
                        "httpHeaders": result.headers,
                        "httpStatusCode": result.status,
                        "referenceId": ref_id,
                    }
                )
                if result.status < 300:
                    outputs[ref_id] = result.body
                elif all_or_none:
                    halted = True
            if halted:
                store.rollback_to(start)
                for item in responses:
                    if item["httpStatusCode"] < 300:
                        item.update(_halted(item["referenceId"]))
        return Result(200, {"compositeResponse": responses})

    def dispatch(self, method: str, url: str, body: Any) -> Result:
        """Run one REST call given its URL (used by Composite)."""
        parts = urlsplit(url)
        segments = [unquote(s) for s in parts.path.split("/")]
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        segments = [s for s in segments if s != ""]
        if len(segments) < 3 or segments[:2] != ["services", "data"] or not segments[2].startswith("v"):
            raise not_found()
        version = segments[2][1:]
        check_version(version)
        rest = segments[3:]
        if rest and rest[0] == "sobjects":
            return self.sobjects(method, rest[1:], query, body, version)
        if rest[:2] == ["composite", "sobjects"]:
            return self.collections(method, rest[2:], query, body, version)
        if rest and rest[0] in ("query", "queryAll") and method == "GET":
            return self._query(query.get("q", ""), rest[0] == "queryAll", version)
        if rest == ["limits"]:
            return Result(200, self.limits())
        raise not_found()

    def _query(self, soql: str, include_deleted: bool, version: str) -> Result:
        try:
            from logisense_sync.sandbox.salesforce import soql as soql_engine
        except ImportError:
            raise not_found() from None
        result = soql_engine.execute(soql, self.ctx.schema, self.ctx.store, include_deleted=include_deleted)  # type: ignore[attr-defined]
        records = list(result.records)
        return Result(
            200, {"totalSize": getattr(result, "total_size", len(records)), "done": True, "records": records}
        )

    # ------------------------------------------------------------------ /limits

    def limits(self) -> dict[str, Any]:
        """`GET /limits/`."""
        auth = self.ctx.auth

        def pair(maximum: int, remaining: int) -> dict[str, int]:
            return {"Max": maximum, "Remaining": max(remaining, 0)}

        bulk = self.ctx.bulk_usage()
        return {
            "ConcurrentAsyncGetReportInstances": pair(200, 200),
            "ConcurrentSyncReportRuns": pair(20, 20),
            "DailyApiRequests": pair(auth.daily_limit, auth.daily_limit - auth.api_usage),
            "DailyAsyncApexExecutions": pair(250000, 250000),
            "DailyBulkApiBatches": pair(15000, 15000 - bulk.get("batches", 0)),
            "DailyBulkV2QueryFileStorageMB": pair(976562, 976562),
            "DailyBulkV2QueryJobs": pair(10000, 10000 - bulk.get("query_jobs", 0)),
            "DataStorageMB": pair(1024, 1024),
            "FileStorageMB": pair(1024, 1024),
            "HourlyODataCallout": pair(20000, 20000),
            "MassEmail": pair(5000, 5000),
            "SingleEmail": pair(5000, 5000),
        }


def _stamp(value: str) -> str:
    """`2024-01-31T10:00:00` (UTC) from an ISO datetime with or without an offset, else ''."""
    from datetime import UTC, datetime

    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return ""
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S")


class _UnresolvedReference(Exception):
    pass


def _halted(ref_id: str) -> dict[str, Any]:
    return {
        "body": [
            {
                "errorCode": "PROCESSING_HALTED",
                "message": (
                    "The transaction was rolled back since another operation in the same transaction failed."
                ),
            }
        ],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": ref_id,
    }


def _lookup(outputs: dict[str, Any], ref: str, path: str) -> Any:
    if ref not in outputs:
        msg = (
            f"Invalid reference specified. No value for {ref}{path} found in {ref}. "
            f"Provided referenceId ('{ref}') might be incorrect."
        )
        raise _UnresolvedReference(msg)
    value = outputs[ref]
    for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        name, index = step
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError):
            msg = f"Invalid reference specified. No value for {ref}{path} found in {ref}."
            raise _UnresolvedReference(msg) from None
    return value


def _substitute(value: Any, outputs: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return _lookup(outputs, whole.group(1), whole.group(2))
        return _REF.sub(lambda m: str(_lookup(outputs, m.group(1), m.group(2))), value)
    if isinstance(value, dict):
        return {k: _substitute(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, outputs) for v in value]
    return value


def _to_response(result: Result) -> Response:
    if result.body is None and result.status == 204:
        return Response(status_code=204, headers=result.headers)
    return JSONResponse(result.body, status_code=result.status, headers=result.headers)


def _raw_segments(request: Request, marker: str) -> list[str]:
    """Path segments after `marker`, percent-decoded one by one from the raw path (so `%2F` stays inside)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    _, _, tail = path.partition(marker)
    return [unquote(s) for s in tail.split("/") if s != ""]


def build_rest_router(ctx: SandboxContext) -> APIRouter:
    """Routes under `/services/data/` except SOQL (query/queryAll) and Bulk."""
    api = RestApi(ctx)
    router = APIRouter()
    session = Depends(ctx.auth.require_session)
    methods = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD"]

    @router.get("/services/data")
    @router.get("/services/data/")
    def versions(request: Request) -> JSONResponse:
        out = []
        v = MIN_VERSION
        while v <= MAX_VERSION:
            label = f"{v:.1f}"
            out.append({"label": f"API v{label}", "url": f"/services/data/v{label}", "version": label})
            v += 1.0
        return JSONResponse(out)

    @router.get("/services/data/v{version}")
    @router.get("/services/data/v{version}/")
    def resources(version: str, _: Session = session) -> JSONResponse:
        base = f"/services/data/v{version}"
        names = [
            "sobjects",
            "query",
            "queryAll",
            "composite",
            "limits",
            "jobs/ingest",
            "jobs/query",
            "search",
        ]
        return JSONResponse({n.replace("/", ""): f"{base}/{n}" for n in names})

    @router.api_route("/services/data/v{version}/sobjects", methods=methods)
    @router.api_route("/services/data/v{version}/sobjects/{rest:path}", methods=methods)
    async def sobjects(version: str, request: Request, _: Session = session) -> Response:
        body = parse_json(await request.body())
        query = dict(request.query_params)
        segments = _raw_segments(request, "/sobjects")
        return _to_response(await _threaded(api.sobjects, request.method, segments, query, body, version))

    @router.api_route("/services/data/v{version}/composite/sobjects", methods=methods)
    @router.api_route("/services/data/v{version}/composite/sobjects/{rest:path}", methods=methods)
    async def collections(version: str, request: Request, _: Session = session) -> Response:
        body = parse_json(await request.body())
        segments = _raw_segments(request, "/composite/sobjects")
        query = dict(request.query_params)
        return _to_response(await _threaded(api.collections, request.method, segments, query, body, version))

    @router.post("/services/data/v{version}/composite")
    @router.post("/services/data/v{version}/composite/")
    async def composite(version: str, request: Request, _: Session = session) -> Response:
        body = parse_json(await request.body())
        return _to_response(await _threaded(api.composite, body, version))

    @router.get("/services/data/v{version}/limits")
    @router.get("/services/data/v{version}/limits/")
    def limits(version: str, _: Session = session) -> JSONResponse:
        return JSONResponse(api.limits())

    ctx.rest = api
    return router


async def _threaded(fn: Callable[..., Result], *args: Any) -> Result:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(lambda: fn(*args))
