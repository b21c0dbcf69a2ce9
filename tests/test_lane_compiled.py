"""The compiled placeOrder's converter (resolvers/planner/compiled.py, issue 16 session 8) gives the resolver what
graphql-core's variable coercion and strawberry's convert_argument give it — or refuses (None: the ordinary path's),
never a different value. No database: the schema alone."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from graphql import OperationType, get_operation_ast, parse
from graphql.execution.values import get_variable_values
from strawberry.types.arguments import convert_argument

from graphql_schema.schema import build_schema
from resolvers.planner.compiled import compile_document
from tests.factories import ADDRESS_INPUT

SCHEMA = build_schema()
PLACE = """mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { id number status total { amount currency } } userErrors { code field message } eventCursor }
}"""


def compiled_of(text: str) -> Any:
    document = parse(text)
    operation = get_operation_ast(document, None)
    assert operation is not None and operation.operation is OperationType.MUTATION
    return compile_document(SCHEMA, document, operation)


def strawberry_value(variables: dict[str, Any]) -> Any:
    """What the ordinary path's resolver gets as `input`, or the coercion errors."""
    document = parse(PLACE)
    operation = get_operation_ast(document, None)
    assert operation is not None
    coerced = get_variable_values(SCHEMA._schema, operation.variable_definitions or (), copy.deepcopy(variables))
    if isinstance(coerced, list):
        return coerced
    field = SCHEMA._schema.mutation_type.fields["placeOrder"].extensions["strawberry-definition"]  # type: ignore[union-attr]
    return convert_argument(coerced.coerced["input"], field.arguments[0].type, SCHEMA.schema_converter.scalar_registry, SCHEMA.config)


def base(**extra: Any) -> dict[str, Any]:
    return {"channel": "WEB", "email": "buyer@example.com", "lines": [{"sku": "A", "quantity": 1}], "shippingAddress": ADDRESS_INPUT,
            **extra}


TAKEN = {
    "minimal": base(),
    "every optional field null": base(idempotencyKey=None, billingAddress=None, payment=None, deliveryMethod=None, shippingMethod=None),
    "payment and billing": base(payment={"method": "CARD", "token": "tok"}, billingAddress={**ADDRESS_INPUT, "line2": "2", "phone": None},
                                idempotencyKey="k-1", shippingMethod="DHL:EXPRESS"),
    "cash without token": base(payment={"method": "CASH_ON_DELIVERY"}),
    "customization null": base(lines=[{"sku": "A", "quantity": 2, "customization": None}, {"sku": "B", "quantity": -3}]),
    "no lines": base(lines=[]),
    "largest int": base(lines=[{"sku": "A", "quantity": 2**31 - 1}]),
    "smallest int": base(lines=[{"sku": "A", "quantity": -(2**31)}]),
    "pickup": base(deliveryMethod={"type": "PICKUP", "warehouseCode": "MAD"}),
    "ship": base(deliveryMethod={"type": "SHIP"}),
}
REFUSED = {
    "missing email": {k: v for k, v in base().items() if k != "email"},
    "null email": base(email=None),
    "unknown field": base(colour="red"),
    "unknown enum": base(channel="TELEPATHY"),
    "enum of the wrong type": base(channel=1),
    "string quantity": base(lines=[{"sku": "A", "quantity": "two"}]),
    "float quantity": base(lines=[{"sku": "A", "quantity": 2.0}]),
    "bool quantity": base(lines=[{"sku": "A", "quantity": True}]),
    "int too large": base(lines=[{"sku": "A", "quantity": 2**31}]),
    "int too small": base(lines=[{"sku": "A", "quantity": -(2**31) - 1}]),
    "one line not in a list": base(lines={"sku": "A", "quantity": 1}),
    "null line": base(lines=[None]),
    "a customization": base(lines=[{"sku": "A", "quantity": 1, "customization": {"engraving": "x"}}]),
    "a delivery method without its type": base(deliveryMethod={"warehouseCode": "MAD"}),
    "address not an object": base(shippingAddress="Madrid"),
    "number for a string": base(email=5),
}


@pytest.mark.parametrize("case", list(TAKEN))
def test_the_converter_gives_what_strawberry_gives(case: str) -> None:
    compiled = compiled_of(PLACE)
    assert compiled is not None
    arguments = compiled.arguments({"input": copy.deepcopy(TAKEN[case])})
    expected = strawberry_value({"input": TAKEN[case]})
    assert not isinstance(expected, list), expected
    assert arguments == {"input": expected}
    assert repr(arguments["input"]) == repr(expected)  # the same types too (an enum member, not its str value)


@pytest.mark.parametrize("case", list(REFUSED))
def test_anything_else_is_refused_before_anything_runs(case: str) -> None:
    compiled = compiled_of(PLACE)
    assert compiled.arguments({"input": copy.deepcopy(REFUSED[case])}) is None


def test_variables_missing_null_or_extra_are_refused() -> None:
    compiled = compiled_of(PLACE)
    assert compiled.arguments(None) is None
    assert compiled.arguments({}) is None
    assert compiled.arguments({"input": None}) is None
    assert compiled.arguments({"input": base(), "other": 1}) is None


@pytest.mark.parametrize("text", [
    "mutation { placeOrder(input: {channel: WEB, email: \"a@b.c\", lines: [], shippingAddress: {name: \"n\", line1: \"l\", city: \"c\", "
    "postalCode: \"p\", country: \"ES\"}}) { eventCursor } }",  # an inline literal
    "mutation P($input: PlaceOrderInput!) { placeOrder(input: $input) { order { lines { sku } } } }",  # a field it does not serialize
    "mutation P($input: PlaceOrderInput!) { placeOrder(input: $input) { ... on PlaceOrderPayload { eventCursor } } }",  # a fragment
    "mutation P($input: PlaceOrderInput!) { placeOrder(input: $input) { eventCursor eventCursor } }",  # a key twice
    "mutation P($input: PlaceOrderInput!) { placeOrder(input: $input) { order { total { amount } total { currency } } } }",
])
def test_documents_of_other_shapes_are_not_compiled(text: str) -> None:
    assert compiled_of(text) is None


def test_aliases_and_typenames_are_compiled() -> None:
    compiled = compiled_of("mutation P($i: PlaceOrderInput!) { placed: placeOrder(input: $i) { __typename cursor: eventCursor "
                           "userErrors { __typename f: field code message } order { __typename id n: number email subtotal { amount } } } }")
    assert compiled is not None and compiled.key == "placed"
