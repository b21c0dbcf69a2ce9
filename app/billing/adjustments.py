"""The money side of an order edit or line cancellation (issue 18): the difference between the order's new and
old totals, settled through the payments that paid (oldest first), inside the change's unit of work with the
order row locked (a refusal rolls the whole change back).

- More to pay (`delta > 0`):
  - a card authorisation still open is raised by the difference (`authorize_additional`), captured later as usual;
  - a card already captured gets a second authorisation on the same stored credential (`authorize_additional`,
    a new payment with `parent_payment_id`), captured at once: the order was paid, it stays paid (not while the
    order is ON_HOLD: nothing is captured during a review; the authorisation stays open);
  - a transfer, cash on delivery or other payment still expected expects the difference too; one received in full
    gets a new expected payment of the same method for it (recorded with recordPayment).
  - declined: PAYMENT_DECLINED at `order_id`, nothing of the change is kept.
- Less to pay (`delta < 0`): first what is not captured yet is lowered (an open authorisation: the remainder is
  released at capture, recorded as a partial void; an expected payment expects less), then captured money is
  refunded (a card through the provider, other methods recorded as a manual refund owed), never more than each
  payment captured minus refunded.

Provider keys derive from the change's id (app/orders/edits.py `next_edit_id`): a retry after a crash between the
provider's answer and our commit sends the same keys, and the provider replays instead of acting twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.billing import payments as billing
from app.billing.enums import PaymentOperationKind as Op
from app.billing.enums import PaymentTransactionStatus as Tx
from app.infra.database import UnitOfWork
from app.orders import events
from app.orders.enums import OrderEventType, OrderStatus, PaymentMethod
from models import Order
from models.billing import Payment

ZERO = Decimal("0.00")
E = OrderEventType
_OPEN = (Tx.AUTHORIZED, Tx.PENDING)


@dataclass(frozen=True, slots=True)
class Split:
    """How a difference would be settled: `due` to authorise or expect, `release` of what is not captured yet,
    `refund` of captured money."""

    due: Decimal
    release: Decimal
    refund: Decimal


def _uncaptured(payment: Payment) -> Decimal:
    return payment.amount - payment.captured_amount if payment.status in _OPEN else ZERO


def plan_difference(payments: Sequence[Payment], delta: Decimal) -> Split:
    """What `settle_difference` would do with `delta` over these payments (a preview's amountDue/amountToRefund)."""
    if delta >= 0:
        return Split(delta, ZERO, ZERO)
    owed = -delta
    release = min(owed, sum((_uncaptured(p) for p in payments), ZERO))
    refund = min(owed - release, sum((p.captured_amount - p.refunded_amount for p in payments), ZERO))
    return Split(ZERO, release, refund)


async def settle_difference(*, uow: UnitOfWork, order: Order, delta: Decimal, operation: uuid.UUID, reason: str) -> Split:
    """Settle `delta` (new total - old total) through the order's payments (see the module doc); the caller holds
    the order row lock. Returns what was authorised or expected, released and refunded."""
    payments = await billing.payments_of(uow, order.id, lock=True)
    if delta > 0:
        await _more(uow, order, payments, delta, operation)
        return Split(delta, ZERO, ZERO)
    if delta == 0:
        return Split(ZERO, ZERO, ZERO)
    split = plan_difference(payments, delta)
    left = split.release
    for payment in payments:
        take = min(left, _uncaptured(payment))
        if take <= 0:
            continue
        payment.amount -= take
        left -= take
        if payment.method == PaymentMethod.CARD:
            billing.record_operation(uow, payment, Op.VOID, take, f"{payment.id}:edit:{operation}:release", reason=reason)
            events.record(uow, order, E.PAYMENT_VOIDED, data={"paymentId": str(payment.id), "amount": str(take), "partial": True,
                                                             "reason": reason})
        if payment.amount <= payment.captured_amount:
            if payment.captured_amount > 0:
                payment.status = Tx.CAPTURED
            elif payment.method == PaymentMethod.CARD:
                await _void(uow, payment, operation)
            else:
                payment.status = Tx.VOIDED
            payment.expires_at = None
    left = split.refund
    for payment in payments:
        share = min(left, payment.captured_amount - payment.refunded_amount)
        if share <= 0:
            continue
        await billing.refund(uow, order, payment, share, reason=reason, key=f"{payment.id}:refund:edit:{operation}")
        left -= share
    return split


async def _void(uow: UnitOfWork, payment: Payment, operation: uuid.UUID) -> None:
    """An authorisation lowered to nothing: voided at the provider too."""
    result = await billing.provider().void(authorization=payment.reference or "", idempotency_key=f"{payment.id}:edit:{operation}:void")
    if not result.approved:
        raise billing.refused(result, ("order_id",), "released")
    payment.status = Tx.VOIDED


async def _more(uow: UnitOfWork, order: Order, payments: list[Payment], due: Decimal, operation: uuid.UUID) -> None:
    open_card = next((p for p in payments if p.method == PaymentMethod.CARD and p.status == Tx.AUTHORIZED), None)
    paid_card = next((p for p in reversed(payments) if p.method == PaymentMethod.CARD and p.captured_amount > 0), None)
    card = open_card or paid_card
    if card is not None:
        key = f"{card.id}:edit:{operation}:authorize"
        gateway = billing.provider()
        result = await gateway.authorize_additional(authorization=card.reference or "", amount=due, currency=order.currency, idempotency_key=key)
        if not result.approved:
            raise billing.refused(result, ("order_id",), "charged")
        if card is open_card:
            card.amount += due
            billing.record_operation(uow, card, Op.AUTHORIZE, due, key, reference=result.reference, reason="order edit")
            events.record(uow, order, E.PAYMENT_AUTHORIZED, data={"paymentId": str(card.id), "amount": str(due), "currency": order.currency,
                                                                 "reference": result.reference, "additional": True})
            return
        extra = Payment(id=uuid.uuid4(), order_id=order.id, method=PaymentMethod.CARD, status=Tx.AUTHORIZED, provider=gateway.name,
                        currency=order.currency, amount=due, captured_amount=ZERO, refunded_amount=ZERO, reference=result.reference,
                        parent_payment_id=card.id)
        uow.session.add(extra)
        await uow.session.flush()
        billing.record_operation(uow, extra, Op.AUTHORIZE, due, key, reference=result.reference, reason="order edit")
        events.record(uow, order, E.PAYMENT_AUTHORIZED, data={"paymentId": str(extra.id), "amount": str(due), "currency": order.currency,
                                                             "reference": result.reference, "additional": True, "parentPaymentId": str(card.id)})
        if order.status != OrderStatus.ON_HOLD:  # nothing is captured while the order is held (risk review)
            await billing.capture(uow, order, extra, due, key=f"{card.id}:edit:{operation}:capture")
        return
    expected = next((p for p in payments if p.status == Tx.PENDING), None)
    if expected is not None:
        expected.amount += due
        return
    manual = next((p for p in reversed(payments) if p.method != PaymentMethod.CARD and p.captured_amount > 0), None)
    if manual is not None:
        extra = Payment(id=uuid.uuid4(), order_id=order.id, method=manual.method, status=Tx.PENDING, currency=order.currency, amount=due,
                        captured_amount=ZERO, refunded_amount=ZERO, reference=order.number if manual.method == PaymentMethod.BANK_TRANSFER else None,
                        parent_payment_id=manual.id)
        uow.session.add(extra)
        await uow.session.flush()
        events.record(uow, order, E.PAYMENT_PENDING, data={"paymentId": str(extra.id), "method": manual.method, "amount": str(due),
                                                          "currency": order.currency, "expiresAt": None})
    # No payment at all (none chosen at placement): the new total is what is due, nothing to settle.
