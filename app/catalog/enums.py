"""The catalogue's vocabularies (issue 19): the days a pickup point's opening hours are given for."""

from __future__ import annotations

from enum import StrEnum


class Weekday(StrEnum):
    """A day of the week, in a warehouse's local time (its opening hours)."""

    MON = "MON"
    TUE = "TUE"
    WED = "WED"
    THU = "THU"
    FRI = "FRI"
    SAT = "SAT"
    SUN = "SUN"
