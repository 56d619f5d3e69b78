"""Constants and helpers shared by the Salesforce sandbox conformance tests."""

from __future__ import annotations

from typing import Any

CONSUMER_KEY, CONSUMER_SECRET = "sandbox-client", "sandbox-secret"
USERNAME, PASSWORD = "integration@sandbox.example", "sandbox"


def host_of(sandbox: Any) -> str:
    """`127.0.0.1:PORT` of a running sandbox."""
    return str(sandbox.url).removeprefix("https://")


def settings(sandbox: Any, **values: Any) -> dict[str, Any]:
    """Apply control-plane settings (session lifetime, daily API limit...) and return them all."""
    result: dict[str, Any] = sandbox.control("POST", "settings", values)
    return result
