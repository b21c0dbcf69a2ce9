"""Order queries, mutations and nested fields."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Protocol

import strawberry
from sqlalchemy import ColumnElement

from app.errors import DomainError
from app.flows import cancellation, confirmation, placement
from app.infra.database import UnitOfWork
from app.orders import queries
from app.orders.enums import SalesChannel
from app.orders.service import LineRequest, PlaceOrderRequest
from models import Order, OrderEvent, OrderLine
from resolvers import holds, pagination, pickup
from resolvers.errors import MutationOutcome, run_mutation, user_errors
from resolvers.ids import decode_id, id_of
from resolvers.inputs import AddressArgs, OrderFilterArgs, OrderRequestArgs, OrderSortArgs, OrderTransitionArgs, PlaceOrderArgs
from resolvers.metadata import check_filter_access, order_query, sync_horizon
from resolvers.planner.api import Planned, planned
from resolvers.types import Info, MutationPayload

SORT_KEYS: dict[str, pagination.Key[Any]] = {
    # field -> the column it sorts on, and how its value sits in a cursor; ties broken by id
    "PLACED_AT": pagination.time_key(Order.placed_at),
    "NUMBER": pagination.Key(Order.serial, int, int),
    "TOTAL": pagination.Key(Order.total, str, Decimal),
    # partner, issue 17: the order's last change in commit order, read under the event horizon (resolvers/metadata.py)
    "UPDATED_AT": pagination.Key(Order.change_seq, int, int),
}
EVENTS_PAGE_MAX = 500
EventsFirst = Annotated[int | None, strawberry.argument(description="How many events: 0 to 500, default 500 (the whole timeline).")]
EventsAfter = Annotated[str | None, strawberry.argument(description="An event's `cursor`: the page starts after it.")]


@dataclass(frozen=True, slots=True)
class OrderStats:
    count_by_status: dict[str, int]  # JSON: status name -> count
    total_orders: int
    count_by_channel: dict[str, int]


def _order_conditions(filter: OrderFilterArgs | None) -> list[ColumnElement[bool]]:
    return queries.order_conditions(order_query(filter))


async def order(info: Info, id: str | None = None, number: str | None = None) -> Order | Planned | None:
    await info.context.require("orders:read")
    if (json := await planned(info, "Query.order", {"id": id, "number": number})) is not None:
        return json
    if id is not None:
        order_id = id_of(id, "Order")
        if order_id is None:
            return None
        found = await info.context.loaders.order.load(order_id)
        return None if found is None or (number is not None and found.number != number) else found
    if number is not None:
        return await info.context.loaders.order_by_number.load(number.strip())
    return None


async def orders(
    info: Info, first: int | None = None, after: str | None = None, filter: OrderFilterArgs | None = None, sort: OrderSortArgs | None = None
) -> pagination.Connection[Order] | Planned:
    await info.context.require("orders:read")
    await check_filter_access(info, filter)
    field: str = sort.field.value if sort else "PLACED_AT"
    # UPDATED_AT: never past the event horizon, so a poller resuming after its cursor skips no late commit
    horizon = await sync_horizon(info) if field == "UPDATED_AT" else None
    args = {"first": first, "after": after, "filter": filter, "sort": sort, "horizon": horizon.upto if horizon else None}
    # (the planner reads where read_json routes it: not when the horizon needs the primary)
    if not (horizon and horizon.primary) and (json := await planned(info, "Query.orders", args)) is not None:
        return json
    descending = (sort.direction.value == "DESC") if sort else True
    keys = (SORT_KEYS[field], pagination.uuid_key(Order.id))
    where = _order_conditions(filter) + ([queries.changed_up_to(horizon.upto)] if horizon is not None else [])
    page = await pagination.keyset(info.context.db, Order, keys, where=where, first=first, after=after, descending=descending,
                                   primary=bool(horizon and horizon.primary))
    info.context.loaders.prime_orders([edge.node for edge in page.edges])
    return page


async def order_stats(info: Info, channel: Enum | None = None, placed_after: datetime | None = None) -> OrderStats:
    await info.context.require("orders:read")
    async with info.context.db.read() as session:
        counts = await queries.order_counts(
            session, channel=SalesChannel(channel.value) if channel is not None else None, placed_after=placed_after
        )
    return OrderStats(count_by_status=counts.by_status, total_orders=counts.total, count_by_channel=counts.by_channel)


async def order_lines(root: Order, info: Info) -> list[OrderLine]:
    return await info.context.loaders.lines_by_order.load(root.id)


async def order_events(root: Order, info: Info, first: EventsFirst = None, after: EventsAfter = None) -> pagination.Connection[OrderEvent]:
    """The whole timeline is loaded (one batch for every order on the page), then sliced: cursors are the plain event seq."""
    size = pagination.page_size(first, default=EVENTS_PAGE_MAX, maximum=EVENTS_PAGE_MAX)
    events: list[OrderEvent] = await info.context.loaders.events_by_order.load(root.id)
    if after is not None:
        try:
            after_seq = int(after)
        except ValueError:
            raise pagination.invalid_cursor() from None
        events = [e for e in events if e.seq > after_seq]

    async def count() -> int:
        return len(events)

    return pagination.build(events, size, after, lambda e: str(e.seq), count)


def _address(value: AddressArgs | None) -> dict[str, str | None] | None:
    if value is None:
        return None
    return {
        "name": value.name, "line1": value.line1, "line2": value.line2, "city": value.city,
        "postal_code": value.postal_code, "region": value.region, "country": value.country, "phone": value.phone,
    }


def _order_payload(order: Order | None) -> dict[str, object]:
    return {"order": order}


def placement_request(input: OrderRequestArgs, idempotency_key: str | None) -> PlaceOrderRequest:
    return PlaceOrderRequest(
        channel=input.channel,
        email=input.email,
        lines=[LineRequest(line.sku, line.quantity, line.customization) for line in input.lines],
        shipping_address=_address(input.shipping_address) or {},
        billing_address=_address(input.billing_address),
        payment_method=input.payment.method if input.payment else None,
        payment_token=input.payment.token if input.payment else None,
        idempotency_key=idempotency_key,
        delivery_method=pickup.delivery_method(input),  # pickup, issue 19
        shipping_method=getattr(input, "shipping_method", None),  # shipping, issue 19 (placeOrder only)
    )


async def place_order(info: Info, input: PlaceOrderArgs) -> MutationPayload:
    request = placement_request(input, input.idempotency_key)
    # Not `run_mutation`'s one unit of work: a card placement runs two transactions around the provider's call
    # (app/flows/placement.py `place`); the answer is shaped the same way.
    actor = (await info.context.require("orders:write")).actor
    try:
        placement.check_client_key(input.idempotency_key)
        placed = await placement.place(info.context.db, request=request, actor=actor)
    except DomainError as exc:
        return MutationOutcome(_order_payload(None), user_errors(exc), None)
    return MutationOutcome(_order_payload(placed.order), [], str(placed.events[-1]["seq"]) if placed.events else None)


class _Transition(Protocol):
    def __call__(self, *, uow: UnitOfWork, order_id: uuid.UUID, reason: str | None = None) -> Awaitable[Order]: ...


def _transition_mutation(action: _Transition) -> Callable[[Info, OrderTransitionArgs], Awaitable[MutationPayload]]:
    async def mutate(info: Info, input: OrderTransitionArgs) -> MutationPayload:
        async def work(uow: UnitOfWork) -> Order:
            order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
            return await action(uow=uow, order_id=order_id, reason=input.reason)

        return await run_mutation(info, scope="orders:write", action=work, payload=_order_payload)

    return mutate


confirm_order = _transition_mutation(confirmation.confirm_order)
hold_order = holds.hold_order  # several holds with reasons (issue 18): resolvers/holds.py
release_order = holds.release_order
cancel_order = _transition_mutation(cancellation.cancel_order)
