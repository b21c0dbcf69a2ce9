"""Shapes shared by every domain: Node, PageInfo, Connection, Money, UserError, Address."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from strawberry.types.base import get_object_definition

from graphql_schema.enums import ErrorCode
from resolvers import pagination
from resolvers.ids import to_global_id
from resolvers.loaders import Identified
from resolvers.node import model_of
from resolvers.types import Info

NodeT = TypeVar("NodeT")
T = TypeVar("T")

# Arguments shared by many fields (issue 17: every argument is described).
Input = Annotated[T, strawberry.argument(description="The mutation's one input. A userError's `field` is a path from here: \"input\", "
                                                     "then field names and list indexes.")]
First = Annotated[int | None, strawberry.argument(description="How many items this page holds: 0 to 100, default 20 (more is refused "
                                                             "with LIMIT_EXCEEDED).")]
After = Annotated[str | None, strawberry.argument(description="An opaque cursor (an edge's `cursor` or `pageInfo.endCursor`): the page "
                                                             "starts after it. Absent: the first page. A malformed cursor is refused "
                                                             "with INVALID_INPUT.")]
OrderIdArgument = Annotated[strawberry.ID | None, strawberry.argument(description="Only those of this order (its global ID); a malformed "
                                                                                  "ID is refused with INVALID_INPUT.")]
TrackedNumber = Annotated[str, strawberry.argument(description="The order number the customer was given, e.g. \"SO-100001\".")]
TrackedEmail = Annotated[str, strawberry.argument(description="The email the order was placed with (any case). With `number` it must match "
                                                             "one order; a wrong pair answers like an unknown order.")]


@strawberry.interface(description="An object that can be fetched again by its global ID with `node(id:)`, subject to the read scope of its type.")
class Node:
    @strawberry.field(description="The global ID: opaque (base64url of \"Type:uuid\") and stable; pass it to `node(id:)` or to a mutation input.")
    def id(root: Identified, info: Info) -> strawberry.ID:
        """The global ID names the object's own GraphQL type: the key of resolvers.node.NODE_TYPES."""
        type_name = info.path.typename
        assert type_name is not None  # always set on an object's field
        return strawberry.ID(to_global_id(type_name, root.id))

    @classmethod
    def is_type_of(cls, obj: object, info: object) -> bool:
        """Resolvers return ORM rows: a row is of the node type whose model resolvers.node registers for it."""
        return isinstance(obj, (model_of(get_object_definition(cls, strict=True).name), cls))


@strawberry.type(description="Where a page sits in its list (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow: ask again with `after: endCursor`.")
    has_previous_page: bool = strawberry.field(description="True when this page was asked for with `after` (items come before it).")
    start_cursor: str | None = strawberry.field(description="The first edge's cursor; null on an empty page.")
    end_cursor: str | None = strawberry.field(description="The last edge's cursor, the `after` of the next page; null on an empty page.")


# Relay connections, one generic for every list. Strawberry names a specialisation after its type
# argument: Connection[Order] is `OrderConnection` with `OrderEdge` edges. Their values are
# resolvers.pagination.Connection pages.
@strawberry.type(description="One item of a page, with its cursor.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Opaque; pass it as `after` to read the items that follow this one.")
    node: NodeT = strawberry.field(description="The item.")


@strawberry.type(name="Connection", description="One page of a list (a Relay connection), in the list's order.")
class BareConnection(Generic[NodeT]):
    """A page without totalCount: for a list that is small and loaded whole (an order's timeline)."""

    edges: list[Edge[NodeT]] = strawberry.field(description="The page's items, in order; empty past the end.")
    page_info: PageInfo = strawberry.field(description="Whether more follow, and the cursor to ask for them.")


@strawberry.type(name="Connection", description="One page of a list (a Relay connection), in the list's order. Keyset-paginated: a cursor marks a "
                 "position in the sort order, so items added meanwhile do not shift the pages that follow.")
class Connection(BareConnection[NodeT]):
    @strawberry.field(description="How many items the whole list holds with these filters (one count query, run only when asked for).")
    async def total_count(root: pagination.Connection[object]) -> int:
        return await root.count()


@strawberry.type(description="An amount of money: never a float.")
class Money:
    amount: Decimal = strawberry.field(description="A decimal string with up to two decimals, e.g. \"19.99\"; negative on credit notes.")
    currency: str = strawberry.field(description="ISO 4217 code, e.g. \"EUR\".")


def money(amount: Decimal, currency: str) -> Money:
    return Money(amount=amount, currency=currency)


@strawberry.type(description="Why a mutation refused its input. When a payload has userErrors, the mutation wrote nothing.")
class UserError:
    field: list[str] | None = strawberry.field(description="The path of the input at fault, from the mutation's argument: "
                                               "[\"input\", \"lines\", \"1\", \"sku\"]. Null when no single input is at fault.")
    code: ErrorCode = strawberry.field(description="Stable and machine-readable: branch on this, not on the message.")
    message: str = strawberry.field(description="For people, in English; may change between versions.")


@strawberry.type(description="A postal address, as given at placement (trimmed).")
class Address:
    name: str = strawberry.field(description="The recipient's name.")
    line1: str = strawberry.field(description="Street and number.")
    line2: str | None = strawberry.field(description="Flat, floor, building; optional.")
    city: str = strawberry.field(description="City or town.")
    postal_code: str = strawberry.field(description="Postal code, as written in the country.")
    region: str | None = strawberry.field(description="State, province or region; optional.")
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 code, upper case, e.g. \"ES\".")
    phone: str | None = strawberry.field(description="A contact phone number; optional.")

    @staticmethod
    def from_stored(value: dict[str, Any] | None) -> Address | None:
        if not value:
            return None
        return Address(
            name=value["name"], line1=value["line1"], line2=value.get("line2"), city=value["city"],
            postal_code=value["postal_code"], region=value.get("region"), country=value["country"], phone=value.get("phone"),
        )


@strawberry.input(description="A postal address. Values are trimmed; each is at most 300 characters (INVALID_INPUT).")
class AddressInput:
    name: str = strawberry.field(description="The recipient's name; required (INVALID_INPUT when blank).")
    line1: str = strawberry.field(description="Street and number; required.")
    city: str = strawberry.field(description="City or town; required.")
    postal_code: str = strawberry.field(description="Postal code; required.")
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 code, any case (\"es\" is stored as \"ES\"); required, an unknown code is "
                                    "INVALID_INPUT.")
    line2: str | None = strawberry.field(default=None, description="Flat, floor, building; optional.")
    region: str | None = strawberry.field(default=None, description="State, province or region; optional.")
    phone: str | None = strawberry.field(default=None, description="A contact phone number; optional.")
