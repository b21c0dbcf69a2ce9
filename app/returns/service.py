"""Returns (RMA) and exchanges: request, approve or reject, receive with inspection, refund.

Rules, all checked under the order's row lock so concurrent requests queue:
- only a DELIVERED (or already partly returned) order takes returns, within the return window
  counted from the moment it was delivered;
- a line is never returned beyond what was delivered, counting every return not rejected;
- receiving restocks (ledger kind RETURN) or writes off each line, credits and refunds the
  returned units through the payment that paid, and moves the order to PARTIALLY_RETURNED
  or RETURNED;
- an EXCHANGE places a linked replacement order on approval, reserving stock like any order;
  the returned goods' value pays for it, so only the difference is charged (left due on the
  replacement) or refunded (when the goods arrive). Placing it is a use case of its own, so
  approval goes through app/flows/returns.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, text

from app.billing import config as settings_in_force
from app.billing import payments
from app.billing.invoicing import CreditLine
from app.errors import DomainError, ErrorCode, Path, collect
from app.infra.database import UnitOfWork
from app.orders import events
from app.orders import service as orders
from app.orders.allocation import notify_stock
from app.orders.enums import AuthorType, OrderEventType, OrderStatus
from app.orders.pricing import compute_totals, line_total
from app.returns.enums import InspectionResult, ReturnResolution, ReturnStatus
from models import Order, OrderEvent, OrderLine, Product, StockLevel, StockMovement, Warehouse
from models.returns import ReturnLine, ReturnRequest

RETURNABLE_STATUSES = frozenset({OrderStatus.DELIVERED, OrderStatus.PARTIALLY_RETURNED})
MAX_TEXT = 500
MAX_LINES = 100


@dataclass(frozen=True, slots=True)
class ReturnLineRequest:
    quantity: int
    order_line_id: uuid.UUID | None = None
    sku: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReplacementLine:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Inspection:
    return_line_id: uuid.UUID
    result: InspectionResult
    warehouse_code: str | None = None
    note: str | None = None


@dataclass(slots=True)
class ReturnRequestInput:
    order_id: uuid.UUID
    lines: Sequence[ReturnLineRequest]
    reason: str
    resolution: ReturnResolution = ReturnResolution.REFUND
    replacement_lines: Sequence[ReplacementLine] = field(default_factory=tuple)


def window_days() -> int:
    return settings_in_force.settings().return_window_days


def _text(value: str | None, path: Path, errors: list[DomainError], *, required: bool) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "This text is required.", path))
        return None
    if len(value) > MAX_TEXT:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, f"At most {MAX_TEXT} characters.", path))
    return value


async def delivered_at(uow: UnitOfWork, order_id: uuid.UUID) -> datetime | None:
    """When the order first became DELIVERED: the return window starts there."""
    statement = select(func.min(OrderEvent.occurred_at)).where(
        OrderEvent.order_id == order_id, OrderEvent.status == OrderStatus.DELIVERED,
        OrderEvent.previous_status.is_distinct_from(OrderStatus.DELIVERED),
    )
    return (await uow.session.execute(statement)).scalar_one_or_none()


async def _already_claimed(uow: UnitOfWork, order_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """Units per order line in returns that still count (requested, approved or received)."""
    statement = (
        select(ReturnLine.order_line_id, func.sum(ReturnLine.quantity))
        .join(ReturnRequest, ReturnRequest.id == ReturnLine.return_id)
        .where(ReturnRequest.order_id == order_id, ReturnRequest.status != ReturnStatus.REJECTED)
        .group_by(ReturnLine.order_line_id)
    )
    return {line_id: int(total) for line_id, total in (await uow.session.execute(statement)).all()}


def _pick_line(order_lines: Sequence[OrderLine], wanted: ReturnLineRequest, path: Path) -> OrderLine:
    if wanted.order_line_id is not None:
        for line in order_lines:
            if line.id == wanted.order_line_id:
                return line
        raise DomainError(ErrorCode.NOT_FOUND, "That line is not on this order.", (*path, "order_line_id"))
    sku = (wanted.sku or "").strip()
    if not sku:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give the line's orderLineId or sku.", (*path, "sku"))
    matches = [line for line in order_lines if line.sku == sku]
    if not matches:
        raise DomainError(ErrorCode.NOT_FOUND, f"{sku} is not on this order.", (*path, "sku"))
    if len(matches) > 1:
        raise DomainError(ErrorCode.INVALID_INPUT, f"The order has several {sku} lines; give orderLineId.", (*path, "sku"))
    return matches[0]


def gross_value(items: Sequence[tuple[OrderLine, int]]) -> Decimal:
    """What the customer paid for these units: net at the order's prices, VAT rounded per rate."""
    return compute_totals((line_total(line.unit_price, quantity), line.tax_rate) for line, quantity in items).total


async def _next_number(uow: UnitOfWork) -> str:
    serial = (await uow.session.execute(text("SELECT nextval('return_number_seq')"))).scalar_one()
    return f"RMA-{serial:06d}"


async def request_return(*, uow: UnitOfWork, request: ReturnRequestInput, requested_by: AuthorType, now: datetime | None = None) -> ReturnRequest:
    errors: list[DomainError] = []
    reason = _text(request.reason, ("reason",), errors, required=True)
    if request.resolution not in (ReturnResolution.REFUND, ReturnResolution.EXCHANGE):
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "resolution is REFUND or EXCHANGE.", ("resolution",)))
    if not request.lines:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "A return needs at least one line.", ("lines",)))
    if len(request.lines) > MAX_LINES:
        errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_LINES} lines.", ("lines",)))
    for i, wanted in enumerate(request.lines):
        if wanted.quantity < 1:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "Quantity must be at least 1.", ("lines", i, "quantity")))
        _text(wanted.reason, ("lines", i, "reason"), errors, required=False)
    if request.resolution == ReturnResolution.REFUND and request.replacement_lines:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Replacement lines are for exchanges.", ("replacement_lines",)))
    for i, replacement in enumerate(request.replacement_lines):
        if replacement.quantity < 1:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "Quantity must be at least 1.", ("replacement_lines", i, "quantity")))
    collect(errors)

    if request.replacement_lines:
        skus = {r.sku.strip() for r in request.replacement_lines}
        known = set((await uow.session.execute(select(Product.sku).where(Product.sku.in_(skus)))).scalars())
        collect([
            DomainError(ErrorCode.NOT_FOUND, f"Unknown SKU {r.sku!r}.", ("replacement_lines", i, "sku"))
            for i, r in enumerate(request.replacement_lines) if r.sku.strip() not in known
        ])

    order = await orders.get_for_update(uow=uow, order_id=request.order_id)
    if order.status not in RETURNABLE_STATUSES:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"Only a delivered order can be returned (this one is {order.status}).", ("order_id",))
    since = await delivered_at(uow, order.id)
    now = now or datetime.now(UTC)
    days = window_days()
    if since is not None and now > since + timedelta(days=days):
        closed = (since + timedelta(days=days)).date().isoformat()
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"The {days}-day return window closed on {closed}.", ("order_id",))

    order_lines = (await uow.session.execute(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.position))).scalars().all()
    claimed = await _already_claimed(uow, order.id)
    picked: list[tuple[OrderLine, int, str | None]] = []
    for i, wanted in enumerate(request.lines):
        path = ("lines", i)
        line = _pick_line(order_lines, wanted, path)
        left = line.quantity_shipped - claimed.get(line.id, 0)
        if wanted.quantity > left:
            errors.append(DomainError(
                ErrorCode.LIMIT_EXCEEDED, f"Only {max(left, 0)} of {line.sku} can still be returned ({line.quantity_shipped} delivered).", (*path, "quantity"),
            ))
            continue
        claimed[line.id] = claimed.get(line.id, 0) + wanted.quantity  # the same line twice in one request counts twice
        picked.append((line, wanted.quantity, (wanted.reason or "").strip() or None))
    collect(errors)

    value = gross_value([(line, quantity) for line, quantity, _ in picked])
    rma = ReturnRequest(
        id=uuid.uuid4(), number=await _next_number(uow), order_id=order.id, status=ReturnStatus.REQUESTED, resolution=request.resolution,
        reason=reason, requested_by=requested_by, actor=uow.actor, value=value, refunded_amount=Decimal("0.00"), currency=order.currency,
        replacement_lines=[{"sku": r.sku.strip(), "quantity": r.quantity} for r in request.replacement_lines]
        or ([{"sku": line.sku, "quantity": quantity} for line, quantity, _ in picked] if request.resolution == ReturnResolution.EXCHANGE else None),
    )
    uow.session.add(rma)
    await uow.session.flush()  # no ORM relationship orders the inserts: the return row goes first
    uow.session.add_all(
        ReturnLine(id=uuid.uuid4(), return_id=rma.id, position=position, order_line_id=line.id, sku=line.sku,
                   product_name=line.product_name, quantity=quantity, reason=line_reason)
        for position, (line, quantity, line_reason) in enumerate(picked)
    )
    await uow.session.flush()
    events.record(uow, order, OrderEventType.RETURN_REQUESTED, data={
        "returnNumber": rma.number, "resolution": rma.resolution, "requestedBy": requested_by, "reason": reason,
        "lines": [{"sku": line.sku, "quantity": quantity} for line, quantity, _ in picked], "value": str(value),
    })
    return rma


def check_note(note: str | None, *, required: bool) -> str | None:
    """A decision note, trimmed: at most MAX_TEXT characters, and present when `required` (rejections)."""
    errors: list[DomainError] = []
    note = _text(note, ("note",), errors, required=required)
    collect(errors)
    return note


async def lock_return(*, uow: UnitOfWork, return_id: uuid.UUID, expected: ReturnStatus, action: str) -> tuple[Order, ReturnRequest]:
    """The return and its order, locked (order row first), refused unless the return is `expected`."""
    order, rma = await orders.lock_order_row(uow=uow, model=ReturnRequest, row_id=return_id, path=("return_id",), missing="No such return.")
    if rma.status != expected:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"A return that is {rma.status} cannot be {action}.", ("return_id",))
    return order, rma


def replacement_request(*, order: Order, rma: ReturnRequest) -> orders.PlaceOrderRequest:
    """What an exchange sends instead: its replacement lines, to the original order's addresses, unpaid
    (the returned goods' value pays for it)."""
    return orders.PlaceOrderRequest(
        channel=order.channel, email=order.email,
        lines=[orders.LineRequest(line["sku"], line["quantity"], None) for line in rma.replacement_lines or []],
        shipping_address=dict(order.shipping_address), billing_address=dict(order.billing_address) if order.billing_address else None,
        payment_method=None, payment_token=None, idempotency_key=None,
        charge_shipping=False,  # fixes19b, issue 19 review F5: the merchant ships the replacement; no shipping charged
    )


def approve(*, uow: UnitOfWork, order: Order, rma: ReturnRequest, note: str | None, replacement: Order | None) -> ReturnRequest:
    """Approve a locked REQUESTED return; an exchange is linked to its replacement order, placed by the caller."""
    data: dict[str, object] = {"returnNumber": rma.number, "note": note}
    if replacement is not None:
        rma.replacement_order_id = replacement.id
        rma.price_difference = replacement.total - rma.value
        data |= {"replacementOrderNumber": replacement.number, "priceDifference": str(rma.price_difference)}
        events.record(uow, replacement, OrderEventType.EXCHANGE_ORDER_PLACED, data={"returnNumber": rma.number, "originalOrderNumber": order.number})
    rma.status, rma.decision_note, rma.decided_at = ReturnStatus.APPROVED, note, datetime.now(UTC)
    events.record(uow, order, OrderEventType.RETURN_APPROVED, data=data)
    return rma


async def reject_return(*, uow: UnitOfWork, return_id: uuid.UUID, note: str | None = None) -> ReturnRequest:
    note = check_note(note, required=True)
    order, rma = await lock_return(uow=uow, return_id=return_id, expected=ReturnStatus.REQUESTED, action="rejected")
    rma.status, rma.decision_note, rma.decided_at = ReturnStatus.REJECTED, note, datetime.now(UTC)
    events.record(uow, order, OrderEventType.RETURN_REJECTED, data={"returnNumber": rma.number, "note": note})
    return rma


async def _restock(uow: UnitOfWork, line: ReturnLine, warehouse_id: uuid.UUID, reference: str) -> None:
    level = (await uow.session.execute(
        select(StockLevel).where(StockLevel.sku == line.sku, StockLevel.warehouse_id == warehouse_id).with_for_update()
    )).scalar_one_or_none()
    if level is None:
        product_id = (await uow.session.execute(select(OrderLine.product_id).where(OrderLine.id == line.order_line_id))).scalar_one()
        level = StockLevel(id=uuid.uuid4(), product_id=product_id, sku=line.sku, warehouse_id=warehouse_id, on_hand=0, reserved=0)
        uow.session.add(level)
    level.on_hand += line.quantity
    await uow.session.flush()
    await uow.session.execute(insert(StockMovement).values(
        sku=line.sku, warehouse_id=warehouse_id, kind="RETURN", on_hand_delta=line.quantity, reserved_delta=0,
        reason="returned goods restocked", actor=uow.actor, reference=reference,
    ))
    notify_stock(uow.notices, line.sku, warehouse_id)


async def receive_return(*, uow: UnitOfWork, return_id: uuid.UUID, inspections: Sequence[Inspection]) -> ReturnRequest:
    """The goods arrived: inspect every line, restock or write off, credit and refund, move the order."""
    order, rma = await lock_return(uow=uow, return_id=return_id, expected=ReturnStatus.APPROVED, action="received")
    lines = (await uow.session.execute(select(ReturnLine).where(ReturnLine.return_id == rma.id).order_by(ReturnLine.position))).scalars().all()
    by_id = {line.id: line for line in lines}
    codes = sorted({i.warehouse_code.strip() for i in inspections if i.warehouse_code})
    warehouses = {w.code: w.id for w in (await uow.session.execute(select(Warehouse).where(Warehouse.code.in_(codes)))).scalars()}
    errors: list[DomainError] = []
    seen: set[uuid.UUID] = set()
    for i, inspection in enumerate(inspections):
        path = ("lines", i)
        if inspection.return_line_id not in by_id:
            errors.append(DomainError(ErrorCode.NOT_FOUND, "That line is not on this return.", (*path, "return_line_id")))
        elif inspection.return_line_id in seen:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "Each line is inspected once.", (*path, "return_line_id")))
        seen.add(inspection.return_line_id)
        if inspection.result not in (InspectionResult.RESTOCK, InspectionResult.WRITE_OFF):
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "result is RESTOCK or WRITE_OFF.", (*path, "result")))
        elif inspection.result == InspectionResult.RESTOCK and (inspection.warehouse_code or "").strip() not in warehouses:
            errors.append(DomainError(ErrorCode.NOT_FOUND, "Restocking needs a known warehouseCode.", (*path, "warehouse_code")))
        _text(inspection.note, (*path, "note"), errors, required=False)
    missing = [line.sku for line in lines if line.id not in seen]
    if missing and not errors:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Inspect every line; missing: {', '.join(missing)}.", ("lines",)))
    collect(errors)

    order_lines = {line.id: line for line in (await uow.session.execute(
        select(OrderLine).where(OrderLine.order_id == order.id).with_for_update()
    )).scalars()}
    # Stock rows are locked in (sku, warehouse) order, as allocation does, so returns cannot deadlock with orders.
    for inspection in sorted(inspections, key=lambda i: (by_id[i.return_line_id].sku, i.warehouse_code or "")):
        line = by_id[inspection.return_line_id]
        line.inspection, line.inspection_note = inspection.result, (inspection.note or "").strip() or None
        if inspection.result == InspectionResult.RESTOCK:
            line.restock_warehouse_id = warehouses[inspection.warehouse_code.strip()]  # type: ignore[union-attr]
            await _restock(uow, line, line.restock_warehouse_id, rma.number)
        order_lines[line.order_line_id].quantity_returned += line.quantity

    credit_lines = [CreditLine(sku=line.sku, quantity=line.quantity) for line in lines]
    # An exchange's value already paid for the replacement: only a surplus goes back.
    refund_cap = rma.value if rma.resolution == ReturnResolution.REFUND else max(-(rma.price_difference or Decimal("0")), Decimal("0.00"))
    refunded, note = await payments.refund_lines(uow=uow, order=order, lines=credit_lines, reason=f"return {rma.number}",
                                                 operation_key=f"return:{rma.id}", refund_limit=refund_cap)
    rma.refunded_amount = refunded
    rma.status, rma.received_at = ReturnStatus.RECEIVED, datetime.now(UTC)
    everything_back = all(line.quantity_returned >= line.quantity_shipped for line in order_lines.values() if line.quantity_shipped)
    target = OrderStatus.RETURNED if everything_back else OrderStatus.PARTIALLY_RETURNED
    orders.transition(uow, order, target, type_=OrderEventType.RETURN_RECEIVED, data={
        "returnNumber": rma.number, "refunded": str(refunded), "currency": order.currency,
        "creditNote": note.number if note is not None else None,
        "lines": [{"sku": line.sku, "quantity": line.quantity, "inspection": line.inspection} for line in lines],
    })
    return rma
