"""Read-side rules for dashboards (issue 12): which orders are at risk, counts by status and channel; and the
one filter of order lists (`OrderQuery`, issue 17) that GraphQL `orders`, `oms export-orders` and the HTTP export share.

Conditions are SQLAlchemy expressions the resolvers combine with their own filters and pagination.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.orders import promise
from app.orders.enums import OrderStatus, SalesChannel
from models import Order

# An order past these is delivered (or will never be), so its promise can no longer be missed.
# pickup, issue 19: a click-and-collect order's promise is "ready at the store", so READY_FOR_PICKUP keeps it
PROMISE_KEPT_OR_MOOT = (OrderStatus.DELIVERED, OrderStatus.PARTIALLY_RETURNED, OrderStatus.RETURNED, OrderStatus.CANCELLED,
                        OrderStatus.READY_FOR_PICKUP)


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
    """Orders changed at or after `moment` (any change that recorded an event; `updated_at` is the database clock at
    that change's commit, app/infra/database.py): what a dashboard polls for since its last read."""
    return Order.updated_at >= moment


def changed_up_to(horizon: int) -> ColumnElement[bool]:
    """"Changed since" pages on (change_seq, id) and never past the event horizon (app/infra/horizon.py): an order
    whose change is still in flight shows its previous version now, and its new one (a larger change_seq) on a later
    page, so a poller that resumes after its last cursor never skips a change committed late."""
    return Order.change_seq <= horizon


MetadataMatch = tuple[str, str | None]  # (key, value); value None: the key is present


@dataclass(frozen=True, slots=True)
class OrderQuery:
    """Which orders a list shows: GraphQL's OrderFilter, the export's options (every field optional, all combined)."""

    status: Sequence[str] | None = None
    channel: Sequence[str] | None = None
    email: str | None = None
    placed_after: datetime | None = None
    placed_before: datetime | None = None
    delivery_at_risk: bool | None = None
    updated_after: datetime | None = None
    external_reference: str | None = None
    marketplace: str | None = None
    metadata: Sequence[MetadataMatch] = field(default_factory=tuple)
    private_metadata: Sequence[MetadataMatch] = field(default_factory=tuple)


def _metadata_matches(column: Any, matches: Sequence[MetadataMatch]) -> list[ColumnElement[bool]]:
    # `@>` and `?` (JSONB comparators), both answered by the GIN index (jsonb_ops) on the column
    return [column.contains({key: value}) if value is not None else column.has_key(key) for key, value in matches]


def order_conditions(query: OrderQuery | None) -> list[ColumnElement[bool]]:
    if query is None:
        return []
    conditions: list[ColumnElement[bool]] = []
    if query.status:
        conditions.append(Order.status.in_(list(query.status)))
    if query.channel:
        conditions.append(Order.channel.in_(list(query.channel)))
    if query.email:
        conditions.append(Order.email == query.email.strip().lower())
    if query.placed_after:
        conditions.append(Order.placed_at >= query.placed_after)
    if query.placed_before:
        conditions.append(Order.placed_at < query.placed_before)
    if query.delivery_at_risk is not None:
        conditions.append(delivery_at_risk(query.delivery_at_risk))
    if query.updated_after:
        conditions.append(updated_after(query.updated_after))
    if query.external_reference:
        conditions.append(Order.external_reference == query.external_reference.strip())
    if query.marketplace:
        conditions.append(Order.marketplace == query.marketplace.strip())
    conditions += _metadata_matches(Order.public_metadata, query.metadata)
    conditions += _metadata_matches(Order.private_metadata, query.private_metadata)
    return conditions


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
