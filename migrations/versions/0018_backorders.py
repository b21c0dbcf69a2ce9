"""Backorders and pre-orders (issue 19): product inventory policy, expected stock receipts and their claims

- products.inventory_policy (DENY, the default and today's behaviour; BACKORDER; PREORDER) and available_from;
- stock_receipts: units expected at a warehouse on a date. `claimed` counts the units orders (and card placements
  between their two transactions) have claimed; the CHECKs keep claims within what is still expected, so an order
  never claims more than on hand plus scheduled, whatever the concurrency;
- receipt_holds: the claims of a card placement between its two transactions (gone with its placement_attempts row
  when the order is written, deleted with their units given back when it is declined or recovered);
- allocations.receipt_id: an allocation bound to a receipt (units not on hand yet, no `reserved` on stock).

Revision ID: 0018
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"  # re-chained at merge (lead)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("products", sa.Column("inventory_policy", sa.String(16), nullable=False, server_default="DENY"))
    op.add_column("products", sa.Column("available_from", sa.Date(), nullable=True))
    op.create_table(
        "stock_receipts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("warehouse_id", sa.UUID(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("claimed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("received", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("quantity >= 1", name="ck_stock_receipts_quantity_positive"),
        sa.CheckConstraint("claimed >= 0 AND claimed <= quantity", name="ck_stock_receipts_claimed_within_quantity"),
        sa.CheckConstraint("received >= 0 AND claimed + received <= quantity", name="ck_stock_receipts_claims_within_expected"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_stock_receipts_product_id_products"),
        sa.ForeignKeyConstraint(["warehouse_id"], ["warehouses.id"], name="fk_stock_receipts_warehouse_id_warehouses"),
        sa.PrimaryKeyConstraint("id", name="pk_stock_receipts"),
    )
    op.create_index("ix_stock_receipts_sku_warehouse_id_expected_at", "stock_receipts", ["sku", "warehouse_id", "expected_at", "id"])
    op.create_table(
        "receipt_holds",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("attempt_id", sa.UUID(), nullable=False),
        sa.Column("receipt_id", sa.UUID(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("warehouse_id", sa.UUID(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity >= 1", name="ck_receipt_holds_quantity_positive"),
        sa.ForeignKeyConstraint(["attempt_id"], ["placement_attempts.id"], name="fk_receipt_holds_attempt_id_placement_attempts",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["receipt_id"], ["stock_receipts.id"], name="fk_receipt_holds_receipt_id_stock_receipts"),
        sa.PrimaryKeyConstraint("id", name="pk_receipt_holds"),
    )
    op.create_index("ix_receipt_holds_attempt_id", "receipt_holds", ["attempt_id"])
    op.create_index("ix_receipt_holds_receipt_id", "receipt_holds", ["receipt_id"])
    op.add_column("allocations", sa.Column("receipt_id", sa.UUID(), nullable=True))
    op.create_foreign_key("fk_allocations_receipt_id_stock_receipts", "allocations", "stock_receipts", ["receipt_id"], ["id"])
    op.create_index("ix_allocations_receipt_id", "allocations", ["receipt_id"])


def downgrade() -> None:
    op.drop_index("ix_allocations_receipt_id", table_name="allocations")
    op.drop_constraint("fk_allocations_receipt_id_stock_receipts", "allocations", type_="foreignkey")
    op.drop_column("allocations", "receipt_id")
    op.drop_table("receipt_holds")
    op.drop_table("stock_receipts")
    op.drop_column("products", "available_from")
    op.drop_column("products", "inventory_policy")
