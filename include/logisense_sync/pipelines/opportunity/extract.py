"""Read everything one request needs, from Salesforce and (read-only) from LogiSense, into a :class:`Deal`."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from logisense_sync.clients.logisense import LogiSenseClient, LogiSenseNotFound
from logisense_sync.clients.salesforce import SalesforceClient
from logisense_sync.clients.soql import format_soql
from logisense_sync.pipelines.opportunity.claim import QueuedRequest
from logisense_sync.transforms.opportunity import (
    CatalogueCharge,
    ChargeOverride,
    Deal,
    LogiSenseAccountState,
    RequestType,
    SfAccount,
    SfContact,
    SfLine,
    SfOpportunity,
    SfPricebook,
    accounts_to_provision,
    date_or_none,
    decimal_or_none,
    unique,
)

logger = logging.getLogger(__name__)

ACCOUNT_FIELDS = (
    "Id, Name, ParentId, CurrencyIsoCode, LogiSense_Account_Id__c, Subscription_Invoicer__c, "
    "Usage_Invoicer__c, Tax_Inheritance_Account__c, BillingStreet, BillingCity, BillingState, "
    "BillingPostalCode, BillingCountry, Phone"
)
CONTACT_FIELDS = (
    "Id, AccountId, FirstName, LastName, Title, Email, Phone, MailingStreet, MailingCity, MailingState, "
    "MailingPostalCode, MailingCountry, LogiSense_Contact_Type__c, LogiSense_Contact_Id__c"
)
OPPORTUNITY_FIELDS = (
    "Id, Name, AccountId, IsWon, StageName, Type, CloseDate, CurrencyIsoCode, Pricebook2Id, "
    "LogiSense_Price_Plan_Id__c"
)
LINE_FIELDS = (
    "Id, OpportunityId, PricebookEntryId, Product2Id, Quantity, UnitPrice, CurrencyIsoCode, Product2.Name, "
    "Product2.LogiSense_Id__c, PricebookEntry.Pricebook2Id, PricebookEntry.LogiSense_Id__c"
)
CHARGE_FIELDS = (
    "Id, LogiSense_Id__c, Product__c, Pricebook__c, Service_Name__c, Charge_Type__c, Service_Status__c, "
    "Amount__c, Default_Quantity__c, Minimum_Quantity__c, Maximum_Quantity__c, CurrencyIsoCode"
)
OVERRIDE_FIELDS = (
    "Id, Opportunity__c, Opportunity_Line_Item_Id__c, Product_Service__c, Quantity__c, Amount__c"
)


@dataclass
class LogiSenseReferences:
    """LogiSense reference data read once per unit: ids by name or code."""

    currencies: dict[str, int] = field(default_factory=dict)
    currency_codes: dict[int, str] = field(default_factory=dict)
    contact_types: dict[str, int] = field(default_factory=dict)
    contact_type_names: list[str] = field(default_factory=list)
    contact_point_types: dict[str, int] = field(default_factory=dict)
    service_statuses: dict[str, int] = field(default_factory=dict)
    transitions: dict[str, int] = field(default_factory=dict)

    @classmethod
    def read(cls, ls: LogiSenseClient) -> LogiSenseReferences:
        """Read currencies, contact types, contact point types, service statuses and transitions.

        Args:
            ls: the LogiSense client.

        Returns:
            The lookups (names compared case-insensitively through lower-case keys).
        """
        refs = cls()
        for row in ls.list_all("Currency"):
            refs.currencies[str(row["code"]).upper()] = int(row["identity"])
            refs.currency_codes[int(row["identity"])] = str(row["code"]).upper()
        for row in ls.list_all("ContactType"):
            refs.contact_types[str(row["name"]).lower()] = int(row["identity"])
            refs.contact_type_names.append(str(row["name"]))
        refs.contact_point_types = {
            str(r["name"]).lower(): int(r["identity"]) for r in ls.list_all("ContactPointType")
        }
        refs.service_statuses = {
            str(r["name"]).lower(): int(r["identity"]) for r in ls.list_all("ServiceStatusType")
        }
        refs.transitions = {
            _transition_key(str(r.get("name") or "")): int(r["identity"])
            for r in ls.list_all("ServiceStatusTransition")
        }
        return refs


def _transition_key(name: str) -> str:
    return "".join(name.lower().replace("→", "->").split())


def transition_id(refs: LogiSenseReferences, name: str | None) -> int | None:
    """Find a LogiSense service status transition by its label (``[New] -> Active``, spacing and arrows free).

    Args:
        refs: the reference data.
        name: ``Product_Service__c.Service_Status__c`` of a one-time charge.

    Returns:
        The transition id, or None.
    """
    if not name:
        return None
    key = _transition_key(name)
    if key in refs.transitions:
        return refs.transitions[key]
    if "activation" in key:
        return refs.transitions.get(_transition_key("[New] -> Active"))
    return None


def _chunks(ids: list[str], size: int = 200) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _account(r: dict[str, Any]) -> SfAccount:
    return SfAccount(
        id=r["Id"],
        name=r.get("Name") or r["Id"],
        parent_id=r.get("ParentId"),
        currency=r.get("CurrencyIsoCode"),
        logisense_id=r.get("LogiSense_Account_Id__c"),
        subscription_invoicer_id=r.get("Subscription_Invoicer__c"),
        usage_invoicer_id=r.get("Usage_Invoicer__c"),
        tax_account_id=r.get("Tax_Inheritance_Account__c"),
        billing_street=r.get("BillingStreet"),
        billing_city=r.get("BillingCity"),
        billing_state=r.get("BillingState"),
        billing_postal_code=r.get("BillingPostalCode"),
        billing_country=r.get("BillingCountry"),
        phone=r.get("Phone"),
    )


def read_accounts(sf: SalesforceClient, start_ids: Iterable[str]) -> dict[str, SfAccount]:
    """Read accounts and everything they point at: parents up to the top, invoicers and tax accounts.

    Args:
        sf: the Salesforce client.
        start_ids: the accounts to start from.

    Returns:
        Accounts by id (the closure over ParentId and the three invoicer/tax lookups).
    """
    accounts: dict[str, SfAccount] = {}
    pending = unique(start_ids)
    asked: set[str] = set()
    while pending:
        asked.update(pending)
        for chunk in _chunks(pending):
            soql = format_soql("SELECT " + ACCOUNT_FIELDS + " FROM Account WHERE Id IN {ids}", ids=chunk)
            for record in sf.query(soql):
                acc = _account(record)
                accounts[acc.id] = acc
        refs = [
            ref
            for acc in accounts.values()
            for ref in (
                acc.parent_id,
                acc.subscription_invoicer_id,
                acc.usage_invoicer_id,
                acc.tax_account_id,
            )
        ]
        # ids asked for but not found stay unknown (deleted, or not visible): never asked twice
        pending = [ref for ref in unique(refs) if ref not in accounts and ref not in asked]
    return accounts


def read_contacts(sf: SalesforceClient, account_ids: list[str]) -> list[SfContact]:
    """Read the contacts flagged ``Sync_With_LogiSense__c`` on the given accounts.

    Args:
        sf: the Salesforce client.
        account_ids: the accounts.

    Returns:
        The contacts, ordered by account and name.
    """
    contacts: list[SfContact] = []
    for chunk in _chunks(account_ids):
        soql = format_soql(
            "SELECT "
            + CONTACT_FIELDS
            + " FROM Contact WHERE AccountId IN {ids} AND Sync_With_LogiSense__c = {yes} "
            "ORDER BY AccountId, LastName, FirstName",
            ids=chunk,
            yes=True,
        )
        for r in sf.query(soql):
            contacts.append(
                SfContact(
                    id=r["Id"],
                    account_id=r["AccountId"],
                    first_name=r.get("FirstName"),
                    last_name=r.get("LastName") or "",
                    contact_type=r.get("LogiSense_Contact_Type__c"),
                    logisense_id=r.get("LogiSense_Contact_Id__c"),
                    title=r.get("Title"),
                    email=r.get("Email"),
                    phone=r.get("Phone"),
                    street=r.get("MailingStreet"),
                    city=r.get("MailingCity"),
                    state=r.get("MailingState"),
                    postal_code=r.get("MailingPostalCode"),
                    country=r.get("MailingCountry"),
                )
            )
    return contacts


def read_opportunity(sf: SalesforceClient, deal: Deal, opportunity_id: str) -> None:
    """Fill ``deal`` with the opportunity, its price book, lines, overrides and catalogue charges.

    Args:
        sf: the Salesforce client.
        deal: the deal being read (modified in place).
        opportunity_id: the opportunity.
    """
    soql = format_soql(
        "SELECT " + OPPORTUNITY_FIELDS + " FROM Opportunity WHERE Id = {id}", id=opportunity_id
    )
    rows = list(sf.query(soql))
    if not rows:
        return
    r = rows[0]
    deal.opportunity = SfOpportunity(
        id=r["Id"],
        name=r.get("Name") or r["Id"],
        account_id=r.get("AccountId"),
        is_won=bool(r.get("IsWon")),
        stage=r.get("StageName"),
        type=r.get("Type"),
        close_date=date_or_none(r.get("CloseDate")),
        currency=r.get("CurrencyIsoCode"),
        pricebook_id=r.get("Pricebook2Id"),
        logisense_price_plan_id=r.get("LogiSense_Price_Plan_Id__c"),
    )
    deal.account_id = deal.opportunity.account_id
    line_soql = format_soql(
        "SELECT " + LINE_FIELDS + " FROM OpportunityLineItem WHERE OpportunityId = {id} ORDER BY Id",
        id=opportunity_id,
    )
    for li in sf.query(line_soql):
        deal.lines.append(
            SfLine(
                id=li["Id"],
                product_name=li.get("Product2.Name") or li.get("Product2Id") or li["Id"],
                product_id=li.get("Product2Id"),
                pricebook_entry_id=li.get("PricebookEntryId"),
                entry_pricebook_id=li.get("PricebookEntry.Pricebook2Id"),
                quantity=decimal_or_none(li.get("Quantity")) or Decimal(1),
                unit_price=decimal_or_none(li.get("UnitPrice")) or Decimal(0),
                product_logisense_id=li.get("Product2.LogiSense_Id__c"),
                entry_logisense_id=li.get("PricebookEntry.LogiSense_Id__c"),
                currency=li.get("CurrencyIsoCode"),
            )
        )
    book_ids = unique([deal.opportunity.pricebook_id, *(line.entry_pricebook_id for line in deal.lines)])
    if book_ids:
        soql = format_soql("SELECT Id, Name, LogiSense_Id__c FROM Pricebook2 WHERE Id IN {ids}", ids=book_ids)
        for b in sf.query(soql):
            deal.pricebook_names[b["Id"]] = b.get("Name") or b["Id"]
            if b["Id"] == deal.opportunity.pricebook_id:
                deal.pricebook = SfPricebook(b["Id"], b.get("Name") or b["Id"], b.get("LogiSense_Id__c"))
    soql = format_soql(
        "SELECT " + OVERRIDE_FIELDS + " FROM Opportunity_Product_Service__c WHERE Opportunity__c = {id}",
        id=opportunity_id,
    )
    for o in sf.query(soql):
        deal.overrides.append(
            ChargeOverride(
                id=o["Id"],
                line_id=o.get("Opportunity_Line_Item_Id__c"),
                product_service_id=o.get("Product_Service__c"),
                quantity=decimal_or_none(o.get("Quantity__c")),
                amount=decimal_or_none(o.get("Amount__c")),
            )
        )
    product_ids = unique(line.product_id for line in deal.lines)
    charge_ids = unique(o.product_service_id for o in deal.overrides)
    seen: set[str] = set()
    for chunk in _chunks(product_ids):
        soql = format_soql(
            "SELECT " + CHARGE_FIELDS + " FROM Product_Service__c WHERE Product__c IN {ids}", ids=chunk
        )
        for c in sf.query(soql):
            seen.add(c["Id"])
            deal.charges.append(_charge(c))
    missing = [cid for cid in charge_ids if cid not in seen]
    for chunk in _chunks(missing):
        soql = format_soql(
            "SELECT " + CHARGE_FIELDS + " FROM Product_Service__c WHERE Id IN {ids}", ids=chunk
        )
        deal.charges.extend(_charge(c) for c in sf.query(soql))


def _charge(c: dict[str, Any]) -> CatalogueCharge:
    return CatalogueCharge(
        id=c["Id"],
        product_id=c.get("Product__c") or "",
        pricebook_id=c.get("Pricebook__c"),
        service_name=c.get("Service_Name__c") or "",
        charge_type=c.get("Charge_Type__c") or "",
        service_status=c.get("Service_Status__c"),
        amount=decimal_or_none(c.get("Amount__c")),
        logisense_id=c.get("LogiSense_Id__c"),
        default_quantity=decimal_or_none(c.get("Default_Quantity__c")),
        minimum_quantity=decimal_or_none(c.get("Minimum_Quantity__c")),
        maximum_quantity=decimal_or_none(c.get("Maximum_Quantity__c")),
        currency=c.get("CurrencyIsoCode"),
    )


def read_logisense_accounts(
    ls: LogiSenseClient, deal: Deal, refs: LogiSenseReferences
) -> dict[str, dict[str, Any]]:
    """Find the LogiSense accounts of the deal's Salesforce accounts (by ``extensions.sfdcid``), read-only.

    Also fills ``deal.logisense_accounts`` with their currency, parent and top, for the currency-change and
    re-parenting rules.

    Args:
        ls: the LogiSense client.
        deal: the deal (its ``accounts`` are looked up; ``logisense_accounts`` is filled).
        refs: reference data (currency codes).

    Returns:
        The LogiSense account objects by Salesforce account id.
    """
    found: dict[str, dict[str, Any]] = {}
    ids = list(deal.accounts)
    for chunk in _chunks(ids, 500):
        filters = [{"name": "extensions.sfdcid", "operator": "in", "value": chunk}]
        for obj in ls.search("Account", filters):
            sfdcid = (obj.get("extensions") or {}).get("sfdcid")
            if not sfdcid:
                continue
            # several objects for one sfdcid (a concurrent create): the oldest is the one we keep
            if sfdcid not in found or int(obj["identity"]) < int(found[sfdcid]["identity"]):
                found[str(sfdcid)] = obj
    # accounts synced by someone else (LogiSense id written in Salesforce without our marker)
    for acc in deal.accounts.values():
        if acc.id not in found and acc.logisense_id and acc.logisense_id.isdigit():
            try:
                found[acc.id] = ls.get("Account", int(acc.logisense_id))
            except LogiSenseNotFound:
                # a stale id in Salesforce: treated as "not synced yet"
                logger.warning("Account %s: LogiSense account %s no longer exists", acc.id, acc.logisense_id)
    for sf_id, obj in found.items():
        currency_id = obj.get("currencyId")
        deal.logisense_accounts[sf_id] = LogiSenseAccountState(
            identity=int(obj["identity"]),
            currency_code=refs.currency_codes.get(int(currency_id)) if currency_id is not None else None,
            parent_identity=int(obj["parentAccountId"]) if obj.get("parentAccountId") is not None else None,
            top_identity=int(obj.get("topAccountId") or obj["identity"]),
        )
    return found


def read_deal(
    sf: SalesforceClient, ls: LogiSenseClient, request: QueuedRequest, refs: LogiSenseReferences
) -> tuple[Deal, dict[str, dict[str, Any]]]:
    """Read one request's deal from Salesforce, and what LogiSense already holds for its accounts.

    Args:
        sf: the Salesforce client.
        ls: the LogiSense client (only read here).
        request: the claimed request.
        refs: LogiSense reference data.

    Returns:
        (the deal, the existing LogiSense account objects by Salesforce account id).
    """
    req_type = request.type or RequestType.OPPORTUNITY
    deal = Deal(request_type=req_type, account_id=request.account_id)
    if req_type == RequestType.OPPORTUNITY and request.opportunity_id:
        read_opportunity(sf, deal, request.opportunity_id)
    if deal.account_id:
        deal.accounts = read_accounts(sf, [deal.account_id])
    to_sync = accounts_to_provision(deal)
    if to_sync:
        deal.contacts = read_contacts(sf, to_sync)
    deal.logisense_currencies = frozenset(refs.currencies)
    deal.logisense_contact_types = frozenset(refs.contact_type_names)
    existing = read_logisense_accounts(ls, deal, refs) if deal.accounts else {}
    return deal, existing
