"""Made-to-order production stages per order line (issue 19): QUEUED -> IN_PRODUCTION -> QUALITY_CHECK -> READY.

- A made-to-order line without a stored stage is QUEUED (placement writes none: NULL reads as QUEUED);
  a stock line has no stage and cannot be advanced.
- Allowed moves: forward by one, and QUALITY_CHECK -> IN_PRODUCTION (rework). Anything else, a repeat
  included, is INVALID_TRANSITION on ("stage",).
- Only while the order can be fulfilled (CONFIRMED, PROCESSING, PARTIALLY_SHIPPED) and the line still has
  units to ship.
- Each move is an order event, PRODUCTION_STAGE_CHANGED {line, position, sku, from, to}. The delivery promise
  it moves is recomputed by the caller (app/flows/production.py), which owns the fulfilment side.
- Shipping and picking take made-to-order units only from READY lines (app/fulfilment/shipments.py, pick_lists.py).
Lock order, as everywhere: the order row first, then the line.
"""

from __future__ import annotations

import uuid

from app.errors import DomainError, ErrorCode
from app.infra.database import UnitOfWork
from app.orders import events
from app.orders import promise as calendar
from app.orders.enums import OrderEventType, OrderStatus, ProductionStage
from app.orders.service import lock_order_row
from models import Order, OrderLine

S = ProductionStage
ALLOWED_MOVES = frozenset({
    (S.QUEUED, S.IN_PRODUCTION), (S.IN_PRODUCTION, S.QUALITY_CHECK), (S.QUALITY_CHECK, S.READY),
    (S.QUALITY_CHECK, S.IN_PRODUCTION),  # rework
})
# The order statuses in which production may move (app/fulfilment/outbound.py FULFILLABLE; orders import none of fulfilment).
PRODUCING = frozenset({OrderStatus.CONFIRMED, OrderStatus.PROCESSING, OrderStatus.PARTIALLY_SHIPPED})


def stage_of(line: OrderLine) -> ProductionStage | None:
    """The line's stage: None for a stock line, QUEUED for a made-to-order line that has none stored."""
    if not line.made_to_order:
        return None
    return ProductionStage(line.production_stage) if line.production_stage is not None else S.QUEUED


def is_ready(line: OrderLine) -> bool:
    """Whether the line's units may ship: always for stock lines, at READY for made-to-order ones."""
    return not line.made_to_order or stage_of(line) == S.READY


def describe(line: OrderLine) -> str:
    return f"line {line.position + 1} ({line.sku})"


def not_ready_message(order: Order, line: OrderLine) -> str:
    return f"Made-to-order {describe(line)} of order {order.number} is {stage_of(line)}, not READY: it cannot ship yet."


async def advance(*, uow: UnitOfWork, order_line_id: uuid.UUID, stage: ProductionStage) -> tuple[Order, OrderLine]:
    """Move one made-to-order line to `stage` (see module doc). Returns the locked order and the line."""
    order, line = await lock_order_row(uow=uow, model=OrderLine, row_id=order_line_id, path=("order_line_id",), missing="No such order line.")
    current = stage_of(line)
    if current is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"Line {line.position + 1} ({line.sku}) of order {order.number} is not made to order: it has no production stages.",
            ("order_line_id",),
        )
    if order.status not in PRODUCING:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"Production cannot move while order {order.number} is {order.status}.", ("order_line_id",))
    if line.quantity_shipped >= line.quantity:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION, f"Line {line.position + 1} ({line.sku}) of order {order.number} has already shipped.", ("order_line_id",)
        )
    if (current, stage) not in ALLOWED_MOVES:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"Line {line.position + 1} ({line.sku}) cannot move from {current} to {stage}: stages move forward one at a time"
            " (QUEUED, IN_PRODUCTION, QUALITY_CHECK, READY), or back from QUALITY_CHECK to IN_PRODUCTION for rework.",
            ("stage",),
        )
    line.production_stage = stage
    if stage == S.IN_PRODUCTION and line.production_started_at is None:
        line.production_started_at = calendar.utcnow()
    events.record(
        uow, order, OrderEventType.PRODUCTION_STAGE_CHANGED,
        data={"line": str(line.id), "position": line.position, "sku": line.sku, "from": current.value, "to": stage.value},
    )
    return order, line
