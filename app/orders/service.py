"""Order actions. Each runs inside the caller's unit of work and raises DomainError to refuse."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.billing import hooks as billing_hooks
from app.infra.database import UnitOfWork
from app.errors import DomainError, ErrorCode, collect
from app.orders import allocation, events
from app.orders.pricing import compute_totals, line_total
from app.fulfilment.promise import placement_promise
from app.orders import promise as calendar
from app.orders.state_machine import HOLDABLE, OrderStatus, check_transition, release_target
from app.validation import check_address, normalise_email
from models import Allocation, Customer, Order, OrderLine, Product

MAX_LINES = 100
MAX_QUANTITY = 10_000
SALES_CHANNELS = frozenset({"WEB", "MOBILE", "PHONE", "MARKETPLACE", "STORE"})
PAYMENT_METHODS = frozenset({"CARD", "BANK_TRANSFER", "CASH_ON_DELIVERY", "OTHER"})


@dataclass(frozen=True, slots=True)
class LineRequest:
    sku: str
    quantity: int
    customization: Any = None


@dataclass(frozen=True, slots=True)
class PlaceOrderRequest:
    channel: str
    email: str
    lines: list[LineRequest]
    shipping_address: dict[str, Any]
    billing_address: dict[str, Any] | None = None
    payment_method: str | None = None
    payment_token: str | None = field(default=None, repr=False)
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        """What makes two requests "the same input" for idempotency (the key itself excluded)."""
        body = asdict(self)
        body.pop("idempotency_key")
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(slots=True)
class _Line:
    product: Product
    quantity: int
    customization: Any
    field: list[str]  # input path of the first request line it came from


def _validate(request: PlaceOrderRequest) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    errors: list[DomainError] = []
    if request.channel not in SALES_CHANNELS:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Unknown sales channel.", ["input", "channel"]))
    email = normalise_email(request.email, ["input", "email"], errors)
    if not request.lines:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "An order needs at least one line.", ["input", "lines"]))
    if len(request.lines) > MAX_LINES:
        errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_LINES} lines per order.", ["input", "lines"]))
    for i, line in enumerate(request.lines):
        if line.quantity < 1:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "Quantity must be at least 1.", ["input", "lines", str(i), "quantity"]))
        elif line.quantity > MAX_QUANTITY:
            errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"Quantity must be at most {MAX_QUANTITY}.", ["input", "lines", str(i), "quantity"]))
        if not line.sku.strip():
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "SKU is required.", ["input", "lines", str(i), "sku"]))
    shipping = check_address(request.shipping_address, ["input", "shippingAddress"], errors)
    billing = check_address(request.billing_address, ["input", "billingAddress"], errors) if request.billing_address else None
    if request.payment_method is not None and request.payment_method not in PAYMENT_METHODS:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Unknown payment method.", ["input", "payment", "method"]))
    collect(errors)
    return email, shipping, billing


async def _resolve_lines(uow: UnitOfWork, request: PlaceOrderRequest) -> list[_Line]:
    """Catalogue lookup; duplicate SKUs with the same customization merge into one line."""
    skus = sorted({line.sku.strip() for line in request.lines})
    products = {p.sku: p for p in (await uow.session.execute(select(Product).where(Product.sku.in_(skus)))).scalars()}
    errors = [
        DomainError(ErrorCode.NOT_FOUND, f"Unknown SKU {line.sku!r}.", ["input", "lines", str(i), "sku"])
        for i, line in enumerate(request.lines)
        if line.sku.strip() not in products
    ]
    collect(errors)
    merged: dict[tuple[str, str], _Line] = {}
    for i, line in enumerate(request.lines):
        key = (line.sku.strip(), json.dumps(line.customization, sort_keys=True))
        if key in merged:
            merged[key].quantity += line.quantity
        else:
            merged[key] = _Line(products[key[0]], line.quantity, line.customization, ["input", "lines", str(i)])
    lines = list(merged.values())
    currencies = {line.product.currency for line in lines}
    if len(currencies) > 1:
        raise DomainError(ErrorCode.INVALID_INPUT, "All products of an order must share one currency.", ["input", "lines"])
    for line in lines:
        if line.quantity > MAX_QUANTITY:
            raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"Quantity must be at most {MAX_QUANTITY}.", [*line.field, "quantity"])
    return lines


async def _existing_for_key(uow: UnitOfWork, request: PlaceOrderRequest) -> Order | None:
    key = request.idempotency_key
    if not key:
        return None
    if len(key) > 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "idempotencyKey is at most 200 characters.", ["input", "idempotencyKey"])
    # Concurrent requests with one key queue here; the first creates, the rest find it.
    await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 7))"), {"key": key})
    existing = (await uow.session.execute(select(Order).where(Order.idempotency_key == key))).scalar_one_or_none()
    if existing is not None and existing.request_fingerprint != request.fingerprint():
        raise DomainError(ErrorCode.IDEMPOTENCY_CONFLICT, "This idempotencyKey was used with a different input.", ["input", "idempotencyKey"])
    return existing


async def _customer_id(uow: UnitOfWork, email: str) -> uuid.UUID:
    statement = (
        pg_insert(Customer)
        .values(id=uuid.uuid4(), email=email)
        .on_conflict_do_update(index_elements=[Customer.email], set_={"email": email})
        .returning(Customer.id)
    )
    return (await uow.session.execute(statement)).scalar_one()


async def place_order(*, uow: UnitOfWork, request: PlaceOrderRequest) -> Order:
    email, shipping, billing = _validate(request)
    existing = await _existing_for_key(uow, request)
    if existing is not None:
        return existing
    lines = await _resolve_lines(uow, request)

    demand: dict[str, int] = {}
    sku_fields: dict[str, list[str]] = {}
    for line in lines:
        if not line.product.made_to_order:  # made to order: produced for the order, no stock needed
            demand[line.product.sku] = demand.get(line.product.sku, 0) + line.quantity
            sku_fields.setdefault(line.product.sku, [*line.field, "sku"])
    candidates = await allocation.lock_candidates(uow.session, skus=sorted(demand), channel=request.channel) if demand else []
    picks = allocation.plan_allocation(demand, candidates, sku_fields)

    priced = [(line, line_total(line.product.price, line.quantity)) for line in lines]
    totals = compute_totals((amount, line.product.tax_rate) for line, amount in priced)
    order = Order(
        id=uuid.uuid4(),
        status=OrderStatus.PENDING.value,
        payment_status="UNPAID",
        payment_method=request.payment_method,
        channel=request.channel,
        customer_id=await _customer_id(uow, email),
        email=email,
        shipping_address=shipping,
        billing_address=billing,
        currency=lines[0].product.currency,
        subtotal=totals.subtotal,
        tax_total=totals.tax_total,
        shipping_total=totals.shipping_total,
        total=totals.total,
        estimated_delivery_date=await placement_promise(
            uow.session, placed_at=calendar.utcnow(), channel=request.channel, destination_country=shipping["country"],
            allocation_warehouse_ids=[p.warehouse_id for p in picks],
            made_to_order_lead_days=max((l.product.lead_time_days for l in lines if l.product.made_to_order), default=None),
        ),
        idempotency_key=request.idempotency_key or None,
        request_fingerprint=request.fingerprint() if request.idempotency_key else None,
    )
    uow.session.add(order)
    order_lines = [
        OrderLine(
            id=uuid.uuid4(), order_id=order.id, position=position, product_id=line.product.id, sku=line.product.sku,
            product_name=line.product.name, quantity=line.quantity, unit_price=line.product.price, currency=line.product.currency,
            tax_rate=line.product.tax_rate, total=amount, made_to_order=line.product.made_to_order,
            customization=line.customization,
        )
        for position, (line, amount) in enumerate(priced)
    ]
    uow.session.add_all(order_lines)
    await uow.session.flush()  # order number and timestamps come back from the server

    line_by_sku = {l.sku: l for l in order_lines if not l.made_to_order}
    uow.session.add_all(
        Allocation(id=uuid.uuid4(), order_id=order.id, order_line_id=line_by_sku[p.sku].id, warehouse_id=p.warehouse_id, sku=p.sku, quantity=p.quantity)
        for p in picks
    )
    await allocation.reserve(uow.session, uow.notices, picks=picks, candidates=candidates, actor=uow.actor, reference=order.number)
    events.record(uow, order, events.PLACED, previous_status=None, data={"lines": len(order_lines), "total": str(order.total), "currency": order.currency})
    await billing_hooks.on_order_placed(uow=uow, order=order, method=request.payment_method, token=request.payment_token)
    return order


async def get_for_update(*, uow: UnitOfWork, order_id: uuid.UUID) -> Order:
    order = (await uow.session.execute(select(Order).where(Order.id == order_id).with_for_update())).scalar_one_or_none()
    if order is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such order.", ["input", "orderId"])
    return order


async def lock_order_row(*, uow: UnitOfWork, model: Any, row_id: uuid.UUID, field: list[str], missing: str) -> tuple[Order, Any]:
    """A row that belongs to an order (a return, a case, ...), locked after its order: the order row
    first, as every order change does, so concurrent changes of one order queue instead of deadlocking."""
    order_id = (await uow.session.execute(select(model.order_id).where(model.id == row_id))).scalar_one_or_none()
    if order_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, missing, field)
    order = await get_for_update(uow=uow, order_id=order_id)
    row = (await uow.session.execute(
        select(model).where(model.id == row_id).with_for_update().execution_options(populate_existing=True)
    )).scalar_one()
    return order, row


def transition(uow: UnitOfWork, order: Order, target: OrderStatus, *, data: dict[str, Any] | None = None, type_: str = events.STATUS_CHANGED) -> None:
    """Move `order` (locked by the caller) to `target` through the state machine, with its event."""
    check_transition(order.status, target)
    previous = order.status
    order.status = target.value
    order.updated_at = datetime.now(timezone.utc)
    events.record(uow, order, type_, previous_status=previous, data=data)


async def confirm_order(*, uow: UnitOfWork, order_id: uuid.UUID, reason: str | None = None) -> Order:
    order = await get_for_update(uow=uow, order_id=order_id)
    transition(uow, order, OrderStatus.CONFIRMED, data={"action": "confirm", "reason": reason})
    await billing_hooks.on_order_confirmed(uow=uow, order=order)
    return order


async def hold_order(*, uow: UnitOfWork, order_id: uuid.UUID, reason: str | None = None) -> Order:
    order = await get_for_update(uow=uow, order_id=order_id)
    if order.status not in HOLDABLE:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {order.status} cannot be put on hold.", ["input", "orderId"])
    order.held_from = order.status
    transition(uow, order, OrderStatus.ON_HOLD, data={"action": "hold", "reason": reason})
    return order


async def release_order(*, uow: UnitOfWork, order_id: uuid.UUID, reason: str | None = None) -> Order:
    order = await get_for_update(uow=uow, order_id=order_id)
    target = release_target(order.status, order.held_from)
    order.held_from = None
    transition(uow, order, target, data={"action": "release", "reason": reason})
    return order


async def cancel_order(*, uow: UnitOfWork, order_id: uuid.UUID, reason: str | None = None) -> Order:
    order = await get_for_update(uow=uow, order_id=order_id)
    check_transition(order.status, OrderStatus.CANCELLED)
    released = await allocation.release(uow.session, uow.notices, order_id=order.id, actor=uow.actor, reference=order.number, reason=reason or "order cancelled")
    order.held_from = None
    transition(uow, order, OrderStatus.CANCELLED, data={"action": "cancel", "reason": reason, "releasedUnits": released})
    await billing_hooks.on_order_cancelled(uow=uow, order=order)
    return order
