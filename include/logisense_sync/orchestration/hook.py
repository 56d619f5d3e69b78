"""Airflow hook for the ``logisense`` connection type: builds a :class:`LogiSenseClient` from a Connection.

Connection fields: host = base URL (``https://tenant.logisensebilling.com``; a bare host gets ``https://``
and the port field, if any), login = API username, password, and extras ``client_id``, ``api_version``
(default ``v10``) and ``verify`` (a CA bundle path, ``true`` or ``false``). Optional extras ``timeout``
(read seconds) and ``max_retries`` tune the client. Example (environment)::

    AIRFLOW_CONN_LOGISENSE_DEFAULT='{"conn_type": "logisense", "host": "https://127.0.0.1:8444",
        "login": "admin", "password": "sandbox", "extra": {"client_id": "sandbox", "api_version": "v10"}}'
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from logisense_sync.clients.logisense import LogiSenseClient
from logisense_sync.errors import SyncError
from logisense_sync.orchestration.logisense_fields import (
    CONN_FIELDS,
    CONN_TYPE,
    DEFAULT_CONN_ID,
    HOOK_NAME,
    UI_FIELD_BEHAVIOUR,
)

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _extra(extras: dict[str, Any], name: str) -> Any:
    # Accept both plain keys and the legacy form-prefixed ones (``extra__logisense__client_id``).
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__{CONN_TYPE}__{name}")
    return None if value == "" else value


def parse_verify(value: Any) -> bool | str | None:
    """Read the ``verify`` extra.

    Args:
        value: None/empty (requests' default), a boolean, ``"true"``/``"false"`` or a CA bundle path.

    Returns:
        What :class:`LogiSenseClient` takes as ``verify``.
    """
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip()
    if not text:
        return None
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    return text


class LogiSenseHook(BaseHook):
    """Interact with LogiSense Billing through :class:`~logisense_sync.clients.logisense.LogiSenseClient`.

    Args:
        logisense_conn_id: the Airflow connection id (type ``logisense``).
        **kwargs: passed to :class:`LogiSenseClient` (e.g. ``max_retries``, ``timeout``), overriding extras.
    """

    conn_name_attr = "logisense_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    def __init__(self, logisense_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__()
        self.logisense_conn_id = logisense_conn_id
        self.client_kwargs = kwargs
        self._client: LogiSenseClient | None = None

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form (legacy UI; Airflow 3.2+ reads ``conn-fields`` instead)."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField

        return {
            name: StringField(lazy_gettext(spec["label"]), widget=BS3TextFieldWidget())
            for name, spec in CONN_FIELDS.items()
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel host to "Base URL" and login to "Username"; hide schema and port."""
        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    def client_arguments(self) -> dict[str, Any]:
        """Read the connection into :class:`LogiSenseClient` keyword arguments (password included).

        Returns:
            ``base_url``, ``username``, ``password``, ``client_id``, ``api_version``, ``verify`` and any
            ``timeout``/``max_retries`` extras, overridden by the hook's own keyword arguments.

        Raises:
            ValueError: the connection has no host, login or client id.
        """
        conn = self.get_connection(self.logisense_conn_id)
        extras: dict[str, Any] = conn.extra_dejson or {}
        host = (conn.host or "").strip().rstrip("/")
        if not host:
            msg = f"connection {self.logisense_conn_id!r} has no host (the LogiSense base URL)"
            raise ValueError(msg)
        if not host.startswith(("https://", "http://")):
            host = f"https://{host}"
        if conn.port and host.count(":") < 2:
            host = f"{host}:{conn.port}"
        client_id = _extra(extras, "client_id")
        if not conn.login or not client_id:
            msg = f"connection {self.logisense_conn_id!r} needs a login (username) and the client_id extra"
            raise ValueError(msg)
        arguments: dict[str, Any] = {
            "base_url": host,
            "username": conn.login,
            "password": conn.password or "",
            "client_id": str(client_id),
            "api_version": str(_extra(extras, "api_version") or "v10"),
            "verify": parse_verify(_extra(extras, "verify")),
        }
        timeout = _extra(extras, "timeout")
        if timeout is not None:
            arguments["timeout"] = (5.0, float(timeout))
        max_retries = _extra(extras, "max_retries")
        if max_retries is not None:
            arguments["max_retries"] = int(max_retries)
        arguments.update(self.client_kwargs)
        return arguments

    def get_client(self) -> LogiSenseClient:
        """Return a :class:`LogiSenseClient` for the connection (created once per hook).

        Returns:
            The client; it logs in on its first call.

        Raises:
            ValueError: the connection is incomplete.
        """
        if self._client is None:
            self._client = LogiSenseClient(**self.client_arguments())
        return self._client

    def get_conn(self) -> LogiSenseClient:
        """Same as :meth:`get_client` (the name Airflow's generic hook API uses)."""
        return self.get_client()

    def test_connection(self) -> tuple[bool, str]:
        """Log in and read the currencies: the "Test" button of the connection form.

        Returns:
            ``(True, message)`` on success, ``(False, reason)`` otherwise (the reason carries LogiSense's
            codes and messages, never the password or token).
        """
        try:
            with LogiSenseClient(**self.client_arguments()) as client:
                client.login()
                currencies = client.list_all("Currency")
        except (SyncError, ValueError) as exc:
            return False, str(exc)
        codes = ", ".join(sorted(str(c.get("code")) for c in currencies if c.get("code")))
        return True, f"Logged in to {client.base_url}; {len(currencies)} currencies ({codes or 'none'})"
