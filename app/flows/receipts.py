"""A stock receipt's arrival (receiveStock, issue 19): the units go on hand and fill the orders that claimed them.

One transaction:
1. the orders holding open claims on the receipt are read (no lock) and locked, by id;
2. the receipt's stock row is locked, then the receipt (the global lock order, app/orders/allocation.py);
3. the claims are read again under those locks, in placement order (orders.placed_at, orders.id; then the
   allocation): a claimant committed after step 1 is locked NOWAIT (busy: the transaction is retried whole);
4. `on_hand += quantity` (ledger RECEIPT, reference "receipt:<id>"); each claim in placement order, while units are
   left, becomes an ordinary reservation: `reserved += n` (ledger RESERVATION, reference the order number), the
   allocation unbound from the receipt (split when only part of it is filled: the rest keeps waiting on the
   receipt); per order filled, an event BACKORDER_ALLOCATED and its delivery promise recomputed;
5. the receipt: `received += quantity`, `claimed -=` the units filled; RECEIVED once every expected unit arrived.
Units beyond the claims are ordinary stock. A receipt can be received in several parts, never beyond its quantity.

Card placements between their two transactions may hold claims on the receipt (receipt_holds): they stay claimed;
an arrival that would leave them beyond what is still expected is refused with UNAVAILABLE (retry in a moment,
once those placements have finished).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, select

from app.errors import DomainError, ErrorCode
from app.fulfilment import promise as delivery
from app.infra.database import UnitOfWork
from app.orders import events
from app.orders import promise as calendar
from app.orders.allocation import notify_stock
from app.orders.enums import OrderEventType, ReceiptStatus
from models import Allocation, Order, StockLevel, StockMovement
from models.receipts import StockReceipt

MAX_RECEIVE_QUANTITY = 1_000_000


def _open_claims(receipt_id: uuid.UUID) -> list:
    return [Allocation.receipt_id == receipt_id, Allocation.quantity > Allocation.quantity_shipped + Allocation.quantity_released]


async def _lock_orders(uow: UnitOfWork, order_ids: list[uuid.UUID], *, nowait: bool = False) -> dict[uuid.UUID, Order]:
    if not order_ids:
        return {}
    rows = await uow.session.execute(
        select(Order).where(Order.id.in_(sorted(order_ids))).order_by(Order.id).with_for_update(nowait=nowait)
        .execution_options(populate_existing=True)
    )
    return {order.id: order for order in rows.scalars()}


async def receive_stock(*, uow: UnitOfWork, receipt_id: uuid.UUID, quantity: int, now: datetime | None = None) -> StockReceipt:
    """Record the arrival of `quantity` units of a receipt (see the module doc). Refuses INVALID_INPUT (quantity
    below 1 or beyond what the receipt still expects), LIMIT_EXCEEDED, NOT_FOUND (receipt_id), UNAVAILABLE."""
    now = now or calendar.utcnow()
    if quantity < 1:
        raise DomainError(ErrorCode.INVALID_INPUT, "quantity must be at least 1.", ("quantity",))
    if quantity > MAX_RECEIVE_QUANTITY:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"quantity is at most {MAX_RECEIVE_QUANTITY}.", ("quantity",))
    found = (await uow.session.execute(select(StockReceipt.sku, StockReceipt.warehouse_id).where(StockReceipt.id == receipt_id))).first()
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such stock receipt.", ("receipt_id",))
    # 1. the claimants, then 2. the stock row and the receipt, in the global lock order
    claimants = list((await uow.session.execute(select(Allocation.order_id).where(*_open_claims(receipt_id)).distinct())).scalars())
    orders = await _lock_orders(uow, claimants)
    level = (await uow.session.execute(
        select(StockLevel).where(StockLevel.sku == found.sku, StockLevel.warehouse_id == found.warehouse_id).with_for_update()
        .execution_options(populate_existing=True)
    )).scalar_one()
    receipt = (await uow.session.execute(
        select(StockReceipt).where(StockReceipt.id == receipt_id).with_for_update().execution_options(populate_existing=True)
    )).scalar_one()
    still_expected = receipt.quantity - receipt.received
    if quantity > still_expected:
        raise DomainError(ErrorCode.INVALID_INPUT, f"The receipt expects {still_expected} more units; record any extra with adjustStock.",
                          ("quantity",))
    # 3. the claims in placement order, under the locks
    claims = (await uow.session.execute(
        select(Allocation, Order.placed_at).join(Order, Order.id == Allocation.order_id).where(*_open_claims(receipt_id))
        .order_by(Order.placed_at, Order.id, Allocation.id).execution_options(populate_existing=True)
    )).all()
    late = sorted({a.order_id for a, _ in claims} - set(orders))
    orders.update(await _lock_orders(uow, late, nowait=True))  # committed since step 1: never wait for them (lock order)
    claimed_by_orders = sum(a.open_quantity for a, _ in claims)
    held = receipt.claimed - claimed_by_orders  # by card placements between their two transactions
    if receipt.claimed - min(quantity, claimed_by_orders) + receipt.received + quantity > receipt.quantity:
        raise DomainError(ErrorCode.UNAVAILABLE, f"Card placements in progress hold {held} units of this receipt; try again in a moment.",
                          ("quantity",))
    # 4. the units: claims filled in placement order
    left = quantity
    filled: dict[uuid.UUID, int] = {}
    for allocation, _ in claims:
        if left == 0:
            break
        take = min(allocation.open_quantity, left)
        if take == allocation.open_quantity:
            allocation.receipt_id = None
        else:  # split: `take` units reserved now, the rest keeps waiting on the receipt
            allocation.quantity -= take
            uow.session.add(Allocation(id=uuid.uuid4(), order_id=allocation.order_id, order_line_id=allocation.order_line_id,
                                       warehouse_id=allocation.warehouse_id, sku=allocation.sku, quantity=take, quantity_shipped=0,
                                       quantity_released=0))
        filled[allocation.order_id] = filled.get(allocation.order_id, 0) + take
        left -= take
    units_filled = quantity - left
    level.on_hand += quantity
    level.reserved += units_filled
    reference = f"receipt:{receipt.id}"
    ledger = [{"sku": receipt.sku, "warehouse_id": receipt.warehouse_id, "kind": "RECEIPT", "on_hand_delta": quantity, "reserved_delta": 0,
               "actor": uow.actor, "reference": reference, "reason": "stock receipt arrived"}]
    ledger += [{"sku": receipt.sku, "warehouse_id": receipt.warehouse_id, "kind": "RESERVATION", "on_hand_delta": 0, "reserved_delta": n,
                "actor": uow.actor, "reference": orders[order_id].number, "reason": f"backorder allocated from {reference}"}
               for order_id, n in filled.items()]
    await uow.session.execute(insert(StockMovement), ledger)
    notify_stock(uow.notices, receipt.sku, receipt.warehouse_id)
    # 5. the receipt
    receipt.claimed -= units_filled
    receipt.received += quantity
    receipt.status = ReceiptStatus.RECEIVED if receipt.received == receipt.quantity else ReceiptStatus.PARTIALLY_RECEIVED
    receipt.received_at = now
    await uow.session.flush()
    waiting = {a.order_id: 0 for a, _ in claims}
    for allocation, _ in claims:
        if allocation.receipt_id is not None:
            waiting[allocation.order_id] += allocation.open_quantity
    for order_id, n in filled.items():  # in placement order (dicts keep insertion order)
        order = orders[order_id]
        events.record(uow, order, OrderEventType.BACKORDER_ALLOCATED, data={
            "receipt": str(receipt.id), "sku": receipt.sku, "quantity": n, "stillAwaited": waiting[order_id],
        })
        promise = await delivery.order_promise(uow.session, order=order, now=now)
        delivery.apply_order_promise(uow, order, promise, reason=OrderEventType.BACKORDER_ALLOCATED)
    return receipt
