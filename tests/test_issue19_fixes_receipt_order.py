"""Issue 19 review F7: an arrival serves the orders waiting for the SKU at its warehouse in placement order, across
receipts: an earlier order waiting on a later receipt is filled before later orders (or free stock), and the later
orders' claims the arriving receipt can no longer cover move to the units that freed on the other receipts.
`oms check` runs after every test (tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.catalog import receipts as receipt_service
from app.catalog import service as catalog
from app.flows import cancellation
from app.flows import receipts as arrivals
from app.orders.enums import InventoryPolicy, OrderEventType
from models import Allocation, Order, OrderEvent
from models.receipts import StockReceipt
from tests import factories


@pytest.fixture
async def two_receipts(db: Any) -> dict[str, Any]:
    """BO (BACKORDER) at MAD, nothing on hand; R1 of 5 in 3 days, R2 of 5 in 10 days."""
    await factories.warehouse(db, "MAD", ["WEB"])
    await db.run(lambda uow: catalog.upsert_product(uow=uow, sku="BO", name="BO", price="10.00", currency="EUR", tax_rate="0.21",
                                                    inventory_policy=InventoryPolicy.BACKORDER))
    now = datetime.now(UTC).replace(microsecond=0)
    out: dict[str, Any] = {}
    for name, days in (("r1", 3), ("r2", 10)):
        out[name] = await db.run(lambda uow, days=days: receipt_service.schedule_receipt(
            uow=uow, sku="BO", warehouse_code="MAD", quantity=5, expected_at=now + timedelta(days=days)), actor="test")
    return out


async def state(db: Any, order: Any) -> tuple[list[tuple[int, Any]], Any]:
    async with db.read() as s:
        rows = (await s.execute(select(Allocation.quantity, Allocation.receipt_id).where(
            Allocation.order_id == order.id, Allocation.quantity > Allocation.quantity_shipped + Allocation.quantity_released))).all()
        promise = (await s.execute(select(Order.estimated_delivery_date).where(Order.id == order.id))).scalar_one()
    return sorted(((q, r) for q, r in rows), key=lambda x: (x[0], str(x[1]))), promise


async def claimed(db: Any, receipt: Any) -> int:
    async with db.read() as s:
        return int((await s.execute(select(StockReceipt.claimed).where(StockReceipt.id == receipt.id))).scalar_one())


async def test_an_earlier_order_waiting_on_a_later_receipt_is_served_first(db, two_receipts) -> None:
    r1, r2 = two_receipts["r1"], two_receipts["r2"]
    a = await factories.place(db, [("BO", 5)], email="a@example.com")  # all of R1
    b = await factories.place(db, [("BO", 3)], email="b@example.com")  # 3 of R2
    await db.run(lambda uow: cancellation.cancel_order(uow=uow, order_id=a.id, reason="changed mind"), actor="test")
    # when: R1 arrives
    await db.run(lambda uow: arrivals.receive_stock(uow=uow, receipt_id=r1.id, quantity=5), actor="test")
    # then: B (placed first) is filled from it and no longer waits on R2; 2 units are free
    allocations, _ = await state(db, b)
    assert allocations == [(3, None)]
    assert await claimed(db, r2) == 0
    async with db.read() as s:
        kinds = (await s.execute(select(OrderEvent.type).where(OrderEvent.order_id == b.id))).scalars().all()
    assert OrderEventType.BACKORDER_ALLOCATED in kinds
    # and an order placed after the arrival takes only what is left
    c = await factories.place(db, [("BO", 3)], email="c@example.com")
    allocations, _ = await state(db, c)
    assert sorted(r is None for _, r in allocations) == [False, True] and sum(q for q, _ in allocations) == 3
    assert await claimed(db, r2) == 1


async def test_later_claims_on_the_arriving_receipt_move_to_the_units_freed_on_the_later_one(db, two_receipts) -> None:
    r1, r2 = two_receipts["r1"], two_receipts["r2"]
    a = await factories.place(db, [("BO", 5)], email="a@example.com")  # all of R1
    b = await factories.place(db, [("BO", 4)], email="b@example.com")  # 4 of R2
    await db.run(lambda uow: cancellation.cancel_order(uow=uow, order_id=a.id, reason="changed mind"), actor="test")
    d = await factories.place(db, [("BO", 5)], email="d@example.com")  # placed after B: claims the freed R1
    _, d_promise_before = await state(db, d)
    # when: R1 arrives
    await db.run(lambda uow: arrivals.receive_stock(uow=uow, receipt_id=r1.id, quantity=5), actor="test")
    # then: B first (4), D gets the fifth unit and waits for 4 on R2 (the units B freed there)
    b_allocations, b_promise = await state(db, b)
    d_allocations, d_promise = await state(db, d)
    assert b_allocations == [(4, None)]
    assert d_allocations == [(1, None), (4, r2.id)]
    assert (await claimed(db, r1), await claimed(db, r2)) == (0, 4)
    assert b_promise < d_promise and d_promise > d_promise_before
    # and R2's arrival fills D
    await db.run(lambda uow: arrivals.receive_stock(uow=uow, receipt_id=r2.id, quantity=5), actor="test")
    d_allocations, _ = await state(db, d)
    assert sum(q for q, r in d_allocations if r is None) == 5 and all(r is None for _, r in d_allocations)
