"""The returns domain's vocabularies."""

from __future__ import annotations

from enum import StrEnum


class ReturnStatus(StrEnum):
    """REQUESTED -> APPROVED -> RECEIVED, or REQUESTED -> REJECTED."""

    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    RECEIVED = "RECEIVED"


class ReturnResolution(StrEnum):
    REFUND = "REFUND"
    EXCHANGE = "EXCHANGE"


class InspectionResult(StrEnum):
    RESTOCK = "RESTOCK"
    WRITE_OFF = "WRITE_OFF"
