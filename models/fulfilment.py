"""Persistence for the fulfilment domain: carriers, pick lists, shipments and their tracking events."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, Time, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.fulfilment.enums import ShipmentStatus
from models.base import Base, created_at, enum_column, uuid_pk


class Carrier(Base):
    """A carrier's configuration: reference data, seeded by migration 0002 and editable in place.

    `transit_days` maps a destination to business days in transit; a key is an ISO country
    code or a zone (`DOMESTIC`, `EU`, `INTERNATIONAL`), the country winning over its zone.
    """

    __tablename__ = "carriers"
    # At most one default carrier.
    __table_args__ = (Index("uq_carriers_default", "is_default", unique=True, postgresql_where=text("is_default")),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # `{tracking_number}` is replaced by the URL-encoded tracking number.
    tracking_url_template: Mapped[str | None] = mapped_column(String(500))
    transit_days: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    default_transit_days: Mapped[int] = mapped_column(default=3)
    # Parcels handed over after the cut-off (local time in `timezone`) leave the next business day.
    cutoff_time: Mapped[time] = mapped_column(Time, default=time(17, 0))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Madrid")
    # The carrier the promise at placement assumes, before anyone has chosen one.
    is_default: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)


class PickList(Base):
    """A warehouse's picking document over one or more orders."""

    __tablename__ = "pick_lists"
    __table_args__ = (Index("ix_pick_lists_created_at_id", "created_at", "id"),)
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = uuid_pk()
    # Gapless per installation: PL-000001 (a counters row, like event cursors).
    number: Mapped[str] = mapped_column(String(32), unique=True)
    warehouse_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("warehouses.id"), index=True)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()


class PickListLine(Base):
    """Units of one order line to pick. `allocation_id` is null for made-to-order units (no reservation)."""

    __tablename__ = "pick_list_lines"
    __table_args__ = (Index("ix_pick_list_lines_pick_list_id_position", "pick_list_id", "position"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    pick_list_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pick_lists.id", ondelete="CASCADE"))
    position: Mapped[int]
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    allocation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("allocations.id", ondelete="CASCADE"), index=True)
    order_number: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str] = mapped_column(String(64))
    product_name: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int]


class Shipment(Base):
    """A parcel leaving one warehouse with one carrier; creating it consumed the reservation it ships."""

    __tablename__ = "shipments"
    __table_args__ = (
        Index("ix_shipments_shipped_at_id", "shipped_at", "id"),
        Index("ix_shipments_order_id_shipped_at", "order_id", "shipped_at"),
        # alerts, issue 19: the TRACKING_SILENT scan reads only the parcels still on their way
        Index("ix_shipments_under_way_shipped_at", "shipped_at", postgresql_where=text("status NOT IN ('DELIVERED', 'RETURNED_TO_SENDER')")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    warehouse_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("warehouses.id"), index=True)
    # The carrier's code (the API's `Shipment.carrier`).
    carrier: Mapped[str] = mapped_column("carrier_code", String(32), ForeignKey("carriers.code"))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    # Built from the carrier's template when shipped; kept even if the template changes later.
    tracking_url: Mapped[str | None] = mapped_column(String(700))
    status: Mapped[ShipmentStatus] = mapped_column(enum_column(ShipmentStatus, 24), default=ShipmentStatus.READY)
    shipped_at: Mapped[datetime]
    # What was promised when it shipped; the current estimate is re-derived from it and the events.
    promised_delivery_date: Mapped[date | None]
    estimated_delivery_date: Mapped[date | None]
    delivered_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(200))
    # alerts, issue 19: when a returned-to-sender parcel's units went back on hand; set once (the "exactly once" guard).
    restocked_at: Mapped[datetime | None]
    # transfers, issue 19: a transfer to a click-and-collect order's pickup point (not a parcel to the customer), and when
    # its DELIVERED report moved the units into that store (set once: the "exactly once" guard; app/fulfilment/transfers.py)
    transfer_to_warehouse_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("warehouses.id"))
    transfer_arrived_at: Mapped[datetime | None]


class ShipmentLine(Base):
    __tablename__ = "shipment_lines"

    id: Mapped[uuid.UUID] = uuid_pk()
    shipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    # Null for made-to-order units, which ship without a reservation.
    allocation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("allocations.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int]


class TrackingEvent(Base):
    """A carrier's report. The same (status, time) reported twice is one event: the unique key drops the repeat."""

    __tablename__ = "tracking_events"
    __table_args__ = (
        UniqueConstraint("shipment_id", "status", "occurred_at", name="uq_tracking_events_shipment_status_time"),
        Index("ix_tracking_events_shipment_id_occurred_at", "shipment_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    shipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"))
    status: Mapped[ShipmentStatus] = mapped_column(enum_column(ShipmentStatus, 24))
    occurred_at: Mapped[datetime]
    location: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(500))
    recorded_by: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = created_at()
