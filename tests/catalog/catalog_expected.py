"""The Salesforce catalogue a LogiSense tenant should produce, computed independently of the project code.

Plain Python over the raw LogiSense objects (read through plain requests): no pandas, no project imports.
It restates the mapping of issue 5 / CONTRACT §5 and the documented keys (``pb:``, ``pf:``, ``pbe:``, ``psl:``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def money(value: Any, places: str = "0.01") -> float:
    """Half-up to the field's scale: 2 decimals for prices, 6 for a charge line's Amount__c."""
    return float(Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_UP))


def charge(value: Any) -> float:
    """A charge line amount as Product_Service__c.Amount__c (Currency(18,6)) stores it."""
    return money(value, "0.000001")


def _when(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def expected_catalog(api: Any, now: dt.datetime, books: set[int] | None = None) -> dict[str, dict[str, Any]]:
    """Books, products, entries and service lines keyed by ``LogiSense_Id__c``.

    Args:
        api: a LogiSenseApi (``all(route)``).
        now: the run instant (package windows).
        books: the narrowed price books (None = all).
    """
    get = {r: {o["identity"]: o for o in api.all(r)} for r in (
        "PriceBook", "Currency", "Package", "Package/Currency", "Package/Frequency", "Package/Frequency/Currency",
        "Service", "Package/Service", "Package/Service/PricePlan", "Package/Service/PricePlan/Recurring",
        "Package/Service/PricePlan/OneTime", "ServiceStatusType", "ServiceStatusTransition", "Usage/Rate/Group",
        "Usage/Rate", "Usage/Class",
    )}  # fmt: skip
    std = next(b for b in get["PriceBook"].values() if b["isStandard"])["identity"]
    active_status = next(s["identity"] for s in get["ServiceStatusType"].values() if s["name"] == "Active")
    activation = {
        t["identity"]
        for t in get["ServiceStatusTransition"].values()
        if t.get("fromServiceStatusTypeId") is None and t["toServiceStatusTypeId"] == active_status
    }
    status_name = {s["identity"]: s["name"] for s in get["ServiceStatusType"].values()}
    transition_name = {t["identity"]: t["name"] for t in get["ServiceStatusTransition"].values()}
    code = {c["identity"]: c["code"] for c in get["Currency"].values()}
    pc_code = {pc["identity"]: code[pc["currencyId"]] for pc in get["Package/Currency"].values()}
    pc_currency = {pc["identity"]: pc["currencyId"] for pc in get["Package/Currency"].values()}

    products: dict[str, Any] = {}
    for pf in get["Package/Frequency"].values():
        pkg = get["Package"][pf["packageId"]]
        start, expiry = _when(pkg.get("start")), _when(pkg.get("expiry"))
        in_window = (start is None or start <= now) and (expiry is None or expiry > now)
        products[f"pf:{pf['identity']}"] = {
            "Name": pf["name"] if pf["name"].startswith(pkg["name"]) else f"{pkg['name']} - {pf['name']}",
            "ProductCode": pf.get("sku"),
            "IsActive": bool(pf.get("isActive", True)) and in_window,
        }

    services_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ps in get["Package/Service"].values():
        services_of[ps["packageId"]].append(ps)
    plans: dict[tuple[int, int, int, int], dict[str, Any]] = {}
    for plan in get["Package/Service/PricePlan"].values():
        if plan.get("accountPricePlanId") is not None:
            continue
        book = plan.get("priceBookId") or std
        plans[(plan["packageServiceId"], plan["packageFrequencyId"], plan["packageCurrencyId"], book)] = plan
    recurring: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in get["Package/Service/PricePlan/Recurring"].values():
        recurring[row["packageServicePricePlanId"]].append(row)
    one_time: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in get["Package/Service/PricePlan/OneTime"].values():
        one_time[row["packageServicePricePlanId"]].append(row)

    def unit_price(pf_id: int, pc_id: int, book: int) -> float:
        total = Decimal(0)
        package = get["Package/Frequency"][pf_id]["packageId"]
        for ps in services_of[package]:
            plan = plans[(ps["identity"], pf_id, pc_id, book)]
            qty = ps.get("defaultInstances") or 1
            tiers = [r for r in recurring[plan["identity"]] if r["serviceStatusTypeId"] == active_status]
            tiers = [r for r in tiers if (r.get("startQuantity") or 0) <= qty]
            if tiers:
                best = max(tiers, key=lambda r: r.get("startQuantity") or 0)
                total += Decimal(str(best["amount"])) * qty
            total += sum(
                (Decimal(str(r["amount"])) for r in one_time[plan["identity"]]
                 if r["serviceStatusTransitionId"] in activation),
                Decimal(0),
            )  # fmt: skip
        return money(total)

    connectors = list(get["Package/Frequency/Currency"].values())
    for c in connectors:
        c["book"] = c.get("priceBookId") or std
    if books is not None:
        sold = {(c["packageFrequencyId"], c["packageCurrencyId"]) for c in connectors if c["book"] in books}
        connectors = [
            c for c in connectors
            if c["book"] in books or (c["book"] == std and (c["packageFrequencyId"], c["packageCurrencyId"]) in sold)
        ]  # fmt: skip
    entries: dict[str, Any] = {}
    for c in sorted(connectors, key=lambda c: c["book"]):
        pf_id, pc_id, book = c["packageFrequencyId"], c["packageCurrencyId"], c["book"]
        cur = pc_code[pc_id]
        entries[f"pbe:{book}:{pf_id}:{cur}"] = {
            "UnitPrice": unit_price(pf_id, pc_id, book),
            "IsActive": bool(c.get("isActive", True)) and products[f"pf:{pf_id}"]["IsActive"],
            "Pricebook": f"pb:{book}",
            "Product": f"pf:{pf_id}",
            "CurrencyIsoCode": cur,
        }
    for c in sorted(connectors, key=lambda c: c["book"]):
        pf_id, cur = c["packageFrequencyId"], pc_code[c["packageCurrencyId"]]
        std_key = f"pbe:{std}:{pf_id}:{cur}"
        if std_key not in entries:  # no LogiSense standard price: inactive, priced like the first book
            first = entries[f"pbe:{c['book']}:{pf_id}:{cur}"]
            entries[std_key] = {**first, "IsActive": False, "Pricebook": f"pb:{std}"}
            entries[std_key]["fallback"] = True

    lines: dict[str, Any] = {}
    for c in connectors:
        pf_id, pc_id, book = c["packageFrequencyId"], c["packageCurrencyId"], c["book"]
        cur = pc_code[pc_id]
        package = get["Package/Frequency"][pf_id]["packageId"]
        for ps in services_of[package]:
            plan = plans[(ps["identity"], pf_id, pc_id, book)]
            service = get["Service"][ps["serviceId"]]["name"]
            base = f"psl:{book}:{pf_id}:{cur}:{ps['serviceId']}:"
            for r in recurring[plan["identity"]]:
                q = r.get("startQuantity") or 0
                suffix = f"@{q:g}" if q > 0 else ""
                lines[f"{base}R{r['serviceStatusTypeId']}{suffix}"] = (
                    service, "Recurring", status_name[r["serviceStatusTypeId"]] + (f" (from {q:g})" if q else ""),
                    charge(r["amount"]),
                )  # fmt: skip
            for r in one_time[plan["identity"]]:
                lines[f"{base}O{r['serviceStatusTransitionId']}"] = (
                    service, "One-Time", transition_name[r["serviceStatusTransitionId"]], charge(r["amount"]),
                )  # fmt: skip
            if plan.get("usageRatePlanId") is None:
                continue
            for group in get["Usage/Rate/Group"].values():
                if group["usageRatePlanId"] != plan["usageRatePlanId"]:
                    continue
                if group["currencyId"] != pc_currency[pc_id]:
                    continue
                g_start, g_end = _when(group.get("start")), _when(group.get("end"))
                if (g_start and g_start > now) or (g_end and g_end <= now):
                    continue
                for rate in get["Usage/Rate"].values():
                    if rate["usageRateGroupId"] == group["identity"] and not rate.get("retired"):
                        lines[f"{base}U{rate['identity']}"] = (
                            service, "Usage", get["Usage/Class"][rate["usageClassId"]]["name"],
                            charge(rate["amount"]),
                        )  # fmt: skip
    pricebooks = {f"pb:{b['identity']}": b for b in get["PriceBook"].values() if books is None or
                  b["identity"] in books or b["identity"] == std}  # fmt: skip
    if books is not None:
        wanted = {e["Product"] for e in entries.values()}
        products = {k: v for k, v in products.items() if k in wanted}
    return {"books": pricebooks, "products": products, "entries": entries, "lines": lines, "standard": std}
