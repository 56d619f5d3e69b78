"""Fixtures for the LogiSense sandbox tests (the running sandbox comes from tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.logisense.ls_api import Api


@pytest.fixture
def api(logisense_sandbox: Any) -> Api:
    """A logged-in caller of a freshly reset sandbox (system data only)."""
    return Api(logisense_sandbox)


@pytest.fixture
def demo(logisense_sandbox: Any) -> Api:
    """A logged-in caller of the sandbox loaded with the demo catalogue."""
    logisense_sandbox.seed("demo")
    return Api(logisense_sandbox)
