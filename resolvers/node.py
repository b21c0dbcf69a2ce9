"""`node(id:)`: any refetchable object by global ID, subject to the read scope of its kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from models import StockLevel
from resolvers import billing, fulfilment, returns
from resolvers.ids import from_global_id
from resolvers.loaders import Loaders


async def _stock_level(info: Info, key: Any) -> Any:
    async with info.context.db.read() as session:
        return (await session.execute(select(StockLevel).where(StockLevel.id == key))).scalar_one_or_none()


def _loader(pick: Callable[[Loaders], DataLoader[Any, Any]]) -> Callable[[Info, Any], Any]:
    async def load(info: Info, key: Any) -> Any:
        return await pick(info.context.loaders).load(key)

    return load


# type name -> (read scope, fetch). Other domains register theirs here.
NODE_TYPES: dict[str, tuple[str, Callable[[Info, Any], Any]]] = {
    "Order": ("orders:read", _loader(lambda l: l.order)),
    "Product": ("stock:read", _loader(lambda l: l.product)),
    "Warehouse": ("stock:read", _loader(lambda l: l.warehouse)),
    "StockLevel": ("stock:read", _stock_level),
    "Shipment": ("shipments:read", fulfilment.load_shipment),
    "PickList": ("shipments:read", fulfilment.load_pick_list),
    "Payment": ("payments:read", billing.load_payment),
    "Invoice": ("invoices:read", billing.load_invoice),
    "Return": ("returns:read", returns.load_return),
    "Inquiry": ("orders:read", returns.load_inquiry),
}


async def node(info: Info, id: str) -> Any:
    decoded = from_global_id(id)
    if decoded is None or decoded[0] not in NODE_TYPES:
        return None
    scope, fetch = NODE_TYPES[decoded[0]]
    await info.context.require(scope)
    return await fetch(info, decoded[1])
