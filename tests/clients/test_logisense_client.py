"""The LogiSense client against the LogiSense sandbox over HTTPS: no HTTP mocks, only sleep and clock patched.

Faults come from the sandbox control plane (``POST /__sandbox__/faults``); attempt counts are read back from
``GET /__sandbox__/requests``.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from typing import Any

import pytest
from logisense_sync.clients.logisense import (
    LogiSenseAmbiguousMatch,
    LogiSenseAuthError,
    LogiSenseClient,
    LogiSenseConflict,
    LogiSenseConnectionError,
    LogiSenseError,
    LogiSenseFatalError,
    LogiSenseNotFound,
    LogiSenseRetriableError,
    LogiSenseValidationError,
)
from logisense_sync.errors import FatalError, RetriableError

RS = "/ResourceServer/api/v10/"
LOGIN = "POST /AuthorizationServer/api/v10/Access/Login"


def calls(sandbox: Any, method: str, route: str) -> int:
    """Calls the sandbox recorded for one route (``route`` relative to the ResourceServer root)."""
    by_route: dict[str, int] = sandbox.requests()["by_route"]
    return by_route.get(f"{method} {RS}{route}", 0)


def logins(sandbox: Any) -> int:
    """Login calls the sandbox recorded."""
    by_route: dict[str, int] = sandbox.requests()["by_route"]
    return by_route.get(LOGIN, 0)


def fault(sandbox: Any, **spec: Any) -> None:
    """Inject one fault into the next matching calls."""
    sandbox.faults(spec)


# ------------------------------------------------------------------------------------- auth and reads


def test_the_client_logs_in_once_and_reads_with_a_bearer_token(
    logisense_sandbox: Any, ls_client: LogiSenseClient
) -> None:
    currencies = ls_client.list_all("Currency")
    usd = ls_client.get("Currency", currencies[0]["identity"])
    assert usd["code"] == "USD"
    assert ls_client.login_count == 1
    assert logins(logisense_sandbox) == 1


def test_search_reads_many_pages_lazily_in_identity_order(
    logisense_sandbox: Any, ls_client: LogiSenseClient
) -> None:
    logisense_sandbox.seed("generated", packages=2, seed=7)
    everything = list(ls_client.search("Package/Service/PricePlan/Recurring"))
    total = len(everything)
    assert total > 100
    logisense_sandbox.clear_requests()

    paged = [row["identity"] for row in ls_client.search("Package/Service/PricePlan/Recurring", page_size=25)]

    assert paged == sorted(paged) == [row["identity"] for row in everything]
    expected_calls = math.ceil(total / 25) + (1 if total % 25 == 0 else 0)
    assert calls(logisense_sandbox, "POST", "Package/Service/PricePlan/Recurring/Search") == expected_calls

    logisense_sandbox.clear_requests()
    first = next(iter(ls_client.search("Package/Service/PricePlan/Recurring", page_size=25)))
    assert first["identity"] == paged[0]
    assert calls(logisense_sandbox, "POST", "Package/Service/PricePlan/Recurring/Search") == 1


def test_search_filters_orders_and_projects(logisense_sandbox: Any, ls_client: LogiSenseClient) -> None:
    logisense_sandbox.seed("demo")
    rows = list(
        ls_client.search(
            "Currency", {"code": ["USD", "EUR", "GBP"]}, order_by=[("code", "desc")], fields=["code"]
        )
    )
    assert [r["code"] for r in rows] == ["USD", "GBP", "EUR"]
    assert "name" not in rows[0]
    assert set(rows[0]) >= {"identity", "code"}


@pytest.fixture
def token_lifetime(logisense_sandbox: Any) -> Any:
    """Set the sandbox's token lifetime for one test; 1800 s (the default) again afterwards."""

    def set_lifetime(seconds: int) -> None:
        logisense_sandbox.control("POST", "settings", {"token_lifetime_seconds": seconds})

    yield set_lifetime
    set_lifetime(1800)


def test_the_token_is_renewed_shortly_before_it_expires(
    logisense_sandbox: Any, ls_client: LogiSenseClient, ls_clock: Any, token_lifetime: Any
) -> None:
    token_lifetime(120)
    ls_client.list_all("Currency")
    ls_clock.advance(59)  # renewal is due 60 s before expiry
    ls_client.list_all("Currency")
    assert ls_client.login_count == 1
    ls_clock.advance(2)
    ls_client.list_all("Currency")
    assert ls_client.login_count == 2
    assert logins(logisense_sandbox) == 2
    statuses = {c["status"] for c in logisense_sandbox.requests()["calls"]}
    assert 401 not in statuses  # renewed ahead of time, never refused


def test_a_token_the_server_expired_is_replaced_by_one_fresh_login(
    logisense_sandbox: Any, ls_client: LogiSenseClient, token_lifetime: Any
) -> None:
    token_lifetime(1)
    ls_client.list_all("Currency")
    ls_client._token.renew_at = float("inf")  # type: ignore[union-attr]  # the client's clock disagrees
    time.sleep(2.1)  # the sandbox's real clock passes the token's exp
    assert ls_client.list_all("Currency")
    assert ls_client.login_count == 2
    recorded = [c for c in logisense_sandbox.requests()["calls"] if c["path"].endswith("/Currency")]
    assert [c["status"] for c in recorded] == [200, 401, 200]


def test_a_401_that_survives_a_fresh_login_is_an_auth_error(
    logisense_sandbox: Any, ls_client: LogiSenseClient
) -> None:
    ls_client.login()
    fault(logisense_sandbox, method="GET", path=r"/Currency$", status=401, count=2)
    with pytest.raises(LogiSenseAuthError) as caught:
        ls_client.list_all("Currency")
    assert caught.value.status == 401
    assert calls(logisense_sandbox, "GET", "Currency") == 2
    assert logins(logisense_sandbox) == 2


def test_bad_credentials_are_an_auth_error_with_the_oauth_code(make_ls_client: Any) -> None:
    client = make_ls_client(password="not-the-password")
    with pytest.raises(LogiSenseAuthError) as caught:
        client.list_all("Currency")
    assert caught.value.codes == ("invalid_grant",)
    assert isinstance(caught.value, FatalError)
    assert "not-the-password" not in str(caught.value)


# ------------------------------------------------------------------------------------------- retries


def test_429_is_retried_after_the_servers_retry_after(
    logisense_sandbox: Any, ls_client: LogiSenseClient, ls_sleeps: list[float]
) -> None:
    ls_client.login()
    fault(logisense_sandbox, method="POST", path="/Currency/Search$", status=429, retry_after=7, count=2)
    assert [r["code"] for r in ls_client.search("Currency")] == ["USD"]
    assert ls_sleeps == [7.0, 7.0]
    assert calls(logisense_sandbox, "POST", "Currency/Search") == 3


def test_503_is_retried_with_jittered_exponential_backoff(
    logisense_sandbox: Any, make_ls_client: Any, ls_sleeps: list[float]
) -> None:
    client = make_ls_client(backoff_base=0.5, max_retries=3)
    client.login()
    fault(logisense_sandbox, method="GET", path=r"/Currency$", status=503, count=3)
    assert client.list_all("Currency")
    assert len(ls_sleeps) == 3
    assert all(0 <= wait <= cap for wait, cap in zip(ls_sleeps, [0.5, 1.0, 2.0], strict=True))
    assert calls(logisense_sandbox, "GET", "Currency") == 4


def test_retries_stop_after_the_configured_attempts(
    logisense_sandbox: Any, ls_client: LogiSenseClient, ls_sleeps: list[float]
) -> None:
    ls_client.login()
    fault(logisense_sandbox, method="GET", path=r"/Currency$", status=503, count=-1, error_code="50300001")
    with pytest.raises(LogiSenseRetriableError) as caught:
        ls_client.list_all("Currency")
    assert isinstance(caught.value, RetriableError)
    assert caught.value.status == 503
    assert "4 attempt(s)" in str(caught.value)
    assert calls(logisense_sandbox, "GET", "Currency") == 4  # 1 try + max_retries=3
    assert len(ls_sleeps) == 3


def test_dropped_connections_are_retried_on_reads(
    logisense_sandbox: Any, ls_client: LogiSenseClient, ls_sleeps: list[float]
) -> None:
    ls_client.login()
    fault(logisense_sandbox, method="POST", path="/Currency/Search$", drop_connection=True, count=2)
    assert [r["code"] for r in ls_client.search("Currency")] == ["USD"]
    assert calls(logisense_sandbox, "POST", "Currency/Search") == 3
    assert len(ls_sleeps) == 2


def test_a_connection_that_keeps_dropping_fails_after_bounded_attempts(
    logisense_sandbox: Any, ls_client: LogiSenseClient
) -> None:
    ls_client.login()
    fault(logisense_sandbox, method="GET", path=r"/Currency$", drop_connection=True, count=-1)
    with pytest.raises(LogiSenseConnectionError) as caught:
        ls_client.list_all("Currency")
    assert caught.value.status is None
    assert calls(logisense_sandbox, "GET", "Currency") == 4


def test_a_create_whose_connection_dropped_is_not_sent_twice(
    logisense_sandbox: Any, ls_client: LogiSenseClient
) -> None:
    ls_client.login()
    fault(logisense_sandbox, method="POST", path=r"/Service$", drop_connection=True, count=1)
    with pytest.raises(LogiSenseConnectionError):
        ls_client.create("Service", {"name": "Voice"})
    assert calls(logisense_sandbox, "POST", "Service") == 1


def test_a_create_refused_with_503_is_sent_again_and_made_once(
    logisense_sandbox: Any, ls_client: LogiSenseClient
) -> None:
    ls_client.login()
    fault(logisense_sandbox, method="POST", path=r"/Service$", status=503, count=1)
    created = ls_client.create("Service", {"name": "Voice"})
    assert created["name"] == "Voice"
    assert calls(logisense_sandbox, "POST", "Service") == 2
    assert [s["name"] for s in ls_client.search("Service")] == ["Voice"]


# ----------------------------------------------------------------------------------- error envelopes


def _create_empty_package(client: LogiSenseClient) -> Any:
    return client.create("Package", {})


def _get_unknown_package(client: LogiSenseClient) -> Any:
    return client.get("Package", 999999)


def _get_unknown_route(client: LogiSenseClient) -> Any:
    return client.list_all("NoSuchResource")


def _search_bad_operator(client: LogiSenseClient) -> Any:
    return list(client.search("Currency", [{"name": "code", "operator": "like", "value": "U"}]))


def _search_bad_property(client: LogiSenseClient) -> Any:
    return list(client.search("Currency", {"colour": "red"}))


def _bad_reference(client: LogiSenseClient) -> Any:
    return client.create("Package/Currency", {"packageId": 424242, "currencyId": 1})


@pytest.mark.parametrize(
    ("call", "expected", "status", "codes", "message"),
    [
        (
            _create_empty_package,
            LogiSenseValidationError,
            400,
            (11900000, 2000),
            "'Name' is required when adding a 'Package'.",
        ),
        (
            _bad_reference,
            LogiSenseValidationError,
            400,
            (13100000, 2000),
            "'PackageId' (424242) does not exist in 'Package' for 'PackageCurrency'.",
        ),
        (
            _get_unknown_package,
            LogiSenseNotFound,
            404,
            (13100000,),
            "'Identity' (999999) does not exist in 'Package'.",
        ),
        (
            _get_unknown_route,
            LogiSenseNotFound,
            404,
            (404,),
            "No resource found that matches the request URI",
        ),
        (
            _search_bad_operator,
            LogiSenseValidationError,
            400,
            (11900000,),
            "'like' is not a valid search operator.",
        ),
        (
            _search_bad_property,
            LogiSenseValidationError,
            400,
            (11900000,),
            "'colour' is not a valid search property for 'Currency'.",
        ),
    ],
    ids=["required", "reference", "unknown-id", "unknown-route", "bad-operator", "bad-property"],
)
def test_logisense_error_envelopes_map_to_typed_errors_with_every_code_and_message(
    ls_client: LogiSenseClient,
    call: Any,
    expected: type[LogiSenseError],
    status: int,
    codes: tuple[int, ...],
    message: str,
) -> None:
    with pytest.raises(expected) as caught:
        call(ls_client)
    error = caught.value
    assert type(error) is expected
    assert error.status == status
    assert error.codes == codes
    assert any(m.startswith(message) for m in error.messages), error.messages
    assert uuid.UUID(str(error.tracking_id))
    assert error.path.startswith(RS)
    assert message in str(error)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, LogiSenseValidationError),
        (403, LogiSenseAuthError),
        (404, LogiSenseNotFound),
        (409, LogiSenseConflict),
        (418, LogiSenseFatalError),
        (429, LogiSenseRetriableError),
        (500, LogiSenseRetriableError),
        (502, LogiSenseRetriableError),
        (503, LogiSenseRetriableError),
    ],
)
def test_every_http_status_maps_to_its_error_class(
    logisense_sandbox: Any, ls_client: LogiSenseClient, status: int, expected: type[LogiSenseError]
) -> None:
    ls_client.login()
    fault(
        logisense_sandbox,
        method="GET",
        path=r"/Currency$",
        status=status,
        count=-1,
        error_code="77700001",
        message="Injected by the test",
    )
    with pytest.raises(expected) as caught:
        ls_client.list_all("Currency")
    assert type(caught.value) is expected
    assert caught.value.status == status
    assert caught.value.codes == (77700001,)
    assert caught.value.messages == ("Injected by the test",)
    assert caught.value.method == "GET"
    assert caught.value.path == f"{RS}Currency"


# ------------------------------------------------------------------------------------- writes, lookup


def test_create_update_patch_get_and_delete_round_trip(ls_client: LogiSenseClient) -> None:
    created = ls_client.create("Service", {"name": "Voice", "isTaxExempt": True})
    identity = created["identity"]
    assert created["defaultServiceStatusTypeName"] == "Active"  # *Name echo filled in
    assert ls_client.update("Service", identity, {"name": "Voice Plus"})["name"] == "Voice Plus"
    assert ls_client.patch("Service", identity, {"description": "Calls"})["description"] == "Calls"
    assert ls_client.get("Service", identity)["name"] == "Voice Plus"
    removed = ls_client.delete("Service", identity)
    assert {"identity": identity, "action": "deleted", "dtoTypeKey": "service"}.items() <= removed[0].items()
    with pytest.raises(LogiSenseNotFound):
        ls_client.get("Service", identity)


def test_find_by_extension_finds_the_one_object_with_an_sfdcid(ls_client: LogiSenseClient) -> None:
    made = ls_client.create("Service", {"name": "Voice", "extensions": {"sfdcid": "001000000000001AAA"}})
    ls_client.create("Service", {"name": "Data", "extensions": {"sfdcid": "001000000000002AAA"}})
    found = ls_client.find_by_extension("Service", "sfdcid", "001000000000001AAA")
    assert found is not None
    assert found["identity"] == made["identity"]
    assert ls_client.find_by_extension("Service", "sfdcid", "001000000000009AAA") is None
    ls_client.create("Service", {"name": "Voice again", "extensions": {"sfdcid": "001000000000001AAA"}})
    with pytest.raises(LogiSenseAmbiguousMatch):
        ls_client.find_by_extension("Service", "sfdcid", "001000000000001AAA")


# -------------------------------------------------------------------------------------------- secrets


def test_password_and_token_never_reach_the_logs(
    logisense_sandbox: Any, make_ls_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, urllib3 and requests included
    secret = "Wr0ng-Secret-Passw0rd"
    wrong = make_ls_client(password=secret)
    with pytest.raises(LogiSenseAuthError) as refused:
        wrong.list_all("Currency")

    client = make_ls_client()
    client.list_all("Currency")
    fault(logisense_sandbox, method="GET", path=r"/Currency$", status=401, count=1)
    client.list_all("Currency")  # a re-login on 401 also logs nothing secret
    with pytest.raises(LogiSenseNotFound) as missing:
        client.get("Currency", 999999)
    token = client._token.access.reveal()  # type: ignore[union-attr]

    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert any(r.name.startswith("logisense_sync.clients") for r in caplog.records)
    for value in (secret, token, "password=", "Bearer "):
        assert value not in text
        for shown in (str(refused.value), str(missing.value), repr(client), repr(vars(client))):
            assert value not in shown
    ours = [r for r in caplog.records if r.name.startswith(("logisense_sync.clients", "urllib3", "requests"))]
    # The real password is "sandbox": only the control-plane paths of this test may say it.
    assert not [r for r in ours if "sandbox" in r.getMessage().replace("/__sandbox__/", "")]


def test_an_untrusted_certificate_fails_at_once_without_retries(
    logisense_sandbox: Any, make_ls_client: Any, ls_sleeps: list[float]
) -> None:
    import certifi

    client = make_ls_client(verify=certifi.where())  # public CAs only: the sandbox CA is not among them
    with pytest.raises(LogiSenseFatalError, match="TLS verification failed") as caught:
        client.login()
    assert isinstance(caught.value, FatalError)
    assert ls_sleeps == []
    assert logins(logisense_sandbox) == 0
