"""Catalogue, warehouses and stock."""

from __future__ import annotations

from decimal import Decimal

import strawberry

import models
from graphql_schema.common import Money, Node, UserError, money
from graphql_schema.enums import SalesChannel
from resolvers import catalog as resolve


@strawberry.type
class Warehouse(Node):
    code: str
    name: str
    channels: list[SalesChannel]


@strawberry.type
class StockLevel(Node):
    sku: str
    on_hand: int
    reserved: int
    warehouse: models.Warehouse | None = strawberry.field(resolver=resolve.stock_level_warehouse, graphql_type=Warehouse)

    @strawberry.field(description="onHand - reserved, never negative")
    def available(root: models.StockLevel) -> int:
        return max(root.on_hand - root.reserved, 0)


@strawberry.type
class Product(Node):
    sku: str
    name: str
    tax_rate: Decimal
    made_to_order: bool
    lead_time_days: int
    stock_levels: list[models.StockLevel] = strawberry.field(resolver=resolve.product_stock_levels, graphql_type=list[StockLevel])

    @strawberry.field
    def price(root: models.Product) -> Money:
        return money(root.price, root.currency)

    @strawberry.field(description="LOW_STOCK alerts are raised for each warehouse whose available units fall below this; null: none "
                                  "(setLowStockThreshold).")  # alerts, issue 19
    def low_stock_threshold(root: models.Product) -> int | None:
        return root.low_stock_threshold


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
