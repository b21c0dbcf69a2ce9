"""Bulk import of orders placed elsewhere (a marketplace's batch, issue 17): each row goes through the ordinary
placement (`placement.place`, the path of `placeOrder`) in its own transactions, so a bad row never blocks the
others and every import rule is placeOrder's.

Idempotent per external reference: a row's idempotency key is derived from (channel, marketplace, reference), so
`place` itself (advisory lock, fingerprint comparison, the first answer again) decides:
- first time: CREATED;
- the same row again (a duplicate in the file, a rerun after a crash): ALREADY_IMPORTED with the first order;
- the same reference with another content: FAILED, IDEMPOTENCY_CONFLICT at ("external_reference",), with the first order.
The reference and marketplace are stored on the order; a unique index on them is the backstop.

A row marked `paid_externally` (paid at the marketplace) then records that money (`flows.payment.record_payment`,
its own transaction, idempotent per order): on CREATED and on ALREADY_IMPORTED alike, so a crash between the two
steps is completed by the rerun.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode, collect
from app.flows import payment, placement
from app.infra.database import Database, UnitOfWork
from app.orders.enums import PaymentMethod, PaymentStatus
from app.orders.service import PlaceOrderRequest
from models import Order

KEY_PREFIX = "import:"
MAX_ROWS = 500  # per importOrders call
MAX_REFERENCE = 100
MARKETPLACE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
PAID_KEY = "import-paid"  # record_payment's key (scoped to the order by billing)


class ImportOutcome(StrEnum):
    CREATED = "CREATED"
    ALREADY_IMPORTED = "ALREADY_IMPORTED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One order to import: a placement request (its idempotency key is derived here) plus where it comes from."""

    request: PlaceOrderRequest
    external_reference: str
    marketplace: str | None = None
    paid_externally: bool = False


@dataclass(slots=True)
class ImportResult:
    outcome: ImportOutcome
    order: Order | None = None
    errors: list[DomainError] = field(default_factory=list)


def import_key(channel: str, marketplace: str | None, reference: str) -> str:
    return f"{KEY_PREFIX}{channel}:{marketplace or ''}:{reference}"


def _checked(row: ImportRow) -> PlaceOrderRequest:
    errors: list[DomainError] = []
    reference = row.external_reference.strip()
    if not reference:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "externalReference is required.", ("external_reference",)))
    elif len(reference) > MAX_REFERENCE or any(ord(ch) < 32 for ch in reference):
        errors.append(DomainError(ErrorCode.INVALID_INPUT, f"externalReference is 1-{MAX_REFERENCE} printable characters.",
                                  ("external_reference",)))
    marketplace = row.marketplace.strip() if row.marketplace is not None else None
    if marketplace is not None and not MARKETPLACE.fullmatch(marketplace):
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "marketplace is a code of 1-64 lowercase letters, digits or . _ -",
                                  ("marketplace",)))
    method = row.request.payment_method
    if method is not None and str(getattr(method, "value", method)) == PaymentMethod.CARD:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Imported orders cannot be charged by card; use paidExternally.",
                                  ("payment", "method")))
    if row.request.payment_token:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Imported orders take no payment token.", ("payment", "token")))
    collect(errors)
    channel = str(getattr(row.request.channel, "value", row.request.channel))
    return replace(row.request, idempotency_key=import_key(channel, marketplace, reference), external_reference=reference, charge_shipping=False,
                   marketplace=marketplace)


async def _first_order(db: Database, request: PlaceOrderRequest) -> Order | None:
    async def read(session: AsyncSession) -> Order | None:
        return (await session.execute(select(Order).where(Order.idempotency_key == request.idempotency_key))).scalar_one_or_none()

    return await db.query(read, primary=True)


async def _paid(db: Database, order: Order, *, method: PaymentMethod | None, actor: str | None) -> Order:
    """Record the money received at the marketplace (once per order, whatever the reruns); the order as it is then."""
    if order.payment_status == PaymentStatus.PAID:
        return order

    async def work(uow: UnitOfWork) -> Order:
        await payment.record_payment(uow=uow, order_id=order.id, method=PaymentMethod(method or PaymentMethod.OTHER), amount=order.total,
                                     reference=order.external_reference, idempotency_key=PAID_KEY)
        return await uow.session.get_one(Order, order.id)

    return await db.run(work, actor=actor)


async def import_order(db: Database, *, row: ImportRow, actor: str | None) -> ImportResult:
    """One row: CREATED / ALREADY_IMPORTED with its order, or FAILED with its errors (paths as the row's own)."""
    try:
        request = _checked(row)
        placed = await placement.place(db, request=request, actor=actor)
    except DomainError as exc:
        order = None
        if exc.code == ErrorCode.IDEMPOTENCY_CONFLICT:
            exc = DomainError(ErrorCode.IDEMPOTENCY_CONFLICT, "This externalReference was imported with a different order content.",
                              ("external_reference",))
            order = await _first_order(db, _checked(row))
        return ImportResult(ImportOutcome.FAILED, order, [exc])
    outcome = ImportOutcome.CREATED if placed.events else ImportOutcome.ALREADY_IMPORTED
    order = placed.order
    if row.paid_externally:
        try:
            order = await _paid(db, order, method=request.payment_method, actor=actor)
        except DomainError as exc:
            return ImportResult(ImportOutcome.FAILED, order, [DomainError(exc.code, exc.message, ("paid_externally",))])
    return ImportResult(outcome, order)
