"""Fault injection through the sandboxes' control planes, for both DAGs.

Each scenario builds the same data as a fault-free reference run, injects its faults (a fixed fault seed,
so CI is deterministic), runs the DAG (and reruns it, as the schedule would, while requests are left to
retry), and then requires the end state of BOTH sandboxes to equal the reference exactly (ids and
timestamps normalised), with no duplicate and no lost record, and every request's Status telling the truth.
The faults injected per scenario are printed at the end of the pytest run (``reliability: faults injected``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.opportunity.world import World
from tests.reliability.conftest import SMALL_CATALOGUE, DagResult
from tests.reliability.reliability_helpers import LEDGER, diff, normalise_pair

FAULT_SEED = 20261126
MAX_RERUNS = 4
LS_API = r"^/ResourceServer/"
SF_API = r"^/services/(data|async)/"

# --------------------------------------------------------------------------------------------- scenarios
# name → (Salesforce faults, LogiSense faults, Salesforce settings, LogiSense settings)
Scenario = tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any], dict[str, Any]]

RANDOM_503: Scenario = (
    [{"path": SF_API, "count": -1, "probability": 0.1, "status": 503, "error_code": "SERVER_UNAVAILABLE"}],
    [{"path": LS_API, "count": -1, "probability": 0.1, "status": 503, "error_code": "ServiceUnavailable"}],
    {},
    {},
)
RANDOM_DROPS: Scenario = (
    [{"path": SF_API, "count": -1, "probability": 0.1, "drop_connection": True}],
    [{"path": LS_API, "count": -1, "probability": 0.1, "drop_connection": True}],
    {},
    {},
)
LOGISENSE_429: Scenario = (
    [],
    [
        {
            "path": LS_API,
            "count": 4,
            "probability": 0.5,
            "status": 429,
            "retry_after": 1,
            "error_code": "TooMany",
        }
    ],
    {},
    {},
)
LOCKED_ROWS: Scenario = (
    [{"path": r"/composite/sobjects", "count": 3, "record_error": "UNABLE_TO_LOCK_ROW", "record_rate": 0.5}],
    [],
    {},
    {},
)
SESSIONS_EXPIRE: Scenario = (
    [{"path": SF_API, "count": 2, "probability": 0.2, "status": 401, "error_code": "INVALID_SESSION_ID",
      "message": "Session expired or invalid"}],
    [],
    {"session_timeout_seconds": 2},
    {"token_lifetime_seconds": 1, "latency_ms": 100},  # latency: the run outlives the token
)  # fmt: skip

SCENARIOS = {
    "10% random 503s on every API": RANDOM_503,
    "10% dropped connections on every API": RANDOM_DROPS,
    "LogiSense 429 with Retry-After": LOGISENSE_429,
    "UNABLE_TO_LOCK_ROW on Salesforce collection rows": LOCKED_ROWS,
    "sessions and tokens expiring mid-run": SESSIONS_EXPIRE,
}


_SAVED: dict[str, Any] = {}


def _inject(sf: Any, ls: Any, scenario: Scenario) -> None:
    sf_faults, ls_faults, sf_settings, ls_settings = scenario
    sf.clear_requests()
    ls.clear_requests()
    _SAVED["sf"] = {
        k: v for k, v in sf.control("POST", "settings", {}).items() if k == "session_timeout_seconds"
    }
    _SAVED["ls"] = {
        k: v for k, v in ls.control("POST", "settings", {}).items() if k == "token_lifetime_seconds"
    }
    if sf_settings:
        sf.control("POST", "settings", sf_settings)
    if ls_settings:
        ls.control("POST", "settings", ls_settings)
    if sf_faults:
        sf.faults(*sf_faults, seed=FAULT_SEED)
    if ls_faults:
        ls.faults(*ls_faults, seed=FAULT_SEED + 1)


def _logins(box: Any) -> int:
    """Token requests recorded by a sandbox (OAuth, SOAP login, LogiSense Access/Login)."""
    return sum(n for route, n in box.requests()["by_route"].items()
               if any(p in route for p in ("/oauth2/token", "/Soap/u/", "/Access/Login")))  # fmt: skip


def _stop_faults(sf: Any, ls: Any) -> tuple[dict[str, int], dict[str, int]]:
    injected = sf.requests()["injected"], ls.requests()["injected"]
    _SAVED["logins"] = (_logins(sf), _logins(ls))
    sf.control("DELETE", "faults")
    ls.control("DELETE", "faults")
    sf.control("POST", "settings", _SAVED.get("sf", {}) | {"latency_ms": 0})
    ls.control("POST", "settings", _SAVED.get("ls", {}) | {"latency_ms": 0})
    return injected


def _state(sf: Any, ls: Any, drop_fields: tuple[str, ...] = ()) -> list[list[str]]:
    sf_snap = sf.snapshot()
    for records in sf_snap["records"].values():
        for record in records:
            for name in drop_fields:
                record.pop(name, None)
    return normalise_pair(sf_snap, ls.snapshot())


# ---------------------------------------------------------------------------------------- catalogue

_REFERENCE: dict[str, Any] = {}


def _catalogue_reference(sf: Any, ls: Any, run_catalog: Callable[..., DagResult]) -> list[list[str]]:
    if "catalogue" not in _REFERENCE:
        ls.seed(**SMALL_CATALOGUE)
        run = run_catalog()
        assert run.state == "success", run.report
        _REFERENCE["catalogue"] = _state(sf, ls)
        sf.reset()
        ls.reset()
    reference: list[list[str]] = _REFERENCE["catalogue"]
    return reference


@pytest.mark.parametrize("scenario", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_the_catalogue_sync_under_faults_ends_exactly_like_the_fault_free_run(
    sandboxes: tuple[Any, Any], run_catalog: Callable[..., DagResult], scenario: Scenario,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    sf, ls = sandboxes
    reference = _catalogue_reference(sf, ls, run_catalog)
    ls.seed(**SMALL_CATALOGUE)
    _inject(sf, ls, scenario)

    runs = [run_catalog()]
    injected = _stop_faults(sf, ls)
    while runs[-1].state != "success" and len(runs) < MAX_RERUNS:
        runs.append(run_catalog())  # the next nightly run or a button press

    sf_logins, ls_logins = _SAVED["logins"]
    LEDGER.add(f"catalogue: {request.node.callspec.id}", *injected,
               note=f"{len(runs)} run(s); logins: Salesforce {sf_logins}, LogiSense {ls_logins}")  # fmt: skip
    if scenario is SESSIONS_EXPIRE:  # the LogiSense token (1 s) had to be renewed during the run
        assert ls_logins >= 2
    assert sum(injected[0].values()) + sum(injected[1].values()) > 0, "no fault was injected"
    assert runs[-1].state == "success", [r.report.get("failed") or r.tasks for r in runs]
    assert diff(reference, _state(sf, ls)) == []


def test_a_request_limit_part_way_stops_the_catalogue_cleanly_and_a_rerun_completes(
    sandboxes: tuple[Any, Any], run_catalog: Callable[..., DagResult]
) -> None:
    sf, ls = sandboxes
    reference = _catalogue_reference(sf, ls, run_catalog)
    ls.seed(**SMALL_CATALOGUE)
    usage = sf.control("POST", "settings", {})["api_usage"]
    sf.control("POST", "settings", {"daily_api_limit": usage + 12})

    first = run_catalog()

    assert first.state == "failed"
    assert "request limit" in (first.report.get("stopped") or ""), first.report
    assert first.report["not_processed"], first.report
    limit_hits = sum(1 for c in sf.requests()["calls"] if c["status"] == 403)
    sf.control("POST", "settings", {"daily_api_limit": 100_000})
    second = run_catalog()
    LEDGER.add("catalogue: REQUEST_LIMIT_EXCEEDED part-way", {"REQUEST_LIMIT_EXCEEDED": limit_hits}, {},
               note="limit at usage+12 calls, then a rerun")  # fmt: skip
    assert second.state == "success", second.report
    assert diff(reference, _state(sf, ls)) == []


# -------------------------------------------------------------------------------------- opportunity


def _deals(w: World) -> list[str]:
    """A new customer (two-level hierarchy, contacts, account packages) and a price plan deal."""
    top = w.account("Acme Group")
    child = w.account("Acme EU", parent=top, Subscription_Invoicer__c=top, Tax_Inheritance_Account__c=top)
    w.contact(top, "Smith", contact_type="Billing")
    w.contact(child, "Jones", contact_type="Primary")
    opp, lines = w.opportunity(child, name="Acme EU PBX", lines=[(1, 90), (2, 120)])
    w.override(opp, lines[1], "Seat", quantity=3)
    globex = w.account("Globex")
    w.contact(globex, "Lee", contact_type="Billing")
    plan, plan_lines = w.opportunity(globex, name="Globex plan", type_="Existing Customer - Replacement",
                                     lines=[(1, 80)])  # fmt: skip
    w.override(plan, plan_lines[0], "Seat", amount=25)
    return [w.request(opportunity=opp), w.request(opportunity=plan)]


# Fields of a request that record how it went (attempts, run ids), not what it did.
REQUEST_BOOKKEEPING = ("Attempts__c", "Message__c")


def _opportunity_reference(
    sf: Any, ls: Any, world_factory: Callable[[], World], run_opportunity: Callable[..., DagResult]
) -> list[list[str]]:
    if "opportunity" not in _REFERENCE:
        w = world_factory()
        requests = _deals(w)
        run = run_opportunity(request_ids=requests)
        assert run.state == "success", run.tasks
        statuses = [w.get("LogiSense_Request__c", r)["Status__c"] for r in requests]
        assert statuses == ["Completed", "Completed"], [w.get("LogiSense_Request__c", r) for r in requests]
        _REFERENCE["opportunity"] = _state(sf, ls, REQUEST_BOOKKEEPING)
        w.close()
        sf.reset()
        ls.reset()
    reference: list[list[str]] = _REFERENCE["opportunity"]
    return reference


def _truthful(w: World, request_id: str, *, salesforce_was_unavailable: bool = False) -> str:
    """The request's status, checked against LogiSense: Completed means its objects are all there.

    A request is never left Processing by a run that ended, unless Salesforce itself refused every call
    (the request limit): then nothing can be written back, and the lease lets a later run take it over.
    """
    req = w.get("LogiSense_Request__c", request_id)
    status = str(req["Status__c"])
    allowed = {"Waiting", "Completed", "Failed"} | ({"Processing"} if salesforce_was_unavailable else set())
    assert status in allowed, req
    opp = w.get("Opportunity", req["Opportunity__c"])
    account = w.get("Account", opp["AccountId"])
    if status == "Completed":
        assert opp["LogiSense_Sync_Status__c"] == "Synced"
        assert account["LogiSense_Account_Id__c"], "Completed but the account was not written back"
        marked = {a["extensions"].get("sfdcid") for a in w.ls_objects("Account")}
        assert opp["AccountId"] in marked
    if status == "Waiting":
        assert req["Message__c"], "a request put back to Waiting says why"
    return status


# The random-fault scenarios of the opportunity sync take 15-30 s each (client backoff plus Airflow retries).
SLOW = {"10% random 503s on every API", "10% dropped connections on every API"}
OPPORTUNITY_SCENARIOS = [
    pytest.param(s, id=name, marks=[pytest.mark.slow] if name in SLOW else [])
    for name, s in SCENARIOS.items()
]


@pytest.mark.parametrize("scenario", OPPORTUNITY_SCENARIOS)
def test_the_opportunity_sync_under_faults_ends_exactly_like_the_fault_free_run(
    sandboxes: tuple[Any, Any], run_opportunity: Callable[..., DagResult], scenario: Scenario,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    sf, ls = sandboxes

    def world_factory() -> World:
        w = World(sf.url, ls.url)
        w.build_catalogue()
        return w

    reference = _opportunity_reference(sf, ls, world_factory, run_opportunity)
    w = world_factory()
    requests = _deals(w)
    _inject(sf, ls, scenario)

    runs = [run_opportunity(request_ids=requests)]
    injected = _stop_faults(sf, ls)
    statuses = [_truthful(w, r) for r in requests]
    while statuses != ["Completed", "Completed"] and len(runs) < MAX_RERUNS:
        assert "Failed" not in statuses, [w.get("LogiSense_Request__c", r)["Message__c"] for r in requests]
        runs.append(run_opportunity())  # the 15-minute sweep takes every Waiting request
        statuses = [_truthful(w, r) for r in requests]

    sf_logins, ls_logins = _SAVED["logins"]
    LEDGER.add(f"opportunity: {request.node.callspec.id}", *injected,
               note=f"{len(runs)} run(s); logins: Salesforce {sf_logins}, LogiSense {ls_logins}")  # fmt: skip
    if scenario is SESSIONS_EXPIRE:  # the LogiSense token (1 s) had to be renewed during the run
        assert ls_logins >= 2
    assert sum(injected[0].values()) + sum(injected[1].values()) > 0, "no fault was injected"
    assert statuses == ["Completed", "Completed"], [w.get("LogiSense_Request__c", r) for r in requests]
    attempts = [w.get("LogiSense_Request__c", r)["Attempts__c"] for r in requests]
    assert all(1 <= a <= 5 for a in attempts), attempts
    found = diff(reference, _state(sf, ls, REQUEST_BOOKKEEPING))
    w.close()
    assert found == [], json.dumps(found, indent=1)


@pytest.mark.slow  # about 45 s: the limited run's units wait for their Airflow retries
def test_a_request_limit_part_way_leaves_requests_to_retry_and_a_rerun_completes_them(
    sandboxes: tuple[Any, Any], run_opportunity: Callable[..., DagResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    sf, ls = sandboxes
    # Requests the limited run could not write back stay Processing under its lease; the later sweep
    # takes them over once the lease has expired (shortened here instead of waiting 15 minutes).
    monkeypatch.setenv("LOGISENSE_OPPORTUNITY_LEASE_SECONDS", "1")

    def world_factory() -> World:
        w = World(sf.url, ls.url)
        w.build_catalogue()
        return w

    reference = _opportunity_reference(sf, ls, world_factory, run_opportunity)
    w = world_factory()
    requests = _deals(w)
    usage = sf.control("POST", "settings", {})["api_usage"]
    sf.control("POST", "settings", {"daily_api_limit": usage + 15})

    first = run_opportunity(request_ids=requests)

    limit_hits = sum(1 for c in sf.requests()["calls"] if c["status"] == 403)
    sf.control("POST", "settings", {"daily_api_limit": 100_000})
    statuses = [_truthful(w, r, salesforce_was_unavailable=True) for r in requests]
    assert first.state == "failed" or statuses != ["Completed", "Completed"]
    assert limit_hits > 0
    runs = 1
    while statuses != ["Completed", "Completed"] and runs < MAX_RERUNS:
        time.sleep(1.1)
        run_opportunity()
        runs += 1
        statuses = [_truthful(w, r) for r in requests]
    LEDGER.add("opportunity: REQUEST_LIMIT_EXCEEDED part-way", {"REQUEST_LIMIT_EXCEEDED": limit_hits}, {},
               note=f"limit at usage+15 calls; {runs} run(s)")  # fmt: skip
    assert statuses == ["Completed", "Completed"]
    found = diff(reference, _state(sf, ls, REQUEST_BOOKKEEPING))
    w.close()
    assert found == []
