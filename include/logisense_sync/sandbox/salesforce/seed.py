"""Seeds: `empty` (org basics only) and `demo` (org basics plus a small account hierarchy with contacts).

Org basics: the integration user, the currencies (USD corporate, EUR, GBP, CAD active) and the
`Standard Price Book`.
"""

from __future__ import annotations

from typing import Any

from logisense_sync.sandbox.salesforce.auth import USERNAME
from logisense_sync.sandbox.salesforce.rules import Dml
from logisense_sync.sandbox.salesforce.schema import ACTIVE_CURRENCIES, CORPORATE_CURRENCY
from logisense_sync.sandbox.salesforce.store import Record, now_iso

_RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "CAD": 1.36, "AUD": 1.52}


def _raw_insert(dml: Dml, sobject: str, values: dict[str, Any]) -> Record:
    """Insert bypassing field permissions (for rows an org is born with, such as the standard price book)."""
    so = dml.sobject(sobject)
    rec = dml._new_record(so)
    rec.update(values)
    stamp = now_iso()
    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        if name in so.fields:
            rec[name] = stamp
    for name in ("CreatedById", "LastModifiedById", "OwnerId"):
        if name in so.fields:
            rec[name] = dml.user_id or rec["Id"]
    dml.store.put(so, rec)
    return rec


def seed_org_basics(dml: Dml) -> None:
    """Create the user, currencies and standard price book unless they exist (idempotent)."""
    store = dml.store
    with store.transaction():
        if not dml.user_id:
            user = _raw_insert(
                dml,
                "User",
                {
                    "Username": USERNAME,
                    "LastName": "User",
                    "FirstName": "Integration",
                    "Name": "Integration User",
                    "Email": USERNAME,
                    "Alias": "integ",
                    "IsActive": True,
                    "TimeZoneSidKey": "GMT",
                    "LocaleSidKey": "en_US",
                    "EmailEncodingKey": "UTF-8",
                    "LanguageLocaleKey": "en_US",
                    "DefaultCurrencyIsoCode": CORPORATE_CURRENCY,
                    "CurrencyIsoCode": CORPORATE_CURRENCY,
                    "UserType": "Standard",
                },
            )
            store.meta["integration_user_id"] = user["Id"]
            store.put(
                dml.sobject("User"), {**user, "CreatedById": user["Id"], "LastModifiedById": user["Id"]}
            )
        if not any(True for _ in store.scan("CurrencyType")):
            for code, rate in _RATES.items():
                _raw_insert(
                    dml,
                    "CurrencyType",
                    {
                        "IsoCode": code,
                        "ConversionRate": rate,
                        "DecimalPlaces": 2,
                        "IsActive": code in ACTIVE_CURRENCIES,
                        "IsCorporate": code == CORPORATE_CURRENCY,
                    },
                )
        dml.invalidate()
        if not dml.standard_pricebook_id():
            book = _raw_insert(
                dml, "Pricebook2", {"Name": "Standard Price Book", "IsActive": True, "IsStandard": True}
            )
            store.meta["standard_pricebook_id"] = book["Id"]


DEMO_ACCOUNTS: list[dict[str, Any]] = [
    {"key": "acme", "Name": "Acme Holdings", "Type": "Customer - Direct", "BillingCountry": "Canada"},
    {
        "key": "acme-east",
        "parent": "acme",
        "Name": "Acme East",
        "Type": "Customer - Direct",
        "BillingCountry": "Canada",
    },
    {
        "key": "acme-west",
        "parent": "acme",
        "Name": "Acme West",
        "Type": "Customer - Direct",
        "BillingCountry": "Canada",
    },
    {"key": "globex", "Name": "Globex Corporation", "Type": "Prospect", "BillingCountry": "United States"},
    {
        "key": "globex-uk",
        "parent": "globex",
        "Name": "Globex UK",
        "Type": "Prospect",
        "BillingCountry": "United Kingdom",
    },
]

DEMO_CONTACTS: list[dict[str, Any]] = [
    {
        "account": "acme",
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Email": "ada@acme.example",
        "sync": True,
    },
    {
        "account": "acme-east",
        "FirstName": "Bob",
        "LastName": "Builder",
        "Email": "bob@acme.example",
        "sync": True,
    },
    {
        "account": "acme-west",
        "FirstName": "Cy",
        "LastName": "Young",
        "Email": "cy@acme.example",
        "sync": False,
    },
    {
        "account": "globex",
        "FirstName": "Hank",
        "LastName": "Scorpio",
        "Email": "hank@globex.example",
        "sync": True,
    },
    {
        "account": "globex-uk",
        "FirstName": "Mona",
        "LastName": "Lisa",
        "Email": "mona@globex.example",
        "sync": True,
    },
]


def seed_demo(dml: Dml) -> dict[str, int]:
    """Org basics plus a few accounts (two-level hierarchy) and contacts flagged for LogiSense sync."""
    seed_org_basics(dml)
    existing = {r["Name"] for r in dml.store.scan("Account")}
    created = {"Account": 0, "Contact": 0}
    with dml.store.transaction():
        ids: dict[str, str] = {
            r["Name"]: r["Id"]
            for r in dml.store.scan("Account")
            if r["Name"] in {a["Name"] for a in DEMO_ACCOUNTS}
        }
        for spec in DEMO_ACCOUNTS:
            if spec["Name"] in existing:
                continue
            values = {k: v for k, v in spec.items() if k not in ("key", "parent")}
            values["Sync_With_LogiSense__c"] = True
            if "parent" in spec:
                parent_name = next(a["Name"] for a in DEMO_ACCOUNTS if a["key"] == spec["parent"])
                values["ParentId"] = ids[parent_name]
            ids[spec["Name"]] = dml.insert("Account", values)
            created["Account"] += 1
        if created["Account"]:
            for spec in DEMO_CONTACTS:
                account_name = next(a["Name"] for a in DEMO_ACCOUNTS if a["key"] == spec["account"])
                dml.insert(
                    "Contact",
                    {
                        "AccountId": ids[account_name],
                        "FirstName": spec["FirstName"],
                        "LastName": spec["LastName"],
                        "Email": spec["Email"],
                        "Sync_With_LogiSense__c": spec["sync"],
                        "LogiSense_Contact_Type__c": "Primary",
                    },
                )
                created["Contact"] += 1
    return created


def seed_generated(dml: Dml, spec: dict[str, Any]) -> dict[str, int]:
    """Org basics plus generated volume (`{"profile": "generate", ...}`), for benchmarks and demos.

    Spec keys (all optional): `accounts` (0), `contacts_per_account` (1), `products` (0), `pricebooks`
    (custom price books, 0), `currencies` (["USD"]), `seed_key` (prefix of generated external ids, "GEN").
    Products get an active standard entry per currency and an entry in every custom price book.
    """
    seed_org_basics(dml)
    key = str(spec.get("seed_key", "GEN"))
    accounts, per_account = int(spec.get("accounts", 0)), int(spec.get("contacts_per_account", 1))
    products, books = int(spec.get("products", 0)), int(spec.get("pricebooks", 0))
    currencies = [str(c) for c in spec.get("currencies", ["USD"])]
    created = {"Account": 0, "Contact": 0, "Product2": 0, "Pricebook2": 0, "PricebookEntry": 0}
    standard = dml.standard_pricebook_id()
    with dml.store.transaction():
        for i in range(accounts):
            account = dml.insert(
                "Account", {"Name": f"{key} Account {i}", "LogiSense_Account_Id__c": f"{key}-A{i}"}
            )
            created["Account"] += 1
            for j in range(per_account):
                dml.insert("Contact", {"AccountId": account, "LastName": f"Contact {i}-{j}"})
                created["Contact"] += 1
        book_ids = []
        for b in range(books):
            book_ids.append(
                dml.insert(
                    "Pricebook2",
                    {"Name": f"{key} Book {b}", "IsActive": True, "LogiSense_Id__c": f"{key}-B{b}"},
                )
            )
            created["Pricebook2"] += 1
        for p in range(products):
            product = dml.insert(
                "Product2", {"Name": f"{key} Product {p}", "IsActive": True, "LogiSense_Id__c": f"{key}-P{p}"}
            )
            created["Product2"] += 1
            for currency in currencies:
                for book in [standard, *book_ids]:
                    dml.insert(
                        "PricebookEntry",
                        {
                            "Pricebook2Id": book,
                            "Product2Id": product,
                            "CurrencyIsoCode": currency,
                            "UnitPrice": float(10 + p % 90),
                            "IsActive": True,
                            "LogiSense_Id__c": f"{key}-E{p}-{currency}-{book}",
                        },
                    )
                    created["PricebookEntry"] += 1
    return created
