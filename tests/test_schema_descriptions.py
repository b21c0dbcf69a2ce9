"""Issue 17: the schema documents itself. Every type, field, argument, input field and enum value carries a
description, and every mutation's description names an error code it can return."""

from __future__ import annotations

import re

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType, GraphQLSchema

from app.errors import ErrorCode
from graphql_schema.schema import build_schema, schema

BUILT_IN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})


def undescribed(graphql_schema: GraphQLSchema) -> list[str]:
    """Every coordinate without a description: `Order`, `Order.number`, `Mutation.placeOrder(input)`,
    `PlaceOrderInput.email`, `OrderStatus.PENDING`."""
    missing: list[str] = []

    def check(coordinate: str, description: str | None) -> None:
        if not (description or "").strip():
            missing.append(coordinate)

    for name, type_ in sorted(graphql_schema.type_map.items()):
        if name.startswith("__") or name in BUILT_IN_SCALARS:
            continue
        check(name, type_.description)
        if isinstance(type_, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, field in type_.fields.items():
                check(f"{name}.{field_name}", field.description)
                for arg_name, arg in field.args.items():
                    check(f"{name}.{field_name}({arg_name})", arg.description)
        elif isinstance(type_, GraphQLInputObjectType):
            for field_name, input_field in type_.fields.items():
                check(f"{name}.{field_name}", input_field.description)
        elif isinstance(type_, GraphQLEnumType):
            for value_name, value in type_.values.items():
                check(f"{name}.{value_name}", value.description)
    return missing


def test_every_coordinate_of_the_schema_has_a_description() -> None:
    missing = undescribed(schema._schema)
    assert not missing, f"{len(missing)} schema coordinates have no description:\n" + "\n".join(missing)


def test_the_production_schema_is_described_too() -> None:
    # the same types whatever the settings: the descriptions do not depend on how the schema is built
    assert undescribed(build_schema(production=True)._schema) == undescribed(schema._schema)


CODE = re.compile(r"\b(" + "|".join(code.value for code in ErrorCode) + r")\b")


def test_every_mutation_names_an_error_code_it_can_return() -> None:
    mutation = schema._schema.mutation_type
    assert mutation is not None
    silent = [name for name, field in mutation.fields.items() if not CODE.search(field.description or "")]
    assert not silent, "mutations whose description names no ErrorCode:\n" + "\n".join(f"Mutation.{name}" for name in silent)


def test_the_check_finds_a_missing_description() -> None:
    # the walk itself: a schema with one undescribed coordinate of each kind is reported in full
    from graphql import build_schema as parse_sdl

    sdl = '''
    """q""" type Query { """f""" f("""a""" a: Int, b: Int): E  g(i: I): Int }
    enum E { """x""" X Y }
    input I { """p""" p: Int q: Int }
    '''
    assert undescribed(parse_sdl(sdl)) == ["E", "E.Y", "I", "I.q", "Query.f(b)", "Query.g", "Query.g(i)"]
