"""Click-and-collect (issue 19): pickup points with opening hours, PICKUP placement reserving at the store only,
markReadyForPickup and its code, collectOrder (right code, wrong codes counted, the limit), the public tracking view."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, text

from app.flows import confirmation
from app.fulfilment.carriers import default_rules
from app.orders import promise as calendar
from app.orders.enums import OrderStatus
from app.orders.service import DeliveryMethod
from models import Order, OrderEvent, StockLevel, StockMovement, Warehouse
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import make_key

UPSERT = """
mutation($input: WarehouseInput!) {
  upsertWarehouse(input: $input) {
    warehouse { code pickupPoint timezone openingHours { day opens closes } }
    userErrors { field code message }
  }
}"""

PLACE = """
mutation($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    order { id number status deliveryType estimatedDeliveryDate pickupPoint { code name } }
    userErrors { field code message }
  }
}"""

READY = """
mutation($input: OrderIdInput!) {
  markReadyForPickup(input: $input) { order { status } userErrors { field code message } eventCursor }
}"""

COLLECT = """
mutation($input: CollectOrderInput!) {
  collectOrder(input: $input) { order { status lines { sku quantityShipped } } userErrors { field code message } eventCursor }
}"""

TRACK = """
query($number: String!, $email: String!) {
  trackOrder(number: $number, email: $email) {
    status pickupCode pickupPoint { code name openingHours { day opens closes } }
    events { type status data }
  }
}"""

EMAIL = "collector@example.com"
HOURS = [{"day": "MON", "opens": "09:00", "closes": "14:00"}, {"day": "MON", "opens": "17:00", "closes": "20:00"},
         {"day": "SAT", "opens": "10:00", "closes": "13:00"}]


def dotted(error: dict[str, Any]) -> str:
    return ".".join(str(part) for part in error["field"])


async def stores(gql: Any, db: Any) -> None:
    """A central warehouse (not a pickup point) and a store that is one; A in both, B at the central one only."""
    await factories.warehouse(db, "MAD", ["WEB", "STORE"])
    body = await gql(UPSERT, {"input": {"code": "SHOP1", "name": "Shop Gran Vía", "channels": ["WEB", "STORE"], "pickupPoint": True,
                                        "openingHours": HOURS, "timezone": "Europe/Madrid"}})
    assert body["data"]["upsertWarehouse"]["userErrors"] == [], body
    await factories.warehouse(db, "BCN", ["WEB"])  # serves WEB, not a pickup point
    await factories.product(db, "A")
    await factories.product(db, "B")
    await factories.stock(db, "A", "MAD", 10)
    await factories.stock(db, "A", "SHOP1", 4)
    await factories.stock(db, "B", "MAD", 10)


def pickup_input(lines: list[tuple[str, int]], code: str = "SHOP1", **extra: Any) -> dict[str, Any]:
    return {"channel": "WEB", "email": EMAIL, "lines": [{"sku": s, "quantity": q} for s, q in lines],
            "shippingAddress": factories.ADDRESS_INPUT, "deliveryMethod": {"type": "PICKUP", "warehouseCode": code}, **extra}


async def levels(db: Any) -> dict[tuple[str, str], tuple[int, int]]:
    async with db.read() as session:
        rows = (await session.execute(select(StockLevel.sku, Warehouse.code, StockLevel.on_hand, StockLevel.reserved)
                                      .join(Warehouse, Warehouse.id == StockLevel.warehouse_id))).all()
    return {(sku, code): (on_hand, reserved) for sku, code, on_hand, reserved in rows}


async def placed_pickup(gql: Any, db: Any, lines: list[tuple[str, int]]) -> dict[str, Any]:
    body = await gql(PLACE, {"input": pickup_input(lines)})
    assert body["data"]["placeOrder"]["userErrors"] == [], body
    order = body["data"]["placeOrder"]["order"]
    async with db.read() as session:
        order_id = (await session.execute(select(Order.id).where(Order.number == order["number"]))).scalar_one()
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order_id), actor="test")
    return order


async def stored(db: Any, number: str) -> Order:
    async with db.read() as session:
        return (await session.execute(select(Order).where(Order.number == number))).scalar_one()


async def test_a_pickup_point_keeps_its_opening_hours_and_bad_hours_are_refused(gql, db):
    # given / when: a store flagged as a pickup point with two ranges on Monday and one on Saturday
    await stores(gql, db)
    body = await gql("{ warehouses { code pickupPoint timezone openingHours { day opens closes } } }")
    by_code = {w["code"]: w for w in body["data"]["warehouses"]}
    # then: stored in week order; the other warehouses are not pickup points
    assert by_code["SHOP1"] == {"code": "SHOP1", "pickupPoint": True, "timezone": "Europe/Madrid", "openingHours": HOURS}
    assert by_code["MAD"]["pickupPoint"] is False and by_code["MAD"]["openingHours"] == []
    # an update without the pickup fields keeps them
    kept = await gql(UPSERT, {"input": {"code": "SHOP1", "name": "Shop Gran Vía 2", "channels": ["WEB", "STORE"]}})
    assert kept["data"]["upsertWarehouse"]["warehouse"]["pickupPoint"] is True
    assert kept["data"]["upsertWarehouse"]["warehouse"]["openingHours"] == HOURS

    # when: malformed hours, closing before opening, overlapping ranges, four ranges a day, an unknown zone
    bad = await gql(UPSERT, {"input": {"code": "SHOP2", "name": "Shop 2", "channels": ["WEB"], "pickupPoint": True, "timezone": "Mars/Base",
                                       "openingHours": [{"day": "TUE", "opens": "9:00", "closes": "14:00"},
                                                        {"day": "TUE", "opens": "15:00", "closes": "14:30"},
                                                        {"day": "WED", "opens": "09:00", "closes": "14:00"},
                                                        {"day": "WED", "opens": "13:00", "closes": "18:00"}]}})
    errors = {(dotted(e), e["code"]) for e in bad["data"]["upsertWarehouse"]["userErrors"]}
    assert errors == {("input.openingHours.0.opens", "INVALID_INPUT"), ("input.openingHours.1.closes", "INVALID_INPUT"),
                      ("input.openingHours.3.opens", "INVALID_INPUT"), ("input.timezone", "INVALID_INPUT")}, bad
    many = [{"day": "FRI", "opens": f"{h:02d}:00", "closes": f"{h:02d}:30"} for h in (8, 10, 12, 14)]
    too_many = await gql(UPSERT, {"input": {"code": "SHOP2", "name": "Shop 2", "channels": ["WEB"], "openingHours": many}})
    assert [e["code"] for e in too_many["data"]["upsertWarehouse"]["userErrors"]] == ["LIMIT_EXCEEDED"]
    async with db.read() as session:
        assert (await session.execute(select(Warehouse).where(Warehouse.code == "SHOP2"))).scalar_one_or_none() is None


async def test_a_pickup_order_reserves_at_the_pickup_point_only(gql, db):
    # given: A at the central warehouse (10, priority default) and at the store (4)
    await stores(gql, db)
    before = await levels(db)
    # when: 3 units of A to collect at the store
    body = await gql(PLACE, {"input": pickup_input([("A", 3)])})
    # then: the store's level is reserved +3, nothing elsewhere; the order says where it is collected
    placed = body["data"]["placeOrder"]
    assert placed["userErrors"] == [], body
    assert placed["order"]["deliveryType"] == "PICKUP" and placed["order"]["pickupPoint"] == {"code": "SHOP1", "name": "Shop Gran Vía"}
    after = await levels(db)
    assert after[("A", "SHOP1")] == (4, 3)
    assert {k: v for k, v in after.items() if k != ("A", "SHOP1")} == {k: v for k, v in before.items() if k != ("A", "SHOP1")}
    # a shipped order of the same lines still reserves by the usual rule (the central warehouse fills everything first)
    shipped = await factories.place(db, [("A", 3)])
    assert shipped.delivery_type == "SHIP" and shipped.pickup_warehouse_id is None
    assert (await levels(db))[("A", "MAD")] == (10, 3)


async def test_a_pickup_order_no_warehouse_can_fill_is_out_of_stock_and_bad_pickup_points_are_refused(gql, db):
    await stores(gql, db)
    before = await levels(db)
    # the store has 4 of A and no B, the central warehouse 10 of each. (Before transfers, issue 19, a store lacking units
    # was OUT_OF_STOCK; now its shortfall is transferred from the central warehouse, tests/test_pickup_transfer.py, so
    # OUT_OF_STOCK is for more than the store and the other warehouses have together.)
    for lines, field in (([("A", 15)], "input.lines.0.sku"), ([("A", 1), ("B", 11)], "input.lines.1.sku")):
        refused = await gql(PLACE, {"input": pickup_input(lines)})
        assert [(dotted(e), e["code"]) for e in refused["data"]["placeOrder"]["userErrors"]] == [(field, "OUT_OF_STOCK")], refused
    # unknown, not a pickup point, not serving the channel, missing code, a code with SHIP
    cases = [
        (pickup_input([("A", 1)], "NOPE"), "NOT_FOUND"),
        (pickup_input([("A", 1)], "MAD"), "INVALID_INPUT"),
        ({**pickup_input([("A", 1)]), "channel": "PHONE"}, "INVALID_INPUT"),
        ({**pickup_input([("A", 1)]), "deliveryMethod": {"type": "PICKUP"}}, "INVALID_INPUT"),
        ({**pickup_input([("A", 1)]), "deliveryMethod": {"type": "SHIP", "warehouseCode": "SHOP1"}}, "INVALID_INPUT"),
    ]
    await gql(UPSERT, {"input": {"code": "SHOP1", "name": "Shop Gran Vía", "channels": ["WEB", "STORE"]}})  # PHONE is not served
    for data, code in cases:
        refused = await gql(PLACE, {"input": data})
        errors = refused["data"]["placeOrder"]["userErrors"]
        assert [(dotted(e), e["code"]) for e in errors] == [("input.deliveryMethod.warehouseCode", code)], (data, refused)
    assert await levels(db) == before
    async with db.read() as session:
        assert (await session.execute(select(Order.id))).first() is None


async def test_ready_for_pickup_shows_the_code_in_tracking_and_the_right_code_delivers(gql, db):
    # given: a confirmed pickup order of 3 A at the store
    await stores(gql, db)
    order = await placed_pickup(gql, db, [("A", 3)])
    staff = await make_key(db, "shipments:write", "orders:read")
    pair = {"number": order["number"], "email": EMAIL}
    before = (await gql(TRACK, pair, token=False))["data"]["trackOrder"]
    assert before["status"] == "CONFIRMED" and before["pickupCode"] is None and before["pickupPoint"]["code"] == "SHOP1"

    # when: staff marks it ready
    ready = await gql(READY, {"input": {"orderId": order["id"]}}, token=staff)
    assert ready["data"]["markReadyForPickup"]["userErrors"] == [], ready
    assert ready["data"]["markReadyForPickup"]["order"]["status"] == "READY_FOR_PICKUP"

    # then: the public tracking view (the tracking pair, no key) shows the status, the code and the opening hours
    view = (await gql(TRACK, pair, token=False))["data"]["trackOrder"]
    row = await stored(db, order["number"])
    assert view["status"] == "READY_FOR_PICKUP"
    assert view["pickupCode"] == row.pickup_code and len(row.pickup_code or "") == 6 and (row.pickup_code or "").isdigit()
    assert view["pickupPoint"]["openingHours"] == HOURS
    assert view["events"][-1]["type"] == "READY_FOR_PICKUP" and view["events"][-1]["data"] is None
    # and the code is in no event's data
    async with db.read() as session:
        datas = (await session.execute(select(OrderEvent.data).where(OrderEvent.order_id == row.id))).scalars().all()
    assert all(row.pickup_code not in str(data) for data in datas)
    ready_event = await event_of(db, row.id, "READY_FOR_PICKUP")
    assert ready_event["warehouse"] == "SHOP1" and "openingHours" in ready_event

    # when: collected with the right code
    collected = await gql(COLLECT, {"input": {"orderId": order["id"], "pickupCode": row.pickup_code}}, token=staff)
    # then: delivered, the reservation consumed at the store like a shipment (ledger rows), the code gone from tracking
    payload = collected["data"]["collectOrder"]
    assert payload["userErrors"] == [], collected
    assert payload["order"] == {"status": "DELIVERED", "lines": [{"sku": "A", "quantityShipped": 3}]}
    assert (await levels(db))[("A", "SHOP1")] == (1, 0)
    async with db.read() as session:
        ledger = (await session.execute(select(StockMovement.kind, StockMovement.on_hand_delta, StockMovement.reserved_delta)
                                        .where(StockMovement.reference == order["number"]).order_by(StockMovement.id))).all()
    assert ledger[-1] == ("COLLECTION", -3, -3)
    after = (await gql(TRACK, pair, token=False))["data"]["trackOrder"]
    assert after["status"] == "DELIVERED" and after["pickupCode"] is None
    assert [e["type"] for e in after["events"]][-1] == "COLLECTED"


async def event_of(db: Any, order_id: Any, type_: str) -> dict[str, Any]:
    async with db.read() as session:
        return (await session.execute(select(OrderEvent.data).where(OrderEvent.order_id == order_id, OrderEvent.type == type_))).scalar_one()


async def test_wrong_codes_are_refused_counted_and_limited(gql, db):
    # given: a pickup order ready at the store
    await stores(gql, db)
    order = await placed_pickup(gql, db, [("A", 2)])
    staff = await make_key(db, "shipments:write", "orders:read")
    await gql(READY, {"input": {"orderId": order["id"]}}, token=staff)
    right = (await stored(db, order["number"])).pickup_code
    assert right is not None
    wrong = "000000" if right != "000000" else "111111"

    # when: five wrong codes
    for attempt in range(1, 6):
        refused = (await gql(COLLECT, {"input": {"orderId": order["id"], "pickupCode": wrong}}, token=staff))["data"]["collectOrder"]
        # then: each refused at pickupCode, nothing collected, and the attempt counted (committed although refused)
        assert [(dotted(e), e["code"]) for e in refused["userErrors"]] == [("input.pickupCode", "INVALID_INPUT")], refused
        assert refused["order"] is None and refused["eventCursor"] is None
        assert (await stored(db, order["number"])).pickup_attempts == attempt
    # then: from now on even the right code is LIMIT_EXCEEDED, and the stock is still reserved
    locked = (await gql(COLLECT, {"input": {"orderId": order["id"], "pickupCode": right}}, token=staff))["data"]["collectOrder"]
    assert [(dotted(e), e["code"]) for e in locked["userErrors"]] == [("input.pickupCode", "LIMIT_EXCEEDED")]
    row = await stored(db, order["number"])
    assert (row.status, row.pickup_attempts) == (OrderStatus.READY_FOR_PICKUP, 5)
    assert (await levels(db))[("A", "SHOP1")] == (4, 2)

    # when: staff issues a new code; the old one no longer works, the new one does
    again = await gql(READY, {"input": {"orderId": order["id"]}}, token=staff)
    assert again["data"]["markReadyForPickup"]["userErrors"] == []
    fresh = await stored(db, order["number"])
    assert fresh.pickup_attempts == 0 and fresh.pickup_code is not None
    if fresh.pickup_code != right:
        stale = (await gql(COLLECT, {"input": {"orderId": order["id"], "pickupCode": right}}, token=staff))["data"]["collectOrder"]
        assert [e["code"] for e in stale["userErrors"]] == ["INVALID_INPUT"]
    done = (await gql(COLLECT, {"input": {"orderId": order["id"], "pickupCode": fresh.pickup_code}}, token=staff))["data"]["collectOrder"]
    assert done["userErrors"] == [] and done["order"]["status"] == "DELIVERED"


async def test_mark_ready_is_refused_unless_the_order_can_be_handed_over(gql, db):
    await stores(gql, db)
    await factories.product(db, "MTO", made_to_order=True, lead_time_days=3)
    staff = await make_key(db, "shipments:write")
    reader = await make_key(db, "orders:read")

    async def refusal(order_id: Any, token: str = staff) -> list[tuple[str, str]]:
        body = await gql(READY, {"input": {"orderId": to_global_id("Order", order_id)}}, token=token)
        if body.get("errors"):
            return [("errors", body["errors"][0]["extensions"]["code"])]
        return [(dotted(e), e["code"]) for e in body["data"]["markReadyForPickup"]["userErrors"]]

    # a shipped order
    shipped = await factories.place(db, [("A", 1)])
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=shipped.id), actor="test")
    assert await refusal(shipped.id) == [("input.orderId", "INVALID_TRANSITION")]
    # a pickup order still PENDING
    pending = await factories.place(db, [("A", 1)], delivery_method=DeliveryMethod("PICKUP", "SHOP1"))  # type: ignore[arg-type]
    assert pending.delivery_type == "PICKUP"
    assert await refusal(pending.id) == [("input.orderId", "INVALID_TRANSITION")]
    # a made-to-order line not READY yet, then READY
    mto = await factories.place(db, [("A", 1), ("MTO", 1)], delivery_method=DeliveryMethod("PICKUP", "SHOP1"))  # type: ignore[arg-type]
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=mto.id), actor="test")
    assert await refusal(mto.id) == [("input.orderId", "INVALID_TRANSITION")]
    # (a confirmed pickup order is never shipped by carrier either: collectOrder hands it over)
    ship = await gql("""mutation($input: CreateShipmentInput!) { createShipment(input: $input) { userErrors { field code } } }""",
                     {"input": {"orderId": to_global_id("Order", mto.id), "warehouseCode": "SHOP1", "carrier": "NONE"}})
    assert ship["data"]["createShipment"]["userErrors"] == [{"field": ["input", "orderId"], "code": "INVALID_TRANSITION"}], ship
    await factories.make_ready(db, mto)
    # the scope: shipments:write
    assert await refusal(mto.id, reader) == [("errors", "FORBIDDEN")]
    assert await refusal(mto.id) == []
    assert (await stored(db, mto.number)).status == OrderStatus.READY_FOR_PICKUP


async def test_a_ready_order_can_be_cancelled_and_its_units_go_back(gql, db):
    await stores(gql, db)
    order = await placed_pickup(gql, db, [("A", 2)])
    staff = await make_key(db, "shipments:write")
    await gql(READY, {"input": {"orderId": order["id"]}}, token=staff)
    body = await gql("mutation($input: OrderIdInput!) { cancelOrder(input: $input) { order { status } userErrors { code } } }",
                     {"input": {"orderId": order["id"]}})
    assert body["data"]["cancelOrder"] == {"order": {"status": "CANCELLED"}, "userErrors": []}, body
    assert (await levels(db))[("A", "SHOP1")] == (4, 0)
    view = (await gql(TRACK, {"number": order["number"], "email": EMAIL}, token=False))["data"]["trackOrder"]
    assert view["pickupCode"] is None


async def test_a_pickup_orders_promise_is_the_day_it_is_ready_at_the_store(gql, db):
    # given: the same lines shipped and collected, placed at the same moment
    await stores(gql, db)
    await factories.product(db, "MTO", made_to_order=True, lead_time_days=3)
    shipped = await factories.place(db, [("A", 1)])
    collected = await factories.place(db, [("A", 1)], delivery_method=DeliveryMethod("PICKUP", "SHOP1"))  # type: ignore[arg-type]
    made = await factories.place(db, [("A", 1), ("MTO", 1)], delivery_method=DeliveryMethod("PICKUP", "SHOP1"))  # type: ignore[arg-type]
    async with db.read() as session:
        rules = await default_rules(session)
    # then: no carrier transit, only the cut-off (and a made-to-order line's lead time)
    ready = calendar.dispatch_date(collected.placed_at, cutoff=rules.cutoff_time, tz_name=rules.timezone)
    assert collected.estimated_delivery_date == ready
    assert shipped.estimated_delivery_date > ready
    assert made.estimated_delivery_date == calendar.dispatch_date(made.placed_at + timedelta(days=3), cutoff=rules.cutoff_time,
                                                                  tz_name=rules.timezone)
    # and a production stage move recomputes it the same way (READY: ready today or next business day)
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=made.id), actor="test")
    await factories.make_ready(db, made)
    row = await stored(db, made.number)
    assert row.estimated_delivery_date == calendar.dispatch_date(calendar.utcnow(), cutoff=rules.cutoff_time, tz_name=rules.timezone)


async def test_a_card_pickup_order_holds_then_writes_its_units_at_the_store(gql, db):
    # given / when: a card placement (two transactions around the provider's call) to collect at the store
    await stores(gql, db)
    body = await gql(PLACE, {"input": pickup_input([("A", 2)], payment={"method": "CARD", "token": "test_approve"})})
    placed = body["data"]["placeOrder"]
    # then: the order is a pickup one and its units are reserved at the store only
    assert placed["userErrors"] == [], body
    assert placed["order"]["deliveryType"] == "PICKUP" and placed["order"]["pickupPoint"]["code"] == "SHOP1"
    after = await levels(db)
    assert after[("A", "SHOP1")] == (4, 2) and after[("A", "MAD")] == (10, 0)


EDIT = """
mutation($input: EditOrderInput!) {
  editOrder(input: $input) { order { lines { sku quantity } } userErrors { field code } }
}"""


async def test_an_edit_of_a_pickup_order_reserves_added_units_at_the_pickup_point_only(gql, db):
    # given: a confirmed pickup order of 1 A at the store (4 there, 10 at the central warehouse)
    await stores(gql, db)
    order = await placed_pickup(gql, db, [("A", 1)])
    # when: 2 more A are added; then: reserved at the store
    body = await gql(EDIT, {"input": {"orderId": order["id"], "addLines": [{"sku": "A", "quantity": 2}]}})
    assert body["data"]["editOrder"]["userErrors"] == [], body
    after = await levels(db)
    assert after[("A", "SHOP1")] == (4, 3) and after[("A", "MAD")] == (10, 0)
    # when: more than the store has left (B is not there at all); then: OUT_OF_STOCK, nothing reserved elsewhere
    for lines in ([{"sku": "A", "quantity": 2}], [{"sku": "B", "quantity": 1}]):
        refused = await gql(EDIT, {"input": {"orderId": order["id"], "addLines": lines}})
        assert [e["code"] for e in refused["data"]["editOrder"]["userErrors"]] == ["OUT_OF_STOCK"], refused
    assert await levels(db) == after


async def test_the_locked_re_plan_keeps_a_pickup_order_at_its_pickup_point(gql, db, monkeypatch):
    # given: the one-statement reservation fails as if stock had moved since the snapshot (forcing replan_locked)
    from app.orders import allocation

    async def moved(*args: Any, **kwargs: Any) -> bool:
        return False

    monkeypatch.setattr(allocation, "reserve_at_once", moved)
    await stores(gql, db)
    async with db.engine.begin() as conn:  # the central warehouse first by priority: an unrestricted re-plan would pick it
        await conn.execute(text("UPDATE warehouses SET priority = CASE code WHEN 'MAD' THEN 1 ELSE 200 END"))
    # when
    body = await gql(PLACE, {"input": pickup_input([("A", 2)])})
    # then: re-planned on locked rows, still at the store only
    assert body["data"]["placeOrder"]["userErrors"] == [], body
    after = await levels(db)
    assert after[("A", "SHOP1")] == (4, 2) and after[("A", "MAD")] == (10, 0)
    # the store's shortfall (transfers, issue 19): what it has left there, only the rest at the central warehouse
    body = await gql(PLACE, {"input": pickup_input([("A", 3)])})
    assert body["data"]["placeOrder"]["userErrors"] == [], body
    after = await levels(db)
    assert after[("A", "SHOP1")] == (4, 4) and after[("A", "MAD")] == (10, 1)
    refused = await gql(PLACE, {"input": pickup_input([("A", 10)])})  # 0 free at the store + 9 at the central warehouse
    assert [e["code"] for e in refused["data"]["placeOrder"]["userErrors"]] == ["OUT_OF_STOCK"]
