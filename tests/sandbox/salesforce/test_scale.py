"""What lets the Salesforce sandbox hold millions of records: compact rows, hashed external-id indexes, Bulk
job uploads and results on disk, query results paged from disk."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import requests
from logisense_sync.sandbox.salesforce import store as store_module
from logisense_sync.sandbox.salesforce.rules import Dml
from logisense_sync.sandbox.salesforce.schema import default_metadata_dir, load_schema
from logisense_sync.sandbox.salesforce.seed import seed_org_basics
from logisense_sync.sandbox.salesforce.store import Store
from simple_salesforce import Salesforce


@pytest.fixture
def dml(tmp_path: Path) -> Dml:
    schema = load_schema(default_metadata_dir())
    d = Dml(schema, Store(schema, tmp_path / "sf.sqlite3"))
    seed_org_basics(d)
    return d


def test_records_read_back_as_complete_dicts_and_survive_a_reload(dml: Dml, tmp_path: Path) -> None:
    with dml.store.transaction():
        rid = dml.insert("Product2", {"Name": "Plan", "LogiSense_Id__c": "PF-1", "IsActive": True})
    rec = dml.store.get(rid)
    assert rec is not None
    so = dml.schema.sobject("Product2")
    assert so is not None
    assert list(rec) == list(so.fields)  # every field, in field order
    assert (rec["Name"], rec["IsActive"], rec["Description"]) == ("Plan", True, None)
    rec["Name"] = "changed by a caller"  # a copy: the store is not affected
    assert dml.store.get(rid)["Name"] == "Plan"  # type: ignore[index]
    row = dml.store.get_row(rid)
    assert row is not None
    assert row.get("LogiSense_Id__c") == "PF-1"
    assert row.get("NoSuchField__c", "x") == "x"
    dml.store.close()
    again = Store(dml.schema, tmp_path / "sf.sqlite3")
    assert again.get(rid) == dml.store.get(rid)


def test_external_ids_match_case_insensitively_even_when_every_hash_collides(
    dml: Dml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_SLOT_MASK", 0)  # every key lands in one index slot
    with dml.store.transaction():
        a = dml.insert("Product2", {"Name": "A", "LogiSense_Id__c": "PF-A"})
        b = dml.insert("Product2", {"Name": "B", "LogiSense_Id__c": "pf-b"})
    find = dml.store.find_by_external_id
    assert find("Product2", "LogiSense_Id__c", "pf-a") == [a]
    assert find("Product2", "LogiSense_Id__c", "PF-B") == [b]
    assert find("Product2", "LogiSense_Id__c", "PF-C") == []
    with dml.store.transaction():
        assert dml.upsert("Product2", "LogiSense_Id__c", "Pf-A", {"Name": "A2"}) == (a, False)
        with pytest.raises(Exception, match="duplicate value found"):
            dml.update(b, {"LogiSense_Id__c": "PF-a"})
    with dml.store.transaction():
        dml.delete(a)
    assert find("Product2", "LogiSense_Id__c", "PF-A") == []
    assert find("Product2", "LogiSense_Id__c", "PF-B") == [b]


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def test_bulk2_ingest_keeps_its_upload_and_results_on_disk_not_in_memory(tmp_path: Path) -> None:
    from logisense_sync.sandbox.salesforce.app import create_app

    ctx = create_app(tmp_path).state.sandbox
    api = ctx.bulk
    session = type("S", (), {"user_id": ctx.user_id})()
    body = {"object": "Product2", "operation": "upsert", "externalIdFieldName": "LogiSense_Id__c"}
    job = api.create_job(body, "59.0", session)
    data = _csv([["Name", "LogiSense_Id__c"], *[[f"P{i}", f"PF-{i}"] for i in range(500)], ["", "PF-x"]])
    api.upload(job.id, data)
    assert job.path("upload").exists()
    api.set_state(job.id, {"state": "UploadComplete"}, "/jobs/ingest")
    info = job.info()
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (
        "JobComplete",
        501,
        1,
    )
    assert not job.path("upload").exists()  # the upload goes once processed
    assert not hasattr(job, "successes")
    assert not hasattr(job, "data")
    ok = list(csv.reader(io.StringIO(api.results_csv(job.id, "successfulResults"))))
    assert ok[0] == ["sf__Id", "sf__Created", "Name", "LogiSense_Id__c"]
    assert len(ok) == 501
    assert ok[1][1:] == ["true", "P0", "PF-0"]
    bad = list(csv.reader(io.StringIO(api.results_csv(job.id, "failedResults"))))
    assert bad[1][0] == ""
    assert bad[1][1].startswith("REQUIRED_FIELD_MISSING:")
    assert bad[1][2:] == ["", "PF-x"]
    assert api.results_csv(job.id, "unprocessedRecords") == "Name,LogiSense_Id__c\n"
    assert job.path("successfulResults").parent == tmp_path / "bulk-jobs"
    api.delete_job(job)
    assert not list((tmp_path / "bulk-jobs").iterdir())


def test_bulk2_query_pages_from_disk_with_max_records_and_locator(
    salesforce_sandbox: Any, sf: Salesforce
) -> None:
    rows = [{"Name": f"Plan {i:04d}", "LogiSense_Id__c": f"PF-{i}"} for i in range(2500)]
    sf.bulk2.Product2.upsert(records=rows, external_id_field="LogiSense_Id__c", wait=0.05)
    base = f"{salesforce_sandbox.url}/services/data/v59.0/jobs/query"
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    soql = "SELECT Name, LogiSense_Id__c FROM Product2 WHERE LogiSense_Id__c != null"
    job = requests.post(base, json={"operation": "query", "query": soql}, headers=headers, timeout=30).json()
    got: list[list[str]] = []
    locator = None
    pages = 0
    while True:
        params: dict[str, Any] = {"maxRecords": 1000}
        if locator:
            params["locator"] = locator
        page = requests.get(f"{base}/{job['id']}/results", params=params, headers=headers, timeout=30)
        assert page.status_code == 200
        assert int(page.headers["content-length"]) == len(page.content)
        lines = list(csv.reader(io.StringIO(page.text)))
        assert lines[0] == ["Name", "LogiSense_Id__c"]
        assert int(page.headers["Sforce-NumberOfRecords"]) == len(lines) - 1
        got.extend(lines[1:])
        pages += 1
        locator = page.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert pages == 3
    assert sorted(got) == sorted([r["Name"], r["LogiSense_Id__c"]] for r in rows)
