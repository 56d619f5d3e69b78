"""The SOQL grammar (LALR(1), keywords case-insensitive) covering what integrations write."""

from __future__ import annotations

GRAMMAR = r"""
start: query

query: "SELECT"i select_list "FROM"i NAME where? with_clause? group_by? order_by? limit? offset? for_clause?

select_list: select_item ("," select_item)*
?select_item: path                              -> sel_field
            | "(" query ")"                     -> sel_subquery
            | AGG "(" path? ")" NAME?            -> sel_agg

where: "WHERE"i condition

?condition: unary
          | unary ("AND"i unary)+               -> and_
          | unary ("OR"i unary)+                -> or_
?unary: "NOT"i unary                            -> not_
      | "(" condition ")"
      | comparison

comparison: path OP value                       -> cmp
          | path "LIKE"i value                  -> like
          | path "IN"i "(" value_list ")"       -> in_
          | path "NOT"i "IN"i "(" value_list ")" -> not_in
          | path "IN"i "(" query ")"            -> in_query
          | path "NOT"i "IN"i "(" query ")"     -> not_in_query
          | path "INCLUDES"i "(" value_list ")" -> includes
          | path "EXCLUDES"i "(" value_list ")" -> excludes

value_list: value ("," value)*
?value: STRING                                  -> string
      | NUMBER                                  -> number
      | DATETIME                                -> datetime
      | DATE                                    -> date
      | "null"i                                 -> null
      | "true"i                                 -> true
      | "false"i                                -> false
      | NAME                                    -> date_literal
      | NAME ":" NUMBER                         -> date_literal_n

group_by: "GROUP"i "BY"i path ("," path)*
order_by: "ORDER"i "BY"i order_item ("," order_item)*
order_item: path DIRECTION? nulls?
nulls: "NULLS"i NULLS_POS
limit: "LIMIT"i NUMBER
offset: "OFFSET"i NUMBER
for_clause: "FOR"i FOR_WHAT
with_clause: "WITH"i WITH_WHAT
WITH_WHAT: "SECURITY_ENFORCED"i | "USER_MODE"i | "SYSTEM_MODE"i
FOR_WHAT: "VIEW"i | "REFERENCE"i | "UPDATE"i

path: NAME ("." NAME)*

AGG.2: /(COUNT_DISTINCT|COUNT|SUM|MIN|MAX|AVG)(?=\s*\()/i
DIRECTION: "ASC"i | "DESC"i
NULLS_POS: "FIRST"i | "LAST"i
OP: "=" | "!=" | "<>" | "<=" | ">=" | "<" | ">"
NAME: /[a-z_][a-z0-9_]*/i
STRING: /'(?:[^'\\]|\\.)*'/s
DATETIME.3: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})/i
DATE.2: /\d{4}-\d{2}-\d{2}(?![\dT:])/
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/

%import common.WS
%ignore WS
"""
