"""A unit of work's session is made when first asked for (issue 16, session 12): placeOrder, whose two statements
commit on their own, makes none and takes one pooled connection; a placement that writes after them (a backorder's
receipt claims) gets a session bound to that same connection, its transaction begun there; nothing may follow a
statement that committed on its own; the connection is given back whatever the unit's end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from app.catalog import receipts as receipt_service
from app.catalog import service as catalog
from app.errors import DomainError, ErrorCode
from app.flows import placement
from app.infra.database import SelfCommit
from app.orders.enums import InventoryPolicy, OrderEventType
from app.orders.service import LineRequest, PlaceOrderRequest
from models import Allocation, Order, OrderEvent
from models.receipts import StockReceipt
from tests import factories
from tests.factories import ADDRESS


def request(lines: list[tuple[str, int]], email: str = "unit@example.com") -> PlaceOrderRequest:
    return PlaceOrderRequest(channel="WEB", email=email, lines=[LineRequest(s, q) for s, q in lines], shipping_address=ADDRESS)


@contextmanager
def watching(db: Any) -> Iterator[dict[str, list[Any]]]:
    """The sessions the units make (their keyword arguments: `bind` when given a connection) and the pool's checkouts."""
    seen: dict[str, list[Any]] = {"sessions": [], "checkouts": []}
    made = db.sessions

    def making(**kw: Any) -> Any:
        seen["sessions"].append(kw)
        return made(**kw)

    def checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        seen["checkouts"].append(record)

    db.sessions = making
    event.listen(db.engine.sync_engine, "checkout", checkout)
    try:
        yield seen
    finally:
        db.sessions = made
        event.remove(db.engine.sync_engine, "checkout", checkout)


async def test_place_order_makes_no_session_and_takes_one_connection(db) -> None:
    await factories.basic_catalog(db)
    with watching(db) as seen:
        placed = await placement.place(db, request=request([("A", 1), ("B", 2)]), actor="test")
    assert seen["sessions"] == []
    assert len(seen["checkouts"]) == 1
    assert db.engine.sync_engine.pool.checkedout() == 0  # given back
    # what it answers is what it committed: the order, its PLACED event (with its cursor)
    async with db.read() as session:
        order = (await session.execute(select(Order).where(Order.id == placed.order.id))).scalar_one()
        seqs = list((await session.execute(select(OrderEvent.seq).where(OrderEvent.order_id == order.id))).scalars())
    assert placed.order.number == order.number and placed.order.change_seq == order.change_seq == max(seqs)
    assert [e["type"] for e in placed.events] == [OrderEventType.PLACED] and [e["seq"] for e in placed.events] == seqs


async def test_a_placement_refused_after_its_catalogue_gives_its_connection_back(db) -> None:
    await factories.basic_catalog(db)
    with watching(db) as seen, pytest.raises(DomainError) as refused:
        await placement.place(db, request=request([("A", 1), ("NOPE", 1)]), actor="test")
    assert refused.value.code == ErrorCode.NOT_FOUND
    assert seen["sessions"] == [] and len(seen["checkouts"]) == 1
    assert db.engine.sync_engine.pool.checkedout() == 0


async def test_a_placement_claiming_receipts_runs_its_transaction_on_the_catalogues_connection(db) -> None:
    await factories.warehouse(db, "MAD", ["WEB"])
    await db.run(lambda uow: catalog.upsert_product(uow=uow, sku="BO", name="Product BO", price="10.00", currency="EUR",
                                                    tax_rate="0.21", inventory_policy=InventoryPolicy.BACKORDER))
    await factories.stock(db, "BO", "MAD", 2)
    receipt = await db.run(lambda uow: receipt_service.schedule_receipt(
        uow=uow, sku="BO", warehouse_code="MAD", quantity=5, expected_at=datetime.now(UTC) + timedelta(days=10)), actor="test")
    with watching(db) as seen:
        placed = await placement.place(db, request=request([("BO", 4)]), actor="test")
    # one session, made after the catalogue's statement and bound to its connection: one checkout in all
    assert len(seen["sessions"]) == 1 and seen["sessions"][0].get("bind") is not None
    assert len(seen["checkouts"]) == 1
    assert db.engine.sync_engine.pool.checkedout() == 0
    async with db.read() as session:
        claimed = (await session.execute(select(StockReceipt.claimed).where(StockReceipt.id == receipt.id))).scalar_one()
        allocations = list((await session.execute(select(Allocation).where(Allocation.order_id == placed.order.id))).scalars())
        events = (await session.execute(select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == placed.order.id))).scalar_one()
    assert claimed == 2  # the order, its on-hand reservation and its claims committed together
    assert sorted((a.receipt_id is not None, a.quantity) for a in allocations) == [(False, 2), (True, 2)]
    assert events == len(placed.events) == 1


async def test_nothing_may_follow_a_statement_that_committed_on_its_own(db) -> None:
    async def work(uow: Any) -> None:
        await uow.fetch_committing("SELECT 1", [], SelfCommit(text("SELECT true"), {}, recover=None))  # type: ignore[arg-type]
        uow.session  # noqa: B018 (asking for the session is sending after it)

    with pytest.raises(RuntimeError, match="nothing may be sent after it"):
        await db.run(work, actor="test")
    assert db.engine.sync_engine.pool.checkedout() == 0
