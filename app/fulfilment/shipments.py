"""Shipments: parcels leaving one warehouse with one carrier, consuming the reservations they ship.

Lock order, as everywhere: order rows (by id) -> stock rows (by sku, warehouse) -> counter rows.
Made-to-order units: see app/fulfilment/outbound.py; they ship only once their line is READY (issue 19,
app/orders/production.py): a shipment that would need a line still in production is INVALID_TRANSITION naming it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from app.errors import DomainError, ErrorCode, Path, collect
from app.fulfilment import carriers as carrier_rules
from app.fulfilment import rates, transfers
from app.fulfilment.enums import ShipmentStatus
from app.fulfilment.outbound import FULFILLABLE, Take, consume_stock, get_warehouse, on_hand_here, order_rows
from app.fulfilment.promise import apply_order_promise, choose_made_to_order_warehouse, order_promise, parcel_arrival
from app.infra.database import UnitOfWork
from app.orders import events, production
from app.orders import promise as calendar
from app.orders.enums import OrderEventType, OrderStatus
from app.orders.service import get_for_update, transition
from models import Allocation, Order, OrderLine, Warehouse
from models.fulfilment import Carrier, Shipment, ShipmentLine

MAX_SHIP_QUANTITY = 10_000


@dataclass(frozen=True, slots=True)
class ShipLine:
    sku: str
    quantity: int


def _plan_shipment(
    *, order: Order, warehouse: Warehouse, lines: list[OrderLine], allocations: list[Allocation], requested: list[ShipLine] | None,
    packs_made_to_order: bool,
) -> list[Take]:
    by_line = {line.id: line for line in lines}
    open_here: dict[str, list[Allocation]] = defaultdict(list)
    for a in sorted(allocations, key=lambda a: by_line[a.order_line_id].position):
        if on_hand_here(a, warehouse.id):  # backorders, issue 19: receipt-bound units have not arrived yet
            open_here[a.sku].append(a)
    made_to_order: dict[str, list[OrderLine]] = defaultdict(list)
    # stages (issue 19): made-to-order units ship only from READY lines; the others wait here
    in_production: dict[str, list[OrderLine]] = defaultdict(list)
    for line in lines:
        if line.made_to_order and line.quantity > line.quantity_shipped:
            (made_to_order if production.is_ready(line) else in_production)[line.sku].append(line)

    if requested is None:
        everything = [Take(by_line[a.order_line_id], a, a.open_quantity) for group in open_here.values() for a in group]
        if packs_made_to_order:
            everything += [Take(line, None, line.quantity - line.quantity_shipped) for group in made_to_order.values() for line in group]
            waiting = sorted((line for group in in_production.values() for line in group), key=lambda line: line.position)
            if not everything and waiting:
                raise DomainError(ErrorCode.INVALID_TRANSITION, production.not_ready_message(order, waiting[0]), ("order_id",))
        if not everything:
            raise DomainError(ErrorCode.INVALID_INPUT, f"Order {order.number} has nothing left to ship from {warehouse.code}.", ("warehouse_code",))
        return everything

    skus_on_order = {line.sku for line in lines}
    merged: dict[str, tuple[int, int]] = {}  # sku -> (first input index, total quantity)
    errors: list[DomainError] = []
    for i, wanted in enumerate(requested):
        path: Path = ("lines", i)
        sku = wanted.sku.strip()
        if wanted.quantity < 1:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "Quantity must be at least 1.", (*path, "quantity")))
        elif wanted.quantity > MAX_SHIP_QUANTITY:
            errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"Quantity must be at most {MAX_SHIP_QUANTITY}.", (*path, "quantity")))
        elif sku not in skus_on_order:
            errors.append(DomainError(ErrorCode.NOT_FOUND, f"{sku!r} is not on order {order.number}.", (*path, "sku")))
        else:
            first, total = merged.get(sku, (i, 0))
            merged[sku] = (first, total + wanted.quantity)
    collect(errors)

    takes: list[Take] = []
    for sku, (first, quantity) in merged.items():
        if sku in made_to_order or any(line.made_to_order and line.sku == sku for line in lines):
            left = sum(line.quantity - line.quantity_shipped for line in made_to_order[sku])
            if quantity > left and in_production[sku]:
                errors.append(DomainError(ErrorCode.INVALID_TRANSITION, production.not_ready_message(order, in_production[sku][0]), ("lines", first, "sku")))
                continue
            if quantity > left:
                errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Only {left} made-to-order units of {sku} are left to ship.", ("lines", first, "quantity")))
                continue
            for line in made_to_order[sku]:
                take = min(quantity, line.quantity - line.quantity_shipped)
                if take > 0:
                    takes.append(Take(line, None, take))
                    quantity -= take
        else:
            left = sum(a.open_quantity for a in open_here[sku])
            if quantity > left:
                errors.append(DomainError(
                    ErrorCode.INVALID_INPUT, f"Only {left} units of {sku} are reserved in {warehouse.code} and not yet shipped.",
                    ("lines", first, "quantity"),
                ))
                continue
            for allocation in open_here[sku]:
                take = min(quantity, allocation.open_quantity)
                if take > 0:
                    takes.append(Take(by_line[allocation.order_line_id], allocation, take))
                    quantity -= take
    collect(errors)
    return takes


async def _consume_reservations(uow: UnitOfWork, *, order: Order, warehouse: Warehouse, takes: list[Take], shipment_id: uuid.UUID,
                                kind: str = "SHIPMENT") -> None:
    """Shipped units leave both `reserved` and `on_hand`, with SHIPMENT ledger rows (TRANSFER_OUT for a transfer, issue 19)."""
    per_sku: dict[str, int] = defaultdict(int)
    for take in takes:
        if take.allocation is not None:
            per_sku[take.allocation.sku] += take.quantity
    await consume_stock(uow, order=order, warehouse=warehouse, per_sku=per_sku, kind=kind, reason=f"shipment {shipment_id}")


async def _carrier(uow: UnitOfWork, order: Order, carrier_code: str | None) -> Carrier:
    """The carrier a shipment leaves with: the one given (NOT_FOUND unless active); absent or blank (the API's contract keeps
    createShipment's carrier required, so a client says "not named" with ""), the carrier of the shipping
    method the order was charged (issue 19; NOT_FOUND if it is no longer active), else the default carrier (the one the
    promise assumed: app/fulfilment/carriers.py `default_rules`)."""
    if carrier_code is not None and carrier_code.strip():
        return await carrier_rules.get_active(uow.session, carrier_code, ("carrier",))
    if order.shipping_method:
        code = order.shipping_method.split(":", 1)[0]
        carrier = (await uow.session.execute(select(Carrier).where(Carrier.code == code, Carrier.active))).scalar_one_or_none()
        if carrier is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"The carrier of the order's shipping method {order.shipping_method} is not active: give a carrier.",
                              ("carrier",))
        return carrier
    fallback = (await uow.session.execute(select(Carrier).where(Carrier.active).order_by(Carrier.is_default.desc(), Carrier.code).limit(1))
                ).scalar_one_or_none()
    if fallback is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No carrier given and no active carrier configured.", ("carrier",))
    return fallback


async def _rules(uow: UnitOfWork, order: Order, carrier: Carrier) -> carrier_rules.CarrierRules:
    """The carrier's rules for this parcel's promise: with the charged method's rate's transit days when the parcel
    leaves with the method's carrier (issue 19: the service the customer paid for), else the carrier's own."""
    if order.shipping_method and order.shipping_method.split(":", 1)[0] == carrier.code:
        method = await rates.order_carrier(uow.session, order)
        if method is not None:
            return method
    return carrier_rules.CarrierRules.of(carrier)


async def create_shipment(
    *, uow: UnitOfWork, order_id: uuid.UUID, warehouse_code: str, carrier_code: str | None = None, tracking_number: str | None = None,
    lines: list[ShipLine] | None = None,
) -> Shipment:
    """Ship units of an order from one warehouse: partial (`lines`) or all it still has to send from there.
    `carrier_code` None or blank: the carrier of the order's shipping method, else the default carrier (`_carrier`).
    (Capturing and invoicing at shipment is billing's: app/flows/shipping.py.)"""
    tracking_number = (tracking_number or "").strip() or None
    errors: list[DomainError] = []
    if tracking_number is not None and len(tracking_number) > 100:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "trackingNumber is at most 100 characters.", ("tracking_number",)))
    if lines is not None and not lines:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Give at least one line, or leave lines out to ship everything.", ("lines",)))
    collect(errors)

    order = await get_for_update(uow=uow, order_id=order_id)
    if order.status not in FULFILLABLE:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {order.status} cannot be shipped.", ("order_id",))
    warehouse = await get_warehouse(uow=uow, code=warehouse_code)
    # pickup, issue 19: a PICKUP order is handed over at its pickup point (collectOrder); only its transfers ship (transfers, issue 19)
    transfer_to = await transfers.shipped_to(uow.session, order, warehouse)
    carrier = await _carrier(uow, order, carrier_code)
    order_lines, allocations = await order_rows(uow=uow, order_ids=[order.id])
    all_warehouses = (await uow.session.execute(select(Warehouse))).scalars().all()
    packing = choose_made_to_order_warehouse(all_warehouses, channel=order.channel, allocation_warehouse_ids=[a.warehouse_id for a in allocations[order.id]])
    takes = _plan_shipment(
        order=order, warehouse=warehouse, lines=order_lines[order.id], allocations=allocations[order.id], requested=lines,
        packs_made_to_order=transfer_to is None and packing is not None and packing.id == warehouse.id,
    )

    shipment_id = uuid.uuid4()
    await _consume_reservations(uow, order=order, warehouse=warehouse, takes=takes, shipment_id=shipment_id,
                                kind=transfers.LEDGER_OUT if transfer_to is not None else "SHIPMENT")
    for take in takes:
        take.line.quantity_shipped += take.quantity if transfer_to is None else 0  # transfers: the customer has nothing yet
        if take.allocation is not None:
            take.allocation.quantity_shipped += take.quantity

    now = calendar.utcnow()
    destination = (order.shipping_address or {}).get("country", warehouse.country) if transfer_to is None else transfer_to.country
    rules = carrier_rules.CarrierRules.of(carrier) if transfer_to is not None else await _rules(uow, order, carrier)  # a transfer: the carrier's own transit
    promised = parcel_arrival(rules, ready_at=now, origin_country=warehouse.country, destination_country=destination)
    shipment = Shipment(
        id=shipment_id, order_id=order.id, warehouse_id=warehouse.id, carrier=carrier.code, tracking_number=tracking_number,
        tracking_url=carrier_rules.tracking_url(carrier.tracking_url_template, tracking_number), status=ShipmentStatus.READY, shipped_at=now,
        promised_delivery_date=promised, estimated_delivery_date=promised, created_by=uow.actor,
        transfer_to_warehouse_id=transfer_to.id if transfer_to is not None else None,  # transfers, issue 19
    )
    uow.session.add(shipment)
    uow.session.add_all(
        ShipmentLine(id=uuid.uuid4(), shipment_id=shipment_id, order_line_id=t.line.id, allocation_id=t.allocation.id if t.allocation else None,
                     sku=t.line.sku, quantity=t.quantity)
        for t in takes
    )
    await uow.session.flush()

    everything_shipped = all(line.quantity_shipped >= line.quantity for line in order_lines[order.id])
    target = OrderStatus.SHIPPED if everything_shipped else OrderStatus.PARTIALLY_SHIPPED
    data = {
        "shipment": str(shipment_id), "warehouse": warehouse.code, "carrier": carrier.code, "trackingNumber": tracking_number,
        "lines": [{"sku": t.line.sku, "quantity": t.quantity} for t in takes],
    }
    if transfer_to is not None:  # transfers, issue 19: internal; the order's status does not move
        transfers.record_shipped(uow, order, {**data, "to": transfer_to.code})
    elif target != order.status:
        transition(uow, order, target, data=data, type_=OrderEventType.SHIPMENT_CREATED)
    else:
        events.record(uow, order, OrderEventType.SHIPMENT_CREATED, data=data)
    apply_order_promise(uow, order, await order_promise(uow.session, order=order, now=now), reason=OrderEventType.SHIPMENT_CREATED)
    return shipment
