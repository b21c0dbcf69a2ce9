"""Live updates: publish committed changes, and fan them out to this process's subscribers.

The order event log is the source of truth; broadcast messages are only wake-up
signals carrying the newest event cursor (PostgreSQL NOTIFY caps a payload at
8000 bytes). Each process keeps one hub with one reader task: on a signal, or
every `poll_interval` at the latest, it reads the events after the last cursor
it has seen once, with their orders, and hands the same rows to every local
subscriber. Cursors are gapless and follow commit order, so the hub can never
skip an event: a lost signal (or a broadcast backend that is down) only delays
delivery until the next poll. A subscriber whose bounded queue overflows is not
dropped silently: it catches up from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from broadcaster import Broadcast
from sqlalchemy import select, text

from app.infra.database import EVENT_COUNTER, Database
from models import Order, OrderEvent

log = logging.getLogger(__name__)

CHANNEL = "oms_live"
QUEUE_LIMIT = 1000
BATCH = 500
# A dead backend must be noticed within seconds: the bus pings itself through it.
HEARTBEAT_INTERVAL = 1.0
HEARTBEAT_TIMEOUT = 3.0
CONNECT_TIMEOUT = 5.0
PUBLISH_TIMEOUT = 2.0
TEARDOWN_TIMEOUT = 2.0
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
STOCK_OUTBOX_LIMIT = 10_000
# The log is read at least this often even without a signal; tests raise it to prove the broadcast path.
POLL_INTERVAL = float(os.environ.get("OMS_LIVE_POLL_SECONDS") or 1.0)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One committed event with the order as read right after it (shared by all subscribers)."""

    event: OrderEvent
    order: Order
    # GraphQL results for this event by subscription shape, filled by the first subscriber of each.
    results: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def seq(self) -> int:
        return self.event.seq


class Overflowed(Exception):
    """The subscriber fell too far behind; it must catch up from the database."""


class BackendLost(Exception):
    """The broadcast backend stopped delivering (dead connection, stalled listener)."""


class OrderSubscription:
    """A bounded queue of deliveries; on overflow it stops queueing and its reader replays from the log."""

    def __init__(self, match: Callable[[Delivery], bool], start_seq: int) -> None:
        self.match = match
        self.start_seq = start_seq
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False

    def offer(self, delivery: Delivery) -> None:
        if self.overflowed or not self.match(delivery):
            return
        try:
            self.queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self.overflowed = True

    async def get(self) -> Delivery:
        if self.overflowed and self.queue.empty():
            raise Overflowed
        return await self.queue.get()


class StockSubscription:
    """Pending (sku, warehouseId) keys, each at most once: a slow reader gets the latest level, memory stays bounded."""

    def __init__(self, match: Callable[[dict[str, Any]], bool]) -> None:
        self.match = match
        self.pending: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self.ready = asyncio.Event()

    def offer(self, notice: dict[str, Any]) -> None:
        if self.match(notice):
            self.pending[(notice["sku"], notice["warehouseId"])] = notice
            self.ready.set()

    async def get(self) -> dict[str, Any]:
        while not self.pending:
            self.ready.clear()
            await self.ready.wait()
        return self.pending.popitem(last=False)[1]


# -- the broadcast backend, wrapped ---------------------------------------------


class _Publisher:
    """Publishes on a connection of its own, never on broadcaster's LISTEN connection."""

    async def publish(self, message: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        pass


class _MemoryPublisher(_Publisher):
    # memory:// only reaches subscribers of the very same Broadcast instance.
    def __init__(self, bus: SignalBus) -> None:
        self.bus = bus

    async def publish(self, message: str) -> None:
        if self.bus.broadcast is None:
            raise BackendLost("not connected")
        await self.bus.broadcast.publish(CHANNEL, message)


class _PostgresPublisher(_Publisher):
    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: Any = None

    async def publish(self, message: str) -> None:
        import asyncpg

        try:
            if self.conn is None or self.conn.is_closed():
                self.conn = await asyncpg.connect(self.url, timeout=PUBLISH_TIMEOUT,
                                                  server_settings={"application_name": "oms-broadcast-publish"})
            await self.conn.execute("SELECT pg_notify($1, $2)", CHANNEL, message)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.terminate()


class _RedisPublisher(_Publisher):
    def __init__(self, url: str) -> None:
        from redis import asyncio as redis

        self.client = redis.Redis.from_url(url, socket_timeout=PUBLISH_TIMEOUT, socket_connect_timeout=PUBLISH_TIMEOUT)

    async def publish(self, message: str) -> None:
        await self.client.publish(CHANNEL, message)

    async def close(self) -> None:
        await self.client.aclose()


def _restart_redis_listener(broadcast: Broadcast) -> None:
    """broadcaster 0.3.1's Redis listener wakes when subscribe() starts, before redis-py 8 counts the
    channel as subscribed, so `pubsub.listen()` returns at once and the listener parks for good (no
    message ever arrives). Waking it again once subscribed starts listening for real."""
    ready = getattr(getattr(broadcast, "_backend", None), "_ready", None)
    if isinstance(ready, asyncio.Event):
        ready.set()


class SignalBus:
    """broadcaster 0.3.1 with failure detection, reconnection and non-blocking publishing.

    broadcaster never reports a lost backend: after `pg_terminate_backend` or a
    Redis restart its listener dies or waits forever and subscribers silently
    stall (encode/broadcaster#66, #144). So the bus pings itself through the
    backend every HEARTBEAT_INTERVAL; when its own echo has not come back within
    HEARTBEAT_TIMEOUT, or broadcaster's listener task ended, it throws the
    Broadcast away and connects a fresh one, then tells the hub to catch up
    from the log (signals sent meanwhile are gone). Publishing goes through a
    connection of its own, from one sender task that coalesces order signals,
    so a slow or dead backend never delays a committing request. broadcaster's
    unbounded internal queue is drained at once by the single bus reader.
    """

    def __init__(self, url: str, *, on_message: Callable[[dict[str, Any]], None], on_connect: Callable[[], None]) -> None:
        self.url = url
        self.scheme = urlparse(url).scheme
        self.on_message = on_message
        self.on_connect = on_connect
        self.origin = uuid.uuid4().hex[:12]
        self.broadcast: Broadcast | None = None
        self.connected = False
        self.connections = 0
        self._connected_event = asyncio.Event()
        self._pending_seq = 0
        self._sent_seq = 0
        self._ping_due = False
        self._outbox: deque[dict[str, Any]] = deque(maxlen=STOCK_OUTBOX_LIMIT)
        self._send_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._publisher = self._make_publisher()

    def _make_publisher(self) -> _Publisher:
        if self.scheme in ("postgres", "postgresql"):
            return _PostgresPublisher(self.url)
        if self.scheme in ("redis", "rediss"):
            return _RedisPublisher(self.url)
        if self.scheme == "memory":
            return _MemoryPublisher(self)
        raise ValueError(f"Unsupported BROADCAST_URL scheme {self.scheme!r}: use memory://, postgres:// or redis://")

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._supervise()), asyncio.create_task(self._send_loop())]

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected_event.wait(), timeout)
        return self.connected

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._publisher.close(), TEARDOWN_TIMEOUT)

    # -- sending --------------------------------------------------------------

    def signal_order(self, seq: int) -> None:
        self._pending_seq = max(self._pending_seq, seq)
        self._send_ready.set()

    def send(self, message: dict[str, Any]) -> None:
        self._outbox.append(message)
        self._send_ready.set()

    async def _send_loop(self) -> None:
        while True:
            await self._send_ready.wait()
            self._send_ready.clear()
            batch: list[dict[str, Any]] = []
            if self._ping_due:
                self._ping_due = False
                batch.append({"ping": 1})
            if self._pending_seq > self._sent_seq:
                self._sent_seq = self._pending_seq
                batch.append({"seq": self._sent_seq})
            while self._outbox:
                batch.append(self._outbox.popleft())
            for message in batch:
                message["o"] = self.origin
                try:
                    await asyncio.wait_for(self._publisher.publish(json.dumps(message, separators=(",", ":"))), PUBLISH_TIMEOUT)
                except Exception as exc:  # other processes still catch up by polling the log
                    log.warning("broadcast publish failed (%s: %s); message dropped", type(exc).__name__, exc)

    # -- receiving ------------------------------------------------------------

    async def _supervise(self) -> None:
        failures = 0
        while True:
            broadcast = Broadcast(self.url)
            subscription: contextlib.AsyncExitStack | None = None
            try:
                await asyncio.wait_for(broadcast.connect(), CONNECT_TIMEOUT)
                subscription = contextlib.AsyncExitStack()
                subscriber = await asyncio.wait_for(subscription.enter_async_context(broadcast.subscribe(CHANNEL)), CONNECT_TIMEOUT)
                _restart_redis_listener(broadcast)
                self.broadcast = broadcast
                await self._pump(broadcast, subscriber, on_first_echo=self._mark_connected)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("broadcast backend %s lost or unreachable (%s: %s); reconnecting", self.scheme, type(exc).__name__, exc)
            finally:
                was_connected = self.connected
                self.connected = False
                self._connected_event.clear()
                self.broadcast = None
                await self._teardown(broadcast, subscription)
                if was_connected:
                    failures = 0
            await asyncio.sleep(RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)])
            failures += 1

    def _mark_connected(self) -> None:
        self.connected = True
        self.connections += 1
        self._connected_event.set()
        if self.connections > 1:
            log.info("broadcast backend %s reconnected", self.scheme)
        self.on_connect()  # signals may have been missed while down: catch up from the log

    async def _pump(self, broadcast: Broadcast, subscriber: Any, *, on_first_echo: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        last_echo = loop.time()
        next_ping = last_echo
        echoed = False
        while True:
            now = loop.time()
            listener = getattr(broadcast, "_listener_task", None)
            if listener is not None and listener.done():
                raise BackendLost("broadcaster's listener task ended")
            if now - last_echo > HEARTBEAT_TIMEOUT:
                raise BackendLost(f"no heartbeat echo for {HEARTBEAT_TIMEOUT:.0f}s")
            if now >= next_ping:
                self._ping_due = True
                self._send_ready.set()
                next_ping = now + HEARTBEAT_INTERVAL
            try:
                event = await asyncio.wait_for(subscriber.get(), max(0.05, next_ping - loop.time()))
            except TimeoutError:
                continue
            try:
                message = json.loads(event.message)
            except (TypeError, ValueError):
                log.warning("ignoring a malformed broadcast message")
                continue
            if message.get("o") == self.origin:
                if message.get("ping"):
                    last_echo = loop.time()
                    if not echoed:
                        echoed = True
                        on_first_echo()
                continue  # our own changes were delivered locally already
            if not message.get("ping"):
                try:
                    self.on_message(message)
                except Exception:
                    log.exception("live update handler failed")

    async def _teardown(self, broadcast: Broadcast, subscription: contextlib.AsyncExitStack | None) -> None:
        # A dead connection can make UNLISTEN/close hang or raise; neither may block the reconnect.
        if subscription is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(subscription.aclose(), TEARDOWN_TIMEOUT)
        if getattr(broadcast, "_listener_task", None) is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(broadcast.disconnect(), TEARDOWN_TIMEOUT)
        backend = getattr(broadcast, "_backend", None)
        conn = getattr(backend, "_conn", None)
        if conn is not None and hasattr(conn, "terminate"):  # asyncpg: make sure the socket is gone
            with contextlib.suppress(Exception):
                conn.terminate()


# -- the hub ----------------------------------------------------------------------


class LiveHub:
    def __init__(self, db: Database, broadcast_url: str, *, poll_interval: float = POLL_INTERVAL) -> None:
        self.db = db
        self.poll_interval = poll_interval
        self.bus = SignalBus(broadcast_url, on_message=self._on_remote_message, on_connect=self.wake)
        self.last_seq = 0
        self.order_subscriptions: set[OrderSubscription] = set()
        self.stock_subscriptions: set[StockSubscription] = set()
        self._wake = asyncio.Event()
        self._catch_up_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def connected(self) -> bool:
        return self.bus.connected

    async def start(self) -> None:
        self.last_seq = await self._committed_seq()
        self._tasks = [asyncio.create_task(self._read_loop())]
        self.bus.start()
        if not await self.bus.wait_connected(CONNECT_TIMEOUT):
            log.warning("broadcast backend not connected yet; serving this process's changes and polling the log meanwhile")
        self.db.publisher = self.publish

    async def stop(self) -> None:
        self.db.publisher = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.bus.stop()

    # -- publishing (called by the unit of work after commit) --------------

    async def publish(self, events: Sequence[dict[str, Any]], notices: Sequence[tuple[str, dict[str, Any]]]) -> None:
        if events:
            self.bus.signal_order(max(e["seq"] for e in events))
            self.wake()
        for topic, payload in notices:
            if topic == "stock":
                self._deliver_stock(payload)
                self.bus.send({"stock": payload})

    # -- receiving ----------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def _on_remote_message(self, message: dict[str, Any]) -> None:
        if "seq" in message:
            if int(message["seq"]) > self.last_seq:
                self.wake()
        elif isinstance(message.get("stock"), dict):
            self._deliver_stock(message["stock"])

    def _deliver_stock(self, notice: dict[str, Any]) -> None:
        for subscription in list(self.stock_subscriptions):
            subscription.offer(notice)

    async def _read_loop(self) -> None:
        """Reads new events on a signal, and every poll_interval anyway (the safety net for lost signals)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()
            try:
                await self.catch_up()
            except Exception:
                log.exception("reading new order events failed; retrying")
                await asyncio.sleep(self.poll_interval)

    async def committed_cursor(self) -> int:
        """The cursor of the newest committed event."""
        return await self._committed_seq()

    async def _committed_seq(self) -> int:
        async with self.db.read() as session:
            return int((await session.execute(text("SELECT value FROM counters WHERE name = :n"), {"n": EVENT_COUNTER})).scalar_one())

    async def catch_up(self) -> None:
        async with self._catch_up_lock:
            while True:
                deliveries = await self.read_events(after=self.last_seq, limit=BATCH)
                if not deliveries:
                    return
                # No await from here to the end of the fan-out: a subscription registered
                # before it gets the whole batch, one registered after starts past it.
                self.last_seq = deliveries[-1].seq
                for delivery in deliveries:
                    for subscription in list(self.order_subscriptions):
                        subscription.offer(delivery)
                if len(deliveries) < BATCH:
                    return

    async def read_events(
        self, *, after: int, limit: int, upto: int | None = None, order_id: uuid.UUID | None = None
    ) -> list[Delivery]:
        statement = select(OrderEvent, Order).join(Order, Order.id == OrderEvent.order_id).where(OrderEvent.seq > after)
        if upto is not None:
            statement = statement.where(OrderEvent.seq <= upto)
        if order_id is not None:
            statement = statement.where(OrderEvent.order_id == order_id)
        async with self.db.read() as session:
            rows = (await session.execute(statement.order_by(OrderEvent.seq).limit(limit))).all()
        return [Delivery(event, order) for event, order in rows]

    # -- subscribing ----------------------------------------------------------

    def subscribe_orders(self, match: Callable[[Delivery], bool]) -> OrderSubscription:
        subscription = OrderSubscription(match, self.last_seq)
        self.order_subscriptions.add(subscription)
        return subscription

    def subscribe_stock(self, match: Callable[[dict[str, Any]], bool]) -> StockSubscription:
        subscription = StockSubscription(match)
        self.stock_subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: OrderSubscription | StockSubscription) -> None:
        self.order_subscriptions.discard(subscription)  # type: ignore[arg-type]
        self.stock_subscriptions.discard(subscription)  # type: ignore[arg-type]

    async def follow(
        self, match: Callable[[Delivery], bool], *, after: int | None, order_id: uuid.UUID | None = None
    ) -> AsyncIterator[Delivery]:
        """Every matching event after `after` (or from now), exactly once and in order: replay, then live."""
        if after is None:
            # "Now" is what has committed, not what this hub has read so far (it may lag by a poll).
            after = await self.committed_cursor()
        subscription = self.subscribe_orders(match)
        try:
            last = after
            while True:
                # Replay from the log up to where the live queue starts.
                while last < subscription.start_seq:
                    batch = await self.read_events(after=last, upto=subscription.start_seq, limit=BATCH, order_id=order_id)
                    if not batch:
                        last = subscription.start_seq
                        break
                    for delivery in batch:
                        last = delivery.seq
                        if match(delivery):
                            yield delivery
                try:
                    while True:
                        delivery = await subscription.get()
                        if delivery.seq > last:
                            last = delivery.seq
                            yield delivery
                except Overflowed:
                    self.unsubscribe(subscription)
                    subscription = self.subscribe_orders(match)
        finally:
            self.unsubscribe(subscription)
