"""A big catalogue is planned in shards: the same Salesforce result, the same drift and no extra API calls."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from logisense_sync.clients.logisense import LogiSenseClient
from logisense_sync.clients.salesforce import SalesforceClient
from logisense_sync.pipelines.catalog_shards import key_shards, shard_count
from logisense_sync.pipelines.catalog_sync import SyncOptions, sync_catalog

from tests.catalog.catalog_helpers import SalesforceApi, data_writes

NOW = dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)
SOQL = {
    "Product2": "SELECT LogiSense_Id__c, Name, ProductCode, IsActive FROM Product2",
    "PricebookEntry": "SELECT LogiSense_Id__c, UnitPrice, IsActive, CurrencyIsoCode FROM PricebookEntry",
    "Product_Service__c": "SELECT LogiSense_Id__c, Amount__c, Default_Quantity__c, Charge_Type__c "
    "FROM Product_Service__c",
}


def _integrated(api: SalesforceApi) -> dict[str, dict[str, tuple[Any, ...]]]:
    out = {}
    for obj, soql in SOQL.items():
        rows = api.query(soql + " WHERE LogiSense_Id__c != null")
        out[obj] = {r["LogiSense_Id__c"]: tuple(sorted(r.items())) for r in rows}
    return out


@pytest.fixture
def generated(sandboxes: tuple[Any, Any]) -> tuple[Any, Any]:
    sf_box, ls_box = sandboxes
    ls_box.seed("generated", packages=12, seed=5)
    return sf_box, ls_box


def _sync(boxes: tuple[Any, Any], api: SalesforceApi, tmp: Path, shard_entries: int, **options: Any) -> Any:
    ls_box = boxes[1]
    logisense = LogiSenseClient(
        base_url=ls_box.url, username="admin", password="sandbox", client_id="sandbox", verify=str(ls_box.ca)
    )
    run_dir = tmp / f"run-{len(list(tmp.glob('run-*')))}"
    run_dir.mkdir(parents=True)
    return sync_catalog(
        logisense,
        SalesforceClient(api.sf),
        run_dir,
        SyncOptions(**options),
        as_of=NOW,
        state_dir=tmp / "state",
        shard_entries=shard_entries,
    )


def test_a_product_and_its_entries_and_lines_share_one_shard() -> None:
    keys = pd.Series(["pf:17", "pbe:3:17:USD", "psl:3:17:USD:4:R1@10", "pbe:1:18:EUR", "pb:3", "hand-made"])

    shards = key_shards(keys, 5)

    assert shards.tolist() == [2, 2, 2, 3, 0, 0]
    assert shard_count(1_000_000, 100_000) == 10
    assert shard_count(0, 100_000) == 1


def test_a_sharded_plan_lands_exactly_what_one_shard_lands_and_reruns_write_nothing(
    generated: tuple[Any, Any], salesforce_api: SalesforceApi, tmp_path: Path
) -> None:
    whole = _sync(generated, salesforce_api, tmp_path / "whole", shard_entries=10**9)
    expected = _integrated(salesforce_api)
    whole_calls = whole.api_calls["salesforce"]
    generated[0].reset()

    sharded = _sync(generated, salesforce_api, tmp_path / "sharded", shard_entries=20)

    assert sharded.ok, sharded.failed
    assert sharded.planned == whole.planned
    assert _integrated(salesforce_api) == expected
    assert sum(len(v) for v in expected.values()) > 100
    assert sharded.api_calls["salesforce"] <= whole_calls + 6  # the step batches refill whole Bulk jobs
    generated[0].clear_requests()
    again = _sync(generated, salesforce_api, tmp_path / "sharded", shard_entries=20)
    assert data_writes(generated[0]) == {}
    assert all(not ops for ops in again.planned.values())


@pytest.mark.parametrize(
    ("first", "second"),
    [(20, 20), (10**9, 20), (20, 10**9)],
    ids=["same shards", "the catalogue outgrew one shard", "fewer shards than last time"],
)
def test_hand_edits_are_reverted_as_drift_in_every_shard(
    generated: tuple[Any, Any], salesforce_api: SalesforceApi, tmp_path: Path, first: int, second: int
) -> None:
    _sync(generated, salesforce_api, tmp_path, shard_entries=first)
    entries = salesforce_api.query(
        "SELECT Id, LogiSense_Id__c FROM PricebookEntry WHERE LogiSense_Id__c != null ORDER BY LogiSense_Id__c"
    )
    edited = entries[:: max(1, len(entries) // 6)]
    for row in edited:
        salesforce_api.sf.PricebookEntry.update(row["Id"], {"UnitPrice": 999999})
    assert len({key_shards(pd.Series([r["LogiSense_Id__c"]]), 5)[0] for r in edited}) > 1

    report = _sync(generated, salesforce_api, tmp_path, shard_entries=second)

    assert report.planned["PricebookEntry"] == {"update": len(edited)}
    assert report.drift == {"PricebookEntry": len(edited)}
    prices = {r["UnitPrice"] for r in salesforce_api.query("SELECT UnitPrice FROM PricebookEntry")}
    assert 999999 not in prices
