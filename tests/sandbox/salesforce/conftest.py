"""Fixtures for the Salesforce sandbox conformance suite: clients built exactly as integrations build them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from simple_salesforce import Salesforce

from tests.sandbox.salesforce.sf_conformance_helpers import CONSUMER_KEY, CONSUMER_SECRET, host_of


@pytest.fixture
def sf(salesforce_sandbox: Any) -> Salesforce:
    """A client-credentials client (the Airflow connection's flow) against a freshly reset org."""
    return Salesforce(
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        domain=f"{host_of(salesforce_sandbox)}/services/oauth2/token#",
    )


@pytest.fixture
def standard_pricebook(sf: Salesforce) -> str:
    """Id of the org's standard price book."""
    return str(sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"][0]["Id"])


@pytest.fixture
def make_product(sf: Salesforce, standard_pricebook: str) -> Callable[..., dict[str, str]]:
    """Creates a product with an active standard price in the given currencies; returns ids by currency."""

    def make(key: str, currencies: tuple[str, ...] = ("USD",), price: float = 10.0) -> dict[str, str]:
        product = sf.Product2.create({"Name": f"Product {key}", "LogiSense_Id__c": key, "IsActive": True})[
            "id"
        ]
        out = {"product": product}
        for currency in currencies:
            out[currency] = sf.PricebookEntry.create(
                {
                    "Pricebook2Id": standard_pricebook,
                    "Product2Id": product,
                    "CurrencyIsoCode": currency,
                    "UnitPrice": price,
                    "IsActive": True,
                }
            )["id"]
        return out

    return make
