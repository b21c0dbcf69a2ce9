"""Shipping: fulfilment ships the units (consuming their reservations, moving the order), then billing
captures and invoices if it does so at shipment. A refusal from billing rolls the shipment back."""

from __future__ import annotations

import uuid

from app.billing import hooks as billing
from app.fulfilment import shipments
from app.fulfilment.shipments import ShipLine
from app.infra.database import UnitOfWork
from app.orders import service as orders
from models.fulfilment import Shipment


async def create_shipment(
    *, uow: UnitOfWork, order_id: uuid.UUID, warehouse_code: str, carrier_code: str | None = None, tracking_number: str | None = None,
    lines: list[ShipLine] | None = None,
) -> Shipment:
    shipment = await shipments.create_shipment(uow=uow, order_id=order_id, warehouse_code=warehouse_code, carrier_code=carrier_code,
                                               tracking_number=tracking_number, lines=lines)
    order = await orders.get_for_update(uow=uow, order_id=order_id)  # locked by this unit already: no wait
    if shipment.transfer_to_warehouse_id is None:  # transfers, issue 19: a transfer to the pickup point is not the customer's shipment
        await billing.on_order_shipped(uow=uow, order=order, shipment=shipment)
    return shipment
