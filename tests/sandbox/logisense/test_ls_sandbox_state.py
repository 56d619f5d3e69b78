"""LogiSense sandbox: state survives a restart, a catalogue can be built through the API alone, and the
generator is deterministic and sized as documented."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from logisense_sync.sandbox.common.server import serve_in_thread
from logisense_sync.sandbox.logisense.app import create_app

from tests.sandbox.logisense.ls_api import API, Api


def test_state_survives_a_restart(tmp_path: Path, sandbox_tls: Any) -> None:
    class _Sandbox:
        def __init__(self, url: str) -> None:
            self.url = url
            self.session = requests.Session()

    handle = serve_in_thread(create_app(tmp_path), sandbox_tls)
    try:
        api = Api(_Sandbox(handle.url))
        account = api.create(
            "Account", {"name": "Persistent", "currencyId": 1, "extensions": {"sfdcid": "001A"}}
        )
    finally:
        handle.stop()
    handle = serve_in_thread(create_app(tmp_path, seed="empty"), sandbox_tls)
    try:
        api = Api(_Sandbox(handle.url))
        again = api.get(f"Account/{account['identity']}").json()["items"][0]
        assert (again["name"], again["extensions"]) == ("Persistent", {"sfdcid": "001A"})
    finally:
        handle.stop()


def test_a_catalogue_can_be_seeded_through_the_api_alone(api: Api) -> None:
    eur = api.create("Currency", {"name": "Euro", "code": "eur", "symbol": "€"})
    assert eur["code"] == "EUR"
    emea = api.create("PriceBook", {"name": "EMEA", "priceBookRegionId": 2})
    service = api.create("Service", {"name": "Voice Line"})
    plan = api.post(
        "Usage/Rate/Plan",
        {
            "name": "Voice",
            "usageRateGroup": [
                {
                    "name": "Voice EUR",
                    "currencyId": eur["identity"],
                    "usageRate": [{"usageClassId": 1, "amount": 0.04}],
                }
            ],
        },
    ).json()["results"]["items"]
    assert [i["dtoTypeKey"] for i in plan] == ["usageRatePlan", "usageRateGroup", "usageRate"]
    package = api.post(
        "Package",
        {
            "name": "Voice Basic",
            "packageCurrency": [{"currencyId": eur["identity"]}],
            "packageFrequency": [
                {"name": "Voice Basic - Monthly", "frequency": 1, "frequencyTypeId": 3, "sku": "VB-M"}
            ],
            "packageService": [{"serviceId": service["identity"], "defaultInstances": 1}],
        },
    ).json()["results"]["items"]
    ids = {i["dtoTypeKey"]: i["identity"] for i in package}
    link = api.create(
        "Package/Frequency/Currency",
        {
            "packageFrequencyId": ids["packageFrequency"],
            "packageCurrencyId": ids["packageCurrency"],
            "priceBookId": emea["identity"],
        },
    )
    assert link["priceBookName"] == "EMEA"
    priced = api.create(
        "Package/Service/PricePlan",
        {
            "packageServiceId": ids["packageService"],
            "packageFrequencyId": ids["packageFrequency"],
            "packageCurrencyId": ids["packageCurrency"],
            "priceBookId": emea["identity"],
            "usageRatePlanId": plan[0]["identity"],
        },
    )
    api.patch(
        f"Package/Service/PricePlan/{priced['identity']}",
        {
            "recurring": [{"serviceStatusTypeId": 1, "amount": 12}, {"serviceStatusTypeId": 2, "amount": 3}],
            "oneTime": [{"serviceStatusTransitionId": 1, "amount": 25}],
        },
    )
    rows = api.search(
        "Package/Service/PricePlan/Recurring",
        search=[{"name": "packageServicePricePlanId", "operator": "eq", "value": priced["identity"]}],
    )
    assert sorted((r["serviceStatusTypeName"], r["amount"]) for r in rows["items"]) == [
        ("Active", 12),
        ("Suspended", 3),
    ]
    account = api.create("Account", {"name": "Kunde GmbH", "currencyId": eur["identity"]})
    sold = api.create(
        "Account/Package", {"accountId": account["identity"], "packageFrequencyId": ids["packageFrequency"]}
    )
    assert (sold["packageCurrencyName"], sold["name"]) == ("EUR", "Voice Basic - Monthly")


def _digest(snapshot: dict[str, list[dict[str, Any]]]) -> str:
    stable = {
        k: [{f: v for f, v in row.items() if f not in ("created", "updated")} for row in rows]
        for k, rows in snapshot.items()
    }
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()


def test_the_generator_is_deterministic_and_sized_by_packages(logisense_sandbox: Any) -> None:
    first = logisense_sandbox.seed("generated", packages=44, seed=7)
    digest = _digest(logisense_sandbox.snapshot())
    again = logisense_sandbox.seed("generated", packages=44, seed=7)
    assert _digest(logisense_sandbox.snapshot()) == digest
    assert first["counts"] == again["counts"]
    counts = first["counts"]
    assert counts["Package"] == 44
    assert counts["Package/Frequency"] == 88
    assert len({f["sku"] for f in logisense_sandbox.snapshot()["Package/Frequency"]}) == 88
    # the templates repeat every 22 packages, so 44 packages are twice the demo's rows
    demo = logisense_sandbox.seed("demo")["counts"]
    for route in (
        "Package/Service/PricePlan",
        "Package/Service/PricePlan/Recurring",
        "Package/Service/PricePlan/OneTime",
    ):
        assert counts[route] == 2 * demo[route]
    other = logisense_sandbox.seed("generated", packages=44, seed=8)
    assert other["counts"] == counts
    assert _digest(logisense_sandbox.snapshot()) != digest


@pytest.mark.parametrize("spec", [{"profile": "generated", "packages": 0}, {"profile": "nope"}])
def test_bad_seed_specs_are_refused(logisense_sandbox: Any, spec: dict[str, Any]) -> None:
    response = logisense_sandbox.session.post(f"{logisense_sandbox.control_url}/seed", json=spec, timeout=30)
    assert response.status_code >= 400


def test_recorded_requests_count_calls_by_route(api: Api) -> None:
    api.sandbox.clear_requests()
    api.get("Currency/1")
    api.get("Currency/1")
    recorded = api.sandbox.requests()
    assert recorded["by_route"] == {f"GET {API}Currency/{{id}}": 2}


def test_starting_with_the_demo_seed_keeps_existing_state(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    first = create_app(tmp_path, seed="demo")
    with TestClient(first) as client:
        assert len(client.get("/__sandbox__/snapshot").json()["Package"]) == 22
        client.post("/__sandbox__/seed", json={"profile": "generated", "packages": 3})
    again = create_app(tmp_path, seed="demo")
    with TestClient(again) as client:
        assert len(client.get("/__sandbox__/snapshot").json()["Package"]) == 3
