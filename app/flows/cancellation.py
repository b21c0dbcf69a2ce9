"""Cancelling an order: the order gives back the stock it holds and moves to CANCELLED; billing voids
what is only authorised or expected, refunds what was captured and credits what was invoiced."""

from __future__ import annotations

import uuid

from app.billing import hooks as billing
from app.infra.database import UnitOfWork
from app.orders import service as orders
from models import Order


async def cancel_order(*, uow: UnitOfWork, order_id: uuid.UUID, reason: str | None = None) -> Order:
    order = await orders.cancel_order(uow=uow, order_id=order_id, reason=reason)
    await billing.on_order_cancelled(uow=uow, order=order)
    return order
