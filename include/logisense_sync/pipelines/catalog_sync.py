"""Catalogue sync: LogiSense price books and packages → Salesforce, in four stages sharing a run folder.

``extract`` (LogiSense → parquet) → ``plan`` (transform, validate, read Salesforce, diff → parquet) →
``load`` (writes, parents before children) → ``report``. Each stage reads the previous one's files from
``run_dir`` and returns a small JSON-safe summary, so an orchestrator can run the stages as separate tasks
without large frames passing through it (:func:`sync_catalog` runs all four in one process).

State: the diff is always against Salesforce as it is now; nothing cached decides what is written. One small
file per object in ``state_dir`` keeps the hash of each record as last synced, used only to tell drift (a
hand edit in Salesforce, LogiSense unchanged) from a LogiSense change; ``full_refresh`` ignores it (every
difference then counts as an update) and also widens the run to every price book.

Narrowed runs (``price_book_ids``): the named books and, for the products and currencies they sell, the
standard book's entries and lines. Only the named books' entries and lines are deactivated or deleted when
they disappear; fallback standard entries (no LogiSense standard price) are created but never re-priced there.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from logisense_sync.clients.salesforce import NOT_PROCESSED, RequestLimitExceeded, SalesforceClient
from logisense_sync.clients.soql import format_soql, identifier
from logisense_sync.extract.catalog import prefetched, write_catalog
from logisense_sync.pipelines.catalog_shards import (
    SHARD_ENTRIES,
    key_pf,
    read_current,
    read_extracted,
    shard_count,
    stash_current,
)
from logisense_sync.pipelines.report import SyncReport
from logisense_sync.transforms.catalog import (
    CREATE_ONLY,
    FIELDS,
    FINDING_COLUMNS,
    KEY,
    OBJECTS,
    SOURCE_COLUMNS,
    CatalogConfig,
    CatalogRecords,
    duplicate_skus,
    transform_catalog,
)
from logisense_sync.transforms.catalog_diff import diff_records, diff_standard_book, record_hash

log = logging.getLogger(__name__)

NAME = "logisense_catalog_sync"
IN_CHUNK = 300
SAMPLE_ROWS = 5
RESULT_COLUMNS = ["object", "op", KEY, "Id", "success", "error_code", "message"]


@dataclass(frozen=True)
class SyncOptions:
    """Run options (the DAG params).

    Attributes:
        price_book_ids: LogiSense price books to sync; empty = all.
        full_refresh: widen to every book and ignore the drift state.
        dry_run: plan and report, write nothing.
    """

    price_book_ids: tuple[int, ...] = ()
    full_refresh: bool = False
    dry_run: bool = False

    @property
    def narrowed(self) -> frozenset[int] | None:
        """The books a narrowed run covers, or None for the whole catalogue."""
        if self.price_book_ids and not self.full_refresh:
            return frozenset(self.price_book_ids)
        return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=str, indent=1))
    tmp.replace(path)


def _read_json(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return result


# ---------------------------------------------------------------------------------------------- extract


#: The big resources (millions of rows) are read with a Search projection of only what the transform reads:
#: a third of the JSON to send, decode and store. Smaller ones are read whole, so a property the sandbox does
#: not model but a tenant may send (``packageCategoryName``) still arrives.
_PROJECTED = {
    route: SOURCE_COLUMNS[route]
    for route in (
        "Package/Frequency/Currency",
        "Package/Service/PricePlan",
        "Package/Service/PricePlan/Recurring",
        "Package/Service/PricePlan/OneTime",
    )
}


def extract_catalog(client: Any, run_dir: Path, options: SyncOptions) -> dict[str, Any]:
    """Read the LogiSense catalogue (narrowed to the run's books) into ``run_dir/extract``.

    Args:
        client: a :class:`~logisense_sync.clients.logisense.LogiSenseClient`.
        run_dir: the run folder.
        options: run options.

    Returns:
        Summary: rows per frame, LogiSense API calls, seconds.
    """
    started = time.monotonic()
    calls = int(getattr(client, "request_count", 0))
    books = sorted(options.narrowed) if options.narrowed else None
    rows = write_catalog(client, run_dir / "extract", books, fields=_PROJECTED)
    summary = {
        "rows": rows,
        "logisense_calls": int(getattr(client, "request_count", 0)) - calls,
        "seconds": round(time.monotonic() - started, 2),
    }
    _write_json(run_dir / "extract.json", summary)
    return summary


# ---------------------------------------------------------------------------------------------- read SF


def _in_chunks(values: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(set(values))
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def _soql(fields: Sequence[str], sobject: str, where: str) -> str:
    # Names are checked by identifier(); ``where`` is always format_soql output (values quoted).
    return (
        "SELECT "
        + ", ".join(identifier(f) for f in fields)
        + " FROM "
        + identifier(sobject)
        + " WHERE "
        + where
    )


def _select(sf: SalesforceClient, fields: Sequence[str], sobject: str, where: str) -> pd.DataFrame:
    return sf.query_frame(_soql(fields, sobject, where))


def _select_keys(
    sf: SalesforceClient, fields: Sequence[str], sobject: str, keys: Iterable[str]
) -> pd.DataFrame:
    wanted = set(keys)
    if len(wanted) > 10 * IN_CHUNK:  # cheaper to read every integrated record (Bulk) than many IN queries
        frame = _select(sf, fields, sobject, "LogiSense_Id__c != null")
        return frame.loc[frame[KEY].isin(wanted)].reset_index(drop=True)
    parts = [
        _select(sf, fields, sobject, format_soql("LogiSense_Id__c IN {}", chunk))
        for chunk in _in_chunks(wanted)
    ]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in fields})
    return pd.concat(parts, ignore_index=True)


def _select_in(
    sf: SalesforceClient, fields: Sequence[str], sobject: str, column: str, ids: Iterable[str]
) -> pd.DataFrame:
    parts = [
        _select(
            sf,
            fields,
            sobject,
            "LogiSense_Id__c != null AND " + identifier(column) + format_soql(" IN {}", chunk),
        )
        for chunk in _in_chunks(ids)
    ]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in fields})
    return pd.concat(parts, ignore_index=True)


def salesforce_currencies(sf: SalesforceClient) -> frozenset[str]:
    """ISO codes of the active Salesforce currencies (``CurrencyType``)."""
    return frozenset(
        str(r["IsoCode"]) for r in sf.query("SELECT IsoCode FROM CurrencyType WHERE IsActive = true")
    )


# ---------------------------------------------------------------------------------------------- plan


def plan_catalog(
    sf: SalesforceClient,
    run_dir: Path,
    options: SyncOptions,
    *,
    as_of: dt.datetime,
    state_dir: Path | None = None,
    shard_entries: int = SHARD_ENTRIES,
) -> dict[str, Any]:
    """Transform the extracted catalogue, read Salesforce, and write the plan to ``run_dir/plan``.

    A full run plans in shards of about ``shard_entries`` price book entries (:mod:`.catalog_shards`), one
    folder ``plan/<shard>`` each; a narrowed run is small and planned as one shard.

    Args:
        sf: Salesforce client.
        run_dir: the run folder (``extract`` must be there).
        options: run options.
        as_of: the instant package windows are judged at.
        state_dir: where last-synced hashes live (None = no drift detection).
        shard_entries: price book entries per shard.

    Returns:
        Summary: planned counts per object and operation, unchanged, drift, skipped, samples, API calls.
    """
    started = time.monotonic()
    calls = sf.usage.calls
    extract_dir = run_dir / "extract"
    books = options.narrowed
    entries = int(_read_json(run_dir / "extract.json").get("rows", {}).get("frequency_currencies", 0))
    shards = 1 if books is not None else shard_count(entries, shard_entries)
    freqs = pd.read_parquet(extract_dir / "package_frequencies.parquet", columns=["sku"])
    config = CatalogConfig(
        as_of=as_of,
        currencies=salesforce_currencies(sf),
        price_book_ids=books,
        duplicate_skus=duplicate_skus(freqs),
    )
    pb_fields = ["Id", KEY, "Name", "Description", "IsActive", "IsStandard"]
    pb_now = _select(sf, pb_fields, "Pricebook2", "LogiSense_Id__c != null OR IsStandard = true")
    if books is None:
        for obj, fields in _current_fields().items():
            soql = _soql(fields, obj, "LogiSense_Id__c != null")
            stash_current(sf, soql, run_dir / "current" / obj, shards)
    plan_dir = run_dir / "plan"
    shutil.rmtree(plan_dir, ignore_errors=True)
    totals = _PlanTotals()
    refs: set[str] | None = None
    for shard in range(shards):
        records = transform_catalog(read_extracted(extract_dir, shard, shards), config)
        if books is None:
            now = {
                obj: read_current(run_dir / "current" / obj, shard, f) for obj, f in _current_fields().items()
            }
        else:
            now = _current_narrowed(sf, records, pb_now, books)
        state = {} if options.full_refresh or state_dir is None else load_state(state_dir, shard, shards)
        plans, sizes = _plan_shard(records, pb_now, now, state, books, with_books=shard == 0)
        if (plans["Product_Service__c"]["op"] == "delete").any():
            refs = _referenced_lines(sf) if refs is None else refs
            plans["Product_Service__c"] = _keep_referenced(plans["Product_Service__c"], refs, totals.notes)
        totals.add(shard, plans, records, sizes, plan_dir / f"{shard:04d}")
        log.info("catalogue plan shard %d of %d: %s", shard + 1, shards, totals.planned)
    shutil.rmtree(run_dir / "current", ignore_errors=True)
    totals.findings_frame().to_parquet(plan_dir / "findings.parquet", index=False)
    summary = totals.summary()
    summary["shards"] = shards
    summary["salesforce_calls"] = sf.usage.calls - calls
    summary["seconds"] = round(time.monotonic() - started, 2)
    summary["options"] = {**asdict(options), "price_book_ids": list(options.price_book_ids)}
    _write_json(run_dir / "plan.json", summary)
    log.info("catalogue plan: %s (skipped %d)", summary["planned"], summary["skipped_total"])
    return summary


def _current_fields() -> dict[str, list[str]]:
    return {
        "Product2": ["Id", KEY, *FIELDS["Product2"]],
        "PricebookEntry": ["Id", KEY, "Pricebook2Id", *FIELDS["PricebookEntry"]],
        "Product_Service__c": ["Id", KEY, *FIELDS["Product_Service__c"]],
    }


def _standard_book(pb_now: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    std_rows = pb_now.loc[pb_now["IsStandard"].astype(str).str.lower() == "true"]
    return std_rows, (str(std_rows["Id"].iloc[0]) if len(std_rows) else None)


def _current_narrowed(
    sf: SalesforceClient, records: CatalogRecords, pb_now: pd.DataFrame, books: frozenset[int]
) -> dict[str, pd.DataFrame]:
    """The integrated Salesforce records a narrowed run covers: its books' entries and lines, its products,
    and (when the standard book is not one of them) the standard entries and lines of its products."""
    fields = _current_fields()
    desired = records.frames
    _, std_sf_id = _standard_book(pb_now)
    std_key = f"pb:{records.standard_book_id}" if records.standard_book_id is not None else None
    sf_book_ids = dict(zip(pb_now[KEY].astype(str), pb_now["Id"].astype(str), strict=True))
    if std_key and std_sf_id:
        sf_book_ids[std_key] = std_sf_id
    std_in_scope = records.standard_book_id in books
    entries, lines = desired["PricebookEntry"], desired["Product_Service__c"]
    pr_now = _select_keys(sf, fields["Product2"], "Product2", desired["Product2"][KEY])
    scope_ids = [sf_book_ids[k] for k in desired["Pricebook2"][KEY] if k in sf_book_ids and k != std_key]
    if std_in_scope and std_sf_id:
        scope_ids.append(std_sf_id)
    pe_now = _select_in(sf, fields["PricebookEntry"], "PricebookEntry", "Pricebook2Id", scope_ids)
    ps_now = _select_in(sf, fields["Product_Service__c"], "Product_Service__c", "Pricebook__c", scope_ids)
    if not std_in_scope:
        std_keys = entries.loc[entries["IsStandard"].astype(bool), KEY]
        pe_now = pd.concat(
            [pe_now, _select_keys(sf, fields["PricebookEntry"], "PricebookEntry", std_keys)],
            ignore_index=True,
        )
        std_line_keys = lines.loc[lines["Pricebook__r.LogiSense_Id__c"] == std_key, KEY]
        ps_now = pd.concat(
            [ps_now, _select_keys(sf, fields["Product_Service__c"], "Product_Service__c", std_line_keys)],
            ignore_index=True,
        )
    return {"Product2": pr_now, "PricebookEntry": pe_now, "Product_Service__c": ps_now}


def _plan_shard(
    records: CatalogRecords,
    pb_now: pd.DataFrame,
    now: dict[str, pd.DataFrame],
    state: dict[str, pd.Series],
    books: frozenset[int] | None,
    *,
    with_books: bool,
) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Diff one shard's desired records against Salesforce: the plan per object and the current sizes."""
    desired = records.frames
    std_rows, std_sf_id = _standard_book(pb_now)
    pb_custom_now = pb_now.loc[pb_now["IsStandard"].astype(str).str.lower() != "true"]
    desired_books = desired["Pricebook2"]
    if books is not None:
        pb_custom_now = pb_custom_now.loc[pb_custom_now[KEY].isin(desired_books[KEY])]
    plans: dict[str, pd.DataFrame] = {}
    if with_books:  # Pricebook2: tag the standard book, then the others
        tag = diff_standard_book(desired_books, pb_now)
        pb_plan = diff_records(
            "Pricebook2",
            desired_books.loc[~desired_books["IsStandard"].astype(bool)],
            pb_custom_now,
            skipped=records.skipped["Pricebook2"],
            state=state.get("Pricebook2"),
        )
        pb_plan = pd.concat([tag, pb_plan], ignore_index=True) if len(tag) else pb_plan
    else:
        pb_plan = diff_records("Pricebook2", desired_books.head(0), pb_custom_now.head(0))
    plans["Pricebook2"] = pb_plan.assign(part="book")
    plans["Product2"] = diff_records(
        "Product2",
        desired["Product2"],
        now["Product2"],
        skipped=records.skipped["Product2"],
        state=state.get("Product2"),
    ).assign(part="product")

    entries, pe_now = desired["PricebookEntry"], now["PricebookEntry"]
    std_in_scope = books is None or (records.standard_book_id in books)
    is_std = entries["IsStandard"].astype(bool)
    pe_std_now = pe_now.loc[pe_now["Pricebook2Id"].astype(str) == str(std_sf_id)]
    pe_custom_now = pe_now.loc[pe_now["Pricebook2Id"].astype(str) != str(std_sf_id)]
    no_update = set(entries.loc[is_std & entries["Fallback"].astype(bool), KEY]) if not std_in_scope else None
    std_plan = diff_records(
        "PricebookEntry",
        entries.loc[is_std],
        pe_std_now,
        skipped=records.skipped["PricebookEntry"],
        state=state.get("PricebookEntry"),
        no_update=no_update,
    ).assign(part="standard")
    custom_plan = diff_records(
        "PricebookEntry",
        entries.loc[~is_std],
        pe_custom_now,
        skipped=records.skipped["PricebookEntry"],
        state=state.get("PricebookEntry"),
    ).assign(part="custom")
    std_plan = _hold_standard_entries(std_plan, custom_plan, entries.loc[is_std], pe_std_now)
    plans["PricebookEntry"] = pd.concat([std_plan, custom_plan], ignore_index=True)
    plans["Product_Service__c"] = diff_records(
        "Product_Service__c",
        desired["Product_Service__c"],
        now["Product_Service__c"],
        skipped=records.skipped["Product_Service__c"],
        state=state.get("Product_Service__c"),
    ).assign(part="line")
    sizes = {
        "Pricebook2": len(pb_custom_now) + len(std_rows) if with_books else 0,
        "Product2": len(now["Product2"]),
        "PricebookEntry": len(pe_now),
        "Product_Service__c": len(now["Product_Service__c"]),
    }
    return plans, sizes


def _referenced_lines(sf: SalesforceClient) -> set[str]:
    """Ids of the integrated Product_Service__c lines an opportunity references."""
    refs = _select(
        sf,
        ["Product_Service__c"],
        "Opportunity_Product_Service__c",
        "Product_Service__r.LogiSense_Id__c != null",
    )
    return set(refs["Product_Service__c"].dropna().astype(str))


def _keep_referenced(plan: pd.DataFrame, refs: set[str], notes: list[str]) -> pd.DataFrame:
    used = plan["Id"].isin(refs) & (plan["op"] == "delete")
    if not used.any():
        return plan
    notes.append(
        f"{int(used.sum())} Product_Service__c line(s) no longer in LogiSense are kept: "
        "opportunities reference them (Opportunity_Product_Service__c)"
    )
    return plan.loc[~used]


@dataclass
class _PlanTotals:
    """What the plan summary adds up over the shards (counts, a few sample rows, the findings)."""

    planned: dict[str, dict[str, int]] = field(default_factory=lambda: {obj: {} for obj in OBJECTS})
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OBJECTS, 0))
    drift: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OBJECTS, 0))
    samples: dict[str, dict[str, list[Any]]] = field(default_factory=lambda: {obj: {} for obj in OBJECTS})
    findings: list[pd.DataFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        shard: int,
        plans: dict[str, pd.DataFrame],
        records: CatalogRecords,
        sizes: dict[str, int],
        folder: Path,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        desired = records.frames
        for obj in OBJECTS:
            plan = plans[obj]
            plan.to_parquet(folder / f"{obj}.parquet", index=False)
            for op, n in plan["op"].value_counts().items():
                self.planned[obj][str(op)] = self.planned[obj].get(str(op), 0) + int(n)
            changed = int(plan["op"].isin(["update", "tag"]).sum())
            in_both = len(desired[obj]) - int((plan["op"] == "create").sum())
            if obj == "Pricebook2" and shard:
                in_both = 0
            self.unchanged[obj] += max(0, in_both - changed) if sizes[obj] else 0
            self.drift[obj] += int(plan["drift"].sum())
            for op, rows in plan.groupby("op", sort=False):
                taken = self.samples[obj].setdefault(str(op), [])
                if len(taken) < SAMPLE_ROWS:
                    more = rows.head(SAMPLE_ROWS - len(taken)).drop(columns=["part"])
                    taken += json.loads(more.to_json(orient="records"))
            mine = desired[obj] if obj != "Pricebook2" or shard == 0 else desired[obj].head(0)
            hashes = pd.DataFrame(
                {
                    KEY: mine[KEY].to_numpy(),
                    "hash": record_hash(mine, obj).to_numpy(),
                    "pf": key_pf(mine[KEY]),
                }
            )
            hashes.to_parquet(folder / f"{obj}.hash.parquet", index=False)
        if len(records.findings):
            self.findings.append(records.findings)

    def findings_frame(self) -> pd.DataFrame:
        return (
            pd.concat(self.findings, ignore_index=True)
            if self.findings
            else pd.DataFrame(columns=FINDING_COLUMNS)
        )

    def summary(self) -> dict[str, Any]:
        findings = self.findings_frame()
        return {
            "planned": self.planned,
            "unchanged": self.unchanged,
            "drift": self.drift,
            "samples": self.samples,
            "notes": self.notes,
            "skipped_total": len(findings),
            "skipped": findings.head(50).to_dict(orient="records"),
        }


def _pair(keys: pd.Series) -> pd.Series:
    """``pbe:{book}:{pf}:{CUR}`` → ``{pf}:{CUR}`` (product and currency of an entry key)."""
    parts = keys.astype(str).str.split(":", n=2)
    return parts.str[2].astype(object)


def _hold_standard_entries(
    std_plan: pd.DataFrame, custom_plan: pd.DataFrame, std_desired: pd.DataFrame, std_now: pd.DataFrame
) -> pd.DataFrame:
    """Keep an inactive standard entry active while custom entries for its product and currency are created.

    Salesforce creates a custom-book entry only when an active standard entry exists for the same product and
    currency (else ``STANDARD_PRICE_NOT_DEFINED``). A standard entry meant to be inactive (fallback price, or
    an inactive product) is therefore created active or re-activated (``hold``) before those creates and set
    inactive again afterwards (``release``). Runs that create no custom entry write none of this.
    """
    creates = custom_plan.loc[custom_plan["op"] == "create", KEY]
    if creates.empty:
        return std_plan
    needed = set(_pair(creates))
    inactive = std_desired.loc[~std_desired["IsActive"].astype(bool)]
    hold_keys = set(inactive.loc[_pair(inactive[KEY]).isin(needed).to_numpy(), KEY])
    if not hold_keys:
        return std_plan
    plan = std_plan.copy()
    touched = plan[KEY].isin(hold_keys) & plan["op"].isin(["create", "update"])
    plan.loc[touched, "IsActive"] = True
    now_active = (
        std_now.set_index(KEY)["IsActive"].astype(str).str.lower() == "true" if len(std_now) else None
    )
    untouched = sorted(hold_keys - set(plan.loc[touched, KEY]))
    hold = [k for k in untouched if now_active is None or not bool(now_active.get(k, False))]
    extra = [
        pd.DataFrame({"op": "hold", KEY: hold, "Id": None, "IsActive": True, "changed": "", "drift": False}),
        pd.DataFrame(
            {
                "op": "release",
                KEY: sorted(hold_keys),
                "Id": None,
                "IsActive": False,
                "changed": "",
                "drift": False,
            }
        ),
    ]
    return pd.concat([plan, *[e.assign(part="standard") for e in extra if len(e)]], ignore_index=True)


# ---------------------------------------------------------------------------------------------- state


_STATE_SCHEMA = pa.schema(
    [(KEY, pa.large_string()), ("hash", pa.uint64()), ("pf", pa.int64()), ("shard", pa.int32())]
)


def load_state(state_dir: Path, shard: int = 0, shards: int = 1) -> dict[str, pd.Series]:
    """Last-synced hashes per object (key → hash) for one plan shard; missing files mean no state."""
    state: dict[str, pd.Series] = {}
    for obj in OBJECTS:
        table = _state_part(state_dir / f"{obj}.parquet", shard, shards)
        if table is not None:
            frame = table.select([KEY, "hash"]).to_pandas()
            state[obj] = pd.Series(frame["hash"].to_numpy(), index=frame[KEY].to_numpy())
    return state


def _state_part(path: Path, shard: int, shards: int) -> pa.Table | None:
    """One shard of a state file: a row-group read when the file was written with this many shards."""
    if not path.exists():
        return None
    metadata = pq.read_schema(path).metadata or {}
    if metadata.get(b"shards") == str(shards).encode():
        return pq.read_table(path, filters=[("shard", "==", shard)]).cast(_STATE_SCHEMA)
    table = pq.read_table(path)  # an older file, or the catalogue now has another shard count
    pf = table["pf"].to_numpy() if "pf" in table.column_names else key_pf(table[KEY].to_pandas())
    rows = _state_rows(table, pf, pf % shards)
    return rows.filter(pc.equal(rows["shard"], shard))


def _state_rows(hashes: pa.Table, pf: np.ndarray, shard: np.ndarray | int) -> pa.Table:
    """Key, hash, package frequency and shard columns, in the state file's types."""
    shards = np.broadcast_to(np.asarray(shard, dtype="int32"), (hashes.num_rows,))
    keys = hashes[KEY].cast(pa.large_string())
    columns = [keys, hashes["hash"].cast(pa.uint64()), pa.array(pf, pa.int64()), pa.array(shards)]
    return pa.Table.from_arrays(columns, schema=_STATE_SCHEMA)


def _save_state(state_dir: Path, run_dir: Path, failed: dict[str, set[str]], shards: int) -> None:
    """Record the hashes of what this run planned (minus failed records) over the old state, shard by shard,
    one row group per shard (so a plan shard reads only its own)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    schema = _STATE_SCHEMA.with_metadata({"shards": str(shards)})
    for obj in OBJECTS:
        path = state_dir / f"{obj}.parquet"
        tmp = path.with_suffix(".tmp")
        bad = pa.array(sorted(failed.get(obj, set())), pa.large_string())
        with pq.ParquetWriter(tmp, schema) as writer:
            for shard in range(shards):
                hashes_path = run_dir / "plan" / f"{shard:04d}" / f"{obj}.hash.parquet"
                parts: list[pa.Table] = []
                if hashes_path.exists():
                    fresh = pq.read_table(hashes_path)
                    fresh = _state_rows(fresh, fresh["pf"].to_numpy(), shard)
                    parts.append(fresh.filter(pc.invert(pc.is_in(fresh[KEY], value_set=bad))))
                old = _state_part(path, shard, shards)
                if old is not None:
                    superseded = pc.is_in(
                        old[KEY], value_set=pa.concat_arrays([bad, *[p[KEY].combine_chunks() for p in parts]])
                    )
                    parts.append(old.filter(pc.invert(superseded)))
                if parts:
                    writer.write_table(pa.concat_tables(parts).replace_schema_metadata(schema.metadata))
        tmp.replace(path)


# ---------------------------------------------------------------------------------------------- load


@dataclass(frozen=True)
class _Step:
    obj: str
    part: str
    ops: tuple[str, ...]
    method: str  # "upsert" | "update" | "delete"


_STEPS = (
    _Step("Pricebook2", "book", ("tag",), "update"),
    _Step("Pricebook2", "book", ("create", "update"), "upsert"),
    _Step("Product2", "product", ("create", "update"), "upsert"),
    _Step("PricebookEntry", "standard", ("create",), "upsert"),
    _Step("PricebookEntry", "standard", ("update",), "update"),
    _Step("PricebookEntry", "standard", ("hold",), "upsert"),
    _Step("PricebookEntry", "custom", ("create",), "upsert"),
    _Step("PricebookEntry", "custom", ("update",), "update"),
    _Step("PricebookEntry", "standard", ("release",), "upsert"),
    _Step("Product_Service__c", "line", ("create",), "upsert"),
    _Step("Product_Service__c", "line", ("update",), "update"),
    _Step("Product_Service__c", "line", ("delete",), "delete"),
    _Step("PricebookEntry", "custom", ("deactivate",), "update"),
    _Step("PricebookEntry", "standard", ("deactivate",), "update"),
    _Step("Product2", "product", ("deactivate",), "update"),
    _Step("Pricebook2", "book", ("deactivate",), "update"),
)


def _payload(step: _Step, rows: pd.DataFrame) -> pd.DataFrame:
    fields = list(FIELDS[step.obj])
    if step.ops == ("tag",):
        return rows[["Id", KEY]]
    if step.ops in (("hold",), ("release",)):
        return rows[[KEY, "IsActive"]]
    if step.method == "upsert":
        extra = [c for c in CREATE_ONLY[step.obj] if c in rows.columns] if "create" in step.ops else []
        return rows[[KEY, *fields, *extra]]
    if step.ops == ("deactivate",):
        return pd.DataFrame({"Id": rows["Id"], "IsActive": False}, index=rows.index)
    return rows[["Id", *fields]]


def load_catalog(sf: SalesforceClient, run_dir: Path, *, state_dir: Path | None = None) -> dict[str, Any]:
    """Write the plan in ``run_dir/plan`` to Salesforce, parents before children.

    Step by step (:data:`_STEPS`), the step's rows of every plan shard are gathered into batches that each
    fill a Bulk job (or go through sObject Collections when the whole step is small), so a sharded plan costs
    no more API calls than one big one. Creates (and Pricebook2/Product2 updates) are upserts on
    ``LogiSense_Id__c`` with relationship columns by external id; PricebookEntry/Product_Service__c updates
    send only updatable fields by ``Id``. Every outcome goes to ``load/results.parquet`` as it comes; failed
    and unprocessed rows are counted and the first ones kept for the report. A spent request limit stops the
    load: the rest is marked not processed.

    Args:
        sf: Salesforce client.
        run_dir: the run folder (``plan`` must be there).
        state_dir: where last-synced hashes are updated (None = none kept).

    Returns:
        Summary: done per object and operation, failed and not-processed counts, stop reason, API calls.
    """
    started = time.monotonic()
    calls = sf.usage.calls
    shard_dirs = sorted(p for p in (run_dir / "plan").iterdir() if p.is_dir())
    outcomes = _Outcomes(run_dir / "load" / "results.parquet")
    try:
        for step in _STEPS:
            # the next batch is read from the plan files while Salesforce processes this one
            for rows in prefetched(_step_batches(sf, step, shard_dirs)):
                if outcomes.stopped:
                    res = pd.DataFrame(
                        {"success": False, "error_code": NOT_PROCESSED, "message": outcomes.stopped},
                        index=rows.index,
                    )
                else:
                    log.info("%s %s %s: %d rows", step.obj, step.part, "/".join(step.ops), len(rows))
                    res = _write_step(sf, step, rows, outcomes)
                outcomes.add(step.obj, rows, res)
    finally:
        outcomes.close()
    if state_dir is not None:
        _save_state(state_dir, run_dir, outcomes.failed_keys, len(shard_dirs))
    summary = {
        "done": outcomes.done,
        "failed_total": outcomes.failed_total,
        "failed": outcomes.failed_rows,
        "not_processed": outcomes.not_processed,
        "stopped": outcomes.stopped,
        "salesforce_calls": sf.usage.calls - calls,
        "salesforce_usage": f"{sf.usage.used}/{sf.usage.limit}" if sf.usage.used is not None else None,
        "seconds": round(time.monotonic() - started, 2),
    }
    _write_json(run_dir / "load.json", summary)
    log.info(
        "catalogue load: done %s, failed %d, stopped %s",
        outcomes.done,
        outcomes.failed_total,
        outcomes.stopped,
    )
    return summary


def _step_batches(sf: SalesforceClient, step: _Step, shard_dirs: list[Path]) -> Iterator[pd.DataFrame]:
    """The step's rows over every shard, in batches of about one Bulk job each (one batch if it is small)."""
    pending: list[pd.DataFrame] = []
    size = 0
    per_job: int | None = None
    for folder in shard_dirs:
        path = folder / f"{step.obj}.parquet"
        ops = pd.read_parquet(path, columns=["part", "op"])  # two columns: most steps have no rows here
        wanted = ((ops["part"] == step.part) & ops["op"].isin(step.ops)).to_numpy()
        if not wanted.any():
            continue
        rows = pd.read_parquet(path).loc[wanted]
        per_job = per_job or int(sf.rows_per_bulk_job(_payload(step, rows)) * 0.95)
        pending.append(rows)
        size += len(rows)
        while size >= per_job and size > sf.bulk_threshold:
            batch = pd.concat(pending, ignore_index=True)
            yield batch.iloc[:per_job].reset_index(drop=True)
            pending, size = [batch.iloc[per_job:]], len(batch) - per_job
    if size:
        yield pd.concat(pending, ignore_index=True).reset_index(drop=True)


def _write_step(sf: SalesforceClient, step: _Step, rows: pd.DataFrame, outcomes: _Outcomes) -> pd.DataFrame:
    payload = _payload(step, rows)
    try:
        if step.method == "upsert":
            return sf.upsert(step.obj, KEY, payload)
        if step.method == "delete":
            return sf.delete(step.obj, list(payload["Id"].astype(str)))
        return sf.update(step.obj, payload)
    except RequestLimitExceeded as exc:
        outcomes.stopped = f"Salesforce request limit exceeded: {exc}"
        log.error("%s; stopping the load", outcomes.stopped)
        res = exc.results if exc.results is not None else pd.DataFrame(index=rows.index)
        res = res.reindex(rows.index)
        res["success"] = res["success"].fillna(False).astype(bool) if "success" in res else False
        res["error_code"] = res.get("error_code", pd.Series(index=rows.index, dtype=object)).fillna(
            NOT_PROCESSED
        )
        res["message"] = res.get("message", pd.Series(index=rows.index, dtype=object)).fillna(
            outcomes.stopped
        )
        res.loc[res["success"], ["error_code", "message"]] = None
        return res


_RESULT_SCHEMA = pa.schema([(c, pa.bool_() if c == "success" else pa.large_string()) for c in RESULT_COLUMNS])


class _Outcomes:
    """Every write's outcome, streamed to a parquet file, with the counts and first failures the report needs."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(path, _RESULT_SCHEMA)
        self.done: dict[str, dict[str, int]] = {}
        self.failed_total = 0
        self.failed_rows: list[dict[str, Any]] = []
        self.failed_keys: dict[str, set[str]] = {}
        self.not_processed: dict[str, int] = {}
        self.stopped: str | None = None

    def add(self, obj: str, rows: pd.DataFrame, res: pd.DataFrame) -> None:
        out = pd.DataFrame(
            {
                "object": obj,
                "op": rows["op"].to_numpy(),
                KEY: rows[KEY].to_numpy(),
                "Id": rows["Id"].to_numpy(),
                "success": res["success"].astype(bool).to_numpy(),
                "error_code": res["error_code"].to_numpy(),
                "message": res["message"].to_numpy(),
            }
        )
        text = {
            c: out[c].astype(object).where(out[c].notna(), None) for c in RESULT_COLUMNS if c != "success"
        }
        self.writer.write_table(
            pa.Table.from_pandas(out.assign(**text), schema=_RESULT_SCHEMA, preserve_index=False)
        )
        ok = out["success"]
        for op, n in out.loc[ok, "op"].value_counts().items():
            self.done.setdefault(obj, {})[str(op)] = self.done.get(obj, {}).get(str(op), 0) + int(n)
        skipped = ~ok & (out["error_code"] == NOT_PROCESSED)
        failed = ~ok & ~skipped
        if skipped.any():
            self.not_processed[obj] = self.not_processed.get(obj, 0) + int(skipped.sum())
        if (~ok).any():
            self.failed_keys.setdefault(obj, set()).update(out.loc[~ok, KEY].astype(str))
        if failed.any():
            self.failed_total += int(failed.sum())
            room = 50 - len(self.failed_rows)
            if room > 0:
                first = out.loc[failed].head(room)[["object", "op", KEY, "error_code", "message"]]
                self.failed_rows += [
                    {str(k): v for k, v in row.items()}
                    for row in first.rename(columns={KEY: "key"}).to_dict(orient="records")
                ]

    def close(self) -> None:
        self.writer.close()


# ---------------------------------------------------------------------------------------------- report


def build_report(run_dir: Path, *, run_id: str = "", error: str | None = None) -> SyncReport:
    """Assemble the run's :class:`SyncReport` from the stage summaries in ``run_dir``.

    Args:
        run_dir: the run folder.
        run_id: the run's id.
        error: why the run failed before finishing its stages, if it did.

    Returns:
        The report (also written to ``run_dir/report.json``).
    """
    extract = _read_json(run_dir / "extract.json")
    plan = _read_json(run_dir / "plan.json")
    load = _read_json(run_dir / "load.json")
    options = plan.get("options", {})
    report = SyncReport(
        name=NAME, run_id=run_id, dry_run=bool(options.get("dry_run", False)), options=options
    )
    for obj, ops in plan.get("planned", {}).items():
        report.planned[obj] = dict(ops)
    report.unchanged = dict(plan.get("unchanged", {}))
    report.drift = {k: v for k, v in plan.get("drift", {}).items() if v}
    report.add_skipped(list(plan.get("skipped", [])), int(plan.get("skipped_total", 0)))
    for obj, ops in load.get("done", {}).items():
        report.done[obj] = dict(ops)
    report.add_failed(list(load.get("failed", [])), int(load.get("failed_total", 0)))
    report.not_processed = dict(load.get("not_processed", {}))
    report.stopped = load.get("stopped")
    report.count_api_calls("logisense", int(extract.get("logisense_calls", 0)))
    report.count_api_calls(
        "salesforce", int(plan.get("salesforce_calls", 0)) + int(load.get("salesforce_calls", 0))
    )
    if load.get("salesforce_usage"):
        report.api_calls["salesforce_usage"] = load["salesforce_usage"]
    report.samples = plan.get("samples", {}) if report.dry_run else {}
    report.notes = list(plan.get("notes", []))
    if error:
        report.stopped = report.stopped or error
    report.api_calls["seconds"] = {
        "extract": extract.get("seconds"),
        "plan": plan.get("seconds"),
        "load": load.get("seconds"),
    }
    _write_json(run_dir / "report.json", report.to_dict())
    return report


def sync_catalog(
    logisense: Any,
    sf: SalesforceClient,
    run_dir: Path,
    options: SyncOptions,
    *,
    as_of: dt.datetime,
    state_dir: Path | None = None,
    shard_entries: int = SHARD_ENTRIES,
) -> SyncReport:
    """Run extract → plan → load → report in one process (benchmarks, scripts).

    Args:
        logisense: a LogiSense client.
        sf: a Salesforce client.
        run_dir: a fresh run folder.
        options: run options (``dry_run`` skips the load).
        as_of: the run instant.
        state_dir: drift state folder.
        shard_entries: price book entries per plan shard.

    Returns:
        The report (not raised: call :meth:`SyncReport.raise_if_failed`).
    """
    extract_catalog(logisense, run_dir, options)
    plan_catalog(sf, run_dir, options, as_of=as_of, state_dir=state_dir, shard_entries=shard_entries)
    if not options.dry_run:
        load_catalog(sf, run_dir, state_dir=state_dir)
    return build_report(run_dir)
