"""'Changed since' sync (issue 17): `orders(sort: {field: UPDATED_AT, direction: ASC}, after: cursor)` never skips a
change, even one committed after a later one (change_seq under the event horizon); ties by id; updatedAfter uses the
database clock at commit."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from typing import Any

from sqlalchemy import select, text

from app.infra.database import UnitOfWork
from app.orders import metadata
from models import Order
from resolvers.ids import to_global_id
from server.app import GraphQLApp
from tests import factories

SYNC = """query($after: String, $first: Int) {
  orders(first: $first, after: $after, sort: {field: UPDATED_AT, direction: ASC}) {
    edges { cursor node { id number updatedAt metadata { key value } } } pageInfo { hasNextPage endCursor } } }"""
WRITERS = 8
CHANGES_PER_WRITER = 25
ORDERS = 60


def view(app: Any) -> GraphQLApp:
    return next(route.endpoint for route in app.router.routes if isinstance(getattr(route, "endpoint", None), GraphQLApp))


class Poller:
    """A partner's sync loop: pages UPDATED_AT ASC from its last cursor, never from the start again."""

    def __init__(self, gql: Any) -> None:
        self.gql, self.cursor = gql, None
        self.seen: dict[str, dict[str, str]] = {}  # order id -> its metadata as last seen
        self.pages = 0

    async def poll(self, first: int = 7) -> list[str]:
        numbers = []
        while True:
            body = await self.gql(SYNC, {"after": self.cursor, "first": first})
            assert "errors" not in body, body
            page = body["data"]["orders"]
            self.pages += 1
            for edge in page["edges"]:
                node = edge["node"]
                self.seen[node["id"]] = {item["key"]: item["value"] for item in node["metadata"]}
                numbers.append(node["number"])
                self.cursor = edge["cursor"]
            if not page["pageInfo"]["hasNextPage"]:
                return numbers


async def change(db: Any, order_id: uuid.UUID, value: str) -> UnitOfWork:
    """Opens a transaction that changes the order and draws its event number, and returns it still open."""
    session = db.sessions()
    await session.begin()
    uow = UnitOfWork(session, "sync-test")
    await metadata.update_metadata(uow=uow, order_id=order_id, set_=[metadata.Item("v", value)], remove=[], private=False)
    await session.flush()
    await uow._flush_events()
    return uow


async def test_a_change_committed_after_a_later_one_is_not_skipped(gql, db, app):
    await factories.basic_catalog(db)
    a = await factories.place(db, [("A", 1)], email="a@example.com")
    b = await factories.place(db, [("A", 1)], email="b@example.com")
    graphql, original = view(app), view(app).settings
    try:
        for planner in (True, False):
            graphql.settings = dataclasses.replace(original, read_planner=planner)
            poller = Poller(gql)
            assert set(await poller.poll()) == {a.number, b.number}
            # given: T1 changes A and draws its number, T2 then changes B (a larger number) and commits first
            t1 = await change(db, a.id, f"a-{planner}")
            t2 = await change(db, b.id, f"b-{planner}")
            await t2.session.commit()
            await t2.session.close()
            assert t1.committed_events[0]["seq"] < t2.committed_events[0]["seq"]
            # when: the partner polls while T1 is in flight
            first = await poller.poll()
            # then: B is not shown past A's number yet (a reader ordering by the committed rows alone would show B,
            # move its cursor past A's number, and never see A's change)
            async with db.read() as session:
                naive = (await session.execute(select(Order.number).where(Order.change_seq > t1.committed_events[0]["seq"] - 1)
                                               .order_by(Order.change_seq))).scalars().all()
            assert naive == [b.number]
            assert b.number not in first
            await t1.session.commit()
            await t1.session.close()
            # and once T1 committed, the next poll from the same cursor brings both, A first
            assert await poller.poll() == [a.number, b.number]
            assert poller.seen[to_global_id("Order", a.id)] == {"v": f"a-{planner}"}
            assert poller.seen[to_global_id("Order", b.id)] == {"v": f"b-{planner}"}
            assert await poller.poll() == []
    finally:
        graphql.settings = original


async def test_concurrent_writers_and_a_poller_miss_no_final_change(gql, db):
    # given: orders changed by 8 concurrent writers, some holding their transaction open after drawing their number
    await factories.basic_catalog(db)
    await factories.stock(db, "A", "MAD", ORDERS)
    order_ids = [(await factories.place(db, [("A", 1)], email=f"s{i}@example.com")).id for i in range(ORDERS)]
    poller = Poller(gql)
    await poller.poll()
    done = asyncio.Event()

    async def writer(number: int) -> None:
        rng = random.Random(number)
        for step in range(CHANGES_PER_WRITER):
            uow = await change(db, rng.choice(order_ids), f"w{number}-{step}")
            await asyncio.sleep(rng.random() * 0.02 if rng.random() < 0.5 else 0)  # in flight with its number drawn: late commits
            await uow.session.commit()
            await uow.session.close()

    async def poll_until_done() -> None:
        while not done.is_set():
            await poller.poll(first=5)

    polling = asyncio.create_task(poll_until_done())
    await asyncio.gather(*(writer(n) for n in range(WRITERS)))
    done.set()
    await polling
    # when: the writers stopped, the poller catches up once more from its cursor
    await poller.poll()
    # then: every order's final metadata (its last change) was seen, though the poller never restarted
    async with db.read() as session:
        final = dict((await session.execute(select(Order.id, Order.public_metadata))).all())
    assert poller.pages > 3
    missing = {str(order_id): (values, poller.seen.get(to_global_id("Order", order_id)))
               for order_id, values in final.items() if poller.seen.get(to_global_id("Order", order_id)) != values}
    assert not missing, missing


async def test_change_seq_is_the_last_event_and_updated_at_the_database_clock_at_commit(gql, db):
    await factories.basic_catalog(db)
    order = await factories.place(db, [("A", 1)])
    async with db.read() as session:
        before = (await session.execute(text("SELECT clock_timestamp()"))).scalar_one()
    uow = await change(db, order.id, "1")
    await uow.session.commit()
    await uow.session.close()
    async with db.read() as session:
        row = (await session.execute(select(Order.change_seq, Order.updated_at).where(Order.id == order.id))).one()
        last = (await session.execute(text("SELECT max(seq) FROM order_events WHERE order_id = :id"), {"id": order.id})).scalar_one()
    assert row.change_seq == last == uow.committed_events[-1]["seq"]
    assert row.updated_at > before
    later = await gql("query($t: DateTime) { orders(filter: {updatedAfter: $t}) { edges { node { number } } } }", {"t": before.isoformat()})
    assert [e["node"]["number"] for e in later["data"]["orders"]["edges"]] == [order.number]


async def test_updated_at_sort_pages_descending_too_and_ties_break_by_id(gql, db):
    await factories.basic_catalog(db)
    orders = [await factories.place(db, [("A", 1)], email=f"d{i}@example.com") for i in range(5)]
    # two orders with the same change_seq (as rows migrated without events would be): the id decides
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE orders SET change_seq = 1 WHERE id IN (:a, :b)"), {"a": orders[0].id, "b": orders[1].id})
    query = """query($after: String, $d: SortDirection!) { orders(first: 2, after: $after, sort: {field: UPDATED_AT, direction: $d}) {
      edges { node { number } } pageInfo { hasNextPage endCursor } } }"""
    for direction in ("ASC", "DESC"):
        numbers: list[str] = []
        after = None
        while True:
            page = (await gql(query, {"after": after, "d": direction}))["data"]["orders"]
            numbers += [e["node"]["number"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        tied = sorted(orders[:2], key=lambda o: str(o.id))
        expected = [o.number for o in tied] + [o.number for o in orders[2:]]
        assert numbers == (expected if direction == "ASC" else expected[::-1])
