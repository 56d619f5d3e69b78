"""Claiming ``LogiSense_Request__c`` records so that two runs never work the same request.

Salesforce offers no compare-and-set on a field, so the claim is a *lease* taken with Fischer's timed
mutual-exclusion protocol:

1. **Read** the candidates: ``Waiting`` requests (or the ``request_ids`` given), plus ``Processing`` ones
   whose lease expired (``LastModifiedDate`` older than ``lease_seconds``: the run that held them died), plus
   those this run already holds (an Airflow retry of the same run).
2. **Write** the claim: ``Status__c = Processing``, ``Airflow_Run_Id__c = <run id>``, ``Attempts__c + 1``. The
   write itself refreshes ``LastModifiedDate``, which *is* the lease.
3. **Wait** ``claim_settle_seconds`` (longer than any claim write takes), then **re-read** and keep only the
   requests that still carry this run's id. A run that read the same ``Waiting`` request concurrently wrote
   its id either before our re-read (we see its id and drop the request) or, if its write were slower than the
   settle time, after it; that run checks again when its unit starts (:func:`hold`) and gives the request up.
   The last line of defence is the provisioning itself: every LogiSense object is looked up by its
   ``extensions.sfdcid`` marker before it is created and de-duplicated right after, so even a request worked
   twice creates one set of objects.

A unit renews its lease when it starts (:func:`hold`), so a request waiting in a long run's queue is not taken
over while its unit is still to come; ``lease_seconds`` must exceed the longest time a unit takes.

A dry run claims nothing: it reads the same candidates and leaves every record as it is.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from logisense_sync.clients.salesforce import SalesforceApiError, SalesforceClient
from logisense_sync.clients.soql import format_soql
from logisense_sync.errors import RetriableError
from logisense_sync.pipelines.opportunity.settings import OpportunitySyncSettings
from logisense_sync.transforms.opportunity import RequestStatus, RequestType

logger = logging.getLogger(__name__)

REQUEST_FIELDS = (
    "Id, Name, Type__c, Status__c, Opportunity__c, Opportunity__r.Name, Account__c, Account__r.Name, "
    "Airflow_Run_Id__c, Attempts__c, LastModifiedDate"
)


@dataclass(frozen=True)
class QueuedRequest:
    """A ``LogiSense_Request__c`` as read from Salesforce."""

    id: str
    name: str
    type: RequestType | None
    status: str | None
    opportunity_id: str | None
    opportunity_name: str | None
    account_id: str | None
    account_name: str | None
    run_id: str | None
    attempts: int
    last_modified: dt.datetime | None

    @property
    def label(self) -> str:
        """What the Airflow UI shows for this unit of work (map index)."""
        if self.type == RequestType.ACCOUNT:
            what = f"Account {self.account_name or self.account_id}"
        else:
            what = f"Opportunity {self.opportunity_name or self.opportunity_id}"
        return f"{what} ({self.name})"

    def to_xcom(self) -> dict[str, Any]:
        """The small dict handed to the mapped unit (ids and a label only)."""
        return {"request_id": self.id, "label": self.label}


def _parse_datetime(value: Any) -> dt.datetime | None:
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]  # Salesforce writes +0000
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def request_from_record(record: dict[str, Any]) -> QueuedRequest:
    """Turn a flat SOQL record of ``LogiSense_Request__c`` into a :class:`QueuedRequest`.

    Args:
        record: a record from :meth:`SalesforceClient.query` selecting :data:`REQUEST_FIELDS`.

    Returns:
        The typed request.
    """
    raw_type = record.get("Type__c")
    try:
        req_type: RequestType | None = RequestType(raw_type) if raw_type else None
    except ValueError:
        req_type = None
    if req_type is None:
        req_type = RequestType.OPPORTUNITY if record.get("Opportunity__c") else None
        if req_type is None and record.get("Account__c"):
            req_type = RequestType.ACCOUNT
    return QueuedRequest(
        id=str(record["Id"]),
        name=str(record.get("Name") or record["Id"]),
        type=req_type,
        status=record.get("Status__c"),
        opportunity_id=record.get("Opportunity__c"),
        opportunity_name=record.get("Opportunity__r.Name"),
        account_id=record.get("Account__c"),
        account_name=record.get("Account__r.Name"),
        run_id=record.get("Airflow_Run_Id__c"),
        attempts=int(float(record.get("Attempts__c") or 0)),
        last_modified=_parse_datetime(record.get("LastModifiedDate")),
    )


def read_requests(sf: SalesforceClient, request_ids: Sequence[str]) -> dict[str, QueuedRequest]:
    """Read requests by id.

    Args:
        sf: the Salesforce client.
        request_ids: 18-character ids.

    Returns:
        The requests found, by id (missing ids are left out).
    """
    found: dict[str, QueuedRequest] = {}
    ids = list(dict.fromkeys(request_ids))
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        try:
            records = list(sf.query(_by_ids(chunk)))
        except SalesforceApiError as exc:
            if exc.error_code not in BAD_ID_CODES:
                raise
            # one malformed id spoils the whole IN list: ask one by one and leave the bad ones out
            records = []
            for rid in chunk:
                try:
                    records += list(sf.query(_by_ids([rid])))
                except SalesforceApiError as inner:
                    if inner.error_code not in BAD_ID_CODES:
                        raise
                    logger.warning("%s is not a valid LogiSense_Request__c id: %s", rid, inner)
        for record in records:
            req = request_from_record(record)
            found[req.id] = req
    return found


#: Salesforce error codes for an id that is not an id of the object.
BAD_ID_CODES = frozenset({"INVALID_QUERY_FILTER_OPERATOR", "MALFORMED_ID", "INVALID_ID_FIELD"})


def _by_ids(ids: list[str]) -> str:
    return format_soql("SELECT " + REQUEST_FIELDS + " FROM LogiSense_Request__c WHERE Id IN {ids}", ids=ids)


def is_claimable(req: QueuedRequest, run_id: str, now: dt.datetime, lease_seconds: int) -> bool:
    """Tell whether ``run_id`` may take ``req``.

    Args:
        req: the request as read.
        run_id: this run's id.
        now: the current time (UTC).
        lease_seconds: how long a ``Processing`` request stays with the run that claimed it.

    Returns:
        True for ``Waiting`` requests, requests this run already holds, and ``Processing`` requests whose
        lease expired.
    """
    if req.status in (None, RequestStatus.WAITING):
        return True
    if req.status != RequestStatus.PROCESSING:
        return False
    if req.run_id == run_id:
        return True
    if req.last_modified is None:
        return True
    return (now - req.last_modified).total_seconds() >= lease_seconds


def find_candidates(
    sf: SalesforceClient,
    run_id: str,
    request_ids: Sequence[str],
    settings: OpportunitySyncSettings,
    now: dt.datetime,
) -> tuple[list[QueuedRequest], list[str]]:
    """Read what this run could claim.

    Args:
        sf: the Salesforce client.
        run_id: this run's id.
        request_ids: the ids asked for; empty = the queue.
        settings: lease and limit knobs.
        now: the current time (UTC).

    Returns:
        (claimable requests oldest first, notes on the ids asked for that cannot be claimed).
    """
    notes: list[str] = []
    if request_ids:
        found = read_requests(sf, request_ids)
        candidates = []
        for rid in dict.fromkeys(request_ids):
            req = found.get(rid)
            if req is None:
                notes.append(f"{rid}: no such LogiSense_Request__c")
            elif is_claimable(req, run_id, now, settings.lease_seconds):
                candidates.append(req)
            else:
                notes.append(f"{req.name} ({rid}): {req.status}, run {req.run_id or '-'}; not taken")
        return candidates, notes
    cutoff = now - dt.timedelta(seconds=settings.lease_seconds)
    soql = format_soql(
        "SELECT " + REQUEST_FIELDS + " FROM LogiSense_Request__c WHERE Status__c = {waiting} "
        "OR (Status__c = {processing} AND (LastModifiedDate < {cutoff} OR Airflow_Run_Id__c = {run_id})) "
        "ORDER BY CreatedDate ASC LIMIT " + str(int(settings.claim_limit)),
        waiting=RequestStatus.WAITING.value,
        processing=RequestStatus.PROCESSING.value,
        cutoff=cutoff,
        run_id=run_id,
    )
    return [request_from_record(r) for r in sf.query(soql)], notes


def _check_results(results: pd.DataFrame, what: str) -> list[str]:
    failed = results[~results["success"].astype(bool)]
    transient = {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "API_TEMPORARILY_UNAVAILABLE"}
    if failed.empty:
        return []
    codes = set(failed["error_code"].dropna())
    if codes & transient:
        msg = f"{what}: Salesforce refused {len(failed)} rows transiently ({', '.join(sorted(codes))})"
        raise RetriableError(msg)
    return [f"{what}: {row.error_code} {row.message}" for row in failed.itertuples()]


def claim_requests(
    sf: SalesforceClient,
    run_id: str,
    request_ids: Sequence[str],
    settings: OpportunitySyncSettings,
    *,
    now: Callable[[], dt.datetime] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[QueuedRequest], list[str]]:
    """Claim requests for ``run_id`` (see the module docstring for the protocol).

    Args:
        sf: the Salesforce client.
        run_id: this Airflow run's id (written to ``Airflow_Run_Id__c``).
        request_ids: the ids to claim; empty = every ``Waiting`` request (and expired leases).
        settings: lease, settle time and limit.
        now: the clock (UTC), for tests.
        sleep: replaces ``time.sleep`` (tests).

    Returns:
        (the requests this run now holds, notes about ids not taken).

    Raises:
        RetriableError: Salesforce refused the claim writes transiently.
    """
    clock = now or (lambda: dt.datetime.now(dt.UTC))
    candidates, notes = find_candidates(sf, run_id, request_ids, settings, clock())
    if not candidates:
        return [], notes
    rows = [
        {
            "Id": req.id,
            "Status__c": RequestStatus.PROCESSING.value,
            "Airflow_Run_Id__c": run_id,
            "Attempts__c": req.attempts
            if req.run_id == run_id and req.status == "Processing"
            else req.attempts + 1,
        }
        for req in candidates
    ]
    started = time.monotonic()
    results = sf.update("LogiSense_Request__c", pd.DataFrame(rows))
    notes += _check_results(results, "claim")
    elapsed = time.monotonic() - started
    if elapsed < settings.claim_settle_seconds:
        sleep(settings.claim_settle_seconds - elapsed)
    else:
        sleep(min(elapsed, 5.0))  # our write was slow: give a concurrent writer as long to show up
    after = read_requests(sf, [req.id for req in candidates])
    held: list[QueuedRequest] = []
    for req in candidates:
        now_req = after.get(req.id)
        if now_req is not None and now_req.run_id == run_id and now_req.status == RequestStatus.PROCESSING:
            held.append(now_req)
        else:
            notes.append(f"{req.name} ({req.id}): taken by run {now_req.run_id if now_req else '?'}")
    logger.info("run %s claimed %d of %d candidate requests", run_id, len(held), len(candidates))
    return held, notes


def hold(
    sf: SalesforceClient, request_id: str, run_id: str, settings: OpportunitySyncSettings, message: str
) -> QueuedRequest | None:
    """At the start of a unit: check that this run still holds the request and renew the lease.

    A request put back to ``Waiting`` by an earlier try of the same unit (transient error) is claimed again
    here, so an Airflow retry resumes it.

    Args:
        sf: the Salesforce client.
        request_id: the request.
        run_id: this run's id.
        settings: lease knobs.
        message: what ``Message__c`` says while the request is processed.

    Returns:
        The request (as it stands after renewal), or None when another run holds it or it is finished.
    """
    req = read_requests(sf, [request_id]).get(request_id)
    if req is None:
        return None
    if req.status in (None, RequestStatus.WAITING) or (
        req.status == RequestStatus.PROCESSING and req.run_id != run_id
    ):
        held, _ = claim_requests(sf, run_id, [request_id], settings)
        return held[0] if held else None
    if req.status != RequestStatus.PROCESSING or req.run_id != run_id:
        return None
    results = sf.update("LogiSense_Request__c", pd.DataFrame([{"Id": req.id, "Message__c": message}]))
    _check_results(results, "lease renewal")
    return req
