"""Per-request DataLoaders. Each batch opens its own session: sibling resolvers run concurrently."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute
from strawberry.dataloader import DataLoader

from app.infra.database import Database
from models import Order, OrderEvent, OrderLine, Product, StockLevel, Warehouse


class Loaders:
    """Created per request; one batch query per kind of row, whatever the page size."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._extra: dict[str, DataLoader[Any, Any]] = {}
        self.order = self.by_key(Order, Order.id)
        self.order_by_number = self.by_key(Order, Order.number)
        self.product = self.by_key(Product, Product.id)
        self.warehouse = self.by_key(Warehouse, Warehouse.id)
        self.lines_by_order = self.grouped(OrderLine, OrderLine.order_id, OrderLine.position)
        self.events_by_order = self.grouped(OrderEvent, OrderEvent.order_id, OrderEvent.seq)
        self.stock_by_sku = self.grouped(StockLevel, StockLevel.sku, StockLevel.warehouse_id)

    def by_key(self, model: type, column: InstrumentedAttribute) -> DataLoader[Any, Any]:
        async def load(keys: Sequence[Any]) -> list[Any]:
            async with self.db.read() as session:
                rows = (await session.execute(select(model).where(in_array(column, keys)))).scalars().all()
            found = {getattr(row, column.key): row for row in rows}
            return [found.get(key) for key in keys]

        return DataLoader(load_fn=load)

    def grouped(self, model: type, column: InstrumentedAttribute, order_by: InstrumentedAttribute) -> DataLoader[Any, list[Any]]:
        async def load(keys: Sequence[Any]) -> list[list[Any]]:
            async with self.db.read() as session:
                rows = (await session.execute(select(model).where(in_array(column, keys)).order_by(column, order_by))).scalars().all()
            groups: dict[Any, list[Any]] = defaultdict(list)
            for row in rows:
                groups[getattr(row, column.key)].append(row)
            return [groups.get(key, []) for key in keys]

        return DataLoader(load_fn=load)

    def extra(self, name: str, factory: Any) -> DataLoader[Any, Any]:
        """A loader another domain defines (`factory(self)`), created once per request."""
        loader = self._extra.get(name)
        if loader is None:
            loader = self._extra[name] = factory(self)
        return loader

    def prime_orders(self, orders: Sequence[Order]) -> None:
        for order in orders:
            self.order.prime(order.id, order)


def in_array(column: InstrumentedAttribute, keys: Sequence[Any]) -> Any:
    """`column = ANY($1)`: one array parameter, so the statement's text is the same for any batch size
    (compiled once, prepared once) instead of one `IN (...)` parameter per key."""
    return column == any_(bindparam("keys", list(keys), type_=ARRAY(column.type)))


def as_uuid(value: str | uuid.UUID) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)
