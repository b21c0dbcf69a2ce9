"""Event cursors from a sequence plus a visibility horizon (issue 16; app/infra/horizon.py).

What subscribers rely on, under concurrency: every committed event delivered exactly once, in one
total order (the same for every reader, in every process), resumable after any cursor, nothing of a
rolled-back transaction, and the events of one order in the order their transactions took its lock.
The writers here are units of work that draw their numbers the way the application does
(UnitOfWork._flush_events), held open at random points, half of them with a transaction id taken
before the order's lock: exactly the interleavings where "seq + xmin" or "xid order" go wrong.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from sqlalchemy import select, text

from app.infra.database import ASSIGN_XID, UnitOfWork
from app.infra.horizon import EventHorizon
from app.infra.hub import BATCH, LiveHub
from app.orders.enums import OrderEventType
from models import OrderEvent
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import make_key
from tests.live_server import LiveServer, WsClient

WRITERS = 64
EVENTS_PER_WRITER = 200
ORDERS = 32
ROLLBACK = 0.15
FLIP = text("UPDATE orders SET status = CASE WHEN status = 'ON_HOLD' THEN :base ELSE 'ON_HOLD' END WHERE id = :id RETURNING status")
VERSION = text("SELECT count(*) FROM order_events WHERE order_id = :id")

ORDER_CHANGES = """
subscription Changes($after: String) {
  orderStatusChanged(after: $after) { cursor previousStatus status order { id } }
}
"""


class RolledBack(Exception):
    pass


@dataclass
class Log:
    """What the writers did: the numbers of committed and rolled-back events, the commit order, the ids."""

    committed: dict[int, tuple[uuid.UUID, int]] = field(default_factory=dict)  # seq -> (order, version)
    rolled_back: set[int] = field(default_factory=set)
    commit_order: list[list[int]] = field(default_factory=list)
    xid_of: dict[int, int] = field(default_factory=dict)  # seq -> writer's transaction id
    done: asyncio.Event = field(default_factory=asyncio.Event)
    thousand: asyncio.Event = field(default_factory=asyncio.Event)  # 1000 events committed


async def place_orders(db: Any, count: int) -> tuple[list[uuid.UUID], str]:
    await factories.basic_catalog(db)
    await factories.stock(db, "A", "MAD", 10 * count)
    orders = [await factories.place(db, [("A", 1)]) for _ in range(count)]
    return [o.id for o in orders], orders[0].status.value


async def write_one(db: Any, log: Log, writer: int, order_id: uuid.UUID, base: str, count: int, rng: random.Random) -> None:
    rollback = rng.random() < ROLLBACK
    seqs: list[int] = []
    try:
        async with db.sessions() as session, session.begin():
            uow = UnitOfWork(session, f"writer-{writer}")
            if rng.random() < 0.5:
                await session.execute(ASSIGN_XID)  # an id before the order's lock (the xid-order trap)
            status = (await session.execute(FLIP, {"id": order_id, "base": base})).scalar_one()
            # under the lock: every earlier event of this order has committed
            version = (await session.execute(VERSION, {"id": order_id})).scalar_one()
            for step in range(count):  # a status change, then events that keep the status
                previous = (base if status == "ON_HOLD" else "ON_HOLD") if step == 0 else status
                uow.record_event({"order_id": order_id, "type": OrderEventType.STATUS_CHANGED, "status": status,
                                  "previous_status": previous, "channel": "WEB", "data": {"writer": writer, "version": version + step}})
            if rng.random() < 0.3:
                await asyncio.sleep(rng.random() * 0.002)  # slow before drawing: an old id, a late number
            xid = await uow._flush_events()
            seqs = [e["seq"] for e in uow.committed_events]
            if rng.random() < 0.3:
                await asyncio.sleep(rng.random() * 0.004)  # in flight with numbers drawn: the seq+xmin trap
            if rollback:
                raise RolledBack
    except RolledBack:
        log.rolled_back.update(seqs)
        return
    assert xid is not None
    for offset, seq in enumerate(seqs):
        log.committed[seq] = (order_id, version + offset)
        log.xid_of[seq] = xid
    log.commit_order.append(seqs)
    if len(log.committed) >= 1000:
        log.thousand.set()


async def write_all(db: Any, log: Log, order_ids: list[uuid.UUID], base: str, seed: int) -> None:
    async def writer(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        written = 0
        while written < EVENTS_PER_WRITER:
            count = min(rng.randint(1, 4), EVENTS_PER_WRITER - written)
            await write_one(db, log, number, rng.choice(order_ids), base, count, rng)
            written += count

    try:
        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
    finally:
        log.done.set()


async def read_range(db: Any, after: int, upto: int) -> list[int]:
    async with db.read(primary=True) as session:
        statement = select(OrderEvent.seq).where(OrderEvent.seq > after, OrderEvent.seq <= upto).order_by(OrderEvent.seq)
        return list((await session.execute(statement)).scalars().all())


async def final_cursor(log: Log) -> int:
    await log.done.wait()
    return max(log.committed)


@dataclass
class Session:
    after: int
    seen: list[int] = field(default_factory=list)


async def horizon_reader(db: Any, log: Log, start: int, rng: random.Random) -> list[Session]:
    """A reader in its own process (its own horizon), that drops now and then and resumes after a
    random cursor it had received."""
    sessions = [Session(start)]
    horizon, cursor = EventHorizon(db), start
    drop_after = rng.randint(200, 2000)
    while not (log.done.is_set() and cursor >= await final_cursor(log)):
        upto = await horizon.advance()
        if upto > cursor:
            seqs = await read_range(db, cursor, upto)
            sessions[-1].seen += seqs
            cursor = upto
        else:
            await asyncio.sleep(0.01)  # this reader's poll interval
        if len(sessions[-1].seen) > drop_after:
            received = sessions[-1].seen
            cursor = rng.choice(received[len(received) // 2:])
            sessions.append(Session(cursor))
            horizon, drop_after = EventHorizon(db), rng.randint(200, 2000)
    return sessions


async def hub_follower(hub: LiveHub, log: Log, start: int | None, rng: random.Random) -> list[Session]:
    """A subscriber of a live hub that drops and resumes after a random cursor it had received."""
    sessions: list[Session] = []
    after = start
    while True:
        session = Session(after if after is not None else -1)
        sessions.append(session)
        drop_after = rng.randint(300, 3000)
        events = hub.follow(lambda delivery: True, after=after)
        try:
            async for delivery in events:
                session.seen.append(delivery.seq)
                if log.done.is_set() and delivery.seq >= await final_cursor(log):
                    return sessions
                if len(session.seen) > drop_after:
                    break
        finally:
            await events.aclose()
        after = rng.choice(session.seen[len(session.seen) // 2:])


def check_sessions(name: str, sessions: list[Session], canonical: list[int], final: int) -> None:
    for number, session in enumerate(sessions):
        if session.after < 0:  # started "from now": a contiguous run of the log from where it started
            start = bisect.bisect_left(canonical, session.seen[0]) if session.seen else len(canonical)
        else:
            start = bisect.bisect_right(canonical, session.after)
        expected = canonical[start:start + len(session.seen)]
        assert session.seen == expected, f"{name}, session {number} after {session.after}: not the log's order, or a gap/duplicate"
    assert sessions[-1].seen and sessions[-1].seen[-1] == final, f"{name} did not reach the end"


def check_log(log: Log, canonical_rows: list[tuple[int, uuid.UUID, dict[str, Any]]], start: int) -> list[int]:
    canonical = [seq for seq, _, _ in canonical_rows]
    # the log holds exactly the committed events, none of a rolled-back transaction
    assert set(canonical) == set(log.committed)
    assert not log.rolled_back & set(canonical) and log.rolled_back, "rollbacks happened and left only gaps"
    assert len(canonical) < canonical[-1] - start, "the numbers have gaps"
    # causal order per order: in cursor order, each order's versions count up by one
    versions: dict[uuid.UUID, list[int]] = {}
    for _, order_id, data in canonical_rows:
        versions.setdefault(order_id, []).append(data["version"])
    for order_id, seen in versions.items():
        assert seen == list(range(seen[0], seen[0] + len(seen))), f"order {order_id}: events out of causal order"
    # the interleavings that break simpler rules did happen
    commit_inversions = sum(1 for a, b in itertools.pairwise(log.commit_order) if a[0] > b[0])
    assert commit_inversions > 0, "no transaction committed a smaller number after a larger one"
    by_order: dict[uuid.UUID, list[int]] = {}
    for seq in canonical:
        by_order.setdefault(log.committed[seq][0], []).append(log.xid_of[seq])
    xid_inversions = sum(1 for xids in by_order.values() for a, b in itertools.pairwise(xids) if a > b)
    assert xid_inversions > 0, "no order's lock was taken by an older transaction after a younger one"
    return canonical


async def canonical_log(db: Any, start: int) -> list[tuple[int, uuid.UUID, dict[str, Any]]]:
    async with db.read(primary=True) as session:
        rows = (await session.execute(
            select(OrderEvent.seq, OrderEvent.order_id, OrderEvent.data).where(OrderEvent.seq > start).order_by(OrderEvent.seq)
        )).all()
    return [(seq, order_id, data) for seq, order_id, data in rows]


@pytest.mark.timeout(240)
async def test_64_writers_with_rollbacks_every_reader_gets_every_committed_event_once_in_one_order(db):
    # given: 32 orders; readers of their own (three horizon readers, two live hubs with two subscribers each)
    order_ids, base = await place_orders(db, ORDERS)
    log = Log()
    previous_publisher = db.publisher
    hubs = [LiveHub(db, "memory://", poll_interval=0.05) for _ in range(2)]
    for hub in hubs:
        await hub.start()
    try:
        start = await hubs[0].committed_cursor()
        rng = random.Random(16)
        # when: 64 writers x 200 events, 15 % of the transactions rolled back after drawing their numbers
        writing = asyncio.create_task(write_all(db, log, order_ids, base, seed=16))
        readers = [asyncio.create_task(horizon_reader(db, log, start, random.Random(n))) for n in range(3)]
        followers = [asyncio.create_task(hub_follower(hub, log, start, random.Random(10 + n))) for n, hub in enumerate(hubs * 2)]
        # one more subscriber "from now", opened while the writers run
        await log.thousand.wait()
        followers.append(asyncio.create_task(hub_follower(hubs[1], log, None, rng)))
        await writing
        results = await asyncio.wait_for(asyncio.gather(*readers, *followers), 60)
        # then
        canonical = check_log(log, await canonical_log(db, start), start)
        final = canonical[-1]
        assert len(canonical) > 0.7 * WRITERS * EVENTS_PER_WRITER
        for number, sessions in enumerate(results):
            check_sessions(f"reader {number}", sessions, canonical, final)
        assert all(len(sessions) > 1 for sessions in results[:3]), "every horizon reader resumed at least once"
        assert all(hub.last_seq >= final for hub in hubs)
    finally:
        for hub in hubs:
            await hub.stop()
        db.publisher = previous_publisher


async def test_a_number_drawn_by_a_transaction_in_flight_holds_the_horizon_below_it(db):
    # given: two orders; T2 takes its id after T1 but draws the smaller number, and stays open
    order_ids, base = await place_orders(db, 2)
    horizon = EventHorizon(db)
    start = await horizon.now()
    async with db.sessions() as s1, db.sessions() as s2:  # each begins with its first statement
        t1, t2 = UnitOfWork(s1, "t1"), UnitOfWork(s2, "t2")
        x1 = (await s1.execute(ASSIGN_XID)).scalar_one()
        x2 = (await s2.execute(ASSIGN_XID)).scalar_one()
        t2.record_event(event(order_ids[0], status=base, previous=base))
        await t2._flush_events()
        t1.record_event(event(order_ids[1], status=base, previous=base))
        await t1._flush_events()
        ten, eleven = t2.committed_events[0]["seq"], t1.committed_events[0]["seq"]
        assert x1 < x2 and ten < eleven
        await s1.commit()
        # when: T1 (older id, number 11) has committed, T2 (number 10) is in flight
        # then: "xid below the oldest in flight" would hand out 11 now, and lose 10 for a reader resuming after it ...
        async with db.read(primary=True) as session:
            naive = (await session.execute(text(
                "SELECT max(seq) FROM order_events WHERE xmin::text::bigint < pg_snapshot_xmin(pg_current_snapshot())::text::bigint % 4294967296"
            ))).scalar_one()
        assert naive == eleven
        # ... while the horizon stays below 10, however often it is asked
        for _ in range(5):
            assert await horizon.advance() < ten
        await s2.commit()
    # and once T2 has committed, both are delivered, 10 first
    for _ in range(3):
        await horizon.advance()
    assert horizon.confirmed >= eleven
    assert await read_range(db, start, horizon.confirmed) == [ten, eleven]


async def test_the_events_of_one_order_follow_its_lock_order_not_the_transaction_ids(db):
    # given: T1 takes its id first; T2 takes the order's lock, records and commits; then T1 takes the lock
    (order_id,), base = await place_orders(db, 1)
    horizon = EventHorizon(db)
    start = await horizon.now()
    async with db.sessions() as s1, s1.begin():
        t1 = UnitOfWork(s1, "t1")
        x1 = (await s1.execute(ASSIGN_XID)).scalar_one()
        async with db.sessions() as s2, s2.begin():
            t2 = UnitOfWork(s2, "t2")
            status = (await s2.execute(FLIP, {"id": order_id, "base": base})).scalar_one()
            t2.record_event(event(order_id, status=status, previous=base))
            x2 = await t2._flush_events()
        status = (await s1.execute(FLIP, {"id": order_id, "base": base})).scalar_one()
        t1.record_event(event(order_id, status=status, previous="ON_HOLD"))
        await t1._flush_events()
    # then: T2's event comes first (it had the lock first), though T1's id is smaller
    assert x2 is not None and x1 < x2
    confirmed = await horizon.now()
    assert await read_range(db, start, confirmed) == [t2.committed_events[0]["seq"], t1.committed_events[0]["seq"]]


def event(order_id: uuid.UUID, *, status: str, previous: str) -> dict[str, Any]:
    return {"order_id": order_id, "type": OrderEventType.STATUS_CHANGED, "status": status, "previous_status": previous,
            "channel": "WEB", "data": None}


async def test_hub_batches_a_range_larger_than_one_read(db):
    # given: more events in one transaction than the hub reads at once
    order_ids, base = await place_orders(db, 1)
    previous_publisher = db.publisher
    hub = LiveHub(db, "memory://", poll_interval=0.05)
    await hub.start()
    try:
        start = hub.last_seq
        events = hub.follow(lambda delivery: True, after=start)
        async with db.sessions() as session, session.begin():
            uow = UnitOfWork(session, "bulk")
            for _ in range(BATCH + 7):
                uow.record_event(event(order_ids[0], status=base, previous=base))
            await uow._flush_events()
        seqs = [e["seq"] for e in uow.committed_events]
        # when / then: every one, in order, once
        received = [(await asyncio.wait_for(events.__anext__(), 10)).seq for _ in seqs]
        assert received == seqs == sorted(seqs)
        await events.aclose()
    finally:
        await hub.stop()
        db.publisher = previous_publisher


async def test_a_hub_without_subscribers_moves_past_new_events_unread_and_a_later_follower_replays_them(db):
    # given: a hub nobody subscribes to
    order_ids, base = await place_orders(db, 1)
    previous_publisher = db.publisher
    hub = LiveHub(db, "memory://", poll_interval=0.05)
    await hub.start()
    try:
        start = hub.last_seq
        with db.count_statements() as counted:
            # when: events commit and the hub catches up
            async with db.sessions() as session, session.begin():
                uow = UnitOfWork(session, "unread")
                for _ in range(3):
                    uow.record_event(event(order_ids[0], status=base, previous=base))
                await uow._flush_events()
            seqs = [e["seq"] for e in uow.committed_events]
            hub.wake()
            await asyncio.wait_for(hub.wait_until(lambda: hub.last_seq >= seqs[-1]), 10)
        # then: it moved past them without reading them (the horizon's own statements only)
        assert not any("order_events.data" in s for s in counted.statements), counted.statements
        # and a follower from before them, registered now, still gets every one, in order, once
        events = hub.follow(lambda delivery: True, after=start)
        received = [(await asyncio.wait_for(events.__anext__(), 10)).seq for _ in seqs]
        assert received == seqs
        await events.aclose()
    finally:
        await hub.stop()
        db.publisher = previous_publisher


@pytest.mark.timeout(180)
async def test_a_subscriber_of_another_process_resumes_after_a_random_cursor_with_gaps_and_misses_nothing(database_url, app, db):
    # given: a server in its own process, a subscriber on it, and writers that roll back a part of their transactions
    order_ids, base = await place_orders(db, 4)
    token = await make_key(db, "orders:read", "orders:write", name="cursor-reader")
    server = await LiveServer(database_url).start()
    try:
        start = await EventHorizon(db).now()
        ws = await WsClient(server.ws_url).connect(token)
        sub = await server.subscribe(ws, ORDER_CHANGES, {"after": str(start)})
        log = Log()
        rng = random.Random(7)

        async def writers() -> None:
            async def one(number: int) -> None:
                for _ in range(40):
                    await write_one(db, log, number, rng.choice(order_ids), base, 1, rng)  # status changes only

            try:
                await asyncio.gather(*(one(n) for n in range(8)))
            finally:
                log.done.set()

        writing = asyncio.create_task(writers())
        received: list[dict[str, Any]] = []
        while len(received) < 120:
            received.append((await ws.data(sub, timeout=15))["orderStatusChanged"])
        # when: it drops, and resumes after a cursor it had received (not the last: some come again)
        await ws.drop()
        resume = rng.choice(received[40:])["cursor"]
        kept = [r for r in received if int(r["cursor"]) <= int(resume)]
        ws = await WsClient(server.ws_url).connect(token)
        sub = await server.subscribe(ws, ORDER_CHANGES, {"after": resume})
        await writing
        final = max(log.committed)
        while int(kept[-1]["cursor"]) < final:
            kept.append((await ws.data(sub, timeout=15))["orderStatusChanged"])
        # then: exactly the committed events, in cursor order, each once, with gaps where rollbacks were
        canonical = [seq for seq, _, _ in await canonical_log(db, start)]
        assert [int(r["cursor"]) for r in kept] == canonical == sorted(log.committed)
        assert log.rolled_back and not log.rolled_back & set(canonical)
        ids = {to_global_id("Order", o) for o in order_ids}
        assert {r["order"]["id"] for r in kept} <= ids
        assert await ws.nothing_for(sub, 0.5)
        await ws.close()
    finally:
        await server.stop()


def test_a_candidate_horizon_is_confirmed_only_once_its_wal_is_flushed_on_the_same_server_start():
    """A crash can lose the sequence's WAL record of a batch no COMMIT flushed; the restarted sequence then hands those
    numbers out again. A candidate that passes numbers without events (a rollback's) waits for its WAL, and one taken
    before a restart is dropped (migration 0022). The rows are order_event_horizon's, written out."""
    horizon = EventHorizon(cast(Any, None))  # (_absorb reads no database)

    def row(*, xmin: int, run: int, last: int, xid: int | None, written: str, flushed: str, started: str = "s1") -> dict[str, Any]:
        return {"xmin": xmin, "run": run, "lsn": written, "last": last, "xid": xid, "written": written, "flushed": flushed, "started": started}

    # given: events 1..5 committed; 6..10 drawn by writers that rolled back; a sample at last = 10 under id 100
    horizon._absorb(row(xmin=90, run=5, last=10, xid=100, written="0/2000", flushed="0/1000"))
    assert horizon.confirmed == 5 and horizon.pending
    # when: every writer has ended (xmin past 100) but the WAL after the sample is not on disk yet: not confirmed
    horizon._absorb(row(xmin=101, run=5, last=10, xid=None, written="0/2100", flushed="0/1FFF"))
    assert horizon.confirmed == 5 and horizon.pending
    # then: once it is flushed, 10 is final
    horizon._absorb(row(xmin=101, run=5, last=10, xid=None, written="0/2200", flushed="0/2000"))
    assert horizon.confirmed == 10 and not horizon.pending

    # given: a new sample at last = 20 (11..20 rolled back), then the server restarts (another start time) ...
    horizon._absorb(row(xmin=101, run=10, last=20, xid=102, written="0/3000", flushed="0/2000"))
    assert horizon.pending
    # ... where WAL positions and ids below the lost ones are handed out again: the old candidate is never confirmed
    horizon._absorb(row(xmin=150, run=10, last=14, xid=None, written="0/2800", flushed="0/9000", started="s2"))
    assert horizon.confirmed == 10 and not horizon.pending and horizon.sampled == 10
    # and the next call samples anew on the new start, confirmed as any other
    horizon._absorb(row(xmin=150, run=10, last=14, xid=151, written="0/9100", flushed="0/9000", started="s2"))
    horizon._absorb(row(xmin=152, run=10, last=14, xid=None, written="0/9200", flushed="0/9100", started="s2"))
    assert horizon.confirmed == 14
