"""The Closed:Won sync: claim queued requests, then validate, provision and write back each one in isolation.

Stages (each in ``pipelines/opportunity/``): ``claim`` (a lease on ``LogiSense_Request__c``), ``extract``
(read the deal), :func:`logisense_sync.transforms.opportunity.validate_deal` (every rule, every violation),
``provision.plan_deal`` (resolve to LogiSense ids, still read-only), ``provision.Provisioner`` (idempotent
writes, parents first) and ``writeback`` (ids, then the request's outcome).

Failure policy per request:

* a rule violation, or LogiSense / Salesforce refusing a write for a permanent reason: the request is
  ``Failed`` with every reason in ``Message__c``; nothing is written to LogiSense when validation fails;
* a transient error (LogiSense 429/5xx after the client's retries, Salesforce lock or limit errors): the
  request goes back to ``Waiting`` (retried by Airflow, then by later sweeps) until ``max_attempts`` claims,
  then ``Failed``; the error is re-raised so the unit shows it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from logisense_sync.clients.logisense import LogiSenseClient, LogiSenseError
from logisense_sync.clients.salesforce import RequestLimitExceeded, SalesforceClient
from logisense_sync.errors import FatalError, RetriableError, SyncError
from logisense_sync.pipelines.opportunity.claim import QueuedRequest, claim_requests, find_candidates, hold
from logisense_sync.pipelines.opportunity.extract import LogiSenseReferences, read_deal
from logisense_sync.pipelines.opportunity.provision import CatalogueLookup, Provisioner, plan_deal
from logisense_sync.pipelines.opportunity.settings import OpportunitySyncSettings
from logisense_sync.pipelines.opportunity.writeback import finish_request, write_ids
from logisense_sync.transforms.opportunity import RequestStatus, RequestType, SyncStatus, validate_deal

logger = logging.getLogger(__name__)

__all__ = [
    "Outcome",
    "RequestOutcome",
    "UnitResult",
    "claim",
    "summarize",
    "sync_request",
    "sync_unit",
    "units",
]


class Outcome(StrEnum):
    """What happened to one request in one run."""

    COMPLETED = "completed"
    FAILED = "failed"
    RETRY = "retry"
    SKIPPED = "skipped"
    WOULD_SYNC = "would_sync"
    WOULD_FAIL = "would_fail"


@dataclass
class RequestOutcome:
    """The result of one unit of work (small: it travels through XCom)."""

    request_id: str
    label: str
    outcome: Outcome
    message: str
    problems: list[str] = field(default_factory=list)
    logisense: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return data


def claim(
    sf: SalesforceClient,
    run_id: str,
    request_ids: Sequence[str],
    settings: OpportunitySyncSettings,
    *,
    dry_run: bool = False,
) -> tuple[list[QueuedRequest], list[str]]:
    """Take the requests this run will work (or, in a dry run, list them without claiming).

    Args:
        sf: the Salesforce client.
        run_id: the Airflow run id.
        request_ids: the ids asked for; empty = the queue.
        settings: the sync settings.
        dry_run: read only; claim nothing.

    Returns:
        (requests to work, notes about ids not taken).
    """
    if dry_run:
        import datetime as dt

        return find_candidates(sf, run_id, request_ids, settings, dt.datetime.now(dt.UTC))
    return claim_requests(sf, run_id, request_ids, settings)


def units(requests: Sequence[QueuedRequest], max_units: int) -> list[dict[str, Any]]:
    """Split claimed requests into units of work for dynamic task mapping (small dicts: ids and a label).

    Up to ``max_units`` requests get a unit each, labelled with the opportunity or account (a button click is
    one unit named after its opportunity). A larger sweep is split into ``max_units`` batches of consecutive
    requests, each labelled with its first and last opportunity and its size, so scheduling overhead stays
    bounded while every request is still worked in isolation inside its unit.

    Args:
        requests: the claimed requests, in queue order.
        max_units: the most units to create.

    Returns:
        ``[{"request_ids": [...], "label": "..."}]``.
    """
    if not requests:
        return []
    size = -(-len(requests) // max(1, max_units))
    out: list[dict[str, Any]] = []
    for start in range(0, len(requests), size):
        batch = requests[start : start + size]
        if len(batch) == 1:
            label = batch[0].label
        else:
            label = f"{len(batch)} requests: {batch[0].label} ... {batch[-1].label}"
        out.append({"request_ids": [r.id for r in batch], "label": label[:250]})
    return out


@dataclass
class UnitCache:
    """LogiSense reference data and catalogue lookups shared by the requests of one unit (read once)."""

    refs: LogiSenseReferences | None = None
    catalogue: CatalogueLookup | None = None

    def get(self, ls: LogiSenseClient) -> tuple[LogiSenseReferences, CatalogueLookup]:
        """Return the references and the catalogue lookup, reading them on first use."""
        if self.refs is None or self.catalogue is None:
            self.refs, self.catalogue = LogiSenseReferences.read(ls), CatalogueLookup(ls)
        return self.refs, self.catalogue


@dataclass
class UnitResult:
    """The outcomes of one unit and what went wrong in it."""

    outcomes: list[RequestOutcome] = field(default_factory=list)
    transient: list[str] = field(default_factory=list)
    """Requests put back to ``Waiting`` after a transient error (label: error)."""

    @property
    def failed(self) -> list[RequestOutcome]:
        """Requests that failed for good in this unit."""
        return [o for o in self.outcomes if o.outcome == Outcome.FAILED]


def sync_unit(
    sf: SalesforceClient,
    ls: LogiSenseClient,
    request_ids: Sequence[str],
    run_id: str,
    settings: OpportunitySyncSettings,
    *,
    dry_run: bool = False,
) -> UnitResult:
    """Work the requests of one unit one after the other; one request's failure never stops the next.

    Args:
        sf: the Salesforce client.
        ls: the LogiSense client.
        request_ids: the unit's requests.
        run_id: the Airflow run id.
        settings: the sync settings.
        dry_run: validate and plan only.

    Returns:
        Every outcome, and the transient errors (those requests went back to ``Waiting``).
    """
    result = UnitResult()
    cache = UnitCache()
    for request_id in request_ids:
        try:
            result.outcomes.append(
                sync_request(sf, ls, request_id, run_id, settings, dry_run=dry_run, cache=cache)
            )
        except RetriableError as exc:
            logger.warning("%s: transient error, back to Waiting: %s", request_id, exc)
            result.transient.append(f"{request_id}: {exc}")
        except Exception as exc:  # isolation: a bug on one deal must not stop the others in the unit
            logger.exception("%s: unexpected error", request_id)
            result.outcomes.append(_crashed(sf, request_id, run_id, exc, dry_run=dry_run))
    return result


def _crashed(
    sf: SalesforceClient, request_id: str, run_id: str, exc: Exception, *, dry_run: bool
) -> RequestOutcome:
    """Record an unexpected error on the request (best effort) and report it as a failure."""
    message = (
        f"The sync stopped on an unexpected error ({type(exc).__name__}: {exc}). Nothing more was changed for "
        f"this request; ask an administrator to look at Airflow run {run_id}, then press the button again."
    )
    if not dry_run:
        try:
            finish_request(sf, request_id, run_id, RequestStatus.FAILED, message)
        except SyncError as inner:
            logger.warning("%s: could not record the failure (%s); the lease will expire", request_id, inner)
    return RequestOutcome(request_id, request_id, Outcome.FAILED, message, [repr(exc)])


def _failure_message(problems: Sequence[str]) -> str:
    lines = "\n".join(f"- {p}" for p in problems)
    return f"Not sent to LogiSense: {len(problems)} problem(s) to fix, then press the button again.\n{lines}"


def _refused_message(exc: SyncError) -> str:
    if isinstance(exc, LogiSenseError):
        reasons = "; ".join(m for m in exc.messages if "Transaction rolled back" not in m) or str(exc)
        return (
            f"LogiSense refused the change: {reasons}. What was created before stays in LogiSense and is "
            "reused when the request is sent again."
        )
    return f"The sync stopped: {exc}"


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, RetriableError | RequestLimitExceeded)


def sync_request(
    sf: SalesforceClient,
    ls: LogiSenseClient,
    request_id: str,
    run_id: str,
    settings: OpportunitySyncSettings,
    *,
    dry_run: bool = False,
    on_write: Callable[[str, str], None] | None = None,
    cache: UnitCache | None = None,
) -> RequestOutcome:
    """Work one request from start to end, in isolation from every other request.

    Args:
        sf: the Salesforce client.
        ls: the LogiSense client.
        request_id: the ``LogiSense_Request__c`` id.
        run_id: the Airflow run id (the claim holder).
        settings: the sync settings.
        dry_run: validate and plan, write nothing anywhere.
        on_write: called before every LogiSense write (tests inject crashes with it).
        cache: reference data shared with the other requests of the unit.

    Returns:
        The outcome (``completed``, ``failed``, ``skipped``, ``would_sync``, ``would_fail``).

    Raises:
        RetriableError: a transient error; the request went back to ``Waiting`` (or stays ``Processing``
            under this run's lease when even that write failed) and may be retried.
        SyncError: a failure that could not even be recorded on the request.
    """
    if dry_run:
        from logisense_sync.pipelines.opportunity.claim import read_requests

        req = read_requests(sf, [request_id]).get(request_id)
    else:
        req = hold(sf, request_id, run_id, settings, f"Processing in Airflow run {run_id}.")
    if req is None:
        return RequestOutcome(
            request_id, request_id, Outcome.SKIPPED, "held by another run, finished or gone"
        )
    label = req.label
    opp_id = req.opportunity_id if req.type != RequestType.ACCOUNT else None
    try:
        if opp_id and not dry_run:
            finish_opp = [{"Id": opp_id, "LogiSense_Sync_Status__c": SyncStatus.PROCESSING.value}]
            from logisense_sync.pipelines.opportunity.writeback import update_rows

            update_rows(sf, "Opportunity", finish_opp)
        refs, catalogue = (cache or UnitCache()).get(ls)
        deal, existing = read_deal(sf, ls, req, refs)
        if req.type == RequestType.ACCOUNT and not deal.account_id:
            problems = ["The request names no account."]
        elif req.type is None:
            problems = ["The request has no Type (Opportunity or Account)."]
        else:
            problems = validate_deal(
                deal, settings.processes, price_tolerance=Decimal(str(settings.price_tolerance))
            )
        process = None
        if deal.opportunity is not None and deal.opportunity.type:
            process = settings.processes.get(deal.opportunity.type)
        if not problems:
            plan, problems = plan_deal(deal, refs, catalogue, process)
        if problems:
            message = _failure_message(problems)
            if dry_run:
                return RequestOutcome(request_id, label, Outcome.WOULD_FAIL, message, problems)
            finish_request(
                sf, request_id, run_id, RequestStatus.FAILED, message,
                opportunity_id=opp_id, opportunity_status=SyncStatus.FAILED,
            )  # fmt: skip
            logger.info("%s failed validation: %s", label, "; ".join(problems))
            return RequestOutcome(request_id, label, Outcome.FAILED, message, problems)
        if dry_run:
            what = f"{len(plan.accounts)} account(s), {len(deal.contacts)} contact(s), "
            what += f"{len(plan.lines)} product(s)"
            how = f" as {process.value}" if process else ""
            return RequestOutcome(request_id, label, Outcome.WOULD_SYNC, f"Would sync {what}{how}.")
        result = Provisioner(ls, refs, deal, existing, on_write=on_write).run(plan)
        write_ids(sf, deal, result)
        account_ls = result.accounts.get(deal.account_id or "")
        message = f"Synced to LogiSense (account {account_ls}"
        if result.price_plan_id is not None:
            message += f", price plan {result.price_plan_id}"
        message += f"): {result.summary()}."
        finish_request(sf, request_id, run_id, RequestStatus.COMPLETED, message)
        return RequestOutcome(
            request_id,
            label,
            Outcome.COMPLETED,
            message,
            logisense={
                "accounts": result.accounts,
                "contacts": result.contacts,
                "price_plan_id": result.price_plan_id,
                "account_packages": result.account_packages,
            },
        )
    except SyncError as exc:
        if dry_run:
            raise
        if _is_transient(exc):
            return _transient(sf, req, run_id, settings, exc, opp_id)
        if isinstance(exc, FatalError):
            message = _refused_message(exc)
            finish_request(
                sf, request_id, run_id, RequestStatus.FAILED, message,
                opportunity_id=opp_id, opportunity_status=SyncStatus.FAILED,
            )  # fmt: skip
            logger.warning("%s failed: %s", label, exc)
            return RequestOutcome(request_id, label, Outcome.FAILED, message, [str(exc)])
        raise


def _transient(
    sf: SalesforceClient,
    req: QueuedRequest,
    run_id: str,
    settings: OpportunitySyncSettings,
    exc: SyncError,
    opp_id: str | None,
) -> RequestOutcome:
    attempts = req.attempts
    if attempts >= settings.max_attempts:
        message = (
            f"Gave up after {attempts} attempts; the last one failed on a temporary problem: {exc}. "
            "Press the button again when LogiSense and Salesforce are reachable."
        )
        finish_request(
            sf, req.id, run_id, RequestStatus.FAILED, message,
            opportunity_id=opp_id, opportunity_status=SyncStatus.FAILED,
        )  # fmt: skip
        return RequestOutcome(req.id, req.label, Outcome.FAILED, message, [str(exc)])
    message = f"Temporary problem on attempt {attempts} of {settings.max_attempts}; will retry: {exc}"
    try:
        finish_request(
            sf, req.id, run_id, RequestStatus.WAITING, message,
            opportunity_id=opp_id, opportunity_status=SyncStatus.WAITING,
        )  # fmt: skip
    except SyncError as inner:
        logger.warning(
            "%s: could not put the request back to Waiting (%s); it stays Processing until its lease expires",
            req.label,
            inner,
        )
    raise exc


def summarize(outcomes: Sequence[dict[str, Any]], notes: Sequence[str] = ()) -> dict[str, Any]:
    """Count the outcomes of a run.

    Args:
        outcomes: :meth:`RequestOutcome.to_dict` results (units that crashed have none).
        notes: notes from the claim.

    Returns:
        ``{"counts": {...}, "failed": [...], "notes": [...]}``.
    """
    counts: dict[str, int] = {}
    failed: list[str] = []
    for item in outcomes:
        counts[item["outcome"]] = counts.get(item["outcome"], 0) + 1
        if item["outcome"] in (Outcome.FAILED, Outcome.WOULD_FAIL):
            failed.append(f"{item['label']}: {item['message']}")
    return {"counts": counts, "failed": failed, "notes": list(notes)}
