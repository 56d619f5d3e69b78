"""Provisioning a validated deal into LogiSense, idempotently.

Two phases. :func:`plan_deal` only *reads* LogiSense (package frequencies, package services, package
currencies) and resolves every Salesforce value to a LogiSense id; whatever cannot be resolved becomes a
violation, so a deal either is fully planned or nothing is written. :class:`Provisioner` then writes, parents
first: accounts (with their parent link), the invoicer and tax settings, contacts with their contact points,
then account packages with their services (and, for prices the rep changed, an account product code plus
account price plan rows) or an account price plan with its per-service rows.

Idempotency: every object the sync creates carries ``extensions.sfdcid`` = the Salesforce record it came
from (account, contact, opportunity line for account packages, product codes and price plan rows,
opportunity for the account price plan). :meth:`Provisioner.ensure` looks an object up before creating it
(by the marker, or by its natural key under a parent), updates only the properties that differ, and right
after a create searches again: if a concurrent run created the same object, the oldest one wins and the
newer one is deleted. A rerun after a crash at any point therefore finishes the work without a duplicate.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from logisense_sync.clients.logisense import LogiSenseClient, LogiSenseNotFound
from logisense_sync.pipelines.opportunity.extract import LogiSenseReferences, transition_id
from logisense_sync.pipelines.opportunity.settings import BusinessProcess
from logisense_sync.transforms.opportunity import (
    ACTIVE_STATUS,
    ChargeType,
    Deal,
    SfAccount,
    SfContact,
    SfLine,
    accounts_to_provision,
    ancestors,
    line_charges,
)

logger = logging.getLogger(__name__)

SFDCID = "sfdcid"


# --------------------------------------------------------------------------- the plan (read-only phase)


@dataclass
class ServicePlan:
    """One package service of a line, resolved to LogiSense ids."""

    service_name: str
    package_service_id: int
    service_id: int
    quantity: Decimal
    recurring: dict[tuple[int, Decimal], Decimal]
    """Amount per (LogiSense service status type id, tier start quantity)."""
    one_time: dict[int, Decimal]
    """Amount per LogiSense service status transition id."""
    changed: bool
    """Whether the rep changed any price of this service."""
    usage: dict[int, Decimal | None] = field(default_factory=dict)
    """The rep's rate per catalogue ``Usage/Rate`` id; None keeps LogiSense's own (exact) catalogue rate."""
    usage_changed: bool = False
    """Whether the rep changed a usage rate (then the account gets its own usage rate plan)."""


@dataclass
class LinePlan:
    """One opportunity product, resolved to LogiSense ids."""

    line: SfLine
    package_id: int
    package_frequency_id: int
    package_currency_id: int
    services: list[ServicePlan]

    @property
    def prices_changed(self) -> bool:
        """Whether the rep negotiated any price on this line."""
        return any(s.changed for s in self.services)


@dataclass
class DealPlan:
    """Everything to write for one request."""

    process: BusinessProcess | None
    accounts: list[str]
    lines: list[LinePlan] = field(default_factory=list)


def logisense_key_id(value: str | None) -> int | None:
    """Read the LogiSense id out of a catalogue key such as ``pf:123`` (or a bare ``123``).

    Args:
        value: ``Product2.LogiSense_Id__c`` and alike.

    Returns:
        The numeric id, or None when unreadable.
    """
    text = (value or "").rsplit(":", 1)[-1]
    return int(text) if text.isdigit() else None


def _json_number(value: Decimal) -> float | int:
    if value == value.to_integral_value():
        return int(value)
    return float(value)


class CatalogueLookup:
    """Cached read-only LogiSense catalogue lookups (package of a frequency, services, currencies)."""

    def __init__(self, ls: LogiSenseClient) -> None:
        self.ls = ls
        self._frequency: dict[int, dict[str, Any] | None] = {}
        self._services: dict[int, list[dict[str, Any]]] = {}
        self._currency: dict[tuple[int, int], int | None] = {}

    def frequency(self, frequency_id: int) -> dict[str, Any] | None:
        """Return a ``Package/Frequency`` object, or None when it does not exist."""
        if frequency_id not in self._frequency:
            try:
                self._frequency[frequency_id] = self.ls.get("Package/Frequency", frequency_id)
            except LogiSenseNotFound:
                self._frequency[frequency_id] = None
        return self._frequency[frequency_id]

    def services(self, package_id: int) -> list[dict[str, Any]]:
        """Return the ``Package/Service`` rows of a package."""
        if package_id not in self._services:
            self._services[package_id] = list(self.ls.search("Package/Service", {"packageId": package_id}))
        return self._services[package_id]

    def package_currency(self, package_id: int, currency_id: int) -> int | None:
        """Return the ``Package/Currency`` id selling ``package_id`` in ``currency_id``, or None."""
        key = (package_id, currency_id)
        if key not in self._currency:
            rows = list(
                self.ls.search("Package/Currency", {"packageId": package_id, "currencyId": currency_id})
            )
            self._currency[key] = int(rows[0]["identity"]) if rows else None
        return self._currency[key]


def plan_deal(
    deal: Deal,
    refs: LogiSenseReferences,
    catalogue: CatalogueLookup,
    process: BusinessProcess | None,
) -> tuple[DealPlan, list[str]]:
    """Resolve a validated deal to LogiSense ids (reads only).

    Args:
        deal: the validated deal.
        refs: LogiSense reference data.
        catalogue: catalogue lookups.
        process: the business process of the Opportunity Type (None for account requests).

    Returns:
        (the plan, problems found while resolving, in words a rep understands).
    """
    problems: list[str] = []
    plan = DealPlan(process=process, accounts=accounts_to_provision(deal))
    opp = deal.opportunity
    if opp is None or process is None:
        return plan, problems
    currency_id = refs.currencies.get((opp.currency or "").upper())
    if currency_id is None:
        return plan, [f"The opportunity's currency {opp.currency} is not set up in LogiSense."]
    for line in deal.lines:
        label = f"Product '{line.product_name}'"
        frequency_id = logisense_key_id(line.product_logisense_id)
        if frequency_id is None:
            problems.append(f"{label} has an unreadable LogiSense id '{line.product_logisense_id}'.")
            continue
        frequency = catalogue.frequency(frequency_id)
        if frequency is None:
            problems.append(f"{label} no longer exists in LogiSense. Run the catalogue sync and re-add it.")
            continue
        package_id = int(frequency["packageId"])
        package_currency_id = catalogue.package_currency(package_id, currency_id)
        if package_currency_id is None:
            problems.append(f"{label} is not sold in {opp.currency} in LogiSense.")
            continue
        rows = catalogue.services(package_id)
        by_key = {f"id:{row['serviceId']}": row for row in rows}
        by_key.update({f"name:{str(row.get('serviceName') or '').lower()}": row for row in rows})
        mine = [
            c
            for c in deal.charges
            if c.product_id == line.product_id
            and c.pricebook_id in (None, opp.pricebook_id)
            and c.currency in (None, opp.currency)
        ]
        mine_ids = {c.id for c in mine}
        pricing = line_charges(
            line,
            mine,
            [o for o in deal.overrides if o.line_id == line.id and o.product_service_id in mine_ids],
        )
        services: list[ServicePlan] = []
        for priced in pricing.services:
            row = by_key.get(priced.service_key)
            if row is None:
                problems.append(
                    f"{label}: service '{priced.service_name}' is not part of the LogiSense package any "
                    "more. Run the catalogue sync."
                )
                continue
            recurring: dict[tuple[int, Decimal], Decimal] = {}
            one_time: dict[int, Decimal] = {}
            usage: dict[int, Decimal | None] = {}
            usage_changed = False
            for charge, amount, changed in priced.charges:
                parts = charge.key_parts
                code = parts[5].split("@", 1)[0] if parts else ""
                if charge.charge_type == ChargeType.RECURRING:
                    status = int(code[1:]) if code[:1] == "R" and code[1:].isdigit() else None
                    if status is None:
                        status = refs.service_statuses.get((charge.service_status or ACTIVE_STATUS).lower())
                    if status is None:
                        problems.append(
                            f"{label}: service '{charge.service_name}' has a price for status "
                            f"'{charge.service_status}', which LogiSense does not know."
                        )
                        continue
                    recurring[(status, charge.start_quantity)] = amount
                elif charge.charge_type == ChargeType.ONE_TIME:
                    transition = int(code[1:]) if code[:1] == "O" and code[1:].isdigit() else None
                    if transition is None:
                        transition = transition_id(refs, charge.service_status)
                    if transition is None:
                        problems.append(
                            f"{label}: service '{charge.service_name}' has a one-time charge on "
                            f"'{charge.service_status}', a status change LogiSense does not know."
                        )
                        continue
                    one_time[transition] = amount
                elif charge.charge_type == ChargeType.USAGE:
                    rate = int(code[1:]) if code[:1] == "U" and code[1:].isdigit() else None
                    if rate is None:
                        if changed:
                            problems.append(
                                f"{label}: the usage rate of service '{charge.service_name}' for "
                                f"'{charge.service_status}' cannot be matched to a LogiSense rate."
                            )
                        continue
                    # Salesforce keeps 2 decimals: an unchanged rate is copied from LogiSense, not from Salesforce
                    usage[rate] = amount if changed else None
                    usage_changed = usage_changed or changed
            services.append(
                ServicePlan(
                    service_name=priced.service_name,
                    package_service_id=int(row["identity"]),
                    service_id=int(row["serviceId"]),
                    quantity=priced.quantity,
                    recurring=recurring,
                    one_time=one_time,
                    changed=any(changed for _c, _a, changed in priced.charges),
                    usage=usage,
                    usage_changed=usage_changed,
                )
            )
        plan.lines.append(LinePlan(line, package_id, frequency_id, package_currency_id, services))
    return plan, problems


# --------------------------------------------------------------------------- writes


def _same(current: Any, wanted: Any) -> bool:
    if wanted is None or current is None:
        return current is None and wanted is None
    if isinstance(wanted, bool) or isinstance(current, bool):
        return bool(current) == bool(wanted)
    if isinstance(wanted, int | float | Decimal) and isinstance(current, int | float | Decimal):
        return abs(float(current) - float(wanted)) < 1e-6
    if isinstance(wanted, str) and isinstance(current, str) and len(wanted) == 10 and wanted[4:5] == "-":
        return current[:10] == wanted
    return bool(current == wanted)


def _changes(current: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    diff: dict[str, Any] = {}
    for key, value in body.items():
        if key == "extensions":
            have = current.get("extensions") or {}
            missing = {k: v for k, v in value.items() if have.get(k) != v}
            if missing:
                diff["extensions"] = missing
        elif not _same(current.get(key), value):
            diff[key] = value
    return diff


@dataclass
class ProvisionResult:
    """What LogiSense holds for the deal after provisioning."""

    accounts: dict[str, int] = field(default_factory=dict)
    """LogiSense account id per Salesforce account id."""
    contacts: dict[str, int] = field(default_factory=dict)
    """LogiSense contact id per Salesforce contact id."""
    price_plan_id: int | None = None
    account_packages: dict[str, int] = field(default_factory=dict)
    """LogiSense account package id per opportunity line id."""
    actions: Counter[str] = field(default_factory=Counter)
    """``"<resource> <created|updated|unchanged|deduplicated>"`` counts."""

    def summary(self) -> str:
        """A one-line account of the writes, for ``Message__c`` and logs."""
        parts = [f"{n} {key}" for key, n in sorted(self.actions.items()) if not key.endswith("unchanged")]
        return ", ".join(parts) if parts else "nothing to change"


class Provisioner:
    """Writes a :class:`DealPlan` into LogiSense (see the module docstring).

    Args:
        ls: the LogiSense client.
        refs: LogiSense reference data.
        deal: the validated deal.
        existing_accounts: LogiSense accounts found for the deal's Salesforce accounts (by sfdcid).
        on_write: called before every write with ``(method, resource)``; tests use it to inject crashes.
    """

    def __init__(
        self,
        ls: LogiSenseClient,
        refs: LogiSenseReferences,
        deal: Deal,
        existing_accounts: Mapping[str, dict[str, Any]],
        on_write: Callable[[str, str], None] | None = None,
    ) -> None:
        self.ls = ls
        self.refs = refs
        self.deal = deal
        self.existing_accounts = dict(existing_accounts)
        self.result = ProvisionResult()
        self._on_write = on_write

    # -- the generic step

    def ensure(
        self,
        resource: str,
        body: Mapping[str, Any],
        find: Callable[[], list[dict[str, Any]]],
        *,
        known: dict[str, Any] | None = None,
        absent: bool = False,
    ) -> dict[str, Any]:
        """Create ``body`` unless ``find`` returns it already; update the properties that differ.

        Args:
            resource: the LogiSense route.
            body: the wanted object (children excluded).
            find: returns the objects that are "this one" (by marker or natural key).
            known: the existing object if the caller already looked it up.
            absent: the caller just searched and found none (skip the first lookup).

        Returns:
            The LogiSense object as it stands.
        """
        matches = [known] if known is not None else ([] if absent else find())
        if matches:
            current = min(matches, key=lambda o: int(o["identity"]))
            diff = _changes(current, body)
            if not diff:
                self.result.actions[f"{resource} unchanged"] += 1
                return current
            self._write("PATCH", resource)
            updated = self.ls.patch(resource, current["identity"], diff)
            self.result.actions[f"{resource} updated"] += 1
            return updated
        self._write("POST", resource)
        created = self.ls.create(resource, body)
        self.result.actions[f"{resource} created"] += 1
        again = find()
        if len(again) > 1:
            winner = min(again, key=lambda o: int(o["identity"]))
            if int(winner["identity"]) != int(created["identity"]):
                # a concurrent run created the same object first: keep theirs, remove ours
                logger.warning(
                    "%s %s duplicates %s created concurrently; deleting ours",
                    resource,
                    created["identity"],
                    winner["identity"],
                )
                self._write("DELETE", resource)
                self.ls.delete(resource, created["identity"])
                self.result.actions[f"{resource} deduplicated"] += 1
                return self.ensure(resource, body, find, known=winner)
        return created

    def _write(self, method: str, resource: str) -> None:
        if self._on_write is not None:
            self._on_write(method, resource)

    def _by_marker(self, resource: str, sfdcid: str, **natural: Any) -> Callable[[], list[dict[str, Any]]]:
        def find() -> list[dict[str, Any]]:
            filters: list[dict[str, Any]] = [
                {"name": f"extensions.{SFDCID}", "operator": "eq", "value": sfdcid}
            ]
            filters += [{"name": k, "operator": "eq", "value": v} for k, v in natural.items()]
            return list(self.ls.search(resource, filters))

        return find

    # -- accounts

    def accounts(self, order: Sequence[str]) -> None:
        """Create or update the accounts, parents first, then their invoicer and tax settings.

        Args:
            order: Salesforce account ids, every parent before its children.
        """
        accounts = self.deal.accounts
        for acc_id in order:
            record = accounts[acc_id]
            body: dict[str, Any] = {
                "name": record.name,
                "currencyId": self.refs.currencies[(record.currency or "").upper()],
                "parentAccountId": self.result.accounts.get(record.parent_id) if record.parent_id else None,
                "extensions": {SFDCID: record.id},
            }
            existing = self.existing_accounts.get(acc_id)
            if existing is not None and existing.get("currencyId") is not None:
                body.pop("currencyId")  # immutable once set; validation made sure it is unchanged
            obj = self.ensure(
                "Account", body, self._by_marker("Account", acc_id), known=existing, absent=existing is None
            )
            self.result.accounts[acc_id] = int(obj["identity"])
            self.existing_accounts[acc_id] = obj
        for acc_id in order:
            self._invoicers(acc_id)

    def _effective(self, acc_id: str, attribute: str) -> str:
        accounts = self.deal.accounts
        for ancestor in ancestors(accounts, acc_id):
            value: str | None = getattr(accounts[ancestor], attribute)
            if value:
                return value
        top = ancestors(accounts, acc_id)[-1]
        if attribute == "usage_invoicer_id":
            return self._effective(top, "subscription_invoicer_id")
        return top

    def _invoicers(self, acc_id: str) -> None:
        record: SfAccount = self.deal.accounts[acc_id]
        ids = self.result.accounts
        fields = {
            "invoicerAccountId": "subscription_invoicer_id",
            "usageInvoicerAccountId": "usage_invoicer_id",
            "taxAccountId": "tax_account_id",
        }
        explicit = {
            key: ids.get(getattr(record, attr)) if getattr(record, attr) else None
            for key, attr in fields.items()
        }
        effective = {key: ids.get(self._effective(acc_id, attr)) for key, attr in fields.items()}
        current = self.existing_accounts[acc_id]
        if all(_same(current.get(key), effective[key]) for key in fields) and all(
            v is None or _same(current.get(k), v) for k, v in explicit.items()
        ):
            return
        self._write("PATCH", "Account")
        self.existing_accounts[acc_id] = self.ls.patch("Account", ids[acc_id], explicit)
        self.result.actions["Account invoicers updated"] += 1

    # -- contacts

    def _points(self, contact: SfContact) -> dict[int, str]:
        types = self.refs.contact_point_types
        address = ", ".join(
            p
            for p in (
                contact.street,
                contact.city,
                " ".join(x for x in (contact.state, contact.postal_code) if x),
                contact.country,
            )
            if p
        )
        wanted = {"email": contact.email, "phone": contact.phone, "address": address}
        return {types[name]: value for name, value in wanted.items() if value and name in types}

    def contacts(self) -> None:
        """Create or update the contacts flagged for sync, with email, phone and address contact points."""
        contacts = [c for c in self.deal.contacts if c.account_id in self.result.accounts]
        if not contacts:
            return
        existing: dict[str, dict[str, Any]] = {}
        filters = [{"name": f"extensions.{SFDCID}", "operator": "in", "value": [c.id for c in contacts]}]
        for obj in self.ls.search("Contact", filters):
            key = str((obj.get("extensions") or {}).get(SFDCID))
            if key not in existing or int(obj["identity"]) < int(existing[key]["identity"]):
                existing[key] = obj
        points: dict[int, list[dict[str, Any]]] = {}
        if existing:
            ids = [int(o["identity"]) for o in existing.values()]
            for point in self.ls.search(
                "Contact/Point", [{"name": "contactId", "operator": "in", "value": ids}]
            ):
                points.setdefault(int(point["contactId"]), []).append(point)
        for contact in contacts:
            self._contact(contact, existing.get(contact.id), points)

    def _contact(
        self, contact: SfContact, current: dict[str, Any] | None, points: Mapping[int, list[dict[str, Any]]]
    ) -> None:
        body: dict[str, Any] = {
            "accountId": self.result.accounts[contact.account_id],
            "contactTypeId": self.refs.contact_types[(contact.contact_type or "").lower()],
            "firstName": contact.first_name,
            "lastName": contact.last_name,
            "title": contact.title,
            "extensions": {SFDCID: contact.id},
        }
        wanted = self._points(contact)
        if current is None:
            # contacts() searched every marker of the request just before: this one does not exist yet
            find = self._by_marker("Contact", contact.id)
            self._write("POST", "Contact")
            created = self.ls.create(
                "Contact",
                {**body, "contactPoint": [{"contactPointTypeId": t, "value": v} for t, v in wanted.items()]},
            )
            self.result.actions["Contact created"] += 1
            again = find()
            winner = min(again, key=_identity) if again else created
            if _identity(winner) == _identity(created):
                self.result.contacts[contact.id] = _identity(created)
                return
            # a concurrent run created it first: keep theirs, remove ours, then bring theirs up to date
            self._write("DELETE", "Contact")
            self.ls.delete("Contact", created["identity"])
            self.result.actions["Contact deduplicated"] += 1
            current = winner
            points = {
                _identity(winner): list(self.ls.search("Contact/Point", {"contactId": _identity(winner)}))
            }
        identity = int(current["identity"])
        diff = _changes(current, body)
        have = {int(p["contactPointTypeId"]): p for p in points.get(identity, [])}
        children: list[dict[str, Any]] = []
        for type_id, value in wanted.items():
            point = have.get(type_id)
            if point is None:
                children.append({"contactPointTypeId": type_id, "value": value})
            elif point.get("value") != value:
                children.append({"identity": point["identity"], "value": value})
        for type_id, point in have.items():
            if type_id not in wanted:
                children.append({"identity": point["identity"], "action": "delete"})
        if children:
            diff["contactPoint"] = children
        if diff:
            self._write("PATCH", "Contact")
            self.ls.patch("Contact", identity, diff)
            self.result.actions["Contact updated"] += 1
        else:
            self.result.actions["Contact unchanged"] += 1
        self.result.contacts[contact.id] = identity

    # -- what was sold

    def price_plan(self, plan: DealPlan, account_id: int) -> int:
        """Create or update the opportunity's account price plan (the container of negotiated prices).

        Args:
            plan: the deal plan.
            account_id: the LogiSense account that gets the plan.

        Returns:
            The ``Account/PricePlan`` id.
        """
        opp = self.deal.opportunity
        assert opp is not None
        body: dict[str, Any] = {
            "accountId": account_id,
            "name": opp.name[:255],
            "description": f"Salesforce opportunity {opp.id}",
            "start": _date(opp.close_date),
            "extensions": {SFDCID: opp.id},
        }
        obj = self.ensure("Account/PricePlan", body, self._by_marker("Account/PricePlan", opp.id))
        self.result.price_plan_id = int(obj["identity"])
        return self.result.price_plan_id

    def price_rows(self, line: LinePlan, price_plan_id: int, product_code_id: int | None) -> None:
        """Create or update the ``Package/Service/PricePlan`` rows carrying a line's negotiated prices.

        Args:
            line: the line plan.
            price_plan_id: the account price plan.
            product_code_id: the account product code the rows apply to (account packages), or None.
        """
        opp = self.deal.opportunity
        assert opp is not None
        for service in line.services:
            body: dict[str, Any] = {
                "packageServiceId": service.package_service_id,
                "packageFrequencyId": line.package_frequency_id,
                "packageCurrencyId": line.package_currency_id,
                "accountPricePlanId": price_plan_id,
                "accountProductCodeId": product_code_id,
                "effective": _date(opp.close_date),
                "extensions": {SFDCID: line.line.id},
            }
            if service.usage_changed:
                body["usageRatePlanId"] = self.usage_plan(line, service)
            natural = {
                "accountPricePlanId": price_plan_id,
                "packageServiceId": service.package_service_id,
                "packageFrequencyId": line.package_frequency_id,
            }
            find = self._by_marker("Package/Service/PricePlan", line.line.id, **natural)
            found = find()
            if found:
                obj = self.ensure("Package/Service/PricePlan", body, find, known=min(found, key=_identity))
                self._price_children(int(obj["identity"]), service)
                continue
            children = {
                "recurring": [
                    {
                        "serviceStatusTypeId": status,
                        "startQuantity": _json_number(start),
                        "amount": _json_number(a),
                    }
                    for (status, start), a in service.recurring.items()
                ],
                "oneTime": [
                    {"serviceStatusTransitionId": t, "amount": _json_number(a)}
                    for t, a in service.one_time.items()
                ],
            }
            self._write("POST", "Package/Service/PricePlan")
            created = self.ls.create("Package/Service/PricePlan", {**body, **children})
            self.result.actions["Package/Service/PricePlan created"] += 1
            again = find()
            winner = min(again, key=_identity) if again else created
            if _identity(winner) != _identity(created):
                self._write("DELETE", "Package/Service/PricePlan")
                self.ls.delete("Package/Service/PricePlan", created["identity"])
                self.result.actions["Package/Service/PricePlan deduplicated"] += 1
                self._price_children(_identity(winner), service)

    def usage_plan(self, line: LinePlan, service: ServicePlan) -> int:
        """Create or update the account's own usage rate plan for a service whose usage rates the rep changed.

        The plan copies the catalogue plan the rates come from (its group in the deal's currency and one rate
        per usage class) with the negotiated amounts; it is marked ``<line id>:<service id>``.

        Args:
            line: the line plan.
            service: the service with its usage rates (catalogue ``Usage/Rate`` id → amount).

        Returns:
            The ``Usage/Rate/Plan`` id the account price plan row points at.
        """
        opp = self.deal.opportunity
        assert opp is not None
        rates = {rate_id: self.ls.get("Usage/Rate", rate_id) for rate_id in service.usage}
        group = self.ls.get("Usage/Rate/Group", next(iter(rates.values()))["usageRateGroupId"])
        source = self.ls.get("Usage/Rate/Plan", group["usageRatePlanId"])
        marker = f"{line.line.id}:{service.service_id}"
        plan = self.ensure(
            "Usage/Rate/Plan",
            {
                "name": f"{opp.name} - {service.service_name}"[:255],
                "displayName": source.get("displayName") or source.get("name"),
                "description": f"Negotiated usage rates of Salesforce opportunity {opp.id}",
                "amountPrecision": source.get("amountPrecision"),
                "extensions": {SFDCID: marker},
            },
            self._by_marker("Usage/Rate/Plan", marker),
        )
        plan_id = _identity(plan)
        group_body = {
            "usageRatePlanId": plan_id,
            "name": group.get("name"),
            "displayName": group.get("displayName"),
            "currencyId": group["currencyId"],
            "amountPrecision": group.get("amountPrecision"),
        }
        new_group = self.ensure(
            "Usage/Rate/Group",
            group_body,
            lambda: list(
                self.ls.search(
                    "Usage/Rate/Group", {"usageRatePlanId": plan_id, "currencyId": group["currencyId"]}
                )
            ),
        )
        group_id = _identity(new_group)
        for rate_id, amount in service.usage.items():
            rate = rates[rate_id]
            rate_body = {
                "usageRateGroupId": group_id,
                "usageClassId": rate["usageClassId"],
                "usageUnitId": rate.get("usageUnitId"),
                "amount": rate["amount"] if amount is None else _json_number(amount),
                "minimumCharge": rate.get("minimumCharge"),
                "displayName": rate.get("displayName"),
            }

            def find(class_id: int = int(rate["usageClassId"])) -> list[dict[str, Any]]:
                return list(
                    self.ls.search("Usage/Rate", {"usageRateGroupId": group_id, "usageClassId": class_id})
                )

            self.ensure("Usage/Rate", rate_body, find)
        return plan_id

    def _price_children(self, row_id: int, service: ServicePlan) -> None:
        children: dict[str, list[dict[str, Any]]] = {"recurring": [], "oneTime": []}
        key = {"packageServicePricePlanId": row_id}
        have_recurring = {
            (int(r["serviceStatusTypeId"]), Decimal(str(r.get("startQuantity") or 0))): r
            for r in self.ls.search("Package/Service/PricePlan/Recurring", key)
        }
        have_once = {
            int(r["serviceStatusTransitionId"]): r
            for r in self.ls.search("Package/Service/PricePlan/OneTime", key)
        }
        for (status, start), amount in service.recurring.items():
            current = have_recurring.get((status, start))
            if current is None:
                children["recurring"].append(
                    {
                        "serviceStatusTypeId": status,
                        "startQuantity": _json_number(start),
                        "amount": _json_number(amount),
                    }
                )
            elif not _same(current.get("amount"), amount):
                children["recurring"].append(
                    {"identity": current["identity"], "amount": _json_number(amount)}
                )
        for status_key, current in have_recurring.items():
            if status_key not in service.recurring:
                children["recurring"].append({"identity": current["identity"], "action": "delete"})
        for transition, amount in service.one_time.items():
            current = have_once.get(transition)
            if current is None:
                children["oneTime"].append(
                    {"serviceStatusTransitionId": transition, "amount": _json_number(amount)}
                )
            elif not _same(current.get("amount"), amount):
                children["oneTime"].append({"identity": current["identity"], "amount": _json_number(amount)})
        for transition, current in have_once.items():
            if transition not in service.one_time:
                children["oneTime"].append({"identity": current["identity"], "action": "delete"})
        body = {key: rows for key, rows in children.items() if rows}
        if body:
            self._write("PATCH", "Package/Service/PricePlan")
            self.ls.patch("Package/Service/PricePlan", row_id, body)
            self.result.actions["Package/Service/PricePlan prices updated"] += 1

    def account_packages(self, plan: DealPlan, account_id: int) -> None:
        """Add each line's package to the account, effective from the close date, with its services.

        Prices the rep changed go into an account price plan (rows keyed by an account product code that the
        account package carries), following LogiSense's price resolution (account price plan before the
        package frequency price).

        Args:
            plan: the deal plan.
            account_id: the LogiSense account.
        """
        opp = self.deal.opportunity
        assert opp is not None
        price_plan_id: int | None = None
        for line in plan.lines:
            product_code_id: int | None = None
            if line.prices_changed:
                if price_plan_id is None:
                    price_plan_id = self.price_plan(plan, account_id)
                code = self.ensure(
                    "Account/ProductCode",
                    {
                        "accountId": account_id,
                        "name": f"{line.line.product_name[:200]} {line.line.id}",
                        "extensions": {SFDCID: line.line.id},
                    },
                    self._by_marker("Account/ProductCode", line.line.id, accountId=account_id),
                )
                product_code_id = int(code["identity"])
                self.price_rows(line, price_plan_id, product_code_id)
            body: dict[str, Any] = {
                "accountId": account_id,
                "packageFrequencyId": line.package_frequency_id,
                "packageCurrencyId": line.package_currency_id,
                "quantity": int(line.line.quantity),
                "effective": _date(opp.close_date),
                "accountProductCodeId": product_code_id,
                "extensions": {SFDCID: line.line.id},
            }
            package = self.ensure(
                "Account/Package",
                body,
                self._by_marker("Account/Package", line.line.id, accountId=account_id),
            )
            package_id = int(package["identity"])
            self.result.account_packages[line.line.id] = package_id
            existing_services: dict[int, list[dict[str, Any]]] = {}
            for row in self.ls.search("Account/Service", {"accountPackageId": package_id}):
                existing_services.setdefault(int(row["serviceId"]), []).append(row)
            for service in line.services:
                service_body: dict[str, Any] = {
                    "accountPackageId": package_id,
                    "serviceId": service.service_id,
                    "amount": _json_number(service.quantity),
                    "effective": _date(opp.close_date),
                }

                def find(
                    service_id: int = service.service_id, package_id: int = package_id
                ) -> list[dict[str, Any]]:
                    return list(
                        self.ls.search(
                            "Account/Service", {"accountPackageId": package_id, "serviceId": service_id}
                        )
                    )

                have = existing_services.get(service.service_id)
                known = min(have, key=lambda o: int(o["identity"])) if have else None
                self.ensure("Account/Service", service_body, find, known=known)

    def run(self, plan: DealPlan) -> ProvisionResult:
        """Write the whole plan, parents first.

        Args:
            plan: the deal plan.

        Returns:
            The LogiSense ids and action counts.
        """
        self.accounts(plan.accounts)
        self.contacts()
        if plan.process is not None and self.deal.opportunity is not None and self.deal.account_id:
            account_id = self.result.accounts[self.deal.account_id]
            if plan.process == BusinessProcess.ACCOUNT_PACKAGES:
                self.account_packages(plan, account_id)
            else:
                price_plan_id = self.price_plan(plan, account_id)
                for line in plan.lines:
                    self.price_rows(line, price_plan_id, None)
        return self.result


def _identity(obj: Mapping[str, Any]) -> int:
    return int(obj["identity"])


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None
