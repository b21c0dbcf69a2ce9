"""Rate limits with `limits` (issue 13): memory storage in one process, Redis across processes.

`OMS_RATE_LIMIT_STORAGE`: "memory://" (default; each process counts alone) or "redis://host:6379/0"
(every process shares the counts; redis-py, already installed with broadcaster[redis]). Moving windows:
exact, one entry per hit, right for small limits such as 10/minute per order number.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string


class RateLimiter:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self._items: dict[str, RateLimitItem] = {}

    @classmethod
    def from_url(cls, url: str) -> RateLimiter:
        if url.startswith("memory://"):
            return cls(MemoryStorage())
        if url.startswith(("redis://", "rediss://")):
            # limits' async Redis storage defaults to coredis; redis-py is the one the project already has.
            storage = storage_from_string("async+" + url, implementation="redispy", key_prefix="oms-rl")
            assert isinstance(storage, Storage)
            return cls(storage)
        raise ValueError(f"unsupported OMS_RATE_LIMIT_STORAGE {url!r}: memory:// or redis://…")

    async def close(self) -> None:
        """Closes a Redis storage's connections (limits has no close of its own: its bridge holds the client)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()

    def item(self, spec: str) -> RateLimitItem:
        if spec not in self._items:
            self._items[spec] = parse(spec)
        return self._items[spec]

    async def hit(self, operation: str, limits: Sequence[tuple[str, str, str]]) -> int | None:
        """Counts one attempt against every (spec, dimension, value); the seconds to wait if any is spent.
        Every attempt counts, before the pair is checked, so a wrong pair keeps its constant answer."""
        waits = []
        for spec, dimension, value in limits:
            item = self.item(spec)
            if not await self.strategy.hit(item, operation, dimension, value):
                stats = await self.strategy.get_window_stats(item, operation, dimension, value)
                waits.append(max(1, math.ceil(stats.reset_time - time.time())))
        return max(waits) if waits else None
