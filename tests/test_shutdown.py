"""SIGTERM under load: stop accepting, finish or refuse in-flight requests in JSON within the drain
time, close sockets with 1012, exit 0; and `serving on` is printed only once the port is bound."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import asyncpg
import httpx
from sqlalchemy import select, text

from models import Order
from tests import factories
from tests.conftest import make_key
from tests.live_server import ROOT, LiveServer, WsClient, plain_pg_url

DRAIN = 1.5
PLACE = """
mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) { order { number } userErrors { code message } } }
"""
CHANGES = "subscription { orderStatusChanged { cursor } }"


def order_input(sku: str) -> dict:
    return {"input": {"channel": "WEB", "email": "load@example.com", "lines": [{"sku": sku, "quantity": 1}],
                      "shippingAddress": factories.ADDRESS_INPUT}}


async def test_sigterm_under_load_drains_in_time_answers_only_json_and_keeps_every_acknowledged_write(db, database_url):
    # given: a server with a short drain time, under a steady load of orders, with one order stuck behind a lock
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.product(db, "LOAD", "1.00")
    await factories.stock(db, "LOAD", "MAD", 100_000)
    await factories.product(db, "STUCK", "1.00")
    await factories.stock(db, "STUCK", "MAD", 10)
    token = await make_key(db, "admin", name="load")
    server = await LiveServer(database_url, env={"OMS_DRAIN_SECONDS": str(DRAIN), "OMS_DB_LOCK_TIMEOUT_MS": "30000"}).start()
    holder = await asyncpg.connect(plain_pg_url(database_url))
    lock = holder.transaction()
    await lock.start()
    await holder.execute("SELECT 1 FROM stock_levels WHERE sku = 'STUCK' FOR UPDATE")
    ws = await WsClient(server.ws_url).connect(token)
    await server.subscribe(ws, CHANGES)
    acknowledged: list[str] = []
    answers: list[httpx.Response] = []
    stop, flowing = asyncio.Event(), asyncio.Event()
    headers = {"Authorization": f"Bearer {token}"}

    async def load(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            try:
                response = await client.post(server.http_url + "/graphql", json={"query": PLACE, "variables": order_input("LOAD")},
                                             headers=headers)
            except httpx.TransportError:  # refused or closed once the server stopped accepting: nothing acknowledged
                await asyncio.sleep(0.01)
                continue
            answers.append(response)
            if response.status_code == 200 and response.json()["data"]["placeOrder"]["order"]:
                acknowledged.append(response.json()["data"]["placeOrder"]["order"]["number"])
                if len(acknowledged) >= 20:
                    flowing.set()

    try:
        async with httpx.AsyncClient(timeout=30) as client:
            stuck = asyncio.create_task(client.post(server.http_url + "/graphql", json={"query": PLACE, "variables": order_input("STUCK")},
                                                    headers=headers))
            workers = [asyncio.create_task(load(client)) for _ in range(8)]
            await asyncio.wait_for(flowing.wait(), 30)  # the load is flowing
            # when: SIGTERM
            started = time.monotonic()
            server.terminate()
            code = await server.wait_exit(DRAIN + 10)
            elapsed = time.monotonic() - started
            stop.set()
            await asyncio.gather(*workers)
            stuck_answer = await stuck
        # then: it exited 0 within the drain time + 2 s
        assert code == 0, server.log()[-3000:]
        assert elapsed <= DRAIN + 2, elapsed
        # the request still waiting on the lock got a JSON 503 UNAVAILABLE, never text/plain 500. Its outcome is UNKNOWN:
        # placeOrder's one write statement commits on its own (issue 16, session 11), and it was in flight when the drain
        # time ran out (retry with the idempotency key); it had not committed (asserted below, after the server exits)
        assert stuck_answer.status_code == 503 and stuck_answer.headers["content-type"].startswith("application/json"), stuck_answer.text
        error = stuck_answer.json()["errors"][0]["extensions"]
        assert (error["code"], error["reason"], error["outcome"]) == ("UNAVAILABLE", "SHUTTING_DOWN", "UNKNOWN")
        # every answer was JSON; the open WebSocket was closed with 1012 (service restart)
        assert all(a.headers.get("content-type", "").startswith("application/json") for a in answers), \
            [(a.status_code, a.text[:100]) for a in answers if not a.headers.get("content-type", "").startswith("application/json")]
        await asyncio.wait_for(ws.closed.wait(), 5)
        assert ws.close_code == 1012
        assert "Exception in ASGI application" not in server.log()
    finally:
        await lock.rollback()
        await holder.close()
        await server.stop()
    # and every acknowledged order is in the database
    async with db.read() as session:
        stored = set((await session.execute(select(Order.number))).scalars())
    assert acknowledged and set(acknowledged) <= stored
    async with db.read() as session:
        stuck_orders = (await session.execute(text("SELECT count(*) FROM order_lines WHERE sku = 'STUCK'"))).scalar_one()
    assert stuck_orders == 0  # cancelled while it waited on the lock: not written


def test_serving_on_is_printed_only_once_the_port_is_bound(database_url):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": database_url}
        env.pop("PYTHONWARNINGS", None)
        result = subprocess.run([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "serving on" not in result.stdout + result.stderr
    assert "address already in use" in (result.stdout + result.stderr).lower()
