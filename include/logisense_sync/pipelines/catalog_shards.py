"""Plan shards: a full catalogue sync plans a large catalogue a slice at a time, so memory stays flat.

Every record of one product falls in the same shard: its ``Product2`` (key ``pf:{pf}``), its
``PricebookEntry`` rows (``pbe:{book}:{pf}:{cur}``) and their ``Product_Service__c`` lines
(``psl:{book}:{pf}:{cur}:...``), where ``pf`` is the LogiSense package frequency id, and the shard is
``pf mod shards``. Everything the transform relates (fallback standard entries, held standard entries, lines)
is per product and currency, so a shard is planned exactly as the whole catalogue would be; the two
catalogue-wide checks are done once for all shards (duplicate SKUs) or in shard 0 (``Pricebook2``).

Salesforce's current records are streamed once, page by page, into one parquet file per object and shard;
the extracted LogiSense frames are read per shard with parquet filters (only the shard's rows are loaded).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from logisense_sync.clients.salesforce import SalesforceClient
from logisense_sync.extract.catalog import CATALOG_RESOURCES
from logisense_sync.transforms.catalog import KEY, SOURCE_COLUMNS

#: PricebookEntry records planned per shard: about 1 GB of working memory at the generated catalogue's shape
#: (8 service lines per entry); smaller catalogues are planned in one shard.
SHARD_ENTRIES = 100_000

_PF_IN_KEY = r"^(?:pf:|pbe:\d+:|psl:\d+:)(?P<pf>\d{1,18})(?::|$)"


def shard_count(entries: int, per_shard: int = SHARD_ENTRIES) -> int:
    """How many shards a catalogue of ``entries`` PricebookEntry records is planned in (at least 1)."""
    return max(1, math.ceil(entries / max(1, per_shard)))


def key_pf(keys: pd.Series) -> np.ndarray:
    """The package frequency id in each ``LogiSense_Id__c`` (vectorised; 0 for ``pb:`` and foreign keys)."""
    if len(keys) == 0:
        return np.zeros(0, dtype="int64")
    found = pc.extract_regex(pa.array(keys.astype("str"), type=pa.large_string()), _PF_IN_KEY)
    pf = pc.fill_null(pc.cast(pc.struct_field(found, [0]), pa.int64()), 0)
    return np.asarray(pf.to_numpy(zero_copy_only=False), dtype="int64")


def key_shards(keys: pd.Series, shards: int) -> np.ndarray:
    """The shard of each ``LogiSense_Id__c`` (``pb:`` keys and foreign keys go to shard 0)."""
    if shards == 1:
        return np.zeros(len(keys), dtype="int64")
    return key_pf(keys) % shards


def read_extracted(directory: Path, shard: int = 0, shards: int = 1) -> dict[str, pd.DataFrame]:
    """The extracted frames keyed by route, with only the columns the transform reads, for one shard.

    Package frequencies, their price book connectors and price plans are read for the shard's package
    frequencies, recurring and one-time prices for the shard's price plans; the rest (packages, services,
    reference data: small) whole.

    Args:
        directory: where :func:`~logisense_sync.extract.catalog.write_catalog` wrote.
        shard: which shard.
        shards: how many there are (1 = everything).

    Returns:
        Route → frame (routes the transform does not read are left out).
    """
    frames: dict[str, pd.DataFrame] = {}
    pf_ids: list[int] = []
    plan_ids: list[int] = []
    for spec in CATALOG_RESOURCES:  # package frequencies come before price plans, and those before prices
        wanted = SOURCE_COLUMNS.get(spec.route)
        if wanted is None:
            continue
        path = directory / f"{spec.attr}.parquet"
        present = set(pq.read_schema(path).names)
        columns = [c for c in wanted if c in present]
        filters: Any = None
        if shards > 1 and spec.route == "Package/Frequency":
            ids = pd.read_parquet(path, columns=["identity"])["identity"].dropna().astype("int64")
            pf_ids = ids.loc[ids % shards == shard].tolist()
            filters = [("identity", "in", pf_ids)]
        elif shards > 1 and spec.route in ("Package/Frequency/Currency", "Package/Service/PricePlan"):
            filters = [("packageFrequencyId", "in", pf_ids)]
        elif shards > 1 and spec.route.startswith("Package/Service/PricePlan/"):
            filters = [("packageServicePricePlanId", "in", plan_ids)]
        frame = pd.read_parquet(path, columns=columns, filters=filters)
        if spec.route == "Package/Service/PricePlan" and shards > 1:
            plan_ids = frame["identity"].dropna().astype("int64").tolist()
        frames[spec.route] = frame
    return frames


def stash_current(sf: SalesforceClient, soql: str, folder: Path, shards: int) -> dict[int, int]:
    """Stream a query's records (Bulk pages of up to a million rows) into ``folder/<shard>.parquet``.

    Values are kept as text, as Bulk returns them (REST values are turned into text too), so every page
    and shard has one schema; :func:`~logisense_sync.transforms.catalog_diff.normalise` reads text.

    Args:
        sf: Salesforce client.
        soql: a plain SELECT including ``LogiSense_Id__c``.
        folder: created if missing.
        shards: how many shards.

    Returns:
        Records written per shard.
    """
    folder.mkdir(parents=True, exist_ok=True)
    writers: dict[int, pq.ParquetWriter] = {}
    counts: dict[int, int] = {}
    try:
        for page in sf.query_frames(soql):
            text = page.astype("str")
            where = key_shards(text[KEY], shards)
            for shard in np.unique(where).tolist():
                part = pa.Table.from_pandas(text.loc[where == shard], preserve_index=False)
                writer = writers.get(shard)
                if writer is None:
                    writer = writers[shard] = pq.ParquetWriter(folder / f"{shard:04d}.parquet", part.schema)
                writer.write_table(part.cast(writer.schema))
                counts[shard] = counts.get(shard, 0) + part.num_rows
    finally:
        for writer in writers.values():
            writer.close()
    return counts


def read_current(folder: Path, shard: int, columns: list[str]) -> pd.DataFrame:
    """One shard of what :func:`stash_current` wrote (an empty frame with ``columns`` if none)."""
    path = folder / f"{shard:04d}.parquet"
    if not path.exists():
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return pd.read_parquet(path)
