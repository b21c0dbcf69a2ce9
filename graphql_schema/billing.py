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
IDEMPOTENCY_KEY = ("1 to 200 characters. The same key and input again answer the first result and change nothing; the same key with other "
                   "input is IDEMPOTENCY_CONFLICT. Without a key, a retried request with an amount runs again.")


@strawberry.type(description="One payment of an order: a card authorisation (captured in one or more steps), or a bank transfer, cash or "
                  "other money recorded by staff. Needs payments:read.")
class Payment(Node):
    method: PaymentMethod = strawberry.field(description="How it is paid.")
    status: PaymentTransactionStatus = strawberry.field(description="Where it stands.")
    reference: str | None = strawberry.field(description="provider or bank reference")
    created_at: datetime = strawberry.field(description="When it was opened (UTC).")
    expires_at: datetime | None = strawberry.field(description="If the order is still unpaid at this moment, it is cancelled (e.g. a bank "
                                                   "transfer's deadline); null when there is none.")

    @strawberry.field(description="authorised or expected")
    def amount(root: models.billing.Payment) -> Money:
        return Money(amount=root.amount, currency=root.currency)

    @strawberry.field(description="Taken so far: captured (a card) or received (a transfer, cash).")
    def captured_amount(root: models.billing.Payment) -> Money:
        return Money(amount=root.captured_amount, currency=root.currency)

    @strawberry.field(description="Refunded so far; never more than was captured.")
    def refunded_amount(root: models.billing.Payment) -> Money:
        return Money(amount=root.refunded_amount, currency=root.currency)


@strawberry.type(description="The VAT at one rate, as printed on the invoice.")
class TaxBreakdown:
    rate: Decimal = strawberry.field(description="The VAT rate as a fraction (\"0.21\" is 21%).")

    @strawberry.field(description="The net amount taxed at this rate (negative on a credit note).")
    def base(root: resolve.TaxLine) -> Money:
        return money(root.base, root.currency)

    @strawberry.field(description="base x rate, rounded once (negative on a credit note).")
    def tax(root: resolve.TaxLine) -> Money:
        return money(root.tax, root.currency)


@strawberry.type(description="One line of an invoice or credit note, as frozen at issue.")
class InvoiceLine:
    sku: str | None = strawberry.field(description="absent on a credit note line that credits an amount rather than goods, and on a "
                                       "shipping line (one per VAT rate the shipping is spread over)")
    description: str = strawberry.field(description="What the line bills: the product's name, or what a credit note credits.")
    quantity: int = strawberry.field(description="negative on a credit note")
    tax_rate: Decimal = strawberry.field(description="The VAT rate as a fraction (\"0.21\" is 21%).")

    @strawberry.field(description="The price of one unit, before tax.")
    def unit_price(root: resolve.InvoiceLine) -> Money:
        return money(root.unit_price, root.currency)

    @strawberry.field(description="quantity x unitPrice, before tax")
    def total(root: resolve.InvoiceLine) -> Money:
        return money(root.total, root.currency)


@strawberry.type(description="An invoice or a credit note. Everything printed is frozen at issue and never changes; corrections are credit "
                  "notes. Needs invoices:read.")
class Invoice(Node):
    number: str = strawberry.field(description='gapless within its series, e.g. "F2026-000042"')
    series: str = strawberry.field(description="The numbering series: its prefix and year (credit notes have their own).")
    kind: InvoiceKind = strawberry.field(description="An invoice or a credit note.")
    issued_at: datetime = strawberry.field(description="When it was issued (UTC); never earlier than a lower number of its series.")
    order: models.Order | None = strawberry.field(resolver=resolve.invoice_order, graphql_type=OrderRef,
                                                  description="The order it bills. Needs orders:read.")
    corrects: models.billing.Invoice | None = strawberry.field(
        resolver=resolve.invoice_corrects, graphql_type=InvoiceRef | None, description="the invoice a credit note corrects"
    )
    tax_breakdown: list[resolve.TaxLine] = strawberry.field(resolver=resolve.invoice_tax_breakdown, graphql_type=list[TaxBreakdown],
                                                            description="The VAT per rate, by rate.")
    pdf_url: str = strawberry.field(resolver=resolve.invoice_pdf_url, description="The path of its PDF: GET it with an API key with invoices:read.")
    html_url: str = strawberry.field(resolver=resolve.invoice_html_url, description="The path of the same document as HTML (invoices:read).")
    lines: list[resolve.InvoiceLine] = strawberry.field(resolver=resolve.invoice_lines, graphql_type=list[InvoiceLine], description="as frozen at issue")
    reason: str | None = strawberry.field(description="why a credit note was issued")
    order_number: str = strawberry.field(description="The number of the order it bills, as printed.")

    @strawberry.field(description="negative on a credit note")
    def subtotal(root: models.billing.Invoice) -> Money:
        return Money(amount=root.subtotal, currency=root.currency)

    @strawberry.field(description="The VAT, rounded once per rate; negative on a credit note.")
    def tax_total(root: models.billing.Invoice) -> Money:
        return Money(amount=root.tax_total, currency=root.currency)

    @strawberry.field(description="What it bills, VAT and shipping included; negative on a credit note.")
    def total(root: models.billing.Invoice) -> Money:
        return Money(amount=root.total, currency=root.currency)


@strawberry.input(description="A capture of an authorised card payment.")
class CapturePaymentInput:
    payment_id: strawberry.ID = strawberry.field(description="The payment's global ID.")
    amount: Decimal | None = strawberry.field(default=None, description="absent: all that is authorised")
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input(description="Money received for an order outside the payment provider.")
class RecordPaymentInput:
    order_id: strawberry.ID = strawberry.field(description="The order's global ID.")
    method: PaymentMethod = strawberry.field(description="BANK_TRANSFER, CASH_ON_DELIVERY or OTHER (CARD is INVALID_INPUT).")
    amount: Decimal = strawberry.field(description="In the order's currency: positive, at most 2 decimals, at most what is still due "
                                       "(LIMIT_EXCEEDED).")
    reference: str | None = strawberry.field(default=None, description="The bank or receipt reference; at most 200 characters.")
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input(description="A refund of money a payment captured.")
class RefundPaymentInput:
    payment_id: strawberry.ID = strawberry.field(description="The payment's global ID.")
    amount: Decimal = strawberry.field(description="Positive, at most 2 decimals, at most what it captured and has not refunded "
                                       "(LIMIT_EXCEEDED).")
    reason: str = strawberry.field(description="1 to 500 characters; kept on the event and the credit note.")
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.type(description="What a payment mutation answers.")
class PaymentPayload:
    payment: Payment | None = strawberry.field(description="The payment after the change; null when refused.")
    order: OrderRef | None = strawberry.field(description="Its order after the change (payment status, maybe status). Needs orders:read.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing was written); empty on success.")
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced.")


@strawberry.type(description="What issueInvoice answers.")
class InvoicePayload:
    invoice: Invoice | None = strawberry.field(description="The order's invoice (the one issued before, if any); null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing was written); empty on success.")
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced.")
