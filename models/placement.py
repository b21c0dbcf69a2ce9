"""A card placement between its two transactions (issue 16): the stock it holds while the provider answers.

`placeOrder` with a card reserves the stock and writes one HELD row here, commits, asks the provider,
then either writes the order (and deletes the row) or gives the stock back (the row stays, DECLINED:
the record of a refused attempt; no order, no event). A row still HELD after `expires_at` is a
placement whose process died between the steps: the expiry worker gives its stock back and voids
whatever the provider authorised under its key (RECOVERED). `oms check` counts HELD rows as reserved.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at, uuid_pk


class PlacementAttempt(Base):
    __tablename__ = "placement_attempts"
    __table_args__ = (
        Index("ix_placement_attempts_held_expires_at", "expires_at", postgresql_where="status = 'HELD'"),
        Index("ix_placement_attempts_idempotency_key", "idempotency_key"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    status: Mapped[str] = mapped_column(String(16))  # HELD | DECLINED | RECOVERED
    serial: Mapped[int] = mapped_column(BigInteger)  # the order number it will get (taken from the sequence up front)
    # [{"stock_level_id", "sku", "warehouse_id", "quantity"}]: what it holds (reserved on those stock levels)
    picks: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))  # the client's placeOrder key
    provider_key: Mapped[str] = mapped_column(String(300))  # the provider idempotency key of its authorisation
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime]
