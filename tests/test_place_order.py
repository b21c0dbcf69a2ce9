"""placeOrder: validation, pricing, allocation, reservation and idempotency."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import func, select

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
    assert [l["sku"] for l in order["lines"]] == ["A", "B"]
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
        kinds = (await session.execute(select(StockMovement.kind, StockMovement.reserved_delta, StockMovement.reference).where(StockMovement.kind == "RESERVATION"))).all()
    assert sorted(kinds) == sorted([("RESERVATION", 2, order["number"]), ("RESERVATION", 3, order["number"])])
