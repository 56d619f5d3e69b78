"""SOQL is built only through the quoting helper (``logisense_sync.clients.soql``), never by formatting.

The scan parses every Python file of ``include/logisense_sync`` (the sandboxes excepted: they parse SOQL,
they do not build it) and ``dags/`` and looks at every string literal that reads as SOQL (``SELECT``,
``WHERE``, ``AND``/``OR`` comparisons, ``IN``). Such a literal may be:

- a plain constant, or the template of ``format_soql(...)`` (values quoted by the helper);
- concatenated only with other literals, module constants (UPPER_CASE names), ``identifier(...)``,
  ``format_soql(...)``/``quote(...)`` calls, or a ``", ".join(...)`` of identifiers or constants.

It must never be an f-string with values, a ``%`` format, a ``str.format`` call, or concatenated with a
variable (a value could carry a quote into the query).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = [REPO / "include" / "logisense_sync", REPO / "dags"]
EXCLUDED = [REPO / "include" / "logisense_sync" / "sandbox"]
# A literal that is (a piece of) SOQL: a SELECT, a WHERE, a boolean condition or an IN list.
SOQL = re.compile(
    r"^\s*SELECT\s|\bSELECT\s+[\w.,\s()]+\s+FROM\s+\w|\bWHERE\b|\s(AND|OR)\s+\(?\w+\s*(=|!=|<|>|LIKE\b|IN\b)"
    r"|\bIN\s*[({]"
)
# An f-string is SOQL only if its text, with every value replaced, reads as a query.
SOQL_QUERY = re.compile(r"\bSELECT\s+\w[\w.,\s()]*\s+FROM\s+\w|\bWHERE\s+\w+\s*(=|!=|<|>|\bIN\b|\bLIKE\b)")
# Functions allowed to concatenate one named variable, with the reason (checked by reading the call sites).
ALLOWED = {
    (
        "include/logisense_sync/pipelines/catalog_sync.py",
        "_soql",
        "where",
    ): "every caller passes format_soql output or a literal",
}
HELPERS = {"format_soql", "quote", "identifier"}


def _sources() -> list[Path]:
    return sorted(
        p for root in ROOTS for p in root.rglob("*.py") if not any(p.is_relative_to(ex) for ex in EXCLUDED)
    )


def _is_soql_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(SOQL.search(node.value))


def _call_name(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
    return ""


def _safe_operand(node: ast.AST, allowed: frozenset[str] = frozenset()) -> bool:
    """A piece that may be concatenated into SOQL: it cannot carry a runtime value unquoted."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id.isupper() or node.id in allowed
    if isinstance(node, ast.Attribute):
        return node.attr.isupper()
    name = _call_name(node)
    if name in HELPERS or (name in {"int", "float"} and isinstance(node, ast.Call)):
        return True
    if name == "str" and isinstance(node, ast.Call) and len(node.args) == 1:
        return _call_name(node.args[0]) in {"int", "len"}
    if name == "join" and isinstance(node, ast.Call) and len(node.args) == 1:
        arg = node.args[0]
        if isinstance(arg, ast.GeneratorExp | ast.ListComp):
            return _call_name(arg.elt) == "identifier"
        return _safe_operand(arg)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _safe_operand(node.left, allowed) and _safe_operand(node.right, allowed)
    return False


def _concat_operands(node: ast.BinOp) -> list[ast.AST]:
    out: list[ast.AST] = []
    for side in (node.left, node.right):
        if isinstance(side, ast.BinOp) and isinstance(side.op, ast.Add):
            out += _concat_operands(side)
        else:
            out.append(side)
    return out


def violations_in(source: str, filename: str = "<string>") -> list[str]:
    """Every place ``source`` builds SOQL other than through the quoting helper."""
    tree = ast.parse(source, filename)
    found: list[str] = []
    function_of: dict[ast.AST, str] = {}
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(fn):
                function_of[inner] = fn.name
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
            if SOQL_QUERY.search(text) and any(isinstance(v, ast.FormattedValue) for v in node.values):
                found.append(f"{where}: f-string SOQL")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_soql_literal(node.left):
            found.append(f"{where}: %-formatted SOQL")
        elif (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
        ):
            if _is_soql_literal(node.func.value) or isinstance(node.func.value, ast.BinOp):
                found.append(f"{where}: str.format SOQL (use format_soql)")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            operands = _concat_operands(node)
            allowed = frozenset(
                var for (path, fn, var) in ALLOWED if path == filename and fn == function_of.get(node)
            )
            if any(_is_soql_literal(o) for o in operands) and not all(
                _safe_operand(o, allowed) for o in operands
            ):
                found.append(f"{where}: SOQL concatenated with a variable")
    return sorted(set(found))


def test_no_soql_in_the_package_or_the_dags_is_built_by_formatting_or_concatenating_values() -> None:
    found = [v for path in _sources() for v in violations_in(path.read_text(), str(path.relative_to(REPO)))]
    assert found == []


@pytest.mark.parametrize(
    "snippet",
    [
        "soql = f\"SELECT Id FROM Account WHERE Name = '{name}'\"",
        "soql = \"SELECT Id FROM Account WHERE Name = '%s'\" % name",
        "soql = \"SELECT Id FROM Account WHERE Name = '{}'\".format(name)",
        'soql = "SELECT Id FROM Account WHERE Name = \'" + name + "\'"',
        'soql = "SELECT " + ", ".join(fields) + " FROM Account"',
        "where = \"Status__c = 'Waiting' AND Name = '\" + name + \"'\"",
        'soql = "SELECT Id FROM " + sobject + " WHERE Id IN {}"',
    ],
    ids=[
        "an f-string with a value",
        "a percent format",
        "str.format",
        "concatenating a value",
        "joining unchecked field names",
        "a where clause concatenated with a value",
        "an unchecked object name",
    ],
)
def test_the_scan_catches_soql_built_with(snippet: str) -> None:
    assert violations_in(snippet) != []


@pytest.mark.parametrize(
    "snippet",
    [
        'soql = format_soql("SELECT Id FROM Account WHERE Name = {}", name)',
        'soql = format_soql("SELECT " + FIELDS + " FROM Account WHERE Id IN {ids}", ids=chunk)',
        'soql = "SELECT " + ", ".join(identifier(f) for f in fields) + " FROM " + identifier(sobject)',
        'log.info(f"selected {n} rows from the catalogue")',
    ],
    ids=["format_soql", "constants and format_soql", "identifier-checked names", "prose that is not SOQL"],
)
def test_the_scan_accepts(snippet: str) -> None:
    assert violations_in(snippet) == []
