"""What billing does when an order moves: capture, invoice, settle.

Called by the flows (app/flows/) inside the order's unit of work, with the order row locked, so a
refusal here rolls the whole move back. The moments come from the billing settings.
"""

from __future__ import annotations

from app.billing import config, invoicing, payments
from app.infra.database import UnitOfWork
from models import Order
from models.fulfilment import Shipment


async def on_order_confirmed(*, uow: UnitOfWork, order: Order) -> None:
    """Capture and invoice when configured to do so at confirmation."""
    settings = config.settings()
    if settings.capture_moment == "confirmation":
        await payments.capture_open_authorizations(uow=uow, order=order)
    if settings.invoice_moment == "confirmation":
        await invoicing.issue_invoice(uow=uow, order=order)


async def on_order_shipped(*, uow: UnitOfWork, order: Order, shipment: Shipment | None) -> None:
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
