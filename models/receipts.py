"""Expected stock receipts and their claims (backorders and pre-orders, issue 19; app/catalog/receipts.py).

A receipt is units of one SKU expected at one warehouse on a date. Orders of BACKORDER / PREORDER products
claim what on-hand stock cannot cover from it: `claimed` rises (the CHECKs keep `claimed + received <=
quantity`: never more claims than units still expected), and their allocations carry `receipt_id` (no
`reserved` on the stock level: the units are not there yet). The arrival (receiveStock) adds on-hand and turns
the claims into ordinary reservations in placement order. A card placement's claims between its two
transactions are `ReceiptHold` rows (they go with its placement_attempts row when the order is written).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.orders.enums import ReceiptStatus
from models.base import Base, created_at, enum_column, uuid_pk


class StockReceipt(Base):
    __tablename__ = "stock_receipts"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        # "an order never claims more than on hand plus scheduled": the database refuses any claim beyond the receipt
        CheckConstraint("claimed >= 0 AND claimed <= quantity", name="claimed_within_quantity"),
        CheckConstraint("received >= 0 AND claimed + received <= quantity", name="claims_within_expected"),
        Index("ix_stock_receipts_sku_warehouse_id_expected_at", "sku", "warehouse_id", "expected_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    warehouse_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("warehouses.id"))
    quantity: Mapped[int]  # units expected in all (scheduleReceipt)
    claimed: Mapped[int] = mapped_column(default=0, server_default="0")  # units claimed by orders / held card placements, not arrived
    received: Mapped[int] = mapped_column(default=0, server_default="0")  # units arrived so far (receiveStock)
    expected_at: Mapped[datetime]
    status: Mapped[ReceiptStatus] = mapped_column(enum_column(ReceiptStatus, 24))
    actor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()
    received_at: Mapped[datetime | None]  # the last arrival

    @property
    def claimable(self) -> int:
        """Units still expected and not claimed."""
        return max(self.quantity - self.received - self.claimed, 0)


class ReceiptHold(Base):
    """Units of a receipt a card placement claims between its two transactions (models/placement.py)."""

    __tablename__ = "receipt_holds"
    __table_args__ = (CheckConstraint("quantity >= 1", name="quantity_positive"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    attempt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("placement_attempts.id", ondelete="CASCADE"), index=True)
    receipt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stock_receipts.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    warehouse_id: Mapped[uuid.UUID]
    quantity: Mapped[int]
