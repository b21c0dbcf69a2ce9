"""Holds and risk (issue 18): several holds per order with reasons, risk rules kept as data, the order's risk assessment

Revision ID: 0011
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The rules an installation starts with (app/orders/risk.py DEFAULT_RULES says the same; a test compares them).
# AMOUNT_OVER without an amount takes OMS_RISK_HIGH_AMOUNT (default 5000, in the order's currency).
SEED = [
    (1, "AMOUNT_OVER", {}, "HIGH"),
    (2, "COUNTRY_MISMATCH", {}, "MEDIUM"),
    (3, "EMAIL_VELOCITY", {"count": 5, "minutes": 60}, "HIGH"),
    (4, "FIRST_ORDER_OVER", {"amount": "1000"}, "MEDIUM"),
]


def upgrade() -> None:
    op.create_table(
        "order_holds",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(200), nullable=True),
        sa.Column("release_note", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_order_holds_order_id_orders", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_order_holds"),
    )
    op.create_index("ix_order_holds_order_id", "order_holds", ["order_id"])
    op.create_index("uq_order_holds_open_reason", "order_holds", ["order_id", "reason"], unique=True,
                    postgresql_where=sa.text("released_at IS NULL"))

    rules = op.create_table(
        "risk_rules",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_risk_rules"),
    )
    op.bulk_insert(rules, [
        {"id": f"00000000-0000-0000-0000-00000000000{position}", "position": position, "kind": kind, "params": params, "level": level,
         "active": True}
        for position, kind, params, level in SEED
    ])

    op.add_column("orders", sa.Column("risk_level", sa.String(8), nullable=True))
    op.add_column("orders", sa.Column("risk_facts", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("orders", sa.Column("risk_source", sa.String(16), nullable=True))
    op.add_column("orders", sa.Column("risk_assessed_at", sa.DateTime(timezone=True), nullable=True))

    # Every order on hold today gets its one open hold (reason STAFF, the only kind there was).
    op.execute(sa.text(
        "INSERT INTO order_holds (id, order_id, reason, created_at) SELECT gen_random_uuid(), id, 'STAFF', updated_at FROM orders "
        "WHERE status = 'ON_HOLD'"
    ))


def downgrade() -> None:
    op.drop_column("orders", "risk_assessed_at")
    op.drop_column("orders", "risk_source")
    op.drop_column("orders", "risk_facts")
    op.drop_column("orders", "risk_level")
    op.drop_table("risk_rules")
    op.drop_table("order_holds")
