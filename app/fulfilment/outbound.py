"""What a warehouse still has to send: the orders in its hands, their lines and reservations, and the
units a pick list or a shipment takes from them (app/fulfilment/pick_lists.py, shipments.py).

Made-to-order lines hold no reservation: they are produced for the order. They go on the pick
list of, and ship by default from, the order's made-to-order warehouse (the first, by priority,
of the warehouses holding its reservations, else the first serving its channel); staff may ship
them from any warehouse by naming them in `lines`. They move no stock and write no ledger rows.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from app.errors import DomainError, ErrorCode
from app.infra.database import UnitOfWork
from app.orders.allocation import notify_stock
from app.orders.enums import OrderStatus
from models import Allocation, Order, OrderLine, StockLevel, StockMovement, Warehouse

# Orders still in the warehouse's hands: confirmed, being picked, or partly gone.
FULFILLABLE = frozenset({OrderStatus.CONFIRMED, OrderStatus.PROCESSING, OrderStatus.PARTIALLY_SHIPPED})


@dataclass(slots=True)
class Take:
    """Units of one order line leaving with a pick list or a shipment (allocation None: made to order)."""

    line: OrderLine
    allocation: Allocation | None
    quantity: int


def on_hand_here(allocation: Allocation, warehouse_id: uuid.UUID) -> bool:
    """Whether an allocation holds units reserved on hand at the warehouse, still to leave it: open, there, and not
    bound to a stock receipt (backorders, issue 19: a receipt-bound allocation's units have not arrived; they are in
    no `on_hand` nor `reserved`). What a pick list, a shipment and a collection may take."""
    return allocation.warehouse_id == warehouse_id and allocation.open_quantity > 0 and allocation.receipt_id is None


async def consume_stock(uow: UnitOfWork, *, order: Order, warehouse: Warehouse, per_sku: dict[str, int], kind: str, reason: str) -> None:
    """Units leaving the warehouse for the order (a shipment, a transfer, a collection): `on_hand` and `reserved` down
    by `per_sku` on the locked stock rows (sku order), one ledger row of `kind` per SKU, stock notices."""
    if not per_sku:
        return
    levels = (
        await uow.session.execute(
            select(StockLevel)
            .where(StockLevel.warehouse_id == warehouse.id, StockLevel.sku.in_(sorted(per_sku)))
            .order_by(StockLevel.sku, StockLevel.warehouse_id)
            .with_for_update()
        )
    ).scalars().all()
    by_sku = {level.sku: level for level in levels}
    for sku, quantity in sorted(per_sku.items()):
        level = by_sku.get(sku)
        if level is None or level.reserved < quantity or level.on_hand < quantity:
            # Allocations and stock levels move together; a mismatch is a bug, not a user error.
            raise RuntimeError(f"stock level {sku}@{warehouse.code} holds less than the order's reservation")
    await uow.session.execute(
        update(StockLevel),
        [{"id": by_sku[sku].id, "on_hand": by_sku[sku].on_hand - q, "reserved": by_sku[sku].reserved - q} for sku, q in sorted(per_sku.items())],
    )
    await uow.session.execute(
        insert(StockMovement),
        [
            {"sku": sku, "warehouse_id": warehouse.id, "kind": kind, "on_hand_delta": -q, "reserved_delta": -q,
             "actor": uow.actor, "reference": order.number, "reason": reason}
            for sku, q in sorted(per_sku.items())
        ],
    )
    for sku in sorted(per_sku):
        notify_stock(uow.notices, sku, warehouse.id)


async def get_warehouse(*, uow: UnitOfWork, code: str) -> Warehouse:
    warehouse = (await uow.session.execute(select(Warehouse).where(Warehouse.code == code.strip()))).scalar_one_or_none()
    if warehouse is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"Unknown warehouse {code!r}.", ("warehouse_code",))
    return warehouse


async def order_rows(
    *, uow: UnitOfWork, order_ids: list[uuid.UUID],
) -> tuple[dict[uuid.UUID, list[OrderLine]], dict[uuid.UUID, list[Allocation]]]:
    """The orders' lines (in position order) and reservations, by order id."""
    lines: dict[uuid.UUID, list[OrderLine]] = defaultdict(list)
    allocations: dict[uuid.UUID, list[Allocation]] = defaultdict(list)
    statement = select(OrderLine).where(OrderLine.order_id.in_(order_ids)).order_by(OrderLine.order_id, OrderLine.position)
    for line in (await uow.session.execute(statement)).scalars():
        lines[line.order_id].append(line)
    for allocation in (await uow.session.execute(select(Allocation).where(Allocation.order_id.in_(order_ids)))).scalars():
        allocations[allocation.order_id].append(allocation)
    return lines, allocations
