"""The resource registry: every LogiSense v10 resource the sandbox serves, its DTO fields and relations.

One table-driven definition feeds the SQLite schema, input coercion, name echoes, search, cascades and the
generic routes. RESOURCES.md documents the same registry for the other engineers; keep them in step.

Fields and resources marked ``PROPOSAL`` below are not in LogiSense's public documentation: they are the
shapes of reference §12 (logisense-api.md) that this sandbox implements where the real API is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal["int", "number", "money", "bool", "date", "str"]


@dataclass(frozen=True)
class Field:
    """One DTO property stored in a column.

    ``ref`` names the referenced route (its ``xName`` echo is rendered from the target's label);
    ``cascade`` deletes this row when the referenced row is deleted; ``hidden`` columns are never rendered.
    """

    name: str
    type: FieldType = "str"
    required: bool = False
    readonly: bool = False
    ref: str | None = None
    cascade: bool = False
    default: object = None
    minimum: float | None = None
    maximum: float | None = None
    hidden: bool = False

    @property
    def echo(self) -> str:
        """Name of the ``xName`` echo of a reference field (``currencyId`` -> ``currencyName``)."""
        return self.name[:-2] + "Name" if self.name.endswith("Id") else self.name + "Name"

    @property
    def pascal(self) -> str:
        """The property name as LogiSense messages spell it (``CurrencyId``)."""
        return self.name[:1].upper() + self.name[1:]


@dataclass(frozen=True)
class Resource:
    """A resource: route (``Package/Service/PricePlan``), DTO name, fields, uniques and PATCH child arrays."""

    route: str
    dto: str
    fields: tuple[Field, ...]
    unique: tuple[tuple[str, ...], ...] = ()
    children: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (child route, fk field)
    labelled_by_name: bool = True  # False: the label (for echoes) is derived by the store
    money_precision: int | None = None  # fixed precision of money fields (None: usage-rate precision)

    @property
    def table(self) -> str:
        """SQLite table name."""
        return self.route.replace("/", "_")

    @property
    def dto_key(self) -> str:
        """``dtoTypeKey`` of write results (lowercase first letter)."""
        return self.dto[:1].lower() + self.dto[1:]

    def field(self, name: str) -> Field | None:
        """The field called ``name`` (exact), if any."""
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def refs(self) -> tuple[Field, ...]:
        """Reference fields."""
        return tuple(f for f in self.fields if f.ref)


def _f(name: str, type_: FieldType = "str", **kw: object) -> Field:
    return Field(name, type_, **kw)  # type: ignore[arg-type]


def _ref(name: str, target: str, **kw: object) -> Field:
    return Field(name, "int", ref=target, **kw)  # type: ignore[arg-type]


OWNER = (_f("ownerId", "int", readonly=True, default=1),)
NAME_R = _f("name", required=True)
ACTIVE = _f("isActive", "bool", default=True)

RESOURCES: tuple[Resource, ...] = (
    # --- system and reference data -------------------------------------------------------------------
    Resource(
        "Currency",
        "Currency",
        (NAME_R, _f("code", required=True), _f("symbol"), _f("isDefault", "bool", default=False)),
        unique=(("code",),),
    ),
    Resource("FrequencyType", "FrequencyType", (NAME_R,)),
    Resource(
        "ServiceStatusType",
        "ServiceStatusType",
        (NAME_R, _f("coreStatus"), _f("isBillable", "bool", default=True)),
    ),
    # PROPOSAL: the transition object behind `serviceStatusTransitionId` (one-time charges fire on transitions)
    Resource(
        "ServiceStatusTransition",
        "ServiceStatusTransition",
        (
            _ref("fromServiceStatusTypeId", "ServiceStatusType"),
            _ref("toServiceStatusTypeId", "ServiceStatusType", required=True),
            _f("name", readonly=True),
        ),
        labelled_by_name=False,
    ),
    Resource("AccountStatusType", "AccountStatusType", (NAME_R, ACTIVE)),
    Resource("AccountType", "AccountType", (NAME_R,)),
    Resource("BillGroup", "BillGroup", (NAME_R,)),
    Resource(
        "ContactType",
        "ContactType",
        (NAME_R, _f("isRequired", "bool", default=False), _f("showOnNewAccount", "bool", default=False)),
    ),
    Resource(
        "ContactPointType",
        "ContactPointType",
        (
            NAME_R,
            _f("dataType", required=True),
            _ref("contactTypeId", "ContactType"),
            _f("isRequired", "bool", default=False),
            _f("allowMultiple", "bool", default=True),
        ),
    ),
    Resource(
        "PriceBook",
        "PriceBook",
        (
            NAME_R,
            _f("description"),
            _f("priceBookRegionId", "int"),
            _f("isStandard", "bool", default=False),
            ACTIVE,
            *OWNER,
        ),
        unique=(("name",),),
    ),
    Resource("Usage/Class", "UsageClass", (NAME_R, _f("displayName"))),
    Resource("Usage/Unit", "UsageUnit", (NAME_R, _f("multiplierToBaseUnitType", "number", default=1))),
    # --- catalogue -----------------------------------------------------------------------------------
    Resource(
        "Package",
        "Package",
        (
            NAME_R,
            _f("description"),
            _f("start", "date"),
            _f("expiry", "date"),
            *(
                _f(n, "bool", default=False)
                for n in (
                    "fullPeriod",
                    "invoiceDetail",
                    "postPaid",
                    "billOnAccountBillDay",
                    "isQuantityAllowed",
                    "chargeRecurringIfUsage",
                    "isGlobalAddOnEligible",
                )
            ),
            *OWNER,
        ),
        children={
            "packageFrequency": ("Package/Frequency", "packageId"),
            "packageCurrency": ("Package/Currency", "packageId"),
            "packageService": ("Package/Service", "packageId"),
        },
    ),
    Resource(
        "Package/Currency",
        "PackageCurrency",
        (
            _ref("packageId", "Package", required=True, cascade=True),
            _ref("currencyId", "Currency", required=True),
        ),
        unique=(("packageId", "currencyId"),),
        labelled_by_name=False,
    ),
    Resource(
        "Package/Frequency",
        "PackageFrequency",
        (
            _ref("packageId", "Package", required=True, cascade=True),
            NAME_R,
            _f("frequency", "int", required=True, minimum=1),
            _ref("frequencyTypeId", "FrequencyType", required=True),
            _f("sku"),
            ACTIVE,
            _f("termId", "int"),
            _f("countingRuleId", "int"),
        ),
        unique=(("sku",),),
        children={"packageFrequencyPackageCurrency": ("Package/Frequency/Currency", "packageFrequencyId")},
    ),
    Resource(
        "Package/Frequency/Currency",
        "PackageFrequencyPackageCurrency",
        (
            _ref("packageFrequencyId", "Package/Frequency", required=True, cascade=True),
            _ref("packageCurrencyId", "Package/Currency", required=True, cascade=True),
            _ref("priceBookId", "PriceBook"),
            ACTIVE,
        ),
        unique=(("packageFrequencyId", "packageCurrencyId", "priceBookId"),),
        labelled_by_name=False,
    ),
    Resource(
        "Service",
        "Service",
        (
            NAME_R,
            _f("description"),
            _f("serviceTypeId", "int"),
            _f("serviceCategoryId", "int"),
            ACTIVE,
            _f("isTaxExempt", "bool", default=False),
            _f("isTaxInclusive", "bool", default=False),
            _f("usageFrequency", "int"),
            _ref("usageFrequencyTypeId", "FrequencyType"),
            _ref("defaultServiceStatusTypeId", "ServiceStatusType", default=1),
            *OWNER,
        ),
    ),
    Resource(
        "Package/Service",
        "PackageService",
        (
            _ref("packageId", "Package", required=True, cascade=True),
            _ref("serviceId", "Service", required=True),
            _f("defaultInstances", "int", default=1, minimum=0),
            _f("minimumInstances", "int", default=0, minimum=0),
            _f("maximumInstances", "int", minimum=0),
            _f("termId", "int"),
        ),
        unique=(("packageId", "serviceId"),),
        labelled_by_name=False,
    ),
    Resource(
        "Package/Service/PricePlan",
        "PackageServicePricePlan",
        (
            _ref("packageServiceId", "Package/Service", required=True, cascade=True),
            _ref("packageFrequencyId", "Package/Frequency", required=True, cascade=True),
            _ref("packageCurrencyId", "Package/Currency", required=True, cascade=True),
            _ref("priceBookId", "PriceBook"),
            _ref("accountPricePlanId", "Account/PricePlan", cascade=True),
            _ref("accountProductCodeId", "Account/ProductCode"),
            _ref("usageRatePlanId", "Usage/Rate/Plan"),  # PROPOSAL: how a rate plan prices a package service
            _f("effective", "date"),
            _f("pricePlanTypeId", "int"),
            _f("generalLedgerId", "int"),
        ),
        unique=(("packageServiceId", "packageFrequencyId", "packageCurrencyId", "priceBookId"),),
        children={
            "recurring": ("Package/Service/PricePlan/Recurring", "packageServicePricePlanId"),
            "oneTime": ("Package/Service/PricePlan/OneTime", "packageServicePricePlanId"),
        },
        labelled_by_name=False,
    ),
    # PROPOSAL P1: price rows under a PackageServicePricePlan, per service status / per status transition
    Resource(
        "Package/Service/PricePlan/Recurring",
        "PackageServicePricePlanRecurring",
        (
            _ref("packageServicePricePlanId", "Package/Service/PricePlan", required=True, cascade=True),
            _ref("serviceStatusTypeId", "ServiceStatusType", required=True),
            _f("amount", "money", required=True),
            _f("startQuantity", "number", default=0, minimum=0),
        ),
        unique=(("packageServicePricePlanId", "serviceStatusTypeId", "startQuantity"),),
        labelled_by_name=False,
        money_precision=4,
    ),
    Resource(
        "Package/Service/PricePlan/OneTime",
        "PackageServicePricePlanOneTime",
        (
            _ref("packageServicePricePlanId", "Package/Service/PricePlan", required=True, cascade=True),
            _ref("serviceStatusTransitionId", "ServiceStatusTransition", required=True),
            _f("amount", "money", required=True),
        ),
        unique=(("packageServicePricePlanId", "serviceStatusTransitionId"),),
        labelled_by_name=False,
        money_precision=4,
    ),
    Resource(
        "Usage/Rate/Plan",
        "UsageRatePlan",
        (
            NAME_R,
            _f("displayName"),
            _f("description"),
            _f("amountPrecision", "int", default=4, minimum=0, maximum=11),
        ),
        children={"usageRateGroup": ("Usage/Rate/Group", "usageRatePlanId")},
    ),
    Resource(
        "Usage/Rate/Group",
        "UsageRateGroup",
        (
            _ref(
                "usageRatePlanId", "Usage/Rate/Plan", required=True, cascade=True
            ),  # PROPOSAL: link not captured
            NAME_R,
            _f("displayName"),
            _ref("currencyId", "Currency", required=True),
            _f("start", "date"),
            _f("end", "date"),
            _f("amountPrecision", "int", minimum=0, maximum=11),
            _f("useForCost", "bool", default=False),
            _f("isAggregated", "bool", default=False),
            _f("isPassThrough", "bool", default=False),
            _f("timePeriodId", "int"),
        ),
        children={"usageRate": ("Usage/Rate", "usageRateGroupId")},
    ),
    Resource(
        "Usage/Rate",
        "UsageRate",
        (
            _ref("usageRateGroupId", "Usage/Rate/Group", required=True, cascade=True),
            _ref("usageClassId", "Usage/Class", required=True),
            _ref("usageUnitId", "Usage/Unit"),
            _f("amount", "money", required=True, minimum=0),
            _f("minimumCharge", "money", minimum=0),
            _f("displayName"),
            _f("retired", "bool", readonly=True, default=False),
        ),
        labelled_by_name=False,
    ),
    # --- accounts ------------------------------------------------------------------------------------
    Resource(
        "Account",
        "Account",
        (
            NAME_R,
            _ref("currencyId", "Currency"),
            _ref("accountStatusTypeId", "AccountStatusType", default=1),
            _ref("accountTypeId", "AccountType"),
            _ref("billGroupId", "BillGroup"),
            _f("accountsReceivableTermsId", "int"),
            _f("billDay", "int", minimum=1, maximum=31),
            _f("effectiveCancel", "date"),
            _ref("invoicerAccountId", "Account"),
            _ref("usageInvoicerAccountId", "Account"),
            _ref("taxAccountId", "Account"),  # PROPOSAL P3
            _ref("parentAccountId", "Account"),  # PROPOSAL P3: convenience over Account/Parent
            _ref("topAccountId", "Account", readonly=True),
            *OWNER,
            _f("actingOwnerId", "int", readonly=True, default=1),
            # explicitly set values; the public fields above carry the effective (inherited) ones
            _f("_invoicerAccountId", "int", hidden=True),
            _f("_usageInvoicerAccountId", "int", hidden=True),
            _f("_taxAccountId", "int", hidden=True),
        ),
    ),
    Resource(
        "Account/Parent",
        "AccountParent",
        (
            _ref("accountId", "Account", required=True, cascade=True),
            _ref("parentAccountId", "Account", required=True),
            _ref("topAccountId", "Account", readonly=True),
        ),
        unique=(("accountId",),),
        labelled_by_name=False,
    ),
    Resource(
        "Contact",
        "Contact",
        (
            _ref("accountId", "Account", required=True, cascade=True),
            _ref("contactTypeId", "ContactType", required=True),
            _f("title"),
            _f("firstName"),
            _f("lastName", required=True),
            _f("name", readonly=True),
            _f("isUsedForTax", "bool", default=False),
        ),
        children={"contactPoint": ("Contact/Point", "contactId")},
        labelled_by_name=False,
    ),
    # PROPOSAL: contact points (email, phone, address values) as a child resource of Contact
    Resource(
        "Contact/Point",
        "ContactPoint",
        (
            _ref("contactId", "Contact", required=True, cascade=True),
            _ref("contactPointTypeId", "ContactPointType", required=True),
            _f("value", required=True),
        ),
        labelled_by_name=False,
    ),
    Resource(
        "Account/ProductCode",
        "AccountProductCode",
        (_ref("accountId", "Account", required=True, cascade=True), NAME_R),
        unique=(("accountId", "name"),),
    ),
    Resource(
        "Account/PricePlan",
        "AccountPricePlan",
        (
            _ref("accountId", "Account", required=True, cascade=True),
            NAME_R,
            _f("description"),
            _f("start", "date"),
            _f("end", "date"),
            _f("isConsolidatedByInvoicer", "bool", default=False),
            _f("includeChildAccounts", "bool", default=False),
            _f("lastUsedForBilling", "date", readonly=True),
        ),
        children={"packageServicePricePlan": ("Package/Service/PricePlan", "accountPricePlanId")},
    ),
    Resource(
        "Account/Package",
        "AccountPackage",
        (
            _ref("accountId", "Account", required=True, cascade=True),
            _ref("packageFrequencyId", "Package/Frequency", required=True),
            _ref("packageCurrencyId", "Package/Currency"),  # PROPOSAL: resolved from the account currency
            _f("name"),
            _f("quantity", "int", default=1, minimum=1),  # PROPOSAL: quantity field not captured
            _f("effective", "date"),
            _f("effectiveCancel", "date"),
            _f("billDay", "int", minimum=1, maximum=31),
            _ref("accountProductCodeId", "Account/ProductCode"),
        ),
        children={"accountService": ("Account/Service", "accountPackageId")},
    ),
    Resource(
        "Account/Service",
        "AccountService",
        (
            _ref("accountPackageId", "Account/Package", required=True, cascade=True),
            _ref("serviceId", "Service", required=True),
            _ref("accountId", "Account", cascade=True),
            _f("name"),
            _f("amount", "number", default=1, minimum=0),
            _ref("serviceStatusTypeId", "ServiceStatusType", default=1),
            _f("effective", "date"),
            _f("effectiveCancel", "date"),
        ),
    ),
)

BY_ROUTE: dict[str, Resource] = {r.route: r for r in RESOURCES}
BY_ROUTE_LOWER: dict[str, Resource] = {r.route.lower(): r for r in RESOURCES}
EXTENSION_INDEXED = ("sfdcid",)
