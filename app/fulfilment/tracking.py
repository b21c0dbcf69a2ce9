"""A shipment's state, derived from its promise and its tracking events sorted by time.

Carriers report late and out of order, so nothing here depends on arrival order: the state is
re-derived from the whole history each time an event is added.
- Status: the latest event's, except that DELIVERED and RETURNED_TO_SENDER are final; events
  timed after the first final one stay in the history without changing the status.
- Estimate: starts at the promise made when it shipped; IN_TRANSIT on a day past the estimate
  moves it to the next business day; EXCEPTION delays it to at least the next business day;
  OUT_FOR_DELIVERY and DELIVERED set it to that day; RETURNED_TO_SENDER clears it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from app.orders.promise import DEFAULT_TIMEZONE, add_business_days, local_date

REPORTABLE = ("IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED", "EXCEPTION", "RETURNED_TO_SENDER")
FINAL = frozenset({"DELIVERED", "RETURNED_TO_SENDER"})
# Tie-break for events reported at the same instant: the further along wins.
RANK = {"READY": 0, "IN_TRANSIT": 1, "EXCEPTION": 2, "OUT_FOR_DELIVERY": 3, "DELIVERED": 4, "RETURNED_TO_SENDER": 5}


class Reported(Protocol):
    status: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ShipmentState:
    status: str
    estimated_delivery_date: date | None
    delivered_at: datetime | None


def sort_key(event: Reported) -> tuple[datetime, int]:
    return (event.occurred_at, RANK.get(event.status, 0))


def in_time_order(events: Iterable[Reported]) -> list[Reported]:
    return sorted(events, key=sort_key)


def derive_state(*, promised: date | None, events: Iterable[Reported], tz_name: str = DEFAULT_TIMEZONE) -> ShipmentState:
    status, estimate, delivered_at = "READY", promised, None
    for event in in_time_order(events):
        if status in FINAL:
            break
        day = local_date(event.occurred_at, tz_name)
        status = event.status
        if event.status == "IN_TRANSIT":
            if estimate is not None and estimate < day:
                estimate = add_business_days(day, 1)
        elif event.status == "EXCEPTION":
            estimate = max(estimate or day, add_business_days(day, 1))
        elif event.status == "OUT_FOR_DELIVERY":
            estimate = day
        elif event.status == "DELIVERED":
            estimate, delivered_at = day, event.occurred_at
        elif event.status == "RETURNED_TO_SENDER":
            estimate = None
    return ShipmentState(status, estimate, delivered_at)
