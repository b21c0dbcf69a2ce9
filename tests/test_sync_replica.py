"""'Changed since' with a read replica (issue 17): a lagging replica can show a later change and hide an earlier one
committed after it; the UPDATED_AT sort reads the replica only once it has replayed the horizon, so nothing is skipped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from app.infra.database import Database
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import make_key
from tests.live_server import LiveServer
from tests.pg_cluster import PgCluster, cleanup, start_cluster
from tests.test_sync import SYNC, change


@pytest_asyncio.fixture(scope="module")
async def replicated() -> AsyncIterator[tuple[PgCluster, LiveServer, Database, str]]:
    base, primary = await asyncio.to_thread(start_cluster)
    replica = await asyncio.to_thread(primary.make_replica)
    db = Database(primary.database_url(), pool_size=4)
    server = None
    try:
        await factories.basic_catalog(db)
        reader = await make_key(db, "admin", name="poller")
        server = await LiveServer(primary.database_url(), env={
            "DATABASE_REPLICA_URL": replica.database_url(), "OMS_REPLICA_MAX_WAIT_MS": "200"}).start()
        yield replica, server, db, reader
    finally:
        if server is not None:
            await server.stop()
        await db.dispose()
        await asyncio.to_thread(cleanup, base, replica, primary)


class RemotePoller:
    def __init__(self, server: LiveServer, token: str) -> None:
        self.server, self.token, self.cursor = server, token, None
        self.seen: dict[str, dict[str, str]] = {}

    async def poll(self) -> list[str]:
        numbers: list[str] = []
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                response = await client.post(self.server.http_url + "/graphql", json={"query": SYNC, "variables": {"after": self.cursor, "first": 10}},
                                             headers={"Authorization": f"Bearer {self.token}"})
                page = response.json()["data"]["orders"]
                for edge in page["edges"]:
                    self.seen[edge["node"]["id"]] = {i["key"]: i["value"] for i in edge["node"]["metadata"]}
                    numbers.append(edge["node"]["number"])
                    self.cursor = edge["cursor"]
                if not page["pageInfo"]["hasNextPage"]:
                    return numbers


async def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 20
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)  # polling a condition (the replica's replay), not a fixed wait


async def test_a_lagging_replica_never_makes_the_poller_skip_a_late_commit(replicated):
    replica, server, db, token = replicated
    a = await factories.place(db, [("A", 1)], email="ra@example.com")
    b = await factories.place(db, [("A", 1)], email="rb@example.com")
    poller = RemotePoller(server, token)
    seen: list[str] = []

    async def both_seen() -> bool:
        seen.extend(await poller.poll())
        return {a.number, b.number} <= set(seen)

    await wait_for(both_seen, "the poller never saw the two orders")
    # given: T1 changes A and draws its number; T2 changes B (a larger number) and commits; the replica replays T2 ...
    t1 = await change(db, a.id, "late")
    t2 = await change(db, b.id, "early")
    await t2.session.commit()
    await t2.session.close()
    s2 = t2.committed_events[0]["seq"]

    async def replica_has_t2() -> bool:
        return await asyncio.to_thread(replica.psql, f"SELECT change_seq FROM orders WHERE id = '{b.id}'", "oms") == str(s2)

    await wait_for(replica_has_t2, "the replica never replayed T2")
    # ... and then stops replaying, before T1 commits
    replica.psql("SELECT pg_wal_replay_pause()")
    try:
        await t1.session.commit()
        await t1.session.close()
        # when: the partner polls (the replica shows B's change, not A's)
        numbers = await poller.poll()
    finally:
        replica.psql("SELECT pg_wal_replay_resume()")
    # then: both changes, A first (read on the primary: the replica had not replayed the horizon)
    assert numbers == [a.number, b.number]
    assert poller.seen[to_global_id("Order", a.id)] == {"v": "late"}
    assert await poller.poll() == []
