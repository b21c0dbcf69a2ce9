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

Parking (issue 15): an ASGI application holds a socket by not returning — uvicorn's task, every middleware's
and the GraphQL view's coroutine stay suspended for the life of the connection (~20 frames per idle socket).
This protocol offers the application to hand the socket over instead: `scope["extensions"]["oms.park"]` is a
`Parker`; `park(drain, context)` and then returning from the ASGI call leaves the connection open, and each time
messages arrive the protocol runs `drain()` in a task of its own (in `context`, the application's context
variables) until the queue is empty; the drain reads them with the `receive` it was given, sends with `send`
(the middlewares' wrappers are plain functions: they work after their frames ended). `release()` ends the
parking: the socket is closed as uvicorn closes it when an application returns. A server without the
extension (another protocol) keeps the ordinary ASGI life.

About 7 KiB per idle subscriber; everything else is uvicorn's. `oms serve` passes this class as
uvicorn's `ws` option (`WS_PROTOCOL`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import random
import struct
import sys
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import TEXT, Frame
from websockets.protocol import OPEN, Protocol
from websockets.streams import StreamReader

WS_PROTOCOL = "server.ws_protocol:LeanWebSocketsProtocol"
PARK = "oms.park"  # the ASGI scope extension (see the module's docstring)
log = logging.getLogger(__name__)


class _ReceiveQueue:
    """What uvicorn's protocol asks of its queue (put_nowait, get, empty), in a list and the readers' futures."""

    __slots__ = ("items", "on_put", "waiters")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.waiters: list[asyncio.Future[None]] | None = None
        self.on_put: Callable[[], None] | None = None

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
        if self.on_put is not None:
            self.on_put()

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


class Parker:
    """The `oms.park` extension of one socket (a weak reference to its protocol: no cycle through the scope)."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: LeanWebSocketsProtocol) -> None:
        self.protocol = weakref.ref(protocol)

    def park(self, drain: Callable[[], Awaitable[None]], context: contextvars.Context) -> None:
        """From now on `drain()` reads what arrives; the ASGI call may return without closing the socket."""
        protocol = self.protocol()
        if protocol is not None:
            protocol._park(drain, context)

    def pending(self) -> bool:
        """A message (or the disconnect) is waiting: `receive()` answers without waiting."""
        protocol = self.protocol()
        return protocol is not None and bool(protocol.inbox.items)

    def release(self) -> None:
        """The application is done with the socket: closed as when an ASGI call returns."""
        protocol = self.protocol()
        if protocol is not None:
            protocol._release()

    # ---- pre-written frames (issue 15: one event's message, the same bytes for every socket of a shape)
    @staticmethod
    def frame(text: str) -> bytes:
        """The bytes of `text` as a server sends it in one message: a final, unmasked text frame without extensions
        (websockets' own serialisation; the same for every socket on which `write` accepts it)."""
        return Frame(TEXT, text.encode()).serialize(mask=False, extensions=[])

    def write(self, frame: bytes) -> bool:
        """Writes `frame` (from `frame()`) now, as a `websocket.send` of its text would be written; False, having written
        nothing, wherever that send would do anything else (wait for the transport, fail, shape frames per socket)."""
        protocol = self.protocol()
        return protocol is not None and protocol.write_frame(frame)


# uvicorn's per-connection attributes (uvicorn 0.54, websockets_sansio_impl) and ours, as slots: ~45 attributes are past the
# 30 an instance dict shares its keys for, so each socket carried a dict of its own (~1.6 KiB); in slots they take 8 bytes
# each. An attribute another uvicorn version adds still works (it goes to the instance dict the base class keeps).
_UVICORN_ATTRIBUTES = (
    "app", "app_state", "asgi_version", "client", "close_sent", "close_timeout", "close_timer", "config", "conn", "connections",
    "curr_msg_data_type", "default_headers", "disconnected", "frames", "handshake_complete", "handshake_initiated",
    "initial_response", "last_ping_rtt", "logger", "loop", "pending_ping_payload", "ping_interval", "ping_sent_at", "ping_timeout",
    "ping_timer", "pong_timer", "queue", "read_paused", "request", "response", "root_path", "scheme", "scope", "server", "tasks",
    "transport", "writable",
)


class LeanWebSocketsProtocol(WebSocketsSansIOProtocol):
    __slots__ = (*_UVICORN_ATTRIBUTES, "app_returned", "draining", "inbox", "parked", "parked_context")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inbox = _ReceiveQueue()
        self.queue = self.inbox  # type: ignore[assignment]
        self.inbox.on_put = self._wake
        self.writable = _Flag()  # type: ignore[assignment]
        self.writable.set()
        self.parked: Callable[[], Awaitable[None]] | None = None
        self.parked_context: contextvars.Context | None = None
        self.draining: asyncio.Task[None] | None = None
        self.app_returned = False

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        # The same listening address for every socket, and the client's host as one string per address (scope and self).
        self.server = _shared_address(self.server)
        if self.client is not None:
            self.client = (sys.intern(self.client[0]), self.client[1])

    # ---- parking (see the module's docstring)
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][PARK] = Parker(self)

    def _park(self, drain: Callable[[], Awaitable[None]], context: contextvars.Context) -> None:
        self.parked, self.parked_context = drain, context
        self._wake()

    def _wake(self) -> None:
        if self.parked is not None and self.draining is None and self.inbox.items:
            self.draining = self.loop.create_task(self._drain(), context=self.parked_context)

    async def _drain(self) -> None:
        try:
            while self.parked is not None and self.inbox.items:
                await self.parked()
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in a parked WebSocket's application\n")
            self._release()
        finally:
            self.draining = None
        if not self.inbox.items:
            # Idle again: the parser generator would keep the last frame it read (a subscribe message, ~0.5 KiB) in its
            # locals for as long as the socket stays quiet; a fresh one between frames holds nothing.
            self._restart_parser(between_frames=True)
        self._wake()  # what arrived while this drain was ending

    def _release(self) -> None:
        self.parked = self.parked_context = None
        if self.app_returned and self.close_timer is None:
            self.transport.close()

    async def run_asgi(self) -> None:
        """uvicorn's, except that an application that parked its socket returns without closing it."""
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
            elif self.parked is not None:
                self.app_returned = True
                return
        self.parked = self.parked_context = None
        if self.close_timer is None:
            self.transport.close()

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

    def write_frame(self, frame: bytes) -> bool:
        """`Parker.write`: the conditions under which uvicorn's `send` of a `websocket.send` goes straight to
        `conn.send_text` and `transport.write` (writable, open, handshake done, no close sent), and under which
        websockets' frame is `frame` byte for byte (no extension such as permessage-deflate, no fragmented
        message in progress, nothing else waiting to be written first)."""
        conn = self.conn
        if (not self.handshake_complete or self.close_sent or self.disconnected or self.initial_response is not None
                or not self.writable.is_set() or conn.state is not OPEN or conn.extensions or conn.expect_continuation_frame
                or conn.writes or self.transport.is_closing()):
            return False
        self.transport.write(frame)
        return True

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            # The handshake is answered (accepted, or refused and closed): its request and response are done with.
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
            self._restart_parser()

    def _restart_parser(self, between_frames: bool = False) -> None:
        """A fresh frames-only parser, when nothing is buffered or parsed and not handled yet; `between_frames`: only if
        the running one waits for the first byte of a frame (not halfway through one whose header it consumed)."""
        conn = self.conn
        try:
            if (conn.state is OPEN and conn.parser_exc is None and not conn.reader.buffer and not conn.events
                    and (not between_frames or _waits_for_a_frame(conn.parser))):
                conn.parser = Protocol.parse(conn)
                next(conn.parser)
        except Exception:  # a websockets without these internals: keep its parser as it is
            log.debug("could not restart the WebSocket frame parser", exc_info=True)


_AT_EOF = StreamReader.at_eof.__code__
_ADDRESSES: dict[Any, Any] = {}


def _shared_address(address: Any) -> Any:
    if address is None:
        return None
    found = _ADDRESSES.get(address)
    if found is None:
        found = address
        if len(_ADDRESSES) < 64:
            _ADDRESSES[address] = address
    return found


def _waits_for_a_frame(parser: Any) -> bool:
    """websockets' parser is suspended where a frame begins: in `reader.at_eof()` at the top of its loop."""
    inner = parser
    for _ in range(8):
        below = getattr(inner, "gi_yieldfrom", None)
        if below is None:
            return getattr(inner, "gi_code", None) is _AT_EOF and inner.gi_frame is not None
        inner = below
    return False
