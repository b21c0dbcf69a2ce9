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


@strawberry.type(description="A carrier a shipment can go with.")
class Carrier:
    code: str = strawberry.field(description="Its code (upper case): the `carrier` of createShipment.")
    name: str = strawberry.field(description="Its display name.")
    tracking_url_template: str | None = strawberry.field(description="An https URL with {tracking_number} where the parcel's tracking "
                                                         "number goes; null when the carrier has no tracking page.")


@strawberry.type(description="One report of a carrier about a parcel.")
class TrackingEvent:
    status: ShipmentStatus = strawberry.field(description="What the carrier reported.")
    occurred_at: datetime = strawberry.field(description="When it happened, as reported (UTC).")
    location: str | None = strawberry.field(description="Where, as reported; optional.")
    description: str | None = strawberry.field(description="The carrier's words; optional.")


@strawberry.type(description="A parcel that left one warehouse with one carrier. Needs shipments:read.")
class Shipment(Node):
    carrier: str = strawberry.field(description="The carrier's code.")
    tracking_number: str | None = strawberry.field(description="The carrier's tracking number; null when none was given.")
    tracking_url: str | None = strawberry.field(description="The carrier's tracking page for this parcel; null without a tracking number "
                                                "or template.")
    status: ShipmentStatus = strawberry.field(description="Derived from the carrier's reports, sorted by their time.")
    shipped_at: datetime | None = strawberry.field(description="When it was handed to the carrier (UTC).")
    estimated_delivery_date: date | None = strawberry.field(description="The day it should arrive: the carrier's transit from the "
                                                            "warehouse, moved by reports; null once returned to sender.")
    delivered_at: datetime | None = strawberry.field(description="When it was delivered (UTC), from the DELIVERED report; null before.")
    order: models.Order | None = strawberry.field(resolver=resolve.shipment_order, graphql_type=OrderRef,
                                                  description="The order it ships. Needs orders:read.")
    warehouse: models.Warehouse | None = strawberry.field(resolver=resolve.shipment_warehouse, graphql_type=WarehouseRef,
                                                          description="Where it left from.")
    events: list[Reported] = strawberry.field(
        resolver=resolve.shipment_events, graphql_type=list[TrackingEvent], description="Sorted by time, whatever order the carrier reported them in."
    )
    packing_slip_url: str | None = strawberry.field(
        resolver=resolve.shipment_packing_slip_url, description="authorised download of the order's packing slip (PDF)"
    )
    # transfers, issue 19
    transfer_to: models.Warehouse | None = strawberry.field(
        resolver=resolve.shipment_transfer_to, graphql_type=WarehouseRef | None,
        description="The click-and-collect pickup point this shipment transfers the order's units to (not a parcel to the customer; "
                    "hidden from the public tracking view); null for a parcel to the customer.",
    )


@strawberry.type(description="Units of one SKU to pick for one order.")
class PickListLine:
    sku: str = strawberry.field(description="The SKU to pick.")
    product_name: str = strawberry.field(description="The product's name, as ordered.")
    quantity: int = strawberry.field(description="How many units.")
    order_number: str = strawberry.field(description="The order they are for.")


@strawberry.type(description="A warehouse's picking document; every unit on it is on no other pick list. Needs shipments:read.")
class PickList(Node):
    number: str = strawberry.field(description="Its number, e.g. \"PL-000042\".")
    created_at: datetime = strawberry.field(description="When it was issued (UTC).")
    warehouse: models.Warehouse | None = strawberry.field(resolver=resolve.pick_list_warehouse, graphql_type=WarehouseRef,
                                                          description="The warehouse that picks it.")
    lines: list[models.fulfilment.PickListLine] = strawberry.field(resolver=resolve.pick_list_lines, graphql_type=list[PickListLine],
                                                                   description="What to pick, in list order.")
    csv_url: str = strawberry.field(resolver=resolve.pick_list_csv_url, description="The path of its CSV: GET it with an API key with shipments:read.")


@strawberry.input(description="Units of one SKU to ship.")
class ShipmentLineInput:
    sku: str = strawberry.field(description="A SKU on the order (NOT_FOUND otherwise).")
    quantity: int = strawberry.field(description="1 to 10,000, and at most what is reserved in the warehouse and not shipped yet "
                                     "(INVALID_INPUT).")


@strawberry.input(description="A parcel to ship.")
class CreateShipmentInput:
    order_id: strawberry.ID = strawberry.field(description="The order's global ID.")
    warehouse_code: str = strawberry.field(description="The code of the warehouse it leaves from.")
    carrier: str = strawberry.field(description="An active carrier's code, any case (NOT_FOUND otherwise). Blank (\"\"): the carrier of the "
                                                "order's shippingMethod (NOT_FOUND if it is no longer active), else the default carrier.")
    tracking_number: str | None = strawberry.field(default=None, description="The carrier's tracking number; at most 100 characters.")
    lines: list[ShipmentLineInput] | None = strawberry.field(default=None, description="absent: everything still to ship from that warehouse")


@strawberry.input(description="A pick list to issue.")
class CreatePickListInput:
    warehouse_code: str = strawberry.field(description="The code of the warehouse that picks.")
    order_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="absent: every confirmed order with lines to pick there")


@strawberry.input(description="A carrier's report about a parcel.")
class TrackingEventInput:
    shipment_id: strawberry.ID = strawberry.field(description="The shipment's global ID.")
    status: ShipmentStatus = strawberry.field(description="IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, EXCEPTION or RETURNED_TO_SENDER "
                                              "(READY is INVALID_INPUT).")
    occurred_at: datetime | None = strawberry.field(default=None, description="When it happened; absent: now. At most an hour ahead "
                                                    "(INVALID_INPUT).")
    location: str | None = strawberry.field(default=None, description="Where; at most 200 characters.")
    description: str | None = strawberry.field(default=None, description="The carrier's words; at most 500 characters.")


@strawberry.type(description="What a shipment mutation answers.")
class ShipmentPayload:
    shipment: Shipment | None = strawberry.field(description="The shipment after the change; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing was written); empty on success.")
    event_cursor: str | None = strawberry.field(description="Cursor of the last order event this write produced.")


@strawberry.type(description="What createPickList answers.")
class PickListPayload:
    pick_list: PickList | None = strawberry.field(description="The pick list issued; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing was written); empty on success.")
    event_cursor: str | None = strawberry.field(description="Cursor of the last order event this write produced.")
