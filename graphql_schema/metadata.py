"""Order metadata (issue 17): the key-value items an order carries for partners, and how a list filters on them.
Declared apart from graphql_schema/orders.py, which uses them, so graphql_schema/partner.py can import orders.py."""

from __future__ import annotations

import strawberry


@strawberry.type(description="One metadata entry of an order: a key and its string value. Listed sorted by key.")
class MetadataItem:
    key: str = strawberry.field(description="1-64 characters: letters, digits, `_ . : -`.")
    value: str = strawberry.field(description="At most 1024 characters.")


@strawberry.input(description="One metadata entry to set (added, or its value replaced).")
class MetadataItemInput:
    key: str = strawberry.field(description="1-64 characters: letters, digits, `_ . : -` (else INVALID_INPUT at `set.N.key`).")
    value: str = strawberry.field(description="At most 1024 characters (else LIMIT_EXCEEDED at `set.N.value`).")


@strawberry.input(description="A metadata condition: the key is present with this value, or (no value) present at all. Uses the GIN index.")
class MetadataFilterInput:
    key: str = strawberry.field(description="The metadata key.")
    value: str | None = strawberry.field(default=None, description="The exact value; absent: any value (the key is present).")


@strawberry.input(description="Set and remove metadata entries of one order, in one change.")
class UpdateOrderMetadataInput:
    order_id: strawberry.ID = strawberry.field(description="The order's global ID (else NOT_FOUND at `orderId`).")
    set: list[MetadataItemInput] | None = strawberry.field(
        default=None, description="Entries to add or replace: at most 50 per change; a key given twice is INVALID_INPUT.")
    remove: list[str] | None = strawberry.field(
        default=None, description="Keys to remove (absent keys are ignored); a key both set and removed is INVALID_INPUT at `remove.N`.")
    private: bool | None = strawberry.field(
        default=False, description="true: change `privateMetadata` instead of `metadata`. The mutation needs orders:write either way.")
