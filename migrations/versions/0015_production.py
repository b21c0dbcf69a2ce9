"""Made-to-order production stages per order line (issue 19)

NULL on a made-to-order line reads as QUEUED (app/orders/production.py), so existing and newly placed
lines need no backfill and placement writes nothing; stock lines keep NULL.

Revision ID: 0015
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_lines", sa.Column("production_stage", sa.String(16), nullable=True))
    op.add_column("order_lines", sa.Column("production_started_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("order_lines", "production_started_at")
    op.drop_column("order_lines", "production_stage")
