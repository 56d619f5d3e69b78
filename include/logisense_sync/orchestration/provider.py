"""Airflow provider metadata: registers the ``logisense`` connection type and its hook."""

from __future__ import annotations

from typing import Any

from logisense_sync.orchestration.logisense_fields import CONN_FIELDS, HOOK_NAME, UI_FIELD_BEHAVIOUR


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow discovers through the ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "logisense-sync",
        "name": "LogiSense Sync",
        "description": "LogiSense Billing connection type and hook for the LogiSense and Salesforce sync DAGs.",
        "versions": ["0.1.0"],
        "connection-types": [
            {
                "connection-type": "logisense",
                "hook-class-name": "logisense_sync.orchestration.hook.LogiSenseHook",
                # Airflow 3.2+ reads the connection form declaratively (defined in logisense_fields.py).
                "hook-name": HOOK_NAME,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
