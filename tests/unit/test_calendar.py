"""Delivery-promise arithmetic (app/orders/promise.py): business days, cut-off in the carrier's time zone,
made-to-order lead time in calendar days, transit in business days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.orders.promise import add_business_days, dispatch_date, estimate_delivery, is_business_day, local_date

MADRID = ZoneInfo("Europe/Madrid")
# November 2026: Monday 23 ... Friday 27, Saturday 28, Sunday 29, Monday 30.
MON, TUE, WED, THU, FRI, SAT, SUN = (date(2026, 11, 23) + timedelta(days=i) for i in range(7))
NEXT_MON, NEXT_TUE, NEXT_WED = date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)


def madrid(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=MADRID)


def test_weekdays_are_business_days_weekends_are_not() -> None:
    assert [is_business_day(d) for d in (MON, TUE, WED, THU, FRI, SAT, SUN)] == [True] * 5 + [False] * 2


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (MON, 0, MON),
        (MON, 1, TUE),
        (WED, 3, NEXT_MON),       # Thu, Fri, (weekend), Mon
        (FRI, 1, NEXT_MON),
        (SAT, 1, NEXT_MON),
        (SUN, 1, NEXT_MON),
        (SAT, 0, SAT),            # zero days moves nothing, even off a weekend
        (MON, 5, NEXT_MON),
        (FRI, 10, date(2026, 12, 11)),
    ],
)
def test_add_business_days_skips_weekends(start: date, days: int, expected: date) -> None:
    assert add_business_days(start, days) == expected


def test_dispatch_before_the_cut_off_leaves_that_day_at_or_after_it_the_next_business_day() -> None:
    assert dispatch_date(madrid(MON, 16, 59)) == MON
    assert dispatch_date(madrid(MON, 17, 0)) == TUE         # the cut-off itself is too late
    assert dispatch_date(madrid(FRI, 17, 30)) == NEXT_MON
    assert dispatch_date(madrid(SAT, 9, 0)) == NEXT_MON     # weekends never dispatch, even in the morning
    assert dispatch_date(madrid(SUN, 23, 0)) == NEXT_MON


def test_the_cut_off_is_read_in_the_carriers_time_zone() -> None:
    # Winter: Madrid is UTC+1. 15:30 UTC is 16:30 in Madrid (before 17:00), 16:30 UTC is 17:30 (after).
    assert dispatch_date(datetime(2026, 11, 23, 15, 30, tzinfo=UTC)) == MON
    assert dispatch_date(datetime(2026, 11, 23, 16, 30, tzinfo=UTC)) == TUE
    # Summer: UTC+2, so 15:30 UTC is already 17:30 in Madrid.
    assert dispatch_date(datetime(2026, 6, 15, 15, 30, tzinfo=UTC)) == date(2026, 6, 16)
    # Another carrier's zone and cut-off: 16:30 UTC is 16:30 in London, before its 17:00.
    assert dispatch_date(datetime(2026, 11, 23, 16, 30, tzinfo=UTC), tz_name="Europe/London") == MON
    assert dispatch_date(madrid(MON, 12, 0), cutoff=time(12, 0)) == TUE
    assert dispatch_date(madrid(MON, 11, 59), cutoff=time(12, 0)) == MON


def test_the_local_day_decides_weekends() -> None:
    # Sunday 23:30 UTC is already Monday 00:30 in Madrid: a business day before the cut-off.
    assert dispatch_date(datetime(2026, 11, 29, 23, 30, tzinfo=UTC)) == NEXT_MON
    assert local_date(datetime(2026, 11, 29, 23, 30, tzinfo=UTC)) == NEXT_MON
    assert local_date(datetime(2026, 11, 29, 23, 30, tzinfo=UTC), "America/New_York") == SUN


def test_estimate_counts_transit_in_business_days_from_dispatch() -> None:
    assert estimate_delivery(start=madrid(MON, 10)) == WED                       # default: 2 business days
    assert estimate_delivery(start=madrid(MON, 18)) == THU                       # missed the cut-off
    assert estimate_delivery(start=madrid(THU, 10)) == NEXT_MON                  # no weekend deliveries
    assert estimate_delivery(start=madrid(FRI, 18), transit_days=1) == NEXT_TUE  # leaves Monday
    assert estimate_delivery(start=madrid(TUE, 10), transit_days=0) == TUE       # same-day courier


def test_made_to_order_lead_time_counts_calendar_days_then_waits_for_a_business_day() -> None:
    # Monday 10:00 + 5 calendar days = Saturday: leaves the next Monday, arrives Wednesday.
    assert estimate_delivery(start=madrid(MON, 10), lead_time_days=5) == NEXT_WED
    # + 3 days = Thursday 10:00, before the cut-off: leaves Thursday, 2 business days = Monday.
    assert estimate_delivery(start=madrid(MON, 10), lead_time_days=3) == NEXT_MON


def test_a_bare_date_is_assumed_to_leave_the_next_business_day() -> None:
    assert estimate_delivery(start=MON) == THU                 # leaves Tue, +2
    assert estimate_delivery(start=FRI) == NEXT_WED            # leaves Mon, +2
    assert estimate_delivery(start=MON, lead_time_days=4, transit_days=1) == NEXT_TUE  # Fri + lead -> leaves Mon, +1


def test_estimates_are_dates_never_on_a_weekend() -> None:
    start = madrid(MON, 0)
    for hours in range(0, 24 * 14, 5):
        for transit in (1, 2, 3, 5):
            arrival = estimate_delivery(start=start + timedelta(hours=hours), transit_days=transit)
            assert is_business_day(arrival)
            assert arrival > local_date(start + timedelta(hours=hours))
