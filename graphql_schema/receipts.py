"""Expected stock receipts (issue 19: backorders and pre-orders): scheduleReceipt, receiveStock, stockReceipts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

import models
from app.ids import to_global_id
from graphql_schema.common import UserError
from graphql_schema.enums import ReceiptStatus
from models.receipts import StockReceipt as StockReceiptRow
from resolvers import receipts as resolve
from resolvers.types import Info

if TYPE_CHECKING:
    from graphql_schema.catalog import Warehouse

WarehouseRef = Annotated["Warehouse", strawberry.lazy("graphql_schema.catalog")]


@strawberry.type(description="Units of one SKU a warehouse expects on a date (scheduleReceipt). Orders of BACKORDER and PREORDER products "
                             "claim its units when on-hand stock falls short (never more than it still expects); its arrival "
                             "(receiveStock) puts the units on hand and gives them to the claiming orders in placement order. "
                             "Needs stock:read.")
class StockReceipt:
    sku: str = strawberry.field(description="The product's SKU.")
    quantity: int = strawberry.field(description="Units expected in all (1 to 1000000).")
    claimed: int = strawberry.field(description="Units claimed by orders (and card placements in progress) that have not arrived yet.")
    received: int = strawberry.field(description="Units arrived so far (receiveStock).")
    expected_at: datetime = strawberry.field(description="When the units are expected: backordered units are promised from this moment.")
    status: ReceiptStatus = strawberry.field(description="SCHEDULED, PARTIALLY_RECEIVED or RECEIVED.")
    created_at: datetime = strawberry.field(description="When it was scheduled.")
    received_at: datetime | None = strawberry.field(description="When units last arrived; null before the first arrival.")

    @strawberry.field(description="Its global ID (the receiptId of receiveStock).")
    def id(root: StockReceiptRow) -> strawberry.ID:
        return strawberry.ID(to_global_id("StockReceipt", root.id))

    @strawberry.field(description="Units still expected and not claimed: what new backorders may still claim (quantity - received - claimed).")
    def claimable(root: StockReceiptRow) -> int:
        return root.claimable

    @strawberry.field(graphql_type=WarehouseRef | None, description="The warehouse expecting the units.")
    async def warehouse(root: StockReceiptRow, info: Info) -> models.Warehouse | None:
        return await resolve.receipt_warehouse(root, info)


@strawberry.input(description="Units of a SKU a warehouse expects (a purchase order, a production run, a transfer).")
class ScheduleReceiptInput:
    sku: str = strawberry.field(description="A catalogue SKU, not made to order (NOT_FOUND / INVALID_INPUT otherwise).")
    warehouse_code: str = strawberry.field(description="The warehouse expecting the units (NOT_FOUND otherwise).")
    quantity: int = strawberry.field(description="Units expected: 1 to 1000000 (INVALID_INPUT / LIMIT_EXCEEDED otherwise).")
    expected_at: datetime = strawberry.field(description="When they are expected, with a time zone offset; must be in the future "
                                                         "and at most 730 days (2 years) ahead (INVALID_INPUT otherwise).")


@strawberry.input(description="Units of a scheduled receipt that arrived.")
class ReceiveStockInput:
    receipt_id: strawberry.ID = strawberry.field(description="The receipt (StockReceipt.id; NOT_FOUND otherwise).")
    quantity: int = strawberry.field(description="Units arrived: at least 1 and at most what the receipt still expects (quantity - received); "
                                                 "record extra units with adjustStock (INVALID_INPUT otherwise).")


@strawberry.type(description="What scheduleReceipt and receiveStock answer.")
class StockReceiptPayload:
    receipt: StockReceipt | None = strawberry.field(description="The receipt as stored; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing was written); empty on success.")
    event_cursor: str | None = strawberry.field(description="Cursor of the last order event this write produced (receiveStock: "
                                                            "BACKORDER_ALLOCATED / DELIVERY_ESTIMATE_CHANGED); null when none.")
