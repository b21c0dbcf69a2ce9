"""`python -m benchmarks.place_cpu [--orders N] [--card] [--profile pyinstrument|cprofile]`: CPU per placeOrder in-process.

A steadier figure than orders/s on a shared machine: a fresh database (embedded PostgreSQL, or a new
database on DATABASE_URL's server), the quick data set, the app with its lifespan in this process, and
`placeOrder` (3 lines over random SKUs, the load client's mutation) sent through the ASGI app one after
another; reported: this process's CPU time per order (time.process_time, so PostgreSQL's work and other
processes' do not count), the median of `--rounds` rounds (and the smallest: on a busy machine the steadier).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import resource
import statistics
import time
from typing import Any

from benchmarks.__main__ import QUICK, SERVER_SETTINGS, BenchDatabase, create_api_key
from benchmarks.dataset import hot_sku_name, load
from benchmarks.load import ADDRESS, PLACE_MUTATION, customer_email, place_lines


async def _run(db: BenchDatabase, *, orders: int, rounds: int, card: str | None, profile: str | None, concurrency: int = 1,
               hot: bool = False, ordinary: bool = False) -> dict[str, Any]:
    import httpx

    from app.infra.settings import Settings
    from server.app import create_app

    token = await create_api_key(db.dsn, "place-cpu")
    os.environ.update(SERVER_SETTINGS)  # as the benchmark's servers
    settings = dataclasses.replace(Settings.from_env(), database_url=db.url)
    app = create_app(settings)
    served = _mutation_path(ordinary)
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def body() -> bytes:
        lines = place_lines(rng, QUICK.size.skus, hot_sku_name(1) if hot else None)
        place_input: dict[str, Any] = {"channel": "WEB", "email": customer_email(rng, QUICK.size.customers), "shippingAddress": ADDRESS,
                                       "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines]}
        if card:
            place_input["payment"] = {"method": "CARD", "token": card}
        return json.dumps({"query": PLACE_MUTATION, "variables": {"input": place_input}}).encode()

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            async def place() -> None:
                reply = (await client.post("/graphql", content=body(), headers=headers)).json()
                payload = reply.get("data", {}) and reply["data"]["placeOrder"]
                if reply.get("errors") or not payload or payload["userErrors"]:
                    raise RuntimeError(f"placeOrder failed: {reply}")

            for _ in range(50):  # warm-up: prepared statements, caches, the key
                await place()
            per_order: list[float] = []
            profiler: Any = None
            if profile == "pyinstrument":
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="enabled", interval=0.0005)
                profiler.start()
            elif profile == "cprofile":
                import cProfile

                profiler = cProfile.Profile(time.process_time)  # CPU time, not wall: the machine is shared
                profiler.enable()
            sys_ms: list[float] = []
            latencies: list[float] = []

            async def one_client(count: int) -> None:
                for _ in range(count):
                    sent = time.perf_counter()
                    await place()
                    latencies.append(time.perf_counter() - sent)

            for _ in range(rounds):
                cpu, wall, kernel = time.process_time(), time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_stime
                await asyncio.gather(*(one_client(orders // concurrency) for _ in range(concurrency)))
                per_order.append((time.process_time() - cpu) / orders * 1000)
                sys_ms.append((resource.getrusage(resource.RUSAGE_SELF).ru_stime - kernel) / orders * 1000)
                wall = (time.perf_counter() - wall) / orders * 1000
            if profile == "pyinstrument":
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False, show_all=False))
            elif profile == "cprofile":
                import pstats

                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(150)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
    return {"cpu_ms_per_order": round(statistics.median(per_order), 2), "min_cpu_ms_per_order": round(min(per_order), 2),
            "rounds": [round(x, 2) for x in per_order],
            "of_which_kernel_ms": round(statistics.median(sys_ms), 2),
            "wall_ms_last_round": round(wall, 2), "orders_per_round": orders, "card": card, "concurrency": concurrency, "hot": hot,
            "orders_per_second_last_round": round(1000 / wall, 1), "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "planned_mutations": served()}


def _mutation_path(ordinary: bool) -> Any:
    """`--ordinary`: the planned-mutation path (resolvers/planner/mutations.py) switched off, to compare the two in one
    checkout; returns how many requests it answered. (A checkout without that module: always the ordinary path.)"""
    try:
        from resolvers.planner.mutations import MUTATIONS
    except ImportError:
        return lambda: 0
    if ordinary:
        async def never(*_args: Any, **_kwargs: Any) -> None:
            return None

        MUTATIONS.execute = never  # type: ignore[method-assign]
    return lambda: MUTATIONS.served


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--card", default=None, help="pay by card with this test token (e.g. test_approve)")
    parser.add_argument("--profile", choices=["pyinstrument", "cprofile"], default=None)
    parser.add_argument("--concurrency", type=int, default=1, help="clients at once (through the same ASGI app); 1: CPU per order alone")
    parser.add_argument("--hot", action="store_true", help="one hot SKU as every order's first line (as the benchmark's hot-SKU scenario)")
    parser.add_argument("--ordinary", action="store_true", help="the planned-mutation path off (placeOrder through strawberry's execute)")
    args = parser.parse_args()
    db = BenchDatabase()
    try:
        from app.infra.migrate import upgrade_to_head

        upgrade_to_head(db.url)
        asyncio.run(load(db.dsn, QUICK.size))
        result = asyncio.run(_run(db, orders=args.orders, rounds=args.rounds, card=args.card, profile=args.profile,
                                  concurrency=args.concurrency, hot=args.hot, ordinary=args.ordinary))
    finally:
        db.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
