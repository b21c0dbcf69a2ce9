"""Recording money received outside the provider (transfer, cash, other): billing records it; a
pending order that is now paid in full is confirmed (and so captured/invoiced as configured). Money for an
order the expiry worker cancelled UNPAID is recorded and at once owed back (LATE_PAYMENT_RECEIVED)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from app.billing import payments
from app.flows import expiry
from app.flows.confirmation import confirm_locked_order
from app.infra.database import UnitOfWork
from app.orders import service as orders
from app.orders.enums import OrderStatus, PaymentMethod, PaymentStatus
from models.billing import Payment


async def record_payment(
    *, uow: UnitOfWork, order_id: uuid.UUID, method: PaymentMethod, amount: Decimal, reference: str | None = None,
    idempotency_key: str | None = None,
) -> Payment:
    order = await orders.get_for_update(uow=uow, order_id=order_id)
    if await expiry.cancelled_unpaid(uow=uow, order=order):
        # holds, issue 18: money for an order that expired unpaid is recorded and owed back, never attached to it
        return await payments.record_late_payment(uow=uow, order=order, method=method, amount=amount, reference=reference,
                                                  idempotency_key=idempotency_key)
    payment = await payments.record_payment(uow=uow, order=order, method=method, amount=amount, reference=reference,
                                            idempotency_key=idempotency_key)
    if order.status == OrderStatus.PENDING and order.payment_status == PaymentStatus.PAID:
        await confirm_locked_order(uow=uow, order=order, reason="payment received")
    return payment
