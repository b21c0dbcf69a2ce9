"""The benchmark data set, loaded with set-based SQL in one transaction (seconds, not minutes).

What it holds (sizes from `DatasetSize`):
- 2 warehouses serving every channel; `skus` products, each stocked in both (ample units);
- `hot_skus` extra products, one per one-hot-SKU run: every order of that run takes it, so every
  order contends for the same stock row (stocked so that a run does not sell it out: the rate is
  of orders placed, not of OUT_OF_STOCK answers);
- `scarce_skus` products with `scarce_units_per_warehouse` units, sold out on purpose by the
  no-oversell check;
- `customers` customers and `orders` orders of 1-5 lines over pseudo-random SKUs,
  PENDING (60 %), CONFIRMED (30 %) or CANCELLED (10 %);
- the rows those orders imply, as the services would have written them: allocations
  (released for cancelled orders), `stock_levels.reserved` equal to the open allocations,
  a RECEIPT/RESERVATION/RELEASE ledger, and a PLACED event per order plus a STATUS_CHANGED
  one for confirmed and cancelled orders. Event `seq` values are numbered as the app numbers
  them: after the last number of the sequence `order_event_seq` (issue 16's cursors), which is
  then set past them (or, on a schema before it, of the `counters` row 'order_event', advanced
  by the number of events inserted), so later writes continue after them;
- one admin API key whose token the loader returns.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import asyncpg

from app.auth.service import TOKEN_PREFIX, hash_token

HOT_SKU_PREFIX = "HOT-"
SKU_PREFIX = "SKU-"
ACTOR = "apikey:bench-seed"
CHANNELS = ["WEB", "MOBILE", "PHONE", "MARKETPLACE", "STORE"]
AMPLE_UNITS = 1_000_000


@dataclass(frozen=True)
class DatasetSize:
    skus: int = 1_000
    orders: int = 20_000
    customers: int = 2_000
    hot_skus: int = 16
    hot_units_per_warehouse: int = 100_000
    scarce_skus: int = 2
    scarce_units_per_warehouse: int = 25


def sku_name(i: int) -> str:
    return f"{SKU_PREFIX}{i:05d}"


def hot_sku_name(i: int) -> str:
    return f"{HOT_SKU_PREFIX}{i}"


def scarce_sku_name(i: int) -> str:
    return f"{HOT_SKU_PREFIX}S{i}"


LOAD_SQL = """
CREATE TEMP TABLE bench_products ON COMMIT DROP AS
SELECT i, gen_random_uuid() AS id, 'SKU-' || lpad(i::text, 5, '0') AS sku, 'Bench product ' || i AS name,
       ((4 + (i * 37) % 200)::numeric + 0.99)::numeric(14, 2) AS price,
       (CASE WHEN i % 10 = 0 THEN 0.10 ELSE 0.21 END)::numeric(6, 4) AS tax_rate
FROM generate_series(1, {skus}) AS i;

INSERT INTO products (id, sku, name, price, currency, tax_rate, made_to_order, lead_time_days, created_at, updated_at)
SELECT id, sku, name, price, 'EUR', tax_rate, false, 0, now(), now() FROM bench_products
UNION ALL
SELECT gen_random_uuid(), 'HOT-' || h, 'Hot product ' || h, 9.99, 'EUR', 0.21, false, 0, now(), now()
FROM generate_series(1, {hot_skus}) AS h
UNION ALL
SELECT gen_random_uuid(), 'HOT-S' || h, 'Scarce product ' || h, 9.99, 'EUR', 0.21, false, 0, now(), now()
FROM generate_series(1, {scarce_skus}) AS h;

INSERT INTO warehouses (id, code, name, channels, country, priority, created_at) VALUES
  (gen_random_uuid(), 'BENCH-A', 'Bench warehouse A', ARRAY['WEB','MOBILE','PHONE','MARKETPLACE','STORE']::varchar[], 'ES', 10, now()),
  (gen_random_uuid(), 'BENCH-B', 'Bench warehouse B', ARRAY['WEB','MOBILE','PHONE','MARKETPLACE','STORE']::varchar[], 'ES', 20, now());

CREATE TEMP TABLE bench_customers ON COMMIT DROP AS
SELECT c, gen_random_uuid() AS id, 'customer' || c || '@bench.example' AS email FROM generate_series(1, {customers}) AS c;
INSERT INTO customers (id, email, created_at) SELECT id, email, now() FROM bench_customers;

-- One row per order: its status, size and customer, all derived from its index.
CREATE TEMP TABLE bench_orders ON COMMIT DROP AS
SELECT o, gen_random_uuid() AS id,
       CASE WHEN o % 10 = 0 THEN 'CANCELLED' WHEN o % 10 IN (1, 2, 3) THEN 'CONFIRMED' ELSE 'PENDING' END AS status,
       1 + (o * 7) % 5 AS line_count,
       1 + (o * 13) % {customers} AS customer,
       (CASE o % 5 WHEN 0 THEN 'WEB' WHEN 1 THEN 'MOBILE' WHEN 2 THEN 'PHONE' WHEN 3 THEN 'MARKETPLACE' ELSE 'STORE' END) AS channel,
       now() - make_interval(secs => ({orders} - o) * 30) AS placed_at
FROM generate_series(1, {orders}) AS o;

-- Lines over distinct pseudo-random SKUs; odd SKUs ship from A, even from B.
CREATE TEMP TABLE bench_lines ON COMMIT DROP AS
SELECT bo.o, bo.id AS order_id, p AS position, gen_random_uuid() AS id, bp.id AS product_id, bp.sku, bp.name, bp.price,
       bp.tax_rate, 1 + (bo.o + p) % 3 AS quantity, round(bp.price * (1 + (bo.o + p) % 3), 2) AS total,
       CASE WHEN bp.i % 2 = 1 THEN 'BENCH-A' ELSE 'BENCH-B' END AS warehouse_code
FROM bench_orders bo
CROSS JOIN LATERAL generate_series(0, bo.line_count - 1) AS p
JOIN bench_products bp ON bp.i = 1 + ((bo.o * 7919 + p * 104729) % {skus});

CREATE TEMP TABLE bench_line_counts ON COMMIT DROP AS
SELECT order_id, count(*) AS lines, sum(quantity) AS units FROM bench_lines GROUP BY order_id;

-- VAT is rounded once per rate, as app.orders.pricing.compute_totals does.
CREATE TEMP TABLE bench_totals ON COMMIT DROP AS
SELECT order_id, sum(base) AS subtotal, sum(round(base * tax_rate, 2)) AS tax_total
FROM (SELECT order_id, tax_rate, sum(total) AS base FROM bench_lines GROUP BY order_id, tax_rate) per_rate
GROUP BY order_id;

INSERT INTO orders (id, status, held_from, payment_status, payment_method, channel, customer_id, email, shipping_address,
                    billing_address, currency, subtotal, tax_total, shipping_total, total, placed_at, updated_at,
                    estimated_delivery_date, idempotency_key, request_fingerprint)
SELECT bo.id, bo.status, NULL, 'UNPAID', 'BANK_TRANSFER', bo.channel, bc.id, bc.email,
       jsonb_build_object('name', 'Customer ' || bo.customer, 'line1', 'Calle Mayor ' || bo.customer, 'city', 'Madrid',
                          'postal_code', '28013', 'country', 'ES', 'line2', NULL, 'region', NULL, 'phone', NULL),
       NULL, 'EUR', bt.subtotal, bt.tax_total, 0, bt.subtotal + bt.tax_total, bo.placed_at,
       bo.placed_at + CASE WHEN bo.status = 'PENDING' THEN interval '0' ELSE interval '5 minutes' END,
       (bo.placed_at + interval '3 days')::date, NULL, NULL
FROM bench_orders bo
JOIN bench_customers bc ON bc.c = bo.customer
JOIN bench_totals bt ON bt.order_id = bo.id
ORDER BY bo.o;  -- order numbers follow placement time

INSERT INTO order_lines (id, order_id, position, product_id, sku, product_name, quantity, unit_price, currency, tax_rate,
                         total, made_to_order, customization, quantity_shipped, quantity_returned)
SELECT id, order_id, position, product_id, sku, name, quantity, price, 'EUR', tax_rate, total, false, NULL, 0, 0
FROM bench_lines;

INSERT INTO allocations (id, order_id, order_line_id, warehouse_id, sku, quantity, quantity_shipped, quantity_released)
SELECT gen_random_uuid(), bl.order_id, bl.id, w.id, bl.sku, bl.quantity, 0,
       CASE WHEN bo.status = 'CANCELLED' THEN bl.quantity ELSE 0 END
FROM bench_lines bl JOIN bench_orders bo ON bo.id = bl.order_id JOIN warehouses w ON w.code = bl.warehouse_code;

INSERT INTO stock_levels (id, product_id, sku, warehouse_id, on_hand, reserved)
SELECT gen_random_uuid(), p.id, p.sku, w.id,
       CASE WHEN p.sku LIKE 'HOT-S%' THEN {scarce_units} WHEN p.sku LIKE 'HOT-%' THEN {hot_units} ELSE {ample_units} END,
       coalesce(open.units, 0)
FROM products p CROSS JOIN warehouses w
LEFT JOIN (SELECT sku, warehouse_id, sum(quantity - quantity_released) AS units FROM allocations GROUP BY sku, warehouse_id) open
       ON open.sku = p.sku AND open.warehouse_id = w.id
WHERE w.code IN ('BENCH-A', 'BENCH-B');

INSERT INTO stock_movements (sku, warehouse_id, kind, on_hand_delta, reserved_delta, reason, actor, reference, created_at)
SELECT sku, warehouse_id, 'RECEIPT', on_hand, 0, 'bench data set', 'bench-seed', NULL, now() - interval '30 days'
FROM stock_levels
UNION ALL
SELECT a.sku, a.warehouse_id, 'RESERVATION', 0, a.quantity, NULL, 'bench-seed', o.number, o.placed_at
FROM allocations a JOIN orders o ON o.id = a.order_id
UNION ALL
SELECT a.sku, a.warehouse_id, 'RELEASE', 0, -a.quantity, 'order cancelled', 'bench-seed', o.number, o.updated_at
FROM allocations a JOIN orders o ON o.id = a.order_id WHERE a.quantity_released > 0;

-- The timeline: PLACED for every order, then the status change of confirmed and cancelled ones.
CREATE TEMP TABLE bench_events ON COMMIT DROP AS
SELECT o.id AS order_id, o.serial, 0 AS step, 'PLACED' AS type, 'PENDING' AS status, NULL::varchar AS previous_status,
       o.channel, o.placed_at AS occurred_at,
       jsonb_build_object('lines', lc.lines, 'total', o.total::text, 'currency', o.currency) AS data
FROM orders o JOIN bench_line_counts lc ON lc.order_id = o.id
UNION ALL
SELECT o.id, o.serial, 1, 'STATUS_CHANGED', o.status, 'PENDING', o.channel, o.updated_at,
       CASE WHEN o.status = 'CONFIRMED' THEN jsonb_build_object('action', 'confirm', 'reason', NULL)
            ELSE jsonb_build_object('action', 'cancel', 'reason', NULL,
                                    'releasedUnits', lc.units) END
FROM orders o JOIN bench_line_counts lc ON lc.order_id = o.id WHERE o.status <> 'PENDING';

-- Cursors in time order, numbered after {first_seq} (the last number handed out before the load).
INSERT INTO order_events (seq, order_id, type, status, previous_status, channel, actor, occurred_at, data)
SELECT {first_seq} + row_number() OVER (ORDER BY e.occurred_at, e.serial, e.step), e.order_id, e.type, e.status,
       e.previous_status, e.channel, 'apikey:bench-seed', e.occurred_at, e.data
FROM bench_events e;
"""


async def load(dsn: str, size: DatasetSize) -> dict[str, object]:
    """Load the data set into an empty, migrated database; returns the admin token and timings."""
    started = time.perf_counter()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT count(*) FROM orders"):
            raise RuntimeError("the benchmark database is not empty")
        async with conn.transaction():
            # Only integers we computed go into the script (asyncpg runs a multi-statement script unparameterised).
            # Event numbers as the app draws them: from the sequence `order_event_seq` (issue 16's migration), else
            # from the counter row 'order_event' (before it). Either way the load continues after the last number
            # handed out and moves the source past its own events, so later writes continue after them.
            sequence = await conn.fetchval("SELECT to_regclass('order_event_seq') IS NOT NULL")
            if sequence:
                first_seq = await conn.fetchval("SELECT coalesce(pg_sequence_last_value('order_event_seq'), 0)")
            else:
                first_seq = await conn.fetchval("SELECT value FROM counters WHERE name = 'order_event' FOR UPDATE")
            await conn.execute(LOAD_SQL.format(
                skus=int(size.skus), orders=int(size.orders), customers=int(size.customers), hot_skus=int(size.hot_skus),
                hot_units=int(size.hot_units_per_warehouse), ample_units=AMPLE_UNITS, scarce_skus=int(size.scarce_skus),
                scarce_units=int(size.scarce_units_per_warehouse), first_seq=int(first_seq),
            ))
            events = await conn.fetchval("SELECT count(*) FROM order_events WHERE seq > $1", first_seq)
            if sequence:
                if events:
                    await conn.execute("SELECT setval('order_event_seq', $1)", first_seq + events)
            else:
                await conn.execute("UPDATE counters SET value = value + $1 WHERE name = 'order_event'", events)
            await conn.execute(
                "INSERT INTO api_keys (id, name, token_hash, scopes, created_at) VALUES (gen_random_uuid(), 'bench', $1, $2, now())",
                hash_token(token), ["admin"],
            )
        await conn.execute("ANALYZE")
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM order_lines) AS lines,"
            " (SELECT count(*) FROM order_events) AS events, (SELECT count(*) FROM products) AS products,"
            " (SELECT count(*) FROM stock_levels) AS stock_levels, (SELECT count(*) FROM stock_movements) AS movements,"
            " (SELECT " + ("pg_sequence_last_value('order_event_seq')" if sequence else "value FROM counters WHERE name = 'order_event'")
            + ") AS event_counter,"
            " (SELECT max(seq) FROM order_events) AS max_seq"
        )
    finally:
        await conn.close()
    summary = dict(counts)
    if summary["event_counter"] != summary["max_seq"]:
        raise RuntimeError(f"event counter {summary['event_counter']} does not match the last event {summary['max_seq']}")
    return {"token": token, "seconds": round(time.perf_counter() - started, 2), "counts": summary}
