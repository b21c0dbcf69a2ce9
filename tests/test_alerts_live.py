"""alertRaised over a real WebSocket (issue 19): `oms serve` in a subprocess runs its own scanner (server/background.py,
OMS_ALERTS_INTERVAL_SECONDS=0.2); every subscriber receives each raise once, LOW_STOCK only with stock:read."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest_asyncio
from sqlalchemy import text

from app.alerts.enums import AlertKind
from app.alerts.scanner import scan
from app.flows import cancellation
from app.infra.settings import Settings
from tests import factories
from tests.conftest import make_key
from tests.live_server import LiveServer, WsClient
from tests.test_alerts import quiet_app_scanner  # noqa: F401  (fixture: the suite app's own scanner paused)

RAISED = """
subscription Raised($kind: AlertKind) {
  alertRaised(kind: $kind) { id kind open sku order { number } warehouse { code } }
}"""

SET_THRESHOLD = """
mutation($input: LowStockThresholdInput!) { setLowStockThreshold(input: $input) { userErrors { code message } } }"""


@pytest_asyncio.fixture(scope="module")
async def server(database_url: str, app: Any):  # app: the session's migrated database
    env = {"OMS_ALERTS_INTERVAL_SECONDS": "0.2", "OMS_ALERT_STUCK_HOURS": "1", "OMS_ALERT_UNPAID_HOURS": "1000",
           "OMS_ALERT_NOT_SHIPPED_HOURS": "1000", "OMS_ALERT_TRACKING_SILENT_HOURS": "1000"}
    live = await LiveServer(database_url, env=env).start()
    yield live
    await live.stop()


async def received(ws: WsClient, operation_id: str, count: int) -> list[dict[str, Any]]:
    return [(await ws.data(operation_id))["alertRaised"] for _ in range(count)]


async def test_each_raise_reaches_each_subscriber_once(server, db, quiet_app_scanner):  # noqa: F811
    # given: two orders that will be stuck, a product that will be low; three subscribers
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.product(db, "A")
    await factories.stock(db, "A", "MAD", 10)
    orders = [await factories.place(db, [("A", 1)], payment_method="CASH_ON_DELIVERY") for _ in range(2)]
    everything = await make_key(db, "orders:read", "stock:read", "stock:write", name="ops")
    orders_only = await make_key(db, "orders:read", name="orders-only")
    ws_all, ws_stuck, ws_orders = [await WsClient(server.ws_url).connect(key) for key in (everything, everything, orders_only)]
    sub_all = await server.subscribe(ws_all, RAISED, {})
    sub_stuck = await server.subscribe(ws_stuck, RAISED, {"kind": "STUCK"})
    sub_orders = await server.subscribe(ws_orders, RAISED, {})

    # when: the orders stop moving for two hours, and A's threshold goes above what is available (8)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE orders SET updated_at = updated_at - interval '2 hours'"))
    body = await server.gql(SET_THRESHOLD, {"input": {"sku": "A", "threshold": 9}}, token=everything)
    assert body["data"]["setLowStockThreshold"]["userErrors"] == [], body

    # then: each subscriber gets each raise it may see, once (the scanner keeps running every 0.2 s)
    numbers = sorted(o.number for o in orders)
    got_all = await received(ws_all, sub_all, 3)
    assert sorted(a["kind"] for a in got_all) == ["LOW_STOCK", "STUCK", "STUCK"]
    assert sorted(a["order"]["number"] for a in got_all if a["kind"] == "STUCK") == numbers
    low = next(a for a in got_all if a["kind"] == "LOW_STOCK")
    assert (low["sku"], low["warehouse"], low["order"], low["open"]) == ("A", {"code": "MAD"}, None, True)
    got_stuck = await received(ws_stuck, sub_stuck, 2)
    got_orders = await received(ws_orders, sub_orders, 2)
    assert sorted(a["order"]["number"] for a in got_stuck) == sorted(a["order"]["number"] for a in got_orders) == numbers
    assert {a["id"] for a in got_stuck} == {a["id"] for a in got_orders} == {a["id"] for a in got_all if a["kind"] == "STUCK"}
    for ws, sub in ((ws_all, sub_all), (ws_stuck, sub_stuck), (ws_orders, sub_orders)):
        assert await ws.nothing_for(sub, 1.0)  # five more scans: nothing raised twice
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM alerts"))).scalar_one() == 3
    for ws in (ws_all, ws_stuck, ws_orders):
        await ws.close()


async def test_the_serving_process_and_four_more_scanners_keep_one_alert_per_cause(server, db, quiet_app_scanner):  # noqa: F811
    # given: three stuck orders; `oms serve` scans every 0.2 s while this process runs four scanners at once, three rounds
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.product(db, "A")
    await factories.stock(db, "A", "MAD", 10)
    orders = [await factories.place(db, [("A", 1)], payment_method="CASH_ON_DELIVERY") for _ in range(3)]
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE orders SET updated_at = updated_at - interval '2 hours'"))
    config = replace(Settings(), alert_stuck_hours=1.0)
    # when
    for _ in range(3):
        await asyncio.gather(*(scan(db, config, kinds=[AlertKind.STUCK]) for _ in range(4)))
    # then: one open alert per order, whichever process raised it
    async with db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT subject FROM alerts WHERE cleared_at IS NULL"))).scalars().all()
    assert sorted(rows) == sorted(f"order:{o.id}" for o in orders)
    # when: the orders move on (cancelled), and both processes scan again
    for order in orders:
        await db.run(lambda uow, order=order: cancellation.cancel_order(uow=uow, order_id=order.id), actor="test")
    for _ in range(3):
        await asyncio.gather(*(scan(db, config, kinds=[AlertKind.STUCK]) for _ in range(4)))
    # then: each cleared, none raised again (no flapping between the processes)
    async with db.engine.connect() as conn:
        counts = (await conn.execute(text("SELECT count(*), count(cleared_at) FROM alerts"))).one()
    assert tuple(counts) == (3, 3)
