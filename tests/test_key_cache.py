"""The API-key cache (issue 16): a cached key costs no statement; a revocation empties every process's
cache through the broadcast within a second (two `oms serve` processes, `oms apikey revoke` from a third);
an expired key stops answering without any message."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
from sqlalchemy import text

from app.auth.cache import KeyCache
from app.auth.service import Principal, revoke_api_key
from tests.conftest import make_key
from tests.live_server import ROOT, LiveServer, plain_pg_url

COUNT = "{ orders(first: 1) { totalCount } }"


def key_statements(statements: list[str]) -> list[str]:
    return [s for s in statements if "api_keys" in s]


async def test_a_cached_key_costs_no_statement(gql, db) -> None:
    token = await make_key(db, "orders:read", name="cached")
    with db.count_statements() as first:
        assert (await gql(COUNT, token=token))["data"]["orders"]["totalCount"] == 0
    with db.count_statements() as second:
        assert (await gql(COUNT, token=token))["data"]["orders"]["totalCount"] == 0
    assert len(key_statements(first.statements)) == 1
    assert key_statements(second.statements) == []


async def test_revoking_a_key_refuses_it_at_once_in_this_process(gql, db) -> None:
    token = await make_key(db, "orders:read", name="soon-revoked")
    assert "data" in await gql(COUNT, token=token)
    await db.run(lambda uow: revoke_api_key(uow=uow, name="soon-revoked"))
    body = await gql(COUNT, token=token)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_cache_entries_age_out_and_expire_with_their_key() -> None:
    now = [0.0]
    cache = KeyCache(10, clock=lambda: now[0])
    principal = Principal("k", frozenset({"orders:read"}), "id-1")
    cache.put("h1", principal, None, generation=cache.generation)
    cache.put("h2", principal, datetime.now(UTC) - timedelta(seconds=1), generation=cache.generation)
    assert cache.get("h1") is principal
    assert cache.get("h2") is None  # the key itself expired: looked up again (and refused there)
    now[0] = 10.0
    assert cache.get("h1") is None


def test_a_lookup_overtaken_by_a_revocation_is_not_cached() -> None:
    cache = KeyCache(60)
    principal = Principal("k", frozenset({"orders:read"}), "id-1")
    started = cache.generation  # a lookup begins ...
    cache.on_message({"revoked": ["id-1"]})  # ... the revocation's message arrives meanwhile ...
    cache.put("h", principal, None, generation=started)  # ... its (stale) answer is not kept
    assert cache.get("h") is None
    cache.put("h", principal, None, generation=cache.generation)
    assert cache.get("h") is principal
    cache.on_message({"revoked": ["id-2"]})
    assert cache.get("h") is principal  # another key's revocation leaves it
    cache.on_message({"revoked": ["id-1"]})
    assert cache.get("h") is None


@pytest_asyncio.fixture(scope="module")
async def servers(database_url: str, app: Any):
    """Two `oms serve` processes sharing the test database, broadcasting over PostgreSQL."""
    pair = [LiveServer(database_url, broadcast_url=plain_pg_url(database_url)) for _ in range(2)]
    await asyncio.gather(*(server.start() for server in pair))
    yield pair
    for server in pair:
        await server.stop()


async def accepted(server: LiveServer, token: str) -> bool:
    body = await server.gql(COUNT, token=token)
    if "data" in body and body["data"] and body["data"]["orders"] is not None:
        return True
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
    return False


async def test_a_revocation_from_another_process_reaches_every_server_within_a_second(servers, db, database_url) -> None:
    one, two = servers
    sql_revoked = await make_key(db, "orders:read", name="revoked-in-sql")
    cli_revoked = await make_key(db, "orders:read", name="revoked-by-cli")
    for server in servers:
        assert await accepted(server, sql_revoked) and await accepted(server, cli_revoked)

    # Revoked behind the servers' backs (no message): both keep serving it from their caches, which shows
    # that a cached key is not looked up again.
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE api_keys SET revoked_at = now() WHERE name = 'revoked-in-sql'"))
    assert await accepted(one, sql_revoked) and await accepted(two, sql_revoked)

    env = {**os.environ, "DATABASE_URL": database_url, "BROADCAST_URL": plain_pg_url(database_url)}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server.cli", "apikey", "revoke", "--name", "revoked-by-cli"],
        cwd=ROOT, env=env, capture_output=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    revoked_at = time.monotonic()
    for server in servers:
        while await accepted(server, cli_revoked):
            assert time.monotonic() - revoked_at < 1.0, "a server still accepted the revoked key after 1 s"
    assert await accepted(one, sql_revoked)  # a message names the keys it revokes: the other stays cached
