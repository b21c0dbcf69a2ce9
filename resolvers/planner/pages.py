"""Keyset pages of the billing, catalog and returns roots in SQL, as resolvers/pagination.keyset reads them:
`first` (pagination.page_size), the bound after the cursor (pagination._bound; an invalid cursor or page size
falls back so that the ordinary resolver raises its error), the cursor text (pagination.encode_cursor: the JSON
of the row's key values as Python's json.dumps writes it, then padded base64url), totalCount over the same
conditions without the bound."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from resolvers import pagination
from resolvers.ids import id_of
from resolvers.planner.connections import connection_select, numbered
from resolvers.planner.core import Bind, Compiler, Fallback, Selected, b64url, iso_datetime


def json_string(expr: str) -> str:
    """json.dumps(text) as Python writes it (ensure_ascii): PostgreSQL's to_json for printable ASCII (both escape
    only `"` and `\\` there), else character by character (\\n \\r \\t \\b \\f, \\u00XX, \\uXXXX and surrogate pairs)."""
    ch = "__c.ch"
    code = f"ascii({ch})"
    each = (f"CASE WHEN {ch} = '\"' THEN '\\\"' WHEN {ch} = '\\' THEN '\\\\' WHEN {code} BETWEEN 32 AND 126 THEN {ch} "
            f"WHEN {code} = 10 THEN '\\n' WHEN {code} = 13 THEN '\\r' WHEN {code} = 9 THEN '\\t' WHEN {code} = 8 THEN '\\b' "
            f"WHEN {code} = 12 THEN '\\f' WHEN {code} < 65536 THEN '\\u' || lpad(to_hex({code}), 4, '0') "
            f"ELSE '\\u' || to_hex(55296 + (({code} - 65536) >> 10)) || '\\u' || to_hex(56320 + (({code} - 65536) & 1023)) END")
    slow = f"('\"' || (SELECT string_agg({each}, '' ORDER BY __c.n) FROM regexp_split_to_table({expr}, '') WITH ORDINALITY __c(ch, n)) || '\"')"
    return f"(CASE WHEN ({expr}) ~ '^[ -~]*$' THEN to_json(({expr})::text)::text ELSE {slow} END)"


@dataclass(frozen=True, slots=True)
class KeyColumn:
    """One column of a keyset: its SQL name, the cast of its bound, and its JSON in a cursor (given the page alias)."""

    column: str
    cast: str
    json: Callable[[str], str]


def text_column(column: str) -> KeyColumn:
    return KeyColumn(column, "varchar", lambda p: json_string(f"{p}.{column}"))


def uuid_column(column: str) -> KeyColumn:
    return KeyColumn(column, "uuid", lambda p: f"'\"' || ({p}.{column})::text || '\"'")


def time_column(column: str) -> KeyColumn:
    return KeyColumn(column, "timestamptz", lambda p: "'\"' || " + iso_datetime(f"{p}.{column}") + " || '\"'")


def keyset_root(
    c: Compiler, selected: Selected, *, table: str, node_type: str, columns: Sequence[KeyColumn], keys: Callable[[], Sequence[Any]],
    conditions: Sequence[str], descending: bool,
) -> str:
    """A root connection over `table` rows matching `conditions` (SQL over unqualified columns, parameters already bound),
    ordered by `columns` (the last one unique), `keys()` the resolver's pagination.Key tuple (for parsing the cursor)."""

    def size_of(bind: Bind) -> int:
        try:
            return pagination.page_size(bind.args.get("first"))
        except Exception:
            raise Fallback() from None

    def bound(bind: Bind) -> list[Any]:
        try:
            return pagination._bound(keys(), bind.args["after"])
        except Exception:
            raise Fallback() from None

    has_after = c.shape(f"{selected.name}.after", lambda bind: bind.args.get("after") is not None)
    size = c.param(size_of, "int")
    where = list(conditions)
    if has_after:
        values = [c.param(_item(bound, i), column.cast) for i, column in enumerate(columns)]
        names = [column.column for column in columns]
        operator = "<" if descending else ">"
        if len(columns) == 1:
            where.append(f"{names[0]} {operator} {values[0]}")
        else:
            where.append(f"({', '.join(names)}) {operator} ({', '.join(values)})")
    direction = " DESC" if descending else ""
    order_by = ", ".join(f"{column.column}{direction}" for column in columns)
    rows = numbered(f"SELECT * FROM {table}" + (" WHERE " + " AND ".join(where) if where else ""), order_by, size)
    total = f"(SELECT count(*) FROM {table}" + (" WHERE " + " AND ".join(conditions) if conditions else "") + ")"

    def cursor(p: str) -> str:
        return b64url("'[' || " + " || ',' || ".join(column.json(p) for column in columns) + " || ']'", padded=True)

    return connection_select(c, selected, rows=rows, node_type=node_type, cursor=cursor, size=size, has_previous=has_after, total=total)


def _item(values: Callable[[Bind], list[Any]], index: int) -> Callable[[Bind], Any]:
    return lambda bind: values(bind)[index]


def order_id_param(c: Compiler, order_id: Callable[[Bind], Any]) -> str:
    """pagination.order_filter's value as a parameter: a malformed or foreign ID falls back (the resolver raises)."""

    def value(bind: Bind) -> Any:
        found = id_of(order_id(bind), "Order")
        if found is None:
            raise Fallback()
        return found

    return c.param(value, "uuid")
