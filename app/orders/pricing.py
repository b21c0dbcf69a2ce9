"""Order totals from catalogue prices. Prices are net of VAT; VAT is rounded once per rate (as on the invoice).

Shipping (issue 19) is charged net too, and its VAT follows the goods (`tax_shipping=True`, what orders, invoices
and edits use): the shipping net is spread over the order's VAT rates in proportion to each rate's base (whole
cents, the leftover cents to the largest remainders, so the parts add up to the shipping exactly), each part is
added to its rate's base in `tax_by_rate`, and the VAT of that rate is rounded once on the whole base (goods and
shipping part): round(base x rate), as on the invoice's breakdown. A part's VAT is what it adds to its rate's VAT
(the rate's VAT minus the goods' VAT at that rate); `shipping_tax` is their sum, inside `tax_total`. Without `tax_shipping` shipping is added
untaxed (the arithmetic before issue 19; with a shipping of 0 both give the same totals).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Decimal
    tax_total: Decimal
    shipping_total: Decimal
    total: Decimal
    tax_by_rate: dict[Decimal, tuple[Decimal, Decimal]]  # rate -> (base, tax), shipping parts included
    # shipping, issue 19: the VAT on the shipping (inside tax_total) and the shipping's parts: rate -> (net part, its VAT)
    shipping_tax: Decimal = ZERO
    shipping_by_rate: dict[Decimal, tuple[Decimal, Decimal]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ShippingCharge:
    """The shipping a placement charges (issue 19; app/fulfilment/rates.py decides it): the method "<CARRIER>:<SERVICE>"
    and its price net of VAT."""

    method: str
    net: Decimal


def line_total(unit_price: Decimal, quantity: int) -> Decimal:
    return money(unit_price * quantity)


def spread(amount: Decimal, bases: Mapping[Decimal, Decimal]) -> dict[Decimal, Decimal]:
    """`amount` (whole cents) over the rates in proportion to their bases: cut to cents, the leftover cents to the
    largest remainders (ties to the lower rate), so the parts add up to `amount`. Rates with no base get nothing;
    when no rate has a base, the highest rate present takes it all (the zero rate when there is none)."""
    amount = money(amount)
    rates = sorted(rate for rate, base in bases.items() if base > 0)
    if not amount:
        return {}
    if not rates:
        return {max(bases, default=Decimal("0")): amount}
    total = sum((bases[rate] for rate in rates), ZERO)
    raw = {rate: amount * bases[rate] / total for rate in rates}
    parts = {rate: value.quantize(CENT, rounding=ROUND_DOWN) for rate, value in raw.items()}
    leftover = int((amount - sum(parts.values(), ZERO)) / CENT)
    for rate in sorted(rates, key=lambda r: raw[r] - parts[r], reverse=True)[:leftover]:
        parts[rate] += CENT
    return {rate: part for rate, part in parts.items() if part}


def compute_totals(lines: Iterable[tuple[Decimal, Decimal]], shipping: Decimal = ZERO, *, tax_shipping: bool = False) -> Totals:
    """`lines` are (net line total, tax rate) pairs; `shipping` is net. `tax_shipping`: its VAT follows the goods
    (see the module doc); otherwise it is added untaxed."""
    bases: dict[Decimal, Decimal] = {}
    for amount, rate in lines:
        bases[rate] = bases.get(rate, Decimal("0")) + amount
    goods = {rate: (money(base), money(base * rate)) for rate, base in bases.items()}
    subtotal = money(sum((base for base, _ in goods.values()), Decimal("0")))
    goods_tax = money(sum((tax for _, tax in goods.values()), Decimal("0")))
    shipping = money(shipping)
    parts = spread(shipping, {rate: base for rate, (base, _) in goods.items()}) if tax_shipping else {}
    # VAT rounded once per rate on the base with its shipping part (review F6); the part's VAT is what it adds
    breakdown: dict[Decimal, tuple[Decimal, Decimal]] = {}
    for rate in sorted(goods.keys() | parts.keys()):
        base = goods.get(rate, (ZERO, ZERO))[0] + parts.get(rate, ZERO)
        breakdown[rate] = (base, money(base * rate) if rate in parts else goods[rate][1])
    shipping_by_rate = {rate: (part, breakdown[rate][1] - goods.get(rate, (ZERO, ZERO))[1]) for rate, part in sorted(parts.items())}
    shipping_tax = money(sum((tax for _, tax in shipping_by_rate.values()), Decimal("0")))
    tax_total = goods_tax + shipping_tax
    return Totals(subtotal, tax_total, shipping, subtotal + tax_total + shipping, breakdown, shipping_tax, shipping_by_rate)


# fixes19b, issue 19 review F13: the shipping rates of the products' currency as one more column of placement's catalogue
# statement (app/orders/service.py `_catalogue_read`), on its first row only, NULL without rates; so a placement sends
# no statement of its own for them. Keys: the columns of models/shipping.py ShippingRate (app/fulfilment/rates.py
# `Rate.of_row` reads them), in `position` order.
RATES_SQL = """CASE WHEN row_number() OVER () = 1 THEN (
  SELECT json_agg(json_build_object(
    'carrier_code', r.carrier_code, 'service', r.service, 'destination', r.destination, 'currency', r.currency, 'price', r.price,
    'min_weight_grams', r.min_weight_grams, 'max_weight_grams', r.max_weight_grams, 'min_order_value', r.min_order_value,
    'max_order_value', r.max_order_value, 'free_above', r.free_above, 'transit_days', r.transit_days) ORDER BY r.position)::text
  FROM shipping_rates r WHERE r.currency = products.currency) END"""


def rates_of(raw: str | None) -> tuple[dict[str, Any], ...]:
    """RATES_SQL's text as rows (amounts as Decimal); () without rates."""
    return tuple(json.loads(raw, parse_float=Decimal)) if raw else ()
