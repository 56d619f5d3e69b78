"""DML with Salesforce's validation and business rules: every write path (REST, collections, composite,
Bulk 1.0 and 2.0) goes through `Dml`, so they all fail the same way with the same error codes.

Rules whose wording is not documented publicly use the wording integrations commonly report; see the
module README section in the sandbox docs for which are inferred.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from logisense_sync.sandbox.salesforce import ids
from logisense_sync.sandbox.salesforce.errors import SalesforceApiError, record_failure
from logisense_sync.sandbox.salesforce.schema import (
    CORPORATE_CURRENCY,
    OPPORTUNITY_STAGES,
    Field,
    Schema,
    SObject,
)
from logisense_sync.sandbox.salesforce.store import Record, Store, ext_key, now_iso

_STAGES = {s[0]: s for s in OPPORTUNITY_STAGES}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist"})
_NUMBER_TYPES = frozenset({"double", "currency", "percent"})
_CHECKED_TEXT = frozenset({"email", "picklist", "multipicklist"})
#: Field types whose text values convert the same way every time (given the org's active currencies).
_MEMO_TYPES = frozenset({"picklist", "double", "currency", "percent", "boolean"})
_MEMO_LIMIT = 100_000
_MISS = object()
_DT = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def duplicate_keys(field: Field, values: Iterable[Any]) -> set[Any]:
    """External-id values given more than once in one request (those records fail DUPLICATE_EXTERNAL_ID)."""
    seen: set[Any] = set()
    dups: set[Any] = set()
    for value in values:
        if value in (None, ""):
            continue
        key = ext_key(field, value)
        if key in seen:
            dups.add(key)
        seen.add(key)
    return dups


def duplicate_external_id(value: Any) -> SalesforceApiError:
    """The per-record error of a record whose external id is repeated in the same request."""
    return SalesforceApiError(400, "DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}", [])


def fie(fields: list[str], detail: str) -> SalesforceApiError:
    """FIELD_INTEGRITY_EXCEPTION in Salesforce's `field integrity exception: X (detail)` wording."""
    return record_failure("FIELD_INTEGRITY_EXCEPTION", f"field integrity exception: {detail}", fields)


class Dml:
    """Insert, update, upsert and delete single records with validation, derivations and rollback scope."""

    def __init__(self, schema: Schema, store: Store) -> None:
        self.schema = schema
        self.store = store
        self._currencies: list[str] | None = None
        self._templates: dict[str, Record] = {}
        # parent sObject -> (child sObject, field) of every cascade-delete (master-detail) relationship
        self._cascades: dict[str, list[tuple[SObject, str]]] = {}
        for child in schema.sobjects():
            for f in child.fields.values():
                if f.type == "reference" and f.cascade_delete:
                    for parent in f.reference_to:
                        self._cascades.setdefault(parent, []).append((child, f.name))
        self._relationships: dict[tuple[str, str], Field] = {}
        # (id(field), text) -> converted value, for the types in _MEMO_TYPES (errors are not remembered)
        self._coerced: dict[tuple[int, str], Any] = {}
        self._required: dict[str, list[Field]] = {}
        self._unique: dict[str, list[Field]] = {}
        for so in schema.sobjects():
            self._required[so.name] = [
                f
                for f in so.fields.values()
                if f.is_required_on_create or (not f.nillable and f.type != "boolean" and f.createable)
            ]
            self._unique[so.name] = [f for f in so.fields.values() if f.unique and f.type != "id"]

    def invalidate(self) -> None:
        """Forget cached org facts (after a reset or a CurrencyType change)."""
        self._currencies = None
        self._coerced.clear()

    # ------------------------------------------------------------------ org facts

    @property
    def user_id(self) -> str | None:
        """The integration user every API call runs as."""
        value = self.store.meta.get("integration_user_id")
        return str(value) if value else None

    def standard_pricebook_id(self) -> str | None:
        """Id of the one standard price book."""
        value = self.store.meta.get("standard_pricebook_id")
        return str(value) if value else None

    def active_currencies(self) -> list[str]:
        """ISO codes of the active CurrencyType rows."""
        if self._currencies is None:
            self._currencies = [r["IsoCode"] for r in self.store.scan("CurrencyType") if r["IsActive"]]
        return self._currencies

    def sobject(self, name: str) -> SObject:
        """The sObject type `name`, or NOT_FOUND/INVALID_TYPE."""
        so = self.schema.sobject(name)
        if so is None:
            raise SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return so

    # ------------------------------------------------------------------ public DML

    def insert(self, sobject: str | SObject, values: Mapping[str, Any], *, csv: bool = False) -> str:
        """Create a record; returns its id."""
        so = sobject if isinstance(sobject, SObject) else self.sobject(sobject)
        return str(self._write(so, None, values, csv=csv)["Id"])

    def update(
        self,
        record_id: str,
        values: Mapping[str, Any],
        *,
        sobject: str | SObject | None = None,
        csv: bool = False,
    ) -> str:
        """Update a record by id; returns its id."""
        so, existing = self.resolve_id(record_id, sobject)
        return str(self._write(so, existing, values, csv=csv)["Id"])

    def upsert(
        self,
        sobject: str | SObject,
        ext_field: str,
        ext_value: Any,
        values: Mapping[str, Any],
        *,
        csv: bool = False,
    ) -> tuple[str, bool]:
        """Insert or update by external id; returns (id, created). Several matches raise 300."""
        so = sobject if isinstance(sobject, SObject) else self.sobject(sobject)
        f = self.upsert_field(so, ext_field)
        if f.type == "id":
            if ext_value in (None, ""):
                return self.insert(so, values, csv=csv), True
            _, existing = self.resolve_id(str(ext_value), so)
            return self._write(so, existing, values, csv=csv)["Id"], False
        if ext_value in (None, ""):
            raise SalesforceApiError(
                400, "MISSING_ARGUMENT", f"{f.name} not specified", [f.name]
            )  # Bulk/collections wording
        matches = self.store.find_by_external_id(so.name, f.name, self._coerce(so, f, ext_value, csv=csv))
        if len(matches) > 1:
            raise SalesforceApiError(
                300,
                "MULTIPLE_RECORDS",
                f"Multiple records found with {f.name} = {ext_value}: {', '.join(matches)}",
                [f.name],
            )
        low = f.name.lower()
        body = {k: v for k, v in values.items() if k != f.name and k.lower() != low}
        if matches:
            found = self.store.get(matches[0])
            assert found is not None
            existing = found
            return self._write(so, existing, body, csv=csv)["Id"], False
        body[f.name] = ext_value
        # `f` was just looked up and matched nothing: the unique check need not look it up again.
        return str(self._write(so, None, body, csv=csv, checked=f.name)["Id"]), True

    def delete(self, record_id: str, *, sobject: str | SObject | None = None) -> str:
        """Delete (to the recycle bin) a record and its cascade-delete children; returns its id."""
        so, rec = self.resolve_id(record_id, sobject)
        if not so.deletable:
            raise SalesforceApiError(
                400, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id"
            )
        self._before_delete(so, rec)
        self._delete(so, rec)
        return str(rec["Id"])

    def upsert_field(self, so: SObject, name: str) -> Field:
        """The field used as an upsert key, or NOT_FOUND if it is not an external id (or Id)."""
        f = so.field(name)
        if f is None or not (f.external_id or f.id_lookup):
            raise SalesforceApiError(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}"
            )
        return f

    def resolve_id(self, record_id: Any, sobject: str | SObject | None = None) -> tuple[SObject, Record]:
        """The live record with this id (of the given type, if any), or the matching Salesforce error."""
        canonical = ids.normalize(record_id) if isinstance(record_id, str) else None
        if canonical is None:
            raise SalesforceApiError(400, "MALFORMED_ID", f"malformed id {record_id}", ["Id"])
        so = self.schema.by_prefix(canonical[:3])
        want = sobject if isinstance(sobject, SObject) or sobject is None else self.sobject(sobject)
        if so is None or (want is not None and so.name != want.name):
            name = want.name if want is not None else "record"
            raise SalesforceApiError(
                400, "MALFORMED_ID", f"{name} ID: id value of incorrect type: {record_id}", ["Id"]
            )
        rec = self.store.get(canonical, include_deleted=True)
        if rec is None:
            raise SalesforceApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        if rec.get("IsDeleted"):
            raise SalesforceApiError(400, "ENTITY_IS_DELETED", "entity is deleted", [])
        return so, rec

    # ------------------------------------------------------------------ the write pipeline

    def _write(
        self,
        so: SObject,
        existing: Record | None,
        values: Mapping[str, Any],
        *,
        csv: bool,
        checked: str | None = None,
    ) -> Record:
        if (existing is None and not so.createable) or (existing is not None and not so.updateable):
            raise SalesforceApiError(
                400, "INVALID_TYPE", f"sObject type '{so.name}' is not supported for this operation."
            )
        inserting = existing is None
        changes: dict[str, Any] = {}
        readonly: list[str] = []
        for key, raw in values.items():
            if key == "attributes":
                continue
            if isinstance(raw, dict) or "." in key:
                self._relationship_value(so, key, raw, changes, csv=csv)
                continue
            f = so.field(key)
            if f is None:
                raise SalesforceApiError(
                    400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {so.name}", [key]
                )
            if csv:
                if raw == "":
                    continue  # an empty CSV value is ignored (null on insert)
                if raw == "#N/A":
                    raw = None
            if f.name == "Id":
                if inserting:
                    raise SalesforceApiError(
                        400,
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "Record ID: cannot specify Id in an insert call",
                        ["Id"],
                    )
                continue
            if (inserting and not f.createable) or (not inserting and not f.updateable):
                readonly.append(f.name)
                continue
            if type(raw) is str and f.type in _MEMO_TYPES:
                # Picklist, number and checkbox values repeat across rows: convert each text once.
                memo_key = (id(f), raw)
                value = self._coerced.get(memo_key, _MISS)
                if value is _MISS:
                    value = self._coerce(so, f, raw, csv=csv)
                    if len(self._coerced) >= _MEMO_LIMIT:
                        self._coerced.clear()
                    self._coerced[memo_key] = value
                changes[f.name] = value
                continue
            changes[f.name] = self._coerce(so, f, raw, csv=csv)
        if readonly:
            raise SalesforceApiError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(readonly)}. "
                "Please check the security settings of "
                "this field and verify that it is read/write for your profile or permission set.",
                readonly,
            )
        if inserting:
            rec = self._new_record(so)
            rec.update(changes)
        else:
            assert existing is not None
            rec = {**existing, **changes}
        self._before_write(so, rec, existing, changes)
        missing = [
            f.name
            for f in self._required[so.name]
            if rec.get(f.name) in (None, "") and (inserting or f.name in changes)
        ]
        if missing:
            raise SalesforceApiError(
                400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )
        for f in self._unique[so.name]:
            value = rec.get(f.name)
            if value in (None, "") or (not inserting and f.name not in changes) or f.name == checked:
                continue
            others = [i for i in self.store.find_by_external_id(so.name, f.name, value) if i != rec["Id"]]
            if others:
                raise SalesforceApiError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: {others[0]}",
                    [f.name],
                )
        stamp = now_iso()
        if inserting:
            rec["CreatedDate"] = stamp
            rec["CreatedById"] = self.user_id
        if "LastModifiedDate" in so.fields:
            rec["LastModifiedDate"] = rec["SystemModstamp"] = stamp
            rec["LastModifiedById"] = self.user_id
        self.store.put(so, rec)
        self._after_write(so, rec, existing)
        if so.name == "CurrencyType":
            self.invalidate()
        return rec

    def store_unique_fields(self, so: SObject) -> list[Field]:
        """Fields whose values must be unique across live records."""
        return [f for f in so.fields.values() if f.unique and f.type != "id"]

    def _new_record(self, so: SObject) -> Record:
        template = self._templates.get(so.name)
        if template is None:
            template = {
                f.name: bool(f.default_value) if f.type == "boolean" else f.default_value
                for f in so.fields.values()
            }
            self._templates[so.name] = template
        rec: Record = dict(template)
        rec["Id"] = self.store.new_id(so)
        rec["IsDeleted"] = False
        if "OwnerId" in so.fields:
            rec["OwnerId"] = self.user_id
        if "CurrencyIsoCode" in so.fields:
            rec["CurrencyIsoCode"] = CORPORATE_CURRENCY
        return rec

    def _relationship_value(
        self, so: SObject, key: str, raw: Any, changes: dict[str, Any], *, csv: bool
    ) -> None:
        if isinstance(raw, Mapping):
            rel_name = key
            items = [(k, v) for k, v in raw.items() if k != "attributes"]
            if len(items) != 1:
                raise SalesforceApiError(
                    400,
                    "INVALID_FIELD",
                    f"Foreign key external ID reference for {key} must name one field",
                    [key],
                )
            ext_name, value = items[0]
        else:
            rel_name, _, ext_name = key.partition(".")
            value = raw
        rel_key = (so.name, rel_name)
        f = self._relationships.get(rel_key)
        if f is None:
            f = so.relationship(rel_name)
            if f is not None:
                self._relationships[rel_key] = f
        if f is None:
            raise SalesforceApiError(
                400, "INVALID_FIELD", f"No such column '{rel_name}' on sobject of type {so.name}", [key]
            )
        if csv and value == "":
            return
        if value is None or value == "#N/A":
            changes[f.name] = None
            return
        target = self.schema.sobject(f.reference_to[0])
        assert target is not None
        ef = target.field(ext_name)
        if ef is None or not (ef.external_id or ef.id_lookup):
            raise SalesforceApiError(
                400,
                "INVALID_FIELD",
                "Invalid field for upsert, must be an External Id custom or standard indexed field: "
                f"{ext_name}",
                [key],
            )
        matches = self.store.find_by_external_id(target.name, ef.name, value)
        if not matches:
            raise SalesforceApiError(
                400,
                "INVALID_FIELD",
                f"Foreign key external ID: {value} not found for field {ef.name} in entity {target.name}",
                [f.name],
            )
        if len(matches) > 1:
            raise SalesforceApiError(
                400,
                "DUPLICATE_EXTERNAL_ID",
                f"Foreign key external ID: {value} matched more than one record in entity {target.name}",
                [f.name],
            )
        changes[f.name] = matches[0]

    def _coerce(self, so: SObject, f: Field, raw: Any, *, csv: bool) -> Any:
        if raw is None:
            return False if f.type == "boolean" else None  # a checkbox set to null is unchecked
        t = f.type
        if t in _NUMBER_TYPES and type(raw) is str:
            # Fast path for a CSV number: float() accepts what the general path accepts below.
            try:
                quick = float(raw)
            except ValueError:
                pass
            else:
                if quick - quick == 0.0:  # finite
                    return round(quick, f.scale) if f.scale and t == "currency" else quick
        label = f.label or f.name

        def bad_type() -> SalesforceApiError:
            return record_failure(
                "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{label}: value not of required type: {raw}", [f.name]
            )

        if t in _TEXT_TYPES and type(raw) is str and raw and t not in _CHECKED_TEXT:
            # Fast path for plain text: only the length can be wrong.
            if f.length and len(raw) > f.length:
                raise SalesforceApiError(
                    400,
                    "STRING_TOO_LONG",
                    f"{label}: data value too large: {raw} (max length={f.length})",
                    [f.name],
                )
            return raw
        if t in _TEXT_TYPES:
            if isinstance(raw, (bool, dict, list)):
                raise bad_type()
            value = str(raw)
            if t == "multipicklist" and isinstance(raw, str):
                value = ";".join(v.strip() for v in value.split(";") if v.strip())
            if value == "":
                return None
            if f.length and len(value) > f.length:
                raise SalesforceApiError(
                    400,
                    "STRING_TOO_LONG",
                    f"{label}: data value too large: {value} (max length={f.length})",
                    [f.name],
                )
            if t == "email" and not _EMAIL.match(value):
                raise SalesforceApiError(
                    400, "INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {value}", [f.name]
                )
            if t in ("picklist", "multipicklist") and f.restricted_picklist:
                allowed = self.active_currencies() if f.name == "CurrencyIsoCode" else f.picklist_values
                for item in value.split(";") if t == "multipicklist" else [value]:
                    if item not in allowed:
                        raise SalesforceApiError(
                            400,
                            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                            f"{label}: bad value for restricted picklist field: {item}",
                            [f.name],
                        )
            return value
        if t == "boolean":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0", "yes", "no"):
                return raw.lower() in ("true", "1", "yes")
            raise bad_type()
        if t in _NUMBER_TYPES or t == "int":
            if isinstance(raw, bool):
                raise bad_type()
            if isinstance(raw, str):
                text = raw.strip()
                try:
                    number: float = float(text) if text else 0.0
                except ValueError:
                    raise bad_type() from None
                if not text:
                    return None
            elif isinstance(raw, (int, float)):
                number = float(raw)
            else:
                raise bad_type()
            if number != number or number in (float("inf"), float("-inf")):
                raise bad_type()
            if t == "int":
                if number != int(number):
                    raise bad_type()
                return int(number)
            return round(number, f.scale) if f.scale and t == "currency" else number
        if t == "date":
            if not isinstance(raw, str):
                raise bad_type()
            try:
                return date.fromisoformat(raw.strip()[:10]).isoformat()
            except ValueError:
                raise bad_type() from None
        if t == "datetime":
            if not isinstance(raw, str):
                raise bad_type()
            return self._datetime(raw.strip(), bad_type)
        if t == "reference":
            return self._reference(f, raw)
        if t == "id":
            canonical = ids.normalize(raw) if isinstance(raw, str) else None
            if canonical is None:
                raise SalesforceApiError(400, "MALFORMED_ID", f"malformed id {raw}", [f.name])
            return canonical
        raise bad_type()

    @staticmethod
    def _datetime(text: str, bad_type: Any) -> str:
        m = _DT.match(text)
        if not m:
            raise bad_type()
        day, hh, mm, ss, frac, tz = m.groups()
        try:
            parsed = datetime.fromisoformat(
                f"{day}T{hh or '00'}:{mm or '00'}:{ss or '00'}.{(frac or '0')[:6].ljust(6, '0')}"
                + ("+00:00" if tz in (None, "Z") else tz[:3] + ":" + tz[-2:])
            )
        except ValueError:
            raise bad_type() from None
        from datetime import UTC

        utc = parsed.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"

    def _reference(self, f: Field, raw: Any) -> str | None:
        label = f.label or f.name
        if not isinstance(raw, str):
            raise SalesforceApiError(
                400, "MALFORMED_ID", f"{label}: id value of incorrect type: {raw}", [f.name]
            )
        if raw == "":
            return None
        canonical = ids.normalize(raw)
        if canonical is None:
            raise SalesforceApiError(
                400, "MALFORMED_ID", f"{label}: id value of incorrect type: {raw}", [f.name]
            )
        target = self.schema.by_prefix(canonical[:3])
        if target is None or target.name not in f.reference_to:
            raise SalesforceApiError(
                400, "FIELD_INTEGRITY_EXCEPTION", f"{label}: id value of incorrect type: {raw}", [f.name]
            )
        if self.store.get(canonical) is None:
            raise SalesforceApiError(
                400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name]
            )
        return canonical

    # ------------------------------------------------------------------ object rules

    def _before_write(self, so: SObject, rec: Record, old: Record | None, changes: dict[str, Any]) -> None:
        name = so.name
        if so.custom:
            name_field = so.fields["Name"]
            if old is None and not name_field.createable:
                self._auto_number(so, rec)
            elif old is None and not rec.get("Name"):
                rec["Name"] = rec["Id"]  # Salesforce names an unnamed custom record after its id
        if name in ("Contact", "User"):
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p) or None
        if name == "Account" and changes.get("ParentId"):
            self._check_hierarchy(rec)
        elif name == "Opportunity":
            self._opportunity(rec, old, changes)
        elif name == "OpportunityLineItem":
            self._line_item(rec, old, changes)
        elif name == "PricebookEntry":
            self._pricebook_entry(rec, old, changes)
        elif (
            name == "OpportunityContactRole"
            and rec.get("IsPrimary")
            and (old is None or "IsPrimary" in changes)
        ):
            for other_id in self.store.children(
                "OpportunityContactRole", "OpportunityId", rec["OpportunityId"]
            ):
                other = self.store.get(other_id)
                if other is not None and other_id != rec["Id"] and other["IsPrimary"]:
                    self.store.put(so, {**other, "IsPrimary": False})

    def _auto_number(self, so: SObject, rec: Record) -> None:
        prefix = {"LogiSense_Request__c": "LSR-", "Opportunity_Product_Service__c": "OPS-"}.get(so.name, "")
        rec["Name"] = f"{prefix}{self.store.next_sequence(so.name):06d}"

    def _check_hierarchy(self, rec: Record) -> None:
        seen = {rec["Id"]}
        current = rec.get("ParentId")
        while current:
            if current in seen:
                raise fie(["ParentId"], "ParentId (an account cannot be its own ancestor)")
            seen.add(current)
            parent = self.store.get(current)
            current = parent.get("ParentId") if parent else None

    def _opportunity(self, rec: Record, old: Record | None, changes: dict[str, Any]) -> None:
        stage = _STAGES.get(rec.get("StageName") or "")
        if rec.get("StageName") and stage is None:
            raise SalesforceApiError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"Stage: bad value for restricted picklist field: {rec['StageName']}",
                ["StageName"],
            )
        if stage is not None:
            _, probability, forecast, closed, won = stage
            rec["IsClosed"], rec["IsWon"] = closed, won
            if old is None or "StageName" in changes:
                rec["ForecastCategoryName"] = changes.get("ForecastCategoryName") or forecast
                rec["ForecastCategory"] = {"Best Case": "BestCase", "Commit": "Forecast"}.get(
                    rec["ForecastCategoryName"], rec["ForecastCategoryName"]
                )
                if "Probability" not in changes:
                    rec["Probability"] = float(probability)
        lines = self.store.children("OpportunityLineItem", "OpportunityId", rec["Id"]) if old else []
        if lines:
            for fname in ("Pricebook2Id", "CurrencyIsoCode"):
                if fname in changes and changes[fname] != old[fname]:  # type: ignore[index]
                    what = "pricebook" if fname == "Pricebook2Id" else "currency"
                    raise fie([fname], f"{fname} (cannot change {what} on opportunity with line items)")
            self._derive_amount(rec, lines)
        self._expected_revenue(rec)

    def _derive_amount(self, opp: Record, line_ids: list[str]) -> None:
        total = 0.0
        quantity = 0.0
        for line_id in line_ids:
            line = self.store.get(line_id)
            if line is not None:
                total += line["TotalPrice"] or 0.0
                quantity += line["Quantity"] or 0.0
        opp["Amount"] = round(total, 2) if line_ids else opp.get("Amount")
        opp["HasOpportunityLineItem"] = bool(line_ids)
        if line_ids:
            opp["TotalOpportunityQuantity"] = quantity

    @staticmethod
    def _expected_revenue(opp: Record) -> None:
        amount, probability = opp.get("Amount"), opp.get("Probability")
        opp["ExpectedRevenue"] = (
            round(amount * probability / 100, 2) if amount is not None and probability is not None else None
        )

    def _line_item(self, rec: Record, old: Record | None, changes: dict[str, Any]) -> None:
        if "UnitPrice" in changes and "TotalPrice" in changes and changes["TotalPrice"] is not None:
            raise fie(["TotalPrice"], "TotalPrice (only one of unit price or total price may be specified)")
        if old is None:
            if not rec.get("PricebookEntryId"):
                raise fie(
                    ["PricebookEntryId", "unknown"],
                    "PricebookEntryId, unknown (versions 3.0 and higher must specify pricebook entry id, "
                    "others must specify product id)",
                )
            entry = self.store.get(rec["PricebookEntryId"])
            opp = self.store.get(rec["OpportunityId"]) if rec.get("OpportunityId") else None
            if entry is None or opp is None:
                raise SalesforceApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
            if not entry["IsActive"]:
                raise fie(["PricebookEntryId"], "PricebookEntryId (pricebook entry is inactive)")
            if opp["Pricebook2Id"] and opp["Pricebook2Id"] != entry["Pricebook2Id"]:
                raise fie(
                    ["PricebookEntryId"],
                    "PricebookEntryId (pricebook entry is in a different pricebook than the one "
                    "assigned to the opportunity)",
                )
            if opp["CurrencyIsoCode"] != entry["CurrencyIsoCode"]:
                raise fie(
                    ["PricebookEntryId"],
                    "PricebookEntryId (pricebook entry currency code does not match opportunity "
                    "currency code)",
                )
            if rec.get("Product2Id") and rec["Product2Id"] != entry["Product2Id"]:
                raise fie(["Product2Id"], "Product2Id (product does not match the pricebook entry)")
            product = self.store.get(entry["Product2Id"])
            rec["Product2Id"] = entry["Product2Id"]
            rec["ProductCode"] = entry["ProductCode"]
            rec["Name"] = f"{opp['Name']} {product['Name'] if product else ''}".strip()[:376]
            rec["CurrencyIsoCode"] = entry["CurrencyIsoCode"]
            rec["ListPrice"] = entry["UnitPrice"]
            if rec.get("UnitPrice") is None and rec.get("TotalPrice") is None:
                raise fie(["TotalPrice"], "TotalPrice (total price must be specified)")
        quantity = rec.get("Quantity")
        if quantity is None:
            return  # REQUIRED_FIELD_MISSING follows
        discount = (rec.get("Discount") or 0.0) / 100
        if changes.get("TotalPrice") is not None:
            factor = quantity * (1 - discount)
            rec["UnitPrice"] = round(changes["TotalPrice"] / factor, 2) if factor else 0.0
        unit = rec.get("UnitPrice") or 0.0
        rec["Subtotal"] = round(quantity * unit, 2)
        rec["TotalPrice"] = round(rec["Subtotal"] * (1 - discount), 2)

    def _pricebook_entry(self, rec: Record, old: Record | None, changes: dict[str, Any]) -> None:
        if not rec.get("Pricebook2Id") or not rec.get("Product2Id"):
            return  # REQUIRED_FIELD_MISSING follows
        standard_id = self.standard_pricebook_id()
        is_standard = rec["Pricebook2Id"] == standard_id
        if old is None:
            other = self.store.entry_key.get((rec["Pricebook2Id"], rec["Product2Id"], rec["CurrencyIsoCode"]))
            if other is not None:
                raise SalesforceApiError(
                    400, "DUPLICATE_VALUE", "This price definition already exists in this price book", []
                )
            product = self.store.get_row(rec["Product2Id"])  # two fields: no dict of the whole product
            if product is not None:
                rec["Name"], rec["ProductCode"] = product.get("Name"), product.get("ProductCode")
        if is_standard:
            if rec["UseStandardPrice"]:
                raise fie(
                    ["UseStandardPrice"],
                    "UseStandardPrice (standard price entries cannot use the standard price)",
                )
            if rec.get("UnitPrice") is None:
                raise SalesforceApiError(
                    400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [UnitPrice]", ["UnitPrice"]
                )
            return
        std_id = self.store.entry_key.get((standard_id or "", rec["Product2Id"], rec["CurrencyIsoCode"]))
        std = self.store.get_row(std_id) if std_id else None
        if old is None and (std is None or not std.get("IsActive")):
            raise SalesforceApiError(
                400, "STANDARD_PRICE_NOT_DEFINED", "No standard price defined for this product", []
            )
        if rec["UseStandardPrice"]:
            if changes.get("UnitPrice") is not None:
                raise fie(["UnitPrice"], "UnitPrice (unit price must be blank when using the standard price)")
            rec["UnitPrice"] = std.get("UnitPrice") if std is not None else rec.get("UnitPrice")
        elif rec.get("UnitPrice") is None:
            raise SalesforceApiError(
                400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [UnitPrice]", ["UnitPrice"]
            )

    def _after_write(self, so: SObject, rec: Record, old: Record | None) -> None:
        if so.name == "OpportunityLineItem":
            self._refresh_opportunity(rec["OpportunityId"], pricebook=rec.get("_entry_pricebook"))
            if old is None:
                opp = self.store.get(rec["OpportunityId"])
                entry = self.store.get(rec["PricebookEntryId"])
                if opp is not None and entry is not None and not opp["Pricebook2Id"]:
                    opp_so = self.sobject("Opportunity")
                    self.store.put(opp_so, {**opp, "Pricebook2Id": entry["Pricebook2Id"]})
        elif (
            so.name == "PricebookEntry"
            and rec["Pricebook2Id"] == self.standard_pricebook_id()
            and old is not None
            and old["UnitPrice"] != rec["UnitPrice"]
        ):
            for pb in self.store.scan("Pricebook2"):
                other_id = self.store.entry_key.get((pb["Id"], rec["Product2Id"], rec["CurrencyIsoCode"]))
                other = self.store.get(other_id) if other_id and other_id != rec["Id"] else None
                if other is not None and other["UseStandardPrice"]:
                    self.store.put(so, {**other, "UnitPrice": rec["UnitPrice"], "SystemModstamp": now_iso()})

    def _refresh_opportunity(self, opp_id: str, pricebook: Any = None) -> None:
        opp = self.store.get(opp_id)
        if opp is None:
            return
        updated = dict(opp)
        lines = self.store.children("OpportunityLineItem", "OpportunityId", opp_id)
        self._derive_amount(updated, lines)
        if not lines:
            updated["HasOpportunityLineItem"] = False
        self._expected_revenue(updated)
        if updated != opp:
            updated["SystemModstamp"] = now_iso()
            self.store.put(self.sobject("Opportunity"), updated)

    def _entries_of(self, so: SObject, rec: Record) -> list[str]:
        """Price book entries that go with a deleted product or price book."""
        position = 1 if so.name == "Product2" else 0
        return [entry for key, entry in list(self.store.entry_key.items()) if key[position] == rec["Id"]]

    def _before_delete(self, so: SObject, rec: Record) -> None:
        if so.name == "Pricebook2" and rec["IsStandard"]:
            raise SalesforceApiError(400, "DELETE_FAILED", "Cannot delete the standard price book", [])
        if so.name in ("PricebookEntry", "Product2", "Pricebook2"):
            entries = {rec["Id"]} if so.name == "PricebookEntry" else set(self._entries_of(so, rec))
            used = [
                r["Id"] for r in self.store.scan("OpportunityLineItem") if r["PricebookEntryId"] in entries
            ]
            if used:
                raise SalesforceApiError(
                    400,
                    "DELETE_FAILED",
                    f"Your attempt to delete {rec.get('Name') or rec['Id']} could not be completed because it is "
                    f"associated with opportunity products: {used[0]}",
                    [],
                )
        if so.name == "PricebookEntry" and rec["Pricebook2Id"] == self.standard_pricebook_id():
            for pb in self.store.scan("Pricebook2"):
                other = self.store.entry_key.get((pb["Id"], rec["Product2Id"], rec["CurrencyIsoCode"]))
                if other is not None and other != rec["Id"]:
                    raise SalesforceApiError(
                        400,
                        "DELETE_FAILED",
                        "This standard price can't be deleted because custom prices for the same product "
                        "and currency exist",
                        [],
                    )

    def _delete(self, so: SObject, rec: Record) -> None:
        stamp = now_iso()
        entries = self._entries_of(so, rec) if so.name in ("Product2", "Pricebook2") else []
        self.store.put(so, {**rec, "IsDeleted": True, "SystemModstamp": stamp})
        entry_so = self.sobject("PricebookEntry")
        for entry_id in entries:
            entry = self.store.get(entry_id)
            if entry is not None:
                self.store.put(entry_so, {**entry, "IsDeleted": True, "SystemModstamp": stamp})
        for child_so, field_name in self._cascades.get(so.name, ()):
            for child_id in self.store.children(child_so.name, field_name, rec["Id"]):
                child = self.store.get(child_id)
                if child is not None:
                    self._delete(child_so, child)
        if so.name == "OpportunityLineItem":
            self._refresh_opportunity(rec["OpportunityId"])
