"""Click-and-collect reaches the customer's tracking page live (issue 19): a trackOrder subscriber (the public
tracking pair, no key) hears READY_FOR_PICKUP with the pickup code, then COLLECTED, over a real WebSocket against
a running server (`oms serve` in a subprocess, as tests/test_production_live.py)."""

from __future__ import annotations

from typing import Any

import pytest_asyncio
from sqlalchemy import select

from app.catalog import service as catalog
from app.flows import confirmation
from app.orders.service import DeliveryMethod
from models import Order
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import make_key
from tests.live_server import LiveServer, WsClient

TRACK = """
subscription Track($number: String!, $email: String!) {
  trackOrder(number: $number, email: $email) { status pickupCode pickupPoint { code } events { type status data } }
}
"""
READY = "mutation($input: OrderIdInput!) { markReadyForPickup(input: $input) { order { status } userErrors { code message } } }"
COLLECT = "mutation($input: CollectOrderInput!) { collectOrder(input: $input) { order { status } userErrors { code message } } }"
EMAIL = "live-collector@example.com"


@pytest_asyncio.fixture(scope="module")
async def server(database_url: str, app: Any):  # app: the session's migrated database and in-process services
    live = await LiveServer(database_url, env={"OMS_WS_INIT_TIMEOUT": "1"}).start()
    yield live
    await live.stop()


async def test_ready_for_pickup_and_its_code_then_the_collection_reach_a_tracking_page_live(server, db):
    # given: a confirmed pickup order at a store, and its customer's tracking page subscribed
    await db.run(lambda uow: catalog.upsert_warehouse(uow=uow, code="SHOP1", name="Shop", channels=["WEB"], pickup_point=True))
    await factories.product(db, "A")
    await factories.stock(db, "A", "SHOP1", 3)
    order = await factories.place(db, [("A", 2)], email=EMAIL, delivery_method=DeliveryMethod("PICKUP", "SHOP1"))  # type: ignore[arg-type]
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    staff = await make_key(db, "shipments:write", name="counter")
    page = await WsClient(server.ws_url).connect(None)
    sub = await server.subscribe(page, TRACK, {"number": order.number, "email": EMAIL})
    first = (await page.data(sub))["trackOrder"]
    assert (first["status"], first["pickupCode"], first["pickupPoint"]) == ("CONFIRMED", None, {"code": "SHOP1"})

    async def view_in(status: str) -> dict[str, Any]:
        """The pushed views until one shows `status` (each commit pushes at least one view)."""
        while True:
            view = (await page.data(sub, timeout=5))["trackOrder"]
            if view["status"] == status:
                return view

    # when: staff marks it ready
    ready = await server.gql(READY, {"input": {"orderId": to_global_id("Order", order.id)}}, token=staff)
    assert ready["data"]["markReadyForPickup"]["userErrors"] == [], ready
    # then: the page hears it, with the code to show at the counter (and no event data)
    waiting = await view_in("READY_FOR_PICKUP")
    async with db.read() as session:
        code = (await session.execute(select(Order.pickup_code).where(Order.id == order.id))).scalar_one()
    assert code is not None and waiting["pickupCode"] == code
    assert waiting["events"][-1] == {"type": "READY_FOR_PICKUP", "status": "READY_FOR_PICKUP", "data": None}

    # when: collected with that code; then: the page hears DELIVERED (COLLECTED), and the code is gone
    collected = await server.gql(COLLECT, {"input": {"orderId": to_global_id("Order", order.id), "pickupCode": code}}, token=staff)
    assert collected["data"]["collectOrder"]["userErrors"] == [], collected
    done = await view_in("DELIVERED")
    assert done["pickupCode"] is None and done["events"][-1]["type"] == "COLLECTED"
    await page.close()
