"""Vendor-neutral HTTP helpers: bounded retries with exponential backoff and full jitter.

Any client of this package (LogiSense, Salesforce) can reuse these pieces; nothing here knows a vendor's
wire format. The client keeps its own ``_request`` chokepoint and asks a :class:`RetryPolicy` two things:
whether an outcome is worth another attempt and how long to wait before it.

Attempts are bounded (``max_retries`` retries after the first try), waits grow as
``min(backoff_max, backoff_base * 2**retry)`` with *full jitter* (a uniform draw between 0 and that cap), and
a server's ``Retry-After`` (seconds or an HTTP date) replaces the drawn wait, capped by ``retry_after_max``.
Sleep, clock and random source are injectable so tests run without real waiting.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

#: Statuses that say "try again later": throttling and server-side failures.
RETRIABLE_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})

#: Statuses after which the server is known not to have applied the request, so even a non-idempotent
#: call (POST create, PATCH) may be sent again without risk of doing the work twice.
NOT_APPLIED_STATUSES: frozenset[int] = frozenset({429, 503})

#: Methods whose repetition has the same effect as one call (RFC 9110 §9.2.2).
IDEMPOTENT_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a ``Retry-After`` header value.

    Args:
        value: the header value: delta-seconds (``"3"``, ``"1.5"``) or an HTTP date.
        now: the current time for HTTP dates (defaults to the wall clock, UTC).

    Returns:
        Seconds to wait (never negative), or ``None`` when the header is absent or unreadable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds)


def is_connection_not_established(exc: requests.RequestException) -> bool:
    """Tell whether a transport failure happened before the request reached the server.

    Args:
        exc: the exception ``requests`` raised.

    Returns:
        True for connect timeouts and refused/unreachable connections (the request was never sent), False
        for read timeouts and connections dropped after sending (the server may have acted on the request).
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        text = repr(exc.args[0]) if exc.args else ""
        return "NewConnectionError" in text or "Connection refused" in text
    return False


@dataclass
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter.

    Attributes:
        max_retries: retries after the first attempt (0 disables retrying); attempts = ``max_retries + 1``.
        backoff_base: the first retry's wait cap in seconds; doubled for every further retry.
        backoff_max: the largest wait cap in seconds.
        retry_after_max: the longest ``Retry-After`` honoured; a longer one is cut to this.
        retriable_statuses: HTTP statuses worth another attempt.
        sleep: called with the wait in seconds (``time.sleep`` by default; tests pass a recorder).
        clock: monotonic seconds (``time.monotonic`` by default), used for elapsed times and token expiry.
        rng: the random source for jitter.
    """

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    retriable_statuses: frozenset[int] = RETRIABLE_STATUSES
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            msg = f"max_retries must be >= 0, got {self.max_retries}"
            raise ValueError(msg)
        if self.backoff_base < 0 or self.backoff_max < 0:
            msg = "backoff_base and backoff_max must be >= 0"
            raise ValueError(msg)

    @property
    def max_attempts(self) -> int:
        """The most attempts one logical call makes (first try included)."""
        return self.max_retries + 1

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Compute the wait before a retry.

        Args:
            retry: which retry this is, starting at 0 for the wait after the first failed attempt.
            retry_after: the server's ``Retry-After`` in seconds, if it sent one.

        Returns:
            Seconds to wait: the server's ``Retry-After`` (capped by ``retry_after_max``) when given, else a
            uniform draw in ``[0, min(backoff_max, backoff_base * 2**retry)]``.
        """
        if retry_after is not None:
            return min(retry_after, self.retry_after_max)
        cap = min(self.backoff_max, self.backoff_base * (2**retry))
        return self.rng.uniform(0.0, cap)

    def should_retry_status(self, status: int, method: str, *, idempotent: bool | None = None) -> bool:
        """Tell whether a response status deserves another attempt.

        Args:
            status: the HTTP status received.
            method: the HTTP verb sent.
            idempotent: override of the verb-based idempotency (True for a read-only ``POST .../Search``).

        Returns:
            True for retriable statuses on idempotent calls; for non-idempotent calls only when the status
            says the server did not apply the request (429, 503).
        """
        if status not in self.retriable_statuses:
            return False
        safe = idempotent if idempotent is not None else method.upper() in IDEMPOTENT_METHODS
        return safe or status in NOT_APPLIED_STATUSES

    def should_retry_exception(
        self, exc: requests.RequestException, method: str, *, idempotent: bool | None = None
    ) -> bool:
        """Tell whether a transport failure deserves another attempt.

        Args:
            exc: the exception ``requests`` raised.
            method: the HTTP verb sent.
            idempotent: override of the verb-based idempotency.

        Returns:
            True for timeouts and connection errors on idempotent calls; for non-idempotent calls only when
            the connection was never established.
        """
        if not isinstance(exc, requests.ConnectionError | requests.Timeout):
            return False
        safe = idempotent if idempotent is not None else method.upper() in IDEMPOTENT_METHODS
        return safe or is_connection_not_established(exc)
