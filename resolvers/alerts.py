"""Alerts (issue 19): the list, the live feed of raised alerts, the low-stock threshold.

Scopes: alerts need orders:read; LOW_STOCK alerts (a SKU, no order) need stock:read as well: a caller without it
does not see them in the list or the feed, and asking for kind LOW_STOCK without it is refused.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncGenerator
from typing import Any, Protocol

from sqlalchemy import select

from app.alerts import service
from app.alerts.enums import AlertKind
from app.alerts.scanner import TOPIC
from app.infra.database import UnitOfWork
from app.infra.hub import LiveHub
from models import Order, Product, Warehouse
from models.alerts import Alert
from resolvers import pagination
from resolvers.errors import run_mutation
from resolvers.loaders import Loaders
from resolvers.types import Info, MutationPayload

READ = "orders:read"
STOCK_READ = "stock:read"
# A subscriber slower than this many raises loses the oldest (alerts stay readable with the alerts query).
FEED_LIMIT = 1000


class LowStockThresholdArgs(Protocol):
    sku: str
    threshold: int | None


async def _visible_kinds(info: Info, kind: AlertKind | None) -> list[AlertKind]:
    principal = await info.context.require(READ)
    if kind == AlertKind.LOW_STOCK:
        await info.context.require(STOCK_READ)
    kinds = [kind] if kind is not None else list(AlertKind)
    return [k for k in kinds if k != AlertKind.LOW_STOCK or principal.has(STOCK_READ)]


async def alerts(
    info: Info, *, first: int | None = None, after: str | None = None, kind: AlertKind | None = None, open: bool | None = None
) -> pagination.Connection[Alert]:
    """Newest first, keyset on (raisedAt, id)."""
    kinds = await _visible_kinds(info, kind)
    conditions = [Alert.kind.in_(kinds)]
    if open is not None:
        conditions.append(Alert.cleared_at.is_(None) if open else Alert.cleared_at.is_not(None))
    return await pagination.newest_first(info.context.db, Alert, Alert.raised_at, conditions, first, after)


class _Feed:
    """One alertRaised subscriber's pending raises (bounded: a slower subscriber loses the oldest)."""

    def __init__(self, kinds: set[AlertKind]) -> None:
        self.kinds = {k.value for k in kinds}
        self.queue: asyncio.Queue[uuid.UUID] = asyncio.Queue(FEED_LIMIT)

    def offer(self, payload: Any) -> None:
        if isinstance(payload, dict) and payload.get("change") == "RAISED" and payload.get("kind") in self.kinds:
            if self.queue.full():
                self.queue.get_nowait()
            self.queue.put_nowait(uuid.UUID(payload["id"]))


# The hub has no way to remove a listener: one listener per hub, fanning out to that hub's current feeds.
_FEEDS: weakref.WeakKeyDictionary[LiveHub, set[_Feed]] = weakref.WeakKeyDictionary()


def _feeds_of(hub: LiveHub) -> set[_Feed]:
    feeds = _FEEDS.get(hub)
    if feeds is None:
        feeds = _FEEDS[hub] = set()
        live = feeds

        def deliver(payload: Any) -> None:
            for feed in list(live):
                feed.offer(payload)

        hub.listen(TOPIC, deliver)
    return feeds


async def alert_raised(info: Info, *, kind: AlertKind | None = None) -> AsyncGenerator[Alert, None]:
    """Every alert raised from now on (by any process's scanner), once each."""
    feed = _Feed(set(await _visible_kinds(info, kind)))
    feeds = _feeds_of(info.context.hub)
    feeds.add(feed)
    info.context.hub._registered()  # the hub's readiness signal (registrations): a feed is listening from here on
    try:
        while True:
            alert_id = await feed.queue.get()
            async with info.context.db.read() as session:
                alert = (await session.execute(select(Alert).where(Alert.id == alert_id))).scalar_one_or_none()
            if alert is not None:
                info.context.loaders = Loaders(info.context.db)  # each pushed result reads current data
                yield alert
    finally:
        feeds.discard(feed)


async def alert_sku(root: Alert, info: Info) -> str | None:
    """A LOW_STOCK alert's stock figures need stock:read (node(id:) answers an Alert to orders:read alone)."""
    if root.kind == AlertKind.LOW_STOCK:
        await info.context.require(STOCK_READ)
    return root.sku


async def alert_details(root: Alert, info: Info) -> dict[str, Any] | None:
    if root.kind == AlertKind.LOW_STOCK:
        await info.context.require(STOCK_READ)
    return root.details


async def alert_order(root: Alert, info: Info) -> Order | None:
    return None if root.order_id is None else await info.context.loaders.order.load(root.order_id)


async def alert_warehouse(root: Alert, info: Info) -> Warehouse | None:
    return None if root.warehouse_id is None else await info.context.loaders.warehouse.load(root.warehouse_id)


async def set_low_stock_threshold(info: Info, input: LowStockThresholdArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Product:
        return await service.set_low_stock_threshold(uow=uow, sku=input.sku, threshold=input.threshold)

    return await run_mutation(info, scope="stock:write", action=work, payload=lambda p: {"product": p})
