"""The live hub: reads the order event log once per process and fans it out to this process's subscribers.

The order event log is the source of truth; the signal bus (app/infra/bus.py)
only carries wake-up messages with the newest event cursor (PostgreSQL NOTIFY
caps a payload at 8000 bytes). Each process keeps one hub with one reader task:
on a signal, or every `poll_interval` at the latest, it reads the events after
the last cursor it has seen once, with their orders, and hands the same rows to
every local subscriber. Cursors are event seqs from a sequence: they have gaps and
are not in commit order, so the hub reads only up to the visibility horizon of
app/infra/horizon.py, below which the log is final; then it can never skip an
event: a lost signal (or a broadcast backend that is down) only delays delivery
until the next poll. A subscriber whose bounded queue overflows is not dropped
silently: it catches up from the database.

Stock notices are not logged: they go straight to this process's stock
subscribers and over the bus to the other processes'.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.infra import metrics
from app.infra.bus import CONNECT_TIMEOUT, SignalBus
from app.infra.database import Database
from app.infra.horizon import EventHorizon
from app.infra.tasks import cancel_and_wait
from models import Order, OrderEvent

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000
BATCH = 500
# While numbers handed out are not confirmed yet: re-check after this pause, doubling up to the poll
# interval, reset whenever the horizon moves. A writer's commit signal wakes the hub at once anyway
# (the common case: the next numbers' writers commit); this is for gaps nobody signals (a rollback).
RECHECK = 0.01


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class Delivery:
    """One committed event with the order as read right after it (the same object for every subscriber).

    Compared and hashed by identity, and weakly referenceable: a layer above may keep
    per-event data in a WeakKeyDictionary keyed by it."""

    event: OrderEvent
    order: Order

    @property
    def seq(self) -> int:
        return self.event.seq


class Overflowed(Exception):
    """The subscriber fell too far behind; it must catch up from the database."""


class Idle(Exception):
    """Raised by `OrderSubscription.get()` instead of waiting, when its match asks for it (a true
    `match.park_when_idle`): the reader is live (the replay is done) and nothing is queued. Every event
    after `start_seq` reaches a subscription registered at once, with no await in between (issue 15:
    an idle subscriber is parked as one small object instead of a waiting task)."""

    def __init__(self, start_seq: int) -> None:
        super().__init__(start_seq)
        self.start_seq = start_seq


class Mailbox:
    """The part of a bounded asyncio.Queue a subscription needs, for one reader, in a list and at most one
    future: an idle subscriber holds ~150 bytes here instead of a Queue's four deques and Event (issue 15)."""

    __slots__ = ("items", "limit", "waiter")

    def __init__(self, limit: int) -> None:
        self.items: list[Delivery] = []
        self.limit = limit
        self.waiter: asyncio.Future[None] | None = None

    def qsize(self) -> int:
        return len(self.items)

    def empty(self) -> bool:
        return not self.items

    def put_nowait(self, item: Delivery) -> None:
        if len(self.items) >= self.limit:
            raise asyncio.QueueFull
        self.items.append(item)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Delivery:
        while not self.items:
            waiter = self.waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self.waiter = None
        return self.items.pop(0)


class OrderSubscription:
    """A bounded queue of deliveries; on overflow it stops queueing and its reader replays from the log."""

    __slots__ = ("match", "overflowed", "queue", "start_seq")

    def __init__(self, match: Callable[[Delivery], bool], start_seq: int) -> None:
        self.match = match
        self.start_seq = start_seq
        self.queue = Mailbox(QUEUE_LIMIT)
        self.overflowed = False

    @property
    def size(self) -> int:
        """How many subscribers this subscription stands for (a group of parked ones counts each of its members)."""
        return 1

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
        if self.queue.empty() and getattr(self.match, "park_when_idle", False):
            raise Idle(self.start_seq)
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


class LiveHub:
    def __init__(self, db: Database, broadcast_url: str, *, poll_interval: float) -> None:
        self.db = db
        self.poll_interval = poll_interval
        self.bus = SignalBus(broadcast_url, on_message=self._on_remote_message, on_connect=self.wake)
        self.horizon = EventHorizon(db)
        # The confirmed horizon this hub has delivered up to (every event <= it is final and was fanned out).
        self.last_seq = 0
        # Subscriptions registered since start (never decreases): a readiness signal for operators and tests.
        self.registrations = 0
        self.order_subscriptions: set[OrderSubscription] = set()
        self.stock_subscriptions: set[StockSubscription] = set()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._catch_up_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        # writes, issue 16: other message kinds (e.g. "apikey": a key revoked) -> this process's callbacks
        self._listeners: dict[str, list[Callable[[Any], None]]] = {}

    @property
    def connected(self) -> bool:
        return self.bus.connected

    @property
    def subscribers(self) -> int:
        """Open subscriptions in this process."""
        return sum(subscription.size for subscription in list(self.order_subscriptions)) + len(self.stock_subscriptions)

    async def start(self) -> None:
        self.last_seq = await self.committed_cursor()
        self._tasks = [asyncio.create_task(self._read_loop())]
        self.bus.start()
        if not await self.bus.wait_connected(CONNECT_TIMEOUT):
            log.warning("broadcast backend not connected yet; serving this process's changes and polling the log meanwhile")
        self.db.publisher = self.publish

    async def stop(self) -> None:
        self.db.publisher = None
        await cancel_and_wait(*self._tasks)
        await self.bus.stop()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Returns once `condition()` holds; it is checked again whenever a subscription
        registers and after every batch the hub reads from the log."""
        while not condition():
            await self._progress.wait()

    def _progressed(self) -> None:
        # Wakes every current waiter once; later waiters wait on a fresh event.
        self._progress.set()
        self._progress = asyncio.Event()

    # -- publishing (called by the unit of work after commit) --------------

    async def publish(self, events: Sequence[dict[str, Any]], notices: Sequence[tuple[str, dict[str, Any]]]) -> None:
        if events:
            self.bus.signal_order(max(e["seq"] for e in events))
            self.wake()
        for topic, payload in notices:
            if topic == "stock":
                self._deliver_stock(payload)
                self.bus.send({"stock": payload})
            elif topic not in ("seq", "ping", "o"):  # writes, issue 16: to this process's listeners and every other's
                self._dispatch(topic, payload)
                self.bus.send({topic: payload})

    # -- receiving ----------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def _on_remote_message(self, message: dict[str, Any]) -> None:
        if "seq" in message:
            if int(message["seq"]) > self.last_seq:
                self.wake()
        elif isinstance(message.get("stock"), dict):
            self._deliver_stock(message["stock"])
        else:
            for kind in self._listeners.keys() & message.keys():
                self._dispatch(kind, message[kind])

    def listen(self, kind: str, callback: Callable[[Any], None]) -> None:
        """Call `callback(payload)` for every `{kind: payload}` message, from this process or another (writes, issue 16)."""
        callbacks = self._listeners.setdefault(kind, [])
        if callback not in callbacks:
            callbacks.append(callback)

    def _dispatch(self, kind: str, payload: Any) -> None:
        for callback in list(self._listeners.get(kind, ())):
            try:
                callback(payload)
            except Exception:
                log.exception("%s listener failed", kind)

    def _deliver_stock(self, notice: dict[str, Any]) -> None:
        for subscription in list(self.stock_subscriptions):
            subscription.offer(notice)

    async def _read_loop(self) -> None:
        """Reads new events on a signal, and every poll_interval anyway (the safety net for lost signals);
        sooner while numbers handed out wait for their writers to end (see RECHECK)."""
        wait = recheck = self.poll_interval
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()
            try:
                before = self.last_seq
                await self.catch_up()
                recheck = RECHECK if self.last_seq > before else min(recheck * 2, self.poll_interval)
                wait = recheck if self.horizon.pending else self.poll_interval
            except Exception:
                log.exception("reading new order events failed; retrying")
                await asyncio.sleep(self.poll_interval)
                wait = 0.0

    async def committed_cursor(self) -> int:
        """"Now" as a cursor: every event committed before this call is at or below it, and every
        one at or below it is final (it waits for the write transactions in flight to end)."""
        return await self.horizon.now()  # on the primary: never a lagging replica's

    async def catch_up(self) -> None:
        async with self._catch_up_lock:
            upto = await self.horizon.advance()
            if not self.order_subscriptions and self.last_seq < upto:
                # writes, issue 16: nobody here to deliver to, so the events are not read (they cost ~2 ms of CPU per
                # placeOrder); a subscription registered later starts here and replays from the log (`follow`).
                self.last_seq = upto
                self._progressed()
            while self.last_seq < upto:
                deliveries = await self.read_events(after=self.last_seq, upto=upto, limit=BATCH)
                # No await from here to the end of the fan-out: a subscription registered
                # before it gets the whole batch, one registered after starts past it.
                self.last_seq = deliveries[-1].seq if len(deliveries) == BATCH else upto
                if deliveries:
                    metrics.delivered([d.event.occurred_at for d in deliveries])
                for delivery in deliveries:
                    for subscription in list(self.order_subscriptions):
                        subscription.offer(delivery)
                self._progressed()

    async def read_events(
        self, *, after: int, limit: int, upto: int | None = None, order_id: uuid.UUID | None = None
    ) -> list[Delivery]:
        """Events after `after`, in cursor order. Callers pass `upto` <= a confirmed horizon (without
        it, numbers above the horizon may still fill in below what is returned)."""
        statement = select(OrderEvent, Order).join(Order, Order.id == OrderEvent.order_id).where(OrderEvent.seq > after)
        if upto is not None:
            statement = statement.where(OrderEvent.seq <= upto)
        if order_id is not None:
            statement = statement.where(OrderEvent.order_id == order_id)
        async def read(session: Any) -> list[Delivery]:
            rows = (await session.execute(statement.order_by(OrderEvent.seq).limit(limit))).all()
            return [Delivery(event, order) for event, order in rows]

        # A replica only once it has replayed the horizon's WAL position: else it could miss a
        # commit the horizon already counts, and a range read once is never read again.
        primary = self.db.replica is None or not await self.db._replica_has(self.horizon.lsn)
        return await self.db.query(read, primary=primary)

    # -- subscribing ----------------------------------------------------------

    def subscribe_orders(self, match: Callable[[Delivery], bool]) -> OrderSubscription:
        subscription = OrderSubscription(match, self.last_seq)
        self.order_subscriptions.add(subscription)
        self._registered()
        return subscription

    def attach(self, subscription: OrderSubscription) -> None:
        """Registers a subscription that continues one registered before (a parked one): offered every
        event from now on, not counted as a new registration."""
        self.order_subscriptions.add(subscription)

    def subscribe_stock(self, match: Callable[[dict[str, Any]], bool]) -> StockSubscription:
        subscription = StockSubscription(match)
        self.stock_subscriptions.add(subscription)
        self._registered()
        return subscription

    def _registered(self) -> None:
        self.registrations += 1
        self._progressed()

    def unsubscribe(self, subscription: OrderSubscription | StockSubscription) -> None:
        if isinstance(subscription, OrderSubscription):
            self.order_subscriptions.discard(subscription)
        else:
            self.stock_subscriptions.discard(subscription)

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
