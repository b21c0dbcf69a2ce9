"""Delivery-promise arithmetic: cut-off, weekends, production lead time and transit days.

Pure functions over dates and times, so every rule can be tested with a fixed clock.
Which warehouse and which carrier feed them is decided in app/fulfilment/promise.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TRANSIT_DAYS = 2
DEFAULT_CUTOFF = time(17, 0)
DEFAULT_TIMEZONE = "Europe/Madrid"


def utcnow() -> datetime:
    """The clock every promise is computed against (tests replace it)."""
    return datetime.now(UTC)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5


def add_business_days(start: date, days: int) -> date:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def local_date(moment: datetime, tz_name: str = DEFAULT_TIMEZONE) -> date:
    return moment.astimezone(ZoneInfo(tz_name)).date()


def dispatch_date(ready_at: datetime, *, cutoff: time = DEFAULT_CUTOFF, tz_name: str = DEFAULT_TIMEZONE) -> date:
    """The day the carrier takes a parcel that is ready at `ready_at`: that day if it is a
    business day before the cut-off (carrier's local time), otherwise the next business day."""
    local = ready_at.astimezone(ZoneInfo(tz_name))
    day = local.date()
    if is_business_day(day) and local.time() < cutoff:
        return day
    return add_business_days(day, 1)


def estimate_delivery(
    *, start: date | datetime, lead_time_days: int = 0, transit_days: int = DEFAULT_TRANSIT_DAYS,
    cutoff: time = DEFAULT_CUTOFF, tz_name: str = DEFAULT_TIMEZONE,
) -> date:
    """Made-to-order lead time counts in calendar days; transit in business days (no weekend deliveries).

    With a moment (`datetime`) the cut-off decides whether the parcel leaves that day; with a bare
    date the time is unknown, so it is assumed to leave the next business day.
    """
    if isinstance(start, datetime):
        shipped = dispatch_date(start + timedelta(days=lead_time_days), cutoff=cutoff, tz_name=tz_name)
    else:
        shipped = add_business_days(start + timedelta(days=lead_time_days), 1)
    return add_business_days(shipped, transit_days)


# stages, issue 19
def production_ready_at(*, stage: str | None, lead_time_days: int, started_at: datetime | None, now: datetime) -> datetime:
    """When a made-to-order line should be ready, by its production stage (None reads as QUEUED):
    the remaining production days (calendar days) counted from `now` are

    - QUEUED: the whole lead time;
    - IN_PRODUCTION: the lead time less the whole days since the line first entered production, at least 1;
    - QUALITY_CHECK: 1;
    - READY: 0.
    """
    if stage == "READY":
        remaining = 0
    elif stage == "QUALITY_CHECK":
        remaining = 1
    elif stage == "IN_PRODUCTION":
        elapsed = (now - started_at).days if started_at is not None else 0
        remaining = max(1, lead_time_days - elapsed)
    else:
        remaining = lead_time_days
    return now + timedelta(days=remaining)
