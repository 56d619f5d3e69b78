"""Logins and sessions, through simple-salesforce exactly as integrations log in."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceResourceNotFound,
)

from tests.sandbox.salesforce.sf_conformance_helpers import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    PASSWORD,
    USERNAME,
    host_of,
    settings,
)


def test_client_credentials_login_returns_the_sandbox_as_instance(salesforce_sandbox: Any) -> None:
    sf = Salesforce(
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        domain=f"{host_of(salesforce_sandbox)}/services/oauth2/token#",
    )
    assert sf.sf_instance == host_of(salesforce_sandbox)
    assert sf.describe()["sobjects"]


def test_token_response_has_salesforce_fields_and_no_trailing_slash(salesforce_sandbox: Any) -> None:
    response = requests.post(
        f"{salesforce_sandbox.url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(CONSUMER_KEY, CONSUMER_SECRET),
        timeout=30,
    )
    body = response.json()
    assert response.status_code == 200
    assert set(body) >= {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
        "scope",
    }
    assert body["instance_url"] == salesforce_sandbox.url
    assert body["token_type"] == "Bearer"


def test_username_password_oauth_login_works(salesforce_sandbox: Any) -> None:
    sf = Salesforce(
        username=USERNAME,
        password=PASSWORD,
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        domain=f"{host_of(salesforce_sandbox)}/services/oauth2/token#",
    )
    assert sf.Account.create({"Name": "via password flow"})["success"] is True


def test_soap_login_with_empty_security_token_works(salesforce_sandbox: Any) -> None:
    sf = Salesforce(
        username=USERNAME,
        password=PASSWORD,
        security_token="",
        domain=f"{host_of(salesforce_sandbox)}/services/Soap/u/59.0#",
    )
    assert sf.sf_instance == host_of(salesforce_sandbox)
    assert sf.Account.metadata()["objectDescribe"]["keyPrefix"] == "001"


def test_jwt_bearer_login_with_the_generated_key_works(salesforce_sandbox: Any) -> None:
    key_path = settings(salesforce_sandbox)["jwt_private_key"]
    sf = Salesforce(
        username=USERNAME,
        consumer_key=CONSUMER_KEY,
        privatekey_file=key_path,
        domain=f"{host_of(salesforce_sandbox)}/services/oauth2/token#",
    )
    assert sf.Contact.create({"LastName": "Jwt"})["success"] is True


def test_jwt_signed_with_another_key_is_an_invalid_grant(salesforce_sandbox: Any, tmp_path: Any) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        Salesforce(
            username=USERNAME,
            consumer_key=CONSUMER_KEY,
            privatekey=pem.decode(),
            domain=f"{host_of(salesforce_sandbox)}/services/oauth2/token#",
        )
    assert caught.value.code == "invalid_grant"


def test_direct_session_uses_a_token_from_another_login(salesforce_sandbox: Any, sf: Salesforce) -> None:
    direct = Salesforce(instance_url=salesforce_sandbox.url, session_id=sf.session_id)
    assert direct.Account.create({"Name": "direct"})["success"] is True


@pytest.mark.parametrize(
    ("form", "auth", "error"),
    [
        ({"grant_type": "client_credentials"}, ("nobody", CONSUMER_SECRET), "invalid_client_id"),
        ({"grant_type": "client_credentials"}, (CONSUMER_KEY, "wrong"), "invalid_client"),
        (
            {
                "grant_type": "password",
                "client_id": CONSUMER_KEY,
                "client_secret": CONSUMER_SECRET,
                "username": USERNAME,
                "password": "wrong",
            },
            None,
            "invalid_grant",
        ),
        ({"grant_type": "authorization_code"}, None, "unsupported_grant_type"),
    ],
)
def test_unknown_credentials_fail_like_salesforce(
    salesforce_sandbox: Any, form: dict[str, str], auth: tuple[str, str] | None, error: str
) -> None:
    response = requests.post(
        f"{salesforce_sandbox.url}/services/oauth2/token", data=form, auth=auth, timeout=30
    )
    assert response.status_code == 400
    assert response.json()["error"] == error
    if error == "invalid_grant":
        assert response.json()["error_description"] == "authentication failure"


def test_wrong_password_through_simple_salesforce_raises_authentication_failed(
    salesforce_sandbox: Any,
) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        Salesforce(
            username=USERNAME,
            password="wrong",
            consumer_key=CONSUMER_KEY,
            consumer_secret=CONSUMER_SECRET,
            domain=f"{host_of(salesforce_sandbox)}/services/oauth2/token#",
        )
    assert caught.value.code == "invalid_grant"


def test_soap_login_with_a_wrong_password_is_an_invalid_login_fault(salesforce_sandbox: Any) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        Salesforce(
            username=USERNAME,
            password="wrong",
            security_token="",
            domain=f"{host_of(salesforce_sandbox)}/services/Soap/u/59.0#",
        )
    assert caught.value.code == "INVALID_LOGIN"


def test_missing_or_unknown_bearer_token_is_invalid_session_id(salesforce_sandbox: Any) -> None:
    response = requests.get(
        f"{salesforce_sandbox.url}/services/data/v59.0/sobjects",
        headers={"Authorization": "Bearer nope"},
        timeout=30,
    )
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_expired_session_raises_for_a_direct_client_and_relogs_a_login_client(
    salesforce_sandbox: Any, sf: Salesforce
) -> None:
    direct = Salesforce(instance_url=salesforce_sandbox.url, session_id=sf.session_id)
    settings(salesforce_sandbox, session_timeout_seconds=0.5)
    time.sleep(0.6)
    with pytest.raises(SalesforceExpiredSession) as caught:
        direct.describe()
    assert caught.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    old_token = sf.session_id
    settings(salesforce_sandbox, session_timeout_seconds=3600)
    assert sf.describe()["sobjects"]  # simple-salesforce logged in again after the 401
    assert sf.session_id != old_token


@pytest.mark.parametrize("version", ["51.0", "63.0", "abc"])
def test_api_versions_outside_52_to_62_are_not_found(sf: Salesforce, version: str) -> None:
    sf.version = version
    sf.base_url = f"https://{sf.sf_instance}/services/data/v{version}/"
    with pytest.raises(SalesforceResourceNotFound):
        sf.describe()


def test_versions_52_to_62_are_listed(salesforce_sandbox: Any) -> None:
    versions = requests.get(f"{salesforce_sandbox.url}/services/data/", timeout=30).json()
    assert versions[0]["version"] == "52.0"
    assert versions[-1]["version"] == "62.0"
