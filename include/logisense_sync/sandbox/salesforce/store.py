"""Records of the org: in memory for speed, written through to SQLite under the data dir in batches.

Records are plain dicts keyed by field API name with JSON-native values (str/bool/float/int/None; dates
`YYYY-MM-DD`, datetimes `2024-01-31T10:00:00.000+0000`); every field of the sObject is present. `get` and
`scan` hand out fresh dicts, so callers may keep or change them; writes go through `put`.

Inside, a record is kept compact (tens of millions must fit in a few GB): one `StoredRow` per record, a
tuple of its values in the sObject's field order, and repeated values (currency codes, picklist values,
user ids, timestamps, prices) are shared between records through a bounded per-field intern table. A
`StoredRow` reads like a dict for the SOQL engine (`row.get("Name")`) without becoming one.
Writes happen inside `transaction()`; `savepoint()` scopes per-record rollback.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from logisense_sync.sandbox.salesforce import ids
from logisense_sync.sandbox.salesforce.schema import Field, Schema, SObject

logger = logging.getLogger(__name__)

try:  # msgspec (an Airflow dependency) encodes records several times faster than json
    import msgspec

    _encode: Any = msgspec.json.Encoder().encode
    _decode: Any = msgspec.json.Decoder().decode
except ImportError:  # pragma: no cover - fallback when msgspec is absent
    _encode = lambda rec: json.dumps(rec, separators=(",", ":")).encode()  # noqa: E731
    _decode = json.loads

Record = dict[str, Any]
_MISSING = object()
#: Distinct values shared per field at most; values past that are stored as they come (unique-ish fields).
INTERN_LIMIT = 65_536
#: Records written in one transaction from which the freed memory is handed back to the OS afterwards.
BIG_WRITE = 10_000
#: Children per parent kept in a list (beyond that, a set) in the child indexes.
SMALL_FAMILY = 128
#: Field types whose values are never shared (ids and long text are unique per record).
_NO_INTERN_TYPES = frozenset({"id", "textarea", "boolean"})


class StoredRow(tuple):  # type: ignore[type-arg]
    """One stored record: its values in the table's field order (a subclass per sObject knows the names)."""

    __slots__ = ()
    _pos: ClassVar[dict[str, int]] = {}

    def get(self, key: str, default: Any = None) -> Any:
        """The value of field `key` (exact API name), or `default`."""
        i = self._pos.get(key)
        if i is None or i >= len(self):
            return default
        return tuple.__getitem__(self, i)


class Table:
    """The records of one sObject type: id -> StoredRow, plus the field layout and the intern tables."""

    def __init__(self, so: SObject) -> None:
        self.name = so.name
        self.names: list[str] = []
        self.pos: dict[str, int] = {}
        self.row_type: type[StoredRow] = type(
            f"{so.name}Row", (StoredRow,), {"__slots__": (), "_pos": self.pos}
        )
        self.rows: dict[str, StoredRow] = {}
        self.interns: list[dict[Any, Any] | None] = []
        self.shared: list[tuple[int, dict[Any, Any]]] = []
        self.fields = so.fields
        for name in so.fields:
            self._add_name(name)
        self.deleted_pos = self.pos.get("IsDeleted")

    def _add_name(self, name: str) -> int:
        f = self.fields.get(name)
        shared = f is not None and f.type not in _NO_INTERN_TYPES and not (f.external_id or f.unique)
        index = len(self.names)
        self.pos[name] = index
        self.names.append(name)
        intern: dict[Any, Any] | None = {} if shared else None
        self.interns.append(intern)
        if intern is not None:
            self.shared.append((index, intern))
        return index

    def pack(self, record: Record) -> StoredRow:
        """The compact form of a record dict (values shared through the intern tables)."""
        if not (record.keys() <= self.pos.keys()):
            for k in record:
                if k not in self.pos:
                    self._add_name(k)
        get = record.get
        values = [get(name) for name in self.names]
        for i, intern in self.shared:
            v = values[i]
            if v is None or v is True or v is False:
                continue
            same = intern.get(v)
            if same is None:
                if len(intern) < INTERN_LIMIT:
                    intern[v] = v
            elif same is not v and type(same) is type(v):
                values[i] = same
        return self.row_type(values)

    def unpack(self, row: StoredRow) -> Record:
        """A fresh record dict of a stored row (every field present)."""
        if len(row) == len(self.names):
            return dict(zip(self.names, row, strict=True))
        rec = dict(zip(self.names, row, strict=False))
        for name in self.names[len(row) :]:
            rec[name] = None
        return rec

    def is_deleted(self, row: StoredRow) -> bool:
        """Whether the row is in the recycle bin."""
        i = self.deleted_pos
        return i is not None and i < len(row) and bool(tuple.__getitem__(row, i))


_last_stamp: tuple[int, str] = (-1, "")


def now_iso() -> str:
    """The current time in Salesforce's datetime format (one string per millisecond, shared)."""
    global _last_stamp  # a one-entry cache; a race only costs a recomputation
    ms = time.time_ns() // 1_000_000
    cached = _last_stamp
    if cached[0] == ms:
        return cached[1]
    t = datetime.fromtimestamp(ms / 1000, UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"
    _last_stamp = (ms, text)
    return text


def ext_key(field: Field, value: Any) -> Any:
    """The index key of an external id / unique value (case-insensitive unless the field says otherwise)."""
    if isinstance(value, str) and not field.case_sensitive:
        lowered = value.lower()
        return value if lowered == value else lowered  # keep one string object when nothing changes
    return value


def _load_malloc_trim() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_malloc_trim = _load_malloc_trim()


def release_free_memory() -> None:
    """Hand memory freed by a big write (undo logs, parsed rows) back to the OS where the C library can."""
    if _malloc_trim is not None:
        _malloc_trim(0)


_SLOT_MASK = 0x3FFFFFFF


def _slot(field: Field, value: Any) -> Any:
    """Where a value sits in an external-id index: a case-insensitive text value by a 30-bit hash of its
    lower-case form (an int costs far less than a lower-cased copy of every key; a hit is verified against
    the record), anything else by its `ext_key`."""
    if isinstance(value, str) and not field.case_sensitive:
        return hash(value.lower()) & _SLOT_MASK
    return ext_key(field, value)


class Store:
    """All records of the org, with external-id indexes and write-through persistence."""

    def __init__(self, schema: Schema, db_path: Path | None = None) -> None:
        self.schema = schema
        self.lock = threading.RLock()
        self._tables: dict[str, Table] = {so.name: Table(so) for so in schema.sobjects()}
        # (sobject, field) -> _slot(value) -> id or set of ids (non-deleted records only)
        self._ext: dict[tuple[str, str], dict[Any, str | set[str]]] = {}
        self._ext_fields: dict[str, list[Field]] = {}
        # (sobject, field) -> parent id -> child ids, for cascade-delete and derived-amount relationships (a
        # list while small: a tenth of a set's memory per child; a set past SMALL_FAMILY children)
        self._children: dict[tuple[str, str], dict[str, list[str] | set[str]]] = {}
        self._child_fields: dict[str, list[Field]] = {}
        # (Pricebook2Id, Product2Id, CurrencyIsoCode) -> PricebookEntry id
        self.entry_key: dict[tuple[str, str, str], str] = {}
        for so in schema.sobjects():
            self._ext_fields[so.name] = [
                f for f in so.fields.values() if (f.external_id or f.unique) and f.type != "id"
            ]
            for f in self._ext_fields[so.name]:
                self._ext[(so.name, f.name)] = {}
            self._child_fields[so.name] = [
                f
                for f in so.fields.values()
                if f.type == "reference" and (f.cascade_delete or f.name == "ParentId")
            ]
            for f in self._child_fields[so.name]:
                self._children[(so.name, f.name)] = {}
        self.counter = 0
        self.meta: dict[str, Any] = {}
        self._undo: list[tuple[str, str, StoredRow | None]] | None = None
        self._depth = 0
        self._db: sqlite3.Connection | None = None
        if db_path is not None:
            self._db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS records"
                " (id TEXT PRIMARY KEY, sobject TEXT NOT NULL, data TEXT NOT NULL)"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._load()

    def _table(self, so: SObject | str) -> Table:
        name = so if isinstance(so, str) else so.name
        table = self._tables.get(name)
        if table is None:  # an sObject added to the schema after the store was made
            so_obj = self.schema.sobject(name) if isinstance(so, str) else so
            assert so_obj is not None
            table = self._tables[name] = Table(so_obj)
        return table

    # ------------------------------------------------------------------ reading

    def sobject_of(self, record_id: str) -> SObject | None:
        """The sObject type of an id (by key prefix)."""
        return self.schema.by_prefix(record_id[:3]) if record_id else None

    def _find(self, record_id: str, include_deleted: bool) -> tuple[Table, StoredRow] | None:
        if type(record_id) is str and len(record_id) == 18:  # a canonical id (from an index): no normalising
            so = self.schema.by_prefix(record_id[:3])
            table = self._tables.get(so.name) if so is not None else None
            row = table.rows.get(record_id) if table is not None else None
            if table is not None and row is not None:
                return None if not include_deleted and table.is_deleted(row) else (table, row)
        canonical = ids.normalize(record_id)
        if canonical is None:
            return None
        so = self.schema.by_prefix(canonical[:3])
        table = self._tables.get(so.name) if so is not None else None
        if table is None:
            return None
        row = table.rows.get(canonical)
        if row is None or (not include_deleted and table.is_deleted(row)):
            return None
        return table, row

    def get_row(self, record_id: str, *, include_deleted: bool = False) -> StoredRow | None:
        """The stored row with this id (15 or 18 characters), or None; `row.get(field)` reads a value."""
        found = self._find(record_id, include_deleted)
        return None if found is None else found[1]

    def get(self, record_id: str, *, include_deleted: bool = False) -> Record | None:
        """The record with this id (15 or 18 characters), or None (also for deleted records by default)."""
        found = self._find(record_id, include_deleted)
        return None if found is None else found[0].unpack(found[1])

    def field_value(self, record_id: str, field_name: str) -> Any:
        """One field of a live record (None when the record or the value is missing), without a dict."""
        row = self.get_row(record_id)
        return None if row is None else row.get(field_name)

    def scan_rows(self, sobject: str, include_deleted: bool = False) -> Iterator[StoredRow]:
        """Every stored row of an sObject type (a stable snapshot), read with `row.get(field)`."""
        so = self.schema.sobject(sobject)
        if so is None:
            return
        table = self._table(so)
        i = table.deleted_pos
        rows = list(table.rows.values())
        if include_deleted or i is None:
            yield from rows
            return
        for row in rows:
            if not (i < len(row) and tuple.__getitem__(row, i)):
                yield row

    def scan(self, sobject: str, include_deleted: bool = False) -> Iterator[Record]:
        """Every record of an sObject type (a stable snapshot: concurrent writes do not disturb it)."""
        so = self.schema.sobject(sobject)
        if so is None:
            return
        unpack = self._table(so).unpack
        for row in self.scan_rows(so.name, include_deleted):
            yield unpack(row)

    def count(self, sobject: str) -> int:
        """How many live records an sObject type has."""
        return sum(1 for _ in self.scan_rows(sobject))

    def find_by_external_id(self, sobject: str, field: str, value: Any) -> list[str]:
        """Ids of live records whose `field` equals `value` (external id / unique fields use an index)."""
        so = self.schema.sobject(sobject)
        f = so.field(field) if so else None
        if so is None or f is None:
            return []
        index = self._ext.get((so.name, f.name))
        if index is not None:
            if not isinstance(value, str) or f.case_sensitive:
                hit = index.get(ext_key(f, value))
                if hit is None:
                    return []
                return [hit] if isinstance(hit, str) else sorted(hit)
            # Hashed: keep only the records whose value really matches.
            want = value.lower()
            hit = index.get(hash(want) & _SLOT_MASK)
            if hit is None:
                return []
            rows = self._table(so).rows
            name = f.name
            if isinstance(hit, str):
                row = rows.get(hit)
                value_there = row.get(name) if row is not None else None
                return [hit] if isinstance(value_there, str) and value_there.lower() == want else []
            found: list[str] = []
            for rid in sorted(hit):
                row = rows.get(rid)
                value_there = row.get(name) if row is not None else None
                if isinstance(value_there, str) and value_there.lower() == want:
                    found.append(rid)
            return found
        if f.type == "id":
            by_id = self.get_row(str(value))
            found_id = by_id.get("Id") if by_id is not None else None
            return [found_id] if found_id is not None and found_id.startswith(so.key_prefix) else []
        return [r.get("Id") for r in self.scan_rows(so.name) if r.get(f.name) == value]

    def children(self, sobject: str, field: str, parent_id: str) -> list[str]:
        """Live child ids whose `field` points at `parent_id` (indexed for cascade and hierarchy fields)."""
        index = self._children.get((sobject, field))
        if index is not None:
            return sorted(index.get(parent_id, ()))
        return [r.get("Id") for r in self.scan_rows(sobject) if r.get(field) == parent_id]

    def snapshot(self) -> dict[str, list[Record]]:
        """Every record of every object (deleted ones included), sorted by id."""
        return {
            name: [t.unpack(t.rows[k]) for k in sorted(t.rows)]
            for name, t in sorted(self._tables.items())
            if t.rows
        }

    # ------------------------------------------------------------------ writing

    def new_id(self, so: SObject) -> str:
        """A fresh 18-character id for a record of `so`."""
        self.counter += 1
        return ids.make_id(so.key_prefix, self.counter)

    def next_sequence(self, name: str) -> int:
        """The next number of a named sequence (auto-number fields)."""
        value = int(self.meta.get(f"seq:{name}", 0)) + 1
        self.meta[f"seq:{name}"] = value
        return value

    def put(self, so: SObject, record: Record) -> None:
        """Store (insert or replace) a complete record. Must run inside `transaction()`."""
        if self._undo is None:
            msg = "Store.put outside a transaction"
            raise RuntimeError(msg)
        table = self._table(so)
        row = table.pack(record)
        rid = row.get("Id")
        old = table.rows.get(rid)
        self._undo.append((so.name, rid, old))
        if old is not None:
            self._unindex(so, table, old)
        table.rows[rid] = row
        self._index(so, table, row)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing scope: changes roll back on an exception and are persisted on success."""
        with self.lock:
            outer = self._depth == 0
            if outer:
                self._undo = []
            mark = len(self._undo or [])
            self._depth += 1
            try:
                yield
            except BaseException:
                self._rollback(mark)
                if outer:
                    self._undo = None
                raise
            finally:
                self._depth -= 1
            if outer:
                undo, self._undo = self._undo or [], None
                self._persist(undo)
                big = len(undo) >= BIG_WRITE
                del undo
                if big:
                    release_free_memory()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested scope that rolls back only its own changes on an exception (inside `transaction`)."""
        mark = len(self._undo or [])
        try:
            yield
        except BaseException:
            self._rollback(mark)
            raise

    def rollback_to(self, mark: int) -> None:
        """Undo every change after `mark` (a value of `mark()`)."""
        self._rollback(mark)

    def mark(self) -> int:
        """The current position in the undo log."""
        return len(self._undo or [])

    def _rollback(self, mark: int) -> None:
        undo = self._undo
        if undo is None:
            return
        while len(undo) > mark:
            name, rid, old = undo.pop()
            so = self.schema.sobject(name)
            assert so is not None
            table = self._tables[name]
            current = table.rows.get(rid)
            if current is not None:
                self._unindex(so, table, current)
            if old is None:
                table.rows.pop(rid, None)
            else:
                table.rows[rid] = old
                self._index(so, table, old)

    def _index(self, so: SObject, table: Table, row: StoredRow) -> None:
        if table.is_deleted(row):
            return
        rid = row.get("Id")
        for f in self._ext_fields[so.name]:
            value = row.get(f.name)
            if value is None or value == "":
                continue
            index = self._ext[(so.name, f.name)]
            key = _slot(f, value)
            hit = index.get(key)
            if hit is None:
                index[key] = rid
            elif isinstance(hit, str):
                if hit != rid:
                    index[key] = {hit, rid}
            else:
                hit.add(rid)
        for f in self._child_fields[so.name]:
            parent = row.get(f.name)
            if parent:
                kids = self._children[(so.name, f.name)]
                siblings = kids.get(parent)
                if siblings is None:
                    kids[parent] = [rid]
                elif isinstance(siblings, set):
                    siblings.add(rid)
                elif rid not in siblings:
                    siblings.append(rid)
                    if len(siblings) > SMALL_FAMILY:
                        kids[parent] = set(siblings)
        if so.name == "PricebookEntry":
            self.entry_key[(row.get("Pricebook2Id"), row.get("Product2Id"), row.get("CurrencyIsoCode"))] = rid

    def _unindex(self, so: SObject, table: Table, row: StoredRow) -> None:
        if table.is_deleted(row):
            return
        rid = row.get("Id")
        for f in self._ext_fields[so.name]:
            value = row.get(f.name)
            if value is None or value == "":
                continue
            index = self._ext[(so.name, f.name)]
            key = _slot(f, value)
            hit = index.get(key)
            if hit == rid:
                del index[key]
            elif isinstance(hit, set):
                hit.discard(rid)
                if len(hit) == 1:
                    index[key] = next(iter(hit))
        for f in self._child_fields[so.name]:
            parent = row.get(f.name)
            if parent:
                kids = self._children[(so.name, f.name)].get(parent)
                if isinstance(kids, set):
                    kids.discard(rid)
                elif kids is not None and rid in kids:
                    kids.remove(rid)
        if so.name == "PricebookEntry":
            key = (row.get("Pricebook2Id"), row.get("Product2Id"), row.get("CurrencyIsoCode"))
            if self.entry_key.get(key) == rid:
                del self.entry_key[key]

    # ------------------------------------------------------------------ persistence

    def _persist(self, undo: list[tuple[str, str, StoredRow | None]]) -> None:
        """Write the records the undo log names (a record written twice is written twice: same result)."""
        if self._db is None:
            return
        tables = self._tables
        gone = [(rid,) for name, rid, _ in undo if rid not in tables[name].rows]
        # A generator keeps only one encoded record in memory at a time, however big the job.
        rows = (
            (rid, name, _encode(tables[name].unpack(row)))
            for name, rid, _ in undo
            if (row := tables[name].rows.get(rid)) is not None
        )
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany("INSERT OR REPLACE INTO records (id, sobject, data) VALUES (?, ?, ?)", rows)
            if gone:
                db.executemany("DELETE FROM records WHERE id = ?", gone)
            self._write_meta()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _write_meta(self) -> None:
        assert self._db is not None
        items = [("counter", str(self.counter))] + [(k, json.dumps(v)) for k, v in self.meta.items()]
        self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", items)

    def save_meta(self) -> None:
        """Persist the counters and settings kept in `meta`."""
        if self._db is None:
            return
        with self.lock:
            self._db.execute("BEGIN")
            self._write_meta()
            self._db.execute("COMMIT")

    def _load(self) -> None:
        assert self._db is not None
        for key, value in self._db.execute("SELECT key, value FROM meta"):
            if key == "counter":
                self.counter = int(value)
            else:
                self.meta[key] = json.loads(value)
        loaded = 0
        for rid, name, data in self._db.execute("SELECT id, sobject, data FROM records"):
            so = self.schema.sobject(name)
            if so is None:
                continue
            rec = _decode(data)
            for fname, f in so.fields.items():  # fields added to the schema since the record was written
                if fname not in rec:
                    rec[fname] = f.default_value if f.type == "boolean" else None
            table = self._table(so)
            row = table.pack(rec)
            table.rows[rid] = row
            self._index(so, table, row)
            loaded += 1
        logger.info("loaded %d records from the sandbox database", loaded)

    def is_empty(self) -> bool:
        """Whether the store holds no record at all."""
        return not any(t.rows for t in self._tables.values())

    def clear(self) -> None:
        """Drop every record, index and counter (memory and database)."""
        with self.lock:
            for table in self._tables.values():
                table.rows.clear()
                for intern in table.interns:
                    if intern is not None:
                        intern.clear()
            for index in self._ext.values():
                index.clear()
            for kids in self._children.values():
                kids.clear()
            self.entry_key.clear()
            self.counter = 0
            self.meta.clear()
            if self._db is not None:
                self._db.execute("BEGIN")
                self._db.execute("DELETE FROM records")
                self._db.execute("DELETE FROM meta")
                self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        if self._db is not None:
            self._db.close()
            self._db = None
