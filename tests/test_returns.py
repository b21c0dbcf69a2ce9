"""Post-sale: returns (restock, write-off, refund with credit note), exchanges, the return window, inquiries."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select, update

from app.flows import confirmation, shipping
from app.fulfilment import tracking
from models import Allocation, Order, OrderEvent, StockLevel, StockMovement, Warehouse
from models.billing import Invoice, Payment
from models.returns import ReturnRequest
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import make_key

CARD = {"payment_method": "CARD", "payment_token": "test_approve"}

RETURN_FIELDS = """
  return {
    id number status resolution requestedBy reason decisionNote
    value { amount currency } refundedAmount { amount } priceDifference { amount }
    lines { id sku quantity inspection restockWarehouse { code } }
    replacementOrder { number status paymentStatus lines { sku quantity } }
  }
  userErrors { field code message }
  eventCursor
"""

REQUEST = f"mutation($input: RequestReturnInput!) {{ requestReturn(input: $input) {{ {RETURN_FIELDS} }} }}"
REQUEST_CUSTOMER = f"mutation($input: RequestCustomerReturnInput!) {{ requestCustomerReturn(input: $input) {{ {RETURN_FIELDS} }} }}"
APPROVE = f"mutation($input: ReturnDecisionInput!) {{ approveReturn(input: $input) {{ {RETURN_FIELDS} }} }}"
REJECT = f"mutation($input: ReturnDecisionInput!) {{ rejectReturn(input: $input) {{ {RETURN_FIELDS} }} }}"
RECEIVE = f"mutation($input: ReceiveReturnInput!) {{ receiveReturn(input: $input) {{ {RETURN_FIELDS} }} }}"

ORDER = """query($id: ID!) { order(id: $id) {
  status paymentStatus
  lines { sku quantityShipped quantityReturned }
  invoices { number kind total { amount } }
  returns { number status }
  events { edges { node { type status data } } }
} }"""

RETURNS = """query($filter: ReturnFilter) { returns(first: 10, filter: $filter) { totalCount edges { node { number status } } } }"""

INQUIRY_FIELDS = """
  inquiry { id number subject status openedBy messages { authorType author body } }
  userErrors { field code message }
"""
OPEN_CUSTOMER_INQUIRY = f"mutation($input: OpenCustomerInquiryInput!) {{ openCustomerInquiry(input: $input) {{ {INQUIRY_FIELDS} }} }}"
POST_CUSTOMER_MESSAGE = f"mutation($input: CustomerInquiryMessageInput!) {{ postCustomerInquiryMessage(input: $input) {{ {INQUIRY_FIELDS} }} }}"
OPEN_INQUIRY = f"mutation($input: OpenInquiryInput!) {{ openInquiry(input: $input) {{ {INQUIRY_FIELDS} }} }}"
REPLY = f"mutation($input: InquiryMessageInput!) {{ replyToInquiry(input: $input) {{ {INQUIRY_FIELDS} }} }}"
CLOSE = f"mutation($input: InquiryIdInput!) {{ closeInquiry(input: $input) {{ {INQUIRY_FIELDS} }} }}"
INQUIRIES = """query($filter: InquiryFilter) { inquiries(first: 10, filter: $filter) { totalCount edges { node { number status subject } } } }"""
TRACKED_INQUIRIES = """query($number: String!, $email: String!) {
  trackedInquiries(number: $number, email: $email) { number status messages { authorType author body } }
}"""


async def delivered_order(db, lines: list[tuple[str, int]], *, email: str = "buyer@example.com"):
    """Placed with a card (captured and invoiced on confirmation), shipped from where it was reserved, delivered."""
    order = await factories.place(db, lines, email=email, **CARD)
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    async with db.read() as session:
        codes = (await session.execute(
            select(Warehouse.code).join(Allocation, Allocation.warehouse_id == Warehouse.id).where(Allocation.order_id == order.id).distinct()
        )).scalars().all()
    for code in sorted(codes):
        shipment = await db.run(lambda uow: shipping.create_shipment(uow=uow, order_id=order.id, warehouse_code=code,
                                                                        carrier_code="CORREOS", tracking_number=f"TRK-{code}"), actor="test")
        await db.run(lambda uow: tracking.record_tracking_event(uow=uow, shipment_id=shipment.id, status="DELIVERED"), actor="carrier")
    return order


async def call(gql, document: str, input: dict, *, token: str | bool | None = True) -> dict:
    body = await gql(document, {"input": input}, token=token)
    assert "errors" not in body, body
    return next(iter(body["data"].values()))


async def read_order(gql, order) -> dict:
    body = await gql(ORDER, {"id": to_global_id("Order", order.id)})
    assert "errors" not in body, body
    return body["data"]["order"]


async def on_hand(db, sku: str, code: str) -> int:
    async with db.read() as session:
        return (await session.execute(
            select(StockLevel.on_hand).join(Warehouse, Warehouse.id == StockLevel.warehouse_id).where(StockLevel.sku == sku, Warehouse.code == code)
        )).scalar_one()


async def available(db, sku: str) -> int:
    """Across every warehouse."""
    async with db.read() as session:
        return (await session.execute(select(func.sum(StockLevel.on_hand - StockLevel.reserved)).where(StockLevel.sku == sku))).scalar_one()


async def count_returns(db) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(ReturnRequest))).scalar_one()


def staff_request(order, lines: list[dict], **extra) -> dict:
    return {"orderId": to_global_id("Order", order.id), "lines": lines, "reason": "does not fit", **extra}


# --- returns ---------------------------------------------------------------------------------------


async def test_a_customer_partial_return_is_restocked_and_refunded_with_a_credit_note(gql, db):
    # given: 2 x A (10.00 + 21% VAT) and 3 x B (5.50 + 10%) delivered from MAD
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 2), ("B", 3)])
    stock_before = await on_hand(db, "A", "MAD")

    # when: the customer returns one A through the tracking pair, staff approve and receive it
    requested = await call(gql, REQUEST_CUSTOMER, {
        "number": order.number, "email": "Buyer@Example.com", "reason": "too big", "lines": [{"sku": "A", "quantity": 1, "reason": "size"}],
    }, token=None)
    assert requested["userErrors"] == []
    rma = requested["return"]
    assert (rma["status"], rma["requestedBy"], rma["value"]["amount"]) == ("REQUESTED", "CUSTOMER", "12.10")
    approved = await call(gql, APPROVE, {"returnId": rma["id"], "note": "ok"})
    assert approved["return"]["status"] == "APPROVED"
    received = await call(gql, RECEIVE, {"returnId": rma["id"], "lines": [
        {"returnLineId": rma["lines"][0]["id"], "result": "RESTOCK", "warehouseCode": "MAD"},
    ]})

    # then: stock back in MAD with a RETURN ledger row, 12.10 refunded, a credit note of -12.10 against the invoice
    assert received["userErrors"] == []
    assert received["return"]["status"] == "RECEIVED"
    assert received["return"]["refundedAmount"]["amount"] == "12.10"
    assert received["return"]["lines"][0]["restockWarehouse"]["code"] == "MAD"
    assert await on_hand(db, "A", "MAD") == stock_before + 1
    async with db.read() as session:
        ledger = (await session.execute(select(StockMovement).where(StockMovement.kind == "RETURN"))).scalars().all()
    assert [(m.sku, m.on_hand_delta, m.reference) for m in ledger] == [("A", 1, rma["number"])]
    view = await read_order(gql, order)
    assert view["status"] == "PARTIALLY_RETURNED"
    assert {line["sku"]: line["quantityReturned"] for line in view["lines"]} == {"A": 1, "B": 0}
    invoices = {i["kind"]: i for i in view["invoices"]}
    assert invoices["CREDIT_NOTE"]["total"]["amount"] == "-12.10"
    async with db.read() as session:
        note = (await session.execute(select(Invoice).where(Invoice.kind == "CREDIT_NOTE"))).scalar_one()
        invoice = (await session.execute(select(Invoice).where(Invoice.kind == "INVOICE"))).scalar_one()
    assert note.corrects_id == invoice.id
    assert [(line["sku"], line["quantity"]) for line in note.lines] == [("A", -1)]
    public = await gql("query($n: String!, $e: String!) { trackOrder(number: $n, email: $e) { status events { type data } } }",
                       {"n": order.number, "e": "buyer@example.com"}, token=None)
    public_types = [e["type"] for e in public["data"]["trackOrder"]["events"]]
    assert public["data"]["trackOrder"]["status"] == "PARTIALLY_RETURNED"
    assert {"RETURN_REQUESTED", "RETURN_APPROVED", "RETURN_RECEIVED"} <= set(public_types)
    assert "CREDIT_NOTE_ISSUED" not in public_types and all(e["data"] is None for e in public["data"]["trackOrder"]["events"])
    types = [e["node"]["type"] for e in view["events"]["edges"]]
    for expected in ("RETURN_REQUESTED", "RETURN_APPROVED", "PAYMENT_REFUNDED", "CREDIT_NOTE_ISSUED", "RETURN_RECEIVED"):
        assert expected in types
    assert types.index("RETURN_REQUESTED") < types.index("RETURN_APPROVED") < types.index("RETURN_RECEIVED")


async def test_returning_everything_across_two_returns_ends_returned_and_nets_the_invoice(gql, db):
    # given
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 2), ("B", 3)])

    async def full_cycle(lines: list[dict], result: str) -> dict:
        rma = (await call(gql, REQUEST, staff_request(order, lines)))["return"]
        await call(gql, APPROVE, {"returnId": rma["id"]})
        inspections = [{"returnLineId": line["id"], "result": result, "warehouseCode": "MAD"} for line in rma["lines"]]
        return await call(gql, RECEIVE, {"returnId": rma["id"], "lines": inspections})

    # when: A comes back restocked, then the three B are written off
    first = await full_cycle([{"sku": "A", "quantity": 2}], "RESTOCK")
    stock_b = await on_hand(db, "B", "MAD")
    second = await full_cycle([{"sku": "B", "quantity": 3}], "WRITE_OFF")

    # then
    assert first["return"]["refundedAmount"]["amount"] == "24.20"
    assert second["return"]["refundedAmount"]["amount"] == "18.15"
    assert await on_hand(db, "B", "MAD") == stock_b  # written off: not back on the shelf
    view = await read_order(gql, order)
    assert view["status"] == "RETURNED"
    assert view["paymentStatus"] == "REFUNDED"
    assert sum(Decimal(i["total"]["amount"]) for i in view["invoices"]) == 0


async def test_a_rejected_return_changes_nothing_and_frees_its_quantities(gql, db):
    # given
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 2)])
    rma = (await call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 2}])))["return"]

    # when
    no_note = await call(gql, REJECT, {"returnId": rma["id"]})
    rejected = await call(gql, REJECT, {"returnId": rma["id"], "note": "used item"})
    receive = await call(gql, RECEIVE, {"returnId": rma["id"], "lines": [{"returnLineId": rma["lines"][0]["id"], "result": "WRITE_OFF"}]})
    again = await call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 2}]))

    # then
    assert [(e["code"], e["field"]) for e in no_note["userErrors"]] == [("INVALID_INPUT", ["input", "note"])]
    assert (rejected["return"]["status"], rejected["return"]["decisionNote"]) == ("REJECTED", "used item")
    assert receive["userErrors"][0]["code"] == "INVALID_TRANSITION" and receive["return"] is None
    assert again["userErrors"] == []  # a rejected return does not count against what can be returned
    view = await read_order(gql, order)
    assert view["status"] == "DELIVERED"
    assert [i["kind"] for i in view["invoices"]] == ["INVOICE"]
    assert "RETURN_REJECTED" in [e["node"]["type"] for e in view["events"]["edges"]]


async def test_over_returning_across_two_returns_is_refused_and_writes_nothing(gql, db):
    # given
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 2)])
    first = await call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 1}]))

    # when
    second = await call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 2}]))
    twice_in_one = await call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 1}]))

    # then
    assert first["userErrors"] == []
    assert [(e["code"], e["field"]) for e in second["userErrors"]] == [("LIMIT_EXCEEDED", ["input", "lines", "0", "quantity"])]
    assert [(e["code"], e["field"]) for e in twice_in_one["userErrors"]] == [("LIMIT_EXCEEDED", ["input", "lines", "1", "quantity"])]
    assert second["return"] is None and second["eventCursor"] is None
    assert await count_returns(db) == 1


async def test_concurrent_returns_never_exceed_what_was_delivered(gql, db):
    # given: 3 units delivered
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 3)])

    # when: 12 one-unit returns race
    results = await asyncio.gather(*(call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 1}])) for _ in range(12)))

    # then: exactly 3 win
    assert sum(1 for r in results if not r["userErrors"]) == 3
    assert {e["code"] for r in results for e in r["userErrors"]} == {"LIMIT_EXCEEDED"}
    assert await count_returns(db) == 3


async def test_returns_need_a_delivered_order_within_the_window(gql, db):
    # given
    await factories.basic_catalog(db)
    undelivered = await factories.place(db, [("A", 1)], **CARD)
    late = await delivered_order(db, [("A", 1)])
    async with db.engine.begin() as conn:  # delivered 31 days ago: the default window is 30 days
        await conn.execute(update(OrderEvent).where(OrderEvent.order_id == late.id, OrderEvent.status == "DELIVERED")
                           .values(occurred_at=OrderEvent.occurred_at - timedelta(days=31)))

    # when
    not_delivered = await call(gql, REQUEST, staff_request(undelivered, [{"sku": "A", "quantity": 1}]))
    too_late = await call(gql, REQUEST, staff_request(late, [{"sku": "A", "quantity": 1}]))

    # then
    assert [(e["code"], e["field"]) for e in not_delivered["userErrors"]] == [("INVALID_TRANSITION", ["input", "orderId"])]
    assert [(e["code"], e["field"]) for e in too_late["userErrors"]] == [("LIMIT_EXCEEDED", ["input", "orderId"])]
    assert "window" in too_late["userErrors"][0]["message"]
    assert await count_returns(db) == 0


async def test_a_customer_with_a_wrong_email_gets_the_same_answer_as_for_an_unknown_order(gql, db):
    # given
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 1)])
    lines = [{"sku": "A", "quantity": 1}]

    # when
    wrong_email = await call(gql, REQUEST_CUSTOMER, {"number": order.number, "email": "other@example.com", "reason": "x", "lines": lines}, token=None)
    unknown = await call(gql, REQUEST_CUSTOMER, {"number": "SO-999999", "email": "buyer@example.com", "reason": "x", "lines": lines}, token=None)
    listed = await gql("query($n: String!, $e: String!) { trackedReturns(number: $n, email: $e) { number } }",
                       {"n": order.number, "e": "other@example.com"}, token=None)

    # then
    assert wrong_email == unknown
    assert wrong_email["userErrors"][0]["code"] == "NOT_FOUND"
    assert listed["data"]["trackedReturns"] == []
    assert await count_returns(db) == 0


async def test_return_writes_need_the_returns_write_scope(gql, db):
    # given
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 1)])
    reader = await make_key(db, "orders:read", "orders:write", "returns:read")

    # when
    body = await gql(REQUEST, {"input": staff_request(order, [{"sku": "A", "quantity": 1}])}, token=reader)

    # then
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await count_returns(db) == 0


async def test_open_returns_are_listed_by_status(gql, db):
    # given
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 3)])
    ids = [(await call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 1}])))["return"]["id"] for _ in range(3)]
    await call(gql, APPROVE, {"returnId": ids[0]})
    await call(gql, REJECT, {"returnId": ids[1], "note": "no"})

    # when
    open_ = (await gql(RETURNS, {"filter": {"status": ["REQUESTED", "APPROVED"]}}))["data"]["returns"]
    everything = (await gql(RETURNS, {}))["data"]["returns"]

    # then
    assert open_["totalCount"] == 2 and {e["node"]["status"] for e in open_["edges"]} == {"REQUESTED", "APPROVED"}
    assert everything["totalCount"] == 3


# --- exchanges -------------------------------------------------------------------------------------


async def test_an_exchange_places_a_replacement_that_reserves_stock_and_is_paid_by_the_return(gql, db):
    # given
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 2)])
    free_before = await available(db, "A")

    # when: one A swapped for one A (another size, say)
    rma = (await call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 1}], resolution="EXCHANGE")))["return"]
    approved = await call(gql, APPROVE, {"returnId": rma["id"]})

    # then: a linked order reserves the unit; the returned value pays for it in full
    assert approved["userErrors"] == []
    replacement = approved["return"]["replacementOrder"]
    assert replacement["lines"] == [{"sku": "A", "quantity": 1}]
    assert (replacement["status"], replacement["paymentStatus"]) == ("CONFIRMED", "PAID")
    assert approved["return"]["priceDifference"]["amount"] == "0.00"
    assert await available(db, "A") == free_before - 1

    # and receiving the old unit refunds nothing: it paid for the new one
    received = await call(gql, RECEIVE, {"returnId": rma["id"], "lines": [
        {"returnLineId": rma["lines"][0]["id"], "result": "RESTOCK", "warehouseCode": "MAD"}]})
    assert received["return"]["refundedAmount"]["amount"] == "0.00"
    assert (await read_order(gql, order))["status"] == "PARTIALLY_RETURNED"


async def test_an_exchange_for_a_dearer_item_leaves_the_difference_due_and_a_cheaper_one_refunds_it(gql, db):
    # given: A costs 12.10 with VAT, C 121.00, B 6.05
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 2)])

    # when
    dearer = (await call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 1}], resolution="EXCHANGE",
                                                      replacementLines=[{"sku": "C", "quantity": 1}])))["return"]
    dearer = (await call(gql, APPROVE, {"returnId": dearer["id"]}))["return"]
    cheaper = (await call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 1}], resolution="EXCHANGE",
                                                       replacementLines=[{"sku": "B", "quantity": 1}])))["return"]
    cheaper = (await call(gql, APPROVE, {"returnId": cheaper["id"]}))["return"]
    received = await call(gql, RECEIVE, {"returnId": cheaper["id"], "lines": [
        {"returnLineId": cheaper["lines"][0]["id"], "result": "RESTOCK", "warehouseCode": "MAD"}]})

    # then
    assert dearer["priceDifference"]["amount"] == "108.90"
    # the returned unit's 12.10 is received on the replacement; the other 108.90 is still due, so it waits PENDING
    assert (dearer["replacementOrder"]["status"], dearer["replacementOrder"]["paymentStatus"]) == ("PENDING", "UNPAID")
    async with db.read() as session:
        credit = (await session.execute(select(Payment).join(Order, Order.id == Payment.order_id)
                                        .where(Order.number == dearer["replacementOrder"]["number"]))).scalar_one()
    assert (credit.method, credit.captured_amount, credit.reference) == ("OTHER", Decimal("12.10"), f"exchange {dearer['number']}")
    assert cheaper["priceDifference"]["amount"] == "-6.05"
    assert received["return"]["refundedAmount"]["amount"] == "6.05"


async def test_an_exchange_without_stock_for_the_replacement_is_not_approved(gql, db):
    # given: C has 3 units, all wanted by the exchange below plus one more
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 1)])
    rma = (await call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 1}], resolution="EXCHANGE",
                                                   replacementLines=[{"sku": "C", "quantity": 4}])))["return"]

    # when
    approved = await call(gql, APPROVE, {"returnId": rma["id"]})

    unknown = await call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 1}], resolution="EXCHANGE",
                                                      replacementLines=[{"sku": "NOPE", "quantity": 1}]))

    # then
    assert [(e["code"], e["field"]) for e in approved["userErrors"]] == [("OUT_OF_STOCK", ["input", "returnId"])]
    assert [(e["code"], e["field"]) for e in unknown["userErrors"]] == [("NOT_FOUND", ["input", "replacementLines", "0", "sku"])]
    assert (await gql(RETURNS, {"filter": {"status": ["REQUESTED"]}}))["data"]["returns"]["totalCount"] == 1
    assert await available(db, "C") == 3


# --- inquiries -------------------------------------------------------------------------------------


async def test_inquiries_from_both_sides_with_their_events(gql, db):
    # given
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], **CARD)
    pair = {"number": order.number, "email": "buyer@example.com"}

    # when: the customer asks, staff answer, the customer writes back, staff close the case
    opened = await call(gql, OPEN_CUSTOMER_INQUIRY, {**pair, "subject": "Where is my parcel?", "body": "It has been a week."}, token=None)
    inquiry_id = opened["inquiry"]["id"]
    waiting = (await gql(INQUIRIES, {"filter": {"status": ["OPEN"]}}))["data"]["inquiries"]
    answered = await call(gql, REPLY, {"inquiryId": inquiry_id, "body": "It ships tomorrow."})
    tracked = (await gql(TRACKED_INQUIRIES, pair, token=None))["data"]["trackedInquiries"]
    reopened = await call(gql, POST_CUSTOMER_MESSAGE, {**pair, "inquiryId": inquiry_id, "body": "Thanks!"}, token=None)
    closed = await call(gql, CLOSE, {"inquiryId": inquiry_id})
    staff_case = await call(gql, OPEN_INQUIRY, {"orderId": to_global_id("Order", order.id), "subject": "Address", "body": "Is the floor right?"})

    # then
    assert (opened["inquiry"]["status"], opened["inquiry"]["openedBy"]) == ("OPEN", "CUSTOMER")
    assert [e["node"]["subject"] for e in waiting["edges"]] == ["Where is my parcel?"]
    assert answered["inquiry"]["status"] == "ANSWERED"
    assert tracked[0]["messages"] == [
        {"authorType": "CUSTOMER", "author": None, "body": "It has been a week."},
        {"authorType": "STAFF", "author": None, "body": "It ships tomorrow."},  # staff names stay internal
    ]
    assert reopened["inquiry"]["status"] == "OPEN"
    assert closed["inquiry"]["status"] == "CLOSED"
    assert [m["author"] for m in closed["inquiry"]["messages"]] == ["buyer@example.com", "apikey:admin", "buyer@example.com"]
    assert (staff_case["inquiry"]["status"], staff_case["inquiry"]["openedBy"]) == ("ANSWERED", "STAFF")
    types = [e["node"]["type"] for e in (await read_order(gql, order))["events"]["edges"]]
    assert [t for t in types if t.startswith("INQUIRY")] == [
        "INQUIRY_OPENED", "INQUIRY_MESSAGE", "INQUIRY_MESSAGE", "INQUIRY_MESSAGE", "INQUIRY_CLOSED", "INQUIRY_OPENED", "INQUIRY_MESSAGE",
    ]


async def test_a_customer_cannot_write_on_another_orders_inquiry(gql, db):
    # given
    await factories.basic_catalog(db)
    mine = await factories.place(db, [("A", 1)], **CARD)
    theirs = await factories.place(db, [("A", 1)], email="someone@example.com", **CARD)
    case = await call(gql, OPEN_INQUIRY, {"orderId": to_global_id("Order", theirs.id), "subject": "Hi", "body": "Hello"})

    # when
    attempt = await call(gql, POST_CUSTOMER_MESSAGE, {"number": mine.number, "email": "buyer@example.com",
                                                      "inquiryId": case["inquiry"]["id"], "body": "let me in"}, token=None)
    empty = await call(gql, OPEN_CUSTOMER_INQUIRY, {"number": mine.number, "email": "buyer@example.com", "subject": " ", "body": ""}, token=None)

    # then
    assert attempt["userErrors"][0]["code"] == "NOT_FOUND"
    assert sorted(tuple(e["field"]) for e in empty["userErrors"]) == [("input", "body"), ("input", "subject")]
    cases = (await gql(INQUIRIES, {}))["data"]["inquiries"]
    assert cases["totalCount"] == 1
