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
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

HORIZON = """
CREATE FUNCTION order_event_horizon(known bigint, after bigint, OUT xmin bigint, OUT run bigint, OUT lsn text, OUT last bigint,
                                    OUT xid bigint, OUT written text, OUT flushed text, OUT started text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    xmin := pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
    SELECT COALESCE(max(seq), after) INTO run FROM (
        SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM (
            SELECT seq FROM order_events WHERE seq > after ORDER BY seq LIMIT 5000) numbers) ranked
    WHERE seq = after + n;
    lsn := pg_current_wal_insert_lsn()::text;
    last := COALESCE(pg_sequence_last_value('order_event_seq'), 0);
    IF last > known THEN
        xid := pg_current_xact_id()::text::bigint;
    END IF;
    written := pg_current_wal_insert_lsn()::text;
    flushed := pg_current_wal_flush_lsn()::text;
    started := pg_postmaster_start_time()::text || ' ' || coalesce((SELECT stats_reset FROM pg_stat_wal)::text, '');
END
$$
"""

PREVIOUS = """
CREATE FUNCTION order_event_horizon(known bigint, after bigint, OUT xmin bigint, OUT run bigint, OUT lsn text, OUT last bigint, OUT xid bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    xmin := pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
    SELECT COALESCE(max(seq), after) INTO run FROM (
        SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM (
            SELECT seq FROM order_events WHERE seq > after ORDER BY seq LIMIT 5000) numbers) ranked
    WHERE seq = after + n;
    lsn := pg_current_wal_insert_lsn()::text;
    last := COALESCE(pg_sequence_last_value('order_event_seq'), 0);
    IF last > known THEN
        xid := pg_current_xact_id()::text::bigint;
    END IF;
END
$$
"""


def upgrade() -> None:
    op.execute("DROP FUNCTION order_event_horizon(bigint, bigint)")  # (its OUT columns change: no CREATE OR REPLACE)
    op.execute(HORIZON)


def downgrade() -> None:
    op.execute("DROP FUNCTION order_event_horizon(bigint, bigint)")
    op.execute(PREVIOUS)
