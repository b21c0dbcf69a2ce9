"""Draft expiry: every `interval` seconds, every OPEN draft past `expires_at` becomes EXPIRED.

One UPDATE statement per round (`service.expire_drafts`): idempotent, and safe with any number of processes running
it at once (PostgreSQL re-checks the row's status after waiting on a concurrent update, so each draft is expired once
and a draft completed meanwhile is left alone). A draft reserves nothing, so expiring one releases nothing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from app.drafts import service
from app.infra.database import Database
from app.infra.tasks import cancel_and_wait

log = logging.getLogger(__name__)

ACTOR = "system:draft-expiry"
DEFAULT_INTERVAL_SECONDS = 60.0


async def expire_due(db: Database, *, now: datetime | None = None) -> int:
    """One round: the number of drafts it expired."""
    return await db.run(lambda uow: service.expire_drafts(uow.session, now=now), actor=ACTOR)


class DraftExpiryWorker:
    """Runs `expire_due` every `interval` seconds until stopped (started by the app's lifespan)."""

    def __init__(self, db: Database, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self.db = db
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        expired = await expire_due(self.db)
        if expired:
            log.info("expired %d draft orders", expired)
        return expired

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # keep running: the next round retries
                log.exception("draft expiry failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="draft-expiry")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
