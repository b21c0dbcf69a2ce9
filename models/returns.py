"""Persistence for post-sale care: returns (RMA) with their lines, and support inquiries with their messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.inquiries.enums import InquiryStatus
from app.orders.enums import AuthorType
from app.returns.enums import InspectionResult, ReturnResolution, ReturnStatus
from models.base import Base, created_at, enum_column, uuid_pk


class ReturnRequest(Base):
    """A return merchandise authorisation over delivered lines of one order."""

    __tablename__ = "returns"
    __table_args__ = (Index("ix_returns_status_created_at", "status", "created_at", "id"),)
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = uuid_pk()
    number: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    # REQUESTED -> APPROVED -> RECEIVED, or REQUESTED -> REJECTED
    status: Mapped[ReturnStatus] = mapped_column(enum_column(ReturnStatus, 16))
    resolution: Mapped[ReturnResolution] = mapped_column(enum_column(ReturnResolution, 16))
    reason: Mapped[str] = mapped_column(String(500))
    # CUSTOMER (through the tracking pair) or STAFF
    requested_by: Mapped[AuthorType] = mapped_column(enum_column(AuthorType, 16))
    actor: Mapped[str | None] = mapped_column(String(200))
    decision_note: Mapped[str | None] = mapped_column(String(500))
    # Gross value of the returned units at the prices paid.
    value: Mapped[Decimal]
    refunded_amount: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    currency: Mapped[str] = mapped_column(String(3))
    # Exchanges: [{"sku", "quantity"}] to send instead, placed as a linked order on approval.
    replacement_lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    replacement_order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"))
    # Replacement total minus returned value: > 0 the customer owes it, < 0 it is refunded on receipt.
    price_difference: Mapped[Decimal | None]
    created_at: Mapped[datetime] = created_at()
    decided_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]


class ReturnLine(Base):
    __tablename__ = "return_lines"
    __table_args__ = (Index("ix_return_lines_return_id_position", "return_id", "position"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    return_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"))
    position: Mapped[int]
    order_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    product_name: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int]
    reason: Mapped[str | None] = mapped_column(String(500))
    # Filled when the goods arrive: RESTOCK (into restock_warehouse_id) or WRITE_OFF.
    inspection: Mapped[InspectionResult | None] = mapped_column(enum_column(InspectionResult, 16))
    restock_warehouse_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("warehouses.id"))
    inspection_note: Mapped[str | None] = mapped_column(String(500))


class Inquiry(Base):
    """A support case about one order, opened by the customer or by staff."""

    __tablename__ = "inquiries"
    __table_args__ = (Index("ix_inquiries_status_updated_at", "status", "updated_at", "id"),)
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = uuid_pk()
    number: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    # OPEN (waiting for staff), ANSWERED (waiting for the customer), CLOSED
    status: Mapped[InquiryStatus] = mapped_column(enum_column(InquiryStatus, 16))
    opened_by: Mapped[AuthorType] = mapped_column(enum_column(AuthorType, 16))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class InquiryMessage(Base):
    __tablename__ = "inquiry_messages"
    __table_args__ = (Index("ix_inquiry_messages_inquiry_id_created_at", "inquiry_id", "created_at"),)
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = uuid_pk()
    inquiry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inquiries.id", ondelete="CASCADE"))
    author_type: Mapped[AuthorType] = mapped_column(enum_column(AuthorType, 16))
    author: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
