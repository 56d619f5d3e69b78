"""Bulk API 2.0 ingest jobs (CSV) and Bulk API 1.0 jobs with JSON content (what SalesforceBulkOperator uses).

Jobs are processed synchronously: 2.0 ingest on `{"state":"UploadComplete"}`, 1.0 batches on upload, so a
client's first poll already sees `JobComplete` / `Completed`. A whole job runs in one store transaction
(one batched SQLite write), each record in its own savepoint. Jobs live in memory (not across restarts).

A 2.0 ingest job's upload and results never stay in Python memory: the uploaded CSV is spooled to a file
under `<data dir>/bulk-jobs/` (a temporary directory without a data dir), read row by row while the job is
processed and deleted afterwards; successful, failed and unprocessed rows are written to CSV files there as
they are produced, and the result routes stream those files. The files go with the job (delete, reset, or
the oldest terminal jobs beyond `MAX_INGEST_JOBS`) and the folder is emptied at start-up.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import operator
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from logisense_sync.sandbox.salesforce import ids
from logisense_sync.sandbox.salesforce.auth import Session, check_version
from logisense_sync.sandbox.salesforce.errors import BulkV1Error, SalesforceApiError
from logisense_sync.sandbox.salesforce.rest import fault_error, parse_json
from logisense_sync.sandbox.salesforce.rules import duplicate_external_id, duplicate_keys
from logisense_sync.sandbox.salesforce.schema import SObject
from logisense_sync.sandbox.salesforce.store import ext_key, now_iso

if TYPE_CHECKING:
    from logisense_sync.sandbox.salesforce.app import SandboxContext

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
V1_OPERATIONS = (*OPERATIONS, "query", "queryAll")
TERMINAL = ("JobComplete", "Failed", "Aborted")
RESULT_KINDS = ("successfulResults", "failedResults", "unprocessedRecords")
#: Rows of a Bulk 2.0 ingest job applied and persisted per store transaction.
TRANSACTION_ROWS = 50_000
#: Ingest jobs kept at most (the oldest terminal ones and their files go first).
MAX_INGEST_JOBS = 1000
_BOM = b"\xef\xbb\xbf"


def _bad_job(status: int, message: str, code: str = "INVALIDJOB") -> SalesforceApiError:
    return SalesforceApiError(status, code, message)


@dataclass
class IngestJob:
    """A Bulk API 2.0 ingest job and its results."""

    id: str
    operation: str
    object: str
    external_id: str | None
    delimiter: str
    line_ending: str
    api_version: float
    created_by: str
    created: str
    spool: Path | None = None
    state: str = "Open"
    error_message: str | None = None
    uploaded: bool = False
    header: list[str] = field(default_factory=list)
    succeeded: int = 0
    failed: int = 0
    modstamp: str = ""
    processing_ms: int = 0

    def path(self, kind: str) -> Path:
        """The spool file of the upload (`upload`) or of one result kind."""
        assert self.spool is not None
        return self.spool / f"{self.id}.{kind}.csv"

    def writer(self, stream: Any) -> Any:
        """A CSV writer in the job's delimiter and line ending (what the result routes return)."""
        return csv.writer(
            stream,
            delimiter=DELIMITERS[self.delimiter],
            lineterminator=LINE_ENDINGS[self.line_ending],
            quoting=csv.QUOTE_MINIMAL,
        )

    def remove_files(self) -> None:
        """Delete the job's spool files."""
        if self.spool is None:
            return
        for kind in ("upload", *RESULT_KINDS):
            with contextlib.suppress(FileNotFoundError):
                self.path(kind).unlink()

    def info(self) -> dict[str, Any]:
        """The JobInfo JSON."""
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created,
            "systemModstamp": self.modstamp or self.created,
            "state": self.state,
            "externalIdFieldName": self.external_id,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": self.api_version,
            "jobType": "V2Ingest",
            "contentUrl": f"services/data/v{self.api_version:.1f}/jobs/ingest/{self.id}/batches",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
            "numberRecordsProcessed": self.succeeded + self.failed,
            "numberRecordsFailed": self.failed,
            "retries": 0,
            "totalProcessingTime": self.processing_ms,
            "apiActiveProcessingTime": self.processing_ms,
            "apexProcessingTime": 0,
        }
        if self.error_message:
            body["errorMessage"] = self.error_message
        return body


def _json_bytes(content: Any) -> bytes:
    """`content` rendered exactly as starlette's JSONResponse renders it."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()


@dataclass
class V1Batch:
    """A Bulk API 1.0 batch."""

    id: str
    job_id: str
    created: str
    spool: Path
    state: str = "Queued"
    state_message: str | None = None
    has_query_records: bool = False
    processed: int = 0
    failed: int = 0

    def path(self, kind: str) -> Path:
        """The spool file of the batch's `request`, `result` or query `records` (the JSON the route returns)."""
        return self.spool / f"{self.id}.{kind}.json"

    def save(self, kind: str, content: Any) -> None:
        """Write `content` as the JSON its route answers (rendered as JSONResponse renders it)."""
        self.path(kind).write_bytes(_json_bytes(content))

    def load(self, kind: str) -> bytes:
        """The JSON saved for `kind` (`[]` if none was)."""
        try:
            return self.path(kind).read_bytes()
        except FileNotFoundError:
            return b"[]"

    def info(self) -> dict[str, Any]:
        """The BatchInfo JSON."""
        return {
            "apexProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "createdDate": self.created,
            "id": self.id,
            "jobId": self.job_id,
            "numberRecordsFailed": self.failed,
            "numberRecordsProcessed": self.processed,
            "state": self.state,
            "stateMessage": self.state_message,
            "systemModstamp": self.created,
            "totalProcessingTime": 0,
        }


@dataclass
class V1Job:
    """A Bulk API 1.0 job."""

    id: str
    operation: str
    object: str
    external_id: str | None
    concurrency: str
    content_type: str
    api_version: float
    created_by: str
    created: str
    state: str = "Open"
    batches: dict[str, V1Batch] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        """The JobInfo JSON."""
        states = [b.state for b in self.batches.values()]
        return {
            "apexProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apiVersion": self.api_version,
            "assignmentRuleId": None,
            "concurrencyMode": self.concurrency,
            "contentType": self.content_type,
            "createdById": self.created_by,
            "createdDate": self.created,
            "externalIdFieldName": self.external_id,
            "fastPathEnabled": False,
            "id": self.id,
            "numberBatchesCompleted": states.count("Completed"),
            "numberBatchesFailed": states.count("Failed"),
            "numberBatchesInProgress": states.count("InProgress"),
            "numberBatchesQueued": states.count("Queued"),
            "numberBatchesTotal": len(states),
            "numberRecordsFailed": sum(b.failed for b in self.batches.values()),
            "numberRecordsProcessed": sum(b.processed for b in self.batches.values()),
            "numberRetries": 0,
            "object": self.object,
            "operation": self.operation,
            "state": self.state,
            "systemModstamp": self.created,
            "totalProcessingTime": 0,
        }


class BulkApi:
    """Bulk job state and processing."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        data_dir = getattr(ctx, "data_dir", None)
        if data_dir is not None:
            self.spool = Path(data_dir) / "bulk-jobs"
            shutil.rmtree(self.spool, ignore_errors=True)  # jobs do not survive a restart, nor their files
            self.spool.mkdir(parents=True, exist_ok=True)
        else:
            self.spool = Path(tempfile.mkdtemp(prefix="sf-sandbox-bulk-"))
        self.jobs: dict[str, IngestJob] = {}
        self.v1_jobs: dict[str, V1Job] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(int(time.time()) % 1_000_000 * 1000)
        self._batches = 0

    def usage(self) -> dict[str, int]:
        """Counters for /limits."""
        return {"batches": self._batches}

    def reset(self) -> None:
        """Forget every job."""
        with self._lock:
            for job in self.jobs.values():
                job.remove_files()
            self.jobs.clear()
            for v1_job in self.v1_jobs.values():
                for batch in v1_job.batches.values():
                    for kind in ("request", "result", "records"):
                        batch.path(kind).unlink(missing_ok=True)
            self.v1_jobs.clear()
            self._batches = 0

    def _new_id(self, prefix: str) -> str:
        return ids.make_id(prefix, next(self._counter))

    def _sobject(self, name: Any) -> SObject | None:
        return self.ctx.schema.sobject(str(name)) if name else None

    # ------------------------------------------------------------------ Bulk 2.0 ingest

    def create_job(self, body: Any, version: str, session: Session) -> IngestJob:
        """`POST /jobs/ingest`."""
        if not isinstance(body, dict):
            raise _bad_job(400, "Invalid job: the request body must be a JSON object")
        so = self._sobject(body.get("object"))
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise _bad_job(400, f"Invalid operation: {operation}", "INVALIDJOB" if operation else "API_ERROR")
        if so is None:
            raise _bad_job(400, f"Unable to find object: {body.get('object')}")
        external_id = body.get("externalIdFieldName")
        if operation == "upsert":
            if not external_id:
                raise _bad_job(400, "External ID was blank for upsert")
            f = so.field(str(external_id))
            if f is None or not (f.external_id or f.id_lookup):
                raise _bad_job(
                    400,
                    f"Field name provided, {external_id} does not match an External ID, Salesforce Id, or "
                    f"indexed field for {so.name}",
                )
            external_id = f.name
        delimiter = body.get("columnDelimiter") or "COMMA"
        line_ending = body.get("lineEnding") or "LF"
        if delimiter not in DELIMITERS:
            raise _bad_job(400, f"Invalid column delimiter: {delimiter}")
        if line_ending not in LINE_ENDINGS:
            raise _bad_job(400, f"Invalid line ending: {line_ending}")
        if (body.get("contentType") or "CSV") != "CSV":
            raise _bad_job(400, f"Invalid content type: {body.get('contentType')}")
        job = IngestJob(
            id=self._new_id("750"),
            operation=str(operation),
            object=so.name,
            external_id=external_id if operation == "upsert" else None,
            delimiter=delimiter,
            line_ending=line_ending,
            api_version=float(version),
            created_by=session.user_id,
            created=now_iso(),
            spool=self.spool,
        )
        with self._lock:
            self.jobs[job.id] = job
            if len(self.jobs) > MAX_INGEST_JOBS:
                for old in [j for j in self.jobs.values() if j.state in TERMINAL][
                    : len(self.jobs) - MAX_INGEST_JOBS
                ]:
                    old.remove_files()
                    del self.jobs[old.id]
        return job

    def delete_job(self, job: IngestJob) -> None:
        """Forget a job and delete its files."""
        with self._lock:
            self.jobs.pop(job.id, None)
        job.remove_files()

    def job(self, job_id: str) -> IngestJob:
        """The ingest job, or 404."""
        job = self.jobs.get(ids.normalize(job_id) or job_id)
        if job is None:
            raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def upload(self, job_id: str, data: bytes) -> None:
        """`PUT /jobs/ingest/{id}/batches`."""
        job = self.job(job_id)
        if job.state != "Open":
            raise SalesforceApiError(
                409,
                "INVALIDJOBSTATE",
                f"Batch data can only be uploaded when the job is Open (it is {job.state})",
            )
        if data.startswith(_BOM):
            data = data[len(_BOM) :]
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad_job(400, "The CSV data is not valid UTF-8", "ClientInputError") from None
        with job.path("upload").open("ab") as out:
            out.write(data)
        job.uploaded = True

    def set_state(self, job_id: str, body: Any, path: str) -> IngestJob:
        """`PATCH /jobs/ingest/{id}`: UploadComplete (processes the job now) or Aborted."""
        job = self.job(job_id)
        state = body.get("state") if isinstance(body, dict) else None
        if state == "Aborted":
            if job.state in TERMINAL:
                raise SalesforceApiError(400, "INVALIDJOBSTATE", f"Job is already {job.state}")
            job.state = "Aborted"
            job.modstamp = now_iso()
            return job
        if state != "UploadComplete":
            raise SalesforceApiError(400, "INVALIDJOBSTATE", f"Invalid state change to {state}")
        if job.state != "Open":
            raise SalesforceApiError(400, "INVALIDJOBSTATE", f"Job is not Open (it is {job.state})")
        job.state = "UploadComplete"
        started = time.monotonic()
        self._process(job, path)
        job.processing_ms = int((time.monotonic() - started) * 1000)
        job.modstamp = now_iso()
        return job

    def _reader(self, job: IngestJob, stream: Any) -> Iterator[list[str]]:
        """The upload's non-empty CSV rows; ValueError for a line ending other than the job's."""
        first = stream.readline()
        if first.endswith("\n"):
            crlf = first.endswith("\r\n")
            if crlf != (job.line_ending == "CRLF"):
                msg = (
                    "ClientInputError : LineEnding is invalid on user data. "
                    f"Current LineEnding setting is {job.line_ending}"
                )
                raise ValueError(msg)
        stream.seek(0)
        return (row for row in csv.reader(stream, delimiter=DELIMITERS[job.delimiter]) if row)

    def _process(self, job: IngestJob, path: str) -> None:
        upload = job.path("upload")
        try:
            if not job.uploaded or not upload.exists():
                job.state = "JobComplete"
                return
            with upload.open(encoding="utf-8", newline="") as stream:
                self._process_stream(job, stream, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                upload.unlink()  # the upload is not needed once processed

    def _process_stream(self, job: IngestJob, stream: Any, path: str) -> None:
        store = self.ctx.store
        so = self.ctx.schema.sobject(job.object)
        assert so is not None
        try:
            rows = self._reader(job, stream)
            header = next(rows, None)
        except (ValueError, csv.Error) as exc:
            job.state, job.error_message = "Failed", str(exc)
            return
        if header is None:
            job.state = "JobComplete"
            return
        job.header = header
        problem = self._check_header(so, job, header)
        if problem:
            job.state, job.error_message = "Failed", problem
            with job.path("unprocessedRecords").open("w", encoding="utf-8", newline="") as out:
                writer = job.writer(out)
                writer.writerow(header)
                with contextlib.suppress(csv.Error):
                    writer.writerows(rows)
            return
        width = len(header)
        id_col = next((i for i, h in enumerate(header) if h.lower() == "id"), None)
        ext_col = (
            next((i for i, h in enumerate(header) if h.lower() == (job.external_id or "").lower()), None)
            if job.operation == "upsert"
            else None
        )
        dups: set[Any] = set()
        ext_field = so.field(job.external_id) if job.external_id else None
        try:
            # A first pass reads the whole upload (a malformed CSV fails the job before any row is applied)
            # and finds repeated external ids.
            if ext_col is not None and ext_field is not None:
                dups = self._duplicate_keys(job, stream, ext_field, ext_col, width, rows)
            else:
                for _ in rows:
                    pass
            stream.seek(0)
            rows = self._reader(job, stream)
            next(rows, None)
        except csv.Error as exc:  # a malformed CSV (e.g. an unclosed quote) fails the job, as it did upfront
            job.state, job.error_message = "Failed", str(exc)
            job.header = []
            return
        fault = self.ctx.control.take_record_fault("PATCH", path)
        with (
            job.path("successfulResults").open("w", encoding="utf-8", newline="") as ok_file,
            job.path("failedResults").open("w", encoding="utf-8", newline="") as bad_file,
        ):
            ok, bad = job.writer(ok_file), job.writer(bad_file)
            ok.writerow(["sf__Id", "sf__Created", *header])
            bad.writerow(["sf__Id", "sf__Error", *header])
            # Rows are applied and persisted TRANSACTION_ROWS at a time (Salesforce, too, commits a job in
            # internal batches): the undo log and the replaced rows of one chunk are freed before the next.
            more = True
            while more:
                with store.transaction():
                    more = self._process_rows(
                        job, so, rows, header, id_col, ext_col, ext_field, dups, fault, ok, bad
                    )
        job.state = "JobComplete"

    def _duplicate_keys(
        self, job: IngestJob, stream: Any, ext_field: Any, ext_col: int, width: int, rows: Iterator[list[str]]
    ) -> set[Any]:
        """External ids given more than once in the upload. A first pass keeps only a hash per row (not
        every key); a second pass, only when some hash repeats, finds the keys really repeated."""
        seen: set[int] = set()
        repeated: set[int] = set()
        for row in rows:
            if len(row) == width and row[ext_col] != "":
                h = hash(ext_key(ext_field, row[ext_col]))
                if h in seen:
                    repeated.add(h)
                else:
                    seen.add(h)
        del seen
        if not repeated:
            return set()
        stream.seek(0)
        again = self._reader(job, stream)
        next(again, None)
        return duplicate_keys(
            ext_field,
            (
                row[ext_col]
                for row in again
                if len(row) == width
                and row[ext_col] != ""
                and hash(ext_key(ext_field, row[ext_col])) in repeated
            ),
        )

    def _process_rows(
        self,
        job: IngestJob,
        so: SObject,
        rows: Iterator[list[str]],
        header: list[str],
        id_col: int | None,
        ext_col: int | None,
        ext_field: Any,
        dups: set[Any],
        fault: Any,
        ok: Any,
        bad: Any,
    ) -> bool:
        """Apply up to TRANSACTION_ROWS rows; True if the limit was reached (more rows may follow)."""
        store = self.ctx.store
        control = self.ctx.control
        width = len(header)
        succeeded = failed = 0
        # The columns that become the record body (all but the upsert key / the Id of an update), read by
        # position, so no row needs a dict of every column or a case-insensitive name comparison.
        key_col = ext_col if job.operation == "upsert" else id_col if job.operation == "update" else None
        body_cols = [i for i in range(width) if i != key_col]
        body_names = [header[i] for i in body_cols]
        pick: Callable[[list[str]], Any] = (
            operator.itemgetter(*body_cols)
            if len(body_cols) > 1
            else (lambda row: (row[body_cols[0]],))
            if body_cols
            else (lambda row: ())
        )
        write_ok, write_bad = ok.writerow, bad.writerow
        seen = 0
        for row in itertools.islice(rows, TRANSACTION_ROWS):
            seen += 1
            if len(row) != width:
                message = (
                    f"TooManyFields:Too many fields in row: {len(row)} (header has {width}) --"
                    if len(row) > width
                    else f"INVALID_FIELD:Row has {len(row)} fields, the header has {width}: --"
                )
                bad.writerow(["", message, *row])
                failed += 1
                continue
            values = dict(zip(body_names, pick(row), strict=True))
            mark = store.mark()
            try:
                if fault is not None and control.should_fail_record(fault):
                    raise fault_error(fault)
                if (
                    dups
                    and ext_col is not None
                    and ext_field is not None
                    and ext_key(ext_field, row[ext_col]) in dups
                ):
                    raise duplicate_external_id(row[ext_col])
                record_id, created = self._apply(job, so, values, id_col, ext_col, row)
            except SalesforceApiError as exc:
                store.rollback_to(mark)
                failed_id = (
                    row[id_col]
                    if id_col is not None and job.operation in ("update", "delete", "hardDelete")
                    else ""
                )
                write_bad([failed_id, exc.bulk_error(), *row])
                failed += 1
                continue
            write_ok([record_id, "true" if created else "false", *row])
            succeeded += 1
        job.succeeded += succeeded
        job.failed += failed
        return seen == TRANSACTION_ROWS

    def _check_header(self, so: SObject, job: IngestJob, header: list[str]) -> str | None:
        seen: set[str] = set()
        for column in header:
            if column.lower() in seen:
                return f"InvalidBatch : Duplicate field name: {column}"
            seen.add(column.lower())
            if "." in column:
                rel, _, ext = column.partition(".")
                f = so.relationship(rel)
                target = self.ctx.schema.sobject(f.reference_to[0]) if f else None
                ef = target.field(ext) if target else None
                if f is None or ef is None or not (ef.external_id or ef.id_lookup):
                    return f"InvalidBatch : Field name not found : {column}"
            elif so.field(column) is None:
                return f"InvalidBatch : Field name not found : {column}"
        if job.operation in ("update", "delete", "hardDelete") and "id" not in seen:
            return "InvalidBatch : Field name not found : Id"
        if job.operation == "upsert" and (job.external_id or "").lower() not in seen:
            return f"InvalidBatch : Field name not found : {job.external_id}"
        return None

    def _apply(
        self,
        job: IngestJob,
        so: SObject,
        values: dict[str, str],
        id_col: int | None,
        ext_col: int | None,
        row: list[str],
    ) -> tuple[str, bool]:
        dml = self.ctx.dml
        op = job.operation
        if op == "insert":
            return dml.insert(so, values, csv=True), True
        if op == "upsert":  # `values` holds every column but the external id
            assert ext_col is not None
            assert job.external_id is not None
            return dml.upsert(so, job.external_id, row[ext_col], values, csv=True)  # type: ignore[no-any-return]
        assert id_col is not None
        record_id = row[id_col]
        if op == "update":  # `values` holds every column but the Id
            return dml.update(record_id, values, sobject=so, csv=True), False
        return dml.delete(record_id, sobject=so), False

    def results_chunks(self, job_id: str, kind: str) -> Iterator[bytes]:
        """`successfulResults` / `failedResults` / `unprocessedRecords` as CSV in the job's format, in chunks
        read from the job's spool file (a job that produced none answers the bare header)."""
        job = self.job(job_id)
        path = job.path(kind)
        try:
            stream = path.open("rb")
        except (FileNotFoundError, AssertionError):
            out = io.StringIO()
            writer = job.writer(out)
            if kind == "successfulResults":
                writer.writerow(["sf__Id", "sf__Created", *job.header])
            elif kind == "failedResults":
                writer.writerow(["sf__Id", "sf__Error", *job.header])
            elif job.header:
                writer.writerow(job.header)
            return iter([out.getvalue().encode()])

        def chunks() -> Iterator[bytes]:
            with stream:
                while block := stream.read(1 << 20):
                    yield block

        return chunks()

    def results_csv(self, job_id: str, kind: str) -> str:
        """The whole result of one kind as text (small jobs and tests; the routes stream)."""
        return b"".join(self.results_chunks(job_id, kind)).decode()

    # ------------------------------------------------------------------ Bulk 1.0

    def v1_create_job(self, body: Any, version: str, session: Session) -> V1Job:
        """`POST /services/async/{v}/job`."""
        if not isinstance(body, dict):
            raise BulkV1Error(400, "InvalidJob", "Unable to parse job")
        operation = body.get("operation")
        if operation not in V1_OPERATIONS:
            raise BulkV1Error(400, "InvalidJob", f"Invalid operation: {operation}")
        so = self._sobject(body.get("object"))
        if so is None:
            raise BulkV1Error(
                400, "InvalidEntity", f"Entity '{body.get('object')}' is not supported by the Bulk API."
            )
        external_id = body.get("externalIdFieldName")
        if operation == "upsert":
            f = so.field(str(external_id or ""))
            if f is None or not (f.external_id or f.id_lookup):
                raise BulkV1Error(
                    400, "InvalidJob", f"External ID was blank or invalid for {so.name}: {external_id}"
                )
            external_id = f.name
        mode = body.get("concurrencyMode", "Parallel")
        concurrency = "Serial" if mode in (1, True, "Serial") else "Parallel"
        job = V1Job(
            id=self._new_id("750"),
            operation=str(operation),
            object=so.name,
            external_id=external_id if operation == "upsert" else None,
            concurrency=concurrency,
            content_type=str(body.get("contentType") or "JSON"),
            api_version=float(version),
            created_by=session.user_id,
            created=now_iso(),
        )
        with self._lock:
            self.v1_jobs[job.id] = job
        return job

    def v1_job(self, job_id: str) -> V1Job:
        """The 1.0 job, or InvalidJob."""
        job = self.v1_jobs.get(ids.normalize(job_id) or job_id)
        if job is None:
            raise BulkV1Error(400, "InvalidJob", f"Invalid job id: {job_id}")
        return job

    def v1_batch(self, job_id: str, batch_id: str) -> V1Batch:
        """A batch of a 1.0 job, or InvalidBatch."""
        batch = self.v1_job(job_id).batches.get(ids.normalize(batch_id) or batch_id)
        if batch is None:
            raise BulkV1Error(400, "InvalidBatch", f"Invalid batch id: {batch_id}")
        return batch

    def v1_set_state(self, job_id: str, body: Any) -> V1Job:
        """`POST job/{id}` with `{"state": "Closed" | "Aborted"}`."""
        job = self.v1_job(job_id)
        state = body.get("state") if isinstance(body, dict) else None
        if state not in ("Closed", "Aborted"):
            raise BulkV1Error(400, "InvalidJobState", f"Invalid state: {state}")
        if job.state != "Open":
            raise BulkV1Error(400, "InvalidJobState", f"Job is {job.state}")
        job.state = str(state)
        return job

    def v1_add_batch(self, job_id: str, raw: bytes, path: str) -> V1Batch:
        """`POST job/{id}/batch`: processed at once."""
        job = self.v1_job(job_id)
        if job.state != "Open":
            raise BulkV1Error(400, "InvalidJobState", f"Job {job.id} is not open")
        self._batches += 1
        if job.operation in ("query", "queryAll"):
            text = raw.decode("utf-8")
            batch = V1Batch(self._new_id("751"), job.id, now_iso(), self.spool)
            batch.save("request", text)
            job.batches[batch.id] = batch
            self._v1_query(job, batch, text)
            return batch
        try:
            payload = parse_json(raw)
        except SalesforceApiError:
            payload = None
        batch = V1Batch(self._new_id("751"), job.id, now_iso(), self.spool)
        batch.save("request", payload)
        job.batches[batch.id] = batch
        if not isinstance(payload, list):
            batch.state, batch.state_message = (
                "Failed",
                "InvalidBatch : Failed to parse JSON: expected an array of records",
            )
            return batch
        so = self.ctx.schema.sobject(job.object)
        assert so is not None
        fault = self.ctx.control.take_record_fault("POST", path)
        control, store = self.ctx.control, self.ctx.store
        dups: set[Any] = set()
        ext_field = so.field(job.external_id) if job.operation == "upsert" and job.external_id else None
        if ext_field is not None:
            dups = duplicate_keys(
                ext_field,
                [
                    next((v for k, v in item.items() if k.lower() == ext_field.name.lower()), None)
                    for item in payload
                    if isinstance(item, dict)
                ],
            )
        results: list[dict[str, Any]] = []
        with store.transaction():
            for item in payload:
                try:
                    if not isinstance(item, dict):
                        raise SalesforceApiError(400, "INVALID_FIELD", "Each record must be a JSON object")
                    if fault is not None and control.should_fail_record(fault):
                        raise fault_error(fault)
                    if ext_field is not None and dups:
                        value = next(
                            (v for k, v in item.items() if k.lower() == ext_field.name.lower()), None
                        )
                        if value not in (None, "") and ext_key(ext_field, value) in dups:
                            raise duplicate_external_id(value)
                    with store.savepoint():
                        record_id, created = self._v1_apply(job, so, item)
                    results.append({"success": True, "created": created, "id": record_id, "errors": []})
                except SalesforceApiError as exc:
                    batch.failed += 1
                    results.append(
                        {"success": False, "created": False, "id": None, "errors": [exc.record_error()]}
                    )
                batch.processed += 1
        batch.save("result", results)
        batch.state = "Completed"
        return batch

    def _v1_apply(self, job: V1Job, so: SObject, item: dict[str, Any]) -> tuple[str, bool]:
        dml = self.ctx.dml
        values = {k: v for k, v in item.items() if k != "attributes"}
        op = job.operation
        if op == "insert":
            return dml.insert(so, values), True
        if op == "upsert":
            assert job.external_id is not None
            key = next((k for k in values if k.lower() == job.external_id.lower()), None)
            ext_value = values.pop(key) if key else None
            return dml.upsert(so, job.external_id, ext_value, values)  # type: ignore[no-any-return]
        key = next((k for k in values if k.lower() == "id"), None)
        if key is None:
            raise SalesforceApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call")
        record_id = values.pop(key)
        if op == "update":
            return dml.update(record_id, values, sobject=so), False
        return dml.delete(record_id, sobject=so), False

    def _v1_query(self, job: V1Job, batch: V1Batch, soql: str) -> None:
        try:
            from logisense_sync.sandbox.salesforce import soql as soql_engine
        except ImportError:
            batch.state, batch.state_message = (
                "Failed",
                "InvalidBatch : SOQL is not available in this sandbox",
            )
            return
        try:
            result = soql_engine.execute(  # type: ignore[attr-defined]
                soql, self.ctx.schema, self.ctx.store, include_deleted=job.operation == "queryAll"
            )
        except SalesforceApiError as exc:
            batch.state, batch.state_message = "Failed", f"InvalidBatch : {exc.message}"
            return
        except Exception as exc:  # noqa: BLE001 - the SOQL engine's own error types become a failed batch
            batch.state, batch.state_message = "Failed", f"InvalidBatch : {getattr(exc, 'message', str(exc))}"
            return
        batch.path("records").write_bytes(_json_bytes(list(result.records)))
        batch.has_query_records = True
        batch.processed = len(result.records)
        batch.state = "Completed"


def _v1_session(ctx: SandboxContext) -> Callable[[Request], Session]:
    def dependency(request: Request) -> Session:
        token = (
            request.headers.get("x-sfdc-session")
            or request.headers.get("authorization", "").partition(" ")[2]
        )
        session = ctx.auth.session_for(token.strip())
        if session is None:
            raise BulkV1Error(400, "InvalidSessionId", "Invalid session id")
        try:
            ctx.auth.count_call()
        except SalesforceApiError as exc:
            raise BulkV1Error(403, "ExceededQuota", exc.message) from None
        return session

    return dependency


def build_bulk_router(ctx: SandboxContext) -> APIRouter:
    """Bulk API 2.0 ingest routes and Bulk API 1.0 routes."""
    api = BulkApi(ctx)
    ctx.bulk = api
    router = APIRouter()
    session = Depends(ctx.auth.require_session)
    v1_session = Depends(_v1_session(ctx))
    base = "/services/data/v{version}/jobs/ingest"

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        import anyio.to_thread

        return await anyio.to_thread.run_sync(lambda: fn(*args))

    @router.post(base)
    @router.post(base + "/")
    async def create(version: str, request: Request, s: Session = session) -> JSONResponse:
        job = api.create_job(parse_json(await request.body()), version, s)
        return JSONResponse(job.info())

    @router.get(base)
    @router.get(base + "/")
    def list_jobs(version: str, _: Session = session) -> JSONResponse:
        records = [j.info() for j in api.jobs.values()]
        return JSONResponse({"done": True, "records": records, "nextRecordsUrl": None})

    @router.put(base + "/{job_id}/batches")
    @router.put(base + "/{job_id}/batches/")
    async def upload(version: str, job_id: str, request: Request, _: Session = session) -> Response:
        api.upload(job_id, await request.body())
        return Response(status_code=201)

    @router.patch(base + "/{job_id}")
    @router.patch(base + "/{job_id}/")
    async def patch(version: str, job_id: str, request: Request, _: Session = session) -> JSONResponse:
        body = parse_json(await request.body())
        job = await run(api.set_state, job_id, body, request.url.path)
        info = job.info()
        if isinstance(body, dict) and body.get("state") == "UploadComplete":
            # Salesforce answers the state change itself; the processing (done already) shows on the next GET.
            info.update(state="UploadComplete", numberRecordsProcessed=0, numberRecordsFailed=0)
            info.pop("errorMessage", None)
        return JSONResponse(info)

    @router.get(base + "/{job_id}")
    @router.get(base + "/{job_id}/")
    def get_job(version: str, job_id: str, _: Session = session) -> JSONResponse:
        return JSONResponse(api.job(job_id).info())

    @router.delete(base + "/{job_id}")
    @router.delete(base + "/{job_id}/")
    def delete_job(version: str, job_id: str, _: Session = session) -> Response:
        job = api.job(job_id)
        if job.state not in (*TERMINAL, "UploadComplete"):
            raise SalesforceApiError(400, "INVALIDJOBSTATE", "Only jobs in a terminal state can be deleted")
        api.delete_job(job)
        return Response(status_code=204)

    for kind in RESULT_KINDS:

        def results(version: str, job_id: str, _: Session = session, kind: str = kind) -> Response:
            job = api.job(job_id)
            if job.state not in TERMINAL:
                raise SalesforceApiError(
                    400, "INVALIDJOBSTATE", f"Job {job.id} is not complete ({job.state})"
                )
            return StreamingResponse(api.results_chunks(job_id, kind), media_type="text/csv; charset=UTF-8")

        router.add_api_route(base + "/{job_id}/" + kind, results, methods=["GET"])
        router.add_api_route(base + "/{job_id}/" + kind + "/", results, methods=["GET"])

    # ---------------------------------------------------------------- Bulk 1.0
    v1 = "/services/async/{version}/job"

    def check(version: str) -> None:
        try:
            check_version(version)
        except SalesforceApiError:
            raise BulkV1Error(400, "InvalidVersion", f"Invalid API version: {version}") from None

    @router.post(v1)
    @router.post(v1 + "/")
    async def v1_create(version: str, request: Request, s: Session = v1_session) -> JSONResponse:
        check(version)
        return JSONResponse(
            api.v1_create_job(parse_json(await request.body()), version, s).info(), status_code=201
        )

    @router.get(v1 + "/{job_id}")
    def v1_get(version: str, job_id: str, _: Session = v1_session) -> JSONResponse:
        return JSONResponse(api.v1_job(job_id).info())

    @router.post(v1 + "/{job_id}")
    async def v1_state(version: str, job_id: str, request: Request, _: Session = v1_session) -> JSONResponse:
        return JSONResponse(api.v1_set_state(job_id, parse_json(await request.body())).info())

    @router.post(v1 + "/{job_id}/batch")
    async def v1_batch(version: str, job_id: str, request: Request, _: Session = v1_session) -> JSONResponse:
        batch = await run(api.v1_add_batch, job_id, await request.body(), request.url.path)
        return JSONResponse(batch.info(), status_code=201)

    @router.get(v1 + "/{job_id}/batch")
    def v1_batches(version: str, job_id: str, _: Session = v1_session) -> JSONResponse:
        return JSONResponse({"batchInfo": [b.info() for b in api.v1_job(job_id).batches.values()]})

    @router.get(v1 + "/{job_id}/batch/{batch_id}")
    def v1_batch_info(version: str, job_id: str, batch_id: str, _: Session = v1_session) -> JSONResponse:
        return JSONResponse(api.v1_batch(job_id, batch_id).info())

    @router.get(v1 + "/{job_id}/batch/{batch_id}/request")
    def v1_request(version: str, job_id: str, batch_id: str, _: Session = v1_session) -> Response:
        return Response(api.v1_batch(job_id, batch_id).load("request"), media_type="application/json")

    @router.get(v1 + "/{job_id}/batch/{batch_id}/result")
    def v1_result(version: str, job_id: str, batch_id: str, _: Session = v1_session) -> Response:
        batch = api.v1_batch(job_id, batch_id)
        if batch.has_query_records:
            return JSONResponse([ids.to18("752" + batch.id[3:15])])
        if batch.state == "Failed":
            raise BulkV1Error(400, "InvalidBatch", batch.state_message or "Batch failed")
        return Response(batch.load("result"), media_type="application/json")

    @router.get(v1 + "/{job_id}/batch/{batch_id}/result/{result_id}")
    def v1_query_result(
        version: str, job_id: str, batch_id: str, result_id: str, _: Session = v1_session
    ) -> Response:
        batch = api.v1_batch(job_id, batch_id)
        if not batch.has_query_records:
            raise BulkV1Error(400, "InvalidBatch", "Batch has no query result")
        return Response(batch.load("records"), media_type="application/json")

    return router
