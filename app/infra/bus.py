"""The signal bus: wake-up messages between the processes serving together, over broadcaster.

A message is a small JSON object: `{"seq": N}` (events up to cursor N are in the
log), `{"stock": {...}}` (a stock level changed) or `{"ping": 1}` (the bus's own
heartbeat). Messages carry their origin, so a process ignores its own. The bus
knows nothing of what the messages mean: the hub (app/infra/hub.py) gives it a
handler for messages from the other processes and one for (re)connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

from broadcaster import Broadcast

from app.infra.tasks import cancel_and_wait

log = logging.getLogger(__name__)

CHANNEL = "oms_live"
# A dead backend must be noticed within seconds: the bus pings itself through it.
HEARTBEAT_INTERVAL = 1.0
HEARTBEAT_TIMEOUT = 3.0
CONNECT_TIMEOUT = 5.0
PUBLISH_TIMEOUT = 2.0
TEARDOWN_TIMEOUT = 2.0
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
STOCK_OUTBOX_LIMIT = 10_000


class BackendLost(Exception):
    """The broadcast backend stopped delivering (dead connection, stalled listener)."""


class _Publisher:
    """Publishes on a connection of its own, never on broadcaster's LISTEN connection."""

    async def publish(self, message: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        pass


class _MemoryPublisher(_Publisher):
    # memory:// only reaches subscribers of the very same Broadcast instance.
    def __init__(self, bus: SignalBus) -> None:
        self.bus = bus

    async def publish(self, message: str) -> None:
        if self.bus.broadcast is None:
            raise BackendLost("not connected")
        await self.bus.broadcast.publish(CHANNEL, message)


class _PostgresPublisher(_Publisher):
    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: Any = None

    async def publish(self, message: str) -> None:
        import asyncpg

        try:
            if self.conn is None or self.conn.is_closed():
                self.conn = await asyncpg.connect(self.url, timeout=PUBLISH_TIMEOUT,
                                                  server_settings={"application_name": "oms-broadcast-publish"})
            await self.conn.execute("SELECT pg_notify($1, $2)", CHANNEL, message)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.terminate()


class _RedisPublisher(_Publisher):
    def __init__(self, url: str) -> None:
        from redis import asyncio as redis

        self.client = redis.Redis.from_url(url, socket_timeout=PUBLISH_TIMEOUT, socket_connect_timeout=PUBLISH_TIMEOUT)

    async def publish(self, message: str) -> None:
        await self.client.publish(CHANNEL, message)

    async def close(self) -> None:
        await self.client.aclose()


def _restart_redis_listener(broadcast: Broadcast) -> None:
    """broadcaster 0.3.1's Redis listener wakes when subscribe() starts, before redis-py 8 counts the
    channel as subscribed, so `pubsub.listen()` returns at once and the listener parks for good (no
    message ever arrives). Waking it again once subscribed starts listening for real."""
    ready = getattr(getattr(broadcast, "_backend", None), "_ready", None)
    if isinstance(ready, asyncio.Event):
        ready.set()


class SignalBus:
    """broadcaster 0.3.1 with failure detection, reconnection and non-blocking publishing.

    broadcaster never reports a lost backend: after `pg_terminate_backend` or a
    Redis restart its listener dies or waits forever and subscribers silently
    stall (encode/broadcaster#66, #144). So the bus pings itself through the
    backend every HEARTBEAT_INTERVAL; when its own echo has not come back within
    HEARTBEAT_TIMEOUT, or broadcaster's listener task ended, it throws the
    Broadcast away and connects a fresh one, then calls `on_connect` (signals
    sent meanwhile are gone: the hub catches up from the log). Publishing goes through a
    connection of its own, from one sender task that coalesces order signals,
    so a slow or dead backend never delays a committing request. broadcaster's
    unbounded internal queue is drained at once by the single bus reader.
    """

    def __init__(self, url: str, *, on_message: Callable[[dict[str, Any]], None], on_connect: Callable[[], None]) -> None:
        self.url = url
        self.scheme = urlparse(url).scheme
        self.on_message = on_message
        self.on_connect = on_connect
        self.origin = uuid.uuid4().hex[:12]
        self.broadcast: Broadcast | None = None
        self.connected = False
        self.connections = 0
        self._connected_event = asyncio.Event()
        self._pending_seq = 0
        self._sent_seq = 0
        self._ping_due = False
        self._outbox: deque[dict[str, Any]] = deque(maxlen=STOCK_OUTBOX_LIMIT)
        self._send_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._publisher = self._make_publisher()

    def _make_publisher(self) -> _Publisher:
        if self.scheme in ("postgres", "postgresql"):
            return _PostgresPublisher(self.url)
        if self.scheme in ("redis", "rediss"):
            return _RedisPublisher(self.url)
        if self.scheme == "memory":
            return _MemoryPublisher(self)
        raise ValueError(f"Unsupported BROADCAST_URL scheme {self.scheme!r}: use memory://, postgres:// or redis://")

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._supervise()), asyncio.create_task(self._send_loop())]

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._connected_event.wait()
        return self.connected

    async def stop(self) -> None:
        await cancel_and_wait(*self._tasks)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(TEARDOWN_TIMEOUT):
                await self._publisher.close()

    # -- sending --------------------------------------------------------------

    @property
    def reaches_others(self) -> bool:
        """Whether a message can reach another process: not over memory://, where only this very bus hears it (and
        ignores its own origin); only the heartbeat goes there (session 9: a placement's order signal and its three
        stock notices were JSON-encoded, looped back and dropped, ~3 % of its CPU)."""
        return self.scheme != "memory"

    def signal_order(self, seq: int) -> None:
        if not self.reaches_others:
            return
        self._pending_seq = max(self._pending_seq, seq)
        self._send_ready.set()

    def send(self, message: dict[str, Any]) -> None:
        if not self.reaches_others:
            return
        self._outbox.append(message)
        self._send_ready.set()

    async def _send_loop(self) -> None:
        while True:
            await self._send_ready.wait()
            self._send_ready.clear()
            batch: list[dict[str, Any]] = []
            if self._ping_due:
                self._ping_due = False
                batch.append({"ping": 1})
            if self._pending_seq > self._sent_seq:
                self._sent_seq = self._pending_seq
                batch.append({"seq": self._sent_seq})
            while self._outbox:
                batch.append(self._outbox.popleft())
            for message in batch:
                message["o"] = self.origin
                try:
                    async with asyncio.timeout(PUBLISH_TIMEOUT):
                        await self._publisher.publish(json.dumps(message, separators=(",", ":")))
                except Exception as exc:  # other processes still catch up by polling the log
                    log.warning("broadcast publish failed (%s: %s); message dropped", type(exc).__name__, exc)

    # -- receiving ------------------------------------------------------------

    async def _supervise(self) -> None:
        failures = 0
        while True:
            broadcast = Broadcast(self.url)
            subscription: contextlib.AsyncExitStack | None = None
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    await broadcast.connect()
                subscription = contextlib.AsyncExitStack()
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    subscriber = await subscription.enter_async_context(broadcast.subscribe(CHANNEL))
                _restart_redis_listener(broadcast)
                self.broadcast = broadcast
                await self._pump(broadcast, subscriber, on_first_echo=self._mark_connected)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("broadcast backend %s lost or unreachable (%s: %s); reconnecting", self.scheme, type(exc).__name__, exc)
            finally:
                was_connected = self.connected
                self.connected = False
                self._connected_event.clear()
                self.broadcast = None
                await self._teardown(broadcast, subscription)
                if was_connected:
                    failures = 0
            await asyncio.sleep(RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)])
            failures += 1

    def _mark_connected(self) -> None:
        self.connected = True
        self.connections += 1
        self._connected_event.set()
        if self.connections > 1:
            log.info("broadcast backend %s reconnected", self.scheme)
        self.on_connect()  # signals may have been missed while down: catch up from the log

    async def _pump(self, broadcast: Broadcast, subscriber: Any, *, on_first_echo: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        last_echo = loop.time()
        next_ping = last_echo
        echoed = False
        while True:
            now = loop.time()
            listener = getattr(broadcast, "_listener_task", None)
            if listener is not None and listener.done():
                raise BackendLost("broadcaster's listener task ended")
            if now - last_echo > HEARTBEAT_TIMEOUT:
                raise BackendLost(f"no heartbeat echo for {HEARTBEAT_TIMEOUT:.0f}s")
            if now >= next_ping:
                self._ping_due = True
                self._send_ready.set()
                next_ping = now + HEARTBEAT_INTERVAL
            try:
                async with asyncio.timeout(max(0.05, next_ping - loop.time())):
                    event = await subscriber.get()
            except TimeoutError:
                continue
            try:
                message = json.loads(event.message)
            except (TypeError, ValueError):
                log.warning("ignoring a malformed broadcast message")
                continue
            if message.get("o") == self.origin:
                if message.get("ping"):
                    last_echo = loop.time()
                    if not echoed:
                        echoed = True
                        on_first_echo()
                continue  # our own changes were delivered locally already
            if not message.get("ping"):
                try:
                    self.on_message(message)
                except Exception:
                    log.exception("live update handler failed")

    async def _teardown(self, broadcast: Broadcast, subscription: contextlib.AsyncExitStack | None) -> None:
        # A dead connection can make UNLISTEN/close hang or raise; neither may block the reconnect.
        # A cancellation of this task (the bus stopping) still runs every step, then propagates:
        # swallowing it would keep _supervise reconnecting for ever and hang stop(). A CancelledError
        # that is not ours (disconnect() re-raises that of broadcaster's cancelled listener) is ignored.
        cancelled = False
        steps: list[Callable[[], Awaitable[Any]]] = []
        if subscription is not None:
            steps.append(subscription.aclose)
        if getattr(broadcast, "_listener_task", None) is not None:
            steps.append(broadcast.disconnect)
        for step in steps:
            try:
                async with asyncio.timeout(TEARDOWN_TIMEOUT):
                    await step()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                cancelled = cancelled or (task is not None and task.cancelling() > 0)
            except Exception:
                pass
        backend = getattr(broadcast, "_backend", None)
        conn = getattr(backend, "_conn", None)
        if conn is not None and hasattr(conn, "terminate"):  # asyncpg: make sure the socket is gone
            with contextlib.suppress(Exception):
                conn.terminate()
        if cancelled:
            raise asyncio.CancelledError


async def publish_once(url: str, message: dict[str, Any]) -> bool:
    """Send one message from a process that runs no bus (the `oms` CLI, e.g. `oms apikey revoke`) to every
    serving process (writes, issue 16). False when the backend cannot reach other processes (memory://)
    or the publish failed; the receivers' own safety nets (cache lifetimes, polling) then apply."""
    if urlparse(url).scheme == "memory":
        return False
    publisher = _PostgresPublisher(url) if urlparse(url).scheme in ("postgres", "postgresql") else _RedisPublisher(url)
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT):
            await publisher.publish(json.dumps({**message, "o": "cli-" + uuid.uuid4().hex[:8]}, separators=(",", ":")))
        return True
    except Exception as exc:
        log.warning("broadcast publish failed (%s: %s)", type(exc).__name__, exc)
        return False
    finally:
        with contextlib.suppress(Exception):
            await publisher.close()
