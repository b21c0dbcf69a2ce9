"""What a customer may see of an order, and how they prove it is theirs (the public tracking page).

- Access: the order number and the order's email, both matching. A wrong pair answers exactly
  like an unknown order (one query over both values either way, so neither the answer nor its
  path tells which one was wrong).
- Timeline: status changes, plus the events below; payment, billing and staff events stay internal.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode
from app.orders.enums import OrderEventType, OrderStatus
from models import Order

E = OrderEventType
# Besides status changes, the events a customer may see.
PUBLIC_EVENT_TYPES = frozenset({
    E.PLACED, E.SHIPMENT_CREATED, E.TRACKING_UPDATED, E.DELIVERY_ESTIMATE_CHANGED,
    # post-sale steps the customer takes part in (details through trackedReturns / trackedInquiries)
    E.RETURN_REQUESTED, E.RETURN_APPROVED, E.RETURN_REJECTED, E.INQUIRY_OPENED, E.INQUIRY_MESSAGE, E.INQUIRY_CLOSED,
    E.PRODUCTION_STAGE_CHANGED,  # stages, issue 19: the customer sees production progress (without its data)
    E.BACKORDER_ALLOCATED,  # backorders visibility, issue 19: the stock their order waited for arrived (without its data)
})
MAX_NUMBER_LENGTH = 32
MAX_EMAIL_LENGTH = 320


class TimelineEntry(Protocol):
    type: OrderEventType
    status: OrderStatus
    previous_status: OrderStatus | None


def is_public_event(event: TimelineEntry) -> bool:
    return event.type in PUBLIC_EVENT_TYPES or event.previous_status != event.status


async def find_tracked_order(session: AsyncSession, *, number: str, email: str) -> Order | None:
    """The order both values name, or None."""
    number, email = number.strip(), email.strip().lower()
    if not number or not email or len(number) > MAX_NUMBER_LENGTH or len(email) > MAX_EMAIL_LENGTH:
        return None
    return (await session.execute(select(Order).where(Order.number == number, Order.email == email))).scalar_one_or_none()


async def prove_customer_access(session: AsyncSession, *, number: str, email: str) -> Order:
    """The order a customer acts on (a return, a case): refused as NOT_FOUND, the same for an unknown
    number and a wrong email."""
    order = await find_tracked_order(session, number=number, email=email)
    if order is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No order matches that number and email.", ("number",))
    return order
