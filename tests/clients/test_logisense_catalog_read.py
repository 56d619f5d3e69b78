"""read_catalog against the LogiSense sandbox: complete, narrowed by price book, few API calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from logisense_sync.clients.logisense import LogiSenseClient
from logisense_sync.extract.catalog import (
    CATALOG_RESOURCES,
    CatalogFrames,
    UnknownPriceBook,
    read_catalog,
    write_catalog,
)


def _search_calls(sandbox: Any) -> int:
    by_route: dict[str, int] = sandbox.requests()["by_route"]
    return sum(n for route, n in by_route.items() if route.endswith("/Search"))


def test_the_whole_catalogue_is_read_with_one_search_per_resource(
    logisense_sandbox: Any, ls_client: LogiSenseClient
) -> None:
    logisense_sandbox.seed("demo")
    state = logisense_sandbox.snapshot()
    logisense_sandbox.clear_requests()

    catalog = read_catalog(ls_client)

    assert _search_calls(logisense_sandbox) == len(CATALOG_RESOURCES)
    catalogue_plans = {
        p["identity"] for p in state["Package/Service/PricePlan"] if p["accountPricePlanId"] is None
    }
    expected = {spec.attr: len(state[spec.route]) for spec in CATALOG_RESOURCES}
    expected["price_plans"] = len(catalogue_plans)
    for attr, route in (
        ("recurring_prices", "Package/Service/PricePlan/Recurring"),
        ("one_time_prices", "Package/Service/PricePlan/OneTime"),
    ):
        expected[attr] = sum(1 for r in state[route] if r["packageServicePricePlanId"] in catalogue_plans)
    assert catalog.row_counts() == expected
    assert catalog.price_plans["accountPricePlanId"].isna().all()
    assert catalog.recurring_prices["packageServicePricePlanId"].isin(catalog.price_plans["identity"]).all()
    assert catalog.price_book_ids is None
    active = catalog.recurring_prices[catalog.recurring_prices["serviceStatusTypeName"] == "Active"]
    assert not active.empty
    assert active["amount"].dtype == "float64"


@pytest.mark.parametrize("narrow_children", ["auto", "in", "filter"])
def test_one_price_book_is_read_with_the_standard_book_and_nothing_else(
    logisense_sandbox: Any, ls_client: LogiSenseClient, narrow_children: Any
) -> None:
    logisense_sandbox.seed("demo")
    books = {b["name"]: b["identity"] for b in ls_client.search("PriceBook")}
    standard, emea = books["Standard"], books["EMEA"]

    catalog = read_catalog(ls_client, [emea], narrow_children=narrow_children)

    assert catalog.price_book_ids == tuple(sorted({standard, emea}))
    assert set(catalog.price_books["identity"]) == {standard, emea}
    for frame in (catalog.frequency_currencies, catalog.price_plans):
        assert set(frame["priceBookId"]) <= {standard, emea}
        assert emea in set(frame["priceBookId"])
    state = logisense_sandbox.snapshot()
    plans = {
        p["identity"] for p in state["Package/Service/PricePlan"] if p["priceBookId"] in (standard, emea)
    }
    assert set(catalog.price_plans["identity"]) == plans
    wanted = [
        r["identity"]
        for r in state["Package/Service/PricePlan/Recurring"]
        if r["packageServicePricePlanId"] in plans
    ]
    assert sorted(catalog.recurring_prices["identity"]) == sorted(wanted)
    one_time = [
        r["identity"]
        for r in state["Package/Service/PricePlan/OneTime"]
        if r["packageServicePricePlanId"] in plans
    ]
    assert sorted(catalog.one_time_prices["identity"]) == sorted(one_time)


def test_an_unknown_price_book_is_refused_naming_the_known_ones(
    logisense_sandbox: Any, ls_client: LogiSenseClient
) -> None:
    with pytest.raises(UnknownPriceBook, match=r"\[987654\] do not exist"):
        read_catalog(ls_client, [987654])


def test_small_pages_give_the_same_frames_as_large_ones(
    logisense_sandbox: Any, ls_client: LogiSenseClient
) -> None:
    logisense_sandbox.seed("generated", packages=3, seed=11)
    big = read_catalog(ls_client)
    logisense_sandbox.clear_requests()
    small = read_catalog(ls_client, page_size=97)
    assert _search_calls(logisense_sandbox) >= len(CATALOG_RESOURCES) + 3  # several resources span pages
    for name, frame in big.frames().items():
        pd.testing.assert_frame_equal(small.frames()[name], frame, obj=name)


@pytest.mark.parametrize("narrowed", [False, True], ids=["whole catalogue", "one price book"])
def test_the_catalogue_streamed_to_parquet_page_by_page_reads_back_as_the_frames_read_in_memory(
    logisense_sandbox: Any, ls_client: LogiSenseClient, tmp_path: Path, narrowed: bool
) -> None:
    logisense_sandbox.seed("generated", packages=4, seed=7)
    books = (
        [b["identity"] for b in ls_client.search("PriceBook") if not b["isStandard"]][:1]
        if narrowed
        else None
    )
    in_memory = read_catalog(ls_client, books, page_size=97)

    rows = write_catalog(ls_client, tmp_path, books, page_size=97)

    streamed = CatalogFrames.read_parquet(tmp_path)
    assert rows == in_memory.row_counts()
    assert streamed.price_book_ids == in_memory.price_book_ids
    for name, frame in in_memory.frames().items():
        pd.testing.assert_frame_equal(streamed.frames()[name], frame, obj=name)


def test_a_projection_reads_and_keeps_only_the_named_properties_of_a_resource(
    logisense_sandbox: Any, ls_client: LogiSenseClient, tmp_path: Path
) -> None:
    logisense_sandbox.seed("generated", packages=2, seed=3)
    wanted = ["packageServicePricePlanId", "amount"]

    write_catalog(ls_client, tmp_path, fields={"Package/Service/PricePlan/Recurring": wanted})

    prices = pd.read_parquet(tmp_path / "recurring_prices.parquet")
    assert list(prices.columns) == ["identity", *wanted]
    assert len(prices) == len(read_catalog(ls_client).recurring_prices)
    unprojected = pd.read_parquet(tmp_path / "one_time_prices.parquet")
    assert "serviceStatusTransitionName" in unprojected.columns


def test_count_reads_only_the_total(logisense_sandbox: Any, ls_client: LogiSenseClient) -> None:
    logisense_sandbox.seed("demo")
    state = logisense_sandbox.snapshot()
    assert ls_client.count("Package/Service/PricePlan") == len(state["Package/Service/PricePlan"])
    assert ls_client.count("Currency", {"code": ["USD", "EUR"]}) == 2
