"""cancelOrderLines (issue 18): exactly the cancelled units' reservations released, the money released or refunded,
a credit note (plus the next invoice revision) when invoiced, CANCELLED when nothing is left."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.billing import config
from app.billing.enums import InvoiceKind
from app.billing.providers import get_provider
from app.billing.providers.test import OfflineProvider
from app.flows import confirmation, placement
from app.flows import shipping as shipping_flow
from app.fulfilment import pick_lists
from app.fulfilment.shipments import ShipLine
from app.orders.service import LineRequest, PlaceOrderRequest
from models import Allocation, OrderEvent, OrderLine, StockMovement
from models.billing import Invoice, Payment
from resolvers.ids import to_global_id
from tests import factories

CANCEL_LINES = """
mutation CancelLines($input: CancelOrderLinesInput!) {
  cancelOrderLines(input: $input) {
    order { status paymentStatus total { amount } lines { sku quantity quantityCancelled } }
    userErrors { field code message }
    eventCursor
  }
}
"""


@pytest.fixture
def provider() -> OfflineProvider:
    gateway = get_provider(config.settings())
    assert isinstance(gateway, OfflineProvider)
    gateway.reset()
    return gateway


def gid(kind: str, value: Any) -> str:
    return to_global_id(kind, value)


async def cancel_lines(gql: Any, order_id: Any, lines: list[tuple[Any, int]], reason: str = "CUSTOMER_REQUEST", **extra: Any) -> dict[str, Any]:
    body = await gql(CANCEL_LINES, {"input": {"orderId": gid("Order", order_id), "reason": reason,
                                              "lines": [{"orderLineId": gid("OrderLine", line_id), "quantity": q} for line_id, q in lines], **extra}})
    assert "errors" not in body, body
    return body["data"]["cancelOrderLines"]


async def lines_of(db: Any, order_id: Any) -> list[OrderLine]:
    async with db.read() as session:
        return list((await session.execute(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.position))).scalars())


async def reserved_by_sku(db: Any) -> dict[str, int]:
    async with db.engine.connect() as conn:
        return dict((await conn.execute(text("SELECT sku, SUM(reserved) FROM stock_levels GROUP BY sku"))).all())


async def test_cancelling_2_of_5_units_releases_exactly_those_units_and_refunds_exactly_their_price(gql, db, provider):
    # given: 5 A (2 x 12.10 = 24.20 gross each pair) and 1 B, paid by card and invoiced: 60.50 + 6.05 = 66.55
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 5), ("B", 1)], payment_method="CARD", payment_token="test_approve")
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    line_a, line_b = await lines_of(db, order.id)
    before = await reserved_by_sku(db)

    # when
    result = await cancel_lines(gql, order.id, [(line_a.id, 2)], reason="OUT_OF_STOCK", note="damaged in the warehouse")

    # then: A's reservation down by exactly 2 (B untouched), ledger -2, the line 3 left / 2 cancelled
    assert result["userErrors"] == [], result
    after = await reserved_by_sku(db)
    assert (after["A"], after["B"]) == (before["A"] - 2, before["B"])
    async with db.read() as session:
        released = (await session.execute(select(func.sum(StockMovement.reserved_delta))
                                          .where(StockMovement.kind == "RELEASE", StockMovement.sku == "A"))).scalar_one()
        allocations = list((await session.execute(select(Allocation).where(Allocation.order_line_id == line_a.id))).scalars())
    assert released == -2 and sum(a.open_quantity for a in allocations) == 3
    assert [(line["sku"], line["quantity"], line["quantityCancelled"]) for line in result["order"]["lines"]] == [("A", 3, 2), ("B", 1, 0)]
    # the money: 2 x 10.00 + 21 % = 24.20 refunded through the card; total 42.35
    assert result["order"]["total"]["amount"] == "42.35" and result["order"]["status"] == "CONFIRMED"
    assert [op[2] for op in provider.operations if op[0] == "refund"] == [Decimal("24.20")]
    async with db.read() as session:
        documents = list((await session.execute(select(Invoice).where(Invoice.order_id == order.id).order_by(Invoice.issued_at))).scalars())
        payments = list((await session.execute(select(Payment).where(Payment.order_id == order.id))).scalars())
        event = (await session.execute(select(OrderEvent).where(OrderEvent.order_id == order.id, OrderEvent.type == "LINES_CANCELLED"))).scalar_one()
    assert [(d.kind, d.revision, d.total) for d in documents] == [
        (InvoiceKind.INVOICE, 1, Decimal("66.55")), (InvoiceKind.CREDIT_NOTE, 1, Decimal("-66.55")), (InvoiceKind.INVOICE, 2, Decimal("42.35"))]
    assert sum(p.captured_amount - p.refunded_amount for p in payments) == Decimal("42.35")
    data = event.data or {}
    assert (data["reason"], data["note"], data["releasedUnits"], data["amountRefunded"]) == ("OUT_OF_STOCK", "damaged in the warehouse", 2, "24.20")
    assert data["lines"] == [{"orderLineId": str(line_a.id), "sku": "A", "quantity": 2}]
    assert data["creditNote"] == documents[1].number and data["invoice"] == documents[2].number
    assert line_b.quantity == 1


async def test_cancelling_every_line_cancels_the_order_releasing_all_its_stock_and_voiding_the_authorisation(gql, db, provider):
    # given: an authorised card order (not captured) of 2 A + 1 B
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 2), ("B", 1)], payment_method="CARD", payment_token="test_approve")
    line_a, line_b = await lines_of(db, order.id)

    # when: every unit cancelled
    result = await cancel_lines(gql, order.id, [(line_a.id, 2), (line_b.id, 1)], reason="FRAUD")

    # then: CANCELLED, nothing reserved, the authorisation voided, one LINES_CANCELLED then the cancellation
    assert result["userErrors"] == [], result
    assert result["order"]["status"] == "CANCELLED"
    assert await reserved_by_sku(db) == {"A": 0, "B": 0, "C": 0}
    assert [op[0] for op in provider.operations] == ["authorize", "void"]
    async with db.read() as session:
        types = list((await session.execute(select(OrderEvent.type).where(OrderEvent.order_id == order.id).order_by(OrderEvent.seq))).scalars())
        payment = (await session.execute(select(Payment).where(Payment.order_id == order.id))).scalar_one()
    assert types[-3:] == ["LINES_CANCELLED", "PAYMENT_VOIDED", "STATUS_CHANGED"] or types[-3:] == ["LINES_CANCELLED", "STATUS_CHANGED", "PAYMENT_VOIDED"]
    assert payment.status == "VOIDED"


async def test_a_fraud_cancellation_of_a_paid_invoiced_order_issues_a_credit_note_for_the_lines(gql, db, provider):
    # given: 1 A + 2 B, paid and invoiced: 12.10 + 12.10 = 24.20
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1), ("B", 2)], payment_method="CARD", payment_token="test_approve")
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    _, line_b = await lines_of(db, order.id)

    # when: both B cancelled for fraud
    result = await cancel_lines(gql, order.id, [(line_b.id, 2)], reason="FRAUD")

    # then: refunded 12.10 (2 x 5.50 + 10 %), credit note + revision 2 of 12.10; reconciles per VAT rate
    assert result["userErrors"] == [] and result["order"]["total"]["amount"] == "12.10"
    async with db.read() as session:
        documents = list((await session.execute(select(Invoice).where(Invoice.order_id == order.id).order_by(Invoice.issued_at))).scalars())
    invoice, note, revised = documents
    assert note.corrects_id == invoice.id and "FRAUD" in (note.reason or "")
    assert {row["rate"]: (row["base"], row["tax"]) for row in revised.tax_breakdown} == {"0.2100": ("10.00", "2.10")}
    assert revised.total == Decimal("12.10")
    assert [op[2] for op in provider.operations if op[0] == "refund"] == [Decimal("12.10")]


async def test_a_line_on_a_pick_list_cannot_be_cancelled_and_too_many_units_are_refused(gql, db):
    # given: 2 A + 1 B confirmed (bank transfer), on a pick list in MAD
    await factories.basic_catalog(db)
    order = await factories.place(db, [("B", 1)], payment_method="BANK_TRANSFER")
    other = await factories.place(db, [("A", 3)])
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    await db.run(lambda uow: pick_lists.create_pick_list(uow=uow, warehouse_code="MAD", order_ids=[order.id]), actor="test")
    (line_b,) = await lines_of(db, order.id)
    (line_a,) = await lines_of(db, other.id)

    picked = await cancel_lines(gql, order.id, [(line_b.id, 1)])
    too_many = await cancel_lines(gql, other.id, [(line_a.id, 4)])
    unknown = await cancel_lines(gql, other.id, [(line_b.id, 1)])

    assert [(e["code"], e["field"]) for e in picked["userErrors"]] == [("INVALID_TRANSITION", ["input", "lines", "0", "orderLineId"])]
    assert "B" in picked["userErrors"][0]["message"]
    assert [(e["code"], e["field"]) for e in too_many["userErrors"]] == [("LIMIT_EXCEEDED", ["input", "lines", "0", "quantity"])]
    assert [(e["code"], e["field"]) for e in unknown["userErrors"]] == [("NOT_FOUND", ["input", "lines", "0", "orderLineId"])]
    assert (await lines_of(db, other.id))[0].quantity == 3


async def test_a_retried_line_cancellation_with_the_same_key_applies_once(gql, db):
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 4)])
    (line_a,) = await lines_of(db, order.id)
    first = await cancel_lines(gql, order.id, [(line_a.id, 1)], idempotencyKey="c-1")
    second = await cancel_lines(gql, order.id, [(line_a.id, 1)], idempotencyKey="c-1")
    assert first["userErrors"] == [] and second["userErrors"] == []
    assert (await lines_of(db, order.id))[0].quantity == 3
    assert (await reserved_by_sku(db))["A"] == 3


async def test_two_lines_of_one_sku_each_release_their_own_units(gql, db):
    # given: two lines of A (different customizations), 2 and 3 units, each with its own allocations
    await factories.basic_catalog(db)
    request = PlaceOrderRequest(channel="WEB", email="buyer@example.com", shipping_address=factories.ADDRESS,
                                lines=[LineRequest("A", 2, {"engraving": "X"}), LineRequest("A", 3, {"engraving": "Y"})])
    order = await db.run(lambda uow: placement.place_order(uow=uow, request=request), actor="test")
    first, second = await lines_of(db, order.id)

    # when: 1 unit of the first line cancelled
    result = await cancel_lines(gql, order.id, [(first.id, 1)])

    # then: the first line's allocations hold 1, the second's still 3; 4 A reserved in all
    assert result["userErrors"] == [], result
    async with db.read() as session:
        allocations = list((await session.execute(select(Allocation).where(Allocation.order_id == order.id))).scalars())
    open_by_line = {line_id: sum(a.open_quantity for a in allocations if a.order_line_id == line_id) for line_id in (first.id, second.id)}
    assert open_by_line == {first.id: 1, second.id: 3}
    assert (await reserved_by_sku(db))["A"] == 4


async def test_cancelling_what_is_left_of_a_partly_shipped_order_ships_it(gql, db):
    # given: 1 A + 1 B confirmed (bank transfer recorded later); A shipped from MAD
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1), ("B", 1)], payment_method="BANK_TRANSFER")
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    await db.run(lambda uow: shipping_flow.create_shipment(uow=uow, order_id=order.id, warehouse_code="MAD", carrier_code="CORREOS",
                                                           lines=[ShipLine("A", 1)]), actor="test")
    _, line_b = await lines_of(db, order.id)

    # when: B, never shipped, is cancelled
    result = await cancel_lines(gql, order.id, [(line_b.id, 1)], reason="OUT_OF_STOCK")

    # then: what is left has all shipped: SHIPPED, B's unit back in stock, 12.10 expected instead of 18.15
    assert result["userErrors"] == [], result
    assert result["order"]["status"] == "SHIPPED" and result["order"]["total"]["amount"] == "12.10"
    assert (await reserved_by_sku(db))["B"] == 0
    async with db.read() as session:
        payment = (await session.execute(select(Payment).where(Payment.order_id == order.id))).scalar_one()
    assert payment.amount == Decimal("12.10")
