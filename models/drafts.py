"""Draft orders (issue 18): what a phone or store sale is built from before it becomes an order.

A draft holds lines (SKU, quantity, customization) and the customer's details; it reserves no stock and stores no
price (the preview prices it from the catalogue when read). Completing it places an order through
`app/flows/placement.place` and links it (`order_id`). `completing_since` marks a completion in flight (updates are
refused meanwhile); `completion_key`/`completion_fingerprint` answer a retried completion.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Computed, ForeignKey, Index, Sequence, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.drafts.enums import DraftOrderStatus
from app.orders.enums import SalesChannel
from models.base import Base, created_at, enum_column, uuid_pk

# Draft numbers may skip values (a rolled-back creation): drafts are no legal document, so no counter row.
draft_order_number_seq = Sequence("draft_order_number_seq", start=1, metadata=Base.metadata)


class DraftOrder(Base):
    __tablename__ = "draft_orders"
    __table_args__ = (
        Index("ix_draft_orders_created_at_id", "created_at", "id"),
        Index("ix_draft_orders_open_expires_at", "expires_at", postgresql_where="status = 'OPEN'"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = uuid_pk()
    serial: Mapped[int] = mapped_column(BigInteger, draft_order_number_seq, server_default=draft_order_number_seq.next_value(), unique=True)
    number: Mapped[str] = mapped_column(
        String(32), Computed("'DR-' || right('00000' || serial::text, greatest(6, length(serial::text)))", persisted=True), unique=True,
    )
    status: Mapped[DraftOrderStatus] = mapped_column(enum_column(DraftOrderStatus, 16))
    channel: Mapped[SalesChannel] = mapped_column(enum_column(SalesChannel, 16))
    email: Mapped[str | None] = mapped_column(String(320))
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    notes: Mapped[str | None] = mapped_column(String(2000))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"), unique=True)
    completing_since: Mapped[datetime | None]
    completion_key: Mapped[str | None] = mapped_column(String(200))
    completion_fingerprint: Mapped[str | None] = mapped_column(String(64))
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(200))


class DraftOrderLine(Base):
    __tablename__ = "draft_order_lines"
    __table_args__ = (Index("ix_draft_order_lines_draft_order_id_position", "draft_order_id", "position"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    draft_order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("draft_orders.id", ondelete="CASCADE"))
    position: Mapped[int]
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int]
    customization: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
