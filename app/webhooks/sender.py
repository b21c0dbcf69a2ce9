"""One signed POST to one endpoint, bounded in time, to the address that was checked, never following a redirect."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks import Webhook

from app.webhooks.targets import TargetRefused, resolve_allowed

EXCERPT_BYTES = 500
MAX_ERROR = 500

try:
    USER_AGENT = f"oms-webhooks/{version('oms')}"
except PackageNotFoundError:  # pragma: no cover - running from a tree that is not installed
    USER_AGENT = "oms-webhooks"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt got: the HTTP status (None: no response), an error text, the first bytes of the answer."""

    started_at: datetime
    duration_ms: int
    status: int | None
    error: str | None
    excerpt: str | None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signed_headers(secret: str, message_id: str, body: str) -> dict[str, str]:
    """The Standard Webhooks headers. The timestamp is the wall clock at send time, always (a receiver's
    verify() compares it with its own clock), whatever clock schedules the attempts."""
    now = datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


class Sender:
    """One HTTP client per process: no redirects followed, no proxy or .netrc from the environment."""

    def __init__(self, *, timeout: float, allow_private: bool) -> None:
        self.timeout = timeout
        self.allow_private = allow_private
        self.client = httpx.AsyncClient(
            follow_redirects=False, trust_env=False, timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def send(self, *, url: str, secret: str, message_id: str, body: str) -> Outcome:
        started = datetime.now(UTC)
        clock = time.monotonic()
        status: int | None = None
        error: str | None = None
        excerpt: str | None = None
        try:
            # httpx's timeouts are per phase (connect, each read); the whole attempt is bounded here
            async with asyncio.timeout(self.timeout):
                target, extensions, host_header = await self._target(url)
                headers = signed_headers(secret, message_id, body)
                if host_header is not None:
                    headers["host"] = host_header
                request = self.client.build_request("POST", target, content=body.encode(), headers=headers, extensions=extensions)
                response = await self.client.send(request, stream=True)
                try:
                    status = response.status_code
                    excerpt = await _excerpt(response)
                finally:
                    await response.aclose()
                if 300 <= status < 400:
                    error = "redirect not followed"
                elif not 200 <= status < 300:
                    error = f"HTTP {status}"
        except TargetRefused as exc:
            error = str(exc)
        except TimeoutError:
            error = f"timed out after {self.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return Outcome(started, int((time.monotonic() - clock) * 1000), status, error[:MAX_ERROR] if error else None, excerpt)

    async def _target(self, url: str) -> tuple[str, dict[str, str], str | None]:
        """(the URL to connect to, request extensions, the Host header): with private targets refused, the
        host is resolved and checked now, and the request goes to that checked address (TLS still verifies
        and names the original host)."""
        if self.allow_private:
            return url, {}, None
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = (await resolve_allowed(host, port, self.allow_private))[0]
        literal = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = parts.netloc.rsplit("@", 1)[-1]
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        return pinned, extensions, host_header


async def _excerpt(response: httpx.Response) -> str | None:
    """The first EXCERPT_BYTES of the answer (never the whole of a large one)."""
    chunks = b""
    async for chunk in response.aiter_raw():
        chunks += chunk
        if len(chunks) >= EXCERPT_BYTES:
            break
    return chunks[:EXCERPT_BYTES].decode(errors="replace") or None
