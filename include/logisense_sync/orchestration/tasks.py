"""Task callables of the catalogue DAG (first version: wiring only; the pipeline lands next)."""

from __future__ import annotations

from typing import Any


def extract(context: dict[str, Any]) -> dict[str, Any]:
    """Extract the LogiSense catalogue into the run folder."""
    raise NotImplementedError


def plan(extracted: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Transform, validate and diff against Salesforce."""
    raise NotImplementedError


def load(planned: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Write the plan to Salesforce."""
    raise NotImplementedError


def report(context: dict[str, Any]) -> dict[str, Any]:
    """Render the run's report."""
    raise NotImplementedError
