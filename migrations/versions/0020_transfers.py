"""Ship-to-store transfers for click-and-collect (issue 19)

shipments.transfer_to_warehouse_id: set on a shipment that carries a PICKUP order's units from another warehouse
to its pickup point (a transfer, not a parcel to the customer); shipments.transfer_arrived_at: when its DELIVERED
report moved the units into the store (set once: the "exactly once" guard). allocations.transferred_from_warehouse_id:
the source of units that arrived at the pickup point by transfer (the allocation was re-pointed to the store).
A transfer allocation needs no column of its own: it is an open allocation of a PICKUP order at a warehouse other than
its pickup point (app/fulfilment/transfers.py). Ledger kinds TRANSFER_OUT / TRANSFER_IN and the event types are plain
strings: no DDL.

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("shipments", sa.Column("transfer_to_warehouse_id", sa.Uuid(), nullable=True))
    op.create_foreign_key("fk_shipments_transfer_to_warehouse_id_warehouses", "shipments", "warehouses", ["transfer_to_warehouse_id"], ["id"])
    op.add_column("shipments", sa.Column("transfer_arrived_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("allocations", sa.Column("transferred_from_warehouse_id", sa.Uuid(), nullable=True))
    op.create_foreign_key("fk_allocations_transferred_from_warehouse_id_warehouses", "allocations", "warehouses",
                          ["transferred_from_warehouse_id"], ["id"])


def downgrade() -> None:
    op.drop_constraint("fk_allocations_transferred_from_warehouse_id_warehouses", "allocations", type_="foreignkey")
    op.drop_column("allocations", "transferred_from_warehouse_id")
    op.drop_column("shipments", "transfer_arrived_at")
    op.drop_constraint("fk_shipments_transfer_to_warehouse_id_warehouses", "shipments", type_="foreignkey")
    op.drop_column("shipments", "transfer_to_warehouse_id")
