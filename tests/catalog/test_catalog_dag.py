"""The catalogue sync end to end: Airflow ``dag.test`` against both sandboxes, checked by SOQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from logisense_sync.clients.soql import format_soql

from tests.catalog.catalog_expected import charge, expected_catalog, money
from tests.catalog.catalog_helpers import LogiSenseApi, Run, SalesforceApi, catalog_asset_events, data_writes

ENTRY_SOQL = (
    "SELECT LogiSense_Id__c, UnitPrice, IsActive, CurrencyIsoCode, Pricebook2.LogiSense_Id__c, "
    "Product2.LogiSense_Id__c FROM PricebookEntry WHERE LogiSense_Id__c != null"
)
LINE_SOQL = (
    "SELECT LogiSense_Id__c, Service_Name__c, Charge_Type__c, Service_Status__c, Amount__c "
    "FROM Product_Service__c WHERE LogiSense_Id__c != null"
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _entries(sf: SalesforceApi) -> dict[str, dict[str, Any]]:
    return {
        r["LogiSense_Id__c"]: {
            "UnitPrice": money(r["UnitPrice"]),
            "IsActive": r["IsActive"],
            "Pricebook": r["Pricebook2"]["LogiSense_Id__c"],
            "Product": r["Product2"]["LogiSense_Id__c"],
            "CurrencyIsoCode": r["CurrencyIsoCode"],
        }
        for r in sf.query(ENTRY_SOQL)
    }


def _lines(sf: SalesforceApi) -> dict[str, tuple[Any, ...]]:
    return {
        r["LogiSense_Id__c"]: (
            r["Service_Name__c"],
            r["Charge_Type__c"],
            r["Service_Status__c"],
            charge(r["Amount__c"]),
        )
        for r in sf.query(LINE_SOQL)
    }


def _strip(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: {f: v for f, v in e.items() if f != "fallback"} for k, e in entries.items()}


def test_demo_catalogue_lands_exactly_as_mapped(
    run_sync: Callable[..., Run], logisense_api: LogiSenseApi, salesforce_api: SalesforceApi
) -> None:
    run = run_sync()

    assert run.state == "success", run.tasks
    want = expected_catalog(logisense_api, _now())
    products = {
        r["LogiSense_Id__c"]: {"Name": r["Name"], "ProductCode": r["ProductCode"], "IsActive": r["IsActive"]}
        for r in salesforce_api.query(
            "SELECT LogiSense_Id__c, Name, ProductCode, IsActive FROM Product2 WHERE LogiSense_Id__c != null"
        )
    }
    assert products == want["products"]
    assert _entries(salesforce_api) == _strip(want["entries"])
    assert _lines(salesforce_api) == want["lines"]
    books = salesforce_api.query("SELECT LogiSense_Id__c, Name, IsStandard FROM Pricebook2")
    standards = [b for b in books if b["IsStandard"]]
    assert len(standards) == 1, "the existing standard book is tagged, never a second one"
    assert standards[0]["LogiSense_Id__c"] == f"pb:{want['standard']}"
    assert {b["LogiSense_Id__c"] for b in books} == set(want["books"])
    assert run.report["ok"] is True
    assert run.report["planned"]["PricebookEntry"]["create"] == len(want["entries"])
    assert catalog_asset_events(run.run_id) == ["load"]


def test_rerun_with_nothing_changed_writes_nothing(
    run_sync: Callable[..., Run], sandboxes: tuple[Any, Any]
) -> None:
    sf_box = sandboxes[0]
    assert run_sync().state == "success"
    sf_box.clear_requests()

    again = run_sync()

    assert again.state == "success"
    assert data_writes(sf_box) == {}
    assert all(not ops for ops in again.report["planned"].values())


def test_price_change_updates_exactly_the_affected_entry_and_line(
    run_sync: Callable[..., Run], logisense_api: LogiSenseApi, salesforce_api: SalesforceApi
) -> None:
    assert run_sync().state == "success"
    before_entries, before_lines = _entries(salesforce_api), _lines(salesforce_api)
    plans = {p["identity"]: p for p in logisense_api.all("Package/Service/PricePlan")}
    row = next(
        r for r in logisense_api.all("Package/Service/PricePlan/Recurring")
        if r["serviceStatusTypeId"] == 1 and plans[r["packageServicePricePlanId"]].get("priceBookId") not in (None, 1)
    )  # fmt: skip
    logisense_api.patch("Package/Service/PricePlan/Recurring", row["identity"], {"amount": row["amount"] + 7})

    run = run_sync()

    assert run.state == "success", run.tasks
    want = expected_catalog(logisense_api, _now())
    after_entries, after_lines = _entries(salesforce_api), _lines(salesforce_api)
    assert after_entries == _strip(want["entries"])
    assert after_lines == want["lines"]
    changed_entries = {k for k in after_entries if after_entries[k] != before_entries[k]}
    changed_lines = {k for k in after_lines if after_lines[k] != before_lines[k]}
    assert len(changed_entries) == 1
    assert len(changed_lines) == 1
    assert run.report["planned"]["PricebookEntry"] == {"update": 1}
    assert run.report["planned"]["Product_Service__c"] == {"update": 1}
    assert run.report["drift"] == {}


def test_an_expired_package_deactivates_its_products_and_entries(
    run_sync: Callable[..., Run], logisense_api: LogiSenseApi, salesforce_api: SalesforceApi
) -> None:
    assert run_sync().state == "success"
    frequencies = logisense_api.all("Package/Frequency")
    package = next(
        p for p in logisense_api.all("Package")
        if not p.get("expiry") and any(f["packageId"] == p["identity"] and f["isActive"] for f in frequencies)
    )  # fmt: skip
    logisense_api.patch("Package", package["identity"], {"expiry": "2020-01-01T00:00:00Z"})
    keys = {f"pf:{f['identity']}" for f in frequencies if f["packageId"] == package["identity"]}

    run = run_sync()

    assert run.state == "success", run.tasks
    products = salesforce_api.query(
        "SELECT LogiSense_Id__c, IsActive FROM Product2 WHERE LogiSense_Id__c != null"
    )
    assert {p["LogiSense_Id__c"] for p in products if not p["IsActive"]} >= keys
    entries = _entries(salesforce_api)
    theirs = [e for e in entries.values() if e["Product"] in keys]
    assert theirs
    assert not any(e["IsActive"] for e in theirs)
    assert entries == _strip(expected_catalog(logisense_api, _now())["entries"])


def test_a_hand_edit_in_salesforce_is_reverted_and_counted_as_drift(
    run_sync: Callable[..., Run], salesforce_api: SalesforceApi
) -> None:
    assert run_sync().state == "success"
    entry = salesforce_api.query(
        "SELECT Id, LogiSense_Id__c, UnitPrice FROM PricebookEntry WHERE LogiSense_Id__c != null LIMIT 1"
    )[0]
    salesforce_api.sf.PricebookEntry.update(entry["Id"], {"UnitPrice": 1234.5})

    run = run_sync()

    assert run.state == "success"
    assert run.report["drift"] == {"PricebookEntry": 1}
    back = salesforce_api.query(
        format_soql("SELECT UnitPrice FROM PricebookEntry WHERE Id = {}", entry["Id"])
    )[0]
    assert money(back["UnitPrice"]) == money(entry["UnitPrice"])


def test_one_price_book_via_price_book_ids(
    run_sync: Callable[..., Run], logisense_api: LogiSenseApi, salesforce_api: SalesforceApi
) -> None:
    book = next(b for b in logisense_api.all("PriceBook") if not b["isStandard"])

    run = run_sync(price_book_ids=[book["identity"]])

    assert run.state == "success", run.tasks
    want = expected_catalog(logisense_api, _now(), books={book["identity"]})
    assert _entries(salesforce_api) == _strip(want["entries"])
    assert _lines(salesforce_api) == want["lines"]
    booked = {b["LogiSense_Id__c"] for b in salesforce_api.query("SELECT LogiSense_Id__c FROM Pricebook2")}
    assert booked == set(want["books"])


def test_dry_run_plans_everything_and_writes_nothing(
    run_sync: Callable[..., Run], sandboxes: tuple[Any, Any], salesforce_api: SalesforceApi
) -> None:
    run = run_sync(dry_run=True)

    assert run.state == "success", run.tasks
    assert run.tasks["load"] == "skipped"
    assert data_writes(sandboxes[0]) == {}
    assert salesforce_api.query("SELECT Id FROM Product2") == []
    assert run.report["dry_run"] is True
    assert run.report["planned"]["Product2"]["create"] > 0
    assert run.report["samples"]["PricebookEntry"]["create"]
    assert catalog_asset_events(run.run_id) == []


def test_transient_record_lock_errors_are_retried(
    run_sync: Callable[..., Run], sandboxes: tuple[Any, Any], salesforce_api: SalesforceApi
) -> None:
    sandboxes[0].faults(
        {"method": "PATCH", "path": "composite/sobjects/Product2", "count": 1, "record_error": "UNABLE_TO_LOCK_ROW",
         "record_rate": 0.5},
        seed=7,
    )  # fmt: skip

    run = run_sync()

    assert run.state == "success", run.report.get("failed")
    assert sandboxes[0].requests()["injected"].get("UNABLE_TO_LOCK_ROW") == 1
    assert len(salesforce_api.query("SELECT Id FROM Product2 WHERE LogiSense_Id__c != null")) == len(
        run.report["planned"]["Product2"] and [1] * run.report["planned"]["Product2"]["create"]
    )


def test_persistent_record_failures_fail_the_run_naming_them(
    run_sync: Callable[..., Run], sandboxes: tuple[Any, Any]
) -> None:
    sandboxes[0].faults(
        {"method": "PATCH", "path": "composite/sobjects/Pricebook2", "count": -1,
         "record_error": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "record_rate": 1.0},
    )  # fmt: skip

    run = run_sync()

    assert run.state == "failed"
    assert run.tasks["load"] == "failed"
    assert run.report["ok"] is False
    assert run.report["failed_total"] >= 2
    assert {f["object"] for f in run.report["failed"]} >= {"Pricebook2"}
    assert all(f["error_code"] for f in run.report["failed"])


def test_request_limit_stops_the_load_cleanly_with_done_and_remaining(
    run_sync: Callable[..., Run], sandboxes: tuple[Any, Any], salesforce_api: SalesforceApi
) -> None:
    sandboxes[0].faults(
        {"method": "PATCH", "path": "composite/sobjects/Product2", "count": -1, "status": 403,
         "error_code": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."},
    )  # fmt: skip

    run = run_sync()

    assert run.state == "failed"
    assert "request limit" in (run.report["stopped"] or "")
    assert run.report["done"]["Pricebook2"]["create"] == 2
    assert run.report["not_processed"]["Product2"] > 0
    assert run.report["not_processed"]["PricebookEntry"] > 0
    assert salesforce_api.query("SELECT Id FROM PricebookEntry WHERE LogiSense_Id__c != null") == []


def test_vanished_service_lines_are_deleted_unless_an_opportunity_references_them(
    run_sync: Callable[..., Run], logisense_api: LogiSenseApi, salesforce_api: SalesforceApi
) -> None:
    sf = salesforce_api.sf
    manual = sf.Product2.create({"Name": "Hand-made product", "IsActive": True})["id"]
    assert run_sync().state == "success"
    suspended = [
        r for r in logisense_api.all("Package/Service/PricePlan/Recurring") if r["serviceStatusTypeId"] == 2
    ]
    kept_row, gone_row = suspended[0], suspended[1]
    lines = {
        r["LogiSense_Id__c"]: r["Id"]
        for r in salesforce_api.query(LINE_SOQL.replace("SELECT ", "SELECT Id, "))
    }
    before = set(lines)
    for row in (kept_row, gone_row):
        logisense_api.delete("Package/Service/PricePlan/Recurring", row["identity"])
    after_want = set(expected_catalog(logisense_api, _now())["lines"])
    vanished = sorted(before - after_want)
    assert len(vanished) == 2
    opportunity = sf.Opportunity.create(
        {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
    )["id"]
    sf.Opportunity_Product_Service__c.create(
        {"Opportunity__c": opportunity, "Product_Service__c": lines[vanished[0]], "Quantity__c": 1}
    )

    run = run_sync()

    assert run.state == "success", run.tasks
    remaining = set(_lines(salesforce_api))
    assert remaining == after_want | {vanished[0]}
    assert run.report["planned"]["Product_Service__c"] == {"delete": 1}
    assert any("kept" in note for note in run.report["notes"])
    hand_made = salesforce_api.query(format_soql("SELECT Name, IsActive FROM Product2 WHERE Id = {}", manual))
    assert hand_made == [{"Name": "Hand-made product", "IsActive": True}]
