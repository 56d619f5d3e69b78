"""Clients built from Airflow Connections: the only place connection ids turn into API clients.

Conn ids default to the contract's names and can be overridden by environment variables
(``LOGISENSE_SYNC_SALESFORCE_CONN_ID``, ``LOGISENSE_SYNC_LOGISENSE_CONN_ID``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from logisense_sync.clients.logisense import LogiSenseClient
    from logisense_sync.clients.salesforce import SalesforceClient

SALESFORCE_CONN_ID = os.environ.get("LOGISENSE_SYNC_SALESFORCE_CONN_ID", "salesforce_default")
LOGISENSE_CONN_ID = os.environ.get("LOGISENSE_SYNC_LOGISENSE_CONN_ID", "logisense_default")


def salesforce_client(conn_id: str = SALESFORCE_CONN_ID) -> SalesforceClient:
    """A :class:`SalesforceClient` logged in through the provider's ``SalesforceHook``.

    Args:
        conn_id: an Airflow connection of type ``salesforce``.

    Returns:
        The client (the hook's simple-salesforce session underneath).
    """
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    from logisense_sync.clients.salesforce import SalesforceClient

    return SalesforceClient(SalesforceHook(salesforce_conn_id=conn_id).get_conn())


def logisense_client(conn_id: str = LOGISENSE_CONN_ID) -> LogiSenseClient:
    """A :class:`LogiSenseClient` from a ``logisense`` connection (through ``LogiSenseHook``).

    Args:
        conn_id: an Airflow connection of type ``logisense``.

    Returns:
        The client.
    """
    from logisense_sync.orchestration.hook import LogiSenseHook

    return LogiSenseHook(conn_id).get_client()
