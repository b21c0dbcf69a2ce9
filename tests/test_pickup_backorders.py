"""Click-and-collect of backordered units (issue 19, review19 F1/F2): a PICKUP order whose units are claimed on a stock
receipt is not at the store until the receipt arrives, so it cannot be marked ready (nor collected) before then, and its
promise is the day the receipt is expected (at the store, or the transfer's arrival from the receipt's warehouse).
`oms check` runs after every test (tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from app.catalog import receipts as receipt_service
from app.catalog import service as catalog
from app.errors import DomainError, ErrorCode
from app.flows import confirmation
from app.flows import pickup as pickup_flow
from app.flows import receipts as arrivals
from app.fulfilment import promise as delivery
from app.fulfilment.carriers import default_rules
from app.orders import promise as calendar
from app.orders.enums import DeliveryType, InventoryPolicy, OrderStatus
from app.orders.service import DeliveryMethod
from models import Allocation, Order, StockLevel, Warehouse
from models.receipts import StockReceipt
from tests import factories

AT_SHOP1 = DeliveryMethod(DeliveryType.PICKUP, "SHOP1")


async def setup_store(db: Any, *, on_hand: int, receipt_at: str = "SHOP1", receipt_units: int = 5, days: int = 10) -> dict[str, Any]:
    """SHOP1 (a pickup point) and MAD serve WEB; BO is BACKORDER with `on_hand` units at SHOP1 and a receipt expected in `days`."""
    await factories.warehouse(db, "SHOP1", ["WEB"])
    await factories.warehouse(db, "MAD", ["WEB"])
    await db.run(lambda uow: uow.session.execute(update(Warehouse).where(Warehouse.code == "SHOP1").values(pickup_point=True)))
    await db.run(lambda uow: catalog.upsert_product(uow=uow, sku="BO", name="Product BO", price="10.00", currency="EUR", tax_rate="0.21",
                                                    inventory_policy=InventoryPolicy.BACKORDER))
    if on_hand:
        await factories.stock(db, "BO", "SHOP1", on_hand)
    expected_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    receipt = await db.run(lambda uow: receipt_service.schedule_receipt(uow=uow, sku="BO", warehouse_code=receipt_at, quantity=receipt_units,
                                                                        expected_at=expected_at), actor="test")
    return {"receipt": receipt, "expected_at": expected_at}


async def mark_ready(db: Any, order: Any) -> Order:
    return await db.run(lambda uow: pickup_flow.mark_ready_for_pickup(uow=uow, order_id=order.id), actor="test")


async def receive(db: Any, receipt_id: Any, quantity: int) -> StockReceipt:
    return await db.run(lambda uow: arrivals.receive_stock(uow=uow, receipt_id=receipt_id, quantity=quantity), actor="test")


async def stored(db: Any, order: Any) -> Order:
    async with db.read() as session:
        return (await session.execute(select(Order).where(Order.id == order.id))).scalar_one()


async def level(db: Any, code: str) -> tuple[int, int]:
    async with db.read() as session:
        row = (await session.execute(select(StockLevel).join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
                                     .where(StockLevel.sku == "BO", Warehouse.code == code))).scalar_one()
    return row.on_hand, row.reserved


async def test_a_pickup_order_awaiting_a_receipt_is_ready_and_collected_only_after_it_arrives(db: Any) -> None:
    # given: A (shipped) takes the 3 units on hand at the store; B (collected there) claims 2 of the receipt
    setup = await setup_store(db, on_hand=3)
    a = await factories.place(db, [("BO", 3)], email="a@example.com")
    b = await factories.place(db, [("BO", 2)], email="b@example.com", delivery_method=AT_SHOP1)
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=b.id), actor="test")
    # when / then: B cannot be marked ready while its units are on their way (A's units are not B's)
    with pytest.raises(DomainError) as refused:
        await mark_ready(db, b)
    assert refused.value.code == ErrorCode.INVALID_TRANSITION and "receipt" in refused.value.message, refused.value
    assert (await stored(db, b)).status == OrderStatus.CONFIRMED
    assert await level(db, "SHOP1") == (3, 3)  # A's 3 units untouched

    # when: the receipt arrives, B's claim becomes a reservation at the store
    await receive(db, setup["receipt"].id, 5)
    ready = await mark_ready(db, b)
    assert ready.status == OrderStatus.READY_FOR_PICKUP
    collected = await db.run(lambda uow: pickup_flow.collect_order(uow=uow, order_id=b.id, pickup_code=ready.pickup_code), actor="test")
    # then: B's 2 units left the store, A still holds its 3
    assert collected.status == OrderStatus.DELIVERED
    assert await level(db, "SHOP1") == (6, 3)
    async with db.read() as session:
        open_a = sum(x.open_quantity for x in (await session.execute(select(Allocation).where(Allocation.order_id == a.id))).scalars())
    assert open_a == 3


async def test_a_pickup_order_claiming_the_only_units_cannot_be_marked_ready_before_the_receipt(db: Any) -> None:
    # given: nothing on hand anywhere; the pickup order's units all await the receipt
    setup = await setup_store(db, on_hand=0)
    b = await factories.place(db, [("BO", 2)], delivery_method=AT_SHOP1)
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=b.id), actor="test")
    # then: refused (it used to become READY_FOR_PICKUP, and collecting it failed with an internal error)
    with pytest.raises(DomainError) as refused:
        await mark_ready(db, b)
    assert refused.value.code == ErrorCode.INVALID_TRANSITION
    await receive(db, setup["receipt"].id, 2)
    assert (await mark_ready(db, b)).status == OrderStatus.READY_FOR_PICKUP


async def test_a_backordered_pickup_orders_promise_is_the_day_its_receipt_is_expected_at_the_store(db: Any) -> None:
    # given: a pickup order whose 2 units claim a receipt at the store expected in ten days
    setup = await setup_store(db, on_hand=0)
    async with db.read() as session:
        rules = await default_rules(session)
    b = await factories.place(db, [("BO", 2)], delivery_method=AT_SHOP1)
    # then: ready at the store the day the receipt is expected (the store's cut-off, no transit), not tomorrow
    when_expected = calendar.dispatch_date(setup["expected_at"], cutoff=rules.cutoff_time, tz_name=rules.timezone)
    assert b.estimated_delivery_date == when_expected
    assert b.estimated_delivery_date >= calendar.local_date(calendar.utcnow()) + timedelta(days=9)
    # and the order's recomputed promise (a stage move, an edit, a reallocation) says the same while it waits
    async with db.read() as session:
        order = (await session.execute(select(Order).where(Order.id == b.id))).scalar_one()
        assert await delivery.order_promise(session, order=order, now=calendar.utcnow()) == when_expected
    # when: the receipt arrives early, the promise comes forward to "ready now"
    await receive(db, setup["receipt"].id, 2)
    assert (await stored(db, b)).estimated_delivery_date == calendar.dispatch_date(calendar.utcnow(), cutoff=rules.cutoff_time,
                                                                                   tz_name=rules.timezone)


async def test_a_pickup_order_claiming_a_receipt_elsewhere_is_ready_when_the_transfer_arrives(db: Any) -> None:
    # given: the receipt is expected at MAD (not the store): the units travel to SHOP1 once they arrive there
    setup = await setup_store(db, on_hand=0, receipt_at="MAD")
    async with db.read() as session:
        rules = await default_rules(session)
    b = await factories.place(db, [("BO", 2)], delivery_method=AT_SHOP1)
    # then: the promise is the transfer's arrival at the store, counted from the day the receipt is expected
    transfer = calendar.estimate_delivery(start=setup["expected_at"], transit_days=rules.transit_to(origin_country="ES", destination_country="ES"),
                                          cutoff=rules.cutoff_time, tz_name=rules.timezone)
    assert b.estimated_delivery_date == transfer
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=b.id), actor="test")
    # and: after the receipt arrives at MAD the units are a transfer still to ship: not ready at the store yet
    await receive(db, setup["receipt"].id, 2)
    with pytest.raises(DomainError) as refused:
        await mark_ready(db, b)
    assert refused.value.code == ErrorCode.INVALID_TRANSITION
    assert await level(db, "MAD") == (2, 2)
