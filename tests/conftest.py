"""Test fixtures: a real PostgreSQL (embedded, or TEST_DATABASE_URL), the app with its lifespan, an HTTP client.

Nothing starts until a test asks for it: `database_url` (PostgreSQL, migrated), `app`
and `db` are session-scoped and not autouse, and this module imports the app only
inside them, so tests that need none of them (the unit tests) run without PostgreSQL.

Each test that uses the database starts from empty tables; concurrency tests need
real commits, so isolation is by TRUNCATE rather than a rolled-back outer transaction.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    import httpx

    from app.infra.database import Database

# carriers: reference data seeded by migration 0002, like the counters row.
KEEP_TABLES = {"alembic_version", "counters", "carriers"}
# After pytest is done, the interpreter still joins threads and runs atexit handlers (the embedded
# PostgreSQL's `pg_ctl -w stop`); if that takes this long, print every thread's stack and exit.
EXIT_TIMEOUT = 300


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # pytest-timeout (pyproject.toml) covers each test with its fixtures; this covers what comes after.
    faulthandler.dump_traceback_later(EXIT_TIMEOUT, exit=True, file=sys.__stderr__)


def _server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    from app.infra.embedded_pg import start_embedded

    return start_embedded(Path(tempfile.mkdtemp(prefix="oms-test-")))


@pytest.fixture(scope="session")
def database_url() -> str:
    """A fresh database on the server, migrated to head."""
    import asyncpg

    from app.infra.migrate import upgrade_to_head

    server = _server_url().replace("postgresql+asyncpg://", "postgresql://")
    name = f"oms_test_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    base, _, query = server.partition("?")
    url = base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")
    url = url.replace("postgresql://", "postgresql+asyncpg://")
    upgrade_to_head(url)
    os.environ["OMS_TEST_DATABASE_URL"] = url
    return url


@pytest_asyncio.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator[Any]:
    from app.infra.settings import Settings
    from server.app import create_app

    # Order numbers restart after each test's TRUNCATE: the public rate limits (tests/test_security_*) are raised here.
    # Webhook receivers in tests listen on loopback (issue 17): allowed here, refused by default.
    application = create_app(Settings(database_url=database_url, db_pool_size=30, public_rate_per_order="100000/minute",
                                      public_rate_per_address="100000/minute", webhook_allow_private=True))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def db(app: Any) -> Database:
    return app.state.db


@pytest.fixture(autouse=True)
def clean(request: pytest.FixtureRequest) -> None:
    """Empties the tables before each test that uses the app or the database; a no-op (and no
    PostgreSQL) for the others."""
    if "app" in request.fixturenames or "db" in request.fixturenames:
        request.getfixturevalue("empty_tables")
        request.getfixturevalue("invariants_hold")


@pytest_asyncio.fixture
async def invariants_hold(db: Database) -> AsyncIterator[None]:
    """After every test that used the database (the concurrency tests included), `oms check`'s
    invariants hold (issue 14)."""
    from app.infra.check import check_invariants

    yield
    violations = await check_invariants(db)
    assert not violations, "oms check after the test:\n" + "\n".join(violations)


@pytest_asyncio.fixture
async def empty_tables(db: Database) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from app.infra.faults import sqlstate

    for attempt in range(5):
        try:
            async with db.engine.begin() as conn:
                tables = (await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).scalars().all()
                wipe = [f'"{t}"' for t in tables if t not in KEEP_TABLES]
                await conn.execute(text(f"TRUNCATE {', '.join(wipe)} CASCADE"))
                await conn.execute(text("DELETE FROM counters WHERE name <> 'order_event'"))
            return
        except DBAPIError as exc:
            # A background task (webhook delivery, expiry) reading several tables at once can deadlock with the
            # TRUNCATE's table locks; PostgreSQL aborts one of the two: wipe again.
            if sqlstate(exc) != "40P01" or attempt == 4:
                raise


@pytest_asyncio.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://oms.test", timeout=60) as c:
        yield c


async def make_key(db: Database, *scopes: str, name: str | None = None) -> str:
    from app.auth.service import create_api_key

    return await db.run(lambda uow: create_api_key(uow=uow, name=name or f"key-{uuid.uuid4().hex[:6]}", scopes=list(scopes)))


@pytest_asyncio.fixture
async def admin_token(db: Database) -> str:
    return await make_key(db, "admin", name="admin")


class GraphQL:
    """Posts documents as a given key; returns the decoded JSON body."""

    def __init__(self, client: httpx.AsyncClient, token: str | None) -> None:
        self.client = client
        self.token = token

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, *, token: str | bool | None = True) -> dict[str, Any]:
        use = self.token if token is True else (token or None)
        headers = {"Authorization": f"Bearer {use}"} if use else {}
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()


@pytest_asyncio.fixture
async def gql(client: httpx.AsyncClient, admin_token: str) -> GraphQL:
    return GraphQL(client, admin_token)
