"""Expected stock receipts (issue 19): scheduleReceipt, receiveStock, stockReceipts. Scopes: stock:write / stock:read."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import strawberry
from sqlalchemy import ColumnElement, select

from app.catalog import receipts as service
from app.flows import receipts as flow
from app.infra.database import UnitOfWork
from app.orders.enums import ReceiptStatus
from models import Warehouse
from models.receipts import StockReceipt
from resolvers import pagination
from resolvers.errors import run_mutation
from resolvers.ids import decode_id
from resolvers.types import Info, MutationPayload

READ = "stock:read"
WRITE = "stock:write"


class ScheduleReceiptArgs(Protocol):
    sku: str
    warehouse_code: str
    quantity: int
    expected_at: datetime


class ReceiveStockArgs(Protocol):
    receipt_id: strawberry.ID
    quantity: int


async def schedule_receipt(info: Info, input: ScheduleReceiptArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> StockReceipt:
        return await service.schedule_receipt(uow=uow, sku=input.sku, warehouse_code=input.warehouse_code, quantity=input.quantity,
                                              expected_at=input.expected_at)

    return await run_mutation(info, scope=WRITE, action=work, payload=lambda r: {"receipt": r})


async def receive_stock(info: Info, input: ReceiveStockArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> StockReceipt:
        receipt_id = decode_id(input.receipt_id, "StockReceipt", ["input", "receiptId"])
        return await flow.receive_stock(uow=uow, receipt_id=receipt_id, quantity=input.quantity)

    return await run_mutation(info, scope=WRITE, action=work, payload=lambda r: {"receipt": r})


async def stock_receipts(
    info: Info, *, first: int | None = None, after: str | None = None, sku: str | None = None, warehouse_code: str | None = None,
    open: bool | None = None,
) -> pagination.Connection[StockReceipt]:
    """Soonest expected first, keyset on (expectedAt, id)."""
    await info.context.require(READ)
    conditions: list[ColumnElement[bool]] = []
    if sku is not None:
        conditions.append(StockReceipt.sku == sku.strip())
    if warehouse_code is not None:
        conditions.append(StockReceipt.warehouse_id.in_(
            select(Warehouse.id).where(Warehouse.code == warehouse_code.strip())))
    if open is not None:
        conditions.append(StockReceipt.status != ReceiptStatus.RECEIVED if open else StockReceipt.status == ReceiptStatus.RECEIVED)
    return await pagination.keyset(info.context.db, StockReceipt, (pagination.time_key(StockReceipt.expected_at), pagination.uuid_key(StockReceipt.id)),
                                   where=conditions, first=first, after=after)


async def receipt_warehouse(root: StockReceipt, info: Info) -> Warehouse | None:
    return await info.context.loaders.warehouse.load(root.warehouse_id)
