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
    S.CONFIRMED: frozenset({S.PROCESSING, S.PARTIALLY_SHIPPED, S.SHIPPED, S.ON_HOLD, S.CANCELLED, S.READY_FOR_PICKUP}),
    S.PROCESSING: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED, S.ON_HOLD, S.CANCELLED, S.READY_FOR_PICKUP}),
    S.PARTIALLY_SHIPPED: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED, S.ON_HOLD}),
    # Leaving ON_HOLD goes back to `held_from` (checked in `release_target`) or cancels.
    S.ON_HOLD: frozenset({S.PENDING, S.CONFIRMED, S.PROCESSING, S.PARTIALLY_SHIPPED, S.CANCELLED, S.READY_FOR_PICKUP}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset({S.PARTIALLY_RETURNED, S.RETURNED}),
    S.PARTIALLY_RETURNED: frozenset({S.PARTIALLY_RETURNED, S.RETURNED}),
    S.RETURNED: frozenset(),
    S.CANCELLED: frozenset(),
    # pickup, issue 19: a click-and-collect order waiting at its pickup point (markReadyForPickup from CONFIRMED or
    # PROCESSING); collectOrder delivers it, or it is cancelled (units released) or held (and released back here)
    S.READY_FOR_PICKUP: frozenset({S.DELIVERED, S.CANCELLED, S.ON_HOLD}),
}

HOLDABLE = frozenset({S.PENDING, S.CONFIRMED, S.PROCESSING, S.PARTIALLY_SHIPPED, S.READY_FOR_PICKUP})

# alerts, issue 19 -- the RTS path: a parcel returned to sender puts its units back and the order back to where it can
# be re-shipped (or, with nothing else out, cancelled and refunded). Only app/fulfilment/returns_to_sender.py takes these
# moves (`check_returned_to_sender`); they are not in TRANSITIONS, so no staff action (confirmOrder on a SHIPPED
# order) can take them without the parcel actually coming back.
RETURNED_TO_SENDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.SHIPPED: frozenset({S.CONFIRMED, S.PARTIALLY_SHIPPED}),
    S.PARTIALLY_SHIPPED: frozenset({S.CONFIRMED, S.PARTIALLY_SHIPPED}),
}


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    if target not in TRANSITIONS[current]:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {current} cannot become {target}.", ("order_id",))


def release_target(current: OrderStatus, held_from: OrderStatus | None) -> OrderStatus:
    if current != S.ON_HOLD or held_from is None:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"Only an order on hold can be released (it is {current}).", ("order_id",))
    return held_from


def check_returned_to_sender(current: OrderStatus, target: OrderStatus) -> None:
    """alerts, issue 19 (the RTS path): the move a returned-to-sender parcel makes."""
    if target not in RETURNED_TO_SENDER_TRANSITIONS.get(current, frozenset()):
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"A parcel returned to sender cannot move an order that is {current} to {target}.", ("order_id",))
