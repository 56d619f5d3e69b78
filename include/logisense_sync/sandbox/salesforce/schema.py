"""The org's schema: standard objects the product touches plus the custom schema deployed from sfdx metadata.

`load_schema(metadata_dir)` builds a `Schema` from the built-in standard objects (real API names, types, flags
and relationship names) and the `objects/**/*.object-meta.xml` / `fields/*.field-meta.xml` files an admin
deploys (the sfdx source format in `include/salesforce/main/default/objects/`).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

FIELD_TYPES = frozenset(
    {
        "id",
        "string",
        "textarea",
        "boolean",
        "double",
        "currency",
        "percent",
        "int",
        "date",
        "datetime",
        "picklist",
        "multipicklist",
        "reference",
        "email",
        "phone",
        "url",
    }
)

#: Active currencies of the sandbox org (USD is the corporate currency).
ACTIVE_CURRENCIES = ("USD", "EUR", "GBP", "CAD")
CORPORATE_CURRENCY = "USD"
#: ISO codes the org knows (CurrencyType.IsoCode picklist); only ACTIVE_CURRENCIES are active.
KNOWN_CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "CHF", "JPY", "NZD", "SEK")

OPPORTUNITY_STAGES: tuple[tuple[str, int, str, bool, bool], ...] = (
    # (StageName, Probability, ForecastCategoryName, IsClosed, IsWon)
    ("Prospecting", 10, "Pipeline", False, False),
    ("Qualification", 10, "Pipeline", False, False),
    ("Needs Analysis", 20, "Pipeline", False, False),
    ("Value Proposition", 50, "Pipeline", False, False),
    ("Id. Decision Makers", 60, "Pipeline", False, False),
    ("Perception Analysis", 70, "Pipeline", False, False),
    ("Proposal/Price Quote", 75, "Pipeline", False, False),
    ("Negotiation/Review", 90, "Pipeline", False, False),
    ("Closed Won", 100, "Closed", True, True),
    ("Closed Lost", 0, "Omitted", True, False),
)


@dataclass
class Field:
    """One field of an sObject, as `describe` reports it (API name, wire type, flags)."""

    name: str
    type: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None
    picklist_values: list[str] = field(default_factory=list)
    # Extras (not needed by the SOQL engine, used by describe and the business rules).
    label: str = ""
    custom: bool = False
    restricted_picklist: bool = False
    default_value: object = None
    #: Nillable in the database but required on create (e.g. Name); `nillable` False fields are required too.
    required: bool = False
    precision: int = 0
    scale: int = 0
    calculated: bool = False
    id_lookup: bool = False
    name_field: bool = False
    cascade_delete: bool = False
    #: Child relationship name of a reference field, seen from the parent (e.g. "Contacts"); None if none.
    child_relationship_name: str | None = None
    case_sensitive: bool = False

    @property
    def is_required_on_create(self) -> bool:
        """Whether a create must supply a value (non-nillable without default, or required)."""
        if not self.createable:
            return False
        if self.required:
            return True
        return not self.nillable and self.default_value is None and self.type != "boolean"


@dataclass
class SObject:
    """An sObject type: name, key prefix, fields by API name and child relationships."""

    name: str
    key_prefix: str
    fields: dict[str, Field]
    label: str = ""
    label_plural: str = ""
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    queryable: bool = True
    child_relationships: list[tuple[str, str, str]] = field(default_factory=list)
    _lower: dict[str, Field] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        """Rebuild the case-insensitive field lookup after fields were added."""
        self._lower = {name.lower(): f for name, f in self.fields.items()}

    def field(self, name: str) -> Field | None:
        """The field called `name` (case-insensitive), or None."""
        f = self.fields.get(name)  # the exact API name (the usual case) needs no lower-casing
        if f is not None:
            return f
        return self._lower.get(name.lower())

    def add_field(self, f: Field) -> None:
        """Add (or replace) a field."""
        self.fields[f.name] = f
        self._lower[f.name.lower()] = f

    def relationship(self, name: str) -> Field | None:
        """The reference field whose relationship name is `name` (case-insensitive), e.g. `Parent`."""
        low = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == low:
                return f
        return None

    def child_relationship(self, name: str) -> tuple[str, str, str] | None:
        """The (child_sobject, field, relationship_name) triple called `name` (case-insensitive)."""
        low = name.lower()
        for rel in self.child_relationships:
            if rel[2].lower() == low:
                return rel
        return None

    def external_id_fields(self) -> list[Field]:
        """Fields usable as upsert keys."""
        return [f for f in self.fields.values() if f.external_id or (f.id_lookup and f.type != "id")]


class Schema:
    """All sObjects of the org."""

    def __init__(self, sobjects: Iterable[SObject]) -> None:
        self._by_name: dict[str, SObject] = {}
        self._by_prefix: dict[str, SObject] = {}
        for so in sobjects:
            self._by_name[so.name.lower()] = so
            self._by_prefix[so.key_prefix] = so

    def sobject(self, name: str) -> SObject | None:
        """The sObject called `name` (case-insensitive), or None."""
        return self._by_name.get(name.lower())

    def sobjects(self) -> list[SObject]:
        """Every sObject, sorted by name."""
        return sorted(self._by_name.values(), key=lambda s: s.name)

    def by_prefix(self, key_prefix: str) -> SObject | None:
        """The sObject whose ids start with `key_prefix`."""
        return self._by_prefix.get(key_prefix)

    def link_children(self) -> None:
        """Compute every sObject's child relationships from the reference fields."""
        for so in self._by_name.values():
            so.child_relationships = []
        for child in self.sobjects():
            for f in child.fields.values():
                if f.type != "reference" or not f.child_relationship_name:
                    continue
                for target in f.reference_to:
                    parent = self.sobject(target)
                    if parent is not None:
                        parent.child_relationships.append((child.name, f.name, f.child_relationship_name))


# --------------------------------------------------------------------------- standard objects


def _f(name: str, type_: str, length: int = 0, **kw: object) -> Field:
    label = kw.pop("label", None) or _label(name)
    return Field(name=name, type=type_, length=length, label=str(label), **kw)  # type: ignore[arg-type]


def _label(name: str) -> str:
    base = name[:-2] if name.endswith("Id") and len(name) > 2 else name
    base = base.removesuffix("__c").replace("_", " ")
    out = ""
    for i, ch in enumerate(base):
        if i and ch.isupper() and not base[i - 1].isupper() and base[i - 1] != " ":
            out += " "
        out += ch
    return out + (" ID" if name.endswith("Id") and name != "Id" else "")


def _ref(
    name: str,
    to: str | list[str],
    rel: str,
    *,
    child: str | None = None,
    createable: bool = True,
    updateable: bool = True,
    nillable: bool = True,
    required: bool = False,
    cascade: bool = False,
    label: str | None = None,
) -> Field:
    return _f(
        name,
        "reference",
        18,
        reference_to=[to] if isinstance(to, str) else list(to),
        relationship_name=rel,
        child_relationship_name=child,
        createable=createable,
        updateable=updateable,
        nillable=nillable,
        required=required,
        cascade_delete=cascade,
        label=label,
    )


def _ro(f: Field) -> Field:
    f.createable = False
    f.updateable = False
    return f


def _system_fields(*, owner: bool = True, currency: bool = True) -> list[Field]:
    fs = [
        _ro(_f("Id", "id", 18, nillable=False, id_lookup=True, label="Record ID")),
        _ro(_f("IsDeleted", "boolean", nillable=False, default_value=False, label="Deleted")),
    ]
    if owner:
        fs.append(
            _ref("OwnerId", "User", "Owner", nillable=False, label="Owner ID", child=None)
        )  # defaulted to the caller
    if currency:
        fs.append(
            _f(
                "CurrencyIsoCode",
                "picklist",
                3,
                picklist_values=list(ACTIVE_CURRENCIES),
                restricted_picklist=True,
                label="Currency ISO Code",
            )
        )
    fs += [
        _ro(_f("CreatedDate", "datetime", nillable=False)),
        _ro(_ref("CreatedById", "User", "CreatedBy", nillable=False, label="Created By ID")),
        _ro(_f("LastModifiedDate", "datetime", nillable=False)),
        _ro(_ref("LastModifiedById", "User", "LastModifiedBy", nillable=False, label="Last Modified By ID")),
        _ro(_f("SystemModstamp", "datetime", nillable=False, label="System Modstamp")),
    ]
    return fs


def _address(prefix: str) -> list[Field]:
    return [
        _f(f"{prefix}Street", "textarea", 255),
        _f(f"{prefix}City", "string", 40),
        _f(f"{prefix}State", "string", 80),
        _f(f"{prefix}PostalCode", "string", 20),
        _f(f"{prefix}Country", "string", 80),
    ]


def _mk(
    name: str, prefix: str, fields: list[Field], *, label: str = "", plural: str = "", **kw: object
) -> SObject:
    return SObject(
        name=name,
        key_prefix=prefix,
        fields={f.name: f for f in fields},
        label=label or _label(name),
        label_plural=plural or (label or _label(name)) + "s",
        **kw,  # type: ignore[arg-type]
    )


def _name(length: int = 255, *, createable: bool = True, label: str = "Name") -> Field:
    f = _f("Name", "string", length, nillable=False, name_field=True, id_lookup=True, label=label)
    if not createable:
        _ro(f)
        f.nillable = True
    return f


def standard_sobjects() -> list[SObject]:
    """The standard objects the product touches, with real API names, types and relationship names."""
    account = _mk(
        "Account",
        "001",
        [
            *_system_fields()[:2],
            _ref("MasterRecordId", "Account", "MasterRecord", createable=False, updateable=False),
            _name(255, label="Account Name"),
            _f(
                "Type",
                "picklist",
                255,
                label="Account Type",
                picklist_values=[
                    "Prospect",
                    "Customer - Direct",
                    "Customer - Channel",
                    "Channel Partner / Reseller",
                    "Installation Partner",
                    "Technology Partner",
                    "Other",
                ],
            ),
            _ref("ParentId", "Account", "Parent", child="ChildAccounts", label="Parent Account ID"),
            *_address("Billing"),
            *_address("Shipping"),
            _f("Phone", "phone", 40, label="Account Phone"),
            _f("Fax", "phone", 40, label="Account Fax"),
            _f("AccountNumber", "string", 40),
            _f("Website", "url", 255),
            _f("Sic", "string", 20, label="SIC Code"),
            _f(
                "Industry",
                "picklist",
                255,
                picklist_values=[
                    "Agriculture",
                    "Banking",
                    "Communications",
                    "Consulting",
                    "Education",
                    "Energy",
                    "Finance",
                    "Healthcare",
                    "Manufacturing",
                    "Media",
                    "Retail",
                    "Technology",
                    "Telecommunications",
                    "Utilities",
                    "Other",
                ],
            ),
            _f("AnnualRevenue", "currency", precision=18, scale=0),
            _f("NumberOfEmployees", "int", label="Employees", precision=8),
            _f("Ownership", "picklist", 255, picklist_values=["Public", "Private", "Subsidiary", "Other"]),
            _f("TickerSymbol", "string", 20),
            _f("Description", "textarea", 32000, label="Account Description"),
            _f("Site", "string", 80, label="Account Site"),
            _f(
                "AccountSource",
                "picklist",
                255,
                picklist_values=["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"],
            ),
            *_system_fields()[2:],
        ],
        label="Account",
    )
    contact = _mk(
        "Contact",
        "003",
        [
            *_system_fields()[:2],
            _ref("MasterRecordId", "Contact", "MasterRecord", createable=False, updateable=False),
            _ref("AccountId", "Account", "Account", child="Contacts"),
            _f("LastName", "string", 80, nillable=False),
            _f("FirstName", "string", 40),
            _f("Salutation", "picklist", 40, picklist_values=["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]),
            _ro(_f("Name", "string", 121, label="Full Name", name_field=True)),
            *_address("Mailing"),
            *_address("Other"),
            _f("Phone", "phone", 40, label="Business Phone"),
            _f("MobilePhone", "phone", 40, label="Mobile Phone"),
            _f("HomePhone", "phone", 40),
            _f("Fax", "phone", 40, label="Business Fax"),
            _f("Email", "email", 80, id_lookup=True),
            _f("Title", "string", 128),
            _f("Department", "string", 80),
            _ref("ReportsToId", "Contact", "ReportsTo", label="Reports To ID"),
            _f("Birthdate", "date"),
            _f(
                "LeadSource",
                "picklist",
                255,
                picklist_values=["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"],
            ),
            _f("Description", "textarea", 32000, label="Contact Description"),
            _f("HasOptedOutOfEmail", "boolean", nillable=False, default_value=False, label="Email Opt Out"),
            *_system_fields()[2:],
        ],
        label="Contact",
    )
    opportunity = _mk(
        "Opportunity",
        "006",
        [
            *_system_fields()[:2],
            _ref("AccountId", "Account", "Account", child="Opportunities"),
            _f("IsPrivate", "boolean", nillable=False, default_value=False, label="Private"),
            _name(120),
            _f("Description", "textarea", 32000),
            _f(
                "StageName",
                "picklist",
                255,
                nillable=False,
                label="Stage",
                picklist_values=[s[0] for s in OPPORTUNITY_STAGES],
            ),
            _f("Amount", "currency", precision=18, scale=2),
            _f("Probability", "percent", precision=3, scale=0, label="Probability (%)"),
            _ro(_f("ExpectedRevenue", "currency", precision=18, scale=2, label="Expected Amount")),
            _f("TotalOpportunityQuantity", "double", precision=18, scale=2, label="Quantity"),
            _f("CloseDate", "date", nillable=False),
            _f(
                "Type",
                "picklist",
                255,
                label="Opportunity Type",
                picklist_values=[
                    "New Customer",
                    "Existing Customer - Upgrade",
                    "Existing Customer - Replacement",
                    "Existing Customer - Downgrade",
                ],
            ),
            _f("NextStep", "string", 255),
            _f(
                "LeadSource",
                "picklist",
                255,
                picklist_values=["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"],
            ),
            _ro(_f("IsClosed", "boolean", nillable=False, default_value=False, label="Closed")),
            _ro(_f("IsWon", "boolean", nillable=False, default_value=False, label="Won")),
            _ro(
                _f(
                    "ForecastCategory",
                    "picklist",
                    40,
                    nillable=False,
                    picklist_values=["Omitted", "Pipeline", "BestCase", "Forecast", "Closed"],
                )
            ),
            _f(
                "ForecastCategoryName",
                "picklist",
                255,
                label="Forecast Category",
                picklist_values=["Omitted", "Pipeline", "Best Case", "Commit", "Closed"],
            ),
            _ref("Pricebook2Id", "Pricebook2", "Pricebook2", child="Opportunities", label="Price Book ID"),
            _ro(
                _f(
                    "HasOpportunityLineItem",
                    "boolean",
                    nillable=False,
                    default_value=False,
                    label="Has Line Item",
                )
            ),
            *_system_fields()[2:],
        ],
        label="Opportunity",
        plural="Opportunities",
    )
    line_item = _mk(
        "OpportunityLineItem",
        "00k",
        [
            *_system_fields(owner=False, currency=False)[:2],
            _ref(
                "OpportunityId",
                "Opportunity",
                "Opportunity",
                child="OpportunityLineItems",
                updateable=False,
                nillable=False,
                cascade=True,
            ),
            _f("SortOrder", "int"),
            _ref(
                "PricebookEntryId",
                "PricebookEntry",
                "PricebookEntry",
                child="OpportunityLineItems",
                updateable=False,
                label="Price Book Entry ID",
            ),
            _ref("Product2Id", "Product2", "Product2", updateable=False, label="Product ID"),
            _ro(_f("ProductCode", "string", 255)),
            _ro(_f("Name", "string", 376, label="Opportunity Product Name", name_field=True)),
            _ro(
                _f(
                    "CurrencyIsoCode",
                    "picklist",
                    3,
                    picklist_values=list(ACTIVE_CURRENCIES),
                    restricted_picklist=True,
                    label="Currency ISO Code",
                )
            ),
            _f("Quantity", "double", nillable=False, precision=12, scale=2),
            _f("TotalPrice", "currency", precision=18, scale=2, label="Total Price"),
            _f("UnitPrice", "currency", precision=18, scale=2, label="Sales Price"),
            _ro(_f("ListPrice", "currency", precision=18, scale=2, label="List Price")),
            _f("ServiceDate", "date", label="Date"),
            _f("Description", "string", 255, label="Line Description"),
            _f("Discount", "percent", precision=18, scale=2),
            _ro(_f("Subtotal", "currency", precision=18, scale=2)),
            *_system_fields(owner=False, currency=False)[2:],
        ],
        label="Opportunity Product",
    )
    contact_role = _mk(
        "OpportunityContactRole",
        "00K",
        [
            *_system_fields(owner=False, currency=False)[:2],
            _ref(
                "OpportunityId",
                "Opportunity",
                "Opportunity",
                child="OpportunityContactRoles",
                updateable=False,
                nillable=False,
                cascade=True,
            ),
            _ref("ContactId", "Contact", "Contact", child="OpportunityContactRoles", nillable=False),
            _f(
                "Role",
                "picklist",
                40,
                picklist_values=[
                    "Business User",
                    "Decision Maker",
                    "Economic Buyer",
                    "Economic Decision Maker",
                    "Evaluator",
                    "Executive Sponsor",
                    "Influencer",
                    "Technical Buyer",
                    "Other",
                ],
            ),
            _f("IsPrimary", "boolean", nillable=False, default_value=False, label="Primary"),
            *_system_fields(owner=False, currency=False)[2:],
        ],
        label="Opportunity Contact Role",
    )
    product = _mk(
        "Product2",
        "01t",
        [
            *_system_fields(owner=False)[:2],
            _name(255, label="Product Name"),
            _f("ProductCode", "string", 255),
            _f("Description", "textarea", 4000, label="Product Description"),
            _f("IsActive", "boolean", nillable=False, default_value=False, label="Active"),
            _f("Family", "picklist", 255, label="Product Family", picklist_values=["None"]),
            _f(
                "QuantityUnitOfMeasure",
                "picklist",
                255,
                label="Quantity Unit Of Measure",
                picklist_values=["Each"],
            ),
            _f("ExternalId", "string", 255, external_id=True, label="External ID"),
            _f("StockKeepingUnit", "string", 180, label="Product SKU"),
            _f("DisplayUrl", "url", 1000, label="Display URL"),
            _ro(_f("IsArchived", "boolean", nillable=False, default_value=False, label="Archived")),
            *_system_fields(owner=False)[2:],
        ],
        label="Product",
    )
    pricebook = _mk(
        "Pricebook2",
        "01s",
        [
            *_system_fields(owner=False, currency=False)[:2],
            _name(255, label="Price Book Name"),
            _f("IsActive", "boolean", nillable=False, default_value=False, label="Active"),
            _ro(_f("IsArchived", "boolean", nillable=False, default_value=False, label="Archived")),
            _f("Description", "string", 255),
            _ro(
                _f(
                    "IsStandard",
                    "boolean",
                    nillable=False,
                    default_value=False,
                    label="Is Standard Price Book",
                )
            ),
            *_system_fields(owner=False, currency=False)[2:],
        ],
        label="Price Book",
    )
    entry = _mk(
        "PricebookEntry",
        "01u",
        [
            *_system_fields(owner=False, currency=False)[:2],
            _ro(_f("Name", "string", 255, label="Product Name", name_field=True)),
            _ref(
                "Pricebook2Id",
                "Pricebook2",
                "Pricebook2",
                child="PricebookEntries",
                updateable=False,
                nillable=False,
                label="Price Book ID",
            ),
            _ref(
                "Product2Id",
                "Product2",
                "Product2",
                child="PricebookEntries",
                updateable=False,
                nillable=False,
                label="Product ID",
            ),
            _f(
                "CurrencyIsoCode",
                "picklist",
                3,
                picklist_values=list(ACTIVE_CURRENCIES),
                restricted_picklist=True,
                updateable=False,
                label="Currency ISO Code",
            ),
            _f("UnitPrice", "currency", precision=18, scale=2, label="List Price"),
            _f("IsActive", "boolean", nillable=False, default_value=False, label="Active"),
            _f(
                "UseStandardPrice", "boolean", nillable=False, default_value=False, label="Use Standard Price"
            ),
            _ro(_f("ProductCode", "string", 255)),
            _ro(_f("IsArchived", "boolean", nillable=False, default_value=False, label="Archived")),
            *_system_fields(owner=False, currency=False)[2:],
        ],
        label="Price Book Entry",
        plural="Price Book Entries",
    )
    currency_type = _mk(
        "CurrencyType",
        "02B",
        [
            _ro(_f("Id", "id", 18, nillable=False, id_lookup=True, label="Currency ID")),
            _f(
                "IsoCode",
                "picklist",
                3,
                nillable=False,
                updateable=False,
                picklist_values=list(KNOWN_CURRENCIES),
                restricted_picklist=True,
                label="Currency ISO Code",
            ),
            _f("ConversionRate", "double", nillable=False, precision=18, scale=6),
            _f("DecimalPlaces", "int", nillable=False, default_value=2, precision=2),
            _f("IsActive", "boolean", nillable=False, default_value=False, label="Active"),
            _ro(
                _f("IsCorporate", "boolean", nillable=False, default_value=False, label="Corporate Currency")
            ),
            *[f for f in _system_fields(owner=False, currency=False) if f.name not in ("Id", "IsDeleted")],
        ],
        label="Currency Type",
        deletable=False,
    )
    currency_type.add_field(
        _ro(_f("IsDeleted", "boolean", nillable=False, default_value=False, label="Deleted"))
    )
    user = _mk(
        "User",
        "005",
        [
            _ro(_f("Id", "id", 18, nillable=False, id_lookup=True, label="User ID")),
            _f("Username", "string", 80, nillable=False, unique=True, id_lookup=True),
            _f("LastName", "string", 80, nillable=False),
            _f("FirstName", "string", 40),
            _ro(_f("Name", "string", 121, label="Full Name", name_field=True)),
            _f("Email", "email", 128, nillable=False),
            _f("Alias", "string", 8, nillable=False),
            _f("CommunityNickname", "string", 40, label="Nickname"),
            _f("IsActive", "boolean", nillable=False, default_value=True, label="Active"),
            _f("Title", "string", 80),
            _f(
                "TimeZoneSidKey",
                "picklist",
                40,
                nillable=False,
                picklist_values=["America/Los_Angeles", "GMT"],
            ),
            _f("LocaleSidKey", "picklist", 40, nillable=False, picklist_values=["en_US", "en_GB"]),
            _f("EmailEncodingKey", "picklist", 40, nillable=False, picklist_values=["UTF-8", "ISO-8859-1"]),
            _f("LanguageLocaleKey", "picklist", 40, nillable=False, picklist_values=["en_US"]),
            _f(
                "DefaultCurrencyIsoCode",
                "picklist",
                3,
                picklist_values=list(ACTIVE_CURRENCIES),
                restricted_picklist=True,
                label="User Currency",
            ),
            _f(
                "UserType",
                "picklist",
                40,
                createable=False,
                updateable=False,
                picklist_values=["Standard"],
            ),
            *[f for f in _system_fields(owner=False) if f.name not in ("Id", "IsDeleted")],
        ],
        label="User",
        deletable=False,
    )
    return [
        account,
        contact,
        opportunity,
        line_item,
        contact_role,
        product,
        pricebook,
        entry,
        currency_type,
        user,
    ]


# --------------------------------------------------------------------------- sfdx metadata

_NS = "{http://soap.sforce.com/2006/04/metadata}"

_XML_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Html": "textarea",
    "Checkbox": "boolean",
    "Number": "double",
    "Currency": "currency",
    "Percent": "percent",
    "Date": "date",
    "DateTime": "datetime",
    "Picklist": "picklist",
    "MultiselectPicklist": "multipicklist",
    "Lookup": "reference",
    "MasterDetail": "reference",
    "Email": "email",
    "Phone": "phone",
    "Url": "url",
    "AutoNumber": "string",
}


def _text(el: ET.Element, tag: str) -> str | None:
    child = el.find(_NS + tag)
    return child.text.strip() if child is not None and child.text else None


def parse_field_xml(path: Path) -> Field:
    """Parse one `*.field-meta.xml` into a Field."""
    root = ET.parse(path).getroot()
    name = _text(root, "fullName") or path.name.removesuffix(".field-meta.xml")
    xml_type = _text(root, "type") or "Text"
    type_ = _XML_TYPES.get(xml_type)
    if type_ is None:
        msg = f"{path}: unsupported field type {xml_type}"
        raise ValueError(msg)
    f = Field(name=name, type=type_, label=_text(root, "label") or _label(name), custom=True)
    f.external_id = (_text(root, "externalId") or "false") == "true"
    f.unique = (_text(root, "unique") or "false") == "true"
    f.case_sensitive = (_text(root, "caseSensitive") or "false") == "true"
    f.required = (_text(root, "required") or "false") == "true"
    length = _text(root, "length")
    if type_ in ("string", "textarea"):
        f.length = int(length) if length else 255
    elif type_ == "email":
        f.length = 80
    elif type_ == "phone":
        f.length = 40
    elif type_ == "url":
        f.length = 255
    precision, scale = _text(root, "precision"), _text(root, "scale")
    if precision:
        f.precision = int(precision)
        f.scale = int(scale or 0)
    if type_ == "boolean":
        f.nillable = False
        f.default_value = (_text(root, "defaultValue") or "false") == "true"
    elif type_ in ("double", "currency", "percent") and _text(root, "defaultValue"):
        f.default_value = float(_text(root, "defaultValue") or 0)
    if xml_type == "AutoNumber":
        f.createable = f.updateable = False
    if type_ == "reference":
        f.reference_to = [_text(root, "referenceTo") or ""]
        f.relationship_name = name.removesuffix("__c") + "__r"
        child = _text(root, "relationshipName")
        f.child_relationship_name = child + "__r" if child else None
        f.length = 18
        if xml_type == "MasterDetail":
            f.nillable = False
            f.cascade_delete = True
            f.updateable = (_text(root, "reparentableMasterDetail") or "false") == "true"
    if type_ in ("picklist", "multipicklist"):
        vs = root.find(_NS + "valueSet")
        if vs is not None:
            f.restricted_picklist = (_text(vs, "restricted") or "false") == "true"
            definition = vs.find(_NS + "valueSetDefinition")
            if definition is not None:
                for value in definition.findall(_NS + "value"):
                    full = _text(value, "fullName")
                    if full:
                        f.picklist_values.append(full)
                    if (_text(value, "default") or "false") == "true":
                        f.default_value = full
        f.length = 4099 if type_ == "multipicklist" else 255
    if f.unique or f.external_id:
        f.id_lookup = True
    return f


def _custom_object(path: Path, key_prefix: str, fields: list[Field]) -> SObject:
    root = ET.parse(path).getroot()
    name = path.name.removesuffix(".object-meta.xml")
    label = _text(root, "label") or name
    plural = _text(root, "pluralLabel") or label + "s"
    name_field = root.find(_NS + "nameField")
    name_type = _text(name_field, "type") if name_field is not None else "Text"
    name_label = (_text(name_field, "label") if name_field is not None else None) or f"{label} Name"
    detail = any(f.cascade_delete for f in fields)
    base = _system_fields(owner=not detail)
    nf = _f("Name", "string", 80, label=name_label, name_field=True, id_lookup=True)
    if name_type == "AutoNumber":
        _ro(nf)
    out = _mk(name, key_prefix, [*base[:2], nf, *base[2:]], label=label, plural=plural, custom=True)
    for f in fields:
        out.add_field(f)
    return out


def load_schema(metadata_dir: Path | None) -> Schema:
    """Build the org schema: standard objects plus the custom objects and fields in `metadata_dir`.

    Args:
        metadata_dir: an sfdx package directory's `main/default` folder (holding `objects/`), the package
            directory itself, or the sfdx project root. None loads the standard objects only.

    Returns:
        The Schema, with child relationships linked.
    """
    sobjects = {so.name: so for so in standard_sobjects()}
    objects_dir = _find_objects_dir(metadata_dir) if metadata_dir is not None else None
    if objects_dir is not None:
        custom_names = sorted(
            p.name for p in objects_dir.iterdir() if p.is_dir() and (p / f"{p.name}.object-meta.xml").exists()
        )
        for index, obj_name in enumerate(custom_names):
            obj_dir = objects_dir / obj_name
            fields = [parse_field_xml(p) for p in sorted((obj_dir / "fields").glob("*.field-meta.xml"))]
            sobjects[obj_name] = _custom_object(
                obj_dir / f"{obj_name}.object-meta.xml", _custom_prefix(index), fields
            )
        for obj_dir in sorted(objects_dir.iterdir()):
            if not obj_dir.is_dir() or obj_dir.name in custom_names:
                continue
            target = sobjects.get(obj_dir.name)
            if target is None:
                logger.warning("metadata for unknown standard object %s ignored", obj_dir.name)
                continue
            for p in sorted((obj_dir / "fields").glob("*.field-meta.xml")):
                target.add_field(parse_field_xml(p))
    schema = Schema(sobjects.values())
    schema.link_children()
    return schema


def _custom_prefix(index: int) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "a" + alphabet[index // 62] + alphabet[index % 62]


def _find_objects_dir(path: Path) -> Path | None:
    for candidate in (path / "objects", path / "default" / "objects", path / "main" / "default" / "objects"):
        if candidate.is_dir():
            return candidate
    return None


def default_metadata_dir() -> Path:
    """`include/salesforce/main/default` of this checkout (the files an admin deploys)."""
    return Path(__file__).resolve().parents[3] / "salesforce" / "main" / "default"
