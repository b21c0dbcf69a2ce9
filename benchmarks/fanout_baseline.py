"""The fan-out raw baseline: a bare Starlette WebSocket endpoint that sends the same payload to N sockets
when the same commit is signalled the same way.

Served by the same process and uvicorn options as the app (like the raw read baselines in
benchmarks/server.py): `install(app)` adds `/bench/raw/fanout`. The load generator
(benchmarks/fanout.py `run_fanout_baseline`) connects its sockets there with the same client,
speaking just enough graphql-transport-ws (connection_init -> ack, subscribe with `orderId`),
and makes the same mutation through /graphql. What is left is the physical limit of the fan-out:

- the signal: the unit of work's after-commit publisher (`Database.publisher`, which the hub sets to
  `LiveHub.publish` at start) is chained, so the baseline is woken by the very call that wakes the hub;
- one reader task, as the hub has: on the signal it reads the new events with one hand-written
  statement (asyncpg, no ORM) joined to their orders;
- one `orjson.dumps` per event of the same payload our subscribers get
  (`{"data":{"orderStatusChanged":{cursor, previousStatus, status, order {id number status}}}}`),
  then for every socket of that order the same envelope `{"id":..,"type":"next","payload":..}` and
  `send_text`, one socket after the other in that task: no GraphQL, no per-socket task, no auth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from resolvers.ids import to_global_id

log = logging.getLogger("oms.bench.fanout")

PATH = "/bench/raw/fanout"
SUBPROTOCOL = "graphql-transport-ws"

# The events after a cursor with their orders, as the hub reads them (status changes only, as the subscription filters).
EVENTS_SQL = """
SELECT e.seq, e.previous_status, e.status, e.order_id, o.number, o.status AS order_status
FROM order_events e JOIN orders o ON o.id = e.order_id
WHERE e.seq > $1 AND e.previous_status IS DISTINCT FROM e.status
ORDER BY e.seq LIMIT 500
"""


class FanoutBaseline:
    """The sockets by wanted order (global ID) and the one reader task."""

    def __init__(self) -> None:
        self.sockets: dict[str, dict[WebSocket, str]] = {}  # order global ID -> {socket: JSON of its operation id}
        self.last_seq: int | None = None
        self.wake = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None
        self.sent = 0

    @property
    def subscribers(self) -> int:
        return sum(len(s) for s in self.sockets.values())

    def hook(self, state: Any) -> None:
        """Chains the app's after-commit publisher (once per process) and starts the reader."""
        db = state.db
        if getattr(db, "fanout_baseline_hooked", False):
            return
        original = db.publisher

        async def publisher(events: Sequence[dict[str, Any]], notices: Sequence[tuple[str, dict[str, Any]]]) -> None:
            if original is not None:
                await original(events, notices)
            if events:
                self.wake.set()

        db.publisher = publisher
        db.fanout_baseline_hooked = True
        self.reader = asyncio.get_running_loop().create_task(self._read_loop(db))

    async def _read_loop(self, db: Any) -> None:
        self.last_seq = await self._fetch(db, "SELECT coalesce(max(seq), 0) AS seq FROM order_events", None)
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                for row in await self._fetch(db, EVENTS_SQL, self.last_seq):
                    self.last_seq = row["seq"]
                    await self._fan_out(row)
            except Exception:
                log.exception("fan-out baseline: reading events failed")

    @staticmethod
    async def _fetch(db: Any, sql: str, after: int | None) -> Any:
        # A pooled connection per read, as the hub's reads take one (no transaction around it).
        async with db.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            return await (driver.fetch(sql, after) if after is not None else driver.fetchval(sql))

    async def _fan_out(self, row: Any) -> None:
        order_id = to_global_id("Order", row["order_id"])
        targets = self.sockets.get(order_id)
        if not targets:
            return
        payload = orjson.dumps({"data": {"orderStatusChanged": {
            "cursor": str(row["seq"]), "previousStatus": row["previous_status"], "status": row["status"],
            "order": {"id": order_id, "number": row["number"], "status": row["order_status"]},
        }}}).decode()
        for ws, op_id in list(targets.items()):
            try:
                await ws.send_text('{"id":' + op_id + ',"type":"next","payload":' + payload + "}")
                self.sent += 1
            except Exception:  # a socket that went away: its endpoint unregisters it
                targets.pop(ws, None)

    async def endpoint(self, ws: WebSocket) -> None:
        await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in ws.scope.get("subprotocols", ()) else None)
        self.hook(ws.app.state)
        wanted: str | None = None
        try:
            while True:
                message = orjson.loads(await ws.receive_text())
                kind = message.get("type")
                if kind == "connection_init":
                    await ws.send_text('{"type":"connection_ack"}')
                elif kind == "subscribe":
                    wanted = str(((message.get("payload") or {}).get("variables") or {}).get("orderId"))
                    self.sockets.setdefault(wanted, {})[ws] = orjson.dumps(message["id"]).decode()
                elif kind == "ping":
                    await ws.send_text('{"type":"pong"}')
                elif kind == "complete" and wanted is not None:
                    self.sockets.get(wanted, {}).pop(ws, None)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if wanted is not None:
                self.sockets.get(wanted, {}).pop(ws, None)

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader


def install(app: Starlette) -> FanoutBaseline:
    """Adds the baseline endpoint to `app` (call it where the app is built, before it serves)."""
    baseline = FanoutBaseline()
    app.router.routes.append(WebSocketRoute(PATH, baseline.endpoint))
    app.state.fanout_baseline = baseline
    return baseline


def create_app() -> Starlette:
    """benchmarks/server.py's app (the OMS + the raw read baselines) with the fan-out baseline added."""
    from benchmarks.server import create_app as create_bench_app

    app = create_bench_app()
    if not hasattr(app.state, "fanout_baseline"):
        install(app)
    return app


def main() -> None:
    """`python -m benchmarks.fanout_baseline --port N`: that app under uvicorn with benchmarks/server.py's options."""
    import argparse

    import uvicorn

    from server.cli import raise_nofile_limit, tune_gc
    from server.ws_protocol import WS_PROTOCOL

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_nofile_limit()
    tune_gc()
    uvicorn.run(
        "benchmarks.fanout_baseline:create_app", factory=True, host="127.0.0.1", port=args.port, workers=1,
        log_level="warning", access_log=False, proxy_headers=False, timeout_graceful_shutdown=5,
        ws_per_message_deflate=False, ws=WS_PROTOCOL,  # as `oms serve` (server/cli.py)
    )


if __name__ == "__main__":
    main()
