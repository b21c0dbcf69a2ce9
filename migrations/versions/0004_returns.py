"""returns (RMA) and support inquiries; merges the fulfilment and billing branches

Revision ID: 0004
Revises: 0002, 0003
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = ("0002", "0003")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("return_number_seq", start=1)))
    op.execute(sa.schema.CreateSequence(sa.Sequence("inquiry_number_seq", start=1)))
    op.create_table(
        "returns",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("requested_by", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.Column("value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("refunded_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("replacement_lines", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("replacement_order_id", sa.UUID(), nullable=True),
        sa.Column("price_difference", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_returns_order_id_orders"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["replacement_order_id"], ["orders.id"], name=op.f("fk_returns_replacement_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_returns")),
        sa.UniqueConstraint("number", name=op.f("uq_returns_number")),
    )
    op.create_index(op.f("ix_returns_order_id"), "returns", ["order_id"], unique=False)
    op.create_index("ix_returns_status_created_at", "returns", ["status", "created_at", "id"], unique=False)
    op.create_table(
        "return_lines",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("return_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.UUID(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("product_name", sa.String(length=300), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("inspection", sa.String(length=16), nullable=True),
        sa.Column("restock_warehouse_id", sa.UUID(), nullable=True),
        sa.Column("inspection_note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["order_line_id"], ["order_lines.id"], name=op.f("fk_return_lines_order_line_id_order_lines"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["restock_warehouse_id"], ["warehouses.id"], name=op.f("fk_return_lines_restock_warehouse_id_warehouses")),
        sa.ForeignKeyConstraint(["return_id"], ["returns.id"], name=op.f("fk_return_lines_return_id_returns"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_lines")),
    )
    op.create_index(op.f("ix_return_lines_order_line_id"), "return_lines", ["order_line_id"], unique=False)
    op.create_index("ix_return_lines_return_id_position", "return_lines", ["return_id", "position"], unique=False)
    op.create_table(
        "inquiries",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_by", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_inquiries_order_id_orders"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiries")),
        sa.UniqueConstraint("number", name=op.f("uq_inquiries_number")),
    )
    op.create_index(op.f("ix_inquiries_order_id"), "inquiries", ["order_id"], unique=False)
    op.create_index("ix_inquiries_status_updated_at", "inquiries", ["status", "updated_at", "id"], unique=False)
    op.create_table(
        "inquiry_messages",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("inquiry_id", sa.UUID(), nullable=False),
        sa.Column("author_type", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False),
        sa.ForeignKeyConstraint(["inquiry_id"], ["inquiries.id"], name=op.f("fk_inquiry_messages_inquiry_id_inquiries"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry_messages")),
    )
    op.create_index("ix_inquiry_messages_inquiry_id_created_at", "inquiry_messages", ["inquiry_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("inquiry_messages")
    op.drop_table("inquiries")
    op.drop_table("return_lines")
    op.drop_table("returns")
    op.execute(sa.schema.DropSequence(sa.Sequence("inquiry_number_seq")))
    op.execute(sa.schema.DropSequence(sa.Sequence("return_number_seq")))
