"""The one place SOQL is built: every value goes through :func:`quote`, never an f-string."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


def quote(value: Any) -> str:
    """Render a Python value as a SOQL literal.

    Args:
        value: None, bool, int, float, Decimal, date, datetime, str, or an iterable of those (for IN).

    Returns:
        The literal, e.g. ``'O\\'Brien'``, ``2024-01-31``, ``('a','b')``.

    Raises:
        ValueError: for NaN or infinite numbers, empty IN lists, or unsupported types.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"SOQL has no literal for {value!r}"
            raise ValueError(msg)
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return str(value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return "'" + "".join(_ESCAPES.get(ch, ch) for ch in value) + "'"
    if isinstance(value, Iterable):
        items = [quote(v) for v in value]
        if not items:
            msg = "SOQL IN needs at least one value"
            raise ValueError(msg)
        return "(" + ",".join(items) + ")"
    msg = f"SOQL has no literal for {type(value).__name__}"
    raise ValueError(msg)


def identifier(name: str) -> str:
    """Check that ``name`` is a plain (possibly dotted) field or object name and return it.

    Raises:
        ValueError: if it could smuggle anything but a name into a query.
    """
    if not _IDENTIFIER.match(name):
        msg = f"not a SOQL identifier: {name!r}"
        raise ValueError(msg)
    return name


def format_soql(template: str, *args: Any, **kwargs: Any) -> str:
    """Fill ``{}`` / ``{name}`` placeholders in ``template`` with quoted literals.

    Args:
        template: SOQL with ``str.format`` placeholders where values go.
        *args: positional values.
        **kwargs: named values.

    Returns:
        The query with every value quoted by :func:`quote`.
    """
    return template.format(*(quote(a) for a in args), **{k: quote(v) for k, v in kwargs.items()})
