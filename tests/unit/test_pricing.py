"""Order totals (app/orders/pricing.py): prices net of VAT, line totals, VAT rounded once per rate."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from app.orders.pricing import compute_totals, line_total, money


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        ("0.005", "0.01"),     # half up, not half even
        ("0.015", "0.02"),
        ("0.025", "0.03"),     # banker's rounding would give 0.02
        ("2.675", "2.68"),     # exact decimal, not the binary float 2.67499...
        ("2.6749", "2.67"),
        ("10", "10.00"),
    ],
)
def test_money_rounds_half_up_to_cents(value: str, cents: str) -> None:
    rounded = money(D(value))
    assert rounded == D(cents)
    assert str(rounded) == cents  # always two decimals


def test_line_total_is_quantity_times_unit_price_rounded_to_cents() -> None:
    assert line_total(D("19.99"), 3) == D("59.97")
    assert line_total(D("0.333"), 3) == D("1.00")
    assert str(line_total(D("5"), 2)) == "10.00"


def test_vat_is_rounded_once_per_rate_not_per_line() -> None:
    # Three lines of 0.50 at 21 %: per line 0.105 would round to 0.11 each (0.33); once per rate 1.50 * 0.21 = 0.315 -> 0.32.
    totals = compute_totals([(D("0.50"), D("0.21"))] * 3)
    assert totals.tax_total == D("0.32")
    assert totals.subtotal == D("1.50")
    assert totals.total == D("1.82")
    assert totals.tax_by_rate == {D("0.21"): (D("1.50"), D("0.32"))}


def test_several_rates_each_rounded_then_added_and_shipping_is_added_untaxed() -> None:
    lines = [(D("10.00"), D("0.21")), (D("5.00"), D("0.10")), (D("2.50"), D("0.21")), (D("3.33"), D("0.04"))]
    totals = compute_totals(lines, shipping=D("4.95"))
    assert list(totals.tax_by_rate) == [D("0.04"), D("0.10"), D("0.21")]  # in rate order, as on the invoice
    assert totals.tax_by_rate[D("0.04")] == (D("3.33"), D("0.13"))   # 0.1332
    assert totals.tax_by_rate[D("0.10")] == (D("5.00"), D("0.50"))
    assert totals.tax_by_rate[D("0.21")] == (D("12.50"), D("2.63"))  # 2.625, half up
    assert (totals.subtotal, totals.tax_total, totals.shipping_total, totals.total) == (D("20.83"), D("3.26"), D("4.95"), D("29.04"))


def test_the_same_rate_written_with_more_places_is_one_rate() -> None:
    # Rates come back from Numeric(6, 4) as 0.2100; a catalogue value may be 0.21.
    totals = compute_totals([(D("0.50"), D("0.2100")), (D("0.50"), D("0.21")), (D("0.50"), D("0.210"))])
    assert len(totals.tax_by_rate) == 1
    assert totals.tax_total == D("0.32")


def test_zero_rate_lines_are_their_own_bucket_with_no_tax() -> None:
    totals = compute_totals([(D("7.00"), D("0")), (D("3.00"), D("0.21"))])
    assert totals.tax_by_rate[D("0")] == (D("7.00"), D("0.00"))
    assert totals.tax_total == D("0.63")
    assert totals.total == D("10.63")


def test_shipping_is_rounded_to_cents() -> None:
    totals = compute_totals([(D("1.00"), D("0.21"))], shipping=D("4.995"))
    assert totals.shipping_total == D("5.00")
    assert totals.total == D("6.21")


def test_no_lines_total_nothing() -> None:
    totals = compute_totals([])
    assert (totals.subtotal, totals.tax_total, totals.shipping_total, totals.total) == (D("0.00"),) * 4
    assert totals.tax_by_rate == {}
    assert str(totals.total) == "0.00"


def test_totals_of_priced_lines_match_the_invoice_arithmetic() -> None:
    """Line totals first (quantity * price), then VAT once per rate over their sum."""
    priced = [(line_total(D("12.99"), 3), D("0.21")), (line_total(D("4.55"), 7), D("0.21")), (line_total(D("0.99"), 11), D("0.10"))]
    assert [amount for amount, _ in priced] == [D("38.97"), D("31.85"), D("10.89")]
    totals = compute_totals(priced)
    # 21 %: 70.82 * 0.21 = 14.8722 -> 14.87; 10 %: 10.89 * 0.10 = 1.089 -> 1.09
    assert totals.tax_total == D("15.96")
    assert totals.total == D("97.67")
