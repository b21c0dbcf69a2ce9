"""Confirming an order: the order moves to CONFIRMED, then billing captures and invoices if it does so
at confirmation. Staff confirm (confirmOrder); cash on delivery confirms at placement; a pending
order paid in full confirms when the money is recorded."""

from __future__ import annotations

import uuid

from app.billing import hooks as billing
from app.infra.database import UnitOfWork
from app.orders import service as orders
from app.orders.enums import OrderStatus
from models import Order


async def confirm_order(*, uow: UnitOfWork, order_id: uuid.UUID, reason: str | None = None) -> Order:
    order = await orders.confirm_order(uow=uow, order_id=order_id, reason=reason)
    await billing.on_order_confirmed(uow=uow, order=order)
    return order


async def confirm_locked_order(*, uow: UnitOfWork, order: Order, reason: str) -> None:
    """The same for an order this unit of work holds locked already (refused while it is on hold)."""
    await orders.refuse_if_held(uow=uow, order=order)
    orders.transition(uow, order, OrderStatus.CONFIRMED, data={"action": "confirm", "reason": reason})
    await billing.on_order_confirmed(uow=uow, order=order)
