"""In Chromium: a frontend on an allowed origin queries and subscribes; one on a disallowed origin is refused for
both; GraphiQL renders, runs a query and a subscription with no way out to the internet; /track on a phone."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest_asyncio

from resolvers.ids import to_global_id
from tests import factories
from tests.browser.conftest import LOCAL_HOSTS
from tests.browser.helpers import HOLD, OPENED, RELEASE, move, screenshot
from tests.conftest import make_key
from tests.live_server import LiveServer

NOT_FOUND = "We could not find an order with that number and email."


@pytest_asyncio.fixture(scope="module")
async def server(database_url: str, app: Any, other_origin: int):
    live = await LiveServer(database_url, env={"OMS_CORS_ORIGINS": f"http://localhost:{other_origin}"}).start()
    yield live
    await live.stop()


@pytest_asyncio.fixture
async def writer(db) -> str:
    return await make_key(db, "orders:read", "orders:write", name="frontend")


def client_url(origin: str, server: LiveServer, key: str, order_id: str) -> str:
    query = urllib.parse.urlencode({"api": server.http_url + "/graphql", "key": key, "orderId": order_id})
    return f"{origin}/client.html?{query}"


async def test_a_page_on_an_allowed_origin_queries_and_receives_a_subscription_event(page, server, other_origin, db, writer):
    # given: an order, and a page on another origin that is in OMS_CORS_ORIGINS
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)])
    order_id = to_global_id("Order", order.id)
    opened = await server.metric(OPENED)
    # when
    await page.goto(client_url(f"http://localhost:{other_origin}", server, writer, order_id))
    await page.wait_for_function("() => window.results.query !== null || window.results.queryError !== null")
    await server.until_metric(OPENED, opened + 1)
    cursor = await move(server, writer, HOLD, order_id)
    await page.wait_for_function("() => window.results.events.length > 0")
    # then
    results = await page.evaluate("() => window.results")
    assert results["queryError"] is None and results["query"]["data"] == {"orderStats": {"totalOrders": 1}}  # extensions.cost rides along
    assert results["events"] == [{"data": {"orderStatusChanged": {"cursor": cursor, "status": "ON_HOLD"}}}]
    assert results["wsError"] is None and page.blocked == []


async def test_a_page_on_a_disallowed_origin_is_refused_for_queries_and_subscriptions(page, server, other_origin, db, writer):
    # given: the same page on http://127.0.0.1:<port>, an origin not in OMS_CORS_ORIGINS
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)])
    # when
    await page.goto(client_url(f"http://127.0.0.1:{other_origin}", server, writer, to_global_id("Order", order.id)))
    await page.wait_for_function("() => window.results.queryError !== null && window.results.wsError !== null")
    # then
    results = await page.evaluate("() => window.results")
    assert results["query"] is None and "Failed to fetch" in results["queryError"]
    assert results["subscribed"] is False and results["events"] == []
    assert "Rejected WebSocket connection from origin" in server.log()


async def test_graphiql_renders_and_runs_a_query_and_a_subscription_offline(page, server, db):
    # given: an order to follow on the public tracking subscription
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], email="ana@example.com")
    requested: list[str] = []
    sockets: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("websocket", lambda ws: sockets.append(ws.url))
    # when: a query
    await page.goto(server.http_url + "/graphql?q=" + urllib.parse.quote("{ __typename }"))
    await page.click(".graphiql-execute-button")
    await page.wait_for_function("() => document.querySelector('.result-window')?.textContent.includes('\"__typename\": \"Query\"')")
    # and a subscription
    subscription = f'subscription {{ trackOrder(number: "{order.number}", email: "ana@example.com") {{ number status }} }}'
    await page.goto(server.http_url + "/graphql?q=" + urllib.parse.quote(subscription))
    await page.click(".graphiql-execute-button")
    await page.wait_for_function(f"() => document.querySelector('.result-window')?.textContent.includes('{order.number}')")
    # then: nothing tried to leave the machine; the subscription went over the app's WebSocket
    assert page.blocked == []
    assert {urllib.parse.urlsplit(url).hostname for url in requested if not url.startswith("data:")} <= LOCAL_HOSTS
    assert sockets == [server.ws_url]
    await screenshot(page, "graphiql.png")


async def test_track_shows_an_order_and_updates_live_on_a_phone(phone, server, db, writer):
    # given
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], email="ana@example.com")
    order_id = to_global_id("Order", order.id)
    opened = await server.metric(OPENED)
    # when: the customer looks it up
    await phone.goto(server.http_url + "/track")
    await phone.get_by_label("Order number").fill(order.number)
    await phone.get_by_label("Email used for the order").fill("ANA@example.com ")
    await phone.get_by_role("button", name="Track order").click()
    status = phone.locator('#order [data-field="status"]')
    await status.filter(has_text="Pending").wait_for()
    assert await phone.locator('#order [data-field="number"]').text_content() == order.number
    assert await phone.locator("#timeline li").count() == 1
    # then: a change shows without a reload
    await server.until_metric(OPENED, opened + 1)
    await move(server, writer, HOLD, order_id)
    await status.filter(has_text="On hold").wait_for()
    await phone.locator("#live[data-state=live]").wait_for()
    assert await phone.locator("#timeline li").count() == 2
    assert await phone.evaluate("() => document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone
    await move(server, writer, RELEASE, order_id)
    await status.filter(has_text="Pending").wait_for()
    await screenshot(phone, "track.png")
    assert phone.blocked == []


async def test_track_says_the_same_not_found_for_a_wrong_email_and_an_unknown_number(page, server, db):
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], email="ana@example.com")
    await page.goto(server.http_url + "/track")
    messages = []
    for number, email in ((order.number, "someone-else@example.com"), ("SO-999999", "ana@example.com")):
        await page.get_by_label("Order number").fill(number)
        await page.get_by_label("Email used for the order").fill(email)
        await page.get_by_role("button", name="Track order").click()
        alert = page.get_by_role("alert").filter(has_text="could not find")
        await alert.wait_for()
        messages.append(await alert.text_content())
        assert await page.locator("#order").is_hidden()
        await page.evaluate("() => { document.getElementById('message').textContent = ''; }")
    assert messages == [NOT_FOUND, NOT_FOUND]


async def test_the_reference_pages_work_from_another_allowed_origin(page, server, other_origin, db, writer):
    # given: the pages' files served by a frontend team's own site, pointed at the API with ?api=
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], email="ana@example.com")
    api = urllib.parse.quote(server.http_url + "/graphql")
    opened = await server.metric(OPENED)
    # when
    await page.goto(f"http://localhost:{other_origin}/static/track.html?api={api}")
    await page.get_by_label("Order number").fill(order.number)
    await page.get_by_label("Email used for the order").fill("ana@example.com")
    await page.get_by_role("button", name="Track order").click()
    status = page.locator('#order [data-field="status"]')
    await status.filter(has_text="Pending").wait_for()
    await server.until_metric(OPENED, opened + 1)
    await move(server, writer, HOLD, to_global_id("Order", order.id))
    # then
    await status.filter(has_text="On hold").wait_for()
    await page.goto(f"http://localhost:{other_origin}/static/dashboard.html?api={api}")
    await page.get_by_label("API key", exact=False).fill(writer)
    await page.get_by_role("button", name="Connect").click()
    await page.locator("#live[data-state=live]").wait_for()
    assert (await page.locator('#status-counts [data-name="ON_HOLD"] dd').text_content()) == "1"
    assert page.blocked == []
