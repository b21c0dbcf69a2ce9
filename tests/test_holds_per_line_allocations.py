"""Allocations attach per order line (issue 18, research §0): two lines of one SKU with different customizations
each get exactly their own units, in position order, on every placement path (one transaction, card in two
steps, the re-plan after stock moved)."""

from __future__ import annotations

import uuid
from collections import defaultdict

import pytest
from sqlalchemy import select

from app.billing import config
from app.billing.providers import get_provider
from app.billing.providers.test import OfflineProvider
from app.catalog import service as catalog
from app.flows import placement
from app.orders import service as orders
from app.orders.allocation import Pick
from app.orders.service import LineRequest, PlaceOrderRequest
from models import Allocation, OrderLine, StockLevel, Warehouse
from resolvers.ids import from_global_id
from tests import factories
from tests.factories import ADDRESS, ADDRESS_INPUT

PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { id number status } userErrors { code field message } }
}
"""


@pytest.fixture
def provider() -> OfflineProvider:
    gateway = get_provider(config.settings())
    assert isinstance(gateway, OfflineProvider)
    gateway.reset()
    return gateway


async def split_catalog(db) -> None:
    """SKU "S" with 4 units in W1 and 4 in W2 (which alone also has "T"): an order of 3 + 5 needs both warehouses."""
    await factories.warehouse(db, "W1", ["WEB"])
    await factories.warehouse(db, "W2", ["WEB"])
    await factories.product(db, "S")
    await factories.product(db, "T")
    await factories.stock(db, "S", "W1", 4)
    await factories.stock(db, "S", "W2", 4)
    await factories.stock(db, "T", "W2", 10)


LINES = [LineRequest("S", 3, {"engraving": "ANA"}), LineRequest("T", 2), LineRequest("S", 5, {"engraving": "LUIS"})]


async def allocations_by_line(db, order_id: uuid.UUID) -> dict[int, dict[str, int]]:
    """position -> {warehouse code: units}"""
    async with db.read() as session:
        rows = (await session.execute(
            select(OrderLine.position, OrderLine.quantity, Allocation.quantity, StockLevel.warehouse_id)
            .join(Allocation, Allocation.order_line_id == OrderLine.id)
            .join(StockLevel, (StockLevel.sku == Allocation.sku) & (StockLevel.warehouse_id == Allocation.warehouse_id))
            .where(OrderLine.order_id == order_id)
        )).all()
        codes = {w.id: w.code for w in (await session.execute(select(Warehouse))).scalars()}
    result: dict[int, dict[str, int]] = defaultdict(dict)
    for position, line_quantity, quantity, warehouse_id in rows:
        result[position][codes[warehouse_id]] = result[position].get(codes[warehouse_id], 0) + quantity
        assert quantity <= line_quantity
    return dict(result)


EXPECTED = {0: {"W2": 3}, 1: {"W2": 2}, 2: {"W2": 1, "W1": 4}}  # W2 ranks first: it also has T


def test_per_line_splits_the_picks_over_the_lines_in_position_order() -> None:
    w1, w2, l1, l2, l3 = (uuid.uuid4() for _ in range(5))
    picks = [Pick(uuid.uuid4(), "S", w1, 4), Pick(uuid.uuid4(), "S", w2, 4), Pick(uuid.uuid4(), "T", w2, 2)]
    shares = orders.per_line(picks, [(l1, "S", 3), (l2, "T", 2), (l3, "S", 5)])
    assert [(line, p.sku, p.warehouse_id, p.quantity) for line, p in shares] == [
        (l1, "S", w1, 3), (l2, "T", w2, 2), (l3, "S", w1, 1), (l3, "S", w2, 4),
    ]
    with pytest.raises(AssertionError):
        orders.per_line(picks[:1], [(l1, "S", 5)])


async def test_one_transaction_placement_allocates_each_line_its_own_units(db) -> None:
    await split_catalog(db)
    request = PlaceOrderRequest(channel="WEB", email="a@example.com", lines=LINES, shipping_address=ADDRESS)  # type: ignore[arg-type]
    order = await db.run(lambda uow: placement.place_order(uow=uow, request=request))
    assert await allocations_by_line(db, order.id) == EXPECTED


async def test_card_placement_allocates_each_line_its_own_units(gql, db, provider) -> None:
    await split_catalog(db)
    body = await gql(PLACE, {"input": {
        "channel": "WEB", "email": "a@example.com", "shippingAddress": ADDRESS_INPUT, "payment": {"method": "CARD", "token": "test_approve"},
        "lines": [{"sku": line.sku, "quantity": line.quantity, "customization": line.customization} for line in LINES],
    }})
    assert body["data"]["placeOrder"]["userErrors"] == []
    decoded = from_global_id(body["data"]["placeOrder"]["order"]["id"])
    assert decoded is not None
    order_id = decoded[1]
    assert await allocations_by_line(db, order_id) == EXPECTED


async def test_a_re_plan_after_stock_moved_still_allocates_per_line(db) -> None:
    # given: the plan (W1 4 + W2 4) is made; before the reservation W1 loses 3 units and W2 receives 4
    await split_catalog(db)
    request = PlaceOrderRequest(channel="WEB", email="a@example.com", lines=LINES, shipping_address=ADDRESS)  # type: ignore[arg-type]

    async def work(uow):  # type: ignore[no-untyped-def]
        planned = await orders.plan_placement(uow=uow, request=request)
        assert isinstance(planned, orders.Placement)
        # stock moves under the snapshot: W1 loses 3 units (another transaction, committed)
        await db.run(lambda other: catalog.adjust_stock(uow=other, sku="S", warehouse_code="W1", delta=-3, reason="damaged"))
        await db.run(lambda other: catalog.adjust_stock(uow=other, sku="S", warehouse_code="W2", delta=4, reason="receipt"))
        order, stocked = await orders.create_order(uow=uow, placement=planned, estimated_delivery_date=None)
        reserved = await orders.reserve_for_order(uow=uow, order=order, placement=planned, stocked=stocked)
        assert reserved.picks != planned.picks  # it did re-plan
        return order

    order = await db.run(work)
    by_line = await allocations_by_line(db, order.id)
    assert by_line == {0: {"W2": 3}, 1: {"W2": 2}, 2: {"W2": 5}}
