"""Per-request context: database, caller, request id and the request's DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError

from app.auth.service import Principal, authenticate
from app.infra.database import Database
from app.infra.hub import LiveHub
from app.infra.settings import Settings
from resolvers.loaders import Loaders


class Forbidden(GraphQLError):
    def __init__(self, message: str, code: str = "FORBIDDEN") -> None:
        super().__init__(message, extensions={"code": code})


@dataclass(eq=False)
class Context:
    db: Database
    settings: Settings
    request_id: str
    hub: LiveHub
    token: str | None = None
    connection_params: Any = None  # WebSocket connection_init payload
    request: Any = None
    response: Any = None
    rate_limiter: Any = None  # issue 13: app.infra.ratelimit.RateLimiter for public operations
    loaders: Loaders = field(init=False)
    _principal: Principal | None = field(default=None, init=False)
    _authenticated: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db)

    async def principal(self) -> Principal | None:
        if not self._authenticated:
            if self.token:
                token = self.token
                # on the primary: a revoked key stops working at once, even with a lagging replica
                self._principal = await self.db.query(lambda session: authenticate(session=session, token=token), primary=True)
                self.db.note_actor(self._principal.actor if self._principal else None)
            self._authenticated = True
        return self._principal

    def cached_principal(self) -> tuple[bool, Principal | None]:
        """(looked up yet?, the caller): lets a field guard decide without awaiting once the key is known."""
        return self._authenticated, self._principal

    async def require(self, scope: str) -> Principal:
        """The caller, if its key has `scope`; otherwise a top-level GraphQL error."""
        principal = await self.principal()
        if principal is None:
            raise Forbidden("A valid API key is required (Authorization: Bearer <token>).", "UNAUTHENTICATED")
        if not principal.has(scope):
            raise Forbidden(f"This API key lacks the {scope!r} scope.")
        return principal

