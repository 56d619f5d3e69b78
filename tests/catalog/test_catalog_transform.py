"""The pure catalogue transform and diff on a small hand-built catalogue (expected values worked out by hand).

Catalogue (catalog_data.small_catalog): Standard book 1, EMEA book 2; package Gold (10) with Monthly (pf 20,
GOLD-M) and inactive Annual (pf 21); Old (11) expired on 2026-06-01; Empty (12) without services.
Gold's services: Seat (qty 3, min 1, max 10) and Voice (qty 1). Prices:
- Standard/USD: Seat Active 10 (Suspended 2), activation 25, Active->Suspended 15; Voice Active 5, usage 0.0125.
  UnitPrice = 3 x 10 + 25 + 1 x 5 = 60.00.
- EMEA/EUR: Seat Active 9 from 0 and 8 from 3 (qty 3 -> tier 8), activation 20; Voice Active 4.
  UnitPrice = 3 x 8 + 20 + 4 = 48.00. No standard EUR price: standard entry inactive at 48.00.
- EMEA/USD: Voice has no price -> skipped. EMEA/JPY: JPY unknown to Salesforce -> skipped.
- Old/USD standard: 7.005 -> 7.01 (half-up), inactive (expired). Empty: no services -> skipped.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from logisense_sync.transforms.catalog import (
    KEY,
    CatalogConfig,
    CatalogRecords,
    round_money,
    transform_catalog,
)
from logisense_sync.transforms.catalog_diff import diff_records, diff_standard_book, record_hash

from tests.catalog.catalog_data import small_catalog

AS_OF = dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)
CURRENCIES = frozenset({"USD", "EUR", "GBP", "CAD"})


def _transform(books: frozenset[int] | None = None) -> CatalogRecords:
    return transform_catalog(
        small_catalog(), CatalogConfig(as_of=AS_OF, currencies=CURRENCIES, price_book_ids=books)
    )


def _by_key(frame: pd.DataFrame) -> dict[str, dict[str, object]]:
    return {row[KEY]: row for row in frame.to_dict(orient="records")}


def test_products_are_package_frequencies_active_only_inside_the_window() -> None:
    products = _by_key(_transform().frames["Product2"])

    assert set(products) == {"pf:20", "pf:21", "pf:22"}
    assert products["pf:20"]["Name"] == "Gold - Monthly"  # "<package> - <frequency>"
    assert products["pf:20"]["ProductCode"] == "GOLD-M"
    assert products["pf:20"]["Description"] == "Gold plan"
    assert [products[k]["IsActive"] for k in ("pf:20", "pf:21", "pf:22")] == [True, False, False]


def test_unit_price_sums_quantity_times_active_recurring_plus_activation_charges() -> None:
    entries = _by_key(_transform().frames["PricebookEntry"])

    assert entries["pbe:1:20:USD"]["UnitPrice"] == 60.00
    assert entries["pbe:2:20:EUR"]["UnitPrice"] == 48.00
    assert entries["pbe:1:22:USD"]["UnitPrice"] == 7.01
    assert entries["pbe:1:20:USD"]["IsActive"] is True
    assert entries["pbe:1:22:USD"]["IsActive"] is False


def test_every_product_and_currency_sold_gets_a_standard_entry_inactive_when_logisense_has_none() -> None:
    entries = _by_key(_transform().frames["PricebookEntry"])

    fallback = entries["pbe:1:20:EUR"]
    assert fallback["IsStandard"]
    assert fallback["Fallback"]
    assert fallback["IsActive"] is False
    assert fallback["UnitPrice"] == 48.00
    assert fallback["Pricebook2.LogiSense_Id__c"] == "pb:1"
    assert set(entries) == {"pbe:1:20:USD", "pbe:1:22:USD", "pbe:1:20:EUR", "pbe:2:20:EUR"}


def test_bad_source_records_are_reported_and_skipped_while_good_ones_flow() -> None:
    result = _transform()
    rules = {row["key"]: row["rule"] for row in result.findings.to_dict(orient="records")}

    assert set(rules) == {"pf:23", "pbe:1:23:USD", "pbe:2:20:USD", "pbe:2:20:JPY"}
    assert "no services" in rules["pf:23"]
    assert "missing price for currency USD" in rules["pbe:2:20:USD"]
    assert "Voice" in rules["pbe:2:20:USD"]
    assert "JPY is not an active Salesforce currency" in rules["pbe:2:20:JPY"]
    assert result.skipped["PricebookEntry"] == {"pbe:1:23:USD", "pbe:2:20:USD", "pbe:2:20:JPY"}


def test_duplicate_skus_skip_every_product_sharing_them() -> None:
    frames = small_catalog()
    frames["Package/Frequency"].loc[frames["Package/Frequency"]["identity"] == 21, "sku"] = "GOLD-M"

    result = transform_catalog(frames, CatalogConfig(as_of=AS_OF, currencies=CURRENCIES))

    assert {"pf:20", "pf:21"} <= set(result.findings["key"])
    assert "pf:20" not in set(result.frames["Product2"][KEY])
    assert not result.frames["PricebookEntry"][KEY].str.contains(":20:").any()


def test_negative_unit_prices_are_skipped() -> None:
    frames = small_catalog()
    one_time = frames["Package/Service/PricePlan/OneTime"]
    one_time.loc[one_time["packageServicePricePlanId"] == 52, "amount"] = -100.0

    result = transform_catalog(frames, CatalogConfig(as_of=AS_OF, currencies=CURRENCIES))

    finding = result.findings.set_index("key").loc["pbe:2:20:EUR", "rule"]
    assert "negative price" in finding


def test_service_lines_one_per_priced_charge_with_quantities() -> None:
    lines = _by_key(_transform().frames["Product_Service__c"])

    assert set(lines) == {
        "psl:1:20:USD:30:R1", "psl:1:20:USD:30:R2", "psl:1:20:USD:30:O1", "psl:1:20:USD:30:O3",
        "psl:1:20:USD:32:R1", "psl:1:20:USD:32:U80",
        "psl:2:20:EUR:30:R1", "psl:2:20:EUR:30:R1@3", "psl:2:20:EUR:30:O1", "psl:2:20:EUR:32:R1",
        "psl:1:22:USD:30:R1",
    }  # fmt: skip
    seat = lines["psl:1:20:USD:30:R1"]
    assert (seat["Service_Name__c"], seat["Charge_Type__c"], seat["Service_Status__c"]) == (
        "Seat",
        "Recurring",
        "Active",
    )
    assert (seat["Default_Quantity__c"], seat["Minimum_Quantity__c"], seat["Maximum_Quantity__c"]) == (
        3,
        1,
        10,
    )
    assert lines["psl:1:20:USD:30:O1"]["Service_Status__c"] == "[New] -> Active"
    assert lines["psl:1:20:USD:32:U80"]["Charge_Type__c"] == "Usage"
    assert lines["psl:1:20:USD:32:U80"]["Service_Status__c"] == "Voice minutes"
    assert lines["psl:1:20:USD:32:U80"]["Amount__c"] == 0.0125  # usage rates keep 6 decimals
    assert lines["psl:2:20:EUR:30:R1@3"]["Service_Status__c"] == "Active (from 3)"
    assert lines["psl:1:20:USD:30:R1"]["Pricebook__r.LogiSense_Id__c"] == "pb:1"
    assert lines["psl:1:20:USD:30:R1"]["Product__r.LogiSense_Id__c"] == "pf:20"


def test_narrowing_to_one_book_keeps_its_entries_and_the_standard_entries_it_needs() -> None:
    result = _transform(frozenset({2}))

    # book 2 sells pf 20 in EUR (fallback standard entry) and USD (its own entry skipped: missing price; the
    # standard USD entry still comes from the standard book); nothing of the Old package, sold only in book 1.
    assert set(result.frames["PricebookEntry"][KEY]) == {"pbe:2:20:EUR", "pbe:1:20:EUR", "pbe:1:20:USD"}
    assert set(result.frames["Product2"][KEY]) == {"pf:20"}
    assert set(result.frames["Pricebook2"][KEY]) == {"pb:1", "pb:2"}


@pytest.mark.parametrize(
    ("raw", "rounded"), [(7.005, 7.01), (-7.005, -7.01), (0.0125, 0.01), (19.995, 20.0), (2.675, 2.68)]
)
def test_money_rounds_half_away_from_zero_to_two_decimals(raw: float, rounded: float) -> None:
    assert round_money(pd.Series([raw])).iloc[0] == rounded


def _current(frame: pd.DataFrame) -> pd.DataFrame:
    current = frame.astype(object).copy()
    current["Id"] = [f"01u{i:015d}" for i in range(len(current))]
    return current


def test_identical_records_plan_nothing() -> None:
    desired = _transform().frames["PricebookEntry"]

    plan = diff_records("PricebookEntry", desired, _current(desired))

    assert plan.empty


def test_diff_normalises_types_from_bulk_csv() -> None:
    desired = _transform().frames["Product_Service__c"]
    current = _current(desired)
    current["Amount__c"] = current["Amount__c"].map(lambda v: None if pd.isna(v) else f"{v:.6f}")
    for col in ("Default_Quantity__c", "Minimum_Quantity__c", "Maximum_Quantity__c"):
        current[col] = current[col].map(lambda v: None if pd.isna(v) else f"{v:.2f}")

    assert diff_records("Product_Service__c", desired, current).empty


def test_changes_become_updates_and_vanished_records_deactivations() -> None:
    desired = _transform().frames["PricebookEntry"]
    current = _current(desired)
    current.loc[current[KEY] == "pbe:1:20:USD", "UnitPrice"] = 59.0
    gone = pd.DataFrame([{KEY: "pbe:2:99:EUR", "UnitPrice": 1.0, "IsActive": True, "Id": "01u_gone"}])
    skipped_but_present = pd.DataFrame(
        [{KEY: "pbe:2:20:USD", "UnitPrice": 1.0, "IsActive": True, "Id": "01u_skip"}]
    )
    current = pd.concat(
        [current[current[KEY] != "pbe:2:20:EUR"], gone, skipped_but_present], ignore_index=True
    )

    plan = diff_records("PricebookEntry", desired, current, skipped={"pbe:2:20:USD"})

    ops = dict(zip(plan[KEY], plan["op"], strict=True))
    assert ops == {"pbe:2:20:EUR": "create", "pbe:1:20:USD": "update", "pbe:2:99:EUR": "deactivate"}
    update = plan.set_index(KEY).loc["pbe:1:20:USD"]
    assert update["changed"] == "UnitPrice"
    assert update["UnitPrice"] == 60.0


def test_update_is_drift_when_logisense_did_not_change_since_last_sync() -> None:
    desired = _transform().frames["Product2"]
    current = _current(desired)
    current.loc[current[KEY] == "pf:20", "Name"] = "Renamed by hand"
    state = pd.Series(record_hash(desired, "Product2").to_numpy(), index=desired[KEY].to_numpy())

    plan = diff_records("Product2", desired, current, state=state)
    changed_in_logisense = diff_records("Product2", desired, current, state=state.drop("pf:20"))

    assert plan.set_index(KEY).loc["pf:20", "drift"]
    assert not changed_in_logisense.set_index(KEY).loc["pf:20", "drift"]


def test_vanished_service_lines_are_deleted_not_deactivated() -> None:
    desired = _transform().frames["Product_Service__c"]
    current = _current(desired)
    extra = current.iloc[[0]].assign(**{KEY: "psl:2:20:EUR:30:R9", "Id": "a00gone"})

    plan = diff_records("Product_Service__c", desired, pd.concat([current, extra], ignore_index=True))

    assert plan[["op", KEY]].to_dict(orient="records") == [{"op": "delete", KEY: "psl:2:20:EUR:30:R9"}]


def test_the_existing_standard_book_is_tagged_once() -> None:
    desired = _transform().frames["Pricebook2"]
    untagged = pd.DataFrame([{"Id": "01s000000000001AAA", KEY: None, "IsStandard": True}])
    tagged = untagged.assign(**{KEY: "pb:1"})

    plan = diff_standard_book(desired, untagged)

    assert plan[["op", KEY, "Id"]].to_dict(orient="records") == [
        {"op": "tag", KEY: "pb:1", "Id": "01s000000000001AAA"}
    ]
    assert diff_standard_book(desired, tagged).empty


def test_frames_typed_as_the_extract_types_them_give_the_same_records_and_findings() -> None:
    from logisense_sync.extract.catalog import _typed

    typed = {route: _typed(frame.copy()) for route, frame in small_catalog().items()}

    result = transform_catalog(typed, CatalogConfig(as_of=AS_OF, currencies=CURRENCIES))
    plain = _transform()

    assert not result.findings.isna().any().any()
    assert sorted(result.findings["rule"]) == sorted(plain.findings["rule"])
    for obj, frame in plain.frames.items():
        assert _by_key(result.frames[obj]).keys() == _by_key(frame).keys()
    assert _by_key(result.frames["PricebookEntry"])["pbe:2:20:EUR"]["UnitPrice"] == 48.00


def test_a_price_without_an_amount_skips_its_entry_instead_of_pricing_it_at_zero() -> None:
    frames = small_catalog()
    recurring = frames["Package/Service/PricePlan/Recurring"]
    recurring["amount"] = recurring["amount"].astype(object)
    recurring.loc[recurring["packageServicePricePlanId"] == 53, "amount"] = None

    result = transform_catalog(frames, CatalogConfig(as_of=AS_OF, currencies=CURRENCIES))

    assert "no amount" in result.findings.set_index("key").loc["pbe:2:20:EUR", "rule"]
    assert "pbe:2:20:EUR" not in set(result.frames["PricebookEntry"][KEY])
    assert not result.frames["Product_Service__c"][KEY].str.startswith("psl:2:20:EUR:").any()


def test_a_frequency_named_after_its_package_is_not_prefixed_twice() -> None:
    frames = small_catalog()
    frames["Package/Frequency"].loc[frames["Package/Frequency"]["identity"] == 20, "name"] = "Gold Monthly"

    products = _by_key(
        transform_catalog(frames, CatalogConfig(as_of=AS_OF, currencies=CURRENCIES)).frames["Product2"]
    )

    assert products["pf:20"]["Name"] == "Gold Monthly"
    assert products["pf:21"]["Name"] == "Gold - Annual"
