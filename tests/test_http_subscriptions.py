"""Subscriptions over HTTP against a running server: multipart (Apollo) and graphql-sse, with the WebSocket path's
auth, scopes, `after` resume and an open-streams cap; unsupported combinations get a clear 4xx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest_asyncio

from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import make_key
from tests.http_streams import MULTIPART_ACCEPT, http_subscription
from tests.live_server import LiveServer

CHANGES = """
subscription Changes($orderId: ID, $after: String) {
  orderStatusChanged(orderId: $orderId, after: $after) { cursor previousStatus status }
}
"""
HOLD = "mutation H($id: ID!) { holdOrder(input: {orderId: $id}) { userErrors { code } eventCursor } }"
RELEASE = "mutation R($id: ID!) { releaseOrder(input: {orderId: $id}) { userErrors { code } eventCursor } }"
OPENED = "oms_live_subscriptions_opened_total"


@pytest_asyncio.fixture(scope="module")
async def server(database_url: str, app: Any):
    live = await LiveServer(database_url, env={"OMS_HTTP_STREAMS_PER_CALLER": "2"}).start()
    yield live
    await live.stop()


@pytest_asyncio.fixture
async def writer(db) -> str:
    return await make_key(db, "orders:read", "orders:write", name="writer")


async def move(server: LiveServer, token: str, mutation: str, order_id: str) -> str:
    body = await server.gql(mutation, {"id": order_id}, token=token)
    payload = next(iter(body["data"].values()))
    assert payload["userErrors"] == [], body
    return payload["eventCursor"]


async def test_a_multipart_subscription_receives_an_event_and_resumes_with_after(server, db, writer):
    # given: an order and a subscriber on it over HTTP
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)])
    order_id = to_global_id("Order", order.id)
    opened = await server.metric(OPENED)
    async with http_subscription(server.http_url + "/graphql", CHANGES, {"orderId": order_id}, token=writer) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("multipart/mixed")
        await server.until_metric(OPENED, opened + 1)
        # when
        first = await move(server, writer, HOLD, order_id)
        # then
        assert (await stream.data())["orderStatusChanged"] == {"cursor": first, "previousStatus": "PENDING", "status": "ON_HOLD"}
    # when: a change happens while nobody listens, then the client resumes after the last cursor it saw
    second = await move(server, writer, RELEASE, order_id)
    async with http_subscription(server.http_url + "/graphql", CHANGES, {"orderId": order_id, "after": first}, token=writer) as stream:
        missed = (await stream.data())["orderStatusChanged"]
        third = await move(server, writer, HOLD, order_id)
        live = (await stream.data())["orderStatusChanged"]
        # then: the missed change once, then the new one, nothing twice
        assert (missed["cursor"], missed["status"]) == (second, "PENDING")
        assert (live["cursor"], live["status"]) == (third, "ON_HOLD")
        assert await stream.nothing_for(0.5)


async def test_a_graphql_sse_subscription_receives_an_event(server, db, writer):
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)])
    order_id = to_global_id("Order", order.id)
    opened = await server.metric(OPENED)
    async with http_subscription(server.http_url + "/graphql", CHANGES, {"orderId": order_id}, token=writer, sse=True) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        await server.until_metric(OPENED, opened + 1)
        cursor = await move(server, writer, HOLD, order_id)
        assert (await stream.data())["orderStatusChanged"]["cursor"] == cursor


async def test_http_subscriptions_need_a_key_with_the_scope(server, db):
    stock_only = await make_key(db, "stock:read", name="stock-only")
    for token, code in ((None, "UNAUTHENTICATED"), (stock_only, "FORBIDDEN")):
        async with http_subscription(server.http_url + "/graphql", CHANGES, token=token) as stream:
            result = await stream.next()
            assert result["errors"][0]["extensions"]["code"] == code, (token, result)
    # a bad key is refused before anything streams, as a bad key in connection_init is
    for sse in (False, True):
        async with http_subscription(server.http_url + "/graphql", CHANGES, token="not-a-key", sse=sse) as stream:
            assert stream.response.status_code == 401 and "Invalid API key" in stream.body


async def test_open_http_streams_are_capped_per_caller(server, writer):
    # given: the server allows 2 open streams per caller (OMS_HTTP_STREAMS_PER_CALLER=2)
    url = server.http_url + "/graphql"
    async with http_subscription(url, CHANGES, token=writer) as one, http_subscription(url, CHANGES, token=writer) as two:
        assert (one.response.status_code, two.response.status_code) == (200, 200)
        # when / then: a third is refused before it streams
        async with http_subscription(url, CHANGES, token=writer) as three:
            assert three.response.status_code == 429
            assert "Too many open subscriptions" in three.body
    # and once they are closed, the caller may open streams again
    async with http_subscription(url, CHANGES, token=writer) as again:
        assert again.response.status_code == 200


async def test_unsupported_combinations_get_a_clear_4xx(server, writer):
    url = server.http_url + "/graphql"
    headers = {"Authorization": f"Bearer {writer}"}
    async with httpx.AsyncClient(timeout=10) as client:
        # a subscription without a streaming Accept header
        plain = await client.post(url, json={"query": CHANGES}, headers=headers)
        assert plain.status_code == 400 and "multipart/mixed;subscriptionSpec=1.0" in plain.text
        over_get = await client.get(url, params={"query": "subscription { orderStatusChanged { cursor } }"}, headers=headers)
        assert over_get.status_code == 400 and "text/event-stream" in over_get.text
        # a query with the multipart subscription Accept header
        query = await client.post(url, json={"query": "{ __typename }"}, headers={**headers, "Accept": MULTIPART_ACCEPT})
        assert query.status_code == 406 and "application/json" in query.text
