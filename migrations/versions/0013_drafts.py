"""Draft orders (issue 18): phone and store sales built before they are placed

Revision ID: 0013
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("draft_order_number_seq", start=1)))
    op.create_table(
        "draft_orders",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("serial", sa.BigInteger(), server_default=sa.text("nextval('draft_order_number_seq')"), nullable=False),
        sa.Column("number", sa.String(32), sa.Computed("'DR-' || right('00000' || serial::text, greatest(6, length(serial::text)))",
                                                       persisted=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("shipping_address", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("billing_address", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("notes", sa.String(2000), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=True),
        sa.Column("completing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completion_key", sa.String(200), nullable=True),
        sa.Column("completion_fingerprint", sa.String(64), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_draft_orders_order_id_orders"),
        sa.PrimaryKeyConstraint("id", name="pk_draft_orders"),
        sa.UniqueConstraint("serial", name="uq_draft_orders_serial"),
        sa.UniqueConstraint("number", name="uq_draft_orders_number"),
        sa.UniqueConstraint("order_id", name="uq_draft_orders_order_id"),
    )
    op.create_index("ix_draft_orders_created_at_id", "draft_orders", ["created_at", "id"])
    op.create_index("ix_draft_orders_open_expires_at", "draft_orders", ["expires_at"], postgresql_where=sa.text("status = 'OPEN'"))
    op.create_table(
        "draft_order_lines",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("draft_order_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("customization", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(["draft_order_id"], ["draft_orders.id"], name="fk_draft_order_lines_draft_order_id_draft_orders",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_draft_order_lines"),
    )
    op.create_index("ix_draft_order_lines_draft_order_id_position", "draft_order_lines", ["draft_order_id", "position"])


def downgrade() -> None:
    op.drop_table("draft_order_lines")
    op.drop_table("draft_orders")
    op.execute(sa.schema.DropSequence(sa.Sequence("draft_order_number_seq")))
