"""Which warehouse ships what, and the atomic reservation of those units.

Rows are locked in one global order (sku, warehouse id), whoever locks them, so
concurrent orders over the same SKUs queue instead of deadlocking; the plan is
made on the locked, current figures, so two orders can never reserve one unit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode, Path
from app.orders.enums import SalesChannel
from models import Allocation, StockLevel, StockMovement, Warehouse

STOCK_TOPIC = "stock"


def notify_stock(notices: list, sku: str, warehouse_id: uuid.UUID) -> None:
    """Queue a stockLevelChanged notice (published after commit by the unit of work)."""
    notices.append((STOCK_TOPIC, {"sku": sku, "warehouseId": str(warehouse_id)}))


@dataclass(frozen=True, slots=True)
class Candidate:
    stock_level_id: uuid.UUID
    sku: str
    warehouse_id: uuid.UUID
    priority: int
    reserved: int
    available: int


@dataclass(frozen=True, slots=True)
class Pick:
    stock_level_id: uuid.UUID
    sku: str
    warehouse_id: uuid.UUID
    quantity: int


def plan_allocation(demand: Mapping[str, int], candidates: list[Candidate], sku_paths: Mapping[str, Path]) -> list[Pick]:
    """Prefer one warehouse that fills the whole order; otherwise split, favouring warehouses that fill most lines.

    Raises OUT_OF_STOCK naming the first SKU that the serving warehouses cannot fill together.
    """
    by_warehouse: dict[uuid.UUID, dict[str, Candidate]] = {}
    for candidate in candidates:
        by_warehouse.setdefault(candidate.warehouse_id, {})[candidate.sku] = candidate
    for sku, quantity in demand.items():
        if sum(c.available for c in candidates if c.sku == sku) < quantity:
            raise DomainError(ErrorCode.OUT_OF_STOCK, f"Not enough stock of {sku} for this order.", sku_paths[sku])

    def fills(warehouse_id: uuid.UUID, sku: str) -> bool:
        c = by_warehouse[warehouse_id].get(sku)
        return c is not None and c.available >= demand[sku]

    priority = {c.warehouse_id: c.priority for c in candidates}
    coverage = {w: sum(fills(w, sku) for sku in demand) for w in by_warehouse}
    ranked = sorted(by_warehouse, key=lambda w: (-coverage[w], priority[w], str(w)))

    picks: list[Pick] = []
    for sku, quantity in demand.items():
        remaining = quantity
        # A warehouse that fills this line alone beats splitting the line.
        order = sorted(ranked, key=lambda w: not fills(w, sku))
        for warehouse_id in order:
            c = by_warehouse[warehouse_id].get(sku)
            if c is None or c.available <= 0:
                continue
            take = min(remaining, c.available)
            picks.append(Pick(c.stock_level_id, sku, warehouse_id, take))
            remaining -= take
            if remaining == 0:
                break
    return picks


async def lock_candidates(session: AsyncSession, *, skus: list[str], channel: SalesChannel) -> list[Candidate]:
    rows = await session.execute(
        select(StockLevel.id, StockLevel.sku, StockLevel.warehouse_id, Warehouse.priority, StockLevel.on_hand, StockLevel.reserved)
        .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
        .where(StockLevel.sku.in_(skus), Warehouse.channels.contains([channel]))
        .order_by(StockLevel.sku, StockLevel.warehouse_id)
        .with_for_update(of=StockLevel)
    )
    return [Candidate(r.id, r.sku, r.warehouse_id, r.priority, r.reserved, r.on_hand - r.reserved) for r in rows]


async def reserve(session: AsyncSession, notices: list, *, picks: list[Pick], candidates: list[Candidate], actor: str | None, reference: str) -> None:
    """Apply a plan made on locked rows: raise `reserved`, write RESERVATION ledger rows."""
    if not picks:
        return
    reserved = {c.stock_level_id: c.reserved for c in candidates}
    for p in picks:
        reserved[p.stock_level_id] += p.quantity
    touched = sorted({p.stock_level_id for p in picks})
    # Rows are locked by `lock_candidates`, so absolute values are safe; the
    # check constraint still refuses anything beyond on-hand.
    await session.execute(update(StockLevel), [{"id": level_id, "reserved": reserved[level_id]} for level_id in touched])
    for p in picks:
        notify_stock(notices, p.sku, p.warehouse_id)
    await session.execute(
        insert(StockMovement),
        [
            {"sku": p.sku, "warehouse_id": p.warehouse_id, "kind": "RESERVATION", "reserved_delta": p.quantity,
             "on_hand_delta": 0, "actor": actor, "reference": reference}
            for p in picks
        ],
    )


async def release(session: AsyncSession, notices: list, *, order_id: uuid.UUID, actor: str | None, reference: str, reason: str) -> int:
    """Give back every unit an order still holds (cancellation). Returns the units released."""
    allocations = (
        await session.execute(
            select(Allocation).where(Allocation.order_id == order_id).order_by(Allocation.sku, Allocation.warehouse_id)
        )
    ).scalars().all()
    open_allocations = [a for a in allocations if a.open_quantity > 0]
    if not open_allocations:
        return 0
    per_level: dict[tuple[str, uuid.UUID], int] = {}
    for a in open_allocations:
        key = (a.sku, a.warehouse_id)
        per_level[key] = per_level.get(key, 0) + a.open_quantity
    # Same lock order as `lock_candidates`: (sku, warehouse).
    for (sku, warehouse_id), quantity in sorted(per_level.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        await session.execute(
            update(StockLevel)
            .where(StockLevel.sku == sku, StockLevel.warehouse_id == warehouse_id)
            .values(reserved=StockLevel.reserved - quantity)
        )
        notify_stock(notices, sku, warehouse_id)
    await session.execute(
        insert(StockMovement),
        [
            {"sku": sku, "warehouse_id": warehouse_id, "kind": "RELEASE", "reserved_delta": -quantity,
             "on_hand_delta": 0, "actor": actor, "reference": reference, "reason": reason}
            for (sku, warehouse_id), quantity in per_level.items()
        ],
    )
    for a in open_allocations:
        a.quantity_released += a.open_quantity
    return sum(per_level.values())
