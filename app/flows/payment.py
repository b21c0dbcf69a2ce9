"""Recording money received outside the provider (transfer, cash, other): billing records it; a
pending order that is now paid in full is confirmed (and so captured/invoiced as configured)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from app.billing import payments
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
    payment = await payments.record_payment(uow=uow, order=order, method=method, amount=amount, reference=reference,
                                            idempotency_key=idempotency_key)
    if order.status == OrderStatus.PENDING and order.payment_status == PaymentStatus.PAID:
        await confirm_locked_order(uow=uow, order=order, reason="payment received")
    return payment
