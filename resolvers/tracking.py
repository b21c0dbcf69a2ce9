"""The public tracking view: a number and email pair shows a limited view of one order."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from strawberry.types import Info

from models import Order
from resolvers import fulfilment


async def find_tracked_order(info: Info, number: str, email: str) -> Order | None:
    """Both values must match; a wrong pair answers exactly like an unknown order."""
    async with info.context.db.read() as session:
        return (
            await session.execute(select(Order).where(Order.number == number.strip(), Order.email == email.strip().lower()))
        ).scalar_one_or_none()


def _public_event(event: Any) -> SimpleNamespace:
    # Staff reasons and actors stay internal.
    return SimpleNamespace(seq=event.seq, type=event.type, status=event.status, previous_status=event.previous_status,
                           occurred_at=event.occurred_at, actor=None, data=None)


async def tracking_view(info: Info, order: Order) -> SimpleNamespace:
    events = await info.context.loaders.events_by_order.load(order.id)
    return SimpleNamespace(
        number=order.number,
        status=order.status,
        placed_at=order.placed_at,
        estimated_delivery_date=order.estimated_delivery_date,
        shipments=await fulfilment.order_shipments(order, info),
        events=[_public_event(e) for e in events],
    )


async def track_order(info: Info, number: str, email: str) -> SimpleNamespace | None:
    order = await find_tracked_order(info, number, email)
    return None if order is None else await tracking_view(info, order)
