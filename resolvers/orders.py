"""Order queries, mutations and nested fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from graphql import GraphQLError
from sqlalchemy import func, select, tuple_
from strawberry.types import Info

from app.flows import cancellation, confirmation, placement
from app.orders import service
from app.orders.service import LineRequest, PlaceOrderRequest
from models import Order, OrderEvent, OrderLine
from resolvers import pagination
from resolvers.errors import run_mutation
from resolvers.ids import decode_id, from_global_id

SORT_KEYS: dict[str, tuple[Any, Any]] = {
    # field -> (column, cursor value parser)
    "PLACED_AT": (Order.placed_at, datetime.fromisoformat),
    "NUMBER": (Order.serial, int),
    "TOTAL": (Order.total, Decimal),
}
SORT_VALUE = {"PLACED_AT": lambda o: o.placed_at.isoformat(), "NUMBER": lambda o: o.serial, "TOTAL": lambda o: str(o.total)}
EVENTS_PAGE_MAX = 500


def _enum_values(values: list[Any] | None) -> list[str] | None:
    return [v.value for v in values] if values else None


def _order_conditions(filter: Any) -> list[Any]:
    if filter is None:
        return []
    conditions = []
    if statuses := _enum_values(filter.status):
        conditions.append(Order.status.in_(statuses))
    if channels := _enum_values(filter.channel):
        conditions.append(Order.channel.in_(channels))
    if filter.email:
        conditions.append(Order.email == filter.email.strip().lower())
    if filter.placed_after:
        conditions.append(Order.placed_at >= filter.placed_after)
    if filter.placed_before:
        conditions.append(Order.placed_at < filter.placed_before)
    return conditions


async def order(info: Info, id: str | None = None, number: str | None = None) -> Order | None:
    await info.context.require("orders:read")
    if id is not None:
        decoded = from_global_id(id)
        if decoded is None or decoded[0] != "Order":
            return None
        found = await info.context.loaders.order.load(decoded[1])
        return None if found is None or (number is not None and found.number != number) else found
    if number is not None:
        return await info.context.loaders.order_by_number.load(number.strip())
    return None


async def orders(info: Info, first: int | None = None, after: str | None = None, filter: Any = None, sort: Any = None) -> pagination.Connection:
    await info.context.require("orders:read")
    size = pagination.page_size(first)
    field = sort.field.value if sort else "PLACED_AT"
    descending = (sort.direction.value == "DESC") if sort else True
    column, parse = SORT_KEYS[field]
    conditions = _order_conditions(filter)
    statement = select(Order).where(*conditions)
    if after is not None:
        key, raw_id = pagination.decode_cursor(after, 2)
        try:
            bound = tuple_(column, Order.id), (parse(key), uuid.UUID(raw_id))
        except (ValueError, ArithmeticError):
            raise GraphQLError("Invalid cursor.", extensions={"code": "INVALID_INPUT"}) from None
        statement = statement.where(bound[0] < tuple_(*bound[1]) if descending else bound[0] > tuple_(*bound[1]))
    ordering = (column.desc(), Order.id.desc()) if descending else (column.asc(), Order.id.asc())
    statement = statement.order_by(*ordering).limit(size + 1)
    db = info.context.db
    async with db.read() as session:
        rows = (await session.execute(statement)).scalars().all()
    info.context.loaders.prime_orders(rows)

    async def count() -> int:
        async with db.read() as session:
            return (await session.execute(select(func.count()).select_from(Order).where(*conditions))).scalar_one()

    return pagination.build(rows, size, after, lambda o: (SORT_VALUE[field](o), str(o.id)), count)


async def order_stats(info: Info, channel: Any = None, placed_after: datetime | None = None) -> SimpleNamespace:
    await info.context.require("orders:read")
    statement = select(Order.status, func.count()).group_by(Order.status)
    if channel is not None:
        statement = statement.where(Order.channel == channel.value)
    if placed_after is not None:
        statement = statement.where(Order.placed_at >= placed_after)
    async with info.context.db.read() as session:
        counts = {status: n for status, n in (await session.execute(statement)).all()}
    return SimpleNamespace(count_by_status=counts, total_orders=sum(counts.values()))


async def order_lines(root: Order, info: Info) -> list[OrderLine]:
    return await info.context.loaders.lines_by_order.load(root.id)


async def order_events(root: Order, info: Info, first: int | None = None, after: str | None = None) -> pagination.Connection:
    if first is not None and (first < 0 or first > EVENTS_PAGE_MAX):
        raise GraphQLError(f"`first` must be between 0 and {EVENTS_PAGE_MAX}.", extensions={"code": "LIMIT_EXCEEDED"})
    events: list[OrderEvent] = await info.context.loaders.events_by_order.load(root.id)
    if after is not None:
        try:
            after_seq = int(after)
        except ValueError:
            raise GraphQLError("Invalid cursor.", extensions={"code": "INVALID_INPUT"}) from None
        events = [e for e in events if e.seq > after_seq]
    size = EVENTS_PAGE_MAX if first is None else first
    page = events[:size]
    edges = [pagination.Edge(str(e.seq), e) for e in page]

    async def count() -> int:
        return len(events)

    return pagination.Connection(
        edges=edges,
        page_info=pagination.PageInfo(
            has_next_page=len(events) > size, has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None, end_cursor=edges[-1].cursor if edges else None,
        ),
        count=count,
    )


def _address(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        "name": value.name, "line1": value.line1, "line2": value.line2, "city": value.city,
        "postal_code": value.postal_code, "region": value.region, "country": value.country, "phone": value.phone,
    }


def _order_payload(order: Order | None) -> dict[str, Any]:
    return {"order": order}


async def place_order(info: Info, input: Any) -> SimpleNamespace:
    request = PlaceOrderRequest(
        channel=input.channel,
        email=input.email,
        lines=[LineRequest(line.sku, line.quantity, line.customization) for line in input.lines],
        shipping_address=_address(input.shipping_address) or {},
        billing_address=_address(input.billing_address),
        payment_method=input.payment.method if input.payment else None,
        payment_token=input.payment.token if input.payment else None,
        idempotency_key=input.idempotency_key,
    )
    return await run_mutation(info, scope="orders:write", action=lambda uow: placement.place_order(uow=uow, request=request), payload=_order_payload)


def _transition_mutation(action: Any):  # type: ignore[no-untyped-def]
    async def mutate(info: Info, input: Any) -> SimpleNamespace:
        async def work(uow):  # type: ignore[no-untyped-def]
            order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
            return await action(uow=uow, order_id=order_id, reason=input.reason)

        return await run_mutation(info, scope="orders:write", action=work, payload=_order_payload)

    return mutate


confirm_order = _transition_mutation(confirmation.confirm_order)
hold_order = _transition_mutation(service.hold_order)
release_order = _transition_mutation(service.release_order)
cancel_order = _transition_mutation(cancellation.cancel_order)
