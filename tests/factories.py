"""Test data built through the same services the API calls."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.catalog import service as catalog
from app.flows import placement
from app.infra.database import Database
from app.orders.service import LineRequest, PlaceOrderRequest

ADDRESS = {"name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES"}
ADDRESS_INPUT = {"name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postalCode": "28013", "country": "ES"}


async def warehouse(db: Database, code: str, channels: list[str], *, name: str | None = None) -> Any:
    return await db.run(lambda uow: catalog.upsert_warehouse(uow=uow, code=code, name=name or f"Warehouse {code}", channels=channels))


async def product(db: Database, sku: str, price: str = "10.00", *, tax_rate: str = "0.21", made_to_order: bool = False, lead_time_days: int = 0) -> Any:
    return await db.run(
        lambda uow: catalog.upsert_product(uow=uow, sku=sku, name=f"Product {sku}", price=Decimal(price), currency="EUR",
                                           tax_rate=Decimal(tax_rate), made_to_order=made_to_order, lead_time_days=lead_time_days)
    )


async def stock(db: Database, sku: str, warehouse_code: str, units: int) -> Any:
    return await db.run(lambda uow: catalog.adjust_stock(uow=uow, sku=sku, warehouse_code=warehouse_code, delta=units, reason="test receipt"))


async def basic_catalog(db: Database) -> None:
    """Two warehouses for web orders, one SKU in each only, one in both, and a made-to-order product."""
    await warehouse(db, "MAD", ["WEB", "PHONE", "STORE"])
    await warehouse(db, "BCN", ["WEB", "MARKETPLACE"])
    await product(db, "A", "10.00")
    await product(db, "B", "5.50", tax_rate="0.10")
    await product(db, "C", "100.00")
    await product(db, "MTO", "250.00", made_to_order=True, lead_time_days=10)
    await stock(db, "A", "MAD", 10)
    await stock(db, "A", "BCN", 10)
    await stock(db, "B", "MAD", 5)
    await stock(db, "C", "BCN", 3)


async def place(db: Database, lines: list[tuple[str, int]], *, channel: str = "WEB", email: str = "buyer@example.com", **extra: Any) -> Any:
    request = PlaceOrderRequest(channel=channel, email=email, lines=[LineRequest(s, q) for s, q in lines], shipping_address=ADDRESS, **extra)
    return await db.run(lambda uow: placement.place_order(uow=uow, request=request), actor="test")


async def make_ready(db: Database, order: Any, *, sku: str = "MTO") -> None:
    """stages (issue 19): take an order's made-to-order lines of `sku` through production to READY."""
    from sqlalchemy import select

    from app.flows.production import advance_production
    from app.orders.enums import ProductionStage
    from models import OrderLine

    async with db.read() as session:
        line_ids = (await session.execute(select(OrderLine.id).where(OrderLine.order_id == order.id, OrderLine.sku == sku))).scalars().all()
    for line_id in line_ids:
        for stage in (ProductionStage.IN_PRODUCTION, ProductionStage.QUALITY_CHECK, ProductionStage.READY):
            await db.run(lambda uow, s=stage, i=line_id: advance_production(uow=uow, order_line_id=i, stage=s), actor="test")
