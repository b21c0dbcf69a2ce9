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

import functools
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError, parse
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.websockets import WebSocket
from strawberry.exceptions import MissingQueryError
from strawberry.http.parse_content_type import parse_content_type
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


HEADER_TEXTS = 256  # distinct Accept / Content-Type texts remembered per view


@functools.lru_cache(maxsize=HEADER_TEXTS)
def _content_type(text: str) -> tuple[str, dict[str, str]]:
    return parse_content_type(text)  # read-only: parse_http_body reads the mime type only


@functools.lru_cache(maxsize=HEADER_TEXTS)
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


POST_OPERATIONS = OperationType.from_http("POST") - {OperationType.SUBSCRIPTION}  # what execute_single allows a POST


class PlannedLane:
    """The switch (tests compare the lane with `run`) and a count of the POSTs it answered."""

    on = True
    served = 0
    mutations = 0  # of which remembered placeOrder documents (issue 16, session 8)


LANE = PlannedLane()


class BrowserProtocolMixin:
    """View overrides; the concrete view sets `origins` and `http_streams` in its __init__."""

    origins: Origins
    http_streams: StreamLimiter

    # ---- issue 15 (reads7, session 7): a POST of a remembered all-planned query skips strawberry's request pipeline
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """strawberry's ASGI entry (GraphQL.__call__), with the planned lane in front of `run` for HTTP POSTs."""
        if scope["type"] != "http" or scope["method"] != "POST":
            await super().__call__(scope, receive, send)  # type: ignore[misc]
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self._planned_response(request)
            if response is None:
                tried = getattr(request.state, "oms_lane", None)  # (root value, sub-response, context) of a lane that fell through
                if tried is None:
                    response = await self.run(request)  # type: ignore[attr-defined]
                else:  # the same ones, as execute_single reused them after the fast path: the key is looked up once
                    response = await self.run(request, context=tried[2], root_value=tried[0])  # type: ignore[attr-defined]
        except HTTPException as e:
            response = PlainTextResponse(e.reason, status_code=e.status_code)
        await response(scope, receive, send)

    async def _planned_response(self, request: Request) -> Response | None:
        """The response `run` gives a POST whose JSON body is a query the planner's fast path knows
        (resolvers/planner/fast.py), built by the same hooks `run` calls (get_root_value, get_sub_response,
        get_context, process_result, create_response) around the fast path instead of parse_http_body and
        execute_operation; None (nothing sent) for anything else: then `run` serves it as always, with the root value,
        sub-response and context the lane made if it got that far (as execute_single went on with them after the fast path).
        What is skipped decides nothing for such a request: the method is POST (allowed; no GraphiQL page), the
        body is the same JSON parse_http_body reads (the same decoder; a non-streaming Accept, a JSON Content-Type,
        `query` a string, `variables` an object or null, `extensions` an object or null), and execute_single's
        first step is this same fast path with the operations a POST allows.
        Issue 16, session 8: a remembered placeOrder document (resolvers/planner/mutations.py) takes the lane the same
        way, execute_single's second step; when it refuses (nothing has run) `run` serves it without trying it again."""
        schema: Any = self.schema  # type: ignore[attr-defined]
        if not LANE.on or not (FAST.has_entries(schema) or MUTATIONS.has_entries(schema)):
            return None
        headers = request.headers
        if "application/json" not in _content_type(headers.get("content-type") or "")[0] \
                or self._get_stream_transport_from_headers(headers) is not None:  # type: ignore[attr-defined]
            return None
        try:
            data = self.parse_json(await request.body())  # type: ignore[attr-defined]
        except Exception:  # run() reports it (the body is kept on the request)
            return None
        request.state.oms_json_body = data  # parse_http_body (server/app.py) takes it from here if `run` serves the request
        if type(data) is not dict:
            return None
        query, variables, name, extensions = data.get("query"), data.get("variables"), data.get("operationName"), data.get("extensions")
        if type(query) is not str or (name is not None and type(name) is not str) \
                or (variables is not None and type(variables) is not dict) or (extensions is not None and type(extensions) is not dict):
            return None
        query_known = FAST.knows(schema, query, name)
        if not query_known and not MUTATIONS.knows(schema, query, name):  # (a text is one or the other: a query or a mutation)
            return None
        root_value = await self.get_root_value(request)  # type: ignore[attr-defined]
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)  # type: ignore[attr-defined]
        request.state.oms_context = context
        request.state.oms_lane = (root_value, sub_response, context)  # `run` goes on with these if this falls through
        if query_known:
            request.state.oms_fast_tried = True  # execute_single does not try it a second time if this falls through
            result = await FAST.execute(schema, query, variables, name, context, root_value, POST_OPERATIONS, extensions)
        else:  # issue 16, session 8: a remembered placeOrder document (resolvers/planner/mutations.py), nothing run if None
            request.state.oms_mutation_tried = True
            result = await MUTATIONS.execute(schema, query, variables, name, context, root_value, POST_OPERATIONS, extensions)
        if result is None:
            return None
        LANE.served += 1
        LANE.mutations += not query_known
        response_data = await self.process_result(request, result)
        return self.create_response(response_data, sub_response)

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
            if not getattr(request.state, "oms_fast_tried", False):
                fast = await FAST.execute(schema, request_data.query, request_data.variables, request_data.operation_name, context,
                                          root_value, allowed, request_data.extensions)  # issue 15: an all-planned query (resolvers/planner/fast.py)
                if fast is not None:
                    return fast
            if not getattr(request.state, "oms_mutation_tried", False):  # (the planned lane tried it: it would refuse again)
                planned = await MUTATIONS.execute(schema, request_data.query, request_data.variables, request_data.operation_name,
                                                  context, root_value, allowed, request_data.extensions)  # writes7: a known placeOrder document
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

    def _json_response(self, response_data: Any, sub_response: Response) -> Response:
        """strawberry 0.341.2's GraphQL.create_response (asgi/__init__.py), with the body as orjson's bytes: its
        encode_json gives text (WebSocket frames need a str) that Starlette encodes back to the same bytes."""
        try:
            body: bytes | str = orjson.dumps(response_data)
        except TypeError:
            body = self.encode_json(response_data)  # type: ignore[attr-defined]  # the stdlib fallback (integers beyond 64 bits)
        response = Response(body, status_code=200, media_type="application/json")
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        return response

    # ---- application/graphql-response+json
    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        tried = getattr(request.state, "oms_lane", None) if isinstance(request, Request) else None
        if tried is not None:  # `run` after the planned lane fell through: the sub-response its context holds
            return tried[1]
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
        response = self._json_response(response_data, sub_response)
        if getattr(sub_response, "oms_graphql_response_json", False):
            response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
        return response
