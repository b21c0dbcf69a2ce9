"""oms_refuse(reason): a statement that finds it cannot do its whole work raises SQLSTATE OM409 (issue 16, session 11)

placeOrder's write-and-reserve statement commits on its own when it is the unit's only write (no BEGIN, no COMMIT:
app/infra/database.py `UnitOfWork.fetch_committing`), so it must write nothing when a stock level turned out short:
it raises through this function instead (the implicit transaction is aborted; inside a transaction, that aborts
it too). Called only in a CASE branch, so only when the work could not be done.

Revision ID: 0023
Revises: 0022
"""
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE FUNCTION oms_refuse(reason text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'OM409', MESSAGE = reason;
END
$$""")


def downgrade() -> None:
    op.execute("DROP FUNCTION oms_refuse(text)")
