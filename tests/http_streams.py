"""Clients for subscriptions over HTTP (issue 12): multipart (`Accept: multipart/mixed;subscriptionSpec=1.0`) and graphql-sse."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

MULTIPART_ACCEPT = "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json"
SSE_ACCEPT = "text/event-stream"


class HttpStream:
    """One open subscription over HTTP; `next()` returns the next GraphQL result (heartbeats skipped)."""

    def __init__(self, response: httpx.Response, sse: bool) -> None:
        self.response = response
        self.sse = sse
        self.results: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.body = ""  # the whole body of a refused (non-200) request
        self._reader: asyncio.Task[None] | None = asyncio.create_task(self._read()) if response.status_code == 200 else None

    async def _read(self) -> None:
        buffer = ""
        async for text in self.response.aiter_text():
            buffer += text
            separator = "\r\n\r\n" if self.sse else "\r\n--graphql"
            while separator in buffer:
                chunk, buffer = buffer.split(separator, 1)
                self._take(chunk)

    def _take(self, chunk: str) -> None:
        if self.sse:
            fields = dict(line.split(": ", 1) for line in chunk.splitlines() if ": " in line and not line.startswith(":"))
            if fields.get("event") == "next":
                self.results.put_nowait(json.loads(fields["data"]))
            elif fields.get("event") == "complete":
                self.results.put_nowait({"complete": True})
            return
        _, _, body = chunk.partition("\r\n\r\n")
        body = body.strip()
        if not body or body.startswith("--"):
            return
        part = json.loads(body)
        if "payload" in part:  # {} is a heartbeat
            self.results.put_nowait(part["payload"])

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        return await asyncio.wait_for(self.results.get(), timeout)

    async def data(self, timeout: float = 10) -> dict[str, Any]:
        result = await self.next(timeout)
        assert not result.get("errors") and result.get("data"), result
        return result["data"]

    async def nothing_for(self, seconds: float) -> bool:
        try:
            result = await asyncio.wait_for(self.results.get(), seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected result {result}")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._reader
        await self.response.aclose()


@contextlib.asynccontextmanager
async def http_subscription(
    url: str, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None, sse: bool = False,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[HttpStream]:
    """POSTs the subscription and yields the open stream once the response headers are in (status checked by the caller)."""
    send = {"Accept": SSE_ACCEPT if sse else MULTIPART_ACCEPT, **(headers or {})}
    if token:
        send["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=None)) as client:
        request = client.build_request("POST", url, json={"query": query, "variables": variables or {}}, headers=send)
        response = await client.send(request, stream=True)
        stream = HttpStream(response, sse)
        if stream._reader is None:
            stream.body = (await response.aread()).decode()
        try:
            yield stream
        finally:
            await stream.close()
