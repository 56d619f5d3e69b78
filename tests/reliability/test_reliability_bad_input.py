"""Bad and hostile input, both directions: each case gets a clear error naming the record and the rule
(in the request's ``Message__c`` or the catalogue run report) and nothing else changes.

"Nothing else changes" is checked on full sandbox snapshots taken before and after the run: for a deal,
everything but the request record itself and the opportunity's sync status; for the catalogue, everything
but the records of the product and currency the bad source record belongs to, compared with a clean run.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from tests.opportunity.world import World
from tests.reliability.conftest import CATALOG_DAG, OPPORTUNITY_DAG, SMALL_CATALOGUE, DagResult
from tests.reliability.reliability_helpers import diff, normalise_logisense, normalise_salesforce

# ------------------------------------------------------------------------------------------ run conf

BAD_CONF: list[tuple[str, str, dict[str, Any]]] = [
    ("request ids given as one string", OPPORTUNITY_DAG, {"request_ids": "a0X8c000000001AAAA"}),
    ("a 15-character request id", OPPORTUNITY_DAG, {"request_ids": ["a0X8c000000001A"]}),
    ("a 19-character request id", OPPORTUNITY_DAG, {"request_ids": ["a0X8c000000001AAAAB"]}),
    ("a SOQL injection as a request id", OPPORTUNITY_DAG, {"request_ids": ["x' OR Name != '"]}),
    ("an 18-character SOQL injection", OPPORTUNITY_DAG, {"request_ids": ["a0X' OR Id != '1'"]}),
    ("a non-ASCII request id", OPPORTUNITY_DAG, {"request_ids": ["a0X8c000000001AAAé"]}),
    ("a number as a request id", OPPORTUNITY_DAG, {"request_ids": [123456789012345678]}),
    ("a request id listed twice", OPPORTUNITY_DAG, {"request_ids": ["a0X8c000000001AAAA"] * 2}),
    ("dry_run as a string", OPPORTUNITY_DAG, {"dry_run": "false"}),
    ("request ids as null", OPPORTUNITY_DAG, {"request_ids": None}),
    ("price book ids as a word", CATALOG_DAG, {"price_book_ids": "all"}),
    ("price book id zero", CATALOG_DAG, {"price_book_ids": [0]}),
    ("a negative price book id", CATALOG_DAG, {"price_book_ids": [-2]}),
    ("a price book id as text", CATALOG_DAG, {"price_book_ids": ["2"]}),
    ("a fractional price book id", CATALOG_DAG, {"price_book_ids": [1.5]}),
    ("full_refresh as a string", CATALOG_DAG, {"full_refresh": "yes"}),
    ("dry_run as a number", CATALOG_DAG, {"dry_run": 1}),
]


@pytest.mark.parametrize(
    ("dag_id", "conf"), [(d, c) for _, d, c in BAD_CONF], ids=[n for n, _, _ in BAD_CONF]
)
def test_a_run_with_malformed_conf_is_refused_before_either_sandbox_is_called(
    sandboxes: tuple[Any, Any], dagbag: Any, dag_id: str, conf: dict[str, Any]
) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    sf, ls = sandboxes
    sf.clear_requests()
    ls.clear_requests()

    with pytest.raises(ParamValidationError, match=next(iter(conf))):
        dagbag.dags[dag_id].test(run_conf=conf)

    assert (sf.requests()["total"], ls.requests()["total"]) == (0, 0)


@pytest.mark.parametrize(
    ("dag_id", "conf"),
    [(OPPORTUNITY_DAG, {"request_ids": [], "dryrun": True}), (CATALOG_DAG, {"dry-run": True})],
    ids=["a misspelt dry_run on the opportunity sync", "a misspelt dry_run on the catalogue sync"],
)
def test_an_unknown_conf_key_fails_the_run_before_either_sandbox_is_called(
    sandboxes: tuple[Any, Any], dagbag: Any, dag_id: str, conf: dict[str, Any]
) -> None:
    sf, ls = sandboxes
    sf.clear_requests()
    ls.clear_requests()

    dag_run = dagbag.dags[dag_id].test(run_conf=conf)

    assert str(dag_run.state) == "failed"
    assert (sf.requests()["total"], ls.requests()["total"]) == (0, 0)


# ---------------------------------------------------------------------------- Salesforce → LogiSense


def _sf_state(sf: Any, request_id: str | None = None) -> list[list[str]]:
    """The Salesforce snapshot minus the request record and the opportunities' sync status."""
    snap = sf.snapshot()
    records = snap["records"]
    records.pop("LogiSense_Request__c", None)
    for opp in records.get("Opportunity", []):
        opp.pop("LogiSense_Sync_Status__c", None)
    return normalise_salesforce(snap)


def _request(w: World, opp: str) -> str:
    return w.request(opportunity=opp)


def _not_won(w: World) -> tuple[str, str]:
    opp = w.opportunity(w.account("Acme"), name="Lost Deal", stage="Closed Lost")[0]
    return _request(w, opp), "not won"


def _unknown_type(w: World) -> tuple[str, str]:
    opp = w.opportunity(w.account("Acme"), type_="Barter")[0]
    return _request(w, opp), "Opportunity Type 'Barter' has no LogiSense process"


def _not_integrated_book(w: World) -> tuple[str, str]:
    assert w.catalogue is not None
    book = w.sf.Pricebook2.create({"Name": "Side Deals", "IsActive": True})["id"]
    entry = w.sf.PricebookEntry.create(
        {"Pricebook2Id": book, "Product2Id": w.catalogue.product_id, "UnitPrice": 90, "IsActive": True}
    )["id"]
    opp = w.sf.Opportunity.create(
        {"Name": "Side", "AccountId": w.account("Acme"), "StageName": "Closed Won", "CloseDate": "2026-12-01",
         "Type": "New Customer", "CurrencyIsoCode": "USD", "Pricebook2Id": book}
    )["id"]  # fmt: skip
    w.sf.OpportunityLineItem.create(
        {"OpportunityId": opp, "PricebookEntryId": entry, "Quantity": 1, "UnitPrice": 90}
    )
    return _request(w, opp), "Price book 'Side Deals' is not a LogiSense price book"


def _contact_without_type(w: World) -> tuple[str, str]:
    acc = w.account("Acme")
    w.contact(acc, "Typeless", contact_type=None)
    return _request(w, w.opportunity(acc)[0]), "Typeless"


def _contact_with_unknown_type(w: World) -> tuple[str, str]:
    acc = w.account("Acme")
    w.contact(acc, "Oracle", contact_type="Soothsayer")
    return _request(w, w.opportunity(acc)[0]), "Soothsayer"


def _currency_unknown_to_logisense(w: World) -> tuple[str, str]:
    assert w.catalogue is not None
    entry = w.sf.PricebookEntry.create(
        {"Pricebook2Id": w.catalogue.pricebook_id, "Product2Id": w.catalogue.product_id, "UnitPrice": 90,
         "IsActive": True, "CurrencyIsoCode": "CAD"}
    )["id"]  # fmt: skip
    w.catalogue.entries["CAD"] = entry
    opp = w.opportunity(w.account("Maple", currency="CAD"), currency="CAD")[0]
    return _request(w, opp), "CAD"


def _tax_account_outside(w: World) -> tuple[str, str]:
    top = w.account("Ouroboros Head")
    other = w.account("Ouroboros Elsewhere")
    tail = w.account("Ouroboros Tail", parent=top, Tax_Inheritance_Account__c=other)
    return _request(w, w.opportunity(tail)[0]), "Tax Inheritance Account 'Ouroboros Elsewhere'"


def _invoicer_outside(w: World) -> tuple[str, str]:
    stranger = w.account("Stranger' OR Name != '")
    return _request(w, w.opportunity(w.account("Acme", Subscription_Invoicer__c=stranger))[0]), "Stranger"


def _price_mismatch(w: World) -> tuple[str, str]:
    return _request(w, w.opportunity(w.account("Acme"), lines=[(1, float("1e9"))])[0]), "add up to 90.00"


def _negative_quantity_override(w: World) -> tuple[str, str]:
    opp, lines = w.opportunity(w.account("Acme"), lines=[(1, 90 - 3 * 30)])
    w.override(opp, lines[0], "Seat", quantity=-1)
    return _request(w, opp), "Seat"


def _account_request_for_a_deleted_account(w: World) -> tuple[str, str]:
    acc = w.account("Vanishing")
    request = w.request(account=acc)
    w.sf.Account.delete(acc)
    return request, "ccount"


DEALS: list[tuple[str, Callable[[World], tuple[str, str]]]] = [
    ("an opportunity that is not won", _not_won),
    ("an unknown opportunity Type", _unknown_type),
    ("a price book that is not integrated", _not_integrated_book),
    ("a synced contact without a contact type", _contact_without_type),
    ("a contact type LogiSense does not know", _contact_with_unknown_type),
    ("a currency LogiSense does not sell", _currency_unknown_to_logisense),
    ("a tax account outside the hierarchy", _tax_account_outside),
    ("an invoicer outside the hierarchy with a SOQL injection for a name", _invoicer_outside),
    ("a sales price of a billion", _price_mismatch),
    ("a negative service quantity", _negative_quantity_override),
    ("an account request whose account was deleted", _account_request_for_a_deleted_account),
]


@pytest.mark.parametrize("build", [b for _, b in DEALS], ids=[n for n, _ in DEALS])
def test_a_bad_deal_fails_naming_the_record_and_the_rule_and_changes_nothing_else(
    world: World, sandboxes: tuple[Any, Any], run_opportunity: Callable[..., DagResult],
    build: Callable[[World], tuple[str, str]],
) -> None:  # fmt: skip
    sf, ls = sandboxes
    request, expected = build(world)
    sf_before, ls_before = _sf_state(sf), normalise_logisense(ls.snapshot())

    run_opportunity(request_ids=[request])

    req = world.get("LogiSense_Request__c", request)
    assert req["Status__c"] == "Failed", req
    assert expected in req["Message__c"], req["Message__c"]
    assert req["Completed_At__c"]
    assert diff(ls_before, normalise_logisense(ls.snapshot())) == []
    assert diff(sf_before, _sf_state(sf)) == []


HOSTILE_NAMES = [
    ("a SOQL injection", "x' OR Name != '"),
    ("a backslash and quotes", 'O\\\'Brien "Ltd" \\'),
    ("Unicode from four scripts and an emoji", "Zürich Ünïcødé 株式会社 Ελλάδα 🚀"),
    ("the longest name Salesforce allows", "L" * 250 + " Long"),
]


@pytest.mark.parametrize("name", [n for _, n in HOSTILE_NAMES], ids=[i for i, _ in HOSTILE_NAMES])
def test_a_hostile_account_name_travels_verbatim_and_touches_nothing_else(
    world: World, sandboxes: tuple[Any, Any], run_opportunity: Callable[..., DagResult], name: str
) -> None:
    bystander = world.account("Bystander' OR Name = 'x")
    world.request(account=bystander)  # Waiting, not in this run: must stay untouched
    acc = world.account(name)
    request = world.request(opportunity=world.opportunity(acc, name=name[:120])[0])

    run_opportunity(request_ids=[request])

    req = world.get("LogiSense_Request__c", request)
    assert req["Status__c"] == "Completed", req["Message__c"]
    accounts = world.ls_objects("Account")
    assert [a["name"] for a in accounts] == [name]
    assert accounts[0]["extensions"]["sfdcid"] == acc
    assert world.get("Account", bystander)["LogiSense_Account_Id__c"] is None
    statuses = [
        r["Status__c"] for r in world.sf.query_all("SELECT Status__c FROM LogiSense_Request__c")["records"]
    ]
    assert sorted(statuses) == ["Completed", "Waiting"]


def test_an_account_hierarchy_cycle_cannot_even_be_stored_in_salesforce(world: World) -> None:
    # So the sync needs no cycle rule of its own: Salesforce refuses the ParentId that would close a loop.
    from simple_salesforce.exceptions import SalesforceMalformedRequest

    top = world.account("Ouroboros Head")
    tail = world.account("Ouroboros Tail", parent=top)

    with pytest.raises(SalesforceMalformedRequest, match="FIELD_INTEGRITY_EXCEPTION"):
        world.sf.Account.update(top, {"ParentId": tail})


def test_an_id_of_another_object_in_request_ids_is_noted_and_changes_nothing(
    world: World,
    sandboxes: tuple[Any, Any],
    run_opportunity: Callable[..., DagResult],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sf, ls = sandboxes
    acc = world.account("Not A Request")
    waiting = world.request(account=acc)
    before_sf, before_ls = normalise_salesforce(sf.snapshot()), normalise_logisense(ls.snapshot())

    result = run_opportunity(request_ids=[acc])

    assert result.state == "success", result.tasks
    assert result.report["claimed"] == 0
    assert f"{acc}: no such LogiSense_Request__c" in caplog.text  # the claim task's log names it
    assert diff(before_sf, normalise_salesforce(sf.snapshot())) == []
    assert diff(before_ls, normalise_logisense(ls.snapshot())) == []
    assert world.get("LogiSense_Request__c", waiting)["Status__c"] == "Waiting"


# ---------------------------------------------------------------------------- LogiSense → Salesforce

_CLEAN: dict[str, Any] = {}


def _key_parts(key: str) -> list[str]:
    return key.split(":")


def _affected(sf_key: str | None, skipped: list[dict[str, Any]]) -> bool:
    """Whether a Salesforce record belongs to the product/currency of a skipped source record."""
    if not sf_key:
        return False
    parts = _key_parts(sf_key)
    for finding in skipped:
        s = _key_parts(str(finding["key"]))
        if s[0] == "pf" and parts[0] in {"pf", "pbe", "psl"}:
            freq = parts[1] if parts[0] == "pf" else parts[2]
            if freq == s[1]:
                return True
        if s[0] == "pbe" and parts[0] in {"pbe", "psl"} and parts[2:4] == s[2:4]:
            return True
    return False


def _catalogue_state(sf: Any, skipped: list[dict[str, Any]]) -> list[list[str]]:
    snap = sf.snapshot()
    snap["records"] = {
        obj: [r for r in recs if not _affected(r.get("LogiSense_Id__c"), skipped)]
        for obj, recs in snap["records"].items()
    }
    return normalise_salesforce(snap)


class Ls:
    """Plain LogiSense API calls for mutating the catalogue."""

    def __init__(self, world: World) -> None:
        self.c = world.ls

    def all(self, route: str) -> list[dict[str, Any]]:
        return self.c.list_all(route)

    def patch(self, route: str, identity: int, body: dict[str, Any]) -> None:
        self.c.patch(route, identity, body)

    def create(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.c.create(route, body))

    def delete(self, route: str, identity: int) -> None:
        self.c.delete(route, identity)


def _sold_entry(ls: Ls, book: int = 2) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A package frequency/currency sold in ``book`` and its price plan rows there."""
    pfc = next(r for r in ls.all("Package/Frequency/Currency") if r["priceBookId"] == book)
    plans = [
        p for p in ls.all("Package/Service/PricePlan")
        if p["priceBookId"] == book and p["packageFrequencyId"] == pfc["packageFrequencyId"]
        and p["packageCurrencyId"] == pfc["packageCurrencyId"]
    ]  # fmt: skip
    return pfc, plans


def _negative_price(ls: Ls) -> str:
    _pfc, plans = _sold_entry(ls)
    row = next(r for r in ls.all("Package/Service/PricePlan/Recurring")
               if r["packageServicePricePlanId"] == plans[0]["identity"] and r["serviceStatusTypeId"] == 1)  # fmt: skip
    ls.patch("Package/Service/PricePlan/Recurring", row["identity"], {"amount": -1_000_000})
    return "negative price"


def _missing_price(ls: Ls) -> str:
    _pfc, plans = _sold_entry(ls)
    ls.delete("Package/Service/PricePlan", plans[0]["identity"])
    return "missing price for currency"


def _currency_unknown_to_salesforce(ls: Ls) -> str:
    jpy = ls.create("Currency", {"name": "Yen", "code": "JPY", "symbol": "¥"})["identity"]
    pfc, _plans = _sold_entry(ls)
    freq = next(f for f in ls.all("Package/Frequency") if f["identity"] == pfc["packageFrequencyId"])
    pcur = ls.create("Package/Currency", {"packageId": freq["packageId"], "currencyId": jpy})["identity"]
    ls.create("Package/Frequency/Currency",
              {"packageFrequencyId": freq["identity"], "packageCurrencyId": pcur, "priceBookId": 2})  # fmt: skip
    return "currency JPY is not an active Salesforce currency"


def _very_long_unicode_name(ls: Ls) -> str:
    pfc, _plans = _sold_entry(ls)
    freq = next(f for f in ls.all("Package/Frequency") if f["identity"] == pfc["packageFrequencyId"])
    ls.patch("Package", freq["packageId"], {"name": "Ünïcødé 株式会社 🚀 " + "x" * 300})
    return "max length=255"


def _frequency_without_services(ls: Ls) -> str:
    pkg = ls.create("Package", {"name": "Hollow Package"})["identity"]
    freq = ls.create("Package/Frequency",
                     {"packageId": pkg, "name": "Hollow Monthly", "frequency": 1, "frequencyTypeId": 3})["identity"]  # fmt: skip
    pcur = ls.create("Package/Currency", {"packageId": pkg, "currencyId": 1})["identity"]
    ls.create(
        "Package/Frequency/Currency",
        {"packageFrequencyId": freq, "packageCurrencyId": pcur, "priceBookId": 2},
    )
    return "package frequency has no services"


CATALOGUE: list[Any] = [
    ("a negative price", _negative_price),
    ("a missing price for a currency", _missing_price),
    ("a currency Salesforce does not have", _currency_unknown_to_salesforce),
    ("a package name longer than Salesforce allows", _very_long_unicode_name),
    ("a package frequency without services", _frequency_without_services),
]


def _case(entry: Any) -> Any:
    if hasattr(entry, "marks"):  # a pytest.param(name, mutate, marks=...)
        name, mutate = entry.values
        return pytest.param(mutate, id=name, marks=entry.marks)
    return pytest.param(entry[1], id=entry[0])


def test_a_duplicated_sku_cannot_even_be_stored_in_logisense(world: World) -> None:
    # So a duplicate SKU reaches the catalogue sync only from a real tenant (the transform's own tests cover
    # that it skips every product sharing it); the sandbox refuses it like LogiSense does.
    from logisense_sync.clients.logisense import LogiSenseValidationError

    ls = Ls(world)
    freqs = [f for f in ls.all("Package/Frequency") if f.get("sku")] or [
        ls.create("Package/Frequency", {"packageId": world.catalogue.package_id, "name": n, "sku": "DUP-" + n,  # type: ignore[union-attr]
                                        "frequency": 1, "frequencyTypeId": 3})
        for n in ("A", "B")
    ]  # fmt: skip

    with pytest.raises(LogiSenseValidationError, match="already exists"):
        ls.patch("Package/Frequency", freqs[1]["identity"], {"sku": freqs[0]["sku"]})


@pytest.mark.parametrize("mutate", [_case(c) for c in CATALOGUE])
def test_a_bad_catalogue_record_is_skipped_with_its_rule_and_the_rest_lands_as_in_a_clean_run(
    world: World, sandboxes: tuple[Any, Any], run_catalog: Callable[..., DagResult],
    mutate: Callable[[Ls], str],
) -> None:  # fmt: skip
    sf, ls_box = sandboxes
    if "clean" not in _CLEAN:
        sf.reset()
        ls_box.seed(**SMALL_CATALOGUE)
        clean = run_catalog()
        assert clean.state == "success", clean.report
        _CLEAN["clean"] = sf.snapshot()
    sf.reset()
    ls_box.reset()
    ls_box.seed(**SMALL_CATALOGUE)
    expected_rule = mutate(Ls(world))

    run = run_catalog()

    # A source problem the transform knows is skipped; one only Salesforce knows (a name too long) fails
    # the record and everything under it. Either way the report names the record and the rule.
    findings = run.report["skipped"] + run.report["failed"]
    hits = [f for f in findings if expected_rule in json.dumps(f, ensure_ascii=False)]
    assert hits, findings
    assert all(f["key"] for f in hits), hits
    skipped = findings
    clean_snap = _CLEAN["clean"]
    clean_snap = {"records": {o: [r for r in recs if not _affected(r.get("LogiSense_Id__c"), skipped)]
                              for o, recs in clean_snap["records"].items()}}  # fmt: skip
    assert diff(normalise_salesforce(clean_snap), _catalogue_state(sf, skipped)) == []


@pytest.mark.parametrize("bad", [float("nan"), None], ids=["NaN", "missing"])
def test_a_nan_or_missing_charge_amount_skips_its_entry_with_a_finding_instead_of_pricing_it_at_zero(
    bad: float | None,
) -> None:
    from logisense_sync.transforms.catalog import CatalogConfig, transform_catalog

    from tests.catalog.catalog_data import small_catalog

    config = CatalogConfig(as_of=dt.datetime(2026, 7, 1, tzinfo=dt.UTC), currencies=frozenset({"USD", "EUR"}))
    frames = small_catalog()
    recurring = frames["Package/Service/PricePlan/Recurring"]
    recurring["amount"] = recurring["amount"].astype(object)
    recurring.loc[recurring.index[0], "amount"] = bad

    out = transform_catalog(frames, config)

    entries = out.frames["PricebookEntry"]
    lines = out.frames["Product_Service__c"]
    finding = out.findings.loc[out.findings["key"] == "pbe:1:20:USD"]
    assert len(finding) == 1, out.findings
    assert isinstance(finding["rule"].iloc[0], str)
    assert "amount" in finding["rule"].iloc[0] or "price" in finding["rule"].iloc[0]
    assert "pbe:1:20:USD" not in set(entries["LogiSense_Id__c"])
    assert not any(isinstance(v, float) and math.isnan(v) for v in lines["Amount__c"])
    assert isinstance(entries, pd.DataFrame)
