"""Records of the org: in memory for speed, written through to SQLite under the data dir in batches.

Records are plain dicts keyed by field API name with JSON-native values (str/bool/float/int/None; dates
`YYYY-MM-DD`, datetimes `2024-01-31T10:00:00.000+0000`); every field of the sObject is present. A record
dict is never mutated after it is stored (writes replace it), so readers may keep references while
writers run. Writes happen inside `transaction()`; `savepoint()` scopes per-record rollback.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


class Store:
    """All records of the org, with external-id indexes and write-through persistence."""

    def __init__(self, schema: Schema, db_path: Path | None = None) -> None:
        self.schema = schema
        self.lock = threading.RLock()
        self._records: dict[str, dict[str, Record]] = {so.name: {} for so in schema.sobjects()}
        # (sobject, field) -> key -> id or set of ids (non-deleted records only)
        self._ext: dict[tuple[str, str], dict[Any, str | set[str]]] = {}
        self._ext_fields: dict[str, list[Field]] = {}
        # (sobject, field) -> parent id -> child ids, for cascade-delete and derived-amount relationships
        self._children: dict[tuple[str, str], dict[str, set[str]]] = {}
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
        self._undo: list[tuple[str, str, Record | None]] | None = None
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

    # ------------------------------------------------------------------ reading

    def sobject_of(self, record_id: str) -> SObject | None:
        """The sObject type of an id (by key prefix)."""
        return self.schema.by_prefix(record_id[:3]) if record_id else None

    def get(self, record_id: str, *, include_deleted: bool = False) -> Record | None:
        """The record with this id (15 or 18 characters), or None (also for deleted records by default)."""
        canonical = ids.normalize(record_id)
        if canonical is None:
            return None
        so = self.schema.by_prefix(canonical[:3])
        if so is None:
            return None
        rec = self._records[so.name].get(canonical)
        if rec is None or (rec.get("IsDeleted") and not include_deleted):
            return None
        return rec

    def scan(self, sobject: str, include_deleted: bool = False) -> Iterator[Record]:
        """Every record of an sObject type (a stable snapshot: concurrent writes do not disturb it)."""
        so = self.schema.sobject(sobject)
        if so is None:
            return
        for rec in list(self._records[so.name].values()):
            if include_deleted or not rec.get("IsDeleted"):
                yield rec

    def count(self, sobject: str) -> int:
        """How many live records an sObject type has."""
        return sum(1 for _ in self.scan(sobject))

    def find_by_external_id(self, sobject: str, field: str, value: Any) -> list[str]:
        """Ids of live records whose `field` equals `value` (external id / unique fields use an index)."""
        so = self.schema.sobject(sobject)
        f = so.field(field) if so else None
        if so is None or f is None:
            return []
        index = self._ext.get((so.name, f.name))
        if index is not None:
            hit = index.get(ext_key(f, value))
            if hit is None:
                return []
            return [hit] if isinstance(hit, str) else sorted(hit)
        if f.type == "id":
            rec = self.get(str(value))
            return [rec["Id"]] if rec is not None and rec["Id"].startswith(so.key_prefix) else []
        return [r["Id"] for r in self.scan(so.name) if r.get(f.name) == value]

    def children(self, sobject: str, field: str, parent_id: str) -> list[str]:
        """Live child ids whose `field` points at `parent_id` (indexed for cascade and hierarchy fields)."""
        index = self._children.get((sobject, field))
        if index is not None:
            return sorted(index.get(parent_id, ()))
        return [r["Id"] for r in self.scan(sobject) if r.get(field) == parent_id]

    def snapshot(self) -> dict[str, list[Record]]:
        """Every record of every object (deleted ones included), sorted by id."""
        return {name: [recs[k] for k in sorted(recs)] for name, recs in sorted(self._records.items()) if recs}

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
        table = self._records[so.name]
        old = table.get(record["Id"])
        self._undo.append((so.name, record["Id"], old))
        if old is not None:
            self._unindex(so, old)
        table[record["Id"]] = record
        self._index(so, record)

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
                self._persist({(name, rid) for name, rid, _ in undo})

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
            table = self._records[name]
            current = table.get(rid)
            if current is not None:
                self._unindex(so, current)
            if old is None:
                table.pop(rid, None)
            else:
                table[rid] = old
                self._index(so, old)

    def _index(self, so: SObject, rec: Record) -> None:
        if rec.get("IsDeleted"):
            return
        for f in self._ext_fields[so.name]:
            value = rec.get(f.name)
            if value is None or value == "":
                continue
            index = self._ext[(so.name, f.name)]
            key = ext_key(f, value)
            hit = index.get(key)
            if hit is None:
                index[key] = rec["Id"]
            elif isinstance(hit, str):
                if hit != rec["Id"]:
                    index[key] = {hit, rec["Id"]}
            else:
                hit.add(rec["Id"])
        for f in self._child_fields[so.name]:
            parent = rec.get(f.name)
            if parent:
                self._children[(so.name, f.name)].setdefault(parent, set()).add(rec["Id"])
        if so.name == "PricebookEntry":
            self.entry_key[(rec["Pricebook2Id"], rec["Product2Id"], rec["CurrencyIsoCode"])] = rec["Id"]

    def _unindex(self, so: SObject, rec: Record) -> None:
        if rec.get("IsDeleted"):
            return
        for f in self._ext_fields[so.name]:
            value = rec.get(f.name)
            if value is None or value == "":
                continue
            index = self._ext[(so.name, f.name)]
            key = ext_key(f, value)
            hit = index.get(key)
            if hit == rec["Id"]:
                del index[key]
            elif isinstance(hit, set):
                hit.discard(rec["Id"])
                if len(hit) == 1:
                    index[key] = next(iter(hit))
        for f in self._child_fields[so.name]:
            parent = rec.get(f.name)
            if parent:
                kids = self._children[(so.name, f.name)].get(parent)
                if kids is not None:
                    kids.discard(rec["Id"])
        if so.name == "PricebookEntry":
            key = (rec["Pricebook2Id"], rec["Product2Id"], rec["CurrencyIsoCode"])
            if self.entry_key.get(key) == rec["Id"]:
                del self.entry_key[key]

    # ------------------------------------------------------------------ persistence

    def _persist(self, touched: set[tuple[str, str]]) -> None:
        if self._db is None:
            return
        gone = [(rid,) for name, rid in touched if rid not in self._records[name]]
        # A generator keeps only one encoded record in memory at a time, however big the job.
        rows = (
            (rid, name, _encode(rec))
            for name, rid in touched
            if (rec := self._records[name].get(rid)) is not None
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
            self._records[so.name][rid] = rec
            self._index(so, rec)
            loaded += 1
        logger.info("loaded %d records from the sandbox database", loaded)

    def is_empty(self) -> bool:
        """Whether the store holds no record at all."""
        return not any(self._records.values())

    def clear(self) -> None:
        """Drop every record, index and counter (memory and database)."""
        with self.lock:
            for table in self._records.values():
                table.clear()
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
