"""Shapes shared by every domain: Node, PageInfo, Money, UserError, Address."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry

from graphql_schema.enums import ErrorCode


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


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
