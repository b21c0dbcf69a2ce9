"""Fan-out (issue 15): one serialisation per event and subscription shape, the same bytes on every socket and stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import strawberry
import websockets

from app.infra.hub import Delivery, LiveHub
from resolvers import live
from resolvers.ids import to_global_id
from resolvers.live import SharedEvent, SharedEventExecutionContext
from server import ws_keys
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


# ---------------------------------------------------------------- parked subscriptions (no task while idle)

class FakeHub:
    def __init__(self) -> None:
        self.order_subscriptions: set[Any] = set()

    def attach(self, subscription: Any) -> None:
        self.order_subscriptions.add(subscription)

    def unsubscribe(self, subscription: Any) -> None:
        self.order_subscriptions.discard(subscription)


def parked(hub: FakeHub, after: int) -> live.ParkedSubscription:
    member = live.ParkedSubscription(hub, lambda delivery: True, after, frozenset({"orders:read"}))  # type: ignore[arg-type]
    hub.attach(member)
    member.bind(object(), ("shape",))
    return member


async def test_a_parked_subscription_writes_at_once_to_a_socket_that_can_take_it():
    # given: a parked subscription on a socket that takes a message without waiting
    hub, sent, handed = FakeHub(), [], []
    member = parked(hub, 10)

    async def send_text(text: str) -> None:
        sent.append(text)

    member.activate("op-1", send_text, handed.append)
    # when: an event's shared payload is pushed
    member.push(11, '{"data":{"x":1}}')
    # then: written in the same step, in the operation's envelope; the subscription stays parked
    assert sent == ['{"id":"op-1","type":"next","payload":{"data":{"x":1}}}']
    assert member.state == live.ACTIVE and member in live.parked_subscriptions(hub) and handed == []


class FakeWriter:
    """A socket that takes pre-written frames (server/ws_protocol.py Parker) while `accepts`."""

    def __init__(self, accepts: bool = True) -> None:
        self.accepts, self.framed, self.written = accepts, [], []

    def frame(self, text: str) -> bytes:
        self.framed.append(text)
        return b"frame:" + text.encode()

    def write(self, frame: bytes) -> bool:
        if self.accepts:
            self.written.append(frame)
        return self.accepts


async def test_parked_subscriptions_of_one_envelope_share_one_pre_written_frame_per_event():
    # given: two parked subscriptions (operation "1" each) on sockets that take pre-written frames, and one with another id
    hub, sent = FakeHub(), []
    writers = [FakeWriter(), FakeWriter(), FakeWriter()]

    async def send_text(text: str) -> None:
        sent.append(text)

    members = [parked(hub, 10) for _ in writers]
    for member, writer, operation_id in zip(members, writers, ["1", "1", "op-2"], strict=True):
        member.activate(operation_id, send_text, lambda after: None, writer=writer)
    # when: one event's payload is pushed to all three in one dispatch
    frames: dict[str, bytes] = {}
    for member in members:
        member.push(11, '{"data":{"x":1}}', frames)
    # then: the frame of operation "1" was written once and its bytes went to both of its sockets; none the ordinary way
    assert writers[0].framed == ['{"id":"1","type":"next","payload":{"data":{"x":1}}}'] and writers[1].framed == []
    assert writers[0].written == writers[1].written == [b"frame:" + writers[0].framed[0].encode()]
    assert writers[2].framed == ['{"id":"op-2","type":"next","payload":{"data":{"x":1}}}'] and sent == []
    assert all(m.state == live.ACTIVE and m.start_seq == 11 for m in members)


async def test_a_socket_that_declines_the_pre_written_frame_gets_the_message_the_ordinary_way():
    # given: a parked subscription whose socket does not take pre-written frames now (e.g. permessage-deflate)
    hub, sent, handed = FakeHub(), [], []
    member = parked(hub, 10)

    async def send_text(text: str) -> None:
        sent.append(text)

    writer = FakeWriter(accepts=False)
    member.activate("op-1", send_text, handed.append, writer=writer)
    # when: an event is pushed
    member.push(11, '{"data":{"x":1}}', {})
    # then: sent once, through send_text, and nothing was written as a frame
    assert sent == ['{"id":"op-1","type":"next","payload":{"data":{"x":1}}}'] and writer.written == [] and handed == []


class EchoExecutor:
    """Stands for a shape's kept executor: each event's result is its cursor, shared (as the planner's would be)."""

    def build_per_event_executor(self, event: SharedEvent) -> Any:
        self.event = event
        return self

    def execute_operation(self, _: Any) -> Any:
        from graphql import ExecutionResult

        return ExecutionResult(live.SharedData({"cursor": self.event.value.cursor}), None)

    def is_awaitable(self, value: Any) -> bool:
        return False


def status_change(seq: int) -> Delivery:
    from types import SimpleNamespace

    event = SimpleNamespace(seq=seq, previous_status=None, status="ON_HOLD", occurred_at=None)
    return Delivery(event, SimpleNamespace(id="order"))  # type: ignore[arg-type]


async def test_active_parked_subscriptions_of_one_shape_are_one_hub_subscription_and_each_gets_every_event_once_in_order():
    # given: two parked subscriptions of one shape in a hub; the first active, the second not taken over by its transport yet
    hub = LiveHub(None, "memory://", poll_interval=1.0)  # type: ignore[arg-type]  # never started: only its registry is used
    received: dict[str, list[str]] = {"a": [], "b": []}
    executor = EchoExecutor()
    members = []
    for _ in received:
        member = live.ParkedSubscription(hub, lambda delivery: True, 10, frozenset({"orders:read"}))
        hub.attach(member)
        member.bind(executor, ("shape",))
        members.append(member)

    def sender(name: str) -> Any:
        async def send_text(text: str) -> None:
            received[name].append(json.loads(text)["payload"]["data"]["cursor"])
        return send_text

    def offer(seq: int) -> None:  # as the hub's catch_up offers one event to every subscription
        delivery = status_change(seq)
        for subscription in list(hub.order_subscriptions):
            subscription.offer(delivery)

    first, second = members
    first.activate("1", sender("a"), lambda after: None)
    # when: event 11 commits, then the second is taken over, then 12 and 13 commit
    offer(11)
    second.activate("1", sender("b"), lambda after: None)
    offer(12)
    offer(13)
    registered = set(hub.order_subscriptions)
    counted = hub.subscribers
    await live.dispatcher_of(hub).task
    # then: the two active ones are one subscription in the hub (filtered once per event), counted as two subscribers,
    # and each received every event after its start once, in order (the second its first one from its own backlog)
    assert len(registered) == 1 and type(next(iter(registered))) is live.ParkedGroup and counted == 2
    assert received == {"a": ["11", "12", "13"], "b": ["11", "12", "13"]}
    # when: they end, the group leaves the hub with the last of them
    first.close()
    assert hub.subscribers == 1 and len(hub.order_subscriptions) == 1
    second.close()
    assert hub.subscribers == 0 and not hub.order_subscriptions


async def test_a_parked_subscription_whose_socket_is_full_finishes_the_send_then_hands_back():
    # given: a parked subscription whose socket cannot take the next message yet
    hub, sent, handed = FakeHub(), [], []
    member = parked(hub, 10)
    writable, resumed = asyncio.Event(), asyncio.Event()

    async def send_text(text: str) -> None:
        await writable.wait()
        sent.append(text)

    member.activate("op-1", send_text, lambda after: (handed.append(after), resumed.set()))
    # when: an event is pushed, and later the socket drains
    member.push(11, '{"data":{"x":1}}')
    stopped_at_once = member.state == live.DONE and member not in live.parked_subscriptions(hub) and not hub.order_subscriptions and not sent and not handed
    writable.set()
    await asyncio.wait_for(resumed.wait(), 5)
    # then: it left the hub at once; the message was still sent whole, and only then was the subscription
    # handed back to its transport, to run again after that cursor (the log replays what follows)
    assert stopped_at_once
    assert sent == ['{"id":"op-1","type":"next","payload":{"data":{"x":1}}}'] and handed == [11]


async def subscriptions_gauge(server: LiveServer) -> float:
    return await server.metric("oms_live_subscriptions")


async def test_parked_subscribers_get_a_burst_in_order_exactly_once_and_leave_the_hub_on_complete(server, db):
    # given: 5 graphql-transport-ws subscribers (parked while idle) and one graphql-ws (not parked) of one order
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], email="burst@example.com")
    order_id = to_global_id("Order", order.id)
    token = await make_key(db, "orders:read", "orders:write", name="burst")
    opened = await server.metric("oms_live_subscriptions_opened_total")
    sockets = [await raw_socket(server, "graphql-transport-ws", token, order_id) for _ in range(5)]
    sockets.append(await raw_socket(server, "graphql-ws", token, order_id))
    await server.until_metric("oms_live_subscriptions_opened_total", opened + 6)
    try:
        # when: eight status changes commit back to back
        cursors = []
        for number in range(8):
            mutation = HOLD if number % 2 == 0 else HOLD.replace("holdOrder", "releaseOrder").replace("Hold", "Release")
            body = await server.gql(mutation, {"id": order_id}, token=token)
            cursors.append(next(iter(body["data"].values()))["eventCursor"])
        # then: every subscriber receives those eight, in order, each once
        for ws in sockets:
            received = [json.loads(await next_raw(ws))["payload"]["data"]["orderStatusChanged"]["cursor"] for _ in range(8)]
            assert received == cursors
        # when: one parked subscriber completes its operation
        before = await subscriptions_gauge(server)
        await sockets[0].send(json.dumps({"id": "1", "type": "complete"}))
        # then: the hub forgets it
        deadline = asyncio.get_running_loop().time() + 10
        while await subscriptions_gauge(server) > before - 1:
            assert asyncio.get_running_loop().time() < deadline, "a completed parked subscription stayed in the hub"
            await asyncio.sleep(0.05)
    finally:
        for ws in sockets:
            await ws.close()


async def test_a_parked_socket_still_answers_every_message_of_the_protocol(server, db):
    # given: a graphql-transport-ws socket whose subscription went idle (parked, and the socket parked in the protocol)
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], email="parked@example.com")
    order_id = to_global_id("Order", order.id)
    token = await make_key(db, "orders:read", "orders:write", name="parked")
    opened = await server.metric("oms_live_subscriptions_opened_total")
    ws = await raw_socket(server, "graphql-transport-ws", token, order_id)
    try:
        await server.until_metric("oms_live_subscriptions_opened_total", opened + 1)
        # when/then: a ping is answered
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}
        # a second subscription on the same socket starts and gets the next change, as the first does
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": ORDER_CHANGES, "variables": {"orderId": order_id}}}))
        await server.until_metric("oms_live_subscriptions_opened_total", opened + 2)
        body = await server.gql(HOLD, {"id": order_id}, token=token)
        cursor = body["data"]["holdOrder"]["eventCursor"]
        got = {}
        while len(got) < 2:
            message = json.loads(await next_raw(ws))
            got[message["id"]] = message["payload"]["data"]["orderStatusChanged"]["cursor"]
        assert got == {"1": cursor, "2": cursor}
        # a duplicate operation id closes the socket with 4409, as on an unparked socket
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": ORDER_CHANGES, "variables": {"orderId": order_id}}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4409
    finally:
        await ws.close()


async def test_a_parked_socket_closes_on_a_message_that_is_not_json(server, db):
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], email="notjson@example.com")
    token = await make_key(db, "orders:read", name="notjson")
    ws = await raw_socket(server, "graphql-transport-ws", token, to_global_id("Order", order.id))
    try:
        await ws.send("{not json")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    finally:
        await ws.close()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


IDLE_SUBSCRIBERS = 400
# main before issue 15: ~57-64 KiB on a fresh server; ~30-36 before sockets were parked in the protocol; now ~17 at 1,000
# (benchmarks/README.md), more at 400 where the server's fixed growth weighs more
KIB_PER_IDLE_SUBSCRIBER = 26


async def test_an_idle_subscriber_costs_the_server_little_memory(database_url: str, app: Any, db):
    # given: a freshly started server, warmed up by a few subscribers that come and go
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], email="idle@example.com")
    order_id = to_global_id("Order", order.id)
    token = await make_key(db, "orders:read", name="idle")
    fresh = await LiveServer(database_url).start()
    assert fresh.process is not None
    sockets: list[Any] = []
    try:
        warm = [await raw_socket(fresh, "graphql-transport-ws", token, order_id) for _ in range(10)]
        await fresh.until_metric("oms_live_subscriptions_opened_total", 10)
        for ws in warm:
            await ws.close()
        before = rss_kib(fresh.process.pid)
        # when: IDLE_SUBSCRIBERS connections each subscribe and then wait
        for _ in range(0, IDLE_SUBSCRIBERS, 50):
            sockets += await asyncio.gather(*(raw_socket(fresh, "graphql-transport-ws", token, order_id) for _batch in range(50)))
        await fresh.until_metric("oms_live_subscriptions_opened_total", 10 + IDLE_SUBSCRIBERS, within=60)
        await fresh.until_metric("oms_live_subscriptions", IDLE_SUBSCRIBERS, within=10)
        grown = rss_kib(fresh.process.pid) - before
        # then: the server's resident memory grew by less than the bound per subscriber
        assert grown / IDLE_SUBSCRIBERS < KIB_PER_IDLE_SUBSCRIBER, f"{grown / IDLE_SUBSCRIBERS:.1f} KiB per idle subscriber"
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        await fresh.stop()


# ---------------------------------------------------------------- legacy graphql-ws sockets, parked (in process: the parked forms are visible)

@pytest_asyncio.fixture
async def in_process(app: Any) -> AsyncIterator[str]:
    """The test app served by uvicorn in this process with `oms serve`'s WebSocket protocol (the one that parks sockets)."""
    import uvicorn

    from server.ws_protocol import WS_PROTOCOL
    from tests.live_server import free_port

    port = free_port()
    served = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", ws=WS_PROTOCOL, ws_per_message_deflate=False,
                                           log_level="warning"))
    task = asyncio.create_task(served.serve())
    while not served.started:  # uvicorn's own readiness flag
        assert not task.done(), "the in-process server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        served.should_exit = True
        await task


async def until(condition: Any, within: float) -> None:
    """Returns once `condition()` holds (asked every 10 ms), failing after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition did not come true"
        await asyncio.sleep(0.01)


def parked_members(app: Any) -> list[live.ParkedSubscription]:
    return [s for s in live.parked_subscriptions(app.state.hub) if s.state == live.ACTIVE]


async def test_legacy_graphql_ws_subscribers_are_parked_and_get_a_burst_in_order(app, db, gql, in_process):
    # given: 4 graphql-ws (legacy protocol) subscribers of one order on a server that parks sockets
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], email="legacy-parked@example.com")
    order_id = to_global_id("Order", order.id)
    token = await make_key(db, "orders:read", "orders:write", name="legacy-parked")
    sockets = []
    for _ in range(4):
        ws = await websockets.connect(in_process, subprotocols=["graphql-ws"], open_timeout=10)  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "start", "payload": {"query": ORDER_CHANGES, "variables": {"orderId": order_id}}}))
        sockets.append(ws)
    try:
        # then: each subscription goes idle as one parked object: its operation's task ended, its socket parked in the protocol
        await until(lambda: len(parked_members(app)) >= 4, 15)
        handlers = [h for h in ws_keys.OPEN if isinstance(h, LegacyWSHandler) and h.parked]
        assert len(handlers) == 4 and all(h.tasks["1"].done() and "1" in h.parked for h in handlers)
        # when: six status changes commit back to back
        cursors = []
        for number in range(6):
            mutation = HOLD if number % 2 == 0 else HOLD.replace("holdOrder", "releaseOrder").replace("Hold", "Release")
            body = await gql(mutation, {"id": order_id})
            cursors.append(next(iter(body["data"].values()))["eventCursor"])
        # then: every legacy subscriber receives those six in order, each once, as `data` messages; still parked afterwards
        for ws in sockets:
            messages = [json.loads(await next_raw(ws)) for _ in range(6)]
            assert [m["type"] for m in messages] == ["data"] * 6 and {m["id"] for m in messages} == {"1"}
            assert [m["payload"]["data"]["orderStatusChanged"]["cursor"] for m in messages] == cursors
        assert len(parked_members(app)) == 4
        # when: one subscriber stops its operation
        await sockets[0].send(json.dumps({"id": "1", "type": "stop"}))
        # then: it is told `complete`, as an unparked one is, and the hub forgets it
        assert json.loads(await asyncio.wait_for(sockets[0].recv(), 10)) == {"type": "complete", "id": "1"}
        await until(lambda: len(parked_members(app)) == 3, 10)
    finally:
        for ws in sockets:
            await ws.close()


async def test_a_parked_subscriptions_own_executor_is_freed_without_the_cyclic_collector():
    # given: two parked subscriptions of one shape: the dispatcher keeps the first's executor; each executor refers to itself
    import gc
    import weakref

    class Executor:
        def __init__(self) -> None:
            self.async_helpers = (self.gather, self.gather)  # as graphql-core's: bound methods of the executor

        def gather(self) -> None: ...

    hub = FakeHub()
    kept, own = Executor(), Executor()
    first = live.ParkedSubscription(hub, lambda delivery: True, 1, frozenset())  # type: ignore[arg-type]
    second = live.ParkedSubscription(hub, lambda delivery: True, 1, frozenset())  # type: ignore[arg-type]
    first.bind(kept, ("shape", "release"))
    second.bind(own, ("shape", "release"))
    gone = weakref.ref(own)
    gc.disable()
    try:
        # when: the transport has closed the second's stream and releases its spare executor
        second.release_spare()
        first.release_spare()
        del own
        # then: freed by reference counting alone; the kept executor is untouched
        assert gone() is None
        assert kept.async_helpers is not None and first.executor is kept and second.executor is kept
    finally:
        gc.enable()
        first.close()
        second.close()
