"""The one list of background tasks: what `oms serve` (the app's lifespan) and `oms worker` start.

Each entry has `start()` (creates its task, returns at once) and `async stop()` (cancels and waits);
they are started in list order and stopped in reverse. Every one of them is safe with several
processes running it at once (each claims its rows with FOR UPDATE SKIP LOCKED), so a deployment
may run them in every `oms serve` process, in a separate `oms worker`, or both.

Issues 17-18 append here, one line each.
"""

from __future__ import annotations

from typing import Protocol

from app.alerts.scanner import AlertScanner
from app.drafts.expiry import DraftExpiryWorker
from app.flows.expiry import ExpiryWorker
from app.infra.database import Database
from app.infra.hub import LiveHub
from app.infra.settings import Settings
from app.webhooks.dispatcher import WebhookDispatcher


class BackgroundTask(Protocol):
    def start(self) -> None: ...

    async def stop(self) -> None: ...


def background_tasks(db: Database, hub: LiveHub, settings: Settings) -> list[BackgroundTask]:
    """The background tasks of one process, in start order."""
    return [
        ExpiryWorker(db, settings.expiry_interval_seconds),  # unpaid bank transfers, interrupted card placements
        WebhookDispatcher(db, hub, settings, own_pool=True),  # hooks, issue 17: webhook fan-out and delivery
        DraftExpiryWorker(db, settings.expiry_interval_seconds),  # drafts, issue 18: OPEN drafts past OMS_DRAFT_EXPIRY_HOURS -> EXPIRED
        AlertScanner(db, settings),  # alerts, issue 19: raises and clears alerts (one statement per kind under a try-lock)
    ]
