"""Dashboard reads (issue 12): low stock, orders at risk, updated since, counts by status and channel with zeros."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import update

from app.orders import queries
from app.orders.enums import OrderStatus
from models import Order
from tests import factories

STOCK = "query($below: Int) { stockLevels(availableBelow: $below) { edges { node { sku available warehouse { code } } } } }"
ORDERS = "query($f: OrderFilter) { orders(filter: $f) { edges { node { number } } } }"
STATS = "query($c: SalesChannel) { orderStats(channel: $c) { countByStatus countByChannel totalOrders } }"


async def test_stock_levels_below_an_available_threshold(gql, db):
    await factories.basic_catalog(db)  # A: 10 MAD, 10 BCN; B: 5 MAD; C: 3 BCN
    await factories.place(db, [("A", 8)], channel="PHONE")  # reserves 8 of A in MAD -> 2 available
    body = await gql(STOCK, {"below": 5})
    low = sorted((e["node"]["sku"], e["node"]["warehouse"]["code"], e["node"]["available"]) for e in body["data"]["stockLevels"]["edges"])
    assert low == [("A", "MAD", 2), ("C", "BCN", 3)]
    everything = await gql(STOCK, {"below": None})
    assert len(everything["data"]["stockLevels"]["edges"]) == 4


async def test_orders_at_risk_and_updated_after(gql, db):
    await factories.basic_catalog(db)
    late = await factories.place(db, [("A", 1)], email="late@example.com")
    due_today = await factories.place(db, [("A", 1)], email="today@example.com")
    later = await factories.place(db, [("A", 1)], email="later@example.com")
    delivered_late = await factories.place(db, [("A", 1)], email="done@example.com")
    no_promise = await factories.place(db, [("A", 1)], email="none@example.com")
    today = queries.today()
    async with db.engine.begin() as conn:
        for order, day in ((late, today - timedelta(days=2)), (due_today, today), (later, today + timedelta(days=3)),
                           (delivered_late, today - timedelta(days=5)), (no_promise, None)):
            await conn.execute(update(Order).where(Order.id == order.id).values(estimated_delivery_date=day))
        await conn.execute(update(Order).where(Order.id == delivered_late.id).values(status=OrderStatus.DELIVERED.value))

    def numbers(body: dict) -> set[str]:
        return {e["node"]["number"] for e in body["data"]["orders"]["edges"]}

    assert numbers(await gql(ORDERS, {"f": {"deliveryAtRisk": True}})) == {late.number, due_today.number}
    assert numbers(await gql(ORDERS, {"f": {"deliveryAtRisk": False}})) == {later.number, delivered_late.number, no_promise.number}
    # updatedAfter: only what changed since a moment
    async with db.engine.begin() as conn:
        marker = (await conn.execute(update(Order).where(Order.id == later.id).values(updated_at=Order.updated_at + timedelta(hours=1))
                                     .returning(Order.updated_at))).scalar_one()
    assert numbers(await gql(ORDERS, {"f": {"updatedAfter": marker.isoformat()}})) == {later.number}
    assert isinstance(today, date)


async def test_order_stats_count_every_status_and_channel_with_zeros(gql, db):
    await factories.basic_catalog(db)
    await factories.place(db, [("A", 1)], channel="WEB")
    await factories.place(db, [("A", 1)], channel="WEB")
    await factories.place(db, [("A", 1)], channel="PHONE")
    stats = (await gql(STATS))["data"]["orderStats"]
    assert stats["totalOrders"] == 3
    assert stats["countByChannel"] == {"WEB": 2, "MOBILE": 0, "PHONE": 1, "MARKETPLACE": 0, "STORE": 0}
    assert set(stats["countByStatus"]) == {s.value for s in OrderStatus}
    assert sum(stats["countByStatus"].values()) == 3 and stats["countByStatus"]["CANCELLED"] == 0
    web = (await gql(STATS, {"c": "WEB"}))["data"]["orderStats"]
    assert web["countByChannel"]["WEB"] == 2 and web["countByChannel"]["PHONE"] == 0 and web["totalOrders"] == 2
