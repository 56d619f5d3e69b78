"""Salesforce client: SOQL into frames and DML from frames, choosing REST or Bulk API 2.0 by volume.

One HTTP chokepoint (:meth:`SalesforceClient._request`) over the session of a ``simple_salesforce.Salesforce``
(so every login flow simple-salesforce and the Airflow provider support works): bearer auth, one session
refresh on ``INVALID_SESSION_ID``, bounded backoff on 429/5xx/connection errors, and error mapping
(:class:`SalesforceApiError` is fatal, :class:`SalesforceUnavailableError` retriable,
:class:`RequestLimitExceeded` stops the caller cleanly with the rows done so far).

DML methods take a DataFrame (one row per record, columns = field API names; a dotted column such as
``Product2.LogiSense_Id__c`` is a relationship by external id) and return one result row per input row,
same index, columns :data:`RESULT_COLUMNS`. Up to ``bulk_threshold`` rows go through sObject Collections
(200 per call, ``allOrNone`` false); more go through Bulk API 2.0 ingest jobs (CSV, split below the upload
limit). Rows failing with a transient per-record code (``UNABLE_TO_LOCK_ROW``) are resubmitted a bounded
number of times.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import requests

from logisense_sync.errors import FatalError, RetriableError

log = logging.getLogger(__name__)

#: Columns of every DML result frame.
RESULT_COLUMNS = ["success", "id", "created", "error_code", "message"]
#: Per-record error codes worth resubmitting.
TRANSIENT_RECORD_ERRORS = frozenset({"UNABLE_TO_LOCK_ROW", "API_TEMPORARILY_UNAVAILABLE"})
#: Error code given to rows never attempted because the run stopped (request limit).
NOT_PROCESSED = "NOT_PROCESSED"

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_SELECT = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s", re.IGNORECASE | re.DOTALL)


class SalesforceApiError(FatalError):
    """Salesforce refused a call; repeating it will not help.

    Attributes:
        status: HTTP status.
        error_code: Salesforce ``errorCode`` (e.g. ``MALFORMED_QUERY``).
        url: the URL called.
    """

    def __init__(self, message: str, *, status: int, error_code: str, url: str) -> None:
        super().__init__(f"{error_code} ({status}) on {url}: {message}")
        self.status = status
        self.error_code = error_code
        self.url = url


class SalesforceUnavailableError(RetriableError):
    """Salesforce kept failing transiently (429, 5xx, connection) after the client's own retries."""


class RequestLimitExceeded(FatalError):
    """The org's API request limit is spent (403 ``REQUEST_LIMIT_EXCEEDED``).

    Attributes:
        results: for a DML call, the result frame so far: rows done carry their outcome, rows not attempted
            carry ``error_code`` :data:`NOT_PROCESSED`. ``None`` for queries.
    """

    def __init__(self, message: str, results: pd.DataFrame | None = None) -> None:
        super().__init__(message)
        self.results = results


@dataclass
class ApiUsage:
    """API consumption seen by one client.

    Attributes:
        calls: HTTP calls this client made (every REST, Bulk and query call).
        used: the org's ``api-usage`` count from the last ``Sforce-Limit-Info`` header, if any.
        limit: the org's daily limit from the same header, if any.
    """

    calls: int = 0
    used: int | None = None
    limit: int | None = None


def select_fields(soql: str) -> list[str]:
    """Return the field list of a plain ``SELECT a, b.c FROM ...`` query (no functions or subqueries).

    Args:
        soql: the query.

    Returns:
        The selected field names in order.
    """
    match = _SELECT.match(soql)
    if not match:
        msg = f"not a SELECT ... FROM query: {soql[:80]!r}"
        raise ValueError(msg)
    return [f.strip() for f in match.group("fields").split(",")]


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _nest(record: dict[str, Any]) -> dict[str, Any]:
    """Turn ``{"Product2.LogiSense_Id__c": "x"}`` into ``{"Product2": {"LogiSense_Id__c": "x"}}``."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if "." in key:
            parent, field = key.split(".", 1)
            out.setdefault(parent, {})[field] = value
        else:
            out[key] = value
    return out


def _json_value(value: Any) -> Any:
    """A JSON-safe scalar: NaN/NA become null, numpy scalars become Python ones."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    cols = list(frame.columns)
    return [
        {c: _json_value(v) for c, v in zip(cols, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _csv_body(frame: pd.DataFrame, null: str) -> bytes:
    """A Bulk ingest CSV (header of field names, LF line ends, nulls as ``null``) written by Arrow in C++:
    no Python object per value, so a 100 MB job costs little more than its bytes. Frames Arrow cannot type
    (mixed Python objects in a column) are written by pandas the same way."""
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        text = frame.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL, na_rep=null)
        return text.encode()
    out = pa.BufferOutputStream()
    options = pa_csv.WriteOptions(null_string=null, quoting_header="none", eol="\n")
    pa_csv.write_csv(table, out, options)
    return bytes(out.getvalue().to_pybytes())


def _empty_results(index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "success": pd.Series(False, index=index, dtype=bool),
            "id": pd.Series(None, index=index, dtype=object),
            "created": pd.Series(None, index=index, dtype=object),
            "error_code": pd.Series(NOT_PROCESSED, index=index, dtype=object),
            "message": pd.Series("not attempted", index=index, dtype=object),
        }
    )


def _split_error(text: str) -> tuple[str, str]:
    """Split a Bulk 2.0 ``sf__Error`` such as ``CODE:message:fields --`` into code and message."""
    code, _, rest = text.partition(":")
    return code.strip(), rest.strip() or text


class SalesforceClient:
    """Salesforce REST, sObject Collections and Bulk API 2.0 on top of a simple-salesforce session.

    Args:
        sf: a logged-in ``simple_salesforce.Salesforce`` (its session, headers and URLs are reused).
        bulk_threshold: above this many rows, DML and queries go through Bulk API 2.0.
        batch_size: records per sObject Collections call (Salesforce allows 200).
        transient_retries: how many times rows failing with a transient per-record code are resubmitted.
        http_retries: attempts per call on 429, 5xx and connection errors.
        backoff: first backoff in seconds (doubles each time).
        poll_interval: first Bulk job poll delay in seconds (grows to ``max_poll_interval``).
        max_poll_interval: longest delay between Bulk job polls.
        bulk_max_bytes: largest CSV uploaded in one Bulk ingest job (Salesforce allows 100 MB raw).
        timeout: seconds per HTTP call.
    """

    def __init__(
        self,
        sf: Any,
        *,
        bulk_threshold: int = 2000,
        batch_size: int = 200,
        transient_retries: int = 3,
        http_retries: int = 4,
        backoff: float = 0.5,
        poll_interval: float = 0.05,
        max_poll_interval: float = 2.0,
        bulk_max_bytes: int = 90_000_000,
        timeout: float = 300.0,
    ) -> None:
        self.sf = sf
        self.bulk_threshold = bulk_threshold
        self.batch_size = batch_size
        self.transient_retries = transient_retries
        self.http_retries = http_retries
        self.backoff = backoff
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.bulk_max_bytes = bulk_max_bytes
        self.timeout = timeout
        self.usage = ApiUsage()

    # ------------------------------------------------------------------ transport

    @property
    def base_url(self) -> str:
        """``https://host/services/data/vNN.N/``."""
        return str(self.sf.base_url)

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """Make one API call (path relative to the data URL, or absolute) and map failures to errors."""
        url = path if path.startswith("https://") else self.base_url + path.lstrip("/")
        refreshed = False
        attempt = 0
        while True:
            hdrs = dict(self.sf.headers)
            if headers:
                hdrs.update(headers)
            try:
                response = self.sf.session.request(
                    method, url, json=json_body, data=data, params=params, headers=hdrs, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                attempt += 1
                if attempt >= self.http_retries:
                    msg = f"{method} {url} failed {attempt} times: {exc}"
                    raise SalesforceUnavailableError(msg) from exc
                self._sleep(self.backoff * 2 ** (attempt - 1))
                continue
            self._count(response)
            status = response.status_code
            if status < 300:
                ok: requests.Response = response
                return ok
            code, message = self._error_of(response)
            if status == 401 and code == "INVALID_SESSION_ID" and not refreshed and self._can_refresh():
                refreshed = True
                self.sf._refresh_session()
                continue
            if code == "REQUEST_LIMIT_EXCEEDED":
                msg = f"Salesforce API request limit exceeded on {method} {url}: {message}"
                raise RequestLimitExceeded(msg)
            if status in _RETRY_STATUSES:
                attempt += 1
                if attempt >= self.http_retries:
                    msg = f"{method} {url} answered {status} {code} {attempt} times: {message}"
                    raise SalesforceUnavailableError(msg)
                retry_after = response.headers.get("Retry-After")
                delay = float(retry_after) if retry_after and retry_after.isdigit() else 0.0
                self._sleep(max(delay, self.backoff * 2 ** (attempt - 1)))
                continue
            raise SalesforceApiError(message, status=status, error_code=code, url=url)

    def _can_refresh(self) -> bool:
        return getattr(self.sf, "_salesforce_login_partial", None) is not None

    @staticmethod
    def _sleep(seconds: float) -> None:
        time.sleep(seconds)

    def _count(self, response: requests.Response) -> None:
        self.usage.calls += 1
        info = response.headers.get("Sforce-Limit-Info")
        if info:
            match = _LIMIT_INFO.search(info)
            if match:
                self.usage.used, self.usage.limit = int(match.group(1)), int(match.group(2))

    @staticmethod
    def _error_of(response: requests.Response) -> tuple[str, str]:
        try:
            body = response.json()
        except ValueError:
            return f"HTTP_{response.status_code}", response.text[:500]
        if isinstance(body, list) and body and isinstance(body[0], dict):
            return str(body[0].get("errorCode", f"HTTP_{response.status_code}")), str(
                body[0].get("message", "")
            )
        if isinstance(body, dict):
            return str(body.get("errorCode", body.get("error", f"HTTP_{response.status_code}"))), str(
                body.get("message", body.get("error_description", ""))
            )
        return f"HTTP_{response.status_code}", str(body)[:500]

    def limits(self) -> dict[str, Any]:
        """Return ``GET /limits/`` (``{"DailyApiRequests": {"Max": .., "Remaining": ..}, ...}``)."""
        result: dict[str, Any] = self._request("GET", "limits/").json()
        return result

    # ------------------------------------------------------------------ queries

    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        """Run a SOQL query through REST and yield flat records, following ``nextRecordsUrl``.

        Args:
            soql: the query (built with :func:`logisense_sync.clients.soql.format_soql`).

        Yields:
            One dict per record without ``attributes``; parent fields flattened to dotted names
            (``Product2.LogiSense_Id__c``).
        """
        page: dict[str, Any] = self._request("GET", "query/", params={"q": soql}).json()
        while True:
            for record in page.get("records", []):
                yield _flatten(record)
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self._request("GET", self._instance_url(next_url)).json()

    def _instance_url(self, path: str) -> str:
        return f"https://{self.sf.sf_instance}{path}"

    def query_frame(self, soql: str, *, bulk: bool | None = None) -> pd.DataFrame:
        """Run a SOQL query into a DataFrame, through Bulk API 2.0 when the result is large.

        With ``bulk=None`` the first REST page decides: when ``totalSize`` is above ``bulk_threshold`` the
        query is re-run as a Bulk API 2.0 query job (one wasted call instead of many REST pages).

        Args:
            soql: a plain ``SELECT field, Parent.field FROM ...`` query.
            bulk: force Bulk (True) or REST (False).

        Returns:
            One row per record, columns = the selected fields in order. Values are JSON types from REST,
            strings from Bulk (blank = None); callers normalise types.
        """
        parts = list(self.query_frames(soql, bulk=bulk))
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)

    def query_frames(self, soql: str, *, bulk: bool | None = None) -> Iterator[pd.DataFrame]:
        """Run a SOQL query like :meth:`query_frame`, one frame per result page (REST page or Bulk results
        page of up to a million rows), so a caller can stream millions of rows without holding them all.

        Yields:
            At least one frame (possibly empty), columns = the selected fields in order.
        """
        columns = select_fields(soql)
        if bulk:
            yield from self._bulk_query(soql, columns)
            return
        first: dict[str, Any] = self._request("GET", "query/", params={"q": soql}).json()
        if (
            bulk is None
            and int(first.get("totalSize", 0)) > self.bulk_threshold
            and not first.get("done", True)
        ):
            yield from self._bulk_query(soql, columns)
            return
        rows = [_flatten(r) for r in first.get("records", [])]
        page = first
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = self._request("GET", self._instance_url(page["nextRecordsUrl"])).json()
            rows.extend(_flatten(r) for r in page.get("records", []))
        yield pd.DataFrame(rows, columns=columns, dtype=object)

    def _bulk_query(self, soql: str, columns: list[str]) -> Iterator[pd.DataFrame]:
        job = self._request(
            "POST",
            "jobs/query",
            json_body={"operation": "query", "query": soql, "columnDelimiter": "COMMA", "lineEnding": "LF"},
        ).json()
        job_id = job["id"]
        info = self._wait_job(f"jobs/query/{job_id}")
        if info.get("state") != "JobComplete":
            msg = f"Bulk query job {job_id} ended {info.get('state')}: {info.get('errorMessage', '')}"
            raise SalesforceApiError(
                msg, status=200, error_code="BULK_QUERY_FAILED", url=f"jobs/query/{job_id}"
            )
        locator: str | None = None
        empty = True
        while True:
            params: dict[str, Any] = {"maxRecords": 1_000_000}
            if locator:
                params["locator"] = locator
            response = self._request(
                "GET", f"jobs/query/{job_id}/results", params=params, headers={"Accept": "text/csv"}
            )
            text = response.text.replace("\x00", "")
            locator = response.headers.get("Sforce-Locator")
            if text.strip():
                # pandas' string dtype (Arrow-backed) keeps a million-row result compact; blank = missing.
                frame = pd.read_csv(io.StringIO(text), dtype="str", keep_default_na=False, na_values=[""])
                del text
                for col in columns:
                    if col not in frame.columns:
                        frame[col] = None
                empty = False
                yield frame[columns]
            if not locator or locator == "null":
                break
        if empty:
            yield pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})

    def _wait_job(self, path: str) -> dict[str, Any]:
        delay = self.poll_interval
        while True:
            info: dict[str, Any] = self._request("GET", path).json()
            if info.get("state") in ("JobComplete", "Failed", "Aborted"):
                return info
            self._sleep(delay)
            delay = min(delay * 1.5, self.max_poll_interval)

    # ------------------------------------------------------------------ DML

    def insert(self, sobject: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Create one record per row.

        Args:
            sobject: API name, e.g. ``Product2``.
            frame: one row per record; dotted columns are relationships by external id.

        Returns:
            Result frame (:data:`RESULT_COLUMNS`), same index as ``frame``.
        """
        return self._dml("insert", sobject, frame, None)

    def update(self, sobject: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Update records by ``Id`` (a column of ``frame``); other columns are the fields to set (None clears)

        Returns:
            Result frame (:data:`RESULT_COLUMNS`), same index as ``frame``.
        """
        return self._dml("update", sobject, frame, "Id")

    def upsert(self, sobject: str, external_id_field: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Create or update records matched on an external id field (a column of ``frame``).

        Returns:
            Result frame (:data:`RESULT_COLUMNS`), same index as ``frame``; ``created`` tells which.
        """
        return self._dml("upsert", sobject, frame, external_id_field)

    def delete(self, sobject: str, ids: Sequence[str]) -> pd.DataFrame:
        """Delete records by id.

        Returns:
            Result frame (:data:`RESULT_COLUMNS`), one row per id in order (index 0..n-1).
        """
        return self._dml("delete", sobject, pd.DataFrame({"Id": list(ids)}), "Id")

    def _dml(self, operation: str, sobject: str, frame: pd.DataFrame, key: str | None) -> pd.DataFrame:
        results = _empty_results(frame.index)
        if frame.empty:
            return results
        if not frame.index.is_unique:
            msg = "DML frames need a unique index"
            raise ValueError(msg)
        pending = frame
        for attempt in range(self.transient_retries + 1):
            try:
                done = self._dml_once(operation, sobject, pending, key)
            except RequestLimitExceeded as exc:
                if exc.results is not None:
                    results.loc[exc.results.index, RESULT_COLUMNS] = exc.results[RESULT_COLUMNS]
                raise RequestLimitExceeded(str(exc), results) from exc
            results.loc[done.index, RESULT_COLUMNS] = done[RESULT_COLUMNS]
            transient = done.index[done["error_code"].isin(TRANSIENT_RECORD_ERRORS)]
            if len(transient) == 0 or attempt == self.transient_retries:
                break
            log.info(
                "%s %s: resubmitting %d rows that failed transiently (attempt %d of %d)",
                operation,
                sobject,
                len(transient),
                attempt + 1,
                self.transient_retries,
            )
            self._sleep(self.backoff * 2**attempt)
            pending = frame.loc[transient]
        results["success"] = results["success"].astype(bool)
        return results

    def _dml_once(self, operation: str, sobject: str, frame: pd.DataFrame, key: str | None) -> pd.DataFrame:
        if len(frame) > self.bulk_threshold:
            return self._bulk_dml(operation, sobject, frame, key)
        return self._collections_dml(operation, sobject, frame, key)

    def _collections_dml(
        self, operation: str, sobject: str, frame: pd.DataFrame, key: str | None
    ) -> pd.DataFrame:
        results = _empty_results(frame.index)
        for start in range(0, len(frame), self.batch_size):
            chunk = frame.iloc[start : start + self.batch_size]
            try:
                outcome = self._collections_call(operation, sobject, chunk, key)
            except RequestLimitExceeded as exc:
                raise RequestLimitExceeded(str(exc), results) from exc
            for col in RESULT_COLUMNS:
                results.loc[chunk.index, col] = [row[col] for row in outcome]
        return results

    def _collections_call(
        self, operation: str, sobject: str, chunk: pd.DataFrame, key: str | None
    ) -> list[dict[str, Any]]:
        if operation == "delete":
            ids = ",".join(str(i) for i in chunk["Id"])
            body = self._request(
                "DELETE", "composite/sobjects", params={"ids": ids, "allOrNone": "false"}
            ).json()
        else:
            records = []
            for rec in _frame_records(chunk):
                rec = _nest(rec)
                if operation == "update":
                    rec["id"] = rec.pop("Id")
                records.append({"attributes": {"type": sobject}, **rec})
            payload = {"allOrNone": False, "records": records}
            if operation == "insert":
                body = self._request("POST", "composite/sobjects", json_body=payload).json()
            elif operation == "update":
                body = self._request("PATCH", "composite/sobjects", json_body=payload).json()
            else:
                body = self._request("PATCH", f"composite/sobjects/{sobject}/{key}", json_body=payload).json()
        out = []
        for item in body:
            errors = item.get("errors") or []
            first = errors[0] if errors else {}
            out.append(
                {
                    "success": bool(item.get("success")),
                    "id": item.get("id"),
                    "created": item.get("created"),
                    "error_code": first.get("statusCode") or first.get("errorCode") if errors else None,
                    "message": first.get("message") if errors else None,
                }
            )
        return out

    # Bulk API 2.0 ingest ---------------------------------------------------

    def _bulk_dml(self, operation: str, sobject: str, frame: pd.DataFrame, key: str | None) -> pd.DataFrame:
        results = _empty_results(frame.index)
        null = "" if operation == "insert" else "#N/A"
        for chunk in self._csv_chunks(frame):
            try:
                outcome = self._bulk_job(operation, sobject, chunk, key, _csv_body(chunk, null))
            except RequestLimitExceeded as exc:
                raise RequestLimitExceeded(str(exc), results) from exc
            results.loc[outcome.index, RESULT_COLUMNS] = outcome[RESULT_COLUMNS]
        return results

    def rows_per_bulk_job(self, frame: pd.DataFrame) -> int:
        """How many rows like ``frame``'s fit one Bulk ingest job (CSV under ``bulk_max_bytes``, estimated
        from a sample of up to 1,000 rows, with a 10% margin)."""
        sample = frame.head(1000)
        per_row = max(1, len(_csv_body(sample, "#N/A")) // max(1, len(sample)))
        return max(1, int(self.bulk_max_bytes * 0.9) // per_row)

    def _csv_chunks(self, frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
        """Split so that each job's CSV stays under ``bulk_max_bytes``."""
        rows = self.rows_per_bulk_job(frame)
        for start in range(0, len(frame), rows):
            yield frame.iloc[start : start + rows]

    def _bulk_job(
        self, operation: str, sobject: str, chunk: pd.DataFrame, key: str | None, body: bytes
    ) -> pd.DataFrame:
        spec: dict[str, Any] = {
            "object": sobject,
            "operation": operation,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        if operation == "upsert":
            spec["externalIdFieldName"] = key
        job = self._request("POST", "jobs/ingest", json_body=spec).json()
        job_id = job["id"]
        self._request("PUT", f"jobs/ingest/{job_id}/batches", data=body, headers={"Content-Type": "text/csv"})
        self._request("PATCH", f"jobs/ingest/{job_id}", json_body={"state": "UploadComplete"})
        info = self._wait_job(f"jobs/ingest/{job_id}")
        results = _empty_results(chunk.index)
        if info.get("state") != "JobComplete":
            results["error_code"] = "BULK_JOB_FAILED"
            results["message"] = f"job {job_id} {info.get('state')}: {info.get('errorMessage', '')}"
            return results
        results["success"] = True
        results["error_code"] = None
        results["message"] = None
        failed = int(info.get("numberRecordsFailed") or 0)
        processed = int(info.get("numberRecordsProcessed") or 0)
        match_on = key or list(chunk.columns)
        lookup = self._row_lookup(body, chunk.index, match_on) if failed or processed < len(chunk) else {}
        if failed:
            text = self._request(
                "GET", f"jobs/ingest/{job_id}/failedResults", headers={"Accept": "text/csv"}
            ).text
            for row in csv.DictReader(io.StringIO(text)):
                idx = lookup.get(self._row_key(row, match_on))
                if idx is None:
                    continue
                code, message = _split_error(row.get("sf__Error", ""))
                results.loc[idx, RESULT_COLUMNS] = [False, row.get("sf__Id") or None, None, code, message]
        if processed < len(chunk):
            text = self._request(
                "GET", f"jobs/ingest/{job_id}/unprocessedRecords", headers={"Accept": "text/csv"}
            ).text
            for row in csv.DictReader(io.StringIO(text)):
                idx = lookup.get(self._row_key(row, match_on))
                if idx is not None:
                    results.loc[idx, RESULT_COLUMNS] = [
                        False,
                        None,
                        None,
                        NOT_PROCESSED,
                        "unprocessed by Bulk",
                    ]
        return results

    @staticmethod
    def _row_key(row: dict[str, Any], match_on: str | list[str]) -> Any:
        if isinstance(match_on, str):
            return str(row.get(match_on, ""))
        return tuple(str(row.get(c, "")) for c in match_on)

    @classmethod
    def _row_lookup(cls, body: bytes, index: pd.Index, match_on: str | list[str]) -> dict[Any, Any]:
        """Row key (as the CSV we sent spells it, which is what Bulk results echo) → the chunk's index."""
        rows = csv.DictReader(io.StringIO(body.decode()))
        return {cls._row_key(row, match_on): idx for row, idx in zip(rows, index, strict=True)}
