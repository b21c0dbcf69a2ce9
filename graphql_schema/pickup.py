"""Click-and-collect (issue 19): pickup points' opening hours, the delivery method of a placement, and the
markReadyForPickup / collectOrder payloads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from graphql_schema.common import UserError
from graphql_schema.enums import DeliveryType, Weekday

if TYPE_CHECKING:
    from graphql_schema.orders import Order

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.orders")]


@strawberry.type(description="One opening range of a pickup point on one day, in the warehouse's local time (Warehouse.timezone).")
class OpeningHours:
    day: Weekday = strawberry.field(description="The day of the week.")
    opens: str = strawberry.field(description="When it opens, HH:MM (24-hour clock).")
    closes: str = strawberry.field(description="When it closes, HH:MM; always after `opens`.")


@strawberry.input(description="One opening range of a pickup point on one day, local time.")
class OpeningHoursInput:
    day: Weekday = strawberry.field(description="The day of the week; at most 3 ranges a day (LIMIT_EXCEEDED), not overlapping "
                                    "(INVALID_INPUT).")
    opens: str = strawberry.field(description="HH:MM from 00:00 to 23:59 (INVALID_INPUT otherwise).")
    closes: str = strawberry.field(description="HH:MM from 00:00 to 23:59, after `opens` (INVALID_INPUT otherwise).")


@strawberry.input(description="How the customer receives the order. Absent: SHIP.")
class DeliveryMethodInput:
    type: DeliveryType = strawberry.field(description="SHIP (by carrier to the shipping address) or PICKUP (collected at a pickup point).")
    warehouse_code: str | None = strawberry.field(
        default=None, description="PICKUP only (INVALID_INPUT with SHIP or missing for PICKUP): the code of a warehouse that is a pickup "
                                  "point (INVALID_INPUT otherwise) serving the order's channel (INVALID_INPUT otherwise); NOT_FOUND when no "
                                  "warehouse has it. Its free units are reserved there; what it lacks is reserved at other warehouses "
                                  "serving the channel and transferred to it (Shipment.transferTo); OUT_OF_STOCK only when they "
                                  "all together lack units.")


@strawberry.input(description="A click-and-collect order handed over at its pickup point.")
class CollectOrderInput:
    order_id: strawberry.ID = strawberry.field(description="The order's global ID; a malformed or foreign ID is NOT_FOUND.")
    pickup_code: str = strawberry.field(description="The code the customer shows (6 digits, from their tracking view).")


@strawberry.type(description="What collectOrder answers.")
class CollectOrderPayload:
    order: OrderRef | None = strawberry.field(description="The order, DELIVERED; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused; empty on success. A wrong pickupCode (INVALID_INPUT) "
                                                    "is the one refusal that writes something: it counts the attempt.")
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced (COLLECTED, or the billing "
                                                "events after it).")
