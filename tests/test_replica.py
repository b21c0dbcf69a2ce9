"""DATABASE_REPLICA_URL: reads go to a real streaming replica (pg_basebackup -R), writes to the
primary, and a client reads its own writes even while the replica lags (replay paused)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from app.infra.database import Database
from tests import factories
from tests.conftest import make_key
from tests.live_server import LiveServer, WsClient
from tests.pg_cluster import PgCluster, cleanup, start_cluster

PLACE = """
mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) { order { number } userErrors { code } } }
"""
BY_NUMBER = """query($n: String!) { order(number: $n) { number status } }"""
CHANGES = "subscription($after: String) { orderStatusChanged(after: $after) { cursor order { number } } }"
MAX_WAIT_MS = 300


@pytest_asyncio.fixture(scope="module")
async def replicated() -> AsyncIterator[tuple[PgCluster, PgCluster, LiveServer, str, str]]:
    base, primary = await asyncio.to_thread(start_cluster)
    replica = await asyncio.to_thread(primary.make_replica)
    db = Database(primary.database_url(), pool_size=2)
    server = None
    try:
        await factories.basic_catalog(db)
        writer = await make_key(db, "admin", name="writer")
        other = await make_key(db, "admin", name="other")
        server = await LiveServer(primary.database_url(), env={
            "DATABASE_REPLICA_URL": replica.database_url(), "OMS_REPLICA_MAX_WAIT_MS": str(MAX_WAIT_MS)}).start()
        yield primary, replica, server, writer, other
    finally:
        if server is not None:
            await server.stop()
        await db.dispose()
        await asyncio.to_thread(cleanup, base, replica, primary)


async def post(server: LiveServer, token: str, query: str, variables: dict[str, Any], **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(server.http_url + "/graphql", json={"query": query, "variables": variables},
                                 headers={"Authorization": f"Bearer {token}", **headers})


async def place(server: LiveServer, token: str) -> httpx.Response:
    return await post(server, token, PLACE, {"input": {"channel": "WEB", "email": "r@example.com", "lines": [{"sku": "A", "quantity": 1}],
                                                       "shippingAddress": factories.ADDRESS_INPUT}})


async def test_a_client_reads_its_own_write_while_the_replica_lags(replicated):
    _, replica, server, writer, other = replicated
    assert replica.psql("SELECT pg_is_in_recovery()") == "t"
    # given: a lagging replica (replay paused)
    replica.psql("SELECT pg_wal_replay_pause()")
    try:
        # when: a client places an order
        placed = await place(server, writer)
        number = placed.json()["data"]["placeOrder"]["order"]["number"]
        token = placed.headers["x-oms-read-after"]
        # then: reads go to the replica (another key, no token: it does not see the order yet) ...
        stale = await post(server, other, BY_NUMBER, {"n": number})
        assert stale.json()["data"]["order"] is None, stale.text
        # ... but the writer reads its own write (same key), and so does anyone who passes the write's token;
        # each waited for the replica at most OMS_REPLICA_MAX_WAIT_MS, then read the primary
        started = time.monotonic()
        own = await post(server, writer, BY_NUMBER, {"n": number})
        with_token = await post(server, other, BY_NUMBER, {"n": number}, **{"X-OMS-Read-After": token})
        assert own.json()["data"]["order"]["number"] == number, own.text
        assert with_token.json()["data"]["order"]["number"] == number, with_token.text
        assert time.monotonic() - started < 2 * (MAX_WAIT_MS / 1000) + 1
    finally:
        replica.psql("SELECT pg_wal_replay_resume()")
    # and once the replica has replayed, it serves everyone
    async def visible() -> bool:
        return (await post(server, other, BY_NUMBER, {"n": number})).json()["data"]["order"] is not None

    deadline = time.monotonic() + 10
    while not await visible():
        assert time.monotonic() < deadline, "the replica never caught up"
        await asyncio.sleep(0.05)


async def test_subscription_catch_up_from_the_replica_misses_nothing(replicated):
    _, replica, server, writer, _ = replicated
    ws = await WsClient(server.ws_url).connect(writer)
    try:
        subscription = await server.subscribe(ws, CHANGES)
        replica.psql("SELECT pg_wal_replay_pause()")
        try:
            numbers = [(await place(server, writer)).json()["data"]["placeOrder"]["order"]["number"] for _ in range(3)]
        finally:
            replica.psql("SELECT pg_wal_replay_resume()")
        seen = [(await ws.data(subscription, timeout=15))["orderStatusChanged"] for _ in numbers]
        assert [s["order"]["number"] for s in seen] == numbers
        cursors = [int(s["cursor"]) for s in seen]
        assert cursors == list(range(cursors[0], cursors[0] + 3))
    finally:
        await ws.close()
