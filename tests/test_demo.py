"""The demo data set covers the life of an order, and seeding twice adds nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from app.demo import seed_demo
from models import Order
from models.returns import Inquiry, ReturnRequest


async def test_demo_orders_span_the_lifecycle_and_seeding_is_idempotent(db):
    # when
    first = await seed_demo(db)
    second = await seed_demo(db)

    # then
    async with db.read() as session:
        statuses = set((await session.execute(select(Order.status))).scalars())
        orders = (await session.execute(select(func.count()).select_from(Order))).scalar_one()
        returns = (await session.execute(select(func.count()).select_from(ReturnRequest))).scalar_one()
        inquiries = (await session.execute(select(func.count()).select_from(Inquiry))).scalar_one()
    assert (first, second) == (True, False)
    assert {"PENDING", "CONFIRMED", "ON_HOLD", "CANCELLED", "SHIPPED", "DELIVERED"} <= statuses
    assert orders >= 20 and returns >= 1 and inquiries >= 1
