"""Returned to sender (issue 19): a parcel the carrier brought back puts its units back on hand, once, and the order back
to where it can be re-shipped or cancelled.

Called by `tracking.record_tracking_event` when a shipment's derived status becomes RETURNED_TO_SENDER, with the order
row and the shipment row locked already (lock order as everywhere: order -> shipment -> stock rows by (sku, warehouse)).
`shipments.restocked_at` is the "exactly once" guard: a second RTS report (another time, another process) finds it set.

What happens, in the unit of work of the report:
- per SKU of the parcel: `on_hand += n` at the shipment's warehouse (ledger RETURN_TO_SENDER, reference the shipment id),
  then the same units reserved again for the order (`reserved += n`, ledger RESERVATION): the allocations the parcel
  consumed are reopened (`quantity_shipped -= n`), so `reserved = open allocations` keeps holding;
- every order line of the parcel (made-to-order ones too, which hold no stock) ships n fewer units;
- the order moves SHIPPED / PARTIALLY_SHIPPED -> CONFIRMED when nothing else of it is out, else -> PARTIALLY_SHIPPED
  (state_machine.RETURNED_TO_SENDER_TRANSITIONS), with one SHIPMENT_RETURNED event. From there createShipment ships the
  units again, or (CONFIRMED) cancelOrder releases them and billing refunds what was captured and credits the invoice.
  An order on hold keeps its status; the status it resumes to is lowered the same way.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import insert, select, update

from app.fulfilment.enums import ShipmentStatus
from app.infra.database import UnitOfWork
from app.orders import events
from app.orders import promise as calendar
from app.orders.allocation import notify_stock
from app.orders.enums import OrderEventType, OrderStatus
from app.orders.state_machine import check_returned_to_sender
from models import Allocation, Order, OrderLine, StockLevel, StockMovement
from models.fulfilment import Shipment, ShipmentLine

LEDGER_KIND = "RETURN_TO_SENDER"


async def restock(uow: UnitOfWork, order: Order, shipment: Shipment) -> bool:
    """Put a returned parcel's units back (see module doc). False when it was restocked already."""
    if shipment.restocked_at is not None or shipment.status != ShipmentStatus.RETURNED_TO_SENDER:
        return False
    now = calendar.utcnow()
    shipment.restocked_at = now
    lines = (await uow.session.execute(select(ShipmentLine).where(ShipmentLine.shipment_id == shipment.id).order_by(ShipmentLine.sku))).scalars().all()

    per_sku: dict[str, int] = defaultdict(int)
    for line in lines:
        if line.allocation_id is not None:
            per_sku[line.sku] += line.quantity
    if per_sku:
        levels = (
            await uow.session.execute(
                select(StockLevel)
                .where(StockLevel.warehouse_id == shipment.warehouse_id, StockLevel.sku.in_(sorted(per_sku)))
                .order_by(StockLevel.sku, StockLevel.warehouse_id)
                .with_for_update()
            )
        ).scalars().all()
        by_sku = {level.sku: level for level in levels}
        missing = sorted(set(per_sku) - set(by_sku))
        if missing:  # the parcel consumed these levels' units: a missing level is a bug, not a user error
            raise RuntimeError(f"no stock level for {missing} in the warehouse shipment {shipment.id} left from")
        await uow.session.execute(
            update(StockLevel),
            [{"id": by_sku[sku].id, "on_hand": by_sku[sku].on_hand + q, "reserved": by_sku[sku].reserved + q} for sku, q in sorted(per_sku.items())],
        )
        rows = []
        for sku, q in sorted(per_sku.items()):
            common = {"sku": sku, "warehouse_id": shipment.warehouse_id, "actor": uow.actor}
            rows.append({**common, "kind": LEDGER_KIND, "on_hand_delta": q, "reserved_delta": 0, "reference": str(shipment.id),
                         "reason": f"order {order.number}: parcel returned to sender"})
            rows.append({**common, "kind": "RESERVATION", "on_hand_delta": 0, "reserved_delta": q, "reference": order.number,
                         "reason": f"reserved again for re-shipping (shipment {shipment.id} returned to sender)"})
        await uow.session.execute(insert(StockMovement), rows)
        for sku in sorted(per_sku):
            notify_stock(uow.notices, sku, shipment.warehouse_id)

    allocation_ids = [line.allocation_id for line in lines if line.allocation_id is not None]
    allocations = {
        a.id: a for a in (await uow.session.execute(select(Allocation).where(Allocation.id.in_(allocation_ids)))).scalars()
    } if allocation_ids else {}
    order_lines = {line.id: line for line in (await uow.session.execute(select(OrderLine).where(OrderLine.order_id == order.id))).scalars()}
    for line in lines:
        order_lines[line.order_line_id].quantity_shipped -= line.quantity
        if line.allocation_id is not None:
            allocations[line.allocation_id].quantity_shipped -= line.quantity

    still_out = any(line.quantity_shipped > 0 for line in order_lines.values())
    back_to = OrderStatus.PARTIALLY_SHIPPED if still_out else OrderStatus.CONFIRMED
    data = {
        "shipment": str(shipment.id), "restockedAt": now.isoformat(),
        "lines": [{"sku": line.sku, "quantity": line.quantity} for line in lines], "restockedUnits": sum(per_sku.values()),
    }
    if order.status in (OrderStatus.SHIPPED, OrderStatus.PARTIALLY_SHIPPED):
        check_returned_to_sender(order.status, back_to)
        previous = order.status
        order.status = back_to
        order.updated_at = now
        events.record(uow, order, OrderEventType.SHIPMENT_RETURNED, previous_status=previous, data=data)
    else:
        if order.status == OrderStatus.ON_HOLD and order.held_from == OrderStatus.PARTIALLY_SHIPPED and not still_out:
            order.held_from = OrderStatus.CONFIRMED
        events.record(uow, order, OrderEventType.SHIPMENT_RETURNED, data=data)
    await uow.session.flush()
    return True
