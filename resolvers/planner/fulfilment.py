"""Planner mappings of fulfilment: Shipment, TrackingEvent, Warehouse; Order.shipments; the Shipment node.
Each expression reproduces graphql_schema/fulfilment.py + catalog.py (Warehouse) and resolvers/fulfilment.py."""

from __future__ import annotations

from typing import Any

from app.fulfilment.tracking import RANK
from resolvers.fulfilment import READ
from resolvers.planner import orders
from resolvers.planner.core import (
    NODE_ROOTS,
    Compiler,
    Selected,
    TypeMapping,
    Unsupported,
    column,
    global_id,
    iso_date,
    iso_datetime,
    json_list,
    literal,
    node_id,
    register,
)

register(TypeMapping("Warehouse", {
    "id": node_id("Warehouse"),
    "code": column("code"),
    "name": column("name"),
    "channels": column("channels", lambda expr: f"to_json({expr})"),
}, table="warehouses"))

register(TypeMapping("TrackingEvent", {
    "status": column("status"),
    "occurredAt": column("occurred_at", iso_datetime),
    "location": column("location"),
    "description": column("description"),
}, table="tracking_events"))

# app.fulfilment.tracking.in_time_order: by time, then the further along first... last (RANK ascending)
_RANK = "CASE {alias}.status " + " ".join(f"WHEN {literal(status.value)} THEN {rank}" for status, rank in RANK.items()) + " ELSE 0 END"


def shipment_events(c: Compiler, alias: Any, selected: Selected) -> str:
    event = c.alias("te")
    return json_list(c.child(selected, event), f"FROM tracking_events {event} WHERE {event}.shipment_id = {alias}.id",
                     f"{event}.occurred_at, {_RANK.format(alias=event)}")


def shipment_warehouse(c: Compiler, alias: Any, selected: Selected) -> str:
    warehouse = c.alias("w")
    return f"(SELECT {c.child(selected, warehouse)} FROM warehouses {warehouse} WHERE {warehouse}.id = {alias}.warehouse_id)"


def shipment_order(c: Compiler, alias: Any, selected: Selected) -> str:
    if not c.has("orders:read"):
        raise Unsupported("Shipment.order without orders:read")  # the ordinary path raises the refusal
    order = c.alias("o")
    return f"(SELECT {c.child(selected, order)} FROM orders {order} WHERE {order}.id = {alias}.order_id)"


def packing_slip_url(c: Compiler, alias: Any, selected: Selected) -> str:
    if not c.has(READ):
        return "NULL::text"
    return f"'/documents/orders/' || {global_id('Order', f'{alias}.order_id')} || '/packing-slip.pdf'"


register(TypeMapping("Shipment", {
    "id": node_id("Shipment"),
    "carrier": column("carrier_code"),
    "trackingNumber": column("tracking_number"),
    "trackingUrl": column("tracking_url"),
    "status": column("status"),
    "shippedAt": column("shipped_at", iso_datetime),
    "estimatedDeliveryDate": column("estimated_delivery_date", iso_date),
    "deliveredAt": column("delivered_at", iso_datetime),
    "order": shipment_order,
    "warehouse": shipment_warehouse,
    "events": shipment_events,
    "packingSlipUrl": packing_slip_url,
}, table="shipments"))


def order_shipments(c: Compiler, alias: Any, selected: Selected) -> str:
    """resolvers.fulfilment.order_shipments (guarded: needs shipments:read), by shippedAt."""
    if not c.has(READ):
        raise Unsupported("Order.shipments without shipments:read")
    shipment = c.alias("s")
    return json_list(c.child(selected, shipment), f"FROM shipments {shipment} WHERE {shipment}.order_id = {alias}.id", f"{shipment}.shipped_at")


orders.ORDER.fields["shipments"] = order_shipments
NODE_ROOTS["Shipment"] = "shipments"
NODE_ROOTS["Warehouse"] = "warehouses"
