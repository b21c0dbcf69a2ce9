"""Alerts (issue 19): problems found before customers notice them (app/alerts/scanner.py raises and clears them)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

import models
from app.alerts.enums import AlertKind
from graphql_schema.common import Node, UserError
from models.alerts import Alert as AlertRow
from resolvers import alerts as resolve
from resolvers.types import Info

if TYPE_CHECKING:
    from graphql_schema.catalog import Product, Warehouse
    from graphql_schema.orders import Order

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.orders")]
WarehouseRef = Annotated["Warehouse", strawberry.lazy("graphql_schema.catalog")]
ProductRef = Annotated["Product", strawberry.lazy("graphql_schema.catalog")]

strawberry.enum(AlertKind, description="What an alert reports. Each kind's threshold is a setting in hours (fractions allowed), "
                                       "except LOW_STOCK's, which is per product (setLowStockThreshold).")
_definition = AlertKind.__strawberry_definition__  # type: ignore[attr-defined]  # set by strawberry.enum
for _value in _definition.values:
    _value.description = {
        "UNPAID": "An order PENDING and unpaid (payment status UNPAID) for OMS_ALERT_UNPAID_HOURS since it was placed (default 48). "
                  "Cleared once paid, confirmed or cancelled.",
        "NOT_SHIPPED": "An order CONFIRMED, PROCESSING or PARTIALLY_SHIPPED (or on hold from one of them) whose delivery promise day "
                       "(estimatedDeliveryDate, Europe/Madrid) began OMS_ALERT_NOT_SHIPPED_HOURS ago or more (default 0) and that is not "
                       "fully shipped. Cleared once shipped, cancelled, or promised later.",
        "TRACKING_SILENT": "A shipment not yet DELIVERED or RETURNED_TO_SENDER with no carrier report recorded (or, with none yet, not "
                           "shipped) for OMS_ALERT_TRACKING_SILENT_HOURS (default 72). One alert per shipment; it names the order. "
                           "Cleared by the next report.",
        "STUCK": "An order CONFIRMED or PROCESSING with no status change for OMS_ALERT_STUCK_HOURS (default 48); an order whose open "
                 "units all wait on stock receipts counts from the latest receipt's expectedAt. Cleared when it moves.",
        "LOW_STOCK": "A warehouse's available units of a SKU (on hand - reserved) below the product's lowStockThreshold. One alert per "
                     "SKU and warehouse; it names both, and no order. Needs stock:read as well. Cleared when stock is back at the threshold.",
        "UNCOLLECTED": "A click-and-collect order READY_FOR_PICKUP for OMS_ALERT_UNCOLLECTED_HOURS since markReadyForPickup (default 168), "
                       "or with collectOrder locked after 5 wrong pickup codes (details.wrongCodes). Cleared once collected or cancelled.",
        "RECEIPT_LATE": "An order with units waiting on a stock receipt (a backorder or pre-order: OrderLine.quantityBackordered) that has "
                        "not arrived OMS_ALERT_RECEIPT_LATE_HOURS after its expectedAt (default 24): the delivery promise made from that "
                        "date is stale. One alert per order, naming it; details.receipts lists the late receipts (sku, warehouse, "
                        "expectedAt, units). Cleared once the units arrive (receiveStock) or the order is cancelled.",
    }[_value.name]


@strawberry.type(description="A problem found by the alert scanner, open until its cause goes away (then cleared, never reopened: "
                             "the cause returning raises a new alert). At most one open alert per kind and cause. Needs orders:read "
                             "(LOW_STOCK: stock:read too).")
class Alert(Node):
    kind: AlertKind = strawberry.field(description="What it reports.")
    raised_at: datetime = strawberry.field(description="When a scan first found the cause.")
    cleared_at: datetime | None = strawberry.field(description="When a scan found the cause gone; null while open.")

    @strawberry.field(description="True while the cause lasts (clearedAt is null).")
    def open(root: AlertRow) -> bool:
        return root.cleared_at is None

    @strawberry.field(description="The SKU of a LOW_STOCK alert (needs stock:read); null for the order kinds.")
    async def sku(root: AlertRow, info: Info) -> str | None:
        return await resolve.alert_sku(root, info)

    @strawberry.field(description="What the cause looked like when raised, by kind: orderNumber, status, placedAt, estimatedDeliveryDate, "
                                  "shipment, carrier, trackingNumber, lastHeardAt; for LOW_STOCK (needs stock:read) sku, warehouse, available, "
                                  "onHand, threshold.")
    async def details(root: AlertRow, info: Info) -> JSON | None:
        details = await resolve.alert_details(root, info)
        return None if details is None else JSON(details)

    @strawberry.field(graphql_type=OrderRef | None, description="The order it is about (TRACKING_SILENT: the shipment's order); null for LOW_STOCK.")
    async def order(root: AlertRow, info: Info) -> models.Order | None:
        return await resolve.alert_order(root, info)

    @strawberry.field(graphql_type=WarehouseRef | None, description="The warehouse of a LOW_STOCK alert; null for the order kinds.")
    async def warehouse(root: AlertRow, info: Info) -> models.Warehouse | None:
        return await resolve.alert_warehouse(root, info)


@strawberry.input(description="A product's low-stock threshold.")
class LowStockThresholdInput:
    sku: str = strawberry.field(description="The product's SKU.")
    threshold: int | None = strawberry.field(
        description="LOW_STOCK is raised for each warehouse whose available units (on hand - reserved) are below this (0 to 1000000); "
                    "null turns the alert off for this product."
    )


@strawberry.type(description="The result of setLowStockThreshold.")
class LowStockThresholdPayload:
    product: ProductRef | None = strawberry.field(description="The product with its new threshold; null on a user error.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was changed: NOT_FOUND (input.sku), INVALID_INPUT (input.threshold).")
