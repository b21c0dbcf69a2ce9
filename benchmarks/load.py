"""The load generator, run as its own process: `python -m benchmarks.load '<json spec>'` prints one JSON result.

HTTP load uses a minimal HTTP/1.1 keep-alive client on asyncio streams (uvloop when present):
one connection per concurrent client, requests built once as bytes, so the generator spends
as little of the shared CPU as possible. Every run is bounded by a request count and a deadline.

The order-placement baseline (`raw_place`) runs the transaction `placeOrder` runs, statement
for statement (see app/orders/service.py), straight through asyncpg: no HTTP, no GraphQL, no ORM.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

NESTED_QUERY = """query Nested($first: Int!) {
  orders(first: $first) {
    edges { cursor node {
      id number status paymentStatus channel email placedAt total { amount currency }
      lines { id sku productName quantity unitPrice { amount currency } total { amount currency } }
      events { edges { cursor node { type status previousStatus occurredAt actor } } }
      shipments { id status trackingNumber }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""

# The brief's Saleor reference read: the latest 20 orders with their lines.
LATEST_20_QUERY = """query Latest {
  orders(first: 20) { edges { node {
    id number status placedAt total { amount currency }
    lines { id sku productName quantity unitPrice { amount currency } total { amount currency } }
  } } }
}"""

SMALL_QUERY = """query Small($number: String!) {
  order(number: $number) { id number status paymentStatus channel email placedAt total { amount currency } }
}"""

PLACE_MUTATION = """mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { id number status total { amount currency } } userErrors { code field message } eventCursor }
}"""

ADDRESS = {"name": "Bench Buyer", "line1": "Calle Mayor 1", "city": "Madrid", "postalCode": "28013", "country": "ES"}
FIRST_ORDER_SERIAL = 100001
USER_ERRORS_EMPTY = re.compile(rb'"userErrors":\s*\[\]')
ERROR_CODE = re.compile(rb'"code":\s*"([A-Z_]+)"')


def _http_request(port: int, method: str, path: str, body: bytes | None, token: str | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: keep-alive"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def _graphql(port: int, token: str, query: str, variables: dict[str, Any]) -> bytes:
    return _http_request(port, "POST", "/graphql", json.dumps({"query": query, "variables": variables}).encode(), token)


def place_lines(rng: random.Random, skus: int, hot_sku: str | None) -> list[tuple[str, int]]:
    """3 lines over distinct random SKUs; the hot case makes the first one the hot SKU."""
    picked = [f"SKU-{i:05d}" for i in rng.sample(range(1, skus + 1), 3)]
    if hot_sku:
        picked[0] = hot_sku
    return [(sku, 1) for sku in picked]


def customer_email(rng: random.Random, customers: int) -> str:
    return f"customer{rng.randint(1, customers)}@bench.example"


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    errors: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    sample_error: str | None = None

    def fail(self, code: str, detail: bytes | str) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1
        if code not in ("OUT_OF_STOCK",):
            self.errors += 1
            if self.sample_error is None:
                self.sample_error = (detail.decode(errors="replace") if isinstance(detail, bytes) else detail)[:500]


def classify_graphql(tally: Tally, status: int, body: bytes, mutation: bool) -> None:
    if status != 200 or b'"errors"' in body[:200] or b'"errors":' in body[-400:]:
        tally.fail(f"HTTP_{status}" if status != 200 else "GRAPHQL_ERROR", body)
    elif mutation and not USER_ERRORS_EMPTY.search(body):
        match = ERROR_CODE.search(body)
        tally.fail(match.group(1).decode() if match else "USER_ERROR", body)
    else:
        tally.ok += 1


def classify_raw(tally: Tally, status: int, body: bytes, mutation: bool = False) -> None:
    if status != 200 or not body.startswith(b'{"data"'):
        tally.fail(f"HTTP_{status}", body)
    else:
        tally.ok += 1


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"content-length:")
    if at >= 0:
        length = int(lower[at + 15: lower.index(b"\r\n", at)])
        return status, await reader.readexactly(length)
    if b"transfer-encoding: chunked" in lower:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, b"".join(chunks)
            chunks.append(chunk[:-2])
    raise RuntimeError("response without a length")


async def http_load(port: int, make: Callable[[], bytes], classify: Callable[[Tally, int, bytes], None], *,
                    concurrency: int, duration: float, max_requests: int) -> dict[str, Any]:
    tally = Tally()
    budget = [max_requests]
    started = time.perf_counter()
    deadline = started + duration

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while budget[0] > 0 and time.perf_counter() < deadline:
                budget[0] -= 1
                request = make()
                sent = time.perf_counter()
                writer.write(request)
                status, body = await _read_response(reader)
                tally.latencies.append(time.perf_counter() - sent)
                classify(tally, status, body)
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return summarise(tally, time.perf_counter() - started)


def summarise(tally: Tally, elapsed: float) -> dict[str, Any]:
    latencies = sorted(tally.latencies)

    def pct(p: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, round(p * (len(latencies) - 1)))] * 1000, 3)

    return {
        "requests": len(latencies), "ok": tally.ok, "errors": tally.errors, "codes": tally.codes, "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 2) if elapsed else 0.0, "ok_rps": round(tally.ok / elapsed, 2) if elapsed else 0.0,
        "p50_ms": pct(0.50), "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3) if latencies else None, "sample_error": tally.sample_error,
    }


# ---------------------------------------------------------------- counting statements

def install_prepared_statement_logging() -> None:
    """Make asyncpg's query loggers see executions of prepared statements too.

    asyncpg calls a connection's query loggers (Connection.add_query_logger) for `execute`,
    `fetch*` and `executemany` on the connection, but not when a PreparedStatement runs, and
    SQLAlchemy's asyncpg dialect runs every statement through one (`prepare`, then `fetch`). So
    every execution of a prepared statement is wrapped in the connection's own `_time_and_log`,
    the same context manager the connection's methods use (private API of asyncpg 0.29-0.32:
    checked here, so a change fails loudly instead of counting nothing). Idempotent.
    """
    from asyncpg.connection import Connection
    from asyncpg.prepared_stmt import PreparedStatement

    name = "_PreparedStatement__do_execute"
    original = getattr(PreparedStatement, name, None)
    if original is None or not hasattr(Connection, "_time_and_log"):
        raise RuntimeError("asyncpg's PreparedStatement internals changed: statement counting needs updating")
    if getattr(original, "bench_logged", False):
        return

    async def do_execute(self: Any, executor: Any) -> Any:
        connection = self._connection
        if connection._query_loggers:
            with connection._time_and_log(self._query, (), None):
                return await original(self, executor)
        return await original(self, executor)

    do_execute.bench_logged = True  # type: ignore[attr-defined]
    setattr(PreparedStatement, name, do_execute)


TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|START TRANSACTION|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|END)\b", re.IGNORECASE)


def is_type_introspection(text: str) -> bool:
    """asyncpg's own queries the first time a connection meets a type (the type tree, and jit off/on around it)."""
    return "typeinfo_tree" in text or "set_config('jit'" in text


def classify_statements(texts: list[str]) -> dict[str, int]:
    """Counts of a request's statements: per request (what is reported: all but asyncpg's one-off type introspection
    on a connection new to a type), transaction control, API-key lookups, and that introspection."""
    work = [t for t in texts if not is_type_introspection(t)]
    return {"total": len(work), "transaction_control": sum(bool(TRANSACTION_CONTROL.match(t)) for t in work),
            "api_key_lookups": sum("api_keys" in t for t in work), "type_introspection": len(texts) - len(work)}


def first_line(text: str, width: int = 90) -> str:
    return text.strip().split("\n")[0][:width]


# ---------------------------------------------------------------- the order-placement baseline

CENT = Decimal("0.01")

SELECT_PRODUCTS = ("SELECT id, sku, name, price, currency, tax_rate, made_to_order, lead_time_days "
                   "FROM products WHERE sku = ANY($1::varchar[])")
LOCK_STOCK = ("SELECT s.id, s.sku, s.warehouse_id, w.priority, s.on_hand, s.reserved FROM stock_levels s "
              "JOIN warehouses w ON w.id = s.warehouse_id WHERE s.sku = ANY($1::varchar[]) AND w.channels @> $2::varchar[] "
              "ORDER BY s.sku, s.warehouse_id FOR UPDATE OF s")
UPSERT_CUSTOMER = ("INSERT INTO customers (id, email) VALUES ($1, $2) ON CONFLICT (email) DO UPDATE SET email = $2 "
                   "RETURNING id")
INSERT_ORDER = ("INSERT INTO orders (id, serial, status, payment_status, payment_method, channel, customer_id, email, "
                "shipping_address, billing_address, currency, subtotal, tax_total, shipping_total, total, "
                "estimated_delivery_date, idempotency_key, request_fingerprint) VALUES ($1, nextval('order_number_seq'), "
                "'PENDING', 'UNPAID', NULL, $2, $3, $4, $5::jsonb, NULL, $6, $7, $8, $9, $10, $11, NULL, NULL) "
                "RETURNING serial, number, placed_at, updated_at")
INSERT_LINE = ("INSERT INTO order_lines (id, order_id, position, product_id, sku, product_name, quantity, unit_price, "
               "currency, tax_rate, total, made_to_order, customization, quantity_shipped, quantity_returned) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, 0, 0)")
UPDATE_RESERVED = "UPDATE stock_levels SET reserved = $1 WHERE id = $2"
INSERT_MOVEMENT = ("INSERT INTO stock_movements (sku, warehouse_id, kind, on_hand_delta, reserved_delta, actor, reference) "
                   "VALUES ($1, $2, 'RESERVATION', 0, $3, $4, $5)")
INSERT_ALLOCATION = ("INSERT INTO allocations (id, order_id, order_line_id, warehouse_id, sku, quantity, quantity_shipped, "
                     "quantity_released) VALUES ($1, $2, $3, $4, $5, $6, 0, 0)")
NEXT_EVENT = "UPDATE counters SET value = value + $1 WHERE name = 'order_event' RETURNING value"
INSERT_EVENT = ("INSERT INTO order_events (seq, order_id, type, status, channel, actor, data) "
                "VALUES ($1, $2, 'PLACED', 'PENDING', $3, $4, $5::jsonb)")
# Event cursors from the sequence `order_event_seq` (issue 16's migration; the counter row is gone): the number is
# drawn by the INSERT itself, as the app's unit of work does.
INSERT_EVENT_FROM_SEQUENCE = ("INSERT INTO order_events (order_id, type, status, channel, actor, data) "
                              "VALUES ($1, 'PLACED', 'PENDING', $2, $3, $4::jsonb) RETURNING seq")
EVENT_SEQUENCE_PRESENT = "SELECT to_regclass('order_event_seq') IS NOT NULL"


class OutOfStock(Exception):
    pass


async def place_raw(conn: Any, lines: list[tuple[str, int]], email: str, channel: str = "WEB", *, event_sequence: bool = False) -> str:
    actor = "apikey:bench"
    skus = sorted(sku for sku, _ in lines)
    demand = dict(lines)
    async with conn.transaction():
        products = {r["sku"]: r for r in await conn.fetch(SELECT_PRODUCTS, skus)}
        candidates = await conn.fetch(LOCK_STOCK, skus, [channel])
        picks = []  # (stock_level_id, sku, warehouse_id, quantity)
        reserved = {c["id"]: c["reserved"] for c in candidates}
        for sku in skus:  # the single-warehouse-first plan of app.orders.allocation, enough for 1-unit lines
            options = sorted((c for c in candidates if c["sku"] == sku), key=lambda c: c["priority"])
            chosen = next((c for c in options if c["on_hand"] - c["reserved"] >= demand[sku]), None)
            if chosen is None:
                raise OutOfStock(sku)
            picks.append((chosen["id"], sku, chosen["warehouse_id"], demand[sku]))
            reserved[chosen["id"]] += demand[sku]
        totals = [(Decimal(products[s]["price"]) * q).quantize(CENT, ROUND_HALF_UP) for s, q in lines]
        bases: dict[Decimal, Decimal] = {}
        for (sku, _), amount in zip(lines, totals, strict=True):
            bases[products[sku]["tax_rate"]] = bases.get(products[sku]["tax_rate"], Decimal(0)) + amount
        subtotal = sum(bases.values(), Decimal(0)).quantize(CENT)
        tax = sum(((b * r).quantize(CENT, ROUND_HALF_UP) for r, b in bases.items()), Decimal(0))
        customer_id = await conn.fetchval(UPSERT_CUSTOMER, uuid.uuid4(), email)
        order_id = uuid.uuid4()
        address = json.dumps({"name": ADDRESS["name"], "line1": ADDRESS["line1"], "city": ADDRESS["city"],
                              "postal_code": ADDRESS["postalCode"], "country": ADDRESS["country"]})
        created = await conn.fetchrow(INSERT_ORDER, order_id, channel, customer_id, email, address, "EUR", subtotal, tax,
                                      Decimal("0.00"), subtotal + tax, date.today() + timedelta(days=3))
        line_ids = {sku: uuid.uuid4() for sku, _ in lines}
        await conn.executemany(INSERT_LINE, [
            (line_ids[sku], order_id, position, products[sku]["id"], sku, products[sku]["name"], quantity,
             products[sku]["price"], "EUR", products[sku]["tax_rate"], amount, False)
            for position, ((sku, quantity), amount) in enumerate(zip(lines, totals, strict=True))
        ])
        touched = sorted({p[0] for p in picks})
        await conn.executemany(UPDATE_RESERVED, [(reserved[level], level) for level in touched])
        await conn.executemany(INSERT_MOVEMENT, [(sku, warehouse, quantity, actor, created["number"]) for _, sku, warehouse, quantity in picks])
        await conn.executemany(INSERT_ALLOCATION, [
            (uuid.uuid4(), order_id, line_ids[sku], warehouse, sku, quantity) for _, sku, warehouse, quantity in picks
        ])
        data = json.dumps({"lines": len(lines), "total": str(subtotal + tax), "currency": "EUR"})
        if event_sequence:
            await conn.fetchval(INSERT_EVENT_FROM_SEQUENCE, order_id, channel, actor, data)
        else:
            seq = await conn.fetchval(NEXT_EVENT, 1)
            await conn.execute(INSERT_EVENT, seq, order_id, channel, actor, data)
    return created["number"]


async def raw_place_load(dsn: str, *, concurrency: int, duration: float, max_requests: int, skus: int, customers: int,
                         hot_sku: str | None, seed: int) -> dict[str, Any]:
    import asyncpg

    rng = random.Random(seed)
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    event_sequence = bool(await pool.fetchval(EVENT_SEQUENCE_PRESENT))
    tally = Tally()
    budget = [max_requests]
    started = time.perf_counter()
    deadline = started + duration

    async def client() -> None:
        async with pool.acquire() as conn:
            while budget[0] > 0 and time.perf_counter() < deadline:
                budget[0] -= 1
                lines, email = place_lines(rng, skus, hot_sku), customer_email(rng, customers)
                sent = time.perf_counter()
                try:
                    for attempt in range(5):  # deadlocks are retried, as Database.run does
                        try:
                            await place_raw(conn, lines, email, event_sequence=event_sequence)
                            break
                        except asyncpg.exceptions.DeadlockDetectedError:
                            await asyncio.sleep(0.005 * (attempt + 1))
                    tally.ok += 1
                except OutOfStock:
                    tally.fail("OUT_OF_STOCK", "")
                except Exception as exc:  # reported, not hidden
                    tally.fail(type(exc).__name__, repr(exc))
                tally.latencies.append(time.perf_counter() - sent)

    try:
        await asyncio.gather(*(client() for _ in range(concurrency)))
    finally:
        await pool.close()
    return summarise(tally, time.perf_counter() - started)


async def count_raw_place_statements(dsn: str, skus: int, customers: int) -> list[str]:
    """The statements of one raw placement (the second on a connection: the first may introspect types), seen by the
    same kind of query logger as the server's."""
    import asyncpg

    install_prepared_statement_logging()
    rng = random.Random(7)
    conn = await asyncpg.connect(dsn)
    texts: list[str] = []
    try:
        event_sequence = bool(await conn.fetchval(EVENT_SEQUENCE_PRESENT))
        await place_raw(conn, place_lines(rng, skus, None), customer_email(rng, customers), event_sequence=event_sequence)
        conn.add_query_logger(lambda record: texts.append(record.query))
        await place_raw(conn, place_lines(rng, skus, None), customer_email(rng, customers), event_sequence=event_sequence)
        await asyncio.sleep(0)  # the loggers run on the loop's next turn
    finally:
        await conn.close()
    return texts


# ---------------------------------------------------------------- entry point

def run(spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec["kind"]
    port, token = spec.get("port"), spec.get("token")
    rng = random.Random(spec.get("seed", 1))
    bounds = {"concurrency": spec["concurrency"], "duration": spec["duration"], "max_requests": spec["max_requests"]}
    orders = spec.get("orders", 1)
    if spec.get("hot_skus"):  # one hot SKU per measured run, so each run starts from full stock
        spec = {**spec, "hot_sku": spec["hot_skus"][(spec.get("seed", 1) - 1) % len(spec["hot_skus"])]}

    def random_number() -> str:
        return f"SO-{FIRST_ORDER_SERIAL + rng.randrange(orders):06d}"

    if kind == "raw_place":
        return asyncio.run(raw_place_load(spec["dsn"], skus=spec["skus"], customers=spec["customers"], hot_sku=spec.get("hot_sku"),
                                          seed=spec.get("seed", 1), **bounds))
    if kind == "nested":
        request = _graphql(port, token, NESTED_QUERY, {"first": spec["first"]})
        make, classify = (lambda: request), (lambda t, s, b: classify_graphql(t, s, b, False))
    elif kind == "latest20":
        request = _graphql(port, token, LATEST_20_QUERY, {})
        make, classify = (lambda: request), (lambda t, s, b: classify_graphql(t, s, b, False))
    elif kind == "raw_nested":
        request = _http_request(port, "GET", f"/bench/raw/orders?first={spec['first']}", None, None)
        make, classify = (lambda: request), classify_raw
    elif kind == "small":
        make = lambda: _graphql(port, token, SMALL_QUERY, {"number": random_number()})  # noqa: E731
        classify = lambda t, s, b: classify_graphql(t, s, b, False)  # noqa: E731
    elif kind == "raw_small":
        make = lambda: _http_request(port, "GET", f"/bench/raw/order?number={random_number()}", None, None)  # noqa: E731
        classify = classify_raw
    elif kind == "place":
        def make() -> bytes:
            lines = place_lines(rng, spec["skus"], spec.get("hot_sku"))
            place_input: dict[str, Any] = {
                "channel": "WEB", "email": customer_email(rng, spec["customers"]), "shippingAddress": ADDRESS,
                "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
            }
            if spec.get("payment"):  # e.g. {"method": "CARD", "token": "test_slow"}: the 300 ms provider
                place_input["payment"] = spec["payment"]
            return _graphql(port, token, PLACE_MUTATION, {"input": place_input})
        classify = lambda t, s, b: classify_graphql(t, s, b, True)  # noqa: E731
    else:
        raise ValueError(f"unknown load kind {kind!r}")
    return asyncio.run(http_load(port, make, classify, **bounds))


def main() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    spec = json.loads(sys.argv[1])
    # The warm-up and the measured runs share one process (one interpreter start per figure, not per run).
    if spec.get("warmup"):
        run({**spec, "duration": spec["warmup"], "seed": 99})
    print(json.dumps({"runs": [run({**spec, "seed": i + 1}) for i in range(spec.get("runs", 1))]}))


if __name__ == "__main__":
    main()
