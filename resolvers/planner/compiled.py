"""The compiled placeOrder (issue 16, session 8): a remembered document run without graphql-core's executor.

resolvers/planner/mutations.py remembers a `placeOrder` document the ordinary path answered without an error. When
that document is of the shape below, this module derives from the schema, once, what its requests need:

- a converter of its one variable (`$input: PlaceOrderInput!`) from the request's JSON straight into the strawberry
  input objects the resolver receives — the value graphql-core's coercion and strawberry's `convert_argument` give,
  for the values it knows (strings, 32-bit integers, booleans, enum names, nested inputs, lists, null). Anything
  else (a missing required field, an unknown field, a list given as one value, a float for an Int, a custom scalar,
  an input with its own `from_input`) answers None: the request goes the ordinary way before anything has run, and
  that way reports the error as always;
- the call of the field's own resolver (Mutation.place_order) with an Info that gives what it reads (the context);
- a serializer of the payload for the selection set, with the schema's own leaf serializers: `__typename`,
  `eventCursor`, `userErrors { field code message }`, and `order` with its plain fields, `id` and the Money fields.
  A selection it does not know (fragments, other fields, a response key given twice) leaves the document
  uncompiled (graphql-core's executor then runs it, as before).

A resolver that raises is answered as graphql-core answers it: the error located at the root field, `data` null (the
field is non-null). tests/test_mutation_fast_path.py compares the answers with the ordinary path's; tests/test_lane_compiled.py
compares the converted input with strawberry's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import MISSING
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    located_error,
)
from graphql.pyutils import Path, Undefined
from graphql.type import GraphQLBoolean, GraphQLInt, GraphQLString
from strawberry.types.base import StrawberryList, StrawberryOptional

from models import Order
from resolvers.ids import to_global_id

ROOT_FIELD = "placeOrder"
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class Unconvertible(Exception):
    """A variable this converter does not take: the ordinary path's (nothing has run)."""


Convert = Callable[[Any], Any]


def _leaf(gql_type: Any) -> Convert | None:
    if gql_type is GraphQLString:
        def string(value: Any) -> Any:
            if type(value) is not str:
                raise Unconvertible
            return value
        return string
    if gql_type is GraphQLInt:
        def integer(value: Any) -> Any:
            if type(value) is not int or not INT_MIN <= value <= INT_MAX:
                raise Unconvertible
            return value
        return integer
    if gql_type is GraphQLBoolean:
        def boolean(value: Any) -> Any:
            if type(value) is not bool:
                raise Unconvertible
            return value
        return boolean
    if isinstance(gql_type, GraphQLEnumType):
        values = {name: gql_type.parse_value(name) for name in gql_type.values}  # what coercion gives (strawberry's: the enum member)

        def enum(value: Any) -> Any:
            if type(value) is not str or value not in values:
                raise Unconvertible
            return values[value]
        return enum
    return None  # ID, Float and custom scalars: the ordinary path's


def _converter(gql_type: Any, strawberry_type: Any) -> Convert | None:
    """(JSON value -> the resolver's value) for a type, or None when some part of it is not handled."""
    if isinstance(gql_type, GraphQLNonNull):
        inner = _converter(gql_type.of_type, strawberry_type.of_type if isinstance(strawberry_type, StrawberryOptional) else strawberry_type)
        if inner is None:
            return None

        def required(value: Any) -> Any:
            if value is None:
                raise Unconvertible
            return inner(value)
        return required
    if isinstance(strawberry_type, StrawberryOptional):
        strawberry_type = strawberry_type.of_type
    if type(strawberry_type).__name__ == "StrawberryMaybe":
        return None
    if isinstance(gql_type, GraphQLList):
        if not isinstance(strawberry_type, StrawberryList):
            return None
        item = _converter(gql_type.of_type, strawberry_type.of_type)
        if item is None:
            return None

        def listed(value: Any) -> Any:
            if value is None:
                return None
            if type(value) is not list:  # graphql-core would wrap one value in a list: the ordinary path's
                raise Unconvertible
            return [item(x) for x in value]
        return listed
    if isinstance(gql_type, GraphQLInputObjectType):
        return _input_object(gql_type)
    leaf = _leaf(gql_type)

    def nullable(value: Any) -> Any:
        if value is None:
            return None
        if leaf is None:  # a custom scalar's value (e.g. a line's customization): the ordinary path's
            raise Unconvertible
        return leaf(value)
    return nullable


def _input_object(gql_type: GraphQLInputObjectType) -> Convert | None:
    definition = gql_type.extensions.get("strawberry-definition")
    if definition is None or not definition.is_input or definition.from_input is not None or gql_type.is_one_of:
        return None
    cls = definition.origin
    by_python = {field.python_name: field for field in definition.fields}
    fields: list[tuple[str, str, Convert]] = []  # (graphql name, python name, converter)
    implicit: dict[str, None] = {}  # strawberry's implicit None of a field without a default
    for name, gql_field in gql_type.fields.items():
        strawberry_field: Any = (gql_field.extensions or {}).get("strawberry-definition")
        if strawberry_field is None or id(by_python.get(strawberry_field.python_name)) != id(strawberry_field):
            return None
        if gql_field.default_value is not Undefined and gql_field.default_value is not None:
            return None  # a default graphql-core fills in: the ordinary path's
        field_convert = _converter(gql_field.type, strawberry_field.type)
        if field_convert is None:
            return None
        fields.append((name, strawberry_field.python_name, field_convert))
        if strawberry_field.default_value is MISSING and strawberry_field.default_factory is MISSING:
            implicit[strawberry_field.python_name] = None
    if len(fields) != len(definition.fields):
        return None
    names = frozenset(name for name, _, _ in fields)
    required = frozenset(name for name, gql_field in gql_type.fields.items() if isinstance(gql_field.type, GraphQLNonNull))
    # graphql-core sets a missing nullable field with the null default to None; strawberry then passes it on
    filled = {name: python for name, python, _ in fields if gql_type.fields[name].default_value is None}

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is not dict or not names.issuperset(value):
            raise Unconvertible
        kwargs: dict[str, Any] = dict(implicit)
        for name, python, field_convert in fields:
            if name in value:
                kwargs[python] = field_convert(value[name])
            elif name in required:
                raise Unconvertible
            elif name in filled:
                kwargs[python] = None
        return cls(**kwargs)
    return convert


# ---- the payload -------------------------------------------------------------------------------------------------

Serialize = Callable[[Any], Any]


def _typename(name: str) -> Serialize:
    return lambda _value: name


def _leaf_serializer(gql_type: Any, get: Callable[[Any], Any]) -> Serialize | None:
    nullable = not isinstance(gql_type, GraphQLNonNull)
    named = gql_type.of_type if not nullable else gql_type
    if isinstance(named, GraphQLList):
        item = named.of_type
        item_nullable = not isinstance(item, GraphQLNonNull)
        item_type = item if item_nullable else item.of_type
        if not isinstance(item_type, GraphQLScalarType | GraphQLEnumType):
            return None
        serialize_item = item_type.serialize

        def item(x: Any) -> Any:
            return _null(item_nullable, "null item") if x is None else serialize_item(x)

        def listed(root: Any) -> Any:
            value = get(root)
            return _null(nullable, "null for a non-null list") if value is None else [item(x) for x in value]
        return listed
    if not isinstance(named, GraphQLScalarType | GraphQLEnumType):
        return None
    serialize = named.serialize

    def leaf(root: Any) -> Any:
        value = get(root)
        return _null(nullable, "null for a non-null field") if value is None else serialize(value)
    return leaf


def _null(nullable: bool, problem: str) -> None:
    """A null where the type allows one; else the error graphql-core raises for it."""
    if not nullable:
        raise ValueError(problem)
    return None


def _keys(selection_set: SelectionSetNode | None) -> list[tuple[str, str]] | None:
    """(response key, field name) of a selection set of plain fields without arguments; None otherwise."""
    if selection_set is None:
        return None
    keys: list[tuple[str, str]] = []
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.arguments or selection.directives:
            return None
        keys.append(((selection.alias or selection.name).value, selection.name.value))
    if len({key for key, _ in keys}) != len(keys):
        return None  # merged fields: graphql-core's
    return keys


def _object(gql_type: GraphQLObjectType, selection_set: SelectionSetNode | None,
            field: Callable[[str, Any, FieldNode], Serialize | None]) -> Callable[[Any], dict[str, Any]] | None:
    keys = _keys(selection_set)
    if keys is None or selection_set is None:
        return None
    parts: list[tuple[str, Serialize]] = []
    for (key, name), node in zip(keys, selection_set.selections, strict=True):
        assert isinstance(node, FieldNode)
        if name == "__typename":
            parts.append((key, _typename(gql_type.name)))
            continue
        gql_field = gql_type.fields.get(name)
        if gql_field is None:
            return None
        serializer = field(name, gql_field.type, node)
        if serializer is None:
            return None
        parts.append((key, serializer))

    def serialize(root: Any) -> dict[str, Any]:
        return {key: part(root) for key, part in parts}
    return serialize


def _plain_field(gql_type: GraphQLObjectType, name: str) -> str | None:
    """The attribute a field with strawberry's default resolver reads, or None (a resolver, extensions)."""
    field = (gql_type.fields[name].extensions or {}).get("strawberry-definition")
    if field is None or not field.python_name or field.base_resolver is not None or field.extensions \
            or getattr(field, "permission_classes", None):
        return None
    return str(field.python_name)


MONEY_FIELDS = {"total": "total", "subtotal": "subtotal", "taxTotal": "tax_total", "shippingTotal": "shipping_total"}


def _order_serializer(gql_schema: Any, gql_type: GraphQLObjectType, selection_set: SelectionSetNode | None) -> Serialize | None:
    money_type = gql_schema.get_type("Money")

    def field(name: str, field_type: Any, node: FieldNode) -> Serialize | None:
        if name == "id":
            return _leaf_serializer(field_type, lambda order: to_global_id(gql_type.name, order.id))
        if name in MONEY_FIELDS:
            if not isinstance(field_type, GraphQLNonNull) or field_type.of_type is not money_type:
                return None
            attribute = MONEY_FIELDS[name]

            def money_field(money_name: str, money_type_: Any, _node: FieldNode) -> Serialize | None:
                if money_name == "amount":
                    return _leaf_serializer(money_type_, lambda order: getattr(order, attribute))
                if money_name == "currency":
                    return _leaf_serializer(money_type_, lambda order: order.currency)
                return None
            return _object(money_type, node.selection_set, money_field)
        if node.selection_set is not None:
            return None
        plain = _plain_field(gql_type, name)
        if plain is None:
            return None
        return _leaf_serializer(field_type, lambda order: getattr(order, plain))

    serialize = _object(gql_type, selection_set, field)
    if serialize is None:
        return None

    def order(value: Any) -> Any:
        if not isinstance(value, Order):
            raise TypeError(f"not an order: {type(value).__name__}")
        return serialize(value)
    return order


def _payload_serializer(gql_schema: Any, payload_type: GraphQLObjectType, selection_set: SelectionSetNode | None) -> Serialize | None:
    user_error_type = gql_schema.get_type("UserError")
    order_type = gql_schema.get_type("Order")

    def field(name: str, field_type: Any, node: FieldNode) -> Serialize | None:
        if name == "eventCursor":
            return _leaf_serializer(field_type, lambda outcome: outcome.event_cursor) if node.selection_set is None else None
        if name == "order":
            if field_type is not order_type:  # nullable Order
                return None
            inner = _order_serializer(gql_schema, order_type, node.selection_set)
            if inner is None:
                return None
            return lambda outcome: None if outcome.order is None else inner(outcome.order)
        if name == "userErrors":
            expected = GraphQLNonNull(GraphQLList(GraphQLNonNull(user_error_type)))
            if str(field_type) != str(expected):
                return None

            def error_field(error_name: str, error_type: Any, error_node: FieldNode) -> Serialize | None:
                if error_node.selection_set is not None or error_name not in ("field", "code", "message"):
                    return None
                return _leaf_serializer(error_type, lambda error: getattr(error, error_name))
            one = _object(user_error_type, node.selection_set, error_field)
            if one is None:
                return None
            return lambda outcome: [one(error) for error in outcome.user_errors]
        return None

    return _object(payload_type, selection_set, field)


# ---- the document ------------------------------------------------------------------------------------------------

class Info:
    """What the resolver reads of strawberry's Info (the context; the rest for a resolver's message or log)."""

    __slots__ = ("context", "field_name", "path", "python_name", "root_value")

    def __init__(self, context: Any, root_value: Any, field_name: str, python_name: str, path: Path) -> None:
        self.context = context
        self.root_value = root_value
        self.field_name = field_name
        self.python_name = python_name
        self.path = path


class Compiled:
    """One remembered document's request steps: convert, call, serialize."""

    __slots__ = ("argument", "convert", "field_node", "key", "path", "python_name", "resolver", "serialize", "variable")

    def __init__(self, *, field_node: FieldNode, variable: str, argument: str, convert: Convert, resolver: Callable[..., Any],
                 python_name: str, serialize: Serialize) -> None:
        self.field_node = field_node
        self.key = (field_node.alias or field_node.name).value
        self.path = Path(None, self.key, "Mutation")
        self.variable = variable
        self.argument = argument
        self.convert = convert
        self.resolver = resolver
        self.python_name = python_name
        self.serialize = serialize

    def arguments(self, variables: Any) -> dict[str, Any] | None:
        """The resolver's keyword arguments, or None: the ordinary path's (nothing has run)."""
        if type(variables) is not dict or len(variables) != 1 or self.variable not in variables:
            return None
        try:
            return {self.argument: self.convert(variables[self.variable])}
        except Unconvertible:
            return None

    async def run(self, context: Any, root_value: Any, arguments: dict[str, Any]) -> tuple[dict[str, Any] | None, list[GraphQLError] | None]:
        """(data, errors) as graphql-core's execution gives them for this document."""
        info = Info(context, root_value, self.field_node.name.value, self.python_name, self.path)
        try:
            outcome = await self.resolver(root_value, info, **arguments)
            return {self.key: self.serialize(outcome)}, None
        except Exception as error:  # the non-null root field: data null, the error at the field
            # (the serializer itself raises only on values the resolver never returns — a non-Order, a null in a
            # non-null field — where graphql-core would place the error at the inner field)
            return None, [located_error(error, [self.field_node], self.path.as_list())]


def compile_document(schema: Any, document: DocumentNode, operation: OperationDefinitionNode) -> Compiled | None:
    """The compiled steps of a placeOrder document (parsed and validated), or None when it is not of the handled shape."""
    gql_schema = schema._schema
    selections = operation.selection_set.selections
    definitions = operation.variable_definitions or ()
    if len(selections) != 1 or len(definitions) != 1:
        return None
    root = selections[0]
    if not isinstance(root, FieldNode) or root.name.value != ROOT_FIELD or root.directives or not root.arguments \
            or len(root.arguments) != 1:
        return None
    definition = definitions[0]
    if definition.default_value is not None or definition.directives or not isinstance(definition.type, NonNullTypeNode) \
            or isinstance(definition.type.type, ListTypeNode) or not isinstance(definition.type.type, NamedTypeNode):
        return None
    argument = root.arguments[0]
    if not isinstance(argument.value, VariableNode) or argument.value.name.value != definition.variable.name.value:
        return None
    mutation_type = gql_schema.mutation_type
    gql_field = mutation_type.fields.get(ROOT_FIELD) if mutation_type is not None else None
    if gql_field is None or argument.name.value not in gql_field.args:
        return None
    gql_argument = gql_field.args[argument.name.value]
    if str(gql_argument.type) != str(definition.type.type.name.value) + "!" or len(gql_field.args) != 1:
        return None
    strawberry_field = (gql_field.extensions or {}).get("strawberry-definition")
    if strawberry_field is None or strawberry_field.base_resolver is None or strawberry_field.extensions \
            or getattr(strawberry_field, "permission_classes", None) or len(strawberry_field.arguments) != 1:
        return None
    strawberry_argument = strawberry_field.arguments[0]
    func = strawberry_field.base_resolver.wrapped_func
    if list(inspect.signature(func).parameters) != ["self", "info", strawberry_argument.python_name] \
            or not inspect.iscoroutinefunction(func):
        return None
    convert = _converter(gql_argument.type, strawberry_argument.type)
    payload_type = gql_field.type.of_type if isinstance(gql_field.type, GraphQLNonNull) else None
    if convert is None or not isinstance(payload_type, GraphQLObjectType):
        return None
    serialize = _payload_serializer(gql_schema, payload_type, root.selection_set)
    if serialize is None:
        return None
    return Compiled(field_node=root, variable=definition.variable.name.value, argument=strawberry_argument.python_name,
                    convert=convert, resolver=func, python_name=strawberry_field.python_name, serialize=serialize)
