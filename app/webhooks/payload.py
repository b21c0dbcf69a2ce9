"""The body of one webhook: a pure function of the event, its order and its place among the order's events.

Built once per event (the same bytes for every endpoint it goes to), shaped per Standard Webhooks:
`{"type", "timestamp", "data"}`. `data.eventId` (evt_<cursor>) is the same for every endpoint, retry and
replay; `data.sequence` numbers the order's events 1, 2, 3, ... so a receiver sees a gap (a DEAD delivery
it may replay) and can drop an older event that arrives after a newer one.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from app.ids import to_global_id


def order_global_id(order_id: uuid.UUID) -> str:
    """The order's GraphQL global ID (app/ids.py, as the API gives it)."""
    return to_global_id("Order", order_id)


def event_id(seq: int) -> str:
    return f"evt_{seq}"


def webhook_id(delivery_id: uuid.UUID) -> str:
    """The `webhook-id` header: the delivery row's id, kept on every retry and replay."""
    return f"msg_{delivery_id.hex}"


def build(*, seq: int, event_type: str, status: str, previous_status: str | None, channel: str, occurred_at: datetime,
          data: dict[str, Any] | None, order_id: uuid.UUID, order_number: str, sequence: int) -> str:
    """The JSON text that is signed and POSTed (compact, keys in a fixed order)."""
    body = {
        "type": event_type,
        "timestamp": occurred_at.isoformat(),
        "data": {
            "eventId": event_id(seq),
            "order": {"id": order_global_id(order_id), "number": order_number},
            "type": event_type,
            "status": status,
            "previousStatus": previous_status,
            "cursor": str(seq),
            "sequence": sequence,
            "channel": channel,
            "occurredAt": occurred_at.isoformat(),
            "data": data or {},
        },
    }
    return json.dumps(body, separators=(",", ":"), default=str)
