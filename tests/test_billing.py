"""Payments through the built-in test provider, bank transfers, cash on delivery, refunds and credit notes."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.billing import config, hooks, invoicing, payments
from app.billing.providers import get_provider
from app.billing.providers.test import OfflineProvider
from app.flows import confirmation
from app.flows import payment as payment_flow
from app.orders import service as order_service
from models import Order, OrderEvent, StockLevel
from models.billing import Invoice, Payment, PaymentOperation
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import make_key
from tests.factories import ADDRESS_INPUT

YEAR = datetime.now(UTC).year

PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    order { id number status paymentStatus total { amount } payments { id method status amount { amount } capturedAmount { amount } } }
    userErrors { field code message }
  }
}
"""

ORDER = """
query Order($id: ID!) {
  order(id: $id) {
    id status paymentStatus total { amount }
    payments { id method status amount { amount currency } capturedAmount { amount } refundedAmount { amount } reference expiresAt }
    invoices { number series kind total { amount } subtotal { amount } taxTotal { amount } corrects { number }
               taxBreakdown { rate base { amount } tax { amount } } lines { sku quantity total { amount } } pdfUrl }
    events { edges { node { type status data } } }
  }
}
"""

CONFIRM = """
mutation Confirm($input: OrderIdInput!) { confirmOrder(input: $input) { order { status paymentStatus } userErrors { field code message } } }
"""
CANCEL = """
mutation Cancel($input: OrderIdInput!) { cancelOrder(input: $input) { order { status paymentStatus } userErrors { field code message } } }
"""
CAPTURE = """
mutation Capture($input: CapturePaymentInput!) {
  capturePayment(input: $input) {
    payment { id status capturedAmount { amount } } order { paymentStatus } userErrors { field code message }
  }
}
"""
RECORD = """
mutation Record($input: RecordPaymentInput!) {
  recordPayment(input: $input) {
    payment { id method status capturedAmount { amount } reference } order { status paymentStatus } userErrors { field code message }
  }
}
"""
REFUND = """
mutation Refund($input: RefundPaymentInput!) {
  refundPayment(input: $input) {
    payment { status capturedAmount { amount } refundedAmount { amount } } order { paymentStatus } userErrors { field code message }
  }
}
"""
ISSUE = """
mutation Issue($input: OrderIdInput!) { issueInvoice(input: $input) { invoice { number kind total { amount } } userErrors { field code message } } }
"""


@pytest.fixture
def provider() -> OfflineProvider:
    gateway = get_provider(config.settings())
    assert isinstance(gateway, OfflineProvider)
    gateway.reset()
    return gateway


@pytest.fixture
def billing_settings(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Change billing settings for one test."""

    def apply(**changes: Any) -> None:
        monkeypatch.setattr(config, "_current", replace(config.settings(), **changes))

    return apply


def order_input(lines: list[tuple[str, int]], method: str | None = None, token: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": "WEB", "email": "buyer@example.com", "lines": [{"sku": s, "quantity": q} for s, q in lines],
                            "shippingAddress": ADDRESS_INPUT, **extra}
    if method:
        body["payment"] = {"method": method, "token": token}
    return body


async def place(gql: Any, lines: list[tuple[str, int]], method: str | None = None, token: str | None = None) -> dict[str, Any]:
    body = await gql(PLACE, {"input": order_input(lines, method, token)})
    assert "errors" not in body, body
    return body["data"]["placeOrder"]


async def read_order(gql: Any, order_id: str) -> dict[str, Any]:
    body = await gql(ORDER, {"id": order_id})
    assert "errors" not in body, body
    return body["data"]["order"]


def event_types(order: dict[str, Any]) -> list[str]:
    return [e["node"]["type"] for e in order["events"]["edges"]]


async def count(db: Any, model: Any, *where: Any) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def reserved(db: Any, sku: str) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.coalesce(func.sum(StockLevel.reserved), 0)).where(StockLevel.sku == sku))).scalar_one()


def net(invoices: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(i["total"]["amount"]) for i in invoices), Decimal("0"))


# --- cards ----------------------------------------------------------------------------------------


async def test_card_is_authorised_at_placement_and_captured_and_invoiced_at_confirmation(gql, db, provider):
    # given
    await factories.basic_catalog(db)
    # when
    placed = await place(gql, [("A", 2), ("B", 3)], "CARD", "test_approve")
    # then: authorised only, order still awaiting confirmation
    order = placed["order"]
    assert placed["userErrors"] == []
    assert (order["status"], order["paymentStatus"]) == ("PENDING", "AUTHORIZED")
    assert [(p["method"], p["status"], p["amount"]["amount"], p["capturedAmount"]["amount"]) for p in order["payments"]] == [
        ("CARD", "AUTHORIZED", "42.35", "0.00")
    ]
    # when
    confirmed = await gql(CONFIRM, {"input": {"orderId": order["id"]}})
    # then
    assert confirmed["data"]["confirmOrder"]["order"] == {"status": "CONFIRMED", "paymentStatus": "PAID"}
    after = await read_order(gql, order["id"])
    assert after["payments"][0]["status"] == "CAPTURED" and after["payments"][0]["capturedAmount"]["amount"] == "42.35"
    [invoice] = after["invoices"]
    assert invoice["number"] == f"F{YEAR}-000001" and invoice["series"] == f"F{YEAR}" and invoice["kind"] == "INVOICE"
    assert (invoice["subtotal"]["amount"], invoice["taxTotal"]["amount"], invoice["total"]["amount"]) == ("36.50", "5.85", "42.35")
    assert [(Decimal(t["rate"]), t["base"]["amount"], t["tax"]["amount"]) for t in invoice["taxBreakdown"]] == [
        (Decimal("0.10"), "16.50", "1.65"), (Decimal("0.21"), "20.00", "4.20"),
    ]
    assert [e for e in event_types(after) if e != "STATUS_CHANGED"] == ["PLACED", "PAYMENT_AUTHORIZED", "PAYMENT_CAPTURED", "INVOICE_ISSUED"]
    assert [(kind, amount) for kind, _, amount in provider.operations] == [("authorize", Decimal("42.35")), ("capture", Decimal("42.35"))]


@pytest.mark.parametrize(
    "token, message, code", [("test_decline", "refused", "PAYMENT_DECLINED"), ("test_fail", "unavailable", "UNAVAILABLE")]
)
async def test_a_declined_or_failed_card_charges_nothing_and_places_nothing(gql, db, provider, token, message, code):
    # given
    await factories.basic_catalog(db)
    # when
    placed = await place(gql, [("A", 2)], "CARD", token)
    # then
    assert placed["order"] is None
    [error] = placed["userErrors"]
    assert (error["code"], error["field"]) == (code, ["input", "payment", "token"])
    assert message in error["message"]
    assert provider.operations == []  # nothing authorised, nothing captured
    assert await count(db, Order) == 0 and await count(db, Payment) == 0 and await count(db, OrderEvent) == 0
    assert await reserved(db, "A") == 0


async def test_a_card_without_token_is_refused(gql, db, provider):
    await factories.basic_catalog(db)
    placed = await place(gql, [("A", 1)], "CARD", None)
    assert [(e["code"], e["field"]) for e in placed["userErrors"]] == [("INVALID_INPUT", ["input", "payment", "token"])]
    assert await count(db, Order) == 0


async def test_capture_at_shipment_when_configured(gql, db, provider, billing_settings):
    # given
    billing_settings(capture_moment="shipment", invoice_moment="shipment")
    await factories.basic_catalog(db)
    placed = await place(gql, [("A", 1)], "CARD", "test_approve")
    order_id = placed["order"]["id"]
    await gql(CONFIRM, {"input": {"orderId": order_id}})
    confirmed = await read_order(gql, order_id)
    assert (confirmed["paymentStatus"], confirmed["invoices"]) == ("AUTHORIZED", [])

    # when: fulfilment reports the first shipment (twice, as a second parcel would)
    async def ship(uow):
        order = await order_service.get_for_update(uow=uow, order_id=_uuid(order_id))
        await hooks.on_order_shipped(uow=uow, order=order, shipment=None)

    await db.run(ship)
    await db.run(ship)
    # then
    shipped = await read_order(gql, order_id)
    assert shipped["paymentStatus"] == "PAID" and shipped["payments"][0]["capturedAmount"]["amount"] == "12.10"
    assert [i["number"] for i in shipped["invoices"]] == [f"F{YEAR}-000001"]
    assert [op[0] for op in provider.operations] == ["authorize", "capture"]


async def test_a_capture_declined_at_confirmation_leaves_the_order_unconfirmed_and_nothing_charged(gql, db, provider):
    # given: an authorised card whose authorisation the provider has since dropped (expired at the bank)
    await factories.basic_catalog(db)
    placed = (await place(gql, [("A", 1)], "CARD", "test_approve"))["order"]
    authorization = next(ref for kind, ref, _ in provider.operations if kind == "authorize")
    provider.authorizations[authorization].voided = True
    # when
    confirmed = await gql(CONFIRM, {"input": {"orderId": placed["id"]}})
    # then: refused, and the confirmation rolled back with everything it did
    payload = confirmed["data"]["confirmOrder"]
    assert payload["order"] is None and [e["code"] for e in payload["userErrors"]] == ["PAYMENT_DECLINED"]
    after = await read_order(gql, placed["id"])
    assert (after["status"], after["paymentStatus"], after["invoices"]) == ("PENDING", "AUTHORIZED", [])
    assert after["payments"][0]["capturedAmount"]["amount"] == "0.00"
    assert provider.captured_total(authorization) == Decimal("0.00")
    assert event_types(after) == ["PLACED", "PAYMENT_AUTHORIZED"]


# --- capture retries --------------------------------------------------------------------------------


async def _authorised(gql, db, billing_settings, lines=(("A", 1),)):
    billing_settings(capture_moment="shipment")
    await factories.basic_catalog(db)
    placed = await place(gql, list(lines), "CARD", "test_approve")
    return placed["order"]["id"], placed["order"]["payments"][0]["id"]


async def test_retrying_a_capture_never_captures_twice(gql, db, provider, billing_settings):
    # given
    _, payment_id = await _authorised(gql, db, billing_settings)
    # when: the same capture, sent again and again (also concurrently)
    first = await gql(CAPTURE, {"input": {"paymentId": payment_id}})
    again = await asyncio.gather(*(gql(CAPTURE, {"input": {"paymentId": payment_id}}) for _ in range(10)))
    # then
    for body in (first, *again):
        payload = body["data"]["capturePayment"]
        assert payload["userErrors"] == [] and payload["payment"]["capturedAmount"]["amount"] == "12.10"
        assert payload["order"]["paymentStatus"] == "PAID"
    assert [op[0] for op in provider.operations].count("capture") == 1
    assert await count(db, PaymentOperation, PaymentOperation.kind == "CAPTURE") == 1


async def test_partial_captures_with_an_idempotency_key_are_replayed_not_repeated(gql, db, provider, billing_settings):
    # given: 12.10 authorised
    _, payment_id = await _authorised(gql, db, billing_settings)
    request = {"input": {"paymentId": payment_id, "amount": "5.00", "idempotencyKey": "cap-1"}}
    # when
    results = [await gql(CAPTURE, request) for _ in range(3)]
    conflict = await gql(CAPTURE, {"input": {**request["input"], "amount": "6.00"}})
    too_much = await gql(CAPTURE, {"input": {"paymentId": payment_id, "amount": "7.11"}})
    rest = await gql(CAPTURE, {"input": {"paymentId": payment_id}})
    # then
    assert all(r["data"]["capturePayment"]["payment"]["capturedAmount"]["amount"] == "5.00" for r in results)
    assert results[0]["data"]["capturePayment"]["payment"]["status"] == "AUTHORIZED"
    assert results[0]["data"]["capturePayment"]["order"]["paymentStatus"] == "AUTHORIZED"
    assert [e["code"] for e in conflict["data"]["capturePayment"]["userErrors"]] == ["IDEMPOTENCY_CONFLICT"]
    assert [(e["code"], e["field"]) for e in too_much["data"]["capturePayment"]["userErrors"]] == [("LIMIT_EXCEEDED", ["input", "amount"])]
    assert rest["data"]["capturePayment"]["payment"] == {"id": payment_id, "status": "CAPTURED", "capturedAmount": {"amount": "12.10"}}
    assert [amount for kind, _, amount in provider.operations if kind == "capture"] == [Decimal("5.00"), Decimal("7.10")]


async def test_a_crash_between_the_providers_capture_and_our_commit_does_not_capture_twice(gql, db, provider, billing_settings):
    # given
    _, payment_gid = await _authorised(gql, db, billing_settings)
    payment_id = _uuid(payment_gid)

    async def capture_then_crash(uow):
        await payments.capture_payment(uow=uow, payment_id=payment_id)
        raise RuntimeError("process died before commit")

    # when: the provider captured, but our transaction never committed
    with pytest.raises(RuntimeError):
        await db.run(capture_then_crash)
    async with db.read() as session:
        assert (await session.get(Payment, payment_id)).captured_amount == Decimal("0.00")
    # ... and the capture is retried
    retried = await gql(CAPTURE, {"input": {"paymentId": payment_gid}})
    # then: the provider saw the same idempotency key and replayed its answer
    assert retried["data"]["capturePayment"]["payment"]["capturedAmount"]["amount"] == "12.10"
    authorization = next(ref for kind, ref, _ in provider.operations if kind == "authorize")
    assert provider.captured_total(authorization) == Decimal("12.10")
    assert [op[0] for op in provider.operations] == ["authorize", "capture"]


# --- bank transfers, cash on delivery ----------------------------------------------------------------


async def test_bank_transfer_waits_for_the_money_then_confirms_and_invoices(gql, db, provider):
    # given
    await factories.basic_catalog(db)
    placed = await place(gql, [("A", 1)], "BANK_TRANSFER")
    order = placed["order"]
    assert (order["status"], order["paymentStatus"], order["payments"][0]["status"]) == ("PENDING", "UNPAID", "PENDING")
    pending = await read_order(gql, order["id"])
    assert pending["payments"][0]["expiresAt"] is not None and pending["payments"][0]["reference"] == order["number"]
    # when: part of the money arrives, then more than is due, then the rest (twice, idempotently)
    part = await gql(RECORD, {"input": {"orderId": order["id"], "method": "BANK_TRANSFER", "amount": "10.00", "reference": "BANK-1"}})
    over = await gql(RECORD, {"input": {"orderId": order["id"], "method": "BANK_TRANSFER", "amount": "2.11"}})
    rest_input = {"orderId": order["id"], "method": "BANK_TRANSFER", "amount": "2.10", "reference": "BANK-2", "idempotencyKey": "stmt-77"}
    rest = await gql(RECORD, {"input": rest_input})
    again = await gql(RECORD, {"input": rest_input})
    # then
    assert part["data"]["recordPayment"]["order"] == {"status": "PENDING", "paymentStatus": "UNPAID"}
    assert [(e["code"], e["field"]) for e in over["data"]["recordPayment"]["userErrors"]] == [("LIMIT_EXCEEDED", ["input", "amount"])]
    assert rest["data"]["recordPayment"]["order"] == {"status": "CONFIRMED", "paymentStatus": "PAID"}
    assert rest["data"]["recordPayment"]["payment"]["status"] == "CAPTURED"
    assert again["data"]["recordPayment"]["userErrors"] == [] and again["data"]["recordPayment"]["payment"]["capturedAmount"]["amount"] == "12.10"
    paid = await read_order(gql, order["id"])
    assert [i["number"] for i in paid["invoices"]] == [f"F{YEAR}-000001"]
    assert event_types(paid).count("PAYMENT_RECEIVED") == 2
    assert provider.operations == []  # transfers never touch the card provider


async def test_record_payment_refuses_cards_and_cancelled_orders(gql, db, provider):
    await factories.basic_catalog(db)
    order = (await place(gql, [("A", 1)], "BANK_TRANSFER"))["order"]
    card = await gql(RECORD, {"input": {"orderId": order["id"], "method": "CARD", "amount": "1.00"}})
    assert [(e["code"], e["field"]) for e in card["data"]["recordPayment"]["userErrors"]] == [("INVALID_INPUT", ["input", "method"])]
    await gql(CANCEL, {"input": {"orderId": order["id"]}})
    late = await gql(RECORD, {"input": {"orderId": order["id"], "method": "BANK_TRANSFER", "amount": "1.00"}})
    assert [e["code"] for e in late["data"]["recordPayment"]["userErrors"]] == ["INVALID_TRANSITION"]
    assert await count(db, PaymentOperation) == 0


async def test_cash_on_delivery_confirms_at_once_and_is_paid_on_delivery(gql, db, provider):
    # given
    await factories.basic_catalog(db)
    # when
    order = (await place(gql, [("A", 1)], "CASH_ON_DELIVERY"))["order"]
    # then
    assert (order["status"], order["paymentStatus"]) == ("CONFIRMED", "UNPAID")
    confirmed = await read_order(gql, order["id"])
    assert [i["number"] for i in confirmed["invoices"]] == [f"F{YEAR}-000001"]
    # when: the courier hands over the cash
    paid = await gql(RECORD, {"input": {"orderId": order["id"], "method": "CASH_ON_DELIVERY", "amount": "12.10"}})
    # then
    assert paid["data"]["recordPayment"]["order"] == {"status": "CONFIRMED", "paymentStatus": "PAID"}
    assert paid["data"]["recordPayment"]["payment"]["method"] == "CASH_ON_DELIVERY"
    assert len((await read_order(gql, order["id"]))["payments"]) == 1


# --- refunds and credit notes ---------------------------------------------------------------------------


async def test_refunds_cannot_exceed_captures_and_credit_notes_net_the_invoice(gql, db, provider):
    # given: 2 x A @21% + 3 x B @10% = 42.35, captured and invoiced at confirmation
    await factories.basic_catalog(db)
    order = (await place(gql, [("A", 2), ("B", 3)], "CARD", "test_approve"))["order"]
    await gql(CONFIRM, {"input": {"orderId": order["id"]}})
    payment_id = order["payments"][0]["id"]
    # when
    partial = await gql(REFUND, {"input": {"paymentId": payment_id, "amount": "10.00", "reason": "damaged box"}})
    too_much = await gql(REFUND, {"input": {"paymentId": payment_id, "amount": "32.36", "reason": "too much"}})
    rest = await gql(REFUND, {"input": {"paymentId": payment_id, "amount": "32.35", "reason": "customer unhappy"}})
    nothing_left = await gql(REFUND, {"input": {"paymentId": payment_id, "amount": "0.01", "reason": "again"}})
    # then
    assert partial["data"]["refundPayment"]["payment"]["status"] == "PARTIALLY_REFUNDED"
    assert partial["data"]["refundPayment"]["order"]["paymentStatus"] == "PARTIALLY_REFUNDED"
    for refused in (too_much, nothing_left):
        assert [(e["code"], e["field"]) for e in refused["data"]["refundPayment"]["userErrors"]] == [("LIMIT_EXCEEDED", ["input", "amount"])]
    assert rest["data"]["refundPayment"]["payment"]["refundedAmount"]["amount"] == "42.35"
    assert rest["data"]["refundPayment"]["order"]["paymentStatus"] == "REFUNDED"
    after = await read_order(gql, order["id"])
    invoice, *notes = after["invoices"]
    assert [n["number"] for n in notes] == [f"R{YEAR}-000001", f"R{YEAR}-000002"]
    assert all(n["kind"] == "CREDIT_NOTE" and n["corrects"] == {"number": invoice["number"]} for n in notes)
    assert [n["total"]["amount"] for n in notes] == ["-10.00", "-32.35"]
    assert net(after["invoices"]) == 0
    # rate by rate, the credit notes cancel the invoice exactly
    for field in ("base", "tax"):
        per_rate: dict[Decimal, Decimal] = {}
        for doc in after["invoices"]:
            for row in doc["taxBreakdown"]:
                per_rate[Decimal(row["rate"])] = per_rate.get(Decimal(row["rate"]), Decimal(0)) + Decimal(row[field]["amount"])
        assert set(per_rate.values()) == {Decimal("0")}
    # each credit note's parts add up to its total
    for note in notes:
        assert Decimal(note["subtotal"]["amount"]) + Decimal(note["taxTotal"]["amount"]) == Decimal(note["total"]["amount"])
    assert sum(amount for kind, _, amount in provider.operations if kind == "refund") == Decimal("42.35")


async def test_refund_idempotency_key_and_reason(gql, db, provider):
    await factories.basic_catalog(db)
    order = (await place(gql, [("A", 1)], "CARD", "test_approve"))["order"]
    await gql(CONFIRM, {"input": {"orderId": order["id"]}})
    payment_id = order["payments"][0]["id"]
    request = {"input": {"paymentId": payment_id, "amount": "1.00", "reason": "late", "idempotencyKey": "rf-1"}}
    results = await asyncio.gather(*(gql(REFUND, request) for _ in range(5)))
    no_reason = await gql(REFUND, {"input": {"paymentId": payment_id, "amount": "1.00", "reason": " "}})
    assert {r["data"]["refundPayment"]["payment"]["refundedAmount"]["amount"] for r in results} == {"1.00"}
    assert [(e["code"], e["field"]) for e in no_reason["data"]["refundPayment"]["userErrors"]] == [("INVALID_INPUT", ["input", "reason"])]
    assert [op[0] for op in provider.operations].count("refund") == 1
    assert await count(db, Invoice, Invoice.kind == "CREDIT_NOTE") == 1


async def test_cancelling_an_invoiced_card_order_refunds_and_credits_everything(gql, db, provider):
    # given
    await factories.basic_catalog(db)
    order = (await place(gql, [("A", 2), ("B", 1)], "CARD", "test_approve"))["order"]
    await gql(CONFIRM, {"input": {"orderId": order["id"]}})
    # when
    cancelled = await gql(CANCEL, {"input": {"orderId": order["id"], "reason": "customer changed mind"}})
    # then
    assert cancelled["data"]["cancelOrder"]["order"] == {"status": "CANCELLED", "paymentStatus": "REFUNDED"}
    after = await read_order(gql, order["id"])
    _invoice, note = after["invoices"]
    assert note["kind"] == "CREDIT_NOTE" and net(after["invoices"]) == 0
    # nothing credited before: the credit note mirrors the invoice's lines
    assert [(line["sku"], line["quantity"], line["total"]["amount"]) for line in note["lines"]] == [("A", -2, "-20.00"), ("B", -1, "-5.50")]
    assert [op[0] for op in provider.operations] == ["authorize", "capture", "refund"]
    assert await reserved(db, "A") == 0


async def test_cancelling_an_authorised_card_order_voids_it(gql, db, provider):
    await factories.basic_catalog(db)
    order = (await place(gql, [("A", 1)], "CARD", "test_approve"))["order"]
    cancelled = await gql(CANCEL, {"input": {"orderId": order["id"]}})
    assert cancelled["data"]["cancelOrder"]["order"] == {"status": "CANCELLED", "paymentStatus": "UNPAID"}
    after = await read_order(gql, order["id"])
    assert after["payments"][0]["status"] == "VOIDED" and after["invoices"] == []
    assert "PAYMENT_VOIDED" in event_types(after)
    assert [op[0] for op in provider.operations] == ["authorize", "void"]


async def test_credit_notes_by_line_for_returns_net_the_invoice_at_the_last_unit(db, provider):
    # given: an awkward rounding case, 3 x 0.10 at 5% VAT (0.015 rounds up once per rate on the invoice)
    await factories.basic_catalog(db)
    await factories.product(db, "TINY", "0.10", tax_rate="0.05")
    await factories.stock(db, "TINY", "MAD", 10)
    order = await factories.place(db, [("TINY", 3), ("A", 1)], payment_method="CASH_ON_DELIVERY")

    async def credit(sku: str, quantity: int):
        async def work(uow):
            await order_service.get_for_update(uow=uow, order_id=order.id)
            invoice = await invoicing.invoice_for_order(uow, order.id)
            return await invoicing.issue_credit_note(uow=uow, invoice=invoice, reason="returned", lines=[invoicing.CreditLine(sku, quantity)])

        return await db.run(work)

    # when: returned one unit at a time
    notes = [await credit("TINY", 1) for _ in range(3)]
    # then: never more than invoiced, and exactly the invoice once all came back
    async with db.read() as session:
        invoice = (await session.execute(select(Invoice).where(Invoice.kind == "INVOICE"))).scalar_one()
    tiny_rate = {Decimal(r["rate"]): r for r in invoice.tax_breakdown}[Decimal("0.05")]
    credited_tax = sum((Decimal(r["tax"]) for n in notes for r in n.tax_breakdown), Decimal(0))
    credited_base = sum((n.subtotal for n in notes), Decimal(0))
    assert (credited_base, credited_tax) == (-Decimal(tiny_rate["base"]), -Decimal(tiny_rate["tax"]))
    from app.errors import DomainError

    with pytest.raises(DomainError) as refused:
        await credit("TINY", 1)
    assert refused.value.code.value == "LIMIT_EXCEEDED"


async def test_issued_invoices_are_frozen(gql, db, provider):
    # given
    await factories.basic_catalog(db)
    order = (await place(gql, [("A", 1)], "CASH_ON_DELIVERY"))["order"]
    # when: the catalogue price changes, and someone tries to edit the invoice row
    await factories.product(db, "A", "99.00")
    with pytest.raises(Exception, match="cannot be changed"):
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE invoices SET total = 0"))
    # then
    after = await read_order(gql, order["id"])
    assert after["invoices"][0]["total"]["amount"] == "12.10"


async def test_issue_invoice_refuses_pending_orders_and_returns_the_same_invoice_again(gql, db, provider, billing_settings):
    billing_settings(invoice_moment="manual")
    await factories.basic_catalog(db)
    order = (await place(gql, [("A", 1)], "BANK_TRANSFER"))["order"]
    early = await gql(ISSUE, {"input": {"orderId": order["id"]}})
    assert [(e["code"], e["field"]) for e in early["data"]["issueInvoice"]["userErrors"]] == [("INVALID_TRANSITION", ["input", "orderId"])]
    await gql(CONFIRM, {"input": {"orderId": order["id"]}})
    assert (await read_order(gql, order["id"]))["invoices"] == []  # manual: confirmation issues nothing
    first = await gql(ISSUE, {"input": {"orderId": order["id"]}})
    second = await gql(ISSUE, {"input": {"orderId": order["id"]}})
    assert first["data"]["issueInvoice"]["invoice"] == second["data"]["issueInvoice"]["invoice"]
    assert first["data"]["issueInvoice"]["invoice"]["number"] == f"F{YEAR}-000001"


# --- bank-transfer expiry ---------------------------------------------------------------------------------


async def _overdue_transfer(db, sku: str = "A", quantity: int = 2) -> Order:
    order = await factories.place(db, [(sku, quantity)], payment_method="BANK_TRANSFER")
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE payments SET expires_at = now() - interval '1 minute' WHERE order_id = :id"), {"id": order.id})
    return order


async def test_unpaid_bank_transfers_expire_releasing_stock(gql, db, provider):
    # given: one overdue transfer, one not yet due, one overdue but paid in part
    from app.flows.expiry import expire_due

    await factories.basic_catalog(db)
    overdue = await _overdue_transfer(db)
    fresh = await factories.place(db, [("A", 1)], payment_method="BANK_TRANSFER")
    partly_paid = await _overdue_transfer(db, quantity=1)
    await db.run(lambda uow: payment_flow.record_payment(uow=uow, order_id=partly_paid.id, method="BANK_TRANSFER", amount=Decimal("1.00")))
    paid_otherwise = await _overdue_transfer(db, quantity=1)  # part paid by another method: the customer is paying
    await db.run(lambda uow: payment_flow.record_payment(uow=uow, order_id=paid_otherwise.id, method="OTHER", amount=Decimal("2.00")))
    assert await reserved(db, "A") == 5
    # when: two workers (processes) race
    results = await asyncio.gather(expire_due(db), expire_due(db))
    # then
    assert sorted(order_id for done in results for order_id in done) == [overdue.id]
    after = await read_order(gql, to_global_id("Order", overdue.id))
    assert after["status"] == "CANCELLED" and after["payments"][0]["status"] == "VOIDED"
    assert {"PAYMENT_EXPIRED", "STATUS_CHANGED"} <= set(event_types(after))
    assert await reserved(db, "A") == 3  # the overdue order's two units are free again
    async with db.read() as session:
        statuses = dict((await session.execute(select(Order.id, Order.status))).all())
    assert statuses[fresh.id] == statuses[partly_paid.id] == statuses[paid_otherwise.id] == "PENDING"


async def test_several_expiry_workers_share_the_overdue_orders_without_doing_one_twice(db, provider):
    # given: 12 overdue transfers, and four workers as four server processes would run them
    from app.flows.expiry import expire_due

    await factories.basic_catalog(db)
    await factories.stock(db, "A", "MAD", 100)
    overdue = [await _overdue_transfer(db, quantity=1) for _ in range(12)]
    # when
    results = await asyncio.gather(*(expire_due(db) for _ in range(4)))
    # then: every order expired exactly once, by exactly one worker
    done = [order_id for worker in results for order_id in worker]
    assert sorted(done) == sorted(o.id for o in overdue) and len(set(done)) == len(done)
    assert await count(db, OrderEvent, OrderEvent.type == "PAYMENT_EXPIRED") == 12
    assert await count(db, OrderEvent, OrderEvent.type == "STATUS_CHANGED", OrderEvent.status == "CANCELLED") == 12
    assert await reserved(db, "A") == 0


async def test_the_expiry_worker_runs_in_the_background(db, provider):
    from app.flows.expiry import ExpiryWorker

    await factories.basic_catalog(db)
    overdue = await _overdue_transfer(db)
    worker = ExpiryWorker(db, interval=0.05)
    worker.start()
    try:
        for _ in range(100):
            async with db.read() as session:
                if (await session.get(Order, overdue.id)).status == "CANCELLED":
                    break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    async with db.read() as session:
        assert (await session.get(Order, overdue.id)).status == "CANCELLED"


def _uuid(global_id: str):
    from resolvers.ids import from_global_id

    decoded = from_global_id(global_id)
    assert decoded is not None
    return decoded[1]


# --- refunds of returned lines (payments.refund_lines, used by returns) ------------------------------------


async def _refund_lines(db, order_id, lines: list[tuple[str, int]], key: str, *, crash: bool = False, limit: Decimal | None = None):
    async def work(uow):
        order = await order_service.get_for_update(uow=uow, order_id=order_id)
        result = await payments.refund_lines(uow=uow, order=order, lines=[invoicing.CreditLine(s, q) for s, q in lines],
                                             reason="returned", operation_key=key, refund_limit=limit)
        if crash:
            raise RuntimeError("crash after the provider refunded, before our commit")
        return result

    return await db.run(work)


async def test_refund_lines_credits_the_invoice_and_refunds_the_card_once(gql, db, provider):
    # given: 2 x A @21% + 1 x B @10% = 30.25, captured and invoiced at confirmation
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 2), ("B", 1)], payment_method="CARD", payment_token="test_approve")
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id))
    # when: a crash after the provider refunded, then the retry, then a repeat after commit
    with pytest.raises(RuntimeError):
        await _refund_lines(db, order.id, [("A", 1)], "return-1", crash=True)
    refunded, note = await _refund_lines(db, order.id, [("A", 1)], "return-1")
    again, same_note = await _refund_lines(db, order.id, [("A", 1)], "return-1")
    from app.errors import DomainError

    with pytest.raises(DomainError) as conflict:
        await _refund_lines(db, order.id, [("B", 1)], "return-1")
    assert conflict.value.code.value == "IDEMPOTENCY_CONFLICT"
    # then: one unit of A incl. VAT, credited against the invoice, refunded once at the provider
    assert refunded == again == Decimal("12.10")
    assert note is not None and note.kind == "CREDIT_NOTE" and note.total == Decimal("-12.10") and same_note.number == note.number
    assert [(line["sku"], line["quantity"]) for line in note.lines] == [("A", -1)]
    assert [(kind, amount) for kind, _, amount in provider.operations if kind == "refund"] == [("refund", Decimal("12.10"))]
    after = await read_order(gql, to_global_id("Order", order.id))
    assert after["paymentStatus"] == "PARTIALLY_REFUNDED" and after["payments"][0]["refundedAmount"]["amount"] == "12.10"
    assert note.corrects_id == (await _invoice(db, order.id)).id
    assert await count(db, Invoice, Invoice.kind == "CREDIT_NOTE") == 1


async def test_refund_lines_of_everything_nets_the_invoice_and_refunds_all_captured(gql, db, provider):
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 2), ("B", 1)], payment_method="CARD", payment_token="test_approve")
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id))
    first, _ = await _refund_lines(db, order.id, [("A", 1)], "r1")
    rest, _ = await _refund_lines(db, order.id, [("A", 1), ("B", 1)], "r2")
    from app.errors import DomainError

    with pytest.raises(DomainError) as refused:
        await _refund_lines(db, order.id, [("B", 1)], "r3")
    assert refused.value.code.value == "LIMIT_EXCEEDED"
    assert first + rest == Decimal("30.25")
    after = await read_order(gql, to_global_id("Order", order.id))
    assert net(after["invoices"]) == 0 and after["paymentStatus"] == "REFUNDED"


async def test_refund_lines_with_a_refund_limit_credits_in_full_but_refunds_only_the_limit(db, provider):
    # given: an exchange where the returned unit of A (12.10) paid for a replacement costing 10.10
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 2)], payment_method="CARD", payment_token="test_approve")
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id))
    # when
    refunded, note = await _refund_lines(db, order.id, [("A", 1)], "exchange-1", limit=Decimal("2.00"))
    # then
    assert refunded == Decimal("2.00") and note.total == Decimal("-12.10")
    assert [(kind, amount) for kind, _, amount in provider.operations if kind == "refund"] == [("refund", Decimal("2.00"))]


async def test_refund_lines_of_unpaid_cash_on_delivery_credits_without_refunding(gql, db, provider):
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 2)], payment_method="CASH_ON_DELIVERY")  # confirmed and invoiced, not paid
    refunded, note = await _refund_lines(db, order.id, [("A", 1)], "cod-return")
    assert refunded == Decimal("0.00") and note is not None and note.total == Decimal("-12.10")
    assert await count(db, PaymentOperation, PaymentOperation.kind == "REFUND") == 0
    assert (await read_order(gql, to_global_id("Order", order.id)))["paymentStatus"] == "UNPAID"


async def test_refund_lines_without_invoice_refunds_the_order_prices_incl_vat_manually_for_transfers(gql, db, provider, billing_settings):
    # given: invoicing is manual and none was issued; the order was paid by bank transfer
    billing_settings(invoice_moment="manual")
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1), ("B", 2)], payment_method="BANK_TRANSFER")  # 12.10 + 12.10 = 24.20
    await db.run(lambda uow: payment_flow.record_payment(uow=uow, order_id=order.id, method="BANK_TRANSFER", amount=Decimal("24.20")))
    # when
    refunded, note = await _refund_lines(db, order.id, [("B", 2)], "t1")
    from app.errors import DomainError

    with pytest.raises(DomainError) as refused:
        await _refund_lines(db, order.id, [("B", 1)], "t2")  # both units of B were already credited
    # then: 2 x 5.50 + 10% VAT, owed back by staff; no document, no provider call
    assert (refunded, note) == (Decimal("12.10"), None)
    assert refused.value.code.value == "LIMIT_EXCEEDED"
    assert not [op for op in provider.operations if op[0] == "refund"]
    after = await read_order(gql, to_global_id("Order", order.id))
    refund_events = [e["node"]["data"] for e in after["events"]["edges"] if e["node"]["type"] == "PAYMENT_REFUNDED"]
    assert [(d["amount"], d["manual"]) for d in refund_events] == [("12.10", True)]
    assert after["paymentStatus"] == "PARTIALLY_REFUNDED"


async def _invoice(db, order_id):
    async with db.read() as session:
        return (await session.execute(select(Invoice).where(Invoice.order_id == order_id, Invoice.kind == "INVOICE"))).scalar_one()


# --- invoice numbering under concurrency ----------------------------------------------------------------


class ForcedRollback(Exception):
    pass


async def test_200_concurrent_invoice_issues_with_forced_rollbacks_number_1_to_n_without_gaps(db, provider, billing_settings):
    # given: 200 confirmed, not yet invoiced orders (cash on delivery confirms at once; invoicing is manual)
    billing_settings(invoice_moment="manual")
    await factories.basic_catalog(db)
    await factories.stock(db, "A", "MAD", 500)
    orders = await asyncio.gather(*(factories.place(db, [("A", 1)], payment_method="CASH_ON_DELIVERY") for _ in range(200)))
    doomed = {order.id for order in orders[::5]}  # 40 issuers roll back after taking their number

    async def issue(order_id):
        async def work(uow):
            invoice = await invoicing.issue_invoice_for_order(uow=uow, order_id=order_id)
            if order_id in doomed:
                raise ForcedRollback(invoice.number)
            return invoice.number

        try:
            return await db.run(work)
        except ForcedRollback:
            return None

    # when: all 200 at once
    numbers = await asyncio.gather(*(issue(order.id) for order in orders))
    # then: the 160 that committed hold 1..160, the rolled-back numbers were given back
    assert sum(n is None for n in numbers) == 40
    async with db.read() as session:
        rows = (await session.execute(select(Invoice.sequence, Invoice.issued_at, Invoice.order_id).order_by(Invoice.sequence))).all()
    assert [r.sequence for r in rows] == list(range(1, 161))
    assert {r.order_id for r in rows}.isdisjoint(doomed)
    assert [r.issued_at for r in rows] == sorted(r.issued_at for r in rows)  # dates never run backwards as numbers go up
    assert sorted(n for n in numbers if n) == [f"F{YEAR}-{i:06d}" for i in range(1, 161)]
    # and the rolled-back orders, issued again, continue the series with no gap
    await asyncio.gather(*(db.run(lambda uow, oid=oid: invoicing.issue_invoice_for_order(uow=uow, order_id=oid)) for oid in doomed))
    async with db.read() as session:
        sequences = (await session.execute(select(Invoice.sequence).order_by(Invoice.sequence))).scalars().all()
    assert sequences == list(range(1, 201))


async def test_20_concurrent_requests_to_invoice_one_order_give_one_invoice(gql, db, provider, billing_settings):
    # given
    billing_settings(invoice_moment="manual")
    await factories.basic_catalog(db)
    order = (await place(gql, [("A", 1), ("B", 2)], "CASH_ON_DELIVERY"))["order"]
    # when
    results = await asyncio.gather(*(gql(ISSUE, {"input": {"orderId": order["id"]}}) for _ in range(20)))
    # then: every request answers with the same invoice, and only one exists
    assert all("errors" not in r and r["data"]["issueInvoice"]["userErrors"] == [] for r in results), results
    assert {r["data"]["issueInvoice"]["invoice"]["number"] for r in results} == {f"F{YEAR}-000001"}
    assert await count(db, Invoice) == 1
    after = await read_order(gql, order["id"])
    assert event_types(after).count("INVOICE_ISSUED") == 1


# --- documents -------------------------------------------------------------------------------------------

INVOICES = """
query Invoices($first: Int, $after: String, $orderId: ID) {
  invoices(first: $first, after: $after, orderId: $orderId) {
    edges { cursor node { number kind order { number } } } pageInfo { hasNextPage endCursor } totalCount
  }
}
"""
INVOICE = """query Invoice($number: String!) { invoice(number: $number) { number kind total { amount currency } pdfUrl htmlUrl } }"""


def pdf_text(content: bytes) -> str:
    import io

    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


async def test_the_invoice_pdf_shows_number_lines_and_vat_breakdown_to_an_authorised_request(gql, db, client, provider):
    # given: an invoice with two VAT rates, and its credit note after a partial refund
    await factories.basic_catalog(db)
    order = (await place(gql, [("A", 2), ("B", 3)], "CARD", "test_approve"))["order"]
    await gql(CONFIRM, {"input": {"orderId": order["id"]}})
    await gql(REFUND, {"input": {"paymentId": order["payments"][0]["id"], "amount": "10.00", "reason": "damaged box"}})
    invoice = (await gql(INVOICE, {"number": f"F{YEAR}-000001"}))["data"]["invoice"]
    reader = await make_key(db, "invoices:read")
    outsider = await make_key(db, "orders:read")
    # when
    pdf = await client.get(invoice["pdfUrl"], headers={"Authorization": f"Bearer {reader}"})
    page = await client.get(invoice["htmlUrl"], headers={"Authorization": f"Bearer {reader}"})
    note_pdf = await client.get(f"/documents/invoices/R{YEAR}-000001.pdf", headers={"Authorization": f"Bearer {reader}"})
    anonymous = await client.get(invoice["pdfUrl"])
    forbidden = await client.get(invoice["pdfUrl"], headers={"Authorization": f"Bearer {outsider}"})
    missing = await client.get(f"/documents/invoices/F{YEAR}-999999.pdf", headers={"Authorization": f"Bearer {reader}"})
    # then: 2 x A @ 10.00 (21%) + 3 x B @ 5.50 (10%): bases 20.00 and 16.50, VAT 4.20 and 1.65, total 42.35
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text_ = pdf_text(pdf.content)
    for expected in (f"F{YEAR}-000001", "Product A", "Product B", "20.00", "16.50", "VAT breakdown", "21%", "10%", "4.20 EUR",
                     "1.65 EUR", "42.35 EUR", "OMS Demo Shop S.L."):
        assert expected in text_, (expected, text_)
    assert page.status_code == 200 and f"F{YEAR}-000001" in page.text and "42.35" in page.text
    note_text = pdf_text(note_pdf.content)
    assert f"R{YEAR}-000001" in note_text and f"Corrects invoice: F{YEAR}-000001" in note_text and "-10.00 EUR" in note_text
    assert (anonymous.status_code, forbidden.status_code, missing.status_code) == (401, 403, 404)


async def test_invoices_list_pages_newest_first_and_invoice_by_number(gql, db, provider):
    await factories.basic_catalog(db)
    first = (await place(gql, [("A", 1)], "CASH_ON_DELIVERY"))["order"]
    second = (await place(gql, [("B", 1)], "CASH_ON_DELIVERY"))["order"]
    await gql(CANCEL, {"input": {"orderId": second["id"], "reason": "changed mind"}})  # credits its invoice
    page1 = (await gql(INVOICES, {"first": 2}))["data"]["invoices"]
    page2 = (await gql(INVOICES, {"first": 2, "after": page1["pageInfo"]["endCursor"]}))["data"]["invoices"]
    only_first = (await gql(INVOICES, {"orderId": first["id"]}))["data"]["invoices"]
    assert [e["node"]["number"] for e in page1["edges"] + page2["edges"]] == [f"R{YEAR}-000001", f"F{YEAR}-000002", f"F{YEAR}-000001"]
    assert page1["totalCount"] == 3 and page1["pageInfo"]["hasNextPage"] and not page2["pageInfo"]["hasNextPage"]
    assert [e["node"]["order"]["number"] for e in only_first["edges"]] == [first["number"]]
    one = (await gql(INVOICE, {"number": f"F{YEAR}-000002"}))["data"]["invoice"]
    assert one["kind"] == "INVOICE" and one["total"] == {"amount": "6.05", "currency": "EUR"}
    assert (await gql(INVOICE, {"number": "nope"}))["data"]["invoice"] is None
