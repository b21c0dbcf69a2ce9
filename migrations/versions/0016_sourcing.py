"""Sourcing rules as data (issue 19): the ordered list placement evaluates (app/orders/sourcing.py)

No rows: placement plans as before (warehouse priority, allocation.plan_allocation).

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sourcing_rules",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("countries", postgresql.ARRAY(sa.String(2)), nullable=False),
        sa.Column("zones", postgresql.ARRAY(sa.String(16)), nullable=False),
        sa.Column("delivery_type", sa.String(8), nullable=True),
        sa.Column("strategy", sa.String(24), nullable=False),
        sa.Column("fallback_strategy", sa.String(24), nullable=True),
        sa.Column("ranking", postgresql.ARRAY(sa.String(32)), nullable=False),
        sa.Column("exclude", postgresql.ARRAY(sa.String(32)), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sourcing_rules"),
        sa.UniqueConstraint("position", name="uq_sourcing_rules_position"),
    )


def downgrade() -> None:
    op.drop_table("sourcing_rules")
