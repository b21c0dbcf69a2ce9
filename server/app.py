"""The ASGI application: `create_app(settings)` builds it, `lifespan` opens and closes its resources."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)

from app.auth.service import bearer_token, still_valid
from app.billing import config as billing_config
from app.infra import metrics as prometheus
from app.infra.database import Database
from app.infra.faults import Unavailable, is_connection_error
from app.infra.hub import LiveHub
from app.infra.metrics import Metrics
from app.infra.migrate import head_revisions
from app.infra.ratelimit import RateLimiter
from app.infra.settings import Settings
from graphql_schema.schema import build_schema
from resolvers.context import Context
from server import downloads, guards, observability, pages, schema_download, ws_keys
from server.background import background_tasks
from server.cors import Origins, PathCORS
from server.http_protocol import HEADER_TEXTS, STATIC_DIR, BrowserProtocolMixin, StreamLimiter, _content_type

log = logging.getLogger("oms")

MAX_SUBSCRIPTIONS_PER_CONNECTION = 50


class ClosingAdapter(ASGIWebSocketAdapter):
    """Tolerates a close of a socket on_ws_connect already closed with its own code (1011/1013)."""

    async def close(self, code: int, reason: str) -> None:
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            await self.ws.close(code=code, reason=reason)


class GraphQLApp(BrowserProtocolMixin, guards.JSONGuard, GraphQL[Context, None]):
    """Strawberry's ASGI view with our context and WebSocket authentication; browser protocols (CORS origins,
    subscriptions over HTTP, graphql-response+json: server/http_protocol.py, issue 12); JSON decoding that only
    fails as a 400 / 4400 and WebSocket handlers a revoked key's sweep can close (issue 13); a set-up that
    fails closes with 1011/1013 (issue 14)."""

    graphql_transport_ws_handler_class = ws_keys.TransportWSHandler
    graphql_ws_handler_class = ws_keys.LegacyWSHandler

    websocket_adapter_class = ClosingAdapter

    def __init__(self, state: Any, settings: Settings) -> None:
        self.origins = Origins(settings.cors_origins, production=settings.production)
        self.http_streams = StreamLimiter(settings.http_streams_per_caller)
        super().__init__(
            build_schema(production=settings.production, settings=settings),
            graphql_ide=None if settings.production else "graphiql",
            subscription_protocols=(
                GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL, GRAPHQL_SSE_PROTOCOL,
            ),
            allowed_origins=self.origins.allowed_list,
            # A socket that never sends connection_init is closed with 4408 after this long.
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
        )
        schema: Any = self.schema
        schema.extensions = (*schema.extensions, observability.RecordOperation, *observability.tracing(settings.otel))
        self.state = state
        self.settings = settings

    # ---- issue 15: strawberry's per-request header parsing, memoised by the header's text (the same answer for the same text)
    def _get_stream_transport_from_headers(self, headers: Any) -> Any:
        accept = headers.get("accept", "") if isinstance(headers, Headers) else \
            next((value for key, value in headers.items() if key.lower() == "accept"), "")
        known = self.__dict__.setdefault("_transports_by_accept", {})
        if accept in known:
            return known[accept]
        found = super()._get_stream_transport_from_headers({"accept": accept})
        if len(known) < HEADER_TEXTS:
            known[accept] = found
        return found

    async def parse_http_body(self, request: Any) -> Any:
        """strawberry 0.341.2's, with the Content-Type parsed once per distinct text (its email-parser based
        parse_content_type was ~3 % of a small read)."""
        content_type, _ = _content_type(request.content_type or "")
        transport = self._get_stream_transport_from_headers(request.headers)
        protocol: Any = transport.protocol if transport else "http"
        data: Any
        if request.method == "GET":
            data = self.parse_query_params(request.query_params)
        elif "application/json" in content_type:
            # the planned lane (server/http_protocol.py) already decoded this request's body with the same parse_json
            state = getattr(getattr(request, "_request", None), "state", None)
            data = getattr(state, "oms_json_body", None) if state is not None else None
            if data is None:
                data = self.parse_json(await request.get_body())
        elif self.multipart_uploads_enabled and content_type == "multipart/form-data":
            data = await self.parse_multipart(request)
        else:
            raise HTTPException(400, "Unsupported content type")
        if isinstance(data, list):
            self._validate_batch_request(data, protocol=protocol)
            return [GraphQLRequestData(query=item.get("query"), variables=item.get("variables"), operation_name=item.get("operationName"),
                                       extensions=item.get("extensions"), protocol=protocol) for item in data]
        query = data.get("query")
        if not isinstance(query, (str, type(None))):
            raise HTTPException(400, "The GraphQL operation's `query` must be a string or null, if provided.")
        variables = data.get("variables")
        if not isinstance(variables, (dict, type(None))):
            raise HTTPException(400, "The GraphQL operation's `variables` must be an object or null, if provided.")
        extensions = data.get("extensions")
        if not isinstance(extensions, (dict, type(None))):
            raise HTTPException(400, "The GraphQL operation's `extensions` must be an object or null, if provided.")
        return GraphQLRequestData(query=query, variables=variables, operation_name=data.get("operationName"), extensions=extensions,
                                  protocol=protocol)

    def encode_json(self, data: object) -> str:
        """orjson on every response path (HTTP, multipart, SSE, WebSocket: text frames, so a str); it writes the
        read planner's JSON fragments (resolvers/planner) as they are. Integers beyond 64 bits (a JSON scalar's
        stored value) fall back to the standard library's encoder."""
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return json.dumps(data, separators=(",", ":"))

    def create_response(self, response_data: Any, sub_response: Any) -> Response:
        """An UNAVAILABLE error (database down, lock or statement timeout) is HTTP 503 + Retry-After."""
        response = super().create_response(response_data, sub_response)
        items = response_data if isinstance(response_data, list) else [response_data]
        if any((e.get("extensions") or {}).get("code") == "UNAVAILABLE" for r in items for e in (r.get("errors") or [])):
            response.status_code = 503
            response.headers["Retry-After"] = "1"
        return response

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        token = bearer_token(request.headers.get("authorization")) if isinstance(request, Request) else None
        context = Context(
            db=self.state.db, settings=self.settings, request_id=observability.request_id(), token=token,
            hub=self.state.hub, request=request, response=response, rate_limiter=self.state.rate_limiter,
        )
        return context  # for a WebSocket, on_ws_connect sets the token from connection_init

    async def on_ws_connect(self, context: Context) -> Any:
        """A bad key closes the socket with 4403 before any subscription runs; no key is allowed
        (public `trackOrder` only), and every subscription checks its own scope. A database that
        cannot be asked closes it with 1013 (try again later), any other failure with 1011."""
        try:
            return await self._authenticate_ws(context)
        except ConnectionRejectionError:
            raise
        except Exception as exc:
            retry = isinstance(exc, Unavailable) or is_connection_error(exc)
            code, reason = (1013, "database unavailable; retry later") if retry else (1011, "internal error")
            if retry:
                log.warning("websocket set-up failed: %s", exc)
            else:
                log.exception("websocket set-up failed")
            await context.request.close(code=code, reason=reason)
            raise ConnectionRejectionError() from exc

    async def _authenticate_ws(self, context: Context) -> Any:
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


def open_database(settings: Settings) -> Database:
    """The process's database (pool, timeouts, replica) as the settings say: the app's and `oms worker`'s."""
    return Database(
        settings.database_url or "", pool_size=settings.db_pool_size, lock_timeout_ms=settings.db_lock_timeout_ms,
        statement_timeout_ms=settings.db_statement_timeout_ms, retry_budget_ms=settings.db_retry_budget_ms, pre_ping=settings.db_pre_ping,
        replica_url=settings.database_replica_url, replica_max_wait_ms=settings.replica_max_wait_ms,
        read_concurrency=settings.db_read_concurrency,
    )


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    db = open_database(settings)
    hub = LiveHub(db, settings.broadcast_url, poll_interval=settings.live_poll_seconds)
    app.state.db, app.state.hub = db, hub
    billing_config.configure(settings)
    await hub.start()
    background = app.state.background = background_tasks(db, hub, settings)  # server/background.py: the list `oms worker` runs too
    for task in background:
        task.start()
    key_sweeper = ws_keys.Sweeper(_socket_key, lambda ids: _valid_keys(db, ids), settings.key_sweep_seconds)  # issue 13
    key_sweeper.start()
    try:
        yield
    finally:
        # bounded, so that SIGTERM exits within the drain time + ~2 s even with the database gone
        for step in (key_sweeper.stop, app.state.rate_limiter.close, *(task.stop for task in reversed(background)), hub.stop, db.dispose):
            try:
                await asyncio.wait_for(step(), 2)
            except Exception:
                log.warning("shutdown step %s did not finish cleanly", step.__qualname__, exc_info=True)
        prometheus.mark_process_dead()


def _socket_key(context: Any) -> str | None:
    principal = context.cached_principal()[1] if isinstance(context, Context) else None
    return principal.key_id if principal is not None else None


async def _valid_keys(db: Database, key_ids: Any) -> set[str]:
    async with db.read() as session:
        return await still_valid(session=session, key_ids=set(key_ids))


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
    if state.settings.production and not await _is_admin(request):  # issue 13: behind an admin key in production
        return JSONResponse({"error": "an API key with the admin scope is required"}, status_code=401)
    hub: LiveHub = state.hub
    body = state.metrics.render(subscribers=hub.subscribers, subscriptions_opened=hub.registrations, last_event_seq=hub.last_seq)
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4")


async def _is_admin(request: Request) -> bool:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        return False
    from app.auth.service import authenticate

    async with request.app.state.db.read() as session:
        principal = await authenticate(session=session, token=token)
    return principal is not None and "admin" in principal.scopes


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    if os.environ.get("OMS_CONFIGURE_LOGGING"):  # set by `oms serve`: spawned workers configure their own logging
        observability.configure_logging(settings.log_format)
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set; `oms serve` starts the embedded PostgreSQL and sets it")
    origins = Origins(settings.cors_origins, production=settings.production)
    app = Starlette(lifespan=lifespan, middleware=[
        *observability.middleware(),
        Middleware(PathCORS, origins=origins),  # issue 12
        # issue 13: 413 over max_body_bytes, 1009 over ws_max_message_bytes
        Middleware(guards.BodySizeLimit, max_body=settings.max_body_bytes, max_ws_message=settings.ws_max_message_bytes),
    ])
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.rate_limiter = RateLimiter.from_url(settings.rate_limit_storage)  # issue 13
    graphql = GraphQLApp(app.state, settings)
    app.router.routes.extend(
        [
            Route("/graphql", graphql, methods=["GET", "POST"]),
            schema_download.route(graphql.schema, production=settings.production),  # issue 17
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
