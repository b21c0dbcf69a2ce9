"""Cancelling units of an order's lines (`cancelOrderLines`, issue 18), in one unit of work with the order row
locked: the orders domain releases exactly those units' reservations and lowers the lines (`quantity_cancelled`),
billing releases what is only authorised or expected and refunds what was captured, and corrects an issued invoice
(a credit note of what it billed, then the next revision for what is left: old revision + notes = 0, new one = the
order's total, to the cent). Nothing left on the order: it is cancelled as `cancelOrder` would (app/flows/
cancellation.py), which voids or refunds the rest and credits the invoice in full.

Units on a pick list or shipped cannot be cancelled. One `LINES_CANCELLED` event (lines, reason, note, money).
A retry with the same idempotencyKey answers the first result without acting again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.billing import adjustments, invoicing
from app.billing import payments as billing
from app.errors import DomainError, ErrorCode
from app.flows import cancellation
from app.flows.edits import finish
from app.infra.database import UnitOfWork
from app.orders import edits
from app.orders import service as orders
from app.orders.edits import CancelLinesRequest, EditPreview
from app.orders.enums import LineCancellationReason, OrderEditKind, OrderEventType
from app.validation import check_idempotency_key
from models import Order

MAX_NOTE = 500


@dataclass(frozen=True, slots=True)
class Cancelled:
    order: Order
    preview: EditPreview
    replayed: bool = False


async def cancel_lines(*, uow: UnitOfWork, request: CancelLinesRequest, attempt: uuid.UUID) -> Cancelled:
    """`attempt`: an id chosen once per request, outside the unit of work (see app/orders/edits.py `edit_id_for`)."""
    key = check_idempotency_key(request.idempotency_key)
    try:
        reason = LineCancellationReason(request.reason)
    except ValueError:
        raise DomainError(ErrorCode.INVALID_INPUT, "Unknown cancellation reason.", ("reason",)) from None
    note = (request.note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise DomainError(ErrorCode.INVALID_INPUT, f"The note is at most {MAX_NOTE} characters.", ("note",))
    order = await orders.get_for_update(uow=uow, order_id=request.order_id)
    fingerprint = request.fingerprint()
    if (done := await edits.recorded(uow=uow, order=order, key=key, fingerprint=fingerprint)) is not None:
        return Cancelled(order, EditPreview.from_json(done.result), replayed=True)
    edit_id = edits.edit_id_for(order=order, key=key, attempt=attempt)
    plan = await edits.plan_cancellation(uow=uow, order=order, request=request)
    delta = plan.delta
    text = f"lines cancelled: {reason}" + (f" ({note})" if note else "")
    before = await edits.apply_plan(uow=uow, plan=plan, edit_id=edit_id)
    everything = edits.nothing_left(plan)
    data: dict[str, object] = {
        "reason": reason, "note": note, "currency": order.currency,
        "lines": [{"orderLineId": str(line.line_id), "sku": line.sku, "quantity": line.previous_quantity - line.quantity}
                  for line in plan.lines if line.changed],
        "releasedUnits": sum(r.quantity for r in plan.releases),
    }
    if everything:
        preview = plan.preview(amount_to_refund=adjustments.plan_difference(await billing.payments_of(uow, order.id), delta).refund,
                               dry_run=False)
        edits.record_edit(uow, plan=plan, edit_id=edit_id, kind=OrderEditKind.LINE_CANCELLATION, key=key, fingerprint=fingerprint,
                          reason=reason, before=before, result=preview, delta=delta, event=OrderEventType.LINES_CANCELLED,
                          data={**data, "orderCancelled": True})
        await cancellation.cancel_order(uow=uow, order_id=order.id, reason=text)
        return Cancelled(order, preview)
    split = await adjustments.settle_difference(uow=uow, order=order, delta=delta, operation=edit_id, reason=text)
    credit, invoice = await invoicing.reissue_invoice(uow=uow, order=order, reason=text)
    await billing.refresh_order_status(uow, order)
    preview = plan.preview(amount_to_refund=split.refund, dry_run=False)
    edits.record_edit(uow, plan=plan, edit_id=edit_id, kind=OrderEditKind.LINE_CANCELLATION, key=key, fingerprint=fingerprint, reason=reason,
                      before=before, result=preview, delta=delta, event=OrderEventType.LINES_CANCELLED,
                      data={**data, "amountReleased": str(split.release), "amountRefunded": str(split.refund),
                            "creditNote": credit.number if credit else None, "invoice": invoice.number if invoice else None})
    await finish(uow=uow, order=order)
    return Cancelled(order, preview)
