"""Returned to sender (issue 19): the parcel's units go back on hand exactly once, the order goes back to where it can be
re-shipped, or cancelled and refunded (app/fulfilment/returns_to_sender.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.flows import confirmation
from app.infra.check import check_invariants
from models import StockMovement
from models.fulfilment import Shipment
from tests import factories
from tests.test_fulfilment import ORDER, gid, order_events, ship, status_changes, stock_of, track

CANCEL = "mutation($input: OrderIdInput!) { cancelOrder(input: $input) { order { status paymentStatus } userErrors { field code message } } }"
INVOICES = "query($id: ID!) { order(id: $id) { paymentStatus invoices { kind total { amount } } } }"


async def card_order(db, lines):  # type: ignore[no-untyped-def]
    """A card order, confirmed: captured and invoiced (billing's defaults: at confirmation)."""
    order = await factories.place(db, lines, payment_method="CARD", payment_token="test_approve")
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    return order


async def returned_rows(db) -> list[tuple[str, str, int, int]]:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        rows = (await session.execute(
            select(StockMovement.kind, StockMovement.sku, StockMovement.on_hand_delta, StockMovement.reserved_delta)
            .where(StockMovement.kind.in_(["RETURN_TO_SENDER", "RESERVATION"])).order_by(StockMovement.id)
        )).all()
    return [tuple(r) for r in rows]


async def order_view(gql, order) -> dict:  # type: ignore[no-untyped-def]
    body = await gql(ORDER, {"id": gid("Order", order.id)})
    assert "errors" not in body, body
    return body["data"]["order"]


async def test_returned_twice_restocks_exactly_once_and_the_order_can_ship_again(gql, db):
    # given: 2 B shipped from MAD (5 on hand there -> 3)
    await factories.basic_catalog(db)
    order = await card_order(db, [("B", 2)])
    shipped = await ship(gql, order, "MAD")
    assert shipped["userErrors"] == [], shipped
    shipment_id = shipped["shipment"]["id"]
    assert shipped["shipment"]["order"]["status"] == "SHIPPED"
    assert await stock_of(db, "B", "MAD") == (3, 0)
    reserved_before = await returned_rows(db)
    start = datetime.now(UTC) - timedelta(hours=5)
    await track(gql, shipment_id, "IN_TRANSIT", start)

    # when: the carrier reports it returned, twice at different times, the second twice at once
    first = await track(gql, shipment_id, "RETURNED_TO_SENDER", start + timedelta(hours=2))
    again = await asyncio.gather(*(track(gql, shipment_id, "RETURNED_TO_SENDER", start + timedelta(hours=3)) for _ in range(3)))

    # then: the units are back on hand once, reserved again for the order, which is CONFIRMED
    assert first["userErrors"] == [] and all(r["userErrors"] == [] for r in again)
    assert first["shipment"]["status"] == "RETURNED_TO_SENDER"
    assert first["shipment"]["order"]["status"] == "CONFIRMED"
    assert await stock_of(db, "B", "MAD") == (5, 2)
    assert (await returned_rows(db))[len(reserved_before):] == [("RETURN_TO_SENDER", "B", 2, 0), ("RESERVATION", "B", 0, 2)]
    view = await order_view(gql, order)
    returned = [e for e in order_events(view) if e["type"] == "SHIPMENT_RETURNED"]
    assert len(returned) == 1
    assert (returned[0]["previousStatus"], returned[0]["status"]) == ("SHIPPED", "CONFIRMED")
    async with db.read() as session:
        stored_id, restocked_at = (await session.execute(select(Shipment.id, Shipment.restocked_at))).one()
    assert returned[0]["data"]["restockedUnits"] == 2 and returned[0]["data"]["shipment"] == str(stored_id)
    assert restocked_at is not None
    # a late report timed before the return changes nothing: the parcel stays returned, nothing restocked again
    late = await track(gql, shipment_id, "DELIVERED", start + timedelta(hours=1))
    assert late["shipment"]["status"] == "RETURNED_TO_SENDER" and late["shipment"]["order"]["status"] == "CONFIRMED"
    assert await stock_of(db, "B", "MAD") == (5, 2)

    # when: shipped again, and delivered
    reshipped = await ship(gql, order, "MAD")
    assert reshipped["userErrors"] == []
    assert reshipped["shipment"]["order"]["status"] == "SHIPPED"
    assert await stock_of(db, "B", "MAD") == (3, 0)
    delivered = await track(gql, reshipped["shipment"]["id"], "DELIVERED", datetime.now(UTC) - timedelta(minutes=1))
    # then: the order is delivered by the second parcel (the returned one does not block it)
    assert delivered["shipment"]["order"]["status"] == "DELIVERED", delivered
    assert status_changes(await order_view(gql, order)) == [
        (None, "PENDING"), ("PENDING", "CONFIRMED"), ("CONFIRMED", "SHIPPED"), ("SHIPPED", "CONFIRMED"), ("CONFIRMED", "SHIPPED"),
        ("SHIPPED", "DELIVERED"),
    ]
    assert await check_invariants(db) == []


async def test_a_returned_order_can_be_cancelled_and_is_refunded_and_credited(gql, db):
    # given: a captured, invoiced card order whose only parcel came back
    await factories.basic_catalog(db)
    order = await card_order(db, [("B", 2)])
    shipped = await ship(gql, order, "MAD")
    await track(gql, shipped["shipment"]["id"], "RETURNED_TO_SENDER", datetime.now(UTC) - timedelta(minutes=5))
    assert (await order_view(gql, order))["status"] == "CONFIRMED"

    # when
    cancelled = await gql(CANCEL, {"input": {"orderId": gid("Order", order.id), "reason": "parcel came back"}})

    # then: the re-reserved units are released, the capture refunded, the invoice credited in full
    assert cancelled["data"]["cancelOrder"] == {"order": {"status": "CANCELLED", "paymentStatus": "REFUNDED"}, "userErrors": []}
    assert await stock_of(db, "B", "MAD") == (5, 0)
    billing = (await gql(INVOICES, {"id": gid("Order", order.id)}))["data"]["order"]
    totals = {invoice["kind"]: invoice["total"]["amount"] for invoice in billing["invoices"]}
    assert totals == {"INVOICE": "12.10", "CREDIT_NOTE": "-12.10"}
    assert await check_invariants(db) == []


async def test_one_of_two_parcels_returned_leaves_the_order_partially_shipped_until_it_ships_again(gql, db):
    # given: B from MAD and C from BCN, two parcels
    await factories.basic_catalog(db)
    order = await card_order(db, [("B", 1), ("C", 1)])
    from_mad = await ship(gql, order, "MAD")
    from_bcn = await ship(gql, order, "BCN")
    assert from_bcn["shipment"]["order"]["status"] == "SHIPPED"

    # when: the BCN parcel comes back
    back = await track(gql, from_bcn["shipment"]["id"], "RETURNED_TO_SENDER", datetime.now(UTC) - timedelta(minutes=5))

    # then
    assert back["shipment"]["order"]["status"] == "PARTIALLY_SHIPPED"
    assert await stock_of(db, "C", "BCN") == (3, 1)
    assert await stock_of(db, "B", "MAD") == (4, 0)
    # the MAD parcel's delivery does not deliver the order: C is still to ship
    delivered = await track(gql, from_mad["shipment"]["id"], "DELIVERED", datetime.now(UTC) - timedelta(minutes=1))
    assert delivered["shipment"]["order"]["status"] == "PARTIALLY_SHIPPED"
    # shipping C again completes it
    again = await ship(gql, order, "BCN")
    assert again["shipment"]["order"]["status"] == "SHIPPED"
    assert await stock_of(db, "C", "BCN") == (2, 0)
    assert await check_invariants(db) == []


async def test_a_returned_parcel_with_a_made_to_order_unit_ships_it_again_without_stock(gql, db):
    # given: B (stock in MAD) and a made-to-order unit (no reservation), packed together in MAD
    await factories.basic_catalog(db)
    order = await card_order(db, [("B", 1), ("MTO", 1)])
    await factories.make_ready(db, order)  # stages (issue 19): made-to-order units ship once their line is READY
    shipped = await ship(gql, order, "MAD")
    assert shipped["userErrors"] == [] and shipped["shipment"]["order"]["status"] == "SHIPPED", shipped
    before = len(await returned_rows(db))
    # when
    back = await track(gql, shipped["shipment"]["id"], "RETURNED_TO_SENDER", datetime.now(UTC) - timedelta(minutes=5))
    # then: only B's stock moves; both units are to ship again
    assert back["shipment"]["order"]["status"] == "CONFIRMED"
    assert (await returned_rows(db))[before:] == [("RETURN_TO_SENDER", "B", 1, 0), ("RESERVATION", "B", 0, 1)]
    again = await ship(gql, order, "MAD")
    assert again["shipment"]["order"]["status"] == "SHIPPED"
    assert sorted((line["sku"], line["quantity"]) for line in (await order_view(gql, order))["lines"]) == [("B", 1), ("MTO", 1)]
    assert await stock_of(db, "B", "MAD") == (4, 0)
