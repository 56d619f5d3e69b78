"""SOQL for the Salesforce sandbox: an LALR grammar, a parser to a small syntax tree, and an executor.

`execute(query, schema, store, include_deleted=False)` returns a :class:`QueryResult`; errors raise
:class:`SoqlError` carrying Salesforce's errorCode (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE, …).
"""

from __future__ import annotations

from .errors import SoqlError
from .executor import QueryResult, execute
from .parser import Query, parse

__all__ = ["Query", "QueryResult", "SoqlError", "execute", "parse"]
