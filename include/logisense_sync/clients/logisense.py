"""LogiSense Billing REST client (API v10): login, one request chokepoint, Search paging, typed errors.

Wire shapes follow ``shared/reference/logisense-api.md`` (§3 login, §5 envelopes, §7 Search) and the sandbox's
``RESOURCES.md``; resource names are the route segments verbatim (``Package/Service/PricePlan``).

Every call goes through :meth:`LogiSenseClient._request`, which

* adds ``Authorization: Bearer <token>``, logging in first and renewing the token shortly before it expires
  (LogiSense tokens live at most 30 minutes); a 401 triggers one fresh login and one resend;
* applies the connect/read timeouts and bounded retries with exponential backoff and full jitter on 429, 5xx
  and connection errors, honouring ``Retry-After`` (see :mod:`logisense_sync.clients._http`);
* maps every error envelope (``{"trackingId", "type", "errors": [{"code", "message"}]}``, whatever the HTTP
  status) to a typed :class:`LogiSenseError` that carries the tracking id, HTTP status, method, path and
  every LogiSense code and message.

Envelopes are unwrapped in one place, :func:`unwrap_items` / :func:`unwrap_write`. Secrets (password, token)
never reach a log line, an exception message or ``repr``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlsplit

import msgspec
import requests
from requests.adapters import HTTPAdapter

from logisense_sync.clients._http import RetryPolicy, parse_retry_after
from logisense_sync.errors import FatalError, RetriableError, SyncError

__all__ = [
    "MAX_PAGE_SIZE",
    "MAX_TOKEN_LIFETIME",
    "LogiSenseAmbiguousMatch",
    "LogiSenseAuthError",
    "LogiSenseClient",
    "LogiSenseConflict",
    "LogiSenseConnectionError",
    "LogiSenseError",
    "LogiSenseErrorDetail",
    "LogiSenseFatalError",
    "LogiSenseNotFound",
    "LogiSenseProtocolError",
    "LogiSenseRetriableError",
    "LogiSenseValidationError",
    "error_for_response",
    "unwrap_items",
    "unwrap_write",
]

logger = logging.getLogger(__name__)

#: Largest ``top``/``pageSize`` a LogiSense Search accepts (reference §7).
MAX_PAGE_SIZE: Final = 10_000
#: Longest token lifetime LogiSense issues, in seconds (reference §3): renewal never waits longer.
MAX_TOKEN_LIFETIME: Final = 1800.0
#: How long before expiry the token is renewed, in seconds (halved for very short-lived tokens).
TOKEN_RENEW_MARGIN: Final = 60.0

Filters = Mapping[str, Any] | Sequence[Mapping[str, Any]]
OrderBy = Sequence[str | tuple[str, str]]


# --------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class LogiSenseErrorDetail:
    """One entry of a LogiSense ``errors`` array.

    Attributes:
        code: the LogiSense error code (e.g. ``13100000``); a string for OAuth-style login errors.
        message: the LogiSense message, verbatim.
    """

    code: int | str | None
    message: str

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code is not None else self.message


class LogiSenseError(SyncError):
    """A LogiSense call failed. Carries everything needed to find the call in LogiSense's JSON API log.

    Attributes:
        status: the HTTP status, or None when no response arrived.
        method: the HTTP verb.
        path: the URL path (no host, no query string).
        tracking_id: LogiSense's ``trackingId`` of the failed call, when it sent one.
        errors: every ``{code, message}`` LogiSense returned, in order.
        request_type: the envelope's ``type`` (``create``, ``update``, ``patch``, ``delete``...) if present.
    """

    #: What the caller should do next; appended to the message.
    next_step: str = "The call was not retried."

    def __init__(
        self,
        summary: str,
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        tracking_id: str | None = None,
        errors: Sequence[LogiSenseErrorDetail] = (),
        request_type: str | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.tracking_id = tracking_id
        self.errors: tuple[LogiSenseErrorDetail, ...] = tuple(errors)
        self.request_type = request_type
        self.summary = summary
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"LogiSense {self.method} {self.path}".rstrip()
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        tracking = f", trackingId {self.tracking_id}" if self.tracking_id else ""
        details = "; ".join(str(e) for e in self.errors)
        body = f": {details}" if details else ""
        return f"{where} failed ({status}{tracking}): {self.summary}{body}. {self.next_step}"

    @property
    def codes(self) -> tuple[int | str | None, ...]:
        """Every LogiSense error code, in the order returned."""
        return tuple(e.code for e in self.errors)

    @property
    def messages(self) -> tuple[str, ...]:
        """Every LogiSense error message, in the order returned."""
        return tuple(e.message for e in self.errors)


class LogiSenseRetriableError(LogiSenseError, RetriableError):
    """Throttling (429), a server failure (5xx) or a transport failure that outlasted the client's retries."""

    next_step = "Retries are exhausted; the task may be retried later."


class LogiSenseConnectionError(LogiSenseRetriableError):
    """No usable response: connection refused or dropped, or a timeout, after the client's retries."""


class LogiSenseFatalError(LogiSenseError, FatalError):
    """A failure that the same call will hit again until something is fixed (4xx, bad envelope, TLS)."""

    next_step = "Retrying will not help; fix the request or the configuration."


class LogiSenseValidationError(LogiSenseFatalError):
    """LogiSense rejected the payload (HTTP 400, or any response carrying ``errors``)."""


class LogiSenseAuthError(LogiSenseFatalError):
    """Login refused (bad username, password or client id), or a 401/403 even after a fresh login."""

    next_step = "Check the logisense connection's username, password and client id."


class LogiSenseNotFound(LogiSenseFatalError):
    """HTTP 404: the resource route or the object id does not exist."""


class LogiSenseConflict(LogiSenseFatalError):
    """HTTP 409: the object changed or is in use (e.g. deleting an in-use price book)."""


class LogiSenseProtocolError(LogiSenseFatalError):
    """The response is not the JSON envelope LogiSense documents."""


class LogiSenseAmbiguousMatch(LogiSenseFatalError):
    """A lookup that must match at most one object matched several (e.g. a duplicated ``sfdcid``)."""

    next_step = "Remove the duplicates in LogiSense; the sync cannot tell which object is the right one."


_STATUS_ERRORS: Final[dict[int, type[LogiSenseError]]] = {
    400: LogiSenseValidationError,
    401: LogiSenseAuthError,
    403: LogiSenseAuthError,
    404: LogiSenseNotFound,
    409: LogiSenseConflict,
    422: LogiSenseValidationError,
}


def _error_class(status: int) -> type[LogiSenseError]:
    if status in _STATUS_ERRORS:
        return _STATUS_ERRORS[status]
    if status == 429 or status >= 500 or status in (408, 425):
        return LogiSenseRetriableError
    if status >= 400:
        return LogiSenseFatalError
    # A 2xx/3xx that still carries an ``errors`` array: LogiSense refused the work.
    return LogiSenseValidationError


def _details(body: Any) -> list[LogiSenseErrorDetail]:
    if not isinstance(body, Mapping):
        return []
    raw = body.get("errors")
    details: list[LogiSenseErrorDetail] = []
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        for entry in raw:
            if isinstance(entry, Mapping):
                details.append(LogiSenseErrorDetail(entry.get("code"), str(entry.get("message", ""))))
            else:
                details.append(LogiSenseErrorDetail(None, str(entry)))
    # OAuth-style login failure: {"error": "invalid_grant", "error_description": "..."}
    if not details and isinstance(body.get("error"), str):
        details.append(LogiSenseErrorDetail(body["error"], str(body.get("error_description", ""))))
    return details


def error_for_response(
    status: int, body: Any, *, method: str, path: str, text: str = "", summary: str | None = None
) -> LogiSenseError:
    """Build the typed exception for one failed LogiSense response.

    This is the single status/envelope → exception table: 400/422 → :class:`LogiSenseValidationError`,
    401/403 → :class:`LogiSenseAuthError`, 404 → :class:`LogiSenseNotFound`, 409 →
    :class:`LogiSenseConflict`, 429/5xx → :class:`LogiSenseRetriableError`, other 4xx →
    :class:`LogiSenseFatalError`, and a 2xx that carries ``errors`` → :class:`LogiSenseValidationError`.

    Args:
        status: the HTTP status.
        body: the decoded JSON body, or None when it was not JSON.
        method: the HTTP verb sent.
        path: the URL path called.
        text: the raw body, quoted (shortened) when it is not a JSON envelope.
        summary: a phrase for the message; defaults to one derived from the status.

    Returns:
        The exception to raise (not raised here).
    """
    details = _details(body)
    if not details and text and body is None:
        details = [LogiSenseErrorDetail(None, text.strip()[:300])]
    tracking = body.get("trackingId") if isinstance(body, Mapping) else None
    request_type = body.get("type") if isinstance(body, Mapping) else None
    cls = _error_class(status)
    if summary is None:
        summary = f"LogiSense answered {len(details)} error(s)" if details else "LogiSense answered an error"
    return cls(
        summary,
        status=status,
        method=method,
        path=path,
        tracking_id=str(tracking) if tracking is not None else None,
        errors=details,
        request_type=str(request_type) if request_type is not None else None,
    )


# ------------------------------------------------------------------------------------------ envelopes


def unwrap_items(envelope: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int | None]:
    """Take the objects out of a read envelope.

    Handles the list/search envelope (``{"trackingId", "totalCount", "items": [...]}``) and the Paged one
    (``{"pagination": {...}, "pagedResults": {"totalCount", "items": [...]}}``).

    Args:
        envelope: the decoded response body.

    Returns:
        The items (the envelope's own list, not a copy) and the ``totalCount`` if the envelope has one.

    Raises:
        LogiSenseProtocolError: the body has neither ``items`` nor ``pagedResults.items``.
    """
    container: Any = envelope
    paged = envelope.get("pagedResults")
    if isinstance(paged, Mapping):
        container = paged
    items = container.get("items")
    if not isinstance(items, list):
        msg = "the response has neither 'items' nor 'pagedResults.items'"
        raise LogiSenseProtocolError(msg, tracking_id=_tracking(envelope))
    total = container.get("totalCount", envelope.get("totalCount"))
    return items, (int(total) if isinstance(total, int | float) else None)


def unwrap_write(envelope: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Take the result items out of a write envelope (POST, PUT, PATCH, DELETE).

    Args:
        envelope: ``{"trackingId", "type", "results": {"totalCount", "items": [{"identity", "action",
            "dtoTypeKey", "instance": {...}}]}}``.

    Returns:
        The ``results.items`` entries, each with ``action``, ``dtoTypeKey`` and (for created/updated
        objects) ``instance``.

    Raises:
        LogiSenseProtocolError: the body has no ``results.items`` list.
    """
    results = envelope.get("results")
    items = results.get("items") if isinstance(results, Mapping) else None
    if not isinstance(items, list):
        msg = "the write response has no 'results.items'"
        raise LogiSenseProtocolError(msg, tracking_id=_tracking(envelope))
    return items


def _tracking(envelope: Any) -> str | None:
    value = envelope.get("trackingId") if isinstance(envelope, Mapping) else None
    return str(value) if value is not None else None


# ---------------------------------------------------------------------------------------------- client


class _Secret:
    """A string that never shows itself in ``repr``/``str`` (tracebacks, debuggers, ``vars()``)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


@dataclass
class _Token:
    access: _Secret
    renew_at: float
    lifetime: float


def _normalise_filters(filters: Filters | None) -> list[dict[str, Any]]:
    if filters is None:
        return []
    if isinstance(filters, Mapping):
        out = []
        for name, value in filters.items():
            if isinstance(value, list | tuple | set | frozenset):
                out.append({"name": name, "operator": "in", "value": list(value)})
            else:
                out.append({"name": name, "operator": "eq", "value": value})
        return out
    return [dict(f) for f in filters]


def _normalise_order(order_by: OrderBy | None) -> list[dict[str, str]]:
    if order_by is None:
        return [{"name": "identity", "direction": "asc"}]
    out = []
    for entry in order_by:
        if isinstance(entry, str):
            out.append({"name": entry, "direction": "asc"})
        else:
            out.append({"name": entry[0], "direction": entry[1]})
    return out


class LogiSenseClient:
    """A LogiSense Billing REST client (requests only, no Airflow).

    Args:
        base_url: the tenant's root URL, e.g. ``https://tenant.logisensebilling.com`` or the sandbox's
            ``https://127.0.0.1:8444``; ``/AuthorizationServer`` and ``/ResourceServer`` are added.
        username: the API user.
        password: its password (kept hidden from logs and ``repr``).
        client_id: the client id LogiSense support issued (``sandbox`` for the sandbox).
        api_version: the path segment ``v10`` (``v9``... also accepted).
        verify: TLS verification: None uses requests' default (``REQUESTS_CA_BUNDLE`` or certifi), a path
            names a CA bundle, False disables verification (never in production).
        timeout: ``(connect, read)`` seconds for every request.
        max_retries: retries after the first attempt on 429, 5xx and connection errors.
        backoff_base: the first retry's wait cap in seconds (doubles per retry, full jitter).
        backoff_max: the largest wait cap in seconds.
        sleep: replaces ``time.sleep`` (tests).
        clock: replaces ``time.monotonic`` for token expiry and elapsed times (tests).
        retry_policy: a complete :class:`RetryPolicy`; overrides the four knobs above.
        session: a ``requests.Session`` to use (one is created otherwise).
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        client_id: str,
        *,
        api_version: str = "v10",
        verify: bool | str | None = None,
        timeout: float | tuple[float, float] = (5.0, 60.0),
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        retry_policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            msg = f"base_url must start with https:// (got {base_url!r})"
            raise ValueError(msg)
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = _Secret(password)
        self.client_id = client_id
        self.api_version = api_version
        self.verify = verify
        self.timeout = timeout
        if retry_policy is None:
            retry_policy = RetryPolicy(
                max_retries=max_retries, backoff_base=backoff_base, backoff_max=backoff_max
            )
            if sleep is not None:
                retry_policy.sleep = sleep
            if clock is not None:
                retry_policy.clock = clock
        self.retry_policy = retry_policy
        self._session = session or requests.Session()
        self._session.mount("https://", HTTPAdapter(pool_connections=2, pool_maxsize=4))
        self._token: _Token | None = None
        self.login_count = 0
        self.request_count = 0

    # -- plumbing

    def __repr__(self) -> str:
        return (
            f"LogiSenseClient(base_url={self.base_url!r}, username={self.username!r}, "
            f"client_id={self.client_id!r}, api_version={self.api_version!r})"
        )

    def __enter__(self) -> LogiSenseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session's pooled connections."""
        self._session.close()

    @property
    def login_url(self) -> str:
        """The token endpoint: ``{base}/AuthorizationServer/api/{version}/Access/Login``."""
        return f"{self.base_url}/AuthorizationServer/api/{self.api_version}/Access/Login"

    @property
    def resource_url(self) -> str:
        """The data root: ``{base}/ResourceServer/api/{version}``."""
        return f"{self.base_url}/ResourceServer/api/{self.api_version}"

    def _url(self, path: str) -> str:
        if path.startswith(("https://", "http://")):
            return path
        return f"{self.resource_url}/{path.lstrip('/')}"

    # -- authentication

    def login(self) -> None:
        """Obtain a fresh access token (form POST to ``Access/Login``) and cache it.

        Raises:
            LogiSenseAuthError: the credentials or client id were refused.
            LogiSenseRetriableError: LogiSense was unreachable or failing after the retries.
        """
        form = {
            "username": self.username,
            "password": self._password.reveal(),
            "grant_type": "password",
            "client_id": self.client_id,
        }
        started = self.retry_policy.clock()
        try:
            body = self._request("POST", self.login_url, data=form, authenticated=False, idempotent=True)
        except LogiSenseValidationError as exc:
            # A refused login comes back as 400/401 depending on the server: either way it is an auth problem.
            msg = "login refused"
            raise LogiSenseAuthError(
                msg,
                status=exc.status,
                method=exc.method,
                path=exc.path,
                tracking_id=exc.tracking_id,
                errors=exc.errors,
            ) from None
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            msg = "the login response has no access_token"
            raise LogiSenseProtocolError(msg, status=200, method="POST", path=urlsplit(self.login_url).path)
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else MAX_TOKEN_LIFETIME
        lifetime = max(0.0, min(lifetime, MAX_TOKEN_LIFETIME))
        margin = min(TOKEN_RENEW_MARGIN, lifetime / 2)
        self._token = _Token(_Secret(token), renew_at=started + lifetime - margin, lifetime=lifetime)
        self.login_count += 1
        logger.info("LogiSense login as %s succeeded; token valid %.0f s", self.username, lifetime)

    def _bearer(self) -> str:
        if self._token is None or self.retry_policy.clock() >= self._token.renew_at:
            if self._token is not None:
                logger.debug("LogiSense token due for renewal; logging in again")
            self.login()
        assert self._token is not None
        return f"Bearer {self._token.access.reveal()}"

    # -- the chokepoint

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        authenticated: bool = True,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """Send one logical call: auth, timeouts, bounded retries, envelope → exception mapping.

        Args:
            method: the HTTP verb.
            path: a resource path relative to ``/ResourceServer/api/{version}/`` or an absolute URL.
            json: the JSON body.
            data: a form body (login only).
            authenticated: send the bearer token (and re-login once on 401).
            idempotent: whether repeating the call is harmless; defaults to the verb's nature. ``POST
                .../Search`` passes True so reads are retried after dropped connections.

        Returns:
            The decoded JSON envelope of a successful response.

        Raises:
            LogiSenseError: the typed subclass for the failure (see :func:`error_for_response`).
        """
        url = self._url(path)
        shown = urlsplit(url).path
        policy = self.retry_policy
        method = method.upper()
        retry = 0
        relogged = False
        while True:
            headers = {"Accept": "application/json"}
            if authenticated:
                headers["Authorization"] = self._bearer()
            started = policy.clock()
            self.request_count += 1
            try:
                response = self._session.request(
                    method,
                    url,
                    json=json,
                    data=data,
                    headers=headers,
                    timeout=self.timeout,
                    # Passed per request: a session-level verify would lose to REQUESTS_CA_BUNDLE.
                    verify=self.verify if self.verify is not None else True,
                )
            except requests.exceptions.SSLError as exc:
                msg = (
                    f"TLS verification failed ({type(exc).__name__}); point verify at the server's CA bundle"
                )
                raise LogiSenseFatalError(
                    msg,
                    method=method,
                    path=shown,
                ) from exc
            except requests.RequestException as exc:
                elapsed = policy.clock() - started
                if retry < policy.max_retries and policy.should_retry_exception(
                    exc, method, idempotent=idempotent
                ):
                    wait = policy.delay(retry)
                    logger.warning(
                        "LogiSense %s %s: %s after %.3f s; retry %d/%d in %.2f s",
                        method, shown, type(exc).__name__, elapsed, retry + 1, policy.max_retries, wait,
                    )  # fmt: skip
                    policy.sleep(wait)
                    retry += 1
                    continue
                cls = (
                    LogiSenseConnectionError
                    if isinstance(exc, requests.ConnectionError | requests.Timeout)
                    else LogiSenseFatalError
                )
                msg = f"{type(exc).__name__} after {retry + 1} attempt(s)"
                raise cls(msg, method=method, path=shown) from exc
            except OSError as exc:
                # requests raises a bare OSError for local configuration problems (e.g. a missing CA bundle).
                msg = f"the request could not be sent: {exc}"
                raise LogiSenseFatalError(msg, method=method, path=shown) from exc

            elapsed = policy.clock() - started
            status = response.status_code
            body: Any
            try:
                # msgspec decodes a 10,000-row page in half the time of the json module
                body = msgspec.json.decode(response.content) if response.content else None
            except msgspec.DecodeError:
                body = None
            tracking = _tracking(body) or response.headers.get("X-Tracking-Id")
            logger.debug(
                "LogiSense %s %s -> %s trackingId=%s %.3f s (attempt %d)",
                method, shown, status, tracking, elapsed, retry + 1,
            )  # fmt: skip

            if status == 401 and authenticated and not relogged:
                logger.info("LogiSense %s %s -> 401; logging in again once", method, shown)
                relogged = True
                self._token = None
                continue
            if retry < policy.max_retries and policy.should_retry_status(
                status, method, idempotent=idempotent
            ):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                wait = policy.delay(retry, retry_after)
                logger.warning(
                    "LogiSense %s %s -> %s trackingId=%s; retry %d/%d in %.2f s",
                    method, shown, status, tracking, retry + 1, policy.max_retries, wait,
                )  # fmt: skip
                policy.sleep(wait)
                retry += 1
                continue
            has_errors = isinstance(body, Mapping) and bool(body.get("errors"))
            if status >= 400 or has_errors:
                summary = None
                if status == 401 and authenticated:
                    summary = "unauthorised even after a fresh login"
                elif _error_class(status) is LogiSenseRetriableError:
                    summary = f"still failing after {retry + 1} attempt(s)"
                raise error_for_response(
                    status, body, method=method, path=shown, text=response.text if body is None else "",
                    summary=summary,
                )  # fmt: skip
            if not isinstance(body, dict):
                msg = "the response body is not a JSON object"
                raise LogiSenseProtocolError(
                    msg, status=status, method=method, path=shown, tracking_id=tracking
                )
            return body

    # -- reads

    def search_pages(
        self,
        resource: str,
        filters: Filters | None = None,
        order_by: OrderBy | None = None,
        fields: Sequence[str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[list[dict[str, Any]]]:
        """Run ``POST {resource}/Search`` and yield each page's raw item list, fetching pages lazily.

        Args:
            resource: the route, e.g. ``"Package/Service/PricePlan"``.
            filters: either ``{"name": value}`` shorthand (a list/tuple/set value becomes operator ``in``,
                anything else ``eq``; all AND-joined) or LogiSense ``search`` entries verbatim
                (``[{"name": "priceBookId", "operator": "in", "value": [1, 2]}]``).
            order_by: property names (ascending) or ``(name, "asc"|"desc")`` pairs; defaults to ``identity``
                ascending so pages are stable.
            fields: a projection (property names); None returns every property.
            page_size: items per page, 1..10000.

        Yields:
            Each non-empty page's list of objects (the decoded JSON dicts, not copies).

        Raises:
            ValueError: page_size is outside 1..10000.
            LogiSenseError: a page could not be read.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            msg = f"page_size must be within 1..{MAX_PAGE_SIZE}, got {page_size}"
            raise ValueError(msg)
        query: dict[str, Any] = {"top": page_size, "orderBy": _normalise_order(order_by)}
        search = _normalise_filters(filters)
        if search:
            query["search"] = search
        if fields:
            query["fields"] = list(fields)
        path = f"{resource.strip('/')}/Search"
        page_number = 1
        seen = 0
        while True:
            query["pagination"] = {"pageNumber": page_number, "pageSize": page_size}
            envelope = self._request("POST", path, json={"query": query}, idempotent=True)
            items, total = unwrap_items(envelope)
            if not items:
                return
            yield items
            seen += len(items)
            # Trust totalCount when given: a server that caps pageSize below ours still gets read to the end.
            if (total is not None and seen >= total) or (total is None and len(items) < page_size):
                return
            page_number += 1

    def count(self, resource: str, filters: Filters | None = None) -> int:
        """Count the objects a Search matches, with one small call (``pageSize`` 1, ``identity`` only).

        Args:
            resource: the route, e.g. ``"Package/Service/PricePlan/Recurring"``.
            filters: see :meth:`search_pages`.

        Returns:
            The envelope's ``totalCount``.

        Raises:
            LogiSenseProtocolError: the response has no ``totalCount``.
            LogiSenseError: the call failed.
        """
        query: dict[str, Any] = {
            "top": 1,
            "fields": ["identity"],
            "pagination": {"pageNumber": 1, "pageSize": 1, "excludeTotalCount": False},
        }
        search = _normalise_filters(filters)
        if search:
            query["search"] = search
        path = f"{resource.strip('/')}/Search"
        envelope = self._request("POST", path, json={"query": query}, idempotent=True)
        _, total = unwrap_items(envelope)
        if total is None:
            msg = "the Search response has no totalCount"
            raise LogiSenseProtocolError(msg, method="POST", path=urlsplit(self._url(path)).path)
        return total

    def search(
        self,
        resource: str,
        filters: Filters | None = None,
        order_by: OrderBy | None = None,
        fields: Sequence[str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Iterate over every object a Search matches, across pages (fetched lazily).

        Args:
            resource: the route, e.g. ``"Package"``.
            filters: see :meth:`search_pages`.
            order_by: see :meth:`search_pages`.
            fields: see :meth:`search_pages`.
            page_size: items per page, 1..10000.

        Yields:
            One object (dict, DTO property names verbatim) at a time.

        Raises:
            LogiSenseError: a page could not be read.
        """
        for page in self.search_pages(resource, filters, order_by, fields, page_size):
            yield from page

    def list_all(self, resource: str) -> list[dict[str, Any]]:
        """Read every object of a small resource with ``GET {resource}`` (one call, no paging).

        Args:
            resource: the route, e.g. ``"Currency"``.

        Returns:
            The objects.

        Raises:
            LogiSenseError: the call failed.
        """
        items, _ = unwrap_items(self._request("GET", resource.strip("/")))
        return items

    def get(self, resource: str, identity: int | str) -> dict[str, Any]:
        """Read one object by id (``GET {resource}/{identity}``).

        Args:
            resource: the route, e.g. ``"Account"``.
            identity: the object's ``identity``.

        Returns:
            The object.

        Raises:
            LogiSenseNotFound: no such object.
            LogiSenseError: the call failed otherwise.
        """
        path = f"{resource.strip('/')}/{quote(str(identity), safe='')}"
        envelope = self._request("GET", path)
        items, _ = unwrap_items(envelope)
        if not items:
            msg = f"{resource} {identity} does not exist"
            raise LogiSenseNotFound(
                msg,
                status=200,
                method="GET",
                path=urlsplit(self._url(path)).path,
                tracking_id=_tracking(envelope),
            )
        return items[0]

    def find_by_extension(self, resource: str, field: str, value: Any) -> dict[str, Any] | None:
        """Find the one object whose custom field (extension) has a value, e.g. ``sfdcid``.

        Searches ``extensions.<field>`` with operator ``eq`` (a PROPOSAL the sandbox implements; see
        RESOURCES.md). This is how the sync finds what it created before (idempotency marker).

        Args:
            resource: the route, e.g. ``"Account"``.
            field: the custom field's column name, e.g. ``"sfdcid"``.
            value: the value to match.

        Returns:
            The object, or None when none matches.

        Raises:
            LogiSenseAmbiguousMatch: more than one object carries the value.
            LogiSenseError: the search failed.
        """
        matches: list[dict[str, Any]] = []
        filters = [{"name": f"extensions.{field}", "operator": "eq", "value": value}]
        for page in self.search_pages(resource, filters, page_size=2):
            matches.extend(page)
            break
        if len(matches) > 1:
            ids = ", ".join(str(m.get("identity")) for m in matches)
            msg = f"{resource} objects {ids} all have {field} = {value!r}"
            raise LogiSenseAmbiguousMatch(
                msg,
                method="POST",
                path=urlsplit(self._url(f"{resource}/Search")).path,
            )
        return matches[0] if matches else None

    # -- writes

    def write(self, method: str, path: str, body: Any = None) -> list[dict[str, Any]]:
        """Send a write and return every result item (for PATCH/DELETE that touch child objects).

        Args:
            method: ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
            path: the route (relative), e.g. ``"Package/Service/PricePlan/12"``.
            body: the JSON body.

        Returns:
            The ``results.items`` entries (``identity``, ``action``, ``dtoTypeKey``, ``instance``).

        Raises:
            LogiSenseError: the call failed.
        """
        return unwrap_write(self._request(method, path, json=body))

    def _instance(self, items: list[dict[str, Any]], method: str, path: str) -> dict[str, Any]:
        for item in items:
            instance = item.get("instance")
            if isinstance(instance, dict):
                return instance
        msg = "the write response has no result instance"
        raise LogiSenseProtocolError(msg, method=method, path=urlsplit(self._url(path)).path)

    def create(self, resource: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create an object (``POST {resource}``).

        A dropped connection or a 5xx other than 503 is not retried here, because the object may already
        exist; look it up (e.g. :meth:`find_by_extension`) before creating again.

        Args:
            resource: the route, e.g. ``"Account"``.
            body: the DTO (camelCase property names).

        Returns:
            The created object as LogiSense echoes it (``identity`` and ``*Name`` echoes filled in).

        Raises:
            LogiSenseValidationError: LogiSense refused the payload; ``errors`` lists every reason.
            LogiSenseError: the call failed otherwise.
        """
        path = resource.strip("/")
        return self._instance(self.write("POST", path, dict(body)), "POST", path)

    def update(self, resource: str, identity: int | str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Replace an object (``PUT {resource}/{identity}``).

        Args:
            resource: the route.
            identity: the object's id.
            body: the full DTO.

        Returns:
            The updated object.

        Raises:
            LogiSenseError: the call failed (``LogiSenseNotFound`` for an unknown id).
        """
        path = f"{resource.strip('/')}/{quote(str(identity), safe='')}"
        return self._instance(self.write("PUT", path, dict(body)), "PUT", path)

    def patch(self, resource: str, identity: int | str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Change some properties of an object (``PATCH {resource}/{identity}``).

        Use :meth:`write` instead to see every child object a PATCH created, updated or deleted.

        Args:
            resource: the route.
            identity: the object's id.
            body: the properties to change (and optional child arrays).

        Returns:
            The patched object (the first result instance).

        Raises:
            LogiSenseError: the call failed.
        """
        path = f"{resource.strip('/')}/{quote(str(identity), safe='')}"
        return self._instance(self.write("PATCH", path, dict(body)), "PATCH", path)

    def delete(self, resource: str, identity: int | str) -> list[dict[str, Any]]:
        """Delete an object (``DELETE {resource}/{identity}``).

        Args:
            resource: the route.
            identity: the object's id.

        Returns:
            Every object LogiSense deleted or detached along with it (``action``, ``dtoTypeKey``...).

        Raises:
            LogiSenseError: the call failed.
        """
        path = f"{resource.strip('/')}/{quote(str(identity), safe='')}"
        return self.write("DELETE", path)
