"""Live updates: publish committed changes, and fan them out to this process's subscribers.

Broadcast messages carry only the newest event cursor (PostgreSQL NOTIFY caps a
payload at 8000 bytes). Each process keeps one hub: on a signal it reads the new
events from the database once, with their orders, and hands the same rows to
every local subscriber. Because cursors are gapless and follow commit order, the
hub can never skip an event: a lost signal is caught by the next one or by the
periodic check of the counter. A subscriber whose bounded queue overflows is
not dropped silently: it catches up from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from broadcaster import Broadcast
from sqlalchemy import select, text

from app.database import EVENT_COUNTER, Database
from models import Order, OrderEvent

log = logging.getLogger(__name__)

ORDER_CHANNEL = "oms_order_events"
STOCK_CHANNEL = "oms_stock"
QUEUE_LIMIT = 1000
BATCH = 500


@dataclass(frozen=True, slots=True)
class Delivery:
    """One committed event with the order as read right after it (shared by all subscribers)."""

    event: OrderEvent
    order: Order

    @property
    def seq(self) -> int:
        return self.event.seq


class Overflowed(Exception):
    """The subscriber fell too far behind; it must catch up from the database."""


class Subscription:
    def __init__(self, match: Callable[[Any], bool], start_seq: int) -> None:
        self.match = match
        self.start_seq = start_seq
        self.queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False

    def offer(self, item: Any) -> None:
        if self.overflowed or not self.match(item):
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True

    async def get(self) -> Any:
        if self.overflowed and self.queue.empty():
            raise Overflowed
        return await self.queue.get()


class LiveHub:
    def __init__(self, db: Database, broadcast_url: str, *, poll_interval: float = 1.0) -> None:
        self.db = db
        self.broadcast = Broadcast(broadcast_url)
        self.poll_interval = poll_interval
        self.last_seq = 0
        self.order_subscriptions: set[Subscription] = set()
        self.stock_subscriptions: set[Subscription] = set()
        self._catch_up_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = False

    async def start(self) -> None:
        self.last_seq = await self._committed_seq()
        await self.broadcast.connect()
        self.connected = True
        ready = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(ORDER_CHANNEL, self._on_order_signal, ready)),
            asyncio.create_task(self._listen(STOCK_CHANNEL, self._on_stock_signal, asyncio.Event())),
            asyncio.create_task(self._poll()),
        ]
        await asyncio.wait_for(ready.wait(), 5)
        self.db.publisher = self.publish

    async def stop(self) -> None:
        self.db.publisher = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.broadcast.disconnect()
        self.connected = False

    # -- publishing (called by the unit of work after commit) --------------

    async def publish(self, events: Sequence[dict[str, Any]], notices: Sequence[tuple[str, dict[str, Any]]]) -> None:
        if events:
            await self.broadcast.publish(ORDER_CHANNEL, json.dumps({"seq": max(e["seq"] for e in events)}))
        for topic, payload in notices:
            if topic == "stock":
                await self.broadcast.publish(STOCK_CHANNEL, json.dumps(payload))

    # -- receiving ----------------------------------------------------------

    async def _listen(self, channel: str, handler: Callable[[dict[str, Any]], Any], ready: asyncio.Event) -> None:
        async with self.broadcast.subscribe(channel) as subscriber:
            ready.set()
            async for message in subscriber:  # type: ignore[union-attr]
                if message is None:
                    return
                try:
                    await handler(json.loads(message.message))
                except Exception:
                    log.exception("live update handler failed on %s", channel)

    async def _on_order_signal(self, payload: dict[str, Any]) -> None:
        if int(payload.get("seq", 0)) > self.last_seq:
            await self.catch_up()

    async def _on_stock_signal(self, payload: dict[str, Any]) -> None:
        for subscription in list(self.stock_subscriptions):
            subscription.offer(payload)

    async def _poll(self) -> None:
        """Safety net for lost signals: compare the committed counter with what we have seen."""
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                if await self._committed_seq() > self.last_seq:
                    await self.catch_up()
            except Exception:
                log.exception("live update poll failed")

    async def _committed_seq(self) -> int:
        async with self.db.read() as session:
            return int((await session.execute(text("SELECT value FROM counters WHERE name = :n"), {"n": EVENT_COUNTER})).scalar_one())

    async def catch_up(self) -> None:
        async with self._catch_up_lock:
            while True:
                deliveries = await self.read_events(after=self.last_seq, limit=BATCH)
                if not deliveries:
                    return
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

    def subscribe_orders(self, match: Callable[[Delivery], bool]) -> Subscription:
        subscription = Subscription(match, self.last_seq)
        self.order_subscriptions.add(subscription)
        return subscription

    def subscribe_stock(self, match: Callable[[dict[str, Any]], bool]) -> Subscription:
        subscription = Subscription(match, 0)
        self.stock_subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.order_subscriptions.discard(subscription)
        self.stock_subscriptions.discard(subscription)

    async def follow(self, match: Callable[[Delivery], bool], *, after: int | None, order_id: uuid.UUID | None = None):  # type: ignore[no-untyped-def]
        """Every matching event after `after` (or from now), exactly once and in order: replay, then live."""
        subscription = self.subscribe_orders(match)
        try:
            last = subscription.start_seq if after is None else after
            while True:
                # Replay what the database has up to where the live feed starts.
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
