"""Test data for the opportunity sync: a small LogiSense catalogue, its Salesforce mirror, and deals.

The catalogue is created through the LogiSense API and mirrored into Salesforce with the catalogue sync's
key format (``pb:``, ``pf:``, ``psl:``), the way the catalogue DAG would leave it.

Package "Cloud PBX" (monthly), sold in USD and EUR on the Standard price book (plus "Minutes", a usage
service rated by the plan "Voice rates": Domestic Voice 0.02 per minute, not in the list price):

===========  ===================  ==========  ========  ==================
service      Active (recurring)   Suspended   [New] ->   default quantity
                                              Active
===========  ===================  ==========  ========  ==================
Seat         30                   5           20        2
Support      10                   -           -         1
===========  ===================  ==========  ========  ==================

List price per unit = 2 × 30 + 20 + 1 × 10 = 90 (USD; EUR uses the same amounts).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import requests
from logisense_sync.button import SalesforceRest
from logisense_sync.clients.logisense import LogiSenseClient
from simple_salesforce import Salesforce


@dataclass
class Catalogue:
    """Ids of the test catalogue on both sides."""

    package_id: int
    frequency_id: int
    services: dict[str, int]
    package_services: dict[str, int]
    pricebook_id: str
    product_id: str
    entries: dict[str, str]
    charges: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """Product_Service__c id per (currency, service, charge code R1/R2/O1)."""
    other_pricebook_id: str | None = None


class World:
    """Builds Salesforce and LogiSense data against the sandboxes."""

    def __init__(self, sf_url: str, ls_url: str) -> None:
        session = requests.Session()
        rest = SalesforceRest.login(sf_url, "sandbox-client", "sandbox-secret", session=session)
        self.sf = Salesforce(instance_url=rest.instance_url, session_id=rest.access_token, session=session)
        self.ls = LogiSenseClient(ls_url, "admin", "sandbox", "sandbox", max_retries=1, backoff_base=0.01)
        self.catalogue: Catalogue | None = None

    def close(self) -> None:
        """Close the LogiSense client."""
        self.ls.close()

    # -- catalogue

    def build_catalogue(self) -> Catalogue:
        """Create the Cloud PBX catalogue in LogiSense and its mirror in Salesforce."""
        ls = self.ls
        currencies = {row["code"]: row["identity"] for row in ls.list_all("Currency")}
        if "EUR" not in currencies:
            currencies["EUR"] = ls.create("Currency", {"name": "Euro", "code": "EUR", "symbol": "€"})[
                "identity"
            ]
        statuses = {row["name"]: row["identity"] for row in ls.list_all("ServiceStatusType")}
        transitions = {row["name"]: row["identity"] for row in ls.list_all("ServiceStatusTransition")}
        package = ls.create("Package", {"name": "Cloud PBX", "isQuantityAllowed": True})
        pid = package["identity"]
        freq = ls.create(
            "Package/Frequency",
            {"packageId": pid, "name": "Cloud PBX Monthly", "frequency": 1, "frequencyTypeId": 3},
        )
        services = {
            name: ls.create("Service", {"name": name})["identity"] for name in ("Seat", "Support", "Minutes")
        }
        defaults = {"Seat": 2, "Support": 1, "Minutes": 1}
        package_services = {
            name: ls.create(
                "Package/Service", {"packageId": pid, "serviceId": sid, "defaultInstances": defaults[name]}
            )["identity"]
            for name, sid in services.items()
        }
        prices = {
            "Seat": {"R": {"Active": 30, "Suspended": 5}, "O": {"[New] -> Active": 20}},
            "Support": {"R": {"Active": 10}, "O": {}},
            "Minutes": {"R": {}, "O": {}},
        }
        voice = ls.create("Usage/Rate/Plan", {"name": "Voice rates", "amountPrecision": 4})["identity"]
        sf = self.sf
        std = sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"][0]["Id"]
        sf.Pricebook2.update(std, {"LogiSense_Id__c": "pb:1"})
        product = sf.Product2.create(
            {"Name": "Cloud PBX Monthly", "LogiSense_Id__c": f"pf:{freq['identity']}", "IsActive": True}
        )["id"]
        entries: dict[str, str] = {}
        charges: dict[tuple[str, str, str], str] = {}
        for code in ("USD", "EUR"):
            pcur = ls.create("Package/Currency", {"packageId": pid, "currencyId": currencies[code]})[
                "identity"
            ]
            ls.create(
                "Package/Frequency/Currency",
                {"packageFrequencyId": freq["identity"], "packageCurrencyId": pcur, "priceBookId": 1},
            )
            group = ls.create(
                "Usage/Rate/Group",
                {"usageRatePlanId": voice, "name": f"Voice {code}", "currencyId": currencies[code]},
            )["identity"]
            rate = ls.create(
                "Usage/Rate", {"usageRateGroupId": group, "usageClassId": 1, "usageUnitId": 2, "amount": 0.02}
            )
            for name, psid in package_services.items():
                ls.create(
                    "Package/Service/PricePlan",
                    {
                        "usageRatePlanId": voice if name == "Minutes" else None,
                        "packageServiceId": psid,
                        "packageFrequencyId": freq["identity"],
                        "packageCurrencyId": pcur,
                        "priceBookId": 1,
                        "recurring": [
                            {"serviceStatusTypeId": statuses[s], "amount": a}
                            for s, a in prices[name]["R"].items()
                        ],
                        "oneTime": [
                            {"serviceStatusTransitionId": transitions[t], "amount": a}
                            for t, a in prices[name]["O"].items()
                        ],
                    },
                )
            entries[code] = sf.PricebookEntry.create(
                {
                    "Pricebook2Id": std,
                    "Product2Id": product,
                    "UnitPrice": 90,
                    "IsActive": True,
                    "CurrencyIsoCode": code,
                    "LogiSense_Id__c": f"pbe:1:{freq['identity']}:{code}",
                }
            )["id"]
            charges[(code, "Minutes", f"U{rate['identity']}")] = sf.Product_Service__c.create(
                {
                    "LogiSense_Id__c": f"psl:1:{freq['identity']}:{code}:{services['Minutes']}:U{rate['identity']}",
                    "Product__c": product,
                    "Pricebook__c": std,
                    "Service_Name__c": "Minutes",
                    "Charge_Type__c": "Usage",
                    "Service_Status__c": "Domestic Voice",
                    "Amount__c": 0.02,
                    "Default_Quantity__c": 1,
                    "CurrencyIsoCode": code,
                }
            )["id"]
            for name, sid in services.items():
                for kind, table in prices[name].items():
                    for status, amount in table.items():
                        ref = statuses[status] if kind == "R" else transitions[status]
                        charge = f"{kind}{ref}"
                        charges[(code, name, charge)] = sf.Product_Service__c.create(
                            {
                                "LogiSense_Id__c": f"psl:1:{freq['identity']}:{code}:{sid}:{charge}",
                                "Product__c": product,
                                "Pricebook__c": std,
                                "Service_Name__c": name,
                                "Charge_Type__c": "Recurring" if kind == "R" else "One-Time",
                                "Service_Status__c": status,
                                "Amount__c": amount,
                                "Default_Quantity__c": defaults[name],
                                "Minimum_Quantity__c": 1 if name == "Seat" else 0,
                                "Maximum_Quantity__c": 100,
                                "CurrencyIsoCode": code,
                            }
                        )["id"]
        self.catalogue = Catalogue(
            package_id=pid,
            frequency_id=freq["identity"],
            services=services,
            package_services=package_services,
            pricebook_id=std,
            product_id=product,
            entries=entries,
            charges=charges,
        )
        return self.catalogue

    # -- deals

    def account(self, name: str, *, parent: str | None = None, currency: str = "USD", **fields: Any) -> str:
        """Create an Account."""
        body = {"Name": name, "CurrencyIsoCode": currency, "ParentId": parent, **fields}
        return str(self.sf.Account.create({k: v for k, v in body.items() if v is not None})["id"])

    def contact(
        self,
        account: str,
        last: str,
        *,
        first: str = "Pat",
        contact_type: str | None = "Billing",
        sync: bool = True,
    ) -> str:
        """Create a Contact flagged for sync."""
        return str(
            self.sf.Contact.create(
                {
                    "AccountId": account,
                    "FirstName": first,
                    "LastName": last,
                    "Email": f"{first}.{last}@example.com".lower(),
                    "Phone": "+1 555 0100",
                    "MailingStreet": "1 Main St",
                    "MailingCity": "Springfield",
                    "MailingCountry": "US",
                    "Sync_With_LogiSense__c": sync,
                    "LogiSense_Contact_Type__c": contact_type,
                }
            )["id"]
        )

    def opportunity(
        self,
        account: str,
        *,
        name: str = "Deal",
        type_: str | None = "New Customer",
        stage: str = "Closed Won",
        currency: str = "USD",
        lines: list[tuple[int, float]] | None = None,
        pricebook: str | None = None,
    ) -> tuple[str, list[str]]:
        """Create an opportunity with lines of Cloud PBX: ``(quantity, unit price)`` each (default one at 90)."""
        assert self.catalogue is not None
        body: dict[str, Any] = {
            "Name": name,
            "AccountId": account,
            "StageName": stage,
            "CloseDate": dt.date(2026, 12, 1).isoformat(),
            "CurrencyIsoCode": currency,
            "Pricebook2Id": pricebook or self.catalogue.pricebook_id,
        }
        if type_ is not None:
            body["Type"] = type_
        opp = str(self.sf.Opportunity.create(body)["id"])
        line_ids = [
            str(
                self.sf.OpportunityLineItem.create(
                    {
                        "OpportunityId": opp,
                        "PricebookEntryId": self.catalogue.entries[currency],
                        "Quantity": quantity,
                        "UnitPrice": price,
                    }
                )["id"]
            )
            for quantity, price in ([(1, 90)] if lines is None else lines)
        ]
        return opp, line_ids

    def override(
        self,
        opp: str,
        line: str,
        service: str,
        charge: str = "R1",
        *,
        quantity: float | None = None,
        amount: float | None = None,
        currency: str = "USD",
    ) -> str:
        """Create an Opportunity_Product_Service__c (the rep's change to one charge of a line)."""
        assert self.catalogue is not None
        return str(
            self.sf.Opportunity_Product_Service__c.create(
                {
                    "Opportunity__c": opp,
                    "Opportunity_Line_Item_Id__c": line,
                    "Product_Service__c": self.catalogue.charges[(currency, service, charge)],
                    "Quantity__c": quantity,
                    "Amount__c": amount,
                }
            )["id"]
        )

    def request(self, *, opportunity: str | None = None, account: str | None = None) -> str:
        """Queue a LogiSense_Request__c (Waiting), as the button does."""
        if opportunity:
            acc = self.sf.Opportunity.get(opportunity)["AccountId"]
            body = {"Type__c": "Opportunity", "Opportunity__c": opportunity, "Account__c": acc}
        else:
            body = {"Type__c": "Account", "Account__c": account}
        return str(
            self.sf.LogiSense_Request__c.create({**body, "Status__c": "Waiting", "Attempts__c": 0})["id"]
        )

    def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        """Read a record."""
        return dict(getattr(self.sf, sobject).get(record_id))

    def ls_objects(self, resource: str) -> list[dict[str, Any]]:
        """Every LogiSense object of a resource."""
        return self.ls.list_all(resource)
