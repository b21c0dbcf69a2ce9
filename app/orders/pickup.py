"""Click-and-collect at placement (issue 19): which pickup point a PICKUP order is reserved at.

A PICKUP request names a warehouse (`DeliveryMethod.warehouse_code`) that must exist (NOT_FOUND), be a pickup point and
serve the order's channel (INVALID_INPUT), both at ("delivery_method", "warehouse_code"). Its units are then reserved
there first (`plan`, in the snapshot plan and in the locked re-plan): all of them when the store has every unit free;
otherwise what it has is reserved there and only the shortfall at other warehouses serving the channel, chosen by the
sourcing rules / priority as any order's (transfers, issue 19: app/fulfilment/transfers.py ships them to the store).
OUT_OF_STOCK only when the store and the other warehouses together lack units. SHIP (or no delivery method) reads
nothing and restricts nothing: placement is exactly as before.

The rest of the flow (markReadyForPickup, the pickup code, collectOrder) is fulfilment's: app/fulfilment/pickup.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from app.errors import DomainError, ErrorCode, Path
from app.infra.database import UnitOfWork
from app.orders.allocation import Candidate, Level, Pick
from app.orders.enums import DeliveryType, SalesChannel
from models import Warehouse

PATH: Path = ("delivery_method", "warehouse_code")
# Wrong pickup codes after which collectOrder refuses with LIMIT_EXCEEDED (and the UNCOLLECTED alert flags the order).
MAX_PICKUP_ATTEMPTS = 5


def delivery_type_of(method: Any) -> DeliveryType:
    """The request's delivery type (None: SHIP); an unknown value is INVALID_INPUT at ("delivery_method", "type")."""
    if method is None:
        return DeliveryType.SHIP
    try:
        return DeliveryType(getattr(method.type, "value", method.type))
    except ValueError:
        raise DomainError(ErrorCode.INVALID_INPUT, "Unknown delivery type.", ("delivery_method", "type")) from None


async def pickup_point(uow: UnitOfWork, method: Any, channel: SalesChannel) -> uuid.UUID | None:
    """The id of the pickup warehouse of a PICKUP request (checked as the module doc says); None for SHIP."""
    kind = delivery_type_of(method)
    code = (getattr(method, "warehouse_code", None) or "").strip()
    if kind == DeliveryType.SHIP:
        if code:
            raise DomainError(ErrorCode.INVALID_INPUT, "warehouseCode is for PICKUP only (a shipped order's warehouses are chosen by placement).", PATH)
        return None
    if not code:
        raise DomainError(ErrorCode.INVALID_INPUT, "A PICKUP order needs the warehouseCode of a pickup point.", PATH)
    row = (await uow.session.execute(select(Warehouse.id, Warehouse.pickup_point, Warehouse.channels).where(Warehouse.code == code))).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"Unknown warehouse {code!r}.", PATH)
    if not row.pickup_point:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Warehouse {code!r} is not a pickup point.", PATH)
    if channel not in (row.channels or []):
        raise DomainError(ErrorCode.INVALID_INPUT, f"Pickup point {code!r} does not serve the {channel} channel.", PATH)
    return uuid.UUID(str(row.id))


def restrict(candidates: Sequence[Candidate], pickup_warehouse_id: uuid.UUID | None) -> list[Candidate]:
    """The candidates a placement may reserve from: all of them (transfers, issue 19: a PICKUP order's shortfall at its
    pickup point is reserved elsewhere and transferred; `plan` puts the store first)."""
    return list(candidates)


def plan(routing: Any, demand: Mapping[str, int], candidates: Sequence[Candidate], sku_paths: Mapping[str, Path],
         pickup_warehouse_id: uuid.UUID | None) -> list[Pick]:
    """The placement's picks (transfers, issue 19). Shipped order: the routing's plan (sourcing rules / priority). PICKUP
    order: the store alone when it has every unit free (the routing's plan over its candidates, as before); else every
    free unit at the store plus the shortfall planned by the routing over the other warehouses (transfer allocations).
    OUT_OF_STOCK (the routing's, naming the SKU) when the others cannot cover the shortfall."""
    if pickup_warehouse_id is None:
        return list(routing.plan(demand, list(candidates), sku_paths))
    at_store = {c.sku: c for c in candidates if c.warehouse_id == pickup_warehouse_id}
    here: dict[str, int] = {sku: min(wanted, at_store[sku].available) if sku in at_store else 0 for sku, wanted in demand.items()}
    if all(here[sku] >= wanted for sku, wanted in demand.items()):
        return list(routing.plan(demand, list(at_store.values()), sku_paths))
    shortfall = {sku: wanted - here[sku] for sku, wanted in demand.items() if wanted > here[sku]}
    picks = [Pick(stock_level_id=at_store[sku].stock_level_id, sku=sku, warehouse_id=pickup_warehouse_id, quantity=n)
             for sku, n in here.items() if n > 0]
    others = [c for c in candidates if c.warehouse_id != pickup_warehouse_id and c.sku in shortfall]
    return picks + list(routing.plan(shortfall, others, sku_paths))


def restrict_levels(levels: Sequence[Level], pickup_warehouse_id: uuid.UUID | None) -> list[Level]:
    """An edit's stock levels (app/orders/edits.py): a PICKUP order's added units are reserved at its pickup point only
    (the other levels stay, as not serving the order, so that units reserved there for a transfer can be given back;
    transfers, issue 19)."""
    if pickup_warehouse_id is None:
        return list(levels)
    return [level if level.warehouse_id == pickup_warehouse_id else replace(level, serves_channel=False) for level in levels]


def order_columns(pickup_warehouse_id: uuid.UUID | None) -> dict[str, Any]:
    """The new order's delivery columns (keyword arguments of `Order(...)`)."""
    if pickup_warehouse_id is None:
        return {"delivery_type": DeliveryType.SHIP}
    return {"delivery_type": DeliveryType.PICKUP, "pickup_warehouse_id": pickup_warehouse_id}
