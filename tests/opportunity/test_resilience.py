"""Exactly-once under double triggers, overlapping runs, crashes and transient errors."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from logisense_sync.clients.salesforce import SalesforceClient
from logisense_sync.errors import RetriableError
from logisense_sync.pipelines import opportunity_sync
from logisense_sync.pipelines.opportunity.settings import OpportunitySyncSettings

from tests.opportunity.conftest import logisense_writes, unit_states
from tests.opportunity.world import World

SETTINGS = OpportunitySyncSettings.from_env({"LOGISENSE_OPPORTUNITY_CLAIM_SETTLE_SECONDS": "0.3"})


def _sfdcids(world: World, resource: str) -> Counter[str]:
    return Counter(str((o.get("extensions") or {}).get("sfdcid")) for o in world.ls_objects(resource))


def _one_set(world: World, accounts: int, contacts: int, packages: int) -> None:
    for resource, expected in (("Account", accounts), ("Contact", contacts), ("Account/Package", packages)):
        ids = _sfdcids(world, resource)
        assert sum(ids.values()) == expected, (resource, ids)
        assert all(n == 1 for n in ids.values()), (resource, ids)
    services = Counter((s["accountPackageId"], s["serviceId"]) for s in world.ls_objects("Account/Service"))
    assert all(n == 1 for n in services.values()), services


def test_a_double_click_and_a_second_trigger_produce_one_set_of_logisense_objects(
    world: World, run_dag: Any
) -> None:
    top = world.account("Cyberdyne")
    child = world.account("Cyberdyne Labs", parent=top)
    world.contact(child, "Dyson")
    opp, _ = world.opportunity(child, lines=[(1, 90), (1, 90)])
    first, second = world.request(opportunity=opp), world.request(opportunity=opp)  # the rep clicked twice

    run_dag([first, second])
    run_dag([first, second])  # the button's trigger and the sweep both ran

    assert [world.get("LogiSense_Request__c", r)["Status__c"] for r in (first, second)] == ["Completed"] * 2
    assert [world.get("LogiSense_Request__c", r)["Attempts__c"] for r in (first, second)] == [1, 1]
    _one_set(world, accounts=2, contacts=1, packages=2)


def test_two_overlapping_runs_never_work_the_same_request_and_create_one_set(world: World) -> None:
    customer = world.account("Soylent")
    world.contact(customer, "Thorn")
    opp, _ = world.opportunity(customer, lines=[(1, 90), (1, 90), (1, 90)])
    requests = [world.request(opportunity=opp) for _ in range(4)]
    barrier = threading.Barrier(2)
    held: dict[str, list[str]] = {}
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def run(run_id: str) -> None:
        try:
            sf = SalesforceClient(world.sf)
            barrier.wait()
            mine, _ = opportunity_sync.claim(sf, run_id, [], SETTINGS)  # both sweep the whole queue
            held[run_id] = [r.id for r in mine]
            barrier.wait()  # both provision at the same time: the creates race
            from logisense_sync.clients.logisense import LogiSenseClient

            with LogiSenseClient(world.ls.base_url, "admin", "sandbox", "sandbox") as ls:
                for req in mine:
                    outcomes.append(
                        opportunity_sync.sync_request(sf, ls, req.id, run_id, SETTINGS).outcome.value
                    )
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"run_{n}",)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    assert errors == []
    claimed = held["run_1"] + held["run_2"]
    assert sorted(claimed) == sorted(requests)  # every request claimed, none by both runs
    assert outcomes == ["completed"] * 4
    _one_set(world, accounts=1, contacts=1, packages=3)


def test_a_crash_between_the_logisense_writes_and_the_write_back_is_finished_without_duplicates(
    world: World, run_dag: Any
) -> None:
    customer = world.account("Weyland")
    world.contact(customer, "Bishop")
    opp, _ = world.opportunity(customer)
    request = world.request(opportunity=opp)
    sf_box, ls_box = world.sf_sandbox, world.ls_sandbox  # type: ignore[attr-defined]
    # Salesforce DML calls of a unit, in order: claim, lease renewal, opportunity "Processing", then the
    # write-back of the LogiSense ids: let the first three through and make the write-back fail for good.
    dml = {"method": "PATCH", "path": "composite/sobjects"}
    sf_box.faults({**dml, "count": 3}, {**dml, "count": 4, "status": 503, "error_code": "SERVER_UNAVAILABLE"})

    dag_run = run_dag([request])

    unit = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "sync_request")
    assert unit.try_number == 2  # the first try crashed after writing to LogiSense; Airflow retried it
    assert unit_states(dag_run)["sync_request"] == ["success"]
    req = world.get("LogiSense_Request__c", request)
    assert req["Status__c"] == "Completed"
    assert req["Attempts__c"] == 2
    _one_set(world, accounts=1, contacts=1, packages=1)
    writes = logisense_writes(ls_box.requests())
    assert writes["POST /ResourceServer/api/v10/Account"] == 1
    assert writes["POST /ResourceServer/api/v10/Account/Package"] == 1
    assert world.get("Account", customer)["LogiSense_Account_Id__c"]


def test_logisense_503s_and_429s_are_retried(world: World, run_dag: Any) -> None:
    customer = world.account("Oscorp")
    opp, _ = world.opportunity(customer)
    request = world.request(opportunity=opp)
    ls_box = world.ls_sandbox  # type: ignore[attr-defined]
    ls_box.faults(
        {"method": "POST", "path": "/Account$", "count": 2, "status": 503},
        {"method": "POST", "path": "/Account/Package$", "count": 2, "status": 429, "retry_after": 0},
    )

    dag_run = run_dag([request])

    assert unit_states(dag_run)["sync_request"] == ["success"]
    assert world.get("LogiSense_Request__c", request)["Status__c"] == "Completed"
    assert ls_box.requests()["injected"] == {"503": 2, "429": 2}
    _one_set(world, accounts=1, contacts=0, packages=1)


@pytest.mark.parametrize(
    ("attempts_before", "status", "message"),
    [
        (0, "Waiting", "Temporary problem on attempt 1 of 5; will retry"),
        (4, "Failed", "Gave up after 5 attempts"),
    ],
)
def test_transient_errors_put_the_request_back_until_the_attempts_run_out(
    world: World, attempts_before: int, status: str, message: str
) -> None:
    opp, _ = world.opportunity(world.account("Massive Dynamic"))
    request = world.request(opportunity=opp)
    world.sf.LogiSense_Request__c.update(request, {"Attempts__c": attempts_before})
    world.ls_sandbox.faults({"method": "POST", "path": "/Account$", "count": -1, "status": 503})  # type: ignore[attr-defined]
    sf = SalesforceClient(world.sf)
    opportunity_sync.claim(sf, "run_t", [request], SETTINGS)
    from logisense_sync.clients.logisense import LogiSenseClient

    with LogiSenseClient(
        world.ls.base_url, "admin", "sandbox", "sandbox", max_retries=1, backoff_base=0.01
    ) as ls:
        if status == "Waiting":
            with pytest.raises(RetriableError):
                opportunity_sync.sync_request(sf, ls, request, "run_t", SETTINGS)
        else:
            outcome = opportunity_sync.sync_request(sf, ls, request, "run_t", SETTINGS)
            assert outcome.outcome == "failed"

    req = world.get("LogiSense_Request__c", request)
    assert req["Status__c"] == status
    assert message in req["Message__c"]
    assert world.get("Opportunity", opp)["LogiSense_Sync_Status__c"] == status


def test_a_request_left_processing_by_a_dead_run_is_taken_over_once_its_lease_expires(world: World) -> None:
    opp, _ = world.opportunity(world.account("Hooli"))
    request = world.request(opportunity=opp)
    sf = SalesforceClient(world.sf)
    held, _ = opportunity_sync.claim(sf, "run_that_dies", [request], SETTINGS)
    assert [r.id for r in held] == [request]

    fresh, _ = opportunity_sync.claim(sf, "sweep_1", [], SETTINGS)
    assert fresh == []  # the lease (15 minutes by default) still holds
    expired = OpportunitySyncSettings.from_env(
        {"LOGISENSE_OPPORTUNITY_LEASE_SECONDS": "0", "LOGISENSE_OPPORTUNITY_CLAIM_SETTLE_SECONDS": "0.1"}
    )
    time.sleep(1.1)  # SOQL datetimes have whole seconds: let the claim's LastModifiedDate fall behind "now"
    taken, _ = opportunity_sync.claim(sf, "sweep_2", [], expired)

    assert [r.id for r in taken] == [request]
    req = world.get("LogiSense_Request__c", request)
    assert (req["Status__c"], req["Airflow_Run_Id__c"], req["Attempts__c"]) == ("Processing", "sweep_2", 2)
    from logisense_sync.clients.logisense import LogiSenseClient

    with LogiSenseClient(world.ls.base_url, "admin", "sandbox", "sandbox") as ls:
        late = opportunity_sync.sync_request(sf, ls, request, "run_that_dies", SETTINGS)
        assert late.outcome == "skipped"  # the dead run, had it come back, keeps its hands off
        assert opportunity_sync.sync_request(sf, ls, request, "sweep_2", expired).outcome == "completed"


def test_one_bad_deal_in_a_batch_never_blocks_the_others(
    world: World, run_dag: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("LOGISENSE_OPPORTUNITY_MAX_UNITS", "1")  # all four requests in one unit
    deals = {}
    for name, price in (("First", 90), ("Mispriced", 91), ("Buggy", 90), ("Last", 90)):
        opp, _ = world.opportunity(world.account(name), name=name, lines=[(1, price)])
        deals[name] = world.request(opportunity=opp)
    real_read_deal = opportunity_sync.read_deal

    def read_deal(sf: Any, ls: Any, request: Any, refs: Any) -> Any:
        if request.id == deals["Buggy"]:
            raise KeyError("injected bug")
        return real_read_deal(sf, ls, request, refs)

    monkeypatch.setattr(opportunity_sync, "read_deal", read_deal)

    dag_run = run_dag(list(deals.values()))

    assert unit_states(dag_run)["sync_request"] == ["failed"]
    status = {name: world.get("LogiSense_Request__c", rid) for name, rid in deals.items()}
    assert {name: r["Status__c"] for name, r in status.items()} == {
        "First": "Completed",
        "Mispriced": "Failed",
        "Buggy": "Failed",
        "Last": "Completed",
    }
    assert "add up to 90.00" in status["Mispriced"]["Message__c"]
    assert "unexpected error (KeyError: 'injected bug')" in status["Buggy"]["Message__c"]
    assert sorted(a["name"] for a in world.ls_objects("Account")) == ["First", "Last"]
