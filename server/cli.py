"""`oms` command line: serve, worker, migrate, seed, apikey, export-schema, check."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from app.infra.settings import Settings

log = logging.getLogger("oms")


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or the embedded server under OMS_DATA_DIR (started now, stopped at exit)."""
    if settings.database_url:
        return settings.database_url
    from app.infra.embedded_pg import start_embedded

    return start_embedded(settings.data_dir)


def _with_db(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    from app.infra.database import Database

    async def run() -> Any:
        db = Database(database_url(settings), pool_size=2)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app.infra.migrate import upgrade_to_head

    upgrade_to_head(database_url(settings))
    print("database migrated to head")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from app.demo import seed_demo
    from app.infra.migrate import upgrade_to_head

    if not args.demo:
        print("nothing to seed: pass --demo", file=sys.stderr)
        return 2
    upgrade_to_head(database_url(settings))
    created = _with_db(settings, lambda db: seed_demo(db))
    print("demo data loaded" if created else "demo data already present")
    return 0


def parse_duration(text: str) -> timedelta:
    """"90d", "12h", "30m", "45s" (issue 13: `apikey create --expires-in`)."""
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    if unit not in units or not value.isdigit() or int(value) <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration like 90d, 12h, 30m or 45s, not {text!r}")
    return timedelta(**{units[unit]: int(value)})


def cmd_apikey(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth.cache import revoke_from_outside
    from app.auth.service import create_api_key, list_api_keys
    from app.errors import DomainError

    try:
        if args.action == "list":
            async def keys(db: Any) -> Any:
                async with db.read() as session:
                    return await list_api_keys(session=session)

            now = datetime.now(UTC)
            for key in _with_db(settings, keys):
                state = ("revoked" if key.revoked_at else "expired" if key.expires_at and key.expires_at <= now else "active")
                expires = key.expires_at.isoformat(timespec="seconds") if key.expires_at else "never"
                created = key.created_at.isoformat(timespec="seconds")
                print(f"{key.name}\t{state}\t{','.join(key.scopes)}\tcreated {created}\texpires {expires}")
        elif args.action == "create":
            scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
            token = _with_db(settings, lambda db: db.run(
                lambda uow: create_api_key(uow=uow, name=args.name, scopes=scopes, expires_in=args.expires_in)))
            print(f"created API key {args.name!r} with scopes {','.join(scopes)}; the token is shown once:")
            print(token)
        else:
            # issue 16: then every serving process drops the key from its cache (broadcast)
            _with_db(settings, lambda db: revoke_from_outside(db, name=args.name, broadcast_url=settings.broadcast_url))
            print(f"revoked API key {args.name!r}")
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


def cmd_export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from graphql_schema.schema import schema

    print(schema.as_str())
    return 0


# A GraphQL response of a few hundred rows allocates tens of thousands of short-lived objects;
# at the default threshold (700) the collector runs dozens of times per request and, with many
# requests in flight, keeps re-scanning everything they hold. Collect less often, and never scan
# what is loaded at start (modules, the schema, the ORM mappers).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def raise_nofile_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit: every open WebSocket is a file descriptor (issue 15)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.infra.migrate import upgrade_to_head
    from server.ws_protocol import WS_PROTOCOL

    url = database_url(settings)
    os.environ["DATABASE_URL"] = url  # workers (and reloads) reuse the same server
    upgrade_to_head(url)
    if args.demo:
        from app.demo import seed_demo

        _with_db(replace(settings, database_url=url), lambda db: seed_demo(db))
    # uvicorn re-raises the SIGTERM it handled once it has shut down; exiting normally
    # instead lets atexit stop the embedded PostgreSQL.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    os.environ["OMS_CONFIGURE_LOGGING"] = "1"  # spawned workers configure structlog the same way
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="oms-metrics-")  # /metrics sums every worker
    tune_gc()
    quiet_logs()
    raise_nofile_limit()
    config = uvicorn.Config(
        "server.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
        log_config=None, access_log=False, proxy_headers=False,
        # SIGTERM: stop accepting, let requests finish for this long, then answer the rest with a JSON 503.
        timeout_graceful_shutdown=settings.drain_seconds,  # type: ignore[arg-type]  # a float works; the hint says int
        # Live messages are a few hundred bytes: per-message deflate would cost a zlib context
        # (~40 KiB) per socket and latency on every send for little saving.
        ws_per_message_deflate=False,
        # issue 13: the transport's own WebSocket message limit (1009) above the app's (server/guards.py)
        ws_max_size=max(settings.ws_max_message_bytes * 4, 1_048_576),
        ws=WS_PROTOCOL,  # issue 15: uvicorn's default protocol without the handshake kept per open socket
    )
    if config.workers > 1:
        sock = config.bind_socket()  # exits if the port is taken
        log.info("serving on http://%s:%d/graphql", args.host, sock.getsockname()[1])
        uvicorn.supervisors.Multiprocess(config, sockets=[sock]).run()
        return 0
    server = BoundServer(config)
    server.run()
    return 0 if server.started else 3


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """The background tasks of server/background.py and no HTTP (hooks, issue 17): for deployments that run them
    apart from `oms serve` (which runs them too; both are safe side by side). Logs `worker ready` once they run;
    SIGTERM or SIGINT stops them in reverse order."""
    from app.infra.migrate import head_revisions

    url = database_url(settings)
    settings = replace(settings, database_url=url)

    async def current_revisions() -> set[str]:
        from sqlalchemy import text

        from app.infra.database import Database

        db = Database(url, pool_size=1)
        try:
            async with db.read() as session:
                return set((await session.execute(text("SELECT version_num FROM alembic_version"))).scalars())
        finally:
            await db.dispose()

    if asyncio.run(current_revisions()) != head_revisions():
        print("the database is not migrated to head: run `oms migrate` (or `oms serve`) first", file=sys.stderr)
        return 3
    quiet_logs()
    asyncio.run(run_worker(settings))
    return 0


async def run_worker(settings: Settings) -> None:
    from app.billing import config as billing_config
    from app.infra.hub import LiveHub
    from server.app import open_database
    from server.background import background_tasks

    db = open_database(settings)
    # The hub only to learn the confirmed horizon of the event log and hear other processes' notices: no subscribers.
    hub = LiveHub(db, settings.broadcast_url, poll_interval=settings.live_poll_seconds)
    billing_config.configure(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await hub.start()
    tasks = background_tasks(db, hub, settings)
    try:
        for task in tasks:
            task.start()
        log.info("worker ready: %s", ", ".join(type(task).__name__ for task in tasks))
        await stopping.wait()
        log.info("worker stopping")
    finally:
        for step in (*(task.stop for task in reversed(tasks)), hub.stop, db.dispose):
            try:
                async with asyncio.timeout(5):
                    await step()
            except Exception:
                log.warning("shutdown step %s did not finish cleanly", step.__qualname__, exc_info=True)


def _bound_server_class() -> Any:
    import uvicorn

    class Bound(uvicorn.Server):
        """Prints `serving on` only once the socket is bound (a taken port prints an error instead)."""

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started and self.servers:
                host, port = self.servers[0].sockets[0].getsockname()[:2]
                log.info("serving on http://%s:%d/graphql", host, port)

    return Bound


def BoundServer(config: Any) -> Any:  # a class made on first use: uvicorn is imported lazily
    return _bound_server_class()(config)


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from app.infra.check import check_invariants

    violations = _with_db(settings, check_invariants)
    if not violations:
        print("oms check: all invariants hold")
        return 0
    print(f"oms check: {len(violations)} violation(s)", file=sys.stderr)
    for violation in violations:
        print(f"  {violation}", file=sys.stderr)
    return 1


class StripQueryString(logging.Filter):
    """uvicorn.access logs `GET /graphql?query=…&variables=…`: a GET's variables (emails, tracking pairs)
    would land in the log. Keep the path only (issue 13)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def quiet_logs() -> None:
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)  # SQL and its parameters are INFO there
    logging.getLogger("uvicorn.access").addFilter(StripQueryString())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oms", description="Order Management System: GraphQL API with live subscriptions.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--demo", action="store_true", help="load the demo data set when the database is empty")
    serve.set_defaults(run=cmd_serve)
    sub.add_parser("worker", help="run only the background tasks (webhook delivery, expiry), no HTTP").set_defaults(run=cmd_worker)
    sub.add_parser("migrate", help="run migrations to head").set_defaults(run=cmd_migrate)
    seed = sub.add_parser("seed", help="load data")
    seed.add_argument("--demo", action="store_true")
    seed.set_defaults(run=cmd_seed)
    apikey = sub.add_parser("apikey", help="manage API keys")
    apikey_sub = apikey.add_subparsers(dest="action", required=True)
    create = apikey_sub.add_parser("create")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", required=True, help="comma-separated, e.g. orders:read,orders:write or admin")
    create.add_argument("--expires-in", type=parse_duration, default=None, help="e.g. 90d, 12h, 30m: the key stops working then")
    apikey_sub.add_parser("list", help="every key: name, state, scopes, created, expires (never a token)")
    revoke = apikey_sub.add_parser("revoke")
    revoke.add_argument("--name", required=True)
    apikey.set_defaults(run=cmd_apikey)
    sub.add_parser("export-schema", help="print the GraphQL SDL").set_defaults(run=cmd_export_schema)
    sub.add_parser("check", help="verify the data invariants; exits 1 with a report on any violation").set_defaults(run=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    from server.observability import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_format)
    args = build_parser().parse_args(argv)
    return args.run(args, settings)


if __name__ == "__main__":
    sys.exit(main())
