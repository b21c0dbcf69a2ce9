"""What billing does when an order moves. Called by app.orders.service inside the order's unit of work."""

from __future__ import annotations

from typing import Any

from app.database import UnitOfWork
from models import Order


async def on_order_placed(*, uow: UnitOfWork, order: Order, method: str | None, token: str | None) -> None:
    """Open the order's payment (authorise a card, expect a transfer, ...)."""


async def on_order_confirmed(*, uow: UnitOfWork, order: Order) -> None:
    """Capture and invoice when configured to do so at confirmation."""


async def on_order_shipped(*, uow: UnitOfWork, order: Order, shipment: Any) -> None:
    """Capture and invoice when configured to do so at shipment."""


async def on_order_cancelled(*, uow: UnitOfWork, order: Order) -> None:
    """Void or refund what was paid; credit the invoice if one was issued."""
