"""Shipping charges (issue 19): rates as data, the quote of a basket, and the charge placement takes.

A rate (table `shipping_rates`, models/shipping.py) is what one carrier service — the method "<CARRIER>:<SERVICE>" —
charges, net of VAT, to a destination in one currency for a band of weight and of goods value:

- the destination is an ISO country code or a zone relative to the shipping warehouse (DOMESTIC, EU, INTERNATIONAL;
  app/fulfilment/carriers.py `zone_of`). For each method the most specific matching row applies: a country row
  beats a zone row (a zone row applies only where no country row of that method matches the basket);
- bands are half-open: `min <= x < max` (no max: unbounded); the weight is the sum of the lines' product weights
  (`weight_grams` x quantity), the goods value the lines' net subtotal (before VAT and shipping);
- `free_above`: a goods value at or above it ships for 0;
- a method with no matching row is unavailable for that basket. Rows of one method, destination and currency may not
  overlap (setShippingRates refuses it), so at most one row of each specificity matches.

The shipping warehouse of a basket is the first (by priority, then code) warehouse its plan reserves in (on hand or
on a stock receipt it claims), else (only made-to-order lines) the first warehouse serving its channel. One charge per order, whatever the number of parcels.

At placement (`charge_placement`, called by the placement flow right after the plan on the stock snapshot):

- a pickup order (delivery type PICKUP) is charged 0 and takes no shipping method (INVALID_INPUT otherwise);
- only placeOrder charges, and completeDraftOrder given a shippingMethod (`PlaceOrderRequest.charge_shipping`): an
  imported marketplace order is charged nothing (the marketplace priced and collected its shipping; its row has no
  shipping field), nor is a draft completed without a shippingMethod (its preview shows goods only: what staff quoted
  is what is placed) or an exchange's replacement (the merchant ships it);
- `shipping_method` absent: the cheapest available method (ties: by method code); no rates at all for the order's
  currency: 0 and no method — so with no rates configured, placement is what it was before issue 19; rates for the
  currency but none covering the basket (destination, weight, value): INVALID_INPUT at `shipping_method` (it cannot
  be shipped at any configured price);
- `shipping_method` unknown (no rate of that method in the currency) or unavailable for the basket: INVALID_INPUT at
  `shipping_method`, before anything is written;
- the charge is decided on the snapshot's plan and kept when stock moved and the plan is redone on locked rows: the
  customer pays what the quote said.

Its VAT follows the goods (app/orders/pricing.py `compute_totals(..., tax_shipping=True)`).

The delivery promise follows the method too: a quote's estimatedDeliveryDate and the placed order's are the same
arithmetic (app/fulfilment/promise.py `placement_promise`) with the method's carrier (`method_carrier`): its cut-off and
time zone, and the rate's transit days when the rate has them (for every parcel), else the carrier's per destination.
No method charged (no rates): the default carrier, as before. After placement, `order_carrier` gives the promise
(app/fulfilment/promise.py `order_promise`, and a parcel leaving with the method's carrier) the same rules.
The quotes for a basket (`shippingQuotes`) are app/fulfilment/quotes.py: this module does not import the promise,
which reads it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode, Path, collect
from app.fulfilment.carriers import ZONES, CarrierRules, rules_of_json, zone_of
from app.infra.database import UnitOfWork
from app.orders.enums import DeliveryType
from app.orders.pricing import ShippingCharge, line_total, money
from app.orders.service import Placement, PlaceOrderRequest
from app.validation import COUNTRIES, CURRENCIES, parse_decimal
from models import Allocation, Order, OrderLine, Product, Warehouse
from models.fulfilment import Carrier
from models.shipping import ShippingRate

MAX_RATES = 1000
MAX_TRANSIT_DAYS = 60
MAX_WEIGHT_GRAMS = 10_000_000  # 10 t
MAX_AMOUNT = Decimal("999999999.99")
ZERO = Decimal("0.00")


# --- the rate table, pure ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rate:
    """One rate row, detached from the session (what `quote` reads)."""

    carrier_code: str
    service: str
    destination: str
    currency: str
    price: Decimal
    min_weight_grams: int = 0
    max_weight_grams: int | None = None
    min_order_value: Decimal = ZERO
    max_order_value: Decimal | None = None
    free_above: Decimal | None = None
    transit_days: int | None = None

    @property
    def method(self) -> str:
        return f"{self.carrier_code}:{self.service}"

    def covers(self, *, weight_grams: int, order_value: Decimal) -> bool:
        return (self.min_weight_grams <= weight_grams and (self.max_weight_grams is None or weight_grams < self.max_weight_grams)
                and self.min_order_value <= order_value and (self.max_order_value is None or order_value < self.max_order_value))

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> Rate:
        """A row of app/orders/pricing.py RATES_SQL (read with placement's catalogue)."""
        return cls(row["carrier_code"], row["service"], row["destination"], row["currency"], Decimal(row["price"]), int(row["min_weight_grams"]),
                   row["max_weight_grams"], Decimal(row["min_order_value"]),
                   None if row["max_order_value"] is None else Decimal(row["max_order_value"]),
                   None if row["free_above"] is None else Decimal(row["free_above"]), row["transit_days"])

    @classmethod
    def of(cls, row: ShippingRate) -> Rate:
        return cls(row.carrier_code, row.service, row.destination, row.currency, row.price, row.min_weight_grams, row.max_weight_grams,
                   row.min_order_value, row.max_order_value, row.free_above, row.transit_days)


@dataclass(frozen=True, slots=True)
class Quote:
    """An available method for a basket: its net price (0 when free) and the row that priced it."""

    method: str
    carrier_code: str
    service: str
    price: Decimal
    rate: Rate


def quote(rates: Sequence[Rate], *, weight_grams: int, order_value: Decimal, currency: str, origin_country: str,
          destination_country: str) -> list[Quote]:
    """Every method available for the basket, cheapest first (ties by method code): per method the most specific
    matching row (country before zone), free when the goods value reaches its `free_above`."""
    destination = destination_country.upper()
    zone = zone_of(origin_country, destination)
    best: dict[str, tuple[int, Rate]] = {}
    for rate in rates:
        if rate.currency != currency or rate.destination not in (destination, zone):
            continue
        if not rate.covers(weight_grams=weight_grams, order_value=order_value):
            continue
        specificity = 0 if rate.destination == destination else 1
        if rate.method not in best or specificity < best[rate.method][0]:
            best[rate.method] = (specificity, rate)
    quotes = [
        Quote(method, rate.carrier_code, rate.service,
              ZERO if rate.free_above is not None and order_value >= rate.free_above else money(rate.price), rate)
        for method, (_, rate) in best.items()
    ]
    return sorted(quotes, key=lambda q: (q.price, q.method))


@dataclass(frozen=True, slots=True)
class MethodCharge(ShippingCharge):
    """The charge `charge_placement` decides, with what the delivery promise needs of its method: the carrier and the
    transit days of the rate that priced it (None: the carrier's own)."""

    carrier_code: str = ""
    transit_days: int | None = None


def rate_rules(carrier: CarrierRules, transit_days: int | None) -> CarrierRules:
    """The carrier's rules as a rate uses them: the rate's transit days, when set, to every destination."""
    return carrier if transit_days is None else replace(carrier, transit_days={}, default_transit_days=transit_days)


async def method_carrier(session: AsyncSession, shipping: ShippingCharge | None) -> CarrierRules | None:
    """The rules the delivery promise of a placement charged `shipping` uses (`placement_promise(carrier=...)`):
    the method's carrier, with its rate's transit days. None (the default carrier then) when nothing is charged
    (no statement) or the carrier no longer exists. One statement otherwise."""
    if shipping is None:
        return None
    carrier = (await session.execute(select(Carrier).where(Carrier.code == _method_code(shipping)))).scalar_one_or_none()
    if carrier is None:
        return None
    return rate_rules(CarrierRules.of(carrier), shipping.transit_days if isinstance(shipping, MethodCharge) else None)


def method_carrier_of(shipping: ShippingCharge | None, known: str) -> CarrierRules | None:
    """`method_carrier`'s answer from every carrier by code as JSON text (read with the placement's catalogue:
    app/orders/service.py CARRIERS_SQL), without a statement."""
    if shipping is None:
        return None
    found = json.loads(known).get(_method_code(shipping))
    if found is None:
        return None
    return rate_rules(rules_of_json(found), shipping.transit_days if isinstance(shipping, MethodCharge) else None)


def _method_code(shipping: ShippingCharge) -> str:
    return shipping.carrier_code if isinstance(shipping, MethodCharge) else shipping.method.split(":", 1)[0]


async def order_carrier(session: AsyncSession, order: Order) -> CarrierRules | None:
    """The rules a placed order's promise keeps using (`promise.order_promise` for what is still to ship, and a shipment
    leaving with the method's carrier): the carrier of its shipping method with the transit days of the method's rate
    for its basket now (its lines' weight and goods value, from its first warehouse, to its address) — the rate that
    priced it unless the table or the order changed since; no such rate: the carrier's own transit days. None (the
    default carrier, as before issue 19) without a method or when the carrier is gone. One statement when every rate
    of the method has the same transit days, up to four otherwise."""
    if not order.shipping_method:
        return None
    code = order.shipping_method.split(":", 1)[0]
    carrier = (await session.execute(select(Carrier).where(Carrier.code == code))).scalar_one_or_none()
    if carrier is None:
        return None
    rules = CarrierRules.of(carrier)
    mine = [rate for rate in await rates_for(session, order.currency) if rate.method == order.shipping_method]
    transits = {rate.transit_days for rate in mine}
    if len(transits) <= 1:
        return rate_rules(rules, next(iter(transits), None))
    weight = (await session.execute(
        select(func.coalesce(func.sum(Product.weight_grams * OrderLine.quantity), 0)).select_from(OrderLine)
        .join(Product, Product.id == OrderLine.product_id)
        .where(OrderLine.order_id == order.id)
    )).scalar_one()
    origin = (await session.execute(
        select(Warehouse.country).join(Allocation, Allocation.warehouse_id == Warehouse.id).where(Allocation.order_id == order.id)
        .order_by(Warehouse.priority, Warehouse.code).limit(1)
    )).scalar_one_or_none()
    destination = str((order.shipping_address or {}).get("country", ""))
    if origin is None:  # made-to-order lines only: they leave from the first warehouse serving the channel
        first = (await session.execute(select(Warehouse.country).where(Warehouse.channels.contains([order.channel]))
                                       .order_by(Warehouse.priority, Warehouse.code).limit(1))).scalar_one_or_none()
        origin = first or destination
    found = quote(mine, weight_grams=int(weight), order_value=order.subtotal, currency=order.currency, origin_country=origin,
                  destination_country=destination)
    return rate_rules(rules, found[0].rate.transit_days) if found else rules


def parse_method(method: str) -> str:
    """A method as the client wrote it, normalised ("seur:standard " -> "SEUR:STANDARD")."""
    return method.strip().upper()


# --- the basket of a placement --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Basket:
    """What the rates look at, from a planned placement."""

    weight_grams: int
    order_value: Decimal
    currency: str
    origin_country: str
    destination_country: str


def _origin(placement: Placement) -> Any:
    """The first warehouse (priority, code) the plan reserves in, on hand or on a receipt it claims (a backorder's
    units leave from the receipt's warehouse: review F8); None without either."""
    picked = {p.warehouse_id for p in placement.picks}
    chosen: list[Any] = [c for c in placement.candidates if c.warehouse_id in picked]
    chosen += list(placement.backorder.claims) if placement.backorder is not None else []  # Claim: priority, code, country
    return min(chosen, key=lambda c: (c.priority, c.code), default=None)


async def _channel_origin(session: AsyncSession, placement: Placement) -> Warehouse | None:
    statement = (select(Warehouse).where(Warehouse.channels.contains([placement.channel]))
                 .order_by(Warehouse.priority, Warehouse.code).limit(1))
    return (await session.execute(statement)).scalar_one_or_none()


async def basket_of(session: AsyncSession, placement: Placement) -> Basket:
    origin = _origin(placement)
    if origin is not None:
        country = origin.country
    else:  # made-to-order lines only: they leave from the first warehouse serving the channel
        warehouse = await _channel_origin(session, placement)
        country = warehouse.country if warehouse is not None else placement.destination_country
    weight = sum(line.product.weight_grams * line.quantity for line in placement.lines)
    value = money(sum((line_total(line.product.price, line.quantity) for line in placement.lines), ZERO))
    return Basket(weight, value, placement.lines[0].product.currency, country, placement.destination_country)


async def rates_for(session: AsyncSession, currency: str) -> list[Rate]:
    """The rates of one currency, in the order they were set (one statement)."""
    rows = (await session.execute(select(ShippingRate).where(ShippingRate.currency == currency).order_by(ShippingRate.position))).scalars()
    return [Rate.of(row) for row in rows]


def is_pickup(request: PlaceOrderRequest) -> bool:
    method = request.delivery_method
    return method is not None and DeliveryType(method.type) == DeliveryType.PICKUP


async def charge_placement(*, uow: UnitOfWork, placement: Placement) -> Placement:
    """The placement with its shipping charge (`Placement.shipping`; see the module doc). Refuses an unknown or
    unavailable `shipping_method` with INVALID_INPUT at `shipping_method`. The rates of the order's currency come
    with the placement (read with its catalogue; else one statement); one statement for an order of made-to-order
    lines only, when rates exist."""
    request = placement.request
    wanted = parse_method(request.shipping_method) if request.shipping_method is not None else None
    if is_pickup(request):
        if wanted is not None:
            raise DomainError(ErrorCode.INVALID_INPUT, "A pickup order is not shipped: leave shippingMethod out.", ("shipping_method",))
        return placement
    if not request.charge_shipping:  # an import, a draft completion, an exchange's replacement: no charge (review F5)
        return placement
    if wanted is not None and (len(wanted) > 70 or ":" not in wanted):
        raise DomainError(ErrorCode.INVALID_INPUT, "shippingMethod is \"<CARRIER>:<SERVICE>\", e.g. \"SEUR:STANDARD\".", ("shipping_method",))
    if placement.shipping_rates is not None:  # read with the catalogue (review F13): no statement here
        rates = [Rate.of_row(row) for row in placement.shipping_rates]
    else:
        rates = await rates_for(uow.session, placement.lines[0].product.currency)
    if not rates:
        if wanted is not None:
            raise DomainError(ErrorCode.INVALID_INPUT, f"Unknown shipping method {wanted!r}: no shipping rates are configured.",
                              ("shipping_method",))
        return placement
    basket = await basket_of(uow.session, placement)
    quotes = quote(rates, weight_grams=basket.weight_grams, order_value=basket.order_value, currency=basket.currency,
                   origin_country=basket.origin_country, destination_country=basket.destination_country)
    if wanted is None:
        if not quotes:
            raise DomainError(ErrorCode.INVALID_INPUT, "No shipping method is available for this order (destination, weight, value).",
                              ("shipping_method",))
        chosen = quotes[0]
    else:
        found = next((q for q in quotes if q.method == wanted), None)
        if found is None:
            known = any(rate.method == wanted for rate in rates)
            message = (f"Shipping method {wanted!r} is not available for this order (destination, weight or value)." if known
                       else f"Unknown shipping method {wanted!r}.")
            raise DomainError(ErrorCode.INVALID_INPUT, message, ("shipping_method",))
        chosen = found
    return replace(placement, shipping=MethodCharge(chosen.method, chosen.price, chosen.carrier_code, chosen.rate.transit_days))


# --- setShippingRates / shippingRates -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateInput:
    """One row of setShippingRates as the client gave it."""

    carrier_code: str
    service: str
    destination: str
    currency: str
    price: Any
    min_weight_grams: int | None = None
    max_weight_grams: int | None = None
    min_order_value: Any = None
    max_order_value: Any = None
    free_above: Any = None
    transit_days: int | None = None


def _amount(value: Any, path: Path, errors: list[DomainError]) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = parse_decimal(value, path, minimum=Decimal("0"), maximum=MAX_AMOUNT)
    except DomainError as exc:
        errors.append(exc)
        return None
    if amount != amount.quantize(Decimal("0.01")):
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "At most 2 decimals.", path))
        return None
    return amount


def _code(value: str, path: Path, what: str, errors: list[DomainError]) -> str:
    code = (value or "").strip().upper()
    if not code or len(code) > 32 or not code.replace("_", "").replace("-", "").isalnum() or not code.isascii():
        errors.append(DomainError(ErrorCode.INVALID_INPUT, f"{what} must be 1 to 32 letters, digits, '-' or '_'.", path))
    return code


def check_rates(rows: Sequence[RateInput], carrier_codes: set[str]) -> list[Rate]:
    """The rows validated and normalised (codes upper-cased), or INVALID_INPUT / NOT_FOUND / LIMIT_EXCEEDED with every
    problem at once, each at its path ("rates", i, field). `carrier_codes`: the carriers that exist."""
    errors: list[DomainError] = []
    if len(rows) > MAX_RATES:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_RATES} rates.", ("rates",))
    rates: list[Rate | None] = []
    for i, row in enumerate(rows):
        at = ("rates", i)
        before = len(errors)
        carrier = _code(row.carrier_code, (*at, "carrier_code"), "carrierCode", errors)
        if carrier and len(errors) == before and carrier not in carrier_codes:
            errors.append(DomainError(ErrorCode.NOT_FOUND, f"Unknown carrier {carrier!r}.", (*at, "carrier_code")))
        service = _code(row.service, (*at, "service"), "service", errors)
        destination = (row.destination or "").strip().upper()
        if destination not in ZONES and destination not in COUNTRIES:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"{destination!r} is neither a country code nor one of {', '.join(ZONES)}.",
                                      (*at, "destination")))
        currency = (row.currency or "").strip().upper()
        if currency not in CURRENCIES:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "Unsupported ISO 4217 currency.", (*at, "currency")))
        price = _amount(row.price, (*at, "price"), errors)
        min_value = _amount(row.min_order_value, (*at, "min_order_value"), errors)
        max_value = _amount(row.max_order_value, (*at, "max_order_value"), errors)
        free_above = _amount(row.free_above, (*at, "free_above"), errors)
        min_weight = row.min_weight_grams or 0
        if not 0 <= min_weight <= MAX_WEIGHT_GRAMS:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Weights are 0 to {MAX_WEIGHT_GRAMS} grams.", (*at, "min_weight_grams")))
        if row.max_weight_grams is not None and not min_weight < row.max_weight_grams <= MAX_WEIGHT_GRAMS:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"maxWeightGrams must be above minWeightGrams (at most {MAX_WEIGHT_GRAMS}).",
                                      (*at, "max_weight_grams")))
        if max_value is not None and max_value <= (min_value or ZERO):
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "maxOrderValue must be above minOrderValue.", (*at, "max_order_value")))
        if row.transit_days is not None and not 0 <= row.transit_days <= MAX_TRANSIT_DAYS:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Transit days must be 0 to {MAX_TRANSIT_DAYS}.", (*at, "transit_days")))
        if len(errors) > before or price is None:
            rates.append(None)
            continue
        rates.append(Rate(carrier, service, destination, currency, price, min_weight, row.max_weight_grams, min_value or ZERO, max_value,
                          free_above, row.transit_days))
    for j, rate in enumerate(rates):
        if rate is None:
            continue
        for i in range(j):
            other = rates[i]
            if other is not None and _overlap(other, rate):
                errors.append(DomainError(
                    ErrorCode.INVALID_INPUT,
                    f"Overlaps rates[{i}]: one method, destination and currency may not have two rows for one weight and value.", ("rates", j),
                ))
                break
    collect(errors)
    return [rate for rate in rates if rate is not None]


def _overlap(a: Rate, b: Rate) -> bool:
    if (a.method, a.destination, a.currency) != (b.method, b.destination, b.currency):
        return False

    def meet(lo1: Any, hi1: Any, lo2: Any, hi2: Any) -> bool:  # half-open intervals, None: unbounded above
        return (hi2 is None or lo1 < hi2) and (hi1 is None or lo2 < hi1)

    return (meet(a.min_weight_grams, a.max_weight_grams, b.min_weight_grams, b.max_weight_grams)
            and meet(a.min_order_value, a.max_order_value, b.min_order_value, b.max_order_value))


async def list_rates(session: AsyncSession) -> list[ShippingRate]:
    return list((await session.execute(select(ShippingRate).order_by(ShippingRate.position))).scalars())


async def set_rates(*, uow: UnitOfWork, rows: Sequence[RateInput]) -> list[ShippingRate]:
    """Replace the whole rate table with `rows` (in this order); an empty list removes every rate (then no order is
    charged shipping). Refuses with every problem at once (see `check_rates`); nothing is written then."""
    carriers = set((await uow.session.execute(select(Carrier.code).where(Carrier.active))).scalars())
    rates = check_rates(rows, carriers)
    # One replacement at a time: a concurrent one waits here, then its DELETE sees (and removes) the rows this one wrote,
    # so the table is always exactly one call's rows, never a mix.
    await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('shipping_rates', 19))"))
    await uow.session.execute(delete(ShippingRate))
    stored = [
        ShippingRate(position=position, carrier_code=r.carrier_code, service=r.service, destination=r.destination, currency=r.currency,
                     min_weight_grams=r.min_weight_grams, max_weight_grams=r.max_weight_grams, min_order_value=r.min_order_value,
                     max_order_value=r.max_order_value, price=r.price, free_above=r.free_above, transit_days=r.transit_days)
        for position, r in enumerate(rates)
    ]
    uow.session.add_all(stored)
    await uow.session.flush()
    return stored

