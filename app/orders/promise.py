"""The delivery promise made at placement: production lead time, then carrier transit, in business days."""

from __future__ import annotations

from datetime import date, timedelta

DEFAULT_TRANSIT_DAYS = 2


def add_business_days(start: date, days: int) -> date:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def estimate_delivery(*, start: date, lead_time_days: int = 0, transit_days: int = DEFAULT_TRANSIT_DAYS) -> date:
    """Made-to-order lead time counts in calendar days; transit in business days (no weekend deliveries)."""
    ready = start + timedelta(days=lead_time_days)
    return add_business_days(ready, transit_days + 1)  # +1: dispatched the business day after it is ready
