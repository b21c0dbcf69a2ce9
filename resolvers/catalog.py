"""Products, warehouses and stock levels: reads and partner sync mutations."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

from graphql import GraphQLError
from sqlalchemy import func, or_, select, tuple_
from strawberry.types import Info

from app.catalog import service
from models import Product, StockLevel, Warehouse
from resolvers import pagination
from resolvers.errors import run_mutation


async def products(info: Info, first: int | None = None, after: str | None = None, search: str | None = None) -> pagination.Connection:
    await info.context.require("stock:read")
    size = pagination.page_size(first)
    conditions = []
    if search and search.strip():
        pattern = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(Product.sku.ilike(pattern), Product.name.ilike(pattern)))
    statement = select(Product).where(*conditions)
    if after is not None:
        (sku,) = pagination.decode_cursor(after, 1)
        statement = statement.where(Product.sku > str(sku))
    db = info.context.db
    async with db.read() as session:
        rows = (await session.execute(statement.order_by(Product.sku).limit(size + 1))).scalars().all()

    async def count() -> int:
        async with db.read() as session:
            return (await session.execute(select(func.count()).select_from(Product).where(*conditions))).scalar_one()

    return pagination.build(rows, size, after, lambda p: (p.sku,), count)


async def warehouses(info: Info) -> list[Warehouse]:
    await info.context.require("stock:read")
    async with info.context.db.read() as session:
        return list((await session.execute(select(Warehouse).order_by(Warehouse.code))).scalars())


async def stock_levels(info: Info, first: int | None = None, after: str | None = None, sku: str | None = None, warehouse_code: str | None = None) -> pagination.Connection:
    await info.context.require("stock:read")
    size = pagination.page_size(first)
    conditions = []
    if sku:
        conditions.append(StockLevel.sku == sku)
    if warehouse_code:
        conditions.append(StockLevel.warehouse_id.in_(select(Warehouse.id).where(Warehouse.code == warehouse_code)))
    statement = select(StockLevel).where(*conditions)
    if after is not None:
        after_sku, after_warehouse = pagination.decode_cursor(after, 2)
        try:
            statement = statement.where(tuple_(StockLevel.sku, StockLevel.warehouse_id) > tuple_(str(after_sku), uuid.UUID(after_warehouse)))
        except ValueError:
            raise GraphQLError("Invalid cursor.", extensions={"code": "INVALID_INPUT"}) from None
    db = info.context.db
    async with db.read() as session:
        rows = (await session.execute(statement.order_by(StockLevel.sku, StockLevel.warehouse_id).limit(size + 1))).scalars().all()

    async def count() -> int:
        async with db.read() as session:
            return (await session.execute(select(func.count()).select_from(StockLevel).where(*conditions))).scalar_one()

    return pagination.build(rows, size, after, lambda s: (s.sku, str(s.warehouse_id)), count)


async def product_stock_levels(root: Product, info: Info) -> list[StockLevel]:
    return await info.context.loaders.stock_by_sku.load(root.sku)


async def stock_level_warehouse(root: StockLevel, info: Info) -> Warehouse:
    return await info.context.loaders.warehouse.load(root.warehouse_id)


async def upsert_product(info: Info, input: Any) -> SimpleNamespace:
    async def work(uow):  # type: ignore[no-untyped-def]
        return await service.upsert_product(
            uow=uow, sku=input.sku, name=input.name, price=input.price, currency=input.currency,
            tax_rate=input.tax_rate, made_to_order=input.made_to_order, lead_time_days=input.lead_time_days,
        )

    return await run_mutation(info, scope="stock:write", action=work, payload=lambda p: {"product": p})


async def upsert_warehouse(info: Info, input: Any) -> SimpleNamespace:
    async def work(uow):  # type: ignore[no-untyped-def]
        return await service.upsert_warehouse(uow=uow, code=input.code, name=input.name, channels=list(input.channels))

    return await run_mutation(info, scope="stock:write", action=work, payload=lambda w: {"warehouse": w})


async def adjust_stock(info: Info, input: Any) -> SimpleNamespace:
    async def work(uow):  # type: ignore[no-untyped-def]
        return await service.adjust_stock(uow=uow, sku=input.sku, warehouse_code=input.warehouse_code, delta=input.delta, reason=input.reason)

    return await run_mutation(info, scope="stock:write", action=work, payload=lambda s: {"stock_level": s})
