"""The error a SOQL query fails with: Salesforce's error code and a Salesforce-like message."""

from __future__ import annotations

from ..errors import SalesforceApiError

MALFORMED_QUERY = "MALFORMED_QUERY"
INVALID_FIELD = "INVALID_FIELD"
INVALID_TYPE = "INVALID_TYPE"
INVALID_QUERY_FILTER_OPERATOR = "INVALID_QUERY_FILTER_OPERATOR"
NUMBER_OUTSIDE_VALID_RANGE = "NUMBER_OUTSIDE_VALID_RANGE"


class SoqlError(SalesforceApiError):
    """A refused query: HTTP 400 ``[{"message", "errorCode"}]`` (MALFORMED_QUERY, INVALID_FIELD…)."""

    def __init__(self, error_code: str, message: str, *, status: int = 400) -> None:
        super().__init__(status, error_code, message)


def positioned(query: str, line: int | None, column: int | None, text: str) -> str:
    """Prefix ``text`` with the query line and a caret, the way Salesforce reports query errors."""
    if not line or not column:
        return text
    lines = query.splitlines() or [""]
    src = lines[line - 1] if line - 1 < len(lines) else ""
    return f"\n{src}\n{' ' * (column - 1)}^\nERROR at Row:{line}:Column:{column}\n{text}"
