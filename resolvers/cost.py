"""Query cost analysis (Shopify's model) over graphql-core's AST, a per-request budget and a per-key
leaky bucket, reported in `extensions.cost` (issue 13).

requested cost (before execution, from the document + variables):
  scalar / enum field            0 (or its weight in `field_costs`)
  object field                   object_cost (1)            + cost(children)
  list of objects                list_size x (object_cost + cost(children))
  connection field (`first`)     connection_cost (2)        + first x cost(children)
                                 (lists *inside* a connection type, i.e. edges/nodes, count once:
                                 the connection's `first` already multiplies them)
  Edge / PageInfo wrappers       0 + cost(children)
  mutation root field            mutation_cost (10)         + cost(children)
  abstract type (interface/union) the maximum over its possible object types
actual cost (after execution, from `result.data`): the same weights, but every list counts the items
it really returned (a connection with 3 edges costs 2 + 3 x …), and a null costs 0.

Fragments (named, inline, type conditions), aliases and @skip/@include are handled as in graphql-core's
own field collection; a fragment cycle (only possible in a document that failed validation) counts 0.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_directive_values, get_variable_values
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType as StrawberryOperationType

from resolvers.errors import mask_exception
from resolvers.planner import results as planner_results
from resolvers.ratelimit import too_many_requests
from resolvers.selection import collect_fields

ANALYSIS_CACHE_SIZE = 512


@dataclass(frozen=True)
class CostPolicy:
    object_cost: int = 1
    connection_cost: int = 2
    mutation_cost: int = 10
    introspection_cost: int = 10      # `__schema` / `__type` (introspection is off in production)
    default_first: int = 20           # the server's page size when `first` is omitted
    default_list_size: int = 10       # a plain list without a known bound
    list_sizes: Mapping[str, int] = field(default_factory=dict)   # "Order.lines": 100
    field_costs: Mapping[str, int] = field(default_factory=dict)  # "Query.orderStats": 50 (own weight)
    page_argument: str = "first"
    # A field whose weight counts once per item of a list argument (issue 17: importOrders' rows, each a placement):
    # "Mutation.importOrders": ("input", "orders")
    per_item_arguments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def is_connection(self, type_name: str) -> bool:
        return type_name.endswith("Connection")

    def is_wrapper(self, type_name: str) -> bool:
        return type_name.endswith(("Connection", "Edge")) or type_name == "PageInfo"


class CostAnalysis:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
                 variables: Mapping[str, Any] | None, policy: CostPolicy) -> None:
        self.schema, self.policy, self.document = schema, policy, document
        self.operation: OperationDefinitionNode | None = get_operation_ast(document, operation_name)
        # graphql-core 3.3: argument/directive helpers take a VariableValues (coerced + sources), not a dict.
        # Coerced as execution does (defaults applied); with invalid variables execution refuses the request anyway.
        self.variables: VariableValues | None = None
        if self.operation is not None:
            coerced = get_variable_values(schema, self.operation.variable_definitions or (), dict(variables or {}))
            if isinstance(coerced, VariableValues):
                self.variables = coerced
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        # collect()'s answers, kept with the analysis (cached per document and variables, `make_query_cost`): the
        # actual cost of every answer to the same document walks the same selections (issue 16: ~2 % of a placeOrder)
        self._collected: dict[tuple[Any, ...], dict[str, list[FieldNode]]] = {}

    # ---- field collection (as graphql-core's collect_fields, without executing) ----
    def _included(self, node: Any) -> bool:
        try:
            skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
            if skip and skip.get("if") is True:
                return False
            include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
            return not (include and include.get("if") is False)
        except Exception:  # a bad variable: count the field (validation/coercion will refuse it)
            return True

    def collect(self, object_type: GraphQLObjectType, selection_sets: list[SelectionSetNode],
                visited: frozenset[str] = frozenset()) -> dict[str, list[FieldNode]]:
        key = (object_type.name, visited, *map(id, selection_sets))  # the nodes are the document's, which the analysis holds
        found = self._collected.get(key)
        if found is None:
            found = self._collected[key] = collect_fields(self.schema, self.fragments, object_type, selection_sets, self._included, visited)
        return found

    # ---- requested cost ----
    def requested(self) -> int:
        if self.operation is None:
            return 0
        root = self.schema.get_root_type(self.operation.operation)
        if root is None:
            return 0
        return self._selection_requested(root, [self.operation.selection_set], inside_connection=False, depth=0)

    def _selection_requested(self, type_: Any, selection_sets: list[SelectionSetNode], *, inside_connection: bool,
                             depth: int) -> int:
        if depth > 64:  # far beyond the depth limit; keeps a pathological document bounded
            return 0
        if is_abstract_type(type_):
            return max((self._selection_requested(t, selection_sets, inside_connection=inside_connection, depth=depth)
                        for t in self.schema.get_possible_types(type_)), default=0)
        total = 0
        for _key, nodes in self.collect(type_, selection_sets).items():
            total += self._field_requested(type_, nodes, inside_connection=inside_connection, depth=depth)
        return total

    def _weight(self, parent: GraphQLObjectType, name: str, named: Any) -> int:
        key = f"{parent.name}.{name}"
        if key in self.policy.field_costs:
            return self.policy.field_costs[key]
        if self.operation is not None and self.operation.operation == OperationType.MUTATION \
                and parent is self.schema.mutation_type:
            return self.policy.mutation_cost
        if is_leaf_type(named):
            return 0
        if self.policy.is_connection(named.name):
            return self.policy.connection_cost
        if self.policy.is_wrapper(named.name):
            return 0
        return self.policy.object_cost

    def _items(self, parent: GraphQLObjectType, name: str, field_def: Any, node: FieldNode) -> int:
        """How many times the field's own weight counts: the length of its per-item list argument (at least 1)."""
        path = self.policy.per_item_arguments.get(f"{parent.name}.{name}")
        if not path:
            return 1
        try:
            value: Any = get_argument_values(field_def, node, self.variables)
        except Exception:
            return 1
        for step in path:
            value = value.get(step) if isinstance(value, Mapping) else getattr(value, step, None)
        return max(len(value), 1) if isinstance(value, list) else 1

    def _page_size(self, field_def: Any, node: FieldNode) -> int:
        try:
            args = get_argument_values(field_def, node, self.variables)
        except Exception:
            return self.policy.default_first
        value = args.get(self.policy.page_argument)
        if isinstance(value, bool) or not isinstance(value, int):
            return self.policy.default_first
        return max(value, 0)

    def _field_requested(self, parent: GraphQLObjectType, nodes: list[FieldNode], *, inside_connection: bool,
                         depth: int) -> int:
        name = nodes[0].name.value
        if name == "__typename":
            return 0
        if name in ("__schema", "__type"):
            return self.policy.introspection_cost
        field_def = parent.fields.get(name)
        if field_def is None:
            return 0
        named = get_named_type(field_def.type)
        weight = self._weight(parent, name, named) * self._items(parent, name, field_def, nodes[0])
        if is_leaf_type(named):
            return weight
        children = [n.selection_set for n in nodes if n.selection_set]
        if self.policy.is_connection(named.name) and self.policy.page_argument in field_def.args:
            first = self._page_size(field_def, nodes[0])
            return weight + first * self._selection_requested(named, children, inside_connection=True, depth=depth + 1)
        per_item = weight + self._selection_requested(named, children, inside_connection=False, depth=depth + 1)
        return self._list_factor(parent, name, field_def.type, inside_connection) * per_item

    def _list_factor(self, parent: GraphQLObjectType, name: str, type_: Any, inside_connection: bool) -> int:
        factor = 1
        while True:
            if isinstance(type_, GraphQLNonNull):
                type_ = type_.of_type
            elif isinstance(type_, GraphQLList):
                if not inside_connection:
                    factor *= self.policy.list_sizes.get(f"{parent.name}.{name}", self.policy.default_list_size)
                type_ = type_.of_type
            else:
                return factor

    # ---- actual cost ----
    def actual(self, data: Mapping[str, Any] | None) -> int:
        if self.operation is None or not data:
            return 0
        root = self.schema.get_root_type(self.operation.operation)
        return self._object_actual(root, [self.operation.selection_set], data, 0) if root else 0

    def _concrete(self, type_: Any, selection_sets: list[SelectionSetNode], value: Mapping[str, Any]) -> Any:
        if not is_abstract_type(type_):
            return type_
        keys = set(value)
        possible = self.schema.get_possible_types(type_)
        for t in possible:  # the object type whose collected response keys are exactly those returned
            if set(self.collect(t, selection_sets)) == keys:
                return t
        return possible[0] if possible else None

    def _object_actual(self, type_: Any, selection_sets: list[SelectionSetNode], value: Mapping[str, Any],
                       depth: int) -> int:
        type_ = self._concrete(type_, selection_sets, value)
        if type_ is None or depth > 64:
            return 0
        total = 0
        for key, nodes in self.collect(type_, selection_sets).items():
            if key not in value:
                continue
            name = nodes[0].name.value
            if name == "__typename":
                continue
            if name in ("__schema", "__type"):
                total += self.policy.introspection_cost
                continue
            field_def = type_.fields.get(name)
            if field_def is None:
                continue
            named = get_named_type(field_def.type)
            weight = self._weight(type_, name, named) * self._items(type_, name, field_def, nodes[0])
            if is_leaf_type(named):
                total += weight if value[key] is not None else 0
                continue
            children = [n.selection_set for n in nodes if n.selection_set]
            total += self._value_actual(named, weight, children, value[key], depth + 1)
        return total

    def _value_actual(self, named: Any, weight: int, children: list[SelectionSetNode], value: Any, depth: int) -> int:
        if value is None:
            return 0
        if isinstance(value, list):
            return sum(self._value_actual(named, weight, children, item, depth) for item in value)
        return weight + self._object_actual(named, children, value, depth)


def requested_cost(schema: GraphQLSchema, document: DocumentNode, *, operation_name: str | None = None,
                   variables: Mapping[str, Any] | None = None, policy: CostPolicy | None = None) -> int:
    return CostAnalysis(schema, document, operation_name, variables, policy or CostPolicy()).requested()


def actual_cost(schema: GraphQLSchema, document: DocumentNode, data: Mapping[str, Any] | None, *,
                operation_name: str | None = None, variables: Mapping[str, Any] | None = None,
                policy: CostPolicy | None = None) -> int:
    return CostAnalysis(schema, document, operation_name, variables, policy or CostPolicy()).actual(data)



class LeakyBucket:
    """Shopify's model: `capacity` points per key, refilled at `restore_rate` points/s. One process;
    across processes use the Redis Lua script in research-13.md (same arithmetic)."""

    def __init__(self, capacity: float, restore_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity, self.restore_rate, self.clock = capacity, restore_rate, clock
        self._state: dict[str, tuple[float, float]] = {}  # key -> (available, at)
        self._lock = asyncio.Lock()

    def _available(self, key: str, now: float) -> float:
        available, at = self._state.get(key, (self.capacity, now))
        return min(self.capacity, available + (now - at) * self.restore_rate)

    async def take(self, key: str, cost: float) -> tuple[bool, float, float]:
        """(allowed, available after, seconds until `cost` would be available)."""
        async with self._lock:
            now = self.clock()
            available = self._available(key, now)
            if cost > available:
                self._state[key] = (available, now)
                return False, available, (cost - available) / self.restore_rate
            self._state[key] = (available - cost, now)
            return True, available - cost, 0.0

    async def refund(self, key: str, points: float) -> float:
        async with self._lock:
            now = self.clock()
            available = min(self.capacity, self._available(key, now) + max(points, 0))
            self._state[key] = (available, now)
            return available


# The OMS's list bounds (Order.lines: the README's maximum; the others are small by nature).
OMS_POLICY = CostPolicy(
    list_sizes={
        "Order.lines": 100, "Order.shipments": 10, "Order.invoices": 10, "Order.payments": 10, "Order.returns": 10,
        "Order.inquiries": 10, "Product.stockLevels": 10, "Invoice.lines": 100, "Invoice.taxBreakdown": 5,
        "Shipment.events": 20, "PickList.lines": 100, "Return.lines": 100, "Inquiry.messages": 50, "OrderTracking.shipments": 10,
        "OrderTracking.events": 50, "Query.warehouses": 20, "Query.carriers": 20, "Query.trackedReturns": 10,
        "Query.trackedInquiries": 10,
        "DraftOrder.lines": 100, "DraftOrderPreview.lines": 100, "DraftOrderPreview.problems": 100,  # drafts, issue 18
        "ImportOrdersPayload.results": 500, "Order.metadata": 50, "Order.privateMetadata": 50,  # partner, issue 17
    },
    per_item_arguments={"Mutation.importOrders": ("input", "orders")},  # partner, issue 17: each row is a placement
)


@dataclass(frozen=True)
class CostLimits:
    policy: CostPolicy = OMS_POLICY
    max_cost: int = 50_000                # per request
    bucket_capacity: float = 1_000_000    # per key (or per client address without a key)
    restore_rate: float = 20_000          # points/s per key


async def caller_key(context: Any) -> str | None:
    """The bucket's key: the API key's name, or the client address for anonymous (public) calls."""
    principal = await context.principal()
    if principal is not None:
        return f"key:{principal.name}"
    request = getattr(context, "request", None)
    client = getattr(request, "client", None)
    return f"ip:{client.host}" if client else None


def variable_free(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, policy: CostPolicy) -> bool:
    """Whether no variable value can change the document's cost (requested or actual): every variable is used only
    in the arguments of a top-level field that is not a paged connection (e.g. `order(number: $n)`), where the
    analysis reads no argument; none in a directive, a fragment, or a nested field."""
    operation = get_operation_ast(document, operation_name)
    root = schema.get_root_type(operation.operation) if operation is not None else None
    if operation is None or root is None:
        return False
    allowed: set[int] = set()  # ids of the argument values where a variable changes nothing
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode):
            continue
        field_def = root.fields.get(selection.name.value)
        if field_def is None or (policy.is_connection(get_named_type(field_def.type).name) and policy.page_argument in field_def.args):
            continue
        if f"{root.name}.{selection.name.value}" in policy.per_item_arguments:  # its cost counts the items of an argument
            continue
        allowed.update(id(argument.value) for argument in selection.arguments or ())

    def free(node: Any) -> bool:
        if isinstance(node, VariableNode):
            return False
        if isinstance(node, VariableDefinitionNode):  # the declaration (and its default) is not a use
            return True
        for key in node.keys:
            value = getattr(node, key, None)
            for child in value if isinstance(value, tuple | list) else (value,):
                if isinstance(child, Node) and id(child) not in allowed and not free(child):
                    return False
        return True

    return all(free(definition) for definition in document.definitions)


def _has_variable(value: Any) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_has_variable(v) for v in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_has_variable(f.value) for f in value.fields)
    return False


def make_query_cost(limits: CostLimits, bucket: LeakyBucket | None,
                    key_of: Callable[[Any], Awaitable[str | None]] = caller_key) -> type[SchemaExtension]:
    """A SchemaExtension: refuses before execution (MAX_COST_EXCEEDED, or THROTTLED with 429 + Retry-After over
    HTTP) and reports {requestedQueryCost, actualQueryCost, maximumQueryCost, throttleStatus} in extensions.cost."""

    # Issue 15: the analysis of a (document, operation, variables) is the same every time: kept (bounded), so a
    # repeated request does not walk its document again.
    analyses: OrderedDict[tuple[Any, ...], tuple[CostAnalysis, int]] = OrderedDict()
    # (document, operation) -> True when no variable can change its cost (`variable_free`): then one analysis
    # serves every variable value (e.g. order(number: $n), whose number differs in every request).
    free_of_variables: OrderedDict[tuple[Any, ...], bool] = OrderedDict()

    def analysed(ec: Any) -> tuple[CostAnalysis, int]:
        base = (ec.query, ec.operation_name)
        try:
            key: tuple[Any, ...] | None = (*base, None) if free_of_variables.get(base) else \
                (*base, orjson.dumps(ec.variables, option=orjson.OPT_SORT_KEYS))
        except TypeError:
            key = None
        found = analyses.get(key) if key is not None else None
        if key is not None and found is not None and found[0].document is ec.graphql_document:
            analyses.move_to_end(key)
            return found
        analysis = CostAnalysis(ec.schema._schema, ec.graphql_document, ec.operation_name, ec.variables, limits.policy)
        found = (analysis, analysis.requested())
        if base not in free_of_variables:
            free_of_variables[base] = variable_free(ec.schema._schema, ec.graphql_document, ec.operation_name, limits.policy)
            while len(free_of_variables) > ANALYSIS_CACHE_SIZE:
                free_of_variables.popitem(last=False)
        if key is not None and free_of_variables[base]:
            key = (*base, None)
        if key is not None:
            analyses[key] = found
            while len(analyses) > ANALYSIS_CACHE_SIZE:
                analyses.popitem(last=False)
        return found

    class QueryCost(SchemaExtension):
        def __init__(self, *, execution_context: Any = None) -> None:
            self.cost: dict[str, Any] = {}
            # Reported to API keys (and with any refusal); an anonymous public answer stays byte for byte
            # the same whatever the pair (tracking lookups keep their constant shape).
            self.report = True

        async def on_execute(self) -> AsyncIterator[None]:
            ec = self.execution_context
            if ec.graphql_document is None:  # parsing failed: nothing to price
                yield
                return
            analysis, requested = analysed(ec)
            self.cost = {"requestedQueryCost": requested, "maximumQueryCost": limits.max_cost}
            if requested > limits.max_cost:
                self.report = True
                raise GraphQLError(
                    f"Query cost {requested} exceeds the maximum of {limits.max_cost}; ask for fewer items (`first`).",
                    extensions={"code": "MAX_COST_EXCEEDED"})
            try:
                key = await key_of(ec.context)  # may ask the database for the caller's key
            except Exception as exc:
                # Raised here, before execution, it would pass by MaskUnexpectedErrors: mask it the same way.
                raise mask_exception(exc, getattr(ec.context, "request_id", "-")) from exc
            self.report = key is None or key.startswith("key:")
            if bucket is not None and key is not None:
                allowed, available, wait = await bucket.take(key, requested)
                self.cost["throttleStatus"] = {"maximumAvailable": bucket.capacity, "currentlyAvailable": int(available),
                                               "restoreRate": bucket.restore_rate}
                if not allowed:
                    self.report = True
                    retry_after = max(1, math.ceil(wait))
                    too_many_requests(getattr(ec.context, "response", None), retry_after)
                    raise GraphQLError("Throttled: this API key's cost budget is spent; retry later.",
                                       extensions={"code": "THROTTLED", "retryAfter": retry_after})
            yield
            result = ec.result
            if ec.operation_type is StrawberryOperationType.SUBSCRIPTION or result is None:  # an event is not charged again
                return
            data, planned = planner_results.split(ec.context, getattr(result, "data", None))  # issue 15: priced by the planner's SQL
            actual = analysis.actual(data) + planned
            self.cost["actualQueryCost"] = actual
            if bucket is not None and key is not None:
                available = await bucket.refund(key, requested - actual)
                self.cost["throttleStatus"]["currentlyAvailable"] = int(available)

        def get_results(self) -> dict[str, Any]:
            # A subscription is priced once, when it starts; its events do not each repeat the figures.
            ec = self.execution_context
            if ec.graphql_document is not None and ec.operation_type is StrawberryOperationType.SUBSCRIPTION:
                return {}
            return {"cost": self.cost} if self.cost and self.report else {}

    return QueryCost
