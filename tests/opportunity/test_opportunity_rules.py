"""Every LogiSense integration rule, violated once: the request fails with a clear message and LogiSense is
left untouched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.opportunity.conftest import logisense_writes
from tests.opportunity.world import World


def _not_won(w: World) -> str:
    return w.opportunity(w.account("Acme"), stage="Negotiation/Review")[0]


def _unknown_type(w: World) -> str:
    return w.opportunity(w.account("Acme"), type_="Renewal")[0]


def _no_type(w: World) -> str:
    return w.opportunity(w.account("Acme"), type_=None)[0]


def _price_book_not_integrated(w: World) -> str:
    assert w.catalogue is not None
    book = w.sf.Pricebook2.create({"Name": "Partner Prices", "IsActive": True})["id"]
    entry = w.sf.PricebookEntry.create(
        {"Pricebook2Id": book, "Product2Id": w.catalogue.product_id, "UnitPrice": 90, "IsActive": True}
    )["id"]
    w.catalogue.entries["PARTNER"] = entry
    opp = w.sf.Opportunity.create(
        {
            "Name": "Partner deal",
            "AccountId": w.account("Acme"),
            "StageName": "Closed Won",
            "CloseDate": "2026-12-01",
            "Type": "New Customer",
            "CurrencyIsoCode": "USD",
            "Pricebook2Id": book,
        }
    )["id"]
    w.sf.OpportunityLineItem.create(
        {"OpportunityId": opp, "PricebookEntryId": entry, "Quantity": 1, "UnitPrice": 90}
    )
    return str(opp)


def _account_currency_differs(w: World) -> str:
    return w.opportunity(w.account("Acme", currency="EUR"), currency="USD")[0]


def _parent_currency_differs(w: World) -> str:
    top = w.account("Acme Group", currency="EUR")
    return w.opportunity(w.account("Acme US", parent=top, currency="USD"))[0]


def _invoicer_outside_hierarchy(w: World) -> str:
    other = w.account("Someone Else")
    return w.opportunity(w.account("Acme", Subscription_Invoicer__c=other))[0]


def _usage_invoicer_outside_hierarchy(w: World) -> str:
    other = w.account("Someone Else")
    return w.opportunity(w.account("Acme", Usage_Invoicer__c=other))[0]


def _tax_account_outside_hierarchy(w: World) -> str:
    top = w.account("Acme Group")
    other = w.account("Someone Else")
    return w.opportunity(w.account("Acme US", parent=top, Tax_Inheritance_Account__c=other))[0]


def _price_does_not_add_up(w: World) -> str:
    return w.opportunity(w.account("Acme"), lines=[(1, 95)])[0]


def _quantity_above_maximum(w: World) -> str:
    opp, lines = w.opportunity(w.account("Acme"), lines=[(1, 500 * 30 + 20 + 10)])
    w.override(opp, lines[0], "Seat", quantity=500)
    return opp


def _contact_without_type(w: World) -> str:
    acc = w.account("Acme")
    w.contact(acc, "Nobody", contact_type=None)
    return w.opportunity(acc)[0]


def _contact_type_unknown(w: World) -> str:
    acc = w.account("Acme")
    w.contact(acc, "Nobody", contact_type="Astrologer")
    return w.opportunity(acc)[0]


def _no_products(w: World) -> str:
    return w.opportunity(w.account("Acme"), lines=[])[0]


CASES: list[tuple[str, Callable[[World], str], str]] = [
    ("not won", _not_won, "The opportunity is not won (stage 'Negotiation/Review')"),
    (
        "unknown type",
        _unknown_type,
        "Opportunity Type 'Renewal' has no LogiSense process. Set Type to one of:",
    ),
    ("no type", _no_type, "Opportunity Type 'blank' has no LogiSense process"),
    ("price book", _price_book_not_integrated, "Price book 'Partner Prices' is not a LogiSense price book"),
    ("currency", _account_currency_differs, "The opportunity is in USD but account 'Acme' is in EUR"),
    ("parent currency", _parent_currency_differs, "is in USD but its parent 'Acme Group' is in EUR"),
    ("invoicer", _invoicer_outside_hierarchy, "the Subscription Invoicer 'Someone Else' is not in the same"),
    (
        "usage invoicer",
        _usage_invoicer_outside_hierarchy,
        "the Usage Invoicer 'Someone Else' is not in the same",
    ),
    (
        "tax account",
        _tax_account_outside_hierarchy,
        "the Tax Inheritance Account 'Someone Else' is not in the",
    ),
    ("price", _price_does_not_add_up, "the sales price is 95.00 but its services add up to 90.00"),
    ("maximum", _quantity_above_maximum, "quantity 500 of service 'Seat' is above the maximum of 100"),
    (
        "contact type",
        _contact_without_type,
        "Contact 'Pat Nobody' ('Acme') is marked Sync With LogiSense but",
    ),
    (
        "contact type unknown",
        _contact_type_unknown,
        "LogiSense Contact Type 'Astrologer', which LogiSense does",
    ),
    ("no products", _no_products, "The opportunity has no products"),
]


@pytest.mark.parametrize(
    ("build", "expected"), [(b, e) for _n, b, e in CASES], ids=[n for n, _b, _e in CASES]
)
def test_a_deal_breaking_a_rule_fails_with_a_clear_message_and_no_logisense_write(
    world: World, run_dag: Any, build: Callable[[World], str], expected: str
) -> None:
    opp = build(world)
    request = world.request(opportunity=opp)
    world.ls_sandbox.clear_requests()  # type: ignore[attr-defined]

    run_dag([request])

    req = world.get("LogiSense_Request__c", request)
    assert req["Status__c"] == "Failed"
    assert expected in req["Message__c"]
    assert req["Message__c"].count("\n- ") == 1, req["Message__c"]  # exactly this one problem
    assert req["Completed_At__c"]
    assert world.get("Opportunity", opp)["LogiSense_Sync_Status__c"] == "Failed"
    assert logisense_writes(world.ls_sandbox.requests()) == {}  # type: ignore[attr-defined]
    assert world.ls_objects("Account") == []


def test_every_violation_of_a_deal_is_reported_at_once(world: World, run_dag: Any) -> None:
    other = world.account("Someone Else")
    acc = world.account("Acme", currency="EUR", Subscription_Invoicer__c=other)
    world.contact(acc, "Nobody", contact_type=None)
    opp = world.opportunity(acc, stage="Prospecting", type_="Renewal", lines=[(1, 91)])[0]
    request = world.request(opportunity=opp)

    run_dag([request])

    message = world.get("LogiSense_Request__c", request)["Message__c"]
    assert message.startswith("Not sent to LogiSense: 6 problem(s) to fix")
    for part in (
        "not won",
        "Type 'Renewal'",
        "is in USD but account",
        "Subscription Invoicer",
        "add up to",
        "Nobody",
    ):
        assert part in message
