"""orders: the email index extended by placed_at (issue 16, session 9)

ix_orders_email (email) becomes ix_orders_email_placed_at (email, placed_at): the EMAIL_VELOCITY risk rule counts an
email's orders of the last N minutes at every placement (app/orders/risk.py); on (email) alone that count read every
order of the email from the heap (7.9 % of PostgreSQL's CPU in the placement benchmark, growing with each email's
history); on (email, placed_at) it is an index range. Every lookup by email alone uses the new index's prefix, so the
old index goes (one index fewer to maintain per order written).

Revision ID: 0021
Revises: 0020
"""
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_email_placed_at", "orders", ["email", "placed_at"], unique=False)
    op.drop_index("ix_orders_email", table_name="orders")


def downgrade() -> None:
    op.create_index("ix_orders_email", "orders", ["email"], unique=False)
    op.drop_index("ix_orders_email_placed_at", table_name="orders")
