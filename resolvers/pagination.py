"""Relay connections over keyset cursors: pages stay fast however deep the client goes.

Every list is one `keyset` query: rows ordered by a few columns (the last one unique), the page
after a cursor that holds the last row's values of those columns. `newest_first` is the usual
ordering, (time, id) descending.
"""

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
from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from app.infra.database import Database
from resolvers.ids import id_of
from resolvers.loaders import Identified

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100  # documented in the README

RowT = TypeVar("RowT", covariant=True)
M = TypeVar("M")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Edge(Generic[RowT]):
    cursor: str
    node: RowT


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Key(Generic[V]):
    """One column of a keyset ordering: how a row's value goes into a cursor, and back out as a bound."""

    column: InstrumentedAttribute[V]
    dump: Callable[[V], str | int]
    parse: Callable[[str], V]

    def value(self, row: object) -> str | int:
        return self.dump(getattr(row, self.column.key))


def text_key(column: InstrumentedAttribute[str]) -> Key[str]:
    return Key(column, str, str)


def uuid_key(column: InstrumentedAttribute[uuid.UUID]) -> Key[uuid.UUID]:
    return Key(column, str, uuid.UUID)


def time_key(column: InstrumentedAttribute[datetime]) -> Key[datetime]:
    return Key(column, datetime.isoformat, datetime.fromisoformat)


IdentifiedT = TypeVar("IdentifiedT", bound=Identified)


def page_size(first: int | None, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    if first is None:
        return default
    if first < 0 or first > maximum:
        raise GraphQLError(f"`first` must be between 0 and {maximum}.", extensions={"code": "LIMIT_EXCEEDED"})
    return first


def invalid_cursor() -> GraphQLError:
    return GraphQLError("Invalid cursor.", extensions={"code": "INVALID_INPUT"})


def encode_cursor(values: Sequence[str | int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values), default=str, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, size: int) -> list[object]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise invalid_cursor()
    return values


def build(rows: Sequence[M], first: int, after: str | None, cursor: Callable[[M], str], count: Callable[[], Awaitable[int]]) -> Connection[M]:
    """`rows` hold up to first + 1 rows: the extra row only says there is a next page."""
    edges = [Edge(cursor(row), row) for row in rows[:first]]
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


def _bound(keys: Sequence[Key[Any]], after: str) -> list[object]:
    values = decode_cursor(after, len(keys))
    try:
        return [key.parse(str(value)) for key, value in zip(keys, values, strict=True)]
    except (ValueError, ArithmeticError):
        raise invalid_cursor() from None


def _beyond(keys: Sequence[Key[Any]], bound: list[object], descending: bool) -> ColumnElement[bool]:
    if len(keys) == 1:
        column = keys[0].column
        return column < bound[0] if descending else column > bound[0]
    columns = tuple_(*(key.column for key in keys))
    return columns < tuple_(*bound) if descending else columns > tuple_(*bound)


async def keyset(
    db: Database, model: type[M], keys: Sequence[Key[Any]], *, where: Sequence[ColumnElement[bool]] = (),
    first: int | None, after: str | None, descending: bool = False, primary: bool = False,
) -> Connection[M]:
    """A page of `model` rows matching `where`, ordered by `keys` (the last one unique), after the `after` cursor
    (`primary`: read the primary even with a replica, e.g. one that has not replayed what the page must show)."""
    size = page_size(first)
    statement = select(model).where(*where)
    if after is not None:
        statement = statement.where(_beyond(keys, _bound(keys, after), descending))
    ordering = [key.column.desc() if descending else key.column for key in keys]
    statement = statement.order_by(*ordering).limit(size + 1)
    async with db.read(primary=primary) as session:
        rows = (await session.execute(statement)).scalars().all()

    async def count() -> int:
        async with db.read(primary=primary) as session:
            total: int = (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()
            return total

    return build(rows, size, after, lambda row: encode_cursor([key.value(row) for key in keys]), count)


def order_filter(column: InstrumentedAttribute[uuid.UUID], order_id: str | None) -> list[ColumnElement[bool]]:
    """The `orderId` argument of a list, as a condition; a malformed or foreign ID is a top-level error."""
    if order_id is None:
        return []
    value = id_of(order_id, "Order")
    if value is None:
        raise GraphQLError("Not a valid Order ID.", extensions={"code": "INVALID_INPUT"})
    return [column == value]


async def newest_first(
    db: Database, model: type[IdentifiedT], time_column: InstrumentedAttribute[datetime], conditions: Sequence[ColumnElement[bool]],
    first: int | None, after: str | None,
) -> Connection[IdentifiedT]:
    """A page of `model` rows, newest first by the keyset (time_column, id)."""
    return await keyset(db, model, (time_key(time_column), uuid_key(model.id)), where=conditions, first=first, after=after, descending=True)
