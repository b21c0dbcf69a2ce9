"""Subscriptions over real WebSockets against a running server (`oms serve` in a subprocess, memory:// broadcast)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import strawberry
from sqlalchemy import func, select, text

from app.infra import hub as live_hub
from app.infra.hub import LiveHub
from app.orders import service as orders
from app.orders.state_machine import OrderStatus
from models import OrderEvent
from resolvers.ids import to_global_id
from resolvers.live import SharedEvent, SharedEventExecutionContext
from tests import factories
from tests.conftest import make_key
from tests.live_server import POLL_SECONDS, LiveServer, RedisServer, WsClient, plain_pg_url

ORDER_CHANGES = """
subscription Changes($orderId: ID, $channel: SalesChannel, $after: String) {
  orderStatusChanged(orderId: $orderId, channel: $channel, after: $after) {
    cursor previousStatus status order { id number status }
  }
}
"""

TRACK = """
subscription Track($number: String!, $email: String!) {
  trackOrder(number: $number, email: $email) { number status events { type status } }
}
"""

STOCK_CHANGES = """
subscription Stock($sku: String, $warehouseCode: String) {
  stockLevelChanged(sku: $sku, warehouseCode: $warehouseCode) { sku onHand reserved }
}
"""

HOLD = """
mutation Hold($id: ID!) { holdOrder(input: {orderId: $id}) { order { status } userErrors { code message } eventCursor } }
"""

RELEASE = """
mutation Release($id: ID!) { releaseOrder(input: {orderId: $id}) { order { status } userErrors { code message } eventCursor } }
"""

ADJUST = """
mutation Adjust($input: AdjustStockInput!) { adjustStock(input: $input) { userErrors { code message } } }
"""


@pytest_asyncio.fixture(scope="module")
async def server(database_url: str, app: Any):  # app: the session's migrated database and in-process services
    live = await LiveServer(database_url, env={"OMS_WS_INIT_TIMEOUT": "1"}).start()
    yield live
    await live.stop()


@pytest_asyncio.fixture
async def writer(db) -> str:
    return await make_key(db, "orders:read", "orders:write", "stock:write", name="writer")


async def client(server: LiveServer, token: str | None) -> WsClient:
    return await WsClient(server.ws_url).connect(token)


async def placed_order(db, email: str = "buyer@example.com") -> Any:
    await factories.basic_catalog(db)
    return await factories.place(db, [("A", 1)], email=email)


async def hold(server: LiveServer, token: str, order_id: str) -> str:
    body = await server.gql(HOLD, {"id": order_id}, token=token)
    assert body["data"]["holdOrder"]["userErrors"] == [], body
    return body["data"]["holdOrder"]["eventCursor"]


async def release(server: LiveServer, token: str, order_id: str) -> str:
    body = await server.gql(RELEASE, {"id": order_id}, token=token)
    assert body["data"]["releaseOrder"]["userErrors"] == [], body
    return body["data"]["releaseOrder"]["eventCursor"]


async def test_a_committed_status_change_reaches_a_subscriber(server, db, writer):
    # given
    order = await placed_order(db)
    order_id = to_global_id("Order", order.id)
    ws = await client(server, writer)
    sub = await server.subscribe(ws, ORDER_CHANGES, {"orderId": order_id})
    # when
    cursor = await hold(server, writer, order_id)
    # then
    change = (await ws.data(sub, timeout=5))["orderStatusChanged"]
    assert change == {"cursor": cursor, "previousStatus": "PENDING", "status": "ON_HOLD",
                      "order": {"id": order_id, "number": order.number, "status": "ON_HOLD"}}
    await ws.close()


async def test_a_rolled_back_change_is_never_published(server, db, writer):
    # given
    order = await placed_order(db)
    order_id = to_global_id("Order", order.id)
    before = await max_cursor(db)
    ws = await client(server, writer)
    sub = await server.subscribe(ws, ORDER_CHANGES, {})

    async def hold_then_fail(uow):
        held = await orders.get_for_update(uow=uow, order_id=order.id)
        orders.transition(uow, held, OrderStatus.ON_HOLD, data={"action": "hold"})
        raise RuntimeError("boom after the change")

    # when: the same change rolled back, then committed
    with pytest.raises(RuntimeError):
        await db.run(hold_then_fail)
    # the server has read the log up to everything committed so far (a cursor the rollback
    # took would be among it) before the committed change is made
    await server.until_metric("oms_last_event_cursor", await committed_cursor(db))
    cursor = await hold(server, writer, order_id)
    # then: only the committed change is seen, and the rolled-back one took no cursor
    change = (await ws.data(sub, timeout=5))["orderStatusChanged"]
    assert (change["previousStatus"], change["status"], change["cursor"]) == ("PENDING", "ON_HOLD", cursor)
    assert int(cursor) == before + 1
    assert await ws.nothing_for(sub, 1.2)
    await ws.close()


async def committed_cursor(db) -> int:
    """The last event cursor handed out (issue 16: from the sequence; the hub's horizon reaches it once its writer ended)."""
    async with db.read() as session:
        return (await session.execute(text("SELECT COALESCE(pg_sequence_last_value('order_event_seq'), 0)"))).scalar_one()


async def max_cursor(db, *, below: int | None = None) -> int:
    statement = select(func.max(OrderEvent.seq))
    if below is not None:
        statement = statement.where(OrderEvent.seq < below)
    async with db.read() as session:
        return (await session.execute(statement)).scalar_one()


async def test_resume_after_a_disconnect_during_a_burst_gets_every_event_exactly_once_in_order(server, db, writer):
    # given: five orders, and a cursor taken right after the last one was placed
    await factories.basic_catalog(db)
    placed = [await factories.place(db, [("A", 1)]) for _ in range(5)]
    ids = [to_global_id("Order", o.id) for o in placed]
    start = await max_cursor(db)
    ws = await client(server, writer)
    sub = await ws.subscribe(ORDER_CHANGES, {"after": str(start)})

    async def flip(order_id: str) -> list[str]:
        cursors = []
        for _ in range(50):
            cursors.append(await hold(server, writer, order_id))
            cursors.append(await release(server, writer, order_id))
        return cursors

    # when: 500 status changes from 5 concurrent writers; the client drops mid-burst and resumes
    burst = asyncio.gather(*(flip(i) for i in ids))
    received: list[dict[str, Any]] = []
    while len(received) < 120:
        received.append((await ws.data(sub))["orderStatusChanged"])
    await ws.drop()
    ws = await client(server, writer)
    sub = await ws.subscribe(ORDER_CHANGES, {"after": received[-1]["cursor"]})
    written = sorted(int(c) for group in await burst for c in group)
    while len(received) < 500:
        received.append((await ws.data(sub))["orderStatusChanged"])
    # then
    cursors = [int(c["cursor"]) for c in received]
    assert cursors == written
    assert cursors == list(range(start + 1, start + 501))  # gapless: nothing else committed meanwhile
    assert await ws.nothing_for(sub, 1.2)
    await ws.close()


async def test_resume_from_a_mutation_cursor_misses_nothing_committed_after_it(server, db, writer):
    # given: a change whose cursor the client got back, and two more changes before it subscribes
    order = await placed_order(db)
    order_id = to_global_id("Order", order.id)
    cursor = await hold(server, writer, order_id)
    await release(server, writer, order_id)
    await hold(server, writer, order_id)
    # when
    ws = await client(server, writer)
    sub = await ws.subscribe(ORDER_CHANGES, {"orderId": order_id, "after": cursor})
    # then: the two later changes, then live
    first, second = (await ws.data(sub))["orderStatusChanged"], (await ws.data(sub))["orderStatusChanged"]
    assert [(first["previousStatus"], first["status"]), (second["previousStatus"], second["status"])] == [("ON_HOLD", "PENDING"), ("PENDING", "ON_HOLD")]
    live = await release(server, writer, order_id)
    assert (await ws.data(sub))["orderStatusChanged"]["cursor"] == live
    await ws.close()


async def test_a_bad_key_is_closed_with_4403_before_anything_runs(server):
    # when
    ws = await client(server, "oms_not-a-real-key")
    # then
    assert ws.close_code == 4403
    malformed = await WsClient(server.ws_url).connect(payload={"authorization": "Basic abc"})
    assert malformed.close_code == 4403


async def test_a_key_without_orders_read_is_refused(server, db):
    # given
    stock_only = await make_key(db, "stock:read", name="stock-only")
    # when
    ws = await client(server, stock_only)
    sub = await ws.subscribe(ORDER_CHANGES, {})
    # then
    message = await ws.next(sub)
    assert message["type"] in ("error", "next")
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await client(server, None)
    sub = await anonymous.subscribe(ORDER_CHANGES, {})
    message = await anonymous.next(sub)
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    await ws.close()
    await anonymous.close()


async def test_track_order_shows_its_own_order_only(server, db, writer):
    # given: two customers' orders
    await factories.basic_catalog(db)
    mine = await factories.place(db, [("A", 1)], email="me@example.com")
    theirs = await factories.place(db, [("A", 1)], email="them@example.com")
    public = await client(server, None)
    sub = await public.subscribe(TRACK, {"number": mine.number, "email": "me@example.com"})
    assert (await public.data(sub))["trackOrder"] == {"number": mine.number, "status": "PENDING", "events": [{"type": "PLACED", "status": "PENDING"}]}
    # when
    await hold(server, writer, to_global_id("Order", theirs.id))
    await hold(server, writer, to_global_id("Order", mine.id))
    # then: only my order's change arrives
    view = (await public.data(sub))["trackOrder"]
    assert (view["number"], view["status"]) == (mine.number, "ON_HOLD")
    assert await public.nothing_for(sub, 1.2)
    # and a wrong email answers like an unknown order
    wrong = await public.subscribe(TRACK, {"number": theirs.number, "email": "me@example.com"})
    message = await public.next(wrong)
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    await public.close()


async def test_stock_level_changes_reach_a_filtered_subscriber(server, db, writer):
    # given
    await factories.basic_catalog(db)
    reader = await make_key(db, "stock:read", name="stock-reader")
    ws = await client(server, reader)
    sub = await server.subscribe(ws, STOCK_CHANGES, {"sku": "A", "warehouseCode": "MAD"})
    # when
    for sku, warehouse in (("B", "MAD"), ("A", "BCN"), ("A", "MAD")):
        body = await server.gql(ADJUST, {"input": {"sku": sku, "warehouseCode": warehouse, "delta": 5, "reason": "count"}}, token=writer)
        assert body["data"]["adjustStock"]["userErrors"] == [], body
    # then
    assert (await ws.data(sub))["stockLevelChanged"] == {"sku": "A", "onHand": 15, "reserved": 0}
    assert await ws.nothing_for(sub, 0.5)
    await ws.close()


async def test_subscriptions_per_connection_are_limited(server, writer):
    # given
    ws = await client(server, writer)
    # when
    ids = [await ws.subscribe(ORDER_CHANGES, {}) for _ in range(51)]
    # then
    message = await ws.next(ids[-1])
    assert message["type"] == "error" and "limit" in message["payload"][0]["message"].lower()
    await ws.close()


async def test_a_connection_that_never_initialises_is_closed(server):
    # given
    import websockets

    raw = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])
    # when: no connection_init (the test server's init timeout is 1 s)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(raw.recv(), 5)
    # then
    assert closed.value.rcvd.code == 4408


# -- across processes, and through a lost backend connection ---------------------------------
# The servers below poll the log only every 60 s, so anything arriving sooner came through the
# broadcast backend (or its reconnection), not through the safety-net poll.

SLOW_POLL = {"OMS_LIVE_POLL_SECONDS": "60"}


async def start_pair(database_url: str, broadcast_url: str) -> list[LiveServer]:
    servers = [LiveServer(database_url, broadcast_url=broadcast_url, env=SLOW_POLL) for _ in range(2)]
    started = await asyncio.gather(*(server.start() for server in servers), return_exceptions=True)
    failures = [result for result in started if isinstance(result, BaseException)]
    if failures:  # never leave the other process running
        await asyncio.gather(*(server.stop() for server in servers))
        raise failures[0]
    return servers


@pytest_asyncio.fixture(scope="module")
async def postgres_pair(database_url: str, app: Any):
    pair = await start_pair(database_url, plain_pg_url(database_url))
    yield pair
    await asyncio.gather(*(server.stop() for server in pair))


@pytest_asyncio.fixture(scope="module")
async def redis_server():
    redis = await RedisServer().start()
    yield redis
    redis.cleanup()


@pytest_asyncio.fixture(scope="module")
async def redis_pair(database_url: str, app: Any, redis_server: RedisServer):
    pair = await start_pair(database_url, redis_server.url)
    yield pair
    await asyncio.gather(*(server.stop() for server in pair))


async def a_change_made_on_one_process_reaches_a_subscriber_on_the_other(pair: list[LiveServer], db, writer) -> None:
    subscribed_on, changed_on = pair
    order = await placed_order(db)
    order_id = to_global_id("Order", order.id)
    ws = await client(subscribed_on, writer)
    sub = await subscribed_on.subscribe(ws, ORDER_CHANGES, {"orderId": order_id})
    cursor = await hold(changed_on, writer, order_id)
    change = (await ws.data(sub, timeout=5))["orderStatusChanged"]
    assert (change["status"], change["cursor"]) == ("ON_HOLD", cursor)
    await ws.close()


async def test_two_processes_on_the_postgres_backend_deliver_across(postgres_pair, db, writer):
    await a_change_made_on_one_process_reaches_a_subscriber_on_the_other(postgres_pair, db, writer)


async def test_two_processes_on_the_redis_backend_deliver_across(redis_pair, db, writer):
    await a_change_made_on_one_process_reaches_a_subscriber_on_the_other(redis_pair, db, writer)


async def until_ready(server: LiveServer, *, connected: bool, within: float) -> float:
    """Seconds until /readyz reports the broadcast backend (dis)connected."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < within:
        if (await server.ready())["broadcast"] is connected:
            return loop.time() - started
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"broadcast never became connected={connected} within {within}s:\n{server.log()[-3000:]}")


async def changes_made_during_and_after_an_outage_all_arrive(pair: list[LiveServer], db, writer, outage) -> None:
    """`outage()` breaks the backend and returns a coroutine that ends it (or None if it heals itself)."""
    subscribed_on, changed_on = pair
    order = await placed_order(db)
    order_id = to_global_id("Order", order.id)
    ws = await client(subscribed_on, writer)
    sub = await subscribed_on.subscribe(ws, ORDER_CHANGES, {"orderId": order_id})
    # when: the backend connection is lost, and a change commits on the other process meanwhile
    heal = await outage()
    assert await until_ready(subscribed_on, connected=False, within=6) < 6  # noticed within seconds
    during = await hold(changed_on, writer, order_id)
    if heal is not None:
        await heal()
    await until_ready(subscribed_on, connected=True, within=15)
    await until_ready(changed_on, connected=True, within=15)
    after = await release(changed_on, writer, order_id)
    # then: nothing was lost or stalled (the poll is 60 s away), nothing came twice
    first = (await ws.data(sub, timeout=5))["orderStatusChanged"]
    second = (await ws.data(sub, timeout=5))["orderStatusChanged"]
    assert [first["cursor"], second["cursor"]] == [during, after]
    assert await ws.nothing_for(sub, 0.5)
    await ws.close()


async def test_a_terminated_listen_connection_is_detected_and_recovered(postgres_pair, db, writer):
    async def outage():
        async with db.read() as session:
            killed = (await session.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()"
            ))).scalar_one()
        assert killed >= 2  # one LISTEN connection per server process
        return None

    await changes_made_during_and_after_an_outage_all_arrive(postgres_pair, db, writer, outage)


async def test_a_redis_restart_is_detected_and_recovered(redis_pair, redis_server, db, writer):
    async def outage():
        redis_server.stop()

        async def restart():
            await redis_server.start()

        return restart

    await changes_made_during_and_after_an_outage_all_arrive(redis_pair, db, writer, outage)


async def test_sigterm_closes_open_sockets_and_exits_promptly(database_url, app, writer):
    # given: a server with a live subscription
    server = await LiveServer(database_url).start()
    ws = await client(server, writer)
    await server.subscribe(ws, ORDER_CHANGES, {})
    # when
    server.terminate()
    # then
    await asyncio.wait_for(ws.closed.wait(), 5)
    assert ws.close_code in (1001, 1012)
    assert await server.wait_exit(5) == 0
    await server.stop()


async def test_a_slow_subscriber_stays_bounded_and_then_catches_up_from_the_log(db, monkeypatch):
    # given: a hub whose per-subscriber queue holds 5, and a subscriber that reads one event and stalls
    monkeypatch.setattr(live_hub, "QUEUE_LIMIT", 5)
    order = await placed_order(db)
    previous_publisher = db.publisher
    hub = LiveHub(db, "memory://", poll_interval=0.1)
    await hub.start()
    try:
        start = await max_cursor(db)
        events = hub.follow(lambda delivery: True, after=None)
        opened = hub.registrations
        first = asyncio.create_task(events.__anext__())
        await asyncio.wait_for(hub.wait_until(lambda: hub.registrations > opened), 5)

        async def flip(status: OrderStatus):
            async def change(uow):
                locked = await orders.get_for_update(uow=uow, order_id=order.id)
                orders.transition(uow, locked, status, data={"action": status.value.lower()})
            await db.run(change)

        # when: 20 changes commit while it does not read
        for _ in range(10):
            await flip(OrderStatus.ON_HOLD)
            await flip(OrderStatus.PENDING)
        await asyncio.wait_for(hub.wait_until(lambda: hub.last_seq >= start + 20), 5)
        # then: its queue never grew past the limit, and it still gets every event once, in order
        (subscription,) = hub.order_subscriptions
        assert subscription.overflowed and subscription.queue.qsize() <= 5
        received = [await first] + [await asyncio.wait_for(events.__anext__(), 5) for _ in range(19)]
        assert [d.seq for d in received] == list(range(start + 1, start + 21))
        await events.aclose()
        assert not hub.order_subscriptions
    finally:
        await hub.stop()
        db.publisher = previous_publisher


RESOLVED_LABELS: list[str] = []
SHARED_EVENTS: dict[str, SharedEvent] = {}


@strawberry.type
class CountedChange:
    status: str

    @strawberry.field
    def label(self, prefix: str) -> str:
        RESOLVED_LABELS.append(prefix)
        return prefix + self.status


@strawberry.type
class CountingQuery:
    ok: bool = True


@strawberry.type
class CountingSubscription:
    @strawberry.subscription
    async def changes(self, audience: str = "narrow") -> AsyncIterator[CountedChange]:
        yield SHARED_EVENTS[audience]  # type: ignore[misc]


async def test_an_event_is_executed_once_per_subscription_shape_not_per_subscriber():
    # given: a schema counting how often the event's fields are resolved, and one shared event
    RESOLVED_LABELS.clear()
    change, results = CountedChange(status="ON_HOLD"), {}
    SHARED_EVENTS["narrow"] = SharedEvent(change, results, frozenset({"orders:read"}))
    SHARED_EVENTS["wide"] = SharedEvent(change, results, frozenset({"orders:read", "billing:read"}))
    schema = strawberry.Schema(query=CountingQuery, subscription=CountingSubscription, execution_context_class=SharedEventExecutionContext)

    async def first_result(document: str) -> Any:
        stream = await schema.subscribe(document)
        async for result in stream:
            await stream.aclose()
            return result.data

    # when: 50 subscribers of one shape, 2 of another, 1 with other scopes
    same = await asyncio.gather(*(first_result('subscription { changes { label(prefix: "a:") } }') for _ in range(50)))
    other = [await first_result('subscription { changes { label(prefix: "b:") } }') for _ in range(2)]
    wider = await first_result('subscription { changes(audience: "wide") { label(prefix: "a:") } }')
    # then: each distinct shape was executed once, and each subscriber got its own shape's result
    assert same == [{"changes": {"label": "a:ON_HOLD"}}] * 50
    assert other == [{"changes": {"label": "b:ON_HOLD"}}] * 2
    assert wider == {"changes": {"label": "a:ON_HOLD"}}
    assert sorted(RESOLVED_LABELS) == ["a:", "a:", "b:"]


async def test_a_customers_return_and_support_case_reach_their_tracking_page_live(server, db):
    # given: a delivered order, and its customer's tracking page subscribed
    from tests.test_returns import OPEN_CUSTOMER_INQUIRY, REQUEST_CUSTOMER, delivered_order

    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 2)])
    pair = {"number": order.number, "email": "buyer@example.com"}
    page = await client(server, None)
    sub = await page.subscribe(TRACK, pair)
    assert (await page.data(sub))["trackOrder"]["status"] == "DELIVERED"

    async def seen(event_type: str) -> list[str]:
        while True:
            types = [e["type"] for e in (await page.data(sub, timeout=5))["trackOrder"]["events"]]
            if event_type in types:
                return types

    # when / then: each step the customer takes is pushed to the page
    returned = await server.gql(REQUEST_CUSTOMER, {"input": {**pair, "reason": "too big", "lines": [{"sku": "A", "quantity": 1}]}}, token=None)
    assert returned["data"]["requestCustomerReturn"]["userErrors"] == []
    assert "RETURN_REQUESTED" in await seen("RETURN_REQUESTED")
    asked = await server.gql(OPEN_CUSTOMER_INQUIRY, {"input": {**pair, "subject": "Refund", "body": "When?"}}, token=None)
    assert asked["data"]["openCustomerInquiry"]["userErrors"] == []
    assert "INQUIRY_OPENED" in await seen("INQUIRY_MESSAGE")
    await page.close()
