"""The inquiries domain's vocabulary."""

from __future__ import annotations

from enum import StrEnum


class InquiryStatus(StrEnum):
    """Whose turn it is: OPEN (waiting for staff), ANSWERED (waiting for the customer), CLOSED."""

    OPEN = "OPEN"
    ANSWERED = "ANSWERED"
    CLOSED = "CLOSED"
