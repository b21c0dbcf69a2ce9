"""The public tracking view: a number and email pair shows a limited view of one order.

Who may see what is the domain's rule (app/orders/tracking.py); this module only shapes the view."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from strawberry.types import Info

from app.orders import tracking
from app.orders.enums import OrderEventType, OrderStatus
from models import Order, OrderEvent, Warehouse
from models.fulfilment import Shipment
from resolvers import fulfilment, pickup, ratelimit
from resolvers.planner.api import Planned, planned


@dataclass(frozen=True, slots=True)
class PublicEvent:
    """An order event as the customer sees it: staff reasons, amounts and actors stay internal."""

    seq: int
    type: OrderEventType
    status: OrderStatus
    previous_status: OrderStatus | None
    occurred_at: datetime
    actor: None = None
    data: None = None


@dataclass(frozen=True, slots=True)
class TrackingView:
    number: str
    status: OrderStatus
    placed_at: datetime
    estimated_delivery_date: date | None
    shipments: list[Shipment]
    events: list[PublicEvent]
    # pickup, issue 19: the code only while READY_FOR_PICKUP; the pickup point of a PICKUP order (None: shipped)
    pickup_code: str | None = None
    pickup_point: Warehouse | None = None
    order_id: uuid.UUID | None = None  # backorders visibility, issue 19: OrderTracking.awaitingStock's key (not a field)
    shipping_method: str | None = None  # quotes, issue 19: the method charged ("<CARRIER>:<SERVICE>"), not its price


async def find_tracked_order(info: Info[Any, Any], number: str, email: str) -> Order | None:
    await ratelimit.enforce_public(info.context, number)  # issue 13: per address and per order number
    async with info.context.db.read() as session:
        return await tracking.find_tracked_order(session, number=number, email=email)


async def customer_order(info: Info[Any, Any], number: str, email: str) -> Order:
    """The order a customer acts on through the tracking pair, or the domain's NOT_FOUND."""
    await ratelimit.enforce_public(info.context, number)  # issue 13
    async with info.context.db.read() as session:
        return await tracking.prove_customer_access(session, number=number, email=email)


def _public_event(event: OrderEvent) -> PublicEvent:
    return PublicEvent(seq=event.seq, type=event.type, status=event.status, previous_status=event.previous_status,
                       occurred_at=event.occurred_at)


async def tracking_view(info: Info[Any, Any], order: Order) -> TrackingView:
    """Status, dates, shipments (carrier, tracking, events) and the public timeline: no prices, no
    address, no lines. `Shipment.order` needs orders:read, so the view cannot be walked back to the order."""
    events = await info.context.loaders.events_by_order.load(order.id)
    return TrackingView(
        number=order.number,
        status=order.status,
        placed_at=order.placed_at,
        estimated_delivery_date=order.estimated_delivery_date,
        shipments=[s for s in await fulfilment.order_shipments(order, info) if s.transfer_to_warehouse_id is None],  # transfers: internal
        events=[_public_event(e) for e in events if tracking.is_public_event(e)],
        pickup_code=pickup.tracking_pickup_code(order),  # pickup, issue 19
        pickup_point=await pickup.order_pickup_point(order, info),
        order_id=order.id,  # backorders visibility, issue 19
        shipping_method=order.shipping_method,  # quotes, issue 19
    )


async def track_order(info: Info[Any, Any], number: str, email: str) -> TrackingView | Planned | None:
    await ratelimit.enforce_public(info.context, number)  # issue 13: as find_tracked_order, once
    if (json := await planned(info, "Query.trackOrder", {"number": number, "email": email})) is not None:
        return json
    async with info.context.db.read() as session:
        order = await tracking.find_tracked_order(session, number=number, email=email)
    return None if order is None else await tracking_view(info, order)
