"""The public tracking view and the live status-change message."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from graphql_schema.catalog import Warehouse
from graphql_schema.enums import OrderStatus
from graphql_schema.fulfilment import Shipment
from graphql_schema.orders import Order, OrderEvent
from resolvers import backorders as resolve_backorders  # backorders visibility, issue 19
from resolvers.tracking import TrackingView
from resolvers.types import Info


@strawberry.type(description="The limited view a customer sees on a public tracking page.")
class OrderTracking:
    number: str = strawberry.field(description="The order number.")
    status: OrderStatus = strawberry.field(description="Where the order stands.")
    placed_at: datetime = strawberry.field(description="When it was placed (UTC).")
    estimated_delivery_date: date | None = strawberry.field(description="The day its last parcel should arrive; null when no estimate can "
                                                            "be given.")
    shipments: list[Shipment] = strawberry.field(description="Its parcels with carrier, tracking and estimate (their `order` still needs "
                                                 "orders:read; packingSlipUrl is null without shipments:read).")
    events: list[OrderEvent] = strawberry.field(description="The customer's part of the timeline, oldest first: status changes, shipping, "
                                                "and the return and case steps; no actor and no data.")
    # pickup, issue 19
    pickup_code: str | None = strawberry.field(default=None, description="The code to show at the pickup point's counter (collectOrder "
                                               "checks it): set only while the order is READY_FOR_PICKUP; null otherwise.")
    pickup_point: Warehouse | None = strawberry.field(default=None, description="A click-and-collect order's pickup point (its name, "
                                                      "opening hours and time zone); null for a shipped order.")
    # quotes, issue 19
    shipping_method: str | None = strawberry.field(default=None, description="The shipping method the order is shipped by, as chosen at "
                                                   "placement (\"<CARRIER>:<SERVICE>\", e.g. SEUR:EXPRESS); null for a pickup order and when "
                                                   "no shipping rates applied. Its price stays out of this view.")

    # backorders visibility, issue 19 (the customer informed): whether stock is awaited, never which lines or receipts
    @strawberry.field(description="true while some of the order's units wait for stock expected at a warehouse (a backordered or "
                                  "pre-ordered product); estimatedDeliveryDate then counts from when that stock is expected, and a "
                                  "BACKORDER_ALLOCATED event appears when it arrives. Which lines, how many units and which receipts "
                                  "stay internal.")
    async def awaiting_stock(root: TrackingView, info: Info) -> bool:
        return await resolve_backorders.order_awaiting_stock(root.order_id, info)


@strawberry.type(description="One status change of an order, as orderStatusChanged delivers it.")
class OrderStatusChange:
    cursor: str = strawberry.field(description="The change's event cursor: resubscribe with `after: cursor` to continue after it.")
    order: Order = strawberry.field(description="The order, as it is when the message is sent.")
    previous_status: OrderStatus | None = strawberry.field(description="The status before the change; null for a placement.")
    status: OrderStatus = strawberry.field(description="The status after the change.")
    occurred_at: datetime = strawberry.field(description="When the change was written (UTC).")
