"""Per-request context: database, caller, request id and the request's DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from graphql import GraphQLError
from starlette.websockets import WebSocket

from app.auth.cache import KeyCache
from app.auth.service import KEY_TOPIC, TOKEN_PREFIX, Principal, hash_token, lookup_key
from app.infra.database import Database
from app.infra.hub import LiveHub
from app.infra.settings import Settings
from resolvers.loaders import Loaders

# One API-key cache per live hub (one per serving app, so per process in production); the hub's
# `apikey` messages (a key revoked here or in another process) empty it of those keys.
_key_caches: WeakKeyDictionary[LiveHub, KeyCache] = WeakKeyDictionary()


def key_cache(hub: LiveHub, settings: Settings) -> KeyCache:
    cache = _key_caches.get(hub)
    if cache is None:
        cache = _key_caches[hub] = KeyCache(settings.key_cache_seconds)
        hub.listen(KEY_TOPIC, cache.on_message)
    return cache


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
                self._principal = await self._lookup(self.token)
                self.db.note_actor(self._principal.actor if self._principal else None)
            self._authenticated = True
        return self._principal

    async def _lookup(self, token: str) -> Principal | None:
        """From the process's key cache (no statement), else from the database, then cached. A WebSocket's key is
        always checked against the database when it connects (a socket lives long; the key sweep re-checks it, and
        a database that is down closes it with 1013): only requests are served from the cache."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        token_hash = hash_token(token)
        cache = key_cache(self.hub, self.settings)
        principal = None if isinstance(self.request, WebSocket) else cache.get(token_hash)
        if principal is not None:
            return principal
        generation = cache.generation
        # on the primary: a revoked key stops working at once, even with a lagging replica
        record = await self.db.query(lambda session: lookup_key(session=session, token_hash=token_hash), primary=True)
        if record is None:
            return None
        cache.put(token_hash, record.principal, record.expires_at, generation=generation)
        return record.principal

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

