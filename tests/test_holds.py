"""Several holds per order with reasons (issue 18): two holds need two releases; a held order is never confirmed
or captured (the bypass of research §0: ON_HOLD -> CONFIRMED was a legal move, so confirmOrder skipped the hold)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.billing import config
from app.billing.providers import get_provider
from app.billing.providers.test import OfflineProvider
from models import Order, OrderEvent
from models.holds import OrderHold
from resolvers.ids import to_global_id
from tests import factories
from tests.factories import ADDRESS_INPUT

ORDER_FIELDS = "id status holds { id reason note heldAt heldBy } events { edges { node { type status previousStatus data } } }"
HOLD = f"""
mutation Hold($input: OrderIdInput!) {{ holdOrder(input: $input) {{ order {{ {ORDER_FIELDS} }} userErrors {{ field code message }} eventCursor }} }}
"""
RELEASE = f"""
mutation Release($input: OrderIdInput!) {{ releaseOrder(input: $input) {{ order {{ {ORDER_FIELDS} }} userErrors {{ field code message }} eventCursor }} }}
"""
CONFIRM = """
mutation Confirm($input: OrderIdInput!) { confirmOrder(input: $input) { order { status } userErrors { field code message } eventCursor } }
"""
CAPTURE = """
mutation Capture($input: CapturePaymentInput!) { capturePayment(input: $input) { payment { status } userErrors { field code message } } }
"""
PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { id status payments { id status capturedAmount { amount } } } userErrors { field code message } }
}
"""


@pytest.fixture
def provider() -> OfflineProvider:
    gateway = get_provider(config.settings())
    assert isinstance(gateway, OfflineProvider)
    gateway.reset()
    return gateway


async def call(gql, mutation: str, name: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await gql(mutation, {"input": variables})
    assert "errors" not in body, body
    return body["data"][name]


async def hold(gql, order_id, reason: str | None = None) -> dict[str, Any]:
    return await call(gql, HOLD, "holdOrder", {"orderId": to_global_id("Order", order_id), "reason": reason})


async def release(gql, order_id, hold_id: str | None = None, reason: str | None = None) -> dict[str, Any]:
    return await call(gql, RELEASE, "releaseOrder", {"orderId": to_global_id("Order", order_id), "holdId": hold_id, "reason": reason})


async def counts(db) -> tuple[int, int]:
    async with db.read() as session:
        return ((await session.execute(select(func.count()).select_from(OrderEvent))).scalar_one(),
                (await session.execute(select(func.count()).select_from(OrderHold))).scalar_one())


def types(order: dict[str, Any]) -> list[str]:
    return [e["node"]["type"] for e in order["events"]["edges"]]


async def test_two_holds_need_two_releases(gql, db) -> None:
    # given: a confirmed order held by staff, then held again for another reason
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)])
    await call(gql, CONFIRM, "confirmOrder", {"orderId": to_global_id("Order", order.id)})
    first = await hold(gql, order.id)
    assert first["userErrors"] == [] and first["order"]["status"] == "ON_HOLD"
    second = await hold(gql, order.id, "RISK_REVIEW")
    assert second["userErrors"] == [] and second["order"]["status"] == "ON_HOLD"
    assert [h["reason"] for h in second["order"]["holds"]] == ["STAFF", "RISK_REVIEW"]
    assert types(second["order"])[-2:] == ["STATUS_CHANGED", "HOLD_ADDED"]
    assert all(h["heldBy"] == "apikey:admin" for h in second["order"]["holds"])

    # when: the first release
    released = await release(gql, order.id, reason="checked the address")
    # then: the oldest hold (STAFF) went, the order is still on hold
    assert released["userErrors"] == [] and released["eventCursor"] is not None
    assert released["order"]["status"] == "ON_HOLD"
    assert [h["reason"] for h in released["order"]["holds"]] == ["RISK_REVIEW"]
    last_event = released["order"]["events"]["edges"][-1]["node"]
    assert last_event["type"] == "HOLD_RELEASED" and last_event["status"] == last_event["previousStatus"] == "ON_HOLD"
    assert last_event["data"]["releasedReason"] == "STAFF" and last_event["data"]["holds"] == ["RISK_REVIEW"]

    # when: the second release
    resumed = await release(gql, order.id)
    # then: back where it was held from
    assert resumed["userErrors"] == [] and resumed["order"]["status"] == "CONFIRMED" and resumed["order"]["holds"] == []
    change = resumed["order"]["events"]["edges"][-1]["node"]
    assert (change["type"], change["previousStatus"], change["status"]) == ("STATUS_CHANGED", "ON_HOLD", "CONFIRMED")
    async with db.read() as session:
        row = await session.get(Order, order.id)
        assert row is not None and row.held_from is None
        rows = (await session.execute(select(OrderHold).order_by(OrderHold.created_at))).scalars().all()
    assert [(h.reason, h.released_at is not None, h.release_note) for h in rows] == [("STAFF", True, "checked the address"), ("RISK_REVIEW", True, None)]


async def test_release_names_the_hold_to_release(gql, db) -> None:
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)])
    await hold(gql, order.id, "ADDRESS_CHECK")
    held = await hold(gql, order.id, "RISK_REVIEW")
    risk_hold = next(h["id"] for h in held["order"]["holds"] if h["reason"] == "RISK_REVIEW")
    released = await release(gql, order.id, hold_id=risk_hold)
    assert [h["reason"] for h in released["order"]["holds"]] == ["ADDRESS_CHECK"] and released["order"]["status"] == "ON_HOLD"
    # the same hold again: no longer open
    before = await counts(db)
    again = await release(gql, order.id, hold_id=risk_hold)
    assert again["order"] is None and [(e["code"], e["field"]) for e in again["userErrors"]] == [("NOT_FOUND", ["input", "holdId"])]
    malformed = await release(gql, order.id, hold_id="not-an-id")
    assert [(e["code"], e["field"]) for e in malformed["userErrors"]] == [("NOT_FOUND", ["input", "holdId"])]
    assert await counts(db) == before
    assert (await release(gql, order.id))["order"]["status"] == "PENDING"


async def test_a_reason_still_open_and_a_reason_too_long_are_refused_writing_nothing(gql, db) -> None:
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)])
    await hold(gql, order.id, "FRAUD_CHECK")
    before = await counts(db)
    same = await hold(gql, order.id, "FRAUD_CHECK")
    assert same["order"] is None and [(e["code"], e["field"]) for e in same["userErrors"]] == [("INVALID_TRANSITION", ["input", "orderId"])]
    assert "already held for FRAUD_CHECK" in same["userErrors"][0]["message"]
    long = await hold(gql, order.id, "X" * 65)
    assert [(e["code"], e["field"]) for e in long["userErrors"]] == [("INVALID_INPUT", ["input", "reason"])]
    assert await counts(db) == before


async def test_a_held_order_cannot_be_confirmed(gql, db) -> None:
    # given: a pending order held by staff (ON_HOLD -> CONFIRMED is a move the state machine allows, for releases)
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)])
    await hold(gql, order.id, "ADDRESS_CHECK")
    before = await counts(db)
    # when
    refused = await call(gql, CONFIRM, "confirmOrder", {"orderId": to_global_id("Order", order.id)})
    # then
    assert refused["order"] is None and refused["eventCursor"] is None
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INVALID_TRANSITION", ["input", "orderId"])]
    assert "on hold (ADDRESS_CHECK)" in refused["userErrors"][0]["message"]
    assert await counts(db) == before
    async with db.read() as session:
        assert (await session.get(Order, order.id)).status == "ON_HOLD"  # type: ignore[union-attr]


async def test_a_held_card_order_is_not_captured_by_capture_payment_nor_by_confirmation(gql, db, provider) -> None:
    # given: a card order (authorised), held
    await factories.basic_catalog(db)
    body = await gql(PLACE, {"input": {"channel": "WEB", "email": "a@example.com", "lines": [{"sku": "A", "quantity": 1}],
                                       "shippingAddress": ADDRESS_INPUT, "payment": {"method": "CARD", "token": "test_approve"}}})
    placed = body["data"]["placeOrder"]["order"]
    payment_id = placed["payments"][0]["id"]
    order_id = placed["id"]
    held = await call(gql, HOLD, "holdOrder", {"orderId": order_id})
    assert held["order"]["status"] == "ON_HOLD"
    # when: staff tries to capture, then to confirm
    capture = await call(gql, CAPTURE, "capturePayment", {"paymentId": payment_id})
    confirm = await call(gql, CONFIRM, "confirmOrder", {"orderId": order_id})
    # then: both refused, nothing taken at the provider
    assert [(e["code"], e["field"]) for e in capture["userErrors"]] == [("INVALID_TRANSITION", ["input", "paymentId"])]
    assert [(e["code"], e["field"]) for e in confirm["userErrors"]] == [("INVALID_TRANSITION", ["input", "orderId"])]
    assert not [op for op in provider.operations if op[0] == "capture"]
    # released: confirmation captures as usual
    await call(gql, RELEASE, "releaseOrder", {"orderId": order_id})
    confirmed = await call(gql, CONFIRM, "confirmOrder", {"orderId": order_id})
    assert confirmed["order"]["status"] == "CONFIRMED"
    assert [op[0] for op in provider.operations if op[0] == "capture"] == ["capture"]


async def test_an_order_on_hold_without_hold_rows_counts_as_held_for_staff(gql, db) -> None:
    # given: an order ON_HOLD from before holds had rows (the migration backfills STAFF; here its row is deleted)
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)])
    await hold(gql, order.id, "OLD_STYLE")
    async with db.engine.begin() as conn:
        await conn.execute(OrderHold.__table__.delete())
    # then: STAFF is refused as already held; another reason adds a hold; two releases resume it
    assert (await hold(gql, order.id))["userErrors"][0]["code"] == "INVALID_TRANSITION"
    assert (await hold(gql, order.id, "RISK_REVIEW"))["order"]["status"] == "ON_HOLD"
    assert [h["reason"] for h in (await release(gql, order.id))["order"]["holds"]] == ["RISK_REVIEW"]  # STAFF, the oldest
    assert (await release(gql, order.id))["order"]["status"] == "PENDING"


RECORD = """
mutation Record($input: RecordPaymentInput!) { recordPayment(input: $input) { order { status paymentStatus } userErrors { field code } } }
"""


async def test_a_transfer_paid_while_held_is_confirmed_only_when_released(gql, db) -> None:
    # given: a bank-transfer order held by staff, then paid in full
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], payment_method="BANK_TRANSFER")
    order_id = to_global_id("Order", order.id)
    await hold(gql, order.id, "ADDRESS_CHECK")
    paid = await call(gql, RECORD, "recordPayment", {"orderId": order_id, "method": "BANK_TRANSFER", "amount": str(order.total)})
    # then: paid, still held (recordPayment confirms only a PENDING order)
    assert paid["userErrors"] == [] and paid["order"] == {"status": "ON_HOLD", "paymentStatus": "PAID"}
    # when released: back to PENDING, and paid, so confirmed at once
    released = await release(gql, order.id)
    assert released["order"]["status"] == "CONFIRMED"
    statuses = [(e["node"]["previousStatus"], e["node"]["status"]) for e in released["order"]["events"]["edges"] if e["node"]["type"] == "STATUS_CHANGED"]
    assert statuses[-2:] == [("ON_HOLD", "PENDING"), ("PENDING", "CONFIRMED")]


async def test_an_unpaid_transfer_released_stays_pending(gql, db) -> None:
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)], payment_method="BANK_TRANSFER")
    await hold(gql, order.id)
    assert (await release(gql, order.id))["order"]["status"] == "PENDING"
