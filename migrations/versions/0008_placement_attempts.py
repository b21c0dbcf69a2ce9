"""Card placements between their two transactions (issue 16: no remote call while holding stock locks)

Revision ID: 0008
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "placement_attempts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("picks", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("provider_key", sa.String(300), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_placement_attempts"),
    )
    op.create_index("ix_placement_attempts_held_expires_at", "placement_attempts", ["expires_at"], postgresql_where=sa.text("status = 'HELD'"))
    op.create_index("ix_placement_attempts_idempotency_key", "placement_attempts", ["idempotency_key"])


def downgrade() -> None:
    op.drop_table("placement_attempts")
