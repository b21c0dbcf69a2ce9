"""Every order status and the transitions between them, in one place.

Shipments, deliveries and returns move an order too; they call
`check_transition` like the staff actions do, so no code path can skip it.
"""

from __future__ import annotations

from enum import Enum

from app.errors import DomainError, ErrorCode


class OrderStatus(str, Enum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    ON_HOLD = "ON_HOLD"
    PROCESSING = "PROCESSING"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    PARTIALLY_RETURNED = "PARTIALLY_RETURNED"
    RETURNED = "RETURNED"
    CANCELLED = "CANCELLED"


S = OrderStatus

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING: frozenset({S.CONFIRMED, S.ON_HOLD, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.PROCESSING, S.PARTIALLY_SHIPPED, S.SHIPPED, S.ON_HOLD, S.CANCELLED}),
    S.PROCESSING: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED, S.ON_HOLD, S.CANCELLED}),
    S.PARTIALLY_SHIPPED: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED, S.ON_HOLD}),
    # Leaving ON_HOLD goes back to `held_from` (checked in `release_target`) or cancels.
    S.ON_HOLD: frozenset({S.PENDING, S.CONFIRMED, S.PROCESSING, S.PARTIALLY_SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset({S.PARTIALLY_RETURNED, S.RETURNED}),
    S.PARTIALLY_RETURNED: frozenset({S.PARTIALLY_RETURNED, S.RETURNED}),
    S.RETURNED: frozenset(),
    S.CANCELLED: frozenset(),
}

HOLDABLE = frozenset({S.PENDING, S.CONFIRMED, S.PROCESSING, S.PARTIALLY_SHIPPED})


def check_transition(current: str, target: OrderStatus, *, field: list[str] | None = None) -> None:
    if target not in TRANSITIONS[OrderStatus(current)]:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"An order that is {current} cannot become {target.value}.",
            field or ["input", "orderId"],
        )


def release_target(current: str, held_from: str | None) -> OrderStatus:
    if current != S.ON_HOLD or held_from is None:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"Only an order on hold can be released (it is {current}).", ["input", "orderId"])
    return OrderStatus(held_from)
