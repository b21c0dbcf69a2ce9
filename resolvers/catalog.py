"""Products, warehouses and stock levels: reads and partner sync mutations."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select

from app.catalog import queries as catalog_queries
from app.catalog import service
from app.infra.database import UnitOfWork
from models import Product, StockLevel, Warehouse
from resolvers import pagination
from resolvers.errors import run_mutation
from resolvers.inputs import AdjustStockArgs, ProductArgs, WarehouseArgs
from resolvers.pickup import pickup_point_args  # pickup, issue 19
from resolvers.planner.api import Planned, planned
from resolvers.types import Info, MutationPayload


async def products(
    info: Info, first: int | None = None, after: str | None = None, search: str | None = None
) -> pagination.Connection[Product] | Planned:
    await info.context.require("stock:read")
    if (json := await planned(info, "Query.products", {"first": first, "after": after, "search": search})) is not None:
        return json
    conditions: list[ColumnElement[bool]] = []
    if search and search.strip():
        pattern = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(Product.sku.ilike(pattern), Product.name.ilike(pattern)))
    return await pagination.keyset(info.context.db, Product, (pagination.text_key(Product.sku),), where=conditions, first=first, after=after)


async def warehouses(info: Info) -> list[Warehouse]:
    await info.context.require("stock:read")
    async with info.context.db.read() as session:
        return list((await session.execute(select(Warehouse).order_by(Warehouse.code))).scalars())


async def stock_levels(
    info: Info, first: int | None = None, after: str | None = None, sku: str | None = None, warehouse_code: str | None = None,
    available_below: int | None = None,
) -> pagination.Connection[StockLevel] | Planned:
    await info.context.require("stock:read")
    args = {"first": first, "after": after, "sku": sku, "warehouse_code": warehouse_code, "available_below": available_below}
    if (json := await planned(info, "Query.stockLevels", args)) is not None:
        return json
    conditions: list[ColumnElement[bool]] = []
    if available_below is not None:
        conditions.append(catalog_queries.available_below(available_below))
    if sku:
        conditions.append(StockLevel.sku == sku)
    if warehouse_code:
        conditions.append(StockLevel.warehouse_id.in_(select(Warehouse.id).where(Warehouse.code == warehouse_code)))
    keys = (pagination.text_key(StockLevel.sku), pagination.uuid_key(StockLevel.warehouse_id))
    return await pagination.keyset(info.context.db, StockLevel, keys, where=conditions, first=first, after=after)


async def product_stock_levels(root: Product, info: Info) -> list[StockLevel]:
    return await info.context.loaders.stock_by_sku.load(root.sku)


async def stock_level_warehouse(root: StockLevel, info: Info) -> Warehouse | None:
    return await info.context.loaders.warehouse.load(root.warehouse_id)


async def upsert_product(info: Info, input: ProductArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Product:
        service.check_weight_grams(input.weight_grams)  # shipping, issue 19: refused before anything is written
        product = await service.upsert_product(
            uow=uow, sku=input.sku, name=input.name, price=input.price, currency=input.currency,
            tax_rate=input.tax_rate, made_to_order=input.made_to_order, lead_time_days=input.lead_time_days,
            inventory_policy=input.inventory_policy, available_from=input.available_from,  # backorders, issue 19
        )
        return service.set_weight_grams(product=product, weight_grams=input.weight_grams)  # shipping, issue 19

    return await run_mutation(info, scope="stock:write", action=work, payload=lambda p: {"product": p})


async def upsert_warehouse(info: Info, input: WarehouseArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Warehouse:
        return await service.upsert_warehouse(uow=uow, code=input.code, name=input.name, channels=list(input.channels),
                                              **pickup_point_args(input))  # pickup, issue 19

    return await run_mutation(info, scope="stock:write", action=work, payload=lambda w: {"warehouse": w})


async def adjust_stock(info: Info, input: AdjustStockArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> StockLevel:
        return await service.adjust_stock(uow=uow, sku=input.sku, warehouse_code=input.warehouse_code, delta=input.delta, reason=input.reason)

    return await run_mutation(info, scope="stock:write", action=work, payload=lambda s: {"stock_level": s})
