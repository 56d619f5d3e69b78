"""Desired vs current Salesforce catalogue records → the minimal plan (pure, vectorised).

A plan frame has one row per write: ``op`` (``create``, ``update``, ``deactivate``, ``delete``),
``LogiSense_Id__c``, ``Id`` (Salesforce id; None for creates), ``changed`` (comma-separated fields that
differ), ``drift`` (True when LogiSense did not change since the last sync but Salesforce did: a hand edit
being put back) and the field columns to send. Records equal field by field (after type normalisation) produce
no row, so a rerun with nothing changed plans nothing.
"""

from __future__ import annotations

import pandas as pd

from logisense_sync.transforms.catalog import CREATE_ONLY, FIELDS, KEY, MONEY_DECIMALS

PLAN_COLUMNS = ["op", KEY, "Id", "changed", "drift"]


def normalise(frame: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """Coerce managed fields to comparable values: text (blank = None), bool, money (2 decimals, rates 6).

    Args:
        frame: records from LogiSense (typed) or Salesforce (JSON types from REST, strings from Bulk).
        types: field → ``str`` | ``bool`` | ``money`` | ``rate``.

    Returns:
        A frame with the same index and exactly the ``types`` columns.
    """
    out = pd.DataFrame(index=frame.index)
    for name, kind in types.items():
        col = frame[name] if name in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        if kind == "bool":
            if pd.api.types.is_bool_dtype(col):
                out[name] = col.astype(bool)
            else:
                out[name] = col.astype(str).str.strip().str.lower().isin(["true", "1", "1.0"]).to_numpy()
        elif kind in MONEY_DECIMALS:
            num = pd.to_numeric(col, errors="coerce").astype(float)
            out[name] = num.round(MONEY_DECIMALS[kind])
        else:
            text = col.astype(str)
            out[name] = text.astype(object).where(col.notna().to_numpy() & (text != "").to_numpy(), None)
    return out


def _equal(a: pd.Series, b: pd.Series) -> pd.Series:
    both_null = a.isna() & b.isna()
    same = (a == b).fillna(False).astype(bool)
    return same | both_null


def record_hash(frame: pd.DataFrame, obj: str) -> pd.Series:
    """A 64-bit hash of the normalised managed fields per record (for drift detection across runs)."""
    norm = normalise(frame, FIELDS[obj])
    return pd.util.hash_pandas_object(norm, index=False, categorize=False).astype("uint64")


def diff_records(
    obj: str,
    desired: pd.DataFrame,
    current: pd.DataFrame,
    *,
    skipped: set[str] | None = None,
    state: pd.Series | None = None,
    no_update: set[str] | None = None,
) -> pd.DataFrame:
    """Plan the writes that make ``current`` equal ``desired`` for one object.

    Args:
        obj: ``Pricebook2``, ``Product2``, ``PricebookEntry`` or ``Product_Service__c``.
        desired: rows with ``LogiSense_Id__c`` and the managed fields (+ create-only columns).
        current: integrated Salesforce rows in scope: ``Id``, ``LogiSense_Id__c`` and the managed fields.
            Anything here and not in ``desired`` (and not skipped) is deactivated, or deleted for
            ``Product_Service__c``.
        skipped: keys (or ``prefix:<p>`` key prefixes) skipped by validation: never deactivated or deleted.
        state: last synced hash per key (index = key); an update whose desired hash equals it is drift.
        no_update: keys that may be created but never updated (fallback standard entries in narrowed runs).

    Returns:
        The plan frame (:data:`PLAN_COLUMNS` + field columns), creates first.
    """
    types = FIELDS[obj]
    fields = list(types)
    extra = CREATE_ONLY[obj]
    desired = desired.drop_duplicates(KEY).set_index(KEY, drop=False)
    current = current.dropna(subset=[KEY]).drop_duplicates(KEY).set_index(KEY, drop=False)

    new_keys = desired.index.difference(current.index)
    creates = desired.loc[new_keys, [KEY, *fields, *[c for c in extra if c in desired.columns]]].copy()
    creates.insert(0, "op", "create")
    creates["Id"] = None
    creates["changed"] = ""
    creates["drift"] = False

    both = desired.index.intersection(current.index)
    if no_update:
        both = both.difference(pd.Index(sorted(no_update)))
    d = normalise(desired.loc[both], types)
    c = normalise(current.loc[both], types)
    diffs = pd.DataFrame({f: ~_equal(d[f], c[f]) for f in fields}, index=both)
    changed_mask = diffs.any(axis=1) if len(fields) else pd.Series(False, index=both)
    upd_keys = both[changed_mask.to_numpy()]
    updates = desired.loc[upd_keys, [KEY, *fields]].copy()
    updates.insert(0, "op", "update")
    updates["Id"] = current.loc[upd_keys, "Id"].to_numpy()
    if len(upd_keys):
        flags = diffs.loc[upd_keys]
        text = pd.Series("", index=upd_keys, dtype=object)
        for f in fields:
            text = text + pd.Series(flags[f].to_numpy(), index=upd_keys).map({True: f + ",", False: ""})
        updates["changed"] = text.str.rstrip(",").to_numpy()
    else:
        updates["changed"] = pd.Series(dtype=object)
    if state is not None and len(upd_keys):
        want = record_hash(desired.loc[upd_keys], obj)
        last = state.reindex(upd_keys)
        updates["drift"] = (last.to_numpy() == want.to_numpy()) & last.notna().to_numpy()
    else:
        updates["drift"] = False

    gone_keys = current.index.difference(desired.index)
    if skipped:
        exact = {k for k in skipped if not k.startswith("prefix:")}
        prefixes = tuple(k.removeprefix("prefix:") for k in skipped if k.startswith("prefix:"))
        keep = ~gone_keys.isin(list(exact))
        if prefixes:
            keep &= ~gone_keys.str.startswith(prefixes)
        gone_keys = gone_keys[keep]
    gone = current.loc[gone_keys]
    if obj == "Product_Service__c":
        removals = pd.DataFrame({"op": "delete", KEY: gone[KEY], "Id": gone["Id"]})
    else:
        active = normalise(gone, {"IsActive": "bool"})["IsActive"]
        gone = gone.loc[active.to_numpy()]
        removals = pd.DataFrame({"op": "deactivate", KEY: gone[KEY], "Id": gone["Id"], "IsActive": False})
    removals["changed"] = "IsActive" if obj != "Product_Service__c" else ""
    removals["drift"] = False

    parts = [p for p in (creates, updates, removals) if len(p)]
    if not parts:
        return pd.DataFrame(columns=[*PLAN_COLUMNS, *fields, *extra])
    plan = pd.concat(parts, ignore_index=True)
    for col in [*PLAN_COLUMNS, *fields]:
        if col not in plan.columns:
            plan[col] = None
    plan["drift"] = plan["drift"].fillna(False).astype(bool)
    return plan


def diff_standard_book(desired: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Tag Salesforce's standard price book with the LogiSense standard book's key (never a second one).

    Args:
        desired: the desired ``Pricebook2`` frame (the row with ``IsStandard`` is used).
        current: Salesforce ``Pricebook2`` rows with ``Id``, ``LogiSense_Id__c``, ``IsStandard``.

    Returns:
        Zero or one ``update`` row setting ``LogiSense_Id__c`` on the standard book's ``Id``.
    """
    want = desired.loc[desired["IsStandard"].astype(bool)]
    have = current.loc[normalise(current, {"IsStandard": "bool"})["IsStandard"].to_numpy()]
    if want.empty or have.empty:
        return pd.DataFrame(columns=PLAN_COLUMNS)
    key = want[KEY].iloc[0]
    if have[KEY].iloc[0] == key:
        return pd.DataFrame(columns=PLAN_COLUMNS)
    return pd.DataFrame(
        {"op": ["tag"], KEY: [key], "Id": [have["Id"].iloc[0]], "changed": [KEY], "drift": [False]}
    )
