"""Salesforce errors: one exception type carrying the HTTP status, errorCode, message and fields."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response


class SalesforceApiError(Exception):
    """An error Salesforce reports as `[{"message", "errorCode", "fields"}]` with an HTTP status."""

    def __init__(self, status: int, error_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields or []

    def body(self) -> list[dict[str, Any]]:
        """The REST error body (a JSON list)."""
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields:
            item["fields"] = self.fields
        return [item]

    def record_error(self) -> dict[str, Any]:
        """The per-record form used in SaveResults (`statusCode`, always with `fields`)."""
        return {"statusCode": self.error_code, "message": self.message, "fields": self.fields}

    def bulk_error(self) -> str:
        """The Bulk API 2.0 `sf__Error` form: `CODE:message:field1,field2 --` (`CODE:message:--` without fields)."""
        if not self.fields:
            return f"{self.error_code}:{self.message}:--"
        return f"{self.error_code}:{self.message}:{','.join(self.fields)} --"

    def response(self) -> Response:
        """The REST response."""
        return JSONResponse(self.body(), status_code=self.status)


def record_failure(error_code: str, message: str, fields: list[str] | None = None) -> SalesforceApiError:
    """A per-record DML failure (HTTP 400 when it is the only record of a request)."""
    return SalesforceApiError(400, error_code, message, fields)


def not_found(message: str = "The requested resource does not exist") -> SalesforceApiError:
    """404 NOT_FOUND."""
    return SalesforceApiError(404, "NOT_FOUND", message)


def invalid_session() -> SalesforceApiError:
    """401 INVALID_SESSION_ID, which makes login-based clients log in again."""
    return SalesforceApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def error_response(status: int, error_code: str, message: str) -> Response:
    """Render an injected control-plane fault in Salesforce's REST error format."""
    return SalesforceApiError(status, error_code, message).response()


class BulkV1Error(Exception):
    """A Bulk API 1.0 error: `{"exceptionCode", "exceptionMessage"}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        """The Bulk 1.0 JSON error response."""
        return JSONResponse(
            {"exceptionCode": self.code, "exceptionMessage": self.message}, status_code=self.status
        )
