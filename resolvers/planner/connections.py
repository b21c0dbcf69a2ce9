"""Relay connections in SQL: one aggregate pass over a page of rows numbered `__rn` (1..size+1), as
resolvers/pagination.build shapes them: `size` edges, hasNextPage when the extra row is there,
hasPreviousPage when a cursor was given, start/end cursors of the edges shown."""

from __future__ import annotations

from collections.abc import Callable

from resolvers.planner.core import Compiler, Selected, Unsupported, json_object, literal


def connection_json(
    c: Compiler, selected: Selected, *, rows: str, node_type: str, cursor: Callable[[str], str], size: str,
    has_previous: bool, total: str | None = None,
) -> str:
    """A SELECT of the connection's JSON over `rows` (a FROM item of the page, at most size + 1 rows)."""
    alias = c.alias("p")
    connection_type = c.object_type(selected.type_name)
    pairs: list[tuple[str, str]] = []
    for part in c.collect(connection_type, selected.selection_sets):
        if part.name == "__typename":
            pairs.append((part.key, literal(connection_type.name)))
        elif part.name == "edges":
            edge_type = c.object_type(part.type_name)
            edge_pairs: list[tuple[str, str]] = []
            for item in c.collect(edge_type, part.selection_sets):
                if item.name == "__typename":
                    edge_pairs.append((item.key, literal(edge_type.name)))
                elif item.name == "cursor":
                    edge_pairs.append((item.key, cursor(alias)))
                elif item.name == "node":
                    edge_pairs.append((item.key, c.object(node_type, alias, item.selection_sets)))
                else:
                    raise Unsupported(f"{edge_type.name}.{item.name}")
            edge = json_object(edge_pairs)
            pairs.append((part.key, f"coalesce(json_agg({edge} ORDER BY {alias}.__rn) FILTER (WHERE {alias}.__rn <= {size}), '[]'::json)"))
        elif part.name == "pageInfo":
            info_type = c.object_type("PageInfo")
            info_pairs: list[tuple[str, str]] = []
            for item in c.collect(info_type, part.selection_sets):
                if item.name == "__typename":
                    info_pairs.append((item.key, literal("PageInfo")))
                elif item.name == "hasNextPage":
                    info_pairs.append((item.key, f"count(*) > {size}"))
                elif item.name == "hasPreviousPage":
                    info_pairs.append((item.key, "true" if has_previous else "false"))
                elif item.name == "startCursor":
                    info_pairs.append((item.key, f"(array_agg({cursor(alias)} ORDER BY {alias}.__rn) FILTER (WHERE {alias}.__rn <= {size}))[1]"))
                elif item.name == "endCursor":
                    info_pairs.append((item.key, f"(array_agg({cursor(alias)} ORDER BY {alias}.__rn DESC) FILTER (WHERE {alias}.__rn <= {size}))[1]"))
                else:
                    raise Unsupported(f"PageInfo.{item.name}")
            pairs.append((part.key, json_object(info_pairs)))
        elif part.name == "totalCount" and total is not None:
            pairs.append((part.key, total))
        else:
            raise Unsupported(f"{connection_type.name}.{part.name}")
    return f"SELECT {json_object(pairs)} FROM {rows} {alias} GROUP BY ()"  # one row, even over no rows


def numbered(select_from_where: str, order_by: str, size: str) -> str:
    """A page as a FROM item: the rows of `SELECT t.* FROM … WHERE …` in order, numbered, size + 1 at most."""
    return f"(SELECT *, row_number() OVER (ORDER BY {order_by}) AS __rn FROM ({select_from_where} ORDER BY {order_by} LIMIT {size} + 1) __page)"
