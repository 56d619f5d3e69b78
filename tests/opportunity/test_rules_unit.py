"""The pure rules (no sandbox, no Airflow): pricing, hierarchy, re-parenting, batching, settings."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from logisense_sync.errors import FatalError
from logisense_sync.pipelines.opportunity.claim import QueuedRequest
from logisense_sync.pipelines.opportunity.settings import (
    BusinessProcess,
    OpportunitySyncSettings,
    load_business_processes,
)
from logisense_sync.pipelines.opportunity_sync import units
from logisense_sync.transforms.opportunity import (
    CatalogueCharge,
    ChargeOverride,
    Deal,
    LogiSenseAccountState,
    RequestType,
    SfAccount,
    SfLine,
    SfOpportunity,
    SfPricebook,
    accounts_to_provision,
    effective_reference,
    is_activation,
    line_charges,
    validate_deal,
)

PROCESSES = {"New Customer": BusinessProcess.ACCOUNT_PACKAGES}


def _charge(
    cid: str, service: str, kind: str, status: str, amount: str, key: str, **kw: object
) -> CatalogueCharge:
    return CatalogueCharge(
        id=cid,
        product_id="01t1",
        pricebook_id="01s1",
        service_name=service,
        charge_type=kind,
        service_status=status,
        amount=Decimal(amount),
        logisense_id=f"psl:1:7:USD:{key}",
        currency="USD",
        **kw,  # type: ignore[arg-type]
    )


SEAT_ACTIVE = _charge("a1", "Seat", "Recurring", "Active", "30", "11:R1", default_quantity=Decimal(2))
SEAT_TIER = _charge("a2", "Seat", "Recurring", "Active", "25", "11:R1@10", default_quantity=Decimal(2))
SEAT_ONCE = _charge("a3", "Seat", "One-Time", "[New] -> Active", "20", "11:O1", default_quantity=Decimal(2))
SUPPORT = _charge("a4", "Support", "Recurring", "Active", "10", "12:R1")
USAGE = _charge("a5", "Minutes", "Usage", "Voice", "0.02", "13:U4")
LINE = SfLine("00k1", "Cloud PBX", "01t1", "01u1", "01s1", Decimal(1), Decimal(90), "pf:7", "pbe", "USD")


def test_a_line_is_priced_from_catalogue_defaults_when_the_rep_changed_nothing() -> None:
    pricing = line_charges(LINE, [SEAT_ACTIVE, SEAT_ONCE, SUPPORT, USAGE], [])
    assert pricing.total == Decimal(90)  # 2 x 30 + 20 + 1 x 10; usage is not in the sum
    assert pricing.explanation == "2 × Seat 30.00 + Seat activation 20.00 + 1 × Support 10.00"


def test_the_reps_quantity_and_price_replace_the_catalogue_values() -> None:
    overrides = [
        ChargeOverride("o1", "00k1", "a1", Decimal(3), Decimal(28)),
        ChargeOverride("o2", "00k1", "a3", None, Decimal(0)),
    ]
    pricing = line_charges(LINE, [SEAT_ACTIVE, SEAT_ONCE, SUPPORT], overrides)
    assert pricing.total == Decimal(3 * 28 + 0 + 10)
    seat = next(s for s in pricing.services if s.service_name == "Seat")
    assert seat.quantity == 3
    assert [changed for _c, _a, changed in seat.charges] == [True, True]


def test_a_tiered_recurring_price_follows_the_quantity() -> None:
    few = line_charges(LINE, [SEAT_ACTIVE, SEAT_TIER], [])
    many = line_charges(
        LINE, [SEAT_ACTIVE, SEAT_TIER], [ChargeOverride("o", "00k1", "a1", Decimal(12), None)]
    )
    assert few.total == Decimal(60)
    assert many.total == Decimal(12 * 25)


@pytest.mark.parametrize(
    ("transition", "expected"),
    [("[New] -> Active", True), ("[New] → Active", True), ("Activation", True), ("Active -> Suspended", False),
     ("Suspended -> Active", True), (None, False)],
)  # fmt: skip
def test_activation_transitions_are_recognised(transition: str | None, expected: bool) -> None:
    assert is_activation(transition) is expected


def _deal(**accounts: SfAccount) -> Deal:
    return Deal(request_type=RequestType.ACCOUNT, account_id=next(iter(accounts)), accounts=dict(accounts))


def test_ancestors_and_invoicer_chains_are_provisioned_parents_first() -> None:
    top = SfAccount("001T", "Top", currency="USD")
    mid = SfAccount("001M", "Mid", parent_id="001T", currency="USD")
    sibling = SfAccount("001S", "Sibling", parent_id="001T", currency="USD")
    leaf = SfAccount("001L", "Leaf", parent_id="001M", currency="USD", usage_invoicer_id="001S")
    deal = _deal(leaf=leaf, top=top, mid=mid, sibling=sibling)
    deal.account_id = "001L"
    deal.accounts = {a.id: a for a in (top, mid, sibling, leaf)}
    order = accounts_to_provision(deal)
    assert order[0] == "001T"
    assert order.index("001M") < order.index("001L")
    assert set(order) == {"001T", "001M", "001S", "001L"}
    assert effective_reference(deal.accounts, "001L", "usage_invoicer_id") == "001S"
    assert effective_reference(deal.accounts, "001L", "tax_account_id") == "001T"


def _opportunity_deal(line: SfLine) -> Deal:
    account = SfAccount("001A", "Acme", currency="USD")
    return Deal(
        request_type=RequestType.OPPORTUNITY,
        account_id="001A",
        opportunity=SfOpportunity(
            "006A", "Deal", "001A", True, "Closed Won", "New Customer", dt.date(2026, 12, 1), "USD", "01s1"
        ),
        pricebook=SfPricebook("01s1", "Standard Price Book", "pb:1"),
        lines=[line],
        charges=[SEAT_ACTIVE, SEAT_ONCE, SUPPORT],
        accounts={"001A": account},
        pricebook_names={"01s1": "Standard Price Book", "01s2": "Partner"},
    )


def test_a_line_from_another_price_book_is_refused() -> None:
    line = SfLine("00k1", "Cloud PBX", "01t1", "01u9", "01s2", Decimal(1), Decimal(90), "pf:7", None, "USD")
    problems = validate_deal(_opportunity_deal(line), PROCESSES)
    assert problems == [
        "Product 'Cloud PBX' comes from price book 'Partner', not from the opportunity's price book. "
        "Remove it and add it from the opportunity's LogiSense price book."
    ]


def test_a_fractional_line_quantity_is_refused() -> None:
    line = SfLine(
        "00k1", "Cloud PBX", "01t1", "01u1", "01s1", Decimal("1.5"), Decimal(90), "pf:7", None, "USD"
    )
    assert any("has quantity 1.5" in p for p in validate_deal(_opportunity_deal(line), PROCESSES))


def test_a_change_for_a_product_no_longer_on_the_opportunity_is_refused() -> None:
    deal = _opportunity_deal(LINE)
    deal.overrides = [ChargeOverride("a0X", "00kGONE", "a1", Decimal(2), None)]
    assert any(
        "belongs to an opportunity product that no longer exists" in p for p in validate_deal(deal, PROCESSES)
    )


def test_a_synced_top_account_cannot_move_under_another_hierarchy() -> None:
    top = SfAccount("001T", "Top", parent_id="001O", currency="USD")
    other = SfAccount("001O", "Other", currency="USD")
    deal = Deal(request_type=RequestType.ACCOUNT, account_id="001T", accounts={"001T": top, "001O": other})
    deal.logisense_accounts = {
        "001T": LogiSenseAccountState(5, "USD", None, 5),
        "001O": LogiSenseAccountState(9, "USD", None, 9),
    }
    assert any("is already in LogiSense in another account hierarchy" in p for p in validate_deal(deal, {}))


def test_a_synced_child_cannot_leave_its_hierarchy() -> None:
    child = SfAccount("001C", "Child", currency="USD")
    deal = Deal(request_type=RequestType.ACCOUNT, account_id="001C", accounts={"001C": child})
    deal.logisense_accounts = {"001C": LogiSenseAccountState(7, "USD", 5, 5)}
    assert validate_deal(deal, {}) == [
        "Account 'Child' is in a LogiSense account hierarchy and cannot leave it. "
        "Give it back a parent account from the same hierarchy."
    ]


def _request(n: int) -> QueuedRequest:
    return QueuedRequest(f"a00{n:015d}", f"LSR-{n}", RequestType.OPPORTUNITY, "Processing", f"006{n}",
                         f"Deal {n}", None, None, "run", 1, None)  # fmt: skip


def test_units_give_each_request_its_own_unit_up_to_the_limit_then_batch() -> None:
    assert [u["label"] for u in units([_request(1), _request(2)], 4)] == [
        "Opportunity Deal 1 (LSR-1)",
        "Opportunity Deal 2 (LSR-2)",
    ]
    batched = units([_request(n) for n in range(10)], 4)
    assert [len(u["request_ids"]) for u in batched] == [3, 3, 3, 1]
    assert batched[0]["label"] == "3 requests: Opportunity Deal 0 (LSR-0) ... Opportunity Deal 2 (LSR-2)"
    assert units([], 4) == []


def test_the_business_process_file_can_be_replaced_and_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "processes.json"
    good.write_text(json.dumps({"_comment": "x", "Renewal": "account_price_plan"}))
    settings = OpportunitySyncSettings.from_env({"LOGISENSE_BUSINESS_PROCESSES_FILE": str(good)})
    assert settings.processes == {"Renewal": BusinessProcess.ACCOUNT_PRICE_PLAN}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Renewal": "orders"}))
    with pytest.raises(FatalError, match="maps to 'orders'"):
        load_business_processes(bad)
    assert list(load_business_processes()) == [
        "New Customer",
        "Existing Customer - Upgrade",
        "Existing Customer - Replacement",
        "Existing Customer - Downgrade",
    ]
