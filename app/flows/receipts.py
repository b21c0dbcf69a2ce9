"""A stock receipt's arrival (receiveStock, issue 19): the units go on hand and fill the orders waiting for them.

Placement order holds per SKU and warehouse, across receipts (issue 19 review F7): the arrival serves the
earliest-placed orders waiting for that SKU at that warehouse first, whichever of its receipts they claimed (an
order can wait on a later receipt than one placed after it, e.g. when a cancellation freed the earlier one).

One transaction:
1. the orders holding open claims of the SKU at the warehouse (on any receipt) are read (no lock) and locked, by id;
2. the receipt's stock row is locked, then the open receipts of the SKU there (the global lock order,
   app/orders/allocation.py: sku, warehouse, expected_at, id);
3. the claims are read again under those locks, in placement order (orders.placed_at, orders.id; then the
   allocation): a claimant committed after step 1 is locked NOWAIT (busy: the transaction is retried whole);
4. `on_hand += quantity` (ledger RECEIPT, reference "receipt:<id>"); each claim in placement order, while units are
   left, becomes an ordinary reservation: `reserved += n` (ledger RESERVATION, reference the order number), the
   allocation unbound from its receipt (split when only part of it is filled: the rest keeps waiting on its
   receipt); per order filled, an event BACKORDER_ALLOCATED;
5. the receipts: `claimed -=` the units filled on each; this one `received += quantity`, RECEIVED once every
   expected unit arrived;
6. should this receipt now be claimed beyond what it still expects (its units served orders waiting on later
   receipts), its latest-placed claims are re-bound to the units those orders freed on the other receipts, the
   earlier-placed of them to the earliest expected; the promise of every order filled or re-bound is recomputed.
Units beyond the claims are ordinary stock. A receipt can be received in several parts, never beyond its quantity.
A cancellation only gives its claims back (the next arrival restores placement order).

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


def _open_claims(sku: str, warehouse_id: uuid.UUID) -> list:
    """The open claims of a SKU at a warehouse, whichever receipt they are bound to (review F7)."""
    return [Allocation.sku == sku, Allocation.warehouse_id == warehouse_id, Allocation.receipt_id.is_not(None),
            Allocation.quantity > Allocation.quantity_shipped + Allocation.quantity_released]


async def _lock_orders(uow: UnitOfWork, order_ids: list[uuid.UUID], *, nowait: bool = False) -> dict[uuid.UUID, Order]:
    if not order_ids:
        return {}
    rows = await uow.session.execute(
        select(Order).where(Order.id.in_(sorted(order_ids))).order_by(Order.id).with_for_update(nowait=nowait)
        .execution_options(populate_existing=True)
    )
    return {order.id: order for order in rows.scalars()}


def _bound_copy(allocation: Allocation, quantity: int, receipt_id: uuid.UUID | None) -> Allocation:
    return Allocation(id=uuid.uuid4(), order_id=allocation.order_id, order_line_id=allocation.order_line_id, warehouse_id=allocation.warehouse_id,
                      sku=allocation.sku, quantity=quantity, quantity_shipped=0, quantity_released=0, receipt_id=receipt_id)


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
    at = _open_claims(found.sku, found.warehouse_id)
    # 1. the claimants, then 2. the stock row and the receipts of the SKU there, in the global lock order
    claimants = list((await uow.session.execute(select(Allocation.order_id).where(*at).distinct())).scalars())
    orders = await _lock_orders(uow, claimants)
    level = (await uow.session.execute(
        select(StockLevel).where(StockLevel.sku == found.sku, StockLevel.warehouse_id == found.warehouse_id).with_for_update()
        .execution_options(populate_existing=True)
    )).scalar_one()
    receipts = {r.id: r for r in (await uow.session.execute(
        select(StockReceipt).where(StockReceipt.sku == found.sku, StockReceipt.warehouse_id == found.warehouse_id,
                                   (StockReceipt.status != ReceiptStatus.RECEIVED) | (StockReceipt.id == receipt_id))
        .order_by(StockReceipt.expected_at, StockReceipt.id).with_for_update().execution_options(populate_existing=True)
    )).scalars()}
    receipt = receipts[receipt_id]
    still_expected = receipt.quantity - receipt.received
    if quantity > still_expected:
        raise DomainError(ErrorCode.INVALID_INPUT, f"The receipt expects {still_expected} more units; record any extra with adjustStock.",
                          ("quantity",))
    # 3. the claims in placement order, under the locks
    claims = [a for a, _ in (await uow.session.execute(
        select(Allocation, Order.placed_at).join(Order, Order.id == Allocation.order_id).where(*at)
        .order_by(Order.placed_at, Order.id, Allocation.id).execution_options(populate_existing=True)
    )).all()]
    late = sorted({a.order_id for a in claims} - set(orders))
    orders.update(await _lock_orders(uow, late, nowait=True))  # committed since step 1: never wait for them (lock order)
    held = receipt.claimed - sum(a.open_quantity for a in claims if a.receipt_id == receipt_id)  # card placements in progress
    if held + receipt.received + quantity > receipt.quantity:
        raise DomainError(ErrorCode.UNAVAILABLE, f"Card placements in progress hold {held} units of this receipt; try again in a moment.",
                          ("quantity",))
    # 4. the units: the claims of the SKU at this warehouse filled in placement order, whichever receipt they wait on
    left = quantity
    filled: dict[uuid.UUID, int] = {}
    unclaimed: dict[uuid.UUID, int] = {}
    bound: list[Allocation] = []  # what still waits on a receipt afterwards
    for allocation in claims:
        take = min(allocation.open_quantity, left)
        if take == 0:
            bound.append(allocation)
            continue
        assert allocation.receipt_id is not None
        unclaimed[allocation.receipt_id] = unclaimed.get(allocation.receipt_id, 0) + take
        if take == allocation.open_quantity:
            allocation.receipt_id = None
        else:  # split: `take` units reserved now, the rest keeps waiting on its receipt
            allocation.quantity -= take
            uow.session.add(_bound_copy(allocation, take, None))
            bound.append(allocation)
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
    # 5. the receipts: the units filled are no longer claimed (on whichever receipt they waited)
    for rid, n in unclaimed.items():
        receipts[rid].claimed -= n
    receipt.received += quantity
    receipt.status = ReceiptStatus.RECEIVED if receipt.received == receipt.quantity else ReceiptStatus.PARTIALLY_RECEIVED
    receipt.received_at = now
    # 6. claims on this receipt beyond what it still expects (it served earlier orders waiting on later receipts): the
    # latest placed move to the other receipts' units those orders freed, earliest expected first
    rebound = _rebind(uow, receipt, receipts, bound)
    await uow.session.flush()
    waiting = {a.order_id: 0 for a in claims}
    for allocation in bound + rebound:
        if allocation.receipt_id is not None:
            waiting[allocation.order_id] += allocation.open_quantity
    moved = {a.order_id for a in rebound}
    for order_id, n in filled.items():  # in placement order (dicts keep insertion order)
        order = orders[order_id]
        events.record(uow, order, OrderEventType.BACKORDER_ALLOCATED, data={
            "receipt": str(receipt.id), "sku": receipt.sku, "quantity": n, "stillAwaited": waiting[order_id],
        })
    for order_id in [*filled, *sorted(moved - set(filled))]:
        order = orders[order_id]
        promise = await delivery.order_promise(uow.session, order=order, now=now)
        delivery.apply_order_promise(uow, order, promise, reason=OrderEventType.BACKORDER_ALLOCATED)
    return receipt


def _rebind(uow: UnitOfWork, receipt: StockReceipt, receipts: dict[uuid.UUID, StockReceipt], bound: list[Allocation]) -> list[Allocation]:
    """Move the claims `receipt` can no longer cover to the other open receipts (see step 6). Returns the allocations
    bound to another receipt now (new rows for a part of a claim). Fits: the orders served from the other receipts'
    claims freed at least as many units there as this receipt is over."""
    over = receipt.claimed - (receipt.quantity - receipt.received)
    if over <= 0:
        return []
    moving: list[tuple[Allocation, int]] = []  # the latest placed first
    for allocation in reversed([a for a in bound if a.receipt_id == receipt.id]):
        n = min(over, allocation.open_quantity)
        moving.append((allocation, n))
        over -= n
        if over == 0:
            break
    targets = [r for r in receipts.values() if r.id != receipt.id and r.status != ReceiptStatus.RECEIVED]  # expected_at order
    rebound: list[Allocation] = []
    for allocation, n in reversed(moving):  # placement order: the earlier orders get the earlier receipts
        for target in targets:
            room = target.quantity - target.received - target.claimed
            take = min(n, room)
            if take <= 0:
                continue
            if take == allocation.open_quantity:
                allocation.receipt_id = target.id
                rebound.append(allocation)
            else:
                allocation.quantity -= take
                copy = _bound_copy(allocation, take, target.id)
                uow.session.add(copy)
                rebound.append(copy)
            target.claimed += take
            receipt.claimed -= take
            n -= take
            if n == 0:
                break
        if n:  # cannot happen (see the doc)
            raise AssertionError(f"no receipt left to bind {n} units of {allocation.sku} to")
    return rebound
