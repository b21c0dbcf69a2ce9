"""Click-and-collect (issue 19): pickup-point warehouses with opening hours, pickup orders

warehouses: pickup_point (false for every existing warehouse), opening_hours (jsonb, local time, null: none
given), timezone (IANA name, null: the calendar's default). orders: delivery_type (SHIP for every existing
order), the pickup warehouse, the pickup code shown to the customer while READY_FOR_PICKUP, when it became
ready, and the wrong codes tried. Statuses and event types are plain strings: READY_FOR_PICKUP needs no DDL.
The partial index serves the UNCOLLECTED alert scan (orders waiting at a store only).

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"  # re-chained after sourcing's 0016 (merge of pickup into sourcing)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("warehouses", sa.Column("pickup_point", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("warehouses", sa.Column("opening_hours", postgresql.JSONB(), nullable=True))
    op.add_column("warehouses", sa.Column("timezone", sa.String(64), nullable=True))
    op.add_column("orders", sa.Column("delivery_type", sa.String(8), nullable=False, server_default="SHIP"))
    op.add_column("orders", sa.Column("pickup_warehouse_id", sa.Uuid(), nullable=True))
    op.create_foreign_key("fk_orders_pickup_warehouse_id_warehouses", "orders", "warehouses", ["pickup_warehouse_id"], ["id"])
    op.add_column("orders", sa.Column("pickup_code", sa.String(8), nullable=True))
    op.add_column("orders", sa.Column("ready_for_pickup_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("orders", sa.Column("pickup_attempts", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_orders_ready_for_pickup_at", "orders", ["ready_for_pickup_at"], postgresql_where=sa.text("status = 'READY_FOR_PICKUP'"))


def downgrade() -> None:
    op.drop_index("ix_orders_ready_for_pickup_at", table_name="orders")
    op.drop_constraint("fk_orders_pickup_warehouse_id_warehouses", "orders", type_="foreignkey")
    for column in ("pickup_attempts", "ready_for_pickup_at", "pickup_code", "pickup_warehouse_id", "delivery_type"):
        op.drop_column("orders", column)
    for column in ("timezone", "opening_hours", "pickup_point"):
        op.drop_column("warehouses", column)
