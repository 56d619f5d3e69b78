"""The SOQL engine of the Salesforce sandbox: grammar, errors and results, against a small in-memory org."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from logisense_sync.clients.soql import format_soql
from logisense_sync.sandbox.salesforce.schema import Field, Schema, default_metadata_dir, load_schema
from logisense_sync.sandbox.salesforce.soql import QueryResult, SoqlError, execute, parse
from logisense_sync.sandbox.salesforce.store import Store


class Org:
    """A tiny org: schema, store and a helper to insert complete records."""

    def __init__(self) -> None:
        self.schema: Schema = load_schema(default_metadata_dir())
        account = self.schema.sobject("Account")
        assert account is not None
        account.add_field(Field(name="Regions__c", type="multipicklist", custom=True))
        self.store = Store(self.schema)

    def put(self, sobject: str, **fields: Any) -> str:
        so = self.schema.sobject(sobject)
        assert so is not None
        record: dict[str, Any] = dict.fromkeys(so.fields)
        record.update(Id=self.store.new_id(so), IsDeleted=False)
        record.update(fields)
        with self.store.transaction():
            self.store.put(so, record)
        return str(record["Id"])

    def delete(self, record_id: str) -> None:
        so = self.store.sobject_of(record_id)
        rec = self.store.get(record_id)
        assert so is not None
        assert rec is not None
        with self.store.transaction():
            self.store.put(so, {**rec, "IsDeleted": True})

    def query(self, soql: str, **kw: Any) -> QueryResult:
        return execute(soql, self.schema, self.store, **kw)

    def error(self, soql: str) -> SoqlError:
        with pytest.raises(SoqlError) as info:
            self.query(soql)
        return info.value


@pytest.fixture(scope="module")
def org() -> Org:
    o = Org()
    parent = o.put("Account", Name="Globex Holdings", Industry="Finance")
    o.ids = {"parent": parent}  # type: ignore[attr-defined]
    acme = o.put(
        "Account",
        Name="Acme",
        ParentId=parent,
        Industry="Retail",
        Regions__c="EMEA;APAC",
        NumberOfEmployees=50,
        AnnualRevenue=1000.5,
    )
    obrien = o.put("Account", Name="O'Brien & Sons", Industry=None, Regions__c="AMER", NumberOfEmployees=5)
    back = o.put("Account", Name="Back\\slash 100%_done", Industry="Retail")
    o.ids.update(acme=acme, obrien=obrien, back=back)  # type: ignore[attr-defined]
    o.put("Contact", LastName="Coyote", FirstName="Wile", AccountId=acme, Email="wile@acme.test")
    o.put("Contact", LastName="Runner", AccountId=acme)
    o.put("Contact", LastName="Solo", AccountId=None)
    std = o.put("Pricebook2", Name="Standard Price Book", IsStandard=True, IsActive=True)
    prod = o.put("Product2", Name="Gold Plan", ProductCode="GOLD", IsActive=True, LogiSense_Id__c="PKG-1")
    pbe = o.put(
        "PricebookEntry",
        Pricebook2Id=std,
        Product2Id=prod,
        UnitPrice=10.0,
        IsActive=True,
        CurrencyIsoCode="USD",
        LogiSense_Id__c="PBE-1",
    )
    opp1 = o.put(
        "Opportunity",
        Name="Big deal",
        AccountId=acme,
        StageName="Closed Won",
        Amount=300.0,
        CloseDate="2024-01-31",
        CreatedDate="2024-01-31T10:00:00.000+0000",
        Pricebook2Id=std,
    )
    o.put(
        "Opportunity",
        Name="Small deal",
        AccountId=obrien,
        StageName="Prospecting",
        Amount=None,
        CloseDate="2024-03-01",
        CreatedDate="2024-02-01T23:30:00.000+0000",
    )
    today = dt.datetime.now(dt.UTC).date()
    o.put(
        "Opportunity",
        Name="Fresh deal",
        AccountId=acme,
        StageName="Prospecting",
        Amount=5.0,
        CloseDate=today.isoformat(),
        CreatedDate=today.isoformat() + "T00:00:01.000+0000",
    )
    for qty in (1.0, 2.0):
        o.put(
            "OpportunityLineItem",
            OpportunityId=opp1,
            PricebookEntryId=pbe,
            Product2Id=prod,
            Quantity=qty,
            UnitPrice=10.0,
            TotalPrice=10.0 * qty,
        )
    o.ids.update(opp1=opp1, pbe=pbe, prod=prod)  # type: ignore[attr-defined]
    return o


def names(result: QueryResult) -> list[str]:
    return [r["Name"] for r in result.records]


# --------------------------------------------------------------------------- shapes


def test_records_carry_attributes_and_the_schema_casing_of_field_names(org: Org) -> None:
    result = org.query("select id, NAME from account where name = 'acme'")
    assert result.total_size == 1
    assert result.columns == ["Id", "Name"]
    record = result.records[0]
    assert list(record) == ["attributes", "Id", "Name"]
    assert record["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v59.0/sobjects/Account/{record['Id']}",
    }


def test_parent_relationships_nest_several_levels_with_their_own_attributes(org: Org) -> None:
    result = org.query(
        "SELECT Name, Account.Name, Account.Parent.Name, Account.Parent.Industry FROM Opportunity"
        " WHERE Name = 'Big deal'"
    )
    account = result.records[0]["Account"]
    assert account["attributes"]["type"] == "Account"
    assert account["Name"] == "Acme"
    assert account["Parent"] == {
        "attributes": {
            "type": "Account",
            "url": f"/services/data/v59.0/sobjects/Account/{org.ids['parent']}",
        },  # type: ignore[attr-defined]
        "Name": "Globex Holdings",
        "Industry": "Finance",
    }
    assert result.columns == ["Name", "Account.Name", "Account.Parent.Name", "Account.Parent.Industry"]
    assert next(iter(result.flat_rows())) == ["Big deal", "Acme", "Globex Holdings", "Finance"]


def test_a_missing_parent_is_null(org: Org) -> None:
    result = org.query("SELECT LastName, Account.Name FROM Contact WHERE LastName = 'Solo'")
    assert result.records[0]["Account"] is None
    assert list(result.flat_rows()) == [["Solo", None]]


def test_child_subqueries_nest_as_query_results_or_null(org: Org) -> None:
    result = org.query(
        "SELECT Name, (SELECT Quantity, PricebookEntry.Product2.LogiSense_Id__c FROM OpportunityLineItems"
        " WHERE Quantity > 1 ORDER BY Quantity DESC) FROM Opportunity"
        " WHERE Name IN ('Big deal', 'Small deal') ORDER BY Name"
    )
    big, small = result.records
    items = big["OpportunityLineItems"]
    assert items["totalSize"] == 1
    assert items["done"] is True
    assert items["records"][0]["Quantity"] == 2.0
    assert items["records"][0]["PricebookEntry"]["Product2"]["LogiSense_Id__c"] == "PKG-1"
    assert small["OpportunityLineItems"] is None


def test_count_returns_the_total_size_without_records(org: Org) -> None:
    result = org.query("SELECT COUNT() FROM Contact WHERE AccountId != null")
    assert (result.total_size, result.records) == (2, [])


def test_count_of_a_field_is_an_aggregate_result(org: Org) -> None:
    result = org.query("SELECT COUNT(Id), COUNT(Amount) total FROM Opportunity")
    assert result.records == [{"attributes": {"type": "AggregateResult"}, "expr0": 3, "total": 2}]


def test_group_by_counts_per_value(org: Org) -> None:
    result = org.query(
        "SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry ORDER BY Industry NULLS LAST"
    )
    assert [(r["Industry"], r["expr0"]) for r in result.records] == [("Finance", 1), ("Retail", 2), (None, 1)]


# --------------------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'ACME'", ["Acme"]),
        ("Name != 'Acme'", ["Back\\slash 100%_done", "Globex Holdings", "O'Brien & Sons"]),
        ("Name <> 'Acme' AND Industry = 'Retail'", ["Back\\slash 100%_done"]),
        ("Industry = null", ["O'Brien & Sons"]),
        ("Industry != null AND NOT Industry = 'Finance'", ["Acme", "Back\\slash 100%_done"]),
        ("(Industry = 'Finance' OR Industry = 'Retail') AND NumberOfEmployees > 10", ["Acme"]),
        ("NumberOfEmployees >= 5 AND NumberOfEmployees < 50", ["O'Brien & Sons"]),
        ("NumberOfEmployees <= 50", ["Acme", "O'Brien & Sons"]),
        ("AnnualRevenue > 1000", ["Acme"]),
        ("Name LIKE 'a%'", ["Acme"]),
        ("Name LIKE '_cm_'", ["Acme"]),
        ("Name LIKE '%\\%\\_done'", ["Back\\slash 100%_done"]),
        ("Name LIKE '%o\\'brien%'", ["O'Brien & Sons"]),
        ("Name = 'Back\\\\slash 100%_done'", ["Back\\slash 100%_done"]),
        ("Name IN ('acme', 'Nobody')", ["Acme"]),
        ("Industry NOT IN ('Retail')", ["Globex Holdings", "O'Brien & Sons"]),
        ("Industry IN ('Retail', null)", ["Acme", "Back\\slash 100%_done", "O'Brien & Sons"]),
        ("Regions__c INCLUDES ('apac;emea')", ["Acme"]),
        ("Regions__c INCLUDES ('AMER', 'nowhere')", ["O'Brien & Sons"]),
        ("Regions__c EXCLUDES ('AMER')", ["Acme", "Back\\slash 100%_done", "Globex Holdings"]),
        ("Regions__c = 'APAC;EMEA'", ["Acme"]),
        ("Parent.Name = 'Globex Holdings'", ["Acme"]),
        ("Id IN (SELECT AccountId FROM Contact)", ["Acme"]),
        ("Id NOT IN (SELECT AccountId FROM Opportunity)", ["Back\\slash 100%_done", "Globex Holdings"]),
    ],
)
def test_where_filters_account_rows(org: Org, where: str, expected: list[str]) -> None:
    assert names(org.query("SELECT Name FROM Account WHERE " + where + " ORDER BY Name")) == expected


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CloseDate = 2024-01-31", ["Big deal"]),
        ("CloseDate > 2024-01-31 AND CloseDate < 2025-01-01", ["Small deal"]),
        ("CreatedDate > 2024-01-31T10:00:00Z", ["Fresh deal", "Small deal"]),
        ("CreatedDate = 2024-01-31T11:00:00+01:00", ["Big deal"]),
        ("CreatedDate < 2024-02-01T23:30:00.000-00:00", ["Big deal"]),
        ("CloseDate = TODAY", ["Fresh deal"]),
        ("CreatedDate = TODAY", ["Fresh deal"]),
        ("CloseDate < LAST_N_DAYS:30", ["Big deal", "Small deal"]),
        ("CreatedDate = LAST_N_DAYS:2", ["Fresh deal"]),
        ("CloseDate = THIS_YEAR", ["Fresh deal"]),
        ("Amount = null", ["Small deal"]),
        ("Amount != 300", ["Fresh deal", "Small deal"]),
        ("Account.Parent.Industry = 'finance'", ["Big deal", "Fresh deal"]),
        ("StageName = 'Closed Won' OR Amount < 10.5", ["Big deal", "Fresh deal"]),
    ],
)
def test_where_filters_dates_numbers_and_parent_paths(org: Org, where: str, expected: list[str]) -> None:
    assert names(org.query("SELECT Name FROM Opportunity WHERE " + where + " ORDER BY Name")) == expected


def test_ids_match_in_15_and_18_character_form(org: Org) -> None:
    acme = org.ids["acme"]  # type: ignore[attr-defined]
    for literal in (acme, acme[:15], acme.lower()):
        assert names(org.query(format_soql("SELECT Name FROM Account WHERE Id = {}", literal))) == ["Acme"]
    assert len(org.query(format_soql("SELECT Id FROM Contact WHERE AccountId = {}", acme[:15])).records) == 2


def test_booleans_filter_with_true_and_false(org: Org) -> None:
    assert names(org.query("SELECT Name FROM Pricebook2 WHERE IsStandard = TRUE")) == ["Standard Price Book"]
    assert org.query("SELECT Name FROM Pricebook2 WHERE IsStandard = false").records == []


# --------------------------------------------------------------------------- order, limit, offset


def test_order_by_several_fields_with_nulls_first_by_default(org: Org) -> None:
    result = org.query("SELECT Name FROM Account ORDER BY Industry DESC, Name")
    assert names(result) == ["O'Brien & Sons", "Acme", "Back\\slash 100%_done", "Globex Holdings"]
    result = org.query("SELECT Name FROM Account ORDER BY Industry ASC NULLS LAST, Name DESC")
    assert names(result) == ["Globex Holdings", "Back\\slash 100%_done", "Acme", "O'Brien & Sons"]


def test_order_by_a_parent_field(org: Org) -> None:
    result = org.query("SELECT LastName FROM Contact ORDER BY Account.Name NULLS LAST, LastName")
    assert [r["LastName"] for r in result.records] == ["Coyote", "Runner", "Solo"]


def test_limit_and_offset_slice_the_ordered_result(org: Org) -> None:
    result = org.query("SELECT Name FROM Account ORDER BY Name LIMIT 2 OFFSET 1")
    assert names(result) == ["Back\\slash 100%_done", "Globex Holdings"]
    assert result.total_size == 2


def test_query_all_returns_deleted_rows_and_query_does_not() -> None:
    o = Org()
    keep = o.put("Account", Name="Kept")
    gone = o.put("Account", Name="Gone")
    o.delete(gone)
    assert [r["Id"] for r in o.query("SELECT Id FROM Account").records] == [keep]
    result = o.query("SELECT Id, IsDeleted FROM Account ORDER BY Name", include_deleted=True)
    assert [(r["Id"], r["IsDeleted"]) for r in result.records] == [(gone, True), (keep, False)]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("soql", "code", "text"),
    [
        ("SELECT Foo FROM Account", "INVALID_FIELD", "No such column 'Foo' on entity 'Account'. If you are"),
        (
            "SELECT Id FROM Account WHERE Bar__c = 'x'",
            "INVALID_FIELD",
            "No such column 'Bar__c' on entity 'Account'",
        ),
        ("SELECT Nope__r.Name FROM Account", "INVALID_FIELD", "Didn't understand relationship 'Nope__r'"),
        ("SELECT Account FROM Contact", "INVALID_FIELD", "No such column 'Account' on entity 'Contact'"),
        ("SELECT Id FROM Foo__c", "INVALID_TYPE", "sObject type 'Foo__c' is not supported."),
        (
            "SELECT Id, (SELECT Id FROM Nothing) FROM Account",
            "INVALID_TYPE",
            "Didn't understand relationship 'Nothing'",
        ),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
        ("SELECT FROM Account", "MALFORMED_QUERY", "unexpected token: 'Account'"),
        ("SELECT Id Account", "MALFORMED_QUERY", "unexpected token"),
        ("DELETE FROM Account", "MALFORMED_QUERY", "unexpected token"),
        ("SELECT Id FROM Account; DELETE", "MALFORMED_QUERY", "unexpected token"),
        ("", "MALFORMED_QUERY", "unexpected token"),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "MALFORMED_QUERY", "OR"),
        ("SELECT Id FROM Account WHERE Name = 'unterminated", "MALFORMED_QUERY", "unexpected token"),
        ("SELECT Id FROM Account WHERE Name = 'bad \\q escape'", "MALFORMED_QUERY", "\\q"),
        ("SELECT Id FROM Account WHERE Name = 'x\\%'", "MALFORMED_QUERY", "\\%"),
        ("SELECT Id FROM Account WHERE Name = abc", "MALFORMED_QUERY", "unexpected token: 'abc'"),
        (
            "SELECT Id FROM Account WHERE Name = 5",
            "INVALID_FIELD",
            "must be of type string and should be enclosed",
        ),
        ("SELECT Id FROM Account WHERE NumberOfEmployees = '5'", "INVALID_FIELD", "must be of type int"),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate = '2024-01-01'",
            "INVALID_FIELD",
            "must be of type date",
        ),
        (
            "SELECT Id FROM Opportunity WHERE CreatedDate > 2024-01-01",
            "INVALID_FIELD",
            "must be of type dateTime",
        ),
        ("SELECT Id FROM Pricebook2 WHERE IsActive = 'true'", "INVALID_FIELD", "must be of type boolean"),
        (
            "SELECT Id FROM Account WHERE Id = 'not-an-id'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid ID field: not-an-id",
        ),
        ("SELECT Id FROM Account WHERE Industry INCLUDES ('x')", "INVALID_FIELD", "multipicklist"),
        ("SELECT COUNT(), Name FROM Account", "MALFORMED_QUERY", "COUNT()"),
        (
            "SELECT Name, COUNT(Id) FROM Account",
            "MALFORMED_QUERY",
            "Field must be grouped or aggregated: Name",
        ),
        ("SELECT Id FROM Account LIMIT -1", "MALFORMED_QUERY", "LIMIT"),
        ("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "2000"),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate = NEXT_N_FORTNIGHTS:2",
            "MALFORMED_QUERY",
            "NEXT_N_FORTNIGHTS",
        ),
    ],
)
def test_bad_queries_fail_with_salesforce_error_codes(org: Org, soql: str, code: str, text: str) -> None:
    error = org.error(soql)
    assert error.error_code == code
    assert text in error.message
    assert error.body() == [{"message": error.message, "errorCode": code}]


def test_syntax_errors_point_at_row_and_column(org: Org) -> None:
    error = org.error("SELECT Id FROM Account WHERE Name = 'x' ORDER Name")
    assert error.message.startswith("\nSELECT Id FROM Account WHERE Name = 'x' ORDER Name\n")
    assert "ERROR at Row:1:Column:47" in error.message


# --------------------------------------------------------------------------- injection


INJECTIONS = [
    "x' OR Name != '",
    "x\\' OR Name != \\'",
    "x' OR Id != null OR Name = '",
    "' OR ''='",
    "\\' OR 1=1 --",
    "Acme' LIMIT 1 --",
    "%' OR Name LIKE '%",
    "x\\",
    "x\\\\' OR Name != '",
    "'; SELECT Id FROM Account WHERE Name != '",
    "Acme\u0027 OR Name != \u0027",
    "x') OR (Name != '",
    "\\u0027 OR Name != \\u0027",
    "\n' OR Name != '\n",
    "Acme%",
    "_cme",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_quoted_values_stay_one_literal_and_match_only_themselves(org: Org, value: str) -> None:
    assert org.query(format_soql("SELECT Id FROM Account WHERE Name = {}", value)).records == []
    assert org.query(
        format_soql("SELECT Id FROM Account WHERE Name LIKE {}", value)
    ).records == [] or value in (
        "Acme%",
        "_cme",
    )


ESCAPED_QUOTES = [
    "x\\' OR Name != \\'",
    "\\' OR \\'\\'=\\'",
    "Acme\\' LIMIT 1 --",
    "x\\\\\\' OR Name != \\\\\\'",
    "x\\u0027 OR Name != \\u0027",
    "\\'); DELETE FROM Account WHERE (Name != \\'",
]


@pytest.mark.parametrize("body", ESCAPED_QUOTES)
def test_an_escaped_quote_inside_a_string_literal_never_ends_it(org: Org, body: str) -> None:
    soql = "SELECT Id FROM Account WHERE Name = '" + body + "'"
    outcome: list[Any] | str
    try:
        outcome = org.query(soql).records
    except SoqlError as error:
        outcome = error.error_code
    assert outcome in ([], "MALFORMED_QUERY")


def test_quoted_values_round_trip_through_the_project_quoting(org: Org) -> None:
    for name in ("O'Brien & Sons", "Back\\slash 100%_done"):
        assert names(org.query(format_soql("SELECT Name FROM Account WHERE Name = {}", name))) == [name]


def test_unicode_escapes_decode_inside_literals(org: Org) -> None:
    assert names(org.query("SELECT Name FROM Account WHERE Name = 'O\\u0027Brien & Sons'")) == [
        "O'Brien & Sons"
    ]


def test_keywords_are_case_insensitive_and_parsing_is_cached() -> None:
    q = "sElEcT Id fRoM Account wHeRe Name = 'x' oRdEr bY Name dEsC nUlLs lAsT lImIt 5"
    assert parse(q) is parse(q)
    assert parse(q).limit == 5


def test_security_and_locking_clauses_are_accepted_and_ignored(org: Org) -> None:
    result = org.query(
        "SELECT Name FROM Account WHERE Name = 'Acme' WITH SECURITY_ENFORCED ORDER BY Name FOR VIEW"
    )
    assert names(result) == ["Acme"]
