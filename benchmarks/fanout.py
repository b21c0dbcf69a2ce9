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

`run_fanout_baseline(...)` (same arguments, same result dict) does the same against the raw
baseline (benchmarks/fanout_baseline.py: a bare Starlette WebSocket endpoint in the same server
process, woken by the same after-commit signal, sending the same payload to as many sockets); the
server must have it installed (`fanout_baseline.install(app)`). `run_fanout_compare(...)` runs both
on one server, ours first, and adds their ratios.

10,000 sockets need as many file descriptors on each side: `raise_nofile_limit()` lifts this
process's soft RLIMIT_NOFILE to its hard limit (the server does the same in `oms serve`).

`python -m benchmarks.fanout` runs it standalone: against `--base-url/--api-key`, or on a fresh
database with a freshly started server per subscriber count (the memory figure is a fresh server's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
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
OPEN_ATTEMPTS = 5
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


def raise_nofile_limit() -> int:
    """Lifts the soft RLIMIT_NOFILE to the hard limit (each socket is a descriptor); returns the new soft limit."""
    from server.cli import raise_nofile_limit as raise_limit

    return raise_limit()


class Arrivals:
    """How many subscribers have received each cursor; set when all of them have (no polling over N sockets)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.counts: dict[str, int] = {}
        self.complete: dict[str, asyncio.Event] = {}

    def event(self, cursor: str) -> asyncio.Event:
        return self.complete.setdefault(cursor, asyncio.Event())

    def arrived(self, cursor: str) -> None:
        count = self.counts[cursor] = self.counts.get(cursor, 0) + 1
        if count >= self.expected:
            self.event(cursor).set()


class Subscriber:
    """One connection with one subscription; records when each cursor arrived."""

    def __init__(self, tally: Arrivals | None = None) -> None:
        self.ws: Any = None
        self.arrivals: dict[str, float] = {}
        self.arrived = asyncio.Event()
        self.errors: list[Any] = []
        self.reader: asyncio.Task[None] | None = None
        self.tally = tally

    async def open(self, ws_url: str, api_key: str, order_id: str) -> None:
        for attempt in range(OPEN_ATTEMPTS):
            self.ws = await websockets.connect(ws_url, subprotocols=[SUBPROTOCOL], open_timeout=30, max_size=None, compression=COMPRESSION)
            await self.ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {api_key}"}}))
            try:
                ack = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
                break
            except websockets.ConnectionClosed as closed:
                # 1013: the server could not ask its database in time (a burst of connection_init): try again later, as told
                if closed.rcvd is None or closed.rcvd.code != 1013 or attempt == OPEN_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))
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
                    cursor = message["payload"]["data"]["orderStatusChanged"]["cursor"]
                    self.arrivals[cursor] = stamp
                    self.arrived.set()
                    if self.tally is not None:
                        self.tally.arrived(cursor)
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


async def _open_all(count: int, ws_url: str, api_key: str, order_id: str, tally: Arrivals | None = None) -> list[Subscriber]:
    subscribers: list[Subscriber] = []
    for start in range(0, count, CONNECT_BATCH):
        batch = [Subscriber(tally) for _ in range(min(CONNECT_BATCH, count - start))]
        await asyncio.gather(*(s.open(ws_url, api_key, order_id) for s in batch))
        subscribers += batch
    return subscribers


async def run_fanout(base_url: str, api_key: str, subscribers: int, changes: int) -> dict[str, Any]:
    """Latency (ms) from a status change to each of `subscribers` receiving it, over `changes` changes; memory per idle subscriber."""
    return await _run(base_url, api_key, subscribers, changes, "/graphql")


async def run_fanout_baseline(base_url: str, api_key: str, subscribers: int, changes: int) -> dict[str, Any]:
    """`run_fanout` against the raw baseline endpoint (benchmarks/fanout_baseline.py) of the same server."""
    from benchmarks.fanout_baseline import PATH

    return await _run(base_url, api_key, subscribers, changes, PATH)


async def run_fanout_compare(base_url: str, api_key: str, subscribers: int, changes: int) -> dict[str, Any]:
    """Ours, then the raw baseline, on one server: {"ours": {...}, "baseline": {...}, "p50_ratio", "p99_ratio"}."""
    ours = await run_fanout(base_url, api_key, subscribers, changes)
    baseline = await run_fanout_baseline(base_url, api_key, subscribers, changes)
    return {"subscribers": subscribers, "ours": ours, "baseline": baseline,
            "p50_ratio": round(ours["p50_ms"] / baseline["p50_ms"], 2) if baseline["p50_ms"] else None,
            "p99_ratio": round(ours["p99_ms"] / baseline["p99_ms"], 2) if baseline["p99_ms"] else None}


async def _run(base_url: str, api_key: str, subscribers: int, changes: int, path: str) -> dict[str, Any]:
    raise_nofile_limit()
    ws_url = base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1).rstrip("/") + path
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
        tally = Arrivals(subscribers)
        subs = await _open_all(subscribers, ws_url, api_key, order_id, tally)
        connect_seconds = time.perf_counter() - opened
        await asyncio.sleep(1.0)  # let every subscription register and settle
        rss_idle = rss_bytes(pid)

        latencies: list[float] = []
        per_change_p99: list[float] = []
        mutation_ms: list[float] = []
        try:
            for _ in range(changes):
                sent = time.perf_counter()
                cursor = await _flip(client, api_key, order_id, held)
                mutation_ms.append((time.perf_counter() - sent) * 1000)
                held = not held
                try:
                    await asyncio.wait_for(tally.event(cursor).wait(), RECEIVE_TIMEOUT)
                except TimeoutError:
                    missing = sum(cursor not in s.arrivals for s in subs)
                    raise RuntimeError(f"{missing} of {subscribers} subscribers did not receive cursor {cursor}") from None
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
        "endpoint": path,
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


class FreshServer:
    """benchmarks/fanout_baseline.py's server (the OMS app + the raw baselines) as its own fresh process."""

    def __init__(self, database_url: str) -> None:
        import subprocess
        import tempfile

        from benchmarks.__main__ import PYTHON, ROOT, free_port, wait_ready

        self.port = free_port()
        env = dict(os.environ, PYTHONPATH=str(ROOT), DATABASE_URL=database_url, OMS_PAYMENT_EXPIRY_INTERVAL_SECONDS="3600")
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in close())
        self.process = subprocess.Popen([PYTHON, "-m", "benchmarks.fanout_baseline", "--port", str(self.port)],
                                        cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_ready(f"{self.base_url}/readyz", self.process, 60)
        except RuntimeError:
            self.log.seek(0)
            sys.stderr.write(self.log.read().decode(errors="replace")[-4000:])
            raise

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        from benchmarks.__main__ import stop

        stop(self.process)
        self.log.close()


def _summary(result: dict[str, Any]) -> str:
    return (f"{result['subscribers']:>6} subscribers on {result['endpoint']}: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms "
            f"(mutation p50 {result['mutation_p50_ms']} ms), {result['kib_per_subscriber']} KiB per idle subscriber")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1_000, 5_000])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--base-url", help="a running server (else a fresh database, and a fresh server per count)")
    parser.add_argument("--api-key", help="an API key with orders:read and orders:write for --base-url")
    parser.add_argument("--baseline", action="store_true", help="also the raw baseline, after ours, on the same server")
    args = parser.parse_args(argv)
    print(f"RLIMIT_NOFILE: soft {raise_nofile_limit()}, hard {resource.getrlimit(resource.RLIMIT_NOFILE)[1]}", file=sys.stderr)
    results: list[dict[str, Any]] = []
    run = run_fanout_compare if args.baseline else run_fanout
    if args.base_url:
        if not args.api_key:
            parser.error("--api-key is required with --base-url")
        for count in args.subscribers:
            results.append(asyncio.run(run(args.base_url, args.api_key, count, args.changes)))
    else:
        from app.infra.migrate import upgrade_to_head
        from benchmarks.__main__ import QUICK, BenchDatabase
        from benchmarks.dataset import load

        db = BenchDatabase()
        try:
            upgrade_to_head(db.url)
            token = asyncio.run(load(db.dsn, QUICK.size))["token"]
            for count in args.subscribers:
                server = FreshServer(db.url)
                try:
                    print(f"fan-out: {count} subscribers, {args.changes} changes (fresh server)", file=sys.stderr, flush=True)
                    results.append(asyncio.run(run(server.base_url, str(token), count, args.changes)))
                    print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # each figure as soon as it is measured
                finally:
                    server.close()
        finally:
            db.close()
    for result in results:
        for one in (result["ours"], result["baseline"]) if "ours" in result else (result,):
            print(_summary(one))
        if "ours" in result:
            print(f"{result['subscribers']:>6} subscribers: ours / baseline p50 {result['p50_ratio']}x, p99 {result['p99_ratio']}x")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
