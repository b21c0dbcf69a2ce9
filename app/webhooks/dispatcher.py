"""Webhook delivery: the fan-out from the committed event log, and the delivery of what it queued.

Fan-out. Per endpoint, in one transaction holding the endpoint's row lock (FOR UPDATE SKIP LOCKED: one
process fans an endpoint out at a time, the others skip it): the events with fanned_out_to < seq <= H
that match its types and channels become delivery rows, and fanned_out_to moves to H. H is this
process's live hub's confirmed horizon (`hub.last_seq`, app/infra/horizon.py): every event at or below it
that will ever exist has committed, so an event is never skipped, and nothing is read before commit.
Never max(seq): a larger seq can commit before a smaller one. The request's own transaction writes
nothing for webhooks (the event log is the outbox).

Delivery. One statement claims the due deliveries (FOR UPDATE SKIP LOCKED), marks them DELIVERING with a
lease and counts the attempt; the POST runs after that commits, outside any transaction, bounded by
OMS_WEBHOOK_TIMEOUT_SECONDS; a second short transaction records the attempt and the outcome, but only
if the delivery is still this worker's (status DELIVERING and the same attempt count): a worker whose
lease ran out and was taken over never overwrites the newer attempt's result. A process that dies
mid-delivery leaves the row DELIVERING; once its lease expires another worker claims it again, with
the same webhook-id (at least once).

Order: a delivery is claimed only when no earlier event of the same order to the same endpoint is
still open (PENDING, RETRYING, DELIVERING): a later event waits for the earlier one. A DEAD delivery
does not hold the order back for ever; the receiver sees the gap in `sequence` and can replay.

Why our own tables and SKIP LOCKED, not procrastinate: see the README (webhooks) and issue 17's report:
a second driver and pool (psycopg) next to asyncpg, its schema outside Alembic, and its per-lock
ordering does not hold back a later job behind an earlier one that waits for its retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from app.infra.database import Database, UnitOfWork
from app.infra.hub import LiveHub
from app.infra.settings import Settings
from app.infra.tasks import cancel_and_wait
from app.webhooks import payload
from app.webhooks.sender import Outcome, Sender
from app.webhooks.service import TOPIC

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 500  # events per fan-out transaction
LEASE_MARGIN_SECONDS = 2.0  # beyond the attempt's timeout: time to record the outcome
MAX_RETRY_DELAY_SECONDS = 3600.0
ACTOR = "system:webhooks"
HOST = socket.gethostname()
POOL_SIZE = 2  # the dispatcher's own connections (and as many again in overflow)

Clock = Callable[[], datetime]

# :now is the injected clock (tests jump an hour), or NULL: the database's clock, the same for every process.
NOW = "COALESCE(CAST(:now AS timestamptz), clock_timestamp())"

ENDPOINTS = text(
    "SELECT id, fanned_out_to < :upto AS behind FROM webhook_endpoints WHERE deleted_at IS NULL"
    " AND (CAST(:endpoints AS uuid[]) IS NULL OR id = ANY(CAST(:endpoints AS uuid[]))) ORDER BY id"
)
LOCK_ENDPOINT = text(
    "SELECT fanned_out_to, event_types, channels FROM webhook_endpoints "
    "WHERE id = :id AND deleted_at IS NULL AND fanned_out_to < :upto FOR UPDATE SKIP LOCKED"
)
BATCH_END = text("SELECT seq FROM order_events WHERE seq > :after AND seq <= :upto ORDER BY seq OFFSET :skip LIMIT 1")
FAN_OUT = text(f"""
INSERT INTO webhook_deliveries (id, endpoint_id, event_seq, order_id, order_sequence, event_type, status, attempts,
                                next_attempt_at, queued_at)
SELECT gen_random_uuid(), :endpoint, e.seq, e.order_id,
       (SELECT count(*) FROM order_events p WHERE p.order_id = e.order_id AND p.seq <= e.seq),
       e.type, 'PENDING', 0, {NOW}, {NOW}
FROM order_events e
WHERE e.seq > :after AND e.seq <= :upto
  AND (cardinality(CAST(:types AS varchar[])) = 0 OR e.type = ANY(CAST(:types AS varchar[])))
  AND (CAST(:channels AS varchar[]) IS NULL OR e.channel = ANY(CAST(:channels AS varchar[])))
ORDER BY e.seq
ON CONFLICT (endpoint_id, event_seq) DO NOTHING
""")
ADVANCE = text("UPDATE webhook_endpoints SET fanned_out_to = :upto WHERE id = :id")

CLAIM = text(f"""
WITH claimed AS (
  UPDATE webhook_deliveries d
  SET status = 'DELIVERING', attempts = d.attempts + 1, lease_until = {NOW} + make_interval(secs => :lease)
  WHERE d.id = ANY(ARRAY(
    SELECT c.id FROM webhook_deliveries c
    JOIN webhook_endpoints w ON w.id = c.endpoint_id AND w.active AND w.deleted_at IS NULL
    WHERE ((c.status IN ('PENDING', 'RETRYING') AND c.next_attempt_at <= {NOW}) OR (c.status = 'DELIVERING' AND c.lease_until < {NOW}))
      AND (CAST(:endpoints AS uuid[]) IS NULL OR c.endpoint_id = ANY(CAST(:endpoints AS uuid[])))
      AND NOT EXISTS (
        SELECT 1 FROM webhook_deliveries p
        WHERE p.endpoint_id = c.endpoint_id AND p.order_id = c.order_id AND p.event_seq < c.event_seq
          AND p.status IN ('PENDING', 'RETRYING', 'DELIVERING'))
    ORDER BY c.next_attempt_at, c.event_seq
    LIMIT :n
    FOR UPDATE OF c SKIP LOCKED))
  RETURNING d.id, d.endpoint_id, d.event_seq, d.order_sequence, d.attempts
)
SELECT claimed.id, claimed.attempts, claimed.event_seq, claimed.order_sequence, w.url, w.secret,
       e.type, e.status, e.previous_status, e.channel, e.occurred_at, e.data, o.id AS order_id, o.number
FROM claimed
JOIN webhook_endpoints w ON w.id = claimed.endpoint_id
JOIN order_events e ON e.seq = claimed.event_seq
JOIN orders o ON o.id = e.order_id
ORDER BY claimed.event_seq
""")
RECORD = text(f"""
UPDATE webhook_deliveries SET
  status = CASE WHEN :ok THEN 'SUCCEEDED'
                WHEN attempts >= :max_attempts OR {NOW} - queued_at >= make_interval(secs => :max_age) THEN 'DEAD'
                ELSE 'RETRYING' END,
  delivered_at = CASE WHEN :ok THEN {NOW} END,
  dead_at = CASE WHEN NOT :ok AND (attempts >= :max_attempts OR {NOW} - queued_at >= make_interval(secs => :max_age)) THEN {NOW} END,
  next_attempt_at = CASE WHEN :ok THEN next_attempt_at ELSE {NOW} + make_interval(secs => :delay) END,
  lease_until = NULL, last_error = COALESCE(CAST(:error AS varchar), last_error), last_status = :status
WHERE id = :id AND status = 'DELIVERING' AND attempts = :attempt
RETURNING status
""")
ATTEMPT = text("""
INSERT INTO webhook_attempts (delivery_id, number, started_at, duration_ms, response_status, error, response_excerpt, worker)
VALUES (:id, :attempt, :started_at, :duration_ms, :status, :error, :excerpt, :worker)
""")
# A stopping process gives back the leases of the attempts it abandons (they may have been received: at least once).
RELEASE = text(f"""
UPDATE webhook_deliveries SET status = 'RETRYING', lease_until = NULL, next_attempt_at = {NOW}, last_error = 'abandoned at shutdown'
WHERE status = 'DELIVERING'
  AND (id, attempts) IN (SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:attempts AS integer[])))  -- still ours: not taken over
""")
# One table only (so an idle process never holds locks on several tables at once): is anything claimable by time?
ANY_DUE = text(f"""
SELECT EXISTS (SELECT 1 FROM webhook_deliveries
               WHERE (status IN ('PENDING', 'RETRYING') AND next_attempt_at <= {NOW}) OR (status = 'DELIVERING' AND lease_until < {NOW}))
""")
# Seconds until the next retry falls due or a lease runs out (NULL: none). Only future times: a row already due but not
# claimed is blocked (an earlier event of its order is open) or its endpoint is paused; it is woken, not polled.
NEXT_DUE = text(f"""
SELECT EXTRACT(EPOCH FROM least(
  (SELECT min(next_attempt_at) FROM webhook_deliveries WHERE status = 'RETRYING' AND next_attempt_at > {NOW}),
  (SELECT min(lease_until) FROM webhook_deliveries WHERE status = 'DELIVERING' AND lease_until > {NOW})) - {NOW})
""")



@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this worker holds the lease of, with what its POST needs."""

    id: uuid.UUID
    attempt: int
    event_seq: int
    url: str
    secret: str
    body: str

    @property
    def webhook_id(self) -> str:
        return payload.webhook_id(self.id)


def retry_delay(base: float, attempt: int, jitter: float | None = None) -> float:
    """Seconds before the next attempt after failed attempt number `attempt` (1, 2, ...): base * 2^(attempt-1),
    times a jitter factor in [0.5, 1.5), at most an hour."""
    factor = 0.5 + (random.random() if jitter is None else jitter)
    return min(MAX_RETRY_DELAY_SECONDS, base * 2 ** max(attempt - 1, 0) * factor)


class WebhookDispatcher:
    """Fans the event log out to the endpoints and delivers the deliveries, in this process (started by
    server/background.py: inside `oms serve` and `oms worker`). Safe with any number of processes."""

    def __init__(
        self, db: Database, hub: LiveHub | None, settings: Settings, *, clock: Clock | None = None, sender: Sender | None = None,
        endpoint_ids: list[uuid.UUID] | None = None, own_pool: bool = False,
    ) -> None:
        self.db = db
        # own_pool: a small pool of its own, so deliveries never take the requests' connections (and the
        # request pool's statement counts stay the requests' own)
        self.own_pool = own_pool
        self._shared_db = db
        self.hub = hub
        self.settings = settings
        self.clock = clock  # None: the database's clock (production)
        self.sender = sender
        self.endpoint_ids = endpoint_ids  # only these endpoints' deliveries (tests driving their own dispatcher)
        self.concurrency = max(1, settings.webhook_concurrency)
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._claimed: dict[uuid.UUID, int] = {}  # delivery id -> attempt, while this process holds its lease
        self._fan_wake = asyncio.Event()
        self._noticed = True  # an endpoint changed (here or in another process) since the last fan-out
        self.endpoints_exist = True  # the last fan-out found an endpoint (none: new events need no look until one is made)
        self._deliver_wake = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._tasks:
            return
        if self.own_pool:
            settings = self.settings
            self.db = Database(self._shared_db.url, pool_size=POOL_SIZE, lock_timeout_ms=settings.db_lock_timeout_ms,
                               statement_timeout_ms=settings.db_statement_timeout_ms, retry_budget_ms=settings.db_retry_budget_ms,
                               pre_ping=settings.db_pre_ping)
        if self.sender is None:
            self.sender = Sender(timeout=self.settings.webhook_timeout_seconds, allow_private=self.settings.webhook_allow_private)
        if self.hub is not None:
            self.hub.listen(TOPIC, self._on_notice)
        self._tasks = [
            asyncio.create_task(self._fan_out_loop(), name="webhook-fan-out"),
            asyncio.create_task(self._delivery_loop(), name="webhook-delivery"),
        ]
        if self.hub is not None:
            self._tasks.append(asyncio.create_task(self._watch_hub(), name="webhook-horizon"))

    async def stop(self) -> None:
        """Stops at once: a POST in flight is abandoned and its lease given back (due again now, for any
        process; same webhook-id). If that cannot be written, the lease simply expires."""
        await cancel_and_wait(*self._tasks, *self._inflight)
        self._tasks, self._inflight = [], set()
        abandoned, self._claimed = self._claimed, {}
        if abandoned:
            try:
                async with asyncio.timeout(1):
                    params = {"ids": list(abandoned), "attempts": list(abandoned.values()), "now": self._now()}
                    await self.db.run(lambda uow: uow.session.execute(RELEASE, params), actor=ACTOR)
            except Exception:
                log.warning("could not give back %d webhook leases; they expire on their own", len(abandoned), exc_info=True)
        if self.sender is not None:
            await self.sender.close()
            self.sender = None
        if self.db is not self._shared_db:
            await self.db.dispose()
            self.db = self._shared_db

    def _on_notice(self, message: Any) -> None:
        self._noticed = True
        self._fan_wake.set()
        self._deliver_wake.set()

    def _now(self) -> datetime | None:
        return self.clock() if self.clock is not None else None

    # -- fan-out ---------------------------------------------------------------------------------------

    async def fan_out(self, upto: int) -> int:
        """Queue the events up to the confirmed horizon `upto` for every endpoint behind it; returns how many
        deliveries were queued."""
        async with self.db.read(primary=True) as session:
            rows = (await session.execute(ENDPOINTS, {"upto": upto, "endpoints": self.endpoint_ids})).all()
        self.endpoints_exist = bool(rows)
        created = 0
        for endpoint_id in [row.id for row in rows if row.behind]:
            while True:
                queued, more = await self.db.run(lambda uow: self._fan_out_endpoint(uow, endpoint_id, upto), actor=ACTOR)
                created += queued
                if not more:
                    break
        return created

    async def _fan_out_endpoint(self, uow: UnitOfWork, endpoint_id: uuid.UUID, upto: int) -> tuple[int, bool]:
        session = uow.session
        row = (await session.execute(LOCK_ENDPOINT, {"id": endpoint_id, "upto": upto})).first()
        if row is None:  # deleted, up to date, or another process is fanning it out right now
            return 0, False
        after, types, channels = int(row.fanned_out_to), list(row.event_types), row.channels
        end = (await session.execute(BATCH_END, {"after": after, "upto": upto, "skip": FAN_OUT_BATCH - 1})).scalar()
        bound = int(end) if end is not None else upto
        result: Any = await session.execute(FAN_OUT, {
            "endpoint": endpoint_id, "after": after, "upto": bound, "types": types, "channels": channels, "now": self._now(),
        })
        await session.execute(ADVANCE, {"id": endpoint_id, "upto": bound})
        return int(result.rowcount or 0), bound < upto

    async def _watch_hub(self) -> None:
        """Wakes the fan-out whenever the hub's confirmed horizon moves (the hub's own progress signal)."""
        assert self.hub is not None
        hub = self.hub
        while True:
            seen = hub.last_seq
            await hub.wait_until(lambda: hub.last_seq > seen)
            self._fan_wake.set()

    async def _fan_out_loop(self) -> None:
        poll = self.settings.live_poll_seconds
        timed_out = True
        while True:
            self._fan_wake.clear()
            # With no endpoint at all, new events alone need no look: an endpoint's creation wakes us (its notice),
            # and the poll is the safety net for a lost notice. So an installation without webhooks pays ~1 query/poll.
            if self.endpoints_exist or self._noticed or timed_out:
                self._noticed = False
                try:
                    upto = self.hub.last_seq if self.hub is not None else 0
                    if await self.fan_out(upto):
                        self._deliver_wake.set()
                except Exception:
                    self._noticed = True
                    log.exception("webhook fan-out failed; retrying")
            timed_out = False
            try:
                async with asyncio.timeout(poll):
                    await self._fan_wake.wait()
            except TimeoutError:
                timed_out = True

    # -- delivery --------------------------------------------------------------------------------------

    async def claim(self, limit: int) -> list[Claimed]:
        """Claim up to `limit` due deliveries (each the oldest open one of its order for its endpoint)."""
        async with self.db.read(primary=True) as session:
            if not (await session.execute(ANY_DUE, {"now": self._now()})).scalar():
                return []
        lease = self.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        params = {"now": self._now(), "lease": lease, "n": limit, "endpoints": self.endpoint_ids}

        async def work(uow: UnitOfWork) -> list[Claimed]:
            rows = (await uow.session.execute(CLAIM, params)).all()
            return [
                Claimed(
                    id=row.id, attempt=int(row.attempts), event_seq=int(row.event_seq), url=row.url, secret=row.secret,
                    body=payload.build(
                        seq=int(row.event_seq), event_type=row.type, status=row.status, previous_status=row.previous_status,
                        channel=row.channel, occurred_at=row.occurred_at, data=row.data, order_id=row.order_id,
                        order_number=row.number, sequence=int(row.order_sequence),
                    ),
                )
                for row in rows
            ]

        return await self.db.run(work, actor=ACTOR)

    async def attempt(self, claimed: Claimed) -> str | None:
        """POST one claimed delivery and record the outcome; the delivery's new status (None: the lease was
        lost to another worker meanwhile, which owns the outcome now)."""
        if self.sender is None:
            self.sender = Sender(timeout=self.settings.webhook_timeout_seconds, allow_private=self.settings.webhook_allow_private)
        outcome = await self.sender.send(url=claimed.url, secret=claimed.secret, message_id=claimed.webhook_id, body=claimed.body)
        return await self.record(claimed, outcome)

    async def record(self, claimed: Claimed, outcome: Outcome) -> str | None:
        delay = retry_delay(self.settings.webhook_retry_base_seconds, claimed.attempt)
        params = {
            "id": claimed.id, "attempt": claimed.attempt, "ok": outcome.succeeded, "status": outcome.status, "error": outcome.error,
            "excerpt": outcome.excerpt, "started_at": outcome.started_at, "duration_ms": outcome.duration_ms, "delay": delay,
            "max_attempts": self.settings.webhook_max_attempts, "max_age": self.settings.webhook_max_age_hours * 3600, "now": self._now(),
            "worker": f"{HOST}:{os.getpid()}"[:200],  # which process made it
        }

        async def work(uow: UnitOfWork) -> str | None:
            await uow.session.execute(ATTEMPT, params)
            status = (await uow.session.execute(RECORD, params)).scalar()
            return None if status is None else str(status)

        status = await self.db.run(work, actor=ACTOR)
        if status is None:
            log.warning("webhook delivery %s: attempt %d finished after its lease was taken over", claimed.webhook_id, claimed.attempt)
        elif status == "DEAD":
            log.warning("webhook delivery %s is DEAD after %d attempts: %s", claimed.webhook_id, claimed.attempt, outcome.error)
        return status

    async def deliver_due(self) -> int:
        """Claim and attempt whatever is due now, until nothing is (tests with a simulated clock drive this);
        returns the number of attempts made."""
        made = 0
        while True:
            batch = await self.claim(self.concurrency)
            if not batch:
                return made
            await asyncio.gather(*(self.attempt(c) for c in batch))
            made += len(batch)

    async def _delivery_loop(self) -> None:
        poll = self.settings.live_poll_seconds
        while True:
            self._deliver_wake.clear()
            free = self.concurrency - len(self._inflight)
            claimed: list[Claimed] = []
            if free > 0:
                try:
                    claimed = await self.claim(free)
                except Exception:
                    log.exception("claiming webhook deliveries failed; retrying")
            for delivery in claimed:
                self._claimed[delivery.id] = delivery.attempt
                task = asyncio.create_task(self._attempt_logged(delivery), name=f"webhook-{delivery.webhook_id}")
                self._inflight.add(task)
                task.add_done_callback(self._finished)
            if claimed and len(claimed) == free:
                continue  # more may be due: claim again once a slot frees (or now, if slots remain)
            wait = poll
            with contextlib.suppress(Exception):
                wait = await self._until_next_due(poll)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._deliver_wake.wait()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._deliver_wake.set()  # a slot is free, and the order's next event may be due now

    async def _attempt_logged(self, claimed: Claimed) -> None:
        try:
            await self.attempt(claimed)
            self._claimed.pop(claimed.id, None)
        except Exception:
            self._claimed.pop(claimed.id, None)
            log.exception("webhook delivery %s failed to be recorded; its lease will expire and it is attempted again", claimed.webhook_id)

    async def _until_next_due(self, poll: float) -> float:
        """Seconds until the next retry is due or a lease expires (at most `poll`); new deliveries wake the loop."""
        async with self.db.read(primary=True) as session:
            seconds = (await session.execute(NEXT_DUE, {"now": self._now()})).scalar()
        return poll if seconds is None else max(0.0, min(poll, float(seconds)))
