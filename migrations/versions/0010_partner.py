"""Partner integration (issue 17): an order's external reference and marketplace (bulk import), its public and
private metadata, and its change sequence (the "changed since" sync: the cursor of its last event, set at commit).

Revision ID: 0010
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("external_reference", sa.String(200), nullable=True))
    op.add_column("orders", sa.Column("marketplace", sa.String(64), nullable=True))
    op.add_column("orders", sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False))
    op.add_column("orders", sa.Column("private_metadata", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                                      nullable=False))
    op.add_column("orders", sa.Column("change_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False))
    # Existing orders: the cursor of their last event (every order change records one).
    op.execute("UPDATE orders o SET change_seq = e.seq FROM (SELECT order_id, max(seq) AS seq FROM order_events GROUP BY order_id) e "
               "WHERE e.order_id = o.id")
    op.create_index("ix_orders_change_seq_id", "orders", ["change_seq", "id"])
    op.create_index("ix_orders_external_reference", "orders", ["channel", sa.text("coalesce(marketplace, '')"), "external_reference"],
                    unique=True, postgresql_where=sa.text("external_reference IS NOT NULL"))
    op.create_index("ix_orders_metadata", "orders", ["metadata"], postgresql_using="gin")
    op.create_index("ix_orders_private_metadata", "orders", ["private_metadata"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_orders_private_metadata", table_name="orders")
    op.drop_index("ix_orders_metadata", table_name="orders")
    op.drop_index("ix_orders_external_reference", table_name="orders")
    op.drop_index("ix_orders_change_seq_id", table_name="orders")
    for name in ("change_seq", "private_metadata", "metadata", "marketplace", "external_reference"):
        op.drop_column("orders", name)
