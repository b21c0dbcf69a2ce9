"""The reference browser pages (issue 12): `/track` for customers, `/dashboard` for operations.

Plain HTML/CSS/JS files under server/static/, built only on the public GraphQL API (queries over `fetch`,
subscriptions with the vendored graphql-ws client); no build step. They work from any origin in
OMS_CORS_ORIGINS too: the API URL defaults to this server and can be set with `?api=<url>`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from server.http_protocol import STATIC_DIR

# The pages talk to /graphql only; nothing else needs to be fetched.
SECURITY_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


async def track(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "track.html", media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


async def dashboard(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "dashboard.html", media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


ROUTES = [Route("/track", track), Route("/dashboard", dashboard)]
