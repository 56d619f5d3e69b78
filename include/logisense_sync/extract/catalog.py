"""Read the LogiSense catalogue into pandas frames: one frame per resource, one row per object.

Columns are the DTO JSON property names verbatim (``identity``, ``packageId``, ``packageName``, ``isActive``,
see ``sandbox/logisense/RESOURCES.md`` §6), so the transform stage speaks LogiSense's vocabulary at its edge.
Frames are built page by page with ``pd.DataFrame.from_records`` and joined with ``pd.concat``: no Python loop
runs per object, which matters for the price rows (about a million for 10,000 packages).

Dtypes are explicit:

* ``identity`` and every ``*Id`` reference: ``Int64`` (nullable: an unset reference is ``<NA>``);
* money (``amount``, ``minimumCharge``) and other numbers (``startQuantity``...): ``float64``.
  LogiSense sends JSON numbers rounded to at most 4 decimals (recurring/one-time) or the rate plan's
  ``amountPrecision`` (at most 11). float64 holds 15-17 significant digits: any amount below 1e11 with 4
  decimals comes back exactly after ``round(x, 4)``. Round to the precision, never compare raw floats, when
  writing money elsewhere;
* counts (``frequency``, ``defaultInstances``, ``amountPrecision``...): ``Int64``;
* flags (``is*``, ``fullPeriod``...): ``boolean`` (nullable);
* dates (``created``, ``updated``, ``start``, ``expiry``, ``effective``, ``end``): ``datetime64[us, UTC]``;
* names and other strings: pandas' ``str`` dtype;
* ``extensions`` (custom fields, a dict per row) is kept only when some row has a custom field.

``price_book_ids`` narrows at the source: Package/Frequency/Currency and Package/Service/PricePlan are
searched with ``priceBookId in [...]`` (the requested books plus the standard book, whose prices are the
default and which Salesforce needs before any custom price), the recurring/one-time rows either with
``packageServicePricePlanId in [...]`` chunks or, when the selection is most of the catalogue, by reading all
rows and filtering in pandas (whichever needs fewer calls). Without it every catalogue price plan
(``accountPricePlanId isNull``: account overrides are not catalogue) is read.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import numpy as np
import pandas as pd

from logisense_sync.clients.logisense import MAX_PAGE_SIZE, Filters, LogiSenseClient
from logisense_sync.errors import FatalError

__all__ = [
    "CATALOG_RESOURCES",
    "CatalogFrames",
    "ResourceSpec",
    "UnknownPriceBook",
    "frame_from_pages",
    "read_catalog",
    "write_catalog",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: How many ids go into one ``in`` filter when narrowing child rows to the selected price plans. LogiSense
#: runs on SQL Server, whose queries take at most 2100 parameters: stay below that.
IN_CHUNK: Final = 2000

_AUDIT: Final = ("identity", "created", "updated")
_MONEY: Final = frozenset({"amount", "minimumCharge"})
_FLOAT: Final = frozenset({"startQuantity", "multiplierToBaseUnitType"}) | _MONEY
_INT: Final = frozenset(
    {
        "frequency",
        "defaultInstances",
        "minimumInstances",
        "maximumInstances",
        "amountPrecision",
        "usageFrequency",
    }
)
_BOOL_EXTRA: Final = frozenset(
    {
        "fullPeriod",
        "invoiceDetail",
        "postPaid",
        "billOnAccountBillDay",
        "chargeRecurringIfUsage",
        "useForCost",
        "retired",
    }
)
_DATE_DTYPE: Final = "datetime64[us, UTC]"
_DATES: Final = frozenset({"created", "updated", "start", "expiry", "effective", "end", "lastUsedForBilling"})


class UnknownPriceBook(FatalError):
    """A requested price book id does not exist in LogiSense."""


def _column_dtype(name: str) -> str | None:
    if name == "identity" or name.endswith("Id"):
        return "Int64"
    if name in _FLOAT:
        return "float64"
    if name in _INT:
        return "Int64"
    if name in _BOOL_EXTRA or (name.startswith("is") and name[2:3].isupper()):
        return "boolean"
    if name in _DATES:
        return _DATE_DTYPE
    return None


@dataclass(frozen=True)
class ResourceSpec:
    """One catalogue resource: where it lives and which DTO properties it has.

    Attributes:
        attr: the :class:`CatalogFrames` field.
        route: the LogiSense route (``Package/Service/PricePlan``).
        fields: DTO properties after the audit ones, ``*Name`` echoes included (used for empty frames and
            column order; extra properties the server sends are kept after these).
    """

    attr: str
    route: str
    fields: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """Every expected column, in order."""
        return _AUDIT + self.fields


def _ref(*names: str) -> tuple[str, ...]:
    # ``currencyId`` -> ("currencyId", "currencyName"): every reference is echoed with its name.
    out: list[str] = []
    for name in names:
        out += [name, f"{name[:-2]}Name"]
    return tuple(out)


CATALOG_RESOURCES: Final[tuple[ResourceSpec, ...]] = (
    ResourceSpec("currencies", "Currency", ("name", "code", "symbol", "isDefault")),
    ResourceSpec(
        "price_books",
        "PriceBook",
        ("name", "description", "priceBookRegionId", "isStandard", "isActive", "ownerId"),
    ),
    ResourceSpec("frequency_types", "FrequencyType", ("name",)),
    ResourceSpec("service_status_types", "ServiceStatusType", ("name", "coreStatus", "isBillable")),
    ResourceSpec(
        "service_status_transitions",
        "ServiceStatusTransition",
        (*_ref("fromServiceStatusTypeId", "toServiceStatusTypeId"), "name"),
    ),
    ResourceSpec("usage_classes", "Usage/Class", ("name", "displayName")),
    ResourceSpec("usage_units", "Usage/Unit", ("name", "multiplierToBaseUnitType")),
    ResourceSpec(
        "packages",
        "Package",
        (
            "name",
            "description",
            "start",
            "expiry",
            "fullPeriod",
            "invoiceDetail",
            "postPaid",
            "billOnAccountBillDay",
            "isQuantityAllowed",
            "chargeRecurringIfUsage",
            "isGlobalAddOnEligible",
            "ownerId",
        ),
    ),
    ResourceSpec("package_currencies", "Package/Currency", _ref("packageId", "currencyId")),
    ResourceSpec(
        "package_frequencies",
        "Package/Frequency",
        (
            *_ref("packageId"),
            "name",
            "frequency",
            *_ref("frequencyTypeId"),
            "sku",
            "isActive",
            "termId",
            "countingRuleId",
        ),
    ),
    ResourceSpec(
        "frequency_currencies",
        "Package/Frequency/Currency",
        (*_ref("packageFrequencyId", "packageCurrencyId", "priceBookId"), "isActive"),
    ),
    ResourceSpec(
        "services",
        "Service",
        (
            "name",
            "description",
            "serviceTypeId",
            "serviceCategoryId",
            "isActive",
            "isTaxExempt",
            "isTaxInclusive",
            "usageFrequency",
            *_ref("usageFrequencyTypeId", "defaultServiceStatusTypeId"),
            "ownerId",
        ),
    ),
    ResourceSpec(
        "package_services",
        "Package/Service",
        (
            *_ref("packageId", "serviceId"),
            "defaultInstances",
            "minimumInstances",
            "maximumInstances",
            "termId",
        ),
    ),
    ResourceSpec(
        "price_plans",
        "Package/Service/PricePlan",
        (
            *_ref(
                "packageServiceId",
                "packageFrequencyId",
                "packageCurrencyId",
                "priceBookId",
                "accountPricePlanId",
                "accountProductCodeId",
                "usageRatePlanId",
            ),
            "effective",
            "pricePlanTypeId",
            "generalLedgerId",
        ),
    ),
    ResourceSpec(
        "recurring_prices",
        "Package/Service/PricePlan/Recurring",
        (*_ref("packageServicePricePlanId", "serviceStatusTypeId"), "amount", "startQuantity"),
    ),
    ResourceSpec(
        "one_time_prices",
        "Package/Service/PricePlan/OneTime",
        (*_ref("packageServicePricePlanId", "serviceStatusTransitionId"), "amount"),
    ),
    ResourceSpec(
        "usage_rate_plans", "Usage/Rate/Plan", ("name", "displayName", "description", "amountPrecision")
    ),
    ResourceSpec(
        "usage_rate_groups",
        "Usage/Rate/Group",
        (
            *_ref("usageRatePlanId"),
            "name",
            "displayName",
            *_ref("currencyId"),
            "start",
            "end",
            "amountPrecision",
            "useForCost",
            "isAggregated",
            "isPassThrough",
            "timePeriodId",
        ),
    ),
    ResourceSpec(
        "usage_rates",
        "Usage/Rate",
        (
            *_ref("usageRateGroupId", "usageClassId", "usageUnitId"),
            "amount",
            "minimumCharge",
            "displayName",
            "retired",
        ),
    ),
)

_SPECS: Final = {spec.attr: spec for spec in CATALOG_RESOURCES}


@dataclass
class CatalogFrames:
    """The LogiSense catalogue, one DataFrame per resource (columns = DTO property names verbatim).

    Reference lists: ``currencies``, ``price_books``, ``frequency_types``, ``service_status_types``,
    ``service_status_transitions``, ``usage_classes``, ``usage_units``. Catalogue: ``packages``,
    ``package_currencies``, ``package_frequencies``, ``frequency_currencies`` (Package/Frequency/Currency: the
    product ↔ price-book link), ``services``, ``package_services``, ``price_plans`` (catalogue
    Package/Service/PricePlan rows only), ``recurring_prices``, ``one_time_prices``, ``usage_rate_plans``,
    ``usage_rate_groups``, ``usage_rates``. ``price_book_ids`` records the selection (None = every book).
    """

    currencies: pd.DataFrame
    price_books: pd.DataFrame
    frequency_types: pd.DataFrame
    service_status_types: pd.DataFrame
    service_status_transitions: pd.DataFrame
    usage_classes: pd.DataFrame
    usage_units: pd.DataFrame
    packages: pd.DataFrame
    package_currencies: pd.DataFrame
    package_frequencies: pd.DataFrame
    frequency_currencies: pd.DataFrame
    services: pd.DataFrame
    package_services: pd.DataFrame
    price_plans: pd.DataFrame
    recurring_prices: pd.DataFrame
    one_time_prices: pd.DataFrame
    usage_rate_plans: pd.DataFrame
    usage_rate_groups: pd.DataFrame
    usage_rates: pd.DataFrame
    price_book_ids: tuple[int, ...] | None = None

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every frame by field name, in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in _SPECS}

    def row_counts(self) -> dict[str, int]:
        """Rows per frame (for logs and reports)."""
        return {name: len(frame) for name, frame in self.frames().items()}

    def to_parquet(self, directory: Path | str) -> Path:
        """Write every frame to ``<directory>/<name>.parquet`` (``extensions`` dicts as JSON text).

        Args:
            directory: created if missing.

        Returns:
            The directory.
        """
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for name, frame in self.frames().items():
            out = frame
            if "extensions" in frame.columns:
                out = frame.assign(extensions=frame["extensions"].map(json.dumps))
            out.to_parquet(path / f"{name}.parquet", index=False)
        books = list(self.price_book_ids) if self.price_book_ids is not None else None
        (path / "_meta.json").write_text(json.dumps({"price_book_ids": books}))
        return path

    @classmethod
    def read_parquet(cls, directory: Path | str) -> CatalogFrames:
        """Read frames written by :meth:`to_parquet`.

        Args:
            directory: where :meth:`to_parquet` wrote.

        Returns:
            The frames (``extensions`` back as dicts).
        """
        path = Path(directory)
        loaded: dict[str, Any] = {}
        for spec in CATALOG_RESOURCES:
            frame = pd.read_parquet(path / f"{spec.attr}.parquet")
            if "extensions" in frame.columns:
                if frame["extensions"].isna().all():  # streamed by write_catalog: nobody has custom fields
                    frame = frame.drop(columns="extensions")
                else:
                    frame["extensions"] = frame["extensions"].map(lambda v: json.loads(v) if v else {})
            loaded[spec.attr] = frame
        meta = json.loads((path / "_meta.json").read_text()) if (path / "_meta.json").exists() else {}
        books = meta.get("price_book_ids")
        return cls(**loaded, price_book_ids=tuple(books) if books is not None else None)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    conversions: dict[str, Any] = {}
    for column in frame.columns:
        dtype = _column_dtype(str(column))
        if dtype is None or str(frame[column].dtype) == dtype:
            continue
        if dtype.startswith("datetime"):
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601").astype(
                "datetime64[us, UTC]"
            )
        elif dtype == "Int64" and frame[column].dtype == object:
            # JSON ints with nulls arrive as object; to_numeric keeps them exact (no float round trip).
            frame[column] = pd.to_numeric(frame[column]).astype("Int64")
        else:
            conversions[column] = dtype
    return frame.astype(conversions) if conversions else frame


def empty_frame(spec: ResourceSpec) -> pd.DataFrame:
    """An empty frame with the resource's columns and dtypes.

    Args:
        spec: the resource.

    Returns:
        Zero rows, every expected column typed.
    """
    return pd.DataFrame({c: pd.Series(dtype=_column_dtype(c) or "str") for c in spec.columns})


def _page_frames(pages: Iterable[list[dict[str, Any]]]) -> Iterator[pd.DataFrame]:
    """One typed frame per non-empty page, converted as the page arrives."""
    for page in pages:
        if page:
            yield _typed(pd.DataFrame.from_records(page))


def _finish(frame: pd.DataFrame, spec: ResourceSpec, *, drop_empty_extensions: bool = True) -> pd.DataFrame:
    """Give a frame of typed rows the resource's full column set, order and text dtypes."""
    if drop_empty_extensions and "extensions" in frame.columns and not frame["extensions"].astype(bool).any():
        frame = frame.drop(columns="extensions")
    # A text column that happens to be all null (e.g. accountPricePlanName) is still text: same dtype every run.
    untyped = [
        c
        for c in frame.columns
        if c != "extensions" and frame[c].dtype == object and _column_dtype(c) is None
    ]
    if untyped:
        frame = frame.astype(dict.fromkeys(untyped, "str"))
    extra = [c for c in frame.columns if c not in spec.columns]
    for column in spec.columns:
        if column not in frame.columns:
            frame[column] = pd.Series(None, index=frame.index, dtype=_column_dtype(column) or "str")
    order = [*spec.columns, *extra]
    return frame if order == list(frame.columns) else frame[order]


def frame_from_pages(pages: Iterable[list[dict[str, Any]]], spec: ResourceSpec) -> pd.DataFrame:
    """Build one typed frame from Search pages, converting each page as it arrives.

    Args:
        pages: raw page item lists (from :meth:`LogiSenseClient.search_pages`).
        spec: the resource (for column order and the empty case).

    Returns:
        One row per object, columns = DTO property names, dtypes as the module docstring says.
    """
    return _collect(_page_frames(pages), spec)


def _collect(parts: Iterable[pd.DataFrame], spec: ResourceSpec) -> pd.DataFrame:
    frames = list(parts)
    if not frames:
        return empty_frame(spec)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    del frames
    return _finish(frame, spec)


_DONE: Final = object()


def prefetched(pages: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Run a page iterator in a background thread, ``depth`` pages ahead of the consumer.

    While this thread turns page N into a frame, the background thread already waits for page N+1, so the
    server's work overlaps the client's. Only the background thread touches the client until the iterator is
    exhausted (or abandoned), so the client needs no locking. Errors are re-raised in the consumer.

    Args:
        pages: e.g. ``client.search_pages(...)`` (not started yet).
        depth: how many pages may wait, decoded, ahead of the consumer (memory: ``depth`` pages).

    Yields:
        The pages, in order.
    """
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        buffer.put(page, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            buffer.put(exc)

    worker = threading.Thread(target=produce, name="logisense-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


@dataclass(frozen=True)
class _Paging:
    """How pages are read: size, prefetching, and the projection per route (None = every property)."""

    size: int
    prefetch: bool
    fields: Mapping[str, Sequence[str]] | None = None

    def of(self, attr: str) -> Sequence[str] | None:
        return self.fields.get(_SPECS[attr].route) if self.fields is not None else None


def _pages(
    client: LogiSenseClient, attr: str, filters: Filters | None, paging: _Paging
) -> Iterator[pd.DataFrame]:
    pages = client.search_pages(_SPECS[attr].route, filters, fields=paging.of(attr), page_size=paging.size)
    return _page_frames(prefetched(pages) if paging.prefetch else pages)


def _pages_in(
    client: LogiSenseClient, attr: str, column: str, ids: Sequence[int], paging: _Paging
) -> Iterator[pd.DataFrame]:
    spec = _SPECS[attr]

    def pages() -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(ids), IN_CHUNK):
            chunk = [int(i) for i in ids[start : start + IN_CHUNK]]
            filters = [{"name": column, "operator": "in", "value": chunk}]
            yield from client.search_pages(spec.route, filters, fields=paging.of(attr), page_size=paging.size)

    return _page_frames(prefetched(pages()) if paging.prefetch else pages())


def _kept(parts: Iterable[pd.DataFrame], column: str, ids: np.ndarray) -> Iterator[pd.DataFrame]:
    """Keep the rows whose ``column`` is one of ``ids``, page by page (vectorised).

    Membership is a binary search in the sorted ids: ``isin`` would hash millions of plan ids for every page.
    """
    wanted = np.unique(ids)
    for part in parts:
        values = part[column].to_numpy(dtype="int64", na_value=-1)
        if len(wanted):
            found = wanted[np.searchsorted(wanted, values).clip(0, len(wanted) - 1)]
            keep = found == values
        else:
            keep = np.zeros(len(values), dtype=bool)
        yield part if bool(keep.all()) else part[keep].reset_index(drop=True)


def _children_pages(
    client: LogiSenseClient,
    attr: str,
    plan_ids: np.ndarray,
    paging: _Paging,
    strategy: Literal["auto", "in", "filter"],
) -> Iterator[pd.DataFrame]:
    """Read the recurring/one-time rows of the selected price plans with the fewest calls."""
    spec = _SPECS[attr]
    if not len(plan_ids):
        return iter(())
    if strategy == "auto":
        total_rows = client.count(spec.route)
        total_plans = max(client.count(_SPECS["price_plans"].route), 1)
        expected_rows = total_rows * len(plan_ids) / total_plans
        chunks = math.ceil(len(plan_ids) / IN_CHUNK)
        in_calls = chunks * max(1, math.ceil(expected_rows / chunks / paging.size))
        filter_calls = max(1, math.ceil(total_rows / paging.size))
        strategy = "in" if in_calls < filter_calls else "filter"
        logger.info(
            "LogiSense %s: %d of %d plans selected; ~%d calls with 'in' vs %d reading all: using %r",
            spec.route, len(plan_ids), total_plans, in_calls, filter_calls, strategy,
        )  # fmt: skip
    if strategy == "in":
        return _pages_in(client, attr, "packageServicePricePlanId", plan_ids.tolist(), paging)
    return _kept(_pages(client, attr, None, paging), "packageServicePricePlanId", plan_ids)


#: Receives one resource's typed pages and keeps them (in memory or on disk); returns the rows it keeps in
#: memory, at least their ``identity`` column.
Sink = Callable[[str, Iterator[pd.DataFrame]], pd.DataFrame]


def _extract(
    client: LogiSenseClient,
    sink: Sink,
    price_book_ids: Sequence[int] | None,
    *,
    include_standard: bool,
    paging: _Paging,
    narrow_children: Literal["auto", "in", "filter"],
) -> tuple[int, ...] | None:
    """Read every catalogue resource into ``sink``, in dependency order; return the selected books."""

    def read(attr: str, filters: Filters | None = None) -> pd.DataFrame:
        return sink(attr, _pages(client, attr, filters, paging))

    for attr in (
        "currencies",
        "frequency_types",
        "service_status_types",
        "service_status_transitions",
        "usage_classes",
        "usage_units",
    ):
        read(attr)

    selected: tuple[int, ...] | None = None
    books = _collect(_pages(client, "price_books", None, paging), _SPECS["price_books"])
    if price_book_ids:
        wanted = {int(i) for i in price_book_ids}
        unknown = sorted(wanted - set(books["identity"].dropna().astype(int)))
        if unknown:
            msg = (
                f"LogiSense price book(s) {unknown} do not exist; known: {sorted(books['identity'].tolist())}"
            )
            raise UnknownPriceBook(msg)
        if include_standard:
            wanted |= set(books.loc[books["isStandard"].fillna(False).astype(bool), "identity"].astype(int))
        selected = tuple(sorted(wanted))
        books = books[books["identity"].isin(selected)].reset_index(drop=True)
    sink("price_books", iter([books]))

    for attr in ("packages", "package_currencies", "package_frequencies", "services", "package_services"):
        read(attr)
    for attr in ("usage_rate_plans", "usage_rate_groups", "usage_rates"):
        read(attr)

    if selected is None:
        read("frequency_currencies")
        plan_filter: Filters = [{"name": "accountPricePlanId", "operator": "isNull", "value": None}]
        plan_ids = read("price_plans", plan_filter)["identity"].to_numpy(dtype="int64", na_value=-1)
        for attr in ("recurring_prices", "one_time_prices"):
            # Account override plans' rows are not catalogue: keep the catalogue plans' rows (vectorised).
            pages = _kept(_pages(client, attr, None, paging), "packageServicePricePlanId", plan_ids)
            sink(attr, pages)
    else:
        in_books: Filters = [{"name": "priceBookId", "operator": "in", "value": list(selected)}]
        read("frequency_currencies", in_books)
        plan_ids = read("price_plans", in_books)["identity"].to_numpy(dtype="int64", na_value=-1)
        for attr in ("recurring_prices", "one_time_prices"):
            sink(attr, _children_pages(client, attr, plan_ids, paging, narrow_children))
    return selected


def _logged(attr: str, parts: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    started, rows = time.monotonic(), 0
    for part in parts:
        rows += len(part)
        yield part
    logger.info("LogiSense %s: %d rows in %.2f s", _SPECS[attr].route, rows, time.monotonic() - started)


def read_catalog(
    client: LogiSenseClient,
    price_book_ids: Sequence[int] | None = None,
    *,
    include_standard: bool = True,
    page_size: int = MAX_PAGE_SIZE,
    prefetch: bool = True,
    narrow_children: Literal["auto", "in", "filter"] = "auto",
) -> CatalogFrames:
    """Read the catalogue (or the part one or more price books need) into frames.

    Args:
        client: a LogiSense client.
        price_book_ids: the price books to read; None or empty reads every price book.
        include_standard: with ``price_book_ids``, also read the standard book's prices (the default prices a
            regional book falls back to).
        page_size: Search page size (at most 10000: fewest calls).
        prefetch: fetch the next page in a background thread while the current one becomes a frame.
        narrow_children: with ``price_book_ids``, how recurring/one-time rows are narrowed: ``"in"`` searches
            ``packageServicePricePlanId in [...]`` in chunks of :data:`IN_CHUNK` ids, ``"filter"`` reads every
            row and keeps the selected plans' rows in pandas, ``"auto"`` counts first (3 small calls) and
            picks whichever needs fewer calls.

    Returns:
        The frames. ``price_books``, ``frequency_currencies``, ``price_plans``, ``recurring_prices`` and
        ``one_time_prices`` hold only the selected books; packages, services and usage rating are complete.

    Raises:
        UnknownPriceBook: a requested price book does not exist.
        LogiSenseError: a read failed (after the client's retries).
    """
    started = time.monotonic()
    calls_before = client.request_count
    frames: dict[str, pd.DataFrame] = {}

    def keep(attr: str, parts: Iterator[pd.DataFrame]) -> pd.DataFrame:
        frames[attr] = _collect(_logged(attr, parts), _SPECS[attr])
        return frames[attr]

    selected = _extract(
        client, keep, price_book_ids, include_standard=include_standard, paging=_Paging(page_size, prefetch),
        narrow_children=narrow_children,
    )  # fmt: skip
    catalog = CatalogFrames(**frames, price_book_ids=selected)
    logger.info(
        "LogiSense catalogue read in %.1f s with %d API calls: %s",
        time.monotonic() - started, client.request_count - calls_before, catalog.row_counts(),
    )  # fmt: skip
    return catalog


class _ParquetSink:
    """Writes each resource's pages to ``<directory>/<attr>.parquet`` as they arrive (one page in memory).

    The first page fixes the file's schema; later pages are conformed to it (a column a page lacks is null;
    one the first page lacked is dropped, with a warning). ``extensions`` is stored as JSON text, null when a
    row has none, so every page has the same columns.
    """

    def __init__(self, directory: Path, fields: Mapping[str, Sequence[str]] | None) -> None:
        self.directory = directory
        self.fields = fields or {}
        self.rows: dict[str, int] = {}

    def __call__(self, attr: str, parts: Iterator[pd.DataFrame]) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.parquet as pq

        spec = _SPECS[attr]
        path = self.directory / f"{attr}.parquet"
        tmp = path.with_suffix(".tmp")
        writer: pq.ParquetWriter | None = None
        identities: list[np.ndarray] = []
        rows = 0
        try:
            for part in _logged(attr, parts):
                frame = _finish(part, spec, drop_empty_extensions=False)
                projection = self.fields.get(spec.route)
                if projection is not None:
                    frame = frame[[c for c in frame.columns if c == "identity" or c in projection]]
                if "extensions" in frame.columns:
                    frame["extensions"] = _extensions_json(frame["extensions"])
                if writer is None:
                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    writer = pq.ParquetWriter(tmp, table.schema)
                else:
                    table = pa.Table.from_pandas(
                        _conform(frame, writer.schema.names, attr), schema=writer.schema, preserve_index=False
                    )
                writer.write_table(table)
                identities.append(frame["identity"].to_numpy(dtype="int64", na_value=-1))
                rows += len(frame)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            empty_frame(spec).to_parquet(tmp, index=False)
        tmp.replace(path)
        self.rows[attr] = rows
        ids = np.concatenate(identities) if identities else np.array([], dtype="int64")
        return pd.DataFrame({"identity": ids})


def _extensions_json(values: pd.Series) -> pd.Series:
    return values.map(lambda v: json.dumps(v) if v else None).astype("str")


def _conform(frame: pd.DataFrame, names: Sequence[str], attr: str) -> pd.DataFrame:
    extra = [c for c in frame.columns if c not in names]
    if extra:
        logger.warning("LogiSense %s: columns %s appeared after the first page; not kept", attr, extra)
    missing = {c: None for c in names if c not in frame.columns}
    return (frame.assign(**missing) if missing else frame)[list(names)]


def write_catalog(
    client: LogiSenseClient,
    directory: Path | str,
    price_book_ids: Sequence[int] | None = None,
    *,
    include_standard: bool = True,
    page_size: int = MAX_PAGE_SIZE,
    prefetch: bool = True,
    narrow_children: Literal["auto", "in", "filter"] = "auto",
    fields: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, int]:
    """Stream the catalogue to parquet, page by page: what :func:`read_catalog` reads, in the files
    :meth:`CatalogFrames.to_parquet` writes, without holding any large frame (millions of price rows).

    Args:
        client: a LogiSense client.
        directory: created if missing.
        price_book_ids: as for :func:`read_catalog`.
        include_standard: as for :func:`read_catalog`.
        page_size: as for :func:`read_catalog`.
        prefetch: as for :func:`read_catalog`.
        narrow_children: as for :func:`read_catalog`.
        fields: per route, the properties to read and keep (a LogiSense Search projection: less to send,
            decode and store); routes not named keep every property.

    Returns:
        Rows written per frame.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    calls_before = client.request_count
    sink = _ParquetSink(path, fields)
    selected = _extract(
        client, sink, price_book_ids, include_standard=include_standard,
        paging=_Paging(page_size, prefetch, fields), narrow_children=narrow_children,
    )  # fmt: skip
    books = list(selected) if selected is not None else None
    (path / "_meta.json").write_text(json.dumps({"price_book_ids": books}))
    logger.info(
        "LogiSense catalogue written in %.1f s with %d API calls: %s",
        time.monotonic() - started, client.request_count - calls_before, sink.rows,
    )  # fmt: skip
    return sink.rows
