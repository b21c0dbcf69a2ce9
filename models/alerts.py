"""Persistence for alerts (issue 19): one row per occurrence of a cause, open until the cause goes away."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.alerts.enums import AlertKind
from models.base import Base, enum_column, uuid_pk


class Alert(Base):
    """`subject` is the cause's key (`order:<id>`, `shipment:<id>`, `stock:<sku>:<warehouse id>`). The partial unique
    index is what makes "exactly one open alert per cause" hold whatever the number of scanners."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("uq_alerts_open_kind_subject", "kind", "subject", unique=True, postgresql_where=text("cleared_at IS NULL")),
        Index("ix_alerts_raised_at_id", "raised_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[AlertKind] = mapped_column(enum_column(AlertKind, 24))
    subject: Mapped[str] = mapped_column(String(120))
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str | None] = mapped_column(String(64))
    warehouse_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("warehouses.id", ondelete="CASCADE"))
    raised_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
