"""The sourcing rules in edits (issue 19): editOrder plans added units under the rule that applies to the order (its
channel, destination, delivery type), as placement does: exclusions are honoured (never a unit reserved at an excluded
warehouse, even one the order already uses; OUT_OF_STOCK rather than use it), the order's own warehouses supply the
added units when they can (fewer parcels), otherwise the rule's strategy picks; the locked re-plan keeps the rule;
ORDER_EDITED explains the choice under "sourcing". Without rules, or when none matches, edits are as before
(tests/test_edits.py).

Fixture (tests/test_sourcing.py): ES (priority 1, Spain), PT (2), FR (3), all serving WEB and MARKETPLACE; X and Y
10 everywhere, Z 3 / 3 / 5. Orders ship to France unless said otherwise.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from app.orders import allocation
from app.orders.enums import OrderEventType
from models import OrderEvent, StockLevel, Warehouse
from resolvers.ids import from_global_id
from tests.test_sourcing import address, place, reserved_at, set_rules, three_warehouses

EDIT = """
mutation Edit($input: EditOrderInput!) {
  editOrder(input: $input) {
    order { id lines { id sku quantity } }
    preview { stockToReserve { sku warehouseCode quantity } stockToRelease { sku warehouseCode quantity } }
    userErrors { field code message }
  }
}
"""


@pytest.fixture
async def stocked(db: Any) -> None:
    await three_warehouses(db)


async def edit(gql: Any, order_gid: str, **fields: Any) -> dict[str, Any]:
    body = await gql(EDIT, {"input": {"orderId": order_gid, **fields}})
    assert "errors" not in body, body
    return body["data"]["editOrder"]


def added(lines: dict[str, int]) -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": n} for sku, n in lines.items()]


async def edited_data(db: Any, order_gid: str) -> list[dict[str, Any]]:
    decoded = from_global_id(order_gid)
    assert decoded is not None
    async with db.read() as session:
        return list((await session.execute(
            select(OrderEvent.data).where(OrderEvent.order_id == decoded[1], OrderEvent.type == OrderEventType.ORDER_EDITED).order_by(OrderEvent.seq)
        )).scalars())


async def test_an_exclusion_is_honoured_by_added_units_even_at_a_warehouse_the_order_uses(gql, db, stocked) -> None:
    order = await place(gql, {"X": 2})  # no rules yet: ES (priority 1)
    assert await reserved_at(db, order) == {("ES", "X"): 2}
    await set_rules(gql, {"strategy": "PRIORITY", "name": "no ES", "exclude": ["ES"]})

    dry = await edit(gql, order, addLines=added({"Y": 2}), dryRun=True)
    assert dry["userErrors"] == [] and dry["preview"]["stockToReserve"] == [{"sku": "Y", "warehouseCode": "PT", "quantity": 2}]
    done = await edit(gql, order, addLines=added({"Y": 2}))
    assert done["userErrors"] == []
    assert done["preview"]["stockToReserve"] == [{"sku": "Y", "warehouseCode": "PT", "quantity": 2}]
    x_line = next(line for line in done["order"]["lines"] if line["sku"] == "X")
    raised = await edit(gql, order, changeLines=[{"orderLineId": x_line["id"], "quantity": 5}])  # 3 more X: PT too, never ES
    assert raised["userErrors"] == []
    assert await reserved_at(db, order) == {("ES", "X"): 2, ("PT", "Y"): 2, ("PT", "X"): 3}

    data = await edited_data(db, order)
    assert [d["sourcing"]["excluded"] for d in data] == [["ES"], ["ES"]]
    assert [d["sourcing"]["name"] for d in data] == ["no ES", "no ES"]
    assert data[0]["sourcing"]["chosen"] == ["PT"]


async def test_an_exclusion_refuses_out_of_stock_rather_than_reserve_there(gql, db, stocked) -> None:
    order = await place(gql, {"X": 2})  # ES
    await set_rules(gql, {"strategy": "PRIORITY", "exclude": ["FR"]})
    refused = await edit(gql, order, addLines=added({"Z": 7}))  # ES 3 + PT 3 < 7; FR (5) is excluded
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("OUT_OF_STOCK", ["input", "addLines", "0", "sku"])]
    assert await reserved_at(db, order) == {("ES", "X"): 2}
    await set_rules(gql)  # no rules: the same edit splits as before, FR included
    assert (await edit(gql, order, addLines=added({"Z": 7})))["userErrors"] == []
    assert await reserved_at(db, order) == {("ES", "X"): 2, ("ES", "Z"): 3, ("PT", "Z"): 3, ("FR", "Z"): 1}


async def test_the_orders_own_warehouses_first_then_the_rules_strategy(gql, db, stocked) -> None:
    order = await place(gql, {"X": 2})  # ES, placed before any rule
    await set_rules(gql, {"strategy": "CLOSEST_COMPLETE", "name": "closest"})
    assert await reserved_at(db, await place(gql, {"Y": 2})) == {("FR", "Y"): 2}  # a new French order: FR, the closest

    # ES (the order's warehouse) has the 2 Y: no new parcel
    assert (await edit(gql, order, addLines=added({"Y": 2})))["userErrors"] == []
    assert await reserved_at(db, order) == {("ES", "X"): 2, ("ES", "Y"): 2}
    # ES cannot supply 4 Z (3): the rule picks among every warehouse: FR, the closest with everything
    assert (await edit(gql, order, addLines=added({"Z": 4})))["userErrors"] == []
    assert await reserved_at(db, order) == {("ES", "X"): 2, ("ES", "Y"): 2, ("FR", "Z"): 4}
    data = await edited_data(db, order)
    assert [d["sourcing"]["orderWarehousesOnly"] for d in data] == [True, False]
    assert [d["sourcing"]["chosen"] for d in data] == [["ES"], ["FR"]]
    assert all(d["sourcing"]["strategy"] == "CLOSEST_COMPLETE" for d in data)


async def test_fewest_shipments_counts_the_orders_parcels(gql, db, stocked) -> None:
    order = await place(gql, {"X": 2, "Y": 2})  # ES for both (one warehouse fills everything)
    x_line_at = await reserved_at(db, order)
    assert x_line_at == {("ES", "X"): 2, ("ES", "Y"): 2}
    await set_rules(gql, {"strategy": "FEWEST_SHIPMENTS", "ranking": ["FR", "PT", "ES"]})
    # X (ES has it) and Z 3 (ES has exactly 3): the order's warehouse supplies both, though the ranking puts FR first
    assert (await edit(gql, order, addLines=added({"X": 1, "Z": 3})))["userErrors"] == []
    assert await reserved_at(db, order) == {("ES", "X"): 3, ("ES", "Y"): 2, ("ES", "Z"): 3}


async def test_a_rule_for_another_channel_or_country_leaves_edits_as_before(gql, db, stocked) -> None:
    order = await place(gql, {"X": 2})  # ES
    await set_rules(gql, {"strategy": "PRIORITY", "channel": "MARKETPLACE", "exclude": ["ES"]},
                    {"strategy": "PRIORITY", "countries": ["PT"], "exclude": ["ES"]})
    assert (await edit(gql, order, addLines=added({"Y": 2})))["userErrors"] == []
    assert await reserved_at(db, order) == {("ES", "X"): 2, ("ES", "Y"): 2}
    assert (await edited_data(db, order))[0]["sourcing"]["rule"] is None
    # the edit's new address is the destination the rules match: now Portugal, ES is excluded
    done = await edit(gql, order, addLines=added({"Z": 1}), shippingAddress=address("PT"))
    assert done["userErrors"] == [] and done["preview"]["stockToReserve"] == [{"sku": "Z", "warehouseCode": "PT", "quantity": 1}]


async def test_the_locked_re_plan_keeps_the_rule(gql, db, stocked, monkeypatch) -> None:
    order = await place(gql, {"X": 2})  # ES
    await set_rules(gql, {"strategy": "PRIORITY", "exclude": ["ES"]})
    calls: list[int] = []

    async def moved(*args: Any, **kwargs: Any) -> bool:  # as if stock moved since the snapshot: re-plan on locked rows
        calls.append(1)
        return False

    monkeypatch.setattr(allocation, "adjust_at_once", moved)
    assert (await edit(gql, order, addLines=added({"Y": 3})))["userErrors"] == []
    assert calls == [1]
    assert await reserved_at(db, order) == {("ES", "X"): 2, ("PT", "Y"): 3}
    assert (await edited_data(db, order))[0]["sourcing"]["excluded"] == ["ES"]


async def test_no_rules_no_sourcing_key_in_the_edit_event(gql, db, stocked) -> None:
    order = await place(gql, {"X": 2})
    assert (await edit(gql, order, addLines=added({"Y": 2})))["userErrors"] == []
    assert await reserved_at(db, order) == {("ES", "X"): 2, ("ES", "Y"): 2}
    assert "sourcing" not in (await edited_data(db, order))[0]


async def test_concurrent_edits_under_an_exclusion_take_exactly_the_usable_stock(gql, db, stocked) -> None:
    # given: nine orders at ES (no rules yet), then ES excluded: Z is usable at PT (3) and FR (5) only, 8 units
    orders = [await place(gql, {"X": 1}) for _ in range(9)]
    await set_rules(gql, {"strategy": "FEWEST_SHIPMENTS", "exclude": ["ES"]})
    # when: nine edits at once, each adding one Z
    answers = await asyncio.gather(*(edit(gql, order, addLines=added({"Z": 1})) for order in orders))
    # then: eight succeed, one is OUT_OF_STOCK (ES's 3 never used), nothing oversold
    codes = sorted(e["code"] for a in answers for e in a["userErrors"])
    assert codes == ["OUT_OF_STOCK"]
    taken: dict[str, int] = {}
    for order in orders:
        for (code, sku), n in (await reserved_at(db, order)).items():
            if sku == "Z":
                taken[code] = taken.get(code, 0) + n
    assert taken == {"PT": 3, "FR": 5}
    async with db.read() as session:
        levels = {(code, on_hand, reserved) for code, on_hand, reserved in (await session.execute(
            select(Warehouse.code, StockLevel.on_hand, StockLevel.reserved).join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
            .where(StockLevel.sku == "Z")
        )).all()}
    assert levels == {("ES", 3, 0), ("PT", 3, 3), ("FR", 5, 5)}
