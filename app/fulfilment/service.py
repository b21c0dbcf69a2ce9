"""Fulfilment actions: issue pick lists, ship, record carriers' tracking events.

Each runs inside the caller's unit of work and raises DomainError to refuse (nothing is written).
Lock order, as everywhere: order rows (by id) -> stock rows (by sku, warehouse) -> counter rows.

Made-to-order lines hold no reservation: they are produced for the order. They go on the pick
list of, and ship by default from, the order's made-to-order warehouse (the first, by priority,
of the warehouses holding its reservations, else the first serving its channel); staff may ship
them from any warehouse by naming them in `lines`. They move no stock and write no ledger rows.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.billing import hooks as billing_hooks
from app.infra.database import UnitOfWork
from app.errors import DomainError, ErrorCode, collect
from app.fulfilment import carriers as carrier_rules
from app.fulfilment.promise import apply_order_promise, choose_made_to_order_warehouse, order_promise, parcel_arrival
from app.fulfilment.tracking import REPORTABLE, derive_state
from app.orders import events
from app.orders import promise as calendar
from app.orders.allocation import notify_stock
from app.orders.service import get_for_update, transition
from app.orders.state_machine import OrderStatus
from models import Allocation, Order, OrderLine, StockLevel, StockMovement, Warehouse
from models.fulfilment import Carrier, PickList, PickListLine, Shipment, ShipmentLine, TrackingEvent

SHIPMENT_CREATED = "SHIPMENT_CREATED"
PICK_LIST_CREATED = "PICK_LIST_CREATED"
TRACKING_UPDATED = "TRACKING_UPDATED"
PICK_LIST_COUNTER = "pick_list"
# Orders still in the warehouse's hands: confirmed, being picked, or partly gone.
FULFILLABLE = frozenset({OrderStatus.CONFIRMED.value, OrderStatus.PROCESSING.value, OrderStatus.PARTIALLY_SHIPPED.value})
MAX_ORDERS_PER_PICK_LIST = 200
MAX_SHIP_QUANTITY = 10_000
# Carriers' clocks drift; an event further ahead than this is a mistake, not a report.
MAX_CLOCK_SKEW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class ShipLine:
    sku: str
    quantity: int


@dataclass(slots=True)
class _Take:
    """Units of one order line leaving with a pick list or a shipment (allocation None: made to order)."""

    line: OrderLine
    allocation: Allocation | None
    quantity: int


async def _warehouse(uow: UnitOfWork, code: str) -> Warehouse:
    warehouse = (await uow.session.execute(select(Warehouse).where(Warehouse.code == code.strip()))).scalar_one_or_none()
    if warehouse is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"Unknown warehouse {code!r}.", ["input", "warehouseCode"])
    return warehouse


async def _order_rows(uow: UnitOfWork, order_ids: list[uuid.UUID]) -> tuple[dict[uuid.UUID, list[OrderLine]], dict[uuid.UUID, list[Allocation]]]:
    lines: dict[uuid.UUID, list[OrderLine]] = defaultdict(list)
    allocations: dict[uuid.UUID, list[Allocation]] = defaultdict(list)
    for line in (await uow.session.execute(select(OrderLine).where(OrderLine.order_id.in_(order_ids)).order_by(OrderLine.order_id, OrderLine.position))).scalars():
        lines[line.order_id].append(line)
    for allocation in (await uow.session.execute(select(Allocation).where(Allocation.order_id.in_(order_ids)))).scalars():
        allocations[allocation.order_id].append(allocation)
    return lines, allocations


# ---------------------------------------------------------------- pick lists


async def _next_pick_list_number(uow: UnitOfWork) -> str:
    # A counter row, not a sequence: numbers stay gapless when a transaction rolls back.
    value = (
        await uow.session.execute(
            text("INSERT INTO counters (name, value) VALUES (:name, 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value"),
            {"name": PICK_LIST_COUNTER},
        )
    ).scalar_one()
    return f"PL-{value:06d}"


async def _candidate_orders(uow: UnitOfWork, warehouse: Warehouse) -> list[uuid.UUID]:
    """Fulfillable orders with something unpicked there (stock reserved there, or made-to-order units)."""
    open_here = select(Allocation.order_id).where(
        Allocation.warehouse_id == warehouse.id, Allocation.quantity > Allocation.quantity_shipped + Allocation.quantity_released
    )
    made_to_order = select(OrderLine.order_id).where(OrderLine.made_to_order, OrderLine.quantity > OrderLine.quantity_shipped)
    statement = (
        select(Order.id)
        .where(Order.status.in_(FULFILLABLE))
        .where(Order.id.in_(open_here) | (Order.id.in_(made_to_order) & Order.channel.in_(warehouse.channels or [])))
        .order_by(Order.placed_at, Order.id)
        .limit(MAX_ORDERS_PER_PICK_LIST)
    )
    return list((await uow.session.execute(statement)).scalars())


async def _unpicked(uow: UnitOfWork, orders: list[Order], warehouse: Warehouse) -> dict[uuid.UUID, list[_Take]]:
    """Per order, the units still to pick in `warehouse`: reserved there (or made to order and
    packed there) and neither on an earlier pick list nor shipped."""
    lines, allocations = await _order_rows(uow, [o.id for o in orders])
    all_allocations = [a for group in allocations.values() for a in group]
    listed_by_allocation = dict(
        (await uow.session.execute(
            select(PickListLine.allocation_id, func.sum(PickListLine.quantity))
            .where(PickListLine.allocation_id.in_([a.id for a in all_allocations])).group_by(PickListLine.allocation_id)
        )).all()
    ) if all_allocations else {}
    made_to_order_ids = [l.id for group in lines.values() for l in group if l.made_to_order]
    listed_made_to_order = dict(
        (await uow.session.execute(
            select(PickListLine.order_line_id, func.sum(PickListLine.quantity))
            .where(PickListLine.order_line_id.in_(made_to_order_ids), PickListLine.allocation_id.is_(None)).group_by(PickListLine.order_line_id)
        )).all()
    ) if made_to_order_ids else {}
    warehouses = (await uow.session.execute(select(Warehouse))).scalars().all()

    result: dict[uuid.UUID, list[_Take]] = {}
    for order in orders:
        by_line = {l.id: l for l in lines[order.id]}
        takes: list[_Take] = []
        for allocation in sorted(allocations[order.id], key=lambda a: (by_line[a.order_line_id].position, a.sku)):
            if allocation.warehouse_id != warehouse.id:
                continue
            quantity = allocation.quantity - allocation.quantity_released - max(listed_by_allocation.get(allocation.id, 0), allocation.quantity_shipped)
            if quantity > 0:
                takes.append(_Take(by_line[allocation.order_line_id], allocation, quantity))
        packing = choose_made_to_order_warehouse(warehouses, channel=order.channel, allocation_warehouse_ids=[a.warehouse_id for a in allocations[order.id]])
        if packing is not None and packing.id == warehouse.id:
            for line in lines[order.id]:
                if line.made_to_order:
                    quantity = line.quantity - max(listed_made_to_order.get(line.id, 0), line.quantity_shipped)
                    if quantity > 0:
                        takes.append(_Take(line, None, quantity))
        takes.sort(key=lambda t: t.line.position)
        result[order.id] = takes
    return result


async def create_pick_list(*, uow: UnitOfWork, warehouse_code: str, order_ids: list[uuid.UUID] | None = None) -> PickList:
    """A pick list for `warehouse_code` over the given orders (or every fulfillable order with units to
    pick there). Units go on one pick list only. Issuing it moves a CONFIRMED order to PROCESSING."""
    if order_ids is not None and not order_ids:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give at least one order, or leave orderIds out.", ["input", "orderIds"])
    if order_ids is not None and len(order_ids) > MAX_ORDERS_PER_PICK_LIST:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_ORDERS_PER_PICK_LIST} orders per pick list.", ["input", "orderIds"])
    warehouse = await _warehouse(uow, warehouse_code)
    explicit = order_ids is not None
    wanted = list(dict.fromkeys(order_ids)) if explicit else await _candidate_orders(uow, warehouse)
    locked = {
        o.id: o
        for o in (await uow.session.execute(select(Order).where(Order.id.in_(wanted)).order_by(Order.id).with_for_update())).scalars()
    }
    errors: list[DomainError] = []
    if explicit:
        field_of = {order_id: ["input", "orderIds", str(i)] for i, order_id in reversed(list(enumerate(order_ids or [])))}
        for order_id in wanted:
            order = locked.get(order_id)
            if order is None:
                errors.append(DomainError(ErrorCode.NOT_FOUND, "No such order.", field_of[order_id]))
            elif order.status not in FULFILLABLE:
                errors.append(DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {order.status} cannot be picked.", field_of[order_id]))
        collect(errors)
    orders = [locked[i] for i in wanted if i in locked and locked[i].status in FULFILLABLE]  # re-checked under the lock
    unpicked = await _unpicked(uow, orders, warehouse)
    if explicit:
        collect([
            DomainError(ErrorCode.INVALID_INPUT, f"Order {o.number} has nothing left to pick in {warehouse.code}.", field_of[o.id])
            for o in orders if not unpicked[o.id]
        ])
    orders = [o for o in orders if unpicked[o.id]]
    if not orders:
        raise DomainError(ErrorCode.INVALID_INPUT, f"No confirmed order has units to pick in {warehouse.code}.", ["input", "warehouseCode"])

    pick_list = PickList(id=uuid.uuid4(), number=await _next_pick_list_number(uow), warehouse_id=warehouse.id, created_by=uow.actor)
    uow.session.add(pick_list)
    await uow.session.flush()
    position = 0
    rows = []
    for order in sorted(orders, key=lambda o: o.serial):
        for take in unpicked[order.id]:
            rows.append(
                PickListLine(
                    id=uuid.uuid4(), pick_list_id=pick_list.id, position=position, order_id=order.id, order_line_id=take.line.id,
                    allocation_id=take.allocation.id if take.allocation else None, order_number=order.number, sku=take.line.sku,
                    product_name=take.line.product_name, quantity=take.quantity,
                )
            )
            position += 1
        data = {"pickList": pick_list.number, "warehouse": warehouse.code, "units": sum(t.quantity for t in unpicked[order.id])}
        if order.status == OrderStatus.CONFIRMED.value:
            transition(uow, order, OrderStatus.PROCESSING, data=data, type_=PICK_LIST_CREATED)
        else:
            events.record(uow, order, PICK_LIST_CREATED, data=data)
    uow.session.add_all(rows)
    return pick_list


# ---------------------------------------------------------------- shipments


def _plan_shipment(
    *, order: Order, warehouse: Warehouse, lines: list[OrderLine], allocations: list[Allocation], requested: list[ShipLine] | None,
    packs_made_to_order: bool,
) -> list[_Take]:
    by_line = {l.id: l for l in lines}
    open_here: dict[str, list[Allocation]] = defaultdict(list)
    for a in sorted(allocations, key=lambda a: by_line[a.order_line_id].position):
        if a.warehouse_id == warehouse.id and a.open_quantity > 0:
            open_here[a.sku].append(a)
    made_to_order: dict[str, list[OrderLine]] = defaultdict(list)
    for line in lines:
        if line.made_to_order and line.quantity > line.quantity_shipped:
            made_to_order[line.sku].append(line)

    if requested is None:
        takes = [_Take(by_line[a.order_line_id], a, a.open_quantity) for group in open_here.values() for a in group]
        if packs_made_to_order:
            takes += [_Take(l, None, l.quantity - l.quantity_shipped) for group in made_to_order.values() for l in group]
        if not takes:
            raise DomainError(ErrorCode.INVALID_INPUT, f"Order {order.number} has nothing left to ship from {warehouse.code}.", ["input", "warehouseCode"])
        return takes

    skus_on_order = {l.sku for l in lines}
    merged: dict[str, tuple[int, int]] = {}  # sku -> (first input index, total quantity)
    errors: list[DomainError] = []
    for i, line in enumerate(requested):
        field = ["input", "lines", str(i)]
        sku = line.sku.strip()
        if line.quantity < 1:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "Quantity must be at least 1.", [*field, "quantity"]))
        elif line.quantity > MAX_SHIP_QUANTITY:
            errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"Quantity must be at most {MAX_SHIP_QUANTITY}.", [*field, "quantity"]))
        elif sku not in skus_on_order:
            errors.append(DomainError(ErrorCode.NOT_FOUND, f"{sku!r} is not on order {order.number}.", [*field, "sku"]))
        else:
            first, total = merged.get(sku, (i, 0))
            merged[sku] = (first, total + line.quantity)
    collect(errors)

    takes: list[_Take] = []
    for sku, (first, quantity) in merged.items():
        if sku in made_to_order or any(l.made_to_order and l.sku == sku for l in lines):
            left = sum(l.quantity - l.quantity_shipped for l in made_to_order[sku])
            if quantity > left:
                errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Only {left} made-to-order units of {sku} are left to ship.", ["input", "lines", str(first), "quantity"]))
                continue
            for line in made_to_order[sku]:
                take = min(quantity, line.quantity - line.quantity_shipped)
                if take > 0:
                    takes.append(_Take(line, None, take))
                    quantity -= take
        else:
            left = sum(a.open_quantity for a in open_here[sku])
            if quantity > left:
                errors.append(DomainError(
                    ErrorCode.INVALID_INPUT, f"Only {left} units of {sku} are reserved in {warehouse.code} and not yet shipped.",
                    ["input", "lines", str(first), "quantity"],
                ))
                continue
            for allocation in open_here[sku]:
                take = min(quantity, allocation.open_quantity)
                if take > 0:
                    takes.append(_Take(by_line[allocation.order_line_id], allocation, take))
                    quantity -= take
    collect(errors)
    return takes


async def _consume_reservations(uow: UnitOfWork, *, order: Order, warehouse: Warehouse, takes: list[_Take], shipment_id: uuid.UUID) -> None:
    """Shipped units leave both `reserved` and `on_hand`, with SHIPMENT ledger rows."""
    per_sku: dict[str, int] = defaultdict(int)
    for take in takes:
        if take.allocation is not None:
            per_sku[take.allocation.sku] += take.quantity
    if not per_sku:
        return
    levels = (
        await uow.session.execute(
            select(StockLevel)
            .where(StockLevel.warehouse_id == warehouse.id, StockLevel.sku.in_(sorted(per_sku)))
            .order_by(StockLevel.sku, StockLevel.warehouse_id)
            .with_for_update()
        )
    ).scalars().all()
    by_sku = {level.sku: level for level in levels}
    for sku, quantity in sorted(per_sku.items()):
        level = by_sku.get(sku)
        if level is None or level.reserved < quantity or level.on_hand < quantity:
            # Allocations and stock levels move together; a mismatch is a bug, not a user error.
            raise RuntimeError(f"stock level {sku}@{warehouse.code} holds less than the order's reservation")
    await uow.session.execute(
        update(StockLevel),
        [{"id": by_sku[sku].id, "on_hand": by_sku[sku].on_hand - q, "reserved": by_sku[sku].reserved - q} for sku, q in sorted(per_sku.items())],
    )
    await uow.session.execute(
        insert(StockMovement),
        [
            {"sku": sku, "warehouse_id": warehouse.id, "kind": "SHIPMENT", "on_hand_delta": -q, "reserved_delta": -q,
             "actor": uow.actor, "reference": order.number, "reason": f"shipment {shipment_id}"}
            for sku, q in sorted(per_sku.items())
        ],
    )
    for sku in sorted(per_sku):
        notify_stock(uow.notices, sku, warehouse.id)


async def create_shipment(
    *, uow: UnitOfWork, order_id: uuid.UUID, warehouse_code: str, carrier_code: str, tracking_number: str | None = None,
    lines: list[ShipLine] | None = None,
) -> Shipment:
    """Ship units of an order from one warehouse: partial (`lines`) or all it still has to send from there."""
    tracking_number = (tracking_number or "").strip() or None
    errors: list[DomainError] = []
    if tracking_number is not None and len(tracking_number) > 100:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "trackingNumber is at most 100 characters.", ["input", "trackingNumber"]))
    if lines is not None and not lines:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Give at least one line, or leave lines out to ship everything.", ["input", "lines"]))
    collect(errors)

    order = await get_for_update(uow=uow, order_id=order_id)
    if order.status not in FULFILLABLE:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {order.status} cannot be shipped.", ["input", "orderId"])
    warehouse = await _warehouse(uow, warehouse_code)
    carrier = await carrier_rules.get_active(uow.session, carrier_code, ["input", "carrier"])
    order_lines, allocations = await _order_rows(uow, [order.id])
    all_warehouses = (await uow.session.execute(select(Warehouse))).scalars().all()
    packing = choose_made_to_order_warehouse(all_warehouses, channel=order.channel, allocation_warehouse_ids=[a.warehouse_id for a in allocations[order.id]])
    takes = _plan_shipment(
        order=order, warehouse=warehouse, lines=order_lines[order.id], allocations=allocations[order.id], requested=lines,
        packs_made_to_order=packing is not None and packing.id == warehouse.id,
    )

    shipment_id = uuid.uuid4()
    await _consume_reservations(uow, order=order, warehouse=warehouse, takes=takes, shipment_id=shipment_id)
    for take in takes:
        take.line.quantity_shipped += take.quantity
        if take.allocation is not None:
            take.allocation.quantity_shipped += take.quantity

    now = calendar.utcnow()
    destination = (order.shipping_address or {}).get("country", warehouse.country)
    promised = parcel_arrival(carrier_rules.CarrierRules.of(carrier), ready_at=now, origin_country=warehouse.country, destination_country=destination)
    shipment = Shipment(
        id=shipment_id, order_id=order.id, warehouse_id=warehouse.id, carrier=carrier.code, tracking_number=tracking_number,
        tracking_url=carrier_rules.tracking_url(carrier.tracking_url_template, tracking_number), status="READY", shipped_at=now,
        promised_delivery_date=promised, estimated_delivery_date=promised, created_by=uow.actor,
    )
    uow.session.add(shipment)
    uow.session.add_all(
        ShipmentLine(id=uuid.uuid4(), shipment_id=shipment_id, order_line_id=t.line.id, allocation_id=t.allocation.id if t.allocation else None,
                     sku=t.line.sku, quantity=t.quantity)
        for t in takes
    )
    await uow.session.flush()

    everything_shipped = all(l.quantity_shipped >= l.quantity for l in order_lines[order.id])
    target = OrderStatus.SHIPPED if everything_shipped else OrderStatus.PARTIALLY_SHIPPED
    data = {
        "shipment": str(shipment_id), "warehouse": warehouse.code, "carrier": carrier.code, "trackingNumber": tracking_number,
        "lines": [{"sku": t.line.sku, "quantity": t.quantity} for t in takes],
    }
    if target.value != order.status:
        transition(uow, order, target, data=data, type_=SHIPMENT_CREATED)
    else:
        events.record(uow, order, SHIPMENT_CREATED, data=data)
    apply_order_promise(uow, order, await order_promise(uow.session, order=order, now=now), reason=SHIPMENT_CREATED)
    await billing_hooks.on_order_shipped(uow=uow, order=order, shipment=shipment)
    return shipment


# ---------------------------------------------------------------- tracking


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


async def record_tracking_event(
    *, uow: UnitOfWork, shipment_id: uuid.UUID, status: str, occurred_at: datetime | None = None,
    location: str | None = None, description: str | None = None,
) -> Shipment:
    """Add a carrier's report. Any arrival order; the same status at the same time again is ignored.
    When every shipment of a fully shipped order is delivered, the order is DELIVERED."""
    now = calendar.utcnow()
    occurred = _as_utc(occurred_at) if occurred_at is not None else now
    location = (location or "").strip() or None
    description = (description or "").strip() or None
    errors: list[DomainError] = []
    if status not in REPORTABLE:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, f"A carrier reports one of {', '.join(REPORTABLE)}.", ["input", "status"]))
    if occurred > now + MAX_CLOCK_SKEW:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "occurredAt is in the future.", ["input", "occurredAt"]))
    if location is not None and len(location) > 200:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "location is at most 200 characters.", ["input", "location"]))
    if description is not None and len(description) > 500:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "description is at most 500 characters.", ["input", "description"]))
    collect(errors)

    order_id = (await uow.session.execute(select(Shipment.order_id).where(Shipment.id == shipment_id))).scalar_one_or_none()
    if order_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such shipment.", ["input", "shipmentId"])
    order = await get_for_update(uow=uow, order_id=order_id)
    shipment = (
        await uow.session.execute(select(Shipment).where(Shipment.id == shipment_id).with_for_update().execution_options(populate_existing=True))
    ).scalar_one()
    inserted = (
        await uow.session.execute(
            pg_insert(TrackingEvent)
            .values(shipment_id=shipment.id, status=status, occurred_at=occurred, location=location, description=description, recorded_by=uow.actor)
            .on_conflict_do_nothing(constraint="uq_tracking_events_shipment_status_time")
            .returning(TrackingEvent.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        return shipment  # a repeat of a report we have: nothing changes

    history = (await uow.session.execute(select(TrackingEvent).where(TrackingEvent.shipment_id == shipment.id))).scalars().all()
    tz_name = (await uow.session.execute(select(Carrier.timezone).where(Carrier.code == shipment.carrier))).scalar_one()
    state = derive_state(promised=shipment.promised_delivery_date, events=history, tz_name=tz_name)
    shipment.status, shipment.estimated_delivery_date, shipment.delivered_at = state.status, state.estimated_delivery_date, state.delivered_at
    events.record(
        uow, order, TRACKING_UPDATED,
        data={"shipment": str(shipment.id), "reported": status, "occurredAt": occurred.isoformat(), "shipmentStatus": state.status, "location": location},
    )
    await uow.session.flush()
    apply_order_promise(uow, order, await order_promise(uow.session, order=order, now=now), reason=TRACKING_UPDATED)
    if order.status == OrderStatus.SHIPPED.value:
        statuses = (await uow.session.execute(select(Shipment.status).where(Shipment.order_id == order.id))).scalars().all()
        if statuses and all(s == "DELIVERED" for s in statuses):
            transition(uow, order, OrderStatus.DELIVERED, data={"action": "deliver", "shipment": str(shipment.id)})
    return shipment
