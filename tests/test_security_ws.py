"""Issue 13 over real servers (`oms serve` subprocesses): a revoked or expired key's open subscriptions are
closed with 4403 within seconds on every process; legacy graphql-ws refuses a bad key with 4403; oversized
and malformed WebSocket messages close the socket with a code instead of running."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest_asyncio
import websockets

from app.auth.service import create_api_key, revoke_api_key
from tests.conftest import make_key
from tests.live_server import LiveServer, WsClient

SWEEP = {"OMS_KEY_SWEEP_SECONDS": "0.2"}
STATUS = "subscription { orderStatusChanged { order { number } status } }"


@pytest_asyncio.fixture(scope="module")
async def servers(database_url: str, app: Any):  # two processes sharing the test database
    pair = [LiveServer(database_url, env=SWEEP) for _ in range(2)]
    await asyncio.gather(*(server.start() for server in pair))
    yield pair
    for server in pair:
        await server.stop()


async def closed_with(ws: WsClient, within: float) -> int | None:
    await asyncio.wait_for(ws.closed.wait(), within)
    return ws.close_code


async def test_revoking_a_key_closes_its_open_subscriptions_on_every_process(servers, db) -> None:
    one, two = servers
    token = await db.run(lambda uow: create_api_key(uow=uow, name="partner-k1", scopes=["orders:read"]))
    other = await make_key(db, "orders:read", name="partner-k2")
    k1_on_one = await WsClient(one.ws_url).connect(token)
    k1_on_two = await WsClient(two.ws_url).connect(token)
    k2_on_one = await WsClient(one.ws_url).connect(other)
    for server, ws in ((one, k1_on_one), (two, k1_on_two), (one, k2_on_one)):
        await server.subscribe(ws, STATUS)

    await db.run(lambda uow: revoke_api_key(uow=uow, name="partner-k1"))

    assert await closed_with(k1_on_one, 5) == 4403
    assert await closed_with(k1_on_two, 5) == 4403
    assert not k2_on_one.closed.is_set()  # another key's socket stays
    operation = await k2_on_one.subscribe("subscription { stockLevelChanged { sku } }")
    message = await k2_on_one.next(operation)
    assert message["type"] in ("next", "error") and message["payload"]  # still served (stock:read refused, as an answer)
    await k2_on_one.close()


async def test_an_expired_key_is_refused_and_its_sockets_closed(servers, db) -> None:
    one, _ = servers
    token = await db.run(lambda uow: create_api_key(uow=uow, name="short-lived", scopes=["orders:read"], expires_in=timedelta(seconds=2)))
    ws = await WsClient(one.ws_url).connect(token)
    await one.subscribe(ws, STATUS)
    assert await closed_with(ws, 10) == 4403
    body = await one.gql("{ orders(first: 1) { totalCount } }", token=token)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_legacy_graphql_ws_refuses_a_bad_key_with_4403(servers) -> None:
    one, _ = servers
    async with websockets.connect(one.ws_url, subprotocols=["graphql-ws"], open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer oms_wrong"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_error"
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4403
        else:
            raise AssertionError("the socket stayed open")


async def raw_close_code(url: str, messages: list[str | bytes]) -> int | None:
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10, max_size=None) as ws:
        try:
            for message in messages:
                await ws.send(message)
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


async def test_oversized_and_malformed_websocket_messages_close_the_socket(servers, db) -> None:
    one, _ = servers
    token = await make_key(db, "orders:read")
    init = json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    huge = json.dumps({"id": "1", "type": "subscribe", "payload": {"query": STATUS, "variables": {"pad": "x" * 2_000_000}}})
    assert await raw_close_code(one.ws_url, [init, huge]) == 1009
    over_app_limit = json.dumps({"id": "1", "type": "subscribe", "payload": {"query": STATUS, "variables": {"pad": "x" * 300_000}}})
    assert await raw_close_code(one.ws_url, [init, over_app_limit]) == 1009
    deep = '{"type": "connection_init", "payload": ' + '{"a": ' * 2000 + "1" + "}" * 2000 + "}"
    assert await raw_close_code(one.ws_url, [deep]) == 4400
    assert await raw_close_code(one.ws_url, ['"x"']) == 4400
    assert await raw_close_code(one.ws_url, [init, "5"]) == 4400
    assert "Traceback" not in one.log()


async def test_a_rate_limited_public_subscription_gets_an_error_message(servers) -> None:
    one, _ = servers
    ws = await WsClient(one.ws_url).connect(None)
    track = "subscription($n: String!, $e: String!) { trackOrder(number: $n, email: $e) { number } }"
    first_messages = []
    for attempt in range(11):  # OMS_PUBLIC_RATE_PER_ORDER defaults to 10/minute
        operation = await ws.subscribe(track, {"n": "SO-RATE-1", "e": f"guess{attempt}@example.com"})
        first_messages.append(await ws.next(operation))
    assert all("RATE_LIMITED" not in json.dumps(m) for m in first_messages[:10]), first_messages[:10]
    assert "RATE_LIMITED" in json.dumps(first_messages[10]), first_messages[10]
    assert not ws.closed.is_set()  # an error for that operation; the socket stays
    await ws.close()
