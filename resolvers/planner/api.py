"""What root resolvers call: `planned(info, "Query.orders", args)` -> the field's JSON as an orjson.Fragment, or
None when the planner is off or cannot compile this selection (the resolver then continues as usual).

Plans are compiled once per (document, operation, response key, root field, node type, the caller's scopes)
and per value of the shapes the compiler recorded (resolvers/planner/core.py), kept in a bounded LRU.
The statement runs through `Database.read_json` (one statement, no BEGIN/ROLLBACK, replica routing and the
read retries of `Database.query`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson

from resolvers.cost import OMS_POLICY
from resolvers.planner import results
from resolvers.planner.core import NODE_ROOTS, ROOTS, Bind, Compiler, Fallback, Plan, Selected, Unsupported, root_row
from resolvers.types import Info

log = logging.getLogger(__name__)

PLAN_CACHE_SIZE = 512
Planned = orjson.Fragment  # what a root resolver returns when the planner answered


@dataclass
class _Entry:
    """The plans of one base key: each shape-name tuple with the plans per shape value."""

    shapes: list[tuple[tuple[str, ...], list[Any], dict[tuple[Any, ...], Plan | None]]] = field(default_factory=list)


class PlanCache:
    def __init__(self, size: int = PLAN_CACHE_SIZE) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self.compiled = 0  # plans compiled (for tests: a second request compiles nothing)

    def find(self, key: tuple[Any, ...], bind: Bind) -> tuple[bool, Plan | None]:
        entry = self.entries.get(key)
        if entry is None:
            return False, None
        self.entries.move_to_end(key)
        for _names, projections, plans in entry.shapes:
            values = tuple(project(bind) for project in projections)
            if values in plans:
                return True, plans[values]
        return False, None

    def store(self, key: tuple[Any, ...], names: tuple[str, ...], projections: list[Any], values: tuple[Any, ...], plan: Plan | None) -> None:
        self.compiled += 1
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = _Entry()
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        for existing_names, _projections, plans in entry.shapes:
            if existing_names == names:
                plans[values] = plan
                if len(plans) > 64:  # many shapes of one field: forget the oldest
                    plans.pop(next(iter(plans)))
                return
        entry.shapes.append((names, projections, {values: plan}))


CACHE = PlanCache()


def _compile(info: Info, root: str, node_type: str | None, scopes: frozenset[str], args: dict[str, Any]) -> tuple[Compiler, Plan | None]:
    raw = info._raw_info
    c = Compiler(raw.schema, raw.fragments, info.variable_values, scopes, args, policy=OMS_POLICY)
    parent = c.object_type("Query")
    nodes = list(raw.field_nodes)
    key = nodes[0].alias.value if nodes[0].alias else nodes[0].name.value
    selected = Selected(key, nodes[0].name.value, nodes, parent, parent.fields.get(nodes[0].name.value))
    try:
        if node_type is not None:
            table = NODE_ROOTS.get(node_type)
            if table is None:
                raise Unsupported(f"node of type {node_type}")
            node_id = c.param(lambda b: b.args["id"], "uuid")
            sql = root_row(c, selected, table, lambda n: f"{n}.id = {node_id}", node_type)
        else:
            compile_root = ROOTS.get(root)
            if compile_root is None:
                raise Unsupported(root)
            sql = compile_root(c, selected)
        return c, Plan(f"SELECT (q.j)::text, q.c FROM ({sql}) q", tuple(c.params))
    except Unsupported as exc:
        log.debug("planner: %s not compiled (%s)", root, exc)
        return c, None
    except Fallback:
        raise
    except Exception:  # a planner bug must never change an answer: resolve it the ordinary way
        log.exception("planner: compiling %s failed", root)
        return c, None


async def planned(info: Info, root: str, args: dict[str, Any], *, node_type: str | None = None) -> orjson.Fragment | None:
    """The root field's JSON from one statement, or None: then resolve it the ordinary way."""
    context = info.context
    if not context.settings.read_planner:
        return None
    _known, principal = context.cached_principal()
    scopes = principal.scopes if principal is not None else frozenset()
    operation = info.operation
    source = operation.loc.source.body if operation.loc else None
    if source is None:
        return None
    nodes = info._raw_info.field_nodes
    response_key = nodes[0].alias.value if nodes[0].alias else nodes[0].name.value
    key = (source, operation.name.value if operation.name else None, response_key, root, node_type, scopes)
    bind = Bind(args, info.variable_values)
    try:
        found, plan = CACHE.find(key, bind)
        if not found:
            try:
                compiler, plan = _compile(info, root, node_type, scopes, args)
            except Fallback:
                return None
            names = tuple(shape.name for shape in compiler.shapes)
            projections = [shape.project for shape in compiler.shapes]
            CACHE.store(key, names, projections, tuple(project(bind) for project in projections), plan)
        if plan is None:
            return None
        params = plan.bind(bind)
    except Fallback:
        return None
    row = await context.db.read_json(plan.sql, params)
    text = row[0] if row is not None and row[0] is not None else "null"
    fragment = orjson.Fragment(text)
    results.remember(context, fragment, text, int(row[1] or 0) if row is not None else 0)
    return fragment
