"""Read-side rules for stock (issue 12)."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from models import StockLevel


def available_below(units: int) -> ColumnElement[bool]:
    """Low stock: fewer than `units` available (on hand minus reserved) in that warehouse."""
    return (StockLevel.on_hand - StockLevel.reserved) < units
