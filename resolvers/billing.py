"""Payments and invoices: reads (scoped, batched) and the billing mutations."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from strawberry.types import Info

from app.billing import invoicing, payments
from app.flows import payment as payment_flow
from models import Order
from models.billing import Invoice, Payment
from resolvers import pagination
from resolvers.errors import run_mutation
from resolvers.ids import decode_id

PAYMENTS_READ, PAYMENTS_WRITE = "payments:read", "payments:write"
INVOICES_READ, INVOICES_WRITE = "invoices:read", "invoices:write"


def is_payment(obj: Any) -> bool:
    return isinstance(obj, Payment)


def is_invoice(obj: Any) -> bool:
    return isinstance(obj, Invoice)


def _payments_by_order(info: Info) -> Any:
    return info.context.loaders.extra("payments_by_order", lambda l: l.grouped(Payment, Payment.order_id, Payment.created_at))


def _invoices_by_order(info: Info) -> Any:
    return info.context.loaders.extra("invoices_by_order", lambda l: l.grouped(Invoice, Invoice.order_id, Invoice.issued_at))


def _invoice_by_id(info: Info) -> Any:
    return info.context.loaders.extra("invoice_by_id", lambda l: l.by_key(Invoice, Invoice.id))


def _payment_by_id(info: Info) -> Any:
    return info.context.loaders.extra("payment_by_id", lambda l: l.by_key(Payment, Payment.id))


async def order_invoices(root: Order, info: Info) -> list[Any]:
    await info.context.require(INVOICES_READ)
    return await _invoices_by_order(info).load(root.id)


async def order_payments(root: Order, info: Info) -> list[Any]:
    await info.context.require(PAYMENTS_READ)
    return await _payments_by_order(info).load(root.id)


async def invoice_order(root: Any, info: Info) -> Any:
    return await info.context.loaders.order.load(root.order_id)


async def invoice_corrects(root: Any, info: Info) -> Any:
    return None if root.corrects_id is None else await _invoice_by_id(info).load(root.corrects_id)


async def invoice_tax_breakdown(root: Any, info: Info) -> list[Any]:
    return [
        SimpleNamespace(rate=Decimal(row["rate"]), base=Decimal(row["base"]), tax=Decimal(row["tax"]), currency=root.currency)
        for row in root.tax_breakdown
    ]


def invoice_lines(root: Any) -> list[Any]:
    return [
        SimpleNamespace(sku=row["sku"], description=row["description"], quantity=row["quantity"], tax_rate=Decimal(row["tax_rate"]),
                        unit_price=Decimal(row["unit_price"]), total=Decimal(row["total"]), currency=root.currency)
        for row in root.lines
    ]


def invoice_pdf_url(root: Any) -> str:
    return f"/documents/invoices/{root.number}.pdf"


def invoice_html_url(root: Any) -> str:
    return f"/documents/invoices/{root.number}.html"


async def invoices(info: Info, first: int | None = None, after: str | None = None, order_id: str | None = None) -> Any:
    """Newest first, keyset-paginated on (issued_at, id)."""
    await info.context.require(INVOICES_READ)
    conditions = pagination.order_filter(Invoice.order_id, order_id)
    return await pagination.newest_first(info.context.db, Invoice, Invoice.issued_at, conditions, first, after)


async def invoice(info: Info, number: str) -> Any:
    await info.context.require(INVOICES_READ)
    async with info.context.db.read() as session:
        return (await session.execute(select(Invoice).where(Invoice.number == number.strip()))).scalar_one_or_none()


def _payment_payload(result: tuple[Payment, Order] | None) -> dict[str, Any]:
    payment, order = result if result is not None else (None, None)
    return {"payment": payment, "order": order}


async def _with_order(uow: Any, payment: Payment) -> tuple[Payment, Order]:
    order = await uow.session.get(Order, payment.order_id)  # locked and loaded by the service already
    assert order is not None
    return payment, order


async def capture_payment(info: Info, input: Any) -> Any:
    async def work(uow: Any) -> tuple[Payment, Order]:
        payment_id = decode_id(input.payment_id, "Payment", ["input", "paymentId"])
        payment = await payments.capture_payment(uow=uow, payment_id=payment_id, amount=input.amount, idempotency_key=input.idempotency_key)
        return await _with_order(uow, payment)

    return await run_mutation(info, scope=PAYMENTS_WRITE, action=work, payload=_payment_payload)


async def record_payment(info: Info, input: Any) -> Any:
    async def work(uow: Any) -> tuple[Payment, Order]:
        order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
        payment = await payment_flow.record_payment(uow=uow, order_id=order_id, method=input.method, amount=input.amount,
                                                reference=input.reference, idempotency_key=input.idempotency_key)
        return await _with_order(uow, payment)

    return await run_mutation(info, scope=PAYMENTS_WRITE, action=work, payload=_payment_payload)


async def refund_payment(info: Info, input: Any) -> Any:
    async def work(uow: Any) -> tuple[Payment, Order]:
        payment_id = decode_id(input.payment_id, "Payment", ["input", "paymentId"])
        payment = await payments.refund_payment(uow=uow, payment_id=payment_id, amount=input.amount, reason=input.reason,
                                                idempotency_key=input.idempotency_key)
        return await _with_order(uow, payment)

    return await run_mutation(info, scope=PAYMENTS_WRITE, action=work, payload=_payment_payload)


async def issue_invoice(info: Info, input: Any) -> Any:
    async def work(uow: Any) -> Invoice:
        order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
        return await invoicing.issue_invoice_for_order(uow=uow, order_id=order_id)

    return await run_mutation(info, scope=INVOICES_WRITE, action=work, payload=lambda invoice: {"invoice": invoice})


async def load_payment(info: Info, key: Any) -> Any:
    return await _payment_by_id(info).load(key)


async def load_invoice(info: Info, key: Any) -> Any:
    return await _invoice_by_id(info).load(key)
