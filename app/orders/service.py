"""Order actions on one order: placement (checked, planned, written), the status moves and the row lock.

Each runs inside the caller's unit of work and raises DomainError to refuse. What other domains
do when an order moves (open its payment, capture, invoice, settle) is not here: the flows in
app/flows/ call these actions and then theirs, so this module imports no other domain.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.errors import DomainError, ErrorCode, Path, collect
from app.infra.database import UnitOfWork
from app.orders import allocation, events
from app.orders.allocation import Candidate, Pick
from app.orders.enums import OrderEventType, OrderStatus, PaymentMethod, PaymentStatus, SalesChannel
from app.orders.pricing import compute_totals, line_total
from app.orders.state_machine import HOLDABLE, check_transition, release_target
from app.validation import check_address, member_of, normalise_email
from models import Allocation, Customer, Order, OrderLine, Product

MAX_LINES = 100
MAX_QUANTITY = 10_000


@dataclass(frozen=True, slots=True)
class LineRequest:
    sku: str
    quantity: int
    customization: Any = None


@dataclass(frozen=True, slots=True)
class PlaceOrderRequest:
    channel: SalesChannel
    email: str
    lines: list[LineRequest]
    shipping_address: dict[str, Any]
    billing_address: dict[str, Any] | None = None
    payment_method: PaymentMethod | None = None
    payment_token: str | None = field(default=None, repr=False)
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        """What makes two requests "the same input" for idempotency (the key itself excluded)."""
        body = asdict(self)
        body.pop("idempotency_key")
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(slots=True)
class ResolvedLine:
    """A request line found in the catalogue; lines with the same SKU and customization merged."""

    product: Product
    quantity: int
    customization: Any
    path: Path  # input path of the first request line it came from


@dataclass(frozen=True, slots=True)
class Placement:
    """A placement request checked and planned, its stock rows locked; nothing written yet."""

    request: PlaceOrderRequest
    channel: SalesChannel
    payment_method: PaymentMethod | None
    email: str
    shipping_address: dict[str, Any]
    billing_address: dict[str, Any] | None
    lines: list[ResolvedLine] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    picks: list[Pick] = field(default_factory=list)

    @property
    def destination_country(self) -> str:
        return str(self.shipping_address["country"])

    @property
    def warehouse_ids(self) -> list[uuid.UUID]:
        """The warehouses that will hold the order's reservations."""
        return [p.warehouse_id for p in self.picks]

    @property
    def made_to_order_lead_days(self) -> int | None:
        """The longest production lead time of its made-to-order lines; None without such a line."""
        return max((line.product.lead_time_days for line in self.lines if line.product.made_to_order), default=None)


def _check(request: PlaceOrderRequest) -> Placement:
    errors: list[DomainError] = []
    channel = member_of(SalesChannel, request.channel, ("channel",), "Unknown sales channel.", errors)
    email = normalise_email(request.email, ("email",), errors)
    if not request.lines:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "An order needs at least one line.", ("lines",)))
    if len(request.lines) > MAX_LINES:
        errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_LINES} lines per order.", ("lines",)))
    for i, line in enumerate(request.lines):
        if line.quantity < 1:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "Quantity must be at least 1.", ("lines", i, "quantity")))
        elif line.quantity > MAX_QUANTITY:
            errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"Quantity must be at most {MAX_QUANTITY}.", ("lines", i, "quantity")))
        if not line.sku.strip():
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "SKU is required.", ("lines", i, "sku")))
    shipping = check_address(request.shipping_address, ("shipping_address",), errors)
    billing = check_address(request.billing_address, ("billing_address",), errors) if request.billing_address else None
    method = None
    if request.payment_method is not None:
        method = member_of(PaymentMethod, request.payment_method, ("payment", "method"), "Unknown payment method.", errors)
    collect(errors)
    assert channel is not None
    return Placement(request, channel, method, email, shipping, billing)


async def _resolve_lines(uow: UnitOfWork, request: PlaceOrderRequest) -> list[ResolvedLine]:
    """Catalogue lookup; duplicate SKUs with the same customization merge into one line."""
    skus = sorted({line.sku.strip() for line in request.lines})
    products = {p.sku: p for p in (await uow.session.execute(select(Product).where(Product.sku.in_(skus)))).scalars()}
    errors = [
        DomainError(ErrorCode.NOT_FOUND, f"Unknown SKU {line.sku!r}.", ("lines", i, "sku"))
        for i, line in enumerate(request.lines)
        if line.sku.strip() not in products
    ]
    collect(errors)
    merged: dict[tuple[str, str], ResolvedLine] = {}
    for i, line in enumerate(request.lines):
        key = (line.sku.strip(), json.dumps(line.customization, sort_keys=True))
        if key in merged:
            merged[key].quantity += line.quantity
        else:
            merged[key] = ResolvedLine(products[key[0]], line.quantity, line.customization, ("lines", i))
    lines = list(merged.values())
    currencies = {line.product.currency for line in lines}
    if len(currencies) > 1:
        raise DomainError(ErrorCode.INVALID_INPUT, "All products of an order must share one currency.", ("lines",))
    for merged_line in lines:
        if merged_line.quantity > MAX_QUANTITY:
            raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"Quantity must be at most {MAX_QUANTITY}.", (*merged_line.path, "quantity"))
    return lines


async def _existing_for_key(uow: UnitOfWork, request: PlaceOrderRequest) -> Order | None:
    key = request.idempotency_key
    if not key:
        return None
    if len(key) > 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "idempotencyKey is at most 200 characters.", ("idempotency_key",))
    # Concurrent requests with one key queue here; the first creates, the rest find it.
    await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 7))"), {"key": key})
    existing = (await uow.session.execute(select(Order).where(Order.idempotency_key == key))).scalar_one_or_none()
    if existing is not None and existing.request_fingerprint != request.fingerprint():
        raise DomainError(ErrorCode.IDEMPOTENCY_CONFLICT, "This idempotencyKey was used with a different input.", ("idempotency_key",))
    return existing


async def _customer_id(uow: UnitOfWork, email: str) -> uuid.UUID:
    statement = (
        pg_insert(Customer)
        .values(id=uuid.uuid4(), email=email)
        .on_conflict_do_update(index_elements=[Customer.email], set_={"email": email})
        .returning(Customer.id)
    )
    return (await uow.session.execute(statement)).scalar_one()


async def plan_placement(*, uow: UnitOfWork, request: PlaceOrderRequest) -> Order | Placement:
    """Check the request, look its lines up in the catalogue, lock the stock rows and plan where each
    unit is reserved. Refuses with every input problem at once, or OUT_OF_STOCK.

    A request repeated with its idempotency key gets the order the first one placed instead."""
    checked = _check(request)
    existing = await _existing_for_key(uow, request)
    if existing is not None:
        return existing
    lines = await _resolve_lines(uow, request)

    demand: dict[str, int] = {}
    sku_paths: dict[str, Path] = {}
    for line in lines:
        if not line.product.made_to_order:  # made to order: produced for the order, no stock needed
            demand[line.product.sku] = demand.get(line.product.sku, 0) + line.quantity
            sku_paths.setdefault(line.product.sku, (*line.path, "sku"))
    candidates = await allocation.lock_candidates(uow.session, skus=sorted(demand), channel=checked.channel) if demand else []
    picks = allocation.plan_allocation(demand, candidates, sku_paths)
    return replace(checked, lines=lines, candidates=candidates, picks=picks)


async def create_order(*, uow: UnitOfWork, placement: Placement, estimated_delivery_date: date | None) -> Order:
    """Write a planned placement: the PENDING order, its lines, its reservations and the PLACED event."""
    request, lines = placement.request, placement.lines
    priced = [(line, line_total(line.product.price, line.quantity)) for line in lines]
    totals = compute_totals((amount, line.product.tax_rate) for line, amount in priced)
    order = Order(
        id=uuid.uuid4(),
        status=OrderStatus.PENDING,
        payment_status=PaymentStatus.UNPAID,
        payment_method=placement.payment_method,
        channel=placement.channel,
        customer_id=await _customer_id(uow, placement.email),
        email=placement.email,
        shipping_address=placement.shipping_address,
        billing_address=placement.billing_address,
        currency=lines[0].product.currency,
        subtotal=totals.subtotal,
        tax_total=totals.tax_total,
        shipping_total=totals.shipping_total,
        total=totals.total,
        estimated_delivery_date=estimated_delivery_date,
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

    line_by_sku = {line.sku: line for line in order_lines if not line.made_to_order}
    uow.session.add_all(
        Allocation(id=uuid.uuid4(), order_id=order.id, order_line_id=line_by_sku[p.sku].id, warehouse_id=p.warehouse_id, sku=p.sku, quantity=p.quantity)
        for p in placement.picks
    )
    await allocation.reserve(uow.session, uow.notices, picks=placement.picks, candidates=placement.candidates, actor=uow.actor, reference=order.number)
    events.record(uow, order, OrderEventType.PLACED, previous_status=None,
                  data={"lines": len(order_lines), "total": str(order.total), "currency": order.currency})
    return order


async def get_for_update(*, uow: UnitOfWork, order_id: uuid.UUID) -> Order:
    order = (await uow.session.execute(select(Order).where(Order.id == order_id).with_for_update())).scalar_one_or_none()
    if order is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such order.", ("order_id",))
    return order


async def lock_order_row(*, uow: UnitOfWork, model: Any, row_id: uuid.UUID, path: Path, missing: str) -> tuple[Order, Any]:
    """A row that belongs to an order (a return, a case, ...), locked after its order: the order row
    first, as every order change does, so concurrent changes of one order queue instead of deadlocking."""
    order_id = (await uow.session.execute(select(model.order_id).where(model.id == row_id))).scalar_one_or_none()
    if order_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, missing, path)
    order = await get_for_update(uow=uow, order_id=order_id)
    row = (await uow.session.execute(
        select(model).where(model.id == row_id).with_for_update().execution_options(populate_existing=True)
    )).scalar_one()
    return order, row


def transition(
    uow: UnitOfWork, order: Order, target: OrderStatus, *, data: dict[str, Any] | None = None,
    type_: OrderEventType = OrderEventType.STATUS_CHANGED,
) -> None:
    """Move `order` (locked by the caller) to `target` through the state machine, with its event."""
    check_transition(order.status, target)
    previous = order.status
    order.status = target
    order.updated_at = datetime.now(UTC)
    events.record(uow, order, type_, previous_status=previous, data=data)


async def confirm_order(*, uow: UnitOfWork, order_id: uuid.UUID, reason: str | None = None) -> Order:
    order = await get_for_update(uow=uow, order_id=order_id)
    transition(uow, order, OrderStatus.CONFIRMED, data={"action": "confirm", "reason": reason})
    return order


async def hold_order(*, uow: UnitOfWork, order_id: uuid.UUID, reason: str | None = None) -> Order:
    order = await get_for_update(uow=uow, order_id=order_id)
    if order.status not in HOLDABLE:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {order.status} cannot be put on hold.", ("order_id",))
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
    """Cancel and give back every unit the order still holds (the payments are billing's: app/flows/cancellation.py)."""
    order = await get_for_update(uow=uow, order_id=order_id)
    check_transition(order.status, OrderStatus.CANCELLED)
    released = await allocation.release(uow.session, uow.notices, order_id=order.id, actor=uow.actor, reference=order.number,
                                        reason=reason or "order cancelled")
    order.held_from = None
    transition(uow, order, OrderStatus.CANCELLED, data={"action": "cancel", "reason": reason, "releasedUnits": released})
    return order
