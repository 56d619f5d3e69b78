"""LogiSense error codes and the exception the store raises; rendered as the v10 error envelope.

Codes 2000, 10400000, 11900000 and 13100000 are seen in LogiSense's documentation; the 141000xx business-rule
codes, 12100000 (duplicate), 1000, 401 and 404 are this sandbox's proposals (RESOURCES.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Code(IntEnum):
    """Error codes as they appear in ``errors[].code``."""

    BAD_REQUEST = 1000
    ROLLED_BACK = 2000
    UNAUTHORIZED = 401
    NOT_FOUND_ROUTE = 404
    CONSTRAINT = 10400000
    VALIDATION = 11900000
    DUPLICATE = 12100000
    NOT_EXIST = 13100000
    CURRENCY_LOCKED = 14100001
    PACKAGE_CURRENCY = 14100002
    PARENT_CURRENCY = 14100003
    OUTSIDE_HIERARCHY = 14100004
    HIERARCHY_CYCLE = 14100005
    INVOICER_HIERARCHY = 14100006
    PLAN_CURRENCY = 14100007
    PACKAGE_MISMATCH = 14100008
    NOT_PURCHASABLE = 14100009
    SERVICE_NOT_IN_PACKAGE = 14100010
    IN_USE = 14100011
    STANDARD_PRICE_BOOK = 14100012


ROLLED_BACK_MESSAGE = "Errors found. Transaction rolled back."
UNAUTHORIZED_MESSAGE = "Authorization has been denied for this request."


@dataclass
class ErrorItem:
    """One ``{code, message}`` entry of the error envelope."""

    code: int
    message: str

    def as_dict(self) -> dict[str, object]:
        """Wire form."""
        return {"code": int(self.code), "message": self.message}


@dataclass
class LogiSenseError(Exception):
    """A failed request: HTTP status plus every error found (rendered all at once)."""

    status: int
    errors: list[ErrorItem] = field(default_factory=list)
    rolled_back: bool = False

    def __str__(self) -> str:
        return "; ".join(f"{e.code}: {e.message}" for e in self.errors)

    def items(self) -> list[dict[str, object]]:
        """The ``errors`` array, with the trailing 2000 item for rolled-back writes."""
        out = [e.as_dict() for e in self.errors]
        if self.rolled_back:
            out.append({"code": int(Code.ROLLED_BACK), "message": ROLLED_BACK_MESSAGE})
        return out


def bad_request(message: str) -> LogiSenseError:
    """A malformed request (body, header or query that cannot be read)."""
    return LogiSenseError(
        400, [ErrorItem(Code.BAD_REQUEST, f"The request could not be processed. {message}")]
    )


def validation(message: str) -> LogiSenseError:
    """A single 11900000 validation error (search/query problems)."""
    return LogiSenseError(400, [ErrorItem(Code.VALIDATION, message)])


def not_found(dto: str, identity: object) -> LogiSenseError:
    """Unknown id on a by-id route (HTTP 404)."""
    return LogiSenseError(
        404, [ErrorItem(Code.NOT_EXIST, f"'Identity' ({identity}) does not exist in '{dto}'.")]
    )


def unknown_route(path: str) -> LogiSenseError:
    """A path no resource answers (HTTP 404)."""
    return LogiSenseError(
        404, [ErrorItem(Code.NOT_FOUND_ROUTE, f"No resource found that matches the request URI '{path}'.")]
    )


def unauthorized() -> LogiSenseError:
    """Missing, malformed or expired bearer token (HTTP 401)."""
    return LogiSenseError(401, [ErrorItem(Code.UNAUTHORIZED, UNAUTHORIZED_MESSAGE)])
