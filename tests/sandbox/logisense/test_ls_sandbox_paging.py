"""Paging deep into big tables and the batched generator, on a Store in a temporary directory (no HTTP)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from logisense_sync.sandbox.logisense import seed
from logisense_sync.sandbox.logisense.resources import BY_ROUTE
from logisense_sync.sandbox.logisense.routes import Call, handle
from logisense_sync.sandbox.logisense.store import Query, Store

RECURRING = "Package/Service/PricePlan/Recurring"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "ls.sqlite3")
    seed.load_generated(s, 40, seed=7)
    return s


def page(store: Store, route: str, number: int, size: int, **query: Any) -> dict[str, Any]:
    body = {"query": {"top": size, "pagination": {"pageNumber": number, "pageSize": size}, **query}}
    return handle(store, Call(BY_ROUTE[route], "search"), body, None)


def all_ids(store: Store, route: str) -> list[int]:
    table = store.table(route)
    return [r[0] for r in store.conn.execute(f"SELECT identity FROM {table} ORDER BY identity")]


def test_pages_in_any_order_hold_the_rows_of_an_offset_scan(store: Store) -> None:
    ids = all_ids(store, RECURRING)
    size = 97
    pages = -(-len(ids) // size)
    order = list(range(1, pages + 2))  # one past the end too
    random.Random(3).shuffle(order)
    for number in [*order, *range(1, pages + 2)]:
        got = page(store, RECURRING, number, size, orderBy=[{"name": "identity", "direction": "asc"}])
        items = got["pagedResults"]["items"]
        assert [it["identity"] for it in items] == ids[(number - 1) * size : number * size]
        assert got["pagedResults"]["totalCount"] == len(ids)


def test_deep_page_does_not_offset_scan_when_read_in_order(store: Store) -> None:
    ids = all_ids(store, RECURRING)
    size = 50
    params: list[tuple[Any, ...]] = []
    original = store.conn

    class Spy:
        def __getattr__(self, name: str) -> Any:
            return getattr(original, name)

        def execute(self, sql: str, parameters: Any = ()) -> Any:
            if "ORDER BY" in sql and "LIMIT ? OFFSET ?" in sql:
                params.append(tuple(parameters))
            return original.execute(sql, parameters)

    store.conn = Spy()  # type: ignore[assignment]
    try:
        for number in range(1, len(ids) // size + 1):
            page(store, RECURRING, number, size)
    finally:
        store.conn = original
    assert params, "no paged query seen"
    assert all(p[-1] == 0 for p in params)  # OFFSET 0 every time: each page seeks, none scans


def test_pages_after_writes_and_deletes_see_the_new_data(store: Store) -> None:
    size = 100
    first = page(store, RECURRING, 3, size)["pagedResults"]["items"]
    with store.write("delete") as tx:
        for it in first[:10]:
            store.delete(tx, BY_ROUTE[RECURRING], it["identity"])
    ids = all_ids(store, RECURRING)
    for number in (1, 2, 3, 4):
        items = page(store, RECURRING, number, size)["pagedResults"]["items"]
        assert [it["identity"] for it in items] == ids[(number - 1) * size : number * size]


def test_projection_filters_and_sorts_page_like_before(store: Store) -> None:
    route = "Package/Frequency/Currency"
    items = page(store, route, 2, 10, fields=["isActive", "priceBookId"])["pagedResults"]["items"]
    assert [set(it) for it in items] == [{"identity", "isActive", "priceBookId", "priceBookName"}] * 10
    assert all(isinstance(it["isActive"], bool) for it in items)
    filtered = page(
        store,
        route,
        2,
        10,
        search=[{"name": "priceBookId", "operator": "eq", "value": 2}],
        orderBy=[{"name": "identity", "direction": "desc"}],
    )["pagedResults"]
    table = store.table(route)
    expected = [
        r[0]
        for r in store.conn.execute(
            f"SELECT identity FROM {table} WHERE priceBookId = 2 ORDER BY identity DESC"
        )
    ]
    assert filtered["totalCount"] == len(expected)
    assert [it["identity"] for it in filtered["items"]] == expected[10:20]


def test_rows_render_as_before(store: Store) -> None:
    res = BY_ROUTE["Package/Frequency/Currency"]
    q = Query("", [], [], None, 5, 1, 5)
    items, total = store.search(res, q)
    assert total == store.counts()[res.route]
    first = items[0]
    assert first["isActive"] is True
    assert first["extensions"] == {}
    assert first["priceBookName"] == "Standard"
    assert list(first)[:3] == ["identity", "packageFrequencyId", "packageFrequencyName"]


def test_generator_writes_the_same_rows_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = Store(tmp_path / "one.sqlite3")
    seed.load_generated(one, 23, seed=5)
    monkeypatch.setattr(seed, "SEED_BATCH", 4)
    batched = Store(tmp_path / "batched.sqlite3")
    seed.load_generated(batched, 23, seed=5)

    def strip(snapshot: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        return {
            route: [{k: v for k, v in row.items() if k not in ("created", "updated")} for row in rows]
            for route, rows in snapshot.items()
        }

    assert strip(batched.snapshot()) == strip(one.snapshot())
    assert batched.counts()["Package"] == 23


def test_every_name_echo_is_the_referenced_rows_label(store: Store) -> None:
    # echoes of reference data come from label maps, the others from joins: both must equal the target's label
    snapshot = store.snapshot()
    checked = 0
    for route, rows in snapshot.items():
        for f in BY_ROUTE[route].refs:
            target = store.table(f.ref or "")
            labels = dict(store.conn.execute(f"SELECT identity, _label FROM {target}"))
            for row in rows:
                assert row[f.echo] == labels.get(row[f.name]), (route, f.name, row["identity"])
                checked += 1
    assert checked > 1000


def test_echoes_follow_a_renamed_price_book_in_the_next_page(store: Store) -> None:
    route = "Package/Frequency/Currency"
    before = page(store, route, 1, 50)["pagedResults"]["items"]
    assert {it["priceBookName"] for it in before} >= {"Standard"}
    with store.write("update") as tx:
        store.update(tx, BY_ROUTE["PriceBook"], 1, {"name": "Global"}, children=False)
    after = page(store, route, 1, 50)["pagedResults"]["items"]
    assert [it["priceBookName"] for it in after] == [
        "Global" if it["priceBookName"] == "Standard" else it["priceBookName"] for it in before
    ]
