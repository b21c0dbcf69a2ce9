"""Click-and-collect (issue 19): fulfilment makes a pickup order ready and hands it over (app/fulfilment/pickup.py);
a collection is the order's shipment for billing, so billing's on-shipment hooks capture and invoice then if
configured to do so at shipment, as a shipment would call them. A refusal from billing rolls the collection back
(a wrong code's count is committed only on the refusal path, where billing is not called)."""

from __future__ import annotations

import uuid

from app.billing import hooks as billing
from app.errors import DomainError
from app.fulfilment import pickup
from app.infra.database import UnitOfWork
from models import Order


async def mark_ready_for_pickup(*, uow: UnitOfWork, order_id: uuid.UUID) -> Order:
    return await pickup.mark_ready(uow=uow, order_id=order_id)


async def collect_order(*, uow: UnitOfWork, order_id: uuid.UUID, pickup_code: str) -> Order | DomainError:
    """The DELIVERED order, or a wrong code's refusal to answer AFTER committing the count (see pickup.collect)."""
    result = await pickup.collect(uow=uow, order_id=order_id, pickup_code=pickup_code)
    if isinstance(result, Order):
        await billing.on_order_shipped(uow=uow, order=result, shipment=None)
    return result
