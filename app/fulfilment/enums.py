"""The fulfilment domain's vocabulary: where a parcel stands."""

from __future__ import annotations

from enum import StrEnum


class ShipmentStatus(StrEnum):
    """READY when it leaves the warehouse; the rest are what carriers report (app/fulfilment/tracking.py)."""

    READY = "READY"
    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    EXCEPTION = "EXCEPTION"
    RETURNED_TO_SENDER = "RETURNED_TO_SENDER"
