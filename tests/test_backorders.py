"""Backorders and pre-orders (issue 19): a BACKORDER / PREORDER product's shortfall claims expected receipts, never
beyond on hand plus scheduled; the receipt's arrival allocates the claims in placement order; the promise follows
the receipt's expectedAt; cancellation and a declined card give claims back; pick lists and shipments take only
units on hand. `oms check` runs after every test (tests/conftest.py invariants_hold)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.catalog import receipts as receipt_service
from app.catalog import service as catalog
from app.errors import DomainError, ErrorCode
from app.flows import cancellation, confirmation, shipping
from app.flows import receipts as arrivals
from app.fulfilment import promise as delivery
from app.fulfilment.carriers import default_rules
from app.ids import to_global_id
from app.infra.check import check_invariants
from app.orders import promise as calendar
from app.orders.enums import InventoryPolicy, OrderEventType
from models import Allocation, Order, OrderEvent, StockLevel, StockMovement
from models.receipts import StockReceipt
from tests import factories

UPSERT = """
mutation Upsert($input: ProductInput!) {
  upsertProduct(input: $input) { product { sku inventoryPolicy availableFrom } userErrors { field code message } }
}
"""
SCHEDULE = """
mutation Schedule($input: ScheduleReceiptInput!) {
  scheduleReceipt(input: $input) {
    receipt { id sku quantity claimed received claimable expectedAt status warehouse { code } }
    userErrors { field code message }
  }
}
"""
RECEIVE = """
mutation Receive($input: ReceiveStockInput!) {
  receiveStock(input: $input) { receipt { id quantity claimed received status } userErrors { field code message } eventCursor }
}
"""
RECEIPTS = """
query Receipts($sku: String, $open: Boolean) {
  stockReceipts(sku: $sku, open: $open) { edges { node { id sku quantity claimed status warehouse { code } } } }
}
"""


async def backorder_product(db: Any, sku: str = "BO", *, policy: InventoryPolicy = InventoryPolicy.BACKORDER,
                            available_from: date | None = None) -> Any:
    return await db.run(lambda uow: catalog.upsert_product(uow=uow, sku=sku, name=f"Product {sku}", price="10.00", currency="EUR",
                                                           tax_rate="0.21", inventory_policy=policy, available_from=available_from))


async def schedule(db: Any, sku: str, warehouse: str, quantity: int, expected_at: datetime) -> StockReceipt:
    return await db.run(lambda uow: receipt_service.schedule_receipt(uow=uow, sku=sku, warehouse_code=warehouse, quantity=quantity,
                                                                    expected_at=expected_at), actor="test")


async def receive(db: Any, receipt_id: Any, quantity: int) -> StockReceipt:
    return await db.run(lambda uow: arrivals.receive_stock(uow=uow, receipt_id=receipt_id, quantity=quantity), actor="test")


async def receipt_row(db: Any, receipt_id: Any) -> StockReceipt:
    async with db.read() as session:
        return (await session.execute(select(StockReceipt).where(StockReceipt.id == receipt_id))).scalar_one()


async def level(db: Any, sku: str, code: str = "MAD") -> StockLevel:
    from models import Warehouse

    async with db.read() as session:
        return (await session.execute(select(StockLevel).join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
                                      .where(StockLevel.sku == sku, Warehouse.code == code))).scalar_one()


async def allocations_of(db: Any, order: Any) -> list[Allocation]:
    async with db.read() as session:
        return list((await session.execute(select(Allocation).where(Allocation.order_id == order.id).order_by(Allocation.quantity))).scalars())


def bound(allocations: list[Allocation]) -> int:
    return sum(a.open_quantity for a in allocations if a.receipt_id is not None)


def unbound(allocations: list[Allocation]) -> int:
    return sum(a.open_quantity for a in allocations if a.receipt_id is None)


async def promise_from(db: Any, moment: datetime) -> date:
    async with db.read() as session:
        rules = await default_rules(session)
    return delivery.parcel_arrival(rules, ready_at=moment, origin_country="ES", destination_country="ES")


@pytest.fixture
async def setup(db: Any) -> dict[str, Any]:
    """MAD serves WEB; BO (BACKORDER) has 2 on hand and a receipt of 5 expected in ten days."""
    await factories.warehouse(db, "MAD", ["WEB"])
    await backorder_product(db)
    await factories.stock(db, "BO", "MAD", 2)
    expected_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    receipt = await schedule(db, "BO", "MAD", 5, expected_at)
    return {"receipt": receipt, "expected_at": expected_at}


async def test_orders_claim_up_to_on_hand_plus_scheduled_and_arrivals_fill_them_in_placement_order(db, setup) -> None:
    receipt_id, expected_at = setup["receipt"].id, setup["expected_at"]
    a = await factories.place(db, [("BO", 2)], email="a@example.com")  # the 2 on hand
    b = await factories.place(db, [("BO", 2)], email="b@example.com")  # claims 2 of the receipt
    c = await factories.place(db, [("BO", 2)], email="c@example.com")  # claims 2 more (4 of 5)
    with pytest.raises(DomainError) as refused:  # 2 + 5 = 7 < 8
        await factories.place(db, [("BO", 2)], email="d@example.com")
    assert refused.value.code == ErrorCode.OUT_OF_STOCK and refused.value.path == ("lines", 0, "sku")

    assert (unbound(await allocations_of(db, a)), bound(await allocations_of(db, a))) == (2, 0)
    assert (unbound(await allocations_of(db, b)), bound(await allocations_of(db, b))) == (0, 2)
    assert (unbound(await allocations_of(db, c)), bound(await allocations_of(db, c))) == (0, 2)
    stock = await level(db, "BO")
    assert (stock.on_hand, stock.reserved) == (2, 2)  # claims reserve no stock
    row = await receipt_row(db, receipt_id)
    assert (row.claimed, row.received, row.claimable) == (4, 0, 1)

    # promise: A ships now, B and C when the receipt is expected
    assert a.estimated_delivery_date == await promise_from(db, calendar.utcnow())
    assert b.estimated_delivery_date == c.estimated_delivery_date == await promise_from(db, expected_at)
    assert b.estimated_delivery_date > a.estimated_delivery_date

    # a 1-unit order still fits (the last unit expected), then nothing more
    e = await factories.place(db, [("BO", 1)], email="e@example.com")
    with pytest.raises(DomainError):
        await factories.place(db, [("BO", 1)], email="f@example.com")

    # 3 arrive: B fully (placed first), C for 1 of its 2; E keeps waiting
    received = await receive(db, receipt_id, 3)
    assert (received.claimed, received.received, received.status) == (2, 3, "PARTIALLY_RECEIVED")
    assert (unbound(await allocations_of(db, b)), bound(await allocations_of(db, b))) == (2, 0)
    assert (unbound(await allocations_of(db, c)), bound(await allocations_of(db, c))) == (1, 1)
    assert (unbound(await allocations_of(db, e)), bound(await allocations_of(db, e))) == (0, 1)
    stock = await level(db, "BO")
    assert (stock.on_hand, stock.reserved) == (5, 5)
    async with db.read() as session:
        allocated = (await session.execute(
            select(Order.number, OrderEvent.data).join(Order, Order.id == OrderEvent.order_id)
            .where(OrderEvent.type == OrderEventType.BACKORDER_ALLOCATED).order_by(OrderEvent.seq)
        )).all()
        b_now = await session.get(Order, b.id)
        c_now = await session.get(Order, c.id)
        ledger = (await session.execute(
            select(StockMovement.kind, StockMovement.on_hand_delta, StockMovement.reserved_delta, StockMovement.reference)
            .where(StockMovement.reason.like("%from receipt:%") | StockMovement.reference.like("receipt:%")).order_by(StockMovement.id)
        )).all()
    assert [(number, data["quantity"], data["stillAwaited"]) for number, data in allocated] == [(b.number, 2, 0), (c.number, 1, 1)]
    assert b_now is not None and c_now is not None
    assert b_now.estimated_delivery_date == await promise_from(db, calendar.utcnow())  # B now ships from stock
    assert c_now.estimated_delivery_date == await promise_from(db, expected_at)  # C still waits for one unit
    assert [(kind, dh, dr, ref) for kind, dh, dr, ref in ledger] == [
        ("RECEIPT", 3, 0, f"receipt:{receipt_id}"), ("RESERVATION", 0, 2, b.number), ("RESERVATION", 0, 1, c.number)]

    # the rest arrives: C, then E, complete; the receipt is RECEIVED with nothing claimed
    received = await receive(db, receipt_id, 2)
    assert (received.claimed, received.received, received.status) == (0, 5, "RECEIVED")
    assert bound(await allocations_of(db, c)) == bound(await allocations_of(db, e)) == 0
    stock = await level(db, "BO")
    assert (stock.on_hand, stock.reserved) == (7, 7)
    with pytest.raises(DomainError) as beyond:
        await receive(db, receipt_id, 1)
    assert beyond.value.code == ErrorCode.INVALID_INPUT and beyond.value.path == ("quantity",)
    assert await check_invariants(db) == []


async def test_an_arrival_follows_placement_order_not_claim_order(db, setup) -> None:
    await factories.place(db, [("BO", 2)], email="a@example.com")  # on hand
    first = await factories.place(db, [("BO", 2)], email="first@example.com")
    second = await factories.place(db, [("BO", 2)], email="second@example.com")
    async with db.engine.begin() as conn:  # `second` counts as placed first (as a placement committing late would)
        await conn.execute(update(Order).where(Order.id == second.id).values(placed_at=first.placed_at - timedelta(seconds=1)))
    await receive(db, setup["receipt"].id, 2)
    assert bound(await allocations_of(db, second)) == 0
    assert bound(await allocations_of(db, first)) == 2


async def test_cancelling_a_backordered_order_gives_its_claim_back(db, setup) -> None:
    receipt_id = setup["receipt"].id
    a = await factories.place(db, [("BO", 4)], email="a@example.com")  # 2 on hand + 2 claimed
    assert (await receipt_row(db, receipt_id)).claimed == 2
    await db.run(lambda uow: cancellation.cancel_order(uow=uow, order_id=a.id, reason="changed mind"), actor="test")
    assert (await receipt_row(db, receipt_id)).claimed == 0
    stock = await level(db, "BO")
    assert (stock.on_hand, stock.reserved) == (2, 0)
    assert bound(await allocations_of(db, a)) == unbound(await allocations_of(db, a)) == 0
    b = await factories.place(db, [("BO", 7)], email="b@example.com")  # everything is free again
    assert (unbound(await allocations_of(db, b)), bound(await allocations_of(db, b))) == (2, 5)
    # a cancelled claimant gets nothing from the arrival
    await receive(db, receipt_id, 5)
    assert bound(await allocations_of(db, b)) == 0


async def test_deny_products_never_claim_receipts(db) -> None:
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.product(db, "PLAIN")
    await factories.stock(db, "PLAIN", "MAD", 1)
    await schedule(db, "PLAIN", "MAD", 5, datetime.now(UTC) + timedelta(days=3))
    with pytest.raises(DomainError) as refused:
        await factories.place(db, [("PLAIN", 2)])
    assert refused.value.code == ErrorCode.OUT_OF_STOCK
    async with db.read() as session:
        assert (await session.execute(select(func.sum(StockReceipt.claimed)))).scalar_one() == 0


async def test_a_preorder_takes_every_unit_from_receipts_until_available_from(db, monkeypatch) -> None:
    await factories.warehouse(db, "MAD", ["WEB"])
    launch = date.today() + timedelta(days=20)
    await backorder_product(db, "PRE", policy=InventoryPolicy.PREORDER, available_from=launch)
    await factories.stock(db, "PRE", "MAD", 5)
    expected_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=15)
    receipt = await schedule(db, "PRE", "MAD", 3, expected_at)
    early = await factories.place(db, [("PRE", 3)], email="early@example.com")
    assert (unbound(await allocations_of(db, early)), bound(await allocations_of(db, early))) == (0, 3)
    assert early.estimated_delivery_date == await promise_from(db, expected_at)
    with pytest.raises(DomainError) as refused:  # 5 on hand, but before launch only receipts count
        await factories.place(db, [("PRE", 1)], email="late@example.com")
    assert refused.value.code == ErrorCode.OUT_OF_STOCK
    # from available_from on, a pre-order behaves as a backorder: on hand first
    monkeypatch.setattr(calendar, "utcnow", lambda: datetime.combine(launch, datetime.min.time(), UTC) + timedelta(hours=12))
    launched = await factories.place(db, [("PRE", 5)], email="launch@example.com")
    assert (unbound(await allocations_of(db, launched)), bound(await allocations_of(db, launched))) == (5, 0)
    assert (await receipt_row(db, receipt.id)).claimed == 3


async def test_pick_lists_and_shipments_take_only_units_on_hand(db, setup) -> None:
    order = await factories.place(db, [("BO", 3)])  # 2 on hand + 1 claimed
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    shipment = await db.run(lambda uow: shipping.create_shipment(uow=uow, order_id=order.id, warehouse_code="MAD", carrier_code="CORREOS"))
    async with db.read() as session:
        from models.fulfilment import ShipmentLine

        shipped = (await session.execute(select(func.sum(ShipmentLine.quantity)).where(ShipmentLine.shipment_id == shipment.id))).scalar_one()
    assert shipped == 2
    with pytest.raises(DomainError):  # the claimed unit has not arrived
        await db.run(lambda uow: shipping.create_shipment(uow=uow, order_id=order.id, warehouse_code="MAD", carrier_code="CORREOS"))
    await receive(db, setup["receipt"].id, 1)
    second = await db.run(lambda uow: shipping.create_shipment(uow=uow, order_id=order.id, warehouse_code="MAD", carrier_code="CORREOS"))
    assert second.id != shipment.id
    stock = await level(db, "BO")
    assert (stock.on_hand, stock.reserved) == (0, 0)


async def test_oms_check_reports_a_claim_that_does_not_add_up(db, setup) -> None:
    await factories.place(db, [("BO", 3)])
    assert await check_invariants(db) == []
    async with db.engine.begin() as conn:
        await conn.execute(update(StockReceipt).values(claimed=StockReceipt.claimed + 1))
    violations = await check_invariants(db)
    assert any(v.startswith("receipt claimed = open bound allocations") for v in violations)
    async with db.engine.begin() as conn:  # put it back for the after-test check
        await conn.execute(update(StockReceipt).values(claimed=StockReceipt.claimed - 1))


async def test_the_api_schedules_lists_and_receives_receipts(gql, db) -> None:
    await factories.warehouse(db, "MAD", ["WEB"])
    body = await gql(UPSERT, {"input": {"sku": "API", "name": "Api", "price": "3.00", "currency": "EUR", "taxRate": "0.21",
                                        "inventoryPolicy": "BACKORDER"}})
    assert body["data"]["upsertProduct"] == {"product": {"sku": "API", "inventoryPolicy": "BACKORDER", "availableFrom": None}, "userErrors": []}
    body = await gql(UPSERT, {"input": {"sku": "API2", "name": "Api", "price": "3.00", "currency": "EUR", "taxRate": "0.21",
                                        "inventoryPolicy": "PREORDER"}})
    assert body["data"]["upsertProduct"]["userErrors"][0]["field"] == ["input", "availableFrom"]

    expected = (datetime.now(UTC) + timedelta(days=4)).replace(microsecond=0)
    refused = await gql(SCHEDULE, {"input": {"sku": "NOPE", "warehouseCode": "NOWHERE", "quantity": 0,
                                             "expectedAt": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}})
    errors = refused["data"]["scheduleReceipt"]["userErrors"]
    assert sorted((tuple(e["field"]), e["code"]) for e in errors) == sorted([
        (("input", "quantity"), "INVALID_INPUT"), (("input", "expectedAt"), "INVALID_INPUT"), (("input", "sku"), "NOT_FOUND"),
        (("input", "warehouseCode"), "NOT_FOUND"),
    ])
    assert refused["data"]["scheduleReceipt"]["receipt"] is None

    body = await gql(SCHEDULE, {"input": {"sku": "API", "warehouseCode": "MAD", "quantity": 4, "expectedAt": expected.isoformat()}})
    receipt = body["data"]["scheduleReceipt"]["receipt"]
    assert body["data"]["scheduleReceipt"]["userErrors"] == []
    assert (receipt["quantity"], receipt["claimed"], receipt["claimable"], receipt["status"], receipt["warehouse"]) == (4, 0, 4, "SCHEDULED", {"code": "MAD"})
    assert datetime.fromisoformat(receipt["expectedAt"]) == expected

    order = await factories.place(db, [("API", 3)])
    listed = await gql(RECEIPTS, {"sku": "API", "open": True})
    assert [e["node"]["claimed"] for e in listed["data"]["stockReceipts"]["edges"]] == [3]

    body = await gql(RECEIVE, {"input": {"receiptId": receipt["id"], "quantity": 4}})
    assert body["data"]["receiveStock"]["userErrors"] == []
    assert body["data"]["receiveStock"]["receipt"]["status"] == "RECEIVED"
    assert body["data"]["receiveStock"]["eventCursor"] is not None
    assert (await gql(RECEIPTS, {"sku": "API", "open": True}))["data"]["stockReceipts"]["edges"] == []
    assert bound(await allocations_of(db, order)) == 0

    wrong = await gql(RECEIVE, {"input": {"receiptId": to_global_id("Order", order.id), "quantity": 1}})
    assert wrong["data"]["receiveStock"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert wrong["data"]["receiveStock"]["userErrors"][0]["field"] == ["input", "receiptId"]


CANCEL_LINES = """
mutation CancelLines($input: CancelOrderLinesInput!) {
  cancelOrderLines(input: $input) { order { status } userErrors { field code message } }
}
"""
EDIT = """
mutation Edit($input: EditOrderInput!) { editOrder(input: $input) { order { id } userErrors { field code message } } }
"""


async def test_a_line_awaiting_a_receipt_cannot_be_edited_or_partly_cancelled_until_it_arrives(gql, db, setup) -> None:
    from models import OrderLine

    order = await factories.place(db, [("BO", 3)])  # 2 on hand + 1 claimed
    async with db.read() as session:
        line = (await session.execute(select(OrderLine).where(OrderLine.order_id == order.id))).scalar_one()
    line_gid = to_global_id("OrderLine", line.id)
    cancelled = await gql(CANCEL_LINES, {"input": {"orderId": to_global_id("Order", order.id), "reason": "CUSTOMER_REQUEST",
                                                   "lines": [{"orderLineId": line_gid, "quantity": 1}]}})
    assert cancelled["data"]["cancelOrderLines"]["userErrors"][0]["code"] == "INVALID_TRANSITION"
    edited = await gql(EDIT, {"input": {"orderId": to_global_id("Order", order.id), "changeLines": [{"orderLineId": line_gid, "quantity": 2}]}})
    assert edited["data"]["editOrder"]["userErrors"][0]["code"] == "INVALID_TRANSITION"
    assert (await receipt_row(db, setup["receipt"].id)).claimed == 1  # nothing changed
    await receive(db, setup["receipt"].id, 1)
    cancelled = await gql(CANCEL_LINES, {"input": {"orderId": to_global_id("Order", order.id), "reason": "CUSTOMER_REQUEST",
                                                   "lines": [{"orderLineId": line_gid, "quantity": 1}]}})
    assert cancelled["data"]["cancelOrderLines"]["userErrors"] == []
    stock = await level(db, "BO")
    assert (stock.on_hand, stock.reserved) == (3, 2)
