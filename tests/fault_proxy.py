"""A TCP proxy in front of PostgreSQL that loses the connection once around a COMMIT: either before
forwarding it (the transaction aborts) or after the server committed, losing only the reply.

Or around one statement (session 11: a statement that commits on its own), found by its Bind message holding every
byte string of `statement_marks` (e.g. a bound email): "drop_statement_sent" forwards it and cuts the connection at
once (the server runs it on, unaware until it answers), "drop_statement_reply" loses only its reply, "hold_statement"
forwards it only once the test sets `gate` (`held` is set while it waits).

With `partition` set, firing also cuts every other connection through the proxy and refuses new
ones (the database unreachable, as in a network partition) until the test clears `refusing`."""

from __future__ import annotations

import asyncio
import contextlib


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode: str | None = None  # None | "drop_before_commit" | "drop_after_commit" | a statement mode (above); fires once
        self.statement_marks: tuple[bytes, ...] = ()
        self.gate = asyncio.Event()
        self.held = asyncio.Event()
        self.simple_queries: list[bytes] = []  # every simple Query message's text (BEGIN, COMMIT, ...), in order
        self.fired = 0
        self.partition = False  # on firing, also become unreachable (see `refusing`)
        self.refusing = False  # every connection through the proxy is refused (aborted on accept)
        self._open: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> FaultProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    def url(self, database: str = "oms") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _fire(self) -> None:
        self.mode, self.fired = None, self.fired + 1
        if self.partition:
            self.refusing = True
            for writer in list(self._open):
                writer.transport.abort()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            client_writer.transport.abort()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.transport.abort()
            return
        swallowing = False
        replied = asyncio.Event()

        def abort() -> None:
            client_writer.transport.abort()
            server_writer.transport.abort()

        async def client_to_server() -> None:
            nonlocal swallowing
            while data := await client_reader.read(65536):
                if data[:1] == b"Q":
                    self.simple_queries.append(data[5:].rstrip(b"\0;").strip().upper())
                # asyncpg sends COMMIT as a simple Query message ('Q' ... "COMMIT\0"); exactly that statement, not
                # "BEGIN ISOLATION LEVEL READ COMMITTED" (sent on a connection once used in AUTOCOMMIT)
                statement = (self.mode in ("drop_statement_sent", "drop_statement_reply", "hold_statement") and data[:1] == b"B"
                             and all(mark in data for mark in self.statement_marks))
                if statement and self.mode == "hold_statement":
                    self.mode, self.fired = None, self.fired + 1
                    self.held.set()
                    await self.gate.wait()
                elif statement and self.mode == "drop_statement_sent":
                    server_writer.write(data)
                    await server_writer.drain()
                    self._fire()
                    client_writer.transport.abort()  # the client loses the connection; the server gets the statement whole
                    server_writer.close()
                    return
                hit = self.mode is not None and data[:1] == b"Q" and data[5:].rstrip(b"\0;").strip().upper() == b"COMMIT"
                hit = hit or (statement and self.mode == "drop_statement_reply")
                if hit and self.mode == "drop_before_commit":
                    self._fire()
                    abort()
                    return
                if hit:
                    self.mode, swallowing = None, True
                    server_writer.write(data)
                    await server_writer.drain()
                    await asyncio.wait_for(replied.wait(), 5)  # the server committed and answered; the client never hears it
                    self._fire()
                    abort()
                    return
                server_writer.write(data)
                await server_writer.drain()
            server_writer.close()

        async def server_to_client() -> None:
            while data := await server_reader.read(65536):
                if swallowing:
                    replied.set()
                    return
                client_writer.write(data)
                await client_writer.drain()
            client_writer.close()

        self._open.add(client_writer)
        try:
            await asyncio.gather(client_to_server(), server_to_client(), return_exceptions=True)
        finally:
            self._open.discard(client_writer)
            server_writer.transport.abort()
