"""Every order status and the transitions between them, in one place.

Shipments, deliveries and returns move an order too; they call
`check_transition` like the staff actions do, so no code path can skip it.
"""

from __future__ import annotations

from app.errors import DomainError, ErrorCode
from app.orders.enums import OrderStatus

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


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    if target not in TRANSITIONS[current]:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {current} cannot become {target}.", ("order_id",))


def release_target(current: OrderStatus, held_from: OrderStatus | None) -> OrderStatus:
    if current != S.ON_HOLD or held_from is None:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"Only an order on hold can be released (it is {current}).", ("order_id",))
    return held_from
