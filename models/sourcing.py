"""Persistence for sourcing rules (issue 19): the ordered list placement evaluates (app/orders/sourcing.py).

`setSourcingRules` replaces the whole list in one transaction (the table locked EXCLUSIVE against a concurrent
set; placements keep reading their snapshot). Warehouses are named by code, as the API names them; empty arrays
mean "any" (countries, zones) or "none" (ranking, exclude).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.orders.enums import DeliveryType, SalesChannel, SourcingStrategy
from models.base import Base, created_at, enum_column, uuid_pk


class SourcingRule(Base):
    __tablename__ = "sourcing_rules"
    __table_args__ = (UniqueConstraint("position", name="uq_sourcing_rules_position"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    position: Mapped[int]  # 0-based place in the list: the first matching rule (by specificity, then position) applies
    name: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[SalesChannel | None] = mapped_column(enum_column(SalesChannel, 16))  # None: any channel
    countries: Mapped[list[str]] = mapped_column(ARRAY(String(2)))  # destination ISO-2 codes; empty: any
    zones: Mapped[list[str]] = mapped_column(ARRAY(String(16)))  # DOMESTIC / EU / INTERNATIONAL; empty: any
    delivery_type: Mapped[DeliveryType | None] = mapped_column(enum_column(DeliveryType, 8))  # None: SHIP and PICKUP
    strategy: Mapped[SourcingStrategy] = mapped_column(enum_column(SourcingStrategy, 24))
    fallback_strategy: Mapped[SourcingStrategy | None] = mapped_column(enum_column(SourcingStrategy, 24))  # CLOSEST_COMPLETE's; None: PRIORITY
    ranking: Mapped[list[str]] = mapped_column(ARRAY(String(32)))  # warehouse codes, best first
    exclude: Mapped[list[str]] = mapped_column(ARRAY(String(32)))  # warehouse codes never used under this rule
    created_at: Mapped[datetime] = created_at()
