"""REST API conformance through simple-salesforce: records, upsert statuses, describe, collections, composite,
limits, and state that survives a restart."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests
from logisense_sync.sandbox.salesforce import ids
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from tests.sandbox.salesforce.sf_conformance_helpers import settings

ID18 = re.compile(r"^[a-zA-Z0-9]{18}$")


def test_create_get_update_delete_an_account(sf: Salesforce) -> None:
    created = sf.Account.create({"Name": "Acme", "Website": "https://acme.example"})
    assert created["success"] is True
    assert created["errors"] == []
    assert ID18.match(created["id"])
    assert created["id"].startswith("001")
    record = sf.Account.get(created["id"])
    assert record["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v59.0/sobjects/Account/{created['id']}",
    }
    assert record["Name"] == "Acme"
    assert record["ParentId"] is None  # every field is present, nulls included
    assert record["CurrencyIsoCode"] == "USD"
    assert sf.Account.update(created["id"], {"Name": "Acme Inc"}) == 204
    assert sf.Account.get(created["id"])["Name"] == "Acme Inc"
    assert sf.Account.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Account.get(created["id"])
    assert caught.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_fifteen_character_ids_are_accepted(sf: Salesforce) -> None:
    account_id = sf.Account.create({"Name": "Short id"})["id"]
    assert sf.Account.get(account_id[:15])["Id"] == account_id
    contact = sf.Contact.create({"LastName": "Doe", "AccountId": account_id[:15]})["id"]
    assert sf.Contact.get(contact)["AccountId"] == account_id


def test_eighteen_character_ids_carry_a_valid_checksum(sf: Salesforce) -> None:
    account_id = sf.Account.create({"Name": "Checksum"})["id"]
    assert ids.to18(account_id[:15]) == account_id
    assert ids.normalize(account_id.lower()) == account_id


def test_unknown_record_id_is_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Account.get(ids.make_id("001", 999_999))
    assert caught.value.content[0]["errorCode"] == "NOT_FOUND"


def test_upsert_creates_with_201_then_updates_with_200(sf: Salesforce) -> None:
    first = sf.Product2.upsert("LogiSense_Id__c/PF-1", {"Name": "Gold"}, raw_response=True)
    assert first.status_code == 201
    assert first.json()["created"] is True
    second = sf.Product2.upsert("LogiSense_Id__c/PF-1", {"Name": "Gold plus"}, raw_response=True)
    assert second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": False}
    assert sf.Product2.get(first.json()["id"])["Name"] == "Gold plus"


def test_upsert_on_a_field_that_is_not_an_external_id_is_404(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Product2.upsert("Description/x", {"Name": "x"})
    assert caught.value.content[0]["errorCode"] == "NOT_FOUND"


def test_upsert_matching_several_records_is_300_and_writes_nothing(sf: Salesforce) -> None:
    # Opportunity_Line_Item_Id__c is an external id that is not unique.
    opp = sf.Opportunity.create({"Name": "O", "StageName": "Prospecting", "CloseDate": "2026-12-31"})["id"]
    for _ in range(2):
        sf.Opportunity_Product_Service__c.create(
            {"Opportunity__c": opp, "Opportunity_Line_Item_Id__c": "00k000000000001"}
        )
    with pytest.raises(SalesforceMoreThanOneRecord) as caught:
        sf.Opportunity_Product_Service__c.upsert(
            "Opportunity_Line_Item_Id__c/00k000000000001", {"Quantity__c": 3}
        )
    assert len(caught.value.content) == 2
    assert (
        sf.query("SELECT COUNT() FROM Opportunity_Product_Service__c WHERE Quantity__c = 3")["totalSize"] == 0
    )


def test_get_by_external_id_with_a_slash_and_space_in_the_value(sf: Salesforce) -> None:
    sf.Product2.upsert("LogiSense_Id__c/plain", {"Name": "first"})
    created = sf.Product_Service__c.create(
        {
            "Name": "svc",
            "LogiSense_Id__c": "pkg 1/svc 2",
            "Product__c": sf.Product2.get_by_custom_id("LogiSense_Id__c", "plain")["Id"],
        }
    )["id"]
    found = sf.Product_Service__c.get_by_custom_id("LogiSense_Id__c", "pkg 1/svc 2")
    assert found["Id"] == created


def test_parent_reference_by_external_id_in_a_json_body(sf: Salesforce) -> None:
    parent = sf.Account.create({"Name": "Parent", "LogiSense_Account_Id__c": "LS-1"})["id"]
    child = sf.Account.create({"Name": "Child", "Parent": {"LogiSense_Account_Id__c": "LS-1"}})["id"]
    assert sf.Account.get(child)["ParentId"] == parent


def test_global_describe_lists_standard_and_custom_objects(sf: Salesforce) -> None:
    names = {s["name"]: s for s in sf.describe()["sobjects"]}
    for name, prefix in [
        ("Account", "001"),
        ("Opportunity", "006"),
        ("PricebookEntry", "01u"),
        ("Product2", "01t"),
    ]:
        assert names[name]["keyPrefix"] == prefix
    for custom in ("Product_Service__c", "Opportunity_Product_Service__c", "LogiSense_Request__c"):
        assert names[custom]["custom"] is True


def test_describe_reports_types_flags_and_relationships_from_the_sfdx_metadata(sf: Salesforce) -> None:
    fields = {f["name"]: f for f in sf.Product_Service__c.describe()["fields"]}
    assert fields["Product__c"]["type"] == "reference"
    assert fields["Product__c"]["referenceTo"] == ["Product2"]
    assert fields["Product__c"]["relationshipName"] == "Product__r"
    assert fields["Product__c"]["cascadeDelete"] is True
    assert fields["LogiSense_Id__c"]["externalId"] is True
    assert fields["LogiSense_Id__c"]["unique"] is True
    assert fields["Charge_Type__c"]["type"] == "picklist"
    assert [v["value"] for v in fields["Charge_Type__c"]["picklistValues"]] == [
        "Recurring",
        "One-Time",
        "Usage",
    ]
    assert fields["Amount__c"]["type"] == "currency"
    product = sf.Product2.describe()
    assert {"childSObject": "Product_Service__c", "relationshipName": "Product_Services__r"}.items() <= next(
        r for r in product["childRelationships"] if r["childSObject"] == "Product_Service__c"
    ).items()
    entry = {f["name"]: f for f in sf.PricebookEntry.describe()["fields"]}
    assert entry["Pricebook2Id"]["createable"] is True
    assert entry["Pricebook2Id"]["updateable"] is False
    assert entry["Pricebook2Id"]["relationshipName"] == "Pricebook2"
    opportunity = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    assert opportunity["IsWon"]["createable"] is False
    assert opportunity["LogiSense_Sync_Status__c"]["restrictedPicklist"] is True


def test_the_org_is_multi_currency_with_a_standard_price_book_and_integration_user(sf: Salesforce) -> None:
    currencies = sf.query("SELECT IsoCode, IsCorporate, IsActive FROM CurrencyType WHERE IsActive = true")
    assert sorted(r["IsoCode"] for r in currencies["records"]) == ["CAD", "EUR", "GBP", "USD"]
    assert [r["IsoCode"] for r in currencies["records"] if r["IsCorporate"]] == ["USD"]
    books = sf.query("SELECT Name, IsStandard FROM Pricebook2")["records"]
    assert [(b["Name"], b["IsStandard"]) for b in books] == [("Standard Price Book", True)]
    users = sf.query("SELECT Username FROM User")["records"]
    assert [u["Username"] for u in users] == ["integration@sandbox.example"]


def test_every_rest_response_carries_the_api_usage_and_it_counts_each_call(
    salesforce_sandbox: Any, sf: Salesforce
) -> None:
    sf.describe()
    first = sf.api_usage["api-usage"].used
    sf.describe()
    assert sf.api_usage["api-usage"].used == first + 1
    assert sf.api_usage["api-usage"].total == 100_000
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert limits["DailyApiRequests"]["Remaining"] == 100_000 - (first + 2)


def test_exhausted_daily_limit_is_403_request_limit_exceeded(salesforce_sandbox: Any, sf: Salesforce) -> None:
    settings(salesforce_sandbox, daily_api_limit=5, api_usage=5)
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.Account.create({"Name": "over the limit"})
    assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_trailing_slash_and_no_trailing_slash_both_work(salesforce_sandbox: Any, sf: Salesforce) -> None:
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    for path in ("sobjects", "sobjects/", "limits", "limits/", "sobjects/Account", "sobjects/Account/"):
        response = requests.get(
            f"{salesforce_sandbox.url}/services/data/v62.0/{path}",
            headers=headers,
            timeout=30,
            allow_redirects=False,
        )
        assert response.status_code == 200, path


# ------------------------------------------------------------------ sObject Collections


def test_collection_create_returns_results_in_order_with_per_record_errors(sf: Salesforce) -> None:
    records = [
        {"attributes": {"type": "Account"}, "Name": "A"},
        {"attributes": {"type": "Contact"}},
        {"attributes": {"type": "Account"}, "Name": "B"},
    ]
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"] == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [LastName]",
            "fields": ["LastName"],
        }
    ]
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 2


def test_collection_all_or_none_rolls_everything_back(sf: Salesforce) -> None:
    records = [
        {"attributes": {"type": "Account"}, "Name": "A"},
        {"attributes": {"type": "Account"}, "Name": "x" * 256},
    ]
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_collection_update_upsert_and_delete(sf: Salesforce) -> None:
    created = sf.restful(
        "composite/sobjects",
        method="POST",
        json={"records": [{"attributes": {"type": "Account"}, "Name": n} for n in ("A", "B")]},
    )
    account_ids = [r["id"] for r in created]
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [{"attributes": {"type": "Account"}, "id": i, "Name": "renamed"} for i in account_ids]
        },
    )
    assert all(r["success"] for r in updated)
    upserted = sf.restful(
        "composite/sobjects/Product2/LogiSense_Id__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Product2"}, "LogiSense_Id__c": "U1", "Name": "one"},
                {"attributes": {"type": "Product2"}, "LogiSense_Id__c": "U2", "Name": "two"},
            ],
        },
    )
    assert [(r["success"], r["created"]) for r in upserted] == [(True, True), (True, True)]
    again = sf.restful(
        "composite/sobjects/Product2/LogiSense_Id__c",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Product2"}, "LogiSense_Id__c": "U1", "Name": "uno"}]},
    )
    assert [(r["success"], r["created"]) for r in again] == [(True, False)]
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(account_ids)})
    assert [r["id"] for r in deleted] == account_ids
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_collection_upsert_fails_records_whose_external_id_repeats(sf: Salesforce) -> None:
    records = [
        {"attributes": {"type": "Product2"}, "LogiSense_Id__c": key, "Name": key}
        for key in ("D1", "d1", "D2")
    ]
    results = sf.restful(
        "composite/sobjects/Product2/LogiSense_Id__c",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    assert [r["success"] for r in results] == [False, False, True]
    assert results[0]["errors"][0]["statusCode"] == "DUPLICATE_EXTERNAL_ID"
    assert results[1]["errors"][0]["message"] == "Duplicate external id specified: d1"


def test_collection_of_more_than_200_records_is_rejected(sf: Salesforce) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": str(i)} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_injected_lock_failures_fail_that_share_of_collection_records(
    salesforce_sandbox: Any, sf: Salesforce
) -> None:
    salesforce_sandbox.faults(
        {"path": "composite/sobjects", "record_error": "UNABLE_TO_LOCK_ROW", "record_rate": 1.0}
    )
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={"records": [{"attributes": {"type": "Account"}, "Name": "A"}]},
    )
    assert results[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert results[0]["errors"][0]["message"] == "unable to obtain exclusive access to this record"


# ------------------------------------------------------------------ Composite


def test_composite_resolves_references_between_subrequests(sf: Salesforce) -> None:
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Account",
                "referenceId": "acct",
                "body": {"Name": "C"},
            },
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Contact",
                "referenceId": "contact",
                "body": {"LastName": "Ref", "AccountId": "@{acct.id}"},
            },
            {
                "method": "GET",
                "url": "/services/data/v59.0/sobjects/Account/@{acct.id}",
                "referenceId": "read",
            },
        ],
    }
    result = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [r["httpStatusCode"] for r in result] == [201, 201, 200]
    assert result[2]["body"]["Name"] == "C"
    contact = sf.Contact.get(result[1]["body"]["id"])
    assert contact["AccountId"] == result[0]["body"]["id"]


def test_composite_all_or_none_rolls_back_and_halts_the_rest(sf: Salesforce) -> None:
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Account",
                "referenceId": "a",
                "body": {"Name": "ok"},
            },
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Contact",
                "referenceId": "b",
                "body": {},
            },
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Account",
                "referenceId": "c",
                "body": {"Name": "z"},
            },
        ],
    }
    result = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [r["httpStatusCode"] for r in result] == [400, 400, 400]
    assert result[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert result[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert result[2]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


# ------------------------------------------------------------------ persistence


def test_state_survives_a_restart(tmp_path: Path) -> None:
    from logisense_sync.sandbox.salesforce.app import create_app

    first = create_app(tmp_path, seed="demo").state.sandbox
    with first.store.transaction():
        account = first.dml.insert("Account", {"Name": "Persisted"})
    accounts = first.store.count("Account")
    first.store.close()
    second = create_app(tmp_path).state.sandbox
    assert second.store.count("Account") == accounts
    assert second.store.get(account)["Name"] == "Persisted"
    assert second.dml.standard_pricebook_id() == first.dml.standard_pricebook_id()
    assert second.store.count("Pricebook2") == 1
    second.store.close()


def test_snapshot_returns_every_record_of_every_object(salesforce_sandbox: Any, sf: Salesforce) -> None:
    sf.Account.create({"Name": "Snap"})
    records = salesforce_sandbox.snapshot()["records"]
    assert [r["Name"] for r in records["Account"]] == ["Snap"]
    assert len(records["CurrencyType"]) >= 4


def test_deleted_and_updated_list_changes_in_a_time_window(sf: Salesforce) -> None:
    from datetime import UTC, datetime, timedelta

    kept = sf.Account.create({"Name": "Kept"})["id"]
    gone = sf.Account.create({"Name": "Gone"})["id"]
    sf.Account.delete(gone)
    now = datetime.now(UTC)
    window = (now - timedelta(minutes=5), now + timedelta(minutes=5))
    assert [r["id"] for r in sf.Account.deleted(*window)["deletedRecords"]] == [gone]
    assert sf.Account.updated(*window)["ids"] == [kept]
    earlier = (now - timedelta(days=2), now - timedelta(days=1))
    assert sf.Account.updated(*earlier)["ids"] == []


def test_demo_seed_has_an_account_hierarchy_and_contacts_to_sync(
    salesforce_sandbox: Any, sf: Salesforce
) -> None:
    created = salesforce_sandbox.seed("demo")["created"]
    assert created["Account"] >= 4
    accounts = sf.query("SELECT Id, Name, ParentId, Sync_With_LogiSense__c FROM Account")["records"]
    tops = [a for a in accounts if a["ParentId"] is None]
    children = [a for a in accounts if a["ParentId"] is not None]
    assert tops
    assert children
    assert {c["ParentId"] for c in children} <= {t["Id"] for t in tops}
    contacts = sf.query("SELECT AccountId, Sync_With_LogiSense__c FROM Contact")["records"]
    assert any(c["Sync_With_LogiSense__c"] for c in contacts)
    assert any(c["Sync_With_LogiSense__c"] is False for c in contacts)
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 0
    assert salesforce_sandbox.seed("demo")["created"] == {"Account": 0, "Contact": 0}  # idempotent


@pytest.mark.parametrize("status", [500, 503])
def test_injected_http_faults_use_the_salesforce_error_body(
    salesforce_sandbox: Any, sf: Salesforce, status: int
) -> None:
    from simple_salesforce.exceptions import SalesforceGeneralError

    salesforce_sandbox.faults({"method": "POST", "path": "/sobjects/Account", "status": status, "count": 1})
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.Account.create({"Name": "fails once"})
    assert caught.value.status == status
    assert caught.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf.Account.create({"Name": "then works"})["success"] is True


def test_generator_seed_creates_accounts_contacts_and_priced_products(
    salesforce_sandbox: Any, sf: Salesforce
) -> None:
    created = salesforce_sandbox.seed(
        "generate", accounts=3, contacts_per_account=2, products=4, pricebooks=2, currencies=["USD", "EUR"]
    )["created"]
    assert created == {"Account": 3, "Contact": 6, "Product2": 4, "Pricebook2": 2, "PricebookEntry": 24}
    assert sf.query("SELECT COUNT() FROM PricebookEntry WHERE IsActive = true")["totalSize"] == 24
