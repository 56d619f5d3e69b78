"""A small hand-built LogiSense catalogue (frames as the LogiSense client returns them)."""

from __future__ import annotations

import pandas as pd


def _f(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def small_catalog() -> dict[str, pd.DataFrame]:
    """Books 1 (standard) and 2 (EMEA); Gold (monthly sold in USD/EUR/JPY, annual inactive), Old (expired),
    Empty (no services); tiered, one-time, usage and account-override prices; one missing price."""
    return {
        "PriceBook": _f(
            [
                {
                    "identity": 1,
                    "name": "Standard",
                    "description": None,
                    "isStandard": True,
                    "isActive": True,
                },
                {
                    "identity": 2,
                    "name": "EMEA",
                    "description": "Europe",
                    "isStandard": False,
                    "isActive": True,
                },
            ]
        ),
        "Currency": _f(
            [
                {"identity": 1, "code": "USD", "name": "US Dollars"},
                {"identity": 2, "code": "EUR", "name": "Euro"},
                {"identity": 3, "code": "JPY", "name": "Yen"},
            ]
        ),
        "Package": _f(
            [
                {
                    "identity": 10,
                    "name": "Gold",
                    "description": "Gold plan",
                    "start": "2026-01-01T00:00:00.000Z",
                    "expiry": None,
                },
                {
                    "identity": 11,
                    "name": "Old",
                    "description": None,
                    "start": None,
                    "expiry": "2026-06-01T00:00:00.000Z",
                },
                {"identity": 12, "name": "Empty", "description": None, "start": None, "expiry": None},
            ]
        ),
        "Package/Currency": _f(
            [
                {"identity": 100, "packageId": 10, "currencyId": 1},
                {"identity": 101, "packageId": 10, "currencyId": 2},
                {"identity": 102, "packageId": 11, "currencyId": 1},
                {"identity": 103, "packageId": 12, "currencyId": 1},
                {"identity": 104, "packageId": 10, "currencyId": 3},
            ]
        ),
        "Package/Frequency": _f(
            [
                {"identity": 20, "packageId": 10, "name": "Monthly", "sku": "GOLD-M", "isActive": True},
                {"identity": 21, "packageId": 10, "name": "Annual", "sku": "GOLD-A", "isActive": False},
                {"identity": 22, "packageId": 11, "name": "Monthly", "sku": "OLD-M", "isActive": True},
                {"identity": 23, "packageId": 12, "name": "Monthly", "sku": "EMPTY-M", "isActive": True},
            ]
        ),
        "Package/Frequency/Currency": _f(
            [
                {
                    "identity": 1,
                    "packageFrequencyId": 20,
                    "packageCurrencyId": 100,
                    "priceBookId": 1,
                    "isActive": True,
                },
                {
                    "identity": 2,
                    "packageFrequencyId": 20,
                    "packageCurrencyId": 101,
                    "priceBookId": 2,
                    "isActive": True,
                },
                {
                    "identity": 3,
                    "packageFrequencyId": 20,
                    "packageCurrencyId": 100,
                    "priceBookId": 2,
                    "isActive": True,
                },
                {
                    "identity": 4,
                    "packageFrequencyId": 22,
                    "packageCurrencyId": 102,
                    "priceBookId": 1,
                    "isActive": True,
                },
                {
                    "identity": 5,
                    "packageFrequencyId": 23,
                    "packageCurrencyId": 103,
                    "priceBookId": 1,
                    "isActive": True,
                },
                {
                    "identity": 6,
                    "packageFrequencyId": 20,
                    "packageCurrencyId": 104,
                    "priceBookId": 2,
                    "isActive": True,
                },
            ]
        ),
        "Service": _f(
            [
                {"identity": 30, "name": "Seat"},
                {"identity": 31, "name": "Setup"},
                {"identity": 32, "name": "Voice"},
            ]
        ),
        "Package/Service": _f(
            [
                {
                    "identity": 40,
                    "packageId": 10,
                    "serviceId": 30,
                    "defaultInstances": 3,
                    "minimumInstances": 1,
                    "maximumInstances": 10,
                },
                {
                    "identity": 41,
                    "packageId": 10,
                    "serviceId": 32,
                    "defaultInstances": 1,
                    "minimumInstances": 0,
                    "maximumInstances": None,
                },
                {
                    "identity": 42,
                    "packageId": 11,
                    "serviceId": 30,
                    "defaultInstances": 1,
                    "minimumInstances": 0,
                    "maximumInstances": None,
                },
            ]
        ),
        "Package/Service/PricePlan": _f(
            [
                {
                    "identity": 50,
                    "packageServiceId": 40,
                    "packageFrequencyId": 20,
                    "packageCurrencyId": 100,
                    "priceBookId": 1,
                    "accountPricePlanId": None,
                    "usageRatePlanId": None,
                },
                {
                    "identity": 51,
                    "packageServiceId": 41,
                    "packageFrequencyId": 20,
                    "packageCurrencyId": 100,
                    "priceBookId": 1,
                    "accountPricePlanId": None,
                    "usageRatePlanId": 60,
                },
                {
                    "identity": 52,
                    "packageServiceId": 40,
                    "packageFrequencyId": 20,
                    "packageCurrencyId": 101,
                    "priceBookId": 2,
                    "accountPricePlanId": None,
                    "usageRatePlanId": None,
                },
                {
                    "identity": 53,
                    "packageServiceId": 41,
                    "packageFrequencyId": 20,
                    "packageCurrencyId": 101,
                    "priceBookId": 2,
                    "accountPricePlanId": None,
                    "usageRatePlanId": None,
                },
                {
                    "identity": 54,
                    "packageServiceId": 40,
                    "packageFrequencyId": 20,
                    "packageCurrencyId": 100,
                    "priceBookId": 2,
                    "accountPricePlanId": None,
                    "usageRatePlanId": None,
                },
                {
                    "identity": 55,
                    "packageServiceId": 42,
                    "packageFrequencyId": 22,
                    "packageCurrencyId": 102,
                    "priceBookId": 1,
                    "accountPricePlanId": None,
                    "usageRatePlanId": None,
                },
                {
                    "identity": 56,
                    "packageServiceId": 40,
                    "packageFrequencyId": 20,
                    "packageCurrencyId": 104,
                    "priceBookId": 2,
                    "accountPricePlanId": None,
                    "usageRatePlanId": None,
                },
                {
                    "identity": 57,
                    "packageServiceId": 41,
                    "packageFrequencyId": 20,
                    "packageCurrencyId": 104,
                    "priceBookId": 2,
                    "accountPricePlanId": None,
                    "usageRatePlanId": None,
                },
                {
                    "identity": 58,
                    "packageServiceId": 40,
                    "packageFrequencyId": 20,
                    "packageCurrencyId": 100,
                    "priceBookId": None,
                    "accountPricePlanId": 900,
                    "usageRatePlanId": None,
                },
            ]
        ),
        "Package/Service/PricePlan/Recurring": _f(
            [
                {
                    "packageServicePricePlanId": 50,
                    "serviceStatusTypeId": 1,
                    "amount": 10.0,
                    "startQuantity": 0,
                },
                {
                    "packageServicePricePlanId": 50,
                    "serviceStatusTypeId": 2,
                    "amount": 2.0,
                    "startQuantity": 0,
                },
                {
                    "packageServicePricePlanId": 51,
                    "serviceStatusTypeId": 1,
                    "amount": 5.0,
                    "startQuantity": 0,
                },
                {
                    "packageServicePricePlanId": 52,
                    "serviceStatusTypeId": 1,
                    "amount": 9.0,
                    "startQuantity": 0,
                },
                {
                    "packageServicePricePlanId": 52,
                    "serviceStatusTypeId": 1,
                    "amount": 8.0,
                    "startQuantity": 3,
                },
                {
                    "packageServicePricePlanId": 53,
                    "serviceStatusTypeId": 1,
                    "amount": 4.0,
                    "startQuantity": 0,
                },
                {
                    "packageServicePricePlanId": 54,
                    "serviceStatusTypeId": 1,
                    "amount": 11.0,
                    "startQuantity": 0,
                },
                {
                    "packageServicePricePlanId": 55,
                    "serviceStatusTypeId": 1,
                    "amount": 7.005,
                    "startQuantity": 0,
                },
                {
                    "packageServicePricePlanId": 56,
                    "serviceStatusTypeId": 1,
                    "amount": 1000.0,
                    "startQuantity": 0,
                },
                {
                    "packageServicePricePlanId": 57,
                    "serviceStatusTypeId": 1,
                    "amount": 100.0,
                    "startQuantity": 0,
                },
                {
                    "packageServicePricePlanId": 58,
                    "serviceStatusTypeId": 1,
                    "amount": 1.0,
                    "startQuantity": 0,
                },
            ]
        ),
        "Package/Service/PricePlan/OneTime": _f(
            [
                {"packageServicePricePlanId": 50, "serviceStatusTransitionId": 1, "amount": 25.0},
                {"packageServicePricePlanId": 50, "serviceStatusTransitionId": 3, "amount": 15.0},
                {"packageServicePricePlanId": 52, "serviceStatusTransitionId": 1, "amount": 20.0},
            ]
        ),
        "ServiceStatusType": _f([{"identity": 1, "name": "Active"}, {"identity": 2, "name": "Suspended"}]),
        "ServiceStatusTransition": _f(
            [
                {
                    "identity": 1,
                    "fromServiceStatusTypeId": None,
                    "toServiceStatusTypeId": 1,
                    "name": "[New] -> Active",
                },
                {
                    "identity": 3,
                    "fromServiceStatusTypeId": 1,
                    "toServiceStatusTypeId": 2,
                    "name": "Active -> Suspended",
                },
            ]
        ),
        "Usage/Rate/Group": _f(
            [
                {"identity": 70, "usageRatePlanId": 60, "currencyId": 1, "start": None, "end": None},
                {"identity": 71, "usageRatePlanId": 60, "currencyId": 2, "start": None, "end": None},
                {
                    "identity": 72,
                    "usageRatePlanId": 60,
                    "currencyId": 1,
                    "start": None,
                    "end": "2026-01-01T00:00:00.000Z",
                },
            ]
        ),
        "Usage/Rate": _f(
            [
                {
                    "identity": 80,
                    "usageRateGroupId": 70,
                    "usageClassId": 90,
                    "amount": 0.0125,
                    "retired": False,
                },
                {
                    "identity": 81,
                    "usageRateGroupId": 71,
                    "usageClassId": 90,
                    "amount": 0.01,
                    "retired": False,
                },
                {"identity": 82, "usageRateGroupId": 72, "usageClassId": 90, "amount": 0.5, "retired": False},
            ]
        ),
        "Usage/Class": _f([{"identity": 90, "name": "Voice minutes"}]),
    }
