"""SOQL over the wire: `/query`, `/queryAll`, `nextRecordsUrl` paging and Bulk API 2.0 query jobs, driven
only through unmodified clients (simple-salesforce 1.12 and the Airflow provider's SalesforceHook)."""

from __future__ import annotations

import csv
import io
import json
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from logisense_sync.clients.soql import format_soql
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

CONSUMER_KEY, CONSUMER_SECRET = "sandbox-client", "sandbox-secret"
PRODUCTS = 2100  # more than one 2,000-row page
ACCOUNTS = 450  # three pages at batchSize=200


@dataclass
class Env:
    url: str
    port: int
    ctx: Any

    def client(self) -> Salesforce:
        return Salesforce(
            consumer_key=CONSUMER_KEY,
            consumer_secret=CONSUMER_SECRET,
            domain=f"127.0.0.1:{self.port}/services/oauth2/token#",
        )

    def put(self, sobject: str, **fields: Any) -> str:
        store, schema = self.ctx.store, self.ctx.schema
        so = schema.sobject(sobject)
        record: dict[str, Any] = dict.fromkeys(so.fields)
        record.update(Id=store.new_id(so), IsDeleted=False)
        record.update(fields)
        with store.transaction():
            store.put(so, record)
        return str(record["Id"])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, sandbox_tls: Any) -> Iterator[Env]:
    from logisense_sync.sandbox.common.server import serve_in_thread
    from logisense_sync.sandbox.salesforce.app import create_app

    app = create_app(tmp_path_factory.mktemp("sf-query"))
    handle = serve_in_thread(app, sandbox_tls)
    e = Env(handle.url, handle.port, app.state.sandbox)
    for i in range(PRODUCTS):
        e.put(
            "Product2",
            Name=f"Plan {i:04d}",
            ProductCode=f"P{i:04d}",
            IsActive=i % 2 == 0,
            LogiSense_Id__c=f"PKG-{i}",
        )
    parent = e.put("Account", Name="Holding")
    for i in range(ACCOUNTS):
        e.put("Account", Name=f"Paged {i:03d}", ParentId=parent if i < 3 else None, NumberOfEmployees=i)
    try:
        yield e
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def sf(env: Env) -> Salesforce:
    return env.client()


def error_of(info: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    content = info.value.content
    assert isinstance(content, list)
    item: dict[str, Any] = content[0]
    return item


# --------------------------------------------------------------------------- REST query


def test_query_returns_records_with_attributes_and_nested_parents(sf: Salesforce) -> None:
    result = sf.query("SELECT Id, Name, Parent.Name FROM Account WHERE Name = 'Paged 001'")
    assert result["totalSize"] == 1
    assert result["done"] is True
    assert "nextRecordsUrl" not in result
    record = result["records"][0]
    assert record["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v59.0/sobjects/Account/{record['Id']}",
    }
    assert record["Parent"]["Name"] == "Holding"
    assert record["Parent"]["attributes"]["type"] == "Account"


def test_a_large_result_pages_at_2000_rows_through_next_records_url(sf: Salesforce) -> None:
    first = sf.query("SELECT Id, Name FROM Product2 ORDER BY Name")
    assert first["totalSize"] == PRODUCTS
    assert first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["done"] is True
    assert second["totalSize"] == PRODUCTS
    assert [r["Name"] for r in second["records"]] == [f"Plan {i:04d}" for i in range(2000, PRODUCTS)]
    locator = first["nextRecordsUrl"].rsplit("/", 1)[1]
    assert sf.query_more(locator)["records"] == second["records"]


def test_query_all_iter_reads_every_page_once(sf: Salesforce) -> None:
    names = [r["Name"] for r in sf.query_all_iter("SELECT Name FROM Product2 WHERE IsActive = true")]
    assert len(names) == PRODUCTS // 2
    assert len(set(names)) == len(names)


def test_the_batch_size_header_sets_the_page_size(sf: Salesforce) -> None:
    headers = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.query("SELECT Id FROM Account WHERE Name LIKE 'Paged%'", headers=headers)
    assert len(first["records"]) == 200
    assert first["totalSize"] == ACCOUNTS
    pages = 1
    page = first
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        pages += 1
    assert pages == 3
    rows = list(sf.query_all_iter("SELECT Id FROM Account WHERE Name LIKE 'Paged%'", headers=headers))
    assert len({r["Id"] for r in rows}) == ACCOUNTS


def test_child_subquery_rows_count_toward_the_page_size(env: Env, sf: Salesforce) -> None:
    for k in range(3):
        family = env.put("Account", Name=f"Family {k}")
        for i in range(99):
            env.put("Contact", LastName=f"Member {k}-{i:02d}", AccountId=family)
    soql = "SELECT Name, (SELECT LastName FROM Contacts) FROM Account WHERE Name LIKE 'Family%' ORDER BY Name"
    headers = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.query(soql, headers=headers)
    assert [r["Name"] for r in first["records"]] == ["Family 0", "Family 1"]
    assert first["records"][0]["Contacts"]["totalSize"] == 99
    rest = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True, headers=headers)
    assert [r["Name"] for r in rest["records"]] == ["Family 2"]
    assert rest["done"] is True
    assert len(list(sf.query_all_iter(soql))) == 3


def test_query_all_pages_through_query_all_locators(sf: Salesforce) -> None:
    first = sf.query("SELECT Id FROM Product2", include_deleted=True)
    assert "/queryAll/01g" in first["nextRecordsUrl"]
    assert len(list(sf.query_all_iter("SELECT Id FROM Product2", include_deleted=True))) == PRODUCTS


def test_count_answers_with_total_size_only(sf: Salesforce) -> None:
    result = sf.query("SELECT COUNT() FROM Account WHERE NumberOfEmployees >= 400")
    assert result == {"totalSize": 50, "done": True, "records": []}


def test_query_all_includes_deleted_records_and_query_does_not(env: Env, sf: Salesforce) -> None:
    doomed = sf.Account.create({"Name": "Doomed"})["id"]
    sf.Account.delete(doomed)
    soql = "SELECT Id, IsDeleted FROM Account WHERE Name = 'Doomed'"
    assert sf.query(soql)["records"] == []
    deleted = sf.query(soql, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in deleted] == [(doomed, True)]
    assert [r["Id"] for r in sf.query_all(soql, include_deleted=True)["records"]] == [doomed]


@pytest.mark.parametrize(
    ("soql", "code", "text"),
    [
        ("SELECT Foo FROM Account", "INVALID_FIELD", "No such column 'Foo' on entity 'Account'"),
        ("SELECT Id FROM NoSuchThing", "INVALID_TYPE", "sObject type 'NoSuchThing' is not supported"),
        ("SELECT Id FROM Account WHERE Name = 'x' OR", "MALFORMED_QUERY", "unexpected token"),
        ("SELECT Id FROM Account WHERE Id = '001'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field"),
    ],
)
def test_bad_queries_answer_400_with_the_salesforce_error_list(
    sf: Salesforce, soql: str, code: str, text: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query(soql)
    assert info.value.status == 400
    assert error_of(info)["errorCode"] == code
    assert text in error_of(info)["message"]


def test_an_unknown_locator_is_refused(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query_more("01g000000000000AAA-2000")
    assert error_of(info)["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_a_query_without_a_valid_session_is_refused(env: Env) -> None:
    stranger = Salesforce(session_id="not-a-session", instance_url=env.url)
    with pytest.raises(SalesforceExpiredSession) as info:
        stranger.query("SELECT Id FROM Account")
    assert error_of(info)["errorCode"] == "INVALID_SESSION_ID"


@pytest.mark.parametrize(
    "value", ["Paged 001' OR Name != '", "x\\' OR Name LIKE \\'%", "' OR Id != null OR Name = '", "%"]
)
def test_values_quoted_by_the_project_never_widen_a_query(sf: Salesforce, value: str) -> None:
    result = sf.query(format_soql("SELECT Id FROM Account WHERE Name = {}", value))
    assert result["totalSize"] == 0


def test_an_escaped_quote_sent_raw_stays_inside_the_literal(sf: Salesforce) -> None:
    result = sf.query("SELECT Id FROM Account WHERE Name = 'Paged 001\\' OR Name != \\''")
    assert result["totalSize"] == 0


# --------------------------------------------------------------------------- Bulk API 2.0 query


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_bulk2_query_pages_csv_with_sforce_locator(sf: Salesforce) -> None:
    pages = list(
        sf.bulk2.Product2.query("SELECT Id, Name, LogiSense_Id__c FROM Product2", max_records=1000, wait=0)
    )
    assert len(pages) == 3
    assert pages[0].startswith('"Id","Name","LogiSense_Id__c"\n')
    rows = [row for page in pages for row in parse_csv(page)]
    assert len(rows) == PRODUCTS
    assert len({r["Id"] for r in rows}) == PRODUCTS
    assert {r["LogiSense_Id__c"] for r in rows} == {f"PKG-{i}" for i in range(PRODUCTS)}


def test_bulk2_query_flattens_parent_fields_and_renders_nulls_and_booleans(sf: Salesforce) -> None:
    (page,) = sf.bulk2.Account.query(
        "SELECT Name, Parent.Name, NumberOfEmployees FROM Account WHERE Name IN ('Paged 001', 'Paged 010')"
        " ORDER BY Name",
        wait=0,
    )
    assert (
        page == '"Name","Parent.Name","NumberOfEmployees"\n"Paged 001","Holding","1"\n"Paged 010","","10"\n'
    )
    (flags,) = sf.bulk2.Product2.query("SELECT IsActive FROM Product2 WHERE ProductCode = 'P0000'", wait=0)
    assert flags == '"IsActive"\n"true"\n'


def test_bulk2_download_writes_every_page_to_files(sf: Salesforce, tmp_path: pathlib.Path) -> None:
    results = sf.bulk2.Product2.download("SELECT Id FROM Product2", str(tmp_path), max_records=2000, wait=0)
    assert [r["number_of_records"] for r in results] == [2000, PRODUCTS - 2000]
    lines = sum(len(pathlib.Path(r["file"]).read_text().splitlines()) - 1 for r in results)
    assert lines == PRODUCTS


def test_bulk2_query_all_sees_deleted_records(sf: Salesforce) -> None:
    gone = sf.Account.create({"Name": "Bulk doomed"})["id"]
    sf.Account.delete(gone)
    soql = "SELECT Id, IsDeleted FROM Account WHERE Name = 'Bulk doomed'"
    assert parse_csv(next(iter(sf.bulk2.Account.query(soql, wait=0)))) == []
    (page,) = sf.bulk2.Account.query_all(soql, wait=0)
    assert parse_csv(page) == [{"Id": gone, "IsDeleted": "true"}]


def test_bulk2_query_honours_the_column_delimiter_and_line_ending(sf: Salesforce) -> None:
    (page,) = sf.bulk2.Account.query(
        "SELECT Name, NumberOfEmployees FROM Account WHERE Name = 'Paged 002'",
        column_delimiter="SEMICOLON",
        line_ending="CRLF",
        wait=0,
    )
    assert page == '"Name";"NumberOfEmployees"\r\n"Paged 002";"2"\r\n'


def test_query_job_lifecycle_create_poll_list_abort_and_delete(sf: Salesforce) -> None:
    soql = "SELECT Id FROM Account WHERE Name LIKE 'Paged%'"
    job = sf.restful("jobs/query", method="POST", json={"operation": "query", "query": soql})
    assert job["state"] == "UploadComplete"
    assert job["object"] == "Account"
    assert job["id"].startswith("750")
    info = sf.restful(f"jobs/query/{job['id']}")
    assert info["state"] == "JobComplete"
    assert info["jobType"] == "V2Query"
    assert info["numberRecordsProcessed"] == ACCOUNTS
    listed = sf.restful("jobs/query")
    assert job["id"] in [j["id"] for j in listed["records"]]
    with pytest.raises(SalesforceMalformedRequest) as info_abort:
        sf.restful(f"jobs/query/{job['id']}", method="PATCH", json={"state": "Aborted"})
    assert error_of(info_abort)["errorCode"] == "INVALIDJOBSTATE"
    assert sf.restful(f"jobs/query/{job['id']}", method="DELETE") is None
    with pytest.raises(SalesforceResourceNotFound) as gone:
        sf.restful(f"jobs/query/{job['id']}")
    assert error_of(gone)["errorCode"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("SELECT Bogus FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        ("SELECT Id FROM", "MALFORMED_QUERY"),
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "INVALIDJOB"),
        ("SELECT COUNT() FROM Account", "INVALIDJOB"),
    ],
)
def test_bulk2_query_jobs_refuse_bad_or_unsupported_soql_at_creation(
    sf: Salesforce, query: str, code: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("jobs/query", method="POST", json={"operation": "query", "query": query})
    assert error_of(info)["errorCode"] == code


def test_bulk2_results_pages_carry_locator_and_record_count_headers(env: Env, sf: Salesforce) -> None:
    job = sf.restful(
        "jobs/query", method="POST", json={"operation": "query", "query": "SELECT Id FROM Product2"}
    )
    url = f"{env.url}/services/data/v59.0/jobs/query/{job['id']}/results"
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    first = requests.get(url, params={"maxRecords": 2000}, headers=headers, timeout=30)
    assert first.headers["Sforce-NumberOfRecords"] == "2000"
    assert first.headers["content-type"].startswith("text/csv")
    locator = first.headers["Sforce-Locator"]
    assert locator not in ("", "null")
    last = requests.get(url, params={"maxRecords": 2000, "locator": locator}, headers=headers, timeout=30)
    assert last.headers["Sforce-NumberOfRecords"] == str(PRODUCTS - 2000)
    assert last.headers["Sforce-Locator"] == "null"
    bad = requests.get(url, params={"locator": "%%%"}, headers=headers, timeout=30)
    assert bad.status_code == 400


# --------------------------------------------------------------------------- Airflow provider


def test_the_airflow_salesforce_hook_make_query_reads_every_page(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {
        "conn_type": "salesforce",
        "extra": {
            "consumer_key": CONSUMER_KEY,
            "consumer_secret": CONSUMER_SECRET,
            "domain": f"127.0.0.1:{env.port}/services/oauth2/token#",
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_QUERY_TEST", json.dumps(conn))
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    hook = SalesforceHook(salesforce_conn_id="salesforce_query_test")
    result = hook.make_query("SELECT Id, Name FROM Product2 WHERE IsActive = false")
    assert result["totalSize"] == PRODUCTS // 2
    assert len(result["records"]) == PRODUCTS // 2
    assert result["done"] is True
