"""The ASGI application: `create_app(settings)` builds it, `lifespan` opens and closes its resources."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)

from app.auth.service import bearer_token
from app.billing import config as billing_config
from app.flows.expiry import ExpiryWorker
from app.infra.database import Database
from app.infra.hub import LiveHub
from app.infra.metrics import Metrics
from app.infra.migrate import head_revisions
from app.infra.settings import Settings
from graphql_schema.schema import build_schema
from resolvers.context import Context
from server import downloads, pages
from server.cors import Origins, PathCORS
from server.http_protocol import STATIC_DIR, BrowserProtocolMixin, StreamLimiter

log = logging.getLogger("oms")

MAX_SUBSCRIPTIONS_PER_CONNECTION = 50


class GraphQLApp(BrowserProtocolMixin, GraphQL):
    """Strawberry's ASGI view with our context and WebSocket authentication (browser protocols: server/http_protocol.py)."""

    def __init__(self, state: Any, settings: Settings) -> None:
        self.origins = Origins(settings.cors_origins, production=settings.production)
        self.http_streams = StreamLimiter(settings.http_streams_per_caller)
        super().__init__(
            build_schema(production=settings.production),
            graphql_ide=None if settings.production else "graphiql",
            subscription_protocols=(
                GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL, GRAPHQL_SSE_PROTOCOL,
            ),
            allowed_origins=self.origins.allowed_list,
            # A socket that never sends connection_init is closed with 4408 after this long.
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
        )
        self.state = state
        self.settings = settings

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        token = bearer_token(request.headers.get("authorization")) if isinstance(request, Request) else None
        context = Context(
            db=self.state.db, settings=self.settings, request_id=uuid.uuid4().hex[:16], token=token,
            hub=self.state.hub, request=request, response=response,
        )
        return context  # for a WebSocket, on_ws_connect sets the token from connection_init

    async def on_ws_connect(self, context: Context) -> Any:
        """A bad key closes the socket with 4403 before any subscription runs; no key is allowed
        (public `trackOrder` only), and every subscription checks its own scope."""
        payload = context.connection_params if isinstance(context.connection_params, dict) else {}
        raw = payload.get("authorization") or payload.get("Authorization")
        if raw is None:
            return None
        token = bearer_token(str(raw))
        if token is None:
            raise ConnectionRejectionError({"reason": "malformed authorization"})
        context.token = token
        if await context.principal() is None:
            raise ConnectionRejectionError({"reason": "invalid API key"})
        return None


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    db = Database(settings.database_url or "", pool_size=settings.db_pool_size)
    hub = LiveHub(db, settings.broadcast_url, poll_interval=settings.live_poll_seconds)
    app.state.db, app.state.hub = db, hub
    billing_config.configure(settings)
    await hub.start()
    payment_expiry = ExpiryWorker(db, settings.expiry_interval_seconds)
    payment_expiry.start()
    try:
        yield
    finally:
        await payment_expiry.stop()
        await hub.stop()
        await db.dispose()


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = request.app.state
    try:
        async with state.db.read() as session:
            current = set((await session.execute(text("SELECT version_num FROM alembic_version"))).scalars())
        migrated = current == head_revisions()
    except Exception:
        log.exception("readiness check failed")
        return JSONResponse({"status": "unavailable", "database": False}, status_code=503)
    ok = migrated and state.hub.connected
    return JSONResponse({"status": "ok" if ok else "unavailable", "database": True, "migrated": migrated, "broadcast": state.hub.connected},
                        status_code=200 if ok else 503)


async def metrics(request: Request) -> Response:
    state = request.app.state
    hub: LiveHub = state.hub
    body = state.metrics.render(subscribers=hub.subscribers, subscriptions_opened=hub.registrations, last_event_seq=hub.last_seq)
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set; `oms serve` starts the embedded PostgreSQL and sets it")
    origins = Origins(settings.cors_origins, production=settings.production)
    app = Starlette(lifespan=lifespan, middleware=[Middleware(PathCORS, origins=origins)])
    app.state.settings = settings
    app.state.metrics = Metrics()
    graphql = GraphQLApp(app.state, settings)
    app.router.routes.extend(
        [
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            *downloads.ROUTES,
            *pages.ROUTES,
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ]
    )
    return app
