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
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from logisense_sync.clients.salesforce import NOT_PROCESSED, RequestLimitExceeded, SalesforceClient
from logisense_sync.clients.soql import format_soql, identifier
from logisense_sync.extract.catalog import CATALOG_RESOURCES, CatalogFrames, read_catalog
from logisense_sync.pipelines.report import SyncReport
from logisense_sync.transforms.catalog import (
    CREATE_ONLY,
    FIELDS,
    KEY,
    OBJECTS,
    SOURCE_COLUMNS,
    CatalogConfig,
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
    catalog = read_catalog(client, books)
    catalog.to_parquet(run_dir / "extract")
    summary = {
        "rows": catalog.row_counts(),
        "logisense_calls": int(getattr(client, "request_count", 0)) - calls,
        "seconds": round(time.monotonic() - started, 2),
    }
    _write_json(run_dir / "extract.json", summary)
    return summary


def catalog_routes(catalog: CatalogFrames) -> dict[str, pd.DataFrame]:
    """The catalogue frames keyed by LogiSense route, as :func:`transform_catalog` takes them."""
    return {spec.route: getattr(catalog, spec.attr) for spec in CATALOG_RESOURCES}


def read_extracted(directory: Path) -> dict[str, pd.DataFrame]:
    """The extracted frames keyed by route, with only the columns the transform reads (less memory).

    Args:
        directory: where :meth:`CatalogFrames.to_parquet` wrote.

    Returns:
        Route → frame (routes the transform does not read are left out).
    """
    import pyarrow.parquet as pq

    frames: dict[str, pd.DataFrame] = {}
    for spec in CATALOG_RESOURCES:
        wanted = SOURCE_COLUMNS.get(spec.route)
        if wanted is None:
            continue
        path = directory / f"{spec.attr}.parquet"
        present = set(pq.read_schema(path).names)
        frames[spec.route] = pd.read_parquet(path, columns=[c for c in wanted if c in present])
    return frames


# ---------------------------------------------------------------------------------------------- read SF


def _in_chunks(values: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(set(values))
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def _select(sf: SalesforceClient, fields: Sequence[str], sobject: str, where: str) -> pd.DataFrame:
    # Names are checked by identifier(); ``where`` is always format_soql output (values quoted).
    soql = (
        "SELECT "
        + ", ".join(identifier(f) for f in fields)
        + " FROM "
        + identifier(sobject)
        + " WHERE "
        + where
    )
    return sf.query_frame(soql)


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
) -> dict[str, Any]:
    """Transform the extracted catalogue, read Salesforce, and write the plan to ``run_dir/plan``.

    Args:
        sf: Salesforce client.
        run_dir: the run folder (``extract`` must be there).
        options: run options.
        as_of: the instant package windows are judged at.
        state_dir: where last-synced hashes live (None = no drift detection).

    Returns:
        Summary: planned counts per object and operation, unchanged, drift, skipped, samples, API calls.
    """
    started = time.monotonic()
    calls = sf.usage.calls
    currencies = salesforce_currencies(sf)
    books = options.narrowed
    records = transform_catalog(
        read_extracted(run_dir / "extract"),
        CatalogConfig(as_of=as_of, currencies=currencies, price_book_ids=books),
    )
    desired = records.frames
    std_key = f"pb:{records.standard_book_id}" if records.standard_book_id is not None else None

    # current Salesforce state, in scope
    pb_fields = ["Id", KEY, "Name", "Description", "IsActive", "IsStandard"]
    pb_now = _select(sf, pb_fields, "Pricebook2", "LogiSense_Id__c != null OR IsStandard = true")
    std_rows = pb_now.loc[pb_now["IsStandard"].astype(str).str.lower() == "true"]
    std_sf_id = str(std_rows["Id"].iloc[0]) if len(std_rows) else None
    pb_custom_now = pb_now.loc[pb_now["IsStandard"].astype(str).str.lower() != "true"]
    desired_books = desired["Pricebook2"]
    if books is not None:
        pb_custom_now = pb_custom_now.loc[pb_custom_now[KEY].isin(desired_books[KEY])]
    sf_book_ids = dict(zip(pb_now[KEY].astype(str), pb_now["Id"].astype(str), strict=True))
    if std_key and std_sf_id:
        sf_book_ids[std_key] = std_sf_id

    pr_fields = ["Id", KEY, *FIELDS["Product2"]]
    pe_fields = ["Id", KEY, "Pricebook2Id", *FIELDS["PricebookEntry"]]
    ps_fields = ["Id", KEY, *FIELDS["Product_Service__c"]]
    entries = desired["PricebookEntry"]
    lines = desired["Product_Service__c"]
    std_in_scope = books is None or (records.standard_book_id in books)
    if books is None:
        pr_now = _select(sf, pr_fields, "Product2", "LogiSense_Id__c != null")
        pe_now = _select(sf, pe_fields, "PricebookEntry", "LogiSense_Id__c != null")
        ps_now = _select(sf, ps_fields, "Product_Service__c", "LogiSense_Id__c != null")
    else:
        pr_now = _select_keys(sf, pr_fields, "Product2", desired["Product2"][KEY])
        scope_ids = [sf_book_ids[k] for k in desired_books[KEY] if k in sf_book_ids and k != std_key]
        if std_in_scope and std_sf_id:
            scope_ids.append(std_sf_id)
        pe_now = _select_in(sf, pe_fields, "PricebookEntry", "Pricebook2Id", scope_ids)
        ps_now = _select_in(sf, ps_fields, "Product_Service__c", "Pricebook__c", scope_ids)
        if not std_in_scope:
            std_keys = entries.loc[entries["IsStandard"].astype(bool), KEY]
            pe_now = pd.concat(
                [pe_now, _select_keys(sf, pe_fields, "PricebookEntry", std_keys)], ignore_index=True
            )
            std_line_keys = lines.loc[lines["Pricebook__r.LogiSense_Id__c"] == std_key, KEY]
            ps_now = pd.concat(
                [ps_now, _select_keys(sf, ps_fields, "Product_Service__c", std_line_keys)], ignore_index=True
            )

    state = {} if options.full_refresh or state_dir is None else load_state(state_dir)
    plan_dir = run_dir / "plan"
    plan_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"planned": {}, "unchanged": {}, "drift": {}, "samples": {}, "notes": []}

    # Pricebook2: tag the standard book, then the others
    tag = diff_standard_book(desired_books, pb_now)
    pb_plan = diff_records(
        "Pricebook2",
        desired_books.loc[~desired_books["IsStandard"].astype(bool)],
        pb_custom_now,
        skipped=records.skipped["Pricebook2"],
        state=state.get("Pricebook2"),
    )
    pb_plan = pd.concat([tag, pb_plan], ignore_index=True) if len(tag) else pb_plan
    pb_plan["part"] = "book"
    plans = {"Pricebook2": pb_plan}
    plans["Product2"] = diff_records(
        "Product2",
        desired["Product2"],
        pr_now,
        skipped=records.skipped["Product2"],
        state=state.get("Product2"),
    ).assign(part="product")

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

    ps_plan = diff_records(
        "Product_Service__c",
        lines,
        ps_now,
        skipped=records.skipped["Product_Service__c"],
        state=state.get("Product_Service__c"),
    ).assign(part="line")
    deletes = ps_plan["op"] == "delete"
    if deletes.any():
        refs = _select(
            sf,
            ["Product_Service__c"],
            "Opportunity_Product_Service__c",
            "Product_Service__r.LogiSense_Id__c != null",
        )
        used = ps_plan["Id"].isin(set(refs["Product_Service__c"].dropna().astype(str))) & deletes
        if used.any():
            summary["notes"].append(
                f"{int(used.sum())} Product_Service__c line(s) no longer in LogiSense are kept: "
                "opportunities reference them (Opportunity_Product_Service__c)"
            )
            ps_plan = ps_plan.loc[~used]
    plans["Product_Service__c"] = ps_plan

    current_sizes = {
        "Pricebook2": len(pb_custom_now) + len(std_rows),
        "Product2": len(pr_now),
        "PricebookEntry": len(pe_now),
        "Product_Service__c": len(ps_now),
    }
    for obj in OBJECTS:
        plan = plans[obj]
        plan.to_parquet(plan_dir / f"{obj}.parquet", index=False)
        counts = plan["op"].value_counts().to_dict()
        summary["planned"][obj] = {str(k): int(v) for k, v in counts.items()}
        changed = int((plan["op"] == "update").sum()) + int((plan["op"] == "tag").sum())
        in_both = len(desired[obj]) - int((plan["op"] == "create").sum())
        summary["unchanged"][obj] = max(0, in_both - changed) if current_sizes[obj] else 0
        summary["drift"][obj] = int(plan["drift"].sum())
        summary["samples"][obj] = {
            str(op): json.loads(rows.head(SAMPLE_ROWS).drop(columns=["part"]).to_json(orient="records"))
            for op, rows in plan.groupby("op", sort=False)
        }
        hashes = pd.DataFrame(
            {KEY: desired[obj][KEY].to_numpy(), "hash": record_hash(desired[obj], obj).to_numpy()}
        )
        hashes.to_parquet(plan_dir / f"{obj}.hash.parquet", index=False)
    records.findings.to_parquet(plan_dir / "findings.parquet", index=False)
    summary["skipped_total"] = len(records.findings)
    summary["skipped"] = records.findings.head(50).to_dict(orient="records")
    summary["salesforce_calls"] = sf.usage.calls - calls
    summary["seconds"] = round(time.monotonic() - started, 2)
    summary["options"] = {**asdict(options), "price_book_ids": list(options.price_book_ids)}
    _write_json(run_dir / "plan.json", summary)
    log.info("catalogue plan: %s (skipped %d)", summary["planned"], summary["skipped_total"])
    return summary


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


def load_state(state_dir: Path) -> dict[str, pd.Series]:
    """Last-synced hashes per object (key → hash); missing files mean no state."""
    state: dict[str, pd.Series] = {}
    for obj in OBJECTS:
        path = state_dir / f"{obj}.parquet"
        if path.exists():
            frame = pd.read_parquet(path)
            state[obj] = pd.Series(frame["hash"].to_numpy(), index=frame[KEY].to_numpy())
    return state


def _save_state(state_dir: Path, run_dir: Path, results: pd.DataFrame) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    for obj in OBJECTS:
        hashes_path = run_dir / "plan" / f"{obj}.hash.parquet"
        if not hashes_path.exists():
            continue
        fresh = pd.read_parquet(hashes_path)
        bad = results.loc[(results["object"] == obj) & ~results["success"].astype(bool), KEY]
        fresh = fresh.loc[~fresh[KEY].isin(bad)]
        path = state_dir / f"{obj}.parquet"
        if path.exists():
            old = pd.read_parquet(path)
            old = old.loc[~old[KEY].isin(fresh[KEY]) & ~old[KEY].isin(bad)]
            fresh = pd.concat([old, fresh], ignore_index=True)
        tmp = path.with_suffix(".tmp")
        fresh.to_parquet(tmp, index=False)
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

    Creates (and Pricebook2/Product2 updates) are upserts on ``LogiSense_Id__c`` with relationship columns by
    external id; PricebookEntry/Product_Service__c updates send only updatable fields by ``Id``. Every failed
    or unprocessed row is collected. A spent request limit stops the load: the rest is marked not processed.

    Args:
        sf: Salesforce client.
        run_dir: the run folder (``plan`` must be there).
        state_dir: where last-synced hashes are updated (None = none kept).

    Returns:
        Summary: done per object and operation, failed and not-processed counts, stop reason, API calls.
    """
    started = time.monotonic()
    calls = sf.usage.calls
    plans = {obj: pd.read_parquet(run_dir / "plan" / f"{obj}.parquet") for obj in OBJECTS}
    outcomes: list[pd.DataFrame] = []
    stopped: str | None = None
    for step in _STEPS:
        plan = plans[step.obj]
        rows = plan.loc[(plan["part"] == step.part) & plan["op"].isin(step.ops)]
        if rows.empty:
            continue
        rows = rows.reset_index(drop=True)
        if stopped:
            res = pd.DataFrame(
                {"success": False, "error_code": NOT_PROCESSED, "message": stopped}, index=rows.index
            )
        else:
            payload = _payload(step, rows)
            log.info("%s %s %s: %d rows", step.obj, step.part, "/".join(step.ops), len(rows))
            try:
                if step.method == "upsert":
                    res = sf.upsert(step.obj, KEY, payload)
                elif step.method == "delete":
                    res = sf.delete(step.obj, list(payload["Id"].astype(str)))
                else:
                    res = sf.update(step.obj, payload)
            except RequestLimitExceeded as exc:
                stopped = f"Salesforce request limit exceeded: {exc}"
                log.error("%s; stopping the load", stopped)
                res = exc.results if exc.results is not None else pd.DataFrame(index=rows.index)
                res = res.reindex(rows.index)
                res["success"] = res["success"].fillna(False).astype(bool) if "success" in res else False
                res["error_code"] = res.get("error_code", pd.Series(index=rows.index, dtype=object)).fillna(
                    NOT_PROCESSED
                )
                res["message"] = res.get("message", pd.Series(index=rows.index, dtype=object)).fillna(stopped)
                res.loc[res["success"], ["error_code", "message"]] = None
        outcomes.append(
            pd.DataFrame(
                {
                    "object": step.obj,
                    "op": rows["op"].to_numpy(),
                    KEY: rows[KEY].to_numpy(),
                    "Id": rows["Id"].to_numpy(),
                    "success": res["success"].astype(bool).to_numpy(),
                    "error_code": res["error_code"].to_numpy(),
                    "message": res["message"].to_numpy(),
                }
            )
        )
    results = (
        pd.concat(outcomes, ignore_index=True)
        if outcomes
        else pd.DataFrame({c: pd.Series([], dtype=object) for c in RESULT_COLUMNS})
    )
    results["success"] = results["success"].astype(bool)
    (run_dir / "load").mkdir(parents=True, exist_ok=True)
    results.astype({"error_code": object, "message": object, "Id": object}).to_parquet(
        run_dir / "load" / "results.parquet", index=False
    )
    if state_dir is not None:
        _save_state(state_dir, run_dir, results)
    ok = results.loc[results["success"]]
    failed = results.loc[~results["success"] & (results["error_code"] != NOT_PROCESSED)]
    unprocessed = results.loc[~results["success"] & (results["error_code"] == NOT_PROCESSED)]
    done: dict[str, dict[str, int]] = {}
    for row in ok.groupby(["object", "op"]).size().reset_index(name="n").itertuples(index=False):
        done.setdefault(str(row.object), {})[str(row.op)] = int(str(row.n))
    summary = {
        "done": done,
        "failed_total": len(failed),
        "failed": failed.head(50)[["object", "op", KEY, "error_code", "message"]]
        .rename(columns={KEY: "key"})
        .to_dict(orient="records"),
        "not_processed": {str(k): int(v) for k, v in unprocessed.groupby("object").size().items()},
        "stopped": stopped,
        "salesforce_calls": sf.usage.calls - calls,
        "salesforce_usage": f"{sf.usage.used}/{sf.usage.limit}" if sf.usage.used is not None else None,
        "seconds": round(time.monotonic() - started, 2),
    }
    _write_json(run_dir / "load.json", summary)
    log.info("catalogue load: done %s, failed %d, stopped %s", done, len(failed), stopped)
    return summary


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
) -> SyncReport:
    """Run extract → plan → load → report in one process (benchmarks, scripts).

    Args:
        logisense: a LogiSense client.
        sf: a Salesforce client.
        run_dir: a fresh run folder.
        options: run options (``dry_run`` skips the load).
        as_of: the run instant.
        state_dir: drift state folder.

    Returns:
        The report (not raised: call :meth:`SyncReport.raise_if_failed`).
    """
    extract_catalog(logisense, run_dir, options)
    plan_catalog(sf, run_dir, options, as_of=as_of, state_dir=state_dir)
    if not options.dry_run:
        load_catalog(sf, run_dir, state_dir=state_dir)
    return build_report(run_dir)
