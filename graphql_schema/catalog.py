"""Catalogue, warehouses and stock."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry

import models
from graphql_schema.common import Money, Node, UserError, money
from graphql_schema.enums import SalesChannel
from resolvers import catalog as resolve
from resolvers.ids import to_global_id


@strawberry.type
class Warehouse(Node):
    code: str
    name: str
    channels: list[SalesChannel]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Warehouse", self.id))


@strawberry.type
class StockLevel(Node):
    sku: str
    on_hand: int
    reserved: int
    warehouse: Warehouse = strawberry.field(resolver=resolve.stock_level_warehouse)

    @strawberry.field(description="onHand - reserved, never negative")
    def available(self) -> int:
        return max(self.on_hand - self.reserved, 0)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("StockLevel", self.id))


@strawberry.type
class Product(Node):
    sku: str
    name: str
    tax_rate: Decimal
    made_to_order: bool
    lead_time_days: int
    stock_levels: list[StockLevel] = strawberry.field(resolver=resolve.product_stock_levels)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Product", self.id))

    @strawberry.field
    def price(self) -> Money:
        return money(self.price, self.currency)


@strawberry.input
class AdjustStockInput:
    sku: str
    warehouse_code: str
    delta: int = strawberry.field(description="+ receipt, - write-off; onHand never below reserved")
    reason: str


@strawberry.input
class ProductInput:
    sku: str
    name: str
    price: Decimal
    currency: str
    tax_rate: Decimal
    made_to_order: bool | None = None
    lead_time_days: int | None = None


@strawberry.input
class WarehouseInput:
    code: str
    name: str
    channels: list[SalesChannel]


@strawberry.type
class StockLevelPayload:
    stock_level: StockLevel | None
    user_errors: list[UserError]


@strawberry.type
class ProductPayload:
    product: Product | None
    user_errors: list[UserError]


@strawberry.type
class WarehousePayload:
    warehouse: Warehouse | None
    user_errors: list[UserError]
