"""Order edits and line cancellations (issue 18): the record of each change applied to a placed order.

One row per applied `editOrder` or `cancelOrderLines` (a dry run writes none): what the order was and became
(lines, totals, address), the money it moved, and the client's idempotency key with the request's fingerprint,
so a retry with the same key answers the recorded result instead of acting again. Provider idempotency keys
are derived from the row's id, which is derived from the key (or chosen once per request: app/orders/edits.py
`edit_id_for`), so a retry after a crash between the provider's answer and our commit is replayed by the provider.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.orders.enums import OrderEditKind
from models.base import Base, created_at, enum_column, uuid_pk


class OrderEdit(Base):
    __tablename__ = "order_edits"
    __table_args__ = (
        UniqueConstraint("order_id", "idempotency_key", name="uq_order_edits_order_id_idempotency_key"),
        Index("ix_order_edits_order_id_created_at", "order_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    kind: Mapped[OrderEditKind] = mapped_column(enum_column(OrderEditKind, 24))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(32))  # a LineCancellationReason for line cancellations
    before: Mapped[dict[str, Any]] = mapped_column(JSONB)
    after: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # What the mutation answered (the preview of what was applied), replayed for a retry with the same key.
    result: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # new total - old total: > 0 authorised or expected in addition, < 0 refunded or released.
    amount_delta: Mapped[Decimal]
    actor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()
