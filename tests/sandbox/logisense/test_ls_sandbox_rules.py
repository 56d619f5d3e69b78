"""LogiSense sandbox: every business rule answers with LogiSense's error envelope, code and message."""

from __future__ import annotations

from typing import Any

from tests.sandbox.logisense.ls_api import Api

ROLLED_BACK = (2000, "Errors found. Transaction rolled back.")
USD, EUR = 1, 2


def _account(api: Api, name: str, currency: int | None = USD, **fields: Any) -> dict[str, Any]:
    return api.create("Account", {"name": name, "currencyId": currency, **fields})


def test_required_fields_and_missing_references_are_reported_together(api: Api) -> None:
    response = api.post("Account", {"currencyId": 99, "accountTypeId": 77})
    assert api.errors(response) == [
        (11900000, "'Name' is required when adding a 'Account'."),
        (13100000, "'CurrencyId' (99) does not exist in 'Currency' for 'Account'."),
        (13100000, "'AccountTypeId' (77) does not exist in 'AccountType' for 'Account'."),
        ROLLED_BACK,
    ]
    assert api.get("Account").json()["totalCount"] == 0


def test_price_rows_must_reference_an_existing_price_plan(demo: Api) -> None:
    response = demo.post(
        "Package/Service/PricePlan/Recurring",
        {"packageServicePricePlanId": 123456, "serviceStatusTypeId": 1, "amount": 5},
    )
    assert demo.errors(response) == [
        (
            13100000,
            "'PackageServicePricePlanId' (123456) does not exist in 'PackageServicePricePlan' for "
            "'PackageServicePricePlanRecurring'.",
        ),
        ROLLED_BACK,
    ]
    one_time = demo.post(
        "Package/Service/PricePlan/OneTime",
        {"packageServicePricePlanId": 1, "serviceStatusTransitionId": 99, "amount": 5},
    )
    assert demo.errors(one_time)[0] == (
        13100000,
        "'ServiceStatusTransitionId' (99) does not exist in 'ServiceStatusTransition' for "
        "'PackageServicePricePlanOneTime'.",
    )


def test_money_must_be_a_json_number_and_is_rounded_to_four_places(demo: Api) -> None:
    bad = demo.post(
        "Package/Service/PricePlan/Recurring",
        '{"packageServicePricePlanId": 1, "serviceStatusTypeId": 4, "amount": "12.50"}',
    )
    assert demo.errors(bad)[0] == (
        11900000,
        "'Amount' MUST be a number when adding or updating a 'PackageServicePricePlanRecurring'.",
    )
    nan = demo.post(
        "Package/Service/PricePlan/Recurring",
        '{"packageServicePricePlanId": 1, "serviceStatusTypeId": 4, "amount": NaN}',
    )
    assert demo.errors(nan)[0][0] == 1000
    row = demo.create(
        "Package/Service/PricePlan/Recurring",
        {"packageServicePricePlanId": 1, "serviceStatusTypeId": 4, "amount": 12.345678},
    )
    assert row["amount"] == 12.3457
    discount = demo.create(
        "Package/Service/PricePlan/OneTime",
        {"packageServicePricePlanId": 1, "serviceStatusTransitionId": 7, "amount": -5},
    )
    assert discount["amount"] == -5


def test_usage_rates_are_never_negative_and_use_the_plan_precision(demo: Api) -> None:
    negative = demo.post("Usage/Rate", {"usageRateGroupId": 1, "usageClassId": 1, "amount": -0.01})
    assert demo.errors(negative) == [
        (11900000, "'Amount' MUST be greater than or equal to '0' when adding or updating a 'UsageRate'."),
        ROLLED_BACK,
    ]
    demo.patch("Usage/Rate/Plan/1", {"amountPrecision": 2})
    rate = demo.create("Usage/Rate", {"usageRateGroupId": 1, "usageClassId": 5, "amount": 0.0151})
    assert rate["amount"] == 0.02


def test_duplicate_sku_is_rejected(demo: Api) -> None:
    response = demo.post(
        "Package/Frequency",
        {"packageId": 1, "name": "Again", "frequency": 1, "frequencyTypeId": 3, "sku": "mob-ess-m"},
    )
    assert demo.errors(response) == [
        (12100000, "'Sku' (mob-ess-m) already exists in 'PackageFrequency'."),
        ROLLED_BACK,
    ]


def test_account_currency_cannot_change_once_set(api: Api) -> None:
    api.create("Currency", {"name": "Euro", "code": "EUR"})
    account = _account(api, "Acme")
    response = api.patch(f"Account/{account['identity']}", {"currencyId": EUR})
    assert api.errors(response) == [
        (14100001, f"'CurrencyId' cannot be changed once it is set on 'Account' ({account['identity']})."),
        ROLLED_BACK,
    ]
    unset = _account(api, "Later", None)
    assert api.patch(f"Account/{unset['identity']}", {"currencyId": EUR}).status_code == 200


def test_parent_and_child_share_a_currency(api: Api) -> None:
    api.create("Currency", {"name": "Euro", "code": "EUR"})
    parent = _account(api, "Parent")
    child = _account(api, "Child", EUR)
    response = api.post(
        "Account/Parent", {"accountId": child["identity"], "parentAccountId": parent["identity"]}
    )
    assert api.errors(response) == [
        (
            14100003,
            f"'Account' ({child['identity']}) currency 'EUR' does not match the parent 'Account' "
            f"({parent['identity']}) "
            "currency 'USD' for 'AccountParent'.",
        ),
        ROLLED_BACK,
    ]


def test_reparenting_stays_within_the_hierarchy_and_cycles_are_rejected(api: Api) -> None:
    top = _account(api, "Top")
    a = _account(api, "A", parentAccountId=top["identity"])
    b = _account(api, "B", parentAccountId=top["identity"])
    other = _account(api, "Other top")
    assert a["topAccountId"] == top["identity"]
    link = api.search(
        "Account/Parent", search=[{"name": "accountId", "operator": "eq", "value": b["identity"]}]
    )["items"][0]
    assert (link["parentAccountId"], link["topAccountId"]) == (top["identity"], top["identity"])
    moved = api.put(f"Account/Parent/{link['identity']}", {"parentAccountId": a["identity"]})
    assert moved.status_code == 200, moved.text
    outside = api.put(f"Account/Parent/{link['identity']}", {"parentAccountId": other["identity"]})
    assert api.errors(outside) == [
        (
            14100004,
            f"'ParentAccountId' ({other['identity']}) is not in the same account hierarchy as "
            f"'Account' ({b['identity']}) "
            f"(top 'Account' ({top['identity']})) for 'AccountParent'.",
        ),
        ROLLED_BACK,
    ]
    cycle = api.patch(f"Account/{a['identity']}", {"parentAccountId": b["identity"]})
    assert api.errors(cycle) == [
        (
            14100005,
            f"'ParentAccountId' ({b['identity']}) would create a cycle in the account hierarchy of "
            f"'Account' ({a['identity']}) for 'Account'.",
        ),
        ROLLED_BACK,
    ]


def test_invoicers_and_tax_account_must_be_within_the_hierarchy(api: Api) -> None:
    top = _account(api, "Top")
    child = _account(api, "Child", parentAccountId=top["identity"])
    stranger = _account(api, "Stranger")
    response = api.patch(
        f"Account/{child['identity']}",
        {
            "invoicerAccountId": stranger["identity"],
            "usageInvoicerAccountId": stranger["identity"],
            "taxAccountId": stranger["identity"],
        },
    )
    name = f"'Account' ({child['identity']})"
    assert api.errors(response) == [
        (
            14100006,
            f"'InvoicerAccountId' ({stranger['identity']}) is not in the account hierarchy of {name}.",
        ),
        (
            14100006,
            f"'UsageInvoicerAccountId' ({stranger['identity']}) is not in the account hierarchy of {name}.",
        ),
        (14100006, f"'TaxAccountId' ({stranger['identity']}) is not in the account hierarchy of {name}."),
        ROLLED_BACK,
    ]
    ok = api.patch(f"Account/{child['identity']}", {"usageInvoicerAccountId": child["identity"]})
    assert ok.status_code == 200, ok.text


def test_children_inherit_invoicer_and_tax_settings_when_not_set(api: Api) -> None:
    top = _account(api, "Top")
    mid = _account(api, "Mid", parentAccountId=top["identity"])
    api.patch(f"Account/{mid['identity']}", {"invoicerAccountId": mid["identity"]})
    leaf = _account(api, "Leaf", parentAccountId=mid["identity"])
    assert (leaf["invoicerAccountId"], leaf["usageInvoicerAccountId"], leaf["taxAccountId"]) == (
        mid["identity"],
        mid["identity"],
        top["identity"],
    )
    assert leaf["invoicerAccountName"] == "Mid"
    assert (top["invoicerAccountId"], top["taxAccountId"]) == (top["identity"], top["identity"])
    api.patch(f"Account/{mid['identity']}", {"invoicerAccountId": None})
    leaf_after = api.get(f"Account/{leaf['identity']}").json()["items"][0]
    assert leaf_after["invoicerAccountId"] == top["identity"]


def test_account_package_currency_must_equal_the_account_currency(demo: Api) -> None:
    usd = _account(demo, "US customer")
    eur_package_currency = demo.search(
        "Package/Currency",
        search=[
            {"name": "packageId", "operator": "eq", "value": 1},
            {"name": "currencyId", "operator": "eq", "value": EUR},
        ],
    )["items"][0]
    response = demo.post(
        "Account/Package",
        {
            "accountId": usd["identity"],
            "packageFrequencyId": 1,
            "packageCurrencyId": eur_package_currency["identity"],
        },
    )
    assert demo.errors(response) == [
        (
            14100002,
            f"'PackageCurrencyId' ({eur_package_currency['identity']}) currency 'EUR' does not match the "
            f"'Account' ({usd['identity']}) currency 'USD' for 'AccountPackage'.",
        ),
        ROLLED_BACK,
    ]
    sold = demo.create("Account/Package", {"accountId": usd["identity"], "packageFrequencyId": 1})
    assert sold["packageCurrencyName"] == "USD"
    eur = _account(demo, "EU customer", EUR)
    north_america_only = demo.search(
        "Package", search=[{"name": "name", "operator": "eq", "value": "Managed Wi-Fi Site"}]
    )["items"][0]
    frequency = demo.search(
        "Package/Frequency",
        search=[{"name": "packageId", "operator": "eq", "value": north_america_only["identity"]}],
    )["items"][0]
    not_sold = demo.post(
        "Account/Package", {"accountId": eur["identity"], "packageFrequencyId": frequency["identity"]}
    )
    assert demo.errors(not_sold)[0] == (
        14100002,
        f"'Package' ({north_america_only['identity']}) is not sold in the 'Account' "
        f"({eur['identity']}) currency 'EUR' for 'AccountPackage'.",
    )


def test_expired_packages_and_inactive_frequencies_cannot_be_sold(demo: Api) -> None:
    account = _account(demo, "Buyer")
    legacy = demo.search(
        "Package/Frequency", search=[{"name": "sku", "operator": "eq", "value": "DSL-20-M"}]
    )["items"][0]
    response = demo.post(
        "Account/Package",
        {
            "accountId": account["identity"],
            "packageFrequencyId": legacy["identity"],
            "effective": "2026-01-15",
        },
    )
    assert demo.errors(response) == [
        (
            14100009,
            f"'Package' ({legacy['packageId']}) is not available for purchase on 2026-01-15 for "
            "'AccountPackage'.",
        ),
        ROLLED_BACK,
    ]
    inactive = demo.search(
        "Package/Frequency", search=[{"name": "sku", "operator": "eq", "value": "FIB-100-A"}]
    )["items"][0]
    response = demo.post(
        "Account/Package", {"accountId": account["identity"], "packageFrequencyId": inactive["identity"]}
    )
    assert demo.errors(response)[0] == (
        14100009,
        f"'PackageFrequency' ({inactive['identity']}) is not active for 'AccountPackage'.",
    )


def test_account_services_belong_to_the_account_package(demo: Api) -> None:
    account = _account(demo, "Buyer")
    ap = demo.create(
        "Account/Package",
        {
            "accountId": account["identity"],
            "packageFrequencyId": 1,
            "accountService": [{"serviceId": 1, "amount": 3}],
        },
    )
    services = demo.search(
        "Account/Service", search=[{"name": "accountPackageId", "operator": "eq", "value": ap["identity"]}]
    )["items"]
    assert [
        (s["serviceName"], s["amount"], s["accountId"], s["serviceStatusTypeName"]) for s in services
    ] == [("Mobile Line", 3, account["identity"], "Active")]
    fibre = demo.search("Service", search=[{"name": "name", "operator": "eq", "value": "Fibre Access 100"}])[
        "items"
    ][0]
    response = demo.post(
        "Account/Service", {"accountPackageId": ap["identity"], "serviceId": fibre["identity"]}
    )
    assert demo.errors(response) == [
        (14100010, f"'ServiceId' ({fibre['identity']}) is not part of 'Package' (1) for 'AccountService'."),
        ROLLED_BACK,
    ]


def test_account_price_plan_rows_use_the_account_currency(demo: Api) -> None:
    account = _account(demo, "Negotiator")
    plan = demo.create(
        "Account/PricePlan", {"accountId": account["identity"], "name": "2026 deal", "start": "2026-01-01"}
    )
    eur_plan_row = demo.search(
        "Package/Service/PricePlan", search=[{"name": "packageCurrencyId", "operator": "eq", "value": 2}]
    )["items"][0]
    response = demo.patch(
        f"Account/PricePlan/{plan['identity']}",
        {
            "packageServicePricePlan": [
                {
                    "packageServiceId": 1,
                    "packageFrequencyId": 1,
                    "packageCurrencyId": 2,
                    "recurring": [{"serviceStatusTypeId": 1, "amount": 9}],
                }
            ]
        },
    )
    assert eur_plan_row["packageCurrencyName"] == "EUR"
    assert demo.errors(response) == [
        (
            14100007,
            "'PackageCurrencyId' (2) currency 'EUR' does not match the 'Account' "
            f"({account['identity']}) currency 'USD' for 'PackageServicePricePlan'.",
        ),
        ROLLED_BACK,
    ]
    ok = demo.patch(
        f"Account/PricePlan/{plan['identity']}",
        {
            "packageServicePricePlan": [
                {
                    "packageServiceId": 1,
                    "packageFrequencyId": 1,
                    "packageCurrencyId": 1,
                    "recurring": [{"serviceStatusTypeId": 1, "amount": 9}],
                }
            ]
        },
    )
    assert ok.status_code == 200, ok.text
    detail = demo.get(f"Account/PricePlan/{plan['identity']}/Detail").json()["items"][0]
    override = detail["packageServicePricePlan"][0]
    assert (override["priceBookId"], override["accountPricePlanName"]) == (None, "2026 deal")
    assert [r["amount"] for r in override["recurring"]] == [9]


def test_price_plan_constraints(demo: Api) -> None:
    both = demo.post(
        "Package/Service/PricePlan",
        {
            "packageServiceId": 1,
            "packageFrequencyId": 1,
            "packageCurrencyId": 1,
            "priceBookId": 1,
            "accountPricePlanId": 1,
        },
    )
    assert demo.errors(both)[0] == (
        13100000,
        "'AccountPricePlanId' (1) does not exist in 'AccountPricePlan' for 'PackageServicePricePlan'.",
    )
    account = _account(demo, "Deal")
    plan = demo.create("Account/PricePlan", {"accountId": account["identity"], "name": "Deal"})
    both = demo.post(
        "Package/Service/PricePlan",
        {
            "packageServiceId": 1,
            "packageFrequencyId": 1,
            "packageCurrencyId": 1,
            "priceBookId": 1,
            "accountPricePlanId": plan["identity"],
        },
    )
    assert demo.errors(both)[0] == (
        10400000,
        "'PriceBookId' validation requires the additional constraint property value "
        "'AccountPricePlanId' to be empty.",
    )
    other_package = demo.post(
        "Package/Service/PricePlan", {"packageServiceId": 1, "packageFrequencyId": 3, "packageCurrencyId": 1}
    )
    assert demo.errors(other_package)[0] == (
        14100008,
        "'PackageFrequencyId' (3) does not belong to 'Package' (1) for 'PackageServicePricePlan'.",
    )
    emea_usd = demo.post(
        "Package/Service/PricePlan",
        {"packageServiceId": 1, "packageFrequencyId": 1, "packageCurrencyId": 1, "priceBookId": 2},
    )
    assert demo.errors(emea_usd)[0] == (
        14100008,
        "'PackageFrequencyPackageCurrency' for 'PackageFrequencyId' (1), 'PackageCurrencyId' (1) and "
        "'PriceBookId' (2) "
        "does not exist for 'PackageServicePricePlan'.",
    )


def test_in_use_objects_and_the_standard_price_book_cannot_be_deleted(demo: Api) -> None:
    assert demo.errors(demo.delete("PriceBook/2")) == [
        (
            14100011,
            "'PriceBook' (2) cannot be deleted because it is used by 'PackageFrequencyPackageCurrency'.",
        ),
        (14100011, "'PriceBook' (2) cannot be deleted because it is used by 'PackageServicePricePlan'."),
        ROLLED_BACK,
    ]
    assert demo.errors(demo.delete("PriceBook/1"))[0] == (
        14100012,
        "Only one 'PriceBook' can be the standard price book.",
    )
    assert demo.errors(demo.post("PriceBook", {"name": "Second", "isStandard": True}))[0] == (
        14100012,
        "Only one 'PriceBook' can be the standard price book.",
    )
    parent = _account(demo, "Parent")
    _account(demo, "Child", parentAccountId=parent["identity"])
    assert demo.errors(demo.delete(f"Account/{parent['identity']}"))[0][0] == 14100011


def test_contacts_carry_points_and_email_points_must_look_like_email(api: Api) -> None:
    account = _account(api, "Acme")
    response = api.post(
        "Contact",
        {
            "accountId": account["identity"],
            "contactTypeId": 1,
            "firstName": "Ada",
            "lastName": "Lovelace",
            "extensions": {"sfdcid": "003000000000001AAA"},
            "contactPoint": [
                {"contactPointTypeId": 1, "value": "ada@example.com"},
                {"contactPointTypeId": 2, "value": "+1 555 0100"},
            ],
        },
    )
    items = response.json()["results"]["items"]
    assert [(i["dtoTypeKey"], i["action"]) for i in items] == [
        ("contact", "created"),
        ("contactPoint", "created"),
        ("contactPoint", "created"),
    ]
    assert items[0]["instance"]["name"] == "Ada Lovelace"
    assert items[1]["instance"]["contactName"] == "Ada Lovelace"
    bad = api.post(
        "Contact/Point", {"contactId": items[0]["identity"], "contactPointTypeId": 1, "value": "not-an-email"}
    )
    assert api.errors(bad) == [
        (11900000, "'Value' MUST be a valid email address when adding or updating a 'ContactPoint'."),
        ROLLED_BACK,
    ]


def test_detaching_an_account_makes_it_a_hierarchy_of_its_own(api: Api) -> None:
    top = _account(api, "Top")
    child = _account(api, "Child", parentAccountId=top["identity"])
    grandchild = _account(api, "Grandchild", parentAccountId=child["identity"])
    link = api.search(
        "Account/Parent", search=[{"name": "accountId", "operator": "eq", "value": child["identity"]}]
    )
    deleted = api.delete(f"Account/Parent/{link['items'][0]['identity']}").json()
    assert [(i["dtoTypeKey"], i["action"]) for i in deleted["results"]["items"]] == [
        ("accountParent", "deleted")
    ]
    after = api.get(f"Account/{grandchild['identity']}").json()["items"][0]
    assert (after["topAccountId"], after["invoicerAccountId"], after["taxAccountId"]) == (
        child["identity"],
        child["identity"],
        child["identity"],
    )
    assert api.get(f"Account/{child['identity']}").json()["items"][0]["parentAccountId"] is None
    other = _account(api, "Other")
    joined = api.patch(f"Account/{child['identity']}", {"parentAccountId": other["identity"]})
    assert joined.status_code == 200, joined.text
    moved = api.get(f"Account/{grandchild['identity']}").json()["items"][0]
    assert moved["topAccountId"] == other["identity"]
