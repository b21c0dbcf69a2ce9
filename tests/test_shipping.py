"""Shipping charges on PostgreSQL (issue 19): the rate table through the API, placeOrder's shippingMethod, the VAT on
shipping following the goods, shipping lines on invoices and credit notes, quotes matching what placeOrder charges,
and edits / line cancellations keeping the order's shipping consistent."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from app.billing import config, invoicing
from app.billing.providers import get_provider
from app.billing.providers.test import OfflineProvider
from app.errors import DomainError
from app.fulfilment import rates
from app.infra.database import UnitOfWork
from app.orders.enums import DeliveryType, SalesChannel
from app.orders.service import DeliveryMethod, LineRequest, Placement, PlaceOrderRequest
from models import Order, OrderEvent, OrderLine, StockLevel, StockMovement
from models.billing import Invoice
from resolvers.ids import to_global_id as gid
from tests import factories
from tests.conftest import make_key
from tests.factories import ADDRESS, ADDRESS_INPUT

D = Decimal

SET_RATES = """
mutation Set($input: SetShippingRatesInput!) {
  setShippingRates(input: $input) {
    rates { method carrierCode service destination currency minWeightGrams maxWeightGrams price { amount currency }
            minOrderValue { amount } maxOrderValue { amount } freeAbove { amount } transitDays }
    userErrors { field code message }
  }
}
"""
RATES = "{ shippingRates { method destination price { amount } } }"
QUOTES = """
query Quotes($input: ShippingQuotesInput!) {
  shippingQuotes(input: $input) { method carrier service price { amount currency } tax { amount } total { amount } estimatedDeliveryDate }
}
"""
PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    order { id number status total { amount } subtotal { amount } taxTotal { amount } shippingTotal { amount } shippingTax { amount }
            shippingMethod estimatedDeliveryDate payments { amount { amount } } }
    userErrors { field code message }
  }
}
"""
ORDER = """
query Order($id: ID!) {
  order(id: $id) {
    status total { amount } subtotal { amount } taxTotal { amount } shippingTotal { amount } shippingTax { amount } shippingMethod
    invoices { number kind subtotal { amount } taxTotal { amount } total { amount }
               taxBreakdown { rate base { amount } tax { amount } }
               lines { sku description quantity taxRate unitPrice { amount } total { amount } } }
  }
}
"""
CONFIRM = "mutation C($input: OrderIdInput!) { confirmOrder(input: $input) { order { status } userErrors { field code message } } }"
CANCEL = "mutation C($input: OrderIdInput!) { cancelOrder(input: $input) { order { status paymentStatus } userErrors { field code message } } }"
CANCEL_LINES = """
mutation CancelLines($input: CancelOrderLinesInput!) {
  cancelOrderLines(input: $input) { order { status total { amount } shippingTotal { amount } } userErrors { field code message } }
}
"""
EDIT = """
mutation Edit($input: EditOrderInput!) {
  editOrder(input: $input) { order { total { amount } shippingTotal { amount } shippingTax { amount } taxTotal { amount } }
                             userErrors { field code message } }
}
"""
PRODUCT = """
mutation P($input: ProductInput!) { upsertProduct(input: $input) { product { sku weightGrams } userErrors { field code message } } }
"""

# Spain (the warehouses' country) -> DOMESTIC; a country row for PT; EXPRESS with its own transit days.
TABLE = [
    {"carrierCode": "CORREOS", "service": "STANDARD", "destination": "DOMESTIC", "currency": "EUR", "price": "4.95", "maxWeightGrams": 5000,
     "freeAbove": "100.00"},
    {"carrierCode": "CORREOS", "service": "STANDARD", "destination": "DOMESTIC", "currency": "EUR", "price": "8.95", "minWeightGrams": 5000,
     "freeAbove": "100.00"},
    {"carrierCode": "seur", "service": "express", "destination": "es", "currency": "eur", "price": "9.90", "transitDays": 1},
    {"carrierCode": "SEUR", "service": "EXPRESS", "destination": "EU", "currency": "EUR", "price": "14.90"},
    {"carrierCode": "SEUR", "service": "EXPRESS", "destination": "PT", "currency": "EUR", "price": "7.77"},
]


@pytest.fixture
def provider() -> OfflineProvider:
    gateway = get_provider(config.settings())
    assert isinstance(gateway, OfflineProvider)
    gateway.reset()
    return gateway


async def set_rates(gql: Any, table: list[dict[str, Any]] = TABLE) -> dict[str, Any]:
    body = await gql(SET_RATES, {"input": {"rates": table}})
    assert "errors" not in body, body
    return body["data"]["setShippingRates"]


async def catalogue(db: Any) -> None:
    """A (21 %, 1.2 kg) and B (10 %, 0.5 kg) in MAD; C (21 %, 6 kg) in BCN."""
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.warehouse(db, "BCN", ["WEB"])
    for sku, price, rate_, grams in (("A", "10.00", "0.21", 1200), ("B", "5.50", "0.10", 500), ("C", "40.00", "0.21", 6000)):
        await factories.product(db, sku, price, tax_rate=rate_)
        await db.run(lambda uow, s=sku, g=grams: _weigh(uow, s, g))
    await factories.stock(db, "A", "MAD", 20)
    await factories.stock(db, "B", "MAD", 20)
    await factories.stock(db, "C", "BCN", 5)


async def _weigh(uow: UnitOfWork, sku: str, grams: int) -> None:
    from models import Product

    product = (await uow.session.execute(select(Product).where(Product.sku == sku))).scalar_one()
    product.weight_grams = grams


def basket(lines: list[tuple[str, int]], address: dict[str, Any] = ADDRESS_INPUT) -> dict[str, Any]:
    return {"channel": "WEB", "lines": [{"sku": s, "quantity": q} for s, q in lines], "shippingAddress": address}


async def place(gql: Any, lines: list[tuple[str, int]], *, method: str | None = None, payment: dict[str, Any] | None = None,
                address: dict[str, Any] = ADDRESS_INPUT) -> dict[str, Any]:
    body = {**basket(lines, address), "email": "buyer@example.com", "shippingMethod": method}
    if payment:
        body["payment"] = payment
    result = await gql(PLACE, {"input": body})
    assert "errors" not in result, result
    return result["data"]["placeOrder"]


async def read(gql: Any, order_id: str) -> dict[str, Any]:
    body = await gql(ORDER, {"id": order_id})
    assert "errors" not in body, body
    return body["data"]["order"]


def amount(money: dict[str, Any]) -> Decimal:
    return D(money["amount"])


def reconciles(order: dict[str, Any]) -> None:
    """Σ lines + shipping + VAT = total."""
    assert amount(order["subtotal"]) + amount(order["shippingTotal"]) + amount(order["taxTotal"]) == amount(order["total"]), order


def per_rate(invoices: list[dict[str, Any]]) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """Base and VAT per rate, every document added up."""
    sums: dict[Decimal, tuple[Decimal, Decimal]] = {}
    for invoice in invoices:
        for row in invoice["taxBreakdown"]:
            base, tax = sums.get(D(row["rate"]), (D("0"), D("0")))
            sums[D(row["rate"])] = (base + amount(row["base"]), tax + amount(row["tax"]))
    return sums


async def counts(db: Any) -> tuple[int, int, int, int]:
    async with db.read() as session:
        return (
            (await session.execute(select(func.count()).select_from(Order))).scalar_one(),
            (await session.execute(select(func.count()).select_from(OrderEvent))).scalar_one(),
            (await session.execute(select(func.coalesce(func.sum(StockLevel.reserved), 0)))).scalar_one(),
            (await session.execute(select(func.count()).select_from(StockMovement).where(StockMovement.kind == "RESERVATION"))).scalar_one(),
        )


# --- the table -----------------------------------------------------------------------------------------------------


async def test_set_shipping_rates_replaces_the_table_normalised_and_in_order(gql, db) -> None:
    # when
    result = await set_rates(gql)
    # then
    assert result["userErrors"] == []
    assert [(r["method"], r["destination"], r["price"]["amount"]) for r in result["rates"]] == [
        ("CORREOS:STANDARD", "DOMESTIC", "4.95"), ("CORREOS:STANDARD", "DOMESTIC", "8.95"), ("SEUR:EXPRESS", "ES", "9.90"),
        ("SEUR:EXPRESS", "EU", "14.90"), ("SEUR:EXPRESS", "PT", "7.77"),
    ]
    first = result["rates"][0]
    assert (first["minWeightGrams"], first["maxWeightGrams"], first["freeAbove"], first["minOrderValue"], first["maxOrderValue"]) == (
        0, 5000, {"amount": "100.00"}, {"amount": "0.00"}, None)
    assert result["rates"][2]["transitDays"] == 1
    listed = (await gql(RATES))["data"]["shippingRates"]
    assert [r["method"] for r in listed] == [r["method"] for r in result["rates"]]
    # when: set again with one row: the table is replaced
    again = await set_rates(gql, TABLE[:1])
    assert [r["method"] for r in again["rates"]] == ["CORREOS:STANDARD"]
    assert len((await gql(RATES))["data"]["shippingRates"]) == 1


async def test_set_shipping_rates_refuses_with_field_paths_and_keeps_the_table(gql, db) -> None:
    await set_rates(gql)
    bad = [{**TABLE[0], "carrierCode": "NOPE"}, {**TABLE[0], "destination": "Mars", "price": "-1"}, TABLE[0],
           {**TABLE[0], "minWeightGrams": 1000, "maxWeightGrams": 3000}]
    result = await set_rates(gql, bad)
    assert result["rates"] is None
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [
        ("NOT_FOUND", ["input", "rates", "0", "carrierCode"]),
        ("INVALID_INPUT", ["input", "rates", "1", "destination"]), ("INVALID_INPUT", ["input", "rates", "1", "price"]),
        ("INVALID_INPUT", ["input", "rates", "3"]),
    ]
    assert len((await gql(RATES))["data"]["shippingRates"]) == len(TABLE)


async def test_the_rate_table_needs_stock_scopes(gql, db) -> None:
    reader = await make_key(db, "orders:read")
    refused = await gql(SET_RATES, {"input": {"rates": TABLE}}, token=reader)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql(RATES, token=reader))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    stock = await make_key(db, "stock:read")
    assert (await gql(RATES, token=stock))["data"]["shippingRates"] == []


async def test_product_weight_is_set_by_upsert_product_and_validated(gql, db) -> None:
    product = {"sku": "W", "name": "Weighed", "price": "1.00", "currency": "EUR", "taxRate": "0.21"}
    set_ = await gql(PRODUCT, {"input": {**product, "weightGrams": 750}})
    assert set_["data"]["upsertProduct"]["product"] == {"sku": "W", "weightGrams": 750}
    refused = await gql(PRODUCT, {"input": {**product, "weightGrams": -1}})
    assert [(e["code"], e["field"]) for e in refused["data"]["upsertProduct"]["userErrors"]] == [("INVALID_INPUT", ["input", "weightGrams"])]
    absent = await gql(PRODUCT, {"input": product})  # every value is replaced: absent is 0
    assert absent["data"]["upsertProduct"]["product"] == {"sku": "W", "weightGrams": 0}


# --- placement -----------------------------------------------------------------------------------------------------


async def test_no_rates_configured_charges_nothing_as_before(gql, db) -> None:
    await catalogue(db)
    placed = await place(gql, [("A", 2), ("B", 1)])
    order = placed["order"]
    assert placed["userErrors"] == []
    assert (order["shippingTotal"], order["shippingTax"], order["shippingMethod"]) == ({"amount": "0.00"}, {"amount": "0.00"}, None)
    assert (order["subtotal"], order["taxTotal"], order["total"]) == ({"amount": "25.50"}, {"amount": "4.75"}, {"amount": "30.25"})
    assert (await gql(QUOTES, {"input": basket([("A", 2)])}))["data"]["shippingQuotes"] == []
    # a method named while none is configured is unknown
    refused = await place(gql, [("A", 1)], method="CORREOS:STANDARD")
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INVALID_INPUT", ["input", "shippingMethod"])]


async def test_absent_method_charges_the_cheapest_and_the_totals_reconcile(gql, db) -> None:
    await catalogue(db)
    await set_rates(gql)
    # when: 2 x A + 1 x B = 2.9 kg, domestic: CORREOS 4.95 beats SEUR 9.90
    placed = await place(gql, [("A", 2), ("B", 1)])
    order = placed["order"]
    assert placed["userErrors"] == []
    assert order["shippingMethod"] == "CORREOS:STANDARD"
    assert order["shippingTotal"] == {"amount": "4.95"}
    # goods: 20.00 at 21 % and 5.50 at 10 %; shipping 4.95 spread 3.88 / 1.07 (in proportion, whole cents)
    # shipping VAT: 3.88 x 0.21 = 0.81 (0.8148), 1.07 x 0.10 = 0.11 (0.107) -> 0.92
    assert order["shippingTax"] == {"amount": "0.92"}
    assert order["taxTotal"] == {"amount": str(D("4.75") + D("0.92"))}
    reconciles(order)
    assert order["total"] == {"amount": "36.12"}
    # the payment is for the whole total, shipping included (cash on delivery opens one)
    cod = await place(gql, [("A", 2), ("B", 1)], payment={"method": "CASH_ON_DELIVERY"})
    assert cod["order"]["payments"][0]["amount"] == {"amount": "36.12"}


async def test_a_named_method_is_charged_and_weight_and_destination_decide_the_rate(gql, db) -> None:
    await catalogue(db)
    await set_rates(gql)
    express = (await place(gql, [("A", 1)], method="seur:express"))["order"]
    assert (express["shippingMethod"], express["shippingTotal"]) == ("SEUR:EXPRESS", {"amount": "9.90"})
    reconciles(express)
    heavy = (await place(gql, [("C", 1)]))["order"]  # 6 kg: the second CORREOS band
    assert (heavy["shippingMethod"], heavy["shippingTotal"]) == ("CORREOS:STANDARD", {"amount": "8.95"})
    portugal = (await place(gql, [("A", 1)], address={**ADDRESS_INPUT, "country": "PT", "postalCode": "1100-148"}))["order"]
    assert (portugal["shippingMethod"], portugal["shippingTotal"]) == ("SEUR:EXPRESS", {"amount": "7.77"})  # the PT row beats EU


@pytest.mark.parametrize("method", ["NOPE:STANDARD", "CORREOS", "DHL:EXPRESS"])
async def test_an_unknown_or_unavailable_method_is_refused_and_nothing_written(gql, db, method) -> None:
    await catalogue(db)
    await set_rates(gql)
    before = await counts(db)
    refused = await place(gql, [("A", 1)], method=method)
    assert refused["order"] is None
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INVALID_INPUT", ["input", "shippingMethod"])]
    assert await counts(db) == before


async def test_a_method_not_covering_the_basket_is_refused(gql, db) -> None:
    await catalogue(db)
    await set_rates(gql)
    # SEUR:EXPRESS exists, but not to the United States (INTERNATIONAL from Spain), and nothing else does either
    before = await counts(db)
    us = {**ADDRESS_INPUT, "country": "US", "postalCode": "10001", "region": "NY"}
    refused = await place(gql, [("A", 1)], method="SEUR:EXPRESS", address=us)
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INVALID_INPUT", ["input", "shippingMethod"])]
    assert "not available" in refused["userErrors"][0]["message"]
    cheapest = await place(gql, [("A", 1)], address=us)
    assert [(e["code"], e["field"]) for e in cheapest["userErrors"]] == [("INVALID_INPUT", ["input", "shippingMethod"])]
    assert await counts(db) == before


async def test_quotes_match_what_place_order_then_charges(gql, db, provider) -> None:
    await catalogue(db)
    await set_rates(gql)
    lines = [("A", 3), ("B", 2), ("C", 1)]  # 7.6 kg, mixed rates, two warehouses
    quotes = (await gql(QUOTES, {"input": basket(lines)}))["data"]["shippingQuotes"]
    assert [(q["method"], q["carrier"], q["service"], q["price"]["amount"]) for q in quotes] == [
        ("CORREOS:STANDARD", "CORREOS", "STANDARD", "8.95"), ("SEUR:EXPRESS", "SEUR", "EXPRESS", "9.90"),
    ]
    for quote in quotes:
        assert amount(quote["price"]) + amount(quote["tax"]) == amount(quote["total"])
        # when: placed with that method (by card too: the two-transaction path)
        for payment in (None, {"method": "CARD", "token": "test_approve"}):
            order = (await place(gql, lines, method=quote["method"], payment=payment))["order"]
            # then: the same net, VAT and gross
            assert order["shippingTotal"]["amount"] == quote["price"]["amount"] and order["shippingTax"] == quote["tax"]
            assert amount(order["shippingTotal"]) + amount(order["shippingTax"]) == amount(quote["total"])
            reconciles(order)
            if payment:
                assert order["payments"][0]["amount"] == order["total"]
    # the express service's own transit day: it arrives no later than the standard one
    assert quotes[1]["estimatedDeliveryDate"] <= quotes[0]["estimatedDeliveryDate"]


async def test_quotes_refuse_what_place_order_refuses(gql, db) -> None:
    await catalogue(db)
    await set_rates(gql)
    unknown = await gql(QUOTES, {"input": basket([("ZZZ", 1)])})
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert unknown["errors"][0]["extensions"]["field"] == ["input", "lines", "0", "sku"]
    short = await gql(QUOTES, {"input": basket([("C", 6)])})
    assert short["errors"][0]["extensions"]["code"] == "OUT_OF_STOCK"
    assert (await counts(db))[0] == 0


async def test_a_pickup_is_charged_nothing_and_takes_no_method(db) -> None:
    # A pickup never reads the rate table: no charge (0), and a shipping method with it is refused.
    request = PlaceOrderRequest(channel=SalesChannel.WEB, email="b@example.com", lines=[LineRequest("A", 1)], shipping_address=ADDRESS,
                                delivery_method=DeliveryMethod(DeliveryType.PICKUP, "MAD"))

    async def charge(req: PlaceOrderRequest) -> Placement:
        planned = Placement(req, req.channel, None, req.email, ADDRESS, None)
        return await db.run(lambda uow: rates.charge_placement(uow=uow, placement=planned))

    assert (await charge(request)).shipping is None
    with pytest.raises(DomainError) as refused:
        await charge(replace(request, shipping_method="CORREOS:STANDARD"))
    assert (refused.value.code.value, tuple(refused.value.path)) == ("INVALID_INPUT", ("shipping_method",))


# --- invoices and credit notes -------------------------------------------------------------------------------------


async def invoiced(gql: Any, lines: list[tuple[str, int]], **place_args: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    placed = await place(gql, lines, payment={"method": "CARD", "token": "test_approve"}, **place_args)
    assert placed["userErrors"] == [], placed
    confirmed = await gql(CONFIRM, {"input": {"orderId": placed["order"]["id"]}})
    assert confirmed["data"]["confirmOrder"]["userErrors"] == []
    order = await read(gql, placed["order"]["id"])
    return placed["order"], order


@pytest.mark.parametrize(
    ("lines", "shipping", "parts"),
    [
        ([("A", 2)], "4.95", [("0.2100", "4.95")]),                                      # a single rate
        ([("A", 2), ("B", 1)], "4.95", [("0.1000", "1.07"), ("0.2100", "3.88")]),          # mixed 21 % / 10 %
        ([("A", 9), ("B", 2)], "0.00", []),                                                # free above 100.00 of goods
    ],
    ids=["single-rate", "mixed-rates", "free-above"],
)
async def test_the_invoice_bills_the_order_total_to_the_cent_with_a_shipping_line_per_rate(gql, db, provider, lines, shipping, parts) -> None:
    await catalogue(db)
    await set_rates(gql)
    placed, order = await invoiced(gql, lines)
    [invoice] = order["invoices"]
    # then: the invoice's total is the order's, and its subtotal + VAT add up to it
    assert invoice["total"] == order["total"] == placed["total"]
    assert amount(invoice["subtotal"]) + amount(invoice["taxTotal"]) == amount(invoice["total"])
    assert invoice["taxTotal"] == order["taxTotal"]
    assert amount(invoice["subtotal"]) == amount(order["subtotal"]) + amount(order["shippingTotal"])
    assert order["shippingTotal"] == {"amount": shipping}
    # one shipping line per rate (no SKU), and the lines add up to the breakdown's bases
    shipping_lines = [line for line in invoice["lines"] if line["sku"] is None]
    assert [(line["taxRate"], line["total"]["amount"]) for line in shipping_lines] == parts
    assert all(line["description"] == "Shipping (CORREOS:STANDARD)" and line["quantity"] == 1 for line in shipping_lines)
    assert sum(amount(line["total"]) for line in invoice["lines"]) == sum(amount(r["base"]) for r in invoice["taxBreakdown"])
    assert sum(amount(r["base"]) + amount(r["tax"]) for r in invoice["taxBreakdown"]) == amount(invoice["total"])
    reconciles(order)


async def test_a_full_cancellation_credits_the_shipping_and_nets_each_rate_to_zero(gql, db, provider) -> None:
    await catalogue(db)
    await set_rates(gql)
    placed, _ = await invoiced(gql, [("A", 2), ("B", 1)])
    # when
    cancelled = await gql(CANCEL, {"input": {"orderId": placed["id"], "reason": "customer changed mind"}})
    # then: refunded in full (shipping too), and invoice + credit note are 0 rate by rate
    assert cancelled["data"]["cancelOrder"]["order"] == {"status": "CANCELLED", "paymentStatus": "REFUNDED"}
    after = await read(gql, placed["id"])
    _invoice, note = after["invoices"]
    assert note["kind"] == "CREDIT_NOTE" and note["total"]["amount"] == "-36.12"
    assert per_rate(after["invoices"]) == {D("0.10"): (D("0"), D("0")), D("0.21"): (D("0"), D("0"))}
    assert [(line["sku"], line["quantity"], line["total"]["amount"]) for line in note["lines"]] == [
        ("A", -2, "-20.00"), ("B", -1, "-5.50"), (None, -1, "-1.07"), (None, -1, "-3.88"),
    ]
    assert [op[0] for op in provider.operations] == ["authorize", "capture", "refund"]
    assert provider.operations[-1][2] == D("36.12")


async def test_a_partial_return_does_not_credit_shipping_but_the_last_units_do(db, gql, provider) -> None:
    # Rule: returned goods are credited at their invoiced prices; the shipping only when the whole order comes back.
    await catalogue(db)
    await set_rates(gql)
    _, order = await invoiced(gql, [("A", 2), ("B", 1)])
    async with db.read() as session:
        invoice = (await session.execute(select(Invoice).where(Invoice.kind == "INVOICE"))).scalar_one()

    async def credit(sku: str, quantity: int) -> Invoice | None:
        async def work(uow: UnitOfWork) -> Invoice | None:
            fresh = await uow.session.get(Invoice, invoice.id)
            assert fresh is not None
            return await invoicing.issue_credit_note(uow=uow, invoice=fresh, reason="returned", lines=[invoicing.CreditLine(sku, quantity)])

        return await db.run(work)

    first = await credit("A", 1)
    assert first is not None and first.total == D("-12.10")  # 10.00 + 21 %: no shipping
    assert [line["sku"] for line in first.lines] == ["A"]
    last = await credit("A", 1)
    assert last is not None and last.total == D("-12.10")
    final = await credit("B", 1)
    assert final is not None
    # the last unit: 5.50 + 10 % and everything left of the shipping (4.95 net + 0.92 VAT)
    assert final.total == D("-6.05") - D("5.87")
    assert [(line["sku"], line["total"]) for line in final.lines] == [("B", "-5.50"), (None, "-1.07"), (None, "-3.88")]
    assert sum((n.total for n in (first, last, final)), D("0")) == -D(order["total"]["amount"])


# --- edits and line cancellations ----------------------------------------------------------------------------------


async def line_ids(db: Any, order_id: str) -> dict[str, Any]:
    from resolvers.ids import decode_id

    async with db.read() as session:
        rows = (await session.execute(select(OrderLine).where(OrderLine.order_id == decode_id(order_id, "Order", ["id"])))).scalars().all()
    return {row.sku: row.id for row in rows}


async def test_cancelling_some_lines_keeps_the_shipping_and_cancelling_all_drops_it(gql, db, provider) -> None:
    await catalogue(db)
    await set_rates(gql)
    placed, _ = await invoiced(gql, [("A", 2), ("B", 1)])
    ids = await line_ids(db, placed["id"])
    # when: the 10 % line goes
    result = (await gql(CANCEL_LINES, {"input": {"orderId": placed["id"], "reason": "CUSTOMER_REQUEST",
                                                 "lines": [{"orderLineId": gid("OrderLine", ids["B"]), "quantity": 1}]}}))["data"]["cancelOrderLines"]
    assert result["userErrors"] == []
    # then: shipping stays 4.95 net, now all at 21 % (1.04 VAT): 20.00 + 4.20 + 4.95 + 1.04
    after = await read(gql, placed["id"])
    assert (after["shippingTotal"], after["shippingTax"], after["total"]) == ({"amount": "4.95"}, {"amount": "1.04"}, {"amount": "30.19"})
    reconciles(after)
    current = after["invoices"][-1]
    assert current["kind"] == "INVOICE" and current["total"] == after["total"]
    assert [(line["sku"], line["taxRate"], line["total"]["amount"]) for line in current["lines"]] == [
        ("A", "0.2100", "20.00"), (None, "0.2100", "4.95")]
    # when: the rest goes too
    result = (await gql(CANCEL_LINES, {"input": {"orderId": placed["id"], "reason": "CUSTOMER_REQUEST",
                                                 "lines": [{"orderLineId": gid("OrderLine", ids["A"]), "quantity": 2}]}}))["data"]["cancelOrderLines"]
    # then: cancelled, nothing charged, every document nets to zero per rate
    assert result["order"] == {"status": "CANCELLED", "total": {"amount": "0.00"}, "shippingTotal": {"amount": "0.00"}}
    final = await read(gql, placed["id"])
    assert all(v == (D("0"), D("0")) for v in per_rate(final["invoices"]).values())


async def test_an_edit_keeps_the_shipping_net_and_re_spreads_its_vat(gql, db, provider) -> None:
    await catalogue(db)
    await set_rates(gql)
    placed = (await place(gql, [("A", 2), ("B", 1)]))["order"]
    ids = await line_ids(db, placed["id"])
    # when: B goes from 1 to 4 (the goods stay under the free threshold)
    edited = await gql(EDIT, {"input": {"orderId": placed["id"], "changeLines": [{"orderLineId": gid("OrderLine", ids["B"]), "quantity": 4}]}})
    result = edited["data"]["editOrder"]
    assert result["userErrors"] == []
    # then: 4.95 spread over 20.00 / 22.00 -> 2.36 at 21 % (0.50) + 2.59 at 10 % (0.26)
    assert (result["order"]["shippingTotal"], result["order"]["shippingTax"]) == ({"amount": "4.95"}, {"amount": "0.76"})
    reconciles(await read(gql, placed["id"]))


async def test_concurrent_replacements_leave_exactly_one_table(gql, db) -> None:
    import asyncio

    tables = [[{**TABLE[0], "service": f"S{n}"}, {**TABLE[2], "service": f"S{n}"}] for n in range(6)]
    results = await asyncio.gather(*(set_rates(gql, table) for table in tables))
    assert all(r["userErrors"] == [] for r in results)
    listed = (await gql(RATES))["data"]["shippingRates"]
    services = {r["method"].split(":")[1] for r in listed}
    assert len(listed) == 2 and len(services) == 1, listed


async def test_without_an_invoice_the_last_returned_units_refund_the_shipping_too(gql, db, provider, monkeypatch) -> None:
    from app.billing import payments

    monkeypatch.setattr(config, "_current", replace(config.settings(), invoice_moment="manual"))
    await catalogue(db)
    await set_rates(gql)
    placed = await place(gql, [("A", 2), ("B", 1)], payment={"method": "CARD", "token": "test_approve"})
    await gql(CONFIRM, {"input": {"orderId": placed["order"]["id"]}})
    assert (await read(gql, placed["order"]["id"]))["invoices"] == []

    async def refund(sku: str, quantity: int, key: str) -> Decimal:
        async def work(uow: UnitOfWork) -> Decimal:
            from app.orders import service as orders
            from resolvers.ids import decode_id

            order = await orders.get_for_update(uow=uow, order_id=decode_id(placed["order"]["id"], "Order", ["id"]))
            refunded, _ = await payments.refund_lines(uow=uow, order=order, lines=[invoicing.CreditLine(sku, quantity)], reason="returned",
                                                      operation_key=key)
            return refunded

        return await db.run(work)

    assert await refund("A", 2, "r1") == D("24.20")  # the goods only
    assert await refund("B", 1, "r2") == D("6.05") + D("5.87")  # the last unit: and the shipping (4.95 + 0.92 VAT)
    assert D("24.20") + D("11.92") == D(placed["order"]["total"]["amount"])
