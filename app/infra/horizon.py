"""The visibility horizon of the order event log (issue 16): up to where a reader may read it.

Writers number events from the sequence `order_event_seq` (app/infra/database.py) with no lock
shared between them, so numbers are not in commit order: seq 11 can be committed while the
transaction holding seq 10 is still in flight, or roll back (a permanent gap). A reader that
delivered 11 would then lose 10 for good. So readers deliver in seq order, but only up to a
*horizon* H below which the log is final: every event with seq <= H that will ever commit has
committed and is visible. The order is then the same for every reader in every process (seq
order), and a cursor is just the seq: "after c" means the events with c < seq <= H, then later.

How H is established, with no timeout and no guess (PgQ's ticks and Marten's high-water mark,
with a transaction id of the reader's own as the tick). The function `order_event_horizon`
(migration 0007), one round trip, returns in this order:
  xmin  = pg_snapshot_xmin(pg_current_snapshot()): every transaction with a smaller id has ended;
  run   = the end of the unbroken run of committed numbers after the caller's H;
  lsn   = the WAL insert position, read after that snapshot;
  last  = the highest seq handed out so far (the sequence has CACHE 1);
  xid   = a transaction id assigned to the call, after `last` was read (only when last grew).
The pair (last, xid) is a *candidate*; a later call whose xmin > xid *confirms* it: H = last.
That waits for every write transaction in flight at the sample, so the same call also moves H
along the unbroken run of committed numbers H+1, H+2, ... (`run`): a committed number is final
(numbers are unique), so the common case (no rollback below) waits only for the writers that
hold the next numbers, between their draw and their COMMIT; a gap left by a rollback, a retry or
a crash (the sequence jumps ahead after one) is passed once a candidate above it is confirmed.

Proof. Let W be a writer that drew s <= last. Its number was drawn before `last` was read
(the sequence only grows), and W's own id was assigned before it drew (the unit of work runs
`SELECT pg_current_xact_id()` first), and ids are handed out in increasing order, so W's id is
smaller than `xid`, which was assigned after `last` was read. xmin > xid then means W has
ended, committed or rolled back: the snapshot of any later statement sees exactly the events
with seq <= last that will ever exist. And no event can get a number <= last afterwards: later
nextval calls return more. The run rule needs no proof beyond uniqueness: H+1 committed is the only event numbered H+1.
Hence: delivered once (a reader moves its cursor only to confirmed
horizons and reads each range (c, H] once), one total order (seq), resumable after any cursor
(the range after it is final), nothing before commit (only committed rows are read), and the
events of one order in causal order (a writer draws its numbers while it holds the order's row
lock, so the next holder of that lock draws larger ones).

Why not the simpler rules (issue 16's traps):
  - seq order with "xid < xmin" as the test: W2 (older id) can draw 11 after W1 (younger id)
    drew 10; with W1 in flight and W2 below xmin, 11 passes the test and 10 comes later;
  - xid order: a transaction with a smaller id can take an order's lock after one with a larger
    id committed its event for that order: the order's events would be delivered reversed;
  - snapshot xmax instead of our own id: xmax is the latest *completed* id + 1, so a writer with a
    larger id that is still running is invisible to that bound.
Crashes (session 10): the proof needs "later nextval calls return more" to hold across a crash too. The sequence
WAL-logs a batch of numbers before handing out the first, and a crash loses a record that no COMMIT flushed; the
restarted sequence then hands out that batch again. So a candidate is confirmed only once the WAL up to its sample
(`written`, read after `last`) is flushed, in the same life of the server (`started`: database.SERVER_LIFE, which a
crash renews; a candidate from an earlier life is dropped);
the run rule is safe as it is (an event is visible only after its COMMIT, and so its batch, was flushed).
Replicas: a replica shows everything a confirmed horizon covers once it has replayed `lsn` (the
writers' commit records came before the confirming snapshot); `lsn` is kept with H, and readers
use the replica only once it has replayed it.

Cost: one round trip per reader round, and a transaction id only when new numbers were handed
out since the last sample. A horizon waits for the write transactions that were in flight when
it was sampled (not for read-only ones): a long write transaction delays delivery, never loses.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from app.infra.database import Database, lsn_to_int

HORIZON = "SELECT xmin, run, lsn, last, xid, written, flushed, started FROM order_event_horizon($1, $2)"
# Waiting for a horizon in `now`: from the first re-check to the longest pause between two.
FIRST_RECHECK = 0.0005
LONGEST_RECHECK = 0.05


class EventHorizon:
    """One per process (the live hub's): confirmed horizon, its WAL position, and the candidates not yet confirmed."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.confirmed = 0  # every event with seq <= confirmed that will ever exist is committed
        self.lsn = 0  # WAL position after which a replica shows all of them
        self.sampled = 0  # the highest `last` a candidate was taken for
        # (last, xid, written, started) not confirmed yet: see `_absorb`
        self.candidates: list[tuple[int, int, int, str]] = []

    @property
    def pending(self) -> bool:
        """Numbers were handed out beyond the confirmed horizon: a later call may confirm them."""
        return bool(self.candidates)

    async def advance(self) -> int:
        """One round trip: confirms what earlier samples allow, and samples anew if new numbers were handed out."""
        self._absorb(await self._call(self.sampled))
        return self.confirmed

    async def now(self) -> int:
        """A horizon covering every number handed out before this call (for "from now"):
        returns once the write transactions in flight at the call have ended."""
        row = await self._call(self.confirmed)
        self._absorb(row)
        target = int(row["last"])
        pause = FIRST_RECHECK
        while self.confirmed < target:
            await asyncio.sleep(pause)  # the database's state is polled: the writers in flight end when they end
            pause = min(pause * 2, LONGEST_RECHECK)
            await self.advance()
        return max(target, 0)

    def _absorb(self, row: dict[str, Any]) -> None:
        # No await in here: concurrent callers (the hub's loop, a new subscription) never see half an update.
        # A candidate is confirmed when every writer in flight at its sample has ended (xid < xmin) AND the WAL up to
        # its sample is on disk (written <= flushed) in the same life of the server: the sequence's record of the batch
        # `last` came from is then durable, so no crash can hand out a number <= last again (migration 0022). A
        # candidate from an earlier life of the server is dropped: the crash may have lost that record, and WAL
        # positions past the recovered end are handed out anew. (The run of committed numbers needs neither: an event
        # is visible only once its COMMIT, and with it its number's batch, is on disk.)
        xmin, flushed, started = int(row["xmin"]), lsn_to_int(row["flushed"]), row["started"]
        if any(c[3] != started for c in self.candidates):
            self.candidates = [c for c in self.candidates if c[3] == started]
            self.sampled = self.confirmed  # (sample anew: the numbers above may be handed out again)
        final = [c for c in self.candidates if c[1] < xmin and c[2] <= flushed]
        ready = [c[0] for c in final] + [int(row["run"])]
        if max(ready) > self.confirmed:
            self.confirmed = max(ready)
            self.lsn = max(self.lsn, lsn_to_int(row["lsn"]))
        self.candidates = [c for c in self.candidates if c not in final and c[0] > self.confirmed]
        if row["xid"] is not None:
            last = int(row["last"])
            if last <= self.confirmed:
                return
            self.candidates.append((last, int(row["xid"]), lsn_to_int(row["written"]), started))
            self.sampled = max(self.sampled, last)

    async def _call(self, known: int) -> dict[str, Any]:
        async def call(session: Any) -> dict[str, Any]:
            # On the driver, outside a transaction: one round trip, no BEGIN/ROLLBACK, and the pooled
            # connection's isolation setting untouched (SQLAlchemy starts its transaction lazily, at
            # its first statement, so none is open here).
            raw = await (await session.connection()).get_raw_connection()
            try:
                row = await raw.driver_connection.fetchrow(HORIZON, known, self.confirmed)
            except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError,
                    asyncpg.CrashShutdownError, asyncpg.TooManyConnectionsError) as exc:
                raise ConnectionError(str(exc)) from exc  # retried by Database.query like a lost connection
            return dict(row)

        return await self.db.query(call, primary=True)  # the sequence and transaction ids exist on the primary only
