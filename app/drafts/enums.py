"""The draft-order domain's vocabulary."""

from __future__ import annotations

from enum import StrEnum


class DraftOrderStatus(StrEnum):
    """Where a draft stands: only an OPEN draft changes or completes; COMPLETED and EXPIRED are final."""

    OPEN = "OPEN"
    COMPLETED = "COMPLETED"
    EXPIRED = "EXPIRED"
