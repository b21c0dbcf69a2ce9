"""The server under test: the real app (`server.app:create_app`) plus the baseline routes, in one process.

The baselines are the physical limit of the same machine: one hand-written statement whose
JSON PostgreSQL builds, behind a bare Starlette route, on the app's own connection pool
(the same SQLAlchemy engine, using its asyncpg connection directly). No authentication,
no ORM, no GraphQL: what is left is HTTP, one round trip and PostgreSQL's own work.

Run as `python -m benchmarks.server --port N` (DATABASE_URL set); uvicorn is started with the
same options as `oms serve` (uvloop and httptools when installed, access log on).
"""

from __future__ import annotations

import argparse
import contextvars
import os
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import Pool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from benchmarks.load import install_prepared_statement_logging
from server.app import create_app as create_oms_app

# Global IDs and cursors are built exactly as resolvers/ids.py and resolvers/pagination.py do:
# base64url without padding of "Type:uuid", and base64url of the JSON [placedAt, id].
_B64URL = "rtrim(translate(replace(encode(convert_to({value}, 'UTF8'), 'base64'), E'\\n', ''), '+/', '-_'), '=')"
_B64URL_PADDED = "translate(replace(encode(convert_to({value}, 'UTF8'), 'base64'), E'\\n', ''), '+/', '-_')"
_ISO = "to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"


def _gid(type_name: str, column: str) -> str:
    return _B64URL.format(value=f"'{type_name}:' || {column}::text")


def _money(amount: str, currency: str) -> str:
    return f"json_build_object('amount', {amount}::text, 'currency', {currency})"


ORDER_SUMMARY = f"""
  'id', {_gid('Order', 'o.id')}, 'number', o.number, 'status', o.status, 'paymentStatus', o.payment_status,
  'channel', o.channel, 'email', o.email, 'placedAt', {_ISO.format(column='o.placed_at')},
  'total', {_money('o.total', 'o.currency')}
"""

LINES = f"""
  (SELECT coalesce(json_agg(json_build_object(
      'id', {_gid('OrderLine', 'l.id')}, 'sku', l.sku, 'productName', l.product_name, 'quantity', l.quantity,
      'unitPrice', {_money('l.unit_price', 'l.currency')}, 'total', {_money('l.total', 'l.currency')}
   ) ORDER BY l.position), '[]') FROM order_lines l WHERE l.order_id = o.id)
"""

EVENTS = f"""
  json_build_object('edges', (SELECT coalesce(json_agg(json_build_object(
      'cursor', e.seq::text,
      'node', json_build_object('type', e.type, 'status', e.status, 'previousStatus', e.previous_status,
                                'occurredAt', {_ISO.format(column='e.occurred_at')}, 'actor', e.actor)
   ) ORDER BY e.seq), '[]') FROM order_events e WHERE e.order_id = o.id))
"""

SHIPMENTS = f"""
  (SELECT coalesce(json_agg(json_build_object('id', {_gid('Shipment', 's.id')}, 'status', s.status,
                                              'trackingNumber', s.tracking_number) ORDER BY s.shipped_at), '[]')
   FROM shipments s WHERE s.order_id = o.id)
"""

CURSOR = _B64URL_PADDED.format(value=f"'[\"' || {_ISO.format(column='o.placed_at')} || '\",\"' || o.id::text || '\"]'")


def nested_orders_sql(with_shipments: bool) -> str:
    """orders(first: $1) newest first, with lines, events and shipments: one statement, JSON from PostgreSQL."""
    shipments = SHIPMENTS if with_shipments else "'[]'::json"
    return f"""
SELECT json_build_object('data', json_build_object('orders', json_build_object(
  'edges', coalesce(json_agg(json_build_object('cursor', {CURSOR}, 'node', json_build_object({ORDER_SUMMARY},
      'lines', {LINES}, 'events', {EVENTS}, 'shipments', {shipments}))
    ORDER BY o.placed_at DESC, o.id DESC) FILTER (WHERE o.position <= $1), '[]'),
  'pageInfo', json_build_object('hasNextPage', count(*) > $1,
      'endCursor', (array_agg({CURSOR} ORDER BY o.placed_at DESC, o.id DESC) FILTER (WHERE o.position <= $1))[$1]))))::text
FROM (SELECT *, row_number() OVER (ORDER BY placed_at DESC, id DESC) AS position
      FROM orders ORDER BY placed_at DESC, id DESC LIMIT $1 + 1) o
"""


ORDER_BY_NUMBER_SQL = f"""
SELECT json_build_object('data', json_build_object('order', (
  SELECT json_build_object({ORDER_SUMMARY}) FROM orders o WHERE o.number = $1)))::text
"""


async def _fetch_json(request: Request, sql: str, *args: Any) -> Response:
    engine = request.app.state.db.engine
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        body = await raw.driver_connection.fetchval(sql, *args)
    return Response(body, media_type="application/json")


async def raw_orders(request: Request) -> Response:
    first = int(request.query_params.get("first", "50"))
    state = request.app.state
    if not hasattr(state, "nested_sql"):
        async with state.db.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            has_shipments = await raw.driver_connection.fetchval("SELECT to_regclass('shipments') IS NOT NULL")
        state.nested_sql = nested_orders_sql(bool(has_shipments))
    return await _fetch_json(request, state.nested_sql, first)


async def raw_order(request: Request) -> Response:
    return await _fetch_json(request, ORDER_BY_NUMBER_SQL, request.query_params["number"])


# ---------------------------------------------------------------- counting real statements

# Every statement the app's pool connections execute, transaction control included (BEGIN, COMMIT,
# ROLLBACK, SAVEPOINT), seen by an asyncpg query logger (Connection.add_query_logger) on each of the
# pool's connections. A request is counted when it carries `X-Bench-Count: <tag>`: the tag is a
# context variable for that request, and asyncpg calls its loggers with the request's context
# (loop.call_soon), so statements of other tasks (the hub's poll, the key sweeper) are not counted.
# The loggers are attached only between /bench/statements?action=start and ?action=stop, so the
# throughput figures never pay for them.
COUNT_TAG: contextvars.ContextVar[str | None] = contextvars.ContextVar("bench_count_tag", default=None)
COUNT_HEADER = b"x-bench-count"


class StatementCounts:
    def __init__(self) -> None:
        self.connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self.active = False
        self.by_tag: dict[str, list[str]] = {}

    def on_connect(self, dbapi_connection: Any, record: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is None or not hasattr(driver, "add_query_logger"):
            return
        self.connections.add(driver)
        if self.active:
            driver.add_query_logger(self.logged)

    def logged(self, record: Any) -> None:
        tag = COUNT_TAG.get()
        if tag is not None:
            self.by_tag.setdefault(tag, []).append(record.query)

    def start(self) -> None:
        if not self.active:
            self.active = True
            for driver in list(self.connections):
                driver.add_query_logger(self.logged)

    def stop(self) -> None:
        if self.active:
            self.active = False
            for driver in list(self.connections):
                driver.remove_query_logger(self.logged)
        self.by_tag.clear()


COUNTS = StatementCounts()


async def statements(request: Request) -> Response:
    """?action=start|stop attaches/detaches the loggers; ?tag=T answers (and forgets) the statements of requests tagged T."""
    action = request.query_params.get("action")
    if action == "start":
        COUNTS.start()
    elif action == "stop":
        COUNTS.stop()
    tag = request.query_params.get("tag")
    texts = COUNTS.by_tag.pop(tag, []) if tag else []
    return JSONResponse({"active": COUNTS.active, "statements": len(texts), "texts": [t[:300] for t in texts]})


class CountTagged:
    """ASGI wrapper: a request with X-Bench-Count runs with that tag in COUNT_TAG."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.state, self.router = app.state, app.router

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == COUNT_HEADER:
                    token = COUNT_TAG.set(value.decode("latin-1"))
                    try:
                        await self.app(scope, receive, send)
                    finally:
                        COUNT_TAG.reset(token)
                    return
        await self.app(scope, receive, send)


def create_app() -> Any:
    install_prepared_statement_logging()
    event.listen(Pool, "connect", COUNTS.on_connect)
    app = create_oms_app()
    app.router.routes.extend(
        [
            Route("/bench/raw/orders", raw_orders),
            Route("/bench/raw/order", raw_order),
            Route("/bench/statements", statements),
        ]
    )
    try:  # the fan-out baseline's WebSocket endpoint (/bench/raw/fanout), when this checkout has it (issue 15)
        from benchmarks import fanout_baseline  # type: ignore[attr-defined]
    except ImportError:
        pass
    else:
        fanout_baseline.install(app)
    return CountTagged(app)


def create_bare_app() -> Starlette:
    """The cold-start baseline: Starlette and an asyncpg pool, /readyz answering after one query."""
    import contextlib
    import os

    import asyncpg

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        dsn = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
        app.state.pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            yield
        finally:
            await app.state.pool.close()

    async def readyz(request: Request) -> Response:
        await request.app.state.pool.fetchval("SELECT 1")
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/readyz", readyz)], lifespan=lifespan)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--access-log", choices=["on", "off"], default="on")
    parser.add_argument("--bare", action="store_true", help="serve the cold-start baseline instead")
    args = parser.parse_args()
    if args.bare:
        uvicorn.run("benchmarks.server:create_bare_app", factory=True, host="127.0.0.1", port=args.port, log_level="warning")
        return
    # 10,000 fan-out subscribers are 10,000 descriptors in this process: the soft limit up to the hard one
    # (benchmarks/fanout.py lifts the client's the same way).
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # The same options and collector settings as `oms serve` (server/cli.py), so the figures are the product's.
    if os.environ.get("BENCH_DEFAULT_GC") != "1":
        from server.cli import tune_gc

        tune_gc()
    from app.infra.settings import Settings
    from server.ws_protocol import WS_PROTOCOL

    # The app configures its logging as under `oms serve` (server/cli.py sets the same): the request log in the format
    # OMS_LOG_FORMAT names (the benchmark's SERVER_SETTINGS: json). Without it structlog's default console renderer
    # printed every request line (session 9: ~2 % of the placement's CPU that `oms serve` does not spend).
    os.environ["OMS_CONFIGURE_LOGGING"] = "1"

    uvicorn.run(
        "benchmarks.server:create_app", factory=True, host="127.0.0.1", port=args.port, workers=1,
        log_level="info", access_log=args.access_log == "on", proxy_headers=False, timeout_graceful_shutdown=5,
        # the WebSocket options of `oms serve` (server/cli.py): its lighter protocol, no per-message deflate, its size limit
        ws=WS_PROTOCOL, ws_per_message_deflate=False, ws_max_size=max(Settings.from_env().ws_max_message_bytes * 4, 1_048_576),
    )


if __name__ == "__main__":
    main()
