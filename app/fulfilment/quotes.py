"""Shipping quotes for a basket (issue 19, `shippingQuotes`): what placeOrder would charge with each available method
(app/fulfilment/rates.py prices it) and the delivery promise it would store with that method (app/fulfilment/promise.py
`placement_promise` with the method's carrier rules: the same arithmetic, so a placed order's estimatedDeliveryDate is
its method's quote). Separate from rates.py so that the promise can read the rate table without an import circle."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from app.fulfilment import promise as delivery
from app.fulfilment import rates
from app.fulfilment.carriers import CarrierRules
from app.infra.database import UnitOfWork
from app.orders import backorders
from app.orders import promise as calendar
from app.orders.pricing import ShippingCharge
from app.orders.service import Placement, PlaceOrderRequest, plan_placement, totals_of
from models import Order
from models.fulfilment import Carrier


@dataclass(frozen=True, slots=True)
class QuoteView:
    """What `shippingQuotes` answers for one method."""

    method: str
    carrier: str
    service: str
    price: Decimal
    tax: Decimal
    total: Decimal
    currency: str
    estimated_delivery_date: date | None


def _origins(placement: Placement) -> list[delivery.Origin]:
    """The warehouses the plan reserves in, as the placement flow gives them to the promise."""
    by_warehouse = {c.warehouse_id: c for c in placement.candidates}
    return [delivery.Origin(w, by_warehouse[w].country, by_warehouse[w].priority, by_warehouse[w].code) for w in placement.warehouse_ids]


async def _arrival(uow: UnitOfWork, carrier: CarrierRules | None, placement: Placement, now: datetime) -> date:
    """The promise placeOrder would store with this method: `placement_promise` with the method's carrier rules."""
    return await delivery.placement_promise(
        uow, placed_at=now, channel=placement.channel, destination_country=placement.destination_country, origins=_origins(placement),
        made_to_order_lead_days=placement.made_to_order_lead_days, backordered=backorders.ready_later(placement), carrier=carrier,
    )


async def shipping_quotes(*, uow: UnitOfWork, request: PlaceOrderRequest, now: datetime | None = None) -> list[QuoteView]:
    """The methods a placement of this basket could choose, cheapest first, each with what placeOrder would charge:
    the net price, its VAT (following the goods' rates) and the gross; and the delivery estimate with that carrier
    service. Empty for a pickup, and when no rate is configured for the currency (then nothing is charged).
    Plans on the stock as placement would (input errors, NOT_FOUND, OUT_OF_STOCK as placeOrder); writes nothing."""
    planned = await plan_placement(uow=uow, request=replace(request, idempotency_key=None, shipping_method=None))
    assert not isinstance(planned, Order)  # no idempotency key, so never an existing order
    if rates.is_pickup(request):
        return []
    currency = planned.lines[0].product.currency
    table = await rates.rates_for(uow.session, currency)
    if not table:
        return []
    basket = await rates.basket_of(uow.session, planned)
    quotes = rates.quote(table, weight_grams=basket.weight_grams, order_value=basket.order_value, currency=currency,
                         origin_country=basket.origin_country, destination_country=basket.destination_country)
    carriers = {c.code: CarrierRules.of(c) for c in (await uow.session.execute(select(Carrier))).scalars()}
    moment = now or calendar.utcnow()
    views = []
    for q in quotes:
        totals = totals_of(replace(planned, shipping=ShippingCharge(q.method, q.price)))
        carrier = carriers.get(q.carrier_code)  # gone since the rates were set: the default carrier, as placement would
        rules = rates.rate_rules(carrier, q.rate.transit_days) if carrier is not None else None
        views.append(QuoteView(
            q.method, q.carrier_code, q.service, q.price, totals.shipping_tax, q.price + totals.shipping_tax, currency,
            await _arrival(uow, rules, planned, moment),
        ))
    return views
