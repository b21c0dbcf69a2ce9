"""The delivery promise of an order and of a shipment: which warehouses and carrier feed the arithmetic.

- At placement: every warehouse holding a reservation sends a parcel with the carrier of the shipping method
  charged (issue 19; else the default carrier);
  made-to-order units leave, after their lead time, from the order's made-to-order warehouse.
  The order's promise is the day its last parcel should arrive.
- After placement, what is still to ship goes with the charged method's carrier and its rate's transit days too
  (app/fulfilment/rates.py `order_carrier`), else the default carrier.
- When it ships: a shipment's promise is its carrier's transit from its warehouse (the charged method's rate's transit
  days when it leaves with the method's carrier), counted from
  the moment it was handed over (cut-off included). The order's promise is then recomputed over
  its shipments (delivered ones count with their delivery day, returned ones not at all) and
  whatever is still to ship, as if it left now.
- Made-to-order units still to ship are ready after their remaining production days by stage (issue 19:
  app/orders/promise.py `production_ready_at`); each stage move recomputes the order's promise.
- Tracking events move a shipment's estimate (see app/fulfilment/tracking.py) and so the order's.
A changed order promise is an order event, DELIVERY_ESTIMATE_CHANGED, so subscribers hear of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.fulfilment import pickup, rates
from app.fulfilment.carriers import CarrierRules, default_rules
from app.fulfilment.enums import ShipmentStatus
from app.infra.database import UnitOfWork
from app.orders import events
from app.orders.enums import DeliveryType, OrderEventType, SalesChannel
from app.orders.promise import estimate_delivery, local_date, production_ready_at
from models import Allocation, Order, OrderLine, Product, Warehouse
from models.fulfilment import Shipment
from models.receipts import StockReceipt


def choose_made_to_order_warehouse(
    warehouses: Iterable[Warehouse], *, channel: SalesChannel, allocation_warehouse_ids: Iterable[uuid.UUID]
) -> Warehouse | None:
    """Where made-to-order units are packed and shipped from by default: the first (by priority)
    warehouse already shipping part of the order, or else the first warehouse serving its channel."""
    ids = set(allocation_warehouse_ids)
    pool = [w for w in warehouses if w.id in ids] if ids else [w for w in warehouses if channel in (w.channels or [])]
    return min(pool, key=lambda w: (w.priority, w.code), default=None)


async def made_to_order_warehouse(session: AsyncSession, *, channel: SalesChannel, allocation_warehouse_ids: Iterable[uuid.UUID]) -> Warehouse | None:
    ids = sorted(set(allocation_warehouse_ids))
    statement = select(Warehouse).where(Warehouse.id.in_(ids)) if ids else select(Warehouse).where(Warehouse.channels.contains([channel]))
    candidates = (await session.execute(statement)).scalars().all()
    return choose_made_to_order_warehouse(candidates, channel=channel, allocation_warehouse_ids=ids)


def parcel_arrival(rules: CarrierRules, *, ready_at: datetime, origin_country: str, destination_country: str) -> date:
    return estimate_delivery(
        start=ready_at, transit_days=rules.transit_to(origin_country=origin_country, destination_country=destination_country),
        cutoff=rules.cutoff_time, tz_name=rules.timezone,
    )


@dataclass(frozen=True, slots=True)
class Origin:
    """A warehouse a placement ships from, as its stock read found it (no further read needed)."""

    id: uuid.UUID
    country: str
    priority: int
    code: str


async def placement_promise(
    uow: UnitOfWork, *, placed_at: datetime, channel: SalesChannel, destination_country: str,
    origins: Sequence[Origin], made_to_order_lead_days: int | None,
    backordered: Sequence[tuple[uuid.UUID, str, int, str, datetime]] = (),
    carrier: CarrierRules | None = None,
) -> date:
    """`origins`: the warehouses holding the order's reservations; `made_to_order_lead_days` is None when the
    order has no made-to-order line. Reads the default carrier (and, for an order of made-to-order lines only,
    the warehouses serving its channel); placement calls it before it reserves any stock.
    `backordered` (issue 19): (warehouse id, country, priority, code, expected at) of each receipt the order
    claims: those units leave when the receipt is expected (or now, if that is past).
    `carrier` (shipping, issue 19): the rules of the shipping method the order is charged (app/fulfilment/rates.py
    `method_carrier`: its carrier, with its rate's transit days when the rate has them); None: the default carrier
    (then the default carrier is read, as before). The unit's session is asked for only to read (a placement without
    one makes none: app/infra/database.py)."""
    rules = carrier if carrier is not None else await default_rules(uow.session)
    unique = sorted({o.id: o for o in origins}.values(), key=lambda o: (o.priority, o.code))
    arrivals = [
        parcel_arrival(rules, ready_at=placed_at, origin_country=o.country, destination_country=destination_country)
        for o in unique
    ]
    arrivals += [  # backorders, issue 19
        parcel_arrival(rules, ready_at=max(expected_at, placed_at), origin_country=country, destination_country=destination_country)
        for _, country, _, _, expected_at in backordered
    ]
    if made_to_order_lead_days is not None or not arrivals:
        if unique:
            country = unique[0].country  # the first (by priority) warehouse already shipping part of the order
        else:
            origin = await made_to_order_warehouse(uow.session, channel=channel, allocation_warehouse_ids=[])
            country = origin.country if origin is not None else destination_country
        arrivals.append(
            parcel_arrival(
                rules, ready_at=placed_at + timedelta(days=made_to_order_lead_days or 0),
                origin_country=country, destination_country=destination_country,
            )
        )
    return max(arrivals)


async def order_promise(session: AsyncSession, *, order: Order, now: datetime) -> date | None:
    """The order's current promise over its shipments and what is still to ship (see module doc)."""
    if order.delivery_type == DeliveryType.PICKUP:  # pickup, issue 19: ready at the store, no carrier transit
        return await pickup.order_ready_promise(session, order=order, now=now)
    destination = (order.shipping_address or {}).get("country", "")
    shipments = (await session.execute(select(Shipment).where(Shipment.order_id == order.id))).scalars().all()
    arrivals: list[date] = []
    for shipment in shipments:
        if shipment.status == ShipmentStatus.DELIVERED and shipment.delivered_at is not None:
            arrivals.append(local_date(shipment.delivered_at))
        elif shipment.status != ShipmentStatus.RETURNED_TO_SENDER and shipment.estimated_delivery_date is not None:
            arrivals.append(shipment.estimated_delivery_date)

    allocations = (await session.execute(select(Allocation).where(Allocation.order_id == order.id))).scalars().all()
    open_warehouses = sorted({a.warehouse_id for a in allocations if a.open_quantity > 0 and a.receipt_id is None})
    method = await rates.order_carrier(session, order)  # the charged method's carrier and transit; None: the default carrier
    rules = method if method is not None else await default_rules(session)
    if open_warehouses:
        for warehouse in (await session.execute(select(Warehouse).where(Warehouse.id.in_(open_warehouses)))).scalars():
            arrivals.append(parcel_arrival(rules, ready_at=now, origin_country=warehouse.country, destination_country=destination))
    awaited = sorted({a.receipt_id for a in allocations if a.open_quantity > 0 and a.receipt_id is not None})
    if awaited:  # backorders, issue 19: units claimed on a receipt leave when it is expected (or now, if that is past)
        for expected_at, country in (await session.execute(
            select(StockReceipt.expected_at, Warehouse.country).join(Warehouse, Warehouse.id == StockReceipt.warehouse_id)
            .where(StockReceipt.id.in_(awaited))
        )).all():
            arrivals.append(parcel_arrival(rules, ready_at=max(expected_at, now), origin_country=country, destination_country=destination))

    unshipped_made_to_order = (
        await session.execute(
            select(Product.lead_time_days, OrderLine.production_stage, OrderLine.production_started_at)
            .join(OrderLine, OrderLine.product_id == Product.id)
            .where(OrderLine.order_id == order.id, OrderLine.made_to_order, OrderLine.quantity_shipped < OrderLine.quantity)
        )
    ).all()
    if unshipped_made_to_order:
        # stages (issue 19): the slowest line by its remaining production days (app/orders/promise.py production_ready_at)
        ready_at = max(
            production_ready_at(stage=stage, lead_time_days=lead, started_at=started, now=now) for lead, stage, started in unshipped_made_to_order
        )
        origin = await made_to_order_warehouse(session, channel=order.channel, allocation_warehouse_ids=[a.warehouse_id for a in allocations])
        arrivals.append(
            parcel_arrival(rules, ready_at=ready_at, origin_country=origin.country if origin else destination, destination_country=destination)
        )
    return max(arrivals) if arrivals else None


def apply_order_promise(uow: UnitOfWork, order: Order, promise: date | None, *, reason: OrderEventType) -> bool:
    """Store a new promise on the (locked) order; a change is an order event. Returns whether it changed."""
    if promise is None or promise == order.estimated_delivery_date:
        return False
    previous = order.estimated_delivery_date
    order.estimated_delivery_date = promise
    events.record(
        uow, order, OrderEventType.DELIVERY_ESTIMATE_CHANGED,
        data={"previous": previous.isoformat() if previous else None, "estimatedDeliveryDate": promise.isoformat(), "reason": reason},
    )
    return True
