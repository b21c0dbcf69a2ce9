"""The public tracking view and the live status-change message."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from graphql_schema.enums import OrderStatus
from graphql_schema.fulfilment import Shipment
from graphql_schema.orders import Order, OrderEvent


@strawberry.type(description="The limited view a customer sees on a public tracking page.")
class OrderTracking:
    number: str
    status: OrderStatus
    placed_at: datetime
    estimated_delivery_date: date | None
    shipments: list[Shipment]
    events: list[OrderEvent]


@strawberry.type
class OrderStatusChange:
    cursor: str
    order: Order
    previous_status: OrderStatus | None
    status: OrderStatus
    occurred_at: datetime
