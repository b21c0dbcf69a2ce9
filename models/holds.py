"""Holds and risk rules (issue 18).

An order may carry several holds, each with its reason (STAFF, RISK_REVIEW, ...): it stays ON_HOLD while any is
open (released_at NULL) and resumes to `held_from` when the last one is released. One open hold per reason.
Risk rules are data: what app/orders/risk.py evaluates at placement, in `position` order.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.orders.enums import RiskLevel, RiskRuleKind
from models.base import Base, created_at, enum_column, uuid_pk


class OrderHold(Base):
    __tablename__ = "order_holds"
    __table_args__ = (
        Index("uq_order_holds_open_reason", "order_id", "reason", unique=True, postgresql_where=text("released_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at()
    created_by: Mapped[str | None] = mapped_column(String(200))
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(200))
    release_note: Mapped[str | None] = mapped_column(String(500))


class RiskRule(Base):
    __tablename__ = "risk_rules"

    id: Mapped[uuid.UUID] = uuid_pk()
    position: Mapped[int]
    kind: Mapped[RiskRuleKind] = mapped_column(enum_column(RiskRuleKind, 32))
    # AMOUNT_OVER {"amount"?}, COUNTRY_MISMATCH {}, EMAIL_VELOCITY {"count", "minutes"}, FIRST_ORDER_OVER {"amount"}
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    level: Mapped[RiskLevel] = mapped_column(enum_column(RiskLevel, 8))
    active: Mapped[bool] = mapped_column(server_default=text("true"))
