"""Which browser origins may call the API (issue 12): one rule for CORS and for the WebSocket Origin check.

`OMS_CORS_ORIGINS` is a comma-separated list of exact origins (`scheme://host[:port]`, no path). `*` (any
origin) is refused in production. Unset: in development any `http://localhost:<port>` and
`http://127.0.0.1:<port>`; in production none (same origin only). Set to an empty string: none.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.http.websocket_origin import normalize_allowed_origins, normalize_origin

DEV_LOCAL_ORIGIN_REGEX = r"http://(localhost|127\.0\.0\.1)(:[0-9]{1,5})?"
# Paths a browser page may call cross-origin: the API and the document downloads.
CORS_PATH_PREFIXES = ("/graphql", "/documents/")


class Origins:
    """The allowed origins; `allows(origin)` is the one predicate both checks use."""

    def __init__(self, raw: str | None, *, production: bool) -> None:
        items = [o.strip() for o in (raw or "").split(",") if o.strip()]
        if "*" in items and production:
            raise ValueError("OMS_CORS_ORIGINS='*' is not allowed when OMS_ENV=production")
        self.any = "*" in items
        # Validates each entry (raises ValueError on a path, a missing scheme...) and normalises it as browsers send it.
        self.exact: frozenset[str] = frozenset(normalize_allowed_origins([o for o in items if o != "*"]))
        self.regex = None if production or raw is not None else DEV_LOCAL_ORIGIN_REGEX

    def allows(self, origin: str) -> bool:
        if self.any:
            return True
        normalized = normalize_origin(origin)
        if normalized is None:
            return False
        return normalized in self.exact or (self.regex is not None and re.fullmatch(self.regex, normalized) is not None)

    @property
    def allowed_list(self) -> list[str]:
        """For strawberry's `allowed_origins` (exact entries; the dev pattern goes through `allows`)."""
        return ["*"] if self.any else sorted(self.exact)

    def cors_options(self) -> dict[str, Any]:
        return {
            "allow_origins": self.allowed_list,
            "allow_origin_regex": self.regex,
            "allow_methods": ["GET", "POST"],
            "allow_headers": ["Authorization", "Content-Type", "Accept"],
            "expose_headers": ["Content-Disposition", "Content-Length", "Content-Type"],
            "allow_credentials": False,
            "max_age": 600,
        }


class PathCORS:
    """Starlette's CORSMiddleware for some path prefixes only. It runs before routing, so a preflight
    `OPTIONS /graphql` is answered here instead of by the route (which would say 405)."""

    def __init__(self, app: ASGIApp, origins: Origins, prefixes: tuple[str, ...] = CORS_PATH_PREFIXES) -> None:
        self.app, self.prefixes = app, prefixes
        self.cors = CORSMiddleware(app, **origins.cors_options())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(self.prefixes):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
