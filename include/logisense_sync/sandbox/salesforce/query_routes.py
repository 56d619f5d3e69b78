"""REST query (`/query`, `/queryAll`, `nextRecordsUrl` paging) and Bulk API 2.0 query jobs.

Each query runs once; its matched rows are kept in a bounded cursor cache and each page renders its slice
of them. Bulk 2.0 query jobs complete as soon as they are created (the first poll sees ``JobComplete``):
the result is written row by row as CSV to a file under ``<data dir>/query-jobs/`` (a temporary directory
without one) with one byte offset per row, and each results page (``maxRecords``, ``locator``) streams its
byte range from that file.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import io
import json
import logging
import re
import secrets
import shutil
import tempfile
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse

from . import ids
from .errors import SalesforceApiError
from .soql import QueryResult, SoqlError, execute, parse
from .soql.errors import MALFORMED_QUERY
from .soql.parser import Aggregate, Query

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 2000
MIN_BATCH = 200
#: Cursors kept at most (oldest dropped first) and records kept over all cursors; the same for Bulk 2.0 query
#: jobs, whose results are kept as rendered CSV lines (simple-salesforce never deletes its query jobs).
MAX_CURSORS = 64
MAX_CURSOR_ROWS = 300_000
MAX_JOBS = 200
MAX_JOB_ROWS = 1_000_000
#: Rows per Bulk 2.0 results page when the client does not send maxRecords.
DEFAULT_MAX_RECORDS = 100_000
MIN_VERSION, MAX_VERSION = 52.0, 62.0
_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
_LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
_BATCH_RE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_INTEGRATION_USER = "0058c0000000001AAA"


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse([{"message": message, "errorCode": code}], status_code=status)


def _check_version(version: str) -> None:
    try:
        number = float(version)
    except ValueError:
        number = -1.0
    if not re.fullmatch(r"\d+\.\d", version) or not MIN_VERSION <= number <= MAX_VERSION:
        raise _api_error(404, "NOT_FOUND", "The requested resource does not exist")


# --------------------------------------------------------------------------- REST query cursors


@dataclass
class _Cursor:
    result: QueryResult
    kind: str  # "query" | "queryAll"


class QueryCursors:
    """The results of recent queries by locator id, bounded by count and by total rows."""

    def __init__(self, max_cursors: int = MAX_CURSORS, max_rows: int = MAX_CURSOR_ROWS) -> None:
        self.max_cursors = max_cursors
        self.max_rows = max_rows
        self._items: OrderedDict[str, _Cursor] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    def add(self, cursor: _Cursor) -> str:
        key = "01g" + ids.POD + secrets.token_hex(6).upper()[:12]
        key = ids.to18(key[:15])
        with self._lock:
            self._items[key] = cursor
            self._rows += len(cursor.result.records)
            while len(self._items) > self.max_cursors or (
                self._rows > self.max_rows and len(self._items) > 1
            ):
                _, old = self._items.popitem(last=False)
                self._rows -= len(old.result.records)
        return key

    def get(self, key: str) -> _Cursor | None:
        with self._lock:
            cursor = self._items.get(key)
            if cursor is not None:
                self._items.move_to_end(key)
            return cursor

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._rows = 0


def _batch_size(request: Request) -> int:
    options = request.headers.get("sforce-query-options", "")
    m = _BATCH_RE.search(options)
    if not m:
        return DEFAULT_BATCH
    return max(MIN_BATCH, min(DEFAULT_BATCH, int(m.group(1))))


def _page_end(result: QueryResult, start: int, size: int) -> int:
    """Where a page that starts at ``start`` ends: ``size`` rows, child subquery rows included."""
    records = result.records
    if not result.child_relationships:
        return min(len(records), start + size)
    used, end = 0, start
    while end < len(records):
        cost = 1
        for name in result.child_relationships:
            children = records[end].get(name)
            if children:
                cost += len(children["records"])
        if used and used + cost > size:
            break
        used += cost
        end += 1
    return end


def _page(version: str, key: str, cursor: _Cursor, start: int, size: int) -> dict[str, Any]:
    records = cursor.result.records
    end = _page_end(cursor.result, start, size)
    body: dict[str, Any] = {"totalSize": cursor.result.total_size, "done": end >= len(records)}
    if end < len(records):
        body["nextRecordsUrl"] = f"/services/data/v{version}/{cursor.kind}/{key}-{end}"
    body["records"] = records[start:end]
    return body


# --------------------------------------------------------------------------- Bulk API 2.0 query jobs


@dataclass
class QueryJob:
    """A Bulk API 2.0 query job (complete as soon as it is created)."""

    id: str
    operation: str
    sobject: str
    query: str
    api_version: str
    column_delimiter: str
    line_ending: str
    created: str
    header: str
    #: The CSV rows (header excluded) and where row i starts (``offsets[i]``; one more for the end).
    path: Path | None = None
    offsets: array = field(default_factory=lambda: array("q", [0]))  # type: ignore[type-arg]
    state: str = "JobComplete"
    modstamp: str = ""
    created_by: str = _INTEGRATION_USER
    extra: dict[str, Any] = field(default_factory=dict)

    def info(self, *, state: str | None = None, full: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": self.created_by,
            "createdDate": self.created,
            "systemModstamp": self.modstamp or self.created,
            "state": state or self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if full:
            body.update(
                {
                    "jobType": "V2Query",
                    "numberRecordsProcessed": self.rows,
                    "retries": 0,
                    "totalProcessingTime": 0,
                    "isPkChunkingSupported": True,
                }
            )
        return body

    @property
    def rows(self) -> int:
        """How many records the result has."""
        return len(self.offsets) - 1

    def remove_file(self) -> None:
        """Delete the result file."""
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def chunks(self, start: int, end: int) -> Iterator[bytes]:
        """The header, then rows ``start``..``end`` read from the result file in 1 MB blocks (the file is
        opened now, so a job deleted while its page streams still streams whole)."""
        head = self.header.encode()
        if self.path is None or end <= start:
            return iter([head])
        stream = self.path.open("rb")
        stream.seek(self.offsets[start])
        left = self.offsets[end] - self.offsets[start]

        def blocks(left: int) -> Iterator[bytes]:
            with stream:
                yield head
                while left > 0:
                    block = stream.read(min(left, 1 << 20))
                    if not block:
                        break
                    left -= len(block)
                    yield block

        return blocks(left)


def _now() -> str:
    t = datetime.now(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def render_csv_lines(result: QueryResult, delimiter: str, line_ending: str) -> tuple[str, list[str]]:
    """A result as Bulk API 2.0 CSV: the header line and one line per record (every value quoted)."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=line_ending, quoting=csv.QUOTE_ALL)
    writer.writerow(result.columns)
    header = buf.getvalue()
    lines: list[str] = []
    for row in result.flat_rows():
        buf.seek(0)
        buf.truncate()
        writer.writerow([_csv_value(v) for v in row])
        lines.append(buf.getvalue())
    return header, lines


def write_csv_file(result: QueryResult, delimiter: str, line_ending: str, path: Path) -> tuple[str, array]:  # type: ignore[type-arg]
    """Write a result's rows as Bulk API 2.0 CSV (every value quoted) to ``path``, one row at a time.

    Returns:
        The header line and the byte offset where each row starts (plus the end offset).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=line_ending, quoting=csv.QUOTE_ALL)
    writer.writerow(result.columns)
    header = buf.getvalue()
    offsets = array("q", [0])
    position = 0
    batch: list[bytes] = []
    with path.open("wb") as out:
        for row in result.flat_rows():
            buf.seek(0)
            buf.truncate()
            writer.writerow([_csv_value(v) for v in row])
            line = buf.getvalue().encode()
            position += len(line)
            offsets.append(position)
            batch.append(line)
            if len(batch) >= 4096:
                out.write(b"".join(batch))
                batch.clear()
        out.write(b"".join(batch))
    return header, offsets


def _encode_locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _decode_locator(locator: str) -> int | None:
    try:
        padded = locator + "=" * (-len(locator) % 4)
        text = base64.b64decode(padded.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(text) if text.isdigit() else None


def _bulk_unsupported(q: Query) -> str | None:
    if any(isinstance(item, Query) for item in q.select):
        return "Aggregate Relationships not supported in Bulk Query with CSV content type"
    if any(isinstance(item, Aggregate) for item in q.select) or q.group_by:
        return "Aggregate queries are not supported by Bulk API 2.0 query"
    if q.offset is not None:
        return "OFFSET is not supported by Bulk API 2.0 query"
    return None


class QueryJobs:
    """Bulk 2.0 query jobs by id, bounded by count and by total rows (oldest dropped first)."""

    def __init__(
        self, max_jobs: int = MAX_JOBS, max_rows: int = MAX_JOB_ROWS, spool: Path | None = None
    ) -> None:
        self.max_jobs = max_jobs
        self.max_rows = max_rows  # kept for callers; results live on disk, so only the job count is bounded
        self._jobs: OrderedDict[str, QueryJob] = OrderedDict()
        self._rows = 0
        self._counter = 0
        self._lock = threading.Lock()
        if spool is None:
            spool = Path(tempfile.mkdtemp(prefix="sf-sandbox-query-"))
        else:
            shutil.rmtree(spool, ignore_errors=True)  # jobs do not survive a restart, nor their files
            spool.mkdir(parents=True, exist_ok=True)
        self.spool = spool

    def new_id(self) -> str:
        with self._lock:
            self._counter += 1
            return ids.make_id("750", self._counter + secrets.randbelow(1 << 20) * 1000)

    def add(self, job: QueryJob) -> None:
        with self._lock:
            self._jobs[job.id] = job
            self._rows += job.rows
            while len(self._jobs) > self.max_jobs:
                _, old = self._jobs.popitem(last=False)
                self._rows -= old.rows
                old.remove_file()

    def get(self, job_id: str) -> QueryJob:
        canonical = ids.normalize(job_id) or job_id
        with self._lock:
            job = self._jobs.get(canonical)
        if job is None:
            raise _api_error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        with self._lock:
            if self._jobs.pop(job.id, None) is not None:
                self._rows -= job.rows
        job.remove_file()

    def all(self) -> list[QueryJob]:
        with self._lock:
            return list(self._jobs.values())

    def clear(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                job.remove_file()
            self._jobs.clear()
            self._rows = 0


# --------------------------------------------------------------------------- router


def build_query_router(ctx: Any, *, dependencies: Sequence[Any] = ()) -> APIRouter:
    """The query routes of the sandbox.

    Args:
        ctx: the sandbox context; ``ctx.schema`` and ``ctx.store`` are read on every request (so a reset that
            replaces them is seen). ``ctx.query_cursors`` / ``ctx.query_jobs`` are set here if absent, so a
            reset can ``clear()`` them.
        dependencies: FastAPI dependencies for every route; defaults to ``Depends(ctx.require_session)``
            (the Bearer session check that also counts the API call) when the context has one.

    Returns:
        An APIRouter with ``/query``, ``/queryAll`` (with paging) and ``/jobs/query`` (Bulk API 2.0).
    """
    cursors: QueryCursors = getattr(ctx, "query_cursors", None) or QueryCursors()
    data_dir = getattr(ctx, "data_dir", None)
    jobs: QueryJobs = getattr(ctx, "query_jobs", None) or QueryJobs(
        spool=Path(data_dir) / "query-jobs" if data_dir is not None else None
    )
    try:
        ctx.query_cursors = cursors
        ctx.query_jobs = jobs
    except AttributeError:  # a context with __slots__: keep the caches private
        logger.debug("query caches not attached to the sandbox context")

    deps = list(dependencies)
    if not deps and callable(getattr(ctx, "require_session", None)):
        deps = [Depends(ctx.require_session)]
    router = APIRouter(dependencies=deps)
    base = "/services/data/v{version}"

    def run(version: str, q: str | None, kind: str, request: Request) -> Response:
        _check_version(version)
        if q is None:
            raise SoqlError(MALFORMED_QUERY, "A query string has to be specified")
        result = execute(q, ctx.schema, ctx.store, include_deleted=kind == "queryAll", api_version=version)
        cursor = _Cursor(result, kind)
        size = _batch_size(request)
        if _page_end(result, 0, size) >= len(result.records):
            body = {"totalSize": result.total_size, "done": True, "records": list(result.records)}
            return JSONResponse(body)
        key = cursors.add(cursor)
        return JSONResponse(_page(version, key, cursor, 0, size))

    def more(version: str, locator: str, request: Request) -> Response:
        _check_version(version)
        key, _, offset = locator.rpartition("-")
        cursor = cursors.get(key) if key and offset.isdigit() else None
        if cursor is None:
            raise _api_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return JSONResponse(_page(version, key, cursor, int(offset), _batch_size(request)))

    for kind in ("query", "queryAll"):

        def make_query(kind: str = kind) -> Any:
            def handler(version: str, request: Request, q: str | None = None) -> Response:
                return _guard(lambda: run(version, q, kind, request))

            return handler

        def make_more() -> Any:
            def handler(version: str, locator: str, request: Request) -> Response:
                return _guard(lambda: more(version, locator, request))

            return handler

        for path in (f"{base}/{kind}", f"{base}/{kind}/"):
            router.add_api_route(path, make_query(), methods=["GET"], include_in_schema=False)
        router.add_api_route(
            f"{base}/{kind}/{{locator}}", make_more(), methods=["GET"], include_in_schema=False
        )

    # -- Bulk API 2.0 query jobs

    def create_job(version: str, body: Any) -> Response:
        _check_version(version)
        if not isinstance(body, dict):
            raise _api_error(400, "JSON_PARSER_ERROR", "The request body is not a JSON object")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise _api_error(400, "INVALIDJOB", f"Invalid operation: {operation}")
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise _api_error(400, "INVALIDJOB", "The query field is required for a query job")
        delimiter = str(body.get("columnDelimiter") or "COMMA")
        line_ending = str(body.get("lineEnding") or "LF")
        if delimiter not in _DELIMITERS:
            raise _api_error(400, "INVALIDJOB", f"Invalid column delimiter: {delimiter}")
        if line_ending not in _LINE_ENDINGS:
            raise _api_error(400, "INVALIDJOB", f"Invalid line ending: {line_ending}")
        content_type = body.get("contentType", "CSV")
        if content_type != "CSV":
            raise _api_error(400, "INVALIDJOB", f"Invalid content type: {content_type}")
        unsupported = _bulk_unsupported(parse(query))
        if unsupported:
            raise _api_error(400, "INVALIDJOB", unsupported)
        result = execute(
            query, ctx.schema, ctx.store, include_deleted=operation == "queryAll", api_version=version
        )
        job_id = jobs.new_id()
        path = jobs.spool / f"{job_id}.csv"
        header, offsets = write_csv_file(result, _DELIMITERS[delimiter], _LINE_ENDINGS[line_ending], path)
        sobject = result.sobject
        del result  # the matched rows go now; the CSV file holds the result
        now = _now()
        job = QueryJob(
            id=job_id,
            operation=operation,
            sobject=sobject,
            query=query,
            api_version=version,
            column_delimiter=delimiter,
            line_ending=line_ending,
            created=now,
            header=header,
            path=path,
            offsets=offsets,
            created_by=getattr(ctx, "user_id", None) or _INTEGRATION_USER,
        )
        jobs.add(job)
        return JSONResponse(job.info(state="UploadComplete", full=False))

    def job_results(version: str, job_id: str, request: Request) -> Response:
        _check_version(version)
        job = jobs.get(job_id)
        if job.state != "JobComplete":
            raise _api_error(400, "INVALIDJOBSTATE", f"Job is not complete: state {job.state}")
        params = request.query_params
        raw_max = params.get("maxRecords")
        if raw_max is None or raw_max == "":
            max_records = DEFAULT_MAX_RECORDS
        elif raw_max.isdigit() and int(raw_max) > 0:
            max_records = int(raw_max)
        else:
            raise _api_error(400, "INVALIDJOB", f"Invalid maxRecords: {raw_max}")
        locator = params.get("locator")
        start = 0
        if locator not in (None, "", "null"):
            decoded = _decode_locator(str(locator))
            if decoded is None or decoded > job.rows:
                raise _api_error(400, "INVALIDJOB", f"Invalid locator: {locator}")
            start = decoded
        total = job.rows
        end = min(total, start + max_records)
        size = len(job.header.encode()) + job.offsets[end] - job.offsets[start]
        headers = {
            "Sforce-Locator": _encode_locator(end) if end < total else "null",
            "Sforce-NumberOfRecords": str(end - start),
            "Content-Length": str(size),
        }
        return StreamingResponse(
            job.chunks(start, end), media_type="text/csv; charset=UTF-8", headers=headers
        )

    def patch_job(version: str, job_id: str, body: Any) -> Response:
        _check_version(version)
        job = jobs.get(job_id)
        state = body.get("state") if isinstance(body, dict) else None
        if state != "Aborted":
            raise _api_error(400, "INVALIDJOBSTATE", f"Invalid state for a query job: {state}")
        if job.state in ("JobComplete", "Failed", "Aborted"):
            raise _api_error(400, "INVALIDJOBSTATE", f"Aborting already {job.state} Job not allowed")
        job.state = "Aborted"
        job.modstamp = _now()
        return JSONResponse(job.info(full=False))

    def delete_job(version: str, job_id: str) -> Response:
        _check_version(version)
        jobs.delete(job_id)
        return Response(status_code=204)

    def list_jobs(version: str) -> Response:
        _check_version(version)
        records = [j.info(full=False) | {"jobType": "V2Query"} for j in jobs.all()]
        return JSONResponse({"done": True, "records": records, "nextRecordsUrl": None})

    async def _json(request: Request) -> Any:
        raw = await request.body()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return _BAD_JSON

    jobs_base = f"{base}/jobs/query"

    async def post_jobs(version: str, request: Request) -> Response:
        body = await _json(request)
        if body is _BAD_JSON:
            return _error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
        return await run_in_threadpool(_guard, lambda: create_job(version, body))

    async def patch_one(version: str, job_id: str, request: Request) -> Response:
        body = await _json(request)
        if body is _BAD_JSON:
            return _error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
        return _guard(lambda: patch_job(version, job_id, body))

    def get_one(version: str, job_id: str) -> Response:
        def info() -> Response:
            _check_version(version)
            return JSONResponse(jobs.get(job_id).info())

        return _guard(info)

    def get_results(version: str, job_id: str, request: Request) -> Response:
        return _guard(lambda: job_results(version, job_id, request))

    def delete_one(version: str, job_id: str) -> Response:
        return _guard(lambda: delete_job(version, job_id))

    def get_all(version: str) -> Response:
        return _guard(lambda: list_jobs(version))

    for path in (jobs_base, jobs_base + "/"):
        router.add_api_route(path, post_jobs, methods=["POST"], include_in_schema=False)
        router.add_api_route(path, get_all, methods=["GET"], include_in_schema=False)
    for suffix in ("", "/"):
        router.add_api_route(
            jobs_base + "/{job_id}" + suffix, get_one, methods=["GET"], include_in_schema=False
        )
        router.add_api_route(
            jobs_base + "/{job_id}" + suffix, patch_one, methods=["PATCH"], include_in_schema=False
        )
        router.add_api_route(
            jobs_base + "/{job_id}" + suffix, delete_one, methods=["DELETE"], include_in_schema=False
        )
        router.add_api_route(
            jobs_base + "/{job_id}/results" + suffix, get_results, methods=["GET"], include_in_schema=False
        )
    return router


_BAD_JSON = object()


def _guard(fn: Any) -> Response:
    try:
        response: Response = fn()
    except SalesforceApiError as exc:
        return exc.response()
    return response


def _api_error(status: int, code: str, message: str) -> SalesforceApiError:
    return SalesforceApiError(status, code, message)
