"""Read-side rules for dashboards (issue 12): which orders are at risk, counts by status and channel.

Conditions are SQLAlchemy expressions the resolvers combine with their own filters and pagination.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.orders import promise
from app.orders.enums import OrderStatus, SalesChannel
from models import Order

# An order past these is delivered (or will never be), so its promise can no longer be missed.
PROMISE_KEPT_OR_MOOT = (OrderStatus.DELIVERED, OrderStatus.PARTIALLY_RETURNED, OrderStatus.RETURNED, OrderStatus.CANCELLED)


def today() -> date:
    """The shop's local date, on the clock the promises are computed against."""
    return promise.local_date(promise.utcnow())


def delivery_at_risk(at_risk: bool, *, on: date | None = None) -> ColumnElement[bool]:
    """At risk: the promised delivery date is today or past and the order is not delivered (nor cancelled/returned).
    `at_risk=False`: every other order (including those without a promise date)."""
    risky = and_(Order.estimated_delivery_date.is_not(None), Order.estimated_delivery_date <= (on or today()),
                 Order.status.not_in([s.value for s in PROMISE_KEPT_OR_MOOT]))
    return risky if at_risk else not_(risky)


def updated_after(moment: datetime) -> ColumnElement[bool]:
    """Orders changed (status, payment) at or after `moment`: what a dashboard polls for since its last read."""
    return Order.updated_at >= moment


@dataclass(frozen=True, slots=True)
class OrderCounts:
    by_status: dict[str, int]  # every status, 0 included
    by_channel: dict[str, int]  # every channel, 0 included
    total: int


async def order_counts(session: AsyncSession, *, channel: SalesChannel | None = None, placed_after: datetime | None = None) -> OrderCounts:
    conditions: list[ColumnElement[bool]] = []
    if channel is not None:
        conditions.append(Order.channel == channel.value)
    if placed_after is not None:
        conditions.append(Order.placed_at >= placed_after)
    statement = select(Order.status, Order.channel, func.count()).where(*conditions).group_by(Order.status, Order.channel)
    rows = (await session.execute(statement)).all()
    by_status = {s.value: 0 for s in OrderStatus}
    by_channel = {c.value: 0 for c in SalesChannel}
    for status, sales_channel, n in rows:
        by_status[str(status)] += n
        by_channel[str(sales_channel)] += n
    return OrderCounts(by_status=by_status, by_channel=by_channel, total=sum(by_status.values()))
