"""Planner mapping of the public tracking view: the root `trackOrder(number, email)` -> OrderTracking, as
resolvers/tracking.py builds it (app/orders/tracking.py decides who may see what): the order's number, status and
dates, its shipments (by shippedAt, as the loader) and its public timeline (by seq) with actor and data hidden."""

from __future__ import annotations

from typing import Any

from app.orders import tracking
from resolvers.planner import (
    fulfilment,  # noqa: F401  (registers Shipment)
    orders,  # noqa: F401  (registers OrderEvent)
)
from resolvers.planner.core import (
    ROOTS,
    Bind,
    Compiler,
    Fallback,
    Selected,
    TypeMapping,
    Value,
    column,
    iso_date,
    iso_datetime,
    literal,
    register,
    root_row,
)

# resolvers.tracking.PublicEvent: the event without its actor and data
PUBLIC_EVENTS = ("(SELECT order_id, seq, type, status, previous_status, occurred_at, NULL::varchar AS actor, NULL::jsonb AS data "
                 "FROM order_events)")
_PUBLIC_TYPES = ", ".join(literal(t.value) for t in sorted(tracking.PUBLIC_EVENT_TYPES))


def tracking_shipments(c: Compiler, alias: Any, selected: Selected) -> Value:
    """fulfilment.order_shipments: visible in the public view (OrderTracking.shipments is TARGET_OR_PUBLIC)."""
    return c.rows(selected, "shipments", lambda shipment: f"{shipment}.order_id = {alias}.id AND {shipment}.transfer_to_warehouse_id IS NULL",
                  lambda shipment: f"{shipment}.shipped_at")  # transfers (issue 19) are internal: not in the public view


def tracking_events(c: Compiler, alias: Any, selected: Selected) -> Value:
    """tracking.is_public_event over the timeline by seq."""
    return c.rows(selected, PUBLIC_EVENTS,
                  lambda event: f"{event}.order_id = {alias}.id AND ({event}.type IN ({_PUBLIC_TYPES}) "
                                f"OR {event}.previous_status IS DISTINCT FROM {event}.status)",
                  lambda event: f"{event}.seq", "OrderEvent")


register(TypeMapping("OrderTracking", {
    "number": column("number"),
    "status": column("status"),
    "placedAt": column("placed_at", iso_datetime),
    "estimatedDeliveryDate": column("estimated_delivery_date", iso_date),
    "shipments": tracking_shipments,
    "events": tracking_events,
}, table="orders"))


def _pair(bind: Bind) -> tuple[str, str]:
    """app.orders.tracking.find_tracked_order's normalised pair; an empty or too long value answers null without a query
    there: left to the ordinary path."""
    number, email = bind.args["number"].strip(), bind.args["email"].strip().lower()
    if not number or not email or len(number) > tracking.MAX_NUMBER_LENGTH or len(email) > tracking.MAX_EMAIL_LENGTH:
        raise Fallback()
    return number, email


def track_order_root(c: Compiler, selected: Selected) -> str:
    number = c.param(lambda bind: _pair(bind)[0], "varchar")
    email = c.param(lambda bind: _pair(bind)[1], "varchar")
    return root_row(c, selected, "orders", lambda order: f"{order}.number = {number} AND {order}.email = {email}", "OrderTracking")


ROOTS["Query.trackOrder"] = track_order_root
