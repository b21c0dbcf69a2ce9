"""Payments: card authorisations and captures through the provider, transfers and cash recorded by staff, refunds.

Idempotency, so nothing is ever charged twice:
- every provider call sends a key derived from our own committed state
  ("<payment>:capture:<n>" where n counts the captures already committed), or from the
  client's idempotencyKey. A crash between the provider's charge and our commit leaves our
  state unchanged, so the retry sends the same key and the provider replays its first answer;
- all changes to an order's payments happen under the order row lock, so concurrent
  requests for one order queue instead of racing.

Provider calls happen inside the order's transaction (a refusal raises DomainError and rolls back
everything the request did), except the card authorisation of `placeOrder` (issue 16): it happens
between two transactions, with no row locked (app/flows/placement.py), through `authorize_card`
and `record_authorization`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from app.billing import config, invoicing
from app.billing.enums import PaymentOperationKind as Op
from app.billing.enums import PaymentTransactionStatus as Tx
from app.billing.providers import PaymentProvider, ProviderOutcome, ProviderResult, get_provider
from app.errors import DomainError, ErrorCode, Path
from app.infra import rows
from app.infra.database import UnitOfWork
from app.orders import events
from app.orders import service as order_service
from app.orders.enums import OrderEventType, OrderStatus, PaymentMethod, PaymentStatus
from app.orders.pricing import CENT, compute_totals, line_total
from app.validation import check_idempotency_key
from models import Order, OrderEvent, OrderLine
from models.billing import Invoice, Payment, PaymentOperation

E = OrderEventType
# Recorded by staff, not through the provider.
MANUAL_METHODS = frozenset({PaymentMethod.BANK_TRANSFER, PaymentMethod.CASH_ON_DELIVERY, PaymentMethod.OTHER,
                            PaymentMethod.PAY_BY_LINK})  # holds, issue 18: recorded like a transfer until a link provider plugs in

ZERO = Decimal("0.00")
MAX_KEY = 200
MAX_REASON = 500


def provider() -> PaymentProvider:
    return get_provider(config.settings())


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def _check_amount(amount: Decimal | None, path: Path) -> Decimal:
    if amount is None or not amount.is_finite() or amount <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "The amount must be positive.", path)
    if amount != amount.quantize(CENT):
        raise DomainError(ErrorCode.INVALID_INPUT, "The amount has at most two decimals.", path)
    return amount


def _refuse(result: ProviderResult, path: Path, what: str) -> DomainError:
    if result.outcome == ProviderOutcome.FAILED:
        return DomainError(ErrorCode.UNAVAILABLE, f"The payment provider is unavailable; nothing was {what}. Try again later.", path)
    return DomainError(ErrorCode.PAYMENT_DECLINED, f"The payment provider refused: {result.message or 'declined'}", path)


async def payments_of(uow: UnitOfWork, order_id: uuid.UUID, *, lock: bool = False) -> list[Payment]:
    await uow.session.flush()
    statement = select(Payment).where(Payment.order_id == order_id).order_by(Payment.created_at, Payment.id)
    if lock:
        statement = statement.with_for_update()
    return list((await uow.session.execute(statement)).scalars().all())


async def lock_payment(uow: UnitOfWork, payment_id: uuid.UUID) -> tuple[Order, Payment]:
    """The payment and its order, locked in the global lock order (order row first)."""
    order_id = (await uow.session.execute(select(Payment.order_id).where(Payment.id == payment_id))).scalar_one_or_none()
    if order_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such payment.", ("payment_id",))
    order = await order_service.get_for_update(uow=uow, order_id=order_id)
    payment = (
        await uow.session.execute(
            select(Payment).where(Payment.id == payment_id).with_for_update().execution_options(populate_existing=True)
        )
    ).scalar_one()
    return order, payment


def derive_payment_status(order_total: Decimal, payments: Sequence[Payment]) -> PaymentStatus:
    """The order's payment status from its payments."""
    captured = sum((p.captured_amount for p in payments), ZERO)
    refunded = sum((p.refunded_amount for p in payments), ZERO)
    if refunded > 0:
        return PaymentStatus.REFUNDED if refunded >= captured else PaymentStatus.PARTIALLY_REFUNDED
    if captured > 0 and captured >= order_total:
        return PaymentStatus.PAID
    if any(p.status == Tx.AUTHORIZED for p in payments):
        return PaymentStatus.AUTHORIZED
    if payments and payments[-1].status in (Tx.DECLINED, Tx.FAILED) and captured == 0:
        return PaymentStatus.FAILED
    return PaymentStatus.UNPAID


async def refresh_order_status(uow: UnitOfWork, order: Order) -> None:
    order.payment_status = derive_payment_status(order.total, await payments_of(uow, order.id))
    order.updated_at = datetime.now(UTC)


async def _operation(uow: UnitOfWork, key: str) -> PaymentOperation | None:
    await uow.session.flush()
    return (await uow.session.execute(select(PaymentOperation).where(PaymentOperation.idempotency_key == key))).scalar_one_or_none()


async def _next_key(uow: UnitOfWork, payment: Payment, kind: Op) -> str:
    """A provider key from committed state: the same after a crash, a new one after each success."""
    await uow.session.flush()
    done = (
        await uow.session.execute(
            select(func.count()).select_from(PaymentOperation).where(PaymentOperation.payment_id == payment.id, PaymentOperation.kind == kind)
        )
    ).scalar_one()
    return f"{payment.id}:{kind.lower()}:{done + 1}"


async def _replayed(uow: UnitOfWork, key: str | None, fingerprint: str) -> Payment | None:
    """The payment a previous request with this client key produced, if any (same input only)."""
    if key is None:
        return None
    done = await _operation(uow, key)
    if done is None:
        return None
    if done.request_fingerprint != fingerprint:
        raise DomainError(ErrorCode.IDEMPOTENCY_CONFLICT, "This idempotencyKey was used with a different input.", ("idempotency_key",))
    return await uow.session.get(Payment, done.payment_id, populate_existing=True)


async def _insert(uow: UnitOfWork, payment: Payment) -> None:
    """A new payment written now, by the driver (issue 16: no ORM flush; app/infra/rows.py derives the INSERT from the
    table), read back whole and made persistent in the session; the ORM's flush when the table's defaults cannot be
    reproduced. Its operations (already added to the session) are flushed after it, at the latest at commit."""
    writer = rows.writer_for(Payment, uow.dialect)
    if not writer.usable:
        uow.session.add(payment)
        await uow.session.flush()
        return
    names, values = writer.values(payment)
    row = (await uow.fetch(f"{writer.insert_head(names)}{rows.placeholders(1, len(values))} RETURNING {writer.returning}", values))[0]
    writer.adopt(uow.session, payment, row)
    uow.adopted.append(payment)


def _record_operation(uow: UnitOfWork, payment: Payment, kind: Op, amount: Decimal, key: str, *, fingerprint: str | None = None,
                      reference: str | None = None, reason: str | None = None) -> None:
    uow.session.add(PaymentOperation(id=uuid.uuid4(), payment_id=payment.id, kind=kind, amount=amount, idempotency_key=key,
                                     request_fingerprint=fingerprint, provider_reference=reference, reason=reason))
    payment.updated_at = datetime.now(UTC)


# --- placement -------------------------------------------------------------------------------


def _authorization_key(order: Order) -> str:
    # With the client's placeOrder key, a retry of the same placement after a crash reuses the
    # authorisation instead of opening a second one.
    if order.idempotency_key:
        return "authorize:" + _digest(order.idempotency_key, order.request_fingerprint)
    return f"authorize:order:{order.id}"


# The payment status of an order whose only payment is an approved card authorisation.
AUTHORIZED_ORDER_STATUS = PaymentStatus.AUTHORIZED


def placement_authorization_key(*, idempotency_key: str | None, fingerprint: str, attempt_id: uuid.UUID, generation: int) -> str:
    """The provider key of a two-step card placement: from the client's key (a retry after a crash reuses the
    authorisation) unless there is none; `generation` counts this key's attempts the expiry worker recovered
    (their authorisation voided), so a later retry opens a new one instead of replaying a voided one."""
    if idempotency_key:
        base = "authorize:" + _digest(idempotency_key, fingerprint)
        return base if generation == 0 else f"{base}:{generation}"
    return f"authorize:attempt:{attempt_id}"


def check_card_token(method: PaymentMethod | None, token: str | None) -> None:
    if method == PaymentMethod.CARD and (not token or not token.strip()):
        raise DomainError(ErrorCode.INVALID_INPUT, "A card payment needs the provider's token.", ("payment", "token"))


async def authorize_card(*, amount: Decimal, currency: str, token: str, key: str) -> tuple[str, ProviderResult]:
    """The remote call (no transaction of ours open around it): (provider name, its answer)."""
    gateway = provider()
    return gateway.name, await gateway.authorize(amount=amount, currency=currency, token=token, idempotency_key=key)


def refusal(result: ProviderResult) -> DomainError:
    """What a client hears of a declined (PAYMENT_DECLINED) or failed (UNAVAILABLE) authorisation."""
    return _refuse(result, ("payment", "token"), "charged")


async def record_authorization(*, uow: UnitOfWork, order: Order, provider_name: str, key: str, result: ProviderResult,
                               new_order: bool = False) -> Payment:
    """The AUTHORIZED card payment of an order, its operation and its PAYMENT_AUTHORIZED event (`new_order`: written
    in this unit of work, so this is its only payment)."""
    payment = Payment(id=uuid.uuid4(), order_id=order.id, method=PaymentMethod.CARD, currency=order.currency, amount=order.total,
                      captured_amount=ZERO, refunded_amount=ZERO)
    payment.status, payment.provider, payment.reference = Tx.AUTHORIZED, provider_name, result.reference
    _record_operation(uow, payment, Op.AUTHORIZE, order.total, key, reference=result.reference)
    await _insert(uow, payment)
    events.record(uow, order, E.PAYMENT_AUTHORIZED, data={"paymentId": str(payment.id), "amount": str(order.total),
                                                         "currency": order.currency, "reference": result.reference})
    if new_order:  # written in this unit with the status its only payment gives it (AUTHORIZED_ORDER_STATUS)
        assert order.payment_status == derive_payment_status(order.total, [payment])
    else:
        await refresh_order_status(uow, order)
    return payment


async def open_payment(*, uow: UnitOfWork, order: Order, method: PaymentMethod | None, token: str | None) -> Payment | None:
    """The payment an order starts with, inside the placement's transaction (a card is authorised here only
    on this one-transaction path: factories, demo, exchanges; `placeOrder` authorises between two). A declined
    card raises PAYMENT_DECLINED, so the whole placement rolls back: no order, no reservation, nothing charged."""
    if method is None:
        return None
    if method == PaymentMethod.CARD:
        check_card_token(method, token)
        assert token is not None
        key = _authorization_key(order)
        name, result = await authorize_card(amount=order.total, currency=order.currency, token=token, key=key)
        if not result.approved:
            raise refusal(result)
        return await record_authorization(uow=uow, order=order, provider_name=name, key=key, result=result)
    payment = Payment(id=uuid.uuid4(), order_id=order.id, method=method, currency=order.currency, amount=order.total,
                      captured_amount=ZERO, refunded_amount=ZERO)
    payment.status = Tx.PENDING
    if method == PaymentMethod.BANK_TRANSFER:
        payment.reference = order.number  # the customer quotes the order number on the transfer
    hours = config.unpaid_expiry_hours(method)  # holds, issue 18: unpaid orders expire per method (OMS_UNPAID_EXPIRY_HOURS)
    if hours is not None:
        payment.expires_at = datetime.now(UTC) + timedelta(hours=hours)
    uow.session.add(payment)
    await uow.session.flush()
    events.record(uow, order, E.PAYMENT_PENDING, data={
        "paymentId": str(payment.id), "method": method, "amount": str(order.total), "currency": order.currency,
        "expiresAt": payment.expires_at.isoformat() if payment.expires_at else None,
    })
    await refresh_order_status(uow, order)
    return payment


async def void_lost_authorization(*, key: str) -> str | None:
    """After a crash between a card placement's steps: void what the provider authorised under `key`, if
    anything (the caller made sure no payment of ours uses it). The voided reference, or None."""
    gateway = provider()
    earlier = await gateway.authorization_for(idempotency_key=key)
    if earlier is None or not earlier.approved or not earlier.reference:
        return None
    result = await gateway.void(authorization=earlier.reference, idempotency_key=f"{key}:void")
    if result.outcome == ProviderOutcome.FAILED:
        raise DomainError(ErrorCode.UNAVAILABLE, "The payment provider is unavailable; the void is retried later.", ("payment",))
    return earlier.reference


# --- captures --------------------------------------------------------------------------------


async def _capture(uow: UnitOfWork, order: Order, payment: Payment, amount: Decimal, key: str, fingerprint: str | None) -> None:
    result = await provider().capture(authorization=payment.reference or "", amount=amount, currency=payment.currency, idempotency_key=key)
    if not result.approved:
        raise _refuse(result, ("payment_id",), "captured")
    payment.captured_amount += amount
    if payment.captured_amount >= payment.amount:
        payment.status = Tx.CAPTURED
    _record_operation(uow, payment, Op.CAPTURE, amount, key, fingerprint=fingerprint, reference=result.reference)
    events.record(uow, order, E.PAYMENT_CAPTURED, data={"paymentId": str(payment.id), "amount": str(amount), "currency": payment.currency,
                                                       "capturedAmount": str(payment.captured_amount), "reference": result.reference})


async def capture_payment(*, uow: UnitOfWork, payment_id: uuid.UUID, amount: Decimal | None = None, idempotency_key: str | None = None) -> Payment:
    """Capture an authorised card payment: `amount`, or all that is still authorised.

    Without an amount a repeated call finds nothing left and captures nothing; with an amount,
    pass an idempotencyKey so a retried request is recognised.
    """
    order, payment = await lock_payment(uow, payment_id)
    client_key = check_idempotency_key(idempotency_key)
    fingerprint = _digest("capture", payment.id, amount)
    key = f"{payment.id}:capture:key:{_digest(client_key)[:40]}" if client_key else None
    if (replayed := await _replayed(uow, key, fingerprint)) is not None:
        return replayed
    if payment.method != PaymentMethod.CARD:
        raise DomainError(ErrorCode.INVALID_INPUT, "Only card payments are captured; record transfers and cash with recordPayment.", ("payment_id",))
    await order_service.refuse_if_held(uow=uow, order=order, path=("payment_id",))  # holds, issue 18: nothing captured while held
    left = payment.amount - payment.captured_amount
    if payment.status != Tx.AUTHORIZED:
        if amount is None and payment.status in (Tx.CAPTURED, Tx.PARTIALLY_REFUNDED, Tx.REFUNDED):
            return payment  # already captured in full: a retry is a no-op
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"A payment that is {payment.status} cannot be captured.", ("payment_id",))
    if amount is not None:
        _check_amount(amount, ("amount",))
        if amount > left:
            raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"Only {left} {payment.currency} is still authorised.", ("amount",))
    await _capture(uow, order, payment, amount or left, key or await _next_key(uow, payment, Op.CAPTURE), fingerprint if key else None)
    await refresh_order_status(uow, order)
    return payment


async def capture_open_authorizations(*, uow: UnitOfWork, order: Order) -> None:
    """Capture what every authorised card payment of the order still holds (at confirmation or shipment); refused
    while the order is on hold."""
    await order_service.refuse_if_held(uow=uow, order=order)  # holds, issue 18
    for payment in await payments_of(uow, order.id, lock=True):
        if payment.method == PaymentMethod.CARD and payment.status == Tx.AUTHORIZED and payment.captured_amount < payment.amount:
            key = await _next_key(uow, payment, Op.CAPTURE)
            await _capture(uow, order, payment, payment.amount - payment.captured_amount, key, None)
    await refresh_order_status(uow, order)


# --- transfers and cash ----------------------------------------------------------------------


async def _prepare_record(
    uow: UnitOfWork, order: Order, method: PaymentMethod, amount: Decimal, reference: str | None, idempotency_key: str | None,
) -> tuple[str | None, str, Payment | None]:
    """The checks and idempotency of a manual record (recordPayment, a late payment): its operation key (from the
    client's key), its fingerprint, and the payment a replay of the same key answers (None: record it now)."""
    client_key = check_idempotency_key(idempotency_key)
    fingerprint = _digest("record", method, amount, reference)
    key = f"{order.id}:record:key:{_digest(client_key)[:40]}" if client_key else None
    if (replayed := await _replayed(uow, key, fingerprint)) is not None:
        return key, fingerprint, replayed
    if method == PaymentMethod.CARD:
        raise DomainError(ErrorCode.INVALID_INPUT, "Card payments go through the payment provider.", ("method",))
    if method not in MANUAL_METHODS:
        raise DomainError(ErrorCode.INVALID_INPUT, "Unknown payment method.", ("method",))
    _check_amount(amount, ("amount",))
    if reference is not None and len(reference) > 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "The reference is at most 200 characters.", ("reference",))
    return key, fingerprint, None


async def record_payment(
    *, uow: UnitOfWork, order: Order, method: PaymentMethod, amount: Decimal, reference: str | None = None,
    idempotency_key: str | None = None,
) -> Payment:
    """Money received outside the provider (bank transfer, cash on delivery, other); the caller holds
    the order row lock. (A pending order paid in full is then confirmed: app/flows/payment.py.)"""
    key, fingerprint, replayed = await _prepare_record(uow, order, method, amount, reference, idempotency_key)
    if replayed is not None:
        return replayed
    if order.status == OrderStatus.CANCELLED:
        raise DomainError(ErrorCode.INVALID_TRANSITION, "The order is cancelled; nothing is due.", ("order_id",))
    payments = await payments_of(uow, order.id, lock=True)
    covered = sum((p.captured_amount - p.refunded_amount for p in payments), ZERO) + sum(
        (p.amount - p.captured_amount for p in payments if p.status == Tx.AUTHORIZED), ZERO
    )
    due = order.total - covered
    if amount > due:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"Only {max(due, ZERO)} {order.currency} is due on this order.", ("amount",))
    payment = next((p for p in payments if p.method == method and p.status == Tx.PENDING), None)
    if payment is None:
        payment = Payment(id=uuid.uuid4(), order_id=order.id, method=method, status=Tx.PENDING, currency=order.currency, amount=amount,
                          captured_amount=ZERO, refunded_amount=ZERO)
        uow.session.add(payment)
        await uow.session.flush()
    payment.captured_amount += amount
    if reference:
        payment.reference = reference
    if payment.captured_amount >= payment.amount:
        payment.status, payment.expires_at = Tx.CAPTURED, None
    _record_operation(uow, payment, Op.RECORD, amount, key or await _next_key(uow, payment, Op.RECORD), fingerprint=fingerprint, reference=reference)
    events.record(uow, order, E.PAYMENT_RECEIVED, data={"paymentId": str(payment.id), "method": method, "amount": str(amount),
                                                       "currency": order.currency, "reference": reference})
    await refresh_order_status(uow, order)
    return payment


# --- refunds, voids, cancellation --------------------------------------------------------------


async def _refund(uow: UnitOfWork, order: Order, payment: Payment, amount: Decimal, reason: str, key: str, fingerprint: str | None) -> None:
    reference = None
    if payment.method == PaymentMethod.CARD:
        result = await provider().refund(authorization=payment.reference or "", amount=amount, currency=payment.currency, idempotency_key=key)
        if not result.approved:
            raise _refuse(result, ("payment_id",), "refunded")
        reference = result.reference
    payment.refunded_amount += amount
    if payment.status != Tx.AUTHORIZED:  # an open authorisation stays open for the rest
        payment.status = Tx.REFUNDED if payment.refunded_amount >= payment.captured_amount else Tx.PARTIALLY_REFUNDED
    _record_operation(uow, payment, Op.REFUND, amount, key, fingerprint=fingerprint, reference=reference, reason=reason)
    events.record(uow, order, E.PAYMENT_REFUNDED, data={
        "paymentId": str(payment.id), "amount": str(amount), "currency": payment.currency, "reason": reason,
        # Money received by transfer or cash goes back the same way, by staff; we record that it is owed.
        "manual": payment.method != PaymentMethod.CARD, "reference": reference,
    })


async def refund_payment(*, uow: UnitOfWork, payment_id: uuid.UUID, amount: Decimal, reason: str, idempotency_key: str | None = None) -> Payment:
    """Refund part or all of what a payment captured; credits the invoice by the same amount if there is one."""
    order, payment = await lock_payment(uow, payment_id)
    client_key = check_idempotency_key(idempotency_key)
    fingerprint = _digest("refund", payment.id, amount, reason)
    key = f"{payment.id}:refund:key:{_digest(client_key)[:40]}" if client_key else None
    if (replayed := await _replayed(uow, key, fingerprint)) is not None:
        return replayed
    _check_amount(amount, ("amount",))
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A reason of 1 to {MAX_REASON} characters is required.", ("reason",))
    refundable = payment.captured_amount - payment.refunded_amount
    if amount > refundable:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"Refunds cannot exceed what was captured: {refundable} {payment.currency} is refundable.",
                          ("amount",))
    await _refund(uow, order, payment, amount, reason, key or await _next_key(uow, payment, Op.REFUND), fingerprint if key else None)
    invoice = await invoicing.invoice_for_order(uow, order.id)
    if invoice is not None:
        left = invoicing.remaining_credit(invoice, await invoicing.credit_notes_of(uow, invoice))
        if left > 0:
            await invoicing.issue_credit_note(uow=uow, invoice=invoice, reason=reason, amount=min(amount, left))
    await refresh_order_status(uow, order)
    return payment


async def settle_cancelled_order(*, uow: UnitOfWork, order: Order, reason: str = "order cancelled") -> None:
    """Void what is only authorised or expected, refund what was captured, credit what was invoiced."""
    for payment in await payments_of(uow, order.id, lock=True):
        if payment.status == Tx.PENDING:
            payment.status, payment.expires_at = Tx.VOIDED if payment.captured_amount == 0 else Tx.CAPTURED, None
            if payment.captured_amount == 0:
                events.record(uow, order, E.PAYMENT_VOIDED, data={"paymentId": str(payment.id), "method": payment.method, "reason": reason})
        elif payment.status == Tx.AUTHORIZED:
            key = f"{payment.id}:void"
            result = await provider().void(authorization=payment.reference or "", idempotency_key=key)
            if not result.approved:
                raise _refuse(result, ("order_id",), "released")
            _record_operation(uow, payment, Op.VOID, payment.amount - payment.captured_amount, key, reference=result.reference, reason=reason)
            payment.status = Tx.VOIDED if payment.captured_amount == 0 else Tx.CAPTURED
            events.record(uow, order, E.PAYMENT_VOIDED, data={"paymentId": str(payment.id), "amount": str(payment.amount - payment.captured_amount),
                                                             "reason": reason})
        refundable = payment.captured_amount - payment.refunded_amount
        if refundable > 0:
            await _refund(uow, order, payment, refundable, reason, await _next_key(uow, payment, Op.REFUND), None)
    invoice = await invoicing.invoice_for_order(uow, order.id)
    if invoice is not None:
        await invoicing.issue_credit_note(uow=uow, invoice=invoice, reason=reason)
    await refresh_order_status(uow, order)


# --- refunds of returned lines (returns, issue 6) ------------------------------------------------

def _gross_of_order_lines(order_lines: Sequence[OrderLine], credited_before: Sequence[dict[str, Any]],
                          lines: Sequence[invoicing.CreditLine], shipping: Decimal = ZERO) -> Decimal:
    """What those units cost the customer incl. VAT when no invoice was issued: net per line,
    VAT rounded once per rate, as the order's own totals are computed. Units credited by earlier
    refund_lines calls (`credited_before`) cannot be credited again. `shipping` (the order's shipping with its
    VAT, issue 19) is added when these are the last units: the whole order came back, as a credit note would."""
    by_sku: dict[str, OrderLine] = {}
    ordered: dict[str, int] = {}
    for order_line in order_lines:
        by_sku.setdefault(order_line.sku, order_line)
        ordered[order_line.sku] = ordered.get(order_line.sku, 0) + order_line.quantity
    for earlier in credited_before:
        if earlier["sku"] in ordered:
            ordered[earlier["sku"]] -= earlier["quantity"]
    wanted: dict[str, int] = {}
    pairs = []
    for i, line in enumerate(lines):
        row = by_sku.get(line.sku)
        if row is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"{line.sku} is not on this order.", ("lines", i, "sku"))
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
        if line.quantity < 1 or wanted[line.sku] > ordered[line.sku]:
            raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {ordered[line.sku]} of {line.sku} can still be credited.",
                              ("lines", i, "quantity"))
        pairs.append((line_total(row.unit_price, line.quantity), row.tax_rate))
    totals = compute_totals(pairs)
    last = all(ordered[sku] == wanted.get(sku, 0) for sku in ordered)
    return totals.subtotal + totals.tax_total + (shipping if last else ZERO)


async def _earlier_lines_refund(uow: UnitOfWork, order: Order, marker: str, requested: list[dict[str, Any]]) -> tuple[Decimal, Invoice | None] | None:
    """The result of an earlier refund_lines with the same operation key, in this unit or committed."""
    data = next((e["data"] for e in uow.pending_events
                 if e["order_id"] == order.id and e["type"] == E.LINES_REFUNDED and e["data"]["operation"] == marker), None)
    if data is None:
        data = (
            await uow.session.execute(
                select(OrderEvent.data).where(OrderEvent.order_id == order.id, OrderEvent.type == E.LINES_REFUNDED,
                                              OrderEvent.data["operation"].astext == marker)
            )
        ).scalar_one_or_none()
    if data is None:
        return None
    if data["lines"] != requested:
        raise DomainError(ErrorCode.IDEMPOTENCY_CONFLICT, "This operation was already carried out with other lines.", ("lines",))
    note = None
    if data.get("creditNote"):
        note = (await uow.session.execute(select(Invoice).where(Invoice.number == data["creditNote"]))).scalar_one()
    return Decimal(data["amount"]), note


async def refund_lines(
    *, uow: UnitOfWork, order: Order, lines: Sequence[invoicing.CreditLine], reason: str, operation_key: str,
    refund_limit: Decimal | None = None,
) -> tuple[Decimal, Invoice | None]:
    """Credit and refund units of the order (returned goods). The caller holds the order row lock.

    - With an invoice: a credit note for those units at the invoiced prices, referencing it; the
      amount to refund is the note's gross total. Without one: the units' gross at the order's
      prices incl. VAT, and no document.
    - That amount goes back through the order's payments, oldest first, never more than each
      captured minus refunded: a card through the provider, a transfer/cash/other recorded as a
      manual refund owed. If less was captured (cash on delivery not yet collected), only what was
      captured is refunded — possibly 0 — and the units are still credited.
    - `refund_limit` caps the money sent back while the units are still credited in full (an
      exchange: the returned goods' value paid for the replacement; only a surplus goes back).
    - `operation_key` (unique per refund, e.g. the return's id) derives the provider keys, so a
      retry after a crash between the provider's refund and our commit is replayed by the provider,
      and a call repeated after commit returns the first result without acting again.

    Returns (amount refunded, credit note or None). Refuses unknown SKUs and more units than
    invoiced/ordered and not yet credited (NOT_FOUND / LIMIT_EXCEEDED).
    """
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A reason of 1 to {MAX_REASON} characters is required.", ("reason",))
    if not operation_key or len(operation_key) > MAX_KEY:
        raise DomainError(ErrorCode.INVALID_INPUT, f"The operation key must be 1 to {MAX_KEY} characters.", ("operation_key",))
    if not lines:
        raise DomainError(ErrorCode.INVALID_INPUT, "Nothing to refund.", ("lines",))
    marker = _digest("refund-lines", order.id, operation_key)[:40]
    requested = [{"sku": line.sku, "quantity": line.quantity} for line in lines]
    if (earlier := await _earlier_lines_refund(uow, order, marker, requested)) is not None:
        return earlier

    invoice = await invoicing.invoice_for_order(uow, order.id)
    note: Invoice | None = None
    if invoice is not None:
        note = await invoicing.issue_credit_note(uow=uow, invoice=invoice, reason=reason, lines=lines)
        owed = -note.total if note is not None else ZERO
    else:
        order_lines = (
            await uow.session.execute(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.position))
        ).scalars().all()
        earlier_events = list((
            await uow.session.execute(select(OrderEvent.data).where(OrderEvent.order_id == order.id, OrderEvent.type == E.LINES_REFUNDED))
        ).scalars().all())
        earlier_events += [e["data"] for e in uow.pending_events if e["order_id"] == order.id and e["type"] == E.LINES_REFUNDED]
        credited_before = [line for data in earlier_events for line in data["lines"]]
        owed = _gross_of_order_lines(order_lines, credited_before, lines, shipping=order.shipping_total + order.shipping_tax)

    credited = owed
    if refund_limit is not None:
        if not refund_limit.is_finite() or refund_limit < 0:
            raise DomainError(ErrorCode.INVALID_INPUT, "The refund limit cannot be negative.", ("refund_limit",))
        owed = min(owed, refund_limit)
    refunded = ZERO
    for payment in await payments_of(uow, order.id, lock=True):
        share = min(owed - refunded, payment.captured_amount - payment.refunded_amount)
        if share <= 0:
            continue
        # One provider key per (operation, payment): the same on every retry of this operation.
        await _refund(uow, order, payment, share, reason, f"{payment.id}:refund:lines:{marker}", None)
        refunded += share
        if refunded >= owed:
            break
    events.record(uow, order, E.LINES_REFUNDED, data={
        "operation": marker, "amount": str(refunded), "credited": str(credited), "currency": order.currency, "reason": reason,
        "creditNote": note.number if note is not None else None,
        "lines": requested,
    })
    await refresh_order_status(uow, order)
    return refunded, note


# --- money received after the order expired unpaid (holds, issue 18) ------------------------------------------

LATE_REASON = "received after the order was cancelled unpaid"


async def record_late_payment(
    *, uow: UnitOfWork, order: Order, method: PaymentMethod, amount: Decimal, reference: str | None = None,
    idempotency_key: str | None = None,
) -> Payment:
    """Money recorded for an order the expiry worker cancelled UNPAID (the caller holds the order row lock): it is
    recorded as received and, in the same unit, owed back (a manual refund, PAYMENT_REFUNDED manual=true), with a
    LATE_PAYMENT_RECEIVED event for staff. It is never attached to the order, which stays CANCELLED. The same checks
    and idempotency as `record_payment` (the same client key replays the first answer)."""
    key, fingerprint, replayed = await _prepare_record(uow, order, method, amount, reference, idempotency_key)
    if replayed is not None:
        return replayed
    payment = Payment(id=uuid.uuid4(), order_id=order.id, method=method, status=Tx.CAPTURED, currency=order.currency, amount=amount,
                      captured_amount=amount, refunded_amount=ZERO, reference=reference)
    uow.session.add(payment)
    await uow.session.flush()
    _record_operation(uow, payment, Op.RECORD, amount, key or await _next_key(uow, payment, Op.RECORD), fingerprint=fingerprint, reference=reference)
    events.record(uow, order, E.PAYMENT_RECEIVED, data={"paymentId": str(payment.id), "method": method, "amount": str(amount),
                                                       "currency": order.currency, "reference": reference})
    events.record(uow, order, E.LATE_PAYMENT_RECEIVED, data={"paymentId": str(payment.id), "method": method, "amount": str(amount),
                                                            "currency": order.currency, "reference": reference, "refundOwed": str(amount),
                                                            "reason": LATE_REASON})
    await _refund(uow, order, payment, amount, LATE_REASON, f"{payment.id}:refund:late", None)
    await refresh_order_status(uow, order)
    return payment
# --- for order edits and line cancellations (issue 18: app/billing/adjustments.py) ----------------------------


async def refund(uow: UnitOfWork, order: Order, payment: Payment, amount: Decimal, *, reason: str, key: str) -> None:
    """Refund `amount` of what `payment` captured under provider key `key` (the caller holds the order row lock and
    derives `key` from committed state): a card through the provider, other methods recorded as a manual refund owed."""
    await _refund(uow, order, payment, amount, reason, key, None)


async def capture(uow: UnitOfWork, order: Order, payment: Payment, amount: Decimal, *, key: str) -> None:
    """Capture `amount` of an authorised card payment under provider key `key` (the caller holds the order row lock)."""
    await _capture(uow, order, payment, amount, key, None)


def record_operation(uow: UnitOfWork, payment: Payment, kind: Op, amount: Decimal, key: str, *, reference: str | None = None,
                     reason: str | None = None) -> None:
    """One provider call (or manual record) on `payment`, in the payment's ledger."""
    _record_operation(uow, payment, kind, amount, key, reference=reference, reason=reason)


def refused(result: ProviderResult, path: Path, what: str) -> DomainError:
    """PAYMENT_DECLINED (the provider said no) or UNAVAILABLE (it could not answer), naming what was not done."""
    return _refuse(result, path, what)
