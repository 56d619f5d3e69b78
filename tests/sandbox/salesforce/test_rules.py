"""Business rules that bite real integrations, each failing with Salesforce's status and error code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from logisense_sync.clients.soql import format_soql
from logisense_sync.sandbox.salesforce import ids
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    """The single error a call fails with (always HTTP 400 for these rules)."""
    with pytest.raises(SalesforceMalformedRequest) as caught:
        call()
    assert caught.value.status == 400
    errors: list[dict[str, Any]] = caught.value.content
    assert len(errors) == 1
    return errors[0]


@pytest.fixture
def custom_book(sf: Salesforce) -> str:
    return str(sf.Pricebook2.create({"Name": "Partner", "IsActive": True})["id"])


def test_custom_price_needs_an_active_standard_price_for_the_same_currency(
    sf: Salesforce, custom_book: str, make_product: Callable[..., dict[str, str]]
) -> None:
    product = make_product("P1", ("USD",))
    error = error_of(
        lambda: sf.PricebookEntry.create(
            {
                "Pricebook2Id": custom_book,
                "Product2Id": product["product"],
                "CurrencyIsoCode": "EUR",
                "UnitPrice": 9,
            }
        )
    )
    assert error["errorCode"] == "STANDARD_PRICE_NOT_DEFINED"
    assert error["message"] == "No standard price defined for this product"
    entry = sf.PricebookEntry.create(
        {
            "Pricebook2Id": custom_book,
            "Product2Id": product["product"],
            "CurrencyIsoCode": "USD",
            "UnitPrice": 9,
        }
    )
    assert entry["success"] is True


def test_inactive_standard_price_does_not_count(
    sf: Salesforce, custom_book: str, make_product: Callable[..., dict[str, str]]
) -> None:
    product = make_product("P1", ("USD",))
    sf.PricebookEntry.update(product["USD"], {"IsActive": False})
    error = error_of(
        lambda: sf.PricebookEntry.create(
            {"Pricebook2Id": custom_book, "Product2Id": product["product"], "UnitPrice": 1}
        )
    )
    assert error["errorCode"] == "STANDARD_PRICE_NOT_DEFINED"


def test_one_entry_per_price_book_product_and_currency(
    sf: Salesforce, standard_pricebook: str, make_product: Callable[..., dict[str, str]]
) -> None:
    product = make_product("P1", ("USD",))
    error = error_of(
        lambda: sf.PricebookEntry.create(
            {
                "Pricebook2Id": standard_pricebook,
                "Product2Id": product["product"],
                "CurrencyIsoCode": "USD",
                "UnitPrice": 5,
            }
        )
    )
    assert error["errorCode"] == "DUPLICATE_VALUE"


def test_unique_external_ids_are_enforced(sf: Salesforce) -> None:
    first = sf.Product2.create({"Name": "A", "LogiSense_Id__c": "dup"})["id"]
    error = error_of(lambda: sf.Product2.create({"Name": "B", "LogiSense_Id__c": "DUP"}))  # case-insensitive
    assert error["errorCode"] == "DUPLICATE_VALUE"
    assert (
        error["message"]
        == f"duplicate value found: LogiSense_Id__c duplicates value on record with id: {first}"
    )


def test_use_standard_price_follows_the_standard_price(
    sf: Salesforce, custom_book: str, make_product: Callable[..., dict[str, str]]
) -> None:
    product = make_product("P1", ("USD",), price=10.0)
    entry = sf.PricebookEntry.create(
        {
            "Pricebook2Id": custom_book,
            "Product2Id": product["product"],
            "UseStandardPrice": True,
            "IsActive": True,
        }
    )["id"]
    assert sf.PricebookEntry.get(entry)["UnitPrice"] == 10.0
    sf.PricebookEntry.update(product["USD"], {"UnitPrice": 12.5})
    assert sf.PricebookEntry.get(entry)["UnitPrice"] == 12.5
    error = error_of(lambda: sf.PricebookEntry.update(entry, {"UnitPrice": 3}))
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_standard_entries_cannot_use_the_standard_price(sf: Salesforce, standard_pricebook: str) -> None:
    product = sf.Product2.create({"Name": "A"})["id"]
    error = error_of(
        lambda: sf.PricebookEntry.create(
            {
                "Pricebook2Id": standard_pricebook,
                "Product2Id": product,
                "UseStandardPrice": True,
                "UnitPrice": 1,
            }
        )
    )
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


@pytest.mark.parametrize("field", ["Pricebook2Id", "Product2Id", "CurrencyIsoCode"])
def test_price_book_entry_create_only_fields_cannot_be_updated(
    sf: Salesforce, custom_book: str, make_product: Callable[..., dict[str, str]], field: str
) -> None:
    product = make_product("P1", ("USD",))
    other = make_product("P2", ("USD",))
    value = {"Pricebook2Id": custom_book, "Product2Id": other["product"], "CurrencyIsoCode": "EUR"}
    error = error_of(lambda: sf.PricebookEntry.update(product["USD"], {field: value[field]}))
    assert error["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error["fields"] == [field]


@pytest.mark.parametrize("code", ["JPY", "XXX"])
def test_currency_must_be_an_active_currency(sf: Salesforce, code: str) -> None:
    error = error_of(lambda: sf.Account.create({"Name": "A", "CurrencyIsoCode": code}))
    assert error["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert error["fields"] == ["CurrencyIsoCode"]


def test_restricted_custom_picklists_reject_unknown_values(sf: Salesforce) -> None:
    product = sf.Product2.create({"Name": "A"})["id"]
    error = error_of(
        lambda: sf.Product_Service__c.create({"Product__c": product, "Charge_Type__c": "Monthly"})
    )
    assert error["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


@pytest.mark.parametrize(
    ("stage", "closed", "won"),
    [("Prospecting", False, False), ("Closed Won", True, True), ("Closed Lost", True, False)],
)
def test_is_closed_and_is_won_follow_the_stage(sf: Salesforce, stage: str, closed: bool, won: bool) -> None:
    opp = sf.Opportunity.create({"Name": "O", "StageName": stage, "CloseDate": "2026-12-31"})["id"]
    record = sf.Opportunity.get(opp)
    assert (record["IsClosed"], record["IsWon"]) == (closed, won)


def test_is_won_is_read_only(sf: Salesforce) -> None:
    error = error_of(
        lambda: sf.Opportunity.create(
            {"Name": "O", "StageName": "Prospecting", "CloseDate": "2026-12-31", "IsWon": True}
        )
    )
    assert error["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error["fields"] == ["IsWon"]


def test_pricebook_is_standard_is_read_only_and_the_standard_book_cannot_be_deleted(
    sf: Salesforce, standard_pricebook: str
) -> None:
    error = error_of(lambda: sf.Pricebook2.create({"Name": "Second standard", "IsStandard": True}))
    assert error["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    error = error_of(lambda: sf.Pricebook2.delete(standard_pricebook))
    assert error["errorCode"] == "DELETE_FAILED"


@pytest.fixture
def opportunity(sf: Salesforce) -> str:
    account = sf.Account.create({"Name": "Buyer"})["id"]
    return str(
        sf.Opportunity.create(
            {"Name": "Deal", "AccountId": account, "StageName": "Prospecting", "CloseDate": "2026-12-31"}
        )["id"]
    )


def test_amount_is_the_sum_of_line_totals_and_the_first_line_sets_the_price_book(
    sf: Salesforce, opportunity: str, standard_pricebook: str, make_product: Callable[..., dict[str, str]]
) -> None:
    a = make_product("A", ("USD",), price=10.0)
    b = make_product("B", ("USD",), price=4.0)
    line_a = sf.OpportunityLineItem.create(
        {"OpportunityId": opportunity, "PricebookEntryId": a["USD"], "Quantity": 3, "UnitPrice": 10}
    )
    sf.OpportunityLineItem.create(
        {"OpportunityId": opportunity, "PricebookEntryId": b["USD"], "Quantity": 2, "TotalPrice": 7}
    )
    record = sf.Opportunity.get(opportunity)
    assert record["Amount"] == 37.0
    assert record["Pricebook2Id"] == standard_pricebook
    assert record["HasOpportunityLineItem"] is True
    line = sf.OpportunityLineItem.get(line_a["id"])
    assert (line["ListPrice"], line["TotalPrice"], line["Product2Id"]) == (10.0, 30.0, a["product"])
    sf.OpportunityLineItem.delete(line_a["id"])
    assert sf.Opportunity.get(opportunity)["Amount"] == 7.0


def test_line_item_needs_a_price_book_entry(sf: Salesforce, opportunity: str) -> None:
    error = error_of(
        lambda: sf.OpportunityLineItem.create({"OpportunityId": opportunity, "Quantity": 1, "UnitPrice": 1})
    )
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert error["fields"] == ["PricebookEntryId", "unknown"]


def test_line_item_entry_must_be_active(
    sf: Salesforce, opportunity: str, make_product: Callable[..., dict[str, str]]
) -> None:
    a = make_product("A", ("USD",))
    sf.PricebookEntry.update(a["USD"], {"IsActive": False})
    error = error_of(
        lambda: sf.OpportunityLineItem.create(
            {"OpportunityId": opportunity, "PricebookEntryId": a["USD"], "Quantity": 1, "UnitPrice": 1}
        )
    )
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert "inactive" in error["message"]


def test_line_item_entry_must_match_the_opportunity_currency(
    sf: Salesforce, opportunity: str, make_product: Callable[..., dict[str, str]]
) -> None:
    a = make_product("A", ("EUR",))
    error = error_of(
        lambda: sf.OpportunityLineItem.create(
            {"OpportunityId": opportunity, "PricebookEntryId": a["EUR"], "Quantity": 1, "UnitPrice": 1}
        )
    )
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert "currency" in error["message"]


def test_line_item_entry_must_be_in_the_opportunity_price_book(
    sf: Salesforce, opportunity: str, custom_book: str, make_product: Callable[..., dict[str, str]]
) -> None:
    a = make_product("A", ("USD",))
    custom_entry = sf.PricebookEntry.create(
        {"Pricebook2Id": custom_book, "Product2Id": a["product"], "UnitPrice": 8, "IsActive": True}
    )["id"]
    sf.Opportunity.update(opportunity, {"Pricebook2Id": custom_book})
    error = error_of(
        lambda: sf.OpportunityLineItem.create(
            {"OpportunityId": opportunity, "PricebookEntryId": a["USD"], "Quantity": 1, "UnitPrice": 1}
        )
    )
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert "different pricebook" in error["message"]
    assert sf.OpportunityLineItem.create(
        {"OpportunityId": opportunity, "PricebookEntryId": custom_entry, "Quantity": 1, "UnitPrice": 1}
    )["success"]


def test_opportunity_price_book_cannot_change_once_it_has_lines(
    sf: Salesforce, opportunity: str, custom_book: str, make_product: Callable[..., dict[str, str]]
) -> None:
    a = make_product("A", ("USD",))
    sf.OpportunityLineItem.create(
        {"OpportunityId": opportunity, "PricebookEntryId": a["USD"], "Quantity": 1, "UnitPrice": 1}
    )
    error = error_of(lambda: sf.Opportunity.update(opportunity, {"Pricebook2Id": custom_book}))
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_account_hierarchy_cycles_are_rejected(sf: Salesforce) -> None:
    top = sf.Account.create({"Name": "Top"})["id"]
    middle = sf.Account.create({"Name": "Middle", "ParentId": top})["id"]
    bottom = sf.Account.create({"Name": "Bottom", "ParentId": middle})["id"]
    error = error_of(lambda: sf.Account.update(top, {"ParentId": bottom}))
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert error["fields"] == ["ParentId"]
    assert (
        error_of(lambda: sf.Account.update(top, {"ParentId": top}))["errorCode"]
        == "FIELD_INTEGRITY_EXCEPTION"
    )


@pytest.mark.parametrize(
    ("sobject", "body", "missing"),
    [
        ("Account", {"Website": "https://x.example"}, ["Name"]),
        ("Opportunity", {"Name": "O"}, ["StageName", "CloseDate"]),
        ("Contact", {"FirstName": "Ann"}, ["LastName"]),
        ("PricebookEntry", {"UnitPrice": 1}, ["Pricebook2Id", "Product2Id"]),
    ],
)
def test_required_fields_are_reported_together(
    sf: Salesforce, sobject: str, body: dict[str, Any], missing: list[str]
) -> None:
    error = error_of(lambda: getattr(sf, sobject).create(body))
    assert error["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert error["fields"] == missing
    assert error["message"] == f"Required fields are missing: [{', '.join(missing)}]"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"Name": "x" * 256}, "STRING_TOO_LONG", "Name"),
        ({"Name": "A", "NumberOfEmployees": "many"}, "INVALID_TYPE_ON_FIELD_IN_RECORD", "NumberOfEmployees"),
        ({"Name": "A", "AnnualRevenue": "lots"}, "INVALID_TYPE_ON_FIELD_IN_RECORD", "AnnualRevenue"),
        (
            {"Name": "A", "Sync_With_LogiSense__c": "perhaps"},
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            "Sync_With_LogiSense__c",
        ),
        ({"Name": "A", "ParentId": "not-an-id"}, "MALFORMED_ID", "ParentId"),
        ({"Name": "A", "ParentId": ids.make_id("001", 987_654)}, "INVALID_CROSS_REFERENCE_KEY", "ParentId"),
        ({"Name": "A", "ParentId": ids.make_id("003", 1)}, "FIELD_INTEGRITY_EXCEPTION", "ParentId"),
        ({"Name": "A", "NoSuchField__c": 1}, "INVALID_FIELD", "NoSuchField__c"),
    ],
)
def test_field_values_are_validated(sf: Salesforce, body: dict[str, Any], code: str, field: str) -> None:
    error = error_of(lambda: sf.Account.create(body))
    assert error["errorCode"] == code
    assert error["fields"] == [field]


def test_deleting_a_product_cascades_to_its_master_detail_children(sf: Salesforce) -> None:
    product = sf.Product2.create({"Name": "A"})["id"]
    service = sf.Product_Service__c.create({"Product__c": product, "Name": "svc"})["id"]
    sf.Product2.delete(product)
    soql = format_soql("SELECT IsDeleted FROM Product_Service__c WHERE Id = {}", service)
    assert [r["IsDeleted"] for r in sf.query_all(soql, include_deleted=True)["records"]] == [True]
    assert sf.query_all(soql)["records"] == []


def test_request_numbers_are_auto_numbered(sf: Salesforce, opportunity: str) -> None:
    first = sf.LogiSense_Request__c.create({"Type__c": "Opportunity", "Opportunity__c": opportunity})["id"]
    second = sf.LogiSense_Request__c.create({"Type__c": "Opportunity", "Opportunity__c": opportunity})["id"]
    assert sf.LogiSense_Request__c.get(first)["Name"] == "LSR-000001"
    assert sf.LogiSense_Request__c.get(second)["Name"] == "LSR-000002"
    assert sf.LogiSense_Request__c.get(first)["Status__c"] == "Waiting"  # the picklist default


def test_deleting_a_product_deletes_its_price_book_entries(
    sf: Salesforce, make_product: Callable[..., dict[str, str]]
) -> None:
    product = make_product("P1", ("USD", "EUR"))
    sf.Product2.delete(product["product"])
    assert sf.query("SELECT COUNT() FROM PricebookEntry")["totalSize"] == 0


def test_an_entry_used_by_opportunity_products_cannot_be_deleted(
    sf: Salesforce, opportunity: str, make_product: Callable[..., dict[str, str]]
) -> None:
    a = make_product("A", ("USD",))
    sf.OpportunityLineItem.create(
        {"OpportunityId": opportunity, "PricebookEntryId": a["USD"], "Quantity": 1, "UnitPrice": 1}
    )
    assert error_of(lambda: sf.PricebookEntry.delete(a["USD"]))["errorCode"] == "DELETE_FAILED"
    assert error_of(lambda: sf.Product2.delete(a["product"]))["errorCode"] == "DELETE_FAILED"
    sf.Opportunity.delete(opportunity)  # takes its line items with it
    assert sf.Product2.delete(a["product"]) == 204
