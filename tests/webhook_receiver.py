"""A real HTTP server that receives webhooks in tests (issue 17).

`Receiver` is a Starlette app served by uvicorn in the test's own event loop, on a loopback socket it
binds and listens on before serving (so it accepts connections at once: no readiness wait). Each
request takes the next step of its script (`script`: a status code, ("redirect", url) or "hold"),
else answers `default` (200). It records every request (webhook-id, headers, raw body, when it
entered and left) and the most requests in flight at once per webhook-id. Tests wait on its
condition (`wait_for`), never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HOLD = "hold"


@dataclass
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    entered: float
    left: float | None = None
    status: int | None = None

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def data(self) -> dict[str, Any]:
        return self.payload["data"]


@dataclass
class Receiver:
    default: int = 200
    script: deque[Any] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    in_flight: Counter[str] = field(default_factory=Counter)
    max_in_flight: Counter[str] = field(default_factory=Counter)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    holding: asyncio.Event = field(default_factory=asyncio.Event)  # set once a request is being held
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _server: Any = None
    _task: Any = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> Receiver:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "GET"])])
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        self._socket = sock
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await self._task
        self._socket.close()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        record = Received(request.headers.get("webhook-id", ""), dict(request.headers), body, time.monotonic())
        self.received.append(record)
        self.in_flight[record.webhook_id] += 1
        self.max_in_flight[record.webhook_id] = max(self.max_in_flight[record.webhook_id], self.in_flight[record.webhook_id])
        step = self.script.popleft() if self.script else self.default
        try:
            await self._notify()
            if step == HOLD:
                self.holding.set()
                await self.release.wait()
                step = self.default
            if isinstance(step, tuple) and step[0] == "redirect":
                response = Response(status_code=307, headers={"location": step[1]})
            else:
                response = Response(content=b"ok" if int(step) < 300 else b"nope", status_code=int(step))
            record.status = response.status_code
            return response
        finally:
            self.in_flight[record.webhook_id] -= 1
            record.left = time.monotonic()
            await self._notify()

    async def wait_for(self, condition: Any, timeout: float = 30.0) -> None:
        """Returns once `condition()` holds (checked after every request enters and leaves); fails after `timeout`."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(condition)

    def succeeded(self) -> list[Received]:
        return [r for r in self.received if r.status is not None and 200 <= r.status < 300]


async def endpoint_with_delivery(gql: Any, db: Any, *, placed: bool = False) -> tuple[str, str]:
    """(WebhookEndpoint id, WebhookDelivery id) over the events already in the log (`placed`: an order is placed first):
    an inactive endpoint (nothing is sent) replayed from the start and fanned out. For tests that need one of each Node type."""
    from app.infra.horizon import EventHorizon
    from app.infra.settings import Settings
    from app.webhooks.dispatcher import WebhookDispatcher
    from tests import factories

    if placed:
        await factories.place(db, [("A", 1)])

    created = await gql("mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } userErrors { message } } }",
                        {"input": {"url": "http://127.0.0.1:9/never", "active": False}})
    endpoint_id = created["data"]["createWebhookEndpoint"]["endpoint"]["id"]
    replayed = await gql("mutation($input: ReplayWebhookDeliveriesInput!) { replayWebhookDeliveries(input: $input) { requeued userErrors { message } } }",
                         {"input": {"endpointId": endpoint_id, "after": "0"}})
    assert not replayed["data"]["replayWebhookDeliveries"]["userErrors"], replayed
    await WebhookDispatcher(db, None, Settings()).fan_out(upto=await EventHorizon(db).now())
    page = await gql("query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { deliveries(first: 1) { edges { node { id } } } } } }",
                     {"id": endpoint_id})
    return endpoint_id, page["data"]["node"]["deliveries"]["edges"][0]["node"]["id"]
