"""The alerts' vocabulary: what kind of problem an alert reports (app/alerts/scanner.py defines each)."""

from __future__ import annotations

from enum import StrEnum


class AlertKind(StrEnum):
    """One cause an alert reports. Order kinds name the order; LOW_STOCK names a SKU in a warehouse."""

    UNPAID = "UNPAID"
    NOT_SHIPPED = "NOT_SHIPPED"
    TRACKING_SILENT = "TRACKING_SILENT"
    STUCK = "STUCK"
    LOW_STOCK = "LOW_STOCK"
    UNCOLLECTED = "UNCOLLECTED"  # pickup, issue 19: READY_FOR_PICKUP for OMS_ALERT_UNCOLLECTED_HOURS, or too many wrong codes
    RECEIPT_LATE = "RECEIPT_LATE"  # backorders visibility, issue 19: units an order waits for on a receipt past its expectedAt
