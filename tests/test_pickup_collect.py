"""collectOrder under concurrency and with billing at shipment (issue 19, click-and-collect): two counters handing the
same order over at once deliver it once; concurrent wrong codes are each counted; a collection captures and invoices
as a shipment would."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from app.billing import config
from app.errors import DomainError
from app.flows import confirmation
from app.flows import pickup as flow
from models import Order, StockMovement
from models.billing import Invoice
from tests.test_pickup import COLLECT, PLACE, READY, levels, pickup_input, placed_pickup, stored, stores


async def ready(gql: Any, db: Any, units: int = 2) -> Order:
    order = await placed_pickup(gql, db, [("A", units)])
    body = await gql(READY, {"input": {"orderId": order["id"]}})
    assert body["data"]["markReadyForPickup"]["userErrors"] == [], body
    return await stored(db, order["number"])


async def attempt(db: Any, order_id: Any, code: str) -> str:
    """One collectOrder in its own unit of work: DELIVERED, or the refusal's code (returned or raised)."""
    try:
        result = await db.run(lambda uow: flow.collect_order(uow=uow, order_id=order_id, pickup_code=code), actor="counter")
    except DomainError as refused:
        return refused.code.value
    return result.code.value if isinstance(result, DomainError) else str(result.status)


async def test_two_counters_collecting_at_once_deliver_once_and_consume_the_stock_once(gql, db):
    await stores(gql, db)
    order = await ready(gql, db)
    outcomes = await asyncio.gather(*(attempt(db, order.id, order.pickup_code or "") for _ in range(4)))
    assert sorted(outcomes) == ["DELIVERED", "INVALID_TRANSITION", "INVALID_TRANSITION", "INVALID_TRANSITION"]
    assert (await levels(db))[("A", "SHOP1")] == (2, 0)
    async with db.read() as session:
        rows = (await session.execute(select(StockMovement.kind).where(StockMovement.reference == order.number))).scalars().all()
    assert rows.count("COLLECTION") == 1


async def test_concurrent_wrong_codes_are_each_counted_up_to_the_limit(gql, db):
    await stores(gql, db)
    order = await ready(gql, db)
    wrong = "000000" if order.pickup_code != "000000" else "111111"
    outcomes = Counter(await asyncio.gather(*(attempt(db, order.id, wrong) for _ in range(8))))
    assert outcomes == Counter({"INVALID_INPUT": 5, "LIMIT_EXCEEDED": 3})
    after = await stored(db, order.number)
    assert (after.pickup_attempts, after.status) == (5, "READY_FOR_PICKUP")


async def test_a_collection_captures_and_invoices_when_billing_does_so_at_shipment(gql, db, monkeypatch):
    # given: capture and invoice at shipment; a card pickup order, confirmed (authorised, nothing captured or invoiced)
    monkeypatch.setattr(config, "_current", replace(config.settings(), capture_moment="shipment", invoice_moment="shipment"))
    await stores(gql, db)
    body = await gql(PLACE, {"input": pickup_input([("A", 1)], payment={"method": "CARD", "token": "test_approve"})})
    number = body["data"]["placeOrder"]["order"]["number"]
    placed = await stored(db, number)
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=placed.id), actor="test")
    await gql(READY, {"input": {"orderId": body["data"]["placeOrder"]["order"]["id"]}})
    waiting = await stored(db, number)
    assert waiting.payment_status == "AUTHORIZED"
    # when: collected
    done = await gql(COLLECT, {"input": {"orderId": body["data"]["placeOrder"]["order"]["id"], "pickupCode": waiting.pickup_code}})
    assert done["data"]["collectOrder"]["userErrors"] == [], done
    # then: captured and invoiced, as at a shipment
    after = await stored(db, number)
    assert (after.status, after.payment_status) == ("DELIVERED", "PAID")
    async with db.read() as session:
        assert len((await session.execute(select(Invoice.id).where(Invoice.order_id == after.id))).all()) == 1
