"""The public tracking view: a number and email pair shows a limited view of one order."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from strawberry.types import Info

from models import Order
from resolvers import fulfilment


# Besides status changes, the events a customer may see; payment, billing and staff events stay internal.
PUBLIC_EVENT_TYPES = frozenset({
    "PLACED", "SHIPMENT_CREATED", "TRACKING_UPDATED", "DELIVERY_ESTIMATE_CHANGED",
    # post-sale steps the customer takes part in (details through trackedReturns / trackedInquiries)
    "RETURN_REQUESTED", "RETURN_APPROVED", "RETURN_REJECTED", "INQUIRY_OPENED", "INQUIRY_MESSAGE", "INQUIRY_CLOSED",
})
MAX_NUMBER_LENGTH = 32
MAX_EMAIL_LENGTH = 320


async def find_tracked_order(info: Info, number: str, email: str) -> Order | None:
    """Both values must match; a wrong pair answers exactly like an unknown order (one query
    over both values either way, so neither the answer nor its path tells which one was wrong)."""
    number, email = number.strip(), email.strip().lower()
    if not number or not email or len(number) > MAX_NUMBER_LENGTH or len(email) > MAX_EMAIL_LENGTH:
        return None
    async with info.context.db.read() as session:
        return (await session.execute(select(Order).where(Order.number == number, Order.email == email))).scalar_one_or_none()


def is_public_event(event: Any) -> bool:
    return event.type in PUBLIC_EVENT_TYPES or event.previous_status != event.status


def _public_event(event: Any) -> SimpleNamespace:
    # Staff reasons, amounts and actors stay internal.
    return SimpleNamespace(seq=event.seq, type=event.type, status=event.status, previous_status=event.previous_status,
                           occurred_at=event.occurred_at, actor=None, data=None)


async def tracking_view(info: Info, order: Order) -> SimpleNamespace:
    """Status, dates, shipments (carrier, tracking, events) and the public timeline: no prices, no
    address, no lines. `Shipment.order` needs orders:read, so the view cannot be walked back to the order."""
    events = await info.context.loaders.events_by_order.load(order.id)
    return SimpleNamespace(
        number=order.number,
        status=order.status,
        placed_at=order.placed_at,
        estimated_delivery_date=order.estimated_delivery_date,
        shipments=await fulfilment.order_shipments(order, info),
        events=[_public_event(e) for e in events if is_public_event(e)],
    )


async def track_order(info: Info, number: str, email: str) -> SimpleNamespace | None:
    order = await find_tracked_order(info, number, email)
    return None if order is None else await tracking_view(info, order)
