"""reallocateOrder (issue 19) on PostgreSQL: open, unpicked units move to another warehouse atomically, with
ledger rows on both sides, a REALLOCATED event and the promise recomputed; picked units, missing stock and bad
input are refused with their field paths, writing nothing. (`oms check` runs after every test: tests/conftest.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from models import Allocation, StockLevel, StockMovement, Warehouse
from resolvers.ids import from_global_id
from tests import factories
from tests.conftest import make_key
from tests.test_sourcing import PLACE, address, three_warehouses

REALLOCATE = """
mutation($input: ReallocateOrderInput!) {
  reallocateOrder(input: $input) { order { id status estimatedDeliveryDate } userErrors { field code message } eventCursor }
}"""
ORDER = """
query($id: ID!) { order(id: $id) { status estimatedDeliveryDate events(first: 50) { edges { node { type data } } } } }"""
PICK = """
mutation($input: CreatePickListInput!) { createPickList(input: $input) { pickList { number } userErrors { field code message } } }"""


async def place(gql: Any, lines: dict[str, int], *, country: str = "ES", payment: str | None = None) -> str:
    body = await gql(PLACE, {"input": {"channel": "WEB", "email": "buyer@example.com", "shippingAddress": address(country),
                                       "lines": [{"sku": s, "quantity": q} for s, q in lines.items()],
                                       **({"payment": {"method": payment}} if payment else {})}})
    assert body["data"]["placeOrder"]["userErrors"] == [], body
    return body["data"]["placeOrder"]["order"]["id"]


async def open_units(db: Any, order_gid: str) -> dict[tuple[str, str], int]:
    decoded = from_global_id(order_gid)
    assert decoded is not None
    async with db.read() as session:
        rows = (await session.execute(
            select(Warehouse.code, Allocation.sku, Allocation.quantity - Allocation.quantity_shipped - Allocation.quantity_released)
            .join(Warehouse, Warehouse.id == Allocation.warehouse_id).where(Allocation.order_id == decoded[1])
        )).all()
    got: dict[tuple[str, str], int] = {}
    for code, sku, n in rows:
        if n:
            got[(code, sku)] = got.get((code, sku), 0) + n
    return got


async def reserved(db: Any) -> dict[tuple[str, str], int]:
    async with db.read() as session:
        rows = (await session.execute(select(Warehouse.code, StockLevel.sku, StockLevel.reserved).join(Warehouse))).all()
    return {(code, sku): n for code, sku, n in rows if n}


async def reallocate(gql: Any, order: str, **input: Any) -> dict[str, Any]:
    return (await gql(REALLOCATE, {"input": {"orderId": order, **input}}))["data"]["reallocateOrder"]


def errors(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["code"], ".".join(e["field"])) for e in answer["userErrors"]]


async def test_moving_units_to_another_warehouse(gql, db) -> None:
    # given: an order to Spain reserved at ES (priority), promised over ES -> ES (CORREOS domestic, 2 days)
    await three_warehouses(db)
    order = await place(gql, {"X": 2, "Y": 2})
    before = (await gql(ORDER, {"id": order}))["data"]["order"]["estimatedDeliveryDate"]

    # when: X moves to FR
    answer = await reallocate(gql, order, moves=[{"sku": "X", "fromWarehouseCode": "ES", "toWarehouseCode": "FR", "quantity": 2}])

    # then: released at ES, reserved at FR, the same line's allocation; ledger on both sides; event; later promise (FR -> ES: EU)
    assert answer["userErrors"] == [] and answer["eventCursor"]
    assert await open_units(db, order) == {("FR", "X"): 2, ("ES", "Y"): 2}
    assert await reserved(db) == {("FR", "X"): 2, ("ES", "Y"): 2}
    async with db.read() as session:
        ledger = (await session.execute(
            select(Warehouse.code, StockMovement.sku, StockMovement.kind, StockMovement.reserved_delta, StockMovement.reason)
            .join(Warehouse, Warehouse.id == StockMovement.warehouse_id).where(StockMovement.reason == "reallocated")
        )).all()
    assert sorted(ledger) == [("ES", "X", "RELEASE", -2, "reallocated"), ("FR", "X", "RESERVATION", 2, "reallocated")]
    view = (await gql(ORDER, {"id": order}))["data"]["order"]
    assert view["estimatedDeliveryDate"] > before
    assert answer["order"]["estimatedDeliveryDate"] == view["estimatedDeliveryDate"]
    types = [e["node"]["type"] for e in view["events"]["edges"]]
    assert types[-2:] == ["REALLOCATED", "DELIVERY_ESTIMATE_CHANGED"]
    event = next(e["node"]["data"] for e in view["events"]["edges"] if e["node"]["type"] == "REALLOCATED")
    assert event == {"moves": [{"sku": "X", "from": "ES", "to": "FR", "quantity": 2}],
                     "before": {"ES": {"X": 2, "Y": 2}}, "after": {"ES": {"Y": 2}, "FR": {"X": 2}}}


async def test_moving_everything_open_to_one_warehouse(gql, db) -> None:
    await three_warehouses(db)
    await gql("""mutation { setSourcingRules(input: {rules: [{strategy: FEWEST_SHIPMENTS}]}) { userErrors { code } } }""")
    order = await place(gql, {"Z": 8, "X": 1})  # ES: X 1 + Z 3, FR: Z 5
    assert await open_units(db, order) == {("ES", "X"): 1, ("ES", "Z"): 3, ("FR", "Z"): 5}
    await factories.stock(db, "Z", "PT", 5)  # PT: 8 Z free now
    answer = await reallocate(gql, order, warehouseCode="PT")
    assert answer["userErrors"] == []
    assert await open_units(db, order) == {("PT", "X"): 1, ("PT", "Z"): 8}
    assert await reserved(db) == {("PT", "X"): 1, ("PT", "Z"): 8}


async def test_picked_units_stay_where_they_are_picked(gql, db) -> None:
    # given: a cash-on-delivery order (confirmed at once) on a pick list at ES
    await three_warehouses(db)
    order = await place(gql, {"X": 2, "Y": 1}, payment="CASH_ON_DELIVERY")
    listed = await gql(PICK, {"input": {"warehouseCode": "ES", "orderIds": [order]}})
    assert listed["data"]["createPickList"]["userErrors"] == [], listed
    # when / then: refused, naming the move; the whole-order form too; nothing moved
    answer = await reallocate(gql, order, moves=[{"sku": "X", "fromWarehouseCode": "ES", "toWarehouseCode": "PT", "quantity": 1}])
    assert errors(answer) == [("INVALID_TRANSITION", "input.moves.0.quantity")]
    assert errors(await reallocate(gql, order, warehouseCode="PT")) == [("INVALID_TRANSITION", "input.warehouseCode")] * 2
    assert await open_units(db, order) == {("ES", "X"): 2, ("ES", "Y"): 1}


async def test_a_target_without_the_units_is_out_of_stock(gql, db) -> None:
    await three_warehouses(db)
    order = await place(gql, {"Z": 3})  # ES fills it
    await factories.stock(db, "Z", "PT", -2)  # PT: 1 free
    answer = await reallocate(gql, order, moves=[{"sku": "Z", "fromWarehouseCode": "ES", "toWarehouseCode": "PT", "quantity": 2}])
    assert errors(answer) == [("OUT_OF_STOCK", "input.moves.0.quantity")]
    assert await open_units(db, order) == {("ES", "Z"): 3}
    one = await reallocate(gql, order, moves=[{"sku": "Z", "fromWarehouseCode": "ES", "toWarehouseCode": "PT", "quantity": 1}])
    assert one["userErrors"] == []
    assert await open_units(db, order) == {("ES", "Z"): 2, ("PT", "Z"): 1}


async def test_bad_input_is_refused_with_field_paths(gql, db) -> None:
    await three_warehouses(db)
    await factories.warehouse(db, "PHONE_ONLY", ["PHONE"])
    order = await place(gql, {"X": 2})

    def move(**kw: Any) -> dict[str, Any]:
        return {"sku": "X", "fromWarehouseCode": "ES", "toWarehouseCode": "FR", "quantity": 1, **kw}

    answer = await reallocate(gql, order, moves=[move(quantity=0), move(fromWarehouseCode="NOPE"), move(toWarehouseCode="PHONE_ONLY"),
                                                 move(toWarehouseCode="ES"), move(sku="Y"), move(quantity=3)])
    assert errors(answer) == [
        ("INVALID_INPUT", "input.moves.0.quantity"), ("NOT_FOUND", "input.moves.1.fromWarehouseCode"),
        ("INVALID_INPUT", "input.moves.2.toWarehouseCode"), ("INVALID_INPUT", "input.moves.3.toWarehouseCode"),
        ("NOT_FOUND", "input.moves.4.sku"), ("INVALID_INPUT", "input.moves.5.quantity"),
    ]
    # two moves of the same units: the second finds them taken
    assert errors(await reallocate(gql, order, moves=[move(quantity=2), move(toWarehouseCode="PT", quantity=1)])) == [
        ("INVALID_INPUT", "input.moves.1.quantity")]
    assert errors(await reallocate(gql, order)) == [("INVALID_INPUT", "input.moves")]
    assert errors(await reallocate(gql, order, moves=[move()], warehouseCode="FR")) == [("INVALID_INPUT", "input.moves")]
    assert errors(await reallocate(gql, order, warehouseCode="GONE")) == [("NOT_FOUND", "input.warehouseCode")]
    assert errors(await reallocate(gql, order, warehouseCode="ES")) == [("INVALID_INPUT", "input.warehouseCode")]  # nothing elsewhere
    assert await open_units(db, order) == {("ES", "X"): 2}
    cancelled = await gql("mutation($id: ID!) { cancelOrder(input: {orderId: $id}) { userErrors { code } } }", {"id": order})
    assert cancelled["data"]["cancelOrder"]["userErrors"] == []
    assert errors(await reallocate(gql, order, warehouseCode="FR")) == [("INVALID_TRANSITION", "input.orderId")]


async def test_reallocation_needs_orders_write(gql, db) -> None:
    await three_warehouses(db)
    order = await place(gql, {"X": 1})
    reader = await make_key(db, "orders:read", "stock:write")
    body = await gql(REALLOCATE, {"input": {"orderId": order, "warehouseCode": "FR"}}, token=reader)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await open_units(db, order) == {("ES", "X"): 1}


async def test_concurrent_reallocations_of_one_order_queue_on_its_row(gql, db) -> None:
    # given: one order at ES; when: four moves of everything at once, to PT and FR alternately
    await three_warehouses(db)
    order = await place(gql, {"X": 3, "Y": 1})
    answers = await asyncio.gather(*(reallocate(gql, order, warehouseCode=code) for code in ("PT", "FR", "PT", "FR")))
    # then: each ran on what the one before left (never two moves of the same units): all units in one warehouse,
    # reserved there exactly once (oms check after the test: reserved = open allocations, ledger = levels)
    # (a move to where everything already is refuses: nothing elsewhere)
    assert all(errors(a) in ([], [("INVALID_INPUT", "input.warehouseCode")]) for a in answers)
    assert any(errors(a) == [] for a in answers)
    units = await open_units(db, order)
    assert sum(units.values()) == 4 and len({code for code, _ in units}) == 1
    assert await reserved(db) == units


SHIP = """
mutation($input: CreateShipmentInput!) { createShipment(input: $input) { shipment { warehouse { code } } userErrors { field code message } } }"""


async def test_moved_units_ship_from_their_new_warehouse_and_back_again(gql, db) -> None:
    # given: a confirmed order at ES, moved to FR and back to ES (the line gets a second allocation at ES)
    await three_warehouses(db)
    order = await place(gql, {"X": 2, "Y": 1}, payment="CASH_ON_DELIVERY")
    for there, back in (("ES", "FR"), ("FR", "ES")):
        moved = await reallocate(gql, order, moves=[{"sku": "X", "fromWarehouseCode": there, "toWarehouseCode": back, "quantity": 2}])
        assert moved["userErrors"] == []
    assert await open_units(db, order) == {("ES", "X"): 2, ("ES", "Y"): 1}
    # when: everything ships from ES
    shipped = await gql(SHIP, {"input": {"orderId": order, "warehouseCode": "ES", "carrier": "SEUR"}})
    # then: one parcel with the moved units; nothing left open or reserved (oms check after the test)
    assert shipped["data"]["createShipment"]["userErrors"] == [], shipped
    assert await open_units(db, order) == {}
    assert await reserved(db) == {}
    assert (await gql(ORDER, {"id": order}))["data"]["order"]["status"] == "SHIPPED"
    # and a shipped order's units no longer move
    assert errors(await reallocate(gql, order, warehouseCode="PT")) == [("INVALID_TRANSITION", "input.orderId")]
