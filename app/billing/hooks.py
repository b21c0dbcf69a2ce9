"""What billing does when an order moves. Called by app.orders.service inside the order's unit of work
(the order row is locked or freshly inserted), so a refusal here rolls the whole move back."""

from __future__ import annotations

from typing import Any

from app.billing import config, invoicing, payments
from app.infra.database import UnitOfWork
from app.orders import service as order_service
from app.orders.state_machine import OrderStatus
from models import Order


async def on_order_placed(*, uow: UnitOfWork, order: Order, method: str | None, token: str | None) -> None:
    """Open the order's payment: authorise a card (a decline refuses the placement), expect a
    transfer (the order stays PENDING until paid or expired), or confirm cash on delivery at once."""
    await payments.open_payment(uow=uow, order=order, method=method, token=token)
    if method == payments.CASH_ON_DELIVERY:
        order_service.transition(uow, order, OrderStatus.CONFIRMED, data={"action": "confirm", "reason": "cash on delivery"})
        await on_order_confirmed(uow=uow, order=order)


async def on_order_confirmed(*, uow: UnitOfWork, order: Order) -> None:
    """Capture and invoice when configured to do so at confirmation."""
    settings = config.settings()
    if settings.capture_moment == "confirmation":
        await payments.capture_open_authorizations(uow=uow, order=order)
    if settings.invoice_moment == "confirmation":
        await invoicing.issue_invoice(uow=uow, order=order)


async def on_order_shipped(*, uow: UnitOfWork, order: Order, shipment: Any) -> None:
    """Capture and invoice when configured to do so at shipment (the first shipment captures and
    invoices the whole order; later ones find nothing left to do)."""
    settings = config.settings()
    if settings.capture_moment == "shipment":
        await payments.capture_open_authorizations(uow=uow, order=order)
    if settings.invoice_moment == "shipment":
        await invoicing.issue_invoice(uow=uow, order=order)


async def on_order_cancelled(*, uow: UnitOfWork, order: Order) -> None:
    """Void or refund what was paid; credit the invoice if one was issued."""
    await payments.settle_cancelled_order(uow=uow, order=order)
