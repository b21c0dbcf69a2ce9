"""uvicorn's WebSocket protocol (websockets sans-I/O, its default), lighter per open socket (issue 15).

An idle subscriber's socket is mostly uvicorn's per-connection state. Three parts of it are kept for
the whole life of a connection though nothing needs them after the handshake, or are heavier than
their use:

- the handshake's parsed request and response (`self.request`, `self.response`), and the request again
  in a local of websockets' parser generator (its `parse()` reads the request, then frames, in one
  generator): after the `websocket.accept` has gone out, both are dropped and the parser is restarted
  as the frames-only parser (`Protocol.parse`) — nothing of a frame can have been read by then, as a
  client sends frames only once it has the 101 response;
- the receive queue: an asyncio.Queue (three deques and an Event) for what is, per connection, a
  single reader; `_ReceiveQueue` keeps a list and the reader's future.

About 6 KiB per idle subscriber; everything else is uvicorn's. `oms serve` passes this class as
uvicorn's `ws` option (`WS_PROTOCOL`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import OPEN, Protocol

WS_PROTOCOL = "server.ws_protocol:LeanWebSocketsProtocol"
log = logging.getLogger(__name__)


class _ReceiveQueue:
    """What uvicorn's protocol asks of its queue (put_nowait, get, empty), in a list and the readers' futures."""

    __slots__ = ("items", "waiters")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.waiters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self.items

    def qsize(self) -> int:
        return len(self.items)

    def put_nowait(self, item: Any) -> None:
        self.items.append(item)
        waiters, self.waiters = self.waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    async def get(self) -> Any:
        while not self.items:
            waiter = asyncio.get_running_loop().create_future()
            if self.waiters is None:
                self.waiters = []
            self.waiters.append(waiter)
            try:
                await waiter
            finally:
                if self.waiters is not None and waiter in self.waiters:
                    self.waiters.remove(waiter)
        return self.items.pop(0)


class LeanWebSocketsProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _ReceiveQueue()  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            # The handshake is answered (accepted, or refused and closed): its request and response are done with.
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
            self._restart_parser()

    def _restart_parser(self) -> None:
        conn = self.conn
        try:
            if conn.state is OPEN and not conn.reader.buffer and not conn.events:
                conn.parser = Protocol.parse(conn)
                next(conn.parser)
        except Exception:  # a websockets without these internals: keep its parser as it is
            log.debug("could not restart the WebSocket frame parser", exc_info=True)
