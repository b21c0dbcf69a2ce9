"""Webhooks (issue 17), against real receiving HTTP servers (tests/webhook_receiver.py) and real PostgreSQL.

The suite's app runs a dispatcher of its own (server/background.py); tests that need other settings or a
simulated clock stop it (`hooks` fixture) and run theirs on the same database and hub, or real `oms serve`
processes. Waiting is on conditions (the receiver's, or the database's state polled), never on sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.orders import service as order_service
from app.webhooks.dispatcher import WebhookDispatcher
from app.webhooks.enums import WebhookDeliveryStatus
from models import OrderEvent
from models.webhooks import WebhookDelivery, WebhookEndpoint
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import make_key
from tests.live_server import LiveServer
from tests.webhook_receiver import HOLD, Receiver, endpoint_with_delivery

CREATE = """mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { endpoint { id url eventTypes channels active cursor } secret userErrors { field code message } } }"""
UPDATE = """mutation($input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(input: $input) { endpoint { id url eventTypes channels active } userErrors { field code message } } }"""
DELETE = """mutation($input: DeleteWebhookEndpointInput!) {
  deleteWebhookEndpoint(input: $input) { deletedEndpointId userErrors { field code message } } }"""
REPLAY = """mutation($input: ReplayWebhookDeliveriesInput!) {
  replayWebhookDeliveries(input: $input) { requeued endpoint { cursor } userErrors { field code message } } }"""
DELIVERIES = """query($id: ID!, $status: WebhookDeliveryStatus) { node(id: $id) { ... on WebhookEndpoint {
  deliveries(first: 100, status: $status) { totalCount edges { node { id webhookId eventId eventCursor eventType orderSequence status attempts
    lastError deliveredAt order { number } attemptLog { number responseStatus error durationMs } } } } } } }"""
FAST = {"webhook_retry_base_seconds": 0.05, "webhook_timeout_seconds": 5.0}
SERVER_ENV = {"OMS_WEBHOOK_ALLOW_PRIVATE": "true", "OMS_WEBHOOK_RETRY_BASE_SECONDS": "0.05", "OMS_LIVE_POLL_SECONDS": "0.2"}


class FakeClock:
    """The dispatcher's scheduling clock, moved by the test (never the signer's: that is always the wall clock)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest_asyncio.fixture
async def hooks(app: Any, db: Any) -> AsyncIterator[Callable[..., WebhookDispatcher]]:
    """Stops the app's own dispatcher for the test; `hooks(**settings)` starts one with other settings (or a
    clock: `hooks(clock=..., start=False)` for one the test drives). Afterwards: the webhook rows are removed
    and the app's dispatcher runs again."""
    own = [task for task in app.state.background if isinstance(task, WebhookDispatcher)]
    for task in own:
        await task.stop()
    started: list[WebhookDispatcher] = []

    def make(*, clock: Any = None, start: bool = True, endpoint_ids: Any = None, **overrides: Any) -> WebhookDispatcher:
        dispatcher = WebhookDispatcher(db, app.state.hub, replace(app.state.settings, **overrides), clock=clock, endpoint_ids=endpoint_ids)
        started.append(dispatcher)
        if start:
            dispatcher.start()
        return dispatcher

    try:
        yield make
    finally:
        for dispatcher in started:
            await dispatcher.stop()
        async with db.engine.begin() as conn:
            await conn.execute(text("DELETE FROM webhook_endpoints"))
        for task in own:
            task.start()


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    try:
        yield r
    finally:
        await r.stop()


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "condition") -> None:
    """Polls a database condition (the outcome is recorded just after the receiver answered) until it holds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s")
        await asyncio.sleep(0.02)


async def create_endpoint(gql: Any, url: str, **extra: Any) -> tuple[str, str, int]:
    """(endpoint id, secret, its starting cursor)"""
    answer = await gql(CREATE, {"input": {"url": url, **extra}})
    payload = answer["data"]["createWebhookEndpoint"]
    assert payload["userErrors"] == [], answer
    return payload["endpoint"]["id"], payload["secret"], int(payload["endpoint"]["cursor"])


async def events_after(db: Any, cursor: int) -> list[OrderEvent]:
    async with db.read() as session:
        return list((await session.execute(select(OrderEvent).where(OrderEvent.seq > cursor).order_by(OrderEvent.seq))).scalars())


async def statuses(db: Any) -> Counter[str]:
    async with db.read() as session:
        rows = (await session.execute(select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status))).all()
    return Counter({str(status): count for status, count in rows})


async def busy_orders(db: Any, count: int) -> list[Any]:
    """`count` orders, each with a few events (placed, held, released)."""
    orders = []
    for _ in range(count):
        order = await factories.place(db, [("A", 1)])
        await db.run(lambda uow: order_service.hold_order(uow=uow, order_id=order.id, reason="check"), actor="test")
        await db.run(lambda uow: order_service.release_order(uow=uow, order_id=order.id), actor="test")
        orders.append(order)
    return orders


def assert_in_order_per_order(received: list[Any], expected: list[OrderEvent]) -> None:
    """Each order's events arrived once each, in cursor order, numbered 1, 2, ... among the order's events."""
    per_order: dict[str, list[int]] = defaultdict(list)
    for record in received:
        per_order[record.data["order"]["id"]].append(int(record.data["cursor"]))
    wanted: dict[str, list[int]] = defaultdict(list)
    for event in expected:
        wanted[to_global_id("Order", event.order_id)].append(event.seq)
    assert per_order == wanted


# --- signing and payload -----------------------------------------------------------------------------


async def test_a_delivery_is_signed_per_standard_webhooks_and_names_the_order(gql, db, hooks, receiver) -> None:
    # given: an endpoint, and an order placed after it was created
    hooks(**FAST)
    await factories.basic_catalog(db)
    endpoint_id, secret, start = await create_endpoint(gql, receiver.url)
    assert secret.startswith("whsec_")
    order = await factories.place(db, [("A", 1)])

    # when
    await receiver.wait_for(lambda: len(receiver.succeeded()) >= 1)

    # then: it verifies with the standardwebhooks package, and a tampered body does not
    first = receiver.received[0]
    verified = Webhook(secret).verify(first.body, first.headers)
    placed = (await events_after(db, start))[0]
    assert verified == {
        "type": "PLACED", "timestamp": placed.occurred_at.isoformat(),
        "data": {
            "eventId": f"evt_{placed.seq}", "order": {"id": to_global_id("Order", order.id), "number": order.number},
            "type": "PLACED", "status": "PENDING", "previousStatus": None, "cursor": str(placed.seq), "sequence": 1,
            "channel": "WEB", "occurredAt": placed.occurred_at.isoformat(), "data": placed.data or {},
        },
    }
    assert first.headers["content-type"] == "application/json"
    assert first.webhook_id.startswith("msg_")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(first.body.replace(b"PENDING", b"SHIPPED"), first.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(first.body, first.headers)
    # and: the delivery is visible, with its attempt
    await until(lambda: _all_succeeded(db), what="deliveries succeeded")
    node = (await gql(DELIVERIES, {"id": endpoint_id}))["data"]["node"]["deliveries"]["edges"][-1]["node"]
    assert node["webhookId"] == first.webhook_id and node["eventCursor"] == str(placed.seq) and node["eventId"] == f"evt_{placed.seq}"
    assert node["status"] == "SUCCEEDED" and node["order"] == {"number": order.number} and node["orderSequence"] == 1
    assert [(a["number"], a["responseStatus"], a["error"]) for a in node["attemptLog"]] == [(1, 200, None)]


async def _all_succeeded(db: Any) -> bool:
    counts = await statuses(db)
    return bool(counts) and set(counts) == {"SUCCEEDED"}


# --- retries ---------------------------------------------------------------------------------------------


async def test_a_receiver_that_fails_twice_then_recovers_gets_every_event_once_in_order_per_order(gql, db, hooks, receiver) -> None:
    # given: a receiver that answers 500 to the first two requests, then 200
    hooks(**FAST)
    await factories.basic_catalog(db)
    endpoint_id, secret, start = await create_endpoint(gql, receiver.url)
    receiver.script.extend([500, 500])

    # when: three orders with three events each
    await busy_orders(db, 3)
    expected = await events_after(db, start)
    assert len(expected) >= 9
    await receiver.wait_for(lambda: len({r.webhook_id for r in receiver.succeeded()}) >= len(expected))
    await until(lambda: _all_succeeded(db), what="deliveries succeeded")

    # then: every event succeeded once, in cursor order per order, sequences 1..n with no gap
    succeeded = receiver.succeeded()
    assert len(succeeded) == len(expected)
    assert Counter(r.webhook_id for r in succeeded).most_common(1)[0][1] == 1
    assert_in_order_per_order(succeeded, expected)
    for order_id in {r.data["order"]["id"] for r in succeeded}:
        sequences = [r.data["sequence"] for r in succeeded if r.data["order"]["id"] == order_id]
        assert sequences == list(range(1, len(sequences) + 1)) and len(sequences) >= 3
    # the two failures were retried with the same webhook-id (and verify, like every request)
    failed = [r for r in receiver.received if r.status == 500]
    assert len(failed) == 2 and {r.webhook_id for r in failed} <= {r.webhook_id for r in succeeded}
    for record in receiver.received:
        Webhook(secret).verify(record.body, record.headers)
    # and the attempt log shows it
    nodes = [e["node"] for e in (await gql(DELIVERIES, {"id": endpoint_id}))["data"]["node"]["deliveries"]["edges"]]
    retried = [n for n in nodes if len(n["attemptLog"]) > 1]
    assert sum(len(n["attemptLog"]) for n in nodes) == len(expected) + 2
    assert all(n["attemptLog"][0]["error"] == "HTTP 500" and n["attemptLog"][-1]["responseStatus"] == 200 for n in retried)


async def test_a_receiver_down_for_an_hour_goes_dead_then_is_replayed_from_its_cursor(gql, db, hooks, receiver) -> None:
    # given: a dispatcher on a simulated clock (retries after 60 s, 120 s, ...; dead after an hour), a receiver that is down
    clock = FakeClock()
    await factories.basic_catalog(db)
    endpoint_id, secret, start = await create_endpoint(gql, receiver.url)
    endpoint_uuid = (await _endpoint_ids(db))[0]
    dispatcher = hooks(clock=clock, start=False, endpoint_ids=[endpoint_uuid], webhook_retry_base_seconds=60.0, webhook_max_attempts=100,
                       webhook_max_age_hours=1.0)
    receiver.default = 503
    await busy_orders(db, 2)
    expected = await events_after(db, start)
    horizon = await hooks_horizon(db)
    assert await dispatcher.fan_out(upto=horizon) == len(expected)

    # when: three hours pass, a minute at a time
    for _ in range(180):
        await dispatcher.deliver_due()
        clock.advance(60)

    # then: every delivery is dead (the time limit). Each order's first event was retried with backoff for the hour
    # (at 60 s, 120 s, 240 s, ... with jitter); its later events waited behind it, then were past the limit at their first failure
    assert await statuses(db) == Counter({"DEAD": len(expected)})
    per_id = Counter(r.webhook_id for r in receiver.received)
    first_of_order = {min(e.seq for e in expected if e.order_id == order_id) for order_id in {e.order_id for e in expected}}
    by_cursor = {int(r.data["cursor"]): r.webhook_id for r in receiver.received}
    for event in expected:
        tries = per_id[by_cursor[event.seq]]
        assert (4 <= tries <= 10) if event.seq in first_of_order else tries == 1, (event.seq, tries)

    # when: the receiver is back, and the partner replays from the cursor of the first event it had received
    receiver.default = 200
    receiver.received.clear()
    cursor = expected[0].seq
    answer = (await gql(REPLAY, {"input": {"endpointId": endpoint_id, "after": str(cursor)}}))["data"]["replayWebhookDeliveries"]
    assert answer["userErrors"] == [] and answer["requeued"] == len(expected) - 1
    await dispatcher.fan_out(upto=await hooks_horizon(db))
    await dispatcher.deliver_due()

    # then: every event after the cursor arrives once, in order per order, signed with the real clock
    later = [e for e in expected if e.seq > cursor]
    assert len(receiver.succeeded()) == len(receiver.received) == len(later)
    assert_in_order_per_order(receiver.received, later)
    for record in receiver.received:
        Webhook(secret).verify(record.body, record.headers)
    assert await statuses(db) == Counter({"DEAD": 1, "SUCCEEDED": len(later)})


async def hooks_horizon(db: Any) -> int:
    from app.infra.horizon import EventHorizon

    return await EventHorizon(db).now()


async def _endpoint_ids(db: Any) -> list[Any]:
    async with db.read() as session:
        return list((await session.execute(select(WebhookEndpoint.id).order_by(WebhookEndpoint.created_at))).scalars())


async def test_the_next_event_of_an_order_waits_for_the_earlier_one_but_a_dead_one_does_not_block(gql, db, hooks, receiver) -> None:
    # given: a simulated clock, at most 2 attempts
    clock = FakeClock()
    await factories.basic_catalog(db)
    _endpoint_id, _secret, start = await create_endpoint(gql, receiver.url)
    dispatcher = hooks(clock=clock, start=False, endpoint_ids=await _endpoint_ids(db), webhook_retry_base_seconds=60.0, webhook_max_attempts=2)
    await busy_orders(db, 1)
    expected = await events_after(db, start)
    await dispatcher.fan_out(upto=await hooks_horizon(db))
    receiver.default = 500

    # when: the first event fails: the order's later events are not attempted
    assert await dispatcher.deliver_due() == 1
    assert await statuses(db) == Counter({"RETRYING": 1, "PENDING": len(expected) - 1})
    # when: its retry fails too (dead after 2 attempts), the next ones go (the receiver is back)
    receiver.default = 200
    receiver.script.append(500)
    clock.advance(200)
    assert await dispatcher.deliver_due() == len(expected)

    # then
    assert [int(r.data["cursor"]) for r in receiver.received] == [expected[0].seq, expected[0].seq, *(e.seq for e in expected[1:])]
    assert await statuses(db) == Counter({"DEAD": 1, "SUCCEEDED": len(expected) - 1})


# --- several processes --------------------------------------------------------------------------------


async def test_killing_the_server_mid_delivery_redelivers_with_the_same_webhook_id_and_duplicates_nothing_else(
    database_url, db, hooks, receiver
) -> None:
    # given: a real `oms serve` whose first POST the receiver holds; one order, so its later events wait behind it
    await factories.basic_catalog(db)
    token = await make_key(db, "admin")
    env = {**SERVER_ENV, "OMS_WEBHOOK_TIMEOUT_SECONDS": "1"}
    first = await LiveServer(database_url, env=env).start()
    second: LiveServer | None = None
    try:
        answer = await first.gql(CREATE, {"input": {"url": receiver.url}}, token=token)
        start = int(answer["data"]["createWebhookEndpoint"]["endpoint"]["cursor"])
        receiver.script.append(HOLD)
        await busy_orders(db, 1)
        expected = await events_after(db, start)
        await receiver.wait_for(lambda: receiver.holding.is_set())
        held = receiver.received[0].webhook_id

        # when: the process dies while the request is in flight, and another one starts
        first.kill()
        receiver.release.set()
        second = await LiveServer(database_url, env=env).start()
        await receiver.wait_for(lambda: len({r.webhook_id for r in receiver.succeeded()}) >= len(expected), timeout=60)
        await until(lambda: _all_succeeded(db), what="deliveries succeeded")

        # then: the held one arrived twice with the same webhook-id (at least once), every other event exactly once, in order
        counts = Counter(r.webhook_id for r in receiver.received)
        assert counts[held] == 2 and all(n == 1 for wid, n in counts.items() if wid != held), counts
        assert receiver.received[0].webhook_id == held  # the copy whose answer never reached the dead process
        assert_in_order_per_order(receiver.received[1:], expected)
    finally:
        first.kill()
        if second is not None:
            await second.stop()


async def test_two_server_processes_never_deliver_one_event_twice_at_the_same_time(database_url, db, hooks, receiver) -> None:
    # given: two real `oms serve` processes sharing the database, and a fast receiver
    await factories.basic_catalog(db)
    await factories.stock(db, "A", "MAD", 200)
    token = await make_key(db, "admin")
    servers = [await LiveServer(database_url, env=SERVER_ENV).start(), await LiveServer(database_url, env=SERVER_ENV).start()]
    try:
        answer = await servers[0].gql(CREATE, {"input": {"url": receiver.url}}, token=token)
        start = int(answer["data"]["createWebhookEndpoint"]["endpoint"]["cursor"])

        # when: 100 orders (about 200 events)
        for _ in range(100):
            await factories.place(db, [("A", 1)])
        expected = await events_after(db, start)
        await receiver.wait_for(lambda: len({r.webhook_id for r in receiver.received}) >= len(expected), timeout=120)
        await until(lambda: _all_succeeded(db), what="deliveries succeeded")

        # then: each event exactly once, never two requests of one event in flight at once, and both processes took part
        assert len(receiver.received) == len(expected)
        assert max(receiver.max_in_flight.values()) == 1
        assert_in_order_per_order(receiver.received, expected)
        async with db.read() as session:
            workers = (await session.execute(text("SELECT count(DISTINCT worker) FROM webhook_attempts"))).scalar_one()
        assert workers == 2
    finally:
        for server in servers:
            await server.stop()


async def test_oms_worker_delivers_without_http_and_stops_on_sigterm(database_url, gql, db, hooks, receiver) -> None:
    import os
    import signal
    import subprocess
    import sys

    from tests.live_server import ROOT

    # given: `oms worker` alone (the app's dispatcher is stopped)
    await factories.basic_catalog(db)
    _endpoint_id, _secret, start = await create_endpoint(gql, receiver.url)
    env = {**os.environ, "DATABASE_URL": database_url, **SERVER_ENV}
    env.pop("PYTHONWARNINGS", None)
    process = subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert process.stdout is not None
        ready = await asyncio.wait_for(asyncio.to_thread(_read_until, process.stdout, b"worker ready"), 60)
        assert b"WebhookDispatcher" in ready

        # when
        await factories.place(db, [("A", 1)])

        # then
        expected = await events_after(db, start)
        await receiver.wait_for(lambda: len(receiver.succeeded()) >= len(expected))
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


def _read_until(stream: Any, marker: bytes) -> bytes:
    seen = b""
    while marker not in seen:
        line = stream.readline()
        if not line:
            raise AssertionError(f"the worker exited before {marker!r}:\n{seen.decode(errors='replace')}")
        seen += line
    return seen


# --- targets ------------------------------------------------------------------------------------------


async def test_a_redirect_to_another_host_is_not_followed(gql, db, hooks, receiver) -> None:
    # given: the endpoint answers 307 to another receiver once, then 200
    other = await Receiver().start()
    try:
        hooks(**FAST)
        await factories.basic_catalog(db)
        endpoint_id, _secret, _start = await create_endpoint(gql, receiver.url)
        receiver.script.append(("redirect", other.url))

        # when
        await factories.place(db, [("A", 1)])
        await receiver.wait_for(lambda: len(receiver.succeeded()) >= 1)
        await until(lambda: _all_succeeded(db), what="deliveries succeeded")

        # then: the other host got nothing; the attempt failed as a redirect and was retried at the endpoint
        assert other.received == []
        node = (await gql(DELIVERIES, {"id": endpoint_id}))["data"]["node"]["deliveries"]["edges"][0]["node"]
        assert [(a["responseStatus"], a["error"]) for a in node["attemptLog"]] == [(307, "redirect not followed"), (200, None)]
        assert node["lastError"] == "redirect not followed"
    finally:
        await other.stop()


async def test_private_and_loopback_targets_are_refused_unless_allowed(gql, db, receiver) -> None:
    from app.errors import DomainError
    from app.webhooks import service
    from app.webhooks.sender import Sender

    # a bad URL is refused whatever the setting
    for url in ("ftp://example.com/x", "https://user:pw@example.com/x", "not a url", "https://" + "a" * 2000 + ".com"):
        answer = await gql(CREATE, {"input": {"url": url}})
        assert answer["data"]["createWebhookEndpoint"]["userErrors"][0]["field"] == ["input", "url"], (url, answer)
    # loopback, private, link-local literals are refused unless OMS_WEBHOOK_ALLOW_PRIVATE
    for url in ("http://127.0.0.1:8080/x", "http://localhost/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.169.254/latest",
                "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0/x"):
        with pytest.raises(DomainError) as refused:
            await db.run(lambda uow: service.create_endpoint(uow=uow, url=url, event_types=[], channels=None, active=True, start_cursor=0,
                                                             allow_private=False))
        assert refused.value.path == ("url",), url
    # and at send time too (a name that resolves to loopback: DNS is checked at every attempt)
    sender = Sender(timeout=5, allow_private=False)
    try:
        outcome = await sender.send(url=f"http://localhost:{receiver.port}/hooks", secret="whsec_" + "A" * 32, message_id="msg_1", body="{}")
    finally:
        await sender.close()
    assert outcome.status is None and outcome.error is not None and outcome.error.startswith("target not allowed")
    assert receiver.received == []


# --- the API ---------------------------------------------------------------------------------------------


async def test_endpoints_are_managed_through_the_api_behind_the_webhook_scopes(gql, db, hooks, receiver) -> None:
    # create: the secret is shown once; unknown event types are refused at their index
    bad = await gql(CREATE, {"input": {"url": receiver.url, "eventTypes": ["PLACED", "NO_SUCH_THING"]}})
    assert bad["data"]["createWebhookEndpoint"]["userErrors"] == [
        {"field": ["input", "eventTypes", "1"], "code": "INVALID_INPUT", "message": "Unknown event type 'NO_SUCH_THING'."}]
    created = (await gql(CREATE, {"input": {"url": receiver.url, "eventTypes": ["STATUS_CHANGED"], "channels": ["MOBILE"]}}))
    endpoint = created["data"]["createWebhookEndpoint"]["endpoint"]
    assert endpoint["eventTypes"] == ["STATUS_CHANGED"] and endpoint["channels"] == ["MOBILE"] and endpoint["active"] is True
    listed = await gql("{ webhookEndpoints(first: 10) { totalCount edges { node { id url } } } }")
    assert listed["data"]["webhookEndpoints"]["totalCount"] == 1
    assert "secret" not in str(listed)  # no field shows it again
    # update: only the given fields change
    changed = (await gql(UPDATE, {"input": {"endpointId": endpoint["id"], "active": False, "channels": None}}))["data"]["updateWebhookEndpoint"]
    assert changed["userErrors"] == [] and changed["endpoint"]["active"] is False and changed["endpoint"]["channels"] is None
    assert changed["endpoint"]["eventTypes"] == ["STATUS_CHANGED"] and changed["endpoint"]["url"] == receiver.url
    # replay: a cursor that is not one, or one in the future
    for after in ("abc", "99999999999"):
        refused = (await gql(REPLAY, {"input": {"endpointId": endpoint["id"], "after": after}}))["data"]["replayWebhookDeliveries"]
        assert refused["userErrors"][0]["field"] == ["input", "after"] and refused["requeued"] == 0
    # scopes: webhooks:read reads, cannot write; orders:write cannot read either
    reader, stranger = await make_key(db, "webhooks:read"), await make_key(db, "orders:write")
    assert (await gql("{ webhookEndpoints { totalCount } }", token=reader))["data"]["webhookEndpoints"]["totalCount"] == 1
    assert (await gql(CREATE, {"input": {"url": receiver.url}}, token=reader))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql("{ webhookEndpoints { totalCount } }", token=stranger))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # delete: gone from the list, and NOT_FOUND afterwards
    deleted = (await gql(DELETE, {"input": {"endpointId": endpoint["id"]}}))["data"]["deleteWebhookEndpoint"]
    assert deleted == {"deletedEndpointId": endpoint["id"], "userErrors": []}
    assert (await gql("{ webhookEndpoints { totalCount } }"))["data"]["webhookEndpoints"]["totalCount"] == 0
    again = (await gql(DELETE, {"input": {"endpointId": endpoint["id"]}}))["data"]["deleteWebhookEndpoint"]
    assert again["userErrors"][0]["code"] == "NOT_FOUND" and again["userErrors"][0]["field"] == ["input", "endpointId"]
    # a delivery's order needs orders:read as well
    await factories.basic_catalog(db)
    _endpoint, delivery_id = await endpoint_with_delivery(gql, db, placed=True)
    walk = "query($id: ID!) { node(id: $id) { ... on WebhookDelivery { eventType order { email } } } }"
    denied = await gql(walk, {"id": delivery_id}, token=reader)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN" and denied["errors"][0]["path"][-1] == "order"
    both = await make_key(db, "webhooks:read", "orders:read")
    assert (await gql(walk, {"id": delivery_id}, token=both))["data"]["node"]["order"]["email"] == "buyer@example.com"


async def test_an_endpoint_gets_only_its_event_types_and_channels_and_nothing_while_inactive(gql, db, hooks, receiver) -> None:
    # given: one endpoint for STATUS_CHANGED of PHONE orders, one paused
    hooks(**FAST)
    await factories.basic_catalog(db)
    paused = await Receiver().start()
    try:
        _e, _s, start = await create_endpoint(gql, receiver.url, eventTypes=["STATUS_CHANGED"], channels=["PHONE"])
        paused_id, _s2, _start2 = await create_endpoint(gql, paused.url, active=False)

        # when
        web, phone = await factories.place(db, [("A", 1)]), await factories.place(db, [("A", 1)], channel="PHONE")
        for order in (web, phone):
            await db.run(lambda uow: order_service.hold_order(uow=uow, order_id=order.id), actor="test")
        wanted = [e for e in await events_after(db, start) if e.order_id == phone.id and e.type == "STATUS_CHANGED"]
        await receiver.wait_for(lambda: len(receiver.succeeded()) >= len(wanted))
        total = len(await events_after(db, start))
        await until(lambda: _count_open(db, paused_id, total), what="paused deliveries queued")

        # then: only those reached the first; the paused one got nothing yet, then everything once resumed
        assert [int(r.data["cursor"]) for r in receiver.received] == [e.seq for e in wanted]
        assert paused.received == []
        await gql(UPDATE, {"input": {"endpointId": paused_id, "active": True}})
        everything = await events_after(db, start)
        await paused.wait_for(lambda: len(paused.succeeded()) >= len(everything))
        assert_in_order_per_order(paused.received, everything)
    finally:
        await paused.stop()


async def _count_open(db: Any, endpoint_id: str, expected: int) -> bool:
    from resolvers.ids import id_of

    async with db.read() as session:
        count = (await session.execute(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == id_of(endpoint_id, "WebhookEndpoint"), WebhookDelivery.status == WebhookDeliveryStatus.PENDING))).scalar_one()
    return int(count) == expected


# --- the horizon ------------------------------------------------------------------------------------


async def test_the_fan_out_never_reads_past_a_transaction_still_in_flight(app, gql, db, hooks, receiver) -> None:
    # given: an endpoint, and a writer that has drawn an event number for order X but not committed yet
    dispatcher = hooks(**FAST)
    hub = app.state.hub
    await factories.basic_catalog(db)
    x = await factories.place(db, [("A", 1)])
    _endpoint_id, _secret, start = await create_endpoint(gql, receiver.url)
    async with db.engine.connect() as writer:
        transaction = await writer.begin()
        await writer.execute(text("SELECT pg_current_xact_id()"))
        in_flight = (await writer.execute(text(
            "INSERT INTO order_events (seq, order_id, type, status, previous_status, channel, actor, data) "
            "VALUES (nextval('order_event_seq'), :order, 'INQUIRY_OPENED', 'PENDING', 'PENDING', 'WEB', 'test', '{}') RETURNING seq"),
            {"order": x.id})).scalar_one()

        # when: a later writer commits order Y (a larger cursor), and the hub and the fan-out run
        y = await factories.place(db, [("A", 1)])
        await hub.catch_up()
        await hub.catch_up()
        await dispatcher.fan_out(upto=hub.last_seq)

        # then: nothing at or past the number in flight was queued, though Y's events are committed
        assert hub.last_seq < in_flight
        async with db.read() as session:
            queued = (await session.execute(select(func.count()).select_from(WebhookDelivery))).scalar_one()
        assert queued == 0 and receiver.received == []

        # when: the writer commits
        await transaction.commit()

    # then: both orders' events arrive, each once
    expected = await events_after(db, start)
    assert {e.order_id for e in expected} == {x.id, y.id}
    await receiver.wait_for(lambda: len(receiver.succeeded()) >= len(expected))
    assert sorted(int(r.data["cursor"]) for r in receiver.received) == [e.seq for e in expected]


async def test_a_paused_endpoint_with_overdue_retries_does_not_make_the_dispatcher_spin(gql, db, hooks, receiver) -> None:
    # given: a delivery that failed once (due again in about a minute on the simulated clock)
    clock = FakeClock()
    await factories.basic_catalog(db)
    endpoint_id, _secret, _start = await create_endpoint(gql, receiver.url)
    dispatcher = hooks(clock=clock, start=False, endpoint_ids=await _endpoint_ids(db), webhook_retry_base_seconds=60.0)
    await factories.place(db, [("A", 1)])
    await dispatcher.fan_out(upto=await hooks_horizon(db))
    receiver.default = 500
    await dispatcher.deliver_due()

    # then: the delivery loop sleeps until that retry is due, not less (at most its poll interval)
    wait = await dispatcher._until_next_due(3600)
    assert 25 <= wait <= 95, wait

    # when: the endpoint is paused and the retry is overdue: nothing can be claimed, and nothing is due later either
    await gql(UPDATE, {"input": {"endpointId": endpoint_id, "active": False}})
    clock.advance(200)
    assert await dispatcher.claim(10) == []
    assert await dispatcher._until_next_due(1.0) == 1.0  # waits for a wake-up (or the poll), does not loop at once

    # when: it is deleted, its open deliveries are dead
    await gql(DELETE, {"input": {"endpointId": endpoint_id}})
    assert set(await statuses(db)) == {"DEAD"}


async def test_a_stopping_process_gives_back_the_lease_of_the_attempt_it_abandons(gql, db, hooks, receiver) -> None:
    # given: an attempt in flight (the receiver holds it) under a long lease
    first = hooks(**{**FAST, "webhook_timeout_seconds": 60.0})
    await factories.basic_catalog(db)
    await create_endpoint(gql, receiver.url)
    receiver.script.append(HOLD)
    await factories.place(db, [("A", 1)])
    await receiver.wait_for(lambda: receiver.holding.is_set())

    # when: the process stops (SIGTERM), and another dispatcher runs
    await first.stop()
    assert (await statuses(db))["RETRYING"] >= 1
    hooks(**FAST)
    await receiver.wait_for(lambda: len(receiver.succeeded()) >= 1)

    # then: attempted again at once (not after the lease), with the same webhook-id
    assert receiver.succeeded()[0].webhook_id == receiver.received[0].webhook_id
    receiver.release.set()
