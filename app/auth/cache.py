"""The API-key cache of one process (writes, issue 16).

A request's key is looked up once, then served from here without a statement until the entry is
`ttl` seconds old. Revocation empties it on every process: `revoke_api_key` queues an `apikey`
notice, the unit of work publishes it after commit, and each process's hub hands it to its cache
(`oms apikey revoke`, which runs no hub, sends the same message over the broadcast itself).
An entry also remembers its key's expiry and stops answering then, without a message. Failed
lookups are not cached: a key created a moment ago works at once.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.auth.service import KEY_TOPIC, Principal, revoke_api_key, revoked_key_ids
from app.infra.bus import publish_once
from app.infra.database import Database, UnitOfWork

# The bus message kind: {"apikey": {"revoked": ["<api_keys.id>", ...]}}
MESSAGE_KIND = KEY_TOPIC
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    expires_at: datetime | None  # the key's own expiry
    fresh_until: float  # monotonic: looked up again after this


class KeyCache:
    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        _live.add(self)
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # token hash -> entry
        # Bumped by every revocation: a lookup that started before one does not cache its (maybe stale) answer.
        self.generation = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token_hash: str) -> Principal | None:
        """The cached caller, or None when it must be looked up."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if self.clock() >= entry.fresh_until or (entry.expires_at is not None and entry.expires_at <= datetime.now(UTC)):
            self._entries.pop(token_hash, None)
            return None
        return entry.principal

    def put(self, token_hash: str, principal: Principal, expires_at: datetime | None, *, generation: int) -> None:
        """Cache a lookup's answer, unless a revocation arrived since the lookup began (`generation`)."""
        if not self.enabled or generation != self.generation:
            return
        self._entries[token_hash] = _Entry(principal, expires_at, self.clock() + self.ttl)
        self._entries.move_to_end(token_hash)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)

    def revoke(self, key_ids: Iterable[str]) -> int:
        self.generation += 1
        ids = set(key_ids)
        gone = [h for h, e in list(self._entries.items()) if e.principal.key_id in ids]
        for token_hash in gone:
            self._entries.pop(token_hash, None)
        return len(gone)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    def on_message(self, payload: Any) -> None:
        """A bus message's payload: {"revoked": [ids]} drops those keys; anything else empties the cache."""
        revoked = payload.get("revoked") if isinstance(payload, dict) else None
        if isinstance(revoked, list):
            self.revoke(str(key_id) for key_id in revoked)
        else:
            self.clear()


# Every cache of this process (an app served in the same process as the CLI, as in tests, is told directly).
_live: weakref.WeakSet[KeyCache] = weakref.WeakSet()


def revoked_message(key_ids: Iterable[str]) -> dict[str, Any]:
    return {MESSAGE_KIND: {"revoked": sorted(str(k) for k in key_ids)}}


async def revoke_from_outside(db: Database, *, name: str, broadcast_url: str) -> int:
    """Revoke a key from a process that serves nothing (`oms apikey revoke`): commit, then tell every serving
    process over the broadcast, since this process has no hub to publish its notice."""
    units: list[UnitOfWork] = []

    async def work(uow: UnitOfWork) -> int:
        units.append(uow)
        return await revoke_api_key(uow=uow, name=name)

    revoked = await db.run(work)
    ids = revoked_key_ids(units[-1])
    for cache in list(_live):
        cache.revoke(ids)
    await publish_once(broadcast_url, revoked_message(ids))
    return revoked
