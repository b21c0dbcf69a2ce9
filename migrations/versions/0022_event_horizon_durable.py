"""order_event_horizon: what a candidate needs to be durable (issue 16, session 10)

A candidate horizon (last, xid) may pass numbers no event will ever carry (a rollback, a crash), so it must stay true
after a crash too. It did not quite: the sequence hands out numbers in batches whose WAL record is written before the
first of them, and `last` may lie in a batch whose record had not reached the disk when the server crashed; after the
restart the sequence starts again below `last`, and events numbered at or below a horizon already confirmed (so never
read) would commit. Now the function also returns, in this order after `last`:
  written = the WAL insert position after `last` was read (past the record of last's batch);
  flushed = the WAL flush position (read last);
  started = the server's life: its start time and the WAL statistics' reset time, which a crash renews even when the
            postmaster survives it (after a crash, WAL positions past the flushed end are handed out again).
A candidate is confirmed only once a later call's `flushed` has passed its `written`, on the same `started`
(app/infra/horizon.py). The columns the earlier function returned are unchanged.

Revision ID: 0022
Revises: 0021
"""
import importlib.util
from pathlib import Path

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def _previous() -> str:
    """Migration 0007's function, as it created it (what downgrade restores; what upgrade extends)."""
    spec = importlib.util.spec_from_file_location("migration_0007", Path(__file__).with_name("0007_event_sequence.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.HORIZON)


PREVIOUS = _previous()
HORIZON = PREVIOUS.replace("OUT xid bigint)", "OUT xid bigint,\n    OUT written text, OUT flushed text, OUT started text)").replace(
    "    END IF;\nEND", """    END IF;
    written := pg_current_wal_insert_lsn()::text;
    flushed := pg_current_wal_flush_lsn()::text;
    started := pg_postmaster_start_time()::text || ' ' || coalesce((SELECT stats_reset FROM pg_stat_wal)::text, '');
END""")
assert HORIZON.count("OUT started text") == 1 and HORIZON.count("started :=") == 1, "migration 0007's function text changed"


def upgrade() -> None:
    op.execute("DROP FUNCTION order_event_horizon(bigint, bigint)")  # (its OUT columns change: no CREATE OR REPLACE)
    op.execute(HORIZON)


def downgrade() -> None:
    op.execute("DROP FUNCTION order_event_horizon(bigint, bigint)")
    op.execute(PREVIOUS)
