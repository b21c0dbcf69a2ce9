"""Webhook endpoints, their deliveries (one per event and endpoint) and the attempts of each (issue 17).

The order event log is the outbox: a delivery row is written by the fan-out, after the event is below
the visibility horizon (app/infra/horizon.py), never in the request's transaction. A delivery row is
the message: its id is the `webhook-id` header, kept on every retry and replay.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, Boolean, ForeignKey, Identity, Index, Integer, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.orders.enums import OrderEventType
from app.webhooks.enums import WebhookDeliveryStatus
from models.base import Base, created_at, enum_column, uuid_pk

OPEN = "status IN ('PENDING', 'RETRYING', 'DELIVERING')"


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = uuid_pk()
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(40)))  # empty: every type
    channels: Mapped[list[str] | None] = mapped_column(ARRAY(String(16)))  # NULL: every channel
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # whsec_<base64>: needed to sign, so stored as it is (it cannot be hashed); shown once, at creation.
    secret: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # The event cursor up to which deliveries exist (every event <= it was considered for this endpoint).
    fanned_out_to: Mapped[int] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_seq", name="uq_webhook_deliveries_endpoint_id_event_seq"),
        # the head-of-line test: an earlier open delivery of the same order to the same endpoint
        Index("ix_webhook_deliveries_open_order", "endpoint_id", "order_id", "event_seq", postgresql_where=text(OPEN)),
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status IN ('PENDING', 'RETRYING')")),
        Index("ix_webhook_deliveries_leased", "lease_until", postgresql_where=text("status = 'DELIVERING'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_seq: Mapped[int] = mapped_column(BigInteger)  # the event's cursor
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    order_sequence: Mapped[int] = mapped_column(Integer)  # 1, 2, ...: the event's place among its order's events
    event_type: Mapped[OrderEventType] = mapped_column(enum_column(OrderEventType, 40))
    status: Mapped[WebhookDeliveryStatus] = mapped_column(enum_column(WebhookDeliveryStatus, 16))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]  # while DELIVERING: another worker may take it over after this
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_status: Mapped[int | None] = mapped_column(Integer)  # the last attempt's HTTP status
    created_at: Mapped[datetime] = created_at()
    queued_at: Mapped[datetime]  # fan-out or the last replay: the time limit counts from here
    delivered_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id", "delivery_id", "number"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # the delivery's attempt count when it was made
    started_at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    response_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    response_excerpt: Mapped[str | None] = mapped_column(String(500))
    worker: Mapped[str | None] = mapped_column(String(200))  # host:pid of the process that made it
