"""The shipping rate table and the VAT on shipping, pure (issue 19): app/fulfilment/rates.py `quote` / `check_rates`,
app/orders/pricing.py `spread` / `compute_totals(..., tax_shipping=True)`. No database."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from app.errors import DomainError, ValidationErrors
from app.fulfilment.rates import Rate, RateInput, check_rates, quote
from app.orders.pricing import compute_totals, money, spread


def rate(method: str, destination: str, price: str, **bands: object) -> Rate:
    carrier, service = method.split(":")
    return Rate(carrier, service, destination, "EUR", D(price), **bands)  # type: ignore[arg-type]


def methods(rates: list[Rate], *, weight: int = 0, value: str = "10.00", origin: str = "ES", to: str = "ES") -> list[tuple[str, str]]:
    return [(q.method, str(q.price)) for q in quote(rates, weight_grams=weight, order_value=D(value), currency="EUR", origin_country=origin,
                                                      destination_country=to)]


def test_a_country_row_beats_the_zone_row_of_the_same_method() -> None:
    rates = [rate("SEUR:STANDARD", "EU", "9.00"), rate("SEUR:STANDARD", "PT", "6.00"), rate("DHL:EXPRESS", "EU", "15.00")]
    # then: to Portugal the country row prices SEUR; DHL has only its zone row
    assert methods(rates, to="PT") == [("SEUR:STANDARD", "6.00"), ("DHL:EXPRESS", "15.00")]
    # to France (EU from Spain) the zone row applies
    assert methods(rates, to="FR") == [("SEUR:STANDARD", "9.00"), ("DHL:EXPRESS", "15.00")]
    # Spain to Spain is DOMESTIC: no row, nothing available
    assert methods(rates, to="ES") == []
    # the zone is relative to the shipping warehouse: from France, Portugal is still EU, but the PT row wins
    assert methods(rates, origin="FR", to="PT")[0] == ("SEUR:STANDARD", "6.00")
    # from the US, France is INTERNATIONAL: no EU row applies
    assert methods(rates, origin="US", to="FR") == []


def test_a_zone_row_applies_where_no_country_row_of_that_method_matches_the_basket() -> None:
    rates = [rate("SEUR:STANDARD", "PT", "6.00", max_weight_grams=1000), rate("SEUR:STANDARD", "EU", "9.00")]
    assert methods(rates, to="PT", weight=999) == [("SEUR:STANDARD", "6.00")]
    assert methods(rates, to="PT", weight=1000) == [("SEUR:STANDARD", "9.00")]


def test_weight_bands_are_half_open() -> None:
    rates = [
        rate("CORREOS:STANDARD", "DOMESTIC", "3.50", max_weight_grams=2000),
        rate("CORREOS:STANDARD", "DOMESTIC", "5.90", min_weight_grams=2000, max_weight_grams=10000),
        rate("CORREOS:STANDARD", "DOMESTIC", "12.00", min_weight_grams=10000),
    ]
    assert methods(rates, weight=0) == [("CORREOS:STANDARD", "3.50")]
    assert methods(rates, weight=1999) == [("CORREOS:STANDARD", "3.50")]
    assert methods(rates, weight=2000) == [("CORREOS:STANDARD", "5.90")]
    assert methods(rates, weight=9999) == [("CORREOS:STANDARD", "5.90")]
    assert methods(rates, weight=250000) == [("CORREOS:STANDARD", "12.00")]


def test_value_bands_are_half_open_on_the_net_goods_value() -> None:
    rates = [
        rate("SEUR:STANDARD", "DOMESTIC", "6.00", max_order_value=D("30.00")),
        rate("SEUR:STANDARD", "DOMESTIC", "3.00", min_order_value=D("30.00")),
    ]
    assert methods(rates, value="29.99") == [("SEUR:STANDARD", "6.00")]
    assert methods(rates, value="30.00") == [("SEUR:STANDARD", "3.00")]


def test_free_above_ships_for_nothing_from_the_threshold_on() -> None:
    rates = [rate("SEUR:STANDARD", "ES", "4.95", free_above=D("50.00")), rate("DHL:EXPRESS", "ES", "9.90")]
    assert methods(rates, value="49.99") == [("SEUR:STANDARD", "4.95"), ("DHL:EXPRESS", "9.90")]
    assert methods(rates, value="50.00") == [("SEUR:STANDARD", "0.00"), ("DHL:EXPRESS", "9.90")]


def test_cheapest_first_ties_by_method_and_other_currencies_never_apply() -> None:
    rates = [rate("UPS:STANDARD", "ES", "5.00"), rate("DHL:STANDARD", "ES", "5.00"), rate("CORREOS:ECONOMY", "ES", "2.00"),
             Rate("SEUR", "STANDARD", "ES", "USD", D("0.50"))]
    assert methods(rates) == [("CORREOS:ECONOMY", "2.00"), ("DHL:STANDARD", "5.00"), ("UPS:STANDARD", "5.00")]


def row(**changes: object) -> RateInput:
    values: dict[str, object] = {"carrier_code": "seur", "service": "standard", "destination": "eu", "currency": "eur", "price": D("4.95")}
    return RateInput(**{**values, **changes})  # type: ignore[arg-type]


def problems(rows: list[RateInput]) -> list[tuple[str, tuple[object, ...]]]:
    with pytest.raises(DomainError) as refused:
        check_rates(rows, {"SEUR", "DHL"})
    errors = refused.value.errors if isinstance(refused.value, ValidationErrors) else [refused.value]
    return [(e.code.value, tuple(e.path)) for e in errors]


def test_rates_are_normalised_and_every_problem_is_named_at_its_path() -> None:
    [checked] = check_rates([row(max_weight_grams=5000)], {"SEUR"})
    assert (checked.method, checked.destination, checked.currency, checked.min_weight_grams, checked.min_order_value) == (
        "SEUR:STANDARD", "EU", "EUR", 0, D("0.00"))
    assert problems([row(carrier_code="NOPE"), row(service="two words", destination="XX", currency="ZZZ"),
                     row(price=D("-1")), row(price=D("1.999"), max_weight_grams=0), row(min_order_value=D("10"), max_order_value=D("10")),
                     row(transit_days=61)]) == [
        ("NOT_FOUND", ("rates", 0, "carrier_code")),
        ("INVALID_INPUT", ("rates", 1, "service")), ("INVALID_INPUT", ("rates", 1, "destination")), ("INVALID_INPUT", ("rates", 1, "currency")),
        ("INVALID_INPUT", ("rates", 2, "price")),
        ("INVALID_INPUT", ("rates", 3, "price")), ("INVALID_INPUT", ("rates", 3, "max_weight_grams")),
        ("INVALID_INPUT", ("rates", 4, "max_order_value")),
        ("INVALID_INPUT", ("rates", 5, "transit_days")),
    ]


def test_overlapping_rows_of_one_method_destination_and_currency_are_refused() -> None:
    # adjacent bands are fine, and so are the same bands for another destination, method or currency
    check_rates([row(max_weight_grams=2000), row(min_weight_grams=2000), row(destination="PT"), row(service="EXPRESS"),
                 row(currency="USD")], {"SEUR"})
    assert problems([row(max_weight_grams=2000), row(min_weight_grams=1000, max_weight_grams=3000)]) == [("INVALID_INPUT", ("rates", 1))]
    # two bands that overlap in weight but not in value do not overlap
    check_rates([row(max_order_value=D("50")), row(min_order_value=D("50"))], {"SEUR"})
    assert problems([row(), row(min_order_value=D("50"))]) == [("INVALID_INPUT", ("rates", 1))]


# --- VAT on shipping -------------------------------------------------------------------------------------------


def test_spread_is_proportional_in_whole_cents_with_the_leftover_to_the_largest_remainders() -> None:
    # 4.95 over bases 20.00 and 16.50: 2.7123... and 2.2376...: cut to 2.71 + 2.23, the last cent to the larger remainder
    assert spread(D("4.95"), {D("0.21"): D("20.00"), D("0.10"): D("16.50")}) == {D("0.10"): D("2.24"), D("0.21"): D("2.71")}
    assert spread(D("0.01"), {D("0.21"): D("1.00"), D("0.10"): D("1.00")}) == {D("0.10"): D("0.01")}  # a tie: the lower rate
    assert spread(D("3.00"), {D("0.21"): D("10.00"), D("0.04"): D("0.00")}) == {D("0.21"): D("3.00")}
    assert spread(D("0"), {D("0.21"): D("10.00")}) == {}


@pytest.mark.parametrize("shipping", ["0.01", "4.95", "7.77", "13.33", "99.99"])
def test_shipping_follows_the_goods_and_the_totals_reconcile_to_the_cent(shipping: str) -> None:
    lines = [(D("20.00"), D("0.21")), (D("16.50"), D("0.10")), (D("3.33"), D("0.04"))]
    totals = compute_totals(lines, D(shipping), tax_shipping=True)
    goods = compute_totals(lines)
    # Σ lines + shipping + VAT = total; the shipping's VAT is inside tax_total
    assert totals.subtotal == D("39.83") and totals.shipping_total == D(shipping)
    assert totals.total == totals.subtotal + totals.shipping_total + totals.tax_total
    assert totals.tax_total == goods.tax_total + totals.shipping_tax
    # the parts add up to the shipping, and the breakdown carries them; VAT rounded once per rate on the whole base
    # (goods + the shipping part, issue 19 review F6): a part's VAT is what it adds to its rate's VAT
    assert sum(net for net, _ in totals.shipping_by_rate.values()) == D(shipping)
    assert all(tax == money(base * rate) for rate, (base, tax) in totals.tax_by_rate.items())
    assert sum(base + tax for base, tax in totals.tax_by_rate.values()) == totals.total
    for rate_, (base, tax) in totals.tax_by_rate.items():
        net, vat = totals.shipping_by_rate.get(rate_, (D("0"), D("0")))
        assert (base, tax) == (goods.tax_by_rate[rate_][0] + net, goods.tax_by_rate[rate_][1] + vat)


def test_untaxed_shipping_is_still_available_and_zero_shipping_changes_nothing() -> None:
    lines = [(D("20.00"), D("0.21")), (D("16.50"), D("0.10"))]
    assert compute_totals(lines, D("0"), tax_shipping=True) == compute_totals(lines)
    single = compute_totals([(D("10.00"), D("0.21"))], D("5.00"), tax_shipping=True)
    assert (single.shipping_tax, single.tax_total, single.total, single.tax_by_rate) == (
        D("1.05"), D("3.15"), D("18.15"), {D("0.21"): (D("15.00"), D("3.15"))})


@pytest.mark.parametrize(("lines", "shipping"), [
    ([(D("1.02"), D("0.21"))], "1.02"),  # 2.04 x 21 % = 0.4284: 0.43 (two roundings gave 0.21 + 0.21 = 0.42)
    ([(D("20.00"), D("0.21")), (D("16.50"), D("0.10")), (D("3.33"), D("0.04"))], "13.33"),
    ([(D("20.00"), D("0.21")), (D("16.50"), D("0.10")), (D("3.33"), D("0.04"))], "99.99"),
    ([(D("0.07"), D("0.21")), (D("0.07"), D("0.10"))], "0.07"),
])
def test_each_rates_vat_is_rounded_once_on_its_base_with_its_shipping_part(lines: list[tuple[D, D]], shipping: str) -> None:
    # issue 19 review F6: what a tax authority checks on the invoice's breakdown, per rate: VAT = round(base x rate)
    totals = compute_totals(lines, D(shipping), tax_shipping=True)
    goods = compute_totals(lines)
    for rate, (base, tax) in totals.tax_by_rate.items():
        assert tax == money(base * rate), (rate, base, tax)
        assert tax == goods.tax_by_rate[rate][1] + totals.shipping_by_rate.get(rate, (D("0"), D("0")))[1]
    assert totals.tax_total == sum(tax for _, tax in totals.tax_by_rate.values()) == goods.tax_total + totals.shipping_tax
    assert totals.total == totals.subtotal + totals.shipping_total + totals.tax_total
