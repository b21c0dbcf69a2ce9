"""`python -m benchmarks.small_cpu [--requests N] [--profile pyinstrument|cprofile] [--planner on|off]`: CPU per small read in-process.

The steadier figure behind scenario 4 (`order(number)`, concurrency 1) on a shared machine: a fresh database (embedded
PostgreSQL, or a new database on DATABASE_URL's server), the quick data set, the app with its lifespan in this process
(with the benchmark server's baseline route `/bench/raw/order`), and requests sent one after another straight to the ASGI
app (prebuilt scope and body, no HTTP client in the way). Reported per request, for the GraphQL `order(number)` of the
load client and for the baseline route (the same JSON from one hand-written statement, through the same middleware):
this process's CPU time (time.process_time: PostgreSQL's work does not count) and wall time, the median of `--rounds`
rounds (and the smallest). Their difference is what the GraphQL path costs above a bare handler.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import statistics
import time
from typing import Any

from benchmarks.__main__ import QUICK, SERVER_SETTINGS, BenchDatabase, create_api_key
from benchmarks.dataset import load
from benchmarks.load import FIRST_ORDER_SERIAL, SMALL_QUERY


def _scope(method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": query,
            "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}


async def _call(app: Any, scope: dict[str, Any], body: bytes) -> tuple[int, bytes]:
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never: the app does not read past the body
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _run(db: BenchDatabase, *, requests: int, rounds: int, profile: str | None, planner: bool, only: str | None) -> dict[str, Any]:
    from starlette.routing import Route

    from app.infra.settings import Settings
    from benchmarks.server import raw_order
    from server.app import create_app

    token = await create_api_key(db.dsn, "small-cpu")
    os.environ.update(SERVER_SETTINGS)  # as the benchmark's servers
    settings = dataclasses.replace(Settings.from_env(), database_url=db.url, read_planner=planner)
    app = create_app(settings)
    app.router.routes.append(Route("/bench/raw/order", raw_order))
    rng = random.Random(7)

    def number() -> str:
        return f"SO-{FIRST_ORDER_SERIAL + rng.randrange(QUICK.size.orders):06d}"

    graphql_headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json"),
                       (b"accept", b"*/*")]
    raw_headers = [(b"host", b"bench"), (b"accept", b"*/*")]

    async def small() -> None:
        body = json.dumps({"query": SMALL_QUERY, "variables": {"number": number()}}).encode()
        headers = [*graphql_headers, (b"content-length", str(len(body)).encode())]
        status, reply = await _call(app, _scope("POST", "/graphql", b"", headers), body)
        if status != 200 or b'"errors"' in reply or b'"number"' not in reply:
            raise RuntimeError(f"order(number) failed: {status} {reply[:300]!r}")

    async def raw() -> None:
        status, reply = await _call(app, _scope("GET", "/bench/raw/order", f"number={number()}".encode(), raw_headers), b"")
        if status != 200 or b'"number"' not in reply:
            raise RuntimeError(f"raw order failed: {status} {reply[:300]!r}")

    kinds = {"small": small, "raw": raw}
    if only:
        kinds = {only: kinds[only]}
    figures: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        for fn in kinds.values():
            for _ in range(200):  # warm-up: prepared statements, caches, the key, the fast path's entry
                await fn()
        profiler: Any = None
        if profile == "pyinstrument":
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="disabled", interval=0.0002)
            profiler.start()
        elif profile == "cprofile":
            import cProfile

            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        cpu: dict[str, list[float]] = {k: [] for k in kinds}
        wall: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(rounds):
            for name, fn in kinds.items():  # interleaved: the same minutes for both
                c, w = time.process_time(), time.perf_counter()
                for _ in range(requests):
                    await fn()
                cpu[name].append((time.process_time() - c) / requests * 1e6)
                wall[name].append((time.perf_counter() - w) / requests * 1e6)
        if profile == "pyinstrument":
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        elif profile == "cprofile":
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(120)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(50)
    for name in kinds:
        figures[name] = {"cpu_us": round(statistics.median(cpu[name])), "min_cpu_us": round(min(cpu[name])),
                         "wall_us": round(statistics.median(wall[name])), "rounds_cpu_us": [round(x) for x in cpu[name]]}
    if "small" in figures and "raw" in figures:
        figures["cpu_ratio"] = round(figures["small"]["cpu_us"] / figures["raw"]["cpu_us"], 3)
        figures["wall_ratio"] = round(figures["small"]["wall_us"] / figures["raw"]["wall_us"], 3)
        figures["extra_cpu_us"] = figures["small"]["cpu_us"] - figures["raw"]["cpu_us"]
    return {"planner": planner, "requests_per_round": requests, **figures}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=["pyinstrument", "cprofile"], default=None)
    parser.add_argument("--planner", choices=["on", "off"], default="on")
    parser.add_argument("--only", choices=["small", "raw"], default=None)
    args = parser.parse_args()
    db = BenchDatabase()
    try:
        from app.infra.migrate import upgrade_to_head

        upgrade_to_head(db.url)
        asyncio.run(load(db.dsn, QUICK.size))
        result = asyncio.run(_run(db, requests=args.requests, rounds=args.rounds, profile=args.profile, planner=args.planner == "on",
                                  only=args.only))
    finally:
        db.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
