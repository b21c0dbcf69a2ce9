"""Click-and-collect after placement (issue 19): ready at the pickup point, the pickup code, the collection.

- Placement reserved a PICKUP order's stocked units at its pickup point, and what the store lacked at other warehouses
  as transfers (app/orders/pickup.py; app/fulfilment/transfers.py ships them to the store).
- `mark_ready` (markReadyForPickup): a CONFIRMED or PROCESSING pickup order whose every unit still to hand over is
  reserved at the pickup point (no transfer left to ship or on its way, no unit still awaiting a stock receipt:
  backorders, issue 19), and whose made-to-order lines are READY,
  becomes READY_FOR_PICKUP (else INVALID_TRANSITION, nothing written). It gets a random 6-digit pickup code (`secrets`), shown to the customer in
  their tracking view while READY_FOR_PICKUP and never written to an event (events are public in tracking). On an
  order already READY_FOR_PICKUP it issues a new code and resets the wrong-code count (event READY_FOR_PICKUP,
  status unchanged): what staff does for a customer who lost the code or after too many wrong codes.
- `collect` (collectOrder): the code is compared in constant time (`hmac.compare_digest`) with the order row locked.
  A wrong code counts (`pickup_attempts + 1`) and the refusal is RETURNED, not raised, so the caller commits the
  count; at MAX_PICKUP_ATTEMPTS wrong codes every try is LIMIT_EXCEEDED until a new code is issued. The right code
  consumes the reservation like a shipment (on hand and reserved down at the pickup point, COLLECTION ledger rows,
  allocations' and lines' quantity_shipped), and the order is DELIVERED (event COLLECTED). Billing's on-shipment
  hooks (capture / invoice) are the flow's (app/flows/pickup.py). The right code collects only an order still ready
  by markReadyForPickup's rule, checked again (else INVALID_TRANSITION, nothing written).
- An edit of an order held from READY_FOR_PICKUP that leaves it not ready resumes CONFIRMED (`after_edit`).
- The promise of a pickup order is the day it should be ready at the store: no carrier transit (`ready_promise`), or
  the slowest transfer's arrival there (transfers, issue 19), or the day the receipts it awaits are expected
  (backorders, issue 19).
Lock order, as everywhere: the order row, then stock rows (by sku).
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode
from app.fulfilment import transfers
from app.fulfilment.carriers import default_rules
from app.fulfilment.outbound import consume_stock, on_hand_here, order_rows
from app.infra.database import UnitOfWork
from app.orders import backorders, events, production
from app.orders import promise as calendar
from app.orders.enums import DeliveryType, OrderEventType, OrderStatus
from app.orders.pickup import MAX_PICKUP_ATTEMPTS
from app.orders.service import get_for_update, transition
from models import Allocation, Order, OrderLine, Product, Warehouse
from models.receipts import StockReceipt

CODE_DIGITS = 6
LEDGER_KIND = "COLLECTION"
READY_FROM = frozenset({OrderStatus.CONFIRMED, OrderStatus.PROCESSING})


def new_code() -> str:
    return str(secrets.randbelow(10**CODE_DIGITS)).zfill(CODE_DIGITS)


def code_matches(stored: str | None, given: str) -> bool:
    """Constant-time comparison (no early exit on the first differing character)."""
    return stored is not None and hmac.compare_digest(stored.encode(), given.strip().encode())


async def _pickup_order(uow: UnitOfWork, order_id: uuid.UUID) -> tuple[Order, Warehouse]:
    order = await get_for_update(uow=uow, order_id=order_id)
    if order.delivery_type != DeliveryType.PICKUP or order.pickup_warehouse_id is None:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"Order {order.number} is shipped, not collected at a pickup point.", ("order_id",))
    warehouse = (await uow.session.execute(select(Warehouse).where(Warehouse.id == order.pickup_warehouse_id))).scalar_one()
    return order, warehouse


def event_data(warehouse: Warehouse) -> dict[str, Any]:
    """Where the order waits (no pickup code: event data is never the place for it)."""
    return {"warehouse": warehouse.code, "name": warehouse.name, "openingHours": warehouse.opening_hours, "timezone": warehouse.timezone}


def _check_all_at_pickup_point(order: Order, warehouse: Warehouse, lines: list[OrderLine], allocations: list[Allocation]) -> None:
    open_here: dict[uuid.UUID, int] = defaultdict(int)
    for a in allocations:
        if transfers.is_transfer(order, a) and a.quantity_shipped > 0:  # transfers, issue 19: shipped to the store, not arrived yet
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"{a.quantity_shipped} units of {a.sku} for order {order.number} are still in "
                              f"transit to pickup point {warehouse.code}.", ("order_id",))
        if a.open_quantity <= 0:
            continue
        if a.receipt_id is not None:  # backorders, issue 19: claimed on a stock receipt; not on hand anywhere yet
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"{a.open_quantity} units of {a.sku} for order {order.number} await a stock "
                              "receipt that has not arrived yet.", ("order_id",))
        if a.warehouse_id != warehouse.id:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"Units of {a.sku} for order {order.number} are reserved in another warehouse, "
                              f"not at pickup point {warehouse.code} (a transfer not shipped yet).", ("order_id",))
        open_here[a.order_line_id] += a.open_quantity
    for line in lines:
        if line.made_to_order:
            if not production.is_ready(line):
                raise DomainError(ErrorCode.INVALID_TRANSITION, f"Made-to-order {production.describe(line)} of order {order.number} is "
                                  f"{production.stage_of(line)}, not READY.", ("order_id",))
            continue
        missing = line.quantity - line.quantity_shipped - open_here[line.id]
        if missing > 0:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"{missing} units of {line.sku} for order {order.number} are not reserved at "
                              f"pickup point {warehouse.code}.", ("order_id",))


async def mark_ready(*, uow: UnitOfWork, order_id: uuid.UUID) -> Order:
    """markReadyForPickup (see the module doc). Returns the locked order."""
    order, warehouse = await _pickup_order(uow, order_id)
    now = calendar.utcnow()
    if order.status == OrderStatus.READY_FOR_PICKUP:  # a new code (lost, or locked by wrong codes)
        order.pickup_code, order.pickup_attempts = new_code(), 0
        order.updated_at = now
        events.record(uow, order, OrderEventType.READY_FOR_PICKUP, data={**event_data(warehouse), "newCode": True})
        return order
    if order.status not in READY_FROM:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {order.status} cannot become READY_FOR_PICKUP.", ("order_id",))
    lines, allocations = await order_rows(uow=uow, order_ids=[order.id])
    _check_all_at_pickup_point(order, warehouse, lines[order.id], allocations[order.id])
    order.pickup_code, order.pickup_attempts, order.ready_for_pickup_at = new_code(), 0, now
    transition(uow, order, OrderStatus.READY_FOR_PICKUP, data=event_data(warehouse), type_=OrderEventType.READY_FOR_PICKUP)
    return order


async def after_edit(*, uow: UnitOfWork, order: Order) -> None:
    """After an order's lines changed (editOrder, cancelOrderLines; the order locked). Only an order held FROM
    READY_FOR_PICKUP can be edited while it was ready (READY_FOR_PICKUP itself is not editable): when the changed order
    is not ready any more (a unit not at the pickup point, a made-to-order line not READY, a receipt awaited), the hold
    resumes CONFIRMED instead (`held_from`) and the pickup code is withdrawn; once it is ready again,
    markReadyForPickup issues a new code. Still ready (e.g. a line removed): nothing changes, the code stays valid."""
    if order.delivery_type != DeliveryType.PICKUP or order.status != OrderStatus.ON_HOLD or order.held_from != OrderStatus.READY_FOR_PICKUP:
        return
    warehouse = (await uow.session.execute(select(Warehouse).where(Warehouse.id == order.pickup_warehouse_id))).scalar_one()
    lines, allocations = await order_rows(uow=uow, order_ids=[order.id])
    try:
        _check_all_at_pickup_point(order, warehouse, lines[order.id], allocations[order.id])
    except DomainError:
        order.held_from, order.pickup_code, order.pickup_attempts = OrderStatus.CONFIRMED, None, 0


async def _consume(uow: UnitOfWork, *, order: Order, warehouse: Warehouse, lines: list[OrderLine], allocations: list[Allocation]) -> list[dict[str, Any]]:
    """Hand every unit over (the order checked ready first): its units on hand at the pickup point leave like a
    shipment's (outbound.consume_stock, COLLECTION rows); its made-to-order lines (READY) go with them."""
    per_sku: dict[str, int] = defaultdict(int)
    by_line = {line.id: line for line in lines}
    handed: dict[str, int] = defaultdict(int)
    for a in allocations:
        if on_hand_here(a, warehouse.id):  # never a receipt-bound allocation (backorders, issue 19): its units have not arrived
            quantity = a.open_quantity
            per_sku[a.sku] += quantity
            a.quantity_shipped += quantity
            by_line[a.order_line_id].quantity_shipped += quantity
            handed[a.sku] += quantity
    for line in lines:
        if line.made_to_order and line.quantity > line.quantity_shipped:
            handed[line.sku] += line.quantity - line.quantity_shipped
            line.quantity_shipped = line.quantity
    await consume_stock(uow, order=order, warehouse=warehouse, per_sku=per_sku, kind=LEDGER_KIND, reason=f"collected at {warehouse.code}")
    return [{"sku": sku, "quantity": q} for sku, q in sorted(handed.items())]


async def collect(*, uow: UnitOfWork, order_id: uuid.UUID, pickup_code: str) -> Order | DomainError:
    """collectOrder (see the module doc): the DELIVERED order, or the refusal of a wrong code, RETURNED so that the
    caller commits the attempt it counted. Other refusals are raised (nothing written)."""
    order, warehouse = await _pickup_order(uow, order_id)
    if order.status != OrderStatus.READY_FOR_PICKUP:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {order.status} cannot be collected (it must be READY_FOR_PICKUP).",
                          ("order_id",))
    if order.pickup_attempts >= MAX_PICKUP_ATTEMPTS:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"{MAX_PICKUP_ATTEMPTS} wrong pickup codes were tried: staff must issue a new code "
                          "(markReadyForPickup) before this order can be collected.", ("pickup_code",))
    if not code_matches(order.pickup_code, pickup_code):
        order.pickup_attempts += 1
        left = MAX_PICKUP_ATTEMPTS - order.pickup_attempts
        return DomainError(ErrorCode.INVALID_INPUT, f"Wrong pickup code ({left} tries left).", ("pickup_code",))
    lines, allocations = await order_rows(uow=uow, order_ids=[order.id])
    # ready again, now: an edit while held (or anything else) may have changed the order since markReadyForPickup
    _check_all_at_pickup_point(order, warehouse, lines[order.id], allocations[order.id])
    handed = await _consume(uow, order=order, warehouse=warehouse, lines=lines[order.id], allocations=allocations[order.id])
    order.pickup_code = None
    transition(uow, order, OrderStatus.DELIVERED, data={"warehouse": warehouse.code, "lines": handed}, type_=OrderEventType.COLLECTED)
    return order


def ready_day(*, ready_at: datetime, cutoff: Any, tz_name: str) -> date:
    """The day goods ready at `ready_at` can be handed over at the store: that business day before the cut-off, else the next."""
    return calendar.estimate_delivery(start=ready_at, transit_days=0, cutoff=cutoff, tz_name=tz_name)


async def _receipt_days(session: AsyncSession, *, store_id: uuid.UUID | None, rules: Any, start: datetime,
                        awaited: Iterable[tuple[uuid.UUID, datetime]]) -> list[date]:
    """backorders, issue 19: units claimed on stock receipts, (warehouse id, expected at) each, are ready at the store
    the day their receipt is expected (or from `start`, if that is past): handed over that day at the store's own
    receipts (its cut-off), or after a transfer's transit from another warehouse's."""
    days: list[date] = []
    for warehouse_id, expected_at in sorted(set(awaited)):
        ready_at = max(expected_at, start)
        if store_id is None or warehouse_id == store_id:
            days.append(ready_day(ready_at=ready_at, cutoff=rules.cutoff_time, tz_name=rules.timezone))
        else:
            days += await transfers.arrival_days(session, order_id=None, store_id=store_id, rules=rules, now=ready_at, pending_from=[warehouse_id])
    return days


async def ready_promise(session: AsyncSession, *, placed_at: datetime, made_to_order_lead_days: int | None,
                        store_id: uuid.UUID | None = None, transfer_from: Iterable[uuid.UUID] = (),
                        awaited: Iterable[tuple[uuid.UUID, datetime]] = ()) -> date:
    """A pickup placement's promise: ready at the store (the default carrier's cut-off and calendar, no transit), or
    (transfers, issue 19) when the slowest transfer from the warehouses `transfer_from` arrives there, or (backorders,
    issue 19) when the last receipt it awaits, `awaited` (warehouse id, expected at), is expected (`_receipt_days`)."""
    rules = await default_rules(session)
    ready = ready_day(ready_at=placed_at + timedelta(days=made_to_order_lead_days or 0), cutoff=rules.cutoff_time, tz_name=rules.timezone)
    ready = max([ready, *await _receipt_days(session, store_id=store_id, rules=rules, start=placed_at, awaited=awaited)])
    sources = sorted(set(transfer_from) - {store_id})
    if store_id is None or not sources:
        return ready
    return max([ready, *await transfers.arrival_days(session, order_id=None, store_id=store_id, rules=rules, now=placed_at, pending_from=sources)])


async def placement_ready_promise(session: AsyncSession, placement: Any) -> date:
    """A pickup placement's promise from the placement itself (its picks outside the pickup point are transfers; its
    receipt claims, backorders, issue 19, are ready when expected)."""
    return await ready_promise(session, placed_at=calendar.utcnow(), made_to_order_lead_days=placement.made_to_order_lead_days,
                               store_id=placement.pickup_warehouse_id, transfer_from=placement.warehouse_ids,
                               awaited=[(w, expected_at) for w, _, _, _, expected_at in backorders.ready_later(placement)])


async def order_ready_promise(session: AsyncSession, *, order: Order, now: datetime) -> date:
    """A pickup order's current promise (recomputed as its production moves, a receipt arrives, ...): the slowest
    made-to-order line still to hand over, by its remaining production days, ready at the store; the receipts its
    open allocations still await (backorders, issue 19); its transfers."""
    rows = (await session.execute(
        select(Product.lead_time_days, OrderLine.production_stage, OrderLine.production_started_at)
        .join(OrderLine, OrderLine.product_id == Product.id)
        .where(OrderLine.order_id == order.id, OrderLine.made_to_order, OrderLine.quantity_shipped < OrderLine.quantity)
    )).all()
    ready_at = max((calendar.production_ready_at(stage=stage, lead_time_days=lead, started_at=started, now=now) for lead, stage, started in rows),
                   default=now)
    rules = await default_rules(session)
    ready = ready_day(ready_at=ready_at, cutoff=rules.cutoff_time, tz_name=rules.timezone)
    awaited = [(w, expected_at) for w, expected_at in (await session.execute(  # backorders, issue 19: open allocations bound to a receipt
        select(StockReceipt.warehouse_id, StockReceipt.expected_at).join(Allocation, Allocation.receipt_id == StockReceipt.id)
        .where(Allocation.order_id == order.id, Allocation.quantity > Allocation.quantity_shipped + Allocation.quantity_released)
    )).all()]
    ready = max([ready, *await _receipt_days(session, store_id=order.pickup_warehouse_id, rules=rules, start=now, awaited=awaited)])
    if order.pickup_warehouse_id is None:
        return ready
    # transfers, issue 19: units still to transfer (from now) or on their way (their shipment's estimate)
    return max([ready, *await transfers.arrival_days(session, order_id=order.id, store_id=order.pickup_warehouse_id, rules=rules, now=now)])
