"""Relay connections in SQL: one aggregate pass over a page of rows numbered `__rn` (1..size+1), as
resolvers/pagination.build shapes them: `size` edges, hasNextPage when the extra row is there,
hasPreviousPage when a cursor was given, start/end cursors of the edges shown; the actual cost as
resolvers/cost.py counts it (the connection's weight + each edge's node)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from resolvers import pagination
from resolvers.planner.core import Bind, Compiler, Fallback, Selected, Unsupported, Value, add, b64url, iso_datetime, json_object, literal


def connection_select(
    c: Compiler, selected: Selected, *, rows: str, node_type: str, cursor: Callable[[str], str], size: str,
    has_previous: bool, total: str | None = None,
) -> str:
    """A SELECT of one row: the connection's JSON (j) and cost (c, its own weight included) over `rows`
    (a FROM item of the page, at most size + 1 rows)."""
    alias = c.alias("p")
    connection_type = c.object_type(selected.type_name)

    def build() -> tuple[list[tuple[str, str]], list[str]]:
        pairs: list[tuple[str, str]] = []
        costs: list[str] = [str(c.weight(selected))]
        shown = f"FILTER (WHERE {alias}.__rn <= {size})"
        for part in c.collect(connection_type, selected.selection_sets):
            if part.name == "__typename":
                pairs.append((part.key, literal(connection_type.name)))
            elif part.name == "edges":
                edge_type = c.object_type(part.type_name)
                edge_pairs: list[tuple[str, str]] = []
                edge_costs: list[str] = [str(c.weight(part))]
                for item in c.collect(edge_type, part.selection_sets):
                    if item.name == "__typename":
                        edge_pairs.append((item.key, literal(edge_type.name)))
                    elif item.name == "cursor":
                        edge_pairs.append((item.key, cursor(alias)))
                    elif item.name == "node":
                        node = c.child(item, alias, node_type)
                        edge_pairs.append((item.key, node.json))
                        edge_costs.append(node.cost)
                    else:
                        raise Unsupported(f"{edge_type.name}.{item.name}")
                pairs.append((part.key, f"coalesce(json_agg({json_object(edge_pairs)} ORDER BY {alias}.__rn) {shown}, '[]'::json)"))
                edge_cost = add(*edge_costs)
                if edge_cost != "0":
                    costs.append(f"coalesce(sum({edge_cost}) {shown}, 0)")
            elif part.name == "pageInfo":
                info_type = c.object_type("PageInfo")
                info_pairs: list[tuple[str, str]] = []
                costs.append(str(c.weight(part)))
                for item in c.collect(info_type, part.selection_sets):
                    if item.name == "__typename":
                        info_pairs.append((item.key, literal("PageInfo")))
                    elif item.name == "hasNextPage":
                        info_pairs.append((item.key, f"count(*) > {size}"))
                    elif item.name == "hasPreviousPage":
                        info_pairs.append((item.key, "true" if has_previous else "false"))
                    elif item.name == "startCursor":
                        info_pairs.append((item.key, f"(array_agg({cursor(alias)} ORDER BY {alias}.__rn) {shown})[1]"))
                    elif item.name == "endCursor":
                        info_pairs.append((item.key, f"(array_agg({cursor(alias)} ORDER BY {alias}.__rn DESC) {shown})[1]"))
                    else:
                        raise Unsupported(f"PageInfo.{item.name}")
                    if c.weight(item):
                        raise Unsupported("a weighted PageInfo field")
                pairs.append((part.key, json_object(info_pairs)))
            elif part.name == "totalCount" and total is not None:
                if c.weight(part):
                    raise Unsupported("a weighted totalCount")
                pairs.append((part.key, total))
            else:
                raise Unsupported(f"{connection_type.name}.{part.name}")
        return pairs, costs

    (pairs, costs), joins = c.joins(build)
    # GROUP BY (): one row, even over no rows
    return f"SELECT {json_object(pairs)} AS j, {add(*costs)} AS c FROM {rows} {alias}{joins} GROUP BY ()"


def nested_connection(c: Compiler, selected: Selected, **kwargs: object) -> Value:
    """A connection field of a row (e.g. Order.events), as a LATERAL subquery."""
    x = c.lateral(connection_select(c, selected, **kwargs))  # type: ignore[arg-type]
    return Value(f"{x}.j", f"{x}.c")


def numbered(select_from_where: str, order_by: str, size: str) -> str:
    """A page as a FROM item: the rows of `SELECT * FROM … WHERE …` (unqualified columns) in order, numbered, size + 1 at most."""
    return f"(SELECT *, row_number() OVER (ORDER BY {order_by}) AS __rn FROM ({select_from_where} ORDER BY {order_by} LIMIT {size} + 1) __page)"


@dataclass(frozen=True, slots=True)
class KeyColumn:
    """One column of a keyset ordering (resolvers/pagination.Key) in SQL: the unqualified column, the type of its
    bound, and the SQL text its value takes in the cursor's JSON (as json.dumps writes the Key's dump)."""

    column: str
    cast: str
    cursor_json: Callable[[str], str]  # row alias -> SQL text expression


def time_key(column: str) -> KeyColumn:
    """pagination.time_key: the isoformat() string."""
    return KeyColumn(column, "timestamptz", lambda p: "'\"' || " + iso_datetime(f"{p}.{column}") + " || '\"'")


def uuid_key(column: str = "id") -> KeyColumn:
    return KeyColumn(column, "uuid", lambda p: f"'\"' || ({p}.{column})::text || '\"'")


def int_key(column: str) -> KeyColumn:
    return KeyColumn(column, "bigint", lambda p: f"({p}.{column})::text")


def decimal_key(column: str) -> KeyColumn:
    """A Decimal key dumped with str: a JSON string of numeric::text."""
    return KeyColumn(column, "numeric", lambda p: f"'\"' || ({p}.{column})::text || '\"'")


def page_size(first: Any) -> int:
    """pagination.page_size, or Fallback (the ordinary resolver raises the LIMIT_EXCEEDED error)."""
    try:
        return pagination.page_size(first)
    except Exception:
        raise Fallback() from None


def keyset_connection(
    c: Compiler, selected: Selected, *, table: str, node_type: str, keys: Sequence[KeyColumn],
    bound: Callable[[Bind], Sequence[Any]], descending: bool, conditions: Sequence[str],
    first: Callable[[Bind], Any] = lambda bind: bind.args.get("first"), after: Callable[[Bind], Any] = lambda bind: bind.args.get("after"),
) -> str:
    """resolvers/pagination.keyset as one SELECT: rows of `table` matching `conditions` (SQL over unqualified columns),
    ordered by `keys` (the last unique), after the cursor (`bound(bind)`: its decoded values, e.g. pagination._bound;
    raise Fallback for an invalid cursor), `first` of them; totalCount over `conditions`; cursors as encode_cursor writes them."""
    has_after = c.shape(f"{selected.key}.after", lambda bind: after(bind) is not None)
    size = c.param(lambda bind: page_size(first(bind)), "int")
    where = list(conditions)
    if has_after:
        def value(i: int) -> Callable[[Bind], Any]:
            return lambda bind: bound(bind)[i]

        values = [c.param(value(i), key.cast) for i, key in enumerate(keys)]
        columns = ", ".join(key.column for key in keys)
        operator = "<" if descending else ">"
        where.append(f"({columns}) {operator} ({', '.join(values)})" if len(keys) > 1 else f"{columns} {operator} {values[0]}")
    direction = " DESC" if descending else ""
    order_by = ", ".join(f"{key.column}{direction}" for key in keys)
    rows = numbered(f"SELECT * FROM {table}" + (" WHERE " + " AND ".join(where) if where else ""), order_by, size)
    total = f"(SELECT count(*) FROM {table}" + (" WHERE " + " AND ".join(conditions) if conditions else "") + ")"

    def cursor(p: str) -> str:
        return b64url("'[' || " + " || ',' || ".join(key.cursor_json(p) for key in keys) + " || ']'", padded=True)

    return connection_select(c, selected, rows=rows, node_type=node_type, cursor=cursor, size=size, has_previous=has_after, total=total)


def keyset_bound(keys: Sequence[pagination.Key[Any]], after: Callable[[Bind], Any] = lambda bind: bind.args.get("after")) -> Callable[[Bind], Sequence[Any]]:
    """The decoded `after` cursor over pagination Keys (as pagination.keyset), or Fallback when it is invalid."""

    def bound(bind: Bind) -> Sequence[Any]:
        try:
            return pagination._bound(keys, after(bind))
        except Exception:
            raise Fallback() from None

    return bound
