"""Subscription payloads through the read planner's plans (issue 15).

An `orderStatusChanged` event's payload is built once per subscription shape (resolvers/live.py
`SharedEventExecutionContext`). With the planner on, that one execution is one statement: the shape's selection
of `OrderStatusChange` compiles to a plan (cached per shape: document, operation, variables, the key's scopes)
whose `order` is the planner's Order mapping over the event's order row (`orders.id = $n`), and whose own
leaves (`cursor`, `status`, `previousStatus`, `occurredAt`) are bind parameters serialised in Python by the
schema's own GraphQL types (graphql-core's `serialize`, as the executor completes a leaf). PostgreSQL's JSON is
read back once (`orjson.loads`) so that the shared payload is written by the same encoder as the ordinary
executor's result (`resolvers.live.encode_payload`): the same bytes on every transport, planner on or off.

Anything the planner cannot compile exactly (an unmapped field, a field the key's scopes refuse: the ordinary
path answers those with its own nulls and errors), a missing order row, or a failed statement: the ordinary
executor builds the payload, as it does with the planner off. "The order, as it is when the message is sent"
(the schema's words): the plan reads the order when the payload is built, as the ordinary path's loaders read
its lines, events and shipments; the ordinary path takes the order's own columns from the hub's read of the
event (a few milliseconds earlier): the two differ only if the order changes again in between, and then the
next event shows it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import FragmentDefinitionNode, GraphQLSchema, OperationDefinitionNode, get_nullable_type

from resolvers.cost import OMS_POLICY
from resolvers.planner.core import Bind, Compiler, Selected, TypeMapping, Unsupported, Value, register

log = logging.getLogger(__name__)

PLANS_SIZE = 256
ROOT_FIELD = "orderStatusChanged"
CHANGE_TYPE = "OrderStatusChange"
LEAVES = ("cursor", "previousStatus", "status", "occurredAt")  # the event's own fields -> StatusChange attributes
ATTRIBUTES = {"cursor": "cursor", "previousStatus": "previous_status", "status": "status", "occurredAt": "occurred_at"}


def _leaf(name: str) -> Any:
    def sql(c: Compiler, source: Any, selected: Selected) -> str:
        return c.param(lambda bind: bind.args[name], "text")

    return sql


def _order(c: Compiler, source: Any, selected: Selected) -> Value:
    order_id = c.param(lambda bind: bind.args["order_id"], "uuid")
    value = c.row(selected, "orders", lambda o: f"{o}.id = {order_id}", "Order")
    if not isinstance(c, _EventCompiler):
        raise Unsupported("OrderStatusChange.order outside a subscription payload")
    c.required.append(value.json)  # non-null: no row (never, in practice) -> the ordinary executor
    return value


register(TypeMapping(CHANGE_TYPE, {**{name: _leaf(name) for name in LEAVES}, "order": _order}))


class _EventCompiler(Compiler):
    """A Compiler that also collects the SQL of the non-null objects whose absence must make the plan give up."""

    required: list[str]


@dataclass(frozen=True, slots=True)
class EventPlan:
    sql: str
    params: tuple[Any, ...]
    response_key: str
    serializers: dict[str, Any]  # leaf name -> the schema's serialize of its GraphQL type

    def bind(self, change: Any, variables: dict[str, Any]) -> tuple[Any, ...]:
        args = {name: (None if (value := getattr(change, ATTRIBUTES[name])) is None else self.serializers[name](value)) for name in LEAVES}
        args["order_id"] = change.order.id
        bind = Bind(args, variables)
        return tuple(fn(bind) for fn, _ in self.params)


class EventPlans:
    def __init__(self, size: int = PLANS_SIZE) -> None:
        self.size = size
        self.plans: OrderedDict[Any, EventPlan | None] = OrderedDict()
        self.compiled = 0  # plans compiled (tests)
        self.built = 0  # payloads built through a plan (tests, the benchmark)

    def plan(self, shape: Any, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], operation: OperationDefinitionNode,
             variables: dict[str, Any], scopes: frozenset[str]) -> EventPlan | None:
        if shape in self.plans:
            self.plans.move_to_end(shape)
            return self.plans[shape]
        self.compiled += 1
        try:
            plan = compile_event(schema, fragments, operation, variables, scopes)
        except Unsupported as exc:
            log.debug("planner: subscription payload not compiled (%s)", exc)
            plan = None
        except Exception:  # a planner bug must never change a payload: the ordinary executor builds it
            log.exception("planner: compiling a subscription payload failed")
            plan = None
        self.plans[shape] = plan
        while len(self.plans) > self.size:
            self.plans.popitem(last=False)
        return plan

    async def build(self, context: Any, plan: EventPlan, change: Any, variables: dict[str, Any]) -> dict[str, Any] | None:
        """The event's `data` ({response key: the change}) from one statement, or None: then the ordinary executor builds it."""
        try:
            row = await context.db.read_json(plan.sql, plan.bind(change, variables))
        except Exception:  # the ordinary executor meets the same trouble and reports it its own way
            log.debug("planner: a subscription payload's statement failed; building it the ordinary way", exc_info=True)
            return None
        if row is None or row[0] is None:
            return None
        self.built += 1
        return {plan.response_key: orjson.loads(row[0])}


PLANS = EventPlans()


def compile_event(schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], operation: OperationDefinitionNode,
                  variables: dict[str, Any], scopes: frozenset[str]) -> EventPlan | None:
    c = _EventCompiler(schema, fragments, variables, scopes, {}, policy=OMS_POLICY)
    c.required = []
    root = c.object_type("Subscription")
    selected = c.collect(root, [operation.selection_set])
    if len(selected) != 1 or selected[0].name != ROOT_FIELD:
        raise Unsupported("not one orderStatusChanged field")
    field = selected[0]
    change_type = c.object_type(CHANGE_TYPE)
    serializers = {name: get_nullable_type(change_type.fields[name].type).serialize for name in LEAVES}
    value, joins = c.joins(lambda: c.object(CHANGE_TYPE, None, field.selection_sets))
    present = " AND ".join(f"({required}) IS NOT NULL" for required in c.required) or "true"
    sql = f"SELECT (CASE WHEN {present} THEN {value.json} END)::text FROM (SELECT 1) __one{joins}"
    return EventPlan(sql, tuple(c.params), field.key, serializers)
