"""The webhook vocabularies."""

from __future__ import annotations

from enum import StrEnum


class WebhookDeliveryStatus(StrEnum):
    """Where one event's delivery to one endpoint stands.

    PENDING -> DELIVERING (claimed by one worker, under a lease) -> SUCCEEDED, or RETRYING (a later
    attempt is due at next_attempt_at) -> ... -> DEAD (too many attempts or too old). A replay puts
    deliveries back to PENDING (same row, same webhook-id)."""

    PENDING = "PENDING"
    DELIVERING = "DELIVERING"
    RETRYING = "RETRYING"
    SUCCEEDED = "SUCCEEDED"
    DEAD = "DEAD"


# Deliveries that still hold back later events of the same order to the same endpoint.
OPEN_STATUSES = (WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.RETRYING, WebhookDeliveryStatus.DELIVERING)
