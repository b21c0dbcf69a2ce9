"""Order edits and line cancellations (issue 18): order_edits, invoice revisions, cancelled units per line

Revision ID: 0012
Revises: 0008

- `order_edits`: one row per applied edit or line cancellation (its before/after, the money moved, the client's key
  for replays); provider keys are derived from its id.
- `invoices.revision`: an edited order's invoice is corrected by a full credit note plus a new invoice with the next
  revision, so "one invoice per order" becomes "one invoice per order and revision".
- `order_lines.quantity_cancelled`: units taken off a line after placement (edits, line cancellations).
- `payments.parent_payment_id`: an extra authorisation opened by an edit on an order whose card was already captured.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_edits",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("amount_delta", sa.Numeric(14, 2), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_order_edits_order_id_orders"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_edits")),
        sa.UniqueConstraint("order_id", "idempotency_key", name="uq_order_edits_order_id_idempotency_key"),
    )
    op.create_index("ix_order_edits_order_id_created_at", "order_edits", ["order_id", "created_at"])

    op.add_column("invoices", sa.Column("revision", sa.Integer(), server_default=sa.text("1"), nullable=False))
    op.drop_index("uq_invoices_one_invoice_per_order", table_name="invoices")
    op.create_index("uq_invoices_order_id_revision", "invoices", ["order_id", "revision"], unique=True,
                    postgresql_where=sa.text("kind = 'INVOICE'"))

    op.add_column("order_lines", sa.Column("quantity_cancelled", sa.Integer(), server_default=sa.text("0"), nullable=False))

    op.add_column("payments", sa.Column("parent_payment_id", sa.UUID(), nullable=True))
    op.create_foreign_key(op.f("fk_payments_parent_payment_id_payments"), "payments", "payments", ["parent_payment_id"], ["id"])


def downgrade() -> None:
    op.drop_constraint(op.f("fk_payments_parent_payment_id_payments"), "payments", type_="foreignkey")
    op.drop_column("payments", "parent_payment_id")
    op.drop_column("order_lines", "quantity_cancelled")
    op.drop_index("uq_invoices_order_id_revision", table_name="invoices")
    op.create_index("uq_invoices_one_invoice_per_order", "invoices", ["order_id"], unique=True, postgresql_where=sa.text("kind = 'INVOICE'"))
    op.drop_column("invoices", "revision")
    op.drop_table("order_edits")
