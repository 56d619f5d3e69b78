"""The Closed:Won sync end to end: Airflow ``dag.test`` against both sandboxes."""

from __future__ import annotations

from typing import Any

from tests.opportunity.conftest import logisense_writes, salesforce_writes, unit_states
from tests.opportunity.world import World


def _by_sfdcid(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["extensions"]["sfdcid"]: o for o in objects if (o.get("extensions") or {}).get("sfdcid")}


def test_new_customer_with_a_two_level_hierarchy_becomes_accounts_contacts_and_account_packages(
    world: World, run_dag: Any
) -> None:
    top = world.account("Acme Group", currency="USD")
    child = world.account("Acme EU", parent=top, Subscription_Invoicer__c=top, Tax_Inheritance_Account__c=top)
    billing = world.contact(top, "Smith", contact_type="Billing")
    primary = world.contact(child, "Jones", contact_type="Primary")
    world.contact(child, "Ignored", sync=False)
    opp, lines = world.opportunity(child, name="Acme EU PBX", lines=[(1, 90), (2, 120)])
    world.override(opp, lines[1], "Seat", quantity=3)  # 3 x 30 + 20 + 10 = 120
    request = world.request(opportunity=opp)

    dag_run = run_dag([request])

    assert unit_states(dag_run) == {"claim": ["success"], "report": ["success"], "sync_request": ["success"]}
    unit = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "sync_request")
    assert unit.rendered_map_index == "Opportunity Acme EU PBX (LSR-000001)"
    req = world.get("LogiSense_Request__c", request)
    assert req["Status__c"] == "Completed", req["Message__c"]
    assert req["Attempts__c"] == 1
    assert req["Airflow_Run_Id__c"] == dag_run.run_id
    assert req["Completed_At__c"]
    accounts = _by_sfdcid(world.ls_objects("Account"))
    assert set(accounts) == {top, child}
    assert accounts[child]["parentAccountId"] == accounts[top]["identity"]
    assert accounts[child]["invoicerAccountId"] == accounts[top]["identity"]
    assert accounts[child]["taxAccountId"] == accounts[top]["identity"]
    assert accounts[child]["currencyId"] == 1
    contacts = _by_sfdcid(world.ls_objects("Contact"))
    assert set(contacts) == {billing, primary}
    assert contacts[primary]["accountId"] == accounts[child]["identity"]
    points = [p for p in world.ls_objects("Contact/Point") if p["contactId"] == contacts[primary]["identity"]]
    assert sorted(p["value"] for p in points) == [
        "+1 555 0100",
        "1 Main St, Springfield, US",
        "pat.jones@example.com",
    ]
    packages = _by_sfdcid(world.ls_objects("Account/Package"))
    assert set(packages) == set(lines)
    assert all(p["accountId"] == accounts[child]["identity"] for p in packages.values())
    assert packages[lines[0]]["effective"].startswith("2026-12-01")
    assert packages[lines[1]]["quantity"] == 2
    services = {
        (s["accountPackageId"], s["serviceName"]): s["amount"] for s in world.ls_objects("Account/Service")
    }
    assert services[(packages[lines[1]]["identity"], "Seat")] == 3
    assert services[(packages[lines[0]]["identity"], "Seat")] == 2
    assert world.ls_objects("Account/PricePlan") == []
    assert world.get("Account", child)["LogiSense_Account_Id__c"] == str(accounts[child]["identity"])
    assert world.get("Account", top)["LogiSense_Account_Id__c"] == str(accounts[top]["identity"])
    assert world.get("Contact", primary)["LogiSense_Contact_Id__c"] == str(contacts[primary]["identity"])
    assert world.get("Opportunity", opp)["LogiSense_Sync_Status__c"] == "Synced"


def test_existing_customer_gets_an_account_price_plan_with_the_negotiated_prices(
    world: World, run_dag: Any
) -> None:
    customer = world.account("Globex")
    run_dag([world.request(account=customer)])
    assert world.get("Account", customer)["LogiSense_Account_Id__c"]
    opp, lines = world.opportunity(customer, type_="Existing Customer - Replacement", lines=[(1, 80)])
    world.override(opp, lines[0], "Seat", amount=25)  # 2 x 25 + 20 + 10 = 80
    request = world.request(opportunity=opp)

    run_dag([request])

    assert world.get("LogiSense_Request__c", request)["Status__c"] == "Completed"
    plans = world.ls_objects("Account/PricePlan")
    assert len(plans) == 1
    plan = plans[0]
    assert plan["extensions"]["sfdcid"] == opp
    assert plan["accountId"] == int(world.get("Account", customer)["LogiSense_Account_Id__c"])
    assert world.get("Opportunity", opp)["LogiSense_Price_Plan_Id__c"] == str(plan["identity"])
    rows = [
        r
        for r in world.ls_objects("Package/Service/PricePlan")
        if r.get("accountPricePlanId") == plan["identity"]
    ]
    assert len(rows) == 3  # Seat, Support, Minutes
    assert all(r["extensions"]["sfdcid"] == lines[0] for r in rows)
    seat_row = next(r for r in rows if r["packageServiceId"] == world.catalogue.package_services["Seat"])
    recurring = {
        r["serviceStatusTypeId"]: r["amount"]
        for r in world.ls_objects("Package/Service/PricePlan/Recurring")
        if r["packageServicePricePlanId"] == seat_row["identity"]
    }
    assert recurring == {1: 25, 2: 5}
    once = [
        r["amount"]
        for r in world.ls_objects("Package/Service/PricePlan/OneTime")
        if r["packageServicePricePlanId"] == seat_row["identity"]
    ]
    assert once == [20]
    assert world.ls_objects("Account/Package") == []


def test_a_dry_run_validates_and_reports_but_writes_nothing_anywhere(world: World, run_dag: Any) -> None:
    customer = world.account("Initech")
    good, _ = world.opportunity(customer, name="Good")
    bad, _ = world.opportunity(customer, name="Bad", lines=[(1, 91)])
    requests = [world.request(opportunity=good), world.request(opportunity=bad)]
    world.sf_sandbox.clear_requests()  # type: ignore[attr-defined]

    dag_run = run_dag(requests, dry_run=True)

    assert unit_states(dag_run)["sync_request"] == ["success", "success"]
    assert salesforce_writes(world.sf_sandbox.requests()) == {}  # type: ignore[attr-defined]
    assert logisense_writes(world.ls_sandbox.requests()) == {}  # type: ignore[attr-defined]
    assert [world.get("LogiSense_Request__c", r)["Status__c"] for r in requests] == ["Waiting", "Waiting"]
    report = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "report").xcom_pull(
        task_ids="report"
    )
    assert report["counts"] == {"would_sync": 1, "would_fail": 1}
    assert "add up to 90.00" in report["failed"][0]


def test_a_failed_unit_fails_the_report_at_once_while_a_report_lost_with_its_worker_is_retried(
    world: World, run_dag: Any, dagbag: Any
) -> None:
    bad, _ = world.opportunity(world.account("Initech"), name="Bad", lines=[(1, 91)])
    request = world.request(opportunity=bad)

    dag_run = run_dag([request])

    report = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "report")
    assert (str(report.state), report.try_number) == ("failed", 1), "a failed unit fails the run, no retry"
    # the report only reads XComs: a try lost with its worker (heartbeat timeout) is retried instead of
    # failing a run whose units completed (the Celery SIGKILL scenario in tests/reliability)
    assert dagbag.dags["logisense_opportunity_sync"].get_task("report").retries >= 2


def test_a_sweep_works_every_waiting_request_in_a_bounded_number_of_labelled_units(
    world: World, run_dag: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("LOGISENSE_OPPORTUNITY_MAX_UNITS", "2")
    requests = []
    for name in ("Alpha", "Beta", "Gamma"):
        opp, _ = world.opportunity(world.account(name), name=f"{name} deal")
        requests.append(world.request(opportunity=opp))
    done = world.request(account=world.account("Already done"))
    world.sf.LogiSense_Request__c.update(done, {"Status__c": "Completed"})

    dag_run = run_dag()  # the 15-minute sweep: no request ids

    units = sorted(
        (ti for ti in dag_run.get_task_instances() if ti.task_id == "sync_request"), key=lambda t: t.map_index
    )
    assert [u.rendered_map_index for u in units] == [
        "2 requests: Opportunity Alpha deal (LSR-000001) ... Opportunity Beta deal (LSR-000002)",
        "Opportunity Gamma deal (LSR-000003)",
    ]
    assert [world.get("LogiSense_Request__c", r)["Status__c"] for r in requests] == ["Completed"] * 3
    assert world.get("LogiSense_Request__c", done)["Attempts__c"] == 0
    assert len(world.ls_objects("Account")) == 3


def test_a_negotiated_usage_rate_gets_the_account_its_own_usage_rate_plan(world: World, run_dag: Any) -> None:
    assert world.catalogue is not None
    customer = world.account("Vandelay")
    opp, lines = world.opportunity(customer, type_="Existing Customer - Downgrade")
    minutes = next(key for key in world.catalogue.charges if key[0] == "USD" and key[1] == "Minutes")
    world.override(opp, lines[0], "Minutes", minutes[2], amount=0.01)  # usage is not in the line price
    request = world.request(opportunity=opp)

    run_dag([request])
    run_dag([world.request(opportunity=opp)])  # a second push changes nothing

    assert world.get("LogiSense_Request__c", request)["Status__c"] == "Completed"
    plans = [p for p in world.ls_objects("Usage/Rate/Plan") if (p.get("extensions") or {}).get("sfdcid")]
    assert len(plans) == 1
    assert plans[0]["extensions"]["sfdcid"] == f"{lines[0]}:{world.catalogue.services['Minutes']}"
    groups = [g for g in world.ls_objects("Usage/Rate/Group") if g["usageRatePlanId"] == plans[0]["identity"]]
    assert [g["currencyId"] for g in groups] == [1]
    rates = [r for r in world.ls_objects("Usage/Rate") if r["usageRateGroupId"] == groups[0]["identity"]]
    assert [(r["usageClassId"], r["amount"]) for r in rates] == [(1, 0.01)]
    row = next(
        r
        for r in world.ls_objects("Package/Service/PricePlan")
        if r.get("accountPricePlanId")
        and r["packageServiceId"] == world.catalogue.package_services["Minutes"]
    )
    assert row["usageRatePlanId"] == plans[0]["identity"]
