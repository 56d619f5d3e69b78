"""Airflow Assets shared between DAGs: one place, one name per dataset."""

from __future__ import annotations

from airflow.sdk import Asset

#: The LogiSense catalogue as it stands in Salesforce (Pricebook2, Product2, PricebookEntry,
#: Product_Service__c). Updated by ``logisense_catalog_sync`` whenever its load task succeeds.
CATALOG_ASSET = Asset(
    name="salesforce_logisense_catalog",
    uri="salesforce://catalog/logisense",
    group="salesforce",
)
