"""Approving a return. An exchange places its replacement order (a placement of its own, stock
reserved like any order) and pays it with the returned goods' value up to the replacement's total,
so only the difference stays due; a replacement that cannot be placed refuses the approval."""

from __future__ import annotations

import uuid

from app.errors import DomainError
from app.flows.payment import record_payment
from app.flows.placement import place_order
from app.infra.database import UnitOfWork
from app.orders.enums import PaymentMethod
from app.returns import service as returns
from app.returns.enums import ReturnResolution, ReturnStatus
from models import Order
from models.returns import ReturnRequest


async def approve_return(*, uow: UnitOfWork, return_id: uuid.UUID, note: str | None = None) -> ReturnRequest:
    note = returns.check_note(note, required=False)
    order, rma = await returns.lock_return(uow=uow, return_id=return_id, expected=ReturnStatus.REQUESTED, action="approved")
    replacement = await _place_replacement(uow, order, rma) if rma.resolution == ReturnResolution.EXCHANGE else None
    return returns.approve(uow=uow, order=order, rma=rma, note=note, replacement=replacement)


async def _place_replacement(uow: UnitOfWork, order: Order, rma: ReturnRequest) -> Order:
    try:
        replacement = await place_order(uow=uow, request=returns.replacement_request(order=order, rma=rma))
    except DomainError as exc:
        # The replacement's input paths mean nothing to the approver: point at the return.
        raise DomainError(exc.code, f"The replacement cannot be placed: {exc.message}", ("return_id",)) from exc
    # The returned goods pay for the replacement up to their value; the rest stays due on it.
    credit = min(rma.value, replacement.total)
    if credit > 0:
        await record_payment(uow=uow, order_id=replacement.id, method=PaymentMethod.OTHER, amount=credit, reference=f"exchange {rma.number}")
    return replacement
