"""Migration 0011 on a database that already has orders: every order ON_HOLD gets its one open STAFF hold, the risk
rules are seeded, and it downgrades cleanly (a fresh database of its own, migrated step by step)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from alembic import command

from app.infra.migrate import alembic_config
from app.orders import risk

ORDER = """
INSERT INTO orders (id, status, held_from, payment_status, channel, customer_id, email, shipping_address, currency,
                    subtotal, tax_total, shipping_total, total)
VALUES ($1, $2, $3, 'UNPAID', 'WEB', $4, 'a@example.com', '{"country": "ES"}', 'EUR', 10, 2.1, 0, 12.1)
"""


def test_0011_backfills_a_staff_hold_for_orders_on_hold_and_seeds_the_rules(database_url: str) -> None:
    server = database_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"oms_mig_{uuid.uuid4().hex[:8]}"
    base, _, query = server.partition("?")
    url = base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")
    held, pending, customer = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    async def on(work):  # type: ignore[no-untyped-def]
        conn = await asyncpg.connect(url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    async def seed(conn):  # type: ignore[no-untyped-def]
        await conn.execute("INSERT INTO customers (id, email) VALUES ($1, 'a@example.com')", customer)
        await conn.execute(ORDER, held, "ON_HOLD", "CONFIRMED", customer)
        await conn.execute(ORDER, pending, "PENDING", None, customer)

    async def after(conn):  # type: ignore[no-untyped-def]
        holds = await conn.fetch("SELECT order_id, reason, released_at FROM order_holds")
        rules = await conn.fetch("SELECT position, kind, params::text AS params, level, active FROM risk_rules ORDER BY position")
        return holds, rules

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        config = alembic_config(url.replace("postgresql://", "postgresql+asyncpg://"))
        command.upgrade(config, "0008")
        asyncio.run(on(seed))
        command.upgrade(config, "0011")
        holds, rules = asyncio.run(on(after))
        assert [(h["order_id"], h["reason"], h["released_at"]) for h in holds] == [(held, "STAFF", None)]
        assert [(r["position"], r["kind"], r["level"], r["active"]) for r in rules] == [(p, k, lv, True) for p, k, _, lv in risk.DEFAULT_RULES]
        command.downgrade(config, "0008")
        command.upgrade(config, "heads")
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))
