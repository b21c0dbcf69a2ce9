"""Fan-out (issue 15): one serialisation per event and subscription shape, the same bytes on every socket and stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
import strawberry
import websockets

from resolvers import live
from resolvers.ids import to_global_id
from resolvers.live import SharedEvent, SharedEventExecutionContext
from server.http_protocol import BrowserProtocolMixin
from server.ws_keys import LegacyWSHandler, TransportWSHandler
from tests import factories
from tests.conftest import make_key
from tests.http_streams import SSE_ACCEPT
from tests.live_server import LiveServer

ORDER_CHANGES = """
subscription Changes($orderId: ID) { orderStatusChanged(orderId: $orderId) { cursor previousStatus status order { id number status } } }
"""
HOLD = "mutation Hold($id: ID!) { holdOrder(input: {orderId: $id}) { userErrors { code } eventCursor } }"

# ---------------------------------------------------------------- in process: the send paths

EVENTS: dict[str, SharedEvent] = {}


@strawberry.type
class Change:
    status: str

    @strawberry.field
    def label(self, prefix: str) -> str:
        return prefix + self.status


@strawberry.type
class NoQuery:
    ok: bool = True


@strawberry.type
class Changes:
    @strawberry.subscription
    async def changes(self) -> AsyncIterator[Change]:
        yield EVENTS["one"]  # type: ignore[misc]


class FakeSocket:
    """What the handlers' send path reaches: strawberry's adapter (`.ws`) around a starlette WebSocket (`send_text`)."""

    def __init__(self) -> None:
        self.ws = self
        self.texts: list[str] = []

    async def send_text(self, text: str) -> None:
        self.texts.append(text)

    async def send_json(self, message: Any) -> None:  # strawberry's path, for anything not shared
        self.texts.append(json.dumps(message))


def handler(cls: type, socket: FakeSocket) -> Any:
    made = cls.__new__(cls)  # only the send path is exercised: no view, no schema, no task
    made.websocket = socket
    return made


class View(BrowserProtocolMixin):
    """The HTTP view's stream encoder, over a parent that encodes like strawberry (json.dumps)."""


class _Parent:
    def encode_json_string(self, data: object) -> str:
        return json.dumps(data)


class HttpView(View, _Parent):
    pass


async def test_every_subscriber_of_a_shape_gets_the_same_bytes_serialised_once(monkeypatch):
    # given: one event, 60 subscribers of one shape (50 graphql-transport-ws, 5 graphql-ws, 5 HTTP streams), serialisation counted
    calls: list[Any] = []
    original = live.encode_payload
    monkeypatch.setattr(live, "encode_payload", lambda data: calls.append(data) or original(data))
    EVENTS["one"] = SharedEvent(Change(status="ON_HOLD"), {}, frozenset({"orders:read"}))
    schema = strawberry.Schema(query=NoQuery, subscription=Changes, execution_context_class=SharedEventExecutionContext)

    async def first_result() -> Any:
        stream = await schema.subscribe('subscription { changes { label(prefix: "a:") status } }')
        async for result in stream:
            await stream.aclose()
            return result

    results = await asyncio.gather(*(first_result() for _ in range(60)))
    sockets = [FakeSocket() for _ in range(55)]

    # when: each is sent the way its transport sends it
    for number, (socket, result) in enumerate(zip(sockets, results, strict=False)):
        if number < 50:
            await handler(TransportWSHandler, socket).send_message({"id": f"op-{number}", "type": "next", "payload": {"data": result.data}})
        else:
            await handler(LegacyWSHandler, socket).send_message({"type": "data", "id": str(number), "payload": {"data": result.data}})
    view = HttpView()
    sse = [view.encode_json_string({"data": result.data}) for result in results[55:58]]
    multipart = [view.encode_json_string({"payload": {"data": result.data}}) for result in results[58:]]

    # then: one serialisation for all 60, and the same payload characters in every envelope
    assert len(calls) == 1
    expected = {"data": {"changes": {"label": "a:ON_HOLD", "status": "ON_HOLD"}}}
    payloads = set()
    for number, socket in enumerate(sockets):
        (text,) = socket.texts
        message = json.loads(text)
        assert message == ({"id": f"op-{number}", "type": "next", "payload": expected} if number < 50
                           else {"id": str(number), "type": "data", "payload": expected})
        payloads.add(text[text.index('"payload":') + len('"payload":'):-1])
    payloads.update(sse)
    payloads.update(part[len('{"payload":'):-1] for part in multipart)
    assert payloads == {json.dumps(expected, separators=(",", ":"))}


async def test_a_result_with_errors_or_extensions_is_still_sent_right(monkeypatch):
    # given: a shared data object, and messages the shared path must not take over (errors) or must extend (extensions)
    data = live.SharedData({"changes": {"status": "ON_HOLD"}})
    socket = FakeSocket()
    transport = handler(TransportWSHandler, socket)

    # when
    await transport.send_message({"id": "1", "type": "next", "payload": {"data": data, "extensions": {"n": 1}}})
    await transport.send_message({"id": "2", "type": "next", "payload": {"data": data, "errors": [{"message": "x"}]}})
    await transport.send_message({"id": "3", "type": "next", "payload": {"data": {"changes": None}}})  # not shared

    # then: each message is the JSON strawberry would have sent
    assert [json.loads(t) for t in socket.texts] == [
        {"id": "1", "type": "next", "payload": {"data": {"changes": {"status": "ON_HOLD"}}, "extensions": {"n": 1}}},
        {"id": "2", "type": "next", "payload": {"data": {"changes": {"status": "ON_HOLD"}}, "errors": [{"message": "x"}]}},
        {"id": "3", "type": "next", "payload": {"data": {"changes": None}}},
    ]


# ---------------------------------------------------------------- a real server: the same bytes on the wire

@pytest_asyncio.fixture(scope="module")
async def server(database_url: str, app: Any):
    live_server = await LiveServer(database_url).start()
    yield live_server
    await live_server.stop()


async def raw_socket(server: LiveServer, protocol: str, token: str, order_id: str) -> Any:
    ws = await websockets.connect(server.ws_url, subprotocols=[protocol], open_timeout=10, max_size=None)  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    start = "subscribe" if protocol == "graphql-transport-ws" else "start"
    await ws.send(json.dumps({"id": "1", "type": start, "payload": {"query": ORDER_CHANGES, "variables": {"orderId": order_id}}}))
    return ws


async def next_raw(ws: Any) -> str:
    while True:
        text = await asyncio.wait_for(ws.recv(), 15)
        if json.loads(text)["type"] in ("next", "data"):
            return text


async def sse_raw(response: httpx.Response) -> str:
    buffer = ""
    async for chunk in response.aiter_text():
        buffer += chunk
        for event in buffer.split("\r\n\r\n")[:-1]:
            lines = dict(line.split(": ", 1) for line in event.splitlines() if ": " in line and not line.startswith(":"))
            if lines.get("event") == "next":
                return lines["data"]
    raise AssertionError("the stream ended")


async def test_subscribers_on_every_transport_receive_byte_identical_payloads(server, db):
    # given: one order; 20 graphql-transport-ws, 3 graphql-ws sockets and 2 graphql-sse streams of the same shape, all registered
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], email="fanout@example.com")
    order_id = to_global_id("Order", order.id)
    token = await make_key(db, "orders:read", "orders:write", name="fanout")
    opened = await server.metric("oms_live_subscriptions_opened_total")
    sockets = [await raw_socket(server, "graphql-transport-ws", token, order_id) for _ in range(20)]
    sockets += [await raw_socket(server, "graphql-ws", token, order_id) for _ in range(3)]
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=None)) as client:
        streams = []
        for _ in range(2):
            request = client.build_request("POST", server.http_url + "/graphql", json={"query": ORDER_CHANGES, "variables": {"orderId": order_id}},
                                           headers={"Accept": SSE_ACCEPT, "Authorization": f"Bearer {token}"})
            streams.append(await client.send(request, stream=True))
        try:
            await server.until_metric("oms_live_subscriptions_opened_total", opened + 25)

            # when: the order is held
            body = await server.gql(HOLD, {"id": order_id}, token=token)
            cursor = body["data"]["holdOrder"]["eventCursor"]

            # then: every socket's and stream's payload is the same characters, and it is the event
            texts = await asyncio.gather(*(next_raw(ws) for ws in sockets))
            payloads = {text[text.index('"payload":') + len('"payload":'):-1] for text in texts}
            payloads |= set(await asyncio.gather(*(sse_raw(stream) for stream in streams)))
            assert len(payloads) == 1, payloads
            change = json.loads(payloads.pop())["data"]["orderStatusChanged"]
            assert change["cursor"] == cursor and change["status"] == "ON_HOLD" and change["order"]["id"] == order_id
        finally:
            for stream in streams:
                await stream.aclose()
            for ws in sockets:
                await ws.close()
