"""Editing a placed order (`editOrder`, issue 18): the orders domain plans the change and writes its lines and
stock, billing settles the difference and corrects the invoice, fulfilment renews the delivery promise, in ONE
unit of work with the order row locked; a refusal anywhere (a decline, OUT_OF_STOCK) rolls all of it back.

Lock order, as everywhere: order row -> stock rows (sku, warehouse) -> payment rows -> counter rows. Provider calls
(an extra authorisation, a refund) happen inside the transaction, as every other billing call except placeOrder's
card does: a decline must undo the edit. That keeps the stock rows of the SKUs the edit changes locked during the
call; edits are rare next to placements, so this was chosen over a two-step hold (research-18 §1.4).

A dry run is a plan only: the same checks and plan on rows read without locks, and an answer; it writes nothing,
draws no sequence number and calls no provider (never "run then roll back").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from app.billing import adjustments, invoicing
from app.billing import payments as billing
from app.fulfilment import pickup as collection
from app.fulfilment.promise import apply_order_promise, order_promise
from app.infra.database import UnitOfWork
from app.orders import edits
from app.orders import promise as calendar
from app.orders import service as orders
from app.orders.edits import EditPreview, EditRequest
from app.orders.enums import OrderEditKind, OrderEventType, OrderStatus
from app.validation import check_idempotency_key
from models import Order, OrderLine

REASON = "order edited"


@dataclass(frozen=True, slots=True)
class Edited:
    order: Order
    preview: EditPreview
    replayed: bool = False


async def edit_order(*, uow: UnitOfWork, request: EditRequest, attempt: uuid.UUID, dry_run: bool = False) -> Edited:
    """`attempt`: an id chosen once per request, outside the unit of work (see app/orders/edits.py `edit_id_for`)."""
    key = check_idempotency_key(request.idempotency_key)
    if dry_run:
        order = await edits.get_order(uow=uow, order_id=request.order_id)
        plan = await edits.plan_edit(uow=uow, order=order, request=request)
        split = adjustments.plan_difference(await billing.payments_of(uow, order.id), plan.delta)
        return Edited(order, plan.preview(amount_to_refund=split.refund, dry_run=True))

    order = await orders.get_for_update(uow=uow, order_id=request.order_id)
    fingerprint = request.fingerprint()
    if (done := await edits.recorded(uow=uow, order=order, key=key, fingerprint=fingerprint)) is not None:
        return Edited(order, EditPreview.from_json(done.result), replayed=True)
    edit_id = edits.edit_id_for(order=order, key=key, attempt=attempt)
    plan = await edits.plan_edit(uow=uow, order=order, request=request)
    delta = plan.delta
    before = await edits.apply_plan(uow=uow, plan=plan, edit_id=edit_id)
    split = await adjustments.settle_difference(uow=uow, order=order, delta=delta, operation=edit_id, reason=REASON)
    note, invoice = await invoicing.reissue_invoice(uow=uow, order=order, reason=REASON) if plan.changes_invoice else (None, None)
    await billing.refresh_order_status(uow, order)
    preview = plan.preview(amount_to_refund=split.refund, dry_run=False)
    edits.record_edit(
        uow, plan=plan, edit_id=edit_id, kind=OrderEditKind.EDIT, key=key, fingerprint=fingerprint, reason=None, before=before,
        result=preview, delta=delta, event=OrderEventType.ORDER_EDITED,
        data={"amountDue": str(split.due), "amountReleased": str(split.release), "amountRefunded": str(split.refund), "currency": order.currency,
              "creditNote": note.number if note else None, "invoice": invoice.number if invoice else None,
              "stockReserved": [_move(m) for m in preview.stock_to_reserve],
              "stockReleased": [_move(m) for m in preview.stock_to_release],
              **_sourcing_data(plan)},
    )
    await finish(uow=uow, order=order)
    return Edited(order, preview)


def _sourcing_data(plan: edits.EditPlan) -> dict[str, object]:
    """issue 19: why the added units went where they did, under "sourcing" (as PLACED's) only when sourcing rules are
    configured and units were added; otherwise nothing (the event's data as before)."""
    rules = plan.sourcing
    if rules is None or not rules.snapshot.rules or not plan.picks or not rules.explanation:
        return {}
    return {"sourcing": rules.explanation}


def _move(move: edits.StockMove) -> dict[str, object]:
    return {"sku": move.sku, "warehouse": move.warehouse_code, "quantity": move.quantity}


async def finish(*, uow: UnitOfWork, order: Order) -> None:
    """After lines changed: an order partly shipped whose remaining units are all gone is SHIPPED; the delivery
    promise follows the new lines, warehouses and address."""
    if order.status == OrderStatus.PARTIALLY_SHIPPED and await _all_shipped(uow, order):
        orders.transition(uow, order, OrderStatus.SHIPPED, data={"action": "lines changed"})
    await collection.after_edit(uow=uow, order=order)  # pickup, issue 19: held from READY_FOR_PICKUP and not ready now: resumes CONFIRMED
    apply_order_promise(uow, order, await order_promise(uow.session, order=order, now=calendar.utcnow()), reason=OrderEventType.ORDER_EDITED)


async def _all_shipped(uow: UnitOfWork, order: Order) -> bool:
    lines = (await uow.session.execute(select(OrderLine).where(OrderLine.order_id == order.id))).scalars().all()
    return all(line.quantity_shipped >= line.quantity for line in lines)
