"""Catalogue pages become typed frames without per-row work (pure part of the extract stage)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from logisense_sync.clients.logisense import LogiSenseRetriableError
from logisense_sync.extract.catalog import CATALOG_RESOURCES, CatalogFrames, empty_frame, frame_from_pages

SPECS = {spec.attr: spec for spec in CATALOG_RESOURCES}


def _recurring(identity: int, plan: int | None, amount: float | int) -> dict[str, object]:
    return {
        "identity": identity,
        "packageServicePricePlanId": plan,
        "packageServicePricePlanName": "Gold / Voice",
        "serviceStatusTypeId": 1,
        "serviceStatusTypeName": "Active",
        "amount": amount,
        "startQuantity": 0,
        "created": "2026-11-26T20:00:00.000Z",
        "updated": None,
        "extensions": {},
    }


def test_pages_are_joined_with_ids_money_and_dates_typed() -> None:
    pages = [[_recurring(1, 10, 12), _recurring(2, None, 9.9999)], [_recurring(3, 11, -5.5)]]
    frame = frame_from_pages(pages, SPECS["recurring_prices"])
    assert frame["identity"].tolist() == [1, 2, 3]
    assert str(frame["identity"].dtype) == "Int64"
    assert str(frame["packageServicePricePlanId"].dtype) == "Int64"
    assert frame["packageServicePricePlanId"].isna().tolist() == [False, True, False]
    assert frame["amount"].dtype == "float64"
    assert frame["amount"].round(4).tolist() == [12.0, 9.9999, -5.5]
    assert str(frame["created"].dtype) == "datetime64[us, UTC]"
    assert frame["created"].iloc[0] == pd.Timestamp("2026-11-26T20:00:00Z")
    assert "extensions" not in frame.columns  # no row has a custom field
    assert list(frame.columns[:3]) == ["identity", "created", "updated"]


def test_custom_fields_are_kept_when_some_row_has_one() -> None:
    rows = [_recurring(1, 10, 1), {**_recurring(2, 10, 2), "extensions": {"family": "Voice"}}]
    frame = frame_from_pages([rows], SPECS["recurring_prices"])
    assert frame["extensions"].tolist() == [{}, {"family": "Voice"}]


def test_flags_are_nullable_booleans_and_missing_columns_are_added() -> None:
    rows = [{"identity": 1, "name": "Standard", "isStandard": True}, {"identity": 2, "name": "EMEA"}]
    frame = frame_from_pages([rows], SPECS["price_books"])
    assert str(frame["isStandard"].dtype) == "boolean"
    assert frame["isStandard"].tolist() == [True, pd.NA]
    assert list(frame.columns) == list(SPECS["price_books"].columns)


def test_an_empty_resource_gives_an_empty_typed_frame() -> None:
    frame = frame_from_pages([], SPECS["usage_rates"])
    assert frame.empty
    assert list(frame.columns) == list(SPECS["usage_rates"].columns)
    assert str(frame["usageRateGroupId"].dtype) == "Int64"
    assert frame["amount"].dtype == "float64"


def test_frames_round_trip_through_parquet(tmp_path: Path) -> None:
    frames = {spec.attr: empty_frame(spec) for spec in CATALOG_RESOURCES}
    rows = [_recurring(1, 10, 1.25), {**_recurring(2, 10, 2), "extensions": {"sfdcid": "001"}}]
    frames["recurring_prices"] = frame_from_pages([rows], SPECS["recurring_prices"])
    catalog = CatalogFrames(**frames, price_book_ids=(1, 2))
    back = CatalogFrames.read_parquet(catalog.to_parquet(tmp_path / "catalog"))
    assert back.price_book_ids == (1, 2)
    pd.testing.assert_frame_equal(back.recurring_prices, catalog.recurring_prices)
    pd.testing.assert_frame_equal(back.usage_rates, catalog.usage_rates)


def test_frame_columns_are_the_sandbox_dto_property_names_verbatim() -> None:
    from logisense_sync.sandbox.logisense.resources import RESOURCES

    registry = {res.route: res for res in RESOURCES}
    for spec in CATALOG_RESOURCES:
        res = registry[spec.route]
        expected: list[str] = []
        for f in res.fields:
            if f.hidden:
                continue
            expected += [f.name, f.echo] if f.ref else [f.name]
        assert list(spec.fields) == expected, spec.route


def test_prefetched_pages_arrive_in_order_and_errors_reach_the_consumer() -> None:
    from logisense_sync.extract.catalog import prefetched

    def pages(fail_after: int | None) -> Iterator[list[dict[str, Any]]]:
        for n in range(5):
            if fail_after is not None and n == fail_after:
                raise LogiSenseRetriableError("injected", status=503, method="POST", path="/x/Search")
            yield [{"identity": n}]

    assert [p[0]["identity"] for p in prefetched(pages(None))] == [0, 1, 2, 3, 4]
    consumer = prefetched(pages(3))
    assert [next(consumer)[0]["identity"] for _ in range(3)] == [0, 1, 2]
    with pytest.raises(LogiSenseRetriableError, match="injected"):
        next(consumer)
    abandoned = prefetched(pages(None))
    next(abandoned)
    abandoned.close()  # abandoning the iterator stops the background thread
    assert not [t for t in threading.enumerate() if t.name == "logisense-prefetch"]


def test_an_all_null_text_column_is_still_text() -> None:
    rows = [{"identity": 1, "accountPricePlanId": None, "accountPricePlanName": None}]
    frame = frame_from_pages([rows], SPECS["price_plans"])
    assert frame["accountPricePlanName"].dtype == "str"
    assert frame["accountPricePlanName"].isna().all()
    assert str(frame["accountPricePlanId"].dtype) == "Int64"
