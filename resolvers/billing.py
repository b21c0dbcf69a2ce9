"""Payments and invoices: reads (scoped, batched) and the billing mutations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from app.billing import invoicing, payments
from app.flows import payment as payment_flow
from app.infra.database import UnitOfWork
from models import Order
from models.billing import Invoice, Payment
from resolvers import pagination
from resolvers.errors import run_mutation
from resolvers.ids import decode_id
from resolvers.inputs import CapturePaymentArgs, OrderIdArgs, RecordPaymentArgs, RefundPaymentArgs
from resolvers.planner.api import Planned, planned
from resolvers.types import Info, MutationPayload

PAYMENTS_READ, PAYMENTS_WRITE = "payments:read", "payments:write"
INVOICES_READ, INVOICES_WRITE = "invoices:read", "invoices:write"


@dataclass(frozen=True, slots=True)
class TaxLine:
    """One rate of an invoice's tax breakdown, as frozen at issue."""

    rate: Decimal
    base: Decimal
    tax: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One line of an invoice, as frozen at issue."""

    sku: str | None
    description: str
    quantity: int
    tax_rate: Decimal
    unit_price: Decimal
    total: Decimal
    currency: str


def _payments_by_order(info: Info) -> DataLoader[uuid.UUID, list[Payment]]:
    return info.context.loaders.extra("payments_by_order", lambda loaders: loaders.grouped(Payment, Payment.order_id, Payment.created_at))


def _invoices_by_order(info: Info) -> DataLoader[uuid.UUID, list[Invoice]]:
    return info.context.loaders.extra("invoices_by_order", lambda loaders: loaders.grouped(Invoice, Invoice.order_id, Invoice.issued_at))


async def order_invoices(root: Order, info: Info) -> list[Invoice]:
    await info.context.require(INVOICES_READ)
    return await _invoices_by_order(info).load(root.id)


async def order_payments(root: Order, info: Info) -> list[Payment]:
    await info.context.require(PAYMENTS_READ)
    return await _payments_by_order(info).load(root.id)


async def invoice_order(root: Invoice, info: Info) -> Order | None:
    return await info.context.loaders.order.load(root.order_id)


async def invoice_corrects(root: Invoice, info: Info) -> Invoice | None:
    return None if root.corrects_id is None else await info.context.loaders.by_id(Invoice).load(root.corrects_id)


async def invoice_tax_breakdown(root: Invoice, info: Info) -> list[TaxLine]:
    return [
        TaxLine(rate=Decimal(row["rate"]), base=Decimal(row["base"]), tax=Decimal(row["tax"]), currency=root.currency)
        for row in root.tax_breakdown
    ]


def invoice_lines(root: Invoice) -> list[InvoiceLine]:
    return [
        InvoiceLine(sku=row["sku"], description=row["description"], quantity=row["quantity"], tax_rate=Decimal(row["tax_rate"]),
                    unit_price=Decimal(row["unit_price"]), total=Decimal(row["total"]), currency=root.currency)
        for row in root.lines
    ]


def invoice_pdf_url(root: Invoice) -> str:
    return f"/documents/invoices/{root.number}.pdf"


def invoice_html_url(root: Invoice) -> str:
    return f"/documents/invoices/{root.number}.html"


async def invoices(
    info: Info, first: int | None = None, after: str | None = None, order_id: str | None = None
) -> pagination.Connection[Invoice] | Planned:
    """Newest first, keyset-paginated on (issued_at, id)."""
    await info.context.require(INVOICES_READ)
    if (json := await planned(info, "Query.invoices", {"first": first, "after": after, "order_id": order_id})) is not None:
        return json
    conditions = pagination.order_filter(Invoice.order_id, order_id)
    return await pagination.newest_first(info.context.db, Invoice, Invoice.issued_at, conditions, first, after)


async def invoice(info: Info, number: str) -> Invoice | Planned | None:
    await info.context.require(INVOICES_READ)
    if (json := await planned(info, "Query.invoice", {"number": number})) is not None:
        return json
    async with info.context.db.read() as session:
        return (await session.execute(select(Invoice).where(Invoice.number == number.strip()))).scalar_one_or_none()


def _payment_payload(result: tuple[Payment, Order] | None) -> dict[str, object]:
    payment, order = result if result is not None else (None, None)
    return {"payment": payment, "order": order}


async def _with_order(uow: UnitOfWork, payment: Payment) -> tuple[Payment, Order]:
    order = await uow.session.get(Order, payment.order_id)  # locked and loaded by the service already
    assert order is not None
    return payment, order


async def capture_payment(info: Info, input: CapturePaymentArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> tuple[Payment, Order]:
        payment_id = decode_id(input.payment_id, "Payment", ["input", "paymentId"])
        payment = await payments.capture_payment(uow=uow, payment_id=payment_id, amount=input.amount, idempotency_key=input.idempotency_key)
        return await _with_order(uow, payment)

    return await run_mutation(info, scope=PAYMENTS_WRITE, action=work, payload=_payment_payload)


async def record_payment(info: Info, input: RecordPaymentArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> tuple[Payment, Order]:
        order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
        payment = await payment_flow.record_payment(uow=uow, order_id=order_id, method=input.method, amount=input.amount,
                                                reference=input.reference, idempotency_key=input.idempotency_key)
        return await _with_order(uow, payment)

    return await run_mutation(info, scope=PAYMENTS_WRITE, action=work, payload=_payment_payload)


async def refund_payment(info: Info, input: RefundPaymentArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> tuple[Payment, Order]:
        payment_id = decode_id(input.payment_id, "Payment", ["input", "paymentId"])
        payment = await payments.refund_payment(uow=uow, payment_id=payment_id, amount=input.amount, reason=input.reason,
                                                idempotency_key=input.idempotency_key)
        return await _with_order(uow, payment)

    return await run_mutation(info, scope=PAYMENTS_WRITE, action=work, payload=_payment_payload)


async def issue_invoice(info: Info, input: OrderIdArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Invoice:
        order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
        return await invoicing.issue_invoice_for_order(uow=uow, order_id=order_id)

    return await run_mutation(info, scope=INVOICES_WRITE, action=work, payload=lambda invoice: {"invoice": invoice})

