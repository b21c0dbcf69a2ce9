"""The order timeline: every change appends one event, written in the change's own transaction."""

from __future__ import annotations

from typing import Any

from app.infra.database import UnitOfWork
from app.orders.enums import OrderEventType, OrderStatus
from models import Order

_UNCHANGED: Any = object()


def record(
    uow: UnitOfWork, order: Order, type_: OrderEventType, *, previous_status: OrderStatus | None = _UNCHANGED,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append an event for `order` in its current status; it gets its cursor at commit.

    Without `previous_status` the event does not change the status (previous == current);
    PLACED passes None, a status change passes the old status.
    """
    return uow.record_event(
        {
            "order_id": order.id,
            "type": type_,
            "status": order.status,
            "previous_status": order.status if previous_status is _UNCHANGED else previous_status,
            "channel": order.channel,
            "data": data,
        }
    )
