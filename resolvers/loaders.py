"""Per-request DataLoaders. Each batch opens its own session: sibling resolvers run concurrently."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from functools import cached_property
from typing import Any, ClassVar, Protocol, TypeVar, cast

from sqlalchemy import ColumnElement, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute
from strawberry.dataloader import DataLoader

from app.infra.database import Database
from models import Order, OrderEvent, OrderLine, Product, StockLevel, Warehouse


class Identified(Protocol):
    """A model with a UUID primary key `id`."""

    id: ClassVar[InstrumentedAttribute[uuid.UUID]]


M = TypeVar("M")
IdentifiedT = TypeVar("IdentifiedT", bound=Identified)
K = TypeVar("K", bound=Hashable)
LoaderT = TypeVar("LoaderT", bound=DataLoader[Any, Any])


class Loaders:
    """Created per request; one batch query per kind of row, whatever the page size."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._extra: dict[str, DataLoader[Any, Any]] = {}
        self._by_id: dict[type, DataLoader[uuid.UUID, Any]] = {}

    # Each made on first use: a request the read planner answers needs none of them, and a context that lives as
    # long as a WebSocket (memory per idle subscriber) or a request that needs two of them does not build all seven (issue 15).
    @cached_property
    def order(self) -> DataLoader[uuid.UUID, Order | None]:
        return self.by_id(Order)

    @cached_property
    def order_by_number(self) -> DataLoader[str, Order | None]:
        return self.by_key(Order, Order.number)

    @cached_property
    def product(self) -> DataLoader[uuid.UUID, Product | None]:
        return self.by_id(Product)

    @cached_property
    def warehouse(self) -> DataLoader[uuid.UUID, Warehouse | None]:
        return self.by_id(Warehouse)

    @cached_property
    def lines_by_order(self) -> DataLoader[uuid.UUID, list[OrderLine]]:
        return self.grouped(OrderLine, OrderLine.order_id, OrderLine.position)

    @cached_property
    def events_by_order(self) -> DataLoader[uuid.UUID, list[OrderEvent]]:
        return self.grouped(OrderEvent, OrderEvent.order_id, OrderEvent.seq)

    @cached_property
    def stock_by_sku(self) -> DataLoader[str, list[StockLevel]]:
        return self.grouped(StockLevel, StockLevel.sku, StockLevel.warehouse_id)

    def by_key(self, model: type[M], column: InstrumentedAttribute[K]) -> DataLoader[K, M | None]:
        async def load(keys: Sequence[K]) -> list[M | None]:
            rows = await self.db.query(lambda session: _all(session, select(model).where(in_array(column, keys))))
            found = {getattr(row, column.key): row for row in rows}
            return [found.get(key) for key in keys]

        return DataLoader(load_fn=load)

    def by_id(self, model: type[IdentifiedT]) -> DataLoader[uuid.UUID, IdentifiedT | None]:
        """The request's one loader of `model` rows by primary key (node(id:), nested references)."""
        loader = self._by_id.get(model)
        if loader is None:
            loader = self._by_id[model] = self.by_key(model, model.id)
        return cast(DataLoader[uuid.UUID, IdentifiedT | None], loader)

    def grouped(self, model: type[M], column: InstrumentedAttribute[K], order_by: InstrumentedAttribute[Any]) -> DataLoader[K, list[M]]:
        async def load(keys: Sequence[K]) -> list[list[M]]:
            statement = select(model).where(in_array(column, keys)).order_by(column, order_by)
            rows = await self.db.query(lambda session: _all(session, statement))
            groups: dict[K, list[M]] = defaultdict(list)
            for row in rows:
                groups[getattr(row, column.key)].append(row)
            return [groups.get(key, []) for key in keys]

        return DataLoader(load_fn=load)

    def extra(self, name: str, factory: Callable[[Loaders], LoaderT]) -> LoaderT:
        """A loader another domain defines (`factory(self)`), created once per request."""
        loader = self._extra.get(name)
        if loader is None:
            loader = self._extra[name] = factory(self)
        return cast(LoaderT, loader)

    def prime_orders(self, orders: Sequence[Order]) -> None:
        for order in orders:
            self.order.prime(order.id, order)


def in_array(column: InstrumentedAttribute[K], keys: Sequence[K]) -> ColumnElement[bool]:
    """`column = ANY($1)`: one array parameter, so the statement's text is the same for any batch size
    (compiled once, prepared once) instead of one `IN (...)` parameter per key."""
    return column == any_(bindparam("keys", list(keys), type_=ARRAY(column.type)))


async def _all(session: Any, statement: Any) -> list[Any]:
    return list((await session.execute(statement)).scalars().all())
