"""The read planner's core (issue 15): a root field's selection set -> one SQL statement whose JSON PostgreSQL builds.

A `Compiler` walks graphql-core FieldNodes exactly as graphql-core's field collection does (fragments, inline
fragments with type conditions, @skip/@include, aliases, merged response keys) and asks each GraphQL type's
`TypeMapping` (registered by resolvers/planner/<domain>.py) for the SQL expression of each selected field.
Anything a mapping cannot reproduce exactly raises `Unsupported`: the root field then falls back to the ordinary
resolvers (a partial plan is per root field, never a different answer).

Values reach the statement as bind parameters: a `Param` computes its value per request from the root field's
coerced arguments and the operation's variables (`Bind`). What changes the statement's text (an @include
variable, which filter fields are set, the sort, whether a cursor is given) is a *shape*: the compiler records
each shape it read as (name, projection), and the plan cache keys plans by those projections' values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)
from graphql.execution.values import VariableValues, get_argument_values

from resolvers.selection import collect_fields

T = TypeVar("T")
JSON_MAX_PAIRS = 50  # json_build_object takes at most 100 arguments


class Unsupported(Exception):
    """This selection cannot be compiled exactly: the root field falls back to the ordinary resolvers."""


class Fallback(Exception):
    """Raised while binding a plan's parameters: this request's values need the ordinary path (e.g. the
    ordinary resolvers raise a precise error for an invalid cursor or page size)."""


@dataclass(slots=True)
class Bind:
    """What a request gives a plan: the root field's coerced arguments and the operation's variables."""

    args: dict[str, Any]
    variables: dict[str, Any]


ParamFn = Callable[[Bind], Any]


@dataclass(slots=True)
class Selected:
    """One response key of a selection: its field, the merged field nodes, and where it sits."""

    key: str
    name: str
    nodes: list[FieldNode]
    parent: GraphQLObjectType
    field_def: GraphQLField | None  # None for __typename

    @property
    def selection_sets(self) -> list[SelectionSetNode]:
        return [node.selection_set for node in self.nodes if node.selection_set is not None]

    @property
    def type_name(self) -> str:
        assert self.field_def is not None
        return get_named_type(self.field_def.type).name


FieldFn = Callable[["Compiler", Any, Selected], "str | Value"]


@dataclass
class TypeMapping:
    """How one GraphQL object type's fields are read in SQL. `fields` maps a GraphQL field name to a function
    (compiler, source, selected) -> SQL expression; `source` is what the parent hands down (usually a table
    alias). `table` is the row's table for node(id:) and generic lookups."""

    name: str
    fields: dict[str, FieldFn]
    table: str | None = None


MAPPINGS: dict[str, TypeMapping] = {}


def register(mapping: TypeMapping) -> TypeMapping:
    if mapping.name in MAPPINGS:
        MAPPINGS[mapping.name].fields.update(mapping.fields)
        if mapping.table:
            MAPPINGS[mapping.name].table = mapping.table
        return MAPPINGS[mapping.name]
    MAPPINGS[mapping.name] = mapping
    return mapping


def field_fn(mapping: TypeMapping, name: str) -> Callable[[FieldFn], FieldFn]:
    """Decorator: register `fn` as the SQL of `mapping`'s field `name`."""

    def add(fn: FieldFn) -> FieldFn:
        mapping.fields[name] = fn
        return fn

    return add


# ---------------------------------------------------------------- formatting: the standard executor's, in SQL


def literal(value: str) -> str:
    """A SQL string literal (for names and fixed texts built by the planner)."""
    return "'" + value.replace("'", "''") + "'"


def iso_datetime(expr: str) -> str:
    """datetime.isoformat() of a timestamptz as asyncpg returns it (UTC): microseconds only when non-zero."""
    return (f"to_char(({expr}) AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', {expr}) = ({expr}) "
            "THEN 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"' ELSE 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"' END)")


def iso_date(expr: str) -> str:
    return f"to_char({expr}, 'YYYY-MM-DD')"


def b64url(expr: str, *, padded: bool) -> str:
    """base64url of a text's UTF-8 bytes (PostgreSQL's base64 wraps lines every 76 characters: unwrapped here)."""
    encoded = f"translate(replace(encode(convert_to({expr}, 'UTF8'), 'base64'), E'\\n', ''), '+/', '-_')"
    return encoded if padded else f"rtrim({encoded}, '=')"


def global_id(type_name: str, id_expr: str) -> str:
    """resolvers/ids.to_global_id: base64url without padding of "Type:uuid"."""
    return b64url(f"{literal(type_name + ':')} || ({id_expr})::text", padded=False)


def decimal_text(expr: str) -> str:
    """str(Decimal) of a numeric column as asyncpg decodes it (same digits and scale as numeric's text)."""
    return f"({expr})::text"


def json_object(pairs: Sequence[tuple[str, str]]) -> str:
    if len(pairs) > JSON_MAX_PAIRS:
        raise Unsupported("too many keys in one object")
    if not pairs:
        return "json_build_object()"
    return "json_build_object(" + ", ".join(f"{literal(key)}, {value}" for key, value in pairs) + ")"


@dataclass(frozen=True, slots=True)
class Value:
    """A selected field in SQL: its JSON (`json`) and its actual query cost (`cost`, an integer expression), as
    resolvers/cost.py counts it on result.data (the field's weight when non-null, plus its children's)."""

    json: str
    cost: str = "0"


def add(*terms: str) -> str:
    """A sum of cost expressions, constants folded."""
    constant, rest = 0, []
    for term in terms:
        if term.lstrip("-").isdigit():
            constant += int(term)
        else:
            rest.append(term)
    if constant or not rest:
        rest.append(str(constant))
    return rest[0] if len(rest) == 1 else "(" + " + ".join(rest) + ")"


# ---------------------------------------------------------------- the compiler


@dataclass(slots=True)
class Shape:
    name: str
    project: Callable[[Bind], Any]


@dataclass
class Compiler:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any]
    scopes: frozenset[str]
    root_args: dict[str, Any] = field(default_factory=dict)
    policy: Any = None  # resolvers.cost.CostPolicy: the weights of the actual cost
    laterals: list[list[str]] = field(default_factory=list)
    params: list[tuple[ParamFn, str]] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    _aliases: int = 0

    # -- access
    def has(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    # -- SQL pieces
    def alias(self, prefix: str = "t") -> str:
        self._aliases += 1
        return f"{prefix}{self._aliases}"

    def param(self, fn: ParamFn, cast: str) -> str:
        self.params.append((fn, cast))
        return f"${len(self.params)}::{cast}"

    def lateral(self, select: str) -> str:
        """Add `LEFT JOIN LATERAL (select) x ON true` to the FROM clause being built (see `joins`); returns x."""
        if not self.laterals:
            raise Unsupported("a lateral subquery outside a FROM clause")
        alias = self.alias("x")
        self.laterals[-1].append(f"LEFT JOIN LATERAL ({select}) {alias} ON true")
        return alias

    def joins(self, build: Callable[[], T]) -> tuple[T, str]:
        """build() with a fresh FROM-clause scope; returns its result and the LATERAL joins it added."""
        self.laterals.append([])
        try:
            result = build()
        finally:
            joins = self.laterals.pop()
        return result, (" " + " ".join(joins) if joins else "")

    def weight(self, selected: Selected) -> int:
        """resolvers.cost.CostAnalysis._weight of a (query) field."""
        policy = self.policy
        if policy is None or selected.field_def is None:
            return 0
        key = f"{selected.parent.name}.{selected.name}"
        if key in policy.field_costs:
            return int(policy.field_costs[key])
        named = get_named_type(selected.field_def.type)
        if is_leaf_type(named):
            return 0
        if policy.is_connection(named.name):
            return int(policy.connection_cost)
        if policy.is_wrapper(named.name):
            return 0
        return int(policy.object_cost)

    def shape(self, name: str, project: Callable[[Bind], Any]) -> Any:
        """A value that shapes the statement's text: recorded, so the plan is reused only when it is the same."""
        self.shapes.append(Shape(name, project))
        return project(Bind(self.root_args, self.variables))

    # -- selections, as graphql-core collects them
    def _included(self, node: FieldNode | FragmentSpreadNode | InlineFragmentNode) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            condition = next((a.value for a in directive.arguments or () if a.name.value == "if"), None)
            value = self._boolean(condition)
            if (name == "skip" and value) or (name == "include" and not value):
                return False
        return True

    def _boolean(self, node: ValueNode | None) -> bool:
        if isinstance(node, BooleanValueNode):
            return node.value
        if isinstance(node, VariableNode):
            variable = node.name.value
            return bool(self.shape(f"var:{variable}", lambda bind: bind.variables.get(variable) is True))
        raise Unsupported("directive argument")

    def collect(self, type_: GraphQLObjectType, selection_sets: Iterable[SelectionSetNode]) -> list[Selected]:
        fields = collect_fields(self.schema, self.fragments, type_, selection_sets, self._included)
        result = []
        for key, nodes in fields.items():
            name = nodes[0].name.value
            if name.startswith("__") and name != "__typename":
                raise Unsupported("introspection inside a planned field")
            field_def = None if name == "__typename" else type_.fields.get(name)
            if name != "__typename" and field_def is None:
                raise Unsupported(f"unknown field {type_.name}.{name}")
            result.append(Selected(key, name, nodes, type_, field_def))
        return result

    # -- arguments
    def argument_values(self, selected: Selected) -> dict[str, Any]:
        """The field's coerced arguments for *this* request (compile time): use only for what `shape` records."""
        assert selected.field_def is not None
        return get_argument_values(selected.field_def, selected.nodes[0], VariableValues({}, self.variables))

    def argument_shape(self, selected: Selected, name: str, project: Callable[[Any], Any]) -> Any:
        """project(value of the argument `name`) as a shape of the plan."""
        field_def, node = selected.field_def, selected.nodes[0]
        assert field_def is not None
        key = f"arg:{node.loc.start if node.loc else id(node)}:{name}"  # stable for the same document text

        def value(bind: Bind) -> Any:
            return project(get_argument_values(field_def, node, VariableValues({}, bind.variables)).get(name))

        return self.shape(key, value)

    def argument_param(self, selected: Selected, name: str, convert: Callable[[Any], Any], cast: str) -> str:
        """A bind parameter: convert(value of the argument `name`) per request; `convert` may raise Fallback."""
        field_def, node = selected.field_def, selected.nodes[0]
        assert field_def is not None
        return self.param(lambda bind: convert(get_argument_values(field_def, node, VariableValues({}, bind.variables)).get(name)), cast)

    # -- objects
    def object_type(self, name: str) -> GraphQLObjectType:
        type_ = self.schema.get_type(name)
        if not isinstance(type_, GraphQLObjectType):
            raise Unsupported(f"{name} is not an object type")
        return type_

    def object(self, type_name: str, source: Any, selection_sets: Sequence[SelectionSetNode]) -> Value:
        """json_build_object over the selected fields of a `type_name` value whose SQL `source` is given; its cost
        is its fields' (the caller adds the object's own weight)."""
        mapping = MAPPINGS.get(type_name)
        if mapping is None:
            raise Unsupported(f"no mapping for {type_name}")
        type_ = self.object_type(type_name)
        pairs, costs = [], []
        for selected in self.collect(type_, selection_sets):
            if selected.name == "__typename":
                pairs.append((selected.key, literal(type_name)))
                continue
            fn = mapping.fields.get(selected.name)
            if fn is None:
                raise Unsupported(f"{type_name}.{selected.name} is not mapped")
            value = fn(self, source, selected)
            if isinstance(value, str):  # a leaf
                weight = self.weight(selected)
                if weight:
                    costs.append(f"(CASE WHEN ({value}) IS NULL THEN 0 ELSE {weight} END)")
                value = Value(value)
            pairs.append((selected.key, value.json))
            costs.append(value.cost)
        return Value(json_object(pairs), add(*costs))

    def child(self, selected: Selected, source: Any, type_name: str | None = None) -> Value:
        """The object of a selected non-null object-typed field, cost included."""
        value = self.object(type_name or selected.type_name, source, selected.selection_sets)
        return Value(value.json, add(str(self.weight(selected)), value.cost))

    def optional(self, selected: Selected, source: Any, present: str, type_name: str | None = None) -> Value:
        """The object of a nullable object field: null (cost 0) unless the SQL condition `present` holds."""
        value = self.child(selected, source, type_name)
        return Value(f"CASE WHEN {present} THEN {value.json} END", f"(CASE WHEN {present} THEN {value.cost} ELSE 0 END)")

    def rows(self, selected: Selected, table: str, where: Callable[[str], str], order_by: Callable[[str], str],
             type_name: str | None = None) -> Value:
        """A list field: the JSON array (never null) of `table` rows matching `where` (a function of the row alias),
        in `order_by` order, as one LATERAL subquery that also sums the items' cost."""
        alias = self.alias("r")
        item, joins = self.joins(lambda: self.child(selected, alias, type_name))
        x = self.lateral(f"SELECT coalesce(json_agg({item.json} ORDER BY {order_by(alias)}), '[]'::json) AS j, "
                         f"coalesce(sum({item.cost}), 0) AS c FROM {table} {alias}{joins} WHERE {where(alias)}")
        return Value(f"{x}.j", f"{x}.c")

    def row(self, selected: Selected, table: str, where: Callable[[str], str], type_name: str | None = None) -> Value:
        """A nullable object field read from one row of `table` (null when none matches `where`)."""
        alias = self.alias("r")
        item, joins = self.joins(lambda: self.child(selected, alias, type_name))
        x = self.lateral(f"SELECT {item.json} AS j, {item.cost} AS c FROM {table} {alias}{joins} WHERE {where(alias)}")
        return Value(f"{x}.j", f"coalesce({x}.c, 0)")


# ---------------------------------------------------------------- field helpers for mappings


def column(name: str, fmt: Callable[[str], str] | None = None) -> FieldFn:
    """A plain column of the source table alias, optionally formatted (e.g. iso_datetime, decimal_text)."""

    def sql(c: Compiler, alias: Any, selected: Selected) -> str:
        expr = f"{alias}.{name}"
        return fmt(expr) if fmt else expr

    return sql


def node_id(type_name: str, id_column: str = "id") -> FieldFn:
    def sql(c: Compiler, alias: Any, selected: Selected) -> str:
        return global_id(type_name, f"{alias}.{id_column}")

    return sql


def json_column(name: str) -> FieldFn:
    """A JSONB column shown as the JSON scalar: the stored value as it is (null stays null)."""
    return column(name, lambda expr: f"({expr})::json")


@dataclass(frozen=True, slots=True)
class Plan:
    sql: str
    params: tuple[tuple[ParamFn, str], ...]

    def bind(self, bind: Bind) -> tuple[Any, ...]:
        return tuple(fn(bind) for fn, _ in self.params)


# ---------------------------------------------------------------- root fields

RootFn = Callable[[Compiler, Selected], str]
# "Query.<field>" -> a function compiling the root field's selection to a SELECT of one row: its JSON (j) and its
# actual cost (c, the root field's weight included).
ROOTS: dict[str, RootFn] = {}
# Node type name -> its table, for node(id:) (the id column is `id`).
NODE_ROOTS: dict[str, str] = {}


def root_row(c: Compiler, selected: Selected, table: str, where: Callable[[str], str], type_name: str | None = None) -> str:
    """A root field's SELECT of one object (null, cost 0, when no row matches `where`, a function of the row alias)."""
    value, joins = c.joins(lambda: c.row(selected, table, where, type_name))
    return f"SELECT {value.json} AS j, {value.cost} AS c FROM (SELECT 1) __one{joins}"
