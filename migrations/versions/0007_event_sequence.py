"""Event cursors from a sequence plus a visibility horizon, instead of one counter row locked by every order write (issue 16)

Revision ID: 0007
Revises: 0006

`order_events.seq` defaults to nextval('order_event_seq') (cache 1) and continues where the
'order_event' counter row stood; the row is gone. Readers never read past the horizon that
order_event_horizon() lets them establish: see app/infra/horizon.py for the algorithm and its proof.
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# One round trip for a reader of the log, in this order (each statement of a VOLATILE plpgsql
# function gets a fresh snapshot):
#   1. xmin: the oldest transaction still in flight -> confirms candidates sampled by earlier calls;
#   2. run: the end of the unbroken run of committed numbers after `after` (the caller's horizon):
#      a committed number is final, so the horizon may move along it without waiting;
#   3. lsn: the WAL insert position, after those snapshots: a replica that replayed it sees every
#      transaction 1 and 2 counted;
#   4. last: the highest seq handed out so far (0: none yet);
#   5. xid: only when last > known, a transaction id assigned after `last` was read: every writer
#      that drew a seq <= last had its own id before, so a smaller one. The function's own
#      transaction ends with the call.
HORIZON = """
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
    op.execute("CREATE SEQUENCE order_event_seq AS bigint CACHE 1 OWNED BY order_events.seq")
    op.execute(
        "SELECT setval('order_event_seq', v) FROM (SELECT GREATEST(COALESCE((SELECT value FROM counters WHERE name = 'order_event'), 0),"
        " COALESCE((SELECT max(seq) FROM order_events), 0)) AS v) c WHERE v > 0"
    )
    op.execute("ALTER TABLE order_events ALTER COLUMN seq SET DEFAULT nextval('order_event_seq')")
    op.execute("DELETE FROM counters WHERE name = 'order_event'")
    op.execute(HORIZON)


def downgrade() -> None:
    op.execute("DROP FUNCTION order_event_horizon(bigint, bigint)")
    op.execute(
        # the old scheme's check wants counter = newest event (gaps above it were never a cursor)
        "INSERT INTO counters (name, value) SELECT 'order_event', COALESCE((SELECT max(seq) FROM order_events), 0)"
    )
    op.execute("ALTER TABLE order_events ALTER COLUMN seq DROP DEFAULT")
    op.execute("DROP SEQUENCE order_event_seq")
