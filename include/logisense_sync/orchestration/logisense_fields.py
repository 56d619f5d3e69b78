"""The ``logisense`` connection type's form, declared once (no Airflow import).

Airflow 3.2+ reads connection forms declaratively from the provider info (``conn-fields`` and
``ui-field-behaviour``, see ``provider.py``); :class:`~logisense_sync.orchestration.hook.LogiSenseHook` builds
its legacy ``get_connection_form_widgets()`` / ``get_ui_field_behaviour()`` from the same dicts, so the two
cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Final

CONN_TYPE: Final = "logisense"
HOOK_NAME: Final = "LogiSense Billing"
DEFAULT_CONN_ID: Final = "logisense_default"

#: Extra fields of the connection form, in provider-info (JSON schema) form.
CONN_FIELDS: Final[dict[str, dict[str, Any]]] = {
    "client_id": {
        "label": "Client ID",
        "description": "The client_id LogiSense support issued for API logins (the sandbox uses 'sandbox').",
        "schema": {"type": ["string", "null"]},
    },
    "api_version": {
        "label": "API Version",
        "description": "REST API version path segment.",
        "schema": {"type": ["string", "null"], "default": "v10"},
    },
    "verify": {
        "label": "CA Bundle Path / Verify TLS",
        "description": (
            "Path of a CA bundle to trust, or 'true' (system CAs, the default) or 'false' (tests only)."
        ),
        "schema": {"type": ["string", "null"]},
    },
}

#: How the standard fields are shown (provider-info form, kebab-case keys).
UI_FIELD_BEHAVIOUR: Final[dict[str, Any]] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"host": "Base URL", "login": "Username"},
    "placeholders": {
        "host": "https://tenant.logisensebilling.com",
        "login": "api-user",
        "client_id": "044b8ad6006845c29446b2f18e5b5909",
        "api_version": "v10",
        "verify": "/etc/ssl/certs/logisense-ca.pem",
    },
}
