"""Pick lists: a warehouse's picking document over the orders it has units of to send.

Units go on one pick list only. Issuing one moves a CONFIRMED order to PROCESSING.
Made-to-order units are picked only once their line is READY (issue 19, app/orders/production.py); an
order named explicitly with nothing else to pick is refused with INVALID_TRANSITION naming the line.
Lock order, as everywhere: order rows (by id) -> counter rows.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text

from app.errors import DomainError, ErrorCode, Path, collect
from app.fulfilment.outbound import FULFILLABLE, Take, get_warehouse, order_rows
from app.fulfilment.promise import choose_made_to_order_warehouse
from app.infra.database import UnitOfWork
from app.orders import events, production
from app.orders.enums import OrderEventType, OrderStatus, ProductionStage
from app.orders.service import transition
from models import Allocation, Order, OrderLine, Warehouse
from models.fulfilment import PickList, PickListLine

PICK_LIST_COUNTER = "pick_list"
MAX_ORDERS_PER_PICK_LIST = 200


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
        Allocation.warehouse_id == warehouse.id, Allocation.quantity > Allocation.quantity_shipped + Allocation.quantity_released,
        Allocation.receipt_id.is_(None),  # backorders, issue 19: units bound to a receipt are not there yet
    )
    made_to_order = select(OrderLine.order_id).where(
        OrderLine.made_to_order, OrderLine.quantity > OrderLine.quantity_shipped,
        OrderLine.production_stage == ProductionStage.READY,  # stages (issue 19): only READY lines are picked
    )
    statement = (
        select(Order.id)
        .where(Order.status.in_(FULFILLABLE))
        .where(Order.id.in_(open_here) | (Order.id.in_(made_to_order) & Order.channel.in_(warehouse.channels or [])))
        .order_by(Order.placed_at, Order.id)
        .limit(MAX_ORDERS_PER_PICK_LIST)
    )
    return list((await uow.session.execute(statement)).scalars())


async def _unpicked(uow: UnitOfWork, orders: list[Order], warehouse: Warehouse) -> tuple[dict[uuid.UUID, list[Take]], dict[uuid.UUID, OrderLine]]:
    """Per order, the units still to pick in `warehouse`: reserved there (or made to order, READY and
    packed there) and neither on an earlier pick list nor shipped. Also, per order, the first made-to-order
    line packed there that still has units to pick but is not READY (issue 19)."""
    lines, allocations = await order_rows(uow=uow, order_ids=[o.id for o in orders])
    all_allocations = [a for group in allocations.values() for a in group]
    listed_by_allocation = dict(
        (await uow.session.execute(
            select(PickListLine.allocation_id, func.sum(PickListLine.quantity))
            .where(PickListLine.allocation_id.in_([a.id for a in all_allocations])).group_by(PickListLine.allocation_id)
        )).all()
    ) if all_allocations else {}
    made_to_order_ids = [line.id for group in lines.values() for line in group if line.made_to_order]
    listed_made_to_order = dict(
        (await uow.session.execute(
            select(PickListLine.order_line_id, func.sum(PickListLine.quantity))
            .where(PickListLine.order_line_id.in_(made_to_order_ids), PickListLine.allocation_id.is_(None)).group_by(PickListLine.order_line_id)
        )).all()
    ) if made_to_order_ids else {}
    warehouses = (await uow.session.execute(select(Warehouse))).scalars().all()

    result: dict[uuid.UUID, list[Take]] = {}
    waiting: dict[uuid.UUID, OrderLine] = {}
    for order in orders:
        by_line = {line.id: line for line in lines[order.id]}
        takes: list[Take] = []
        for allocation in sorted(allocations[order.id], key=lambda a: (by_line[a.order_line_id].position, a.sku)):
            if allocation.warehouse_id != warehouse.id or allocation.receipt_id is not None:  # backorders, issue 19: not arrived yet
                continue
            quantity = allocation.quantity - allocation.quantity_released - max(listed_by_allocation.get(allocation.id, 0), allocation.quantity_shipped)
            if quantity > 0:
                takes.append(Take(by_line[allocation.order_line_id], allocation, quantity))
        packing = choose_made_to_order_warehouse(warehouses, channel=order.channel, allocation_warehouse_ids=[a.warehouse_id for a in allocations[order.id]])
        if packing is not None and packing.id == warehouse.id:
            for line in lines[order.id]:
                if line.made_to_order:
                    quantity = line.quantity - max(listed_made_to_order.get(line.id, 0), line.quantity_shipped)
                    if quantity > 0 and not production.is_ready(line):
                        waiting.setdefault(order.id, line)
                    elif quantity > 0:
                        takes.append(Take(line, None, quantity))
        takes.sort(key=lambda t: t.line.position)
        result[order.id] = takes
    return result, waiting


async def create_pick_list(*, uow: UnitOfWork, warehouse_code: str, order_ids: list[uuid.UUID] | None = None) -> PickList:
    """A pick list for `warehouse_code` over the given orders (or every fulfillable order with units to
    pick there). Units go on one pick list only. Issuing it moves a CONFIRMED order to PROCESSING."""
    if order_ids is not None and not order_ids:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give at least one order, or leave orderIds out.", ("order_ids",))
    if order_ids is not None and len(order_ids) > MAX_ORDERS_PER_PICK_LIST:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_ORDERS_PER_PICK_LIST} orders per pick list.", ("order_ids",))
    warehouse = await get_warehouse(uow=uow, code=warehouse_code)
    explicit = order_ids is not None
    wanted = list(dict.fromkeys(order_ids or [])) if explicit else await _candidate_orders(uow, warehouse)
    locked = {
        o.id: o
        for o in (await uow.session.execute(select(Order).where(Order.id.in_(wanted)).order_by(Order.id).with_for_update())).scalars()
    }
    errors: list[DomainError] = []
    if explicit:
        path_of: dict[uuid.UUID, Path] = {order_id: ("order_ids", i) for i, order_id in reversed(list(enumerate(order_ids or [])))}
        for order_id in wanted:
            order = locked.get(order_id)
            if order is None:
                errors.append(DomainError(ErrorCode.NOT_FOUND, "No such order.", path_of[order_id]))
            elif order.status not in FULFILLABLE:
                errors.append(DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {order.status} cannot be picked.", path_of[order_id]))
        collect(errors)
    orders = [locked[i] for i in wanted if i in locked and locked[i].status in FULFILLABLE]  # re-checked under the lock
    unpicked, waiting = await _unpicked(uow, orders, warehouse)
    if explicit:
        collect([
            DomainError(ErrorCode.INVALID_TRANSITION, production.not_ready_message(o, waiting[o.id]), path_of[o.id]) if o.id in waiting
            else DomainError(ErrorCode.INVALID_INPUT, f"Order {o.number} has nothing left to pick in {warehouse.code}.", path_of[o.id])
            for o in orders if not unpicked[o.id]
        ])
    orders = [o for o in orders if unpicked[o.id]]
    if not orders:
        raise DomainError(ErrorCode.INVALID_INPUT, f"No confirmed order has units to pick in {warehouse.code}.", ("warehouse_code",))

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
        if order.status == OrderStatus.CONFIRMED:
            transition(uow, order, OrderStatus.PROCESSING, data=data, type_=OrderEventType.PICK_LIST_CREATED)
        else:
            events.record(uow, order, OrderEventType.PICK_LIST_CREATED, data=data)
    uow.session.add_all(rows)
    return pick_list
