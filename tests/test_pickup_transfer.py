"""Ship-to-store transfers (issue 19): a PICKUP order whose store lacks units reserves the shortfall at another warehouse,
ships it there as a transfer, and its DELIVERED report moves the units into the store exactly once; markReadyForPickup
waits for it; cancellations release the right units; concurrent placements never oversell."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from app.errors import DomainError, ErrorCode
from app.flows import cancellation, confirmation
from app.fulfilment.carriers import default_rules
from app.infra.check import check_invariants
from app.orders import promise as calendar
from app.orders.service import DeliveryMethod
from models import Allocation, Order, OrderEvent, StockMovement, Warehouse
from tests import factories
from tests.conftest import make_key
from tests.test_pickup import COLLECT, EMAIL, PLACE, READY, TRACK, levels, pickup_input, stored, stores

SHIP = """
mutation($input: CreateShipmentInput!) {
  createShipment(input: $input) {
    shipment { id status carrier warehouse { code } transferTo { code } order { status } }
    userErrors { field code message }
  }
}"""

TRACK_EVENT = """
mutation($input: TrackingEventInput!) {
  recordTrackingEvent(input: $input) { shipment { id status order { status } } userErrors { field code message } }
}"""

LINES = "query($id: ID!) { order(id: $id) { status lines { sku quantity quantityShipped } } }"


async def place(gql: Any, db: Any, lines: list[tuple[str, int]]) -> tuple[dict[str, Any], Order]:
    body = await gql(PLACE, {"input": pickup_input(lines)})
    assert body["data"]["placeOrder"]["userErrors"] == [], body
    order = body["data"]["placeOrder"]["order"]
    row = await stored(db, order["number"])
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=row.id), actor="test")
    return order, row


async def ship(gql: Any, order: dict[str, Any], warehouse: str, lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body = await gql(SHIP, {"input": {"orderId": order["id"], "warehouseCode": warehouse, "carrier": "CORREOS", "trackingNumber": "VAN-1",
                                      "lines": lines}})
    return body["data"]["createShipment"]


async def report(gql: Any, shipment_id: str, status: str, minutes_ago: int) -> dict[str, Any]:
    when = (calendar.utcnow() - timedelta(minutes=minutes_ago)).isoformat()
    body = await gql(TRACK_EVENT, {"input": {"shipmentId": shipment_id, "status": status, "occurredAt": when}})
    assert body["data"]["recordTrackingEvent"]["userErrors"] == [], body
    return body["data"]["recordTrackingEvent"]["shipment"]


async def ledger(db: Any, number: str) -> list[tuple[str, str, str, int, int]]:
    """The order's stock movements (by its number; a transfer's arrival and the collection included): (kind, sku, warehouse, on hand, reserved)."""
    async with db.read() as session:
        rows = (await session.execute(
            select(StockMovement.kind, StockMovement.sku, Warehouse.code, StockMovement.on_hand_delta, StockMovement.reserved_delta)
            .join(Warehouse, Warehouse.id == StockMovement.warehouse_id).where(StockMovement.reference == number).order_by(StockMovement.id)
        )).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def allocations(db: Any, order_id: Any) -> list[tuple[str, str, int, int, int, str | None]]:
    async with db.read() as session:
        codes = dict((await session.execute(select(Warehouse.id, Warehouse.code))).all())
        rows = (await session.execute(select(Allocation).where(Allocation.order_id == order_id))).scalars().all()
    return sorted((a.sku, codes[a.warehouse_id], a.quantity, a.quantity_shipped, a.quantity_released,
                   codes.get(a.transferred_from_warehouse_id)) for a in rows)


async def event_types(db: Any, order_id: Any) -> list[str]:
    async with db.read() as session:
        return list((await session.execute(select(OrderEvent.type).where(OrderEvent.order_id == order_id).order_by(OrderEvent.seq))).scalars())


async def test_the_store_s_shortfall_is_transferred_and_ready_only_once_it_arrived(gql, db):
    # given: the store has 4 A and no B; the central warehouse (MAD) 10 of each
    await stores(gql, db)
    staff = await make_key(db, "shipments:write", "orders:read")
    # when: 6 A and 2 B to collect at the store
    order, row = await place(gql, db, [("A", 6), ("B", 2)])
    # then: the store's 4 A reserved there, only the shortfall (2 A, 2 B) at MAD as transfer allocations
    assert await levels(db) == {("A", "MAD"): (10, 2), ("A", "SHOP1"): (4, 4), ("B", "MAD"): (10, 2)}
    assert await allocations(db, row.id) == [("A", "MAD", 2, 0, 0, None), ("A", "SHOP1", 4, 0, 0, None), ("B", "MAD", 2, 0, 0, None)]
    # the promise is the transfer's arrival at the store (the default carrier from MAD to the store), not "ready now"
    rules = await default_rules_of(db)
    arrival = calendar.estimate_delivery(start=row.placed_at, transit_days=rules.transit_to(origin_country="ES", destination_country="ES"),
                                         cutoff=rules.cutoff_time, tz_name=rules.timezone)
    assert row.estimated_delivery_date == arrival and arrival > calendar.local_date(row.placed_at, rules.timezone)

    # when: staff marks it ready before the transfer left; then: refused, nothing changes
    refused = await gql(READY, {"input": {"orderId": order["id"]}}, token=staff)
    assert [e["code"] for e in refused["data"]["markReadyForPickup"]["userErrors"]] == ["INVALID_TRANSITION"], refused
    # a PICKUP order never ships from its pickup point
    at_store = await ship(gql, order, "SHOP1")
    assert [e["code"] for e in at_store["userErrors"]] == ["INVALID_TRANSITION"], at_store

    # the transfer's units are picked at MAD like any order's
    picked = await gql("mutation($input: CreatePickListInput!) { createPickList(input: $input) { pickList { lines { sku quantity orderNumber } } "
                       "userErrors { code } } }", {"input": {"warehouseCode": "MAD"}})
    assert picked["data"]["createPickList"]["pickList"]["lines"] == [
        {"sku": "A", "quantity": 2, "orderNumber": order["number"]}, {"sku": "B", "quantity": 2, "orderNumber": order["number"]}], picked
    # when: the transfer ships from MAD
    shipped = await ship(gql, order, "MAD")
    assert shipped["userErrors"] == [], shipped
    # then: MAD's units left (on hand and reserved), the order is not shipped to the customer (status and lines unchanged)
    assert shipped["shipment"]["order"]["status"] == "PROCESSING"  # as the pick list left it
    assert shipped["shipment"]["warehouse"] == {"code": "MAD"} and shipped["shipment"]["transferTo"] == {"code": "SHOP1"}
    assert await levels(db) == {("A", "MAD"): (8, 0), ("A", "SHOP1"): (4, 4), ("B", "MAD"): (8, 0)}
    lines = (await gql(LINES, {"id": order["id"]}))["data"]["order"]["lines"]
    assert [(li["sku"], li["quantityShipped"]) for li in lines] == [("A", 0), ("B", 0)]
    shipment_id = shipped["shipment"]["id"]
    # still not ready: in transit
    refused = await gql(READY, {"input": {"orderId": order["id"]}}, token=staff)
    assert [e["code"] for e in refused["data"]["markReadyForPickup"]["userErrors"]] == ["INVALID_TRANSITION"], refused
    assert "in transit" in refused["data"]["markReadyForPickup"]["userErrors"][0]["message"]

    # when: the carrier reports it on its way; then: the order stays PROCESSING, nothing moves
    moving = await report(gql, shipment_id, "IN_TRANSIT", 30)
    assert moving["status"] == "IN_TRANSIT" and moving["order"]["status"] == "PROCESSING"
    assert await levels(db) == {("A", "MAD"): (8, 0), ("A", "SHOP1"): (4, 4), ("B", "MAD"): (8, 0)}

    # when: it is DELIVERED to the store
    arrived = await report(gql, shipment_id, "DELIVERED", 10)
    # then: the units are on hand and reserved at the store, the allocations re-pointed there; the order is still PROCESSING
    assert arrived["status"] == "DELIVERED" and arrived["order"]["status"] == "PROCESSING"
    after_arrival = {("A", "MAD"): (8, 0), ("A", "SHOP1"): (6, 6), ("B", "MAD"): (8, 0), ("B", "SHOP1"): (2, 2)}
    assert await levels(db) == after_arrival
    assert await allocations(db, row.id) == [("A", "SHOP1", 2, 0, 0, "MAD"), ("A", "SHOP1", 4, 0, 0, None), ("B", "SHOP1", 2, 0, 0, "MAD")]
    # when: DELIVERED is reported again (a later time) and repeated; then: nothing moves a second time
    await report(gql, shipment_id, "DELIVERED", 5)
    await report(gql, shipment_id, "DELIVERED", 10)
    assert await levels(db) == after_arrival

    # when: staff marks it ready now; then: it is, and the right code delivers it
    ready = await gql(READY, {"input": {"orderId": order["id"]}}, token=staff)
    assert ready["data"]["markReadyForPickup"]["userErrors"] == [], ready
    code = (await stored(db, order["number"])).pickup_code
    collected = await gql(COLLECT, {"input": {"orderId": order["id"], "pickupCode": code}}, token=staff)
    assert collected["data"]["collectOrder"]["userErrors"] == [], collected
    assert collected["data"]["collectOrder"]["order"]["status"] == "DELIVERED"
    assert await levels(db) == {("A", "MAD"): (8, 0), ("A", "SHOP1"): (0, 0), ("B", "MAD"): (8, 0), ("B", "SHOP1"): (0, 0)}

    # the ledger, exactly: reserved at both, out of MAD, into the store once, collected there
    rows = await ledger(db, order["number"])
    assert sorted(rows[:3]) == [("RESERVATION", "A", "MAD", 0, 2), ("RESERVATION", "A", "SHOP1", 0, 4), ("RESERVATION", "B", "MAD", 0, 2)]
    assert rows[3:] == [
        ("TRANSFER_OUT", "A", "MAD", -2, -2), ("TRANSFER_OUT", "B", "MAD", -2, -2),
        ("TRANSFER_IN", "A", "SHOP1", 2, 2), ("TRANSFER_IN", "B", "SHOP1", 2, 2),
        ("COLLECTION", "A", "SHOP1", -6, -6), ("COLLECTION", "B", "SHOP1", -2, -2),
    ]
    # the transfer's events are internal: TRANSFER_* in the order's timeline, none in the public tracking view
    types = await event_types(db, row.id)
    assert types.count("TRANSFER_SHIPPED") == 1 and types.count("TRANSFER_ARRIVED") == 1 and "SHIPMENT_CREATED" not in types
    assert "TRACKING_UPDATED" not in types
    view = (await gql(TRACK, {"number": order["number"], "email": EMAIL}, token=False))["data"]["trackOrder"]
    assert [e["type"] for e in view["events"] if e["type"].startswith("TRANSFER")] == []
    # nor its parcel: staff see the transfer among the order's shipments, the customer does not
    public = await gql("query($number: String!, $email: String!) { trackOrder(number: $number, email: $email) { shipments { id } } }",
                       {"number": order["number"], "email": EMAIL}, token=False)
    assert public["data"]["trackOrder"]["shipments"] == [], public
    staff_view = await gql("query($id: ID!) { order(id: $id) { shipments { id transferTo { code } } } }", {"id": order["id"]})
    assert staff_view["data"]["order"]["shipments"] == [{"id": shipment_id, "transferTo": {"code": "SHOP1"}}], staff_view
    assert [e["status"] for e in view["events"]][-2:] == ["READY_FOR_PICKUP", "DELIVERED"]


async def default_rules_of(db: Any) -> Any:
    async with db.read() as session:
        return await default_rules(session)


async def test_a_store_with_everything_reserves_there_only_and_a_partial_transfer_arrives_in_parts(gql, db):
    # given: the store has 4 A
    await stores(gql, db)
    staff = await make_key(db, "shipments:write", "orders:read")
    # when: 4 A: all at the store (no transfer, even though MAD has them too)
    _, whole = await place(gql, db, [("A", 4)])
    assert await allocations(db, whole.id) == [("A", "SHOP1", 4, 0, 0, None)]
    # when: another order of 3 A: the store has none free, all three transferred; shipped 1 then 2
    order, row = await place(gql, db, [("A", 3)])
    assert await levels(db) == {("A", "MAD"): (10, 3), ("A", "SHOP1"): (4, 4), ("B", "MAD"): (10, 0)}
    first = await ship(gql, order, "MAD", [{"sku": "A", "quantity": 1}])
    assert first["userErrors"] == [], first
    await report(gql, first["shipment"]["id"], "DELIVERED", 20)
    # then: the arrived unit is split off to the store; the other two are still reserved at MAD
    assert await allocations(db, row.id) == [("A", "MAD", 2, 0, 0, None), ("A", "SHOP1", 1, 0, 0, "MAD")]
    assert await levels(db) == {("A", "MAD"): (9, 2), ("A", "SHOP1"): (5, 5), ("B", "MAD"): (10, 0)}
    refused = await gql(READY, {"input": {"orderId": order["id"]}}, token=staff)
    assert [e["code"] for e in refused["data"]["markReadyForPickup"]["userErrors"]] == ["INVALID_TRANSITION"], refused
    second = await ship(gql, order, "MAD")
    assert second["userErrors"] == [], second
    await report(gql, second["shipment"]["id"], "DELIVERED", 10)
    assert await allocations(db, row.id) == [("A", "SHOP1", 1, 0, 0, "MAD"), ("A", "SHOP1", 2, 0, 0, "MAD")]
    assert await levels(db) == {("A", "MAD"): (7, 0), ("A", "SHOP1"): (7, 7), ("B", "MAD"): (10, 0)}
    ready = await gql(READY, {"input": {"orderId": order["id"]}}, token=staff)
    assert ready["data"]["markReadyForPickup"]["userErrors"] == [], ready
    # nothing left to transfer: another shipment from MAD is refused
    nothing = await ship(gql, order, "MAD")
    assert [e["code"] for e in nothing["userErrors"]] == ["INVALID_TRANSITION"], nothing  # READY_FOR_PICKUP is not shippable


async def test_a_cancellation_releases_the_source_before_shipping_and_the_store_after_arrival(gql, db):
    await stores(gql, db)
    # before the transfer ships: the store's and the source's reservations are released
    order, row = await place(gql, db, [("A", 6)])
    assert await levels(db) == {("A", "MAD"): (10, 2), ("A", "SHOP1"): (4, 4), ("B", "MAD"): (10, 0)}
    await db.run(lambda uow: cancellation.cancel_order(uow=uow, order_id=row.id), actor="test")
    assert await levels(db) == {("A", "MAD"): (10, 0), ("A", "SHOP1"): (4, 0), ("B", "MAD"): (10, 0)}
    rows = await ledger(db, order["number"])
    assert sorted(rows[:2]) == [("RESERVATION", "A", "MAD", 0, 2), ("RESERVATION", "A", "SHOP1", 0, 4)]
    assert sorted(rows[2:]) == [("RELEASE", "A", "MAD", 0, -2), ("RELEASE", "A", "SHOP1", 0, -4)]

    # while the transfer travels: the store's units are released; the transfer arrives as free stock at the store
    order, row = await place(gql, db, [("A", 6)])
    shipped = await ship(gql, order, "MAD")
    assert shipped["userErrors"] == [], shipped
    await db.run(lambda uow: cancellation.cancel_order(uow=uow, order_id=row.id), actor="test")
    assert await levels(db) == {("A", "MAD"): (8, 0), ("A", "SHOP1"): (4, 0), ("B", "MAD"): (10, 0)}
    await report(gql, shipped["shipment"]["id"], "DELIVERED", 10)
    assert await levels(db) == {("A", "MAD"): (8, 0), ("A", "SHOP1"): (6, 0), ("B", "MAD"): (10, 0)}
    assert await allocations(db, row.id) == [("A", "SHOP1", 2, 0, 2, "MAD"), ("A", "SHOP1", 4, 0, 4, None)]
    assert (await ledger(db, order["number"]))[-1] == ("TRANSFER_IN", "A", "SHOP1", 2, 0)

    # after arrival: the store's units (its own and the transferred ones) are released
    order, row = await place(gql, db, [("A", 8)])  # 6 free at the store, 2 from MAD
    assert await levels(db) == {("A", "MAD"): (8, 2), ("A", "SHOP1"): (6, 6), ("B", "MAD"): (10, 0)}
    shipped = await ship(gql, order, "MAD")
    await report(gql, shipped["shipment"]["id"], "DELIVERED", 10)
    assert await levels(db) == {("A", "MAD"): (6, 0), ("A", "SHOP1"): (8, 8), ("B", "MAD"): (10, 0)}
    await db.run(lambda uow: cancellation.cancel_order(uow=uow, order_id=row.id), actor="test")
    assert await levels(db) == {("A", "MAD"): (6, 0), ("A", "SHOP1"): (8, 0), ("B", "MAD"): (10, 0)}
    assert (await ledger(db, order["number"]))[-1] == ("RELEASE", "A", "SHOP1", 0, -8)


async def test_a_transfer_returned_to_sender_is_reserved_again_at_the_source(gql, db):
    await stores(gql, db)
    order, row = await place(gql, db, [("A", 6)])
    shipped = await ship(gql, order, "MAD")
    await report(gql, shipped["shipment"]["id"], "RETURNED_TO_SENDER", 10)
    await report(gql, shipped["shipment"]["id"], "DELIVERED", 5)  # final already: nothing arrives
    # the 2 units are back on hand at MAD, reserved again for the order (open there: a new transfer can take them)
    assert await levels(db) == {("A", "MAD"): (10, 2), ("A", "SHOP1"): (4, 4), ("B", "MAD"): (10, 0)}
    assert await allocations(db, row.id) == [("A", "MAD", 2, 0, 0, None), ("A", "SHOP1", 4, 0, 0, None)]
    assert (await stored(db, order["number"])).status == "CONFIRMED"
    again = await ship(gql, order, "MAD")
    assert again["userErrors"] == [], again
    await report(gql, again["shipment"]["id"], "DELIVERED", 1)
    assert await levels(db) == {("A", "MAD"): (8, 0), ("A", "SHOP1"): (6, 6), ("B", "MAD"): (10, 0)}


async def test_concurrent_pickup_placements_with_transfers_never_oversell(db):
    # given: 4 A at the store, 10 at MAD, 10 at BCN (BCN serves WEB but is not a pickup point)
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.warehouse(db, "BCN", ["WEB"])
    await factories.warehouse(db, "SHOP1", ["WEB"])
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE warehouses SET pickup_point = true WHERE code = 'SHOP1'"))
    await factories.product(db, "A")
    for code, units in (("SHOP1", 4), ("MAD", 10), ("BCN", 10)):
        await factories.stock(db, "A", code, units)

    async def one(i: int) -> str:
        try:
            await factories.place(db, [("A", 3)], email=f"c{i}@example.com", delivery_method=DeliveryMethod("PICKUP", "SHOP1"))  # type: ignore[arg-type]
            return "placed"
        except DomainError as error:
            assert error.code == ErrorCode.OUT_OF_STOCK, error
            return "out"

    # when: 12 orders of 3 at once (36 units wanted, 24 in the network)
    outcomes = await asyncio.gather(*(one(i) for i in range(12)))
    # then: exactly 8 placed, every unit reserved once, none beyond on hand
    assert outcomes.count("placed") == 8, outcomes
    by_warehouse = await levels(db)
    assert {k: v[1] for k, v in by_warehouse.items()} == {("A", "SHOP1"): 4, ("A", "MAD"): 10, ("A", "BCN"): 10}
    async with db.read() as session:
        open_units = sum(a.open_quantity for a in (await session.execute(select(Allocation))).scalars())
    assert open_units == 24


CANCEL_LINES = """
mutation($input: CancelOrderLinesInput!) {
  cancelOrderLines(input: $input) { order { status lines { id sku quantity } } userErrors { field code message } }
}"""


async def test_units_a_line_no_longer_wants_arrive_free_at_the_store(gql, db):
    # given: 6 A to collect (4 at the store, 2 on their way from MAD)
    await stores(gql, db)
    staff = await make_key(db, "shipments:write", "orders:read")
    order, _ = await place(gql, db, [("A", 6)])
    assert (await ship(gql, order, "MAD"))["userErrors"] == []
    line_id = (await gql("query($id: ID!) { order(id: $id) { lines { id } } }", {"id": order["id"]}))["data"]["order"]["lines"][0]["id"]
    # when: 5 of the 6 are cancelled while the transfer travels (the store's 4 are released; the 2 travelling cannot be)
    body = await gql(CANCEL_LINES, {"input": {"orderId": order["id"], "lines": [{"orderLineId": line_id, "quantity": 5}], "reason": "CUSTOMER_REQUEST"}})
    assert body["data"]["cancelOrderLines"]["userErrors"] == [], body
    assert await levels(db) == {("A", "MAD"): (8, 0), ("A", "SHOP1"): (4, 0), ("B", "MAD"): (10, 0)}
    # when: the transfer arrives; then: 1 unit reserved for the line's remaining 1, the other lands free
    shipped_id = (await gql("query($id: ID!) { order(id: $id) { shipments { id } } }", {"id": order["id"]}))["data"]["order"]["shipments"][0]["id"]
    await report(gql, shipped_id, "DELIVERED", 10)
    assert await levels(db) == {("A", "MAD"): (8, 0), ("A", "SHOP1"): (6, 1), ("B", "MAD"): (10, 0)}
    assert (await ledger(db, order["number"]))[-1] == ("TRANSFER_IN", "A", "SHOP1", 2, 1)
    # and the 1 is collected
    assert (await gql(READY, {"input": {"orderId": order["id"]}}, token=staff))["data"]["markReadyForPickup"]["userErrors"] == []
    code = (await stored(db, order["number"])).pickup_code
    collected = await gql(COLLECT, {"input": {"orderId": order["id"], "pickupCode": code}}, token=staff)
    assert collected["data"]["collectOrder"]["order"]["lines"] == [{"sku": "A", "quantityShipped": 1}], collected
    assert await levels(db) == {("A", "MAD"): (8, 0), ("A", "SHOP1"): (5, 0), ("B", "MAD"): (10, 0)}


TRANSFER_BREACHES = [
    ("UPDATE shipments SET transfer_arrived_at = NULL", "transfers leave and land exactly once"),
    ("INSERT INTO stock_movements (sku, warehouse_id, kind, on_hand_delta, reserved_delta, reason) "
     "SELECT sku, warehouse_id, kind, on_hand_delta, reserved_delta, reason FROM stock_movements WHERE kind = 'TRANSFER_IN'",
     "transfers leave and land exactly once"),
    ("UPDATE shipments SET transfer_to_warehouse_id = NULL", "transfer shipments only for pickup orders, to their pickup point"),
    ("UPDATE allocations SET warehouse_id = transferred_from_warehouse_id, quantity_shipped = quantity WHERE transferred_from_warehouse_id IS NOT NULL",
     "pickup orders' units in transit = their travelling transfers"),
    ("UPDATE orders SET status = 'READY_FOR_PICKUP'; UPDATE allocations SET warehouse_id = transferred_from_warehouse_id "
     "WHERE transferred_from_warehouse_id IS NOT NULL", "ready or collected pickup orders hold nothing elsewhere"),
]


@pytest.mark.parametrize("breach, invariant", TRANSFER_BREACHES, ids=[f"{i}-{n}" for n, (_, i) in enumerate(TRANSFER_BREACHES)])
async def test_oms_check_reports_a_broken_transfer(gql, db, breach, invariant):
    # given: a transfer that arrived (clean), then a breach written behind the code's back
    await stores(gql, db)
    order, _ = await place(gql, db, [("A", 6)])
    shipped = await ship(gql, order, "MAD")
    await report(gql, shipped["shipment"]["id"], "DELIVERED", 10)
    assert await check_invariants(db) == []
    async with db.engine.begin() as conn:
        for statement in breach.split("; "):
            await conn.execute(text(statement))
    try:
        violations = await check_invariants(db)
        assert any(line.startswith(invariant) for line in violations), violations
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("TRUNCATE orders, allocations, shipments, stock_levels, stock_movements CASCADE"))


EDIT = """
mutation($input: EditOrderInput!) {
  editOrder(input: $input) { order { lines { id sku quantity } } userErrors { field code message } }
}"""


async def test_an_edit_gives_back_transfer_units_and_adds_units_at_the_store_only(gql, db):
    # given: 6 A to collect: 4 at the store, 2 reserved at MAD for a transfer not shipped yet
    await stores(gql, db)
    order, row = await place(gql, db, [("A", 6)])
    line_id = (await gql("query($id: ID!) { order(id: $id) { lines { id } } }", {"id": order["id"]}))["data"]["order"]["lines"][0]["id"]
    # when: the line goes down to 4; then: the transfer's 2 units are given back at MAD, the store keeps its 4
    body = await gql(EDIT, {"input": {"orderId": order["id"], "changeLines": [{"orderLineId": line_id, "quantity": 4}]}})
    assert body["data"]["editOrder"]["userErrors"] == [], body
    assert await levels(db) == {("A", "MAD"): (10, 0), ("A", "SHOP1"): (4, 4), ("B", "MAD"): (10, 0)}
    # when: B is added (the store has none): refused as before (an edit reserves added units at the pickup point only)
    refused = await gql(EDIT, {"input": {"orderId": order["id"], "addLines": [{"sku": "B", "quantity": 1}]}})
    assert [e["code"] for e in refused["data"]["editOrder"]["userErrors"]] == ["OUT_OF_STOCK"], refused
    # and with nothing left to transfer it can be made ready at once
    staff = await make_key(db, "shipments:write", "orders:read")
    assert (await gql(READY, {"input": {"orderId": order["id"]}}, token=staff))["data"]["markReadyForPickup"]["userErrors"] == []
    assert await allocations(db, row.id) == [("A", "MAD", 2, 0, 2, None), ("A", "SHOP1", 4, 0, 0, None)]


async def test_concurrent_delivered_reports_move_the_units_once(gql, db):
    # given: a transfer of 2 A on its way to the store
    await stores(gql, db)
    order, row = await place(gql, db, [("A", 6)])
    shipped = await ship(gql, order, "MAD")
    # when: four DELIVERED reports (four different times) at once
    await asyncio.gather(*(report(gql, shipped["shipment"]["id"], "DELIVERED", minutes) for minutes in (4, 3, 2, 1)))
    # then: the units arrived once
    assert await levels(db) == {("A", "MAD"): (8, 0), ("A", "SHOP1"): (6, 6), ("B", "MAD"): (10, 0)}
    assert [r for r in await ledger(db, order["number"]) if r[0] == "TRANSFER_IN"] == [("TRANSFER_IN", "A", "SHOP1", 2, 2)]
    assert (await event_types(db, row.id)).count("TRANSFER_ARRIVED") == 1


async def test_a_card_placement_holds_the_transfer_units_then_writes_them_as_its_allocations(gql, db):
    # given: the store has 4 A; a card placement (held between two transactions, issue 16) of 6 A to collect there
    await stores(gql, db)
    body = await gql(PLACE, {"input": {**pickup_input([("A", 6)]), "payment": {"method": "CARD", "token": "test_approve"}}})
    assert body["data"]["placeOrder"]["userErrors"] == [], body
    row = await stored(db, body["data"]["placeOrder"]["order"]["number"])
    # then: the same split as a direct placement, the 2 MAD units a transfer allocation of the order
    assert await levels(db) == {("A", "MAD"): (10, 2), ("A", "SHOP1"): (4, 4), ("B", "MAD"): (10, 0)}
    assert await allocations(db, row.id) == [("A", "MAD", 2, 0, 0, None), ("A", "SHOP1", 4, 0, 0, None)]
