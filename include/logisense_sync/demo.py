"""``make demo``: both sandboxes and an embedded Airflow on 127.0.0.1, driven as the Salesforce buttons do.

1. ``logisense-sync sandbox --data-dir .demo/sandbox --seed demo`` (Salesforce :8443, LogiSense :8444).
2. ``airflow standalone`` (SQLite, LocalExecutor, 4 task slots, API on 127.0.0.1:8080) with the
   repo's ``dags/`` and the connections ``salesforce_default`` / ``logisense_default`` (the sandboxes).
3. A JWT from ``/auth/token``; ``POST /api/v2/dags/logisense_catalog_sync/dagRuns``; wait.
4. The "Push to LogiSense" button for one Closed Won opportunity: a ``LogiSense_Request__c`` (Status Waiting),
   then ``POST /api/v2/dags/logisense_opportunity_sync/dagRuns`` with ``{"request_ids": [id]}``; wait.
5. A summary of what changed on each side, the UI address and login; then it runs until Ctrl-C.

Everything lives under ``.demo/`` (git-ignored). The admin password, the JWT secret and the API secret key are
generated once into ``.demo/secrets.json`` and reused by later runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from logisense_sync.cli import connection_env
from logisense_sync.processes import ProcessSet, port_in_use

logger = logging.getLogger("logisense_sync.demo")

CATALOG_DAG = "logisense_catalog_sync"
OPPORTUNITY_DAG = "logisense_opportunity_sync"
TERMINAL_STATES = {"success", "failed"}
# POSTs that read or log in rather than change anything.
READ_ONLY_POSTS = ("/Search", "/oauth2/token", "/Access/Login", "/query/")
HOST = "127.0.0.1"


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class DemoSettings:
    """Where the demo runs and keeps its files."""

    root: Path
    salesforce_port: int = 8443
    logisense_port: int = 8444
    airflow_port: int = 8080
    startup_timeout: float = 240.0
    run_timeout: float = 600.0

    @property
    def home(self) -> Path:
        """``.demo/``: sandbox state, Airflow home, logs and secrets."""
        return self.root / ".demo"

    @property
    def sandbox_dir(self) -> Path:
        """Sandbox state and certificates."""
        return self.home / "sandbox"

    @property
    def airflow_home(self) -> Path:
        """``AIRFLOW_HOME`` of the embedded Airflow."""
        return self.home / "airflow"

    @property
    def logs(self) -> Path:
        """Output of the child processes."""
        return self.home / "logs"

    @property
    def ca(self) -> Path:
        """The sandbox CA certificate."""
        return self.sandbox_dir / "ca.pem"

    @property
    def airflow_url(self) -> str:
        """Base URL of the Airflow API server and UI."""
        return f"http://{HOST}:{self.airflow_port}"

    @property
    def salesforce_url(self) -> str:
        """Base URL of the Salesforce sandbox."""
        return f"https://{HOST}:{self.salesforce_port}"

    @property
    def logisense_url(self) -> str:
        """Base URL of the LogiSense sandbox."""
        return f"https://{HOST}:{self.logisense_port}"


def repo_root() -> Path:
    """Return the checkout holding ``dags/`` (the current directory first, then this file's checkout)."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (candidate / "dags").is_dir() and (candidate / "pyproject.toml").is_file():
            return candidate
    msg = "run the demo from the repository root (the directory holding dags/ and pyproject.toml)"
    raise DemoError(msg)


def load_secrets(home: Path) -> dict[str, str]:
    """Return the demo's secrets, generating ``secrets.json`` (mode 0600) on the first run."""
    path = home / "secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    home.mkdir(parents=True, exist_ok=True)
    values = {
        "admin_password": secrets.token_urlsafe(12),
        "jwt_secret": secrets.token_urlsafe(64),
        "api_secret_key": secrets.token_urlsafe(32),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle, indent=2)
    return values


def airflow_env(settings: DemoSettings, demo_secrets: Mapping[str, str]) -> dict[str, str]:
    """Return the environment of ``airflow standalone``: every setting the demo relies on is explicit."""
    home = settings.airflow_home.resolve()
    passwords = home / "passwords.json"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_"))}
    # standalone starts its components as `airflow ...` through PATH: put this venv first.
    path = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", os.defpath)])
    return (
        base
        | {
            "PATH": path,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str((settings.root / "dags").resolve()),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str((settings.root / "plugins").resolve()),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.airflow_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(settings.airflow_port),
            "AIRFLOW__API__BASE_URL": settings.airflow_url,
            "AIRFLOW__API__SECRET_KEY": demo_secrets["api_secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": demo_secrets["jwt_secret"],
            # A new DAG file shows up within 30 s instead of 5 min.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "LOGISENSE_SYNC_RUN_DIR": str(settings.home.resolve() / "runs"),
        }
        | connection_env(HOST, settings.salesforce_port, settings.logisense_port, settings.ca)
    )


def _poll(what: str, timeout: float, probe: Callable[[], Any], procs: ProcessSet, every: float = 0.5) -> Any:
    """Call ``probe`` until it returns something truthy; fail if a child dies or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive()
        result = probe()
        if result:
            return result
        time.sleep(every)
    msg = f"timed out after {timeout:.0f} s waiting for {what}"
    raise DemoError(msg)


def _get_json(session: requests.Session, url: str, **kwargs: Any) -> Any:
    try:
        response = session.get(url, timeout=10, **kwargs)
    except (requests.ConnectionError, requests.Timeout):
        return None
    return response.json() if response.status_code == 200 else None


class AirflowApi:
    """The Airflow REST API with a JWT from ``/auth/token``, as a Salesforce Named Credential uses it."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self.username = username
        self.password = password
        self.session = requests.Session()
        self.session.trust_env = False
        response = self.session.post(
            f"{base_url}/auth/token", json={"username": username, "password": password}, timeout=10
        )
        if response.status_code != 201:
            msg = f"POST /auth/token answered {response.status_code}: {response.text[:300]}"
            raise DemoError(msg)
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        """GET an ``/api/v2`` path; return the JSON body or None when it is not 200."""
        return _get_json(self.session, f"{self.base_url}/api/v2{path}", params=params)

    def trigger(self, dag_id: str, conf: Mapping[str, Any], attempts: int = 5) -> str:
        """``POST /api/v2/dags/{dag_id}/dagRuns`` as the Salesforce buttons do; return the run id.

        The run id is chosen here, so a retry after a 5xx (SQLite can be busy in the embedded setup) never
        creates a second run: a 409 means an earlier attempt got through.
        """
        run_id = f"demo__{uuid.uuid4().hex[:12]}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf)}
        for attempt in range(1, attempts + 1):
            response = self.session.post(
                f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns", json=body, timeout=60
            )
            if response.status_code == 200 or (response.status_code == 409 and attempt > 1):
                return run_id
            if response.status_code < 500 or attempt == attempts:
                msg = f"triggering {dag_id} answered {response.status_code}: {response.text[:500]}"
                raise DemoError(msg)
            logger.warning("triggering %s answered %d; retrying", dag_id, response.status_code)
            time.sleep(2 * attempt)
        raise AssertionError  # unreachable

    def task_states(self, dag_id: str, run_id: str) -> Counter[str]:
        """Count the run's task instances (mapped ones included) by state."""
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=1000) or {}
        return Counter(
            f"{ti['task_id']}={ti['state']}" for ti in body.get("task_instances", []) if ti.get("state")
        )

    def report(self, dag_id: str, run_id: str) -> Any:
        """The run's report: the return value of its ``report`` task, if it has one."""
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/report/xcomEntries/return_value")
        return body.get("value") if body else None


def _start_sandboxes(settings: DemoSettings, procs: ProcessSet, seed: str = "demo") -> None:
    args = [
        sys.executable,
        "-m",
        "logisense_sync.cli",
        "sandbox",
        "--data-dir",
        str(settings.sandbox_dir),
        "--seed",
        seed,
        "--salesforce-port",
        str(settings.salesforce_port),
        "--logisense-port",
        str(settings.logisense_port),
    ]
    procs.start("sandbox", args, env=os.environ, log_path=settings.logs / "sandbox.log", cwd=settings.root)
    session = requests.Session()
    session.trust_env = False

    def ready() -> bool:
        if not settings.ca.exists():
            return False
        session.verify = str(settings.ca)
        return all(
            _get_json(session, f"{url}/__sandbox__/requests") is not None
            for url in (settings.salesforce_url, settings.logisense_url)
        )

    _poll("the sandboxes", 60, ready, procs, every=0.2)


def _start_airflow(settings: DemoSettings, demo_secrets: Mapping[str, str], procs: ProcessSet) -> None:
    home = settings.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "passwords.json"
    fd = os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"admin": demo_secrets["admin_password"]}, handle)
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = airflow_env(settings, demo_secrets)
    procs.start("airflow", [airflow, "standalone"], env=env, log_path=settings.logs / "airflow.log")
    session = requests.Session()
    session.trust_env = False

    def healthy() -> bool:
        health = _get_json(session, f"{settings.airflow_url}/api/v2/monitor/health") or {}
        return all(health.get(part, {}).get("status") == "healthy" for part in ("scheduler", "dag_processor"))

    _poll(f"Airflow at {settings.airflow_url} (log: {settings.logs / 'airflow.log'})", 240, healthy, procs)


def _wait_for_dags(api: AirflowApi, procs: ProcessSet) -> None:
    def parsed() -> bool:
        errors = (api.get("/importErrors") or {}).get("import_errors", [])
        if errors:
            details = "\n".join(f"{e['filename']}:\n{e['stack_trace']}" for e in errors)
            msg = f"DAG files failed to import:\n{details}"
            raise DemoError(msg)
        return all(api.get(f"/dags/{dag_id}") for dag_id in (CATALOG_DAG, OPPORTUNITY_DAG))

    _poll("both DAGs to be parsed", 120, parsed, procs)


def _wait_for_run(api: AirflowApi, dag_id: str, run_id: str, timeout: float, procs: ProcessSet) -> str:
    started = time.monotonic()

    def finished() -> str | None:
        run = api.get(f"/dags/{dag_id}/dagRuns/{run_id}") or {}
        return run.get("state") if run.get("state") in TERMINAL_STATES else None

    state: str = _poll(f"{dag_id} run {run_id}", timeout, finished, procs)
    logger.info("%s %s: %s in %.1f s", dag_id, run_id, state, time.monotonic() - started)
    return state


def _snapshot(settings: DemoSettings) -> dict[str, dict[str, int]]:
    """Object counts per sandbox, from ``GET /__sandbox__/snapshot``."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(settings.ca)
    return {
        name: _count_objects(_get_json(session, f"{url}/__sandbox__/snapshot") or {})
        for name, url in (("Salesforce", settings.salesforce_url), ("LogiSense", settings.logisense_url))
    }


def _count_objects(snapshot: Any, prefix: str = "") -> dict[str, int]:
    """Count the records in a snapshot: lists count their items; dicts of lists/dicts are walked one level."""
    counts: dict[str, int] = {}
    if not isinstance(snapshot, dict):
        return counts
    for key, value in snapshot.items():
        name = f"{prefix}{key}".removeprefix("records.")
        if isinstance(value, list):
            counts[name] = len(value)
        elif isinstance(value, dict) and not prefix:
            nested = _count_objects(value, prefix=f"{name}.")
            counts.update(nested if nested else {name: len(value)})
        elif isinstance(value, dict):
            counts[name] = len(value)
    return counts


def _writes(settings: DemoSettings) -> dict[str, Counter[str]]:
    """Write calls per route per sandbox, from ``GET /__sandbox__/requests``."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(settings.ca)
    result: dict[str, Counter[str]] = {}
    for name, url in (("Salesforce", settings.salesforce_url), ("LogiSense", settings.logisense_url)):
        body = _get_json(session, f"{url}/__sandbox__/requests") or {}
        result[name] = Counter(
            {
                route: count
                for route, count in body.get("by_route", {}).items()
                if route.split(" ", 1)[0] in {"POST", "PUT", "PATCH", "DELETE"}
                and not route.endswith(READ_ONLY_POSTS)
                and "__sandbox__" not in route
            }
        )
    return result


def _diff_lines(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], writes: dict[str, Counter[str]]
) -> Iterator[str]:
    for side in after:
        changes = [
            f"{key} {before.get(side, {}).get(key, 0)} -> {count}"
            for key, count in sorted(after[side].items())
            if count != before.get(side, {}).get(key, 0)
        ]
        yield f"  {side}: " + ("; ".join(changes) if changes else "no object count changed")
        if writes.get(side):
            top = ", ".join(f"{route} x{n}" for route, n in writes[side].most_common(8))
            yield f"    write calls: {top}"


DEMO_ACCOUNT = "Acme East"  # a child of Acme Holdings in the demo seed: the push provisions both


def _sell_a_deal(sf: Any) -> dict[str, Any]:
    """What a sales rep does before pressing the button: a Closed Won opportunity on a synced product.

    Args:
        sf: a ``logisense_sync.button.SalesforceRest`` session.

    Returns:
        The opportunity's ``Id``, ``Name`` and ``Type``.
    """
    from logisense_sync.clients.soql import format_soql

    def query(template: str, *args: Any) -> list[dict[str, Any]]:
        response = sf.session.get(
            f"{sf.instance_url}/services/data/{sf.api_version}/query/",
            params={"q": format_soql(template, *args)},
            headers={"Authorization": f"Bearer {sf.access_token}"},
            timeout=30,
        )
        response.raise_for_status()
        records: list[dict[str, Any]] = response.json()["records"]
        return records

    entries = query(
        "SELECT Id, Pricebook2Id, UnitPrice FROM PricebookEntry WHERE LogiSense_Id__c != null "
        "AND CurrencyIsoCode = {} AND IsActive = true ORDER BY LogiSense_Id__c LIMIT 1",
        "USD",
    )
    if not entries:
        msg = "no synced USD PricebookEntry in Salesforce: the catalogue sync did not load any product"
        raise DemoError(msg)
    accounts = query("SELECT Id FROM Account WHERE Name = {} LIMIT 1", DEMO_ACCOUNT)
    if not accounts:
        msg = f"the Salesforce sandbox has no account {DEMO_ACCOUNT!r} (was it seeded with --seed demo?)"
        raise DemoError(msg)
    entry = entries[0]
    name = f"{DEMO_ACCOUNT} - demo deal {time.strftime('%Y-%m-%d %H:%M:%S')}"
    opportunity_id = sf.create(
        "Opportunity",
        {
            "Name": name,
            "AccountId": accounts[0]["Id"],
            "StageName": "Closed Won",
            "Type": "New Customer",
            "CloseDate": time.strftime("%Y-%m-%d"),
            "CurrencyIsoCode": "USD",
            "Pricebook2Id": entry["Pricebook2Id"],
        },
    )
    sf.create(
        "OpportunityLineItem",
        {
            "OpportunityId": opportunity_id,
            "PricebookEntryId": entry["Id"],
            "Quantity": 1,
            "UnitPrice": entry["UnitPrice"],
        },
    )
    return {"Id": opportunity_id, "Name": name, "Type": "New Customer"}


def push_to_logisense(settings: DemoSettings, api: AirflowApi) -> tuple[str, str, Any]:
    """Press the Opportunity "Push to LogiSense" button (``logisense_sync.button``) for one Closed Won deal.

    Returns:
        The request id, the Airflow run id and a Salesforce session for reading the request back.
    """
    from logisense_sync import button
    from logisense_sync.cli import SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET

    session = requests.Session()
    session.trust_env = False
    session.verify = str(settings.ca)
    sf = button.SalesforceRest.login(
        settings.salesforce_url, SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET, session=session
    )
    opportunity = _sell_a_deal(sf)
    airflow = button.AirflowApi(api.base_url, api.username, api.password, api.session)
    pressed = button.press(sf, airflow, opportunity_id=opportunity["Id"])
    logger.info(
        "pressed Push to LogiSense on %r (%s, Type %r): LogiSense_Request__c %s",
        opportunity["Name"],
        opportunity["Id"],
        opportunity.get("Type"),
        pressed.request_id,
    )
    run_id = pressed.dag_run_id or api.trigger(OPPORTUNITY_DAG, {"request_ids": [pressed.request_id]})
    return pressed.request_id, run_id, sf


def _sub(after: dict[str, Counter[str]], before: dict[str, Counter[str]]) -> dict[str, Counter[str]]:
    return {side: after[side] - before.get(side, Counter()) for side in after}


def _run_lines(title: str, api: AirflowApi, dag_id: str, run_id: str, state: str) -> list[str]:
    tasks = api.task_states(dag_id, run_id)
    lines = [
        f"{title}: {dag_id} run {run_id} -> {state.upper()}",
        "  tasks: " + ", ".join(f"{k} x{n}" if n > 1 else k for k, n in sorted(tasks.items())),
    ]
    report = api.report(dag_id, run_id)
    if report:
        lines.append("  report: " + json.dumps(report, default=str)[:800])
    return lines


def _request_lines(sf: Any, request_id: str) -> list[str]:
    from logisense_sync import button

    try:
        request = button.wait_for_request(sf, request_id, timeout=60)
    except TimeoutError as exc:
        return [f"  LogiSense_Request__c {request_id}: {exc}"]
    lines = [f"  LogiSense_Request__c {request_id}: {request['Status__c']}"]
    if request.get("Message__c"):
        lines.append(f"    message: {request['Message__c']}")
    return lines


def _fail_if_ports_taken(settings: DemoSettings) -> None:
    for port, what, flag in (
        (settings.salesforce_port, "Salesforce sandbox", "--salesforce-port"),
        (settings.logisense_port, "LogiSense sandbox", "--logisense-port"),
        (settings.airflow_port, "Airflow API server", "--airflow-port"),
    ):
        if port_in_use(HOST, port):
            msg = (
                f"{HOST}:{port} (for the {what}) is already in use, maybe by another `make demo` or "
                f"`make sandbox`. Stop it, or pick another port: `python -m logisense_sync.demo {flag} N`."
            )
            raise DemoError(msg)


def run_demo(settings: DemoSettings, *, wait: bool = True) -> int:
    """Run the whole demo; return the process exit status."""
    _fail_if_ports_taken(settings)
    demo_secrets = load_secrets(settings.home)
    os.environ["REQUESTS_CA_BUNDLE"] = str(settings.ca.resolve())
    t0 = time.monotonic()
    failed = False
    with ProcessSet() as procs:
        logger.info("starting the sandboxes (log: %s)", settings.logs / "sandbox.log")
        _start_sandboxes(settings, procs)
        baseline, baseline_writes = _snapshot(settings), _writes(settings)
        logger.info("sandboxes up after %.1f s; starting airflow standalone", time.monotonic() - t0)
        _start_airflow(settings, demo_secrets, procs)
        api = AirflowApi(settings.airflow_url, "admin", demo_secrets["admin_password"])
        _wait_for_dags(api, procs)
        logger.info("Airflow up with both DAGs after %.1f s", time.monotonic() - t0)

        lines: list[str] = []
        # Unpausing starts each DAG's latest scheduled run at once (catchup=False), so changes are counted
        # from the moment the sandboxes came up, not only around the runs triggered here.
        catalog_run = api.trigger(CATALOG_DAG, {})
        state = _wait_for_run(api, CATALOG_DAG, catalog_run, settings.run_timeout, procs)
        failed |= state != "success"
        lines += _run_lines(
            "Catalogue sync (the 'Sync Pricebook' button)", api, CATALOG_DAG, catalog_run, state
        )
        after_catalog, writes_catalog = _snapshot(settings), _writes(settings)
        lines.extend(_diff_lines(baseline, after_catalog, _sub(writes_catalog, baseline_writes)))

        request_id, push_run, sf = push_to_logisense(settings, api)
        state = _wait_for_run(api, OPPORTUNITY_DAG, push_run, settings.run_timeout, procs)
        failed |= state != "success"
        lines += _run_lines(
            "Closed Won push (the 'Push to LogiSense' button)", api, OPPORTUNITY_DAG, push_run, state
        )
        lines += _request_lines(sf, request_id)
        lines.extend(_diff_lines(after_catalog, _snapshot(settings), _sub(_writes(settings), writes_catalog)))
        elapsed = time.monotonic() - t0
        _print_summary(settings, demo_secrets, lines, elapsed)
        if wait:
            _wait_for_interrupt(procs)
    return 1 if failed else 0


def _print_summary(
    settings: DemoSettings, demo_secrets: Mapping[str, str], lines: list[str], elapsed: float
) -> None:
    login = json.dumps({"username": "admin", "password": demo_secrets["admin_password"]})
    out = [
        "",
        "=" * 78,
        f"logisense-sync demo: both runs finished {elapsed:.0f} s after start",
        "",
        *lines,
        "",
        f"Airflow UI      {settings.airflow_url}   login admin / {demo_secrets['admin_password']}",
        f"                (password kept in {settings.home / 'secrets.json'})",
        f"Salesforce      {settings.salesforce_url}   (client credentials sandbox-client / sandbox-secret)",
        f"LogiSense       {settings.logisense_url}   (admin / sandbox, client_id sandbox)",
        f"CA certificate  {settings.ca}",
        f"Logs            {settings.logs}/",
        "Trigger again:  TOKEN=$(curl -s -X POST "
        f"{settings.airflow_url}/auth/token -H 'Content-Type: application/json' "
        f"-d '{login}' | jq -r .access_token)",
        f"                curl -X POST {settings.airflow_url}/api/v2/dags/{CATALOG_DAG}/dagRuns "
        "-H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
        '-d \'{"logical_date": null, "conf": {}}\'',
        "=" * 78,
    ]
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


def _wait_for_interrupt(procs: ProcessSet) -> None:
    sys.stdout.write("Running until Ctrl-C.\n")
    sys.stdout.flush()
    try:
        while True:
            procs.check_alive()
            time.sleep(0.5)
    finally:
        logger.info("stopping Airflow and the sandboxes")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the demo."""
    parser = argparse.ArgumentParser(
        prog="python -m logisense_sync.demo", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--salesforce-port", type=int, default=8443)
    parser.add_argument("--logisense-port", type=int, default=8444)
    parser.add_argument("--airflow-port", type=int, default=8080)
    parser.add_argument("--run-timeout", type=float, default=600.0, help="seconds to wait for each DAG run")
    parser.add_argument(
        "--no-wait", action="store_true", help="stop everything after the runs (no Ctrl-C wait)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )
    settings = DemoSettings(
        root=repo_root(),
        salesforce_port=args.salesforce_port,
        logisense_port=args.logisense_port,
        airflow_port=args.airflow_port,
        run_timeout=args.run_timeout,
    )
    # SIGTERM (e.g. from a supervisor) unwinds like Ctrl-C, so every child process group gets stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run_demo(settings, wait=not args.no_wait)
    except DemoError as exc:
        logger.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 130
    except RuntimeError as exc:  # a child process died; its log tail is in the message
        logger.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
