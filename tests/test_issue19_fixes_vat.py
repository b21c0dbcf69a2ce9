"""Issue 19 review F6 on PostgreSQL: with shipping, the invoice's VAT per rate is round(base x rate) once, base
including the rate's shipping part, and the order's taxTotal is the sum of those (as its description says)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.flows import confirmation
from app.fulfilment import rates
from app.orders.pricing import money
from models.billing import Invoice
from models.fulfilment import Carrier
from tests import factories


async def test_the_invoice_rounds_vat_once_per_rate_with_the_shipping_in_its_base(db: Any) -> None:
    # given: 1.02 of goods at 21 % and a shipping of 1.02: 2.04 x 21 % = 0.4284 -> 0.43 (not 0.21 + 0.21)
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.product(db, "A", "1.02")
    await factories.stock(db, "A", "MAD", 5)
    async with db.read() as session:
        carrier = (await session.execute(select(Carrier.code).where(Carrier.active).order_by(Carrier.code))).scalars().first()
    assert carrier is not None
    await db.run(lambda uow: rates.set_rates(uow=uow, rows=[rates.RateInput(carrier, "STANDARD", "ES", "EUR", "1.02")]))
    # when
    order = await factories.place(db, [("A", 1)], payment_method="CARD", payment_token="test_approve")
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    # then
    assert (order.shipping_total, order.tax_total, order.shipping_tax, order.total) == (
        Decimal("1.02"), Decimal("0.43"), Decimal("0.22"), Decimal("2.47"))
    async with db.read() as session:
        invoice = (await session.execute(select(Invoice).where(Invoice.order_id == order.id))).scalar_one()
    assert len(invoice.tax_breakdown) == 1 and Decimal(invoice.tax_breakdown[0]["base"]) == Decimal("2.04")
    for row in invoice.tax_breakdown:
        assert Decimal(row["tax"]) == money(Decimal(row["base"]) * Decimal(row["rate"]))
    assert invoice.tax_total == order.tax_total and invoice.total == order.total
