"""LogiSense business rules (RESOURCES.md §7), installed as hooks on the generic store.

Account hierarchy: ``Account/Parent`` rows are the source of truth; ``Account.parentAccountId`` and
``topAccountId`` mirror them.
The invoicer, usage invoicer and tax account are stored twice: the explicit value
(hidden ``_xxx`` column, NULL = inherit) and the effective one (the public column), recomputed for a whole
hierarchy whenever it changes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from logisense_sync.sandbox.logisense.errors import Code
from logisense_sync.sandbox.logisense.resources import BY_ROUTE, Resource
from logisense_sync.sandbox.logisense.store import Row, Store, Tx, WriteItem, round_money

INVOICER_FIELDS = ("invoicerAccountId", "usageInvoicerAccountId", "taxAccountId")
ACTIVATION_TRANSITION_ID = 1


# --- helpers -------------------------------------------------------------------------------------------
def _account(store: Store, ident: Any) -> Row | None:
    return store.raw("Account", ident)


def _currency_code(store: Store, currency_id: Any) -> str:
    row = store.raw("Currency", currency_id)
    return str(row["code"]) if row else str(currency_id)


def _top(store: Store, account_id: int) -> int:
    row = _account(store, account_id)
    if row is None:
        return account_id
    return int(row["topAccountId"] or account_id)


def _ancestors(store: Store, account_id: int) -> list[int]:
    out: list[int] = []
    seen = {account_id}
    current = _account(store, account_id)
    while current is not None and current["parentAccountId"] is not None:
        parent = int(current["parentAccountId"])
        if parent in seen:
            break
        seen.add(parent)
        out.append(parent)
        current = _account(store, parent)
    return out


def check_parent(store: Store, tx: Tx, dto: str, account: Row, parent_id: int, has_parent: bool) -> None:
    """Rules R3 (shared currency), R4 (same hierarchy once parented) and R5 (no cycle) for a new parent."""
    aid = int(account["identity"])
    parent = _account(store, parent_id)
    if parent is None:
        tx.error(Code.NOT_EXIST, f"'ParentAccountId' ({parent_id}) does not exist in 'Account' for '{dto}'.")
        return
    if parent_id == aid or aid in _ancestors(store, parent_id):
        tx.error(
            Code.HIERARCHY_CYCLE,
            f"'ParentAccountId' ({parent_id}) would create a cycle in the account hierarchy of "
            f"'Account' ({aid}) for '{dto}'.",
        )
        return
    if has_parent and _top(store, parent_id) != _top(store, aid):
        tx.error(
            Code.OUTSIDE_HIERARCHY,
            f"'ParentAccountId' ({parent_id}) is not in the same account hierarchy as 'Account' ({aid}) "
            f"(top 'Account' ({_top(store, aid)})) for '{dto}'.",
        )
    cur_a, cur_p = account.get("currencyId"), parent["currencyId"]
    if cur_a is not None and cur_p is not None and cur_a != cur_p:
        tx.error(
            Code.PARENT_CURRENCY,
            f"'Account' ({aid}) currency '{_currency_code(store, cur_a)}' does not match the parent "
            "'Account' "
            f"({parent_id}) currency '{_currency_code(store, cur_p)}' for '{dto}'.",
        )


def recompute_hierarchy(store: Store, tops: set[int]) -> None:
    """Recompute topAccountId and effective invoicer/usage invoicer/tax account for whole hierarchies (R7)."""
    tops = {t for t in tops if t is not None}
    if not tops:
        return
    acct = store.table("Account")
    marks = ",".join("?" * len(tops))
    rows = store.rows(
        f"SELECT identity, parentAccountId, topAccountId, _invoicerAccountId, _usageInvoicerAccountId, "
        f"_taxAccountId FROM {acct} WHERE topAccountId IN ({marks}) OR identity IN ({marks})",
        [*tops, *tops],
    )
    by_id = {r["identity"]: r for r in rows}
    children: dict[int | None, list[int]] = defaultdict(list)
    for r in rows:
        parent = r["parentAccountId"] if r["parentAccountId"] in by_id else None
        children[parent].append(r["identity"])
    updates: list[tuple[Any, ...]] = []
    parent_updates: list[tuple[int, int]] = []
    stack: list[tuple[int, Row | None, int]] = [(root, None, root) for root in children[None]]
    while stack:
        ident, parent_eff, top = stack.pop()
        r = by_id[ident]
        inv = r["_invoicerAccountId"] or (parent_eff["inv"] if parent_eff else ident)
        if r["_usageInvoicerAccountId"]:
            usage = r["_usageInvoicerAccountId"]
        elif r["_invoicerAccountId"] or parent_eff is None:
            usage = inv
        else:
            usage = parent_eff["usage"]
        tax = r["_taxAccountId"] or (parent_eff["tax"] if parent_eff else ident)
        updates.append((top, inv, usage, tax, ident))
        if parent_eff is not None:
            parent_updates.append((top, ident))
        eff = {"inv": inv, "usage": usage, "tax": tax}
        stack.extend((child, eff, top) for child in children[ident])
    store.conn.executemany(
        f"UPDATE {acct} SET topAccountId=?, invoicerAccountId=?, usageInvoicerAccountId=?, taxAccountId=? "
        "WHERE identity=?",
        updates,
    )
    store.conn.executemany(
        f"UPDATE {store.table('Account/Parent')} SET topAccountId=? WHERE accountId=?", parent_updates
    )


def _set_parent_row(store: Store, tx: Tx, account_id: int, parent_id: int | None) -> None:
    """Create, move or delete the Account/Parent row of an account (Account.parentAccountId convenience)."""
    table = store.table("Account/Parent")
    res = BY_ROUTE["Account/Parent"]
    row = store.rows(f"SELECT identity FROM {table} WHERE accountId=?", (account_id,))
    if parent_id is None:
        if row:
            store.execute(f"DELETE FROM {table} WHERE identity=?", (row[0]["identity"],))
            tx.items.append(WriteItem(res, row[0]["identity"], "deleted"))
    elif row:
        store.execute(
            f"UPDATE {table} SET parentAccountId=?, updated=? WHERE identity=?",
            (parent_id, tx.now, row[0]["identity"]),
        )
        tx.items.append(WriteItem(res, row[0]["identity"], "updated"))
    else:
        cur = store.conn.execute(
            f"INSERT INTO {table} (accountId, parentAccountId, created, updated) VALUES (?, ?, ?, ?)",
            (account_id, parent_id, tx.now, tx.now),
        )
        tx.items.append(WriteItem(res, int(cur.lastrowid or 0), "created"))
    tx.touched.add("Account/Parent")


def _check_invoicers(store: Store, tx: Tx, merged: Row, future_top: int, present: set[str]) -> None:
    """R6: explicit invoicer, usage invoicer and tax account are self or within the account's hierarchy."""
    aid = merged.get("identity")
    for name in INVOICER_FIELDS:
        target = merged.get(f"_{name}")
        if target is None or name not in present:
            continue
        if aid is not None and target == aid:
            continue
        if _top(store, int(target)) != future_top:
            tx.error(
                Code.INVOICER_HIERARCHY,
                f"'{name[:1].upper() + name[1:]}' ({target}) is not in the account hierarchy of "
                f"'Account' ({aid if aid is not None else 'new'}).",
            )


# --- Account ---------------------------------------------------------------------------------------------
def account_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    for name in INVOICER_FIELDS:
        if name in present:
            merged[f"_{name}"] = merged[name]
        elif existing is not None:
            merged[name] = existing[name]
    if (
        existing is not None
        and existing["currencyId"] is not None
        and merged["currencyId"] != existing["currencyId"]
    ):
        tx.error(
            Code.CURRENCY_LOCKED,
            f"'CurrencyId' cannot be changed once it is set on 'Account' ({existing['identity']}).",
        )
        return
    parent_id = merged.get("parentAccountId")
    if "parentAccountId" in present and parent_id is not None:
        if merged.get("currencyId") is None:
            parent = _account(store, parent_id)
            if parent is not None:
                merged["currencyId"] = parent["currencyId"]
        if existing is None:
            future_top = _top(store, int(parent_id))
            cur_p = (_account(store, parent_id) or {}).get("currencyId")
            if merged["currencyId"] is not None and cur_p is not None and merged["currencyId"] != cur_p:
                tx.error(
                    Code.PARENT_CURRENCY,
                    f"'Account' (new) currency '{_currency_code(store, merged['currencyId'])}' does "
                    "not match the "
                    f"parent 'Account' ({parent_id}) currency '{_currency_code(store, cur_p)}' for "
                    "'Account'.",
                )
        else:
            if parent_id != existing["parentAccountId"]:
                check_parent(
                    store, tx, "Account", merged, int(parent_id), existing["parentAccountId"] is not None
                )
            future_top = (
                _top(store, int(parent_id))
                if parent_id != existing["parentAccountId"]
                else _top(store, existing["identity"])
            )
    elif existing is not None:
        future_top = int(existing["topAccountId"] or existing["identity"])
        if existing["currencyId"] is None and merged["currencyId"] is not None:
            _check_currency_against_family(store, tx, existing, merged["currencyId"])
    else:
        future_top = -1  # a new top-level account: only itself is in its hierarchy
    _check_invoicers(store, tx, merged, future_top, present)


def _check_currency_against_family(store: Store, tx: Tx, account: Row, currency_id: int) -> None:
    aid = account["identity"]
    acct = store.table("Account")
    family = store.rows(
        f"SELECT identity, currencyId FROM {acct} WHERE (identity=? OR parentAccountId=?) AND "
        "currencyId IS NOT NULL",
        (account["parentAccountId"] or -1, aid),
    )
    for other in family:
        if other["currencyId"] != currency_id:
            tx.error(
                Code.PARENT_CURRENCY,
                f"'Account' ({aid}) currency '{_currency_code(store, currency_id)}' does not match "
                "the related "
                f"'Account' ({other['identity']}) currency "
                f"'{_currency_code(store, other['currencyId'])}' for 'Account'.",
            )


def account_after(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    aid = int(merged["identity"])
    tops = {aid}
    if existing is None:
        store.execute(f"UPDATE {store.table('Account')} SET topAccountId=? WHERE identity=?", (aid, aid))
    else:
        tops.add(int(existing["topAccountId"] or aid))
    if "parentAccountId" in present and (
        existing is None or merged["parentAccountId"] != existing["parentAccountId"]
    ):
        _set_parent_row(store, tx, aid, merged["parentAccountId"])
        if merged["parentAccountId"] is not None:
            tops.add(_top(store, int(merged["parentAccountId"])))
        else:
            store.execute(f"UPDATE {store.table('Account')} SET topAccountId=? WHERE identity=?", (aid, aid))
            _detach(store, aid)
    recompute_hierarchy(store, tops)


def _detach(store: Store, aid: int) -> None:
    """After a subtree leaves its hierarchy, make it its own hierarchy; drop explicit invoicers now "
    "outside it."""
    acct = store.table("Account")
    subtree = {aid}
    frontier = [aid]
    while frontier:
        marks = ",".join("?" * len(frontier))
        frontier = [
            r["identity"]
            for r in store.rows(f"SELECT identity FROM {acct} WHERE parentAccountId IN ({marks})", frontier)
        ]
        subtree.update(frontier)
    marks = ",".join("?" * len(subtree))
    store.execute(f"UPDATE {acct} SET topAccountId=? WHERE identity IN ({marks})", [aid, *subtree])
    for name in INVOICER_FIELDS:
        store.execute(
            f"UPDATE {acct} SET _{name}=NULL WHERE identity IN ({marks}) AND _{name} IS NOT NULL "
            f"AND _{name} NOT IN ({marks})",
            [*subtree, *subtree],
        )


def account_delete_after(store: Store, tx: Tx, res: Resource, row: Row) -> None:
    recompute_hierarchy(store, {int(row["topAccountId"] or row["identity"])})


# --- Account/Parent --------------------------------------------------------------------------------------
def parent_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    account = _account(store, merged["accountId"])
    if account is None:
        return
    if existing is not None and merged["accountId"] != existing["accountId"]:
        tx.error(Code.VALIDATION, "'AccountId' MUST NOT change when updating a 'AccountParent'.")
        return
    if existing is None or merged["parentAccountId"] != existing["parentAccountId"]:
        has_parent = existing is not None or account["parentAccountId"] is not None
        check_parent(store, tx, "AccountParent", account, int(merged["parentAccountId"]), has_parent)
        if account["currencyId"] is None:
            parent = _account(store, merged["parentAccountId"]) or {}
            if parent.get("currencyId") is not None:
                store.execute(
                    f"UPDATE {store.table('Account')} SET currencyId=? WHERE identity=?",
                    (parent["currencyId"], account["identity"]),
                )


def parent_after(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    aid = int(merged["accountId"])
    old_top = _top(store, aid)
    store.execute(
        f"UPDATE {store.table('Account')} SET parentAccountId=? WHERE identity=?",
        (merged["parentAccountId"], aid),
    )
    tx.touched.add("Account")
    recompute_hierarchy(store, {old_top, _top(store, int(merged["parentAccountId"]))})


def parent_delete_after(store: Store, tx: Tx, res: Resource, row: Row) -> None:
    aid = int(row["accountId"])
    if _account(store, aid) is None:
        return
    old_top = _top(store, aid)
    store.execute(f"UPDATE {store.table('Account')} SET parentAccountId=NULL WHERE identity=?", (aid,))
    tx.touched.add("Account")
    _detach(store, aid)
    recompute_hierarchy(store, {old_top, aid})


# --- Account/Package, Account/Service ---------------------------------------------------------------------
def account_package_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    account = _account(store, merged["accountId"])
    pf = store.raw("Package/Frequency", merged["packageFrequencyId"])
    if account is None or pf is None:
        return
    aid = account["identity"]
    if account["currencyId"] is None:
        tx.error(Code.PACKAGE_CURRENCY, f"'Account' ({aid}) has no 'CurrencyId' for 'AccountPackage'.")
        return
    if merged.get("packageCurrencyId") is None:
        found = store.rows(
            f"SELECT identity FROM {store.table('Package/Currency')} WHERE packageId=? AND currencyId=?",
            (pf["packageId"], account["currencyId"]),
        )
        if not found:
            tx.error(
                Code.PACKAGE_CURRENCY,
                f"'Package' ({pf['packageId']}) is not sold in the 'Account' ({aid}) currency "
                f"'{_currency_code(store, account['currencyId'])}' for 'AccountPackage'.",
            )
            return
        merged["packageCurrencyId"] = found[0]["identity"]
    else:
        pc = store.raw("Package/Currency", merged["packageCurrencyId"])
        if pc is not None and pc["packageId"] != pf["packageId"]:
            tx.error(
                Code.PACKAGE_MISMATCH,
                f"'PackageCurrencyId' ({pc['identity']}) does not belong to 'Package' ({pf['packageId']}) "
                "for 'AccountPackage'.",
            )
        elif pc is not None and pc["currencyId"] != account["currencyId"]:
            tx.error(
                Code.PACKAGE_CURRENCY,
                f"'PackageCurrencyId' ({pc['identity']}) currency "
                f"'{_currency_code(store, pc['currencyId'])}' "
                f"does not match the 'Account' ({aid}) currency "
                f"'{_currency_code(store, account['currencyId'])}' "
                "for 'AccountPackage'.",
            )
    if existing is None or merged["packageFrequencyId"] != existing["packageFrequencyId"]:
        when = merged.get("effective") or tx.now
        package = store.raw("Package", pf["packageId"]) or {}
        if (package.get("expiry") and package["expiry"] <= when) or (
            package.get("start") and package["start"] > when
        ):
            tx.error(
                Code.NOT_PURCHASABLE,
                f"'Package' ({pf['packageId']}) is not available for purchase on {when[:10]} for "
                "'AccountPackage'.",
            )
        if not pf["isActive"]:
            tx.error(
                Code.NOT_PURCHASABLE,
                f"'PackageFrequency' ({pf['identity']}) is not active for 'AccountPackage'.",
            )
    code_id = merged.get("accountProductCodeId")
    if code_id is not None:
        code = store.raw("Account/ProductCode", code_id)
        if code is not None and code["accountId"] != aid:
            tx.error(
                Code.PACKAGE_MISMATCH,
                f"'AccountProductCodeId' ({code_id}) does not belong to 'Account' ({aid}) for "
                "'AccountPackage'.",
            )
    if not merged.get("name"):
        merged["name"] = pf["name"]
    if not merged.get("effective"):
        merged["effective"] = tx.now


def account_service_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    ap = store.raw("Account/Package", merged["accountPackageId"])
    if ap is None:
        return
    if merged.get("accountId") is not None and merged["accountId"] != ap["accountId"]:
        tx.error(
            Code.SERVICE_NOT_IN_PACKAGE,
            f"'AccountId' ({merged['accountId']}) does not match the 'AccountPackage' ({ap['identity']}) "
            "account for 'AccountService'.",
        )
        return
    merged["accountId"] = ap["accountId"]
    pf = store.raw("Package/Frequency", ap["packageFrequencyId"]) or {}
    found = store.rows(
        f"SELECT 1 FROM {store.table('Package/Service')} WHERE packageId=? AND serviceId=?",
        (pf.get("packageId"), merged["serviceId"]),
    )
    if not found:
        tx.error(
            Code.SERVICE_NOT_IN_PACKAGE,
            f"'ServiceId' ({merged['serviceId']}) is not part of 'Package' ({pf.get('packageId')}) "
            "for 'AccountService'.",
        )
    if not merged.get("name"):
        service = store.raw("Service", merged["serviceId"]) or {}
        merged["name"] = service.get("name")
    if not merged.get("effective"):
        merged["effective"] = ap["effective"]


# --- catalogue ---------------------------------------------------------------------------------------------
def pspp_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    ps = store.raw("Package/Service", merged["packageServiceId"])
    pf = store.raw("Package/Frequency", merged["packageFrequencyId"])
    pc = store.raw("Package/Currency", merged["packageCurrencyId"])
    if ps is None or pf is None or pc is None:
        return
    if merged.get("priceBookId") is not None and merged.get("accountPricePlanId") is not None:
        if existing is not None and "priceBookId" not in present:
            merged["priceBookId"] = None  # switching an existing catalogue plan to an account plan
        else:
            tx.error(
                Code.CONSTRAINT,
                "'PriceBookId' validation requires the additional constraint property value "
                "'AccountPricePlanId' to be empty.",
            )
            return
    if merged.get("priceBookId") is None and merged.get("accountPricePlanId") is None:
        merged["priceBookId"] = standard_price_book(store)
    package_id = ps["packageId"]
    before = len(tx.errors)
    for name, row in (("PackageFrequencyId", pf), ("PackageCurrencyId", pc)):
        if row["packageId"] != package_id:
            tx.error(
                Code.PACKAGE_MISMATCH,
                f"'{name}' ({row['identity']}) does not belong to 'Package' ({package_id}) for "
                "'PackageServicePricePlan'.",
            )
    if len(tx.errors) > before:
        return
    if merged.get("priceBookId") is not None:
        link = store.rows(
            f"SELECT 1 FROM {store.table('Package/Frequency/Currency')} "
            "WHERE packageFrequencyId=? AND packageCurrencyId=? AND priceBookId=?",
            (pf["identity"], pc["identity"], merged["priceBookId"]),
        )
        if not link:
            tx.error(
                Code.PACKAGE_MISMATCH,
                f"'PackageFrequencyPackageCurrency' for 'PackageFrequencyId' ({pf['identity']}), "
                "'PackageCurrencyId' "
                f"({pc['identity']}) and 'PriceBookId' ({merged['priceBookId']}) does not exist for "
                "'PackageServicePricePlan'.",
            )
        return
    plan = store.raw("Account/PricePlan", merged["accountPricePlanId"])
    if plan is None:
        return
    account = _account(store, plan["accountId"]) or {}
    if account.get("currencyId") is not None and account["currencyId"] != pc["currencyId"]:
        tx.error(
            Code.PLAN_CURRENCY,
            f"'PackageCurrencyId' ({pc['identity']}) currency "
            f"'{_currency_code(store, pc['currencyId'])}' does not "
            f"match the 'Account' ({plan['accountId']}) currency "
            f"'{_currency_code(store, account['currencyId'])}' "
            "for 'PackageServicePricePlan'.",
        )
    code_id = merged.get("accountProductCodeId")
    if code_id is not None:
        code = store.raw("Account/ProductCode", code_id)
        if code is not None and code["accountId"] != plan["accountId"]:
            tx.error(
                Code.PACKAGE_MISMATCH,
                f"'AccountProductCodeId' ({code_id}) does not belong to 'Account' ({plan['accountId']}) for "
                "'PackageServicePricePlan'.",
            )


def pfpc_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    pf = store.raw("Package/Frequency", merged["packageFrequencyId"])
    pc = store.raw("Package/Currency", merged["packageCurrencyId"])
    if merged.get("priceBookId") is None:
        merged["priceBookId"] = standard_price_book(store)
    if pf is not None and pc is not None and pf["packageId"] != pc["packageId"]:
        tx.error(
            Code.PACKAGE_MISMATCH,
            f"'PackageCurrencyId' ({pc['identity']}) does not belong to 'Package' ({pf['packageId']}) for "
            "'PackageFrequencyPackageCurrency'.",
        )


def package_service_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    lo, default, hi = (
        merged.get("minimumInstances"),
        merged.get("defaultInstances"),
        merged.get("maximumInstances"),
    )
    if lo is not None and default is not None and default < lo:
        tx.error(
            Code.VALIDATION,
            "'DefaultInstances' MUST be greater than or equal to 'MinimumInstances' when adding or "
            "updating a "
            "'PackageService'.",
        )
    if hi is not None and default is not None and default > hi:
        tx.error(
            Code.VALIDATION,
            "'DefaultInstances' MUST be less than or equal to 'MaximumInstances' when adding or updating a "
            "'PackageService'.",
        )


def usage_rate_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    group = store.raw("Usage/Rate/Group", merged["usageRateGroupId"])
    if group is None:
        return
    precision = group["amountPrecision"]
    if precision is None:
        plan = store.raw("Usage/Rate/Plan", group["usageRatePlanId"]) or {}
        precision = plan.get("amountPrecision", 4)
    for name in ("amount", "minimumCharge"):
        if merged.get(name) is not None:
            merged[name] = round_money(float(merged[name]), int(precision if precision is not None else 4))


def price_book_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    standard = standard_price_book(store)
    if (
        merged.get("isStandard")
        and standard is not None
        and (existing is None or existing["identity"] != standard)
    ):
        tx.error(Code.STANDARD_PRICE_BOOK, "Only one 'PriceBook' can be the standard price book.")
    if existing is not None and existing["isStandard"] and not merged.get("isStandard"):
        tx.error(Code.STANDARD_PRICE_BOOK, "Only one 'PriceBook' can be the standard price book.")


def price_book_delete(store: Store, tx: Tx, res: Resource, row: Row) -> None:
    if row["isStandard"]:
        tx.error(Code.STANDARD_PRICE_BOOK, "Only one 'PriceBook' can be the standard price book.")


def refresh_labels(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    """Keep derived ``xName`` echoes current when a service or a currency code is renamed."""
    if existing is None:
        return
    ident = merged["identity"]
    if res.route == "Service" and existing["name"] != merged["name"]:
        ps, pspp = store.table("Package/Service"), store.table("Package/Service/PricePlan")
        store.execute(f"UPDATE {ps} SET _label=? WHERE serviceId=?", (merged["name"], ident))
        store.execute(
            f"UPDATE {pspp} SET _label=? WHERE packageServiceId IN (SELECT identity FROM {ps} WHERE serviceId=?)",
            (merged["name"], ident),
        )
        tx.touched.update(("Package/Service", "Package/Service/PricePlan"))
    elif res.route == "Currency" and existing["code"] != merged["code"]:
        store.execute(
            f"UPDATE {store.table('Package/Currency')} SET _label=? WHERE currencyId=?",
            (merged["code"], ident),
        )
        tx.touched.add("Package/Currency")


def currency_after(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    refresh_labels(store, tx, res, merged, existing, present)
    if merged.get("isDefault"):
        store.execute(
            f"UPDATE {store.table('Currency')} SET isDefault=0 WHERE identity<>?", (merged["identity"],)
        )


def currency_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    if isinstance(merged.get("code"), str):
        merged["code"] = merged["code"].upper()


def contact_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    merged["name"] = " ".join(p for p in (merged.get("firstName"), merged.get("lastName")) if p)


def contact_point_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    point_type = store.raw("ContactPointType", merged["contactPointTypeId"]) or {}
    if point_type.get("dataType") == "email" and "@" not in str(merged.get("value") or ""):
        tx.error(
            Code.VALIDATION, "'Value' MUST be a valid email address when adding or updating a 'ContactPoint'."
        )


def price_plan_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    if merged.get("start") and merged.get("end") and merged["end"] < merged["start"]:
        tx.error(
            Code.VALIDATION,
            "'End' MUST be greater than or equal to 'Start' when adding or updating a 'AccountPricePlan'.",
        )


def transition_before(
    store: Store, tx: Tx, res: Resource, merged: Row, existing: Row | None, present: set[str]
) -> None:
    def name(i: Any) -> str:
        row = store.raw("ServiceStatusType", i)
        return str(row["name"]) if row else "[New]"

    merged["name"] = (
        f"{name(merged.get('fromServiceStatusTypeId'))} -> {name(merged['toServiceStatusTypeId'])}"
    )


def standard_price_book(store: Store) -> int | None:
    """Identity of the standard price book."""
    rows = store.rows(
        f"SELECT identity FROM {store.table('PriceBook')} WHERE isStandard=1 ORDER BY identity LIMIT 1"
    )
    return int(rows[0]["identity"]) if rows else None


# --- labels (the xName echo of objects without a name) -----------------------------------------------------
def _label_of(store: Store, route: str, ident: Any) -> str:
    row = store.raw(route, ident)
    return str(row["_label"]) if row and row["_label"] is not None else ""


def install(store: Store) -> None:
    """Attach every rule and label function to the store."""
    store.before_write.update(
        {
            "Account": account_before,
            "Account/Parent": parent_before,
            "Account/Package": account_package_before,
            "Account/Service": account_service_before,
            "Account/PricePlan": price_plan_before,
            "Package/Service/PricePlan": pspp_before,
            "Package/Frequency/Currency": pfpc_before,
            "Package/Service": package_service_before,
            "Usage/Rate": usage_rate_before,
            "PriceBook": price_book_before,
            "Currency": currency_before,
            "Contact": contact_before,
            "Contact/Point": contact_point_before,
            "ServiceStatusTransition": transition_before,
        }
    )
    store.after_write.update(
        {
            "Account": account_after,
            "Account/Parent": parent_after,
            "Currency": currency_after,
            "Service": refresh_labels,
        }
    )
    store.before_delete.update({"PriceBook": price_book_delete})
    store.after_delete.update({"Account": account_delete_after, "Account/Parent": parent_delete_after})
    store.label.update(
        {
            "Package/Currency": lambda s, m: _currency_code(s, m["currencyId"]),
            "Package/Frequency/Currency": lambda s, m: " / ".join(
                (
                    _label_of(s, "Package/Frequency", m["packageFrequencyId"]),
                    _label_of(s, "Package/Currency", m["packageCurrencyId"]),
                    _label_of(s, "PriceBook", m["priceBookId"]),
                )
            ),
            "Package/Service": lambda s, m: _label_of(s, "Service", m["serviceId"]),
            "Package/Service/PricePlan": lambda s, m: _label_of(s, "Package/Service", m["packageServiceId"]),
            "Contact": lambda s, m: m.get("name"),
            "Contact/Point": lambda s, m: m.get("value"),
            "ServiceStatusTransition": lambda s, m: m.get("name"),
            "Usage/Rate": lambda s, m: m.get("displayName") or _label_of(s, "Usage/Class", m["usageClassId"]),
        }
    )
