"""placeOrder: validation, pricing, allocation, reservation and idempotency."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.infra import metrics
from app.infra.check import check_invariants
from app.orders import allocation
from models import Allocation, Order, OrderEvent, StockLevel, StockMovement
from tests import factories
from tests.factories import ADDRESS_INPUT

PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    order {
      id number status paymentStatus channel email
      subtotal { amount currency } taxTotal { amount } shippingTotal { amount } total { amount currency }
      lines { sku productName quantity unitPrice { amount currency } taxRate total { amount } }
      shippingAddress { name postalCode country }
      estimatedDeliveryDate
      events { edges { node { type status previousStatus cursor } } }
    }
    userErrors { field code message }
    eventCursor
  }
}
"""


def order_input(lines, **extra):
    return {"channel": "WEB", "email": "Buyer@Example.com", "lines": [{"sku": s, "quantity": q} for s, q in lines],
            "shippingAddress": ADDRESS_INPUT, **extra}


async def levels(db) -> dict[tuple[str, str], tuple[int, int]]:
    async with db.read() as session:
        rows = (await session.execute(select(StockLevel))).scalars().all()
        from models import Warehouse

        codes = {w.id: w.code for w in (await session.execute(select(Warehouse))).scalars()}
    return {(r.sku, codes[r.warehouse_id]): (r.on_hand, r.reserved) for r in rows}


async def reserved_of(db, sku: str) -> int:
    return sum(reserved for (s, _), (_, reserved) in (await levels(db)).items() if s == sku)


async def count(db, model) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_place_order_prices_from_catalogue_and_reserves_in_one_warehouse(gql, db):
    # given
    await factories.basic_catalog(db)
    # when
    body = await gql(PLACE, {"input": order_input([("A", 2), ("B", 3)])})
    # then
    payload = body["data"]["placeOrder"]
    assert payload["userErrors"] == []
    order = payload["order"]
    assert order["status"] == "PENDING" and order["paymentStatus"] == "UNPAID"
    assert order["email"] == "buyer@example.com"
    assert order["number"].startswith("SO-")
    # 2 x 10.00 @21% + 3 x 5.50 @10%: VAT rounded per rate
    assert order["subtotal"] == {"amount": "36.50", "currency": "EUR"}
    assert order["taxTotal"]["amount"] == "5.85"  # 4.20 + 1.65
    assert order["total"] == {"amount": "42.35", "currency": "EUR"}
    assert [line["sku"] for line in order["lines"]] == ["A", "B"]
    assert order["lines"][1]["total"]["amount"] == "16.50"
    assert order["shippingAddress"] == {"name": "Ana García", "postalCode": "28013", "country": "ES"}
    assert order["estimatedDeliveryDate"] is not None
    events = [e["node"] for e in order["events"]["edges"]]
    assert [(e["type"], e["status"], e["previousStatus"]) for e in events] == [("PLACED", "PENDING", None)]
    assert payload["eventCursor"] == events[0]["cursor"]
    # MAD is the only warehouse that can fill both lines
    assert (await levels(db))[("A", "MAD")] == (10, 2)
    assert (await levels(db))[("B", "MAD")] == (5, 3)
    assert (await levels(db))[("A", "BCN")] == (10, 0)
    async with db.read() as session:
        statement = select(StockMovement.kind, StockMovement.reserved_delta, StockMovement.reference).where(StockMovement.kind == "RESERVATION")
        kinds = (await session.execute(statement)).all()
    assert sorted(kinds) == sorted([("RESERVATION", 2, order["number"]), ("RESERVATION", 3, order["number"])])


async def test_bad_input_gets_field_paths_and_codes_and_writes_nothing(gql, db):
    # given
    await factories.basic_catalog(db)
    bad_address = {**ADDRESS_INPUT, "country": "XX", "postalCode": " "}
    # when
    body = await gql(PLACE, {"input": order_input([("A", 0), ("NOPE", 1)], email="not-an-email", shippingAddress=bad_address)})
    # then
    errors = {(tuple(e["field"]), e["code"]) for e in body["data"]["placeOrder"]["userErrors"]}
    assert ("input", "email") in {f for f, _ in errors}
    assert (("input", "lines", "0", "quantity"), "INVALID_INPUT") in errors
    assert (("input", "shippingAddress", "country"), "INVALID_INPUT") in errors
    assert (("input", "shippingAddress", "postalCode"), "INVALID_INPUT") in errors
    assert body["data"]["placeOrder"]["order"] is None
    assert await count(db, Order) == 0


async def test_unknown_sku_and_empty_lines_are_refused(gql, db):
    await factories.basic_catalog(db)
    unknown = await gql(PLACE, {"input": order_input([("A", 1), ("NOPE", 1)])})
    assert unknown["data"]["placeOrder"]["userErrors"] == [
        {"field": ["input", "lines", "1", "sku"], "code": "NOT_FOUND", "message": "Unknown SKU 'NOPE'."}
    ]
    empty = await gql(PLACE, {"input": order_input([])})
    assert [(e["field"], e["code"]) for e in empty["data"]["placeOrder"]["userErrors"]] == [(["input", "lines"], "INVALID_INPUT")]
    assert await count(db, Order) == 0
    assert (await levels(db))[("A", "MAD")] == (10, 0)


async def test_duplicate_skus_are_merged_into_one_line(gql, db):
    await factories.basic_catalog(db)
    body = await gql(PLACE, {"input": order_input([("A", 2), ("A", 3)])})
    lines = body["data"]["placeOrder"]["order"]["lines"]
    assert [(line["sku"], line["quantity"]) for line in lines] == [("A", 5)]
    assert sum(r for _, r in (await levels(db)).values()) == 5


async def test_order_splits_across_warehouses_when_none_fills_it_alone(db):
    # given: B only in MAD, C only in BCN
    await factories.basic_catalog(db)
    # when
    order = await factories.place(db, [("B", 2), ("C", 1)])
    # then
    async with db.read() as session:
        allocations = (await session.execute(select(Allocation).where(Allocation.order_id == order.id))).scalars().all()
    stock = await levels(db)
    assert len({a.warehouse_id for a in allocations}) == 2
    assert stock[("B", "MAD")] == (5, 2) and stock[("C", "BCN")] == (3, 1)


async def test_one_sku_splits_over_warehouses_when_needed(db):
    await factories.basic_catalog(db)
    await factories.place(db, [("A", 15)])
    stock = await levels(db)
    assert stock[("A", "MAD")][1] + stock[("A", "BCN")][1] == 15
    assert {stock[("A", "MAD")][1], stock[("A", "BCN")][1]} == {10, 5}


async def test_only_warehouses_serving_the_channel_are_used(gql, db):
    # given: C is stocked only in BCN, which does not serve PHONE
    await factories.basic_catalog(db)
    # when
    body = await gql(PLACE, {"input": {**order_input([("C", 1)]), "channel": "PHONE"}})
    # then
    assert body["data"]["placeOrder"]["userErrors"] == [
        {"field": ["input", "lines", "0", "sku"], "code": "OUT_OF_STOCK", "message": "Not enough stock of C for this order."}
    ]
    assert (await levels(db))[("C", "BCN")] == (3, 0)


async def test_an_order_that_cannot_be_filled_reserves_nothing(gql, db):
    await factories.basic_catalog(db)
    body = await gql(PLACE, {"input": order_input([("A", 2), ("C", 4)])})
    assert body["data"]["placeOrder"]["userErrors"][0]["code"] == "OUT_OF_STOCK"
    assert body["data"]["placeOrder"]["userErrors"][0]["field"] == ["input", "lines", "1", "sku"]
    assert all(reserved == 0 for _, reserved in (await levels(db)).values())
    assert await count(db, Order) == 0 and await count(db, OrderEvent) == 0
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(StockMovement).where(StockMovement.kind == "RESERVATION"))).scalar_one() == 0


async def test_made_to_order_lines_need_no_stock_and_push_the_delivery_date(gql, db):
    await factories.basic_catalog(db)
    stocked = await gql(PLACE, {"input": order_input([("A", 1)])})
    custom = await gql(PLACE, {"input": {**order_input([]), "lines": [{"sku": "MTO", "quantity": 2, "customization": {"fabric": "linen"}}]}})
    order = custom["data"]["placeOrder"]["order"]
    assert custom["data"]["placeOrder"]["userErrors"] == []
    assert order["lines"][0]["quantity"] == 2
    assert order["estimatedDeliveryDate"] > stocked["data"]["placeOrder"]["order"]["estimatedDeliveryDate"]
    assert ("MTO", "MAD") not in await levels(db)


async def test_idempotency_key_retry_returns_the_first_order(gql, db):
    await factories.basic_catalog(db)
    request = {"input": order_input([("A", 1)], idempotencyKey="checkout-42")}
    first = await gql(PLACE, request)
    again = await gql(PLACE, request)
    assert again["data"]["placeOrder"]["order"]["id"] == first["data"]["placeOrder"]["order"]["id"]
    assert await count(db, Order) == 1
    assert await reserved_of(db, "A") == 1


async def test_idempotency_key_with_other_input_conflicts(gql, db):
    await factories.basic_catalog(db)
    await gql(PLACE, {"input": order_input([("A", 1)], idempotencyKey="checkout-43")})
    other = await gql(PLACE, {"input": order_input([("A", 2)], idempotencyKey="checkout-43")})
    assert other["data"]["placeOrder"]["userErrors"] == [
        {"field": ["input", "idempotencyKey"], "code": "IDEMPOTENCY_CONFLICT", "message": "This idempotencyKey was used with a different input."}
    ]
    assert await count(db, Order) == 1


async def test_a_client_key_with_a_derived_prefix_is_refused_and_writes_nothing(gql, db):
    # bulk import and drafts place under keys "import:…" / "draft:…": a client's own key may not take those prefixes
    await factories.basic_catalog(db)
    for key in ("import:WEB::ref-1", "draft:0b6c3c3e-0000-4000-8000-000000000000"):
        refused = await gql(PLACE, {"input": order_input([("A", 1)], idempotencyKey=key)})
        assert refused["data"]["placeOrder"]["order"] is None
        assert [(e["field"], e["code"]) for e in refused["data"]["placeOrder"]["userErrors"]] == [(["input", "idempotencyKey"], "INVALID_INPUT")]
    assert await count(db, Order) == 0
    assert await reserved_of(db, "A") == 0


async def test_concurrent_duplicates_create_one_order(gql, db):
    await factories.basic_catalog(db)
    request = {"input": order_input([("A", 1)], idempotencyKey="checkout-44")}
    results = await asyncio.gather(*(gql(PLACE, request) for _ in range(10)))
    ids = {r["data"]["placeOrder"]["order"]["id"] for r in results}
    assert len(ids) == 1
    assert await count(db, Order) == 1
    assert await reserved_of(db, "A") == 1


async def test_fifty_concurrent_orders_for_ten_units_never_oversell(gql, db):
    # given: 10 units of one SKU in one warehouse
    await factories.warehouse(db, "ONLY", ["WEB"])
    await factories.product(db, "HOT")
    await factories.stock(db, "HOT", "ONLY", 10)
    # when
    results = await asyncio.gather(*(gql(PLACE, {"input": order_input([("HOT", 1)])}) for _ in range(50)))
    # then
    assert all("errors" not in r for r in results)
    placed = [r for r in results if r["data"]["placeOrder"]["order"]]
    refused = [r["data"]["placeOrder"]["userErrors"] for r in results if not r["data"]["placeOrder"]["order"]]
    assert len(placed) == 10
    assert len(refused) == 40 and all(e[0]["code"] == "OUT_OF_STOCK" and e[0]["field"] == ["input", "lines", "0", "sku"] for e in refused)
    assert (await levels(db))[("HOT", "ONLY")] == (10, 10)
    assert await count(db, Order) == 10


async def test_concurrent_orders_over_two_skus_in_opposite_order_do_not_deadlock(gql, db):
    await factories.warehouse(db, "W1", ["WEB"])
    await factories.warehouse(db, "W2", ["WEB"])
    for sku in ("X", "Y"):
        await factories.product(db, sku)
        await factories.stock(db, sku, "W1", 30)
        await factories.stock(db, sku, "W2", 30)
    forward = order_input([("X", 1), ("Y", 1)])
    backward = order_input([("Y", 1), ("X", 1)])
    results = await asyncio.gather(*(gql(PLACE, {"input": forward if i % 2 else backward}) for i in range(40)))
    assert all("errors" not in r and r["data"]["placeOrder"]["userErrors"] == [] for r in results)
    stock = await levels(db)
    assert stock[("X", "W1")][1] + stock[("X", "W2")][1] == 40
    assert stock[("Y", "W1")][1] + stock[("Y", "W2")][1] == 40


@pytest.mark.parametrize("payment", [None, {"method": "CARD", "token": "test_approve"}], ids=["one-transaction", "card-hold"])
async def test_two_placements_whose_reservations_both_fall_short_re_plan_without_deadlocking(gql, db, monkeypatch, payment):
    """Session 8: the one-statement reservation of a placement whose snapshot went stale locks the rows it planned and
    falls short; re-planning then in the same transaction locked the SKU's other rows in a second statement, so two
    such placements, each holding the row the other's re-plan needs, deadlocked (fifty placements over two processes:
    one answered an internal error after five deadlocked attempts). Here both reservations fall short at once."""
    # given: X and Y in two warehouses; 3 X fill only from W2, 1 X from W1 (the first by priority); Y from either
    for code, priority in (("W1", 1), ("W2", 2)):
        await factories.warehouse(db, code, ["WEB"])
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE warehouses SET priority = :p WHERE code = :code"), {"p": priority, "code": code})
    for sku, w1, w2 in (("X", 2, 5), ("Y", 10, 10)):
        await factories.product(db, sku)
        await factories.stock(db, sku, "W1", w1)
        await factories.stock(db, sku, "W2", w2)
    # both placements have planned from their snapshots (X and Y from W2 for 3 X, from W1 for 1 X) before either
    # reserves; then X leaves both rows (W1 to 0, W2 to 2), so both reservations fall short on X, each holding the rows
    # it planned (Y's passes, so the statement locks them)
    # (and neither goes on before both have fallen short: each then holds its row while the other asks for it)
    real = allocation.reserve_at_once
    planned: list[list[str]] = []
    short: list[bool] = []
    both_planned, both_short = asyncio.Event(), asyncio.Event()

    async def stale_then_reserve(session: Any, notices: list, **kwargs: Any) -> bool:
        if len(planned) >= 2:
            return await real(session, notices, **kwargs)
        planned.append([str(p.warehouse_id) for p in kwargs["picks"]])
        if len(planned) == 2:
            await factories.stock(db, "X", "W1", -2)
            await factories.stock(db, "X", "W2", -3)
            both_planned.set()
        await both_planned.wait()
        reserved = await real(session, notices, **kwargs)
        short.append(not reserved)
        if len(short) == 2:
            both_short.set()
        await both_short.wait()
        return reserved

    monkeypatch.setattr(allocation, "reserve_at_once", stale_then_reserve)
    deadlocks = metrics.DB_RETRIES.labels(reason="DEADLOCK")._value.get()
    extra = {"payment": payment} if payment else {}
    # when
    three, one = await asyncio.gather(gql(PLACE, {"input": order_input([("X", 3), ("Y", 1)], **extra)}),
                                      gql(PLACE, {"input": order_input([("X", 1), ("Y", 1)], **extra)}))
    # then: the two plans took different rows; the re-plans met no deadlock; 1 X fits in the 2 units left, 3 do not
    assert [len(set(picks)) for picks in planned] == [1, 1] and planned[0] != planned[1] and short == [True, True], (planned, short)
    assert metrics.DB_RETRIES.labels(reason="DEADLOCK")._value.get() == deadlocks
    assert "errors" not in three and "errors" not in one, (three, one)
    assert [e["code"] for e in three["data"]["placeOrder"]["userErrors"]] == ["OUT_OF_STOCK"]
    assert one["data"]["placeOrder"]["userErrors"] == [] and one["data"]["placeOrder"]["order"]["lines"][0]["quantity"] == 1
    assert await levels(db) == {("X", "W1"): (0, 0), ("X", "W2"): (2, 1), ("Y", "W1"): (10, 0), ("Y", "W2"): (10, 1)}
    assert await check_invariants(db) == []


async def test_prices_come_from_the_catalogue_not_the_client(gql, db):
    await factories.basic_catalog(db)
    body = await gql(
        'mutation { placeOrder(input: {channel: WEB, email: "a@b.co", lines: [{sku: "C", quantity: 1}], '
        'shippingAddress: {name: "A", line1: "L", city: "C", postalCode: "1", country: "ES"}}) '
        "{ order { total { amount } lines { unitPrice { amount } } } } }"
    )
    assert body["data"]["placeOrder"]["order"]["lines"][0]["unitPrice"]["amount"] == "100.00"
    assert body["data"]["placeOrder"]["order"]["total"]["amount"] == "121.00"
    # the input type has no price field at all
    sneaky = await gql(
        'mutation { placeOrder(input: {channel: WEB, email: "a@b.co", lines: [{sku: "C", quantity: 1, price: "1.00"}], '
        'shippingAddress: {name: "A", line1: "L", city: "C", postalCode: "1", country: "ES"}}) { order { id } } }'
    )
    assert "errors" in sneaky and sneaky.get("data") is None
