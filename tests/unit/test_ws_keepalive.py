"""server/ws_protocol.py (issue 15): the keepalive pings and pong deadlines of every socket on one shared timer wheel
behave as uvicorn's per-socket timers: a client that answers pings stays connected, one that does not is closed with
1011 after the interval plus the timeout (each at most a second late), and a cancelled timer never fires."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
import time
from collections.abc import AsyncIterator

import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from server.ws_protocol import LeanWebSocketsProtocol, _Flag, _wheel

INTERVAL = TIMEOUT = 0.3


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    with contextlib.suppress(Exception):
        while True:
            await websocket.send_text(await websocket.receive_text())


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(Starlette(routes=[WebSocketRoute("/ws", echo)]), host="127.0.0.1", port=port, ws=LeanWebSocketsProtocol,
                            ws_ping_interval=INTERVAL, ws_ping_timeout=TIMEOUT, log_level="warning", lifespan="off")
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)  # what Server._serve sets before startup()
    await server.startup()  # listening once it returns
    try:
        yield port
    finally:
        await server.shutdown()


async def test_a_client_answering_pings_stays_connected_through_several_intervals() -> None:
    async with serving() as port, websockets.connect(f"ws://127.0.0.1:{port}/ws") as client:
        await asyncio.sleep(4 * (INTERVAL + TIMEOUT) + 2)  # the wheel rounds each due time up to the next second
        await client.send("still here")
        assert await asyncio.wait_for(client.recv(), 5) == "still here"


async def test_a_client_that_never_answers_is_pinged_then_closed_with_1011() -> None:
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        started = time.monotonic()
        opcodes: list[int] = []
        close_code = None
        while close_code is None:
            head = await asyncio.wait_for(reader.readexactly(2), 10)
            length = head[1] & 0x7F
            payload = await reader.readexactly(length)
            opcodes.append(head[0] & 0x0F)
            if opcodes[-1] == 0x8:
                close_code = struct.unpack("!H", payload[:2])[0]
        waited = time.monotonic() - started
        writer.close()
    assert opcodes == [0x9, 0x8], opcodes  # one ping, unanswered, then the close
    assert close_code == 1011
    assert INTERVAL + TIMEOUT <= waited <= INTERVAL + TIMEOUT + 2 + 1, waited


async def test_wheel_timers_fire_once_share_a_loop_timer_per_second_and_can_be_cancelled() -> None:
    loop = asyncio.get_running_loop()
    wheel = _wheel(loop)
    fired: list[int] = []
    timers = [wheel.call_later(0.05, lambda i=i: fired.append(i)) for i in range(100)]
    timers[7].cancel()
    assert len({t.slot for t in timers}) <= 2  # 100 sockets' timers: one or two loop timers, not 100
    await asyncio.sleep(2.2)
    assert sorted(fired) == [i for i in range(100) if i != 7]


async def test_flag_waits_until_set() -> None:
    flag = _Flag()
    waiting = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    assert not waiting.done()
    flag.set()
    assert await asyncio.wait_for(waiting, 1) is True
    flag.clear()
    assert not flag.is_set()


