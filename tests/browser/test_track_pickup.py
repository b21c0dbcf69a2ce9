"""/track in Chromium for what issue 19 added to the tracking view: a click-and-collect order shows its pickup point
(name, opening hours) and, once staff marks it ready, the pickup code without a reload; a shipped order shows the
shipping method it was charged."""

from __future__ import annotations

from typing import Any

import pytest_asyncio
from sqlalchemy import select

from app.catalog import service as catalog
from app.catalog.service import OpeningHours
from app.flows import confirmation
from app.fulfilment import rates
from app.orders.enums import DeliveryType
from app.orders.service import DeliveryMethod
from models import Order
from resolvers.ids import to_global_id
from tests import factories
from tests.browser.helpers import OPENED, screenshot
from tests.conftest import make_key
from tests.live_server import LiveServer

EMAIL = "ana@example.com"
READY = "mutation($input: OrderIdInput!) { markReadyForPickup(input: $input) { order { status } userErrors { code message } } }"
COLLECT = "mutation($input: CollectOrderInput!) { collectOrder(input: $input) { order { status } userErrors { code message } } }"
DASH = "\u2013"  # the page writes opening ranges with an en dash
HOURS = [OpeningHours("MON", "09:00", "14:00"), OpeningHours("MON", "17:00", "20:00"), OpeningHours("SAT", "10:00", "13:00")]


@pytest_asyncio.fixture(scope="module")
async def server(database_url: str, app: Any):
    live = await LiveServer(database_url).start()
    yield live
    await live.stop()


async def look_up(page: Any, server: LiveServer, number: str) -> Any:
    await page.goto(server.http_url + "/track")
    await page.get_by_label("Order number").fill(number)
    await page.get_by_label("Email used for the order").fill(EMAIL)
    await page.get_by_role("button", name="Track order").click()
    return page.locator('#order [data-field="status"]')


async def test_track_shows_the_pickup_point_and_the_code_live_when_ready_on_a_phone(phone, server, db):
    # given: a confirmed pickup order at a store with opening hours
    await db.run(lambda uow: catalog.upsert_warehouse(uow=uow, code="SHOP1", name="Shop Gran Vía", channels=["WEB"], pickup_point=True,
                                                      opening_hours=HOURS, timezone="Europe/Madrid"))
    await factories.product(db, "A")
    await factories.stock(db, "A", "SHOP1", 3)
    order = await factories.place(db, [("A", 2)], email=EMAIL, delivery_method=DeliveryMethod(DeliveryType.PICKUP, "SHOP1"))
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    staff = await make_key(db, "shipments:write", name="counter")
    opened = await server.metric(OPENED)
    # when: the customer looks it up
    status = await look_up(phone, server, order.number)
    await status.filter(has_text="Confirmed").wait_for()
    # then: where and when to collect it; no code yet, no parcels
    pickup = phone.locator("#pickup")
    assert await pickup.is_visible()
    assert await pickup.locator('[data-field="pickup-name"]').text_content() == "Shop Gran Vía"
    assert await phone.locator("#opening-hours li").all_text_contents() == [f"Monday: 09:00{DASH}14:00, 17:00{DASH}20:00",
                                                                           f"Saturday: 10:00{DASH}13:00"]
    assert await pickup.locator('[data-field="pickup-timezone"]').text_content() == "(Europe/Madrid)"
    assert await phone.locator('#order [data-field="eta-label"]').text_content() == "Ready for pickup by"
    assert await phone.locator("#pickup-ready").is_hidden() and await phone.locator("#shipping-part").is_hidden()
    assert await phone.locator("#shipping-method").is_hidden()

    # when: staff marks it ready while the page is open
    await server.until_metric(OPENED, opened + 1)
    ready = await server.gql(READY, {"input": {"orderId": to_global_id("Order", order.id)}}, token=staff)
    assert ready["data"]["markReadyForPickup"]["userErrors"] == [], ready
    # then: without a reload, the status and the code to show at the counter
    await status.filter(has_text="Ready for pickup").wait_for()
    async with db.read() as session:
        code = (await session.execute(select(Order.pickup_code).where(Order.id == order.id))).scalar_one()
    assert code is not None
    await phone.locator("#pickup-ready").wait_for()
    assert await phone.locator('#pickup-ready [data-field="pickup-code"]').text_content() == code
    assert await phone.locator("#live[data-state=live]").is_visible()
    assert await phone.evaluate("() => document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone
    await screenshot(phone, "track-pickup.png")

    # when: collected with that code; then: delivered, and the code is gone from the page
    collected = await server.gql(COLLECT, {"input": {"orderId": to_global_id("Order", order.id), "pickupCode": code}}, token=staff)
    assert collected["data"]["collectOrder"]["userErrors"] == [], collected
    await status.filter(has_text="Delivered").wait_for()
    await phone.locator("#pickup-ready").wait_for(state="hidden")
    assert code not in (await phone.locator("#order").inner_text())
    assert phone.blocked == []


async def test_track_shows_the_shipping_method_of_a_shipped_order(page, server, db):
    # given: an order charged SEUR's express service
    await factories.basic_catalog(db)
    await db.run(lambda uow: rates.set_rates(uow=uow, rows=[
        rates.RateInput("CORREOS", "STANDARD", "DOMESTIC", "EUR", "4.95"), rates.RateInput("SEUR", "EXPRESS", "DOMESTIC", "EUR", "9.90", transit_days=1),
    ]))
    order = await factories.place(db, [("A", 1)], email=EMAIL, shipping_method="SEUR:EXPRESS")
    # when
    status = await look_up(page, server, order.number)
    await status.filter(has_text="Pending").wait_for()
    # then: the method, not its price; no pickup part
    assert await page.locator("#shipping-method").inner_text() == "Shipping: SEUR Express"
    assert await page.locator("#pickup").is_hidden() and await page.locator("#shipping-part").is_visible()
    assert await page.locator('#order [data-field="eta-label"]').text_content() == "Estimated delivery"
    assert await page.locator('#order [data-field="eta"]').text_content() == order.estimated_delivery_date.isoformat()
    assert "9.90" not in await page.locator("#order").inner_text()
    assert page.blocked == []
