"""`describe` / `sobjects` bodies rendered from the Schema."""

from __future__ import annotations

from typing import Any

from logisense_sync.sandbox.salesforce.schema import Field, Schema, SObject

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


def sobject_urls(so: SObject, version: str) -> dict[str, str]:
    """The `urls` block of an sObject."""
    base = f"/services/data/v{version}/sobjects/{so.name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def sobject_summary(so: SObject, version: str) -> dict[str, Any]:
    """One entry of the global describe."""
    return {
        "activateable": False,
        "createable": so.createable,
        "custom": so.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": so.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": so.key_prefix,
        "label": so.label,
        "labelPlural": so.label_plural,
        "layoutable": True,
        "mergeable": so.name in ("Account", "Contact"),
        "mruEnabled": True,
        "name": so.name,
        "queryable": so.queryable,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": so.deletable,
        "updateable": so.updateable,
        "urls": sobject_urls(so, version),
    }


def describe_global(schema: Schema, version: str) -> dict[str, Any]:
    """`GET /sobjects`."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [sobject_summary(so, version) for so in schema.sobjects()],
    }


def describe_field(f: Field) -> dict[str, Any]:
    """One field of a describe."""
    numeric = f.type in ("double", "currency", "percent")
    text = f.type not in _SOAP_TYPES
    return {
        "aggregatable": f.type not in ("textarea", "multipicklist"),
        "aiPredictionField": False,
        "autoNumber": False,
        "byteLength": f.length * 3 if text else (18 if f.type in ("id", "reference") else 0),
        "calculated": f.calculated,
        "calculatedFormula": None,
        "cascadeDelete": f.cascade_delete,
        "caseSensitive": f.case_sensitive,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": f.default_value if f.type != "boolean" else bool(f.default_value),
        "defaultValueFormula": None,
        "defaultedOnCreate": f.default_value is not None or f.name in ("OwnerId", "CurrencyIsoCode", "Id"),
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": f.precision if f.type == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": f.external_id,
        "extraTypeInfo": None,
        "filterable": f.type != "textarea" or f.length <= 255,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": f.type not in ("double", "currency", "percent", "textarea", "multipicklist", "datetime"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": f.id_lookup,
        "inlineHelpText": None,
        "label": f.label,
        "length": f.length if text or f.type in ("id", "reference") else 0,
        "mask": None,
        "maskType": None,
        "name": f.name,
        "nameField": f.name_field,
        "namePointing": False,
        "nillable": f.nillable,
        "permissionable": f.nillable and f.createable and f.name not in ("Id",),
        "picklistValues": [
            {"active": True, "defaultValue": v == f.default_value, "label": v, "validFor": None, "value": v}
            for v in f.picklist_values
        ],
        "polymorphicForeignKey": len(f.reference_to) > 1,
        "precision": f.precision if numeric else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": 0 if f.cascade_delete and f.custom else None,
        "restrictedDelete": False,
        "restrictedPicklist": f.restricted_picklist,
        "scale": f.scale if numeric else 0,
        "searchPrefilterable": False,
        "soapType": _SOAP_TYPES.get(f.type, "xsd:string"),
        "sortable": f.type not in ("textarea", "multipicklist"),
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable,
        "writeRequiresMasterRead": False,
    }


def describe_sobject(so: SObject, version: str, schema: Schema) -> dict[str, Any]:
    """`GET /sobjects/X/describe`."""
    body = sobject_summary(so, version)
    body.update(
        {
            "actionOverrides": [],
            "childRelationships": [
                {
                    "cascadeDelete": _cascade(schema, child, field),
                    "childSObject": child,
                    "deprecatedAndHidden": False,
                    "field": field,
                    "junctionIdListNames": [],
                    "junctionReferenceTo": [],
                    "relationshipName": rel,
                    "restrictedDelete": False,
                }
                for child, field, rel in so.child_relationships
            ],
            "compactLayoutable": True,
            "fields": [describe_field(f) for f in so.fields.values()],
            "listviewable": None,
            "lookupLayoutable": None,
            "namedLayoutInfos": [],
            "networkScopeFieldName": None,
            "recordTypeInfos": [
                {
                    "active": True,
                    "available": True,
                    "defaultRecordTypeMapping": True,
                    "developerName": "Master",
                    "master": True,
                    "name": "Master",
                    "recordTypeId": "012000000000000AAA",
                    "urls": {
                        "layout": f"/services/data/v{version}/sobjects/{so.name}/describe/layouts/"
                        "012000000000000AAA"
                    },
                }
            ],
            "searchLayoutable": True,
            "supportedScopes": [{"label": "All", "name": "everything"}],
        }
    )
    return body


def _cascade(schema: Schema, child: str, field: str) -> bool:
    child_so = schema.sobject(child)
    f = child_so.field(field) if child_so else None
    return bool(f and f.cascade_delete)


def describe_basic(so: SObject, version: str) -> dict[str, Any]:
    """`GET /sobjects/X/` (basic information; recent items are not tracked)."""
    return {"objectDescribe": sobject_summary(so, version), "recentItems": []}
