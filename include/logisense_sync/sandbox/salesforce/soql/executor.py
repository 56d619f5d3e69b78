"""Run a parsed SOQL query against the sandbox schema and store.

The WHERE clause is compiled once into a Python predicate over stored rows (JSON-native dicts keyed by field
API name); the whole result is built once per query and the REST layer slices it into pages.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import ids
from .errors import (
    INVALID_FIELD,
    INVALID_QUERY_FILTER_OPERATOR,
    INVALID_TYPE,
    MALFORMED_QUERY,
    NUMBER_OUTSIDE_VALID_RANGE,
    SoqlError,
    positioned,
)
from .parser import Aggregate, BoolOp, Comparison, Literal, OrderItem, Path, Query, decode_string, parse

Row = dict[str, Any]
Getter = Callable[[Row], Any]
Predicate = Callable[[Row], bool]

ID_TYPES = frozenset({"id", "reference"})
STRING_TYPES = frozenset(
    {"string", "textarea", "picklist", "email", "phone", "url", "combobox", "encryptedstring"}
)
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
MAX_OFFSET = 2000
#: Below this many distinct parent ids a relationship hop reads parents one by one instead of scanning.
_POINT_LOOKUPS = 200

_NO_COLUMN = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure to "
    "append the '__c' after the custom field name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
_NO_RELATIONSHIP = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to use a custom "
    "relationship, be sure to append the '__r' after the custom relationship name. Please reference your "
    "WSDL or the describe call for the appropriate names."
)
_NO_CHILD_RELATIONSHIP = (
    "Didn't understand relationship '{name}' in FROM part of query call. If you are attempting to use a "
    "custom relationship, be sure to append the '__r' after the custom relationship name. Please reference "
    "your WSDL or the describe call for the appropriate names."
)
_NO_SOBJECT = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to "
    "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)


# --------------------------------------------------------------------------- what we need from schema/store


class SchemaLike(Protocol):
    def sobject(self, name: str) -> Any: ...

    def by_prefix(self, key_prefix: str) -> Any: ...


class StoreLike(Protocol):
    def scan(self, sobject: str, include_deleted: bool = False) -> Iterable[Row]: ...

    def get(self, record_id: str, *, include_deleted: bool = False) -> Row | None: ...


# --------------------------------------------------------------------------- result


class LazyRecords(Sequence[dict[str, Any]]):
    """A query's records rendered only when read (a page slice, or one by one), from the matched rows."""

    def __init__(self, rows: list[Row], render: Callable[[Row], dict[str, Any]]) -> None:
        self.rows = rows
        self.render = render

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self.render(r) for r in self.rows[index]]
        return self.render(self.rows[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        render = self.render
        for r in self.rows:
            yield render(r)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyRecords):
            return list(self) == list(other)
        return isinstance(other, list) and list(self) == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LazyRecords({len(self.rows)} rows)"


@dataclass
class QueryResult:
    """A whole query result.

    Attributes:
        records: API-shaped records (``attributes`` first, parents nested, child subqueries as
            ``{totalSize, done, records}`` or None).
        total_size: ``totalSize`` of the whole query (the count for ``COUNT()``).
        columns: flattened dotted column names in SELECT order (the CSV header of a Bulk API 2.0 query).
        sobject: the queried sObject's API name.
        count_only: True for ``SELECT COUNT() …`` (no records).
    """

    records: Sequence[dict[str, Any]]
    total_size: int
    columns: list[str]
    sobject: str
    count_only: bool = False
    has_subqueries: bool = False
    #: Names of the child relationship subqueries in the records (their rows count toward a page).
    child_relationships: list[str] = field(default_factory=list)
    is_aggregate: bool = False
    #: For a plain query: one getter per column over the matched rows (flat rows without rendering records).
    getters: list[Getter] | None = None

    def flat_rows(self) -> Iterator[list[Any]]:
        """Each record as a list of values following :attr:`columns` (parents flattened, nulls as None)."""
        if self.getters is not None and isinstance(self.records, LazyRecords):
            getters = self.getters
            for stored in self.records.rows:
                yield [g(stored) for g in getters]
            return
        paths = [c.split(".") for c in self.columns]
        for rec in self.records:
            row: list[Any] = []
            for parts in paths:
                value: Any = rec
                for part in parts:
                    if value is None:
                        break
                    value = value.get(part)
                row.append(value)
            yield row


# --------------------------------------------------------------------------- parent lookups


class _Lookup:
    """Records of one or more sObject types by id, for relationship hops (indexed on demand)."""

    def __init__(self, ctx: _Context, targets: list[str]) -> None:
        self.ctx = ctx
        self.targets = targets
        self.index: dict[str, Row] | None = None
        self.memo: dict[str, Row | None] = {}

    def full(self) -> None:
        if self.index is not None:
            return
        index: dict[str, Row] = {}
        for target in self.targets:
            for rec in self.ctx.scan(target):
                index[rec.get("Id", "")] = rec
        self.index = index

    def prefetch(self, wanted: set[str]) -> None:
        if self.index is None and len(wanted) > _POINT_LOOKUPS:
            self.full()

    def get(self, record_id: str) -> Row | None:
        if self.index is not None:
            return self.index.get(record_id)
        try:
            return self.memo[record_id]
        except KeyError:
            rec = self.ctx.get(record_id)
            self.memo[record_id] = rec
            return rec

    def type_of(self, record_id: str) -> str:
        if len(self.targets) == 1:
            return self.targets[0]
        so = self.ctx.schema.by_prefix(record_id[:3])
        return so.name if so is not None else self.targets[0]


@dataclass
class _Hop:
    fk: str
    relationship: str
    lookup: _Lookup


@dataclass
class _Resolved:
    """A field path resolved against the schema."""

    hops: list[_Hop]
    field: Any
    canonical: list[str]  # relationship names + field name, schema casing
    getter: Getter

    @property
    def column(self) -> str:
        return ".".join(self.canonical)


class _Context:
    def __init__(
        self, query_text: str, schema: SchemaLike, store: StoreLike, include_deleted: bool, api_version: str
    ):
        self.text = query_text
        self.schema = schema
        self.store = store
        self.include_deleted = include_deleted
        self.url_base = f"/services/data/v{api_version}/sobjects/"
        self.lookups: dict[tuple[str, ...], _Lookup] = {}
        self.today = dt.datetime.now(dt.UTC).date()
        # Stores that keep compact rows hand them out without building a dict per record.
        self._scan = getattr(store, "scan_rows", store.scan)
        self._get = getattr(store, "get_row", store.get)

    def scan(self, sobject: str) -> Iterable[Row]:
        """Every row of an sObject (deleted ones too for queryAll); rows answer ``row.get(field)``."""
        rows: Iterable[Row] = self._scan(sobject, include_deleted=self.include_deleted)
        return rows

    def get(self, record_id: str) -> Row | None:
        """One row by id, or None."""
        row: Row | None = self._get(record_id, include_deleted=self.include_deleted)
        return row

    def lookup(self, targets: list[str]) -> _Lookup:
        key = tuple(targets)
        if key not in self.lookups:
            self.lookups[key] = _Lookup(self, list(targets))
        return self.lookups[key]

    def error(self, code: str, text: str, path: Path | None = None) -> SoqlError:
        if path is None:
            return SoqlError(code, text)
        return SoqlError(code, positioned(self.text, path.line, path.column, text))

    def sobject(self, name: str, line: int | None = None, column: int | None = None) -> Any:
        so = self.schema.sobject(name)
        if so is None:
            raise SoqlError(INVALID_TYPE, positioned(self.text, line, column, _NO_SOBJECT.format(name=name)))
        return so

    def resolve(self, sobject: Any, path: Path) -> _Resolved:
        hops: list[_Hop] = []
        canonical: list[str] = []
        current = sobject
        for part in path.parts[:-1]:
            ref = current.relationship(part)
            if ref is None:
                raise self.error(INVALID_FIELD, _NO_RELATIONSHIP.format(name=part), path)
            targets = [t for t in ref.reference_to if self.schema.sobject(t) is not None]
            if not targets:
                raise self.error(INVALID_FIELD, _NO_RELATIONSHIP.format(name=part), path)
            hops.append(_Hop(ref.name, ref.relationship_name, self.lookup(targets)))
            canonical.append(ref.relationship_name)
            current = self.schema.sobject(targets[0])
        last = path.parts[-1]
        f = current.field(last)
        if f is None:
            name = path.text if len(path.parts) > 1 else last
            raise self.error(INVALID_FIELD, _NO_COLUMN.format(name=name, entity=current.name), path)
        canonical.append(f.name)
        return _Resolved(hops, f, canonical, _getter(hops, f.name))


def _getter(hops: list[_Hop], key: str) -> Getter:
    if not hops:
        return lambda r: r.get(key)
    if len(hops) == 1:
        fk, get = hops[0].fk, hops[0].lookup.get

        def one(r: Row) -> Any:
            pid = r.get(fk)
            if pid is None:
                return None
            parent = get(pid)
            return None if parent is None else parent.get(key)

        return one
    chain = [(h.fk, h.lookup.get) for h in hops]

    def many(r: Row) -> Any:
        cur: Row | None = r
        for fk, get in chain:
            pid = cur.get(fk) if cur is not None else None
            if pid is None:
                return None
            cur = get(pid)
        return None if cur is None else cur.get(key)

    return many


# --------------------------------------------------------------------------- literals and value keys


_DT_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE
)


def _parse_datetime(text: str) -> dt.datetime | None:
    m = _DT_RE.match(text)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    if tz.upper() == "Z":
        offset = dt.timedelta(0)
    else:
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    try:
        ms = int((frac or "0").ljust(3, "0"))
        return dt.datetime(
            int(y), int(mo), int(d), int(h), int(mi), int(s), ms * 1000, tzinfo=dt.timezone(offset)
        )
    except ValueError:
        return None


def _dt_text(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:23]


def dt_key(value: Any) -> str | None:
    """A stored datetime as a sortable UTC string ``YYYY-MM-DDTHH:MM:SS.fff``."""
    if value is None or value == "":
        return None
    text = str(value)
    if len(text) == 28 and text.endswith("+0000"):
        return text[:23]
    parsed = _parse_datetime(text)
    return _dt_text(parsed) if parsed is not None else text


def _casefold(value: Any) -> Any:
    if value is None or value == "":
        return None
    return str(value).casefold()


def _identity(value: Any) -> Any:
    return value


def _date_key(value: Any) -> Any:
    if value is None or value == "":
        return None
    return str(value)[:10]


def _kind(f: Any) -> str:
    t = str(f.type).lower()
    if t in ID_TYPES:
        return "id"
    if t in STRING_TYPES:
        return "string"
    if t in NUMBER_TYPES:
        return "number"
    if t == "boolean":
        return "boolean"
    if t == "date":
        return "date"
    if t == "datetime":
        return "datetime"
    if t == "multipicklist":
        return "multipicklist"
    return "string"


_KEY_FUNCS: dict[str, Callable[[Any], Any]] = {
    "id": _identity,
    "string": _casefold,
    "number": _identity,
    "boolean": _identity,
    "date": _date_key,
    "datetime": dt_key,
    "multipicklist": _casefold,
}

_TYPE_NAMES = {"datetime": "dateTime"}


def _type_name(f: Any) -> str:
    t = str(f.type).lower()
    return _TYPE_NAMES.get(t, t)


def _add_months(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + day.month - 1 + months
    return dt.date(total // 12, total % 12 + 1, 1)


def _relative_range(name: str, n: int | None, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """[start, end) of a relative date literal such as TODAY or LAST_N_DAYS:30 (UTC, weeks start Sunday)."""
    day = dt.timedelta(days=1)
    week_start = today - dt.timedelta(days=(today.weekday() + 1) % 7)
    month_start = today.replace(day=1)
    quarter_start = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    year_start = dt.date(today.year, 1, 1)
    fixed: dict[str, tuple[dt.date, dt.date]] = {
        "TODAY": (today, today + day),
        "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "THIS_WEEK": (week_start, week_start + 7 * day),
        "LAST_WEEK": (week_start - 7 * day, week_start),
        "NEXT_WEEK": (week_start + 7 * day, week_start + 14 * day),
        "THIS_MONTH": (month_start, _add_months(month_start, 1)),
        "LAST_MONTH": (_add_months(month_start, -1), month_start),
        "NEXT_MONTH": (_add_months(month_start, 1), _add_months(month_start, 2)),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "THIS_QUARTER": (quarter_start, _add_months(quarter_start, 3)),
        "LAST_QUARTER": (_add_months(quarter_start, -3), quarter_start),
        "NEXT_QUARTER": (_add_months(quarter_start, 3), _add_months(quarter_start, 6)),
        "THIS_YEAR": (year_start, dt.date(today.year + 1, 1, 1)),
        "LAST_YEAR": (dt.date(today.year - 1, 1, 1), year_start),
        "NEXT_YEAR": (dt.date(today.year + 1, 1, 1), dt.date(today.year + 2, 1, 1)),
    }
    if n is None:
        return fixed.get(name)
    with_n: dict[str, tuple[dt.date, dt.date]] = {
        "LAST_N_DAYS": (today - n * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
        "N_DAYS_AGO": (today - n * day, today - (n - 1) * day),
        "LAST_N_WEEKS": (week_start - 7 * n * day, week_start),
        "NEXT_N_WEEKS": (week_start + 7 * day, week_start + 7 * (n + 1) * day),
        "LAST_N_MONTHS": (_add_months(month_start, -n), month_start),
        "NEXT_N_MONTHS": (_add_months(month_start, 1), _add_months(month_start, n + 1)),
        "LAST_N_QUARTERS": (_add_months(quarter_start, -3 * n), quarter_start),
        "NEXT_N_QUARTERS": (_add_months(quarter_start, 3), _add_months(quarter_start, 3 * (n + 1))),
        "LAST_N_YEARS": (dt.date(today.year - n, 1, 1), year_start),
        "NEXT_N_YEARS": (dt.date(today.year + 1, 1, 1), dt.date(today.year + n + 1, 1, 1)),
    }
    return with_n.get(name)


@dataclass
class _Value:
    """A literal converted for one field: a point key, a [lo, hi) range, or null."""

    is_null: bool = False
    point: Any = None
    lo: Any = None
    hi: Any = None

    @property
    def is_range(self) -> bool:
        return self.lo is not None


def _wrong_type(ctx: _Context, f: Any, path: Path, quoted: bool) -> SoqlError:
    if _kind(f) == "string" or _kind(f) == "multipicklist":
        text = (
            f"value of filter criterion for field '{f.name}' must be of type string"
            " and should be enclosed in quotes"
        )
    else:
        suffix = "should not be enclosed in quotes" if quoted else "should be of the correct type"
        text = f"value of filter criterion for field '{f.name}' must be of type {_type_name(f)} and {suffix}"
    return ctx.error(INVALID_FIELD, text, path)


def _convert(ctx: _Context, f: Any, path: Path, lit: Literal) -> _Value:
    kind = _kind(f)
    if lit.kind == "null":
        return _Value(is_null=True)
    if lit.kind == "date_literal":
        if kind not in ("date", "datetime"):
            raise ctx.error(MALFORMED_QUERY, f"unexpected token: '{lit.raw}'", path)
        rng = _relative_range(lit.value, lit.n, ctx.today)
        if rng is None:
            raise ctx.error(MALFORMED_QUERY, f"unexpected token: '{lit.raw}'", path)
        lo, hi = rng
        if kind == "date":
            return _Value(lo=lo.isoformat(), hi=hi.isoformat())
        return _Value(lo=lo.isoformat() + "T00:00:00.000", hi=hi.isoformat() + "T00:00:00.000")
    if kind == "id":
        if lit.kind != "string":
            raise _wrong_type(ctx, f, path, quoted=False)
        text = "".join(piece for piece, _ in decode_string(lit.raw))
        normal = ids.normalize(text)
        if normal is None:
            raise ctx.error(INVALID_QUERY_FILTER_OPERATOR, f"invalid ID field: {text}", path)
        return _Value(point=normal)
    if kind in ("string", "multipicklist"):
        if lit.kind != "string":
            raise _wrong_type(ctx, f, path, quoted=False)
        text = "".join(piece for piece, _ in decode_string(lit.raw))
        if kind == "multipicklist":
            return _Value(
                point=";".join(sorted({v.strip().casefold() for v in text.split(";") if v.strip()}))
            )
        return _Value(point=text.casefold()) if text != "" else _Value(is_null=True)
    if kind == "number":
        if lit.kind != "number":
            raise _wrong_type(ctx, f, path, quoted=lit.kind == "string")
        return _Value(point=lit.value)
    if kind == "boolean":
        if lit.kind != "boolean":
            raise _wrong_type(ctx, f, path, quoted=lit.kind == "string")
        return _Value(point=lit.value)
    if kind == "date":
        if lit.kind != "date":
            raise _wrong_type(ctx, f, path, quoted=lit.kind == "string")
        try:
            dt.date.fromisoformat(lit.value)
        except ValueError:
            raise ctx.error(MALFORMED_QUERY, f"invalid date: {lit.raw}", path) from None
        return _Value(point=lit.value)
    # datetime
    if lit.kind != "datetime":
        raise _wrong_type(ctx, f, path, quoted=lit.kind == "string")
    parsed = _parse_datetime(lit.value)
    if parsed is None:
        raise ctx.error(MALFORMED_QUERY, f"invalid datetime: {lit.raw}", path)
    return _Value(point=_dt_text(parsed))


# --------------------------------------------------------------------------- predicates


def _multi_key(value: Any) -> frozenset[str] | None:
    if value is None or value == "":
        return None
    return frozenset(v.strip().casefold() for v in str(value).split(";") if v.strip())


def _compile_comparison(
    ctx: _Context, sobject: Any, c: Comparison, parent_paths: list[_Resolved]
) -> Predicate:
    res = ctx.resolve(sobject, c.path)
    if res.hops:
        parent_paths.append(res)
    f = res.field
    kind = _kind(f)
    raw_get = res.getter
    keyf = _KEY_FUNCS[kind]
    if kind == "multipicklist" and c.op in ("=", "!="):

        def keyf(v: Any) -> Any:
            mk = _multi_key(v)
            return None if mk is None else ";".join(sorted(mk))

    if keyf is _identity:
        get = raw_get
    else:

        def get(r: Row) -> Any:
            return keyf(raw_get(r))

    op = c.op
    if op == "LIKE":
        if kind != "string":
            raise ctx.error(INVALID_FIELD, f"Invalid operator on {_type_name(f)} field: LIKE", c.path)
        if c.value is None or c.value.kind != "string":
            raise _wrong_type(ctx, f, c.path, quoted=False)
        pattern = "".join(
            (".*" if piece == "%" else ".") if wild else re.escape(piece)
            for piece, wild in decode_string(c.value.raw, like=True)
        )
        rx = re.compile(pattern, re.IGNORECASE | re.DOTALL)
        match = rx.fullmatch

        def like(r: Row) -> bool:
            v = raw_get(r)
            return v is not None and match(str(v)) is not None

        return like

    if op in ("INCLUDES", "EXCLUDES"):
        if kind != "multipicklist":
            raise ctx.error(
                INVALID_FIELD, "includes or excludes operator only valid on multipicklist field", c.path
            )
        wanted: list[frozenset[str]] = []
        for lit in c.values:
            if lit.kind != "string":
                raise _wrong_type(ctx, f, c.path, quoted=False)
            text = "".join(piece for piece, _ in decode_string(lit.raw))
            wanted.append(frozenset(v.strip().casefold() for v in text.split(";") if v.strip()))

        def includes(r: Row) -> bool:
            have = _multi_key(raw_get(r))
            return have is not None and any(w <= have for w in wanted)

        if op == "INCLUDES":
            return includes
        return lambda r: not includes(r)

    if op in ("IN", "NOT_IN"):
        if c.subquery is not None:
            points = _semi_join(ctx, c.subquery, f, c.path)
            has_null = False
            ranges: list[_Value] = []
        else:
            converted = [_convert(ctx, f, c.path, lit) for lit in c.values]
            has_null = any(v.is_null for v in converted)
            ranges = [v for v in converted if v.is_range]
            points = {v.point for v in converted if not v.is_null and not v.is_range}

        def inside(r: Row) -> bool:
            v = get(r)
            if v is None:
                return has_null
            if v in points:
                return True
            return any(rg.lo <= v < rg.hi for rg in ranges)

        if op == "IN":
            return inside
        if has_null:
            return lambda r: not inside(r)

        def not_inside(r: Row) -> bool:
            v = get(r)
            return v is None or not inside(r)

        return not_inside

    assert c.value is not None
    val = _convert(ctx, f, c.path, c.value)
    if val.is_null:
        if op == "=":
            return lambda r: get(r) is None
        if op == "!=":
            return lambda r: get(r) is not None
        return lambda r: False
    if val.is_range:
        lo, hi = val.lo, val.hi
        range_ops: dict[str, Predicate] = {
            "=": lambda r: (v := get(r)) is not None and lo <= v < hi,
            "!=": lambda r: (v := get(r)) is None or not lo <= v < hi,
            "<": lambda r: (v := get(r)) is not None and v < lo,
            "<=": lambda r: (v := get(r)) is not None and v < hi,
            ">": lambda r: (v := get(r)) is not None and v >= hi,
            ">=": lambda r: (v := get(r)) is not None and v >= lo,
        }
        return range_ops[op]
    p = val.point
    if kind == "boolean" and op in ("<", "<=", ">", ">="):
        raise ctx.error(INVALID_FIELD, f"invalid operator on boolean field: {op}", c.path)
    point_ops: dict[str, Predicate] = {
        "=": lambda r: get(r) == p,
        "!=": lambda r: get(r) != p,
        "<": lambda r: (v := get(r)) is not None and v < p,
        "<=": lambda r: (v := get(r)) is not None and v <= p,
        ">": lambda r: (v := get(r)) is not None and v > p,
        ">=": lambda r: (v := get(r)) is not None and v >= p,
    }
    return point_ops[op]


def _semi_join(ctx: _Context, q: Query, outer_field: Any, path: Path) -> set[Any]:
    if _kind(outer_field) != "id":
        raise ctx.error(
            INVALID_FIELD, f"Invalid semi join: field '{outer_field.name}' is not an id field", path
        )
    if len(q.select) != 1 or not isinstance(q.select[0], Path):
        raise ctx.error(
            MALFORMED_QUERY, "The inner select field must be a single Id or reference field", path
        )
    inner = _Compiled(ctx, q, top_level=False)
    col = inner.fields[0]
    if _kind(col.field) != "id":
        raise ctx.error(
            INVALID_FIELD, f"The selected field '{col.column}' in the subquery must be an id field", path
        )
    rows = inner.rows()
    getter = col.getter
    return {v for v in (getter(r) for r in rows) if v is not None}


def _compile_condition(ctx: _Context, sobject: Any, cond: Any, parent_paths: list[_Resolved]) -> Predicate:
    if isinstance(cond, Comparison):
        return _compile_comparison(ctx, sobject, cond, parent_paths)
    assert isinstance(cond, BoolOp)
    parts = [_compile_condition(ctx, sobject, c, parent_paths) for c in cond.items]
    if cond.op == "NOT":
        inner = parts[0]
        return lambda r: not inner(r)
    if cond.op == "AND":
        if len(parts) == 2:
            a, b = parts
            return lambda r: a(r) and b(r)
        return lambda r: all(p(r) for p in parts)
    if len(parts) == 2:
        a, b = parts
        return lambda r: a(r) or b(r)
    return lambda r: any(p(r) for p in parts)


# --------------------------------------------------------------------------- ordering


def _sort(rows: list[Row], keys: list[tuple[Getter, Callable[[Any], Any], OrderItem]]) -> list[Row]:
    for getter, keyf, item in reversed(keys):
        values = [keyf(getter(r)) for r in rows]
        present = [(v, r) for v, r in zip(values, rows, strict=True) if v is not None]
        missing = [r for v, r in zip(values, rows, strict=True) if v is None]
        present.sort(key=lambda pair: pair[0], reverse=item.descending)
        ordered = [r for _, r in present]
        nulls_last = bool(item.nulls_last)
        rows = ordered + missing if nulls_last else missing + ordered
    return rows


def _sort_key(kind: str) -> Callable[[Any], Any]:
    if kind in ("string", "multipicklist"):
        return _casefold
    if kind == "datetime":
        return dt_key
    if kind == "date":
        return _date_key
    return _identity


# --------------------------------------------------------------------------- compiled query


@dataclass
class _Shape:
    """How to render one record: fields, nested parents and child subqueries, in SELECT order."""

    entries: list[Any] = field(
        default_factory=list
    )  # ("f", name) | ("p", rel, fk, lookup, _Shape) | ("c", rel)
    index: dict[str, int] = field(default_factory=dict)

    def add_path(self, hops: list[_Hop], name: str) -> None:
        node = self
        for hop in hops:
            key = "p:" + hop.relationship.lower()
            if key not in node.index:
                node.index[key] = len(node.entries)
                node.entries.append(("p", hop.relationship, hop.fk, hop.lookup, _Shape()))
            node = node.entries[node.index[key]][4]
        key = "f:" + name.lower()
        if key not in node.index:
            node.index[key] = len(node.entries)
            node.entries.append(("f", name))


class _Compiled:
    def __init__(self, ctx: _Context, q: Query, *, top_level: bool, parent_sobject: Any = None) -> None:
        self.ctx = ctx
        self.query = q
        self.parent_link: tuple[str, str] | None = None  # (child fk field, relationship name)
        if parent_sobject is not None:
            rel = parent_sobject.child_relationship(q.sobject)
            if rel is None:
                raise SoqlError(
                    INVALID_TYPE,
                    positioned(
                        ctx.text,
                        q.sobject_line,
                        q.sobject_column,
                        _NO_CHILD_RELATIONSHIP.format(name=q.sobject),
                    ),
                )
            child_name, fk, rel_name = rel
            self.sobject = ctx.sobject(child_name)
            self.parent_link = (fk, rel_name)
        else:
            self.sobject = ctx.sobject(q.sobject, q.sobject_line, q.sobject_column)
        self.fields: list[_Resolved] = []
        self.aggregates: list[Aggregate] = []
        self.subqueries: list[_Compiled] = []
        self.shape = _Shape()
        self.count_only = False
        self.where_parents: list[_Resolved] = []
        for item in q.select:
            if isinstance(item, Path):
                res = ctx.resolve(self.sobject, item)
                self.fields.append(res)
                self.shape.add_path(res.hops, res.field.name)
            elif isinstance(item, Aggregate):
                self.aggregates.append(item)
            else:
                if not top_level:
                    raise SoqlError(MALFORMED_QUERY, "Nested child relationship subqueries are not supported")
                sub = _Compiled(ctx, item, top_level=False, parent_sobject=self.sobject)
                self.subqueries.append(sub)
                assert sub.parent_link is not None
                rel_name = sub.parent_link[1]
                self.shape.index["c:" + rel_name.lower()] = len(self.shape.entries)
                self.shape.entries.append(("c", rel_name, sub))
        if self.aggregates:
            self._check_aggregate()
        if q.offset is not None and q.offset > MAX_OFFSET:
            raise SoqlError(NUMBER_OUTSIDE_VALID_RANGE, f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        self.predicate: Predicate | None = None
        if q.where is not None:
            self.predicate = _compile_condition(ctx, self.sobject, q.where, self.where_parents)
        self.order: list[tuple[_Resolved, OrderItem]] = []
        if not self.aggregates:
            for order_item in q.order_by:
                self.order.append((ctx.resolve(self.sobject, order_item.path), order_item))
        self.group: list[_Resolved] = [ctx.resolve(self.sobject, p) for p in q.group_by]

    # -- aggregates

    def _check_aggregate(self) -> None:
        q = self.query
        count_all = [a for a in self.aggregates if a.path is None]
        if count_all:
            if len(q.select) > 1:
                raise SoqlError(MALFORMED_QUERY, "COUNT() can only be used alone in the select list")
            if q.group_by:
                raise SoqlError(MALFORMED_QUERY, "COUNT() cannot be used with GROUP BY")
            self.count_only = True
            return
        grouped = {tuple(p.lower() for p in path.parts) for path in q.group_by}
        for res, path in zip(self.fields, [i for i in q.select if isinstance(i, Path)], strict=True):
            if tuple(p.lower() for p in path.parts) not in grouped:
                raise self.ctx.error(
                    MALFORMED_QUERY, f"Field must be grouped or aggregated: {res.field.name}", path
                )
        for agg in self.aggregates:
            assert agg.path is not None
            res = self.ctx.resolve(self.sobject, agg.path)
            if agg.function in ("SUM", "AVG") and _kind(res.field) != "number":
                raise self.ctx.error(
                    MALFORMED_QUERY,
                    f"field {res.field.name} does not support aggregate operator {agg.function}",
                    agg.path,
                )

    # -- execution

    def rows(self, restrict: Callable[[Row], bool] | None = None) -> list[Row]:
        """Matching stored rows in result order (before OFFSET/LIMIT for subqueries)."""
        scan = self.ctx.scan(self.sobject.name)
        if restrict is not None:
            scan = filter(restrict, scan)
        if self.predicate is not None:
            if self.where_parents:
                base = list(scan)
                if len(base) > _POINT_LOOKUPS:
                    for res in self.where_parents:
                        for hop in res.hops:
                            hop.lookup.full()
                rows = list(filter(self.predicate, base))
            else:
                rows = list(filter(self.predicate, scan))
        else:
            rows = list(scan)
        if self.order:
            if len(rows) > _POINT_LOOKUPS:
                for res, _ in self.order:
                    for hop in res.hops:
                        hop.lookup.full()
            rows = _sort(rows, [(res.getter, _sort_key(_kind(res.field)), item) for res, item in self.order])
        return rows

    def page(self, rows: list[Row]) -> list[Row]:
        start = self.query.offset or 0
        end = None if self.query.limit is None else start + self.query.limit
        return rows[start:end] if (start or end is not None) else rows

    def render(self, rows: list[Row]) -> list[dict[str, Any]]:
        children = [(sub, sub.children_by_parent(rows)) for sub in self.subqueries]
        self._prefetch(self.shape, rows)
        out = [self._render_one(self.shape, r, self.sobject.name) for r in rows]
        for sub, by_parent in children:
            name = sub.parent_link[1] if sub.parent_link else sub.query.sobject
            for rec, row in zip(out, rows, strict=True):
                kids = by_parent.get(row.get("Id", ""))
                rec[name] = {"totalSize": len(kids), "done": True, "records": kids} if kids else None
        return out

    def _prefetch(self, shape: _Shape, rows: list[Row]) -> None:
        for entry in shape.entries:
            if entry[0] != "p":
                continue
            _, _rel, fk, lookup, child = entry
            wanted = {pid for r in rows if (pid := r.get(fk)) is not None}
            lookup.prefetch(wanted)
            if any(e[0] == "p" for e in child.entries):
                parents = [p for pid in wanted if (p := lookup.get(pid)) is not None]
                self._prefetch(child, parents)

    def _render_one(self, shape: _Shape, row: Row, type_name: str) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "attributes": {"type": type_name, "url": self.ctx.url_base + type_name + "/" + str(row.get("Id"))}
        }
        for entry in shape.entries:
            tag = entry[0]
            if tag == "f":
                rec[entry[1]] = row.get(entry[1])
            elif tag == "p":
                _, rel, fk, lookup, child = entry
                pid = row.get(fk)
                parent = lookup.get(pid) if pid is not None else None
                rec[rel] = None if parent is None else self._render_one(child, parent, lookup.type_of(pid))
            else:
                rec[entry[1]] = None  # filled by render()
        return rec

    def children_by_parent(self, parent_rows: list[Row]) -> dict[str, list[dict[str, Any]]]:
        assert self.parent_link is not None
        fk = self.parent_link[0]
        parent_ids = {r.get("Id") for r in parent_rows}
        rows = self.rows(restrict=lambda r: r.get(fk) in parent_ids)
        grouped: dict[str, list[Row]] = {}
        for r in rows:
            grouped.setdefault(r.get(fk, ""), []).append(r)
        out: dict[str, list[dict[str, Any]]] = {}
        for pid, kids in grouped.items():
            page = self.page(kids)
            if page:
                out[pid] = self.render(page)
        return out

    def columns(self) -> list[str]:
        cols: list[str] = []
        for res in self.fields:
            if res.column not in cols:
                cols.append(res.column)
        return cols

    def aggregate(self, rows: list[Row]) -> list[dict[str, Any]]:
        group_getters = [res.getter for res in self.group]
        groups: dict[tuple[Any, ...], list[Row]] = {}
        if group_getters:
            for r in rows:
                key = tuple(_casefold(g(r)) if isinstance(g(r), str) else g(r) for g in group_getters)
                groups.setdefault(key, []).append(r)
        else:
            groups[()] = rows
        out: list[dict[str, Any]] = []
        for members in groups.values():
            rec: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            expr = 0
            for item in self.query.select:
                if isinstance(item, Path):
                    res = self.ctx.resolve(self.sobject, item)
                    rec[res.field.name] = res.getter(members[0]) if members else None
                elif isinstance(item, Aggregate):
                    name = item.alias
                    if name is None:
                        name = f"expr{expr}"
                        expr += 1
                    rec[name] = self._aggregate_value(item, members)
            out.append(rec)
        if self.query.order_by:
            for order in reversed(self.query.order_by):
                last = order.path.parts[-1]
                names = {k.lower(): k for k in out[0]} if out else {}
                real = names.get(last.lower(), last)
                present = [r for r in out if r.get(real) is not None]
                missing = [r for r in out if r.get(real) is None]
                present.sort(
                    key=lambda r: _casefold(r[real]) if isinstance(r[real], str) else r[real],
                    reverse=order.descending,
                )
                out = present + missing if order.nulls_last else missing + present
        return self.page(out)

    def _aggregate_value(self, agg: Aggregate, rows: list[Row]) -> Any:
        assert agg.path is not None
        res = self.ctx.resolve(self.sobject, agg.path)
        values = [v for v in (res.getter(r) for r in rows) if v is not None and v != ""]
        fn = agg.function
        if fn == "COUNT":
            return len(values)
        if fn == "COUNT_DISTINCT":
            return len({_casefold(v) if isinstance(v, str) else v for v in values})
        if not values:
            return None
        if fn == "SUM":
            return sum(values)
        if fn == "AVG":
            return sum(values) / len(values)
        keyf = _sort_key(_kind(res.field))
        return (min if fn == "MIN" else max)(values, key=keyf)


def execute(
    query: str,
    schema: SchemaLike,
    store: StoreLike,
    *,
    include_deleted: bool = False,
    api_version: str = "59.0",
) -> QueryResult:
    """Parse and run a SOQL query.

    Args:
        query: the SOQL text.
        schema: the org schema (``sobject(name)``, ``by_prefix(prefix)``).
        store: the record store (``scan(sobject, include_deleted)``, ``get(id)``).
        include_deleted: True for ``queryAll`` (deleted rows are returned too).
        api_version: the version used in ``attributes.url``.

    Returns:
        The whole result: records, totalSize and the flattened column names.

    Raises:
        SoqlError: MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE, INVALID_QUERY_FILTER_OPERATOR…
    """
    q = parse(query)
    ctx = _Context(query, schema, store, include_deleted, api_version)
    compiled = _Compiled(ctx, q, top_level=True)
    rows = compiled.rows()
    if compiled.count_only:
        total = len(compiled.page(rows))
        return QueryResult([], total, [], compiled.sobject.name, count_only=True, is_aggregate=True)
    if compiled.aggregates:
        records = compiled.aggregate(rows)
        cols = [k for k in records[0] if k != "attributes"] if records else []
        return QueryResult(records, len(records), cols, "AggregateResult", is_aggregate=True)
    rows = compiled.page(rows)
    if not compiled.subqueries:  # records are rendered when a page is read, not all at once
        compiled._prefetch(compiled.shape, rows)
        shape, name = compiled.shape, compiled.sobject.name
        getters: dict[str, Getter] = {}
        for res in compiled.fields:
            getters.setdefault(res.column, res.getter)
        return QueryResult(
            LazyRecords(rows, lambda r: compiled._render_one(shape, r, name)),
            len(rows),
            compiled.columns(),
            name,
            getters=[getters[c] for c in compiled.columns()],
        )
    records = compiled.render(rows)
    return QueryResult(
        records,
        len(records),
        compiled.columns(),
        compiled.sobject.name,
        has_subqueries=bool(compiled.subqueries),
        child_relationships=[sub.parent_link[1] for sub in compiled.subqueries if sub.parent_link],
    )
