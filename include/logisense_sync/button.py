"""Exactly what the Salesforce "Push to LogiSense" buttons do, from Python (demo, benchmarks, manual tests).

The Apex behind the buttons (``include/salesforce/main/default/classes/LogiSensePushController.cls``):

1. inserts a ``LogiSense_Request__c`` with ``Status__c = Waiting`` and ``Type__c`` Opportunity (with
   ``Opportunity__c`` and ``Account__c``) or Account (with ``Account__c``), and sets the opportunity's
   ``LogiSense_Sync_Status__c`` to ``Waiting``;
2. then (in a Queueable, because a callout cannot follow DML in one transaction) calls
   ``POST /api/v2/dags/logisense_opportunity_sync/dagRuns`` with
   ``{"logical_date": null, "conf": {"request_ids": ["<request id>"]}}`` through the Named Credential
   ``LogiSense_Airflow``, which authenticates with a JWT obtained from Airflow's ``/auth/token``.

Command line (defaults point at the local sandbox and ``airflow standalone``)::

    python -m logisense_sync.button --opportunity 006XXXXXXXXXXXXXXX [--wait 60]
    python -m logisense_sync.button --account 001XXXXXXXXXXXXXXX

Settings come from options or the environment: ``SALESFORCE_URL`` (``https://127.0.0.1:8443``),
``SALESFORCE_CLIENT_ID`` / ``SALESFORCE_CLIENT_SECRET`` (the sandbox's ``sandbox-client`` /
``sandbox-secret``),
``AIRFLOW_URL`` (``http://127.0.0.1:8080``), ``AIRFLOW_USERNAME`` / ``AIRFLOW_PASSWORD``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests

from logisense_sync.errors import FatalError, RetriableError

logger = logging.getLogger(__name__)

DAG_ID = "logisense_opportunity_sync"
API_VERSION = "v59.0"


class ButtonError(FatalError):
    """The button could not queue the request or trigger the DAG."""


@dataclass
class SalesforceRest:
    """A minimal Salesforce REST session (what the Apex does with DML, done over the REST API).

    Args:
        instance_url: ``https://host[:port]``.
        access_token: an OAuth access token.
        session: the HTTP session.
        api_version: ``vNN.N``.
    """

    instance_url: str
    access_token: str
    session: requests.Session
    api_version: str = API_VERSION

    @classmethod
    def login(
        cls,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        username: str | None = None,
        password: str | None = None,
        session: requests.Session | None = None,
    ) -> SalesforceRest:
        """Log in with the OAuth client-credentials flow (or the password flow when a username is given).

        Args:
            url: the login host, e.g. ``https://127.0.0.1:8443`` or ``https://login.salesforce.com``.
            client_id: the connected app's consumer key.
            client_secret: its consumer secret.
            username: for the password flow.
            password: for the password flow.
            session: an HTTP session to reuse.

        Returns:
            A logged-in session.

        Raises:
            ButtonError: the login was refused.
        """
        http = session or requests.Session()
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        if username:
            form.update(grant_type="password", username=username, password=password or "")
        response = http.post(f"{url.rstrip('/')}/services/oauth2/token", data=form, timeout=30)
        if response.status_code != 200:
            msg = f"Salesforce login failed ({response.status_code}): {response.text[:300]}"
            raise ButtonError(msg)
        body = response.json()
        return cls(str(body["instance_url"]).rstrip("/"), str(body["access_token"]), http)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.instance_url}/services/data/{self.api_version}/{path}"
        headers = {"Authorization": f"Bearer {self.access_token}", "Content-Type": "application/json"}
        response = self.session.request(method, url, json=body, headers=headers, timeout=60)
        if response.status_code >= 500:
            msg = f"Salesforce {method} {path}: {response.status_code} {response.text[:300]}"
            raise RetriableError(msg)
        if response.status_code >= 300:
            msg = f"Salesforce {method} {path}: {response.status_code} {response.text[:300]}"
            raise ButtonError(msg)
        return response.json() if response.content else None

    def create(self, sobject: str, fields: dict[str, Any]) -> str:
        """Insert a record and return its id."""
        result = self._call("POST", f"sobjects/{sobject}/", fields)
        return str(result["id"])

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        """Update a record."""
        self._call("PATCH", f"sobjects/{sobject}/{record_id}", fields)

    def get(self, sobject: str, record_id: str, fields: Sequence[str]) -> dict[str, Any]:
        """Read some fields of a record."""
        result: dict[str, Any] = self._call(
            "GET", f"sobjects/{sobject}/{record_id}?fields={','.join(fields)}"
        )
        return result


@dataclass
class AirflowApi:
    """The Airflow 3 REST API with a JWT from ``/auth/token``.

    Args:
        base_url: e.g. ``http://127.0.0.1:8080``.
        username: an Airflow user allowed to trigger DAG runs.
        password: its password.
        session: the HTTP session.
    """

    base_url: str
    username: str
    password: str
    session: requests.Session
    _token: str | None = None

    def token(self) -> str:
        """Return a JWT (``POST /auth/token``), cached for this object's life."""
        if self._token is None:
            response = self.session.post(
                f"{self.base_url.rstrip('/')}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=30,
            )
            if response.status_code not in (200, 201):
                msg = f"Airflow refused the login ({response.status_code}): {response.text[:300]}"
                raise ButtonError(msg)
            self._token = str(response.json()["access_token"])
        return self._token

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/v2/dags/{dag_id}/dagRuns`` with ``{"logical_date": null, "conf": conf}``.

        Args:
            dag_id: the DAG.
            conf: the run conf.

        Returns:
            The DAG run as Airflow returns it (``dag_run_id``, ``state``...).

        Raises:
            ButtonError: Airflow refused the trigger.
        """
        response = self.session.post(
            f"{self.base_url.rstrip('/')}/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": conf},
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=30,
        )
        if response.status_code not in (200, 201):
            msg = f"Airflow refused the trigger ({response.status_code}): {response.text[:300]}"
            raise ButtonError(msg)
        result: dict[str, Any] = response.json()
        return result


@dataclass
class ButtonPress:
    """What one press did."""

    request_id: str
    dag_run_id: str | None


def press(
    sf: SalesforceRest,
    airflow: AirflowApi,
    *,
    opportunity_id: str | None = None,
    account_id: str | None = None,
) -> ButtonPress:
    """Do what the button does: queue a request, then trigger the DAG for it.

    Args:
        sf: a Salesforce session.
        airflow: the Airflow API.
        opportunity_id: the opportunity (Opportunity button).
        account_id: the account (Account button; ignored when an opportunity is given).

    Returns:
        The request id and the DAG run id.

    Raises:
        ButtonError: neither id given, or Salesforce/Airflow refused a call.
    """
    if opportunity_id:
        opportunity = sf.get("Opportunity", opportunity_id, ["AccountId"])
        fields: dict[str, Any] = {
            "Type__c": "Opportunity",
            "Status__c": "Waiting",
            "Opportunity__c": opportunity_id,
            "Account__c": opportunity.get("AccountId"),
            "Attempts__c": 0,
        }
    elif account_id:
        fields = {"Type__c": "Account", "Status__c": "Waiting", "Account__c": account_id, "Attempts__c": 0}
    else:
        msg = "give an opportunity or an account"
        raise ButtonError(msg)
    request_id = sf.create("LogiSense_Request__c", fields)
    if opportunity_id:
        sf.update("Opportunity", opportunity_id, {"LogiSense_Sync_Status__c": "Waiting"})
    # The Apex Queueable runs after the DML commits; so does this call.
    try:
        run = airflow.trigger(DAG_ID, {"request_ids": [request_id]})
    except (ButtonError, requests.RequestException) as exc:
        # Like the Apex: the request stays Waiting; the 15-minute sweep picks it up.
        logger.warning(
            "request %s queued, but the trigger failed (%s); the next sweep takes it", request_id, exc
        )
        return ButtonPress(request_id, None)
    return ButtonPress(request_id, str(run.get("dag_run_id")))


def wait_for_request(
    sf: SalesforceRest, request_id: str, timeout: float, poll: float = 0.25
) -> dict[str, Any]:
    """Poll a request until it is Completed or Failed.

    Args:
        sf: a Salesforce session.
        request_id: the request.
        timeout: seconds to wait at most.
        poll: seconds between reads.

    Returns:
        The request's ``Status__c``, ``Message__c``, ``Attempts__c``, ``Airflow_Run_Id__c``.

    Raises:
        TimeoutError: still not finished after ``timeout`` seconds.
    """
    fields = ["Status__c", "Message__c", "Attempts__c", "Airflow_Run_Id__c", "Completed_At__c"]
    deadline = time.monotonic() + timeout
    while True:
        record = sf.get("LogiSense_Request__c", request_id, fields)
        if record.get("Status__c") in ("Completed", "Failed"):
            return {f: record.get(f) for f in fields}
        if time.monotonic() > deadline:
            msg = f"request {request_id} still {record.get('Status__c')} after {timeout:.0f} s"
            raise TimeoutError(msg)
        time.sleep(poll)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: press the button for one opportunity or account."""
    parser = argparse.ArgumentParser(
        prog="python -m logisense_sync.button", description=__doc__.split("\n")[0]
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--opportunity", help="Opportunity id (the Opportunity button)")
    target.add_argument("--account", help="Account id (the Account button)")
    parser.add_argument("--salesforce-url", default=os.getenv("SALESFORCE_URL", "https://127.0.0.1:8443"))
    parser.add_argument("--client-id", default=os.getenv("SALESFORCE_CLIENT_ID", "sandbox-client"))
    parser.add_argument("--client-secret", default=os.getenv("SALESFORCE_CLIENT_SECRET", "sandbox-secret"))
    parser.add_argument("--airflow-url", default=os.getenv("AIRFLOW_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--airflow-user", default=os.getenv("AIRFLOW_USERNAME", "admin"))
    parser.add_argument("--airflow-password", default=os.getenv("AIRFLOW_PASSWORD", "admin"))
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the request to finish")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    session = requests.Session()
    sf = SalesforceRest.login(args.salesforce_url, args.client_id, args.client_secret, session=session)
    airflow = AirflowApi(args.airflow_url, args.airflow_user, args.airflow_password, requests.Session())
    pressed = press(sf, airflow, opportunity_id=args.opportunity, account_id=args.account)
    result: dict[str, Any] = {"request_id": pressed.request_id, "dag_run_id": pressed.dag_run_id}
    if args.wait:
        result.update(wait_for_request(sf, pressed.request_id, args.wait))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0 if result.get("Status__c", "Completed") == "Completed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
