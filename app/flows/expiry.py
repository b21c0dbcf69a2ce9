"""Unpaid orders expire (issue 18, generalised from bank transfers): an order left PENDING by a payment method
with a deadline (`OMS_UNPAID_EXPIRY_HOURS`, per method: bank transfer, pay-by-link, ...) on which nothing was
received by its payment's `expires_at` is cancelled with reason UNPAID (stock released, payment voided, events
recorded), through the same cancellation flow as a staff cancellation. An order held while PENDING (a risk
review, say) expires too, releasing its holds: its stock must not stay reserved for an order nobody pays.
Money recorded afterwards is refunded (owed back), never attached: app/flows/payment.py.

And card placements interrupted between their two transactions (issue 16, app/flows/placement.py) are
recovered: a HELD attempt older than `placement_hold_seconds` gets its stock back (RECOVERED) and what the
provider authorised under its key is voided, unless a payment of ours uses that authorisation (a retry with
the same key placed the order).

Safe with several server processes: each order is claimed with FOR UPDATE SKIP LOCKED on its
row (the same lock every order change takes first), so two workers never handle one order and
a worker never waits behind a request that is recording the payment right now. Each order is
handled in its own transaction, so one failure does not hold back the rest.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select, text
from sqlalchemy.orm import aliased

from app.billing import config, payments
from app.billing.enums import PaymentTransactionStatus as Tx
from app.errors import DomainError
from app.flows.cancellation import cancel_order
from app.infra.database import Database, UnitOfWork
from app.infra.tasks import PeriodicTask
from app.orders import events
from app.orders import service as order_service
from app.orders.enums import OrderEventType, OrderStatus
from models import Order, OrderEvent
from models.billing import Payment, PaymentOperation
from models.placement import PlacementAttempt

log = logging.getLogger(__name__)

REASON = "UNPAID"  # the cancellation's reason (its STATUS_CHANGED event's data.reason) and each PAYMENT_EXPIRED's
ACTOR = "system:payment-expiry"
RECOVERY_REASON = "placement interrupted before its payment was recorded"


def _overdue(payment: Payment, now: datetime) -> bool:
    return payment.status == Tx.PENDING and payment.captured_amount == 0 and payment.expires_at is not None and payment.expires_at <= now


def _unpaid_pending(order: Order) -> bool:
    """PENDING, or held while PENDING (it resumes PENDING on release)."""
    return order.status == OrderStatus.PENDING or (order.status == OrderStatus.ON_HOLD and order.held_from == OrderStatus.PENDING)


async def expire_one(*, uow: UnitOfWork, now: datetime | None = None) -> tuple[uuid.UUID, bool] | None:
    """Claim one pending order whose payment deadline has passed and on which nothing was received,
    and cancel it (reason UNPAID). (order id, whether it was cancelled), or None when none is due."""
    now = now or datetime.now(UTC)
    other = aliased(Payment)
    received = select(other.id).where(other.order_id == Order.id, other.captured_amount > 0).exists()
    claim = (
        select(Order.id)
        .join(Payment, Payment.order_id == Order.id)
        .where(
            or_(Order.status == OrderStatus.PENDING, and_(Order.status == OrderStatus.ON_HOLD, Order.held_from == OrderStatus.PENDING)),
            Payment.status == Tx.PENDING,
            Payment.captured_amount == 0,
            Payment.expires_at <= now,
            ~received,
        )
        .order_by(Payment.expires_at)
        .limit(1)
        .with_for_update(of=Order, skip_locked=True)
    )
    order_id = (await uow.session.execute(claim)).scalar_one_or_none()
    if order_id is None:
        return None
    order = await order_service.get_for_update(uow=uow, order_id=order_id)
    # The claim locked only the order row and judged the payments from its snapshot: a payment
    # recorded just before we got the lock is only visible now, so decide again under the lock.
    current = await payments.payments_of(uow, order.id, lock=True)
    overdue = [p for p in current if _overdue(p, now)]
    if not _unpaid_pending(order) or not overdue or any(p.captured_amount > 0 for p in current):
        return order.id, False
    for payment in overdue:
        payment.status, payment.expires_at = Tx.VOIDED, None
        events.record(uow, order, OrderEventType.PAYMENT_EXPIRED, data={"paymentId": str(payment.id), "method": payment.method, "reason": REASON})
    await cancel_order(uow=uow, order_id=order.id, reason=REASON)
    return order.id, True


async def cancelled_unpaid(*, uow: UnitOfWork, order: Order) -> bool:
    """Whether `order` (locked by the caller) was cancelled by this worker for want of payment."""
    if order.status != OrderStatus.CANCELLED:
        return False
    found = await uow.session.execute(
        select(OrderEvent.seq).where(OrderEvent.order_id == order.id, OrderEvent.type == OrderEventType.STATUS_CHANGED,
                                     OrderEvent.status == OrderStatus.CANCELLED, OrderEvent.data["reason"].astext == REASON).limit(1)
    )
    return found.first() is not None


async def expire_due(db: Database, *, now: datetime | None = None, limit: int = 500) -> list[uuid.UUID]:
    """Expire overdue unpaid orders, one transaction per order (at most `limit` claims per call);
    the ids of the cancelled orders."""
    expired: list[uuid.UUID] = []
    for _ in range(limit):
        outcome = await db.run(lambda uow: expire_one(uow=uow, now=now), actor=ACTOR)
        if outcome is None:
            break
        order_id, cancelled = outcome
        if cancelled:
            expired.append(order_id)
    return expired


async def recover_one(*, uow: UnitOfWork, now: datetime | None = None) -> PlacementAttempt | None:
    """Claim one HELD card placement past its expiry (SKIP LOCKED: one worker per attempt), give its stock
    back and mark it RECOVERED. The provider is asked after this commits (`recover_due`)."""
    now = now or datetime.now(UTC)
    claim = (
        select(PlacementAttempt).where(PlacementAttempt.status == order_service.HELD, PlacementAttempt.expires_at <= now)
        .order_by(PlacementAttempt.expires_at).limit(1).with_for_update(skip_locked=True)
    )
    attempt = (await uow.session.execute(claim)).scalar_one_or_none()
    if attempt is None:
        return None
    if attempt.idempotency_key:
        # Ordered with a retry's second step (it takes the same lock): see placement's `superseded`.
        await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 7))"), {"key": attempt.idempotency_key})
    await order_service.release_hold(uow=uow, attempt_id=attempt.id, status=order_service.RECOVERED, reason=RECOVERY_REASON)
    return attempt


async def recover_due(db: Database, *, now: datetime | None = None, limit: int = 500) -> list[uuid.UUID]:
    """Recover interrupted card placements, one transaction each; the ids of the attempts recovered."""
    recovered: list[uuid.UUID] = []
    for _ in range(limit):
        attempt = await db.run(lambda uow: recover_one(uow=uow, now=now), actor=ACTOR)
        if attempt is None:
            break
        recovered.append(attempt.id)
        # No lock held: is the authorisation made under its key used by a payment of ours (a retry placed it)?
        async def used(session, key: str = attempt.provider_key) -> bool:  # type: ignore[no-untyped-def]
            found = await session.execute(select(Payment.id).join(PaymentOperation, PaymentOperation.payment_id == Payment.id)
                                          .where(PaymentOperation.idempotency_key == key).limit(1))
            return found.first() is not None

        if not await db.query(used, primary=True):
            try:
                voided = await payments.void_lost_authorization(key=attempt.provider_key)
                if voided:
                    log.info("voided authorisation %s of interrupted placement %s", voided, attempt.id)
            except DomainError:
                log.warning("could not void the authorisation of interrupted placement %s; the provider lets it lapse", attempt.id)
    return recovered


class ExpiryWorker(PeriodicTask):
    """Runs `expire_due` and `recover_due` every `interval` seconds until stopped (server/background.py)."""

    name = "bank-transfer-expiry"

    def __init__(self, db: Database, interval: float | None = None) -> None:
        super().__init__(interval if interval is not None else config.settings().expiry_interval_seconds)
        self.db = db

    async def run_round(self) -> None:
        try:
            expired = await expire_due(self.db)
            if expired:
                log.info("expired %d unpaid orders", len(expired))
        except Exception:  # the recovery below still runs; the next round retries
            log.exception("unpaid-order expiry failed")
        recovered = await recover_due(self.db)
        if recovered:
            log.info("recovered %d interrupted card placements", len(recovered))
