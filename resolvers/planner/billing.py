"""Planner mappings of billing: Invoice (with its frozen lines and tax breakdown, credit notes through `corrects`),
InvoiceLine, TaxBreakdown, Payment; Order.invoices and Order.payments; the roots `invoices` and `invoice`; the
Invoice and Payment nodes. Each expression reproduces graphql_schema/billing.py and resolvers/billing.py.

Amounts inside the frozen JSON (lines, tax breakdown) are strings written by str(Decimal) (app/billing/invoicing.py)
and shown as str(Decimal(stored)): str(Decimal(str(d))) == str(d), so the stored text is the answer."""

from __future__ import annotations

from typing import Any

from models.billing import Invoice
from resolvers import pagination
from resolvers.billing import INVOICES_READ, PAYMENTS_READ
from resolvers.planner import orders
from resolvers.planner.core import (
    NODE_ROOTS,
    ROOTS,
    Compiler,
    Selected,
    TypeMapping,
    Unsupported,
    Value,
    column,
    iso_datetime,
    literal,
    node_id,
    register,
    root_row,
)
from resolvers.planner.pages import keyset_root, order_id_param, time_column, uuid_column

register(TypeMapping("Payment", {
    "id": node_id("Payment"),
    "method": column("method"),
    "status": column("status"),
    "reference": column("reference"),
    "createdAt": column("created_at", iso_datetime),
    "expiresAt": column("expires_at", iso_datetime),
    "amount": orders.money("amount", "currency"),
    "capturedAmount": orders.money("captured_amount", "currency"),
    "refundedAmount": orders.money("refunded_amount", "currency"),
}, table="payments"))


def _stored(key: str) -> Any:
    """A text value of one frozen JSON row (`v`) of an invoice."""
    return lambda c, row, s: f"({row}.v->>{literal(key)})"


def _stored_money(key: str) -> Any:
    def sql(c: Compiler, row: Any, selected: Selected) -> Value:
        return c.child(selected, (f"({row}.v->>{literal(key)})", f"{row}.currency"), "Money")

    return sql


register(TypeMapping("TaxBreakdown", {
    "rate": _stored("rate"),
    "base": _stored_money("base"),
    "tax": _stored_money("tax"),
}))

register(TypeMapping("InvoiceLine", {
    "sku": _stored("sku"),
    "description": _stored("description"),
    "quantity": lambda c, row, s: f"({row}.v->'quantity')",
    "taxRate": _stored("tax_rate"),
    "unitPrice": _stored_money("unit_price"),
    "total": _stored_money("total"),
}))


def _frozen(name: str) -> Any:
    """resolvers.billing.invoice_lines / invoice_tax_breakdown: the JSON array's rows in stored order, with the invoice's currency."""

    def sql(c: Compiler, alias: Any, selected: Selected) -> Value:
        rows = (f"(SELECT __e.value AS v, __e.ordinality AS n, {alias}.currency AS currency "
                f"FROM jsonb_array_elements({alias}.{name}) WITH ORDINALITY __e)")
        return c.rows(selected, rows, lambda row: "true", lambda row: f"{row}.n")

    return sql


def invoice_order(c: Compiler, alias: Any, selected: Selected) -> Value:
    if not c.has("orders:read"):
        raise Unsupported("Invoice.order without orders:read")  # the ordinary path raises the refusal
    return c.row(selected, "orders", lambda order: f"{order}.id = {alias}.order_id")


def invoice_corrects(c: Compiler, alias: Any, selected: Selected) -> Value:
    if not c.has(INVOICES_READ):
        raise Unsupported("Invoice.corrects without invoices:read")
    return c.row(selected, "invoices", lambda invoice: f"{invoice}.id = {alias}.corrects_id")


register(TypeMapping("Invoice", {
    "id": node_id("Invoice"),
    "number": column("number"),
    "series": column("series"),
    "kind": column("kind"),
    "issuedAt": column("issued_at", iso_datetime),
    "order": invoice_order,
    "corrects": invoice_corrects,
    "taxBreakdown": _frozen("tax_breakdown"),
    "pdfUrl": column("number", lambda expr: f"('/documents/invoices/' || {expr} || '.pdf')"),
    "htmlUrl": column("number", lambda expr: f"('/documents/invoices/' || {expr} || '.html')"),
    "lines": _frozen("lines"),
    "reason": column("reason"),
    "orderNumber": column("order_number"),
    "subtotal": orders.money("subtotal", "currency"),
    "taxTotal": orders.money("tax_total", "currency"),
    "total": orders.money("total", "currency"),
}, table="invoices"))

# ---------------------------------------------------------------- Order.invoices, Order.payments


def order_invoices(c: Compiler, alias: Any, selected: Selected) -> Value:
    """resolvers.billing.order_invoices (needs invoices:read): by issuedAt, as the loader."""
    if not c.has(INVOICES_READ):
        raise Unsupported("Order.invoices without invoices:read")
    return c.rows(selected, "invoices", lambda invoice: f"{invoice}.order_id = {alias}.id", lambda invoice: f"{invoice}.issued_at")


def order_payments(c: Compiler, alias: Any, selected: Selected) -> Value:
    """resolvers.billing.order_payments (needs payments:read): by createdAt, as the loader."""
    if not c.has(PAYMENTS_READ):
        raise Unsupported("Order.payments without payments:read")
    return c.rows(selected, "payments", lambda payment: f"{payment}.order_id = {alias}.id", lambda payment: f"{payment}.created_at")


orders.ORDER.fields["invoices"] = order_invoices
orders.ORDER.fields["payments"] = order_payments


# ---------------------------------------------------------------- roots: invoices, invoice, node(Invoice | Payment)


def invoices_root(c: Compiler, selected: Selected) -> str:
    """resolvers.billing.invoices: newest first on (issuedAt, id), optionally of one order."""
    conditions = []
    if c.shape("invoices.orderId", lambda bind: bind.args.get("order_id") is not None):
        conditions.append(f"order_id = {order_id_param(c, lambda bind: bind.args['order_id'])}")
    return keyset_root(c, selected, table="invoices", node_type="Invoice", columns=(time_column("issued_at"), uuid_column("id")),
                       keys=lambda: (pagination.time_key(Invoice.issued_at), pagination.uuid_key(Invoice.id)),
                       conditions=conditions, descending=True)


def invoice_root(c: Compiler, selected: Selected) -> str:
    number = c.param(lambda bind: bind.args["number"].strip(), "varchar")
    return root_row(c, selected, "invoices", lambda invoice: f"{invoice}.number = {number}", "Invoice")


ROOTS["Query.invoices"] = invoices_root
ROOTS["Query.invoice"] = invoice_root
NODE_ROOTS["Invoice"] = "invoices"
NODE_ROOTS["Payment"] = "payments"
