"""Order totals from catalogue prices. Prices are net of VAT; VAT is rounded once per rate (as on the invoice)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Decimal
    tax_total: Decimal
    shipping_total: Decimal
    total: Decimal
    tax_by_rate: dict[Decimal, tuple[Decimal, Decimal]]  # rate -> (base, tax)


def line_total(unit_price: Decimal, quantity: int) -> Decimal:
    return money(unit_price * quantity)


def compute_totals(lines: Iterable[tuple[Decimal, Decimal]], shipping: Decimal = Decimal("0.00")) -> Totals:
    """`lines` are (net line total, tax rate) pairs."""
    bases: dict[Decimal, Decimal] = {}
    for amount, rate in lines:
        bases[rate] = bases.get(rate, Decimal("0")) + amount
    breakdown = {rate: (money(base), money(base * rate)) for rate, base in sorted(bases.items())}
    subtotal = money(sum((base for base, _ in breakdown.values()), Decimal("0")))
    tax_total = money(sum((tax for _, tax in breakdown.values()), Decimal("0")))
    return Totals(subtotal, tax_total, money(shipping), subtotal + tax_total + money(shipping), breakdown)
