"""Persistence for the billing domain: payments, their provider operations, invoices and credit notes."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.billing.enums import InvoiceKind, PaymentOperationKind, PaymentTransactionStatus
from app.orders.enums import PaymentMethod
from models.base import Base, enum_column, uuid_pk
from models.base import created_at as server_now


class Payment(Base):
    """One way an order is (to be) paid: a card authorisation, an expected transfer, cash on delivery.

    Amounts only grow through `PaymentOperation` rows written in the same transaction.
    """

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_order_id_created_at", "order_id", "created_at"),
        # What the bank-transfer expiry task scans.
        Index("ix_payments_expiry", "expires_at", postgresql_where=text("status = 'PENDING' AND expires_at IS NOT NULL")),
        CheckConstraint("captured_amount >= 0 AND refunded_amount >= 0 AND refunded_amount <= captured_amount", name="amounts"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    method: Mapped[PaymentMethod] = mapped_column(enum_column(PaymentMethod, 24))
    status: Mapped[PaymentTransactionStatus] = mapped_column(enum_column(PaymentTransactionStatus, 24))
    provider: Mapped[str | None] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal]
    captured_amount: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    refunded_amount: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    # Provider authorisation reference, or the bank / cash reference.
    reference: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = server_now()
    updated_at: Mapped[datetime] = server_now()
    # An extra authorisation an edit opened (issue 18) on the card of this earlier payment, already captured.
    parent_payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"))


class PaymentOperation(Base):
    """One call to a provider (or one manual record): authorise, capture, void, refund, record.

    `idempotency_key` is the key sent to the provider; it is derived from committed state
    (or the client's key), so a retry after a crash sends the same key and cannot charge twice.
    """

    __tablename__ = "payment_operations"
    __table_args__ = (Index("ix_payment_operations_payment_id", "payment_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    kind: Mapped[PaymentOperationKind] = mapped_column(enum_column(PaymentOperationKind, 16))
    amount: Mapped[Decimal]
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    provider_reference: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = server_now()


class Invoice(Base):
    """An invoice or a credit note. Everything printed on it is frozen here at issue;
    a database trigger refuses any later UPDATE or DELETE."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("series", "sequence", name="uq_invoices_series_sequence"),
        # One invoice per order and revision, however many requests race (credit notes are not limited). An edit
        # (issue 18) credits the current revision in full and issues the next one.
        Index("uq_invoices_order_id_revision", "order_id", "revision", unique=True, postgresql_where=text("kind = 'INVOICE'")),
        Index("ix_invoices_order_id", "order_id"),
        Index("ix_invoices_issued_at_id", "issued_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[InvoiceKind] = mapped_column(enum_column(InvoiceKind, 16))
    series: Mapped[str] = mapped_column(String(16))
    sequence: Mapped[int]
    number: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    corrects_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    issued_at: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[Decimal]
    tax_total: Mapped[Decimal]
    total: Mapped[Decimal]
    seller: Mapped[dict[str, Any]] = mapped_column(JSONB)
    buyer: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # [{sku, description, quantity, unit_price, tax_rate, total}] with amounts as strings
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # [{rate, base, tax}] with amounts as strings, one entry per VAT rate
    tax_breakdown: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    order_number: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(500))
    # 1 for an order's first invoice; an edit issues the next revision after crediting the current one in full.
    # A credit note carries the revision of the invoice it corrects.
    revision: Mapped[int] = mapped_column(default=1, server_default=text("1"))
