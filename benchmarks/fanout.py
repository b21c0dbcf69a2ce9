"""Fan-out: publish-to-receive latency at N WebSocket subscribers, and server memory per idle subscriber.

`run_fanout(base_url, api_key, subscribers, changes)` opens `subscribers` graphql-transport-ws
connections, each with the same `orderStatusChanged(orderId: ...)` subscription (one shape), then
makes `changes` status changes (hold / release) one at a time and waits until every subscriber
has received each. Latency is measured from just before the mutation is sent to the moment a
subscriber's socket delivers the message, so it includes the mutation itself (reported apart as
`mutation_p50_ms`) and the load generator's own time to read N sockets on the same cores.

Memory per idle subscriber is the growth of the server's resident set size between a warmed-up
server and one holding all subscribers idle, divided by N; it needs the server's pid, found
from its listening port in /proc when it runs on this machine (else reported as None).

`python -m benchmarks.fanout` runs it standalone: against `--base-url/--api-key`, or on a fresh
database and server set up as `python -m benchmarks` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import websockets

SUBPROTOCOL = "graphql-transport-ws"
CONNECT_BATCH = 100
RECEIVE_TIMEOUT = 60.0
# Browsers offer permessage-deflate, and uvicorn accepts it: a zlib context per socket each way.
COMPRESSION: str | None = os.environ.get("FANOUT_COMPRESSION", "deflate") or None

SUBSCRIPTION = """
subscription Fanout($orderId: ID!) {
  orderStatusChanged(orderId: $orderId) { cursor previousStatus status order { id number status } }
}
"""
ORDERS = "query { orders(first: 50) { edges { node { id status } } } }"
HOLD = "mutation($id: ID!) { holdOrder(input: {orderId: $id}) { userErrors { code message } eventCursor } }"
RELEASE = "mutation($id: ID!) { releaseOrder(input: {orderId: $id}) { userErrors { code message } eventCursor } }"
HOLDABLE = {"PENDING", "CONFIRMED", "PROCESSING", "PARTIALLY_SHIPPED"}


class Subscriber:
    """One connection with one subscription; records when each cursor arrived."""

    def __init__(self) -> None:
        self.ws: Any = None
        self.arrivals: dict[str, float] = {}
        self.arrived = asyncio.Event()
        self.errors: list[Any] = []
        self.reader: asyncio.Task[None] | None = None

    async def open(self, ws_url: str, api_key: str, order_id: str) -> None:
        self.ws = await websockets.connect(ws_url, subprotocols=[SUBPROTOCOL], open_timeout=30, max_size=None, compression=COMPRESSION)
        await self.ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {api_key}"}}))
        ack = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"connection refused: {ack}")
        await self.ws.send(json.dumps({"id": "1", "type": "subscribe",
                                       "payload": {"query": SUBSCRIPTION, "variables": {"orderId": order_id}}}))
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                stamp = time.perf_counter()  # before parsing: the parse is the client's cost, not the server's
                message = json.loads(raw)
                if message["type"] == "next" and not message["payload"].get("errors"):
                    self.arrivals[message["payload"]["data"]["orderStatusChanged"]["cursor"]] = stamp
                    self.arrived.set()
                elif message["type"] == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                elif message["type"] in ("next", "error"):
                    self.errors.append(message["payload"])
        except websockets.ConnectionClosed:
            pass

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


async def _post(client: httpx.AsyncClient, api_key: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}},
                                 headers={"Authorization": f"Bearer {api_key}"})
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


async def _flip(client: httpx.AsyncClient, api_key: str, order_id: str, held: bool) -> str:
    name = "releaseOrder" if held else "holdOrder"
    payload = (await _post(client, api_key, RELEASE if held else HOLD, {"id": order_id}))[name]
    if payload["userErrors"]:
        raise RuntimeError(f"{name}: {payload['userErrors']}")
    return payload["eventCursor"]


def server_pid(base_url: str) -> int | None:
    """The pid listening on base_url's port, when that process runs here under our user (Linux /proc)."""
    parsed = urlparse(base_url)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        return None
    port = parsed.port or 80
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(fields[9])
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in targets:
                    return int(entry.name)
        except OSError:
            continue
    return None


def rss_bytes(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def _open_all(count: int, ws_url: str, api_key: str, order_id: str) -> list[Subscriber]:
    subscribers: list[Subscriber] = []
    for start in range(0, count, CONNECT_BATCH):
        batch = [Subscriber() for _ in range(min(CONNECT_BATCH, count - start))]
        await asyncio.gather(*(s.open(ws_url, api_key, order_id) for s in batch))
        subscribers += batch
    return subscribers


async def run_fanout(base_url: str, api_key: str, subscribers: int, changes: int) -> dict[str, Any]:
    """Latency (ms) from a status change to each of `subscribers` receiving it, over `changes` changes; memory per idle subscriber."""
    ws_url = base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1).rstrip("/") + "/graphql"
    pid = server_pid(base_url)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        edges = (await _post(client, api_key, ORDERS))["orders"]["edges"]
        candidates = [e["node"] for e in edges if e["node"]["status"] in HOLDABLE | {"ON_HOLD"}]
        if not candidates:
            raise RuntimeError("no order that can be held or released among the first 50")
        order_id, held = candidates[0]["id"], candidates[0]["status"] == "ON_HOLD"

        # Warm up: code paths, the hub, a few connections; then the idle baseline.
        warm = await _open_all(min(10, subscribers), ws_url, api_key, order_id)
        await asyncio.sleep(0.3)
        cursor = await _flip(client, api_key, order_id, held)
        held = not held
        await asyncio.wait_for(asyncio.gather(*(s.arrived.wait() for s in warm)), RECEIVE_TIMEOUT)
        for s in warm:
            await s.close()
        await asyncio.sleep(0.5)
        rss_before = rss_bytes(pid)

        opened = time.perf_counter()
        subs = await _open_all(subscribers, ws_url, api_key, order_id)
        connect_seconds = time.perf_counter() - opened
        await asyncio.sleep(1.0)  # let every subscription register and settle
        rss_idle = rss_bytes(pid)

        latencies: list[float] = []
        per_change_p99: list[float] = []
        mutation_ms: list[float] = []
        try:
            for _ in range(changes):
                for s in subs:
                    s.arrived.clear()
                sent = time.perf_counter()
                cursor = await _flip(client, api_key, order_id, held)
                mutation_ms.append((time.perf_counter() - sent) * 1000)
                held = not held
                deadline = time.perf_counter() + RECEIVE_TIMEOUT
                while not all(cursor in s.arrivals for s in subs):
                    if time.perf_counter() > deadline:
                        missing = sum(cursor not in s.arrivals for s in subs)
                        raise RuntimeError(f"{missing} of {subscribers} subscribers did not receive cursor {cursor}")
                    await asyncio.sleep(0.002)
                change = [(s.arrivals[cursor] - sent) * 1000 for s in subs]
                latencies += change
                per_change_p99.append(_percentile(change, 0.99))
                await asyncio.sleep(0.05)  # changes apart: each is measured on its own
            rss_after = rss_bytes(pid)
            errors = sum(len(s.errors) for s in subs)
        finally:
            await asyncio.gather(*(s.close() for s in subs), return_exceptions=True)

    per_sub = None if rss_before is None or rss_idle is None else (rss_idle - rss_before) / subscribers
    return {
        "subscribers": subscribers,
        "changes": changes,
        "deliveries": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(_percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2),
        "median_of_per_change_p99_ms": round(statistics.median(per_change_p99), 2),
        "mutation_p50_ms": round(statistics.median(mutation_ms), 2),
        "connect_seconds": round(connect_seconds, 2),
        "server_pid": pid,
        "server_rss_mib": {k: None if v is None else round(v / 2**20, 1)
                           for k, v in (("before", rss_before), ("idle", rss_idle), ("after", rss_after))},
        "kib_per_subscriber": None if per_sub is None else round(per_sub / 1024, 1),
        "errors": errors,
        "method": "latency from sending the mutation to a subscriber's socket read (includes the mutation); "
                  "memory: server RSS growth with all subscribers idle, divided by subscribers",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1_000, 5_000])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--base-url", help="a running server (else a fresh database and server are set up)")
    parser.add_argument("--api-key", help="an API key with orders:read and orders:write for --base-url")
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    if args.base_url:
        if not args.api_key:
            parser.error("--api-key is required with --base-url")
        for count in args.subscribers:
            results.append(asyncio.run(run_fanout(args.base_url, args.api_key, count, args.changes)))
    else:
        from app.infra.migrate import upgrade_to_head
        from benchmarks.__main__ import QUICK, BenchDatabase, Server
        from benchmarks.dataset import load

        db = BenchDatabase()
        server = None
        try:
            upgrade_to_head(db.url)
            token = asyncio.run(load(db.dsn, QUICK.size))["token"]
            server = Server(db)
            for count in args.subscribers:
                print(f"fan-out: {count} subscribers, {args.changes} changes", file=sys.stderr, flush=True)
                results.append(asyncio.run(run_fanout(server.base_url, str(token), count, args.changes)))
        finally:
            if server is not None:
                server.close()
            db.close()
    for result in results:
        print(f"{result['subscribers']:>6} subscribers: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms "
              f"(mutation p50 {result['mutation_p50_ms']} ms), {result['kib_per_subscriber']} KiB per idle subscriber")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
