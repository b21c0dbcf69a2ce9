"""setShippingRates, shippingRates and shippingQuotes (issue 19: shipping charges; app/fulfilment/rates.py decides)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from graphql import GraphQLError

from app.errors import DomainError, ValidationErrors
from app.fulfilment import quotes, rates
from app.fulfilment.quotes import QuoteView
from app.infra.database import UnitOfWork
from app.orders.enums import DeliveryType, SalesChannel
from app.orders.service import DeliveryMethod, LineRequest, PlaceOrderRequest
from models.shipping import ShippingRate
from resolvers.errors import input_field, run_mutation
from resolvers.inputs import AddressArgs, OrderLineArgs
from resolvers.orders import _address  # the address translation placeOrder uses
from resolvers.types import Info, MutationPayload

__all__ = ["QuoteView", "set_shipping_rates", "shipping_quotes", "shipping_rates"]

WRITE, READ, QUOTE = "stock:write", "stock:read", "orders:read"
QUOTE_EMAIL = "quote@example.com"  # a placement request needs one; a quote writes nothing


class RateArgs(Protocol):
    @property
    def carrier_code(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def destination(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def min_weight_grams(self) -> int | None: ...
    @property
    def max_weight_grams(self) -> int | None: ...
    @property
    def min_order_value(self) -> Decimal | None: ...
    @property
    def max_order_value(self) -> Decimal | None: ...
    @property
    def free_above(self) -> Decimal | None: ...
    @property
    def transit_days(self) -> int | None: ...


class SetRatesArgs(Protocol):
    @property
    def rates(self) -> Sequence[RateArgs]: ...


class QuotesArgs(Protocol):
    @property
    def channel(self) -> SalesChannel: ...
    @property
    def lines(self) -> Sequence[OrderLineArgs]: ...
    @property
    def shipping_address(self) -> AddressArgs: ...


async def set_shipping_rates(info: Info, input: SetRatesArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> list[ShippingRate]:
        rows = [rates.RateInput(r.carrier_code, r.service, r.destination, r.currency, r.price, r.min_weight_grams, r.max_weight_grams,
                                r.min_order_value, r.max_order_value, r.free_above, r.transit_days) for r in input.rates]
        return await rates.set_rates(uow=uow, rows=rows)

    return await run_mutation(info, scope=WRITE, action=work, payload=lambda stored: {"rates": stored})


async def shipping_rates(info: Info) -> list[ShippingRate]:
    await info.context.require(READ)
    return await info.context.db.query(rates.list_rates)


def _delivery_method(input: Any) -> DeliveryMethod | None:
    """`deliveryMethod` (pickup's DeliveryMethodInput), when the input has one."""
    given = getattr(input, "delivery_method", None)
    if given is None:
        return None
    return DeliveryMethod(DeliveryType(given.type), getattr(given, "warehouse_code", None))


async def shipping_quotes(info: Info, input: QuotesArgs) -> list[QuoteView]:
    await info.context.require(QUOTE)
    request = PlaceOrderRequest(
        channel=input.channel, email=QUOTE_EMAIL, lines=[LineRequest(line.sku, line.quantity, line.customization) for line in input.lines],
        shipping_address=_address(input.shipping_address) or {}, delivery_method=_delivery_method(input),
    )
    try:
        return await info.context.db.query(lambda session: quotes.shipping_quotes(uow=UnitOfWork(session, None), request=request))
    except DomainError as exc:
        problems = exc.errors if isinstance(exc, ValidationErrors) else [exc]
        first = problems[0]
        raise GraphQLError(first.message, extensions={"code": first.code.value, "field": input_field(first.path),
                                                      "problems": [{"code": e.code.value, "field": input_field(e.path), "message": e.message}
                                                                   for e in problems]}) from None
