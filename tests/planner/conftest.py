"""Fixtures of the differential suite (issue 15): one database of its own, seeded once, and two apps on it.

The database is created beside the suite's (same PostgreSQL server) so the other tests' TRUNCATE before each
test never empties it, whatever order the tests run in. `pair` builds two apps with create_app: one with
Settings.read_planner=False (the ordinary resolvers), one with True (the read planner). On a branch where
Settings has no `read_planner` field yet, both apps run the same (only) mode and the suite still runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.planner.compare import Pair

HOST = "http://oms.test"


def has_planner_setting() -> bool:
    from app.infra.settings import Settings

    return any(f.name == "read_planner" for f in dataclasses.fields(Settings))


def settings_for(database_url: str, *, planner: bool) -> Any:
    from app.infra.settings import Settings

    base = Settings(database_url=database_url, db_pool_size=5,
                    # No cost bucket: its "currently available" figure depends on timing; the cost itself is still reported.
                    cost_bucket=0,
                    # trackOrder is rate limited per order and per address: the corpus asks it hundreds of times.
                    public_rate_per_order="1000000/minute", public_rate_per_address="1000000/minute")
    return dataclasses.replace(base, read_planner=planner) if has_planner_setting() else base


@pytest.fixture(scope="package")
def difftest_database_url(database_url: str) -> str:
    """A fresh database on the suite's server, migrated to head, for this package only."""
    import asyncpg

    from app.infra.migrate import upgrade_to_head

    plain = database_url.replace("postgresql+asyncpg://", "postgresql://")
    base, _, query = plain.partition("?")
    name = f"oms_difftest_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(plain)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    url = (base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")).replace("postgresql://", "postgresql+asyncpg://")
    upgrade_to_head(url)
    return url


@pytest_asyncio.fixture(scope="package")
async def pair(difftest_database_url: str) -> AsyncIterator[Pair]:
    import httpx

    from app.auth.service import SCOPES
    from server.app import create_app
    from tests.conftest import make_key
    from tests.planner.seed import seed

    off_app = create_app(settings_for(difftest_database_url, planner=False))
    on_app = create_app(settings_for(difftest_database_url, planner=True))
    async with off_app.router.lifespan_context(off_app), on_app.router.lifespan_context(on_app):
        off = httpx.AsyncClient(transport=httpx.ASGITransport(app=off_app), base_url=HOST, timeout=120)
        on = httpx.AsyncClient(transport=httpx.ASGITransport(app=on_app), base_url=HOST, timeout=120)
        async with off, on:
            db = off_app.state.db
            tokens = {scope: await make_key(db, scope, name=f"difftest-{scope}") for scope in sorted(SCOPES)}
            await seed(db, off, tokens["admin"])
            pair = Pair(off, on, tokens, planner=has_planner_setting())
            count_planned(pair, on_app.state.db)
            yield pair
            print(f"\ndifftest: {pair.compared} requests compared both ways; {pair.planned} planner statements")


def count_planned(pair: Pair, db: Any) -> None:
    """Counts the read planner's statements on the planner app's Database (Database.read_json, where it exists), so the
    suite can show that the planner really answered, not the ordinary resolvers in both apps."""
    read_json = getattr(db, "read_json", None)
    if read_json is None:
        return

    async def counted(*args: Any, **kwargs: Any) -> Any:
        pair.planned += 1
        return await read_json(*args, **kwargs)

    db.read_json = counted


@pytest_asyncio.fixture(scope="package")
async def pools(pair: Pair) -> Any:
    from tests.planner.pools import collect

    return await collect(pair)
