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

- the keepalive timers: uvicorn arms a loop timer per socket for the next ping and one for its pong
  deadline (a TimerHandle and a copy of the contextvars context each); here the sockets' timers share one
  loop timer per second of due time (`_Wheel`: a ping goes out at most a second late);
- the `writable` flag: an asyncio.Event allocates its waiters' deque up front; `_Flag` only when a
  send has to wait for the transport.

About 7 KiB per idle subscriber; everything else is uvicorn's. `oms serve` passes this class as
uvicorn's `ws` option (`WS_PROTOCOL`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import struct
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


class _Flag:
    """What uvicorn's protocol asks of its `writable` Event (set, clear, is_set, wait), without a deque per socket."""

    __slots__ = ("value", "waiters")

    def __init__(self) -> None:
        self.value = False
        self.waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self.value

    def set(self) -> None:
        self.value = True
        waiters, self.waiters = self.waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self.value = False

    async def wait(self) -> bool:
        while not self.value:
            waiter = asyncio.get_running_loop().create_future()
            if self.waiters is None:
                self.waiters = []
            self.waiters.append(waiter)
            try:
                await waiter
            finally:
                if self.waiters is not None and waiter in self.waiters:
                    self.waiters.remove(waiter)
        return True


class _Timer:
    """A socket's entry in the wheel; uvicorn only cancels it (or drops it once it fired)."""

    __slots__ = ("callback", "slot", "wheel")

    def __init__(self, wheel: _Wheel, slot: int, callback: Any) -> None:
        self.wheel, self.slot, self.callback = wheel, slot, callback

    def cancel(self) -> None:
        entries = self.wheel.slots.get(self.slot)
        if entries is not None:
            entries.discard(self)


class _Wheel:
    """The keepalive timers of every socket of one loop: one loop timer per whole second that has any due."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.slots: dict[int, set[_Timer]] = {}

    def call_later(self, delay: float, callback: Any) -> _Timer:
        slot = math.ceil(self.loop.time() + delay)
        entries = self.slots.get(slot)
        if entries is None:
            entries = self.slots[slot] = set()
            self.loop.call_at(slot, self._fire, slot)
        timer = _Timer(self, slot, callback)
        entries.add(timer)
        return timer

    def _fire(self, slot: int) -> None:
        for timer in self.slots.pop(slot, ()):
            try:
                timer.callback()
            except Exception:
                log.exception("a WebSocket keepalive timer failed")


_WHEELS: dict[asyncio.AbstractEventLoop, _Wheel] = {}


def _wheel(loop: asyncio.AbstractEventLoop) -> _Wheel:
    wheel = _WHEELS.get(loop)
    if wheel is None:
        for stale in [other for other in _WHEELS if other.is_closed()]:
            del _WHEELS[stale]
        wheel = _WHEELS[loop] = _Wheel(loop)
    return wheel


class LeanWebSocketsProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _ReceiveQueue()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]
        self.writable.set()

    # ---- keepalive: uvicorn's logic (websockets_sansio_impl), its two timers on the shared wheel
    def schedule_ping(self) -> None:
        assert self.ping_interval is not None
        self.ping_timer = _wheel(self.loop).call_later(max(0.0, self.ping_interval - self.last_ping_rtt), self.send_keepalive_ping)  # type: ignore[assignment]

    def send_keepalive_ping(self) -> None:
        self.ping_timer = None
        if self.close_sent or self.transport.is_closing():
            return
        # as uvicorn: a random payload identifies this ping (handle_pong ignores stale or unsolicited pongs)
        self.pending_ping_payload = struct.pack("!I", random.getrandbits(32))
        self.ping_sent_at = self.loop.time()
        self.conn.send_ping(self.pending_ping_payload)
        self.transport.write(b"".join(self.conn.data_to_send()))
        if self.ping_timeout is not None:
            self.pong_timer = _wheel(self.loop).call_later(self.ping_timeout, self.keepalive_timeout)  # type: ignore[assignment]
        else:
            self.schedule_ping()

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
