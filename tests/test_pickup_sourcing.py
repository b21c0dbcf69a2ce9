"""Click-and-collect under sourcing rules (issue 19, review19 F8): a PICKUP order's pickup point is never excluded by
a rule (the customer chose it), so a rule meant for shipped orders (no deliveryType) that excludes a store does not make
every pickup there OUT_OF_STOCK; the rule's exclusions still apply to shipped orders and to the warehouses a pickup
order's shortfall is transferred from. `oms check` runs after every test (tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from sqlalchemy import select, update

from app.flows import edits as edit_flow
from app.orders import sourcing
from app.orders.edits import EditRequest, LineQuantity
from app.orders.enums import DeliveryType, OrderEventType
from app.orders.service import DeliveryMethod
from models import Allocation, OrderEvent, OrderLine, Warehouse
from tests import factories

AT_SHOP1 = DeliveryMethod(DeliveryType.PICKUP, "SHOP1")


async def setup(db: Any, *, exclude: list[str]) -> None:
    """SHOP1 (a pickup point, 5 A), MAD (10 A) and BCN (10 A) serve WEB; one rule: PRIORITY excluding `exclude`."""
    for code in ("MAD", "BCN", "SHOP1"):
        await factories.warehouse(db, code, ["WEB"])
    await db.run(lambda uow: uow.session.execute(update(Warehouse).where(Warehouse.code == "SHOP1").values(pickup_point=True)))
    await factories.product(db, "A")
    for code, units in (("SHOP1", 5), ("MAD", 10), ("BCN", 10)):
        await factories.stock(db, "A", code, units)
    await db.run(lambda uow: sourcing.set_rules(uow=uow, rules=[sourcing.RuleSpec(strategy="PRIORITY", name="no shipping from stores",
                                                                                  exclude=exclude)]), actor="test")


async def reserved_at(db: Any, order: Any) -> Counter[str]:
    async with db.read() as session:
        rows = (await session.execute(select(Warehouse.code, Allocation.quantity).join(Warehouse, Warehouse.id == Allocation.warehouse_id)
                                      .where(Allocation.order_id == order.id))).all()
    units: Counter[str] = Counter()
    for code, quantity in rows:
        units[code] += quantity
    return units


async def explained(db: Any, order: Any) -> dict[str, Any]:
    async with db.read() as session:
        data = (await session.execute(select(OrderEvent.data).where(OrderEvent.order_id == order.id, OrderEvent.type == OrderEventType.PLACED))
                ).scalar_one()
    return dict(data["sourcing"])


async def test_a_rule_excluding_a_store_still_lets_customers_collect_there(db: Any) -> None:
    # given: a rule for every order (no deliveryType) that keeps shipments out of the store
    await setup(db, exclude=["SHOP1"])
    # when: a shipped order and a pickup order at that store, both of 2 A
    shipped = await factories.place(db, [("A", 2)], email="ship@example.com")
    collected = await factories.place(db, [("A", 2)], email="pick@example.com", delivery_method=AT_SHOP1)
    # then: the shipped order avoids the store; the pickup order is reserved there (it used to be OUT_OF_STOCK)
    assert "SHOP1" not in await reserved_at(db, shipped)
    assert await reserved_at(db, collected) == Counter({"SHOP1": 2})
    assert (await explained(db, collected))["excluded"] == []
    assert (await explained(db, shipped))["excluded"] == ["SHOP1"]


async def test_the_rules_exclusions_still_choose_where_a_pickup_shortfall_comes_from(db: Any) -> None:
    # given: a rule excluding the store and MAD
    await setup(db, exclude=["SHOP1", "MAD"])
    # when: a pickup order of 7 A (the store has 5)
    collected = await factories.place(db, [("A", 7)], delivery_method=AT_SHOP1)
    # then: the store's 5, the 2 missing from BCN (transferred), none from the excluded MAD
    assert await reserved_at(db, collected) == Counter({"SHOP1": 5, "BCN": 2})
    assert (await explained(db, collected))["excluded"] == ["MAD"]


async def test_an_edit_adds_units_at_the_store_a_rule_excludes(db: Any) -> None:
    # given: a pickup order at SHOP1 under a rule that excludes the store (for shipped orders)
    await setup(db, exclude=["SHOP1"])
    collected = await factories.place(db, [("A", 2)], delivery_method=AT_SHOP1)
    # when: the customer adds 1 A (an edit reserves a pickup order's added units at its store only)
    async with db.read() as session:
        line_id = (await session.execute(select(OrderLine.id).where(OrderLine.order_id == collected.id))).scalar_one()
    await db.run(lambda uow: edit_flow.edit_order(uow=uow, request=EditRequest(order_id=collected.id, change_lines=[LineQuantity(line_id, 3)]),
                                                  attempt=uuid.uuid4()), actor="test")
    # then: the unit is reserved at the store (it used to be OUT_OF_STOCK)
    assert await reserved_at(db, collected) == Counter({"SHOP1": 3})
