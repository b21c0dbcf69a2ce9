"""Made-to-order production stages reach a customer's tracking page live (issue 19), over a real WebSocket
against a running server (`oms serve` in a subprocess, as tests/test_subscriptions.py)."""

from __future__ import annotations

from typing import Any

import pytest_asyncio

from app.flows import confirmation
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import make_key
from tests.live_server import LiveServer, WsClient

TRACK = """
subscription Track($number: String!, $email: String!) {
  trackOrder(number: $number, email: $email) { status estimatedDeliveryDate events { type status data } }
}
"""

ADVANCE = """
mutation($input: AdvanceProductionInput!) {
  advanceProduction(input: $input) { orderLine { productionStage } order { estimatedDeliveryDate } userErrors { code message } eventCursor }
}"""

LINES = """query($id: ID!) { order(id: $id) { lines { id sku } } }"""


@pytest_asyncio.fixture(scope="module")
async def server(database_url: str, app: Any):  # app: the session's migrated database and in-process services
    live = await LiveServer(database_url, env={"OMS_WS_INIT_TIMEOUT": "1"}).start()
    yield live
    await live.stop()


async def test_each_stage_and_the_promise_it_moves_reach_a_tracking_page_live(server, db):
    # given: a confirmed made-to-order order (10 days), and its customer's tracking page subscribed
    await factories.basic_catalog(db)
    order = await factories.place(db, [("MTO", 1)], email="maker@example.com")
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    writer = await make_key(db, "orders:read", "orders:write", name="workshop")
    lines = await server.gql(LINES, {"id": to_global_id("Order", order.id)}, token=writer)
    line = lines["data"]["order"]["lines"][0]["id"]
    page = await WsClient(server.ws_url).connect(None)
    sub = await server.subscribe(page, TRACK, {"number": order.number, "email": "maker@example.com"})
    first = (await page.data(sub))["trackOrder"]
    assert first["estimatedDeliveryDate"] == order.estimated_delivery_date.isoformat()

    async def view_with(count: int) -> dict[str, Any]:
        """The pushed views until one shows `count` stage events (each commit pushes at least one view)."""
        while True:
            view = (await page.data(sub, timeout=5))["trackOrder"]
            if [e["type"] for e in view["events"]].count("PRODUCTION_STAGE_CHANGED") >= count:
                return view

    # when: production starts, then reaches its quality check (1 day left: the promise moves earlier)
    started = await server.gql(ADVANCE, {"input": {"orderLineId": line, "stage": "IN_PRODUCTION"}}, token=writer)
    assert started["data"]["advanceProduction"]["userErrors"] == [], started
    in_production = await view_with(1)
    checked = await server.gql(ADVANCE, {"input": {"orderLineId": line, "stage": "QUALITY_CHECK"}}, token=writer)
    moved = checked["data"]["advanceProduction"]
    assert moved["userErrors"] == [], checked
    in_check = await view_with(2)
    while in_check["events"][-1]["type"] != "DELIVERY_ESTIMATE_CHANGED":  # the promise change commits with the move
        in_check = (await page.data(sub, timeout=5))["trackOrder"]

    # then: the page heard each move and the new promise, without the events' internal data
    assert [e["type"] for e in in_production["events"]][-1] in {"PRODUCTION_STAGE_CHANGED", "DELIVERY_ESTIMATE_CHANGED"}
    types = [e["type"] for e in in_check["events"]]
    assert types[-2:] == ["PRODUCTION_STAGE_CHANGED", "DELIVERY_ESTIMATE_CHANGED"]
    assert in_check["estimatedDeliveryDate"] == moved["order"]["estimatedDeliveryDate"] != first["estimatedDeliveryDate"]
    assert all(e["data"] is None for e in in_check["events"])
    await page.close()
