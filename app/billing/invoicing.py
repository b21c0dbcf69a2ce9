"""Invoices and credit notes.

- Numbers are gapless and increasing within a series per year ("F2026-000001"): the next
  number comes from a counter row updated in the issuing transaction, so a rollback gives the
  number back and concurrent issuers queue on the row lock (a sequence would leave gaps).
- One invoice per order and revision: callers hold the order row lock, we look for an existing
  invoice under it, and a partial unique index backs that up. An edit (issue 18) credits the
  current revision in full and issues the next (`reissue_invoice`); the current invoice is the
  highest revision.
- Everything printed is frozen on the row at issue (seller, buyer, lines, VAT per rate,
  totals); a trigger refuses later changes. Corrections are credit notes in their own series
  that reference the invoice, with negative amounts; together they never credit more than the
  invoice, and a full credit nets it to exactly zero, rate by rate.

Lock order (see app/orders/service.py): order row, then counter rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.billing import config
from app.billing.enums import InvoiceKind
from app.errors import DomainError, ErrorCode
from app.infra.database import UnitOfWork
from app.orders import events
from app.orders import service as order_service
from app.orders.enums import OrderEventType, OrderStatus
from app.orders.pricing import CENT, compute_totals, money
from models import Counter, Order, OrderLine
from models.billing import Invoice

ZERO = Decimal("0.00")

# Statuses in which the goods are sold for good (not awaiting payment or review, not cancelled).
INVOICEABLE = frozenset({
    OrderStatus.CONFIRMED, OrderStatus.PROCESSING, OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED,
    OrderStatus.DELIVERED, OrderStatus.PARTIALLY_RETURNED, OrderStatus.RETURNED,
    OrderStatus.READY_FOR_PICKUP,  # pickup, issue 19
})


@dataclass(frozen=True, slots=True)
class CreditLine:
    """Units of one invoiced SKU to credit (e.g. returned goods), at the invoiced price."""

    sku: str
    quantity: int


@dataclass(slots=True)
class _RateAmounts:
    base: Decimal
    tax: Decimal

    @property
    def gross(self) -> Decimal:
        return self.base + self.tax


async def _next_number(uow: UnitOfWork, prefix: str) -> tuple[str, int, str, datetime]:
    """The next number in `prefix`+year, under the counter row lock held until commit."""
    series = f"{prefix}{datetime.now(UTC).year}"
    name = f"invoice_series:{series}"
    # First use of a series creates its row; a concurrent first user waits on the unique key, then finds it.
    await uow.session.execute(pg_insert(Counter).values(name=name, value=0).on_conflict_do_nothing(index_elements=[Counter.name]))
    sequence, issued_at = (
        await uow.session.execute(
            text("UPDATE counters SET value = value + 1 WHERE name = :name RETURNING value, clock_timestamp()"), {"name": name}
        )
    ).one()
    # issued_at is read under the lock, so dates never run backwards as numbers go up.
    return series, sequence, f"{series}-{sequence:06d}", issued_at


def _seller() -> dict[str, Any]:
    s = config.settings()
    return {"name": s.seller_name, "tax_id": s.seller_tax_id, "address": s.seller_address, "email": s.seller_email}


def _buyer(order: Order) -> dict[str, Any]:
    address = dict(order.billing_address or order.shipping_address or {})
    return {"email": order.email, **address}


def _breakdown_json(breakdown: dict[Decimal, _RateAmounts], sign: int = 1) -> list[dict[str, str]]:
    return [
        {"rate": str(rate), "base": str(sign * amounts.base), "tax": str(sign * amounts.tax)}
        for rate, amounts in sorted(breakdown.items())
    ]


def _line_json(sku: str | None, description: str, quantity: int, unit_price: Decimal, tax_rate: Decimal, total: Decimal) -> dict[str, Any]:
    return {"sku": sku, "description": description, "quantity": quantity, "unit_price": str(unit_price),
            "tax_rate": str(tax_rate), "total": str(total)}


def shipping_description(order: Order) -> str:
    return f"Shipping ({order.shipping_method})" if order.shipping_method else "Shipping"


def _marked(source: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
    """A credit note's mirror of an invoice line keeps its shipping mark."""
    return {**line, "shipping": True} if source.get("shipping") else line


def _shipping_lines(order: Order, parts: dict[Decimal, tuple[Decimal, Decimal]]) -> list[dict[str, Any]]:
    """The order's shipping on its invoice (issue 19): one line per VAT rate it is spread over (its VAT follows the
    goods, app/orders/pricing.py), no SKU, quantity 1, marked `"shipping": true` in the stored JSON."""
    return [{**_line_json(None, shipping_description(order), 1, net, rate, net), "shipping": True} for rate, (net, _) in sorted(parts.items())]


async def invoice_for_order(uow: UnitOfWork, order_id: uuid.UUID) -> Invoice | None:
    """The order's current invoice: its highest revision (an edit credits one revision and issues the next)."""
    statement = (select(Invoice).where(Invoice.order_id == order_id, Invoice.kind == InvoiceKind.INVOICE)
                 .order_by(Invoice.revision.desc()).limit(1))
    return (await uow.session.execute(statement)).scalar_one_or_none()


def is_invoiceable(order: Order) -> bool:
    status = order.held_from if order.status == OrderStatus.ON_HOLD else order.status
    return status in INVOICEABLE


async def issue_invoice(*, uow: UnitOfWork, order: Order) -> Invoice:
    """The order's invoice: issued now, or the one issued before. The caller holds the order row lock."""
    existing = await invoice_for_order(uow, order.id)
    if existing is not None:
        return existing
    if not is_invoiceable(order):
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {order.status} cannot be invoiced yet.", ("order_id",))
    return await _write_invoice(uow, order, revision=1)


async def _write_invoice(uow: UnitOfWork, order: Order, *, revision: int) -> Invoice:
    """An invoice of the order's lines as they are now (lines edited down to nothing are left out)."""
    await uow.session.flush()
    lines = [
        line for line in (
            await uow.session.execute(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.position))
        ).scalars().all()
        if line.quantity > 0
    ]
    totals = compute_totals(((line.total, line.tax_rate) for line in lines), order.shipping_total, tax_shipping=True)
    series, sequence, number, issued_at = await _next_number(uow, config.settings().invoice_series_prefix)
    invoice = Invoice(
        id=uuid.uuid4(), kind=InvoiceKind.INVOICE, series=series, sequence=sequence, number=number, order_id=order.id,
        order_number=order.number, issued_at=issued_at, currency=order.currency,
        # shipping, issue 19: the subtotal is everything billed net (goods and shipping), so subtotal + VAT = total
        subtotal=totals.subtotal + totals.shipping_total, tax_total=totals.tax_total, total=totals.total,
        seller=_seller(), buyer=_buyer(order),
        lines=[_line_json(line.sku, line.product_name, line.quantity, line.unit_price, line.tax_rate, line.total) for line in lines]
        + _shipping_lines(order, totals.shipping_by_rate),
        tax_breakdown=_breakdown_json({rate: _RateAmounts(base, tax) for rate, (base, tax) in totals.tax_by_rate.items()}),
        revision=revision,
    )
    uow.session.add(invoice)
    await uow.session.flush()
    data: dict[str, Any] = {"number": number, "total": str(invoice.total), "currency": invoice.currency}
    if revision > 1:
        data["revision"] = revision
    events.record(uow, order, OrderEventType.INVOICE_ISSUED, data=data)
    return invoice


async def reissue_invoice(*, uow: UnitOfWork, order: Order, reason: str) -> tuple[Invoice | None, Invoice | None]:
    """After an edit or line cancellation changed an invoiced order (issue 18): a credit note of everything the
    current invoice still bills, then the next revision of the invoice from the order's lines and totals as they are
    now. Invoices stay immutable; old revision + its credit notes = 0 per VAT rate, the new one = the order's total.
    (None, None) when the order has no invoice. The caller holds the order row lock (then the counter rows)."""
    current = await invoice_for_order(uow, order.id)
    if current is None:
        return None, None
    note = await issue_credit_note(uow=uow, invoice=current, reason=reason)
    return note, await _write_invoice(uow, order, revision=current.revision + 1)


async def issue_invoice_for_order(*, uow: UnitOfWork, order_id: uuid.UUID) -> Invoice:
    """Manual invoicing (issueInvoice): however many requests race, the order row lock lets one
    issue and the rest find its invoice."""
    order = await order_service.get_for_update(uow=uow, order_id=order_id)
    return await issue_invoice(uow=uow, order=order)


async def credit_notes_of(uow: UnitOfWork, invoice: Invoice) -> list[Invoice]:
    statement = select(Invoice).where(Invoice.corrects_id == invoice.id).order_by(Invoice.sequence)
    return list((await uow.session.execute(statement)).scalars().all())


def _remaining(invoice: Invoice, notes: Sequence[Invoice]) -> dict[Decimal, _RateAmounts]:
    """What the invoice still bills per VAT rate once its credit notes (negative) are counted."""
    left = {Decimal(row["rate"]): _RateAmounts(Decimal(row["base"]), Decimal(row["tax"])) for row in invoice.tax_breakdown}
    for note in notes:
        for row in note.tax_breakdown:
            amounts = left[Decimal(row["rate"])]
            amounts.base += Decimal(row["base"])
            amounts.tax += Decimal(row["tax"])
    return left


def remaining_credit(invoice: Invoice, notes: Sequence[Invoice]) -> Decimal:
    return sum((amounts.gross for amounts in _remaining(invoice, notes).values()), ZERO)


def _split_gross(amount: Decimal, left: dict[Decimal, _RateAmounts]) -> dict[Decimal, _RateAmounts]:
    """Spread a gross amount over the VAT rates in proportion to what each still bills.

    Shares are cut to cents and the leftover cents go to the largest remainders, so they add up
    to `amount` exactly; each share is then split into base and VAT, never beyond what is left.
    """
    total = sum((a.gross for a in left.values()), ZERO)
    rates = [rate for rate, a in sorted(left.items()) if a.gross > 0]
    raw = {rate: amount * left[rate].gross / total for rate in rates}
    shares = {rate: value.quantize(CENT, rounding=ROUND_DOWN) for rate, value in raw.items()}
    leftover = int((amount - sum(shares.values(), ZERO)) / CENT)
    for rate in sorted(rates, key=lambda r: raw[r] - shares[r], reverse=True)[:leftover]:
        shares[rate] += CENT
    split: dict[Decimal, _RateAmounts] = {}
    for rate, gross in shares.items():
        base = min(money(gross / (1 + rate)), left[rate].base)
        tax = gross - base
        if tax > left[rate].tax:
            tax = left[rate].tax
            base = gross - tax
        split[rate] = _RateAmounts(base, tax)
    return split


async def issue_credit_note(
    *, uow: UnitOfWork, invoice: Invoice, reason: str, lines: Sequence[CreditLine] | None = None, amount: Decimal | None = None,
) -> Invoice | None:
    """Credit part or all of `invoice`; the caller holds its order's row lock.

    - `lines`: those units at the invoiced prices (returns);
    - `amount`: that gross amount spread over the VAT rates (refunds);
    - neither: everything not credited yet (cancellation). Returns None when nothing is left.
    Never credits more than the invoice still bills (LIMIT_EXCEEDED).
    """
    if invoice.kind != InvoiceKind.INVOICE:
        raise DomainError(ErrorCode.INVALID_INPUT, "Only an invoice can be credited.", ())
    notes = await credit_notes_of(uow, invoice)
    left = _remaining(invoice, notes)
    left_total = sum((a.gross for a in left.values()), ZERO)
    if lines:
        split, note_lines = _credit_lines(invoice, notes, left, lines)
    elif amount is not None:
        if amount <= 0:
            raise DomainError(ErrorCode.INVALID_INPUT, "The amount to credit must be positive.", ("amount",))
        if amount > left_total:
            raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"Only {left_total} {invoice.currency} of invoice {invoice.number} is left to credit.", ("amount",))
        split = left if amount == left_total else _split_gross(amount, left)
        note_lines = [_line_json(None, reason, -1, a.base, rate, -a.base) for rate, a in sorted(split.items()) if a.gross]
    else:
        if left_total <= 0:
            return None
        split = left
        if not notes:  # nothing credited yet: mirror the invoice line by line
            note_lines = [
                _marked(line, _line_json(line["sku"], line["description"], -line["quantity"], Decimal(line["unit_price"]),
                                         Decimal(line["tax_rate"]), -Decimal(line["total"])))
                for line in invoice.lines
            ]
        else:
            note_lines = [_line_json(None, reason, -1, a.base, rate, -a.base) for rate, a in sorted(split.items()) if a.gross]

    subtotal = sum((a.base for a in split.values()), ZERO)
    tax_total = sum((a.tax for a in split.values()), ZERO)
    order = await uow.session.get(Order, invoice.order_id)
    assert order is not None
    series, sequence, number, issued_at = await _next_number(uow, config.settings().credit_note_series_prefix)
    note = Invoice(
        id=uuid.uuid4(), kind=InvoiceKind.CREDIT_NOTE, series=series, sequence=sequence, number=number, order_id=invoice.order_id,
        order_number=invoice.order_number, corrects_id=invoice.id, issued_at=issued_at, currency=invoice.currency,
        subtotal=-subtotal, tax_total=-tax_total, total=-(subtotal + tax_total),
        # Seller and buyer as on the corrected invoice: a credit note corrects that document.
        seller=invoice.seller, buyer=invoice.buyer, lines=note_lines,
        tax_breakdown=_breakdown_json({rate: a for rate, a in split.items() if a.gross}, sign=-1), reason=reason,
        revision=invoice.revision,
    )
    uow.session.add(note)
    await uow.session.flush()
    events.record(uow, order, OrderEventType.CREDIT_NOTE_ISSUED, data={"number": number, "corrects": invoice.number, "total": str(note.total),
                                                        "currency": note.currency, "reason": reason})
    return note


def _credit_lines(
    invoice: Invoice, notes: Sequence[Invoice], left: dict[Decimal, _RateAmounts], lines: Sequence[CreditLine],
) -> tuple[dict[Decimal, _RateAmounts], list[dict[str, Any]]]:
    invoiced: dict[str, dict[str, Any]] = {}
    quantities: dict[str, int] = {}
    for row in invoice.lines:
        if row["sku"] is not None:
            invoiced.setdefault(row["sku"], row)
            quantities[row["sku"]] = quantities.get(row["sku"], 0) + row["quantity"]
    for note in notes:
        for row in note.lines:
            if row["sku"] in quantities:
                quantities[row["sku"]] += row["quantity"]  # credit-note quantities are negative
    bases: dict[Decimal, Decimal] = {}
    note_lines = []
    for i, line in enumerate(lines):
        if line.sku not in invoiced:
            raise DomainError(ErrorCode.NOT_FOUND, f"{line.sku} is not on invoice {invoice.number}.", ("lines", i, "sku"))
        if line.quantity < 1 or line.quantity > quantities[line.sku]:
            raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {quantities[line.sku]} of {line.sku} can still be credited.",
                              ("lines", i, "quantity"))
        quantities[line.sku] -= line.quantity
        row = invoiced[line.sku]
        unit_price, rate = Decimal(row["unit_price"]), Decimal(row["tax_rate"])
        net = money(unit_price * line.quantity)
        bases[rate] = bases.get(rate, ZERO) + net
        note_lines.append(_line_json(line.sku, row["description"], -line.quantity, unit_price, rate, -net))
    if all(q == 0 for q in quantities.values()):
        # The last units: credit exactly what is left so the invoice nets to zero (the whole order comes back, so its
        # shipping is credited too: a line per rate for the shipping still billed; issue 19).
        shipping = {Decimal(row["tax_rate"]): row["description"] for row in invoice.lines if row.get("shipping")}
        for rate, amounts in sorted(left.items()):
            rest = amounts.base - bases.get(rate, ZERO)
            if rate in shipping and rest > 0:
                note_lines.append({**_line_json(None, shipping[rate], -1, rest, rate, -rest), "shipping": True})
        return {rate: a for rate, a in left.items()}, note_lines
    split = {}
    for rate, base in bases.items():
        # VAT rounded once per rate, as on the invoice, but never beyond what is left of it.
        split[rate] = _RateAmounts(min(base, left[rate].base), min(money(base * rate), left[rate].tax))
    return split, note_lines
