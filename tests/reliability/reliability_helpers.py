"""Helpers of the reliability suite: normalised sandbox snapshots, fault bookkeeping and DAG runs.

Snapshots of a run under faults are compared with the fault-free run of the same scenario. Ids that a
sandbox hands out (Salesforce 18-character ids, LogiSense integer identities) and timestamps differ
legitimately between two runs, so they are replaced by stable labels derived from the records' content
(two passes, so a record's label also reflects what it points at). Everything else must match exactly.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.opportunity.world import World

logger = logging.getLogger("reliability")

SF_ID = re.compile(r"^[a-zA-Z0-9]{3}[a-zA-Z0-9]{12}([a-zA-Z0-9]{3})?$")
# Fields that legitimately differ between two runs of the same scenario.
VOLATILE_FIELDS = frozenset(
    {
        # Salesforce audit fields
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
        "LastViewedDate",
        "LastReferencedDate",
        "LastActivityDate",
        # the request's bookkeeping of *which* run and when
        "Completed_At__c",
        "Airflow_Run_Id__c",
        "Claimed_At__c",
        # LogiSense audit fields
        "created",
        "updated",
    }
)
# Salesforce fields holding a LogiSense identity (as text).
LS_ID_TEXT_FIELDS = frozenset(
    {"LogiSense_Account_Id__c", "LogiSense_Contact_Id__c", "LogiSense_Price_Plan_Id__c"}
)


def _is_sf_id(value: Any, ids: set[str]) -> bool:
    return isinstance(value, str) and value in ids


def _relabel(tables: dict[str, list[dict[str, Any]]], id_key: str, is_ref: Any) -> list[list[str]]:
    """Content-sorted records with ids replaced by labels; returns one sorted list of JSON rows per table."""
    labels: dict[Any, str] = {}

    def render(record: dict[str, Any]) -> str:
        out: dict[str, Any] = {}
        for key, value in record.items():
            if key in VOLATILE_FIELDS or key == id_key:
                continue
            out[key] = _sub(key, value)
        return json.dumps(out, sort_keys=True, default=str)

    def _sub(key: str, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _sub(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [_sub(key, v) for v in value]
        if is_ref(key, value):
            return labels.get((key, value), labels.get(value, "@?"))
        return value

    rendered: dict[str, list[str]] = {}
    for _ in range(3):
        new_labels: dict[Any, str] = {}
        for table, records in tables.items():
            keyed = sorted(((render(r), r[id_key]) for r in records if id_key in r), key=lambda t: t[0])
            for rank, (_text, ident) in enumerate(keyed):
                new_labels[ident] = f"@{table}#{rank}"
            rendered[table] = [text for text, _ in keyed]
        labels = new_labels
    return [[table, *rows] for table, rows in sorted(rendered.items())]


def normalise_salesforce(snapshot: dict[str, Any]) -> list[list[str]]:
    """A Salesforce sandbox snapshot with ids and audit timestamps replaced by content-derived labels."""
    tables: dict[str, list[dict[str, Any]]] = snapshot["records"]
    ids = {r["Id"] for records in tables.values() for r in records}
    return _relabel(tables, "Id", lambda key, value: _is_sf_id(value, ids))


# LogiSense foreign keys → the route they point at (objects the opportunity sync creates, and their parents).
LS_REFERENCES = {
    "accountId": "Account",
    "parentAccountId": "Account",
    "invoicerAccountId": "Account",
    "usageInvoicerAccountId": "Account",
    "taxAccountId": "Account",
    "topAccountId": "Account",
    "contactId": "Contact",
    "accountProductCodeId": "Account/ProductCode",
    "accountPackageId": "Account/Package",
    "accountPricePlanId": "Account/PricePlan",
    "packageServicePricePlanId": "Package/Service/PricePlan",
}


def normalise_pair(sf_snapshot: dict[str, Any], ls_snapshot: dict[str, Any]) -> list[list[str]]:
    """Both sandboxes' snapshots as one comparable value.

    LogiSense identities of the objects the sync creates are replaced by content-derived labels (so a
    duplicate created and removed again, which leaves a gap in the identities, compares equal), and the
    Salesforce fields holding those identities get the same labels; Salesforce ids are relabelled too.
    """
    ls_tables: dict[str, list[dict[str, Any]]] = {k: [dict(r) for r in v] for k, v in ls_snapshot.items()}
    relabelled = set(LS_REFERENCES.values()) | {"Contact/Point", "Account/Parent", "Account/Service"}
    relabelled |= {"Package/Service/PricePlan/Recurring", "Package/Service/PricePlan/OneTime"}
    labels: dict[tuple[str, int], str] = {}

    def render(route: str, record: dict[str, Any]) -> str:
        out = {}
        for key, value in record.items():
            if key in VOLATILE_FIELDS or (key == "identity" and route in relabelled):
                continue
            target = LS_REFERENCES.get(key)
            if target and isinstance(value, int):
                value = labels.get((target, value), f"@{target}?")
            out[key] = value
        return json.dumps(out, sort_keys=True, default=str)

    rendered: dict[str, list[str]] = {}
    for _ in range(3):
        new: dict[tuple[str, int], str] = {}
        for route, rows in ls_tables.items():
            keyed = sorted(((render(route, r), r["identity"]) for r in rows), key=lambda t: t[0])
            if route in relabelled:
                for rank, (_t, ident) in enumerate(keyed):
                    new[(route, ident)] = f"@{route}#{rank}"
            rendered[route] = [t for t, _ in keyed]
        labels = new
    sf = {"records": {k: [dict(r) for r in v] for k, v in sf_snapshot["records"].items()}}
    text_targets = {
        "LogiSense_Account_Id__c": "Account",
        "LogiSense_Contact_Id__c": "Contact",
        "LogiSense_Price_Plan_Id__c": "Account/PricePlan",
    }
    for records in sf["records"].values():
        for record in records:
            for field_name, target in text_targets.items():
                value = record.get(field_name)
                if value and str(value).isdigit():
                    record[field_name] = labels.get((target, int(value)), f"@{target}?{value}")
    return [["LS " + route, *rows] for route, rows in sorted(rendered.items())] + normalise_salesforce(sf)


def normalise_logisense(snapshot: dict[str, Any]) -> list[list[str]]:
    """A LogiSense sandbox snapshot with audit timestamps dropped (identities kept)."""
    return [
        [route, *sorted(json.dumps(_drop(r), sort_keys=True, default=str) for r in rows)]
        for route, rows in sorted(snapshot.items())
    ]


def _drop(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in VOLATILE_FIELDS}


def diff(before: list[list[str]], after: list[list[str]], limit: int = 12) -> list[str]:
    """Human-readable differences between two normalised snapshots (empty if equal)."""
    out: list[str] = []
    left = {t[0]: Counter(t[1:]) for t in before}
    right = {t[0]: Counter(t[1:]) for t in after}
    for table in sorted(set(left) | set(right)):
        missing = left.get(table, Counter()) - right.get(table, Counter())
        extra = right.get(table, Counter()) - left.get(table, Counter())
        out += [f"{table}: missing {row}" for row in missing.elements()]
        out += [f"{table}: extra   {row}" for row in extra.elements()]
    return out[:limit] + ([f"... {len(out) - limit} more"] if len(out) > limit else [])


@dataclass
class FaultLedger:
    """Faults injected per scenario, printed in the test output and kept for the reliability figures."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, scenario: str, salesforce: dict[str, int], logisense: dict[str, int], **extra: Any) -> None:
        """Record what one scenario injected (``/__sandbox__/requests`` → ``injected`` of each sandbox)."""
        row = {"scenario": scenario, "salesforce": salesforce, "logisense": logisense, **extra}
        self.rows.append(row)
        total = sum(salesforce.values()) + sum(logisense.values())
        logger.warning("faults injected in %s: %d %s", scenario, total, json.dumps(row, sort_keys=True))


LEDGER = FaultLedger()


def write_calls(requests: dict[str, Any]) -> int:
    """Data-changing calls recorded by a sandbox (logins excluded)."""
    return sum(
        n
        for route, n in requests["by_route"].items()
        if route.split(" ", 1)[0] in {"POST", "PUT", "PATCH", "DELETE"}
        and not any(p in route for p in ("/oauth2/", "/Soap/", "/Access/Login", "/Search", "/query"))
    )


def acme_hierarchy_deal(w: World) -> str:
    """Queue the crash scenarios' deal: a child account invoiced by its parent, contacts on both, a package
    with a per-service quantity override. Returns the request id."""
    top = w.account("Acme Group")
    child = w.account("Acme EU", parent=top, Subscription_Invoicer__c=top)
    w.contact(top, "Smith", contact_type="Billing")
    w.contact(child, "Jones", contact_type="Primary")
    opp, lines = w.opportunity(child, name="Acme EU PBX", lines=[(1, 90), (2, 120)])
    w.override(opp, lines[1], "Seat", quantity=3)
    return w.request(opportunity=opp)
