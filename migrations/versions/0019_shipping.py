"""Shipping charges (issue 19): rates as data, product weights, the order's shipping method and the VAT on its shipping

- `shipping_rates`: one row per carrier service, destination (an ISO country or a zone: DOMESTIC, EU, INTERNATIONAL,
  relative to the shipping warehouse), currency and weight/order-value band; `setShippingRates` replaces the table.
  With no rows, every order's shipping stays 0 (today's behaviour).
- `products.weight_grams` (0 by default: weightless, the lowest weight band).
- `orders.shipping_method` ("<CARRIER>:<SERVICE>", NULL when nothing was charged) and `orders.shipping_tax` (the VAT on
  the shipping, already inside `tax_total`; 0 for every existing order, whose shipping was 0).

Revision ID: 0019
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"  # re-chained at merge (lead)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shipping_rates",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("carrier_code", sa.String(32), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("destination", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("min_weight_grams", sa.Integer(), nullable=False),
        sa.Column("max_weight_grams", sa.Integer(), nullable=True),
        sa.Column("min_order_value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("max_order_value", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("price", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("free_above", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("transit_days", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["carrier_code"], ["carriers.code"], name="fk_shipping_rates_carrier_code_carriers"),
        sa.PrimaryKeyConstraint("id", name="pk_shipping_rates"),
    )
    op.create_index("ix_shipping_rates_currency_position", "shipping_rates", ["currency", "position"])
    op.add_column("products", sa.Column("weight_grams", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("orders", sa.Column("shipping_method", sa.String(70), nullable=True))
    op.add_column("orders", sa.Column("shipping_tax", sa.Numeric(precision=14, scale=2), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    op.drop_column("orders", "shipping_tax")
    op.drop_column("orders", "shipping_method")
    op.drop_column("products", "weight_grams")
    op.drop_index("ix_shipping_rates_currency_position", table_name="shipping_rates")
    op.drop_table("shipping_rates")
