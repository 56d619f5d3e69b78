"""Data sets: the owner's system data (after reset), the demo catalogue and the scalable generator.

The demo is a telecom/SaaS seller's catalogue; the generator repeats the same templates for N packages
(deterministic for a seed) and writes them with bulk inserts in batches of ``SEED_BATCH`` packages (memory
stays flat), indexes built afterwards, so 10,000 packages (about 1.1 million price rows) load in seconds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from logisense_sync.sandbox.logisense.store import Store, now_iso

USD, EUR, GBP, CAD = 1, 2, 3, 4
STANDARD, EMEA, NORTH_AMERICA = 1, 2, 3
MONTH, YEAR = 3, 4
ACTIVE, SUSPENDED = 1, 2
ACTIVATION = 1  # ServiceStatusTransition [New] -> Active

SYSTEM: dict[str, list[dict[str, Any]]] = {
    "Currency": [{"identity": USD, "name": "US Dollar", "code": "USD", "symbol": "$", "isDefault": 1}],
    "FrequencyType": [{"identity": i, "name": n} for i, n in enumerate(("Day", "Week", "Month", "Year"), 1)],
    "ServiceStatusType": [
        {"identity": 1, "name": "Active", "coreStatus": "Active", "isBillable": 1},
        {"identity": 2, "name": "Suspended", "coreStatus": "Suspended", "isBillable": 1},
        {"identity": 3, "name": "Canceled", "coreStatus": "Canceled", "isBillable": 0},
        {"identity": 4, "name": "Trial", "coreStatus": "Prospect", "isBillable": 0},
    ],
    "ServiceStatusTransition": [
        {"identity": i, "fromServiceStatusTypeId": a, "toServiceStatusTypeId": b, "name": n}
        for i, (a, b, n) in enumerate(
            (
                (None, 1, "[New] -> Active"),
                (None, 4, "[New] -> Trial"),
                (1, 2, "Active -> Suspended"),
                (2, 1, "Suspended -> Active"),
                (1, 3, "Active -> Canceled"),
                (2, 3, "Suspended -> Canceled"),
                (4, 1, "Trial -> Active"),
            ),
            1,
        )
    ],
    "AccountStatusType": [
        {"identity": i, "name": n, "isActive": a}
        for i, (n, a) in enumerate((("Active", 1), ("Suspended", 1), ("Closed", 0)), 1)
    ],
    "AccountType": [
        {"identity": i, "name": n}
        for i, n in enumerate(
            (
                "Customer - Direct",
                "Customer - Channel",
                "Channel Partner / Reseller",
                "Installation Partner",
                "Technology Partner",
                "Other",
            ),
            1,
        )
    ],
    "BillGroup": [{"identity": 1, "name": "Default"}, {"identity": 2, "name": "Mid-Month"}],
    "ContactType": [
        {"identity": 1, "name": "Billing", "isRequired": 1, "showOnNewAccount": 1},
        {"identity": 2, "name": "Primary", "isRequired": 0, "showOnNewAccount": 1},
        {"identity": 3, "name": "Shipping", "isRequired": 0, "showOnNewAccount": 0},
        {"identity": 4, "name": "Technical", "isRequired": 0, "showOnNewAccount": 0},
    ],
    "ContactPointType": [
        {"identity": 1, "name": "Email", "dataType": "email", "isRequired": 1, "allowMultiple": 0},
        {"identity": 2, "name": "Phone", "dataType": "phone", "isRequired": 0, "allowMultiple": 1},
        {"identity": 3, "name": "Mobile", "dataType": "phone", "isRequired": 0, "allowMultiple": 1},
        {"identity": 4, "name": "Address", "dataType": "address", "isRequired": 0, "allowMultiple": 1},
    ],
    "PriceBook": [
        {
            "identity": STANDARD,
            "name": "Standard",
            "description": "The owner's standard price book",
            "isStandard": 1,
            "isActive": 1,
            "ownerId": 1,
        }
    ],
    "Usage/Class": [
        {"identity": i, "name": n, "displayName": n}
        for i, n in enumerate(("Domestic Voice", "International Voice", "Roaming Voice", "SMS", "Data"), 1)
    ],
    "Usage/Unit": [
        {"identity": i, "name": n, "multiplierToBaseUnitType": m}
        for i, (n, m) in enumerate(
            (("Second", 1), ("Minute", 60), ("Message", 1), ("Megabyte", 1), ("Gigabyte", 1024)), 1
        )
    ],
}

CURRENCIES = [
    {"identity": EUR, "name": "Euro", "code": "EUR", "symbol": "€", "isDefault": 0},
    {"identity": GBP, "name": "British Pound", "code": "GBP", "symbol": "£", "isDefault": 0},
    {"identity": CAD, "name": "Canadian Dollar", "code": "CAD", "symbol": "$", "isDefault": 0},
]
CODES = {USD: "USD", EUR: "EUR", GBP: "GBP", CAD: "CAD"}
FX = {USD: 1.0, EUR: 0.92, GBP: 0.79, CAD: 1.36}
PRICE_BOOKS = [
    {
        "identity": EMEA,
        "name": "EMEA",
        "description": "Europe, Middle East and Africa list prices",
        "priceBookRegionId": 2,
        "isStandard": 0,
        "isActive": 1,
        "ownerId": 1,
    },
    {
        "identity": NORTH_AMERICA,
        "name": "North America",
        "description": "United States and Canada list prices",
        "priceBookRegionId": 1,
        "isStandard": 0,
        "isActive": 1,
        "ownerId": 1,
    },
]
BOOK_NAMES = {STANDARD: "Standard", EMEA: "EMEA", NORTH_AMERICA: "North America"}
BOOK_CURRENCIES = {STANDARD: (USD, EUR, GBP, CAD), EMEA: (EUR, GBP), NORTH_AMERICA: (USD, CAD)}
BOOK_FACTOR = {STANDARD: 1.0, EMEA: 0.95, NORTH_AMERICA: 0.97}
SEED_BATCH = 2000  # generated packages written per batch (about 300,000 rows)
ANNUAL_FACTOR = 12 * 0.9  # annual billing: twelve months less 10%

# Usage rate plans: name -> rates (usage class id, unit id, USD amount per unit)
USAGE_PLANS: dict[str, list[tuple[int, int, float]]] = {
    "Mobile Voice & SMS": [(1, 2, 0.05), (2, 2, 0.35), (3, 2, 1.25), (4, 3, 0.02)],
    "Mobile Data": [(5, 4, 0.01), (3, 4, 0.15)],
    "SIP Trunk Calling": [(1, 2, 0.012), (2, 2, 0.09)],
    "International Calling": [(2, 2, 0.19), (3, 2, 0.95)],
}
USAGE_PLAN_IDS = {name: i for i, name in enumerate(USAGE_PLANS, 1)}


@dataclass(frozen=True)
class Svc:
    """A service inside a package template: monthly USD price, suspended share, activation fee, usage plan."""

    name: str
    monthly: float
    suspended: float = 0.25
    activation: float | None = None
    usage: str | None = None


@dataclass(frozen=True)
class Template:
    """A package template of the demo catalogue."""

    name: str
    sku: str
    description: str
    services: tuple[Svc, ...]
    expired: bool = False
    annual_inactive: bool = False
    north_america_only: bool = False


LINE = Svc("Mobile Line", 15.0, 0.25, 10.0, "Mobile Voice & SMS")
DATA = Svc("Mobile Data Bundle", 10.0, 0.0, None, "Mobile Data")
TEMPLATES: tuple[Template, ...] = (
    Template(
        "Mobile Essentials",
        "MOB-ESS",
        "Talk, text and 5 GB",
        (LINE, Svc("Mobile Data Bundle", 5.0, 0.0, None, "Mobile Data"), Svc("Voicemail", 2.0, 0.0)),
    ),
    Template(
        "Mobile Unlimited",
        "MOB-UNL",
        "Unlimited talk and text, 50 GB",
        (Svc("Mobile Line", 25.0, 0.25, 10.0, "Mobile Voice & SMS"), DATA, Svc("Voicemail", 2.0, 0.0)),
    ),
    Template(
        "Mobile Unlimited Plus",
        "MOB-UNP",
        "Unlimited everything with roaming",
        (
            Svc("Mobile Line", 35.0, 0.25, 10.0, "Mobile Voice & SMS"),
            Svc("Mobile Data Bundle", 20.0, 0.0, None, "Mobile Data"),
            Svc("Roaming Pass", 8.0, 0.0, None, "International Calling"),
        ),
    ),
    Template(
        "Business Mobile Pool 50GB",
        "BIZ-POOL50",
        "Shared data pool for teams",
        (
            Svc("Shared Data Pool", 120.0, 0.5, 25.0, "Mobile Data"),
            Svc("Business Line", 12.0, 0.25, 5.0, "Mobile Voice & SMS"),
            Svc("Device Management", 3.0, 0.0),
        ),
    ),
    Template(
        "IoT Connect 1GB",
        "IOT-1G",
        "SIM connectivity for devices",
        (Svc("IoT SIM", 2.5, 0.1, 1.0, "Mobile Data"), Svc("IoT Platform Access", 1.0, 0.0)),
        annual_inactive=True,
    ),
    Template(
        "IoT Connect Fleet",
        "IOT-FLEET",
        "Fleet telematics connectivity",
        (
            Svc("IoT SIM", 4.0, 0.1, 1.0, "Mobile Data"),
            Svc("IoT Platform Access", 6.0, 0.0),
            Svc("GPS Tracking", 3.5, 0.0),
        ),
    ),
    Template(
        "Fibre 100",
        "FIB-100",
        "100 Mbps fibre broadband",
        (Svc("Fibre Access 100", 39.0, 0.2, 49.0), Svc("Wi-Fi Router Rental", 5.0, 0.0, 20.0)),
        annual_inactive=True,
    ),
    Template(
        "Fibre 500",
        "FIB-500",
        "500 Mbps fibre broadband",
        (
            Svc("Fibre Access 500", 59.0, 0.2, 49.0),
            Svc("Wi-Fi Router Rental", 5.0, 0.0, 20.0),
            Svc("Static IP", 5.0, 0.0),
        ),
    ),
    Template(
        "Fibre Gigabit",
        "FIB-1G",
        "1 Gbps fibre broadband",
        (
            Svc("Fibre Access 1G", 79.0, 0.2, 49.0),
            Svc("Wi-Fi 6 Mesh Rental", 9.0, 0.0, 30.0),
            Svc("Static IP", 5.0, 0.0),
        ),
    ),
    Template(
        "Business Fibre 1G Dedicated",
        "BIZ-DIA-1G",
        "Dedicated internet access with SLA",
        (
            Svc("Dedicated Access 1G", 499.0, 0.5, 750.0),
            Svc("Managed Router", 45.0, 0.0, 150.0),
            Svc("Static IP Block /29", 25.0, 0.0),
            Svc("Premium SLA", 60.0, 0.0),
        ),
        north_america_only=True,
    ),
    Template(
        "Cloud PBX Starter",
        "PBX-START",
        "Hosted PBX for small offices",
        (Svc("PBX Seat", 12.0, 0.25, 15.0, "SIP Trunk Calling"), Svc("Auto Attendant", 5.0, 0.0)),
    ),
    Template(
        "Cloud PBX Professional",
        "PBX-PRO",
        "Hosted PBX with call centre features",
        (
            Svc("PBX Seat", 22.0, 0.25, 15.0, "SIP Trunk Calling"),
            Svc("Call Recording", 6.0, 0.0),
            Svc("Contact Centre Queue", 15.0, 0.0),
        ),
    ),
    Template(
        "SIP Trunk 10 Channels",
        "SIP-10",
        "Ten concurrent SIP channels",
        (Svc("SIP Channel", 8.0, 0.5, 50.0, "SIP Trunk Calling"), Svc("DID Number Block", 10.0, 0.0)),
    ),
    Template(
        "International Calling Add-on",
        "INTL-ADD",
        "Discounted international minutes",
        (Svc("International Minutes Bundle", 9.0, 0.0, None, "International Calling"),),
    ),
    Template(
        "Collaboration Suite Basic",
        "COLLAB-BAS",
        "Chat, meetings and 30 GB storage",
        (Svc("Collaboration Seat", 6.0, 0.0, None), Svc("Cloud Storage 30GB", 1.0, 0.0)),
    ),
    Template(
        "Collaboration Suite Business",
        "COLLAB-BUS",
        "Meetings, webinars and 1 TB storage",
        (
            Svc("Collaboration Seat", 12.5, 0.0, None),
            Svc("Cloud Storage 1TB", 3.0, 0.0),
            Svc("Webinar Add-on", 4.0, 0.0),
        ),
    ),
    Template(
        "Collaboration Suite Enterprise",
        "COLLAB-ENT",
        "Compliance, e-discovery and unlimited storage",
        (
            Svc("Collaboration Seat", 22.0, 0.0, None),
            Svc("Unlimited Storage", 6.0, 0.0),
            Svc("Compliance Archive", 5.0, 0.0),
            Svc("Onboarding", 0.0, 0.0, 500.0),
        ),
    ),
    Template(
        "Managed Security Edge",
        "SEC-EDGE",
        "Managed firewall and threat protection",
        (
            Svc("Managed Firewall", 89.0, 0.5, 199.0),
            Svc("Threat Intelligence Feed", 25.0, 0.0),
            Svc("24x7 SOC Monitoring", 120.0, 0.0),
        ),
    ),
    Template(
        "Cloud Backup 1TB",
        "BKP-1T",
        "Encrypted off-site backup",
        (Svc("Backup Storage 1TB", 29.0, 0.2, None), Svc("Backup Agent", 4.0, 0.0)),
    ),
    Template(
        "Managed Wi-Fi Site",
        "WIFI-SITE",
        "Managed wireless for one site",
        (Svc("Access Point Management", 15.0, 0.25, 99.0), Svc("Guest Portal", 10.0, 0.0)),
        north_america_only=True,
    ),
    Template(
        "Legacy DSL 20",
        "DSL-20",
        "Retired copper broadband",
        (Svc("DSL Access 20", 29.0, 0.2, 39.0), Svc("DSL Modem Rental", 4.0, 0.0)),
        expired=True,
    ),
    Template(
        "Mobile Classic 2022",
        "MOB-CL22",
        "Retired 2022 mobile plan",
        (Svc("Mobile Line", 20.0, 0.25, 10.0, "Mobile Voice & SMS"), Svc("Voicemail", 2.0, 0.0)),
        expired=True,
    ),
)


def _insert(store: Store, route: str, rows: Sequence[dict[str, Any]], now: str) -> None:
    if not rows:
        return
    cols = sorted({k for r in rows for k in r})
    has_label = "_label" in cols
    names = [*cols, "created", "updated"] + ([] if has_label else ["_label"])
    store.bulk_insert(
        route,
        names,
        ([r.get(c) for c in cols] + [now, now] + ([] if has_label else [r.get("name")]) for r in rows),
    )


def load_system(store: Store) -> None:
    """Empty every table and write the owner's system data (the ``empty`` profile)."""
    store.create_schema()
    now = now_iso()
    with store.bulk():
        for route, rows in SYSTEM.items():
            _insert(store, route, rows, now)


def load_demo(store: Store) -> dict[str, Any]:
    """Reset, then the demo catalogue (22 packages from the templates)."""
    return _catalogue(store, "demo", len(TEMPLATES), seed=0, generated=False)


def load_generated(store: Store, packages: int, seed: int = 42) -> dict[str, Any]:
    """Reset, then ``packages`` packages cycling through the templates with seeded price jitter."""
    return _catalogue(store, "generated", packages, seed=seed, generated=True)


def _catalogue(store: Store, profile: str, n: int, *, seed: int, generated: bool) -> dict[str, Any]:
    started = time.perf_counter()
    rng = random.Random(seed)
    store.create_schema(indexes=False)
    now = now_iso()
    with store.bulk():
        for route, rows in SYSTEM.items():
            _insert(store, route, rows, now)
        _insert(store, "Currency", CURRENCIES, now)
        _insert(store, "PriceBook", PRICE_BOOKS, now)
        service_ids = _services(store, now)
        _usage(store, now)
        _packages(store, n, rng, service_ids, now, generated)
    store.create_indexes()
    counts = store.counts()
    store.release_memory()  # the batches' memory, freed but still held by the allocator (~200 MB at 20,000)
    return {"profile": profile, "counts": counts, "seconds": round(time.perf_counter() - started, 3)}


def _services(store: Store, now: str) -> dict[str, int]:
    ids: dict[str, int] = {}
    rows = []
    for t in TEMPLATES:
        for s in t.services:
            if s.name in ids:
                continue
            ids[s.name] = len(ids) + 1
            rows.append(
                {
                    "identity": ids[s.name],
                    "name": s.name,
                    "description": f"{s.name} ({'usage rated' if s.usage else 'flat rate'})",
                    "serviceTypeId": 3 if s.usage else 1,
                    "isActive": 1,
                    "isTaxExempt": 0,
                    "isTaxInclusive": 0,
                    "usageFrequency": 1 if s.usage else None,
                    "usageFrequencyTypeId": MONTH if s.usage else None,
                    "defaultServiceStatusTypeId": ACTIVE,
                    "ownerId": 1,
                }
            )
    _insert(store, "Service", rows, now)
    return ids


def _usage(store: Store, now: str) -> None:
    plans: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    rates: list[dict[str, Any]] = []
    for name, plan_id in USAGE_PLAN_IDS.items():
        plans.append({"identity": plan_id, "name": name, "displayName": name, "amountPrecision": 4})
        for cur in (USD, EUR, GBP, CAD):
            gid = len(groups) + 1
            groups.append(
                {
                    "identity": gid,
                    "usageRatePlanId": plan_id,
                    "name": f"{name} {CODES[cur]}",
                    "displayName": f"{name} ({CODES[cur]})",
                    "currencyId": cur,
                    "start": "2024-01-01T00:00:00.000Z",
                    "useForCost": 0,
                    "isAggregated": 0,
                    "isPassThrough": 0,
                }
            )
            for class_id, unit_id, usd in USAGE_PLANS[name]:
                rates.append(
                    {
                        "identity": len(rates) + 1,
                        "usageRateGroupId": gid,
                        "usageClassId": class_id,
                        "usageUnitId": unit_id,
                        "amount": round(usd * FX[cur], 4),
                        "minimumCharge": 0.0,
                        "displayName": SYSTEM["Usage/Class"][class_id - 1]["name"],
                        "retired": 0,
                        "_label": SYSTEM["Usage/Class"][class_id - 1]["name"],
                    }
                )
    _insert(store, "Usage/Rate/Plan", plans, now)
    _insert(store, "Usage/Rate/Group", groups, now)
    _insert(store, "Usage/Rate", rates, now)


def _packages(
    store: Store, n: int, rng: random.Random, service_ids: dict[str, int], now: str, generated: bool
) -> None:
    pkg: list[tuple[Any, ...]] = []
    pcur: list[tuple[Any, ...]] = []
    pfreq: list[tuple[Any, ...]] = []
    pfpc: list[tuple[Any, ...]] = []
    psvc: list[tuple[Any, ...]] = []
    pspp: list[tuple[Any, ...]] = []
    rec: list[tuple[Any, ...]] = []
    one: list[tuple[Any, ...]] = []
    ids = {"pc": 0, "pf": 0, "pfpc": 0, "ps": 0, "pspp": 0, "rec": 0, "one": 0}

    def flush() -> None:
        bools = (
            "fullPeriod",
            "invoiceDetail",
            "postPaid",
            "billOnAccountBillDay",
            "isQuantityAllowed",
            "chargeRecurringIfUsage",
            "isGlobalAddOnEligible",
            "ownerId",
        )
        sys_cols = ("created", "updated", "_label")
        store.bulk_insert(
            "Package", ("identity", "name", "description", "start", "expiry", *bools, *sys_cols), pkg
        )
        store.bulk_insert("Package/Currency", ("identity", "packageId", "currencyId", *sys_cols), pcur)
        store.bulk_insert(
            "Package/Frequency",
            ("identity", "packageId", "name", "frequency", "frequencyTypeId", "sku", "isActive", *sys_cols),
            pfreq,
        )
        store.bulk_insert(
            "Package/Frequency/Currency",
            ("identity", "packageFrequencyId", "packageCurrencyId", "priceBookId", "isActive", *sys_cols),
            pfpc,
        )
        store.bulk_insert(
            "Package/Service",
            (
                "identity",
                "packageId",
                "serviceId",
                "defaultInstances",
                "minimumInstances",
                "maximumInstances",
                *sys_cols,
            ),
            psvc,
        )
        store.bulk_insert(
            "Package/Service/PricePlan",
            (
                "identity",
                "packageServiceId",
                "packageFrequencyId",
                "packageCurrencyId",
                "priceBookId",
                "usageRatePlanId",
                "effective",
                *sys_cols,
            ),
            pspp,
        )
        store.bulk_insert(
            "Package/Service/PricePlan/Recurring",
            (
                "identity",
                "packageServicePricePlanId",
                "serviceStatusTypeId",
                "amount",
                "startQuantity",
                "created",
                "updated",
            ),
            rec,
        )
        store.bulk_insert(
            "Package/Service/PricePlan/OneTime",
            (
                "identity",
                "packageServicePricePlanId",
                "serviceStatusTransitionId",
                "amount",
                "created",
                "updated",
            ),
            one,
        )
        for rows in (pkg, pcur, pfreq, pfpc, psvc, pspp, rec, one):
            rows.clear()

    for i in range(n):
        if i and i % SEED_BATCH == 0:
            flush()  # in batches: memory stays flat however many packages
        t = TEMPLATES[i % len(TEMPLATES)]
        pid = i + 1
        jitter = round(rng.uniform(0.85, 1.2), 2) if generated else 1.0
        suffix = f" #{pid:05d}" if generated else ""
        sku = f"{t.sku}-{pid:05d}" if generated else t.sku
        expired = (i % 10 == 9) if generated else t.expired
        annual_inactive = (i % 7 == 4) if generated else t.annual_inactive
        name = t.name + suffix
        pkg.append(
            (
                pid,
                name,
                t.description,
                "2024-01-01T00:00:00.000Z",
                "2025-06-30T00:00:00.000Z" if expired else None,
                0,
                1,
                0,
                1,
                int(
                    "Seat" in t.services[0].name
                    or "SIM" in t.services[0].name
                    or "Line" in t.services[0].name
                ),
                0,
                0,
                1,
                now,
                now,
                name,
            )
        )
        currencies = (USD, CAD) if t.north_america_only else (USD, EUR, GBP, CAD)
        pc_ids = {}
        for cur in currencies:
            ids["pc"] += 1
            pc_ids[cur] = ids["pc"]
            pcur.append((ids["pc"], pid, cur, now, now, CODES[cur]))
        freqs = []
        for ftype, label, code, factor, active in (
            (MONTH, "Monthly", "M", 1.0, 1),
            (YEAR, "Annual", "A", ANNUAL_FACTOR, 0 if annual_inactive else 1),
        ):
            ids["pf"] += 1
            pf_name = f"{name} - {label}"
            pfreq.append((ids["pf"], pid, pf_name, 1, ftype, f"{sku}-{code}", active, now, now, pf_name))
            freqs.append((ids["pf"], pf_name, factor))
        ps_ids = []
        for svc in t.services:
            ids["ps"] += 1
            sid = service_ids[svc.name]
            ps_ids.append((ids["ps"], svc))
            psvc.append((ids["ps"], pid, sid, 1, 0, None, now, now, svc.name))
        for pf_id, pf_name, factor in freqs:
            for book, book_currencies in BOOK_CURRENCIES.items():
                for cur in book_currencies:
                    if cur not in pc_ids:
                        continue
                    ids["pfpc"] += 1
                    pfpc.append(
                        (
                            ids["pfpc"],
                            pf_id,
                            pc_ids[cur],
                            book,
                            1,
                            now,
                            now,
                            f"{pf_name} / {CODES[cur]} / {BOOK_NAMES[book]}",
                        )
                    )
                    scale = FX[cur] * BOOK_FACTOR[book] * jitter
                    for ps_id, svc in ps_ids:
                        ids["pspp"] += 1
                        plan_id = ids["pspp"]
                        usage = USAGE_PLAN_IDS[svc.usage] if svc.usage else None
                        pspp.append(
                            (
                                plan_id,
                                ps_id,
                                pf_id,
                                pc_ids[cur],
                                book,
                                usage,
                                "2024-01-01T00:00:00.000Z",
                                now,
                                now,
                                svc.name,
                            )
                        )
                        active_amount = round(svc.monthly * scale * factor, 2)
                        ids["rec"] += 1
                        rec.append((ids["rec"], plan_id, ACTIVE, active_amount, 0, now, now))
                        ids["rec"] += 1
                        rec.append(
                            (
                                ids["rec"],
                                plan_id,
                                SUSPENDED,
                                round(active_amount * svc.suspended, 2),
                                0,
                                now,
                                now,
                            )
                        )
                        if svc.activation is not None:
                            ids["one"] += 1
                            one.append(
                                (ids["one"], plan_id, ACTIVATION, round(svc.activation * scale, 2), now, now)
                            )
    flush()
