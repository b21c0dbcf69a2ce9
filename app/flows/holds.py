"""Releasing a hold (issue 18): the order resumes the status it was held from when no hold is left, and then the
automatic step the hold interrupted happens: an order back to PENDING that pays cash on delivery, or is paid in
full already (a transfer recorded while it was held), is confirmed (and so captured/invoiced as configured), as
placement and recordPayment would have done. Anything else waits for staff, as before (a card: confirmOrder)."""

from __future__ import annotations

import uuid

from app.flows.confirmation import confirm_locked_order
from app.infra.database import UnitOfWork
from app.orders import holds
from app.orders.enums import OrderStatus, PaymentMethod, PaymentStatus
from models import Order


async def release_order(*, uow: UnitOfWork, order_id: uuid.UUID, hold_id: uuid.UUID | None = None, reason: str | None = None) -> Order:
    order = await holds.release_order(uow=uow, order_id=order_id, hold_id=hold_id, reason=reason)
    if order.status == OrderStatus.PENDING:
        if order.payment_method == PaymentMethod.CASH_ON_DELIVERY:
            await confirm_locked_order(uow=uow, order=order, reason="cash on delivery (released)")
        elif order.payment_status == PaymentStatus.PAID:
            await confirm_locked_order(uow=uow, order=order, reason="payment received (released)")
    return order
