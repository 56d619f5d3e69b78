"""Helpers for the LogiSense sandbox tests: an authenticated ResourceServer caller over plain requests."""

from __future__ import annotations

import json
from typing import Any

import requests

API = "/ResourceServer/api/v10/"
LOGIN = "/AuthorizationServer/api/v10/Access/Login"
CREDENTIALS = {"grant_type": "password", "username": "admin", "password": "sandbox", "client_id": "sandbox"}


class Api:
    """``api.get("Package/1")`` etc. with a bearer token; returns the raw ``requests.Response``."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.session: requests.Session = sandbox.session
        self.token = self.login().json()["access_token"]

    def login(self, **form: str) -> requests.Response:
        return self.session.post(self.sandbox.url + LOGIN, data={**CREDENTIALS, **form}, timeout=30)

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        hdrs = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **(headers or {})}
        data = None if body is None else (body if isinstance(body, str | bytes) else json.dumps(body))
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        return self.session.request(
            method, self.sandbox.url + API + path, data=data, headers=hdrs, timeout=60
        )

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self.call("POST", path, body)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.call("PUT", path, body)

    def patch(self, path: str, body: Any) -> requests.Response:
        return self.call("PATCH", path, body)

    def delete(self, path: str) -> requests.Response:
        return self.call("DELETE", path)

    def search(self, route: str, **query: Any) -> dict[str, Any]:
        response = self.post(f"{route}/Search", {"query": query})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def create(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST and return the created instance (asserting success)."""
        response = self.post(route, body)
        assert response.status_code == 200, response.text
        instance: dict[str, Any] = response.json()["results"]["items"][0]["instance"]
        return instance

    def errors(self, response: requests.Response, status: int = 400) -> list[tuple[int, str]]:
        """The (code, message) pairs of an error envelope, asserting the HTTP status."""
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"trackingId", "type", "errors"}
        return [(e["code"], e["message"]) for e in body["errors"]]
