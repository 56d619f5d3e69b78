"""LogiSense sandbox: login, bearer auth, envelopes, routes, paging, search operators and PATCH children."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import requests

from tests.sandbox.logisense.ls_api import Api


def _claims(token: str) -> dict[str, Any]:
    header, payload, _ = token.split(".")
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"] == "HS512"
    return decoded


def test_login_returns_an_hs512_jwt_with_logisense_claims(api: Api) -> None:
    body = api.login().json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1800
    assert body["actingOwnerId"] == 1
    claims = _claims(body["access_token"])
    assert claims["iss"] == "http://authorizationserver.logisense.com"
    assert claims["aud"] == "sandbox"
    assert claims["ownerId"] == "1"
    assert claims["exp"] - claims["nbf"] == 1800


def test_wrong_password_is_an_invalid_grant(api: Api) -> None:
    response = api.login(password="nope")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "The user name or password is incorrect.",
    }


def test_missing_or_bad_token_is_a_401_error_envelope(api: Api) -> None:
    api.token = "not-a-jwt"
    errors = api.errors(api.get("Currency"), 401)
    assert errors == [(401, "Authorization has been denied for this request.")]


def test_expired_token_is_refused_and_refresh_token_renews(api: Api) -> None:
    api.sandbox.control("POST", "settings", {"token_lifetime_seconds": 1})
    tokens = api.login().json()
    assert tokens["expires_in"] == 1
    api.token = tokens["access_token"]
    time.sleep(2.1)
    assert api.errors(api.get("Currency"), 401)[0][0] == 401
    renewed = api.login(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert renewed.status_code == 200
    api.sandbox.control("POST", "settings", {"token_lifetime_seconds": 1800})
    api.token = api.login().json()["access_token"]
    assert api.get("Currency").status_code == 200


def test_reset_leaves_only_the_owner_system_data(api: Api) -> None:
    currencies = api.get("Currency").json()
    assert currencies["totalCount"] == 1
    assert currencies["items"][0]["code"] == "USD"
    books = api.get("PriceBook").json()["items"]
    assert [(b["name"], b["isStandard"]) for b in books] == [("Standard", True)]
    packages = api.get("Package").json()
    assert (packages["totalCount"], packages["items"]) == (0, [])


def test_list_get_and_detail_envelopes(demo: Api) -> None:
    listed = demo.get("Package/").json()
    assert set(listed) == {"trackingId", "totalCount", "items"}
    assert listed["totalCount"] == len(listed["items"]) == 22
    one = demo.get("Package/Service/PricePlan/1").json()
    assert one["totalCount"] == 1
    plan = one["items"][0]
    assert plan["packageServiceName"] == "Mobile Line"
    assert plan["priceBookName"] == "Standard"
    assert plan["packageCurrencyName"] == "USD"
    assert plan["usageRatePlanName"] == "Mobile Voice & SMS"
    detail = demo.get("Package/Service/PricePlan/1/Detail").json()["items"][0]
    assert {(r["serviceStatusTypeName"], r["amount"]) for r in detail["recurring"]} == {
        ("Active", 15.0),
        ("Suspended", 3.75),
    }
    assert [(o["serviceStatusTransitionName"], o["amount"]) for o in detail["oneTime"]] == [
        ("[New] -> Active", 10.0)
    ]


def test_unknown_id_is_404_and_unknown_route_is_404(demo: Api) -> None:
    assert demo.errors(demo.get("Package/999"), 404) == [
        (13100000, "'Identity' (999) does not exist in 'Package'.")
    ]
    assert demo.errors(demo.get("Nope/1"), 404)[0][0] == 404


def test_paged_route_reads_the_pagination_header(demo: Api) -> None:
    response = demo.get(
        "Package/Paged", headers={"Pagination": json.dumps({"pageNumber": 3, "pageSize": 10})}
    )
    body = response.json()
    assert body["pagination"] == {"pageNumber": 3, "pageSize": 10, "excludeTotalCount": False}
    assert body["pagedResults"]["totalCount"] == 22
    assert [p["identity"] for p in body["pagedResults"]["items"]] == [21, 22]
    detail = demo.get("Package/Paged/Detail", headers={"Pagination": '{"pageNumber":1,"pageSize":1}'}).json()
    package = detail["pagedResults"]["items"][0]
    assert {"packageFrequency", "packageCurrency", "packageService"} <= set(package)
    assert [f["sku"] for f in package["packageFrequency"]] == ["MOB-ESS-M", "MOB-ESS-A"]


def test_search_pages_through_every_price_row_once(demo: Api) -> None:
    seen: list[int] = []
    page = 1
    while True:
        body = demo.search(
            "Package/Service/PricePlan/Recurring", pagination={"pageNumber": page, "pageSize": 500}
        )
        items = body["pagedResults"]["items"]
        seen += [i["identity"] for i in items]
        if not items:
            break
        page += 1
    assert body["pagedResults"]["totalCount"] == len(seen) == len(set(seen)) == 1728


def test_search_without_pagination_honours_top_and_reports_the_matching_total(demo: Api) -> None:
    body = demo.search("Package/Service/PricePlan", top=7)
    assert len(body["items"]) == 7
    assert body["totalCount"] == 864
    errors = demo.errors(demo.post("Package/Search", {"query": {"top": 10001}}))
    assert errors == [(11900000, "'Top' MUST be between '1' and '10000' when searching 'Package'.")]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"name": "code", "operator": "eq", "value": "eur"}, ["EUR"]),
        ({"name": "code", "operator": "notEq", "value": "USD"}, ["EUR", "GBP", "CAD"]),
        ({"name": "identity", "operator": "lt", "value": 2}, ["USD"]),
        ({"name": "identity", "operator": "ltEq", "value": 2}, ["USD", "EUR"]),
        ({"name": "identity", "operator": "gt", "value": 3}, ["CAD"]),
        ({"name": "identity", "operator": "gtEq", "value": 3}, ["GBP", "CAD"]),
        ({"name": "name", "operator": "contains", "value": "dollar"}, ["USD", "CAD"]),
        ({"name": "name", "operator": "startsWith", "value": "Br"}, ["GBP"]),
        ({"name": "name", "operator": "endsWith", "value": "o"}, ["EUR"]),
        ({"name": "code", "operator": "in", "value": ["GBP", "CAD"]}, ["GBP", "CAD"]),
        ({"name": "code", "operator": "notIn", "value": ["GBP", "CAD"]}, ["USD", "EUR"]),
        ({"name": "isDefault", "operator": "eq", "value": True}, ["USD"]),
        ({"name": "symbol", "operator": "isNull", "value": None}, []),
        ({"name": "symbol", "operator": "isNotNull", "value": None}, ["USD", "EUR", "GBP", "CAD"]),
    ],
)
def test_search_operators(demo: Api, condition: dict[str, Any], expected: list[str]) -> None:
    body = demo.search("Currency", search=[condition])
    assert [c["code"] for c in body["items"]] == expected


def test_search_combines_conditions_orders_and_projects(demo: Api) -> None:
    body = demo.search(
        "Package/Frequency",
        search=[
            {"name": "frequencyTypeId", "operator": "eq", "value": 4},
            {"name": "isActive", "operator": "eq", "value": False, "condition": "and"},
        ],
        orderBy=[{"name": "sku", "direction": "desc"}],
        fields=["sku", "packageId"],
    )
    assert [i["sku"] for i in body["items"]] == ["IOT-1G-A", "FIB-100-A"]
    assert set(body["items"][0]) == {"identity", "sku", "packageId", "packageName"}


def test_search_rejects_unknown_properties_and_operators_all_at_once(demo: Api) -> None:
    response = demo.post(
        "Package/Search",
        {
            "query": {
                "search": [
                    {"name": "colour", "operator": "eq", "value": 1},
                    {"name": "name", "operator": "like", "value": "x"},
                ]
            }
        },
    )
    assert demo.errors(response) == [
        (11900000, "'colour' is not a valid search property for 'Package'."),
        (11900000, "'like' is not a valid search operator."),
    ]


def test_extensions_sfdcid_is_searchable(api: Api) -> None:
    api.create("Account", {"name": "Acme", "currencyId": 1, "extensions": {"sfdcid": "001000000000001AAA"}})
    api.create("Account", {"name": "Globex", "currencyId": 1, "extensions": {"sfdcid": "001000000000002AAA"}})
    found = api.search(
        "Account", search=[{"name": "extensions.sfdcid", "operator": "eq", "value": "001000000000002AAA"}]
    )
    assert [a["name"] for a in found["items"]] == ["Globex"]
    assert found["items"][0]["extensions"] == {"sfdcid": "001000000000002AAA"}
    both = api.search(
        "Account",
        search=[
            {
                "name": "extensions.sfdcid",
                "operator": "in",
                "value": ["001000000000001AAA", "001000000000002AAA"],
            }
        ],
    )
    assert both["totalCount"] == 2


def test_write_envelope_echoes_names_and_put_updates_only_given_fields(demo: Api) -> None:
    response = demo.post("Package/Currency", {"packageId": 1, "currencyId": 2})
    assert demo.errors(response) == [
        (12100000, "A 'PackageCurrency' with 'PackageId' (1) and 'CurrencyId' (2) already exists."),
        (2000, "Errors found. Transaction rolled back."),
    ]
    created = demo.post("Package", {"name": "Starter", "expiry": "2030-01-01"}).json()
    assert created["type"] == "create"
    item = created["results"]["items"][0]
    assert (item["action"], item["dtoTypeKey"]) == ("created", "package")
    assert item["instance"]["expiry"] == "2030-01-01T00:00:00.000Z"
    updated = demo.put(f"Package/{item['identity']}", {"description": "Entry plan"}).json()
    assert updated["type"] == "update"
    instance = updated["results"]["items"][0]["instance"]
    assert (instance["name"], instance["description"]) == ("Starter", "Entry plan")


def test_patch_applies_child_arrays_in_one_transaction(demo: Api) -> None:
    detail = demo.get("Package/Service/PricePlan/1/Detail").json()["items"][0]
    active = next(r for r in detail["recurring"] if r["serviceStatusTypeId"] == 1)
    suspended = next(r for r in detail["recurring"] if r["serviceStatusTypeId"] == 2)
    body = {
        "recurring": [
            {"identity": active["identity"], "amount": 16.5},
            {"identity": suspended["identity"], "action": "delete"},
            {"serviceStatusTypeId": 4, "amount": 0},
        ],
        "oneTime": [{"serviceStatusTransitionId": 7, "amount": 5}],
    }
    result = demo.patch("Package/Service/PricePlan/1", body).json()
    assert result["type"] == "patch"
    actions = [(i["dtoTypeKey"], i["action"]) for i in result["results"]["items"]]
    assert actions == [
        ("packageServicePricePlan", "updated"),
        ("packageServicePricePlanRecurring", "updated"),
        ("packageServicePricePlanRecurring", "deleted"),
        ("packageServicePricePlanRecurring", "created"),
        ("packageServicePricePlanOneTime", "created"),
    ]
    after = demo.get("Package/Service/PricePlan/1/Detail").json()["items"][0]
    assert sorted((r["serviceStatusTypeName"], r["amount"]) for r in after["recurring"]) == [
        ("Active", 16.5),
        ("Trial", 0.0),
    ]
    bad = demo.patch(
        "Package/Service/PricePlan/1", {"recurring": [{"identity": 9999, "amount": 1}, {"amount": 1}]}
    )
    assert demo.errors(bad) == [
        (
            13100000,
            "'Identity' (9999) does not exist in 'PackageServicePricePlanRecurring' for "
            "'PackageServicePricePlan'.",
        ),
        (11900000, "'ServiceStatusTypeId' is required when adding a 'PackageServicePricePlanRecurring'."),
        (2000, "Errors found. Transaction rolled back."),
    ]
    assert (
        demo.get("Package/Service/PricePlan/1/Detail").json()["items"][0]["recurring"] == after["recurring"]
    )


def test_delete_returns_every_cascaded_object(demo: Api) -> None:
    result = demo.delete("Package/1").json()
    assert result["type"] == "delete"
    keys = {i["dtoTypeKey"] for i in result["results"]["items"]}
    assert keys == {
        "package",
        "packageCurrency",
        "packageFrequency",
        "packageService",
        "packageFrequencyPackageCurrency",
        "packageServicePricePlan",
        "packageServicePricePlanRecurring",
        "packageServicePricePlanOneTime",
    }
    assert all(i["action"] == "deleted" for i in result["results"]["items"])
    remaining = demo.search(
        "Package/Service/PricePlan/Recurring",
        search=[{"name": "packageServicePricePlanId", "operator": "in", "value": list(range(1, 49))}],
    )
    assert remaining["totalCount"] == 0
    assert demo.get("Package/1").status_code == 404


def test_injected_fault_is_rendered_as_a_logisense_error_with_retry_after(api: Api) -> None:
    api.sandbox.faults(
        {"method": "GET", "path": "Currency", "status": 503, "retry_after": 3, "message": "busy"}
    )
    response = api.get("Currency")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"
    assert api.errors(response, 503) == [(503, "busy")]
    assert api.get("Currency").status_code == 200


def test_in_accepts_more_values_than_sqlite_bind_variables(demo: Api) -> None:
    wanted = list(range(1, 40001))
    body = demo.search(
        "Package/Service/PricePlan/Recurring",
        search=[{"name": "identity", "operator": "in", "value": wanted}],
        pagination={"pageNumber": 1, "pageSize": 10000},
    )
    assert body["pagedResults"]["totalCount"] == 1728
    none = demo.search("Currency", search=[{"name": "identity", "operator": "notIn", "value": wanted}])
    assert none["totalCount"] == 0


def test_name_echoes_follow_a_renamed_service_and_price_book(demo: Api) -> None:
    demo.patch("Service/1", {"name": "Mobile Line 5G"})
    demo.patch("PriceBook/1", {"name": "List"})
    plan = demo.get("Package/Service/PricePlan/1").json()["items"][0]
    assert (plan["packageServiceName"], plan["priceBookName"]) == ("Mobile Line 5G", "List")
    assert demo.get("Package/Frequency/Currency/1").json()["items"][0]["priceBookName"] == "List"
    row = demo.get("Package/Service/PricePlan/Recurring/1").json()["items"][0]
    assert row["packageServicePricePlanName"] == "Mobile Line 5G"


def test_a_dropped_connection_fault_closes_the_connection_once(api: Api) -> None:
    api.sandbox.faults({"method": "POST", "path": "Currency/Search", "drop_connection": True, "count": 1})
    with pytest.raises(requests.ConnectionError):
        api.post("Currency/Search", {"query": {}})
    assert api.post("Currency/Search", {"query": {}}).status_code == 200
