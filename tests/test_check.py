"""`oms check`: clean on consistent data, and each invariant it claims to check catches its breach."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from app.infra.check import check_invariants
from tests import factories
from tests.live_server import ROOT


def oms_check(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run([sys.executable, "-m", "server.cli", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


async def test_check_is_clean_on_consistent_data_and_the_cli_exits_0(db, database_url):
    await factories.basic_catalog(db)
    await factories.place(db, [("A", 2)])
    assert await check_invariants(db) == []
    result = oms_check(database_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all invariants hold" in result.stdout


CONSTRAINT = "ck_stock_levels_reserved_within_on_hand"
BREACHES = [
    ("UPDATE stock_levels SET reserved = on_hand + 1, on_hand = on_hand", "reserved <= on_hand"),
    ("UPDATE allocations SET quantity_released = quantity", "reserved = open allocations"),
    ("DELETE FROM order_events WHERE type = 'PLACED'", "every order has a PLACED event"),
    ("DELETE FROM order_lines", "every order has lines"),
    ("UPDATE stock_levels SET on_hand = on_hand + 5", "stock ledger sums = stock levels"),
    ("UPDATE order_events SET seq = seq + 1000000", "event cursors drawn from the sequence"),
    ("UPDATE order_events SET previous_status = 'CANCELLED'", "each order's events chain in cursor order"),
]


@pytest.mark.parametrize("breach, invariant", BREACHES, ids=[i for _, i in BREACHES])
async def test_check_reports_a_breach_and_the_cli_exits_1(db, database_url, breach, invariant):
    await factories.basic_catalog(db)
    await factories.place(db, [("A", 2)])
    async with db.engine.begin() as conn:
        # the constraint would refuse the first breach; checks must not rely on it existing
        await conn.execute(text(f"ALTER TABLE stock_levels DROP CONSTRAINT {CONSTRAINT}"))
        await conn.execute(text(breach))
    try:
        report = await check_invariants(db)
        assert any(line.startswith(invariant) for line in report), report
        result = oms_check(database_url)
        assert result.returncode == 1 and invariant in result.stderr, result.stdout + result.stderr
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("TRUNCATE orders, allocations, stock_levels, stock_movements CASCADE"))
            await conn.execute(text(f"ALTER TABLE stock_levels ADD CONSTRAINT {CONSTRAINT} CHECK (reserved >= 0 AND reserved <= on_hand)"))
