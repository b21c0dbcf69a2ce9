"""Draft expiry: every `interval` seconds, every OPEN draft past `expires_at` becomes EXPIRED.

One UPDATE statement per round (`service.expire_drafts`): idempotent, and safe with any number of processes running
it at once (PostgreSQL re-checks the row's status after waiting on a concurrent update, so each draft is expired once
and a draft completed meanwhile is left alone). A draft reserves nothing, so expiring one releases nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from app.drafts import service
from app.infra.database import Database
from app.infra.tasks import PeriodicTask

log = logging.getLogger(__name__)

ACTOR = "system:draft-expiry"
DEFAULT_INTERVAL_SECONDS = 60.0


async def expire_due(db: Database, *, now: datetime | None = None) -> int:
    """One round: the number of drafts it expired."""
    return await db.run(lambda uow: service.expire_drafts(uow.session, now=now), actor=ACTOR)


class DraftExpiryWorker(PeriodicTask):
    """Runs `expire_due` every `interval` seconds, the first round at start, until stopped (server/background.py)."""

    name = "draft-expiry"
    first_round_at_start = True

    def __init__(self, db: Database, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        super().__init__(interval)
        self.db = db

    async def run_once(self) -> int:
        expired = await expire_due(self.db)
        if expired:
            log.info("expired %d draft orders", expired)
        return expired

    async def run_round(self) -> None:
        await self.run_once()
