"""Public operations (tracking pair) limited per client address and per order number (issue 13).

Refused: a GraphQL error RATE_LIMITED with extensions.retryAfter; over HTTP the response is 429 with a
Retry-After header (strawberry copies the sub-response's status and headers onto the real one). The order
number is the key, never the email (no personal data in the counters).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from starlette.responses import Response

from app.infra.ratelimit import RateLimiter


class RateLimited(GraphQLError):
    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many requests; try again later.", extensions={"code": "RATE_LIMITED", "retryAfter": retry_after})


def client_address(request: Any) -> str:
    """The peer address (uvicorn runs with proxy_headers off; behind a proxy, enable it for that proxy only)."""
    client = getattr(request, "client", None)
    return client.host if client else "unknown"


async def enforce_public(context: Any, number: str) -> None:
    """One attempt of any public operation (lookups and customer mutations share the counts)."""
    limiter: RateLimiter | None = getattr(context, "rate_limiter", None)
    if limiter is None:
        return
    settings = context.settings
    wait = await limiter.hit("public", [
        (settings.public_rate_per_address, "address", client_address(context.request)),
        (settings.public_rate_per_order, "order", number.strip().upper()[:64]),
    ])
    if wait is None:
        return
    too_many_requests(context.response, wait)
    raise RateLimited(wait)


def too_many_requests(response: Any, retry_after: int) -> None:
    """Over HTTP (a sub-response; a WebSocket has none), the answer becomes 429 with Retry-After."""
    if isinstance(response, Response):
        response.status_code = 429
        response.headers["Retry-After"] = str(retry_after)
