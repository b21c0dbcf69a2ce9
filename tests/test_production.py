"""Made-to-order production stages (issue 19): advanceProduction, the promise it moves, and the READY gate
on shipments and pick lists. The live push to a tracking page is in tests/test_production_live.py."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from app.errors import DomainError
from app.flows import confirmation
from app.flows.production import advance_production
from app.infra.check import check_invariants
from app.orders import promise as calendar
from app.orders.enums import ProductionStage
from app.orders.promise import production_ready_at
from models import OrderEvent, OrderLine
from models.fulfilment import PickListLine, Shipment
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import make_key

MADRID = ZoneInfo("Europe/Madrid")

ADVANCE = """
mutation($input: AdvanceProductionInput!) {
  advanceProduction(input: $input) {
    orderLine { id sku productionStage }
    order { estimatedDeliveryDate }
    userErrors { field code message }
    eventCursor
  }
}"""

ORDER = """
query($id: ID!) {
  order(id: $id) {
    status estimatedDeliveryDate
    lines { id sku productionStage quantityShipped }
    events(first: 100) { edges { node { type data } } }
  }
}"""

CREATE_SHIPMENT = """
mutation($input: CreateShipmentInput!) {
  createShipment(input: $input) {
    shipment { id order { status } }
    userErrors { field code message }
  }
}"""

CREATE_PICK_LIST = """
mutation($input: CreatePickListInput!) {
  createPickList(input: $input) {
    pickList { number lines { orderNumber sku quantity } }
    userErrors { field code message }
  }
}"""


def at_madrid(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), MADRID).astimezone(UTC)


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    def set_to(moment: datetime) -> None:
        monkeypatch.setattr(calendar, "utcnow", lambda: moment)

    return set_to


async def confirmed(db, lines):  # type: ignore[no-untyped-def]
    order = await factories.place(db, lines)
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    return order


async def read_order(gql, order) -> dict:  # type: ignore[no-untyped-def]
    body = await gql(ORDER, {"id": to_global_id("Order", order.id)})
    assert "errors" not in body, body
    return body["data"]["order"]


async def line_id(gql, order, sku: str = "MTO") -> str:  # type: ignore[no-untyped-def]
    return next(line["id"] for line in (await read_order(gql, order))["lines"] if line["sku"] == sku)


async def advance(gql, line: str, stage: str, *, token: str | bool | None = True) -> dict:
    body = await gql(ADVANCE, {"input": {"orderLineId": line, "stage": stage}}, token=token)
    assert "errors" not in body, body
    return body["data"]["advanceProduction"]


async def written(db, order) -> tuple[int, list[tuple[str | None, object]], int, int]:  # type: ignore[no-untyped-def]
    """What a refused move must leave alone: the order's events, its lines' stages, shipments and pick-list lines."""
    async with db.read() as session:
        events = (await session.execute(select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == order.id))).scalar_one()
        stages = [tuple(r) for r in (await session.execute(
            select(OrderLine.production_stage, OrderLine.production_started_at).where(OrderLine.order_id == order.id).order_by(OrderLine.position)
        )).all()]
        shipments = (await session.execute(select(func.count()).select_from(Shipment).where(Shipment.order_id == order.id))).scalar_one()
        picked = (await session.execute(select(func.count()).select_from(PickListLine).where(PickListLine.order_id == order.id))).scalar_one()
    return events, stages, shipments, picked


# ---------------------------------------------------------------- the remaining production days


def test_remaining_production_days_by_stage() -> None:
    now = datetime(2026, 11, 30, 9, tzinfo=UTC)
    started = now - timedelta(days=7, hours=1)

    def ready(stage: str | None, lead: int = 10, started_at: datetime | None = started) -> datetime:
        return production_ready_at(stage=stage, lead_time_days=lead, started_at=started_at, now=now)

    assert ready(None) == ready("QUEUED") == now + timedelta(days=10)  # no stage stored: QUEUED, the whole lead time
    assert ready("IN_PRODUCTION") == now + timedelta(days=3)  # 10 less 7 whole days in production
    assert ready("IN_PRODUCTION", lead=5) == now + timedelta(days=1)  # late: still at least one day
    assert ready("IN_PRODUCTION", started_at=None) == now + timedelta(days=10)
    assert ready("QUALITY_CHECK") == now + timedelta(days=1)
    assert ready("READY") == now


# ---------------------------------------------------------------- each stage moves the promise


async def test_each_stage_moves_the_promise_as_computed(gql, db, clock):
    # given: a made-to-order line (10 days) placed Wednesday 18 November 10:00 Madrid: ready Saturday 28th,
    # leaves Monday 30th, 2 business days with the default carrier -> Wednesday 2 December
    await factories.basic_catalog(db)
    clock(at_madrid(date(2026, 11, 18), 10))
    order = await confirmed(db, [("MTO", 1)])
    assert order.estimated_delivery_date == date(2026, 12, 2)
    line = await line_id(gql, order)
    assert (await read_order(gql, order))["lines"][0]["productionStage"] == "QUEUED"

    steps = [
        # (when, stage, promise): the remaining production days are counted from the move
        (at_madrid(date(2026, 11, 23), 10), "IN_PRODUCTION", date(2026, 12, 7)),  # 10 days: ready Thu 3 Dec, arrives Mon 7
        (at_madrid(date(2026, 11, 27), 10), "QUALITY_CHECK", date(2026, 12, 2)),  # 1 day: ready Sat 28, leaves Mon 30, arrives Wed 2
        (at_madrid(date(2026, 11, 30), 10), "IN_PRODUCTION", date(2026, 12, 7)),  # rework, 7 days in: 3 left, ready Thu 3, arrives Mon 7
        (at_madrid(date(2026, 12, 1), 10), "QUALITY_CHECK", date(2026, 12, 4)),  # 1 day: ready Wed 2, arrives Fri 4
        (at_madrid(date(2026, 12, 1), 16), "READY", date(2026, 12, 3)),  # ready now, before the cut-off: leaves Tue 1, arrives Thu 3
    ]
    for moment, stage, promise in steps:
        # when
        clock(moment)
        moved = await advance(gql, line, stage)
        # then
        assert moved["userErrors"] == [], moved
        assert moved["orderLine"] == {"id": line, "sku": "MTO", "productionStage": stage}
        assert moved["order"]["estimatedDeliveryDate"] == promise.isoformat(), stage

    # then: every move is an event, and every change of promise one too, with the stage move as its reason
    events = [e["node"] for e in (await read_order(gql, order))["events"]["edges"]]
    moves = [(e["data"]["from"], e["data"]["to"], e["data"]["sku"]) for e in events if e["type"] == "PRODUCTION_STAGE_CHANGED"]
    assert moves == [
        ("QUEUED", "IN_PRODUCTION", "MTO"), ("IN_PRODUCTION", "QUALITY_CHECK", "MTO"), ("QUALITY_CHECK", "IN_PRODUCTION", "MTO"),
        ("IN_PRODUCTION", "QUALITY_CHECK", "MTO"), ("QUALITY_CHECK", "READY", "MTO"),
    ]
    changes = [(e["data"]["previous"], e["data"]["estimatedDeliveryDate"], e["data"]["reason"]) for e in events if e["type"] == "DELIVERY_ESTIMATE_CHANGED"]
    dates = ["2026-12-02", "2026-12-07", "2026-12-02", "2026-12-07", "2026-12-04", "2026-12-03"]
    assert changes == [(a, b, "PRODUCTION_STAGE_CHANGED") for a, b in itertools.pairwise(dates)]
    # and the event after a move is its recomputed promise
    types = [e["type"] for e in events]
    assert all(types[i + 1] == "DELIVERY_ESTIMATE_CHANGED" for i, t in enumerate(types) if t == "PRODUCTION_STAGE_CHANGED")


# ---------------------------------------------------------------- bad moves


async def test_bad_moves_give_user_errors_with_codes_and_paths_and_write_nothing(gql, db):
    # given: an unconfirmed order (PENDING) with a stock line and a made-to-order line
    await factories.basic_catalog(db)
    order = await factories.place(db, [("B", 1), ("MTO", 1)])
    stock_line, made = await line_id(gql, order, "B"), await line_id(gql, order)
    assert [(line["sku"], line["productionStage"]) for line in (await read_order(gql, order))["lines"]] == [("B", None), ("MTO", "QUEUED")]

    async def refused(line: str, stage: str) -> tuple[str, list[str], str]:
        before = await written(db, order)
        answer = await advance(gql, line, stage)
        assert answer["orderLine"] is None and answer["order"] is None and answer["eventCursor"] is None, answer
        assert await written(db, order) == before
        [error] = answer["userErrors"]
        return error["code"], error["field"], error["message"]

    # when / then: production waits for the order to be confirmed
    code, field, message = await refused(made, "IN_PRODUCTION")
    assert (code, field) == ("INVALID_TRANSITION", ["input", "orderLineId"]) and "PENDING" in message
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")

    # a stock line has no stages
    code, field, message = await refused(stock_line, "IN_PRODUCTION")
    assert (code, field) == ("INVALID_INPUT", ["input", "orderLineId"]) and "Line 1 (B)" in message
    # an unknown or foreign ID
    assert (await refused(to_global_id("OrderLine", "00000000-0000-0000-0000-000000000000"), "IN_PRODUCTION"))[:2] == ("NOT_FOUND", ["input", "orderLineId"])
    assert (await refused(to_global_id("Order", order.id), "IN_PRODUCTION"))[:2] == ("NOT_FOUND", ["input", "orderLineId"])
    # skipping a stage, or staying
    for stage in ("QUALITY_CHECK", "READY", "QUEUED"):
        code, field, message = await refused(made, stage)
        assert (code, field) == ("INVALID_TRANSITION", ["input", "stage"]) and f"from QUEUED to {stage}" in message

    # backwards, except QUALITY_CHECK -> IN_PRODUCTION (rework)
    assert (await advance(gql, made, "IN_PRODUCTION"))["userErrors"] == []
    assert (await refused(made, "QUEUED"))[:2] == ("INVALID_TRANSITION", ["input", "stage"])
    assert (await refused(made, "READY"))[:2] == ("INVALID_TRANSITION", ["input", "stage"])
    assert (await advance(gql, made, "QUALITY_CHECK"))["userErrors"] == []
    assert (await refused(made, "QUEUED"))[:2] == ("INVALID_TRANSITION", ["input", "stage"])
    assert (await advance(gql, made, "IN_PRODUCTION"))["userErrors"] == []  # rework
    assert (await advance(gql, made, "QUALITY_CHECK"))["userErrors"] == []
    assert (await advance(gql, made, "READY"))["userErrors"] == []
    for stage in ("QUALITY_CHECK", "IN_PRODUCTION", "QUEUED", "READY"):
        assert (await refused(made, stage))[:2] == ("INVALID_TRANSITION", ["input", "stage"]), stage


async def test_advance_production_needs_orders_write(gql, db):
    # given
    await factories.basic_catalog(db)
    order = await confirmed(db, [("MTO", 1)])
    line = await line_id(gql, order)
    reader = await make_key(db, "orders:read", "shipments:write")
    before = await written(db, order)

    # when
    refused = await gql(ADVANCE, {"input": {"orderLineId": line, "stage": "IN_PRODUCTION"}}, token=reader)
    anonymous = await gql(ADVANCE, {"input": {"orderLineId": line, "stage": "IN_PRODUCTION"}}, token=None)

    # then
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert anonymous["errors"][0]["extensions"]["code"] in {"UNAUTHENTICATED", "FORBIDDEN"}
    assert await written(db, order) == before


# ---------------------------------------------------------------- the order ships when every line is ready or in stock


async def test_a_shipment_of_a_made_to_order_line_that_is_not_ready_is_refused(gql, db):
    # given: a stock line reserved in MAD and a made-to-order line (packed there too), in production
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1), ("MTO", 2)])
    made = await line_id(gql, order)
    assert (await advance(gql, made, "IN_PRODUCTION"))["userErrors"] == []
    base = {"orderId": to_global_id("Order", order.id), "warehouseCode": "MAD", "carrier": "CORREOS"}
    before = await written(db, order)

    # when: its units are asked for by name
    named = (await gql(CREATE_SHIPMENT, {"input": {**base, "lines": [{"sku": "B", "quantity": 1}, {"sku": "MTO", "quantity": 1}]}}))["data"]["createShipment"]

    # then: refused, naming the line, and nothing shipped
    assert named["shipment"] is None
    assert named["userErrors"] == [{
        "field": ["input", "lines", "1", "sku"], "code": "INVALID_TRANSITION",
        "message": f"Made-to-order line 2 (MTO) of order {order.number} is IN_PRODUCTION, not READY: it cannot ship yet.",
    }]
    assert await written(db, order) == before

    # when: everything still to ship from MAD
    partly = (await gql(CREATE_SHIPMENT, {"input": base}))["data"]["createShipment"]
    rest = (await gql(CREATE_SHIPMENT, {"input": base}))["data"]["createShipment"]

    # then: the stock line leaves, the made-to-order line waits, and a shipment of it alone is refused
    assert partly["userErrors"] == [] and partly["shipment"]["order"]["status"] == "PARTIALLY_SHIPPED"
    assert [(line["sku"], line["quantityShipped"]) for line in (await read_order(gql, order))["lines"]] == [("B", 1), ("MTO", 0)]
    assert rest["shipment"] is None
    assert rest["userErrors"] == [{
        "field": ["input", "orderId"], "code": "INVALID_TRANSITION",
        "message": f"Made-to-order line 2 (MTO) of order {order.number} is IN_PRODUCTION, not READY: it cannot ship yet.",
    }]

    # when: the line is READY
    assert (await advance(gql, made, "QUALITY_CHECK"))["userErrors"] == []
    assert (await advance(gql, made, "READY"))["userErrors"] == []
    last = (await gql(CREATE_SHIPMENT, {"input": {**base, "lines": [{"sku": "MTO", "quantity": 2}]}}))["data"]["createShipment"]

    # then: the order ships
    assert last["userErrors"] == [] and last["shipment"]["order"]["status"] == "SHIPPED"


async def test_a_pick_list_takes_made_to_order_units_only_from_ready_lines(gql, db):
    # given: two orders, each with a stock line in MAD and a made-to-order line packed there; one of them READY
    await factories.basic_catalog(db)
    waiting = await confirmed(db, [("B", 1), ("MTO", 1)])
    ready = await confirmed(db, [("B", 1), ("MTO", 1)])
    await factories.make_ready(db, ready)

    # when: every order with units to pick in MAD
    everything = (await gql(CREATE_PICK_LIST, {"input": {"warehouseCode": "MAD"}}))["data"]["createPickList"]

    # then: the made-to-order line still in production is left off
    assert everything["userErrors"] == []
    assert [(line["orderNumber"], line["sku"]) for line in everything["pickList"]["lines"]] == [
        (waiting.number, "B"), (ready.number, "B"), (ready.number, "MTO"),
    ]

    # when: the waiting order by name, with nothing else left to pick
    before = await written(db, waiting)
    named = (await gql(CREATE_PICK_LIST, {"input": {"warehouseCode": "MAD", "orderIds": [to_global_id("Order", waiting.id)]}}))["data"]["createPickList"]

    # then: refused, naming the line, and nothing written
    assert named["pickList"] is None
    assert named["userErrors"] == [{
        "field": ["input", "orderIds", "0"], "code": "INVALID_TRANSITION",
        "message": f"Made-to-order line 2 (MTO) of order {waiting.number} is QUEUED, not READY: it cannot ship yet.",
    }]
    assert await written(db, waiting) == before

    # when: it is READY
    await factories.make_ready(db, waiting)
    later = (await gql(CREATE_PICK_LIST, {"input": {"warehouseCode": "MAD", "orderIds": [to_global_id("Order", waiting.id)]}}))["data"]["createPickList"]

    # then
    assert later["userErrors"] == []
    assert [(line["sku"], line["quantity"]) for line in later["pickList"]["lines"]] == [("MTO", 1)]


async def test_oms_check_reports_made_to_order_units_shipped_before_ready(gql, db):
    # given: a made-to-order order shipped once READY: consistent
    await factories.basic_catalog(db)
    order = await confirmed(db, [("B", 1), ("MTO", 1)])
    await factories.make_ready(db, order)
    shipped = (await gql(CREATE_SHIPMENT, {"input": {"orderId": to_global_id("Order", order.id), "warehouseCode": "MAD", "carrier": "CORREOS"}}))
    assert shipped["data"]["createShipment"]["shipment"]["order"]["status"] == "SHIPPED"
    assert await check_invariants(db) == []

    # when: the line is written back to production behind the API's back, and a stock line given a stage
    async with db.engine.begin() as conn:
        await conn.execute(update(OrderLine).where(OrderLine.order_id == order.id, OrderLine.sku == "MTO").values(production_stage="QUALITY_CHECK"))
        await conn.execute(update(OrderLine).where(OrderLine.order_id == order.id, OrderLine.sku == "B").values(production_stage="READY"))

    # then
    report = await check_invariants(db)
    assert len(report) == 2 and all(line.startswith("production stages on made-to-order lines only") for line in report), report

    # and put back, for the suite's own after-test check
    async with db.engine.begin() as conn:
        await conn.execute(update(OrderLine).where(OrderLine.order_id == order.id, OrderLine.sku == "MTO").values(production_stage="READY"))
        await conn.execute(update(OrderLine).where(OrderLine.order_id == order.id, OrderLine.sku == "B").values(production_stage=None))


async def test_racing_moves_of_one_line_apply_once(db):
    # given
    await factories.basic_catalog(db)
    order = await confirmed(db, [("MTO", 1)])
    async with db.read() as session:
        line = (await session.execute(select(OrderLine.id).where(OrderLine.order_id == order.id))).scalar_one()

    async def move() -> str:
        try:
            await db.run(lambda uow: advance_production(uow=uow, order_line_id=line, stage=ProductionStage.IN_PRODUCTION), actor="test")
        except DomainError as exc:
            return exc.code.value
        return "OK"

    # when: eight writers make the same move at once
    outcomes = await asyncio.gather(*(move() for _ in range(8)))

    # then: the order row serialises them; one wins, the others see the moved stage
    assert sorted(outcomes) == ["INVALID_TRANSITION"] * 7 + ["OK"]
    async with db.read() as session:
        moves = (await session.execute(
            select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == order.id, OrderEvent.type == "PRODUCTION_STAGE_CHANGED")
        )).scalar_one()
    assert moves == 1
