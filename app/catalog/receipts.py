"""Expected stock receipts (issue 19): units of a SKU a warehouse expects on a date (scheduleReceipt).

Orders of BACKORDER / PREORDER products claim them at placement (app/orders/backorders.py); their arrival
(app/flows/receipts.py, receiveStock) adds the units on hand and allocates the claims in placement order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.errors import DomainError, ErrorCode, collect
from app.infra.database import UnitOfWork
from app.orders.enums import ReceiptStatus
from models import Product, StockLevel, Warehouse
from models.receipts import StockReceipt

MAX_RECEIPT_QUANTITY = 1_000_000
MAX_EXPECTED_AHEAD = timedelta(days=730)  # fixes19b, issue 19 review F12: expectedAt at most 2 years ahead (as leadTimeDays <= 365)


async def schedule_receipt(
    *, uow: UnitOfWork, sku: str, warehouse_code: str, quantity: int, expected_at: datetime, now: datetime | None = None,
) -> StockReceipt:
    """A new SCHEDULED receipt. Refuses (every problem at once) a quantity below 1 or above the limit, an
    `expected_at` without a time zone, not in the future or more than 2 years (730 days) ahead, an unknown SKU or warehouse, a made-to-order product.
    The SKU gets a stock level at the warehouse (0 on hand) if it had none, so the receipt's units can be claimed
    by the channels the warehouse serves."""
    now = now or datetime.now(UTC)
    errors: list[DomainError] = []
    sku, warehouse_code = sku.strip(), warehouse_code.strip()
    if quantity < 1:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "quantity must be at least 1.", ("quantity",)))
    elif quantity > MAX_RECEIPT_QUANTITY:
        errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"quantity is at most {MAX_RECEIPT_QUANTITY}.", ("quantity",)))
    if expected_at.tzinfo is None:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "expectedAt needs a time zone offset.", ("expected_at",)))
    elif expected_at <= now:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "expectedAt must be in the future.", ("expected_at",)))
    elif expected_at > now + MAX_EXPECTED_AHEAD:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, f"expectedAt is at most {MAX_EXPECTED_AHEAD.days} days ahead.", ("expected_at",)))
    product = (await uow.session.execute(select(Product).where(Product.sku == sku))).scalar_one_or_none()
    warehouse = (await uow.session.execute(select(Warehouse).where(Warehouse.code == warehouse_code))).scalar_one_or_none()
    if product is None:
        errors.append(DomainError(ErrorCode.NOT_FOUND, f"Unknown SKU {sku!r}.", ("sku",)))
    elif product.made_to_order:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "A made-to-order product needs no stock.", ("sku",)))
    if warehouse is None:
        errors.append(DomainError(ErrorCode.NOT_FOUND, f"Unknown warehouse {warehouse_code!r}.", ("warehouse_code",)))
    collect(errors)
    assert product is not None and warehouse is not None  # collect() raised otherwise
    await uow.session.execute(
        pg_insert(StockLevel)
        .values(id=uuid.uuid4(), product_id=product.id, sku=sku, warehouse_id=warehouse.id, on_hand=0, reserved=0)
        .on_conflict_do_nothing(constraint="uq_stock_levels_sku_warehouse")
    )
    receipt = StockReceipt(id=uuid.uuid4(), product_id=product.id, sku=sku, warehouse_id=warehouse.id, quantity=quantity, claimed=0, received=0,
                           expected_at=expected_at, status=ReceiptStatus.SCHEDULED, actor=uow.actor)
    uow.session.add(receipt)
    await uow.session.flush()  # created_at comes back from the server
    await uow.session.refresh(receipt)
    return receipt
