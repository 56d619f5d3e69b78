"""SalesforceClient against the Salesforce sandbox: REST vs Bulk 2.0 by volume, per-row results, retries."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from logisense_sync.clients.salesforce import (
    NOT_PROCESSED,
    RESULT_COLUMNS,
    RequestLimitExceeded,
    SalesforceApiError,
    SalesforceClient,
)


@pytest.fixture
def client(salesforce_sandbox: Any) -> SalesforceClient:
    from simple_salesforce import Salesforce

    host = salesforce_sandbox.url.removeprefix("https://")
    sf = Salesforce(
        consumer_key="sandbox-client",
        consumer_secret="sandbox-secret",
        domain=f"{host}/services/oauth2/token#",
    )
    salesforce_sandbox.clear_requests()
    return SalesforceClient(sf, bulk_threshold=5, batch_size=3, backoff=0.0, poll_interval=0.01)


def _products(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "LogiSense_Id__c": [f"pf:{i}" for i in range(start, start + n)],
            "Name": [f"Product {i}" for i in range(start, start + n)],
            "IsActive": True,
        }
    )


def _routes(box: Any, needle: str) -> int:
    return sum(n for route, n in box.requests()["by_route"].items() if needle in route)


def test_small_upserts_go_through_sobject_collections_with_per_row_results(
    client: SalesforceClient, salesforce_sandbox: Any
) -> None:
    frame = _products(4).set_axis([10, 11, 12, 13])

    first = client.upsert("Product2", "LogiSense_Id__c", frame)
    again = client.upsert("Product2", "LogiSense_Id__c", frame)

    assert list(first.columns) == RESULT_COLUMNS
    assert list(first.index) == [10, 11, 12, 13]
    assert first["success"].all()
    assert first["created"].tolist() == [True] * 4
    assert again["created"].tolist() == [False] * 4
    assert first["id"].str.startswith("01t").all()
    assert (
        _routes(salesforce_sandbox, "PATCH /services/data/v59.0/composite/sobjects/Product2") == 4
    )  # 2 x 2 chunks
    assert _routes(salesforce_sandbox, "jobs/ingest") == 0


def test_large_upserts_go_through_bulk_and_failures_come_back_on_their_rows(
    client: SalesforceClient, salesforce_sandbox: Any
) -> None:
    frame = _products(8)
    frame.loc[5, "Name"] = None  # Name is required on create

    result = client.upsert("Product2", "LogiSense_Id__c", frame)

    assert _routes(salesforce_sandbox, "POST /services/data/v59.0/jobs/ingest") == 1
    assert result["success"].tolist() == [True] * 5 + [False] + [True] * 2
    assert result.loc[5, "error_code"] == "REQUIRED_FIELD_MISSING"
    assert len(client.query_frame("SELECT Id FROM Product2")) == 7


def test_bulk_inserts_match_failures_to_rows_whatever_the_column_types(
    client: SalesforceClient, salesforce_sandbox: Any
) -> None:
    frame = _products(7).assign(IsActive=[True, False] * 3 + [True], Description=[None, 'a, "b"'] + ["c"] * 5)
    frame.loc[3, "Name"] = None

    result = client.insert("Product2", frame)

    assert _routes(salesforce_sandbox, "POST /services/data/v59.0/jobs/ingest") == 1
    assert result["success"].tolist() == [True] * 3 + [False] + [True] * 3
    assert result.loc[3, "error_code"] == "REQUIRED_FIELD_MISSING"
    stored = client.query_frame("SELECT Description, IsActive FROM Product2 WHERE Name = 'Product 1'")
    assert stored.iloc[0].tolist() == ['a, "b"', False]


def test_query_frame_uses_rest_for_one_page_and_bulk_beyond_it(
    client: SalesforceClient, salesforce_sandbox: Any
) -> None:
    client.upsert("Product2", "LogiSense_Id__c", _products(4))
    small = client.query_frame("SELECT Id, LogiSense_Id__c, Name, IsActive FROM Product2")
    assert _routes(salesforce_sandbox, "jobs/query") == 0
    client.upsert("Product2", "LogiSense_Id__c", _products(2100, start=4))  # more than one REST page (2,000)
    client.bulk_threshold = 2000

    large = client.query_frame("SELECT Id, LogiSense_Id__c, Name, IsActive FROM Product2")

    assert list(small.columns) == ["Id", "LogiSense_Id__c", "Name", "IsActive"]
    assert len(small) == 4
    assert len(large) == 2104
    assert large["LogiSense_Id__c"].nunique() == 2104
    assert list(large.columns) == list(small.columns)
    assert _routes(salesforce_sandbox, "POST /services/data/v59.0/jobs/query") == 1


def test_query_flattens_parent_fields_to_dotted_columns(client: SalesforceClient) -> None:
    client.upsert("Product2", "LogiSense_Id__c", _products(1))
    standard = next(client.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true"))["Id"]
    client.insert(
        "PricebookEntry",
        pd.DataFrame(
            [{"Pricebook2Id": standard, "Product2.LogiSense_Id__c": "pf:0", "UnitPrice": 5.0, "IsActive": True,
              "CurrencyIsoCode": "USD", "LogiSense_Id__c": "pbe:1:0:USD"}]
        ),
    )  # fmt: skip

    frame = client.query_frame(
        "SELECT LogiSense_Id__c, Product2.LogiSense_Id__c, UnitPrice FROM PricebookEntry"
    )

    assert frame.to_dict(orient="records") == [
        {"LogiSense_Id__c": "pbe:1:0:USD", "Product2.LogiSense_Id__c": "pf:0", "UnitPrice": 5.0}
    ]


def test_update_and_delete_by_id(client: SalesforceClient) -> None:
    ids = client.upsert("Product2", "LogiSense_Id__c", _products(2))["id"].tolist()

    updated = client.update("Product2", pd.DataFrame({"Id": ids, "IsActive": [False, False]}))
    deleted = client.delete("Product2", ids[:1])

    assert updated["success"].all()
    assert deleted["success"].all()
    rows = client.query_frame("SELECT Id, IsActive FROM Product2")
    assert rows["Id"].tolist() == ids[1:]
    assert rows["IsActive"].tolist() == [False]


@pytest.mark.parametrize("rows", [4, 8], ids=["collections", "bulk"])
def test_rows_failing_with_unable_to_lock_row_are_resubmitted(
    client: SalesforceClient, salesforce_sandbox: Any, rows: int
) -> None:
    salesforce_sandbox.faults(
        {"path": "Product2|jobs/ingest", "count": 1, "record_error": "UNABLE_TO_LOCK_ROW"}
    )

    result = client.upsert("Product2", "LogiSense_Id__c", _products(rows))

    assert salesforce_sandbox.requests()["injected"] == {"UNABLE_TO_LOCK_ROW": 1}
    assert result["success"].all()
    assert len(client.query_frame("SELECT Id FROM Product2")) == rows


def test_transient_record_retries_are_bounded(client: SalesforceClient, salesforce_sandbox: Any) -> None:
    salesforce_sandbox.faults({"path": "Product2", "count": -1, "record_error": "UNABLE_TO_LOCK_ROW"})

    result = client.upsert("Product2", "LogiSense_Id__c", _products(2))

    assert result["error_code"].tolist() == ["UNABLE_TO_LOCK_ROW"] * 2
    assert salesforce_sandbox.requests()["injected"]["UNABLE_TO_LOCK_ROW"] == client.transient_retries + 1


def test_request_limit_stops_with_rows_marked_not_processed(
    client: SalesforceClient, salesforce_sandbox: Any
) -> None:
    salesforce_sandbox.faults(
        {"path": "composite/sobjects/Product2", "count": -1, "status": 403, "error_code": "REQUEST_LIMIT_EXCEEDED",
         "message": "TotalRequests Limit exceeded."}
    )  # fmt: skip

    with pytest.raises(RequestLimitExceeded) as raised:
        client.upsert("Product2", "LogiSense_Id__c", _products(4))

    assert raised.value.results is not None
    assert raised.value.results["error_code"].tolist() == [NOT_PROCESSED] * 4


def test_server_errors_are_retried_with_backoff(client: SalesforceClient, salesforce_sandbox: Any) -> None:
    salesforce_sandbox.faults(
        {"path": "/query", "count": 2, "status": 503, "error_code": "SERVER_UNAVAILABLE"}
    )

    rows = list(client.query("SELECT Id FROM Pricebook2"))

    assert len(rows) == 1
    assert salesforce_sandbox.requests()["injected"] == {"SERVER_UNAVAILABLE": 2}


def test_a_malformed_query_is_fatal_and_names_the_error_code(client: SalesforceClient) -> None:
    with pytest.raises(SalesforceApiError) as raised:
        client.query_frame("SELECT Nope__c FROM Product2")

    assert raised.value.error_code == "INVALID_FIELD"
    assert raised.value.status == 400


def test_api_calls_and_org_usage_are_counted(client: SalesforceClient) -> None:
    client.query_frame("SELECT Id FROM Product2")
    client.limits()

    assert client.usage.calls == 2
    assert client.usage.used is not None
    assert client.usage.limit is not None
    assert client.usage.limit > client.usage.used
