"""Shapes shared by every domain: Node, PageInfo, Connection, Money, UserError, Address."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.types.base import get_object_definition

from graphql_schema.enums import ErrorCode
from resolvers import pagination
from resolvers.ids import to_global_id
from resolvers.loaders import Identified
from resolvers.node import model_of
from resolvers.types import Info

NodeT = TypeVar("NodeT")


@strawberry.interface
class Node:
    @strawberry.field
    def id(root: Identified, info: Info) -> strawberry.ID:
        """The global ID names the object's own GraphQL type: the key of resolvers.node.NODE_TYPES."""
        type_name = info.path.typename
        assert type_name is not None  # always set on an object's field
        return strawberry.ID(to_global_id(type_name, root.id))

    @classmethod
    def is_type_of(cls, obj: object, info: object) -> bool:
        """Resolvers return ORM rows: a row is of the node type whose model resolvers.node registers for it."""
        return isinstance(obj, (model_of(get_object_definition(cls, strict=True).name), cls))


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


# Relay connections, one generic for every list. Strawberry names a specialisation after its type
# argument: Connection[Order] is `OrderConnection` with `OrderEdge` edges. Their values are
# resolvers.pagination.Connection pages.
@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type(name="Connection")
class BareConnection(Generic[NodeT]):
    """A page without totalCount: for a list that is small and loaded whole (an order's timeline)."""

    edges: list[Edge[NodeT]]
    page_info: PageInfo


@strawberry.type(name="Connection")
class Connection(BareConnection[NodeT]):
    @strawberry.field
    async def total_count(root: pagination.Connection[object]) -> int:
        return await root.count()


@strawberry.type
class Money:
    amount: Decimal
    currency: str


def money(amount: Decimal, currency: str) -> Money:
    return Money(amount=amount, currency=currency)


@strawberry.type
class UserError:
    field: list[str] | None
    code: ErrorCode
    message: str


@strawberry.type
class Address:
    name: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    region: str | None
    country: str
    phone: str | None

    @staticmethod
    def from_stored(value: dict[str, Any] | None) -> Address | None:
        if not value:
            return None
        return Address(
            name=value["name"], line1=value["line1"], line2=value.get("line2"), city=value["city"],
            postal_code=value["postal_code"], region=value.get("region"), country=value["country"], phone=value.get("phone"),
        )


@strawberry.input
class AddressInput:
    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None
    region: str | None = None
    phone: str | None = None
