"""Bulk export (issue 17): `oms export-orders` and GET /exports/orders.jsonl give the same bytes, stream in batches,
filter like `orders(filter:)`, and show privateMetadata only to a key with orders:write."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from app.orders import export
from app.orders.metadata import Item, update_metadata
from tests import factories
from tests.conftest import make_key

OMS = str(Path(sys.executable).with_name("oms"))
ORDERS = 45


async def seeded(db) -> list:
    await factories.basic_catalog(db)
    await factories.stock(db, "A", "MAD", 200)
    orders = []
    for i in range(ORDERS):
        channel = ("WEB", "PHONE", "STORE")[i % 3]
        orders.append(await factories.place(db, [("A", 1 + i % 2)], channel=channel, email=f"x{i}@example.com",
                                            **({"payment_method": "CASH_ON_DELIVERY"} if i % 4 == 0 else {})))
    for order in orders[:5]:
        await db.run(lambda uow, o=order: update_metadata(uow=uow, order_id=o.id, set_=[Item("erp", o.number)], remove=[], private=False))
        await db.run(lambda uow, o=order: update_metadata(uow=uow, order_id=o.id, set_=[Item("cost", "1.5")], remove=[], private=True))
    return orders


async def cli_export(*args: str) -> bytes:
    env = {**os.environ, "DATABASE_URL": os.environ["OMS_TEST_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")}
    done = await asyncio.to_thread(subprocess.run, [OMS, "export-orders", *args], env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def http_export(client, token: str | None, query: str = "") -> tuple[int, dict, bytes, int]:
    """Through the ASGI app itself (httpx's ASGI transport would buffer the body): status, headers, body, body messages."""
    app = client._transport.app
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/exports/orders.jsonl",
             "raw_path": b"/exports/orders.jsonl", "query_string": query.lstrip("?").encode(), "headers": [(b"host", b"oms.test"), *headers],
             "client": ("127.0.0.1", 5000), "server": ("oms.test", 80), "root_path": ""}
    messages: list[dict] = []
    requested = False

    async def receive() -> dict:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = messages[0]
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    return (start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, b"".join(m.get("body", b"") for m in bodies),
            sum(1 for m in bodies if m.get("body")))


async def test_cli_and_http_give_the_same_bytes_streamed_in_batches(client, db, admin_token, monkeypatch):
    orders = await seeded(db)
    monkeypatch.setattr(export, "EXPORT_BATCH", 7)  # this process only: the CLI reads 500 at a time, the bytes are the same
    status, headers, body, chunks = await http_export(client, admin_token)
    assert status == 200 and headers["content-type"] == "application/x-ndjson" and headers["cache-control"] == "private, no-store"
    assert chunks >= ORDERS // 7  # streamed: one chunk per order as its batch is read, not one body
    assert body == await cli_export()
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert len(lines) == ORDERS and len({line["id"] for line in lines}) == ORDERS
    first = next(line for line in lines if line["number"] == orders[0].number)
    assert first["metadata"] == [{"key": "erp", "value": orders[0].number}] and first["privateMetadata"] == [{"key": "cost", "value": "1.5"}]
    assert first["lines"][0]["sku"] == "A" and first["total"]["currency"] == "EUR" and isinstance(first["total"]["amount"], str)


async def test_filters_match_the_orders_query_and_private_needs_orders_write(client, db, gql):
    await seeded(db)
    query = "?status=CONFIRMED&channel=WEB,STORE&metadata=erp"
    _, _, body, _ = await http_export(client, await make_key(db, "orders:read", "orders:write"), query)
    expected = await gql('{ orders(first: 100, filter: {status: [CONFIRMED], channel: [WEB, STORE], metadata: [{key: "erp"}]}) '
                         '{ edges { node { id } } } }')
    ids = {e["node"]["id"] for e in expected["data"]["orders"]["edges"]}
    assert ids and {json.loads(line)["id"] for line in body.decode().splitlines()} == ids
    assert body == await cli_export("--status", "CONFIRMED", "--channel", "WEB", "--channel", "STORE", "--metadata", "erp")
    # an orders:read key: no privateMetadata, and no filtering on it
    reader = await make_key(db, "orders:read")
    _, _, public, _ = await http_export(client, reader)
    assert public == await cli_export("--no-private")
    assert all("privateMetadata" not in json.loads(line) for line in public.decode().splitlines())
    assert (await http_export(client, reader, "?privateMetadata=cost"))[0] == 403
    assert (await http_export(client, None))[0] == 401
    assert (await http_export(client, await make_key(db, "stock:read")))[0] == 403
    for bad in ("?status=LOST", "?updatedAfter=yesterday", "?deliveryAtRisk=maybe", "?sort=TOTAL", "?metadata==x"):
        status, _, message, _ = await http_export(client, reader, bad)
        assert status == 400 and b"error" in message, (bad, message)
    _, _, later, _ = await http_export(client, reader, "?updatedAfter=2999-01-01T00:00:00Z")
    assert later == b""
