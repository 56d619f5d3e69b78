"""Pure rules of the opportunity sync: typed Salesforce records in, violations and LogiSense payloads out.

Nothing here does I/O or reads a clock. :func:`validate_deal` collects every rule a deal breaks, each as a
sentence a sales rep understands; :func:`line_charges` prices an opportunity product from the rep's service
overrides and the catalogue defaults; the ``*_payload`` functions build LogiSense DTOs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

#: Recurring charges in this service status count towards a line's price (CONTRACT §5).
ACTIVE_STATUS = "Active"


class RequestType(StrEnum):
    """``LogiSense_Request__c.Type__c``."""

    OPPORTUNITY = "Opportunity"
    ACCOUNT = "Account"


class RequestStatus(StrEnum):
    """``LogiSense_Request__c.Status__c``."""

    WAITING = "Waiting"
    PROCESSING = "Processing"
    COMPLETED = "Completed"
    FAILED = "Failed"


class SyncStatus(StrEnum):
    """``Opportunity.LogiSense_Sync_Status__c``."""

    NOT_SYNCED = "Not Synced"
    WAITING = "Waiting"
    PROCESSING = "Processing"
    SYNCED = "Synced"
    FAILED = "Failed"


class ChargeType(StrEnum):
    """``Product_Service__c.Charge_Type__c``."""

    RECURRING = "Recurring"
    ONE_TIME = "One-Time"
    USAGE = "Usage"


# --------------------------------------------------------------------------- typed Salesforce records


@dataclass(frozen=True)
class SfAccount:
    """The Account fields the sync reads."""

    id: str
    name: str
    parent_id: str | None = None
    currency: str | None = None
    logisense_id: str | None = None
    subscription_invoicer_id: str | None = None
    usage_invoicer_id: str | None = None
    tax_account_id: str | None = None
    billing_street: str | None = None
    billing_city: str | None = None
    billing_state: str | None = None
    billing_postal_code: str | None = None
    billing_country: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class SfContact:
    """A Contact flagged ``Sync_With_LogiSense__c``."""

    id: str
    account_id: str
    first_name: str | None
    last_name: str
    contact_type: str | None = None
    logisense_id: str | None = None
    title: str | None = None
    email: str | None = None
    phone: str | None = None
    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None

    @property
    def full_name(self) -> str:
        """First and last name as a rep would write them."""
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True)
class SfOpportunity:
    """The Opportunity fields the sync reads."""

    id: str
    name: str
    account_id: str | None
    is_won: bool
    stage: str | None
    type: str | None
    close_date: dt.date | None
    currency: str | None
    pricebook_id: str | None
    logisense_price_plan_id: str | None = None


@dataclass(frozen=True)
class SfPricebook:
    """A Pricebook2; integrated when it carries a LogiSense price book id."""

    id: str
    name: str
    logisense_id: str | None


@dataclass(frozen=True)
class SfLine:
    """An OpportunityLineItem with what its price book entry and product say about LogiSense."""

    id: str
    product_name: str
    product_id: str | None
    pricebook_entry_id: str | None
    entry_pricebook_id: str | None
    quantity: Decimal
    unit_price: Decimal
    product_logisense_id: str | None = None
    """``Product2.LogiSense_Id__c``: the LogiSense package frequency."""
    entry_logisense_id: str | None = None
    currency: str | None = None


@dataclass(frozen=True)
class CatalogueCharge:
    """A ``Product_Service__c``: one priced charge line of a package service, per price book and currency."""

    id: str
    product_id: str
    pricebook_id: str | None
    service_name: str
    charge_type: str
    service_status: str | None
    amount: Decimal | None
    logisense_id: str | None = None
    default_quantity: Decimal | None = None
    minimum_quantity: Decimal | None = None
    maximum_quantity: Decimal | None = None
    currency: str | None = None

    @property
    def key_parts(self) -> list[str]:
        """The parts of the catalogue key ``psl:{book}:{frequency}:{CUR}:{serviceId}:{charge}`` (or [])."""
        parts = (self.logisense_id or "").split(":")
        return parts if len(parts) == 6 and parts[0] == "psl" else []

    @property
    def service_key(self) -> str:
        """What identifies the charge's package service: the LogiSense service id, else the service name."""
        parts = self.key_parts
        return f"id:{parts[4]}" if parts else f"name:{self.service_name.lower()}"

    @property
    def start_quantity(self) -> Decimal:
        """The tier's lower bound for a recurring charge (``R{status}@{startQuantity}``), else 0."""
        parts = self.key_parts
        if parts and "@" in parts[5]:
            return Decimal(parts[5].split("@", 1)[1])
        return Decimal(0)


@dataclass(frozen=True)
class ChargeOverride:
    """An ``Opportunity_Product_Service__c``: the rep's quantity and price for one catalogue charge."""

    id: str
    line_id: str | None
    product_service_id: str | None
    quantity: Decimal | None
    amount: Decimal | None


@dataclass(frozen=True)
class LogiSenseAccountState:
    """What LogiSense already holds for a synced account (read before any write)."""

    identity: int
    currency_code: str | None
    parent_identity: int | None
    top_identity: int


@dataclass
class Deal:
    """Everything validation needs about one request, read from Salesforce (and LogiSense, read-only).

    ``accounts`` holds the request's account, its ancestors, and the invoicer and tax accounts with their
    ancestors; ``contacts`` the contacts flagged for sync on the accounts to provision.
    """

    request_type: RequestType
    account_id: str | None
    opportunity: SfOpportunity | None = None
    pricebook: SfPricebook | None = None
    lines: list[SfLine] = field(default_factory=list)
    charges: list[CatalogueCharge] = field(default_factory=list)
    overrides: list[ChargeOverride] = field(default_factory=list)
    accounts: dict[str, SfAccount] = field(default_factory=dict)
    contacts: list[SfContact] = field(default_factory=list)
    logisense_accounts: dict[str, LogiSenseAccountState] = field(default_factory=dict)
    """Keyed by Salesforce account id: the LogiSense state of accounts synced before."""
    logisense_currencies: frozenset[str] | None = None
    """Currency codes LogiSense knows (None: not checked)."""
    logisense_contact_types: frozenset[str] | None = None
    """Contact type names LogiSense knows (None: not checked)."""
    pricebook_names: dict[str, str] = field(default_factory=dict)
    """Names of price books the lines come from, for messages."""


# --------------------------------------------------------------------------- hierarchy helpers


def ancestors(accounts: Mapping[str, SfAccount], account_id: str) -> list[str]:
    """Return ``account_id`` and its ancestors known in ``accounts``, from the account up to the top.

    Args:
        accounts: accounts by id.
        account_id: where to start.

    Returns:
        Ids from the account itself to the topmost known ancestor; stops at a cycle or an unknown parent.
    """
    chain: list[str] = []
    current: str | None = account_id
    while current is not None and current in accounts and current not in chain:
        chain.append(current)
        current = accounts[current].parent_id
    return chain


def top_of(accounts: Mapping[str, SfAccount], account_id: str) -> str:
    """Return the top of ``account_id``'s hierarchy (itself when it has no parent).

    Args:
        accounts: accounts by id.
        account_id: the account.

    Returns:
        The topmost ancestor's id.
    """
    chain = ancestors(accounts, account_id)
    return chain[-1] if chain else account_id


def accounts_to_provision(deal: Deal) -> list[str]:
    """Return the accounts a request syncs, parents before children.

    Args:
        deal: the request's data.

    Returns:
        The request's account, the invoicer and tax accounts it names (anywhere up its chain), and all their
        ancestors, ordered so that every parent comes before its children.
    """
    if deal.account_id is None or deal.account_id not in deal.accounts:
        return []
    wanted: list[str] = []

    def add_chain(account_id: str | None) -> None:
        if account_id is None or account_id not in deal.accounts:
            return
        for acc in ancestors(deal.accounts, account_id):
            if acc not in wanted:
                wanted.append(acc)

    add_chain(deal.account_id)
    for acc in list(wanted):
        record = deal.accounts[acc]
        for ref in (record.subscription_invoicer_id, record.usage_invoicer_id, record.tax_account_id):
            add_chain(ref)
    return sorted(wanted, key=lambda a: (len(ancestors(deal.accounts, a)), a))


def effective_reference(accounts: Mapping[str, SfAccount], account_id: str, attribute: str) -> str:
    """Resolve an invoicer or tax account: blank inherits from the parent; the top defaults to itself.

    Args:
        accounts: accounts by id.
        account_id: the account whose setting is resolved.
        attribute: ``subscription_invoicer_id``, ``usage_invoicer_id`` or ``tax_account_id``.

    Returns:
        The Salesforce id of the account that plays that role for ``account_id``.
    """
    for acc in ancestors(accounts, account_id):
        value: str | None = getattr(accounts[acc], attribute)
        if value:
            return value
    return top_of(accounts, account_id)


# --------------------------------------------------------------------------- pricing


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"


def _qty(value: Decimal) -> str:
    return f"{value.normalize():f}"


@dataclass(frozen=True)
class PricedService:
    """One package service of a line, with the quantity and charges the deal gives it."""

    service_name: str
    service_key: str
    """``id:<LogiSense service id>`` or ``name:<service name>``."""
    quantity: Decimal
    recurring: dict[str, Decimal]
    """Recurring amount per service status (``Active``, ``Suspended``…), of the tier the quantity falls in."""
    one_time: dict[str, Decimal]
    """One-time amount per transition."""
    usage: dict[str, Decimal]
    """Usage rate per usage class."""
    charges: list[tuple[CatalogueCharge, Decimal, bool]]
    """(catalogue charge, amount used, whether the rep changed it)."""


@dataclass(frozen=True)
class LinePricing:
    """A line's services and the sum of their first-period charges."""

    services: list[PricedService]
    total: Decimal
    explanation: str


def is_activation(transition: str | None) -> bool:
    """Tell whether a one-time charge's transition is the first activation (``[New] -> Active`` and alike).

    Args:
        transition: ``Product_Service__c.Service_Status__c`` of a one-time charge.

    Returns:
        True when the transition ends in the Active status or is named an activation.
    """
    if not transition:
        return False
    text = transition.strip().lower()
    if "activation" in text:
        return True
    for arrow in ("->", "→", ">"):
        if arrow in text:
            return text.rsplit(arrow, 1)[1].strip() == ACTIVE_STATUS.lower()
    return text == ACTIVE_STATUS.lower()


def line_charges(
    line: SfLine, charges: Sequence[CatalogueCharge], overrides: Sequence[ChargeOverride]
) -> LinePricing:
    """Price one opportunity product from its catalogue charges and the rep's overrides.

    The price of the first billing period is the sum over the line's services of quantity × the recurring
    amount in the Active status, plus the one-time charges of the activation transition (CONTRACT §5).
    A rep's ``Amount__c`` replaces the catalogue amount of that charge; ``Quantity__c`` on any charge of a
    service sets the service's quantity; otherwise the catalogue ``Default_Quantity__c`` applies (1 if blank).

    Args:
        line: the opportunity product.
        charges: the catalogue charges of the line's product (in its price book and currency).
        overrides: the rep's overrides on this line.

    Returns:
        The services with quantities and amounts, the total, and a short explanation of the sum.
    """
    by_charge = {o.product_service_id: o for o in overrides if o.product_service_id}
    services: dict[str, list[CatalogueCharge]] = {}
    ordered = sorted(
        charges, key=lambda c: (c.service_name, c.charge_type, c.service_status or "", c.start_quantity)
    )
    for charge in ordered:
        services.setdefault(charge.service_key, []).append(charge)
    priced: list[PricedService] = []
    total = Decimal(0)
    parts: list[str] = []
    for service_charges in services.values():
        name = service_charges[0].service_name
        quantity: Decimal | None = None
        for charge in service_charges:
            override = by_charge.get(charge.id)
            if override is not None and override.quantity is not None:
                quantity = override.quantity
                if charge.charge_type == ChargeType.RECURRING:
                    break
        if quantity is None:
            defaults = [c.default_quantity for c in service_charges if c.default_quantity is not None]
            quantity = defaults[0] if defaults else Decimal(1)
        recurring: dict[str, Decimal] = {}
        one_time: dict[str, Decimal] = {}
        usage: dict[str, Decimal] = {}
        tier_start: dict[str, Decimal] = {}
        used: list[tuple[CatalogueCharge, Decimal, bool]] = []
        for charge in service_charges:
            override = by_charge.get(charge.id)
            changed = override is not None and override.amount is not None
            amount = override.amount if changed and override is not None else charge.amount
            amount = amount if amount is not None else Decimal(0)
            used.append((charge, amount, changed))
            status = charge.service_status or ""
            if charge.charge_type == ChargeType.RECURRING:
                # tiers: the one whose start quantity is the largest not above the service quantity
                if charge.start_quantity <= quantity and (
                    status not in recurring or charge.start_quantity >= tier_start.get(status, Decimal(-1))
                ):
                    recurring[status] = amount
                    tier_start[status] = charge.start_quantity
            elif charge.charge_type == ChargeType.ONE_TIME:
                one_time[status] = amount
            else:
                usage[status] = amount
        active = recurring.get(ACTIVE_STATUS, Decimal(0))
        activation = sum((a for s, a in one_time.items() if is_activation(s)), Decimal(0))
        total += quantity * active + activation
        if active:
            parts.append(f"{_qty(quantity)} × {name} {_money(active)}")
        if activation:
            parts.append(f"{name} activation {_money(activation)}")
        priced.append(
            PricedService(name, service_charges[0].service_key, quantity, recurring, one_time, usage, used)
        )
    return LinePricing(priced, total, " + ".join(parts) if parts else "no charges")


# --------------------------------------------------------------------------- validation


def _name(accounts: Mapping[str, SfAccount], account_id: str | None) -> str:
    if account_id is None:
        return "(none)"
    record = accounts.get(account_id)
    return f"'{record.name}'" if record else f"{account_id}"


def validate_deal(
    deal: Deal, processes: Mapping[str, Any], *, price_tolerance: Decimal = Decimal("0.005")
) -> list[str]:
    """Check every rule of the LogiSense integration on one request and describe each violation.

    Args:
        deal: everything read about the request.
        processes: the Opportunity Type → business process mapping (only its keys are used).
        price_tolerance: the largest sales-price difference still taken as equal.

    Returns:
        One sentence per problem, in words a sales rep understands; empty when the deal can be synced.
    """
    problems: list[str] = []
    problems += _account_problems(deal)
    if deal.request_type == RequestType.OPPORTUNITY:
        problems += _opportunity_problems(deal, processes, price_tolerance)
    problems += _contact_problems(deal)
    return problems


def _opportunity_problems(deal: Deal, processes: Mapping[str, Any], tolerance: Decimal) -> list[str]:
    opp = deal.opportunity
    if opp is None:
        return ["The request does not point to an opportunity that still exists."]
    problems: list[str] = []
    if not opp.is_won:
        problems.append(
            f"The opportunity is not won (stage '{opp.stage or 'blank'}'). "
            "Only Closed Won opportunities can be sent to LogiSense."
        )
    if opp.type not in processes:
        allowed = ", ".join(f"'{t}'" for t in processes)
        problems.append(
            f"Opportunity Type '{opp.type or 'blank'}' has no LogiSense process. "
            f"Set Type to one of: {allowed}."
        )
    if opp.account_id is None:
        problems.append("The opportunity has no account. Set its Account before sending it to LogiSense.")
    if opp.close_date is None:
        problems.append("The opportunity has no close date.")
    book = deal.pricebook
    if opp.pricebook_id is None or book is None:
        problems.append(
            "The opportunity has no price book. Choose a LogiSense price book and add its products."
        )
    elif not book.logisense_id:
        problems.append(
            f"Price book '{book.name}' is not a LogiSense price book. "
            "Use a price book that came from LogiSense (its products carry LogiSense prices)."
        )
    account = deal.accounts.get(opp.account_id) if opp.account_id else None
    if account is not None and account.currency and opp.currency and account.currency != opp.currency:
        problems.append(
            f"The opportunity is in {opp.currency} but account '{account.name}' is in {account.currency}. "
            "The opportunity and the account must use the same currency."
        )
    if not deal.lines:
        problems.append("The opportunity has no products. Add the LogiSense products that were sold.")
    problems += _line_problems(deal, tolerance)
    return problems


def _line_problems(deal: Deal, tolerance: Decimal) -> list[str]:
    opp = deal.opportunity
    assert opp is not None
    problems: list[str] = []
    line_ids = {line.id for line in deal.lines}
    for override in deal.overrides:
        if override.line_id not in line_ids:
            problems.append(
                f"A product service change ({override.id}) belongs to an opportunity product that no longer "
                "exists. Delete it or add the product again."
            )
    charges_by_id = {c.id: c for c in deal.charges}
    for line in deal.lines:
        label = f"Product '{line.product_name}'"
        if opp.pricebook_id and line.entry_pricebook_id and line.entry_pricebook_id != opp.pricebook_id:
            other = deal.pricebook_names.get(line.entry_pricebook_id, line.entry_pricebook_id)
            problems.append(
                f"{label} comes from price book '{other}', not from the opportunity's price book. "
                "Remove it and add it from the opportunity's LogiSense price book."
            )
            continue
        if not line.product_logisense_id:
            problems.append(
                f"{label} is not a LogiSense product. Remove it or replace it with a LogiSense one."
            )
            continue
        if opp.currency and line.currency and line.currency != opp.currency:
            problems.append(f"{label} is priced in {line.currency}, the opportunity in {opp.currency}.")
        if line.quantity != line.quantity.to_integral_value() or line.quantity < 1:
            problems.append(
                f"{label} has quantity {_qty(line.quantity)}; LogiSense needs a whole number of at least 1 "
                "(put seats and other counts on the product's services)."
            )
        line_overrides = [o for o in deal.overrides if o.line_id == line.id]
        mine = [
            c
            for c in deal.charges
            if c.product_id == line.product_id
            and (c.pricebook_id in (None, opp.pricebook_id))
            and (c.currency in (None, opp.currency))
        ]
        mine_ids = {c.id for c in mine}
        for override in line_overrides:
            if override.product_service_id not in mine_ids:
                found = charges_by_id.get(override.product_service_id or "")
                what = f"service '{found.service_name}'" if found else "a service"
                problems.append(
                    f"{label} has a change for {what} that is not part of this product in this price book "
                    f"and currency. Delete that change."
                )
        if not mine:
            if deal.pricebook is None or not deal.pricebook.logisense_id:
                continue  # already reported: the price book itself is not a LogiSense one
            problems.append(
                f"{label} has no LogiSense services for this price book and currency. "
                "Run the catalogue sync or pick another product."
            )
            continue
        pricing = line_charges(line, mine, [o for o in line_overrides if o.product_service_id in mine_ids])
        for service in pricing.services:
            limits = [c for c, _a, _ch in service.charges]
            low = next((c.minimum_quantity for c in limits if c.minimum_quantity is not None), None)
            high = next((c.maximum_quantity for c in limits if c.maximum_quantity is not None), None)
            if low is not None and service.quantity < low:
                problems.append(
                    f"{label}: quantity {_qty(service.quantity)} of service '{service.service_name}' is "
                    f"below the minimum of {_qty(low)}."
                )
            if high is not None and service.quantity > high:
                problems.append(
                    f"{label}: quantity {_qty(service.quantity)} of service '{service.service_name}' is "
                    f"above the maximum of {_qty(high)}."
                )
            if service.quantity < 0:
                problems.append(f"{label}: service '{service.service_name}' has a negative quantity.")
            for charge, amount, _changed in service.charges:
                if amount < 0:
                    problems.append(
                        f"{label}: the {charge.charge_type.lower()} price of service "
                        f"'{charge.service_name}' is negative."
                    )
        if abs(pricing.total - line.unit_price) > tolerance:
            problems.append(
                f"{label}: the sales price is {_money(line.unit_price)} but its services add up to "
                f"{_money(pricing.total)} ({pricing.explanation}). Make the sales price equal the sum of the "
                "service charges, or change the service prices."
            )
    return problems


def _account_problems(deal: Deal) -> list[str]:
    problems: list[str] = []
    if deal.account_id is None or deal.account_id not in deal.accounts:
        if deal.account_id is not None:
            problems.append("The account of this request no longer exists.")
        return problems
    accounts = deal.accounts
    to_sync = accounts_to_provision(deal)
    for acc_id in to_sync:
        record = accounts[acc_id]
        label = f"Account '{record.name}'"
        if not record.currency:
            problems.append(f"{label} has no currency. Set the Account Currency.")
        if record.parent_id and record.parent_id not in accounts:
            problems.append(f"{label} has a parent account that cannot be read.")
        parent = accounts.get(record.parent_id) if record.parent_id else None
        if parent is not None and parent.currency and record.currency and parent.currency != record.currency:
            problems.append(
                f"{label} is in {record.currency} but its parent '{parent.name}' is in {parent.currency}. "
                "A parent and its child accounts must use the same currency."
            )
        known = deal.logisense_currencies
        if known is not None and record.currency and record.currency not in known:
            problems.append(
                f"{label} is in {record.currency}, a currency LogiSense is not set up for. "
                "Ask billing to add it in LogiSense first."
            )
        top = top_of(accounts, acc_id)
        for attribute, role in (
            ("subscription_invoicer_id", "Subscription Invoicer"),
            ("usage_invoicer_id", "Usage Invoicer"),
            ("tax_account_id", "Tax Inheritance Account"),
        ):
            ref: str | None = getattr(record, attribute)
            if ref is None:
                continue
            if ref not in accounts:
                problems.append(f"{label}: the {role} account cannot be read.")
            elif top_of(accounts, ref) != top:
                problems.append(
                    f"{label}: the {role} {_name(accounts, ref)} is not in the same account hierarchy "
                    f"(top account {_name(accounts, top)}). Choose this account or another one under "
                    f"{_name(accounts, top)}."
                )
        state = deal.logisense_accounts.get(acc_id)
        if state is not None:
            if state.currency_code and record.currency and state.currency_code != record.currency:
                problems.append(
                    f"{label} was sent to LogiSense in {state.currency_code}; its currency cannot change "
                    f"once synced (it is now {record.currency}). Set the Account Currency back to "
                    f"{state.currency_code}."
                )
            problems += _reparent_problems(deal, acc_id, state)
    return problems


def _reparent_problems(deal: Deal, account_id: str, state: LogiSenseAccountState) -> list[str]:
    """A synced account may get a new parent only inside the hierarchy it already belongs to in LogiSense."""
    accounts = deal.accounts
    record = accounts[account_id]
    parent = accounts.get(record.parent_id) if record.parent_id else None
    parent_ls = deal.logisense_accounts.get(parent.id) if parent is not None else None
    if parent_ls is not None and state.parent_identity == parent_ls.identity:
        return []  # unchanged
    if parent is None and state.parent_identity is None:
        return []  # still a top account
    old_top = state.top_identity
    if parent is None:
        return [
            f"Account '{record.name}' is in a LogiSense account hierarchy and cannot leave it. "
            "Give it back a parent account from the same hierarchy."
        ]
    new_top_sf = top_of(accounts, parent.id)
    new_top_state = deal.logisense_accounts.get(new_top_sf)
    if old_top == state.identity and state.parent_identity is None:
        # It was a top account: it may only move under one of its own (synced) descendants, which Salesforce
        # rejects as a cycle anyway, so any new parent takes it out of its hierarchy.
        pass
    elif new_top_state is not None and new_top_state.identity == old_top:
        return []
    return [
        f"Account '{record.name}' is already in LogiSense in another account hierarchy; its new parent "
        f"'{parent.name}' is outside that hierarchy. Once synced, an account may only move to a parent "
        "within the same hierarchy."
    ]


def _contact_problems(deal: Deal) -> list[str]:
    problems: list[str] = []
    for contact in deal.contacts:
        label = f"Contact '{contact.full_name}' ({_name(deal.accounts, contact.account_id)})"
        if not contact.contact_type:
            problems.append(
                f"{label} is marked Sync With LogiSense but has no LogiSense Contact Type. "
                "Set the contact type."
            )
        elif deal.logisense_contact_types is not None and contact.contact_type.lower() not in {
            t.lower() for t in deal.logisense_contact_types
        }:
            known = ", ".join(f"'{t}'" for t in sorted(deal.logisense_contact_types))
            problems.append(
                f"{label} has LogiSense Contact Type '{contact.contact_type}', which LogiSense does not know "
                f"(known: {known})."
            )
        if not contact.last_name:
            problems.append(f"{label} has no last name.")
    return problems


def decimal_or_none(value: Any) -> Decimal | None:
    """Read a Salesforce number (JSON number, string or null) as a Decimal.

    Args:
        value: the raw field value.

    Returns:
        The Decimal, or None for null/blank.
    """
    if value is None or value == "":
        return None
    return Decimal(str(value))


def date_or_none(value: Any) -> dt.date | None:
    """Read a Salesforce date (``YYYY-MM-DD``) or datetime string as a date.

    Args:
        value: the raw field value.

    Returns:
        The date, or None for null/blank.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def unique(values: Iterable[str | None]) -> list[str]:
    """Return the distinct non-empty values in first-seen order.

    Args:
        values: strings or None.

    Returns:
        The distinct values.
    """
    seen: dict[str, None] = {}
    for value in values:
        if value:
            seen.setdefault(value, None)
    return list(seen)
