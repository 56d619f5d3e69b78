"""Account requests, re-parenting and currency changes of accounts already in LogiSense."""

from __future__ import annotations

from typing import Any

from tests.opportunity.conftest import logisense_writes
from tests.opportunity.world import World


def _ls_account(world: World, sf_id: str) -> dict[str, Any]:
    return world.ls.get("Account", int(world.get("Account", sf_id)["LogiSense_Account_Id__c"]))


def test_an_account_request_syncs_the_account_its_ancestors_and_contacts_only(
    world: World, run_dag: Any
) -> None:
    top = world.account("Umbrella")
    child = world.account("Umbrella Labs", parent=top)
    world.contact(child, "Wesker", contact_type="Technical")
    world.opportunity(child)  # not part of an account request
    request = world.request(account=child)

    run_dag([request])

    assert world.get("LogiSense_Request__c", request)["Status__c"] == "Completed"
    assert sorted(a["name"] for a in world.ls_objects("Account")) == ["Umbrella", "Umbrella Labs"]
    assert [c["name"] for c in world.ls_objects("Contact")] == ["Pat Wesker"]
    assert world.ls_objects("Account/Package") == []
    assert world.ls_objects("Account/PricePlan") == []
    assert _ls_account(world, child)["parentAccountId"] == _ls_account(world, top)["identity"]


def test_a_synced_account_may_move_to_another_parent_inside_its_hierarchy(world: World, run_dag: Any) -> None:
    top = world.account("Stark")
    east = world.account("Stark East", parent=top)
    west = world.account("Stark West", parent=top)
    run_dag([world.request(account=east), world.request(account=west)])
    world.sf.Account.update(west, {"ParentId": east})
    request = world.request(account=west)

    run_dag([request])

    assert world.get("LogiSense_Request__c", request)["Status__c"] == "Completed"
    assert _ls_account(world, west)["parentAccountId"] == _ls_account(world, east)["identity"]
    assert len(world.ls_objects("Account")) == 3


def test_a_synced_account_cannot_move_to_a_parent_outside_its_hierarchy(world: World, run_dag: Any) -> None:
    top = world.account("Wayne")
    child = world.account("Wayne Labs", parent=top)
    other = world.account("Queen")
    run_dag([world.request(account=child), world.request(account=other)])
    world.sf.Account.update(child, {"ParentId": other})
    request = world.request(account=child)
    world.ls_sandbox.clear_requests()  # type: ignore[attr-defined]

    run_dag([request])

    req = world.get("LogiSense_Request__c", request)
    assert req["Status__c"] == "Failed"
    assert "Account 'Wayne Labs' is already in LogiSense in another account hierarchy" in req["Message__c"]
    assert "its new parent 'Queen' is outside that hierarchy" in req["Message__c"]
    assert logisense_writes(world.ls_sandbox.requests()) == {}  # type: ignore[attr-defined]
    assert _ls_account(world, child)["parentAccountId"] == _ls_account(world, top)["identity"]


def test_the_currency_of_a_synced_account_cannot_change(world: World, run_dag: Any) -> None:
    customer = world.account("Tyrell")
    run_dag([world.request(account=customer)])
    world.sf.Account.update(customer, {"CurrencyIsoCode": "EUR"})
    opp, _ = world.opportunity(customer, currency="EUR")
    request = world.request(opportunity=opp)
    world.ls_sandbox.clear_requests()  # type: ignore[attr-defined]

    run_dag([request])

    req = world.get("LogiSense_Request__c", request)
    assert req["Status__c"] == "Failed"
    assert (
        "Account 'Tyrell' was sent to LogiSense in USD; its currency cannot change once synced (it is now EUR)"
        in req["Message__c"]
    )
    assert logisense_writes(world.ls_sandbox.requests()) == {}  # type: ignore[attr-defined]
