"""Made-to-order production stages (issue 19): advanceProduction's input and payload."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from graphql_schema.common import UserError
from graphql_schema.enums import ProductionStage

if TYPE_CHECKING:
    from graphql_schema.orders import Order, OrderLine

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.orders")]
OrderLineRef = Annotated["OrderLine", strawberry.lazy("graphql_schema.orders")]


@strawberry.input(description="Move one made-to-order line to its next production stage.")
class AdvanceProductionInput:
    order_line_id: strawberry.ID = strawberry.field(description="The made-to-order line (OrderLine.id) whose stage moves.")
    stage: ProductionStage = strawberry.field(
        description="The stage to move to: the next one (QUEUED -> IN_PRODUCTION -> QUALITY_CHECK -> READY), or IN_PRODUCTION from QUALITY_CHECK (rework)."
    )


@strawberry.type(description="The result of advanceProduction: the line and its order (with the recomputed estimatedDeliveryDate), or userErrors.")
class AdvanceProductionPayload:
    order_line: OrderLineRef | None = strawberry.field(description="The line with its new productionStage; null when refused.")
    order: OrderRef | None = strawberry.field(description="The line's order, its delivery promise recomputed; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was written; empty on success.")
    event_cursor: str | None = strawberry.field(
        description="Cursor of the last event this write produced (PRODUCTION_STAGE_CHANGED, or the DELIVERY_ESTIMATE_CHANGED after it)."
    )
