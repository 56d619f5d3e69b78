"""State of the LogiSense tenant: one SQLite table per resource under the data dir, queried with SQL.

Every read (list, paged, search, by id) is a single SQL statement over indexed columns, with the ``xName``
echoes joined from the referenced tables' ``_label`` column. Pages in identity order seek from where the
previous page ended (no OFFSET scan), and counts and filtered/sorted orders are cached per table version, so
reading millions of price rows page by page costs time linear in the rows. Writes run in one transaction per
request; every problem is collected and the transaction is rolled back if there is any (LogiSense answers
all errors at once). The business rules live in ``rules.py``; this module is the generic machinery.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import hashlib
import json
import logging
import math
import re
import sqlite3
import threading
import uuid
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from logisense_sync.sandbox.logisense.errors import Code, ErrorItem, LogiSenseError, bad_request, not_found
from logisense_sync.sandbox.logisense.resources import (
    BY_ROUTE,
    EXTENSION_INDEXED,
    RESOURCES,
    Resource,
)

logger = logging.getLogger(__name__)

Row = dict[str, Any]
MAX_TOP = 10000
DEFAULT_TOP = 100
_EXT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SQL_TYPE = {
    "int": "INTEGER",
    "number": "REAL",
    "money": "REAL",
    "bool": "INTEGER",
    "date": "TEXT",
    "str": "TEXT",
}
_EXT_INDEXED_TABLES = (
    "Account",
    "Contact",
    "Contact/Point",
    "Account/Package",
    "Account/Service",
    "Account/PricePlan",
    "Package/Service/PricePlan",
)
# Fingerprint of the table layout: a data dir written by an older layout is recreated instead of failing.
SCHEMA_VERSION = hashlib.sha256(
    repr([(r.table, [(f.name, f.type) for f in r.fields]) for r in RESOURCES]).encode()
).hexdigest()[:16]


def now_iso() -> str:
    """Current UTC time in the wire format (``2021-04-26T15:25:27.587Z``)."""
    return format_datetime(datetime.now(UTC))


def format_datetime(value: datetime) -> str:
    """A datetime as ``YYYY-MM-DDTHH:MM:SS.fffZ`` (UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_date(value: str) -> str | None:
    """Normalise an ISO 8601 date or date-time to the wire format; None when it cannot be read."""
    text = value.strip()
    try:
        if len(text) == 10:
            return format_datetime(datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC))
        return format_datetime(datetime.fromisoformat(text))
    except ValueError:
        return None


def round_money(value: float, places: int) -> float:
    """Round half-up to ``places`` decimals (from the shortest repr, so 2.675 stays 2.68)."""
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class WriteItem:
    """One entry of a write result (rendered after commit)."""

    resource: Resource
    identity: int
    action: str


@dataclass
class Tx:
    """A write in progress: collected errors and result items."""

    type: str
    now: str
    errors: list[ErrorItem] = field(default_factory=list)
    items: list[WriteItem] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)

    def error(self, code: int, message: str) -> None:
        """Record one error (the transaction will be rolled back)."""
        self.errors.append(ErrorItem(code, message))


@dataclass
class Query:
    """A parsed Search request."""

    where: str
    params: list[Any]
    order: list[tuple[str, bool]]  # (sql column, descending)
    fields: list[str] | None
    top: int
    page: int | None
    page_size: int | None
    exclude_total: bool = False


class _PageMarks:
    """Where pages of a table end: offset -> identity of the row just before that offset (identity order)."""

    LIMIT = 100_000  # bounded even for a client that asks for every page size there is

    def __init__(self) -> None:
        self.offsets: list[int] = [0]
        self.after: dict[int, int | None] = {0: None}  # None: the table's start

    def before(self, offset: int) -> tuple[int, int | None]:
        """The nearest known (offset, identity before it) at or before ``offset``."""
        start = self.offsets[bisect.bisect_right(self.offsets, offset) - 1]
        return start, self.after[start]

    def add(self, offset: int, identity: int) -> None:
        """Remember that the row just before ``offset`` has ``identity``."""
        if offset in self.after:
            return
        if len(self.offsets) >= self.LIMIT:
            self.offsets, self.after = [0], {0: None}
        bisect.insort(self.offsets, offset)
        self.after[offset] = identity


#: Reference data: few rows, named by many. Their ``xName`` echoes come from a label map held per data version
#: instead of a join per row (a 10,000-row Package/Service/PricePlan page: 4 of its 7 joins).
LABEL_MAPPED: frozenset[str] = frozenset(
    {
        "AccountStatusType",
        "AccountType",
        "BillGroup",
        "ContactPointType",
        "ContactType",
        "Currency",
        "FrequencyType",
        "PriceBook",
        "Service",
        "ServiceStatusTransition",
        "ServiceStatusType",
        "Usage/Class",
        "Usage/Rate/Group",
        "Usage/Rate/Plan",
        "Usage/Unit",
    }
)


@dataclass(frozen=True)
class _Shape:
    """How a resource is read: the SELECT, the wire keys in order, which are booleans, which echo label maps."""

    sql: str
    keys: tuple[str, ...]
    bools: tuple[str, ...]
    mapped: tuple[tuple[str, str, str], ...]  # (echo key, reference key, referenced route)


Converter = Callable[[Iterable[Sequence[Any]], tuple[dict[int, Any], ...]], list[Row]]
_CONVERTERS: dict[_Shape, Converter] = {}


def _row_converter(shape: _Shape) -> Converter:
    """A function turning SQL rows into dicts with ``shape.keys``, compiled once per shape.

    One list comprehension over a dict display (the row unpacked into locals) instead of ``dict(zip())`` and a
    loop per row: rendering a 10,000-row page is most of what a Search costs. Mapped echoes are looked up in
    the label maps passed along (``maps[j]`` for ``shape.mapped[j]``).
    """
    cached = _CONVERTERS.get(shape)
    if cached is not None:
        return cached
    echoes = {echo: (j, ref_key) for j, (echo, ref_key, _) in enumerate(shape.mapped)}
    columns = [k for k in shape.keys if k not in echoes]  # the SELECT's columns, in order
    names = {k: f"c{i}" for i, k in enumerate(columns)}
    values = []
    for key in shape.keys:
        if key in echoes:
            j, ref_key = echoes[key]
            values.append(f"{key!r}: m{j}.get({names[ref_key]})")
        elif key == "extensions":
            values.append(f"{key!r}: (_loads({names[key]}) if {names[key]} else {{}})")
        elif key in shape.bools:
            values.append(f"{key!r}: (None if {names[key]} is None else bool({names[key]}))")
        else:
            values.append(f"{key!r}: {names[key]}")
    target = ", ".join(names.values()) + ("," if len(names) == 1 else "")
    unpack = "".join(f"    m{j} = maps[{j}]\n" for j in range(len(shape.mapped)))
    source = (
        f"def convert(rows, maps):\n{unpack}    return [{{{', '.join(values)}}} for ({target}) in rows]\n"
    )
    namespace: dict[str, Any] = {"_loads": json.loads}
    # keys come from the resource registry (projections are intersected with it) and are written as literals
    exec(compile(source, f"<row converter {', '.join(shape.keys)}>", "exec"), namespace)
    convert: Converter = namespace["convert"]
    _CONVERTERS[shape] = convert
    return convert


Hook = Callable[["Store", Tx, Resource, Row, Row | None, set[str]], None]


class Store:
    """The tenant's data: SQLite, one table per resource, guarded by one lock."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA cache_size=-200000")
        self.conn.execute("PRAGMA temp_store=MEMORY")
        self._versions: dict[str, int] = {r.route: 0 for r in RESOURCES}
        self._count_cache: OrderedDict[tuple[Any, ...], int] = OrderedDict()
        self._order_cache: OrderedDict[tuple[Any, ...], array[int]] = OrderedDict()
        self._page_marks: OrderedDict[tuple[str, int], _PageMarks] = OrderedDict()
        self._select_cache: dict[tuple[str, tuple[str, ...] | None], _Shape] = {}
        self._label_maps: dict[str, dict[int, Any]] = {}
        self.before_write: dict[str, Hook] = {}
        self.after_write: dict[str, Hook] = {}
        self.before_delete: dict[str, Callable[[Store, Tx, Resource, Row], None]] = {}
        self.after_delete: dict[str, Callable[[Store, Tx, Resource, Row], None]] = {}
        self.label: dict[str, Callable[[Store, Row], str | None]] = {}
        self.conn.execute("CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT)")
        self.fresh = not self._tables_exist() or self.meta("schema") != SCHEMA_VERSION
        if self.fresh:
            if self._tables_exist():
                logger.warning("LogiSense sandbox schema changed: %s starts empty", db_path)
            self.create_schema()

    # --- schema ---------------------------------------------------------------------------------------
    def _tables_exist(self) -> bool:
        names = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return all(r.table in names for r in RESOURCES)

    def meta(self, key: str) -> str | None:
        """A persisted setting (JWT secret, ...)."""
        row = self.conn.execute("SELECT value FROM _meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Persist a setting."""
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO _meta(key, value) VALUES (?, ?)", (key, value))

    def create_schema(self, *, indexes: bool = True) -> None:
        """Drop and recreate every resource table (empty)."""
        with self.lock:
            self.conn.execute("BEGIN")
            for res in RESOURCES:
                self.conn.execute(f"DROP TABLE IF EXISTS {_q(res.table)}")
                cols = ", ".join(f"{_q(f.name)} {_SQL_TYPE[f.type]}" for f in res.fields)
                self.conn.execute(
                    f"CREATE TABLE {_q(res.table)} (identity INTEGER PRIMARY KEY AUTOINCREMENT, {cols}, "
                    "created TEXT, updated TEXT, extensions TEXT, _label TEXT)"
                )
            self.conn.execute(
                "INSERT OR REPLACE INTO _meta(key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
            )
            self.conn.execute("COMMIT")
            if indexes:
                self.create_indexes()
            self._invalidate(None)

    def create_indexes(self) -> None:
        """Indexes on every reference column, unique keys and indexed extension keys."""
        with self.lock:
            for res in RESOURCES:
                t = res.table
                # a composite unique key also serves lookups on its first column
                cols: list[tuple[str, ...]] = list(res.unique)
                cols += [(f.name,) for f in res.refs if not any(u[0] == f.name for u in res.unique)]
                for c in cols:
                    name = f"ix_{t}_{'_'.join(c)}"
                    self.conn.execute(
                        f"CREATE INDEX IF NOT EXISTS {_q(name)} ON {_q(t)} ({', '.join(_q(x) for x in c)})"
                    )
                if res.route in _EXT_INDEXED_TABLES:
                    for key in EXTENSION_INDEXED:
                        self.conn.execute(
                            f"CREATE INDEX IF NOT EXISTS {_q(f'ix_{t}_ext_{key}')} ON {_q(t)} "
                            f"(json_extract(extensions, '$.{key}'))"
                        )

    def _invalidate(self, routes: Iterable[str] | None) -> None:
        for route in routes if routes is not None else list(self._versions):
            self._versions[route] += 1
        self._count_cache.clear()
        self._order_cache.clear()
        self._page_marks.clear()
        self._label_maps.clear()

    # --- raw access used by rules ----------------------------------------------------------------------
    def raw(self, route: str, identity: Any) -> Row | None:
        """The stored row (all columns, hidden included) or None."""
        if not isinstance(identity, int) or isinstance(identity, bool):
            return None
        res = BY_ROUTE[route]
        cur = self.conn.execute(f"SELECT * FROM {_q(res.table)} WHERE identity=?", (identity,))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a query and return dict rows."""
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a statement (inside the caller's transaction)."""
        self.conn.execute(sql, params)

    def table(self, route: str) -> str:
        """Quoted table name of a route."""
        return _q(BY_ROUTE[route].table)

    # --- rendering -----------------------------------------------------------------------------------
    def _select(self, res: Resource, fields: Sequence[str] | None) -> _Shape:
        """SELECT ... FROM ... LEFT JOIN ... for ``res``, its wire keys, boolean keys and label-mapped echoes."""
        key = (res.route, tuple(fields) if fields is not None else None)
        cached = self._select_cache.get(key)
        if cached is not None:
            return cached
        t = _q(res.table)
        wanted = set(fields) if fields is not None else None
        cols = [f"{t}.identity"]
        keys = ["identity"]
        bools: list[str] = []
        joins: list[str] = []
        mapped: list[tuple[str, str, str]] = []
        for i, f in enumerate(res.fields):
            if f.hidden or (wanted is not None and f.name not in wanted):
                continue
            cols.append(f"{t}.{_q(f.name)}")
            keys.append(f.name)
            if f.type == "bool":
                bools.append(f.name)
            if f.ref in LABEL_MAPPED:
                mapped.append((f.echo, f.name, f.ref))
                keys.append(f.echo)
            elif f.ref:
                alias = f"r{i}"
                joins.append(
                    f"LEFT JOIN {_q(BY_ROUTE[f.ref].table)} {alias} ON {alias}.identity = {t}.{_q(f.name)}"
                )
                cols.append(f"{alias}._label")
                keys.append(f.echo)
        for sys_col in ("created", "updated", "extensions"):
            if wanted is None or sys_col in wanted:
                cols.append(f"{t}.{sys_col}")
                keys.append(sys_col)
        sql = f"SELECT {', '.join(cols)} FROM {t} {' '.join(joins)}"
        shape = _Shape(sql, tuple(keys), tuple(bools), tuple(mapped))
        self._select_cache[key] = shape
        return shape

    def _labels(self, route: str) -> dict[int, Any]:
        """identity -> label of a ``LABEL_MAPPED`` table (cached until the next write)."""
        labels = self._label_maps.get(route)
        if labels is None:
            labels = dict(self.conn.execute(f"SELECT identity, _label FROM {_q(BY_ROUTE[route].table)}"))
            self._label_maps[route] = labels
        return labels

    def _convert(self, rows: Iterable[Sequence[Any]], shape: _Shape) -> list[Row]:
        """SQL rows to wire dicts: bool columns as booleans, ``extensions`` parsed (``{}`` when empty)."""
        return _row_converter(shape)(rows, tuple(self._labels(route) for _, _, route in shape.mapped))

    def render(self, res: Resource, ids: Sequence[int], fields: Sequence[str] | None = None) -> list[Row]:
        """Wire objects for ``ids`` (in that order; unknown ids skipped)."""
        if not ids:
            return []
        shape = self._select(res, fields)
        by_id: dict[int, Row] = {}
        for chunk_start in range(0, len(ids), 30000):
            chunk = ids[chunk_start : chunk_start + 30000]
            marks = ",".join("?" * len(chunk))
            cur = self.conn.execute(f"{shape.sql} WHERE {_q(res.table)}.identity IN ({marks})", chunk)
            for d in self._convert(cur.fetchall(), shape):
                by_id[d["identity"]] = d
        return [by_id[i] for i in ids if i in by_id]

    def get(self, res: Resource, identity: int, *, detail: bool = False) -> Row:
        """One object by id (404 if missing)."""
        with self.lock:
            items = self.render(res, [identity])
            if not items:
                raise not_found(res.dto, identity)
            if detail:
                self.add_children(res, items)
            return items[0]

    def add_children(self, res: Resource, items: list[Row], depth: int = 0) -> None:
        """Inline each item's PATCH child arrays (``Detail`` routes)."""
        if not items or depth > 2:
            return
        ids = [it["identity"] for it in items]
        for key, (child_route, fk) in res.children.items():
            child = BY_ROUTE[child_route]
            grouped: dict[int, list[Row]] = {i: [] for i in ids}
            child_ids: list[int] = []
            for start in range(0, len(ids), 30000):
                chunk = ids[start : start + 30000]
                marks = ",".join("?" * len(chunk))
                child_ids += [
                    r[0]
                    for r in self.conn.execute(
                        f"SELECT identity FROM {_q(child.table)} WHERE {_q(fk)} IN ({marks}) ORDER BY "
                        "identity",
                        chunk,
                    )
                ]
            rendered = self.render(child, child_ids)
            self.add_children(child, rendered, depth + 1)
            for c in rendered:
                grouped[c[fk]].append(c)
            for it in items:
                it[key] = grouped[it["identity"]]

    # --- search --------------------------------------------------------------------------------------
    def parse_query(self, res: Resource, body: Any, *, paged_default: bool = False) -> Query:
        """Validate a Search body (``{"query": {...}}``) into SQL pieces; 400 on any problem."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            msg = "The Search body must be a JSON object."
            raise bad_request(msg)
        query = body.get("query", body)
        if not isinstance(query, dict):
            msg = "'query' must be a JSON object."
            raise bad_request(msg)
        errors: list[ErrorItem] = []

        def err(message: str) -> None:
            errors.append(ErrorItem(Code.VALIDATION, message))

        top = query.get("top", DEFAULT_TOP)
        if top is None:
            top = DEFAULT_TOP
        if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= MAX_TOP:
            err(f"'Top' MUST be between '1' and '{MAX_TOP}' when searching '{res.dto}'.")
            top = DEFAULT_TOP
        page = page_size = None
        exclude_total = False
        pagination = query.get("pagination")
        if pagination is not None:
            if not isinstance(pagination, dict):
                err("'Pagination' MUST be an object with 'pageNumber' and 'pageSize'.")
            else:
                page, page_size, exclude_total = self._pagination(pagination, err)
        elif paged_default:
            page, page_size = 1, DEFAULT_TOP
        where: list[str] = []
        params: list[Any] = []
        for cond in query.get("search") or []:
            self._condition(res, cond, where, params, err)
        order: list[tuple[str, bool]] = []
        for ob in query.get("orderBy") or []:
            if not isinstance(ob, dict) or not isinstance(ob.get("name"), str):
                err("'OrderBy' items MUST be objects with a 'name'.")
                continue
            col = self._column(res, ob["name"])
            direction = str(ob.get("direction", "asc")).lower()
            if col is None:
                err(f"'{ob['name']}' is not a valid orderBy property for '{res.dto}'.")
            elif direction not in ("asc", "desc"):
                err(f"'{ob.get('direction')}' is not a valid orderBy direction; use 'asc' or 'desc'.")
            else:
                order.append((col, direction == "desc"))
        fields = query.get("fields")
        out_fields: list[str] | None = None
        if fields:
            if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
                err("'Fields' MUST be a list of property names.")
            else:
                known = {f.name for f in res.fields if not f.hidden} | {
                    "identity",
                    "created",
                    "updated",
                    "extensions",
                }
                for f in fields:
                    if f not in known:
                        err(f"'{f}' is not a valid field for '{res.dto}'.")
                out_fields = sorted(set(fields) & known)
        if errors:
            raise LogiSenseError(400, errors)
        return Query(
            where=" AND ".join(where),
            params=params,
            order=order,
            fields=out_fields,
            top=top,
            page=page,
            page_size=page_size,
            exclude_total=exclude_total,
        )

    @staticmethod
    def _pagination(p: dict[str, Any], err: Callable[[str], None]) -> tuple[int, int, bool]:
        page = p.get("pageNumber", 1)
        size = p.get("pageSize", DEFAULT_TOP)
        ok = True
        if not isinstance(page, int) or isinstance(page, bool) or page < 1:
            err("'PageNumber' MUST be greater than or equal to '1'.")
            ok = False
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_TOP:
            err(f"'PageSize' MUST be between '1' and '{MAX_TOP}'.")
            ok = False
        if not ok:
            return 1, DEFAULT_TOP, False
        return page, size, bool(p.get("excludeTotalCount", False))

    def _column(self, res: Resource, name: str) -> str | None:
        t = _q(res.table)
        if name in ("identity", "created", "updated"):
            return f"{t}.{name}"
        if name.startswith("extensions."):
            key = name.split(".", 1)[1]
            return f"json_extract({t}.extensions, '$.{key}')" if _EXT_KEY.match(key) else None
        f = res.field(name)
        if f is None or f.hidden:
            return None
        return f"{t}.{_q(f.name)}"

    def _condition(
        self, res: Resource, cond: Any, where: list[str], params: list[Any], err: Callable[[str], None]
    ) -> None:
        if not isinstance(cond, dict) or not isinstance(cond.get("name"), str):
            err("'Search' items MUST be objects with 'name', 'operator' and 'value'.")
            return
        name, op, value = cond["name"], cond.get("operator", "eq"), cond.get("value")
        condition = str(cond.get("condition") or "and").lower()
        if condition != "and":
            err(f"'{cond.get('condition')}' is not a supported search condition; only 'and' is supported.")
            return
        col = self._column(res, name)
        if col is None:
            err(f"'{name}' is not a valid search property for '{res.dto}'.")
            return
        f = res.field(name)
        ftype = (
            f.type
            if f
            else ("int" if name == "identity" else "date" if name in ("created", "updated") else "any")
        )
        text = ftype == "str"

        def conv(v: Any) -> Any:
            if v is None:
                return None
            if ftype in ("int", "number", "money"):
                if isinstance(v, bool) or not isinstance(v, int | float | str):
                    raise ValueError
                n = float(v)
                if not math.isfinite(n):
                    raise ValueError
                return int(n) if ftype == "int" and n.is_integer() else n
            if ftype == "bool":
                if isinstance(v, bool):
                    return int(v)
                if isinstance(v, str) and v.lower() in ("true", "false"):
                    return int(v.lower() == "true")
                raise ValueError
            if ftype == "date":
                d = parse_date(str(v))
                if d is None:
                    raise ValueError
                return d
            if isinstance(v, dict | list):
                raise ValueError
            return v

        nocase = " COLLATE NOCASE" if text else ""
        try:
            if op in ("isNull", "isNotNull") or (op in ("eq", "notEq") and value is None):
                where.append(f"{col} IS {'NOT ' if op in ('isNotNull', 'notEq') else ''}NULL")
            elif op in ("eq", "notEq", "lt", "ltEq", "gt", "gtEq"):
                sym = {"eq": "=", "notEq": "<>", "lt": "<", "ltEq": "<=", "gt": ">", "gtEq": ">="}[op]
                if op == "notEq":
                    where.append(f"({col} IS NULL OR {col} <> ?{nocase})")
                else:
                    where.append(f"{col} {sym} ?{nocase}")
                params.append(conv(value))
            elif op in ("in", "notIn"):
                if not isinstance(value, list) or not value:
                    err(f"The '{op}' operator on '{name}' requires a non-empty array value.")
                    return
                values = [conv(v) for v in value]
                if len(values) > 200:
                    # one JSON parameter instead of thousands of bind variables (SQLite caps those)
                    marks = "SELECT value FROM json_each(?)"
                    params.append(json.dumps(values))
                else:
                    marks = ",".join("?" * len(values))
                    params.extend(values)
                if op == "in":
                    where.append(f"{col}{nocase} IN ({marks})")
                else:
                    where.append(f"({col} IS NULL OR {col}{nocase} NOT IN ({marks}))")
            elif op in ("contains", "startsWith", "endsWith"):
                if not isinstance(value, str | int | float) or isinstance(value, bool):
                    raise ValueError
                esc = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                pattern = {"contains": f"%{esc}%", "startsWith": f"{esc}%", "endsWith": f"%{esc}"}[op]
                where.append(f"{col} LIKE ? ESCAPE '\\'")
                params.append(pattern)
            else:
                err(f"'{op}' is not a valid search operator.")
        except ValueError:
            err(f"'{value}' is not a valid value for '{name}' on '{res.dto}'.")

    def search(self, res: Resource, q: Query, *, detail: bool = False) -> tuple[list[Row], int | None]:
        """Run a parsed query: (items of the page or of ``top``, total matching count or None)."""
        with self.lock:
            t = _q(res.table)
            where_sql = f" WHERE {q.where}" if q.where else ""
            version = self._versions[res.route]
            total: int | None = None
            if not q.exclude_total:
                ckey = (res.route, version, where_sql, tuple(q.params))
                total = self._count_cache.get(ckey)
                if total is None:
                    total = int(
                        self.conn.execute(f"SELECT COUNT(*) FROM {t}{where_sql}", q.params).fetchone()[0]
                    )
                    self._cache_put(self._count_cache, ckey, total, 256)
            limit = q.page_size if q.page is not None and q.page_size is not None else q.top
            offset = (q.page - 1) * limit if q.page is not None else 0
            identity_order = not q.order or q.order == [(f"{t}.identity", False)]
            if identity_order and not q.where:
                items = self._keyset_page(res, version, q.fields, offset, limit)
            else:
                okey = (res.route, version, where_sql, tuple(q.params), tuple(q.order))
                ordered = self._order_cache.get(okey)
                if ordered is None:
                    # filtered or sorted: compute the whole order once per data version, then slice pages
                    # (8 bytes an id, so even a few million matching rows stay small)
                    order_sql = ", ".join(f"{c} {'DESC' if d else 'ASC'}" for c, d in q.order) or "identity"
                    ordered = array(
                        "q",
                        (
                            r[0]
                            for r in self.conn.execute(
                                f"SELECT identity FROM {t}{where_sql} ORDER BY {order_sql}, identity",
                                q.params,
                            )
                        ),
                    )
                    self._cache_put(self._order_cache, okey, ordered, 8)
                items = self.render(res, ordered[offset : offset + limit].tolist(), q.fields)
            if detail:
                self.add_children(res, items)
            return items, total

    def _keyset_page(
        self, res: Resource, version: int, fields: list[str] | None, offset: int, limit: int
    ) -> list[Row]:
        """Rows ``offset``..``offset + limit`` of the whole table in identity order, rendered.

        Seeks from the last identity of an earlier page (remembered per data version) instead of an OFFSET
        that would step over every row before the page: reading a table page by page costs time linear in
        its rows, however deep the page.
        """
        t = _q(res.table)
        marks = self._page_marks.get((res.route, version)) or _PageMarks()
        self._cache_put(self._page_marks, (res.route, version), marks, 64)  # most recently read last
        start, after = marks.before(offset)
        shape = self._select(res, fields)
        bound = "" if after is None else f" WHERE {t}.identity > ?"
        params: list[Any] = [] if after is None else [after]
        cur = self.conn.execute(
            f"{shape.sql}{bound} ORDER BY {t}.identity LIMIT ? OFFSET ?", [*params, limit, offset - start]
        )
        rows = cur.fetchall()
        if rows:
            marks.add(offset + len(rows), rows[-1][0])
        return self._convert(rows, shape)

    @staticmethod
    def _cache_put(cache: OrderedDict[Any, Any], key: Any, value: Any, size: int) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > size:
            cache.popitem(last=False)

    # --- writes --------------------------------------------------------------------------------------
    @contextmanager
    def write(self, type_: str) -> Iterator[Tx]:
        """One write request: BEGIN, collect, COMMIT or ROLLBACK with every error."""
        with self.lock:
            tx = Tx(type=type_, now=now_iso())
            self.conn.execute("BEGIN")
            try:
                yield tx
            except BaseException:
                self.conn.execute("ROLLBACK")
                self._invalidate(tx.touched)
                raise
            if tx.errors:
                self.conn.execute("ROLLBACK")
                self._invalidate(tx.touched)
                raise LogiSenseError(400, tx.errors, rolled_back=True)
            self.conn.execute("COMMIT")
            self._invalidate(tx.touched)

    def results(self, tx: Tx) -> dict[str, Any]:
        """The ``results`` object of a committed write (instances rendered now)."""
        with self.lock:
            items: list[dict[str, Any]] = []
            for it in tx.items:
                entry: dict[str, Any] = {
                    "identity": it.identity,
                    "action": it.action,
                    "dtoTypeKey": it.resource.dto_key,
                }
                if it.action != "deleted":
                    rendered = self.render(it.resource, [it.identity])
                    if rendered:
                        entry["instance"] = rendered[0]
                items.append(entry)
            return {"totalCount": len(items), "items": items}

    def coerce(self, tx: Tx, res: Resource, body: dict[str, Any]) -> tuple[Row, set[str], set[str]]:
        """Type-check the writable properties present in ``body``; returns (values, present, failed)."""
        values: Row = {}
        failed: set[str] = set()
        verb = "adding or updating"
        for f in res.fields:
            if f.readonly or f.hidden or f.name not in body:
                continue
            v = body[f.name]
            if v is None:
                values[f.name] = None
                continue
            problem = None
            if f.type == "int":
                if isinstance(v, float) and v.is_integer():
                    v = int(v)
                if not isinstance(v, int) or isinstance(v, bool):
                    problem = "MUST be an integer"
            elif f.type in ("number", "money"):
                if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                    problem = "MUST be a number"
                elif f.type == "money":
                    if abs(v) >= 1e12:
                        problem = "MUST be less than '1000000000000' in magnitude"
                    else:
                        v = round_money(
                            float(v), res.money_precision if res.money_precision is not None else 11
                        )
            elif f.type == "bool":
                if not isinstance(v, bool):
                    problem = "MUST be a boolean"
            elif f.type == "date":
                parsed = parse_date(v) if isinstance(v, str) else None
                if parsed is None:
                    problem = "MUST be an ISO 8601 date"
                v = parsed
            elif not isinstance(v, str):
                problem = "MUST be a string"
            if problem is None and isinstance(v, int | float) and not isinstance(v, bool):
                if f.minimum is not None and v < f.minimum:
                    problem = f"MUST be greater than or equal to '{_num(f.minimum)}'"
                elif f.maximum is not None and v > f.maximum:
                    problem = f"MUST be less than or equal to '{_num(f.maximum)}'"
            if problem:
                tx.error(Code.VALIDATION, f"'{f.pascal}' {problem} when {verb} a '{res.dto}'.")
                failed.add(f.name)
            else:
                values[f.name] = v
        if "extensions" in body:
            ext = body["extensions"]
            if ext is not None and not isinstance(ext, dict):
                tx.error(Code.VALIDATION, f"'Extensions' MUST be an object when {verb} a '{res.dto}'.")
                failed.add("extensions")
            else:
                values["extensions"] = ext
        return values, set(values), failed

    def create(
        self, tx: Tx, res: Resource, body: Any, *, parent: tuple[str, int] | None = None
    ) -> int | None:
        """Validate and insert one object (and its child arrays); None when it had errors."""
        if not isinstance(body, dict):
            tx.error(
                Code.BAD_REQUEST, f"The request could not be processed. A '{res.dto}' must be a JSON object."
            )
            return None
        if parent is not None:
            body = {**body, parent[0]: parent[1]}
        values, present, failed = self.coerce(tx, res, body)
        merged: Row = {f.name: f.default for f in res.fields}
        merged.update({k: v for k, v in values.items() if k != "extensions"})
        merged["extensions"] = _merge_ext({}, values.get("extensions"))
        if not self._validate(tx, res, merged, None, present, failed):
            return None
        cols = [f.name for f in res.fields]
        label = self._label(res, merged)
        ext = json.dumps(merged["extensions"]) if merged["extensions"] else None
        cur = self.conn.execute(
            f"INSERT INTO {_q(res.table)} ({', '.join(_q(c) for c in cols)}, created, updated, "
            "extensions, _label) "
            f"VALUES ({', '.join('?' * (len(cols) + 4))})",
            [*(merged[c] for c in cols), tx.now, tx.now, ext, label],
        )
        ident = int(cur.lastrowid or 0)
        merged["identity"] = ident
        tx.touched.add(res.route)
        tx.items.append(WriteItem(res, ident, "created"))
        hook = self.after_write.get(res.route)
        if hook:
            hook(self, tx, res, merged, None, present)
        self._children(tx, res, ident, body, create_only=True)
        return ident

    def update(self, tx: Tx, res: Resource, ident: int, body: Any, *, children: bool) -> None:
        """Validate and update one object (PUT/PATCH); PATCH also applies child arrays."""
        existing = self.raw(res.route, ident)
        if existing is None:
            raise not_found(res.dto, ident)
        if not isinstance(body, dict):
            msg = f"A '{res.dto}' must be a JSON object."
            raise bad_request(msg)
        self._update_row(tx, res, existing, body)
        if children:
            self._children(tx, res, ident, body, create_only=False)

    def _update_row(self, tx: Tx, res: Resource, existing: Row, body: dict[str, Any]) -> bool:
        values, present, failed = self.coerce(tx, res, body)
        merged = dict(existing)
        merged.update({k: v for k, v in values.items() if k != "extensions"})
        merged["extensions"] = _merge_ext(
            json.loads(existing["extensions"] or "{}"), values.get("extensions")
        )
        if not self._validate(tx, res, merged, existing, present, failed):
            return False
        cols = [f.name for f in res.fields]
        ext = json.dumps(merged["extensions"]) if merged["extensions"] else None
        self.conn.execute(
            f"UPDATE {_q(res.table)} SET {', '.join(f'{_q(c)}=?' for c in cols)}, updated=?, "
            "extensions=?, _label=? "
            "WHERE identity=?",
            [*(merged[c] for c in cols), tx.now, ext, self._label(res, merged), existing["identity"]],
        )
        tx.touched.add(res.route)
        tx.items.append(WriteItem(res, existing["identity"], "updated"))
        hook = self.after_write.get(res.route)
        if hook:
            hook(self, tx, res, merged, existing, present)
        return True

    def _label(self, res: Resource, merged: Row) -> str | None:
        fn = self.label.get(res.route)
        if fn is not None:
            return fn(self, merged)
        return merged.get("name") if res.labelled_by_name else None

    def _validate(
        self, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str], failed: set[str]
    ) -> bool:
        before = len(tx.errors)
        ok = not failed
        verb = "adding" if existing is None else "updating"
        for f in res.fields:
            if f.required and f.name not in failed and merged.get(f.name) in (None, ""):
                tx.error(Code.VALIDATION, f"'{f.pascal}' is required when {verb} a '{res.dto}'.")
        for f in res.refs:
            if f.readonly:
                continue
            v = merged.get(f.name)
            if v is None or (existing is not None and existing.get(f.name) == v and f.name not in present):
                continue
            target = BY_ROUTE[f.ref or ""]
            if target.route == res.route and existing is not None and v == existing["identity"]:
                continue
            if (
                self.conn.execute(f"SELECT 1 FROM {_q(target.table)} WHERE identity=?", (v,)).fetchone()
                is None
            ):
                tx.error(
                    Code.NOT_EXIST, f"'{f.pascal}' ({v}) does not exist in '{target.dto}' for '{res.dto}'."
                )
        if len(tx.errors) == before and ok:
            hook = self.before_write.get(res.route)
            if hook:
                hook(self, tx, res, merged, existing, present)
        if len(tx.errors) == before and ok:
            self._check_unique(tx, res, merged, existing)
        return len(tx.errors) == before and ok

    def _check_unique(self, tx: Tx, res: Resource, merged: Row, existing: Row | None) -> None:
        for key in res.unique:
            fields = [f for f in res.fields if f.name in key]
            vals = [merged.get(f.name) for f in fields]
            if any(v is None for v in vals):
                continue
            sql = " AND ".join(
                f"{_q(f.name)} = ? COLLATE NOCASE" if f.type == "str" else f"{_q(f.name)} = ?" for f in fields
            )
            params: list[Any] = list(vals)
            if existing is not None:
                sql += " AND identity <> ?"
                params.append(existing["identity"])
            if not self.conn.execute(f"SELECT 1 FROM {_q(res.table)} WHERE {sql} LIMIT 1", params).fetchone():
                continue
            if len(fields) == 1:
                tx.error(Code.DUPLICATE, f"'{fields[0].pascal}' ({vals[0]}) already exists in '{res.dto}'.")
            else:
                parts = " and ".join(f"'{f.pascal}' ({v})" for f, v in zip(fields, vals, strict=True))
                tx.error(Code.DUPLICATE, f"A '{res.dto}' with {parts} already exists.")

    def _children(
        self, tx: Tx, res: Resource, ident: int, body: dict[str, Any], *, create_only: bool
    ) -> None:
        for key, (child_route, fk) in res.children.items():
            if key not in body or body[key] is None:
                continue
            elements = body[key]
            child = BY_ROUTE[child_route]
            if not isinstance(elements, list):
                tx.error(Code.VALIDATION, f"'{key}' MUST be an array when adding or updating a '{res.dto}'.")
                continue
            for el in elements:
                if not isinstance(el, dict):
                    tx.error(Code.VALIDATION, f"'{key}' items MUST be objects in a '{res.dto}'.")
                    continue
                child_id = el.get("identity")
                if child_id is None or create_only:
                    self.create(tx, child, el, parent=(fk, ident))
                    continue
                row = self.raw(child_route, child_id)
                if row is None or row.get(fk) != ident:
                    tx.error(
                        Code.NOT_EXIST,
                        f"'Identity' ({child_id}) does not exist in '{child.dto}' for '{res.dto}'.",
                    )
                    continue
                if str(el.get("action", "")).lower() == "delete":
                    self.delete(tx, child, child_id)
                else:
                    self._update_row(tx, child, row, {**el, fk: ident})
                    self._children(tx, child, child_id, el, create_only=False)

    def delete(self, tx: Tx, res: Resource, ident: int) -> None:
        """Delete one object and everything that cascades from it; refuse if still referenced."""
        row = self.raw(res.route, ident)
        if row is None:
            raise not_found(res.dto, ident)
        hook = self.before_delete.get(res.route)
        before = len(tx.errors)
        if hook:
            hook(self, tx, res, row)
        if len(tx.errors) > before:
            return
        # Collect the cascade set, breadth first: route -> ids, with an ordering for the result items.
        doomed: dict[str, set[int]] = {res.route: {ident}}
        order: list[tuple[Resource, list[int]]] = [(res, [ident])]
        frontier: list[tuple[Resource, list[int]]] = [(res, [ident])]
        while frontier:
            nxt: list[tuple[Resource, list[int]]] = []
            for parent_res, ids in frontier:
                for other in RESOURCES:
                    for f in other.refs:
                        if f.ref != parent_res.route or not f.cascade:
                            continue
                        found = self._ids_referencing(other, f.name, ids)
                        new = [i for i in found if i not in doomed.setdefault(other.route, set())]
                        if new:
                            doomed[other.route].update(new)
                            order.append((other, new))
                            nxt.append((other, new))
            frontier = nxt
        # Non-cascading references from rows that survive block the delete.
        for route, ids_set in doomed.items():
            ids = sorted(ids_set)
            for other in RESOURCES:
                for f in other.refs:
                    if f.ref != route or f.cascade:
                        continue
                    keep = doomed.get(other.route, set())
                    for i in self._ids_referencing(other, f.name, ids):
                        if i not in keep:
                            tx.error(
                                Code.IN_USE,
                                f"'{BY_ROUTE[route].dto}' ({self._referenced_id(other, f.name, i)}) "
                                "cannot be "
                                f"deleted because it is used by '{other.dto}'.",
                            )
                            break
                    else:
                        continue
                    break
        if len(tx.errors) > before:
            return
        for other, ids in reversed(order):
            for start in range(0, len(ids), 30000):
                chunk = ids[start : start + 30000]
                self.conn.execute(
                    f"DELETE FROM {_q(other.table)} WHERE identity IN ({','.join('?' * len(chunk))})", chunk
                )
            tx.touched.add(other.route)
            tx.items.extend(WriteItem(other, i, "deleted") for i in sorted(ids))
        after = self.after_delete.get(res.route)
        if after:
            after(self, tx, res, row)

    def _ids_referencing(self, res: Resource, column: str, ids: Sequence[int]) -> list[int]:
        out: list[int] = []
        for start in range(0, len(ids), 30000):
            chunk = list(ids[start : start + 30000])
            out += [
                r[0]
                for r in self.conn.execute(
                    f"SELECT identity FROM {_q(res.table)} WHERE {_q(column)} IN "
                    f"({','.join('?' * len(chunk))})",
                    chunk,
                )
            ]
        return out

    def _referenced_id(self, res: Resource, column: str, ident: int) -> Any:
        row = self.conn.execute(
            f"SELECT {_q(column)} FROM {_q(res.table)} WHERE identity=?", (ident,)
        ).fetchone()
        return row[0] if row else "?"

    # --- bulk load and snapshot ----------------------------------------------------------------------
    def bulk_insert(self, route: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Insert rows as-is (seed/generator; no validation). Run inside ``bulk()``."""
        res = BY_ROUTE[route]
        sql = (
            f"INSERT INTO {_q(res.table)} ({', '.join(_q(c) for c in columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        self.conn.executemany(sql, rows)
        self._versions[route] += 1

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """A transaction for bulk loading."""
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            self._invalidate(None)

    def release_memory(self) -> None:
        """Hand memory freed by a bulk load back to the OS (SQLite's cache, then glibc's free lists)."""
        with self.lock:
            self.conn.execute("PRAGMA shrink_memory")
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.malloc_trim(0)
        except (OSError, AttributeError):  # not glibc: the memory is reused by the next load instead
            pass

    def counts(self) -> dict[str, int]:
        """Number of objects per route."""
        with self.lock:
            return {
                r.route: int(self.conn.execute(f"SELECT COUNT(*) FROM {_q(r.table)}").fetchone()[0])
                for r in RESOURCES
            }

    def snapshot(self) -> dict[str, list[Row]]:
        """Every object of every resource, keyed by route."""
        with self.lock:
            out: dict[str, list[Row]] = {}
            for res in RESOURCES:
                shape = self._select(res, None)
                cur = self.conn.execute(f"{shape.sql} ORDER BY {_q(res.table)}.identity")
                out[res.route] = self._convert(cur.fetchall(), shape)
            return out

    def close(self) -> None:
        """Close the database."""
        with self.lock:
            self.conn.close()


def _merge_ext(current: dict[str, Any], update: Any) -> dict[str, Any]:
    if not isinstance(update, dict):
        return current
    merged = dict(current)
    for k, v in update.items():
        if v is None:
            merged.pop(k, None)
        else:
            merged[k] = v
    return merged


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def new_tracking_id() -> str:
    """A fresh ``trackingId``."""
    return str(uuid.uuid4())
