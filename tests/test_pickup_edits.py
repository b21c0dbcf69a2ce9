"""A READY_FOR_PICKUP order changed while held (issue 19, review19 F4): READY_FOR_PICKUP itself is not editable, but an
order held from it is. An edit that leaves it not ready (a made-to-order line still in production, a unit not at the
store) resumes CONFIRMED on release, its pickup code withdrawn, and staff marks it ready again once it is; an edit
that leaves it ready keeps it READY_FOR_PICKUP and its code. collectOrder checks readiness again in any case: nothing
unmade or absent is ever handed over. `oms check` runs after every test (tests/conftest.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from app.errors import DomainError, ErrorCode
from app.flows import confirmation
from app.flows import edits as edit_flow
from app.flows import holds as hold_flow
from app.flows import pickup as pickup_flow
from app.orders import holds
from app.orders.edits import EditRequest, LineQuantity
from app.orders.enums import DeliveryType, OrderStatus, ProductionStage
from app.orders.service import DeliveryMethod, LineRequest
from models import Order, OrderLine, Warehouse
from tests import factories

AT_SHOP1 = DeliveryMethod(DeliveryType.PICKUP, "SHOP1")


async def ready_order(db: Any, lines: list[tuple[str, int]]) -> Order:
    """SHOP1 (a pickup point) has 5 A; MTO is made to order (5 days). A pickup order of `lines`, READY_FOR_PICKUP."""
    await factories.warehouse(db, "SHOP1", ["WEB"])
    await db.run(lambda uow: uow.session.execute(update(Warehouse).where(Warehouse.code == "SHOP1").values(pickup_point=True)))
    await factories.product(db, "A")
    await factories.product(db, "MTO", "50.00", made_to_order=True, lead_time_days=5)
    await factories.stock(db, "A", "SHOP1", 5)
    order = await factories.place(db, lines, delivery_method=AT_SHOP1)
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    if any(sku == "MTO" for sku, _ in lines):
        await factories.make_ready(db, order)
    return await db.run(lambda uow: pickup_flow.mark_ready_for_pickup(uow=uow, order_id=order.id), actor="test")


async def hold(db: Any, order: Any) -> Order:
    return await db.run(lambda uow: holds.hold_order(uow=uow, order_id=order.id, reason="CUSTOMER_REQUEST"), actor="test")


async def edit(db: Any, order: Any, **changes: Any) -> None:
    await db.run(lambda uow: edit_flow.edit_order(uow=uow, request=EditRequest(order_id=order.id, **changes), attempt=uuid.uuid4()), actor="test")


async def release(db: Any, order: Any) -> Order:
    return await db.run(lambda uow: hold_flow.release_order(uow=uow, order_id=order.id), actor="test")


async def collect(db: Any, order: Any, code: str | None) -> Any:
    return await db.run(lambda uow: pickup_flow.collect_order(uow=uow, order_id=order.id, pickup_code=code or ""), actor="test")


async def stored(db: Any, order: Any) -> Order:
    async with db.read() as session:
        return (await session.execute(select(Order).where(Order.id == order.id))).scalar_one()


async def line_of(db: Any, order: Any, sku: str) -> OrderLine:
    async with db.read() as session:
        return (await session.execute(select(OrderLine).where(OrderLine.order_id == order.id, OrderLine.sku == sku))).scalar_one()


async def test_an_unmade_line_added_while_held_sends_a_ready_order_back_to_confirmed(db: Any) -> None:
    # given: a ready pickup order, held, then a made-to-order line (QUEUED) added to it
    ready = await ready_order(db, [("A", 1)])
    old_code = ready.pickup_code
    await hold(db, ready)
    await edit(db, ready, add_lines=[LineRequest("MTO", 1)])
    # then: it is not ready any more: the hold resumes CONFIRMED and the code is withdrawn
    held = await stored(db, ready)
    assert (held.status, held.held_from, held.pickup_code) == (OrderStatus.ON_HOLD, OrderStatus.CONFIRMED, None)
    released = await release(db, ready)
    assert released.status == OrderStatus.CONFIRMED
    # and the old code collects nothing; it cannot be marked ready while MTO is in production
    with pytest.raises(DomainError) as refused:
        await collect(db, ready, old_code)
    assert refused.value.code == ErrorCode.INVALID_TRANSITION
    with pytest.raises(DomainError) as not_made:
        await db.run(lambda uow: pickup_flow.mark_ready_for_pickup(uow=uow, order_id=ready.id), actor="test")
    assert not_made.value.code == ErrorCode.INVALID_TRANSITION and "MTO" in not_made.value.message
    # when: MTO is made, staff marks it ready again (a new code) and the customer collects everything
    await factories.make_ready(db, ready)
    again = await db.run(lambda uow: pickup_flow.mark_ready_for_pickup(uow=uow, order_id=ready.id), actor="test")
    assert again.status == OrderStatus.READY_FOR_PICKUP and again.pickup_code
    assert (await collect(db, ready, again.pickup_code)).status == OrderStatus.DELIVERED
    mto = await line_of(db, ready, "MTO")
    assert (mto.quantity_shipped, mto.production_stage) == (1, ProductionStage.READY)


async def test_an_edit_that_leaves_a_held_ready_order_ready_keeps_it_ready_and_its_code(db: Any) -> None:
    # given: a ready pickup order of 2 A, held, reduced to 1 A (still all at the store)
    ready = await ready_order(db, [("A", 2)])
    await hold(db, ready)
    line = await line_of(db, ready, "A")
    await edit(db, ready, change_lines=[LineQuantity(line.id, 1)])
    # then: released back to READY_FOR_PICKUP, collected with the code it had
    held = await stored(db, ready)
    assert (held.held_from, held.pickup_code) == (OrderStatus.READY_FOR_PICKUP, ready.pickup_code)
    assert (await release(db, ready)).status == OrderStatus.READY_FOR_PICKUP
    assert (await collect(db, ready, ready.pickup_code)).status == OrderStatus.DELIVERED
    assert (await line_of(db, ready, "A")).quantity_shipped == 1


async def test_collect_checks_readiness_again_and_hands_over_no_unmade_line(db: Any) -> None:
    # given: a ready order whose made-to-order line is found back in production (e.g. failed its last check)
    ready = await ready_order(db, [("A", 1), ("MTO", 1)])
    await db.run(lambda uow: uow.session.execute(
        update(OrderLine).where(OrderLine.order_id == ready.id, OrderLine.sku == "MTO").values(production_stage=ProductionStage.QUALITY_CHECK)))
    # when / then: the right code is refused (INVALID_TRANSITION naming the line); nothing is handed over
    with pytest.raises(DomainError) as refused:
        await collect(db, ready, ready.pickup_code)
    assert refused.value.code == ErrorCode.INVALID_TRANSITION and "MTO" in refused.value.message, refused.value
    assert (await stored(db, ready)).status == OrderStatus.READY_FOR_PICKUP
    assert ((await line_of(db, ready, "A")).quantity_shipped, (await line_of(db, ready, "MTO")).quantity_shipped) == (0, 0)
    # once READY again, the same code collects it
    await db.run(lambda uow: uow.session.execute(
        update(OrderLine).where(OrderLine.order_id == ready.id, OrderLine.sku == "MTO").values(production_stage=ProductionStage.READY)))
    assert (await collect(db, ready, ready.pickup_code)).status == OrderStatus.DELIVERED
