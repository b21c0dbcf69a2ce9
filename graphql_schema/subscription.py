from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from app.alerts.enums import AlertKind
from graphql_schema.alerts import Alert  # alerts, issue 19
from graphql_schema.catalog import StockLevel
from graphql_schema.common import TrackedEmail, TrackedNumber
from graphql_schema.enums import SalesChannel
from graphql_schema.tracking import OrderStatusChange, OrderTracking
from resolvers import alerts, live
from resolvers.types import Info


@strawberry.type(description="Live updates, over WebSocket (graphql-transport-ws) or HTTP (multipart or SSE). Each field needs the scope it "
                  "names; trackOrder is public.")
class Subscription:
    @strawberry.subscription(
        graphql_type=OrderStatusChange,
        description="Every status change, in cursor order (the same for every subscriber; one order's changes in the order they "
        "committed). Filters combine; none = all orders the caller may see. `after` replays what was missed since that cursor, "
        "then goes live, with no gap and no duplicate. Cursors increase but are not consecutive: rely on this, not on n + 1."
    )
    async def order_status_changed(
        self, info: Info,
        order_id: Annotated[strawberry.ID | None, strawberry.argument(description="Only this order's changes (its global ID; a malformed "
                                                                                  "one is INVALID_INPUT).")] = None,
        channel: Annotated[SalesChannel | None, strawberry.argument(description="Only orders placed through this channel.")] = None,
        after: Annotated[str | None, strawberry.argument(description="A cursor (an event's, a mutation's eventCursor, a message's): replay "
                                                                    "every change after it first. Absent: from now on.")] = None,
    ) -> AsyncGenerator[object, None]:
        async for change in live.order_status_changed(info, order_id=order_id, channel=channel, after=after):
            yield change

    @strawberry.subscription(graphql_type=StockLevel, description="A stock level each time it changes (reservations, shipments, receipts, "
                             "write-offs, restocked returns). Needs stock:read.")
    async def stock_level_changed(
        self, info: Info, sku: Annotated[str | None, strawberry.argument(description="Only this SKU (exact).")] = None,
        warehouse_code: Annotated[str | None, strawberry.argument(description="Only this warehouse, by its code; an unknown one is a NOT_FOUND "
                                                                             "error.")] = None,
    ) -> AsyncGenerator[object, None]:
        async for level in live.stock_level_changed(info, sku=sku, warehouse_code=warehouse_code):
            yield level

    @strawberry.subscription(
        graphql_type=OrderTracking, description="Public, like the query of the same name: the current view at once, then again on every change."
    )
    async def track_order(self, info: Info, number: TrackedNumber, email: TrackedEmail) -> AsyncGenerator[object, None]:
        async for view in live.track_order(info, number=number, email=email):
            yield view

    # alerts, issue 19
    @strawberry.subscription(
        graphql_type=Alert, description="Every alert raised from now on, by any process's scanner, once each (a cleared alert is not "
        "pushed: read it with `alerts`). Needs orders:read; LOW_STOCK alerts only with stock:read too."
    )
    async def alert_raised(
        self, info: Info, kind: Annotated[AlertKind | None, strawberry.argument(description="Only this kind (LOW_STOCK needs stock:read).")] = None
    ) -> AsyncGenerator[object, None]:
        async for alert in alerts.alert_raised(info, kind=kind):
            yield alert
