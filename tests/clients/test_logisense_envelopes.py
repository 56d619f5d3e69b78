"""Envelope unwrapping and the status/envelope → exception table, as pure functions."""

from __future__ import annotations

from typing import Any

import pytest
from logisense_sync.clients.logisense import (
    LogiSenseAuthError,
    LogiSenseClient,
    LogiSenseConflict,
    LogiSenseError,
    LogiSenseFatalError,
    LogiSenseNotFound,
    LogiSenseProtocolError,
    LogiSenseRetriableError,
    LogiSenseValidationError,
    error_for_response,
    unwrap_items,
    unwrap_write,
)
from logisense_sync.errors import FatalError, RetriableError

ENVELOPE = {
    "trackingId": "92b7c602-0000-4000-8000-000000000001",
    "type": "create",
    "errors": [
        {
            "code": 11900000,
            "message": "'SortOrder' MUST be greater than '0' when adding or updating a 'City'.",
        },
        {"code": 13100000, "message": "'StateId' (264) does not exist in 'State' for 'City'."},
        {"code": 2000, "message": "Errors found. Transaction rolled back."},
    ],
}


@pytest.mark.parametrize(
    ("status", "expected", "family"),
    [
        (400, LogiSenseValidationError, FatalError),
        (401, LogiSenseAuthError, FatalError),
        (403, LogiSenseAuthError, FatalError),
        (404, LogiSenseNotFound, FatalError),
        (409, LogiSenseConflict, FatalError),
        (418, LogiSenseFatalError, FatalError),
        (422, LogiSenseValidationError, FatalError),
        (429, LogiSenseRetriableError, RetriableError),
        (500, LogiSenseRetriableError, RetriableError),
        (503, LogiSenseRetriableError, RetriableError),
        (200, LogiSenseValidationError, FatalError),  # a success status that still carries errors
    ],
)
def test_each_status_maps_to_one_exception_carrying_every_code_and_message(
    status: int, expected: type[LogiSenseError], family: type[Exception]
) -> None:
    error = error_for_response(status, ENVELOPE, method="POST", path="/ResourceServer/api/v10/City")
    assert type(error) is expected
    assert isinstance(error, family)
    assert error.status == status
    assert error.tracking_id == ENVELOPE["trackingId"]
    assert error.request_type == "create"
    assert error.codes == (11900000, 13100000, 2000)
    assert error.messages[1] == "'StateId' (264) does not exist in 'State' for 'City'."
    text = str(error)
    assert "POST /ResourceServer/api/v10/City" in text
    assert ENVELOPE["trackingId"] in text
    for entry in ENVELOPE["errors"]:
        assert f"[{entry['code']}] {entry['message']}" in text


def test_an_oauth_style_login_refusal_keeps_its_error_and_description() -> None:
    body = {"error": "invalid_grant", "error_description": "The user name or password is incorrect."}
    error = error_for_response(400, body, method="POST", path="/AuthorizationServer/api/v10/Access/Login")
    assert error.codes == ("invalid_grant",)
    assert error.messages == ("The user name or password is incorrect.",)


def test_a_non_json_error_body_is_quoted_shortly() -> None:
    error = error_for_response(502, None, method="GET", path="/x", text="<html>Bad gateway</html>" * 50)
    assert isinstance(error, LogiSenseRetriableError)
    assert len(error.messages[0]) == 300


@pytest.mark.parametrize(
    ("envelope", "items", "total"),
    [
        ({"trackingId": "t", "totalCount": 2, "items": [{"identity": 1}, {"identity": 2}]}, [1, 2], 2),
        (
            {
                "trackingId": "t",
                "pagination": {"pageNumber": 3, "pageSize": 2, "excludeTotalCount": False},
                "pagedResults": {"totalCount": 9, "items": [{"identity": 5}]},
            },
            [5],
            9,
        ),
        ({"trackingId": "t", "pagedResults": {"totalCount": None, "items": []}}, [], None),
    ],
)
def test_list_and_paged_envelopes_unwrap_to_their_items(
    envelope: dict[str, Any], items: list[int], total: int | None
) -> None:
    got, count = unwrap_items(envelope)
    assert [i["identity"] for i in got] == items
    assert count == total


def test_write_envelopes_unwrap_to_result_items() -> None:
    envelope = {
        "trackingId": "t",
        "type": "delete",
        "results": {
            "totalCount": 2,
            "items": [
                {"identity": 7, "action": "deleted", "dtoTypeKey": "packageServicePricePlanRecurring"},
                {"identity": 3, "action": "deleted", "dtoTypeKey": "packageServicePricePlan"},
            ],
        },
    }
    assert [i["dtoTypeKey"] for i in unwrap_write(envelope)] == [
        "packageServicePricePlanRecurring",
        "packageServicePricePlan",
    ]


@pytest.mark.parametrize("body", [{"trackingId": "t"}, {"items": "nope"}, {"results": {"items": None}}])
def test_a_body_without_the_documented_envelope_is_a_protocol_error(body: dict[str, Any]) -> None:
    with pytest.raises(LogiSenseProtocolError):
        unwrap_items(body) if "results" not in body else unwrap_write(body)


def test_repr_names_the_tenant_but_hides_password() -> None:
    client = LogiSenseClient("https://127.0.0.1:1", "admin", "pa55-w0rd-xyz", "sandbox")
    assert "pa55-w0rd-xyz" not in repr(client)
    assert "pa55-w0rd-xyz" not in repr(vars(client))
    assert "https://127.0.0.1:1" in repr(client)
    client.close()


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="https://"):
        LogiSenseClient("127.0.0.1:8444", "admin", "x", "sandbox")
