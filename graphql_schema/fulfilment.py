"""Pick lists, shipments, carriers and tracking."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

import models
import models.fulfilment
from app.fulfilment.tracking import Reported
from graphql_schema.common import Node, UserError
from graphql_schema.enums import ShipmentStatus
from resolvers import fulfilment as resolve

if TYPE_CHECKING:
    from graphql_schema.catalog import Warehouse
    from graphql_schema.orders import Order

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.orders")]
WarehouseRef = Annotated["Warehouse", strawberry.lazy("graphql_schema.catalog")]


@strawberry.type
class Carrier:
    code: str
    name: str
    tracking_url_template: str | None


@strawberry.type
class TrackingEvent:
    status: ShipmentStatus
    occurred_at: datetime
    location: str | None
    description: str | None


@strawberry.type
class Shipment(Node):
    carrier: str
    tracking_number: str | None
    tracking_url: str | None
    status: ShipmentStatus
    shipped_at: datetime | None
    estimated_delivery_date: date | None
    delivered_at: datetime | None
    order: models.Order | None = strawberry.field(resolver=resolve.shipment_order, graphql_type=OrderRef)
    warehouse: models.Warehouse | None = strawberry.field(resolver=resolve.shipment_warehouse, graphql_type=WarehouseRef)
    events: list[Reported] = strawberry.field(
        resolver=resolve.shipment_events, graphql_type=list[TrackingEvent], description="Sorted by time, whatever order the carrier reported them in."
    )
    packing_slip_url: str | None = strawberry.field(
        resolver=resolve.shipment_packing_slip_url, description="authorised download of the order's packing slip (PDF)"
    )


@strawberry.type
class PickListLine:
    sku: str
    product_name: str
    quantity: int
    order_number: str


@strawberry.type
class PickList(Node):
    number: str
    created_at: datetime
    warehouse: models.Warehouse | None = strawberry.field(resolver=resolve.pick_list_warehouse, graphql_type=WarehouseRef)
    lines: list[models.fulfilment.PickListLine] = strawberry.field(resolver=resolve.pick_list_lines, graphql_type=list[PickListLine])
    csv_url: str = strawberry.field(resolver=resolve.pick_list_csv_url, description="authorised download")


@strawberry.input
class ShipmentLineInput:
    sku: str
    quantity: int


@strawberry.input
class CreateShipmentInput:
    order_id: strawberry.ID
    warehouse_code: str
    carrier: str
    tracking_number: str | None = None
    lines: list[ShipmentLineInput] | None = strawberry.field(default=None, description="absent: everything still to ship from that warehouse")


@strawberry.input
class CreatePickListInput:
    warehouse_code: str
    order_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="absent: every confirmed order with lines to pick there")


@strawberry.input
class TrackingEventInput:
    shipment_id: strawberry.ID
    status: ShipmentStatus
    occurred_at: datetime | None = None
    location: str | None = None
    description: str | None = None


@strawberry.type
class ShipmentPayload:
    shipment: Shipment | None
    user_errors: list[UserError]
    event_cursor: str | None = strawberry.field(description="Cursor of the last order event this write produced.")


@strawberry.type
class PickListPayload:
    pick_list: PickList | None
    user_errors: list[UserError]
    event_cursor: str | None = strawberry.field(description="Cursor of the last order event this write produced.")
