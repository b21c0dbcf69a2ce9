"""Catalogue, warehouses and stock."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry

import models
from app.catalog.service import opening_hours_of
from graphql_schema.common import Money, Node, UserError, money
from graphql_schema.enums import InventoryPolicy, SalesChannel
from graphql_schema.pickup import OpeningHours, OpeningHoursInput  # pickup, issue 19
from resolvers import catalog as resolve


@strawberry.type(description="A warehouse: it holds stock and fills the orders of the channels it serves. Needs stock:read.")
class Warehouse(Node):
    code: str = strawberry.field(description="Its unique code (the `warehouseCode` of inputs).")
    name: str = strawberry.field(description="Its display name.")
    channels: list[SalesChannel] = strawberry.field(description="The sales channels whose orders it may fill.")
    # pickup, issue 19
    pickup_point: bool = strawberry.field(description="Whether customers may collect click-and-collect orders here "
                                          "(PlaceOrderInput.deliveryMethod PICKUP at this code).")
    timezone: str | None = strawberry.field(description="The IANA time zone of its opening hours; null: the shop's (Europe/Madrid).")

    @strawberry.field(description="When it is open, by day in week order (local time); empty when none were given.")
    def opening_hours(root: models.Warehouse) -> list[OpeningHours]:
        return [OpeningHours(day=h.day, opens=h.opens, closes=h.closes) for h in opening_hours_of(root)]  # type: ignore[arg-type]


@strawberry.type(description="One SKU's stock in one warehouse. Needs stock:read.")
class StockLevel(Node):
    sku: str = strawberry.field(description="The product's SKU.")
    on_hand: int = strawberry.field(description="Units physically in the warehouse.")
    reserved: int = strawberry.field(description="Units of on hand held for orders (and card placements in progress) not shipped yet.")
    warehouse: models.Warehouse | None = strawberry.field(resolver=resolve.stock_level_warehouse, graphql_type=Warehouse,
                                                          description="Where the stock is.")

    @strawberry.field(description="onHand - reserved, never negative")
    def available(root: models.StockLevel) -> int:
        return max(root.on_hand - root.reserved, 0)


@strawberry.type(description="A catalogue product. Needs stock:read.")
class Product(Node):
    sku: str = strawberry.field(description="Its unique SKU (1 to 64 characters).")
    name: str = strawberry.field(description="Its name, copied onto order lines at placement.")
    tax_rate: Decimal = strawberry.field(description="The VAT rate as a fraction from 0 to 1 (\"0.21\" is 21%).")
    made_to_order: bool = strawberry.field(description="Produced for each order: it needs no stock, and its lead time moves the delivery "
                                           "estimate.")
    lead_time_days: int = strawberry.field(description="Production days of a made-to-order product (0 to 365); 0 for the others.")
    stock_levels: list[models.StockLevel] = strawberry.field(resolver=resolve.product_stock_levels, graphql_type=list[StockLevel],
                                                             description="Its stock in each warehouse that has a level for it.")

    @strawberry.field(description="The price of one unit, net of VAT; orders copy it at placement.")
    def price(root: models.Product) -> Money:
        return money(root.price, root.currency)

    @strawberry.field(description="LOW_STOCK alerts are raised for each warehouse whose available units fall below this; null: none "
                                  "(setLowStockThreshold).")  # alerts, issue 19
    def low_stock_threshold(root: models.Product) -> int | None:
        return root.low_stock_threshold

    @strawberry.field(description="What placing an order does when its on-hand stock falls short: DENY (OUT_OF_STOCK), BACKORDER or "
                                  "PREORDER (claim expected receipts).")  # backorders, issue 19
    def inventory_policy(root: models.Product) -> InventoryPolicy:
        return root.inventory_policy

    @strawberry.field(description="A PREORDER product's first day of sales from stock (Europe/Madrid calendar): before it every unit "
                                  "ordered claims expected receipts. Null for the other policies.")  # backorders, issue 19
    def available_from(root: models.Product) -> date | None:
        return root.available_from
    weight_grams: int = strawberry.field(description="One unit's shipping weight in grams (0: weightless): the weight bands of the "
                                         "shipping rates add it up per order.")  # shipping, issue 19


@strawberry.input(description="A receipt or write-off of one SKU in one warehouse.")
class AdjustStockInput:
    sku: str = strawberry.field(description="A catalogue SKU (NOT_FOUND otherwise).")
    warehouse_code: str = strawberry.field(description="The warehouse's code (NOT_FOUND otherwise).")
    delta: int = strawberry.field(description="+ receipt, - write-off; onHand never below reserved")
    reason: str = strawberry.field(description="Why, kept on the stock ledger; required.")


@strawberry.input(description="A product to create or update, by SKU: every value is replaced.")
class ProductInput:
    sku: str = strawberry.field(description="1 to 64 characters (trimmed): the key, so an existing SKU is updated.")
    name: str = strawberry.field(description="1 to 300 characters.")
    price: Decimal = strawberry.field(description="Per unit, net of VAT: 0 to 999999999.99 with at most 2 decimals.")
    currency: str = strawberry.field(description="ISO 4217, any case; one of EUR USD GBP CHF SEK NOK DKK PLN CZK HUF RON BGN JPY CAD AUD "
                                     "MXN BRL.")
    tax_rate: Decimal = strawberry.field(description="The VAT rate as a fraction from 0 to 1 (\"0.21\" is 21%).")
    made_to_order: bool | None = strawberry.field(default=None, description="Absent: false (also when updating).")
    lead_time_days: int | None = strawberry.field(default=None, description="0 to 365, and only for a made-to-order product. Absent: 0.")
    inventory_policy: InventoryPolicy | None = strawberry.field(  # backorders, issue 19
        default=None, description="What an order does when on-hand stock falls short: DENY (refuse), BACKORDER or PREORDER (claim expected "
                                  "receipts, scheduleReceipt). Absent: DENY (also when updating). Made-to-order products stay DENY "
                                  "(INVALID_INPUT otherwise).")
    available_from: date | None = strawberry.field(  # backorders, issue 19
        default=None, description="Required for PREORDER, and only for it (INVALID_INPUT otherwise): the first day (Europe/Madrid) its stock "
                                  "is sold; before it every unit claims expected receipts, from it on it behaves as BACKORDER.")
    weight_grams: int | None = strawberry.field(default=None, description="One unit's shipping weight in grams, 0 to 10000000 "
                                                "(INVALID_INPUT otherwise). Absent: 0 (also when updating).")  # shipping, issue 19


@strawberry.input(description="A warehouse to create or update, by code.")
class WarehouseInput:
    code: str = strawberry.field(description="1 to 32 characters (trimmed): the key, so an existing code is updated.")
    name: str = strawberry.field(description="1 to 200 characters.")
    channels: list[SalesChannel] = strawberry.field(description="The channels it serves; replaces the list when updating.")
    # pickup, issue 19
    pickup_point: bool | None = strawberry.field(default=None, description="A pickup point for click-and-collect orders. Absent: "
                                                 "unchanged (false for a new warehouse).")
    opening_hours: list[OpeningHoursInput] | None = strawberry.field(
        default=None, description="Its opening hours, local time, replacing the stored ones ([]: none). Absent: unchanged. Each range "
                                  "HH:MM with opens before closes, at most 3 a day, not overlapping (INVALID_INPUT / LIMIT_EXCEEDED at "
                                  "openingHours.N).")
    timezone: str | None = strawberry.field(default=None, description="The IANA time zone of its opening hours, e.g. Europe/Madrid "
                                            "(INVALID_INPUT otherwise). Absent: unchanged (the shop's for a new warehouse).")


@strawberry.type(description="What adjustStock answers.")
class StockLevelPayload:
    stock_level: StockLevel | None = strawberry.field(description="The stock level after the change; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing was written); empty on success.")


@strawberry.type(description="What upsertProduct answers.")
class ProductPayload:
    product: Product | None = strawberry.field(description="The product as stored; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing was written); empty on success.")


@strawberry.type(description="What upsertWarehouse answers.")
class WarehousePayload:
    warehouse: Warehouse | None = strawberry.field(description="The warehouse as stored; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing was written); empty on success.")
