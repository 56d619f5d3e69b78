"""Writing the outcome back to Salesforce: LogiSense ids on the records, then the request's status.

The request is always written last: if anything before it fails, the request stays ``Processing`` (or goes
back to ``Waiting``) and a rerun, finding every LogiSense object by its marker, writes the same ids again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd
from logisense_sync.clients.salesforce import SalesforceClient
from logisense_sync.errors import FatalError, RetriableError
from logisense_sync.pipelines.opportunity.provision import ProvisionResult
from logisense_sync.transforms.opportunity import Deal, RequestStatus, SyncStatus

logger = logging.getLogger(__name__)

#: Per-record Salesforce error codes that mean "try again later".
TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "API_TEMPORARILY_UNAVAILABLE"})
#: Longest ``Message__c`` written (the field is a long text area; keep it readable).
MAX_MESSAGE = 32000


class SalesforceWriteError(FatalError):
    """Salesforce refused a write-back row for a permanent reason."""


class SalesforceBusyError(RetriableError):
    """Salesforce refused a write-back row transiently (lock contention, API limit)."""


def update_rows(sf: SalesforceClient, sobject: str, rows: Sequence[dict[str, Any]]) -> None:
    """Update records and raise if any row failed.

    Args:
        sf: the Salesforce client.
        sobject: the object's API name.
        rows: dicts with ``Id`` and the fields to set.

    Raises:
        SalesforceBusyError: a row failed with a transient code.
        SalesforceWriteError: a row failed otherwise.
    """
    if not rows:
        return
    results = sf.update(sobject, pd.DataFrame(list(rows)))
    failed = results[~results["success"].astype(bool)]
    if failed.empty:
        return
    codes = sorted({str(c) for c in failed["error_code"].dropna()})
    msg = (
        f"{sobject}: Salesforce refused {len(failed)} of {len(rows)} updates ({', '.join(codes)}): "
        + "; ".join(str(m) for m in failed["message"].dropna().head(3))
    )
    if set(codes) & TRANSIENT_CODES:
        raise SalesforceBusyError(msg)
    raise SalesforceWriteError(msg)


def now_utc() -> str:
    """The current time as a Salesforce datetime literal (UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def write_ids(sf: SalesforceClient, deal: Deal, result: ProvisionResult) -> None:
    """Write the LogiSense ids onto Account, Contact and Opportunity (only where they changed).

    Args:
        sf: the Salesforce client.
        deal: the deal (current Salesforce values).
        result: what provisioning produced.
    """
    accounts = [
        {"Id": sf_id, "LogiSense_Account_Id__c": str(ls_id)}
        for sf_id, ls_id in result.accounts.items()
        if deal.accounts[sf_id].logisense_id != str(ls_id)
    ]
    update_rows(sf, "Account", accounts)
    by_id = {c.id: c for c in deal.contacts}
    contacts = [
        {"Id": sf_id, "LogiSense_Contact_Id__c": str(ls_id)}
        for sf_id, ls_id in result.contacts.items()
        if by_id[sf_id].logisense_id != str(ls_id)
    ]
    update_rows(sf, "Contact", contacts)
    if deal.opportunity is not None:
        row: dict[str, Any] = {"Id": deal.opportunity.id, "LogiSense_Sync_Status__c": SyncStatus.SYNCED.value}
        if result.price_plan_id is not None:
            row["LogiSense_Price_Plan_Id__c"] = str(result.price_plan_id)
        update_rows(sf, "Opportunity", [row])


def finish_request(
    sf: SalesforceClient,
    request_id: str,
    run_id: str,
    status: RequestStatus,
    message: str,
    *,
    opportunity_id: str | None = None,
    opportunity_status: SyncStatus | None = None,
) -> None:
    """Set the request's outcome (and the opportunity's sync status).

    Args:
        sf: the Salesforce client.
        request_id: the request.
        run_id: this run's id (kept on the request for tracing).
        status: ``Completed``, ``Failed`` or ``Waiting`` (retry later).
        message: what happened, for the rep.
        opportunity_id: the opportunity whose ``LogiSense_Sync_Status__c`` changes with the request, if any.
        opportunity_status: the opportunity's new sync status.
    """
    if opportunity_id and opportunity_status is not None:
        update_rows(
            sf, "Opportunity", [{"Id": opportunity_id, "LogiSense_Sync_Status__c": opportunity_status.value}]
        )
    row: dict[str, Any] = {
        "Id": request_id,
        "Status__c": status.value,
        "Message__c": message[:MAX_MESSAGE],
        "Airflow_Run_Id__c": run_id,
        "Completed_At__c": now_utc() if status in (RequestStatus.COMPLETED, RequestStatus.FAILED) else None,
    }
    update_rows(sf, "LogiSense_Request__c", [row])
