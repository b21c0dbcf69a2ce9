"""Relay connections over keyset cursors: pages stay fast however deep the client goes."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from graphql import GraphQLError
from sqlalchemy import func, select, tuple_

from resolvers.ids import from_global_id

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100  # documented in the README

RowT = TypeVar("RowT", covariant=True)


@dataclass(frozen=True, slots=True)
class Edge(Generic[RowT]):
    cursor: str
    node: RowT


@dataclass(slots=True)
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@dataclass(frozen=True, slots=True)
class Connection(Generic[RowT]):
    """One page of a list: what graphql_schema.common.Connection shows."""

    edges: Sequence[Edge[RowT]]
    page_info: PageInfo
    count: Callable[[], Awaitable[int]]  # run only when a client asks for totalCount


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 0 or first > MAX_PAGE_SIZE:
        raise GraphQLError(f"`first` must be between 0 and {MAX_PAGE_SIZE}.", extensions={"code": "LIMIT_EXCEEDED"})
    return first


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values), default=str, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise GraphQLError("Invalid cursor.", extensions={"code": "INVALID_INPUT"})
    return values


def build(rows: Sequence[Any], first: int, after: str | None, cursor_of: Callable[[Any], Sequence[Any]], count: Callable[[], Awaitable[int]]) -> Connection:
    """`rows` were fetched with limit first + 1: the extra row only says there is a next page."""
    page = list(rows[:first])
    edges = [Edge(encode_cursor(cursor_of(row)), row) for row in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count=count,
    )


def order_filter(column: Any, order_id: str | None) -> list[Any]:
    """The `orderId` argument of a list, as a condition; a malformed or foreign ID is a top-level error."""
    if order_id is None:
        return []
    decoded = from_global_id(order_id)
    if decoded is None or decoded[0] != "Order":
        raise GraphQLError("Not a valid Order ID.", extensions={"code": "INVALID_INPUT"})
    return [column == decoded[1]]


async def newest_first(db: Any, model: Any, time_column: Any, conditions: list[Any], first: int | None, after: str | None) -> Connection:
    """A page of `model` rows, newest first by the keyset (time_column, id)."""
    size = page_size(first)
    statement = select(model).where(*conditions)
    if after is not None:
        when, raw_id = decode_cursor(after, 2)
        try:
            bound = (datetime.fromisoformat(str(when)), uuid.UUID(str(raw_id)))
        except ValueError:
            raise GraphQLError("Invalid cursor.", extensions={"code": "INVALID_INPUT"}) from None
        statement = statement.where(tuple_(time_column, model.id) < tuple_(*bound))
    statement = statement.order_by(time_column.desc(), model.id.desc()).limit(size + 1)
    async with db.read() as session:
        rows = (await session.execute(statement)).scalars().all()

    async def count() -> int:
        async with db.read() as session:
            return (await session.execute(select(func.count()).select_from(model).where(*conditions))).scalar_one()

    return build(rows, size, after, lambda row: (getattr(row, time_column.key).isoformat(), str(row.id)), count)
