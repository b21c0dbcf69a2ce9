"""Bulk export of orders as JSON Lines (issue 17): `oms export-orders` and GET /exports/orders.jsonl write the same bytes.

Each line is one order in the API's shape (camelCase; money as {amount, currency} with the amount a string; times in
ISO 8601), with its lines and metadata, and its privateMetadata only for a caller allowed to read it. Orders come in
id order, in batches of EXPORT_BATCH, each batch its own short read (no long transaction, replica-friendly): every
order matching the filter when its batch is read appears exactly once, as it was then. For "what changed since", page
`orders(sort: {field: UPDATED_AT, direction: ASC})` (no skips) or filter the export with updatedAfter.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.infra.database import Database
from app.orders.queries import OrderQuery, order_conditions
from models import Order, OrderLine

EXPORT_BATCH = 500
ADDRESS_KEYS = {"name": "name", "line1": "line1", "line2": "line2", "city": "city", "postalCode": "postal_code", "region": "region",
                "country": "country", "phone": "phone"}
GlobalId = Callable[[str, uuid.UUID], str]


def _time(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": str(amount), "currency": currency}


def _address(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    if not stored:
        return None
    return {name: stored.get(key) for name, key in ADDRESS_KEYS.items()}


def _items(values: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted((values or {}).items())]


def order_document(order: Order, lines: list[OrderLine], *, private: bool, global_id: GlobalId) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": global_id("Order", order.id), "number": order.number, "status": str(order.status), "paymentStatus": str(order.payment_status),
        "paymentMethod": str(order.payment_method) if order.payment_method is not None else None, "channel": str(order.channel),
        "marketplace": order.marketplace, "externalReference": order.external_reference, "email": order.email,
        "placedAt": _time(order.placed_at), "updatedAt": _time(order.updated_at), "estimatedDeliveryDate": _time(order.estimated_delivery_date),
        "shippingAddress": _address(order.shipping_address), "billingAddress": _address(order.billing_address),
        "subtotal": _money(order.subtotal, order.currency), "taxTotal": _money(order.tax_total, order.currency),
        "shippingTotal": _money(order.shipping_total, order.currency), "total": _money(order.total, order.currency),
        "lines": [{
            "id": global_id("OrderLine", line.id), "sku": line.sku, "productName": line.product_name, "quantity": line.quantity,
            "unitPrice": _money(line.unit_price, line.currency), "total": _money(line.total, line.currency), "taxRate": str(line.tax_rate),
            "quantityShipped": line.quantity_shipped, "quantityReturned": line.quantity_returned, "customization": line.customization,
        } for line in lines],
        "metadata": _items(order.public_metadata),
    }
    if private:
        document["privateMetadata"] = _items(order.private_metadata)
    return document


async def iter_orders_jsonl(db: Database, query: OrderQuery | None, *, private: bool, global_id: GlobalId,
                            batch: int | None = None) -> AsyncIterator[bytes]:
    """The matching orders as JSON Lines (one `bytes` per order, newline included), in id order."""
    batch = batch or EXPORT_BATCH
    conditions = order_conditions(query)
    after: uuid.UUID | None = None
    while True:
        async def read(session: AsyncSession, after: uuid.UUID | None = after) -> tuple[list[Order], list[OrderLine]]:
            statement = select(Order).where(*conditions)
            if after is not None:
                statement = statement.where(Order.id > after)
            orders = list((await session.execute(statement.order_by(Order.id).limit(batch))).scalars())
            if not orders:
                return orders, []
            lines = (await session.execute(select(OrderLine).where(OrderLine.order_id.in_([o.id for o in orders]))
                                           .order_by(OrderLine.order_id, OrderLine.position))).scalars()
            return orders, list(lines)

        orders, lines = await db.query(read)
        by_order: dict[uuid.UUID, list[OrderLine]] = {}
        for line in lines:
            by_order.setdefault(line.order_id, []).append(line)
        for order in orders:
            yield orjson.dumps(order_document(order, by_order.get(order.id, []), private=private, global_id=global_id)) + b"\n"
        if len(orders) < batch:
            return
        after = orders[-1].id
