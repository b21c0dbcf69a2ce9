"""Transport guards in front of strawberry (issue 13): body size (413), WebSocket message size, JSON decoding.

uvicorn has no HTTP body limit at all (h11/httptools stream the body to the app), so an ASGI middleware
does it. For WebSockets uvicorn does have one: `ws_max_size` (default 16 MiB), closing with 1009; the
middleware below repeats the check at the app level (same code, 1009) so the limit holds whatever server
runs the app and can be smaller than the transport's.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """413 for an HTTP body over `max_body` bytes (Content-Length checked first, then the bytes really
    received, for chunked bodies); 1009 for a WebSocket message over `max_ws_message` bytes."""

    def __init__(self, app: ASGIApp, *, max_body: int = 1_000_000, max_ws_message: int = 256_000) -> None:
        self.app, self.max_body, self.max_ws_message = app, max_body, max_ws_message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.app(scope, self._ws_receive(receive, send), send)
        else:
            await self.app(scope, receive, send)

    async def _too_large(self, send: Send) -> None:
        body = b'{"errors":[{"message":"Request body too large.","extensions":{"code":"PAYLOAD_TOO_LARGE"}}]}'
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    if int(value) > self.max_body:
                        await self._too_large(send)
                        return
                except ValueError:
                    pass
        # Read the whole body (at most max_body bytes) before the app runs, then replay it: the app never
        # sees a partial body, and a refused one never reaches strawberry.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: wait for http.disconnect as usual

        await self.app(scope, replay, send)

    def _ws_receive(self, receive: Receive, send: Send) -> Receive:
        async def guarded() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                data = message.get("text")
                size = len(data.encode()) if data is not None else len(message.get("bytes") or b"")
                if size > self.max_ws_message:
                    await send({"type": "websocket.close", "code": 1009, "reason": "Message too big"})
                    return {"type": "websocket.disconnect", "code": 1009}
            return message

        return guarded


class JSONGuard:
    """Mixin for strawberry's GraphQL view: JSON decoding that only ever fails with JSONDecodeError
    (strawberry: HTTP 400 "Unable to parse request body as JSON"; WebSocket: close 4400).

    orjson instead of the stdlib: refuses invalid UTF-8, lone surrogates, NaN/Infinity, numbers that overflow a
    double (1e999999, 5,000-digit integers) and nesting over 1024 (all JSONDecodeError); the stdlib raises
    RecursionError (2,000 deep), UnicodeDecodeError (bad UTF-8) or ValueError (>4,300 digits), all 500s. Then a
    lower nesting limit, and the top level must be an object (strawberry 0.341 calls `.get` on it: a body
    of `"x"`, `5` or `null` is a 500 there) or a list (strawberry then refuses the batch with 400).
    """

    max_json_depth = 32

    def decode_json(self, data: str | bytes) -> object:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise
        if not isinstance(value, (dict, list)):
            raise json.JSONDecodeError("a GraphQL request must be a JSON object", "", 0)
        if _too_deep(value, self.max_json_depth):
            raise json.JSONDecodeError(f"JSON nested deeper than {self.max_json_depth}", "", 0)
        return value


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))
    return False
