"""Fulfilment: pick lists, split shipments, stock and ledger, tracking, status and delivery promise,
documents and their downloads, the public tracking view and the shipments reads."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pypdf
import pytest
from sqlalchemy import func, select, update

from app.errors import DomainError, ErrorCode
from app.flows import cancellation, confirmation, shipping
from app.fulfilment import carriers as carrier_config
from app.orders import promise as calendar
from app.orders.enums import OrderEventType
from models import Allocation, OrderEvent, OrderLine, StockLevel, StockMovement, Warehouse
from models.fulfilment import Shipment, TrackingEvent
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import make_key

MADRID = ZoneInfo("Europe/Madrid")

CREATE_PICK_LIST = """
mutation($input: CreatePickListInput!) {
  createPickList(input: $input) {
    pickList { id number csvUrl warehouse { code } lines { sku productName quantity orderNumber } }
    userErrors { field code message }
    eventCursor
  }
}"""

SHIPMENT_FIELDS = """
  id carrier trackingNumber trackingUrl status shippedAt estimatedDeliveryDate deliveredAt packingSlipUrl
  warehouse { code }
  events { status occurredAt location description }
"""

CREATE_SHIPMENT = f"""
mutation($input: CreateShipmentInput!) {{
  createShipment(input: $input) {{
    shipment {{ {SHIPMENT_FIELDS} order {{ status estimatedDeliveryDate }} }}
    userErrors {{ field code message }}
    eventCursor
  }}
}}"""

RECORD_TRACKING = f"""
mutation($input: TrackingEventInput!) {{
  recordTrackingEvent(input: $input) {{
    shipment {{ {SHIPMENT_FIELDS} order {{ status estimatedDeliveryDate }} }}
    userErrors {{ field code message }}
  }}
}}"""

ORDER = f"""
query($id: ID!) {{
  order(id: $id) {{
    status estimatedDeliveryDate
    lines {{ sku quantity }}
    shipments {{ {SHIPMENT_FIELDS} }}
    events(first: 100) {{ edges {{ node {{ type status previousStatus data }} }} }}
  }}
}}"""

SHIPMENTS = """
query($first: Int, $after: String, $orderId: ID) {
  shipments(first: $first, after: $after, orderId: $orderId) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id carrier trackingNumber warehouse { code } order { number } } }
  }
}"""

TRACK_ORDER = f"""
query($number: String!, $email: String!) {{
  trackOrder(number: $number, email: $email) {{
    number status placedAt estimatedDeliveryDate
    shipments {{ {SHIPMENT_FIELDS} }}
    events {{ type status previousStatus actor data }}
  }}
}}"""

TRACK_ORDER_THROUGH_SHIPMENT = """
query($number: String!, $email: String!) {
  trackOrder(number: $number, email: $email) { shipments { order { total { amount } shippingAddress { line1 } } } }
}"""


# ---------------------------------------------------------------- helpers


def gid(kind: str, value) -> str:  # type: ignore[no-untyped-def]
    return to_global_id(kind, value)


async def confirmed(db, lines: list[tuple[str, int]], **extra):  # type: ignore[no-untyped-def]
    order = await factories.place(db, lines, **extra)
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    return order


async def call(gql, document: str, input: dict, *, token: str | bool | None = True) -> dict:
    body = await gql(document, {"input": input}, token=token)
    assert "errors" not in body, body
    return next(iter(body["data"].values()))


async def ship(gql, order, warehouse: str, *, carrier: str = "CORREOS", tracking: str | None = None, lines=None) -> dict:  # type: ignore[no-untyped-def]
    return await call(gql, CREATE_SHIPMENT, {
        "orderId": gid("Order", order.id), "warehouseCode": warehouse, "carrier": carrier, "trackingNumber": tracking, "lines": lines,
    })


async def track(gql, shipment_id: str, status: str, occurred_at: datetime, location: str | None = None) -> dict:
    return await call(gql, RECORD_TRACKING, {
        "shipmentId": shipment_id, "status": status, "occurredAt": occurred_at.isoformat(), "location": location,
    })


async def read_order(gql, order) -> dict:  # type: ignore[no-untyped-def]
    body = await gql(ORDER, {"id": gid("Order", order.id)})
    assert "errors" not in body, body
    return body["data"]["order"]


def order_events(order: dict) -> list[dict]:
    return [edge["node"] for edge in order["events"]["edges"]]


def status_changes(order: dict) -> list[tuple[str | None, str]]:
    return [(e["previousStatus"], e["status"]) for e in order_events(order) if e["previousStatus"] != e["status"]]


async def stock_of(db, sku: str, warehouse: str) -> tuple[int, int]:
    async with db.read() as session:
        level = (await session.execute(
            select(StockLevel).join(Warehouse, Warehouse.id == StockLevel.warehouse_id).where(StockLevel.sku == sku, Warehouse.code == warehouse)
        )).scalar_one()
    return level.on_hand, level.reserved


async def shipment_ledger(db) -> list[tuple[str, str, int, int, str]]:
    async with db.read() as session:
        rows = (await session.execute(
            select(StockMovement.sku, Warehouse.code, StockMovement.on_hand_delta, StockMovement.reserved_delta, StockMovement.reference)
            .join(Warehouse, Warehouse.id == StockMovement.warehouse_id).where(StockMovement.kind == "SHIPMENT")
        )).all()
    return sorted(tuple(r) for r in rows)


def at_madrid(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), MADRID).astimezone(UTC)


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    """Sets the clock every promise and tracking check reads (app.orders.promise.utcnow)."""

    def set_to(moment: datetime) -> None:
        monkeypatch.setattr(calendar, "utcnow", lambda: moment)

    return set_to


# Wednesday 2026-11-18; the weekend is 21-22 and 28-29 November.
WED = date(2026, 11, 18)
THU, FRI, MON, TUE = date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 23), date(2026, 11, 24)
WED_NEXT = date(2026, 11, 25)


# ---------------------------------------------------------------- pick lists, split shipments, stock


async def test_split_order_ships_in_two_parts_from_two_warehouses(gql, db):
    # given: B is only in MAD and C only in BCN, so the order is reserved in two warehouses
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 2), ("C", 1)])

    # when: MAD issues its pick list
    picked = await call(gql, CREATE_PICK_LIST, {"warehouseCode": "MAD"})

    # then: only MAD's units are on it and the order is being processed
    assert picked["userErrors"] == []
    assert picked["pickList"]["warehouse"]["code"] == "MAD"
    assert picked["pickList"]["lines"] == [{"sku": "B", "productName": "Product B", "quantity": 2, "orderNumber": order.number}]
    assert (await read_order(gql, order))["status"] == "PROCESSING"

    # when: MAD ships its part
    first = await ship(gql, order, "MAD", tracking="PK 123/45")

    # then: the order is partly shipped; the tracking URL comes from the carrier's template (URL-encoded)
    assert first["userErrors"] == [] and first["eventCursor"]
    assert first["shipment"]["order"]["status"] == "PARTIALLY_SHIPPED"
    assert first["shipment"]["warehouse"]["code"] == "MAD" and first["shipment"]["status"] == "READY"
    assert first["shipment"]["trackingUrl"] == (
        "https://www.correos.es/es/es/herramientas/localizador/envios/detalle?tracking-number=PK%20123%2F45"
    )

    # when: BCN ships the rest (no pick list: shipping straight from CONFIRMED/PARTIALLY_SHIPPED is allowed)
    second = await ship(gql, order, "BCN", carrier="SEUR", tracking="S-1")

    # then
    assert second["shipment"]["order"]["status"] == "SHIPPED"
    read = await read_order(gql, order)
    assert status_changes(read) == [
        (None, "PENDING"), ("PENDING", "CONFIRMED"), ("CONFIRMED", "PROCESSING"), ("PROCESSING", "PARTIALLY_SHIPPED"), ("PARTIALLY_SHIPPED", "SHIPPED"),
    ]
    created = [e for e in order_events(read) if e["type"] == "SHIPMENT_CREATED"]
    assert [(e["data"]["warehouse"], e["data"]["lines"]) for e in created] == [
        ("MAD", [{"sku": "B", "quantity": 2}]), ("BCN", [{"sku": "C", "quantity": 1}]),
    ]
    assert sorted((s["warehouse"]["code"], s["carrier"], s["trackingNumber"]) for s in read["shipments"]) == [
        ("BCN", "SEUR", "S-1"), ("MAD", "CORREOS", "PK 123/45"),
    ]
    async with db.read() as session:
        shipped = dict((await session.execute(select(OrderLine.sku, OrderLine.quantity_shipped).where(OrderLine.order_id == order.id))).all())
    assert shipped == {"B": 2, "C": 1}


async def test_shipping_consumes_reservation_and_on_hand_with_ledger_rows(gql, db):
    # given: B 5 on hand in MAD, 3 of them reserved by the order
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 3)])
    assert await stock_of(db, "B", "MAD") == (5, 3)

    # when: two partial shipments
    await ship(gql, order, "MAD", lines=[{"sku": "B", "quantity": 1}])
    await ship(gql, order, "MAD", lines=[{"sku": "B", "quantity": 2}])

    # then: on hand and reserved both dropped by what shipped, one ledger row per shipment
    assert await stock_of(db, "B", "MAD") == (2, 0)
    assert await shipment_ledger(db) == [("B", "MAD", -2, -2, order.number), ("B", "MAD", -1, -1, order.number)]
    async with db.read() as session:
        allocation = (await session.execute(select(Allocation).where(Allocation.order_id == order.id))).scalar_one()
    assert allocation.quantity_shipped == 3 and allocation.open_quantity == 0
    assert (await read_order(gql, order))["status"] == "SHIPPED"


async def test_over_shipping_is_refused_and_writes_nothing(gql, db):
    # given
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 3), ("C", 1)])
    await ship(gql, order, "MAD", lines=[{"sku": "B", "quantity": 2}])

    # when: more than is reserved and unshipped there, a SKU reserved elsewhere, a SKU not on the order
    too_many = await ship(gql, order, "MAD", lines=[{"sku": "B", "quantity": 2}])
    split_over = await ship(gql, order, "MAD", lines=[{"sku": "B", "quantity": 1}, {"sku": "B", "quantity": 1}])
    elsewhere = await ship(gql, order, "MAD", lines=[{"sku": "C", "quantity": 1}])
    stranger = await ship(gql, order, "MAD", lines=[{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 0}])
    nothing_there = await ship(gql, order, "BCN", lines=[{"sku": "B", "quantity": 1}])

    # then
    assert too_many["shipment"] is None and too_many["eventCursor"] is None
    assert too_many["userErrors"] == [{
        "field": ["input", "lines", "0", "quantity"], "code": "INVALID_INPUT", "message": "Only 1 units of B are reserved in MAD and not yet shipped.",
    }]
    assert split_over["userErrors"][0]["field"] == ["input", "lines", "0", "quantity"]
    assert elsewhere["userErrors"][0]["message"] == "Only 0 units of C are reserved in MAD and not yet shipped."
    assert sorted(e["field"][-1] for e in stranger["userErrors"]) == ["quantity", "sku"]
    assert nothing_there["userErrors"][0]["field"] == ["input", "lines", "0", "quantity"]
    assert await stock_of(db, "B", "MAD") == (3, 1)
    assert await stock_of(db, "C", "BCN") == (3, 1)
    assert await shipment_ledger(db) == [("B", "MAD", -2, -2, order.number)]
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Shipment))).scalar_one() == 1

    # when: shipping everything left from MAD, then once more
    rest = await ship(gql, order, "MAD")
    again = await ship(gql, order, "MAD")

    # then
    assert rest["userErrors"] == [] and rest["shipment"]["order"]["status"] == "PARTIALLY_SHIPPED"
    assert again["userErrors"][0]["message"] == f"Order {order.number} has nothing left to ship from MAD."


async def test_only_fulfillable_orders_ship(gql, db):
    # given: a pending (unconfirmed) order and a cancelled one
    await factories.basic_catalog(db)
    pending = await factories.place(db, [("B", 1)])
    cancelled = await factories.place(db, [("C", 1)])
    await db.run(lambda uow: cancellation.cancel_order(uow=uow, order_id=cancelled.id), actor="test")

    # when
    results = [await ship(gql, pending, "MAD"), await ship(gql, cancelled, "BCN")]

    # then
    assert [r["userErrors"][0]["code"] for r in results] == ["INVALID_TRANSITION", "INVALID_TRANSITION"]
    assert await stock_of(db, "B", "MAD") == (5, 1)


async def test_pick_list_units_go_on_one_list_only_and_made_to_order_joins_its_warehouse(gql, db):
    # given: a stocked line reserved in MAD and a made-to-order line (packed with the rest of the order, in MAD)
    await factories.basic_catalog(db)
    first = await confirmed(db, [("B", 1), ("MTO", 1)])
    second = await confirmed(db, [("B", 2)])
    await factories.make_ready(db, first)  # issue 19: made-to-order units are picked once their line is READY

    # when
    picked = await call(gql, CREATE_PICK_LIST, {"warehouseCode": "MAD", "orderIds": [gid("Order", first.id)]})
    rest = await call(gql, CREATE_PICK_LIST, {"warehouseCode": "MAD"})
    nothing = await call(gql, CREATE_PICK_LIST, {"warehouseCode": "MAD"})
    again = await call(gql, CREATE_PICK_LIST, {"warehouseCode": "MAD", "orderIds": [gid("Order", first.id)]})

    # then
    assert [(line["sku"], line["quantity"]) for line in picked["pickList"]["lines"]] == [("B", 1), ("MTO", 1)]
    assert [(line["orderNumber"], line["sku"], line["quantity"]) for line in rest["pickList"]["lines"]] == [(second.number, "B", 2)]
    assert int(rest["pickList"]["number"].removeprefix("PL-")) == int(picked["pickList"]["number"].removeprefix("PL-")) + 1
    assert nothing["pickList"] is None and nothing["userErrors"][0]["field"] == ["input", "warehouseCode"]
    assert again["userErrors"] == [{
        "field": ["input", "orderIds", "0"], "code": "INVALID_INPUT", "message": f"Order {first.number} has nothing left to pick in MAD.",
    }]

    # when: shipping everything from MAD also ships the made-to-order unit (no stock moves for it)
    shipped = await ship(gql, first, "MAD")

    # then
    assert shipped["shipment"]["order"]["status"] == "SHIPPED"
    assert await shipment_ledger(db) == [("B", "MAD", -1, -1, first.number)]


async def test_create_shipment_calls_the_billing_hook_inside_its_unit_of_work(gql, db, monkeypatch):
    # given: billing refuses (as a declined capture at shipment would)
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1)])
    seen = []

    async def refuse(*, uow, order, shipment):  # type: ignore[no-untyped-def]
        seen.append((order.status, shipment.tracking_number))
        raise DomainError(ErrorCode.INVALID_INPUT, "capture declined", ("order_id",))

    monkeypatch.setattr("app.billing.hooks.on_order_shipped", refuse)

    # when
    result = await ship(gql, order, "MAD", tracking="T1")

    # then: the hook saw the shipped order, and its refusal rolled the whole shipment back
    assert seen == [("SHIPPED", "T1")]
    assert result["userErrors"][0]["message"] == "capture declined"
    assert await stock_of(db, "B", "MAD") == (5, 1)
    assert await shipment_ledger(db) == []
    assert (await read_order(gql, order))["status"] == "CONFIRMED"


# ---------------------------------------------------------------- tracking and delivery


async def test_tracking_events_out_of_order_and_duplicates(gql, db, clock):
    # given: a shipped order
    clock(at_madrid(WED, 10))
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1)])
    shipment = (await ship(gql, order, "MAD", tracking="T1"))["shipment"]
    in_transit, out_for_delivery, delivered = at_madrid(WED, 15), at_madrid(THU, 8), at_madrid(THU, 12, 30)
    clock(at_madrid(THU, 13))

    # when: the carrier reports delivery first, then the earlier events, then repeats one
    await track(gql, shipment["id"], "DELIVERED", delivered, "Madrid")
    await track(gql, shipment["id"], "IN_TRANSIT", in_transit, "Hub")
    await track(gql, shipment["id"], "OUT_FOR_DELIVERY", out_for_delivery)
    repeated = await track(gql, shipment["id"], "IN_TRANSIT", in_transit, "Hub (resent)")

    # then: kept sorted by time, the repeat ignored, the status that of the latest (DELIVERED is final)
    assert repeated["userErrors"] == []
    tracked = repeated["shipment"]
    assert [(e["status"], e["location"]) for e in tracked["events"]] == [("IN_TRANSIT", "Hub"), ("OUT_FOR_DELIVERY", None), ("DELIVERED", "Madrid")]
    assert [datetime.fromisoformat(e["occurredAt"]) for e in tracked["events"]] == [in_transit, out_for_delivery, delivered]
    assert tracked["status"] == "DELIVERED" and datetime.fromisoformat(tracked["deliveredAt"]) == delivered
    assert tracked["estimatedDeliveryDate"] == THU.isoformat()
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(TrackingEvent))).scalar_one() == 3
    read = await read_order(gql, order)
    assert [e["data"]["reported"] for e in order_events(read) if e["type"] == "TRACKING_UPDATED"] == ["DELIVERED", "IN_TRANSIT", "OUT_FOR_DELIVERY"]
    # a late, earlier event never undoes the delivery
    assert read["status"] == "DELIVERED"
    assert status_changes(read)[-1] == ("SHIPPED", "DELIVERED")


async def test_tracking_refuses_unknown_statuses_shipments_and_future_times(gql, db, clock):
    # given
    clock(at_madrid(WED, 10))
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1)])
    shipment = (await ship(gql, order, "MAD"))["shipment"]

    # when
    future = await track(gql, shipment["id"], "IN_TRANSIT", at_madrid(WED, 12))
    unknown = await track(gql, gid("Shipment", "00000000-0000-0000-0000-000000000000"), "IN_TRANSIT", at_madrid(WED, 9))
    ready = await track(gql, shipment["id"], "READY", at_madrid(WED, 9))

    # then
    assert future["userErrors"][0]["field"] == ["input", "occurredAt"]
    assert unknown["userErrors"][0]["code"] == "NOT_FOUND"
    assert ready["userErrors"][0]["field"] == ["input", "status"]


async def test_order_is_delivered_only_when_every_shipment_is(gql, db, clock):
    # given: a split order, both parts shipped
    clock(at_madrid(WED, 10))
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1), ("C", 1)])
    mad = (await ship(gql, order, "MAD"))["shipment"]
    bcn = (await ship(gql, order, "BCN"))["shipment"]
    clock(at_madrid(FRI, 18))

    # when: one part arrives
    first = await track(gql, mad["id"], "DELIVERED", at_madrid(THU, 11))

    # then
    assert first["shipment"]["order"]["status"] == "SHIPPED"

    # when: the other part arrives
    second = await track(gql, bcn["id"], "DELIVERED", at_madrid(FRI, 17))

    # then: DELIVERED, with one DELIVERED status event (returns count their window from it)
    assert second["shipment"]["order"]["status"] == "DELIVERED"
    async with db.read() as session:
        delivered = (await session.execute(
            select(OrderEvent).where(OrderEvent.order_id == order.id, OrderEvent.status == "DELIVERED", OrderEvent.previous_status == "SHIPPED")
        )).scalars().all()
        lines = (await session.execute(select(OrderLine.quantity, OrderLine.quantity_shipped).where(OrderLine.order_id == order.id))).all()
    assert len(delivered) == 1 and delivered[0].actor == "apikey:admin"
    assert all(quantity == shipped for quantity, shipped in lines)


async def test_partially_shipped_order_stays_until_the_rest_ships_and_arrives(gql, db, clock):
    # given: only MAD's part shipped and delivered
    clock(at_madrid(WED, 10))
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1), ("C", 1)])
    mad = (await ship(gql, order, "MAD"))["shipment"]
    delivered = await track(gql, mad["id"], "DELIVERED", at_madrid(WED, 10, 30))
    assert delivered["shipment"]["order"]["status"] == "PARTIALLY_SHIPPED"

    # when: the rest ships
    rest = await ship(gql, order, "BCN")

    # then: shipped, not delivered, until that parcel arrives too
    assert rest["shipment"]["order"]["status"] == "SHIPPED"
    done = await track(gql, rest["shipment"]["id"], "DELIVERED", at_madrid(WED, 10, 45))
    assert done["shipment"]["order"]["status"] == "DELIVERED"


# ---------------------------------------------------------------- delivery promise


@pytest.mark.parametrize(
    ("placed_at", "expected"),
    [
        # CORREOS (the default carrier), ES -> ES: 2 business days from the day it leaves
        (at_madrid(WED, 10), FRI),  # before the 17:00 cut-off: leaves Wednesday
        (at_madrid(WED, 17, 30), MON),  # after the cut-off: leaves Thursday, 2 business days -> Monday
        (at_madrid(FRI, 18), WED_NEXT),  # Friday after the cut-off: leaves Monday
        (at_madrid(date(2026, 11, 21), 10), WED_NEXT),  # Saturday: leaves Monday
    ],
)
async def test_promise_at_placement_counts_cutoff_and_weekends(db, clock, placed_at, expected):
    # given
    await factories.basic_catalog(db)
    clock(placed_at)

    # when
    order = await factories.place(db, [("B", 1)])

    # then
    assert order.estimated_delivery_date == expected


async def test_promise_at_placement_takes_the_slowest_parcel_destination_and_lead_time(db, clock):
    # given: BCN sits in Portugal for this test, so a parcel from it to Spain travels in the EU zone (5 days)
    await factories.basic_catalog(db)
    clock(at_madrid(WED, 10))
    async with db.engine.begin() as conn:
        await conn.execute(update(Warehouse).where(Warehouse.code == "BCN").values(country="PT"))

    # when
    domestic = await factories.place(db, [("B", 1)])
    split = await factories.place(db, [("B", 1), ("C", 1)])
    made_to_order = await factories.place(db, [("B", 1), ("MTO", 1)])

    # then
    assert domestic.estimated_delivery_date == FRI
    assert split.estimated_delivery_date == date(2026, 11, 25)  # PT -> ES, 5 business days from Wednesday
    # 10 calendar days of production: ready Saturday 28th 10:00, leaves Monday 30th, 2 business days
    assert made_to_order.estimated_delivery_date == date(2026, 12, 2)


async def test_promise_recomputed_on_shipping_and_tracking_and_each_change_is_an_event(gql, db, clock):
    # given: placed Wednesday 10:00 with the default carrier's 2 days: promised Friday
    clock(at_madrid(WED, 10))
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1)])
    assert order.estimated_delivery_date == FRI

    # when: shipped with SEUR (1 domestic day) before its cut-off
    shipped = await ship(gql, order, "MAD", carrier="SEUR")

    # then: the shipment and the order promise Thursday
    assert shipped["shipment"]["estimatedDeliveryDate"] == THU.isoformat()
    assert shipped["shipment"]["order"]["estimatedDeliveryDate"] == THU.isoformat()

    # when: an exception on Thursday delays it to Friday; the same report again changes nothing
    clock(at_madrid(THU, 13))
    exception = await track(gql, shipped["shipment"]["id"], "EXCEPTION", at_madrid(THU, 12))
    await track(gql, shipped["shipment"]["id"], "EXCEPTION", at_madrid(THU, 12))

    # then
    assert exception["shipment"]["estimatedDeliveryDate"] == FRI.isoformat()
    assert exception["shipment"]["order"]["estimatedDeliveryDate"] == FRI.isoformat()

    # when: out for delivery on Monday after the weekend
    clock(at_madrid(MON, 9))
    out = await track(gql, shipped["shipment"]["id"], "OUT_FOR_DELIVERY", at_madrid(MON, 8))

    # then: every change of promise is an order event, with its reason
    assert out["shipment"]["order"]["estimatedDeliveryDate"] == MON.isoformat()
    read = await read_order(gql, order)
    changes = [e["data"] for e in order_events(read) if e["type"] == OrderEventType.DELIVERY_ESTIMATE_CHANGED]
    assert [(c["previous"], c["estimatedDeliveryDate"], c["reason"]) for c in changes] == [
        (FRI.isoformat(), THU.isoformat(), "SHIPMENT_CREATED"),
        (THU.isoformat(), FRI.isoformat(), "TRACKING_UPDATED"),
        (FRI.isoformat(), MON.isoformat(), "TRACKING_UPDATED"),
    ]


async def test_promise_of_a_partly_shipped_order_waits_for_what_is_still_to_ship(gql, db, clock):
    # given: a split order placed Wednesday morning: both parcels promised Friday
    clock(at_madrid(WED, 10))
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1), ("C", 1)])

    # when: MAD ships with SEUR at once, BCN's part is still there on Thursday evening
    first = await ship(gql, order, "MAD", carrier="SEUR")
    clock(at_madrid(THU, 19))
    await track(gql, first["shipment"]["id"], "IN_TRANSIT", at_madrid(THU, 18))
    read = await read_order(gql, order)

    # then: what is still in BCN would leave Friday and arrive Tuesday (default carrier, 2 days)
    assert first["shipment"]["estimatedDeliveryDate"] == THU.isoformat()
    assert first["shipment"]["order"]["estimatedDeliveryDate"] == FRI.isoformat()
    assert read["estimatedDeliveryDate"] == TUE.isoformat()


# ---------------------------------------------------------------- documents and downloads


async def test_pick_list_csv_download_parses_back_to_its_lines(gql, db, client):
    # given: two orders picked in MAD, one product name a spreadsheet would run as a formula
    await factories.basic_catalog(db)
    await factories.product(db, "F", "1.00")
    async with db.engine.begin() as conn:
        from models import Product

        await conn.execute(update(Product).where(Product.sku == "F").values(name='=HYPERLINK("x"), "quoted"'))
    await factories.stock(db, "F", "MAD", 4)
    one = await confirmed(db, [("B", 2), ("F", 1)])
    two = await confirmed(db, [("B", 1)])
    picked = (await call(gql, CREATE_PICK_LIST, {"warehouseCode": "MAD"}))["pickList"]
    token = await make_key(db, "shipments:read")

    # when
    response = await client.get(picked["csvUrl"], headers={"Authorization": f"Bearer {token}"})

    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="{picked["number"]}.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["pick_list"], r["warehouse"], r["order_number"], r["sku"], r["product_name"], int(r["quantity"])) for r in rows] == [
        (picked["number"], "MAD", one.number, "B", "Product B", 2),
        (picked["number"], "MAD", one.number, "F", '\'=HYPERLINK("x"), "quoted"', 1),
        (picked["number"], "MAD", two.number, "B", "Product B", 1),
    ]


async def test_packing_slip_pdf_lists_items_and_address_but_no_prices(gql, db, client):
    # given
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 2), ("C", 1)])
    shipment = (await ship(gql, order, "BCN", tracking="TRK-9"))["shipment"]
    token = await make_key(db, "shipments:read")

    # when
    response = await client.get(shipment["packingSlipUrl"], headers={"Authorization": f"Bearer {token}"})

    # then
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.content)).pages)
    assert f"Packing slip - order {order.number}" in text
    for expected in ("Calle Mayor 1", "28013 Madrid", "Product B", "Product C", "TRK-9", "from BCN with CORREOS"):
        assert expected in text, (expected, text)
    # B: 2 ordered, 0 shipped; C: 1 ordered, 1 shipped
    assert "B Product B 2 0" in text and "C Product C 1 1" in text
    for price in ("5.50", "100.00", "EUR", str(order.total)):
        assert price not in text


@pytest.mark.parametrize("document", ["csv", "pdf"])
async def test_downloads_need_a_key_with_shipments_read(gql, db, client, document):
    # given
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1)])
    picked = (await call(gql, CREATE_PICK_LIST, {"warehouseCode": "MAD"}))["pickList"]
    url = picked["csvUrl"] if document == "csv" else (await ship(gql, order, "MAD"))["shipment"]["packingSlipUrl"]
    unknown = (
        f"/documents/pick-lists/{gid('PickList', '00000000-0000-0000-0000-000000000000')}.csv" if document == "csv"
        else f"/documents/orders/{gid('Order', '00000000-0000-0000-0000-000000000000')}/packing-slip.pdf"
    )
    orders_only = await make_key(db, "orders:read")
    reader = await make_key(db, "shipments:read")

    # when
    anonymous = await client.get(url)
    bad_key = await client.get(url, headers={"Authorization": "Bearer not-a-key"})
    no_scope = await client.get(url, headers={"Authorization": f"Bearer {orders_only}"})
    missing = await client.get(unknown, headers={"Authorization": f"Bearer {reader}"})
    malformed = await client.get(url.replace(url.split("/")[3], "garbage"), headers={"Authorization": f"Bearer {reader}"})
    allowed = await client.get(url, headers={"Authorization": f"Bearer {reader}"})

    # then
    assert (anonymous.status_code, bad_key.status_code, no_scope.status_code) == (401, 401, 403)
    assert (missing.status_code, malformed.status_code, allowed.status_code) == (404, 404, 200)
    assert order.number.encode() not in anonymous.content + no_scope.content


# ---------------------------------------------------------------- public tracking


async def test_track_order_shows_the_limited_view(gql, db, clock):
    # given: shipped and in transit, with staff notes and billing events on the order
    clock(at_madrid(WED, 10))
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1), ("C", 1)], email="Ana@Example.com")
    shipment = (await ship(gql, order, "MAD", tracking="T-1"))["shipment"]
    await track(gql, shipment["id"], "IN_TRANSIT", at_madrid(WED, 10, 30), "Madrid hub")

    # when: anonymous, the email in another case
    body = await gql(TRACK_ORDER, {"number": order.number, "email": " ana@example.COM "}, token=None)

    # then
    assert "errors" not in body, body
    view = body["data"]["trackOrder"]
    assert view["number"] == order.number and view["status"] == "PARTIALLY_SHIPPED"
    assert view["estimatedDeliveryDate"] == FRI.isoformat()
    assert [(s["carrier"], s["trackingNumber"], s["status"]) for s in view["shipments"]] == [("CORREOS", "T-1", "IN_TRANSIT")]
    assert view["shipments"][0]["events"] == [
        {"status": "IN_TRANSIT", "occurredAt": view["shipments"][0]["events"][0]["occurredAt"], "location": "Madrid hub", "description": None}
    ]
    assert view["shipments"][0]["packingSlipUrl"] is None
    assert {e["type"] for e in view["events"]} <= {"PLACED", "STATUS_CHANGED", "SHIPMENT_CREATED", "TRACKING_UPDATED", "DELIVERY_ESTIMATE_CHANGED"}
    assert all(e["actor"] is None and e["data"] is None for e in view["events"])
    raw = str(body)
    for secret in ("Calle Mayor", "28013", "Ana Garc", str(order.total), "5.50", "apikey:"):
        assert secret not in raw


async def test_track_order_with_a_wrong_email_answers_like_an_unknown_order(gql, db, client):
    # given
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1)])
    await ship(gql, order, "MAD")

    # when
    async def ask(number: str, email: str) -> tuple[int, bytes]:
        response = await client.post("/graphql", json={"query": TRACK_ORDER, "variables": {"number": number, "email": email}})
        return response.status_code, response.content

    wrong_email = await ask(order.number, "someone.else@example.com")
    unknown = await ask("SO-999999", "buyer@example.com")
    both_wrong = await ask("SO-999999", "someone.else@example.com")
    empty = await ask(order.number, "")
    right = await ask(order.number, "buyer@example.com")

    # then: byte for byte the same answer
    assert wrong_email == unknown == both_wrong == empty == (200, b'{"data":{"trackOrder":null}}')
    assert right[0] == 200 and order.number.encode() in right[1]


async def test_track_order_cannot_be_walked_back_to_the_order(gql, db):
    # given
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1)])
    await ship(gql, order, "MAD")

    # when
    body = await gql(TRACK_ORDER_THROUGH_SHIPMENT, {"number": order.number, "email": "buyer@example.com"}, token=None)

    # then: Shipment.order needs orders:read
    assert body["errors"] and body["errors"][0]["path"][:2] == ["trackOrder", "shipments"]
    assert "Calle Mayor" not in str(body) and str(order.total) not in str(body)


# ---------------------------------------------------------------- shipments reads


async def test_shipments_query_pages_newest_first_and_filters_by_order(gql, db):
    # given: three shipments over two orders
    await factories.basic_catalog(db)
    one = await confirmed(db, [("B", 1), ("C", 1)])
    two = await confirmed(db, [("B", 1)])
    await ship(gql, one, "MAD", tracking="1")
    await ship(gql, two, "MAD", tracking="2")
    await ship(gql, one, "BCN", tracking="3")

    # when
    page1 = (await gql(SHIPMENTS, {"first": 2}))["data"]["shipments"]
    page2 = (await gql(SHIPMENTS, {"first": 2, "after": page1["pageInfo"]["endCursor"]}))["data"]["shipments"]
    of_one = (await gql(SHIPMENTS, {"orderId": gid("Order", one.id)}))["data"]["shipments"]

    # then
    assert page1["totalCount"] == 3 and page1["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["trackingNumber"] for e in page1["edges"] + page2["edges"]] == ["3", "2", "1"]
    assert page2["pageInfo"]["hasNextPage"] is False
    assert of_one["totalCount"] == 2 and {e["node"]["order"]["number"] for e in of_one["edges"]} == {one.number}
    order = await read_order(gql, one)
    assert sorted(s["trackingNumber"] for s in order["shipments"]) == ["1", "3"]


async def test_shipments_reads_and_writes_need_their_scopes(gql, db):
    # given
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1)])
    reader = await make_key(db, "shipments:read")
    orders_reader = await make_key(db, "orders:read")

    # when
    refused_read = await gql(SHIPMENTS, {}, token=orders_reader)
    anonymous = await gql(SHIPMENTS, {}, token=None)
    refused_write = await gql(CREATE_SHIPMENT, {"input": {"orderId": gid("Order", order.id), "warehouseCode": "MAD", "carrier": "CORREOS"}}, token=reader)
    allowed = await gql(SHIPMENTS, {}, token=reader)

    # then
    assert refused_read["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert anonymous["errors"][0]["extensions"]["code"] in {"UNAUTHENTICATED", "FORBIDDEN"}
    assert refused_write["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert allowed["data"]["shipments"]["totalCount"] == 0
    assert await stock_of(db, "B", "MAD") == (5, 1)


async def test_carriers_query_lists_the_configured_carriers(gql):
    # when
    body = await gql("{ carriers { code name trackingUrlTemplate } }")

    # then
    assert [c["code"] for c in body["data"]["carriers"]] == ["CORREOS", "DHL", "SEUR", "UPS"]
    assert all("{tracking_number}" in c["trackingUrlTemplate"] for c in body["data"]["carriers"])


async def test_a_configured_carrier_drives_tracking_url_transit_by_country_and_cutoff(gql, db, clock):
    # given: a carrier with a country-specific transit, a zone transit and an early cut-off
    await factories.basic_catalog(db)
    await db.run(lambda uow: carrier_config.upsert_carrier(
        uow=uow, code="fast", name="Fast Parcel", tracking_url_template="https://track.example/{tracking_number}",
        transit_days={"es": 4, "DOMESTIC": 1}, default_transit_days=9, cutoff_time=time(12, 0),
    ))
    clock(at_madrid(WED, 11))
    before_cutoff = await confirmed(db, [("B", 1)])
    after_cutoff = await confirmed(db, [("C", 1)])

    # when
    first = await ship(gql, before_cutoff, "MAD", carrier="FAST", tracking="X 1")
    clock(at_madrid(WED, 12, 30))
    second = await ship(gql, after_cutoff, "BCN", carrier="fast", tracking="X2")

    # then: the country entry (4 days) wins over the zone; after the cut-off it leaves Thursday
    assert first["shipment"]["trackingUrl"] == "https://track.example/X%201"
    assert first["shipment"]["estimatedDeliveryDate"] == TUE.isoformat()
    assert second["shipment"]["estimatedDeliveryDate"] == WED_NEXT.isoformat()
    assert second["shipment"]["carrier"] == "FAST"


async def test_a_carrier_configuration_is_checked(db):
    # when
    with pytest.raises(DomainError) as refused:
        await db.run(lambda uow: carrier_config.upsert_carrier(
            uow=uow, code="bad code", name="", tracking_url_template="http://no-placeholder", transit_days={"MARS": 2, "ES": -1},
            timezone="Nowhere/Else",
        ))

    # then
    assert sorted(e.path[-1] for e in refused.value.errors) == ["ES", "MARS", "code", "name", "timezone", "tracking_url_template"]


async def test_racing_shipments_of_the_same_units_ship_them_once(db):
    # given
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 3)])

    async def ship_all():  # type: ignore[no-untyped-def]
        return await db.run(lambda uow: shipping.create_shipment(uow=uow, order_id=order.id, warehouse_code="MAD", carrier_code="CORREOS"))

    # when
    results = await asyncio.gather(*(ship_all() for _ in range(5)), return_exceptions=True)

    # then: one shipment; the others found nothing left to ship
    shipped = [r for r in results if isinstance(r, Shipment)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(shipped) == 1 and len(refused) == 4, results
    assert await stock_of(db, "B", "MAD") == (2, 0)
    assert await shipment_ledger(db) == [("B", "MAD", -3, -3, order.number)]


SHIPMENTS_NESTED = """
query($first: Int) {
  shipments(first: $first) {
    totalCount
    edges { node { id warehouse { code } order { number lines { sku } } events { status occurredAt } } }
  }
}"""
HUB_STATEMENTS = ("order_event_horizon", "FROM order_events JOIN orders")


async def test_nested_shipment_fields_cost_the_same_number_of_statements_at_any_page_size(gql, db, clock):
    # given: six orders shipped, each with two tracking events
    clock(at_madrid(WED, 10))
    await factories.basic_catalog(db)
    await factories.stock(db, "B", "MAD", 10)
    for _ in range(6):
        order = await confirmed(db, [("B", 1)])
        shipment = (await ship(gql, order, "MAD"))["shipment"]
        await track(gql, shipment["id"], "IN_TRANSIT", at_madrid(WED, 9))
        await track(gql, shipment["id"], "EXCEPTION", at_madrid(WED, 9, 30))
    counts = {}

    # when
    for first in (2, 6):
        with db.count_statements() as counter:
            body = await gql(SHIPMENTS_NESTED, {"first": first})
        assert "errors" not in body, body
        edges = body["data"]["shipments"]["edges"]
        assert len(edges) == first and all(len(e["node"]["events"]) == 2 and e["node"]["order"]["lines"] for e in edges)
        counts[first] = sum(1 for sql in counter.statements if not any(p in sql for p in HUB_STATEMENTS))

    # then: auth, page, count, and one batch each for warehouses, events, orders and their lines
    assert counts[2] == counts[6] <= 7, counts


async def test_node_resolves_shipments_and_pick_lists(gql, db):
    # given
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1)])
    pick_list = (await call(gql, CREATE_PICK_LIST, {"warehouseCode": "MAD"}))["pickList"]
    shipment = (await ship(gql, order, "MAD", tracking="N1"))["shipment"]
    node = "query($id: ID!) { node(id: $id) { __typename ... on Shipment { trackingNumber } ... on PickList { number } } }"

    # when
    found = [(await gql(node, {"id": gid_}))["data"]["node"] for gid_ in (shipment["id"], pick_list["id"])]

    # then
    assert found == [{"__typename": "Shipment", "trackingNumber": "N1"}, {"__typename": "PickList", "number": pick_list["number"]}]
