"""Payments, invoices and credit notes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

import models.billing
from graphql_schema.common import Money, Node, UserError, money
from graphql_schema.enums import InvoiceKind, PaymentMethod, PaymentTransactionStatus
from resolvers import billing as resolve

if TYPE_CHECKING:
    from graphql_schema.orders import Order

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.orders")]
InvoiceRef = Annotated["Invoice", strawberry.lazy("graphql_schema.billing")]  # a self-reference inside the class body


@strawberry.type
class Payment(Node):
    method: PaymentMethod
    status: PaymentTransactionStatus
    reference: str | None = strawberry.field(description="provider or bank reference")
    created_at: datetime
    expires_at: datetime | None = strawberry.field(description="an unpaid bank transfer's order is cancelled after this")

    @strawberry.field(description="authorised or expected")
    def amount(root: models.billing.Payment) -> Money:
        return Money(amount=root.amount, currency=root.currency)

    @strawberry.field
    def captured_amount(root: models.billing.Payment) -> Money:
        return Money(amount=root.captured_amount, currency=root.currency)

    @strawberry.field
    def refunded_amount(root: models.billing.Payment) -> Money:
        return Money(amount=root.refunded_amount, currency=root.currency)


@strawberry.type
class TaxBreakdown:
    rate: Decimal

    @strawberry.field
    def base(root: resolve.TaxLine) -> Money:
        return money(root.base, root.currency)

    @strawberry.field
    def tax(root: resolve.TaxLine) -> Money:
        return money(root.tax, root.currency)


@strawberry.type
class InvoiceLine:
    sku: str | None = strawberry.field(description="absent on a credit note line that credits an amount rather than goods")
    description: str
    quantity: int = strawberry.field(description="negative on a credit note")
    tax_rate: Decimal

    @strawberry.field
    def unit_price(root: resolve.InvoiceLine) -> Money:
        return money(root.unit_price, root.currency)

    @strawberry.field(description="quantity x unitPrice, before tax")
    def total(root: resolve.InvoiceLine) -> Money:
        return money(root.total, root.currency)


@strawberry.type
class Invoice(Node):
    number: str = strawberry.field(description='gapless within its series, e.g. "F2026-000042"')
    series: str
    kind: InvoiceKind
    issued_at: datetime
    order: models.Order | None = strawberry.field(resolver=resolve.invoice_order, graphql_type=OrderRef)
    corrects: models.billing.Invoice | None = strawberry.field(
        resolver=resolve.invoice_corrects, graphql_type=InvoiceRef | None, description="the invoice a credit note corrects"
    )
    tax_breakdown: list[resolve.TaxLine] = strawberry.field(resolver=resolve.invoice_tax_breakdown, graphql_type=list[TaxBreakdown])
    pdf_url: str = strawberry.field(resolver=resolve.invoice_pdf_url, description="authorised download")
    html_url: str = strawberry.field(resolver=resolve.invoice_html_url, description="authorised download, HTML")
    lines: list[resolve.InvoiceLine] = strawberry.field(resolver=resolve.invoice_lines, graphql_type=list[InvoiceLine], description="as frozen at issue")
    reason: str | None = strawberry.field(description="why a credit note was issued")
    order_number: str

    @strawberry.field(description="negative on a credit note")
    def subtotal(root: models.billing.Invoice) -> Money:
        return Money(amount=root.subtotal, currency=root.currency)

    @strawberry.field
    def tax_total(root: models.billing.Invoice) -> Money:
        return Money(amount=root.tax_total, currency=root.currency)

    @strawberry.field
    def total(root: models.billing.Invoice) -> Money:
        return Money(amount=root.total, currency=root.currency)


@strawberry.input
class CapturePaymentInput:
    payment_id: strawberry.ID
    amount: Decimal | None = strawberry.field(default=None, description="absent: all that is authorised")
    idempotency_key: str | None = None


@strawberry.input
class RecordPaymentInput:
    order_id: strawberry.ID
    method: PaymentMethod
    amount: Decimal
    reference: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class RefundPaymentInput:
    payment_id: strawberry.ID
    amount: Decimal
    reason: str
    idempotency_key: str | None = None


@strawberry.type
class PaymentPayload:
    payment: Payment | None
    order: OrderRef | None
    user_errors: list[UserError]
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced.")


@strawberry.type
class InvoicePayload:
    invoice: Invoice | None
    user_errors: list[UserError]
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced.")
