"""Placing an order: the orders domain checks the request, locks stock and plans the reservations;
fulfilment promises a delivery date over the planned warehouses; the order is written with its
reservations; billing opens its payment (a declined card refuses the whole placement, so nothing is
written and nothing charged); cash on delivery confirms the order at once."""

from __future__ import annotations

from app.billing import payments
from app.flows.confirmation import confirm_locked_order
from app.fulfilment import promise as delivery
from app.infra.database import UnitOfWork
from app.orders import promise as calendar
from app.orders import service as orders
from app.orders.enums import PaymentMethod
from app.orders.service import PlaceOrderRequest
from models import Order


async def place_order(*, uow: UnitOfWork, request: PlaceOrderRequest) -> Order:
    planned = await orders.plan_placement(uow=uow, request=request)
    if isinstance(planned, Order):
        return planned  # the same request again (its idempotency key): the first answer, nothing more to do
    promise = await delivery.placement_promise(
        uow.session, placed_at=calendar.utcnow(), channel=planned.channel, destination_country=planned.destination_country,
        allocation_warehouse_ids=planned.warehouse_ids, made_to_order_lead_days=planned.made_to_order_lead_days,
    )
    order = await orders.create_order(uow=uow, placement=planned, estimated_delivery_date=promise)
    await payments.open_payment(uow=uow, order=order, method=order.payment_method, token=request.payment_token)
    if order.payment_method == PaymentMethod.CASH_ON_DELIVERY:
        await confirm_locked_order(uow=uow, order=order, reason="cash on delivery")
    return order
