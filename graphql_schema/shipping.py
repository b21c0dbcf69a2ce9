"""Shipping charges (issue 19): the rate table (setShippingRates / shippingRates) and the quotes for a basket (shippingQuotes)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry

import models.shipping
from graphql_schema.common import AddressInput, Money, UserError, money
from graphql_schema.enums import SalesChannel
from graphql_schema.orders import OrderLineInput
from graphql_schema.pickup import DeliveryMethodInput
from resolvers import shipping as resolve

BANDS = "Bands are half-open: min <= value < max."


@strawberry.type(description="What one carrier service charges, net of VAT, to a destination for a band of parcel weight and goods value. "
                             "Its VAT follows the goods of the order (spread over their VAT rates).")
class ShippingRate:
    carrier_code: str = strawberry.field(description="The carrier (Carrier.code).")
    service: str = strawberry.field(description="The carrier's service, e.g. STANDARD or EXPRESS.")
    destination: str = strawberry.field(description="An ISO 3166-1 alpha-2 country, or a zone relative to the shipping warehouse: DOMESTIC, "
                                        "EU or INTERNATIONAL. A matching country row beats a zone row of the same method.")
    currency: str = strawberry.field(description="ISO 4217: the rate applies to orders in this currency only.")
    min_weight_grams: int = strawberry.field(description=f"Lowest total weight (grams, inclusive) the rate applies to. {BANDS}")
    max_weight_grams: int | None = strawberry.field(description="Weight (grams) from which the rate no longer applies (exclusive); null: no upper bound.")
    transit_days: int | None = strawberry.field(description="Business days in transit with this service; null: the carrier's transit days.")

    @strawberry.field(description="\"<carrierCode>:<service>\": the value of PlaceOrderInput.shippingMethod.")
    def method(root: models.shipping.ShippingRate) -> str:
        return f"{root.carrier_code}:{root.service}"

    @strawberry.field(description="The charge, net of VAT.")
    def price(root: models.shipping.ShippingRate) -> Money:
        return money(root.price, root.currency)

    @strawberry.field(description=f"Lowest goods value (the lines' net subtotal, inclusive) the rate applies to. {BANDS}")
    def min_order_value(root: models.shipping.ShippingRate) -> Money:
        return money(root.min_order_value, root.currency)

    @strawberry.field(description="Goods value from which the rate no longer applies (exclusive); null: no upper bound.")
    def max_order_value(root: models.shipping.ShippingRate) -> Money | None:
        return money(root.max_order_value, root.currency) if root.max_order_value is not None else None

    @strawberry.field(description="A goods value (net subtotal) at or above this ships for 0; null: never free.")
    def free_above(root: models.shipping.ShippingRate) -> Money | None:
        return money(root.free_above, root.currency) if root.free_above is not None else None


@strawberry.input(description="One shipping rate; amounts in `currency`, net of VAT, at most 2 decimals, 0 to 999999999.99.")
class ShippingRateInput:
    carrier_code: str = strawberry.field(description="An active carrier's code (any case): NOT_FOUND otherwise.")
    service: str = strawberry.field(description="1 to 32 letters, digits, '-' or '_' (upper-cased), e.g. STANDARD.")
    destination: str = strawberry.field(description="An ISO country code or DOMESTIC, EU, INTERNATIONAL (any case).")
    currency: str = strawberry.field(description="ISO 4217 (any case), one the catalogue supports.")
    price: Decimal = strawberry.field(description="The charge, net of VAT.")
    min_weight_grams: int | None = strawberry.field(default=None, description="0 to 10000000; absent: 0.")
    max_weight_grams: int | None = strawberry.field(default=None, description="Above minWeightGrams (exclusive bound); absent: none.")
    min_order_value: Decimal | None = strawberry.field(default=None, description="Goods value (net subtotal) lower bound; absent: 0.")
    max_order_value: Decimal | None = strawberry.field(default=None, description="Above minOrderValue (exclusive bound); absent: none.")
    free_above: Decimal | None = strawberry.field(default=None, description="Free at or above this goods value; absent: never free.")
    transit_days: int | None = strawberry.field(default=None, description="0 to 60 business days; absent: the carrier's transit days.")


@strawberry.input(description="The whole shipping rate table, replacing the current one.")
class SetShippingRatesInput:
    rates: list[ShippingRateInput] = strawberry.field(
        description="At most 1000 rows (LIMIT_EXCEEDED), listed in this order; an empty list removes every rate (then no order is charged "
                    "shipping). Rows of one method, destination and currency may not overlap in weight and value (INVALID_INPUT at the "
                    "later row)."
    )


@strawberry.type(description="What setShippingRates answers.")
class SetShippingRatesPayload:
    rates: list[ShippingRate] | None = strawberry.field(description="The table as stored; null when refused.")
    user_errors: list[UserError] = strawberry.field(
        description="Why nothing was changed: INVALID_INPUT or NOT_FOUND (an unknown carrier) at input.rates.<i>.<field>, LIMIT_EXCEEDED at "
                    "input.rates."
    )


@strawberry.input(description="A basket to quote shipping for: what placeOrder would be given.")
class ShippingQuotesInput:
    channel: SalesChannel = strawberry.field(description="Where it would be placed: its warehouses plan the parcels.")
    lines: list[OrderLineInput] = strawberry.field(description="The lines, as for placeOrder (1 to 100).")
    shipping_address: AddressInput = strawberry.field(description="Where the parcels would go: its country picks the rates.")
    delivery_method: DeliveryMethodInput | None = strawberry.field(
        default=None, description="As for placeOrder. PICKUP: nothing is shipped, so no method is quoted (an empty list); the same "
                                  "NOT_FOUND / INVALID_INPUT as placeOrder for a bad pickup point.")


@strawberry.type(description="One shipping method available for a basket, with what placeOrder would charge for it.")
class ShippingQuote:
    method: str = strawberry.field(description="\"<CARRIER>:<SERVICE>\": pass it as PlaceOrderInput.shippingMethod.")
    carrier: str = strawberry.field(description="The carrier's code.")
    service: str = strawberry.field(description="The carrier's service, e.g. STANDARD.")
    estimated_delivery_date: date | None = strawberry.field(
        description="When the last parcel should arrive with this service (business days in transit from each shipping warehouse, after "
                    "the carrier's cut-off; made-to-order lead times included)."
    )

    @strawberry.field(description="The shipping charge net of VAT (0 when the basket reaches the rate's freeAbove).")
    def price(root: resolve.QuoteView) -> Money:
        return money(root.price, root.currency)

    @strawberry.field(description="The VAT on the price: spread over the basket's VAT rates in proportion to their bases, each part taxed "
                                  "at its rate.")
    def tax(root: resolve.QuoteView) -> Money:
        return money(root.tax, root.currency)

    @strawberry.field(description="price + tax.")
    def total(root: resolve.QuoteView) -> Money:
        return money(root.total, root.currency)
