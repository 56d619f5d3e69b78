"""LogiSense catalogue frames → Salesforce record frames (pure, vectorised, no I/O, no clock).

Input: one DataFrame per LogiSense resource, keyed by route (``"Package/Frequency"``), columns = DTO property
names (RESOURCES.md §6). Output: one frame per Salesforce object with the deterministic external id
``LogiSense_Id__c`` and the managed fields, plus a findings frame (one row per skipped source record and why).

External ids (``LogiSense_Id__c``), stable across runs and independent of LogiSense row identities that a
re-creation would change, wherever a natural key exists:

- Pricebook2 ``pb:{priceBookId}``: one per LogiSense price book (the standard one tags Salesforce's).
- Product2 ``pf:{packageFrequencyId}``: one per package frequency.
- PricebookEntry ``pbe:{priceBookId}:{packageFrequencyId}:{CUR}``: one per book, product and currency; the
  Salesforce standard book's entries use the LogiSense standard book's id.
- Product_Service__c ``psl:{priceBookId}:{packageFrequencyId}:{CUR}:{serviceId}:{charge}``: one per priced
  charge line; charge = ``R{statusTypeId}`` (``R{statusTypeId}@{startQuantity}`` for tiers above 0),
  ``O{transitionId}`` or ``U{usageRateId}``.

Prices (CONTRACT §5): ``UnitPrice`` = Σ over the package's services of ``defaultInstances`` × the recurring
amount in the Active status (the tier whose ``startQuantity`` is the largest not above the quantity)
+ Σ of the one-time amounts of the activation transition (``[New] -> Active``, not multiplied by
quantity). Usage rates are not in the sum. Amounts are rounded half-up to the Salesforce field scale
(2 decimals; 6 for a charge line's `Amount__c`, so usage rates keep their precision).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Salesforce fields managed per object (besides ``LogiSense_Id__c``), with their comparison type.
FIELDS: dict[str, dict[str, str]] = {
    "Pricebook2": {"Name": "str", "Description": "str", "IsActive": "bool"},
    "Product2": {
        "Name": "str",
        "ProductCode": "str",
        "Description": "str",
        "Family": "str",
        "IsActive": "bool",
    },
    "PricebookEntry": {"UnitPrice": "money", "IsActive": "bool", "UseStandardPrice": "bool"},
    "Product_Service__c": {
        "Service_Name__c": "str",
        "Charge_Type__c": "str",
        "Service_Status__c": "str",
        "Amount__c": "rate",
        "Default_Quantity__c": "money",
        "Minimum_Quantity__c": "money",
        "Maximum_Quantity__c": "money",
    },
}
#: Create-only columns sent on create (relationships by external id, currency), never on update.
CREATE_ONLY: dict[str, list[str]] = {
    "Pricebook2": [],
    "Product2": [],
    "PricebookEntry": ["Pricebook2.LogiSense_Id__c", "Product2.LogiSense_Id__c", "CurrencyIsoCode"],
    "Product_Service__c": ["Product__r.LogiSense_Id__c", "Pricebook__r.LogiSense_Id__c", "CurrencyIsoCode"],
}
#: Load order: parents before children.
OBJECTS = ["Pricebook2", "Product2", "PricebookEntry", "Product_Service__c"]
KEY = "LogiSense_Id__c"
FINDING_COLUMNS = ["object", "key", "record", "rule"]

ACTIVE_STATUS = "Active"

#: The LogiSense columns the transform reads, per route (callers may load only these).
SOURCE_COLUMNS: dict[str, list[str]] = {
    "PriceBook": ["identity", "name", "description", "isStandard", "isActive"],
    "Currency": ["identity", "code"],
    "Package/Currency": ["identity", "packageId", "currencyId"],
    "ServiceStatusType": ["identity", "name"],
    "ServiceStatusTransition": ["identity", "fromServiceStatusTypeId", "toServiceStatusTypeId", "name"],
    "Package": ["identity", "name", "description", "start", "expiry", "packageCategoryName"],
    "Package/Frequency": ["identity", "packageId", "name", "sku", "isActive"],
    "Package/Service": [
        "identity", "packageId", "serviceId", "defaultInstances", "minimumInstances", "maximumInstances",
    ],
    "Service": ["identity", "name"],
    "Package/Frequency/Currency": ["packageFrequencyId", "packageCurrencyId", "priceBookId", "isActive"],
    "Package/Service/PricePlan": [
        "identity", "packageServiceId", "packageFrequencyId", "packageCurrencyId", "priceBookId",
        "accountPricePlanId", "usageRatePlanId",
    ],
    "Package/Service/PricePlan/Recurring": ["packageServicePricePlanId", "serviceStatusTypeId", "amount", "startQuantity"],
    "Package/Service/PricePlan/OneTime": ["packageServicePricePlanId", "serviceStatusTransitionId", "amount"],
    "Usage/Rate/Group": ["identity", "usageRatePlanId", "currencyId", "start", "end"],
    "Usage/Rate": ["identity", "usageRateGroupId", "usageClassId", "amount", "retired"],
    "Usage/Class": ["identity", "name"],
}  # fmt: skip


@dataclass(frozen=True)
class CatalogConfig:
    """What the transform needs besides LogiSense data.

    Attributes:
        as_of: the instant package start/expiry windows are judged at (the run's date, given by the caller).
        currencies: ISO codes of the active Salesforce currencies (``CurrencyType``); others are skipped.
        price_book_ids: the narrowed books (None = every book). Standard entries are then produced only for
            products and currencies sold in these books (unless the standard book is one of them).
        duplicate_skus: SKUs used more than once in the whole catalogue (:func:`duplicate_skus`), for when the
            frames hold only part of it (a plan shard); duplicates within the frames are found anyway.
    """

    as_of: dt.datetime
    currencies: frozenset[str]
    price_book_ids: frozenset[int] | None = None
    duplicate_skus: frozenset[str] = frozenset()


@dataclass
class CatalogRecords:
    """Desired Salesforce state computed from LogiSense.

    Attributes:
        frames: per object, one row per record: ``LogiSense_Id__c``, the managed fields, create-only columns,
            and for Pricebook2 ``IsStandard``, for PricebookEntry ``IsStandard``/``PriceBookId``/``Fallback``.
        findings: skipped source records (:data:`FINDING_COLUMNS`).
        skipped: per object, the keys not produced because of a finding (never deactivated for it).
        standard_book_id: the LogiSense standard price book identity.
    """

    frames: dict[str, pd.DataFrame]
    findings: pd.DataFrame
    skipped: dict[str, set[str]] = field(default_factory=dict)
    standard_book_id: int | None = None


MONEY_DECIMALS = {"money": 2, "rate": 6}
"""Field scale per kind: currency fields hold cents; charge amounts (usage rates such as 0.0125) hold 6."""


_LINE_COLUMNS = [
    KEY,
    "productKey",
    "cur",
    "Pricebook2.LogiSense_Id__c",
    "charge",
    "Charge_Type__c",
    "Service_Status__c",
    "amount",
]
"""Columns every charge line (recurring, one-time, usage) carries before it becomes a Product_Service__c."""


def round_money(values: pd.Series, decimals: int = 2) -> pd.Series:
    """Round half away from zero to ``decimals`` places (the Salesforce field's scale), NaN kept."""
    v = pd.to_numeric(values, errors="coerce").astype(float)
    factor = 10.0**decimals
    out = np.sign(v) * np.floor(np.abs(v) * factor + 0.5 + 1e-7) / factor
    return pd.Series(out, index=values.index, dtype=float)


def _col(frame: pd.DataFrame, name: str, default: object = None) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(default, index=frame.index, dtype=object)


def _ids(values: pd.Series) -> pd.Series:
    """Identity columns as nullable integers (LogiSense ids are JSON numbers; frames may carry floats)."""
    return pd.to_numeric(values, errors="coerce").astype("Int64")


def _frame(frames: Mapping[str, pd.DataFrame], route: str, columns: list[str]) -> pd.DataFrame:
    src = frames.get(route)
    if src is None:
        src = pd.DataFrame()
    out = pd.DataFrame(index=src.index)
    for c in columns:
        out[c] = _col(src, c)
    return out.reset_index(drop=True)


def _findings(obj: str, keys: pd.Series, records: pd.Series, rule: pd.Series | str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "object": obj,
            "key": keys.astype(object).fillna("?").astype(str).to_numpy(),
            "record": records.astype(object).fillna("?").astype(str).to_numpy(),
            "rule": rule.astype(object).fillna("invalid record").astype(str).to_numpy()
            if isinstance(rule, pd.Series)
            else rule,
        }
    )


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")


def duplicate_skus(package_frequencies: pd.DataFrame) -> frozenset[str]:
    """SKUs that more than one package frequency uses (each such product is skipped, never guessed at).

    Args:
        package_frequencies: the LogiSense ``Package/Frequency`` frame (``sku`` column).

    Returns:
        The duplicated, non-blank SKUs.
    """
    sku = package_frequencies["sku"]
    sku = sku.loc[sku.notna() & (sku.astype(str) != "")]
    return frozenset(sku.loc[sku.duplicated(keep=False)].astype(str))


def transform_catalog(frames: Mapping[str, pd.DataFrame], config: CatalogConfig) -> CatalogRecords:
    """Compute the Salesforce catalogue LogiSense describes.

    Args:
        frames: LogiSense frames keyed by route (``PriceBook``, ``Currency``, ``Package``,
            ``Package/Currency``, ``Package/Frequency``, ``Package/Frequency/Currency``, ``Service``,
            ``Package/Service``,
            ``Package/Service/PricePlan``, ``Package/Service/PricePlan/Recurring``,
            ``Package/Service/PricePlan/OneTime``, ``ServiceStatusType``, ``ServiceStatusTransition``,
            ``Usage/Rate/Group``, ``Usage/Rate``, ``Usage/Class``). Missing routes count as empty.
        config: run date, Salesforce currencies and narrowing.

    Returns:
        The desired records, the findings, and the skipped keys per object.
    """
    findings: list[pd.DataFrame] = []
    as_of = pd.Timestamp(config.as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")

    # ---------------------------------------------------------------- reference data
    books = _frame(frames, "PriceBook", ["identity", "name", "description", "isStandard", "isActive"])
    books["identity"] = _ids(books["identity"])
    standard = books.loc[books["isStandard"].fillna(False).astype(bool), "identity"]
    std_id = int(standard.iloc[0]) if len(standard) else None

    currencies = _frame(frames, "Currency", ["identity", "code"]).rename(
        columns={"identity": "currencyId", "code": "cur"}
    )
    currencies["currencyId"] = _ids(currencies["currencyId"])
    pcur = _frame(frames, "Package/Currency", ["identity", "packageId", "currencyId"]).rename(
        columns={"identity": "packageCurrencyId"}
    )
    for c in ("packageCurrencyId", "packageId", "currencyId"):
        pcur[c] = _ids(pcur[c])
    pcur = pcur.merge(currencies, on="currencyId", how="left")

    statuses = _frame(frames, "ServiceStatusType", ["identity", "name"])
    statuses["identity"] = _ids(statuses["identity"])
    active_ids = set(
        statuses.loc[statuses["name"].astype(str) == ACTIVE_STATUS, "identity"].dropna().astype(int)
    )
    transitions = _frame(
        frames,
        "ServiceStatusTransition",
        ["identity", "fromServiceStatusTypeId", "toServiceStatusTypeId", "name"],
    )
    transitions["identity"] = _ids(transitions["identity"])
    activation = set(
        transitions.loc[
            transitions["fromServiceStatusTypeId"].isna()
            & _ids(transitions["toServiceStatusTypeId"]).isin(active_ids),
            "identity",
        ].astype(int)
    )

    # ---------------------------------------------------------------- products (package frequencies)
    packages = _frame(
        frames, "Package", ["identity", "name", "description", "start", "expiry", "packageCategoryName"]
    ).rename(columns={"identity": "packageId", "name": "packageName", "description": "packageDescription"})
    packages["packageId"] = _ids(packages["packageId"])
    freqs = _frame(frames, "Package/Frequency", ["identity", "packageId", "name", "sku", "isActive"]).rename(
        columns={"identity": "packageFrequencyId", "name": "frequencyName", "isActive": "pfActive"}
    )
    freqs["packageFrequencyId"] = _ids(freqs["packageFrequencyId"])
    freqs["packageId"] = _ids(freqs["packageId"])
    prod = freqs.merge(packages, on="packageId", how="left")
    start, expiry = _dates(prod["start"]), _dates(prod["expiry"])
    in_window = (start.isna() | (start <= as_of)) & (expiry.isna() | (expiry > as_of))
    prod["IsActive"] = prod["pfActive"].fillna(True).astype(bool) & in_window.to_numpy()
    prod[KEY] = "pf:" + prod["packageFrequencyId"].astype(str)
    # "<package> - <frequency>", unless the frequency's name already starts with the package's name
    package_name, frequency_name = prod["packageName"].astype(str), prod["frequencyName"].astype(str)
    named = pd.Series(
        [f.startswith(p) for f, p in zip(frequency_name, package_name, strict=True)], index=prod.index
    )
    prod["Name"] = frequency_name.where(named, package_name + " - " + frequency_name)
    prod["ProductCode"] = prod["sku"].where(prod["sku"].notna() & (prod["sku"].astype(str) != ""), None)
    prod["Description"] = prod["packageDescription"]
    prod["Family"] = prod["packageCategoryName"]

    pservices = _frame(
        frames,
        "Package/Service",
        ["identity", "packageId", "serviceId", "defaultInstances", "minimumInstances", "maximumInstances"],
    ).rename(columns={"identity": "packageServiceId"})
    for c in ("packageServiceId", "packageId", "serviceId"):
        pservices[c] = _ids(pservices[c])
    services = _frame(frames, "Service", ["identity", "name"]).rename(
        columns={"identity": "serviceId", "name": "serviceName"}
    )
    services["serviceId"] = _ids(services["serviceId"])
    pservices = pservices.merge(services, on="serviceId", how="left")
    pservices["qty"] = pd.to_numeric(pservices["defaultInstances"], errors="coerce").astype(float).fillna(1.0)

    # validation: frequency with no services, duplicate SKU
    bad_prod = pd.Series("", index=prod.index, dtype=object)
    no_services = ~prod["packageId"].isin(pservices["packageId"].dropna())
    bad_prod = bad_prod.mask(no_services, "package frequency has no services: nothing to price")
    sku = prod["ProductCode"]
    dup = sku.notna() & (sku.duplicated(keep=False) | sku.isin(config.duplicate_skus))
    bad_prod = bad_prod.mask(
        dup & (bad_prod == ""), "duplicate SKU " + sku.astype(str) + ": fix it in LogiSense"
    )
    prod_bad_mask = bad_prod != ""
    findings.append(
        _findings(
            "Product2",
            prod.loc[prod_bad_mask, KEY],
            "product "
            + prod.loc[prod_bad_mask, "Name"]
            + " (package frequency "
            + prod.loc[prod_bad_mask, "packageFrequencyId"].astype(str)
            + ")",
            bad_prod[prod_bad_mask],
        )
    )
    good_prod = prod.loc[~prod_bad_mask]

    # ---------------------------------------------------------------- connectors (product × currency × book)
    conn = _frame(
        frames,
        "Package/Frequency/Currency",
        ["packageFrequencyId", "packageCurrencyId", "priceBookId", "isActive"],
    )
    for c in ("packageFrequencyId", "packageCurrencyId", "priceBookId"):
        conn[c] = _ids(conn[c])
    if std_id is not None:
        conn["priceBookId"] = conn["priceBookId"].fillna(std_id)
    conn = conn.merge(pcur[["packageCurrencyId", "packageId", "cur"]], on="packageCurrencyId", how="left")
    conn = conn.merge(
        prod[["packageFrequencyId", KEY, "IsActive", "Name"]].rename(
            columns={KEY: "productKey", "IsActive": "productActive", "Name": "productName"}
        ),
        on="packageFrequencyId",
        how="inner",
    )
    conn["isActive"] = conn["isActive"].fillna(True).astype(bool)
    conn[KEY] = (
        "pbe:"
        + conn["priceBookId"].astype(str)
        + ":"
        + conn["packageFrequencyId"].astype(str)
        + ":"
        + conn["cur"].astype(str)
    )
    conn = conn.merge(
        books[["identity", "name"]].rename(columns={"identity": "priceBookId", "name": "bookName"}),
        on="priceBookId",
        how="left",
    )
    conn["label"] = (
        conn["productName"] + " in " + conn["cur"].astype(str) + " (" + conn["bookName"].astype(str) + ")"
    )
    if config.price_book_ids is not None:
        wanted = set(config.price_book_ids)
        keep = conn["priceBookId"].isin(wanted)
        if std_id is not None and std_id not in wanted:
            pair = ["packageFrequencyId", "packageCurrencyId"]
            sold = conn.loc[keep, pair].drop_duplicates().assign(_sold=True)
            sold_here = conn[pair].merge(sold, on=pair, how="left")["_sold"].notna().to_numpy()
            keep = keep | ((conn["priceBookId"] == std_id) & sold_here)
        conn = conn.loc[keep].reset_index(drop=True)

    # ---------------------------------------------------------------- price plans and lines
    plans = _frame(
        frames,
        "Package/Service/PricePlan",
        [
            "identity",
            "packageServiceId",
            "packageFrequencyId",
            "packageCurrencyId",
            "priceBookId",
            "accountPricePlanId",
            "usageRatePlanId",
        ],
    ).rename(columns={"identity": "pricePlanId"})
    plans = plans.loc[plans["accountPricePlanId"].isna()].drop(columns="accountPricePlanId")
    for c in (
        "pricePlanId",
        "packageServiceId",
        "packageFrequencyId",
        "packageCurrencyId",
        "priceBookId",
        "usageRatePlanId",
    ):
        plans[c] = _ids(plans[c])
    if std_id is not None:
        plans["priceBookId"] = plans["priceBookId"].fillna(std_id)
    plans = plans.merge(
        pservices[
            [
                "packageServiceId",
                "serviceId",
                "serviceName",
                "qty",
                "defaultInstances",
                "minimumInstances",
                "maximumInstances",
            ]
        ],
        on="packageServiceId",
        how="left",
    )
    entry_cols = ["packageFrequencyId", "packageCurrencyId", "priceBookId"]

    rec = _frame(
        frames,
        "Package/Service/PricePlan/Recurring",
        ["packageServicePricePlanId", "serviceStatusTypeId", "amount", "startQuantity"],
    ).rename(columns={"packageServicePricePlanId": "pricePlanId"})
    rec["pricePlanId"] = _ids(rec["pricePlanId"])
    rec["serviceStatusTypeId"] = _ids(rec["serviceStatusTypeId"])
    rec["amount"] = pd.to_numeric(rec["amount"], errors="coerce").astype(float)
    rec["startQuantity"] = pd.to_numeric(rec["startQuantity"], errors="coerce").fillna(0.0)
    rec = rec.merge(plans, on="pricePlanId", how="inner").merge(
        statuses.rename(columns={"identity": "serviceStatusTypeId", "name": "statusName"}),
        on="serviceStatusTypeId",
        how="left",
    )
    one = _frame(
        frames,
        "Package/Service/PricePlan/OneTime",
        ["packageServicePricePlanId", "serviceStatusTransitionId", "amount"],
    ).rename(columns={"packageServicePricePlanId": "pricePlanId"})
    one["pricePlanId"] = _ids(one["pricePlanId"])
    one["serviceStatusTransitionId"] = _ids(one["serviceStatusTransitionId"])
    one["amount"] = pd.to_numeric(one["amount"], errors="coerce").astype(float)
    one = one.merge(plans, on="pricePlanId", how="inner").merge(
        transitions[["identity", "name"]].rename(
            columns={"identity": "serviceStatusTransitionId", "name": "transitionName"}
        ),
        on="serviceStatusTransitionId",
        how="left",
    )

    # unit price per connector
    act = rec.loc[rec["serviceStatusTypeId"].isin(active_ids) & (rec["startQuantity"] <= rec["qty"])]
    act = act.sort_values("startQuantity").drop_duplicates("pricePlanId", keep="last")
    rec_sum = (act["amount"] * act["qty"]).groupby([act[c] for c in entry_cols]).sum().rename("recurring")
    one_act = one.loc[one["serviceStatusTransitionId"].isin(activation)]
    one_sum = one_act.groupby([one_act[c] for c in entry_cols])["amount"].sum().rename("activation")
    price = pd.concat([rec_sum, one_sum], axis=1).fillna(0.0)
    price["UnitPrice"] = price["recurring"] + price["activation"]
    price = price.reset_index()
    for c in entry_cols:
        price[c] = _ids(price[c])
    conn = conn.merge(price[[*entry_cols, "UnitPrice"]], on=entry_cols, how="left")
    conn["UnitPrice"] = pd.to_numeric(conn["UnitPrice"], errors="coerce").astype(float)

    # validation of connectors
    bad = pd.Series("", index=conn.index, dtype=object)
    bad = bad.mask(
        ~conn["cur"].isin(config.currencies),
        "currency " + conn["cur"].astype(str) + " is not an active Salesforce currency",
    )
    have_plan = plans[[*entry_cols, "packageServiceId"]].drop_duplicates()
    need = (
        conn[[*entry_cols, "packageId"]]
        .reset_index()
        .merge(pservices[["packageId", "packageServiceId", "serviceName"]], on="packageId", how="inner")
    )
    need = need.merge(have_plan, on=[*entry_cols, "packageServiceId"], how="left", indicator=True)
    missing = need.loc[need["_merge"] == "left_only"]
    if len(missing):
        miss_text = missing.groupby("index")["serviceName"].agg(lambda s: ", ".join(sorted(map(str, s))))
        miss_rule = pd.Series(
            "missing price for currency "
            + conn.loc[miss_text.index, "cur"].astype(str)
            + " in book "
            + conn.loc[miss_text.index, "bookName"].astype(str)
            + " for service(s) "
            + miss_text,
            index=miss_text.index,
        )
        bad = bad.mask(bad.index.isin(miss_text.index) & (bad == ""), miss_rule.reindex(bad.index))
    # a price row without an amount must not be priced as 0: the entry is skipped
    blank = pd.concat(
        [
            rec.loc[rec["amount"].isna(), [*entry_cols, "serviceName"]],
            one.loc[one["amount"].isna(), [*entry_cols, "serviceName"]],
        ]
    )
    if len(blank):
        blank_text = (
            blank.groupby(entry_cols)["serviceName"]
            .agg(lambda s: ", ".join(sorted({str(v) for v in s})))
            .rename("blankText")
            .reset_index()
        )
        for c in entry_cols:
            blank_text[c] = _ids(blank_text[c])
        text = conn[entry_cols].merge(blank_text, on=entry_cols, how="left")["blankText"]
        has_blank = text.notna().to_numpy()
        bad = bad.mask(has_blank & (bad == ""), "a price has no amount for service(s) " + text.astype(str))
    negative = (conn["UnitPrice"] < 0).fillna(False).astype(bool)
    bad = bad.mask(negative & (bad == ""), "negative price " + conn["UnitPrice"].astype(str))
    bad = bad.mask(
        conn["productKey"].isin(set(prod.loc[prod_bad_mask, KEY])) & (bad == ""), "its product was skipped"
    )
    conn["UnitPrice"] = round_money(conn["UnitPrice"].fillna(0.0))
    conn["bad"] = bad

    # ---------------------------------------------------------------- standard entries
    is_std = conn["priceBookId"] == std_id if std_id is not None else pd.Series(False, index=conn.index)
    custom = conn.loc[~is_std]
    std_src = conn.loc[is_std]
    pairs = ["packageFrequencyId", "cur"]
    fallback = (
        custom.loc[custom["bad"] == ""]
        .sort_values(["priceBookId"])
        .drop_duplicates(pairs, keep="first")
        .merge(std_src[pairs], on=pairs, how="left", indicator=True)
    )
    fallback = fallback.loc[fallback["_merge"] == "left_only"].drop(columns="_merge").copy()
    fallback["isActive"] = False
    fallback["Fallback"] = True
    fallback["priceBookId"] = std_id if std_id is not None else 0
    fallback[KEY] = (
        "pbe:"
        + fallback["priceBookId"].astype(str)
        + ":"
        + fallback["packageFrequencyId"].astype(str)
        + ":"
        + fallback["cur"].astype(str)
    )
    std_entries = pd.concat([std_src.assign(Fallback=False), fallback], ignore_index=True)
    # a custom entry needs a usable standard entry for its product and currency
    std_bad = std_entries.loc[std_entries["bad"] != "", pairs]
    cust = custom.copy()
    cust["Fallback"] = False
    blocked = cust[pairs].merge(std_bad.assign(_blocked=True), on=pairs, how="left")["_blocked"].fillna(False)
    cust["bad"] = cust["bad"].mask(
        blocked.to_numpy() & (cust["bad"] == ""), "its standard price entry was skipped"
    )
    entries = pd.concat(
        [std_entries.assign(IsStandard=True), cust.assign(IsStandard=False)], ignore_index=True
    )
    entries["IsActive"] = entries["isActive"].astype(bool) & entries["productActive"].astype(bool)
    entries["IsActive"] = entries["IsActive"] & ~entries["Fallback"].astype(bool)
    entries["UseStandardPrice"] = False
    entries["Pricebook2.LogiSense_Id__c"] = "pb:" + entries["priceBookId"].astype(str)
    entries["Product2.LogiSense_Id__c"] = entries["productKey"]
    entries["CurrencyIsoCode"] = entries["cur"]
    entries["PriceBookId"] = entries["priceBookId"].astype("Int64")
    entry_bad = entries["bad"] != ""
    findings.append(
        _findings(
            "PricebookEntry",
            entries.loc[entry_bad, KEY],
            entries.loc[entry_bad, "label"],
            entries.loc[entry_bad, "bad"],
        )
    )
    good_entries = entries.loc[~entry_bad]

    # ---------------------------------------------------------------- service lines
    real = good_entries.loc[
        ~good_entries["Fallback"].astype(bool),
        [*entry_cols, KEY, "productKey", "cur", "Pricebook2.LogiSense_Id__c"],
    ]
    base = ["serviceId", "serviceName", "defaultInstances", "minimumInstances", "maximumInstances"]
    rl = rec.merge(real, on=entry_cols, how="inner")
    tier = np.where(rl["startQuantity"] > 0, "@" + rl["startQuantity"].map("{:g}".format), "")
    rl = rl.assign(
        charge="R" + rl["serviceStatusTypeId"].astype(str) + tier,
        Charge_Type__c="Recurring",
        Service_Status__c=rl["statusName"].astype(str)
        + np.where(rl["startQuantity"] > 0, " (from " + rl["startQuantity"].map("{:g}".format) + ")", ""),
    )[[*base, *_LINE_COLUMNS]]
    ol = one.merge(real, on=entry_cols, how="inner")
    ol = ol.assign(
        charge="O" + ol["serviceStatusTransitionId"].astype(str),
        Charge_Type__c="One-Time",
        Service_Status__c=ol["transitionName"].astype(str),
    )[[*base, *_LINE_COLUMNS]]
    ul = _usage_lines(frames, plans, pcur, real, entry_cols, base, as_of)
    lines = pd.concat([rl, ol, ul], ignore_index=True)
    lines = lines.rename(columns={KEY: "entryKey"})
    lines[KEY] = (
        "psl:"
        + lines["entryKey"].str.removeprefix("pbe:")
        + ":"
        + lines["serviceId"].astype(str)
        + ":"
        + lines["charge"]
    )
    lines["Service_Name__c"] = lines["serviceName"]
    lines["Amount__c"] = round_money(lines["amount"], MONEY_DECIMALS["rate"])
    lines["Default_Quantity__c"] = round_money(lines["defaultInstances"])
    lines["Minimum_Quantity__c"] = round_money(lines["minimumInstances"])
    lines["Maximum_Quantity__c"] = round_money(lines["maximumInstances"])
    lines["Product__r.LogiSense_Id__c"] = lines["productKey"]
    lines["Pricebook__r.LogiSense_Id__c"] = lines["Pricebook2.LogiSense_Id__c"]
    lines["CurrencyIsoCode"] = lines["cur"]
    neg = (lines["amount"] < 0) | lines["amount"].isna()
    neg_usage = neg & (lines["Charge_Type__c"] == "Usage")
    findings.append(
        _findings(
            "Product_Service__c",
            lines.loc[neg_usage, KEY],
            lines.loc[neg_usage, "Service_Name__c"],
            "usage rate negative or without an amount",
        )
    )
    good_lines = lines.loc[~neg_usage]

    # ---------------------------------------------------------------- products and books in scope
    if config.price_book_ids is not None:
        scoped = set(good_entries["productKey"]) | set(entries.loc[entry_bad, "productKey"])
        good_prod = good_prod.loc[good_prod[KEY].isin(scoped)]
        books = books.loc[
            books["identity"].isin(set(config.price_book_ids) | ({std_id} if std_id else set()))
        ]
    pb = pd.DataFrame(
        {
            KEY: "pb:" + books["identity"].astype(str),
            "Name": books["name"],
            "Description": books["description"],
            "IsActive": books["isActive"].fillna(True).astype(bool),
            "IsStandard": books["isStandard"].fillna(False).astype(bool),
        }
    )

    out = {
        "Pricebook2": pb.reset_index(drop=True),
        "Product2": good_prod[[KEY, *FIELDS["Product2"]]].reset_index(drop=True),
        "PricebookEntry": good_entries[
            [
                KEY,
                *FIELDS["PricebookEntry"],
                *CREATE_ONLY["PricebookEntry"],
                "IsStandard",
                "PriceBookId",
                "Fallback",
            ]
        ].reset_index(drop=True),
        "Product_Service__c": good_lines[
            [KEY, *FIELDS["Product_Service__c"], *CREATE_ONLY["Product_Service__c"]]
        ].reset_index(drop=True),
    }
    all_findings = pd.concat(
        [f for f in findings if len(f)] or [pd.DataFrame(columns=FINDING_COLUMNS)], ignore_index=True
    )
    skipped = {obj: set(all_findings.loc[all_findings["object"] == obj, "key"]) for obj in OBJECTS}
    # lines of skipped entries are skipped too (never deleted because of a source problem)
    skipped_entries = skipped["PricebookEntry"]
    if skipped_entries:
        prefixes = tuple("psl:" + k.removeprefix("pbe:") + ":" for k in skipped_entries)
        skipped["Product_Service__c"] |= {"prefix:" + p for p in prefixes}
    return CatalogRecords(frames=out, findings=all_findings, skipped=skipped, standard_book_id=std_id)


def _usage_lines(
    frames: Mapping[str, pd.DataFrame],
    plans: pd.DataFrame,
    pcur: pd.DataFrame,
    real: pd.DataFrame,
    entry_cols: list[str],
    base: list[str],
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """One line per usage rate of the rate groups (in the entry's currency, current at ``as_of``)."""
    groups = _frame(
        frames, "Usage/Rate/Group", ["identity", "usageRatePlanId", "currencyId", "start", "end"]
    ).rename(columns={"identity": "usageRateGroupId"})
    for c in ("usageRateGroupId", "usageRatePlanId", "currencyId"):
        groups[c] = _ids(groups[c])
    g_start, g_end = _dates(groups["start"]), _dates(groups["end"])
    groups = groups.loc[((g_start.isna() | (g_start <= as_of)) & (g_end.isna() | (g_end > as_of))).to_numpy()]
    rates = _frame(
        frames, "Usage/Rate", ["identity", "usageRateGroupId", "usageClassId", "amount", "retired"]
    ).rename(columns={"identity": "usageRateId"})
    for c in ("usageRateId", "usageRateGroupId", "usageClassId"):
        rates[c] = _ids(rates[c])
    rates = rates.loc[~rates["retired"].fillna(False).astype(bool)]
    classes = _frame(frames, "Usage/Class", ["identity", "name"]).rename(
        columns={"identity": "usageClassId", "name": "className"}
    )
    classes["usageClassId"] = _ids(classes["usageClassId"])
    up = plans.loc[plans["usageRatePlanId"].notna()].merge(
        pcur[["packageCurrencyId", "currencyId"]], on="packageCurrencyId", how="left"
    )
    ul = (
        up.merge(
            groups[["usageRateGroupId", "usageRatePlanId", "currencyId"]],
            on=["usageRatePlanId", "currencyId"],
        )
        .merge(rates[["usageRateId", "usageRateGroupId", "usageClassId", "amount"]], on="usageRateGroupId")
        .merge(classes, on="usageClassId", how="left")
        .merge(real, on=entry_cols, how="inner")
    )
    ul["amount"] = pd.to_numeric(ul["amount"], errors="coerce").astype(float)
    return ul.assign(
        charge="U" + ul["usageRateId"].astype(str),
        Charge_Type__c="Usage",
        Service_Status__c=ul["className"].astype(str),
    )[[*base, *_LINE_COLUMNS]]
