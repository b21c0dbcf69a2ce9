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

from sqlalchemy import select

from app.errors import DomainError, ErrorCode
from app.infra.database import UnitOfWork
from app.orders.enums import OrderStatus
from models import Allocation, OrderLine, Warehouse

# Orders still in the warehouse's hands: confirmed, being picked, or partly gone.
FULFILLABLE = frozenset({OrderStatus.CONFIRMED, OrderStatus.PROCESSING, OrderStatus.PARTIALLY_SHIPPED})


@dataclass(slots=True)
class Take:
    """Units of one order line leaving with a pick list or a shipment (allocation None: made to order)."""

    line: OrderLine
    allocation: Allocation | None
    quantity: int


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
