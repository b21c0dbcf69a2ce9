from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.orders.enums import InventoryPolicy, SalesChannel
from models.base import Base, Rate, created_at, enum_column, uuid_pk


class Product(Base):
    __tablename__ = "products"

    id: Mapped[uuid.UUID] = uuid_pk()
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    price: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    tax_rate: Mapped[Decimal] = mapped_column(Rate)
    made_to_order: Mapped[bool] = mapped_column(default=False)
    lead_time_days: Mapped[int] = mapped_column(default=0)
    # alerts, issue 19: LOW_STOCK when a warehouse's available units (on hand - reserved) fall below it; null = never.
    low_stock_threshold: Mapped[int | None]
    # backorders, issue 19: what placement does when on-hand stock falls short (DENY: refuse); PREORDER's first day of stock sales
    inventory_policy: Mapped[InventoryPolicy] = mapped_column(enum_column(InventoryPolicy, 16), default=InventoryPolicy.DENY,
                                                              server_default="DENY")
    available_from: Mapped[date | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # shipping, issue 19: a unit's shipping weight in grams (0: weightless); weight bands of the shipping rates use it.
    weight_grams: Mapped[int] = mapped_column(default=0, server_default=text("0"))


class Warehouse(Base):
    __tablename__ = "warehouses"

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The sales channels this warehouse ships for.
    channels: Mapped[list[SalesChannel]] = mapped_column(ARRAY(enum_column(SalesChannel, 16)))
    country: Mapped[str] = mapped_column(String(2), default="ES")
    # Lower ships first when several warehouses could fill an order.
    priority: Mapped[int] = mapped_column(default=100)
    created_at: Mapped[datetime] = created_at()
    # pickup, issue 19 (migration 0017): a pickup point (click-and-collect) with its opening hours, local time
    # ({"MON": [["09:00", "14:00"], ["17:00", "20:00"]], ...}; null: none given) in `timezone` (null: the calendar's default)
    pickup_point: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    opening_hours: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    timezone: Mapped[str | None] = mapped_column(String(64))


class StockLevel(Base):
    """On-hand and reserved units of one SKU in one warehouse.

    The check constraint is the last line against oversell: no code path can
    commit more reserved units than are on hand.
    """

    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("sku", "warehouse_id", name="uq_stock_levels_sku_warehouse"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    warehouse_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("warehouses.id"), index=True)
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)

    @property
    def available(self) -> int:
        return max(self.on_hand - self.reserved, 0)


class StockMovement(Base):
    """Append-only ledger: every change to on-hand or reserved units, with why and who."""

    __tablename__ = "stock_movements"
    __table_args__ = (Index("ix_stock_movements_sku_warehouse", "sku", "warehouse_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    warehouse_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("warehouses.id"))
    # RECEIPT, ADJUSTMENT, RESERVATION, RELEASE, SHIPMENT, RETURN
    kind: Mapped[str] = mapped_column(String(16))
    on_hand_delta: Mapped[int] = mapped_column(default=0)
    reserved_delta: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = created_at()
