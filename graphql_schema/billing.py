"""Payments, invoices and credit notes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from graphql_schema.common import Money, Node, UserError, money
from graphql_schema.enums import InvoiceKind, PaymentMethod, PaymentTransactionStatus
from resolvers import billing as resolve
from resolvers.ids import to_global_id

if TYPE_CHECKING:
    from graphql_schema.orders import Order


@strawberry.type
class Payment(Node):
    method: PaymentMethod
    status: PaymentTransactionStatus
    reference: str | None = strawberry.field(description="provider or bank reference")
    created_at: datetime
    expires_at: datetime | None = strawberry.field(description="an unpaid bank transfer's order is cancelled after this")

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Payment", self.id))

    @strawberry.field(description="authorised or expected")
    def amount(self) -> Money:
        return Money(amount=self.amount, currency=self.currency)

    @strawberry.field
    def captured_amount(self) -> Money:
        return Money(amount=self.captured_amount, currency=self.currency)

    @strawberry.field
    def refunded_amount(self) -> Money:
        return Money(amount=self.refunded_amount, currency=self.currency)


@strawberry.type
class TaxBreakdown:
    rate: Decimal

    @strawberry.field
    def base(self) -> Money:
        return money(self.base, self.currency)

    @strawberry.field
    def tax(self) -> Money:
        return money(self.tax, self.currency)


@strawberry.type
class InvoiceLine:
    sku: str | None = strawberry.field(description="absent on a credit note line that credits an amount rather than goods")
    description: str
    quantity: int = strawberry.field(description="negative on a credit note")
    tax_rate: Decimal

    @strawberry.field
    def unit_price(self) -> Money:
        return money(self.unit_price, self.currency)

    @strawberry.field(description="quantity x unitPrice, before tax")
    def total(self) -> Money:
        return money(self.total, self.currency)


@strawberry.type
class Invoice(Node):
    number: str = strawberry.field(description='gapless within its series, e.g. "F2026-000042"')
    series: str
    kind: InvoiceKind
    issued_at: datetime
    order: Annotated["Order", strawberry.lazy("graphql_schema.orders")] = strawberry.field(resolver=resolve.invoice_order)
    corrects: Invoice | None = strawberry.field(resolver=resolve.invoice_corrects, description="the invoice a credit note corrects")
    tax_breakdown: list[TaxBreakdown] = strawberry.field(resolver=resolve.invoice_tax_breakdown)
    pdf_url: str = strawberry.field(resolver=resolve.invoice_pdf_url, description="authorised download")
    html_url: str = strawberry.field(resolver=resolve.invoice_html_url, description="authorised download, HTML")
    lines: list[InvoiceLine] = strawberry.field(resolver=resolve.invoice_lines, description="as frozen at issue")
    reason: str | None = strawberry.field(description="why a credit note was issued")
    order_number: str

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Invoice", self.id))

    @strawberry.field(description="negative on a credit note")
    def subtotal(self) -> Money:
        return Money(amount=self.subtotal, currency=self.currency)

    @strawberry.field
    def tax_total(self) -> Money:
        return Money(amount=self.tax_total, currency=self.currency)

    @strawberry.field
    def total(self) -> Money:
        return Money(amount=self.total, currency=self.currency)


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
    order: Annotated["Order", strawberry.lazy("graphql_schema.orders")] | None
    user_errors: list[UserError]
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced.")


@strawberry.type
class InvoicePayload:
    invoice: Invoice | None
    user_errors: list[UserError]
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced.")
