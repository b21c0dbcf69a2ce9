"""Ship-to-store transfers for click-and-collect (issue 19): the units a pickup point lacks come from other warehouses.

- Placement (app/orders/pickup.py `plan`): a PICKUP order reserves at its pickup point what the store has free; only
  the shortfall is reserved at other warehouses serving the channel (by the sourcing rules / priority), through the same
  one-statement conditional reservation as any order (never oversold). Such an open allocation of a PICKUP order at a
  warehouse other than its pickup point IS a transfer allocation (`is_transfer`): no column marks it, so placement's
  writes are untouched.
- createShipment of a PICKUP order from such a warehouse ships its transfer allocations there like any allocation (pick
  lists list them too), with any active carrier: the shipment is flagged `transfer_to_warehouse_id` = the pickup point.
  The source's units leave `on_hand` and `reserved` as for a parcel, with TRANSFER_OUT ledger rows; the order lines'
  `quantity_shipped` does NOT move (the customer has nothing yet), the order's status does not move either (it stays
  CONFIRMED / PROCESSING: "being prepared"), the event is TRANSFER_SHIPPED (internal: neither a public event type nor a
  status change, so the public tracking view never shows it) and billing is not called (capture / invoice at "shipment"
  happen at the collection, app/flows/pickup.py).
- Carrier reports on a transfer (recordTrackingEvent, app/fulfilment/tracking.py) derive the shipment's status as for any
  parcel but write TRANSFER_UPDATED (internal) instead of TRACKING_UPDATED, and never deliver the order. The first
  DELIVERED report moves the units into the store exactly once (`shipments.transfer_arrived_at` is the guard, the order
  and shipment rows locked): store `on_hand + n` and `reserved + n` (ledger TRANSFER_IN, reason naming the shipment), the
  allocation re-pointed to the store (`transferred_from_warehouse_id` = the source; a partly shipped allocation is split),
  event TRANSFER_ARRIVED. markReadyForPickup is refused while any unit is still to transfer or on its way.
- Cancelled before arrival: cancelOrder releases what is still reserved at the source (units not shipped yet); units
  already on their way arrive as free stock at the store (on_hand + n, reserved unchanged, the allocation re-pointed and
  released). Cancelled after arrival: the store's units are released, as for any order.
- A transfer RETURNED_TO_SENDER puts its units back at the source (ledger RETURN_TO_SENDER with the shipment id as the
  reference, then RESERVATION), reserved again for the order (or free if it was cancelled): the allocation is open at the
  source again and can be transferred again. The order's status does not move.
- The promise of a PICKUP order with transfers is the slowest transfer's arrival at the store (the default carrier's
  transit from the source, or a shipped transfer's own estimate), handed over the day it arrives (`arrival_days`).
Lock order, as everywhere: the order row, the shipment row, then stock rows by (sku, warehouse).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode
from app.fulfilment.carriers import CarrierRules
from app.fulfilment.enums import ShipmentStatus
from app.infra.database import UnitOfWork
from app.orders import events
from app.orders import promise as calendar
from app.orders.allocation import notify_stock
from app.orders.enums import DeliveryType, OrderEventType, OrderStatus
from models import Allocation, Order, OrderLine, StockLevel, StockMovement, Warehouse
from models.fulfilment import Shipment, ShipmentLine

LEDGER_OUT = "TRANSFER_OUT"
LEDGER_IN = "TRANSFER_IN"
RETURNED_KIND = "RETURN_TO_SENDER"  # the same rows as a returned parcel's (app/fulfilment/returns_to_sender.py)


def is_transfer(order: Order, allocation: Allocation) -> bool:
    """An allocation of a PICKUP order at a warehouse other than its pickup point: units to bring to the store."""
    return (order.delivery_type == DeliveryType.PICKUP and order.pickup_warehouse_id is not None
            and allocation.warehouse_id != order.pickup_warehouse_id and allocation.receipt_id is None)


async def shipped_to(session: AsyncSession, order: Order, warehouse: Warehouse) -> Warehouse | None:
    """createShipment's destination check: None for a shipped (SHIP) order; for a PICKUP order the pickup point the
    shipment transfers to, from any other warehouse (INVALID_TRANSITION from the pickup point itself: collected there)."""
    if order.delivery_type != DeliveryType.PICKUP:
        return None
    if order.pickup_warehouse_id is None or warehouse.id == order.pickup_warehouse_id:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"Order {order.number} is collected at its pickup point, not shipped "
                          "(only transfers from other warehouses to the pickup point ship).", ("order_id",))
    return (await session.execute(select(Warehouse).where(Warehouse.id == order.pickup_warehouse_id))).scalar_one()


def shipped_event_data(shipment_id: uuid.UUID, source: Warehouse, store: Warehouse, carrier: str, tracking_number: str | None,
                       lines: Iterable[tuple[str, int]]) -> dict[str, Any]:
    return {"shipment": str(shipment_id), "from": source.code, "to": store.code, "carrier": carrier, "trackingNumber": tracking_number,
            "lines": [{"sku": sku, "quantity": q} for sku, q in lines]}


def record_shipped(uow: UnitOfWork, order: Order, data: dict[str, Any]) -> None:
    """TRANSFER_SHIPPED: internal (the order's status does not move)."""
    events.record(uow, order, OrderEventType.TRANSFER_SHIPPED, data=data)


# ---------------------------------------------------------------- reports on a transfer parcel


async def track(uow: UnitOfWork, order: Order, shipment: Shipment, *, reported: ShipmentStatus, occurred: datetime, location: str | None) -> None:
    """A carrier report on a transfer (its state already derived and set on the locked shipment): the internal event,
    then the arrival or the return, each once."""
    events.record(uow, order, OrderEventType.TRANSFER_UPDATED, data={
        "shipment": str(shipment.id), "reported": reported, "occurredAt": occurred.isoformat(), "shipmentStatus": shipment.status,
        "location": location,
    })
    if shipment.status == ShipmentStatus.DELIVERED and shipment.transfer_arrived_at is None and shipment.restocked_at is None:
        await _land(uow, order, shipment, arrived=True)
    elif shipment.status == ShipmentStatus.RETURNED_TO_SENDER and shipment.restocked_at is None and shipment.transfer_arrived_at is None:
        await _land(uow, order, shipment, arrived=False)


async def _land(uow: UnitOfWork, order: Order, shipment: Shipment, *, arrived: bool) -> None:
    """The parcel's units back on hand: at the store (`arrived`) or at the source (returned). Reserved for the order
    again as far as its lines still want them (`_surplus`); the rest (all of it for a cancelled order) is free stock,
    its allocation released."""
    now = calendar.utcnow()
    source, target = shipment.warehouse_id, (shipment.transfer_to_warehouse_id if arrived else shipment.warehouse_id)
    assert target is not None
    if arrived:
        shipment.transfer_arrived_at = now
    else:
        shipment.restocked_at = now
    lines = (await uow.session.execute(
        select(ShipmentLine).where(ShipmentLine.shipment_id == shipment.id, ShipmentLine.allocation_id.is_not(None)).order_by(ShipmentLine.sku)
    )).scalars().all()
    order_lines = {line.id: line for line in (await uow.session.execute(select(OrderLine).where(OrderLine.order_id == order.id))).scalars()}
    every = (await uow.session.execute(
        select(Allocation).where(Allocation.order_id == order.id).execution_options(populate_existing=True)
    )).scalars().all()
    allocations = {a.id: a for a in every}
    surplus = _surplus(order, order_lines.values(), every)
    per_sku: dict[str, int] = defaultdict(int)
    kept: dict[str, int] = defaultdict(int)
    for line in lines:
        a, q = allocations[line.allocation_id], line.quantity  # type: ignore[index]
        free = min(q, max(surplus[a.order_line_id], 0))
        surplus[a.order_line_id] -= free
        keep = q - free
        per_sku[a.sku] += q
        kept[a.sku] += keep
        if not arrived:  # back at the source: the allocation is open there again (or released)
            a.quantity_shipped -= q
            a.quantity_released += free
        elif a.warehouse_id == source and a.quantity == q and a.quantity_shipped == q and a.quantity_released == 0:  # re-pointed whole
            a.warehouse_id, a.quantity_shipped, a.quantity_released, a.transferred_from_warehouse_id = target, 0, free, source
        else:  # part of a larger allocation: split off the units that arrived
            a.quantity -= q
            a.quantity_shipped -= q
            uow.session.add(Allocation(id=uuid.uuid4(), order_id=a.order_id, order_line_id=a.order_line_id, warehouse_id=target, sku=a.sku,
                                       quantity=q, quantity_shipped=0, quantity_released=free, transferred_from_warehouse_id=source))
    if per_sku:
        products = {line.sku: line.product_id for line in order_lines.values()}
        for sku, q in sorted(per_sku.items()):  # (sku, warehouse) order; the store may have had no row for the SKU
            await uow.session.execute(
                pg_insert(StockLevel)
                .values(id=uuid.uuid4(), product_id=products[sku], sku=sku, warehouse_id=target, on_hand=q, reserved=kept[sku])
                .on_conflict_do_update(constraint="uq_stock_levels_sku_warehouse", set_={
                    "on_hand": StockLevel.on_hand + q, "reserved": StockLevel.reserved + kept[sku]})
            )
        rows: list[dict[str, Any]] = []
        for sku, q in sorted(per_sku.items()):
            common = {"sku": sku, "warehouse_id": target, "actor": uow.actor}
            if arrived:
                rows.append({**common, "kind": LEDGER_IN, "on_hand_delta": q, "reserved_delta": kept[sku], "reference": order.number,
                             "reason": f"transfer {shipment.id} arrived" + ("" if kept[sku] == q else f" ({q - kept[sku]} no longer wanted: free)")})
            else:
                rows.append({**common, "kind": RETURNED_KIND, "on_hand_delta": q, "reserved_delta": 0, "reference": str(shipment.id),
                             "reason": f"order {order.number}: transfer returned to sender"})
                if kept[sku]:
                    rows.append({**common, "kind": "RESERVATION", "on_hand_delta": 0, "reserved_delta": kept[sku], "reference": order.number,
                                 "reason": f"reserved again for a new transfer (shipment {shipment.id} returned to sender)"})
        await uow.session.execute(insert(StockMovement), rows)
        for sku in sorted(per_sku):
            notify_stock(uow.notices, sku, target)
    await uow.session.flush()
    events.record(uow, order, OrderEventType.TRANSFER_ARRIVED if arrived else OrderEventType.TRANSFER_UPDATED, data={
        "shipment": str(shipment.id), "arrived": arrived, "returnedToSender": not arrived,
        "lines": [{"sku": sku, "quantity": q, "reserved": kept[sku]} for sku, q in sorted(per_sku.items())],
    })


def _surplus(order: Order, lines: Iterable[OrderLine], allocations: Iterable[Allocation]) -> dict[uuid.UUID, int]:
    """Per order line, the units it holds (open anywhere, or on their way by transfer) beyond what it still wants: a
    line cancelled or reduced while its units travelled (their allocation could not be released then), or every unit
    of a cancelled order. Landing units fill what is wanted first; the surplus lands free."""
    held: dict[uuid.UUID, int] = defaultdict(int)
    for a in allocations:
        held[a.order_line_id] += a.open_quantity + (a.quantity_shipped if is_transfer(order, a) else 0)
    cancelled = order.status == OrderStatus.CANCELLED
    return {line.id: held[line.id] if cancelled else held[line.id] - (line.quantity - line.quantity_shipped) for line in lines}


# ---------------------------------------------------------------- the promise


async def arrival_days(session: AsyncSession, *, order_id: uuid.UUID | None, store_id: uuid.UUID, rules: CarrierRules, now: datetime,
                       pending_from: Iterable[uuid.UUID] = ()) -> list[date]:
    """When the units still to come reach the store: a transfer not shipped yet leaves now with the default carrier's
    rules (`rules`) from its source; one on its way arrives on its shipment's estimate. `order_id`: read the order's
    open transfer allocations and transfer shipments (None at placement: `pending_from` names the sources)."""
    sources = set(pending_from)
    days: list[date] = []
    if order_id is not None:
        sources |= set((await session.execute(
            select(Allocation.warehouse_id).where(Allocation.order_id == order_id, Allocation.warehouse_id != store_id, Allocation.receipt_id.is_(None),
                                                  Allocation.quantity > Allocation.quantity_shipped + Allocation.quantity_released)
        )).scalars().all())
        days += [d for d in (await session.execute(
            select(Shipment.estimated_delivery_date).where(Shipment.order_id == order_id, Shipment.transfer_to_warehouse_id.is_not(None),
                                                           Shipment.transfer_arrived_at.is_(None), Shipment.restocked_at.is_(None))
        )).scalars().all() if d is not None]
    if sources:
        countries = dict((await session.execute(
            select(Warehouse.id, Warehouse.country).where(Warehouse.id.in_(sorted(sources | {store_id})))
        )).all())
        for source in sorted(sources):
            days.append(calendar.estimate_delivery(
                start=now, transit_days=rules.transit_to(origin_country=countries[source], destination_country=countries[store_id]),
                cutoff=rules.cutoff_time, tz_name=rules.timezone,
            ))
    return days
