"""What a backordered order still awaits (issue 19, "the customer informed"): OrderLine.quantityBackordered /
expectedAt and OrderTracking.awaitingStock, batched per request (one statement per kind, whatever the page size).

The read planner does not map these fields: a root field selecting them is resolved the ordinary way."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from strawberry.dataloader import DataLoader

from app.orders import backorders
from app.orders.backorders import Awaited
from models import OrderLine
from resolvers.loaders import Loaders
from resolvers.types import Info


def _awaited_loader(loaders: Loaders) -> DataLoader[uuid.UUID, Awaited | None]:
    async def load(keys: Sequence[uuid.UUID]) -> list[Awaited | None]:
        found = await loaders.db.query(lambda session: backorders.awaited_by_line(session, keys))
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load)


def _awaiting_loader(loaders: Loaders) -> DataLoader[uuid.UUID, bool]:
    async def load(keys: Sequence[uuid.UUID]) -> list[bool]:
        found = await loaders.db.query(lambda session: backorders.orders_awaiting(session, keys))
        return [key in found for key in keys]

    return DataLoader(load_fn=load)


async def _awaited(line: OrderLine, info: Info) -> Awaited | None:
    if line.made_to_order:  # never claims receipts: no statement for it
        return None
    loader = info.context.loaders.extra("awaited_by_line", _awaited_loader)
    return await loader.load(line.id)


async def quantity_backordered(line: OrderLine, info: Info) -> int:
    awaited = await _awaited(line, info)
    return 0 if awaited is None else awaited.quantity


async def expected_at(line: OrderLine, info: Info) -> datetime | None:
    awaited = await _awaited(line, info)
    return None if awaited is None else awaited.expected_at


async def order_awaiting_stock(order_id: uuid.UUID | None, info: Info) -> bool:
    if order_id is None:
        return False
    loader = info.context.loaders.extra("orders_awaiting_stock", _awaiting_loader)
    return await loader.load(order_id)
