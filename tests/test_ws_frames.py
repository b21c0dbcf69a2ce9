"""server/ws_protocol.py (issue 15): a pre-written frame (`Parker.frame` / `Parker.write`, used by the fan-out of parked
subscriptions) reaches the wire as the very bytes uvicorn's own `websocket.send` of that text writes; where that send would
do anything else (permessage-deflate shapes frames per socket, a close was sent) `write` declines and writes nothing."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.frames import TEXT as TEXT_OPCODE

from server.ws_protocol import PARK, LeanWebSocketsProtocol

TEXT = '{"id":"1","type":"next","payload":{"data":{"orderStatusChanged":{"status":"ON_HOLD","note":"é ✓"}}}}'
LONG = TEXT.replace("ON_HOLD", "x" * 70_000)  # a 64-bit length header
written: list[Any] = []
finished: list[asyncio.Event] = []  # one per test: set once the endpoint has recorded its last write


async def endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    parker = websocket.scope["extensions"][PARK]
    for text in (TEXT, LONG):
        written.append(parker.write(parker.frame(text)))  # the pre-written frame
        await websocket.send_text(text)  # then the same text the ordinary way
    await websocket.close()
    written.append(parker.write(parker.frame(TEXT)))  # after the close frame: declined
    finished[-1].set()


@contextlib.asynccontextmanager
async def serving(deflate: bool) -> AsyncIterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(Starlette(routes=[WebSocketRoute("/ws", endpoint)]), host="127.0.0.1", port=port, ws=LeanWebSocketsProtocol,
                            ws_per_message_deflate=deflate, log_level="warning", lifespan="off")
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup()
    try:
        yield port
    finally:
        await server.shutdown()


async def frames_received(port: int, offer_deflate: bool) -> list[bytes]:
    """Every frame the server sends, as raw bytes (header and payload), until its close frame."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    extension = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if offer_deflate else ""
    writer.write((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extension}\r\n").encode())
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    frames: list[bytes] = []
    while not frames or frames[-1][0] & 0x0F != 0x8:
        head = await asyncio.wait_for(reader.readexactly(2), 10)
        length, extra = head[1] & 0x7F, b""
        if length == 126:
            extra = await reader.readexactly(2)
            length = int.from_bytes(extra, "big")
        elif length == 127:
            extra = await reader.readexactly(8)
            length = int.from_bytes(extra, "big")
        frames.append(head + extra + await reader.readexactly(length))
    writer.close()
    return frames


async def test_a_pre_written_frame_is_byte_for_byte_what_the_ordinary_send_writes() -> None:
    written.clear()
    finished.append(asyncio.Event())
    async with serving(deflate=False) as port:
        frames = await frames_received(port, offer_deflate=True)  # offered, not accepted by this server
        await asyncio.wait_for(finished[-1].wait(), 10)
    assert written[:2] == [True, True]
    short_fast, short_ordinary, long_fast, long_ordinary, close = frames
    assert short_fast == short_ordinary and long_fast == long_ordinary
    assert short_fast[0] == 0x81 and short_fast.endswith(TEXT.encode()) and long_fast[1] == 127
    assert close[0] == 0x88 and written[2] is False


async def test_with_permessage_deflate_the_pre_written_frame_is_declined_and_nothing_is_written() -> None:
    written.clear()
    finished.append(asyncio.Event())
    async with serving(deflate=True) as port:
        frames = await frames_received(port, offer_deflate=True)
        await asyncio.wait_for(finished[-1].wait(), 10)
    assert written == [False, False, False]
    assert len(frames) == 3 and all(frame[0] & 0x40 for frame in frames[:2])  # only the ordinary (compressed: RSV1) sends


def test_the_frame_parser_is_between_frames_only_before_a_frame_s_first_byte() -> None:
    from websockets.frames import Frame as WireFrame
    from websockets.protocol import OPEN, SERVER, Protocol

    from server.ws_protocol import _waits_for_a_frame

    conn = Protocol(SERVER, state=OPEN)
    frame = WireFrame(TEXT_OPCODE, b"hello").serialize(mask=True, extensions=[])  # as a client sends it
    assert _waits_for_a_frame(conn.parser)
    conn.receive_data(frame[:3])  # its header read, the mask not yet
    halfway = _waits_for_a_frame(conn.parser)
    conn.receive_data(frame[3:])
    assert not halfway and _waits_for_a_frame(conn.parser)
    assert [event.data for event in conn.events_received()] == [b"hello"]
