"""Real servers and real WebSocket clients for the subscription tests.

`LiveServer` runs the app as operators do (`oms serve`, uvicorn) in a subprocess on
a free loopback port against the test database; `RedisServer` runs a throwaway
redis-server; `WsClient` speaks graphql-transport-ws with the `websockets` client.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
SUBPROTOCOL = "graphql-transport-ws"
# How often a readiness endpoint or metric is asked again while a test waits for it.
POLL_SECONDS = 0.05


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_ready(http_url: str, process: subprocess.Popen[Any], timeout: float, *, log: Callable[[], str]) -> None:
    """Returns once the server answers /readyz with 200 (polled every POLL_SECONDS until `timeout`);
    fails as soon as the process exits."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{log()}")
            try:
                if (await client.get(http_url + "/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {timeout}s:\n{log()}")
            await asyncio.sleep(POLL_SECONDS)


def plain_pg_url(database_url: str) -> str:
    """The test database as a libpq-style URL (what BROADCAST_URL=postgres://... takes)."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://")


class LiveServer:
    """`oms serve` in a subprocess; `await start()` returns once /readyz answers 200.

    `await subscribe(ws, query)` returns once the server has registered the subscription."""

    def __init__(self, database_url: str, *, broadcast_url: str = "memory://", env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.database_url = database_url
        self.broadcast_url = broadcast_url
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="oms-live-", suffix=".log")[1])

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def start(self, timeout: float = 30) -> LiveServer:
        env = {**os.environ, "DATABASE_URL": self.database_url, "BROADCAST_URL": self.broadcast_url, **self.extra_env}
        env.pop("PYTHONWARNINGS", None)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            await wait_ready(self.http_url, self.process, timeout, log=self.log)
        except BaseException:
            self.kill()
            raise
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def ready(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(self.http_url + "/readyz")).json()

    async def gql(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(self.http_url + "/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    async def wait_exit(self, timeout: float) -> int | None:
        """The exit code, once the process has exited; None if it is still running after `timeout`."""
        assert self.process is not None
        try:
            return await asyncio.to_thread(self.process.wait, timeout)
        except subprocess.TimeoutExpired:
            return None

    async def metric(self, name: str) -> float:
        """One sample of the server's /metrics (a gauge or counter without labels)."""
        async with httpx.AsyncClient(timeout=2) as client:
            body = (await client.get(self.http_url + "/metrics")).text
        for line in body.splitlines():
            metric, _, value = line.partition(" ")
            if metric == name:
                return float(value)
        raise AssertionError(f"no metric {name!r} in:\n{body}")

    async def until_metric(self, name: str, at_least: float, *, within: float = 10) -> None:
        """Returns once the server reports `name` >= `at_least` (polled, no fixed wait); fails after `within` seconds."""
        deadline = time.monotonic() + within
        while (value := await self.metric(name)) < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} stayed at {value}, below {at_least}, for {within}s:\n{self.log()[-3000:]}")
            await asyncio.sleep(POLL_SECONDS)

    async def subscribe(self, ws: WsClient, query: str, variables: dict[str, Any] | None = None) -> str:
        """Subscribes, and returns once this server's hub has registered the subscription: a change
        committed from then on reaches it (the server counts registrations in
        oms_live_subscriptions_opened_total)."""
        opened = await self.metric("oms_live_subscriptions_opened_total")
        operation_id = await ws.subscribe(query, variables)
        await self.until_metric("oms_live_subscriptions_opened_total", opened + 1)
        return operation_id

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    async def stop(self) -> None:
        self.terminate()
        if await self.wait_exit(10) is None:
            self.kill()
        log = self.log() if self.log_path.exists() else ""  # (stopped twice: the log is gone)
        if "Traceback" in log:  # shown with a failing test's captured output (session 8: an intermittent 500 needed it)
            print(f"--- log of the server on port {self.port} ---\n{log}", file=sys.stderr)
        self.log_path.unlink(missing_ok=True)


class RedisServer:
    """A private redis-server on a free port in a temporary directory (no persistence)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="oms-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, timeout: float = 10) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(b"PING\r\n")
                await writer.drain()
                reply = await reader.readline()
                writer.close()
                if reply.startswith(b"+PONG"):
                    return self
            except OSError:
                pass
            await asyncio.sleep(POLL_SECONDS)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class WsClient:
    """A graphql-transport-ws client: `connect(token)`, `subscribe(query, variables)` -> id, `next(id)`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: Any = None
        self.inbox: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, token: str | None = None, *, payload: dict[str, Any] | None = None) -> WsClient:
        self.ws = await websockets.connect(self.url, subprotocols=[SUBPROTOCOL], open_timeout=10, max_size=None)
        init = payload if payload is not None else ({"authorization": f"Bearer {token}"} if token else {})
        await self.ws.send(json.dumps({"type": "connection_init", "payload": init}))
        try:
            ack = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        except websockets.ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else None
            self.closed.set()
            return self
        assert ack["type"] == "connection_ack", ack
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                elif "id" in message:
                    self.inbox.setdefault(message["id"], asyncio.Queue()).put_nowait(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        operation_id = uuid.uuid4().hex[:8]
        self.inbox.setdefault(operation_id, asyncio.Queue())
        await self.ws.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}))
        return operation_id

    async def next(self, operation_id: str, timeout: float = 10) -> dict[str, Any]:
        """The next message for an operation (`next`, `error` or `complete`)."""
        return await asyncio.wait_for(self.inbox[operation_id].get(), timeout)

    async def data(self, operation_id: str, timeout: float = 10) -> dict[str, Any]:
        message = await self.next(operation_id, timeout)
        assert message["type"] == "next" and not message["payload"].get("errors"), message
        return message["payload"]["data"]

    async def nothing_for(self, operation_id: str, seconds: float) -> bool:
        try:
            message = await asyncio.wait_for(self.inbox[operation_id].get(), seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected message {message}")

    async def complete(self, operation_id: str) -> None:
        await self.ws.send(json.dumps({"id": operation_id, "type": "complete"}))

    async def drop(self) -> None:
        """Lose the connection abruptly (no close handshake), as a network failure would."""
        self.ws.transport.abort()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
