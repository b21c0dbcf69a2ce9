"""`python -m benchmarks [--quick]`: the whole benchmark in one command (see benchmarks/README.md).

1. a fresh PostgreSQL database: embedded (a new data directory, removed afterwards) or a new
   database on the server of DATABASE_URL (dropped afterwards);
2. migrate it and load the data set (benchmarks/dataset.py);
3. start the server under test as its own process (benchmarks/server.py: the app plus the
   baseline routes), wait for /readyz;
4. drive every scenario from separate load-generator processes (benchmarks/load.py): a warm-up,
   then `runs` measured runs per figure, reporting the median;
5. print one table and write the JSON (and the latency chart when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.dataset import DatasetSize, hot_sku_name, load

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# The brief's reference figures (Saleor, one worker, a machine like ours) and our aims against them.
SALEOR_ORDERS_PER_SECOND = 1.0
SALEOR_LATEST_20_READS_PER_SECOND = 15.0


@dataclass(frozen=True)
class Plan:
    size: DatasetSize
    runs: int
    duration: float
    warmup: float
    max_requests: int
    chart_concurrencies: tuple[int, ...]
    cold_starts: int
    fanout: tuple[tuple[int, int], ...]  # (subscribers, changes)


FULL = Plan(DatasetSize(), runs=3, duration=5.0, warmup=2.0, max_requests=1_000_000,
            chart_concurrencies=(1, 4, 16, 32), cold_starts=3, fanout=((1_000, 50), (5_000, 20)))
QUICK = Plan(DatasetSize(skus=60, orders=300, customers=50, hot_skus=8, hot_units_per_warehouse=10), runs=1, duration=0.4,
             warmup=0.1, max_requests=400, chart_concurrencies=(1, 16), cold_starts=1, fanout=((20, 3),))


# ---------------------------------------------------------------- processes and the database

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds until `url` answers 200 (polling every 20 ms); raises if the process dies or time runs out."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class BenchDatabase:
    """A database for one benchmark run, created fresh and removed at the end."""

    def __init__(self) -> None:
        self.data_dir: Path | None = None
        self.admin_url = os.environ.get("DATABASE_URL")
        self.name: str | None = None
        if self.admin_url:
            self.name = f"oms_bench_{uuid.uuid4().hex[:8]}"
            base, _, query = self.admin_url.partition("?")
            self.url = base.rsplit("/", 1)[0] + "/" + self.name + ("?" + query if query else "")
            asyncio.run(self._execute(f'CREATE DATABASE "{self.name}"'))
        else:
            from app.infra.embedded_pg import start_embedded

            self.data_dir = Path(tempfile.mkdtemp(prefix="oms-bench-"))
            self.url = start_embedded(self.data_dir)
        self.dsn = self.url.replace("postgresql+asyncpg://", "postgresql://")
        self.kind = "DATABASE_URL" if self.admin_url else "embedded"

    async def _execute(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.admin_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def server_env(self) -> dict[str, str]:
        """The environment `oms serve` needs to find this database."""
        env = dict(os.environ, PYTHONPATH=str(ROOT), OMS_PAYMENT_EXPIRY_INTERVAL_SECONDS="3600")
        if self.data_dir is not None:  # the embedded server, found by its data directory as `oms serve` would
            env.pop("DATABASE_URL", None)
            env["OMS_DATA_DIR"] = str(self.data_dir)
        else:
            env["DATABASE_URL"] = self.url
        return env

    def close(self) -> None:
        if self.name:
            asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        # The embedded server stops when this process exits (pgserver's handle count); its files go then.
        if self.data_dir is not None:
            import atexit

            atexit.register(shutil.rmtree, self.data_dir, True)


class Server:
    """benchmarks/server.py as its own process."""

    def __init__(self, db: BenchDatabase) -> None:
        self.port = free_port()
        env = dict(os.environ, PYTHONPATH=str(ROOT), DATABASE_URL=db.url, OMS_PAYMENT_EXPIRY_INTERVAL_SECONDS="3600")
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  (the server's output for its whole life; closed in close())
        self.process = subprocess.Popen([PYTHON, "-m", "benchmarks.server", "--port", str(self.port), "--access-log", "off"],
                                        cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_ready(f"http://127.0.0.1:{self.port}/readyz", self.process, 60)
        except RuntimeError:
            self.log.seek(0)
            sys.stderr.write(self.log.read().decode(errors="replace")[-4000:])
            raise

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=30) as response:
            return json.loads(response.read())

    def post_graphql(self, token: str, query: str, variables: dict[str, Any]) -> Any:
        request = urllib.request.Request(self.base_url + "/graphql", json.dumps({"query": query, "variables": variables}).encode(),
                                         {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def close(self) -> None:
        stop(self.process)
        self.log.close()


def drive(spec: dict[str, Any]) -> dict[str, Any]:
    """One load run in its own process."""
    done = subprocess.run([PYTHON, "-m", "benchmarks.load", json.dumps(spec)], cwd=ROOT, capture_output=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=(spec["duration"] + 30) * spec.get("runs", 1) + 120)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return json.loads(done.stdout)


# ---------------------------------------------------------------- measuring

class Bench:
    def __init__(self, plan: Plan, server: Server, db: BenchDatabase, token: str, log: Any) -> None:
        self.plan, self.server, self.db, self.token, self.log = plan, server, db, token, log
        self.rows: list[dict[str, Any]] = []
        self.curves: dict[str, dict[int, dict[str, float]]] = {}

    def spec(self, kind: str, concurrency: int, **extra: Any) -> dict[str, Any]:
        return {"kind": kind, "port": self.server.port, "token": self.token, "concurrency": concurrency,
                "duration": self.plan.duration, "max_requests": self.plan.max_requests, "orders": self.plan.size.orders,
                "skus": self.plan.size.skus, "customers": self.plan.size.customers, "dsn": self.db.dsn, **extra}

    def measure(self, kind: str, concurrency: int, *, warm: bool = True, **extra: Any) -> dict[str, Any]:
        """Warm-up, then `runs` runs; the median of each figure, the runs kept for the JSON."""
        spec = {**self.spec(kind, concurrency, **extra), "warmup": self.plan.warmup if warm else 0, "runs": self.plan.runs}
        runs = drive(spec)["runs"]
        for run in runs:
            if run["errors"]:
                raise RuntimeError(f"{kind} at concurrency {concurrency}: {run['errors']} errors, e.g. {run['sample_error']}")
        median = {key: statistics.median(r[key] for r in runs) for key in ("rps", "p50_ms", "p99_ms", "mean_ms")}
        median["requests"] = sum(r["requests"] for r in runs)
        self.log(f"  {kind:<12} c={concurrency:<3} {median['rps']:>9.1f} req/s  p50 {median['p50_ms']:.2f} ms  p99 {median['p99_ms']:.2f} ms")
        return {**median, "runs": runs}

    def row(self, key: str, scenario: str, unit: str, ours: Any, baseline: Any, target: str, *, ratio: float | None = None,
            met: bool | None = None, **details: Any) -> None:
        if ratio is None and isinstance(ours, (int, float)) and isinstance(baseline, (int, float)) and baseline:
            ratio = ours / baseline
        self.rows.append({"key": key, "scenario": scenario, "unit": unit, "ours": ours, "baseline": baseline,
                          "ratio": None if ratio is None else round(ratio, 3), "target": target, "met": met, **details})

    # 1 -------------------------------------------------------------
    def nested_read(self) -> None:
        self.log("1 nested read: orders(first: 50) with lines, events, shipments")
        for concurrency in sorted({1, 16, *self.plan.chart_concurrencies}):
            ours = self.measure("nested", concurrency, first=50)
            base = self.measure("raw_nested", concurrency, first=50)
            self.curves.setdefault("GraphQL orders(first: 50)", {})[concurrency] = ours
            self.curves.setdefault("baseline: one SQL statement", {})[concurrency] = base
            if concurrency not in (1, 16):
                continue
            ratio = ours["rps"] / base["rps"]
            self.row(f"nested_c{concurrency}_rps", f"1 nested read c={concurrency}", "req/s", ours["rps"], base["rps"],
                     ">= 0.5x (aim 0.75x)", ratio=ratio, met=ratio >= 0.5)
            for p in ("p50", "p99"):
                self.row(f"nested_c{concurrency}_{p}", f"1 nested read c={concurrency} {p}", "ms", ours[f"{p}_ms"],
                         base[f"{p}_ms"], "-")

    # 2 -------------------------------------------------------------
    def statements(self) -> None:
        from benchmarks.load import NESTED_QUERY

        self.log("2 statements per nested read (5 samples per page size: fewest and most)")
        counts: dict[int, list[int]] = {}
        texts: dict[int, list[str]] = {}
        for first in (10, 50, 100):
            self.server.post_graphql(self.token, NESTED_QUERY, {"first": first})  # registers the counter, warms up
            for _ in range(5):
                before = self.server.get_json("/bench/statements")["statements"]
                reply = self.server.post_graphql(self.token, NESTED_QUERY, {"first": first})
                counted = self.server.get_json("/bench/statements")
                if reply.get("errors") or len(reply["data"]["orders"]["edges"]) != min(first, self.plan.size.orders):
                    raise RuntimeError(f"nested read at first={first} failed: {str(reply)[:500]}")
                n = counted["statements"] - before
                counts.setdefault(first, []).append(n)
                texts[first] = [t.split("\n")[0][:70] for t in counted["recent"][-n:]]
            self.log(f"  first={first}: {min(counts[first])}-{max(counts[first])} statements: {texts[first]}")
        constant = len({min(c) for c in counts.values()}) == 1
        for first, samples in counts.items():
            self.row(f"statements_first_{first}", f"2 statements/request first={first}", "statements", min(samples), 1,
                     "constant in page size", ratio=min(samples), met=constant, most=max(samples), samples=samples,
                     statements=texts[first])

    # 3 -------------------------------------------------------------
    def placement(self) -> None:
        self.log("3 order placement: placeOrder, 3 lines over random SKUs, concurrency 16")
        ours = self.measure("place", 16)
        base = self.measure("raw_place", 16)
        ratio = ours["rps"] / base["rps"]
        self.row("place_c16_rps", "3 placeOrder c=16", "orders/s", ours["rps"], base["rps"], ">= 0.5x (aim 0.7x)",
                 ratio=ratio, met=ratio >= 0.5)
        for p in ("p50", "p99"):
            self.row(f"place_c16_{p}", f"3 placeOrder c=16 {p}", "ms", ours[f"{p}_ms"], base[f"{p}_ms"], "-")
        self.placed_per_second = ours["rps"]

        self.log("3 one hot SKU in every order (first line), concurrency 16")
        hot = iter(range(1, self.plan.size.hot_skus + 1))
        ours = self.measure("place", 16, warm=False, hot_skus=[hot_sku_name(next(hot)) for _ in range(self.plan.runs)])
        base = self.measure("raw_place", 16, warm=False, hot_skus=[hot_sku_name(next(hot)) for _ in range(self.plan.runs)])
        self.row("place_hot_c16_rps", "3 placeOrder one hot SKU c=16", "orders/s", ours["rps"], base["rps"], "report",
                 placed=sum(r["ok"] for r in ours["runs"]), out_of_stock=sum(r["codes"].get("OUT_OF_STOCK", 0) for r in ours["runs"]))
        problems = asyncio.run(oversell_problems(self.db.dsn))
        self.row("place_hot_invariant", "3 hot SKU: no oversell after the run", "violations", len(problems), 0, "0",
                 ratio=None, met=not problems, problems=problems[:10])

    # 4 -------------------------------------------------------------
    def small_read(self) -> None:
        self.log("4 small read: order(number), concurrency 1")
        ours = self.measure("small", 1)
        base = self.measure("raw_small", 1)
        ratio = ours["p50_ms"] / base["p50_ms"]
        self.row("small_p50", "4 order(number) p50 c=1", "ms", ours["p50_ms"], base["p50_ms"], "<= 1.5x", ratio=ratio,
                 met=ratio <= 1.5)
        self.row("small_rps", "4 order(number) c=1", "req/s", ours["rps"], base["rps"], "-")

    # the brief's reference ------------------------------------------
    def saleor_reference(self) -> None:
        self.log("reference: latest 20 orders with lines (the brief's Saleor figure), concurrency 16")
        latest = self.measure("latest20", 16)
        self.row("ref_latest20_rps", "ref: latest 20 orders+lines c=16 vs Saleor", "req/s", latest["rps"],
                 SALEOR_LATEST_20_READS_PER_SECOND, ">= 10x", met=latest["rps"] >= 10 * SALEOR_LATEST_20_READS_PER_SECOND)
        self.row("ref_place_rps", "ref: placeOrder c=16 vs Saleor", "orders/s", self.placed_per_second,
                 SALEOR_ORDERS_PER_SECOND, ">= 100x", met=self.placed_per_second >= 100 * SALEOR_ORDERS_PER_SECOND)

    # 5 -------------------------------------------------------------
    def fanout(self) -> None:
        try:
            from benchmarks.fanout import run_fanout
        except ImportError as exc:
            self.log(f"5 fan-out: not run (benchmarks/fanout.py: {exc})")
            self.row("fanout", "5 fan-out", "ms", None, None, "p99 <= 100 ms @1k, <= 500 ms @5k; <= 30 KiB/sub",
                     note="not run: benchmarks.fanout.run_fanout is not available")
            return
        for subscribers, changes in self.plan.fanout:
            self.log(f"5 fan-out: {subscribers} subscribers, {changes} changes")
            try:
                result = asyncio.run(run_fanout(self.server.base_url, self.token, subscribers, changes))
            except Exception as exc:  # reported in the table, the other scenarios still count
                self.log(f"  failed: {exc!r}")
                self.row(f"fanout_{subscribers}", f"5 fan-out {subscribers} subs", "ms", None, None, "-", note=f"failed: {exc!r}")
                continue
            limit = 100 if subscribers <= 1_000 else 500
            p99 = _pick(result, "p99_ms")
            self.row(f"fanout_{subscribers}_p99", f"5 fan-out {subscribers} subs p99", "ms", p99, None, f"<= {limit} ms",
                     met=None if p99 is None else p99 <= limit, result=result)
            self.row(f"fanout_{subscribers}_p50", f"5 fan-out {subscribers} subs p50", "ms", _pick(result, "p50_ms"), None, "-")
            kib = _pick(result, "kib_per_subscriber")
            self.row(f"fanout_{subscribers}_memory", f"5 fan-out {subscribers} subs memory", "KiB/sub", kib, None, "<= 30",
                     met=None if kib is None else kib <= 30)

    # 6 -------------------------------------------------------------
    def cold_start(self) -> None:
        self.log(f"6 cold start: `oms serve` until /readyz is 200 on the existing {self.db.kind} database")
        ours, base = [], []
        oms = str(Path(PYTHON).with_name("oms")) if Path(PYTHON).with_name("oms").exists() else None
        for _ in range(self.plan.cold_starts):
            port = free_port()
            command = [oms, "serve", "--port", str(port)] if oms else [PYTHON, "-m", "server.cli", "serve", "--port", str(port)]
            ours.append(_time_start(command, self.db.server_env(), port))
            port = free_port()
            base.append(_time_start([PYTHON, "-m", "benchmarks.server", "--bare", "--port", str(port)],
                                    dict(os.environ, PYTHONPATH=str(ROOT), DATABASE_URL=self.db.url), port))
        ours_s, base_s = statistics.median(ours), statistics.median(base)
        self.log(f"  oms serve {ours_s:.2f} s, bare Starlette+asyncpg {base_s:.2f} s")
        self.row("cold_start", "6 cold start oms serve -> /readyz", "s", round(ours_s, 3), round(base_s, 3), "report",
                 runs=ours, baseline_runs=base)


def _pick(result: Any, key: str) -> Any:
    """A figure from run_fanout's dict, at the top level or one level down."""
    if not isinstance(result, dict):
        return None
    if isinstance(result.get(key), (int, float)):
        return result[key]
    for value in result.values():
        if isinstance(value, dict) and isinstance(value.get(key), (int, float)):
            return value[key]
    return None


def _time_start(command: list[str], env: dict[str, str], port: int) -> float:
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return wait_ready(f"http://127.0.0.1:{port}/readyz", process, 60)
    finally:
        stop(process)


async def oversell_problems(dsn: str) -> list[str]:
    """Every stock level within its units, and its reservation equal to the open allocations."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("""
            SELECT s.sku, s.on_hand, s.reserved, coalesce(sum(a.quantity - a.quantity_released - a.quantity_shipped), 0) AS open
            FROM stock_levels s LEFT JOIN allocations a ON a.sku = s.sku AND a.warehouse_id = s.warehouse_id
            WHERE s.sku LIKE 'HOT-%' GROUP BY s.id, s.sku, s.on_hand, s.reserved""")
    finally:
        await conn.close()
    problems = []
    for r in rows:
        if r["reserved"] > r["on_hand"] or r["reserved"] < 0:
            problems.append(f"{r['sku']}: reserved {r['reserved']} of {r['on_hand']} on hand")
        if r["reserved"] != r["open"]:
            problems.append(f"{r['sku']}: reserved {r['reserved']} but open allocations {r['open']}")
    return problems


# ---------------------------------------------------------------- output

def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    header = ["scenario", "unit", "ours", "baseline", "ratio", "target", "met"]
    lines = [[r["scenario"], r["unit"], fmt(r["ours"]), fmt(r["baseline"]), fmt(r["ratio"]) + ("x" if r["ratio"] is not None else ""),
              r["target"], {True: "yes", False: "NO", None: ""}[r["met"]]] for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines, strict=True)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
    return "\n".join(out)


def chart(curves: dict[str, dict[int, dict[str, float]]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for name, points in curves.items():
        xs = sorted(points)
        for p, style in (("p50", "-o"), ("p99", "--x")):
            axis.plot(xs, [points[x][f"{p}_ms"] for x in xs], style, label=f"{name} {p}")
    axis.set_xscale("log", base=2)
    axis.set_xticks(sorted({x for points in curves.values() for x in points}))
    axis.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axis.set_xlabel("concurrent clients")
    axis.set_ylabel("latency (ms)")
    axis.set_title(f"Nested read latency against concurrency ({os.cpu_count()} cores, shared)")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small data set and short runs (a smoke test, not figures)")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results (default benchmarks/results.json)")
    parser.add_argument("--chart", type=Path, default=None, help="the latency chart PNG (default benchmarks/latency.png)")
    parser.add_argument("--runs", type=int, default=None, help="measured runs per figure (median reported)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per measured run")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.runs or args.duration:
        plan = Plan(**{**plan.__dict__, "runs": args.runs or plan.runs, "duration": args.duration or plan.duration})
    default_dir = ROOT / "benchmarks"
    json_path = args.json or (default_dir / ("results-quick.json" if args.quick else "results.json"))
    chart_path = args.chart or (None if args.quick else default_dir / "latency.png")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    log(f"benchmark ({'quick' if args.quick else 'full'}): {os.cpu_count()} cores, {plan.runs} runs x {plan.duration} s per figure")
    db = BenchDatabase()
    server = None
    try:
        from app.infra.migrate import upgrade_to_head

        upgrade_to_head(db.url)
        loaded = asyncio.run(load(db.dsn, plan.size))
        log(f"data set loaded in {loaded['seconds']} s: {loaded['counts']}")
        server = Server(db)
        bench = Bench(plan, server, db, loaded["token"], log)
        bench.nested_read()
        bench.statements()
        bench.small_read()
        bench.placement()
        bench.saleor_reference()
        bench.fanout()
        server.close()
        server = None
        bench.cold_start()
        import asyncpg

        pg_version = asyncio.run(_pg_version(db.dsn, asyncpg))
    finally:
        if server is not None:
            server.close()
        db.close()

    result = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": "quick" if args.quick else "full",
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "postgresql": pg_version, "database": db.kind,
                    "note": "server, PostgreSQL and load generator share the same cores"},
        "method": {"runs_per_figure": plan.runs, "seconds_per_run": plan.duration, "warmup_seconds": plan.warmup,
                   "figure": "median of the runs"},
        "dataset": {**plan.size.__dict__, "load_seconds": loaded["seconds"], "counts": loaded["counts"]},
        "scenarios": bench.rows,
        "curves": {name: {str(c): {k: v for k, v in m.items() if k != "runs"} for c, m in points.items()}
                   for name, points in bench.curves.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\n{os.cpu_count()} cores; median of {plan.runs} run(s) of {plan.duration} s after a warm-up; "
          f"data set {plan.size.orders} orders / {plan.size.skus} SKUs on {db.kind} PostgreSQL {pg_version}\n")
    print(table(bench.rows))
    print(f"\nJSON: {json_path}")
    if chart_path is not None and chart(bench.curves, chart_path):
        print(f"chart: {chart_path}")
    return 0


async def _pg_version(dsn: str, asyncpg: Any) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()


if __name__ == "__main__":
    sys.exit(main())
