"""Shipping rates (issue 19, migration 0019): what a carrier service charges to a destination, by weight and order value.

`setShippingRates` replaces the whole table (app/fulfilment/rates.py validates and writes it). Bands are half-open:
`min <= value < max` (no max: no upper bound). `destination` is an ISO country code or a zone relative to the shipping
warehouse (DOMESTIC, EU, INTERNATIONAL; app/fulfilment/carriers.py `zone_of`); a matching country row beats a zone row.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at, uuid_pk


class ShippingRate(Base):
    __tablename__ = "shipping_rates"
    __table_args__ = (Index("ix_shipping_rates_currency_position", "currency", "position"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    # Its place in the list as set (what `shippingRates` answers in).
    position: Mapped[int]
    carrier_code: Mapped[str] = mapped_column(String(32), ForeignKey("carriers.code"))
    # The carrier's service, e.g. STANDARD or EXPRESS: the method is "<carrier_code>:<service>".
    service: Mapped[str] = mapped_column(String(32))
    # An ISO country code or a zone (DOMESTIC, EU, INTERNATIONAL).
    destination: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    min_weight_grams: Mapped[int] = mapped_column(default=0)
    max_weight_grams: Mapped[int | None]
    # Bands of the order's goods value: its lines' net subtotal (before VAT and shipping).
    min_order_value: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))
    max_order_value: Mapped[Decimal | None]
    # Net of VAT (the VAT on shipping follows the goods: app/orders/pricing.py).
    price: Mapped[Decimal]
    # Free (0) when the goods value reaches it.
    free_above: Mapped[Decimal | None]
    # Business days in transit for this service; NULL: the carrier's own transit days.
    transit_days: Mapped[int | None]
    created_at: Mapped[datetime] = created_at()
