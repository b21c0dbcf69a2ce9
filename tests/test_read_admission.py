"""Admission of the read planner's statements (Database.read_json, issue 15): at most `read_concurrency` in flight per
process, the others wait in arrival order; 0 means half the pool's size (at least 1), a negative value no limit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.infra import database
from app.infra.database import Database
from app.infra.settings import Settings


def _tracked(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Counts the statements in flight (inside the checkout-statement-checkin greenlet) and the order they entered."""
    seen: dict[str, Any] = {"now": 0, "most": 0, "entered": []}
    original = database._fetch_row

    def fetch(engine: Any, sql: str, params: Any) -> Any:
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        seen["entered"].append(params[0])
        try:
            return original(engine, sql, params)
        finally:
            seen["now"] -= 1

    monkeypatch.setattr(database, "_fetch_row", fetch)
    return seen


async def _reads(db: Database, count: int) -> list[Any]:
    # each statement holds its connection a little, so that the later ones find the first ones still in flight
    return await asyncio.gather(*(db.read_json("SELECT $1::int::text, pg_sleep(0.02)::text", [i]) for i in range(count)))


async def test_no_more_statements_than_the_limit_are_in_flight_and_the_others_wait_in_arrival_order(
        database_url: str, monkeypatch: pytest.MonkeyPatch):
    seen = _tracked(monkeypatch)
    db = Database(database_url, pool_size=5, read_concurrency=2)
    try:
        rows = await _reads(db, 10)
    finally:
        await db.dispose()
    assert [row[0] for row in rows] == [str(i) for i in range(10)]
    assert seen["most"] == 2
    assert seen["entered"] == list(range(10))


async def test_by_default_the_limit_is_half_the_pool_and_a_negative_one_is_none(database_url: str, monkeypatch: pytest.MonkeyPatch):
    seen = _tracked(monkeypatch)
    pooled = Database(database_url, pool_size=6)
    unlimited = Database(database_url, pool_size=3, read_concurrency=-1)
    try:
        await _reads(pooled, 8)
        assert seen["most"] == 3
        seen["most"] = 0
        await _reads(unlimited, 8)
        assert seen["most"] == 8  # the pool's overflow (3 more) and its wait: the statements were all admitted at once
    finally:
        await pooled.dispose()
        await unlimited.dispose()
    assert unlimited.read_gate is None and pooled.read_gate is not None
    assert Database(database_url, pool_size=1).read_gate._value == 1  # type: ignore[union-attr]


def test_the_setting_reaches_the_app_database(monkeypatch: pytest.MonkeyPatch):
    from server.app import open_database

    monkeypatch.setenv("OMS_DB_READ_CONCURRENCY", "7")
    settings = Settings.from_env()
    assert settings.db_read_concurrency == 7
    db = open_database(Settings(database_url="postgresql+asyncpg://u:p@127.0.0.1:1/x", db_read_concurrency=7))
    assert db.read_gate is not None and db.read_gate._value == 7
    assert Settings().db_read_concurrency == 0
