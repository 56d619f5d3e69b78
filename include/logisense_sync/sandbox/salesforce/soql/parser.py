"""SOQL text -> a small syntax tree (dataclasses); syntax errors become ``MALFORMED_QUERY``."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from .errors import (
    MALFORMED_QUERY,
    SoqlError,
    positioned,
)
from .grammar import GRAMMAR

# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Path:
    """A dotted field path as written (``Account.Parent.Name``), with its position for error messages."""

    parts: tuple[str, ...]
    line: int | None = None
    column: int | None = None

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Literal:
    """A literal value. ``kind``: string, number, date, datetime, null, boolean, date_literal."""

    kind: str
    value: Any
    raw: str = ""
    n: int | None = None  # the N of LAST_N_DAYS:N


@dataclass
class Aggregate:
    """``COUNT()`` (path None), ``COUNT(f)``, ``SUM(f)``… with an optional alias."""

    function: str
    path: Path | None
    alias: str | None


@dataclass
class Comparison:
    """``path <op> value``; op is one of = != < <= > >= LIKE IN NOT_IN INCLUDES EXCLUDES."""

    path: Path
    op: str
    value: Literal | None = None
    values: tuple[Literal, ...] = ()
    subquery: Query | None = None


@dataclass
class BoolOp:
    """AND / OR over two or more conditions, or NOT over one."""

    op: str
    items: list[Condition]


Condition = Comparison | BoolOp


@dataclass
class OrderItem:
    path: Path
    descending: bool = False
    nulls_last: bool | None = None


@dataclass
class Query:
    """One SELECT (top level, child subquery or semi-join)."""

    select: list[Path | Aggregate | Query]
    sobject: str
    sobject_line: int | None = None
    sobject_column: int | None = None
    where: Condition | None = None
    group_by: list[Path] = field(default_factory=list)
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


# --------------------------------------------------------------------------- string literals

_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)


def decode_string(raw: str, *, like: bool = False) -> list[tuple[str, bool]]:
    """Decode a quoted SOQL string into (text, is_wildcard) pieces.

    Only Salesforce's documented escapes are accepted (\\n \\r \\t \\b \\f \\" \\' \\\\ \\uXXXX,
    and \\% \\_ in LIKE).
    Unescaped ``%`` and ``_`` are wildcards (meaningful in LIKE only).
    """
    body = raw[1:-1]
    out: list[tuple[str, bool]] = []
    pos = 0
    for m in _ESCAPE.finditer(body):
        _plain(body[pos : m.start()], out)
        esc = m.group(1)
        if len(esc) == 5:
            out.append((chr(int(esc[1:], 16)), False))
        elif esc in _SIMPLE_ESCAPES or esc.lower() in "nrtbf":
            out.append((_SIMPLE_ESCAPES[esc.lower()], False))
        elif like and esc in ("%", "_"):
            out.append((esc, False))
        else:
            raise SoqlError(
                MALFORMED_QUERY,
                f"Invalid string literal '{body}'. Illegal character sequence '\\{esc}' in string literal.",
            )
        pos = m.end()
    _plain(body[pos:], out)
    return out


def _plain(text: str, out: list[tuple[str, bool]]) -> None:
    start = 0
    for i, ch in enumerate(text):
        if ch in "%_":
            if i > start:
                out.append((text[start:i], False))
            out.append((ch, True))
            start = i + 1
    if start < len(text):
        out.append((text[start:], False))


def string_value(raw: str) -> str:
    """The plain value of a quoted SOQL string (wildcards kept as characters)."""
    return "".join(piece for piece, _ in decode_string(raw))


# --------------------------------------------------------------------------- tree building


def _path(tok_list: list[Token]) -> Path:
    first = tok_list[0]
    return Path(tuple(str(t) for t in tok_list), getattr(first, "line", None), getattr(first, "column", None))


@v_args(inline=True)
class _Builder(Transformer[Token, Any]):
    def start(self, q: Query) -> Query:
        return q

    def query(self, select: list[Any], sobject: Token, *clauses: Any) -> Query:
        q = Query(
            select=select, sobject=str(sobject), sobject_line=sobject.line, sobject_column=sobject.column
        )
        for kind, value in clauses:
            if kind in ("where", "group_by", "order_by", "limit", "offset"):
                setattr(q, kind, value)
        return q

    def select_list(self, *items: Any) -> list[Any]:
        return list(items)

    def sel_field(self, p: Path) -> Path:
        return p

    def sel_subquery(self, q: Query) -> Query:
        return q

    def sel_agg(self, fn: Token, *rest: Any) -> Aggregate:
        path = next((r for r in rest if isinstance(r, Path)), None)
        alias = next((str(r) for r in rest if isinstance(r, Token)), None)
        return Aggregate(str(fn).upper(), path, alias)

    def path(self, *names: Token) -> Path:
        return _path(list(names))

    def where(self, cond: Condition) -> tuple[str, Condition]:
        return ("where", cond)

    def and_(self, *items: Condition) -> BoolOp:
        return BoolOp("AND", list(items))

    def or_(self, *items: Condition) -> BoolOp:
        return BoolOp("OR", list(items))

    def not_(self, item: Condition) -> BoolOp:
        return BoolOp("NOT", [item])

    def cmp(self, p: Path, op: Token, value: Literal) -> Comparison:
        o = "!=" if str(op) == "<>" else str(op)
        return Comparison(p, o, value=value)

    def like(self, p: Path, value: Literal) -> Comparison:
        return Comparison(p, "LIKE", value=value)

    def in_(self, p: Path, values: tuple[Literal, ...]) -> Comparison:
        return Comparison(p, "IN", values=values)

    def not_in(self, p: Path, values: tuple[Literal, ...]) -> Comparison:
        return Comparison(p, "NOT_IN", values=values)

    def in_query(self, p: Path, q: Query) -> Comparison:
        return Comparison(p, "IN", subquery=q)

    def not_in_query(self, p: Path, q: Query) -> Comparison:
        return Comparison(p, "NOT_IN", subquery=q)

    def includes(self, p: Path, values: tuple[Literal, ...]) -> Comparison:
        return Comparison(p, "INCLUDES", values=values)

    def excludes(self, p: Path, values: tuple[Literal, ...]) -> Comparison:
        return Comparison(p, "EXCLUDES", values=values)

    def value_list(self, *values: Literal) -> tuple[Literal, ...]:
        return values

    def string(self, tok: Token) -> Literal:
        decode_string(str(tok), like=True)  # reject illegal escapes early
        return Literal("string", None, raw=str(tok))

    def number(self, tok: Token) -> Literal:
        text = str(tok)
        is_int = re.fullmatch(r"[+-]?\d+", text) is not None
        return Literal("number", int(text) if is_int else float(text), raw=text)

    def date(self, tok: Token) -> Literal:
        return Literal("date", str(tok), raw=str(tok))

    def datetime(self, tok: Token) -> Literal:
        return Literal("datetime", str(tok), raw=str(tok))

    def null(self) -> Literal:
        return Literal("null", None, raw="null")

    def true(self) -> Literal:
        return Literal("boolean", True, raw="true")

    def false(self) -> Literal:
        return Literal("boolean", False, raw="false")

    def date_literal(self, name: Token) -> Literal:
        return Literal("date_literal", str(name).upper(), raw=str(name))

    def date_literal_n(self, name: Token, n: Token) -> Literal:
        text = str(n)
        if not text.isdigit():
            raise SoqlError(MALFORMED_QUERY, f"Invalid date literal: {name}:{n}")
        return Literal("date_literal", str(name).upper(), raw=f"{name}:{n}", n=int(text))

    def group_by(self, *paths: Path) -> tuple[str, list[Path]]:
        return ("group_by", list(paths))

    def order_by(self, *items: OrderItem) -> tuple[str, list[OrderItem]]:
        return ("order_by", list(items))

    def order_item(self, p: Path, *rest: Any) -> OrderItem:
        item = OrderItem(p)
        for r in rest:
            if isinstance(r, Token) and r.type == "DIRECTION":
                item.descending = str(r).upper() == "DESC"
            elif isinstance(r, bool):
                item.nulls_last = r
        return item

    def nulls(self, pos: Token) -> bool:
        return str(pos).upper() == "LAST"

    def limit(self, n: Token) -> tuple[str, int]:
        return ("limit", _non_negative_int(n, "LIMIT"))

    def offset(self, n: Token) -> tuple[str, int]:
        return ("offset", _non_negative_int(n, "OFFSET"))

    def for_clause(self, _what: Token) -> tuple[str, None]:
        return ("for_clause", None)

    def with_clause(self, _what: Token) -> tuple[str, None]:
        return ("with_clause", None)


def _non_negative_int(tok: Token, clause: str) -> int:
    text = str(tok)
    if not text.isdigit():
        raise SoqlError(MALFORMED_QUERY, f"{clause} must be a non-negative integer, found '{text}'")
    return int(text)


@functools.cache
def _lark() -> Lark:
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=False)


def _syntax_error(query: str, exc: UnexpectedInput) -> SoqlError:
    line = getattr(exc, "line", None)
    column = getattr(exc, "column", None)
    if isinstance(exc, UnexpectedToken):
        token = "<EOF>" if exc.token.type == "$END" else str(exc.token)
        text = f"unexpected token: '{token}'"
    elif isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        ch = query[pos] if pos < len(query) else ""
        text = "unexpected token: unterminated string literal" if ch == "'" else f"unexpected token: '{ch}'"
    elif isinstance(exc, UnexpectedEOF):
        text = "unexpected token: '<EOF>'"
    else:
        text = "unexpected token"
    if not isinstance(line, int) or line < 1:
        line, column = None, None
    return SoqlError(MALFORMED_QUERY, positioned(query, line, column, text))


@functools.lru_cache(maxsize=256)
def parse(query: str) -> Query:
    """Parse a SOQL statement.

    Raises:
        SoqlError: ``MALFORMED_QUERY`` with a Salesforce-like message on any syntax error.
    """
    if not query or not query.strip():
        raise SoqlError(MALFORMED_QUERY, "unexpected token: '<EOF>'")
    try:
        tree = _lark().parse(query)
        result: Query = _Builder().transform(tree)
    except UnexpectedInput as exc:
        raise _syntax_error(query, exc) from None
    except VisitError as exc:
        if isinstance(exc.orig_exc, SoqlError):
            raise exc.orig_exc from None
        raise
    return result
