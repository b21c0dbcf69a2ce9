"""Unpaid bank transfers expire: the order is cancelled (stock released, payment voided, events recorded).

Safe with several server processes: each order is claimed with FOR UPDATE SKIP LOCKED on its
row (the same lock every order change takes first), so two workers never handle one order and
a worker never waits behind a request that is recording the payment right now. Each order is
handled in its own transaction, so one failure does not hold back the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timezone

from sqlalchemy import select

from app.billing import config, payments
from app.database import Database, UnitOfWork
from app.orders import events
from app.orders import service as order_service
from app.orders.state_machine import OrderStatus
from models import Order
from models.billing import Payment

log = logging.getLogger(__name__)

REASON = "unpaid bank transfer expired"
ACTOR = "system:payment-expiry"


async def expire_one(*, uow: UnitOfWork, now: datetime | None = None) -> uuid.UUID | None:
    """Cancel one pending order whose bank transfer is overdue and nothing was received; its id, or None."""
    now = now or datetime.now(timezone.utc)
    claim = (
        select(Order.id)
        .join(Payment, Payment.order_id == Order.id)
        .where(
            Order.status == OrderStatus.PENDING.value,
            Payment.method == payments.BANK_TRANSFER,
            Payment.status == payments.PENDING,
            Payment.captured_amount == 0,
            Payment.expires_at <= now,
        )
        .order_by(Payment.expires_at)
        .limit(1)
        .with_for_update(of=Order, skip_locked=True)
    )
    order_id = (await uow.session.execute(claim)).scalar_one_or_none()
    if order_id is None:
        return None
    order = await order_service.get_for_update(uow=uow, order_id=order_id)
    for payment in await payments.payments_of(uow, order.id, lock=True):
        if payment.method == payments.BANK_TRANSFER and payment.status == payments.PENDING and payment.captured_amount == 0:
            payment.status, payment.expires_at = payments.VOIDED, None
            events.record(uow, order, payments.PAYMENT_EXPIRED, data={"paymentId": str(payment.id), "method": payment.method, "reason": REASON})
    await order_service.cancel_order(uow=uow, order_id=order.id, reason=REASON)
    return order.id


async def expire_due(db: Database, *, now: datetime | None = None, limit: int = 500) -> list[uuid.UUID]:
    """Expire overdue transfers, one transaction per order; the ids of the cancelled orders."""
    expired: list[uuid.UUID] = []
    while len(expired) < limit:
        order_id = await db.run(lambda uow: expire_one(uow=uow, now=now), actor=ACTOR)
        if order_id is None:
            break
        expired.append(order_id)
    return expired


class ExpiryWorker:
    """Runs `expire_due` every `interval` seconds until stopped (started by the app's lifespan)."""

    def __init__(self, db: Database, interval: float | None = None) -> None:
        self.db = db
        self.interval = interval if interval is not None else config.settings().expiry_interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                expired = await expire_due(self.db)
                if expired:
                    log.info("expired %d unpaid bank-transfer orders", len(expired))
            except Exception:  # keep running: the next round retries
                log.exception("bank-transfer expiry failed")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="bank-transfer-expiry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
