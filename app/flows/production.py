"""Advancing a made-to-order line's production stage (issue 19): the orders domain moves the stage and
records PRODUCTION_STAGE_CHANGED (app/orders/production.py); the fulfilment domain recomputes the order's
delivery promise from the remaining production days, a change being DELIVERY_ESTIMATE_CHANGED. One unit of
work, so subscribers see both events or neither."""

from __future__ import annotations

import uuid

from app.fulfilment.promise import apply_order_promise, order_promise
from app.infra.database import UnitOfWork
from app.orders import production
from app.orders import promise as calendar
from app.orders.enums import OrderEventType, ProductionStage
from models import Order, OrderLine


async def advance_production(*, uow: UnitOfWork, order_line_id: uuid.UUID, stage: ProductionStage) -> tuple[Order, OrderLine]:
    order, line = await production.advance(uow=uow, order_line_id=order_line_id, stage=stage)
    await uow.session.flush()
    promise = await order_promise(uow.session, order=order, now=calendar.utcnow())
    apply_order_promise(uow, order, promise, reason=OrderEventType.PRODUCTION_STAGE_CHANGED)
    return order, line
