"""editOrder (issue 18): the dry run writes nothing, stock is re-reserved without overselling, the money difference is
authorised or refunded exactly, an issued invoice is corrected by a credit note plus its next revision, a retry with
the same key applies once, lines picked or shipped refuse change."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.billing import config, invoicing
from app.billing.enums import InvoiceKind
from app.billing.providers import get_provider
from app.billing.providers.test import OfflineProvider
from app.flows import confirmation
from app.flows import shipping as shipping_flow
from app.fulfilment import pick_lists
from app.fulfilment.shipments import ShipLine
from app.infra.check import check_invariants
from models import Order, OrderEvent, OrderLine, StockLevel, StockMovement
from models.billing import Invoice, Payment
from models.edits import OrderEdit
from resolvers.ids import to_global_id
from tests import factories
from tests.factories import ADDRESS_INPUT

EDIT = """
mutation Edit($input: EditOrderInput!) {
  editOrder(input: $input) {
    order { id status paymentStatus total { amount } lines { id sku quantity quantityCancelled total { amount } } }
    preview {
      lines { orderLineId sku quantity previousQuantity unitPrice { amount currency } total { amount } }
      subtotal { amount } taxTotal { amount } shippingTotal { amount } total { amount currency }
      amountDue { amount } amountToRefund { amount }
      stockToReserve { sku warehouseCode quantity } stockToRelease { sku warehouseCode quantity }
    }
    userErrors { field code message }
    eventCursor
  }
}
"""
PLACE = """
mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } userErrors { field code message } } }
"""


def gid(kind: str, value: Any) -> str:
    return to_global_id(kind, value)


@pytest.fixture
def provider() -> OfflineProvider:
    gateway = get_provider(config.settings())
    assert isinstance(gateway, OfflineProvider)
    gateway.reset()
    return gateway


async def edit(gql: Any, order_id: Any, **fields: Any) -> dict[str, Any]:
    body = await gql(EDIT, {"input": {"orderId": gid("Order", order_id), **fields}})
    assert "errors" not in body, body
    return body["data"]["editOrder"]


async def lines_of(db: Any, order_id: Any) -> list[OrderLine]:
    async with db.read() as session:
        return list((await session.execute(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.position))).scalars())


async def reserved(db: Any) -> dict[tuple[str, str], tuple[int, int]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT s.sku, w.code, s.on_hand, s.reserved FROM stock_levels s JOIN warehouses w ON w.id = s.warehouse_id"))
        return {(r.sku, r.code): (r.on_hand, r.reserved) for r in rows}


async def paid_card_order(db: Any, lines: list[tuple[str, int]]) -> Order:
    """A card order authorised, confirmed (captured and invoiced at confirmation, the defaults)."""
    order = await factories.place(db, lines, payment_method="CARD", payment_token="test_approve")
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    return order


async def table_counts(db: Any) -> dict[str, int]:
    async with db.engine.connect() as conn:
        tables = (await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))).scalars().all()
        counts = {t: (await conn.execute(text(f'SELECT count(*) FROM "{t}"'))).scalar_one() for t in tables}
        for sequence in ("order_number_seq", "order_event_seq"):
            counts[sequence] = (await conn.execute(text(f"SELECT COALESCE(pg_sequence_last_value('{sequence}'), 0)"))).scalar_one()
        counts["stock"] = hash(tuple(sorted((await reserved(db)).items())))
        return counts


async def test_a_dry_run_answers_the_preview_and_writes_nothing(gql, db, provider):
    # given: a paid, invoiced order of 2 A (0.21) + 1 B (0.10)
    await factories.basic_catalog(db)
    order = await paid_card_order(db, [("A", 2), ("B", 1)])
    line_a, line_b = await lines_of(db, order.id)
    before, operations = await table_counts(db), list(provider.operations)

    # when: a dry run that lowers A to 1, removes B and adds 2 C
    result = await edit(gql, order.id, dryRun=True, changeLines=[{"orderLineId": gid("OrderLine", line_a.id), "quantity": 1}],
                        removeLines=[gid("OrderLine", line_b.id)], addLines=[{"sku": "C", "quantity": 2}])

    # then: the preview: 1 x 10.00 + 2 x 100.00 = 210.00 net, VAT 44.10, total 254.10 (was 30.25); 223.85 more to pay
    assert result["userErrors"] == [] and result["eventCursor"] is None
    preview = result["preview"]
    assert preview["total"] == {"amount": "254.10", "currency": "EUR"}
    assert (preview["subtotal"]["amount"], preview["taxTotal"]["amount"]) == ("210.00", "44.10")
    assert preview["amountDue"]["amount"] == "223.85" and preview["amountToRefund"]["amount"] == "0.00"
    assert [(line["sku"], line["previousQuantity"], line["quantity"]) for line in preview["lines"]] == [("A", 2, 1), ("B", 1, 0), ("C", 0, 2)]
    assert preview["lines"][2]["orderLineId"] is None
    assert preview["stockToReserve"] == [{"sku": "C", "warehouseCode": "BCN", "quantity": 2}]
    assert sorted((m["sku"], m["quantity"]) for m in preview["stockToRelease"]) == [("A", 1), ("B", 1)]
    assert result["order"]["total"]["amount"] == "30.25"
    # and nothing was written: every table's row count, both sequences, every stock level; no provider call
    assert await table_counts(db) == before
    assert provider.operations == operations


async def test_an_edit_of_a_paid_invoiced_order_refunds_the_exact_difference_with_a_credit_note_and_a_new_invoice(gql, db, provider):
    # given: 3 A at 10.00 (VAT 0.21) + 3 B at 5.50 (VAT 0.10), captured and invoiced: 36.30 + 18.15 = 54.45
    await factories.basic_catalog(db)
    order = await paid_card_order(db, [("A", 3), ("B", 3)])
    line_a, line_b = await lines_of(db, order.id)
    reserved_before = await reserved(db)

    # when: A down to 1, B down to 2
    result = await edit(gql, order.id, changeLines=[{"orderLineId": gid("OrderLine", line_a.id), "quantity": 1},
                                                    {"orderLineId": gid("OrderLine", line_b.id), "quantity": 2}])

    # then: new total 12.10 + 12.10 = 24.20; 30.25 refunded through the card, exactly once
    assert result["userErrors"] == [], result
    assert result["order"]["total"]["amount"] == "24.20" and result["preview"]["amountToRefund"]["amount"] == "30.25"
    assert result["order"]["paymentStatus"] == "PARTIALLY_REFUNDED"
    assert [op for op in provider.operations if op[0] == "refund"] == [("refund", provider.operations[0][1], Decimal("30.25"))]
    # the stock: 2 A and 1 B given back
    after = await reserved(db)
    assert sum(r for (sku, _), (_, r) in after.items() if sku == "A") == sum(r for (sku, _), (_, r) in reserved_before.items() if sku == "A") - 2
    assert sum(r for (sku, _), (_, r) in after.items() if sku == "B") == sum(r for (sku, _), (_, r) in reserved_before.items() if sku == "B") - 1
    # the documents: invoice r1 (54.45) + its credit note (-54.45) = 0 per VAT rate; invoice r2 = the new total
    async with db.read() as session:
        documents = list((await session.execute(select(Invoice).where(Invoice.order_id == order.id).order_by(Invoice.issued_at))).scalars())
        payments = list((await session.execute(select(Payment).where(Payment.order_id == order.id))).scalars())
    first, note, second = documents
    assert (first.kind, first.revision, first.total) == (InvoiceKind.INVOICE, 1, Decimal("54.45"))
    assert (note.kind, note.corrects_id, note.total) == (InvoiceKind.CREDIT_NOTE, first.id, Decimal("-54.45"))
    by_rate = {row["rate"]: Decimal(row["base"]) + Decimal(row["tax"]) for row in first.tax_breakdown}
    for row in note.tax_breakdown:
        by_rate[row["rate"]] += Decimal(row["base"]) + Decimal(row["tax"])
    assert set(by_rate.values()) == {Decimal("0.00")}
    assert (second.kind, second.revision, second.total, second.subtotal, second.tax_total) == (
        InvoiceKind.INVOICE, 2, Decimal("24.20"), Decimal("21.00"), Decimal("3.20"))
    assert [(line["sku"], line["quantity"]) for line in second.lines] == [("A", 1), ("B", 2)]
    # the money reconciles to the cent: captured - refunded = the new total = the current invoice
    assert sum(p.captured_amount - p.refunded_amount for p in payments) == Decimal("24.20") == second.total
    current = await db.run(lambda uow: invoicing.invoice_for_order(uow, order.id))
    assert current is not None and current.id == second.id
    # one ORDER_EDITED event with the before and after
    async with db.read() as session:
        edited = list((await session.execute(select(OrderEvent).where(OrderEvent.order_id == order.id, OrderEvent.type == "ORDER_EDITED"))).scalars())
    assert len(edited) == 1
    data = edited[0].data or {}
    assert data["before"]["total"] == "54.45" and data["after"]["total"] == "24.20" and data["amountRefunded"] == "30.25"
    assert [(line["sku"], line["quantity"]) for line in data["after"]["lines"]] == [("A", 1), ("B", 2)]
    assert str(edited[0].seq) == result["eventCursor"] or int(result["eventCursor"]) > edited[0].seq


async def test_an_edit_up_of_a_captured_order_authorises_and_captures_exactly_the_difference(gql, db, provider):
    # given: 1 A + 1 B, captured and invoiced: 12.10 + 6.05 = 18.15
    await factories.basic_catalog(db)
    order = await paid_card_order(db, [("A", 1), ("B", 1)])
    line_a, _ = await lines_of(db, order.id)

    # when: A up to 3 (2 more at 12.10)
    result = await edit(gql, order.id, changeLines=[{"orderLineId": gid("OrderLine", line_a.id), "quantity": 3}])

    # then: 24.20 more, authorised on the same card as a second payment and captured; the order stays PAID
    assert result["userErrors"] == [], result
    assert result["order"]["total"]["amount"] == "42.35" and result["preview"]["amountDue"]["amount"] == "24.20"
    assert result["order"]["paymentStatus"] == "PAID"
    extra = [op for op in provider.operations if op[0] == "authorize_additional"]
    assert [op[2] for op in extra] == [Decimal("24.20")]
    assert ("capture", extra[0][1], Decimal("24.20")) in provider.operations
    async with db.read() as session:
        payments = list((await session.execute(select(Payment).where(Payment.order_id == order.id).order_by(Payment.created_at))).scalars())
        documents = list((await session.execute(select(Invoice).where(Invoice.order_id == order.id).order_by(Invoice.issued_at))).scalars())
    assert [(p.amount, p.captured_amount, p.parent_payment_id) for p in payments] == [
        (Decimal("18.15"), Decimal("18.15"), None), (Decimal("24.20"), Decimal("24.20"), payments[0].id)]
    assert [(d.kind, d.total) for d in documents] == [
        (InvoiceKind.INVOICE, Decimal("18.15")), (InvoiceKind.CREDIT_NOTE, Decimal("-18.15")), (InvoiceKind.INVOICE, Decimal("42.35"))]


async def test_an_edit_up_of_an_open_authorisation_raises_it_and_a_decline_changes_nothing(gql, db, provider):
    # given: a card order authorised, not yet confirmed (nothing captured): 1 A = 12.10
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], payment_method="CARD", payment_token="test_approve")
    (line_a,) = await lines_of(db, order.id)
    change = [{"orderLineId": gid("OrderLine", line_a.id), "quantity": 2}]

    # when: the card refuses the extra amount
    provider.decline_additional = True
    declined = await edit(gql, order.id, changeLines=change)

    # then: PAYMENT_DECLINED and nothing kept (quantity, stock, events)
    assert [(e["code"], e["field"]) for e in declined["userErrors"]] == [("PAYMENT_DECLINED", ["input", "orderId"])]
    assert (await lines_of(db, order.id))[0].quantity == 1
    assert sum(r for (sku, _), (_, r) in (await reserved(db)).items() if sku == "A") == 1

    # when: it accepts
    provider.decline_additional = False
    result = await edit(gql, order.id, changeLines=change)

    # then: the open authorisation grows by 12.10 and confirmation captures the whole new total
    assert result["userErrors"] == [] and result["order"]["paymentStatus"] == "AUTHORIZED"
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    captures = [op for op in provider.operations if op[0] == "capture"]
    assert [op[2] for op in captures] == [Decimal("24.20")]


async def test_a_retried_edit_with_the_same_key_applies_once(gql, db, provider):
    # given: a paid order of 4 A
    await factories.basic_catalog(db)
    order = await paid_card_order(db, [("A", 4)])
    (line_a,) = await lines_of(db, order.id)
    change = {"changeLines": [{"orderLineId": gid("OrderLine", line_a.id), "quantity": 2}], "idempotencyKey": "edit-1"}

    # when: the same edit twice, then five times at once
    first = await edit(gql, order.id, **change)
    again = await edit(gql, order.id, **change)
    concurrent = await asyncio.gather(*(edit(gql, order.id, **change) for _ in range(5)))

    # then: applied once (one ORDER_EDITED, one refund, 2 units released), every answer the same preview
    assert first["userErrors"] == [] and first["eventCursor"] is not None
    assert all(r["userErrors"] == [] and r["preview"] == first["preview"] for r in [again, *concurrent])
    assert again["eventCursor"] is None
    assert [op[2] for op in provider.operations if op[0] == "refund"] == [Decimal("24.20")]
    async with db.read() as session:
        edited = (await session.execute(select(func.count()).select_from(OrderEvent).where(OrderEvent.type == "ORDER_EDITED"))).scalar_one()
        edits_rows = (await session.execute(select(func.count()).select_from(OrderEdit))).scalar_one()
        releases = (await session.execute(select(func.sum(StockMovement.reserved_delta)).where(StockMovement.kind == "RELEASE"))).scalar_one()
    assert (edited, edits_rows, releases) == (1, 1, -2)
    # and the same key with another input is refused
    other = await edit(gql, order.id, changeLines=[{"orderLineId": gid("OrderLine", line_a.id), "quantity": 1}], idempotencyKey="edit-1")
    assert [(e["code"], e["field"]) for e in other["userErrors"]] == [("IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])]


async def test_a_shipped_line_and_a_picked_line_refuse_change_naming_the_line(gql, db):
    # given: an order of 1 A (MAD) + 1 B (MAD), confirmed; A shipped, then B on a pick list
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1), ("B", 1)], payment_method="BANK_TRANSFER")
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    line_a, line_b = await lines_of(db, order.id)
    await db.run(lambda uow: shipping_flow.create_shipment(uow=uow, order_id=order.id, warehouse_code="MAD", carrier_code="CORREOS",
                                                           lines=[ShipLine("A", 1)]), actor="test")
    await db.run(lambda uow: pick_lists.create_pick_list(uow=uow, warehouse_code="MAD", order_ids=[order.id]), actor="test")
    before = await table_counts(db)

    # when
    shipped = await edit(gql, order.id, changeLines=[{"orderLineId": gid("OrderLine", line_a.id), "quantity": 2}])
    picked = await edit(gql, order.id, removeLines=[gid("OrderLine", line_b.id)])

    # then: INVALID_TRANSITION at the line, naming its SKU; nothing written
    assert [(e["code"], e["field"]) for e in shipped["userErrors"]] == [("INVALID_TRANSITION", ["input", "changeLines", "0", "orderLineId"])]
    assert "A" in shipped["userErrors"][0]["message"] and "shipped" in shipped["userErrors"][0]["message"]
    assert [(e["code"], e["field"]) for e in picked["userErrors"]] == [("INVALID_TRANSITION", ["input", "removeLines", "0"])]
    assert "B" in picked["userErrors"][0]["message"] and "pick list" in picked["userErrors"][0]["message"]
    assert await table_counts(db) == before


async def test_bad_input_is_refused_with_its_path_and_writes_nothing(gql, db):
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1), ("B", 1)])
    line_a, line_b = await lines_of(db, order.id)
    before = await table_counts(db)

    result = await edit(gql, order.id, changeLines=[{"orderLineId": gid("OrderLine", line_a.id), "quantity": -1},
                                                    {"orderLineId": gid("OrderLine", line_a.id), "quantity": 2}],
                        addLines=[{"sku": "NOPE", "quantity": 1}, {"sku": "A", "quantity": 0}])
    assert sorted((e["code"], tuple(e["field"])) for e in result["userErrors"]) == sorted([
        ("INVALID_INPUT", ("input", "changeLines", "0", "quantity")), ("INVALID_INPUT", ("input", "changeLines", "1", "orderLineId")),
        ("NOT_FOUND", ("input", "addLines", "0", "sku")), ("INVALID_INPUT", ("input", "addLines", "1", "quantity")),
    ])
    nothing_left = await edit(gql, order.id, removeLines=[gid("OrderLine", line_a.id), gid("OrderLine", line_b.id)])
    assert [e["code"] for e in nothing_left["userErrors"]] == ["INVALID_INPUT"]
    not_a_line = await edit(gql, order.id, removeLines=[gid("Order", order.id)])
    assert [(e["code"], e["field"]) for e in not_a_line["userErrors"]] == [("NOT_FOUND", ["input", "removeLines", "0"])]
    too_many = await edit(gql, order.id, addLines=[{"sku": "C", "quantity": 4}])
    assert [(e["code"], e["field"]) for e in too_many["userErrors"]] == [("OUT_OF_STOCK", ["input", "addLines", "0", "sku"])]
    assert await table_counts(db) == before


async def test_an_address_change_and_an_added_line_update_the_order(gql, db):
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)])
    address = {**ADDRESS_INPUT, "city": "Sevilla", "postalCode": "41001"}
    result = await edit(gql, order.id, shippingAddress=address, addLines=[{"sku": "B", "quantity": 2}])
    assert result["userErrors"] == [], result
    assert [(line["sku"], line["quantity"]) for line in result["order"]["lines"]] == [("A", 1), ("B", 2)]
    assert result["order"]["total"]["amount"] == "24.20"  # 12.10 + 2 x 6.05
    async with db.read() as session:
        stored = await session.get(Order, order.id)
    assert stored is not None and stored.shipping_address["city"] == "Sevilla"


async def test_20_concurrent_edits_and_orders_competing_for_the_last_units_never_oversell(gql, db):
    # given: 15 units of HOT in two warehouses; 10 orders of 1 placed (5 free), two of them with 2 units (to give one back)
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.warehouse(db, "BCN", ["WEB"])
    await factories.product(db, "HOT", "10.00")
    await factories.stock(db, "HOT", "MAD", 8)
    await factories.stock(db, "HOT", "BCN", 7)
    placed = [await factories.place(db, [("HOT", 2 if i < 2 else 1)]) for i in range(10)]  # 12 reserved, 3 free
    hot_lines = {o.id: (await lines_of(db, o.id))[0] for o in placed}

    async def post(document: str, variables: dict[str, Any]) -> dict[str, Any]:
        # What a client does with UNAVAILABLE / NOT_WRITTEN (a lock wait cut short on this loaded machine): retry.
        for _ in range(10):
            response = await gql.client.post("/graphql", json={"query": document, "variables": variables},
                                             headers={"Authorization": f"Bearer {gql.token}"})
            body = response.json()
            if response.status_code == 200:
                assert "errors" not in body, body
                return body["data"]
            assert body["errors"][0]["extensions"]["outcome"] == "NOT_WRITTEN", body
        raise AssertionError("still unavailable after 10 tries")

    async def change(order: Order, quantity: int) -> dict[str, Any]:
        line = gid("OrderLine", hot_lines[order.id].id)
        return (await post(EDIT, {"input": {"orderId": gid("Order", order.id), "changeLines": [{"orderLineId": line, "quantity": quantity}]}}))["editOrder"]

    def up(order: Order) -> Any:
        return change(order, hot_lines[order.id].quantity + 1)

    def down(order: Order) -> Any:
        return change(order, 1)

    async def new_order() -> dict[str, Any]:
        body = {"channel": "WEB", "email": "race@example.com", "lines": [{"sku": "HOT", "quantity": 1}], "shippingAddress": ADDRESS_INPUT}
        return await post(PLACE, {"input": body})

    # when: 8 edits +1, 2 edits -1 (giving units back mid-race) and 10 new orders of 1, all at once
    requests = [up(o) for o in placed[2:]] + [down(o) for o in placed[:2]] + [new_order() for _ in range(10)]
    results = await asyncio.gather(*requests)

    # then: never more than the free units (3, + the 2 given back when a release committed before a taker looked) were
    # taken; every refusal is OUT_OF_STOCK; the stock, its ledger and the orders' lines agree unit for unit
    edits_up, edits_down, orders = results[:8], results[8:10], [r["placeOrder"] for r in results[10:]]
    assert all(r["userErrors"] == [] for r in edits_down)
    takers = sum(1 for r in edits_up if not r["userErrors"]) + sum(1 for r in orders if not r["userErrors"])
    refused = [e["code"] for r in [*edits_up, *orders] for e in r["userErrors"]]
    assert 3 <= takers <= 5 and refused == ["OUT_OF_STOCK"] * (18 - takers)
    stock = await reserved(db)
    assert sum(r for _, r in stock.values()) == 10 + takers and all(r <= on_hand for on_hand, r in stock.values())
    async with db.read() as session:
        ledger = (await session.execute(select(func.sum(StockMovement.reserved_delta)))).scalar_one()
        levels = (await session.execute(select(func.sum(StockLevel.reserved)))).scalar_one()
        ordered = (await session.execute(select(func.sum(OrderLine.quantity)))).scalar_one()
    assert ledger == levels == ordered == 10 + takers
    # and what is left is free for the next taker: exactly 5 - takers more can be placed
    if takers < 5:
        more = await asyncio.gather(*(new_order() for _ in range(5 - takers)))
        assert all(r["placeOrder"]["userErrors"] == [] for r in more)
    last = (await new_order())["placeOrder"]
    assert [e["code"] for e in last["userErrors"]] == ["OUT_OF_STOCK"]



async def test_the_edit_is_pushed_live_to_subscribers_of_the_order(gql, db, app):
    # given: a live subscription to the order's events (what trackOrder, and issue 17's webhooks, are fed by)
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)])
    (line_a,) = await lines_of(db, order.id)
    hub = app.state.hub
    subscription = hub.subscribe_orders(lambda delivery: delivery.event.order_id == order.id)
    try:
        # when
        result = await edit(gql, order.id, changeLines=[{"orderLineId": gid("OrderLine", line_a.id), "quantity": 2}])
        assert result["userErrors"] == [], result

        # then: the ORDER_EDITED event arrives with its cursor and the order as it is after the edit
        delivery = await asyncio.wait_for(subscription.get(), timeout=10)
        while delivery.event.type != "ORDER_EDITED":
            delivery = await asyncio.wait_for(subscription.get(), timeout=10)
        assert int(result["eventCursor"]) >= delivery.event.seq
        assert delivery.order.total == Decimal("24.20")
        assert (delivery.event.data or {})["after"]["lines"][0]["quantity"] == 2
    finally:
        hub.unsubscribe(subscription)


async def test_oms_check_reports_an_invoice_revision_left_uncredited(gql, db, provider):
    # given: a paid, invoiced order edited once (revision 1 credited, revision 2 issued): consistent
    await factories.basic_catalog(db)
    order = await paid_card_order(db, [("A", 2)])
    (line_a,) = await lines_of(db, order.id)
    assert (await edit(gql, order.id, changeLines=[{"orderLineId": gid("OrderLine", line_a.id), "quantity": 1}]))["userErrors"] == []
    assert await check_invariants(db) == []
    try:
        # when: a third revision appears without the second being credited, billing another amount
        async with db.engine.begin() as conn:
            await conn.execute(text("""
                INSERT INTO invoices (id, kind, series, sequence, number, order_id, issued_at, currency, subtotal, tax_total, total, seller,
                                      buyer, lines, tax_breakdown, order_number, revision)
                SELECT gen_random_uuid(), kind, series, sequence + 100, number || '-X', order_id, issued_at, currency, subtotal, tax_total,
                       total + 1, seller, buyer, lines, tax_breakdown, order_number, 3
                FROM invoices WHERE order_id = :order AND revision = 2 AND kind = 'INVOICE'"""), {"order": order.id})
        report = await check_invariants(db)
        # then
        assert any(line.startswith("superseded invoice revisions fully credited") for line in report), report
        assert any(line.startswith("the current invoice bills the order's total") for line in report), report
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("TRUNCATE invoices CASCADE"))
            await conn.execute(text("DELETE FROM counters WHERE name LIKE 'invoice_series:%'"))


async def test_order_reads_show_the_cancelled_units_of_each_line(gql, db):
    # given: 3 A, lowered to 1 by an edit
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 3)])
    (line_a,) = await lines_of(db, order.id)
    assert (await edit(gql, order.id, changeLines=[{"orderLineId": gid("OrderLine", line_a.id), "quantity": 1}]))["userErrors"] == []

    # when: read through Query.order and Query.orders (the read planner maps no quantityCancelled: it falls back)
    body = await gql("query($id: ID!) { order(id: $id) { total { amount } lines { sku quantity quantityCancelled total { amount } } } "
                     "orders(first: 5) { edges { node { lines { quantityCancelled } } } } }", {"id": gid("Order", order.id)})

    # then
    assert "errors" not in body, body
    assert body["data"]["order"] == {"total": {"amount": "12.10"}, "lines": [{"sku": "A", "quantity": 1, "quantityCancelled": 2, "total": {"amount": "10.00"}}]}
    assert body["data"]["orders"]["edges"] == [{"node": {"lines": [{"quantityCancelled": 2}]}}]


async def test_an_edit_down_of_an_open_authorisation_releases_the_difference_and_confirmation_captures_the_new_total(gql, db, provider):
    # given: an authorised card order of 3 A = 36.30, not captured
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 3)], payment_method="CARD", payment_token="test_approve")
    (line_a,) = await lines_of(db, order.id)

    # when: down to 1
    result = await edit(gql, order.id, changeLines=[{"orderLineId": gid("OrderLine", line_a.id), "quantity": 1}])

    # then: nothing refunded (nothing was captured), the authorisation lowered to 12.10; confirming captures 12.10
    assert result["userErrors"] == [] and result["preview"]["amountToRefund"]["amount"] == "0.00"
    async with db.read() as session:
        payment = (await session.execute(select(Payment).where(Payment.order_id == order.id))).scalar_one()
        voided = (await session.execute(select(OrderEvent.data).where(OrderEvent.order_id == order.id, OrderEvent.type == "PAYMENT_VOIDED"))).scalar_one()
    assert (payment.status, payment.amount) == ("AUTHORIZED", Decimal("12.10"))
    assert voided is not None and voided["amount"] == "24.20" and voided["partial"] is True
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    assert [(op[0], op[2]) for op in provider.operations] == [("authorize", Decimal("36.30")), ("capture", Decimal("12.10"))]


async def test_a_bank_transfer_order_expects_the_new_total(gql, db):
    # given: an unpaid bank transfer of 1 A = 12.10
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], payment_method="BANK_TRANSFER")
    (line_a,) = await lines_of(db, order.id)

    # when: up to 3, then down to 2
    up = await edit(gql, order.id, changeLines=[{"orderLineId": gid("OrderLine", line_a.id), "quantity": 3}])
    down = await edit(gql, order.id, changeLines=[{"orderLineId": gid("OrderLine", line_a.id), "quantity": 2}])

    # then: the expected transfer follows the total, still pending, with its deadline
    assert up["userErrors"] == [] and down["userErrors"] == []
    assert up["preview"]["amountDue"]["amount"] == "24.20" and down["preview"]["amountToRefund"]["amount"] == "0.00"
    async with db.read() as session:
        payment = (await session.execute(select(Payment).where(Payment.order_id == order.id))).scalar_one()
    assert (payment.status, payment.amount, payment.expires_at is not None) == ("PENDING", Decimal("24.20"), True)


async def test_an_edit_interrupted_after_the_provider_refunded_is_replayed_there_when_retried(gql, db, provider, monkeypatch):
    # given: a paid, invoiced order of 3 A; the edit's transaction fails after the provider's refund, once
    await factories.basic_catalog(db)
    order = await paid_card_order(db, [("A", 3)])
    (line_a,) = await lines_of(db, order.id)
    real = invoicing.reissue_invoice
    failures = [RuntimeError("crash after the provider refunded")]

    async def crashing(**kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real(**kwargs)

    monkeypatch.setattr(invoicing, "reissue_invoice", crashing)
    change = {"changeLines": [{"orderLineId": gid("OrderLine", line_a.id), "quantity": 1}], "idempotencyKey": "crash-1"}

    # when: the request fails (nothing of ours committed), then the client retries with its key
    body = await gql(EDIT, {"input": {"orderId": gid("Order", order.id), **change}})
    assert body.get("errors"), body
    assert (await lines_of(db, order.id))[0].quantity == 3
    retried = await edit(gql, order.id, **change)

    # then: the provider refunded once (the retry sent the same key and got the first answer), our books agree
    assert retried["userErrors"] == [] and retried["order"]["total"]["amount"] == "12.10"
    assert [op[2] for op in provider.operations if op[0] == "refund"] == [Decimal("24.20")]
    async with db.read() as session:
        payment = (await session.execute(select(Payment).where(Payment.order_id == order.id))).scalar_one()
    assert (payment.captured_amount, payment.refunded_amount) == (Decimal("36.30"), Decimal("24.20"))
    assert provider.authorizations[payment.reference or ""].refunded == Decimal("24.20")


async def test_an_edit_that_changes_nothing_is_refused(gql, db):
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 2)])
    (line_a,) = await lines_of(db, order.id)
    same = await edit(gql, order.id, changeLines=[{"orderLineId": gid("OrderLine", line_a.id), "quantity": 2}], shippingAddress=ADDRESS_INPUT)
    empty = await edit(gql, order.id)
    assert [(e["code"], e["field"]) for e in same["userErrors"]] == [("INVALID_INPUT", ["input"])]
    assert [(e["code"], e["field"]) for e in empty["userErrors"]] == [("INVALID_INPUT", ["input"])]
