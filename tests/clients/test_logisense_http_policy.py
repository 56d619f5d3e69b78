"""Retry policy: bounded attempts, exponential backoff with full jitter, Retry-After, idempotency."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
import requests
from logisense_sync.clients._http import RetryPolicy, parse_retry_after


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("soon", None),
        ("Thu, 26 Nov 2026 20:00:10 GMT", 10.0),
        ("Thu, 26 Nov 2026 19:59:00 GMT", 0.0),
    ],
)
def test_retry_after_is_read_as_seconds_or_http_date(header: str | None, expected: float | None) -> None:
    now = datetime(2026, 11, 26, 20, 0, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == expected


def test_backoff_waits_are_drawn_below_a_doubling_cap() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0, rng=random.Random(7))
    for retry, cap in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 4.0), (9, 4.0)]:
        waits = [policy.delay(retry) for _ in range(200)]
        assert all(0.0 <= w <= cap for w in waits)
        assert max(waits) > cap * 0.8  # full jitter spreads over the whole range


def test_retry_after_replaces_the_drawn_wait_but_is_capped() -> None:
    policy = RetryPolicy(retry_after_max=60.0)
    assert policy.delay(0, retry_after=7.0) == 7.0
    assert policy.delay(3, retry_after=3600.0) == 60.0


def test_attempts_are_the_first_try_plus_the_retries() -> None:
    assert RetryPolicy(max_retries=0).max_attempts == 1
    assert RetryPolicy(max_retries=5).max_attempts == 6
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)


@pytest.mark.parametrize(
    ("status", "method", "idempotent", "retried"),
    [
        (429, "GET", None, True),
        (500, "GET", None, True),
        (502, "PUT", None, True),
        (503, "DELETE", None, True),
        (504, "GET", None, True),
        (400, "GET", None, False),
        (401, "GET", None, False),
        (404, "GET", None, False),
        (409, "PUT", None, False),
        (429, "POST", None, True),  # throttled: the server did not act on it
        (503, "POST", None, True),  # unavailable: the server did not act on it
        (500, "POST", None, False),  # a create may have happened: not repeated blindly
        (502, "PATCH", None, False),
        (500, "POST", True, True),  # POST .../Search is a read
    ],
)
def test_which_statuses_are_retried(status: int, method: str, idempotent: bool | None, retried: bool) -> None:
    assert RetryPolicy().should_retry_status(status, method, idempotent=idempotent) is retried


def test_transport_failures_are_retried_on_reads_and_only_before_sending_on_writes() -> None:
    policy = RetryPolicy()
    dropped = requests.ConnectionError("('Connection aborted.', RemoteDisconnected('closed'))")
    refused = requests.ConnectionError("NewConnectionError('Failed to establish a new connection')")
    read_timeout = requests.ReadTimeout("read timed out")
    tls = requests.exceptions.InvalidURL("bad url")
    assert policy.should_retry_exception(dropped, "GET")
    assert policy.should_retry_exception(read_timeout, "POST", idempotent=True)
    assert not policy.should_retry_exception(dropped, "POST")
    assert not policy.should_retry_exception(read_timeout, "POST")
    assert policy.should_retry_exception(refused, "POST")
    assert policy.should_retry_exception(requests.ConnectTimeout("connect timed out"), "PATCH")
    assert not policy.should_retry_exception(tls, "GET")
