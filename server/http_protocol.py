"""GraphQL over HTTP for browsers (issue 12): the view overrides behind `GraphQLApp`.

- `application/graphql-response+json` when the client accepts it: 4xx and no `data` entry on parse,
  validation and variable-coercion failures (the GraphQL-over-HTTP spec; `graphql-http`'s audit checks it).
- Subscriptions over HTTP: Strawberry's multipart subscriptions (`Accept: multipart/mixed;subscriptionSpec=1.0`,
  what Apollo Client/iOS/Kotlin speak natively) and graphql-sse distinct connections mode (`Accept:
  text/event-stream`, urql's `fetchSubscriptions` and the `graphql-sse` client). Same `get_context`, Bearer
  auth, scopes and `after` resume as the WebSocket path (the same resolvers run); an open-streams cap per
  caller; unsupported combinations get a clear 4xx instead of an internal error.
- The offline GraphiQL page and the WebSocket Origin check (rule in server/cors.py).

`GraphQLApp(BrowserProtocolMixin, GraphQL)` picks these up; they rely on AsyncBaseHTTPView's public (undocumented)
hooks `execute_operation`, `execute_single`, `create_streaming_response`, covered by tests/test_graphql_over_http.py
and tests/test_http_subscriptions.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError, parse
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_operation_type

from resolvers.live import shared_payload
from resolvers.planner.fast import FAST
from resolvers.planner.mutations import MUTATIONS
from server.cors import Origins

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
MULTIPART_PROTOCOL = "multipart-subscription"  # strawberry's GraphQLRequestData.protocol for the multipart Accept
STATIC_DIR = Path(__file__).parent / "static"
SUBSCRIPTION_NEEDS_STREAM = (
    "Subscriptions over HTTP need 'Accept: multipart/mixed;subscriptionSpec=1.0' or 'Accept: text/event-stream'; "
    "or use a WebSocket (graphql-transport-ws) on this URL."
)


def accepts_graphql_response_json(accept: str | None) -> bool:
    """The client lists application/graphql-response+json (q > 0) and does not rank application/json above it.
    No Accept header: the legacy application/json."""
    if not accept:
        return False
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        weight = 1.0
        for param in params:
            if param.lower().startswith("q="):
                try:
                    weight = float(param[2:])
                except ValueError:
                    weight = 0.0
        weights[media.lower()] = max(weights.get(media.lower(), 0.0), weight)
    wanted = weights.get(GRAPHQL_RESPONSE_JSON, 0.0)
    return wanted > 0 and wanted >= weights.get("application/json", 0.0)


def is_request_error(result: ExecutionResult) -> bool:
    """Parse, validation and variable-coercion errors: no data, and no error has a path (field errors always
    do; the masking extension keeps the path, so a masked field error is not a request error)."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(getattr(e, "path", None) is None for e in errors)


class StreamLimiter:
    """Open HTTP subscription streams per caller (API key name, or client address for keyless `trackOrder`)."""

    def __init__(self, per_caller: int) -> None:
        self.per_caller = per_caller
        self.open: Counter[str] = Counter()

    def acquire(self, caller: str) -> None:
        if self.open[caller] >= self.per_caller:
            raise HTTPException(429, f"Too many open subscriptions over HTTP for this caller (at most {self.per_caller}); close one first.")
        self.open[caller] += 1

    def release(self, caller: str) -> None:
        self.open[caller] -= 1
        if self.open[caller] <= 0:
            del self.open[caller]

    @property
    def total(self) -> int:
        return sum(self.open.values())


class BrowserProtocolMixin:
    """View overrides; the concrete view sets `origins` and `http_streams` in its __init__."""

    origins: Origins
    http_streams: StreamLimiter

    # ---- WebSocket Origin: strawberry asks only for cross-origin handshakes; False -> HTTP 403 before accept.
    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        return self.origins.allows(origin)

    # ---- GraphiQL from the app's own files (server/static/vendor), so it works with no internet.
    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse((STATIC_DIR / "graphiql.html").read_text(encoding="utf-8"))

    # ---- Subscriptions over HTTP
    async def execute_operation(
        self, request: Any, request_adapter: Any, request_data: Any, context: Any, root_value: Any, sub_response: Any
    ) -> Any:
        request.state.oms_context = context  # for the stream limit, which needs the caller
        if not isinstance(request_data, list) and request_data.protocol == MULTIPART_PROTOCOL and request_data.query:
            try:
                operation: OperationType | None = get_operation_type(parse(request_data.query), request_data.operation_name)
            except (GraphQLError, RuntimeError):
                operation = None  # a parse error is reported in the stream, as for any subscription
            if operation is not None and operation is not OperationType.SUBSCRIPTION:
                raise HTTPException(
                    406, f"'Accept: multipart/mixed;subscriptionSpec=1.0' is for subscriptions; send this {operation.value} "
                    "with 'Accept: application/json' (or application/graphql-response+json)."
                )
        return await super().execute_operation(  # type: ignore[misc]
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def execute_single(
        self, request: Any, request_adapter: Any, sub_response: Any, context: Any, root_value: Any, request_data: Any
    ) -> ExecutionResult:
        """Strawberry's, minus SUBSCRIPTION: reached only when no streaming Accept was sent, where a subscription
        would otherwise run as a query and fail with an internal error."""
        allowed = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        if not self.allow_queries_via_get and request_adapter.method == "GET":  # type: ignore[attr-defined]
            allowed -= {OperationType.QUERY}
        try:
            schema: Any = self.schema  # type: ignore[attr-defined]
            fast = await FAST.execute(schema, request_data.query, request_data.variables, request_data.operation_name, context, root_value,
                                      allowed, request_data.extensions)  # issue 15: an all-planned query (resolvers/planner/fast.py)
            if fast is not None:
                return fast
            planned = await MUTATIONS.execute(schema, request_data.query, request_data.variables, request_data.operation_name, context,
                                              root_value, allowed, request_data.extensions)  # writes7: a known placeOrder document
            if planned is not None:
                return planned
            result: ExecutionResult = await schema.execute(
                request_data.query, root_value=root_value, variable_values=request_data.variables, context_value=context,
                operation_name=request_data.operation_name, allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
            FAST.observe(schema, request_data.query, request_data.operation_name, allowed, result)
            MUTATIONS.observe(schema, request_data.query, request_data.operation_name, allowed, result)
            return result
        except InvalidOperationTypeError as e:
            if e.operation_type is OperationType.SUBSCRIPTION:
                raise HTTPException(400, SUBSCRIPTION_NEEDS_STREAM) from e
            raise HTTPException(400, e.as_http_error_reason(request_adapter.method)) from e
        except CannotGetOperationTypeError as e:
            raise HTTPException(400, e.as_http_error_reason()) from e
        except MissingQueryError as e:
            raise HTTPException(400, "No GraphQL query found in the request") from e

    async def create_streaming_response(
        self, request: Any, stream: Callable[[], AsyncIterator[str]], sub_response: Any, headers: Mapping[str, str]
    ) -> Response:
        caller = await self._stream_caller(request)
        self.http_streams.acquire(caller)  # 429 before anything streams
        limiter = self.http_streams

        async def counted() -> AsyncIterator[str]:
            try:
                async for chunk in stream():
                    yield chunk
            finally:  # the client went away, the server shuts down, or the subscription completed
                limiter.release(caller)

        try:
            return await super().create_streaming_response(request, counted, sub_response, headers)  # type: ignore[misc]
        except BaseException:
            limiter.release(caller)
            raise

    def encode_json_string(self, data: object) -> str:
        """Strawberry's encoder of stream parts (SSE `next` data: the payload; multipart: `{"payload": ...}`):
        an event shared by every subscriber of its shape is its pre-written JSON, spliced (issue 15)."""
        if isinstance(data, dict):
            shared = shared_payload(data)
            if shared is not None:
                return shared
            if len(data) == 1 and (inner := shared_payload(data.get("payload"))) is not None:
                return '{"payload":' + inner + "}"
        return super().encode_json_string(data)  # type: ignore[misc]

    async def _stream_caller(self, request: Request) -> str:
        context = getattr(request.state, "oms_context", None)
        principal = await context.principal() if context is not None else None
        if principal is not None:
            return principal.actor
        if context is not None and context.token:
            # Like a bad key in connection_init (4403): refused before anything runs.
            raise HTTPException(401, "Invalid API key.")
        client = request.client
        return f"ip:{client.host if client else '?'}"

    # ---- application/graphql-response+json
    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub: Response = await super().get_sub_response(request)  # type: ignore[misc]
        # create_response sees only the sub-response, so the choice rides on it.
        sub.oms_graphql_response_json = accepts_graphql_response_json(request.headers.get("accept"))  # type: ignore[attr-defined]
        request.state.sub_response = sub
        return sub

    async def process_result(self, request: Request, result: ExecutionResult) -> Any:
        data = await super().process_result(request, result)  # type: ignore[misc]
        sub = getattr(request.state, "sub_response", None)
        if getattr(sub, "oms_graphql_response_json", False) and is_request_error(result):
            data.pop("data", None)
            sub.status_code = 400  # type: ignore[union-attr]
        return data

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response: Response = super().create_response(response_data, sub_response)  # type: ignore[misc]
        if getattr(sub_response, "oms_graphql_response_json", False):
            response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
        return response
