"""Alerts and returned-to-sender restocking (issue 19)

Revision ID: 0014
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=True),
        sa.Column("sku", sa.String(64), nullable=True),
        sa.Column("warehouse_id", sa.UUID(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_alerts_order_id_orders", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["warehouse_id"], ["warehouses.id"], name="fk_alerts_warehouse_id_warehouses", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    # Exactly one open alert per cause, whatever the number of scanners.
    op.create_index("uq_alerts_open_kind_subject", "alerts", ["kind", "subject"], unique=True, postgresql_where=sa.text("cleared_at IS NULL"))
    op.create_index("ix_alerts_raised_at_id", "alerts", ["raised_at", "id"])
    op.create_index("ix_alerts_order_id", "alerts", ["order_id"])
    op.add_column("products", sa.Column("low_stock_threshold", sa.Integer(), nullable=True))
    op.add_column("shipments", sa.Column("restocked_at", sa.DateTime(timezone=True), nullable=True))
    # The TRACKING_SILENT scan reads only the parcels still on their way.
    op.create_index("ix_shipments_under_way_shipped_at", "shipments", ["shipped_at"],
                    postgresql_where=sa.text("status NOT IN ('DELIVERED', 'RETURNED_TO_SENDER')"))


def downgrade() -> None:
    op.drop_index("ix_shipments_under_way_shipped_at", table_name="shipments")
    op.drop_column("shipments", "restocked_at")
    op.drop_column("products", "low_stock_threshold")
    op.drop_table("alerts")
