"""Bulk API 2.0 ingest and Bulk API 1.0 (JSON) through simple-salesforce and the Airflow provider."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from tests.sandbox.salesforce.sf_conformance_helpers import host_of

WAIT = 0.05  # the sandbox finishes jobs on UploadComplete, so the first poll sees JobComplete


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


class Bulk2:
    """Raw Bulk API 2.0 calls for what simple-salesforce never sends (other delimiters, CRLF)."""

    def __init__(self, sandbox: Any, sf: Salesforce) -> None:
        self.base = f"{sandbox.url}/services/data/v59.0/jobs/ingest"
        self.headers = {"Authorization": f"Bearer {sf.session_id}"}

    def run(self, body: dict[str, Any], data: bytes) -> dict[str, Any]:
        job = requests.post(self.base, json=body, headers=self.headers, timeout=30).json()
        assert job["state"] == "Open"
        upload = requests.put(
            f"{self.base}/{job['id']}/batches",
            data=data,
            headers={**self.headers, "Content-Type": "text/csv"},
            timeout=30,
        )
        assert upload.status_code == 201
        done = requests.patch(
            f"{self.base}/{job['id']}", json={"state": "UploadComplete"}, headers=self.headers, timeout=30
        ).json()
        assert (done["id"], done["state"]) == (job["id"], "UploadComplete")
        info: dict[str, Any] = requests.get(
            f"{self.base}/{job['id']}", headers=self.headers, timeout=30
        ).json()
        return info

    def results(self, job_id: str, kind: str) -> str:
        response = requests.get(f"{self.base}/{job_id}/{kind}/", headers=self.headers, timeout=30)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        return response.text


@pytest.fixture
def bulk2(salesforce_sandbox: Any, sf: Salesforce) -> Bulk2:
    return Bulk2(salesforce_sandbox, sf)


def test_bulk2_upsert_with_relationship_columns_and_results(
    sf: Salesforce, standard_pricebook: str, make_product: Callable[..., dict[str, str]]
) -> None:
    make_product("PKG-1", ())
    records = [
        {
            "LogiSense_Id__c": "E-1",
            "Pricebook2Id": standard_pricebook,
            "Product2.LogiSense_Id__c": "PKG-1",
            "CurrencyIsoCode": "USD",
            "UnitPrice": "10",
            "IsActive": "true",
        },
        {
            "LogiSense_Id__c": "E-2",
            "Pricebook2Id": standard_pricebook,
            "Product2.LogiSense_Id__c": "NOPE",
            "CurrencyIsoCode": "USD",
            "UnitPrice": "10",
            "IsActive": "true",
        },
    ]
    result = sf.bulk2.PricebookEntry.upsert(records=records, external_id_field="LogiSense_Id__c", wait=WAIT)
    assert result[0]["numberRecordsProcessed"] == 2
    assert result[0]["numberRecordsFailed"] == 1
    job_id = result[0]["job_id"]
    ok = rows(sf.bulk2.PricebookEntry.get_successful_records(job_id))
    assert [(r["sf__Created"], r["LogiSense_Id__c"]) for r in ok] == [("true", "E-1")]
    assert ok[0]["sf__Id"].startswith("01u")
    failed = rows(sf.bulk2.PricebookEntry.get_failed_records(job_id))
    assert failed[0]["sf__Error"] == (
        "INVALID_FIELD:Foreign key external ID: NOPE not found for field LogiSense_Id__c in entity Product2:"
        "Product2Id --"
    )
    assert failed[0]["sf__Id"] == ""
    assert sf.bulk2.PricebookEntry.get_unprocessed_records(job_id).strip() == ",".join(
        next(csv.reader(io.StringIO(sf.bulk2.PricebookEntry.get_failed_records(job_id))))[2:]
    )
    again = sf.bulk2.PricebookEntry.upsert(
        records=[{"LogiSense_Id__c": "E-1", "UnitPrice": "12"}],
        external_id_field="LogiSense_Id__c",
        wait=WAIT,
    )
    assert (
        rows(sf.bulk2.PricebookEntry.get_successful_records(again[0]["job_id"]))[0]["sf__Created"] == "false"
    )
    assert sf.PricebookEntry.get(ok[0]["sf__Id"])["UnitPrice"] == 12.0


@pytest.mark.parametrize(
    ("delimiter", "char", "line_ending", "eol"),
    [
        ("COMMA", ",", "CRLF", "\r\n"),
        ("TAB", "\t", "LF", "\n"),
        ("PIPE", "|", "CRLF", "\r\n"),
        ("SEMICOLON", ";", "LF", "\n"),
        ("CARET", "^", "LF", "\n"),
        ("BACKQUOTE", "`", "CRLF", "\r\n"),
    ],
)
def test_bulk2_accepts_every_delimiter_and_line_ending(
    sf: Salesforce, bulk2: Bulk2, delimiter: str, char: str, line_ending: str, eol: str
) -> None:
    data = eol.join(
        [char.join(["Name", "Description"]), char.join(["Acme", '"a, b; c| d^ e` f\nline two"']), ""]
    ).encode()
    info = bulk2.run(
        {"object": "Account", "operation": "insert", "columnDelimiter": delimiter, "lineEnding": line_ending},
        data,
    )
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (
        "JobComplete",
        1,
        0,
    )
    account = sf.query("SELECT Name, Description FROM Account")["records"][0]
    assert account["Description"] == "a, b; c| d^ e` f\nline two"


def test_bulk2_line_ending_mismatch_fails_the_job(bulk2: Bulk2) -> None:
    info = bulk2.run({"object": "Account", "operation": "insert", "lineEnding": "LF"}, b"Name\r\nAcme\r\n")
    assert info["state"] == "Failed"
    assert "LineEnding is invalid" in info["errorMessage"]


def test_bulk2_unknown_column_fails_the_job_and_leaves_rows_unprocessed(bulk2: Bulk2) -> None:
    info = bulk2.run({"object": "Account", "operation": "insert"}, b"Name,Bogus__c\nAcme,1\n")
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Bogus__c"
    assert bulk2.results(info["id"], "unprocessedRecords") == "Name,Bogus__c\nAcme,1\n"


def test_bulk2_na_sets_null_and_an_empty_value_leaves_the_field_alone(sf: Salesforce, bulk2: Bulk2) -> None:
    account = sf.Account.create({"Name": "Acme", "Website": "https://a.example", "Phone": "555"})["id"]
    info = bulk2.run(
        {"object": "Account", "operation": "update"}, f"Id,Website,Phone\n{account},#N/A,\n".encode()
    )
    assert info["numberRecordsFailed"] == 0
    record = sf.Account.get(account)
    assert (record["Website"], record["Phone"]) == (None, "555")


def test_bulk2_upsert_fails_rows_whose_external_id_repeats(sf: Salesforce) -> None:
    result = sf.bulk2.Product2.upsert(
        records=[{"LogiSense_Id__c": k, "Name": k} for k in ("R1", "R1", "R2")],
        external_id_field="LogiSense_Id__c",
        wait=WAIT,
    )
    assert result[0]["numberRecordsFailed"] == 2
    failed = rows(sf.bulk2.Product2.get_failed_records(result[0]["job_id"]))
    assert {r["sf__Error"] for r in failed} == {
        "DUPLICATE_EXTERNAL_ID:Duplicate external id specified: R1:--"
    }


def test_bulk2_delete_and_failed_rows_carry_the_id(sf: Salesforce, bulk2: Bulk2) -> None:
    account = sf.Account.create({"Name": "Doomed"})["id"]
    missing = account[:-6] + "zzzzzz"
    info = bulk2.run({"object": "Account", "operation": "delete"}, f"Id\n{account}\nnot-an-id\n".encode())
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 1)
    failed = rows(bulk2.results(info["id"], "failedResults"))
    assert failed[0]["sf__Id"] == "not-an-id"
    assert failed[0]["sf__Error"].startswith("MALFORMED_ID:")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    del missing


def test_bulk2_job_states_open_aborted_and_invalid_jobs(
    salesforce_sandbox: Any, sf: Salesforce, bulk2: Bulk2
) -> None:
    job = requests.post(
        bulk2.base, json={"object": "Account", "operation": "insert"}, headers=bulk2.headers, timeout=30
    )
    assert job.json()["state"] == "Open"
    aborted = requests.patch(
        f"{bulk2.base}/{job.json()['id']}", json={"state": "Aborted"}, headers=bulk2.headers, timeout=30
    )
    assert aborted.json()["state"] == "Aborted"
    bad = requests.post(
        bulk2.base, json={"object": "Nope", "operation": "insert"}, headers=bulk2.headers, timeout=30
    )
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "INVALIDJOB"
    no_key = requests.post(
        bulk2.base, json={"object": "Account", "operation": "upsert"}, headers=bulk2.headers, timeout=30
    )
    assert no_key.status_code == 400


def test_injected_lock_failures_fail_the_given_share_of_bulk2_rows(
    salesforce_sandbox: Any, sf: Salesforce
) -> None:
    salesforce_sandbox.faults(
        {"method": "PATCH", "path": "jobs/ingest", "record_error": "UNABLE_TO_LOCK_ROW", "record_rate": 0.5},
        seed=7,
    )
    result = sf.bulk2.Account.insert(records=[{"Name": f"A{i}"} for i in range(100)], wait=WAIT)
    failed_count = result[0]["numberRecordsFailed"]
    assert 20 < failed_count < 80
    failed = rows(sf.bulk2.Account.get_failed_records(result[0]["job_id"]))
    assert {r["sf__Error"] for r in failed} == {
        "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--"
    }
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 100 - failed_count


def test_bulk1_upsert_with_nested_parent_reference(sf: Salesforce) -> None:
    sf.Account.create({"Name": "Parent", "LogiSense_Account_Id__c": "P"})
    result = sf.bulk.Account.upsert(
        [
            {"LogiSense_Account_Id__c": "C1", "Name": "Child", "Parent": {"LogiSense_Account_Id__c": "P"}},
            {"LogiSense_Account_Id__c": "P", "Name": "Parent renamed"},
            {"LogiSense_Account_Id__c": "C2"},
        ],
        "LogiSense_Account_Id__c",
        batch_size=10000,
    )
    assert [(r["success"], r["created"]) for r in result] == [(True, True), (True, False), (False, False)]
    assert result[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    child = sf.Account.get(result[0]["id"])
    assert child["ParentId"] == result[1]["id"]


def test_bulk1_query_returns_records(sf: Salesforce) -> None:
    sf.Account.create({"Name": "Queried"})
    records = sf.bulk.Account.query("SELECT Id, Name FROM Account", lazy_operation=False)
    assert [r["Name"] for r in records] == ["Queried"]


# ------------------------------------------------------------------ the Airflow provider


@pytest.fixture
def airflow_salesforce(salesforce_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    connection = {
        "conn_type": "salesforce",
        "extra": {
            "consumer_key": "sandbox-client",
            "consumer_secret": "sandbox-secret",
            "domain": f"{host_of(salesforce_sandbox)}/services/oauth2/token#",
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", json.dumps(connection))
    return salesforce_sandbox


def test_salesforce_bulk_operator_retries_transient_lock_failures(
    airflow_salesforce: Any, sf: Salesforce
) -> None:
    from airflow.providers.salesforce.operators.bulk import SalesforceBulkOperator

    airflow_salesforce.faults(
        {
            "method": "POST",
            "path": "/batch$",
            "record_error": "UNABLE_TO_LOCK_ROW",
            "record_rate": 1.0,
            "count": 1,
        }
    )
    load = SalesforceBulkOperator(
        task_id="load",
        operation="insert",
        object_name="Account",
        payload=[{"Name": "Bulk A"}, {"Name": "Bulk B"}],
        max_retries=1,
        bulk_retry_delay=0,
    )
    result = load.execute(context={})  # type: ignore[arg-type]
    assert [r["success"] for r in result] == [True, True]
    assert sorted(r["Name"] for r in sf.query("SELECT Name FROM Account")["records"]) == ["Bulk A", "Bulk B"]
    assert airflow_salesforce.requests()["injected"] == {"UNABLE_TO_LOCK_ROW": 1}


def test_salesforce_bulk_operator_upsert_reports_per_record_errors(airflow_salesforce: Any) -> None:
    from airflow.providers.salesforce.operators.bulk import SalesforceBulkOperator

    upsert = SalesforceBulkOperator(
        task_id="upsert",
        operation="upsert",
        object_name="Product2",
        external_id_field="LogiSense_Id__c",
        payload=[{"LogiSense_Id__c": "X1", "Name": "ok"}, {"LogiSense_Id__c": "X2", "Name": "x" * 300}],
    )
    result = upsert.execute(context={})  # type: ignore[arg-type]
    assert result[0]["success"] is True
    assert result[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"


def test_salesforce_hook_describes_and_queries(airflow_salesforce: Any, sf: Salesforce) -> None:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    sf.Account.create({"Name": "Hooked"})
    hook = SalesforceHook(salesforce_conn_id="salesforce_default")
    assert "LogiSense_Account_Id__c" in hook.get_available_fields("Account")
    assert hook.test_connection()[0] is True
    result = hook.make_query("SELECT Name FROM Account")
    assert [r["Name"] for r in result["records"]] == ["Hooked"]
