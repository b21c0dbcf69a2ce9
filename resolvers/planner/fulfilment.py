"""Planner mappings of fulfilment: Shipment, TrackingEvent, Warehouse; Order.shipments; the Shipment node.
Each expression reproduces graphql_schema/fulfilment.py + catalog.py (Warehouse) and resolvers/fulfilment.py."""

from __future__ import annotations

from typing import Any

from app.fulfilment.tracking import RANK
from models.fulfilment import Shipment
from resolvers import pagination
from resolvers.fulfilment import READ
from resolvers.planner import orders
from resolvers.planner.connections import keyset_bound, keyset_connection, time_key, uuid_key
from resolvers.planner.core import (
    NODE_ROOTS,
    ROOTS,
    Compiler,
    Selected,
    TypeMapping,
    Unsupported,
    Value,
    column,
    global_id,
    iso_date,
    iso_datetime,
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


def shipment_events(c: Compiler, alias: Any, selected: Selected) -> Value:
    return c.rows(selected, "tracking_events", lambda event: f"{event}.shipment_id = {alias}.id",
                  lambda event: f"{event}.occurred_at, {_RANK.format(alias=event)}")


def shipment_warehouse(c: Compiler, alias: Any, selected: Selected) -> Value:
    return c.row(selected, "warehouses", lambda warehouse: f"{warehouse}.id = {alias}.warehouse_id")


def shipment_order(c: Compiler, alias: Any, selected: Selected) -> Value:
    if not c.has("orders:read"):
        raise Unsupported("Shipment.order without orders:read")  # the ordinary path raises the refusal
    return c.row(selected, "orders", lambda order: f"{order}.id = {alias}.order_id")


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


def order_shipments(c: Compiler, alias: Any, selected: Selected) -> Value:
    """resolvers.fulfilment.order_shipments (guarded: needs shipments:read), by shippedAt."""
    if not c.has(READ):
        raise Unsupported("Order.shipments without shipments:read")
    return c.rows(selected, "shipments", lambda shipment: f"{shipment}.order_id = {alias}.id", lambda shipment: f"{shipment}.shipped_at")


def shipments_root(c: Compiler, selected: Selected) -> str:
    """resolvers.fulfilment.shipments: newest first, keyset (shippedAt, id); `order_id` is the decoded orderId (the
    resolver refused a malformed one already)."""
    by_order = c.shape("shipments.order", lambda bind: bind.args.get("order_id") is not None)
    conditions = [f"order_id = {c.param(lambda bind: bind.args['order_id'], 'uuid')}"] if by_order else []
    return keyset_connection(c, selected, table="shipments", node_type="Shipment", keys=(time_key("shipped_at"), uuid_key()),
                             bound=keyset_bound((pagination.time_key(Shipment.shipped_at), pagination.uuid_key(Shipment.id))),
                             descending=True, conditions=conditions)


orders.ORDER.fields["shipments"] = order_shipments
ROOTS["Query.shipments"] = shipments_root
NODE_ROOTS["Shipment"] = "shipments"
NODE_ROOTS["Warehouse"] = "warehouses"
