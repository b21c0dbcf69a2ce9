"""Draft orders: create, change, preview and expire (issue 18). Completing one is a flow (app/flows/drafts.py): it
places an order through the same path as `placeOrder`.

A draft is the order a phone or store agent is building: lines (SKU, quantity, customization), the customer's
email, addresses and notes. Its SKUs are checked against the catalogue whenever its lines change, but it reserves
nothing and stores no price: `preview` prices it from the catalogue when read, with the very functions placement
prices with (app/orders/pricing.py), so the preview and the order cannot drift apart.

Only an OPEN draft changes. It expires `expiry_hours` after its last change (`expire_drafts`, one statement that
any number of processes may run at once). While a completion is in flight (`completing_since`), changes are refused.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.drafts.enums import DraftOrderStatus
from app.errors import DomainError, ErrorCode, Path, collect
from app.infra.database import UnitOfWork
from app.orders import allocation
from app.orders import promise as calendar
from app.orders.enums import InventoryPolicy, ReceiptStatus, SalesChannel
from app.orders.pricing import Totals, compute_totals, line_total
from app.orders.service import MAX_LINES, MAX_QUANTITY
from app.validation import check_address, member_of, normalise_email
from models import Product, StockLevel
from models.drafts import DraftOrder, DraftOrderLine
from models.receipts import StockReceipt

DRAFT_CHANNELS = (SalesChannel.PHONE, SalesChannel.STORE)
MAX_NOTES = 2000
# A completion that has not finished after this long is taken for dead: changes and other completions may proceed
# (the placement's idempotency key, one per draft, still lets only one order exist).
COMPLETION_STALE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class DraftLine:
    sku: str
    quantity: int
    customization: Any = None


@dataclass(frozen=True, slots=True)
class DraftContent:
    """What a draft holds. In an update, None leaves a part as it is (`lines` is replaced as a whole list;
    an empty `notes` clears the notes)."""

    email: str | None = None
    lines: list[DraftLine] | None = None
    shipping_address: dict[str, Any] | None = None
    billing_address: dict[str, Any] | None = None
    notes: str | None = None


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _expiry(hours: float, now: datetime) -> datetime:
    if hours <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "OMS_DRAFT_EXPIRY_HOURS must be above 0.")
    return now + timedelta(hours=hours)


async def _check_lines(session: AsyncSession, lines: list[DraftLine], errors: list[DomainError]) -> list[DraftLine]:
    """The same rules placement applies to its lines (count, quantity, SKU known, one currency); nothing reserved."""
    if len(lines) > MAX_LINES:
        errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_LINES} lines per order.", ("lines",)))
        return lines
    clean: list[DraftLine] = []
    for i, line in enumerate(lines):
        if line.quantity < 1:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "Quantity must be at least 1.", ("lines", i, "quantity")))
        elif line.quantity > MAX_QUANTITY:
            errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"Quantity must be at most {MAX_QUANTITY}.", ("lines", i, "quantity")))
        if not line.sku.strip():
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "SKU is required.", ("lines", i, "sku")))
        clean.append(DraftLine(line.sku.strip(), line.quantity, line.customization))
    skus = sorted({line.sku for line in clean if line.sku})
    products = await _products(session, skus)
    for i, line in enumerate(clean):
        if line.sku and line.sku not in products:
            errors.append(DomainError(ErrorCode.NOT_FOUND, f"Unknown SKU {line.sku!r}.", ("lines", i, "sku")))
    if len({p.currency for p in products.values()}) > 1:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "All products of an order must share one currency.", ("lines",)))
    return clean


async def _products(session: AsyncSession, skus: list[str]) -> dict[str, Product]:
    if not skus:
        return {}
    rows = (await session.execute(select(Product).where(Product.sku.in_(skus)))).scalars().all()
    return {p.sku: p for p in rows}


async def _apply(uow: UnitOfWork, draft: DraftOrder, content: DraftContent, errors: list[DomainError]) -> list[DraftLine] | None:
    """Check the given parts and set them on the draft; the new lines (written by the caller), or None to keep them."""
    if content.email is not None:
        draft.email = normalise_email(content.email, ("email",), errors) if content.email.strip() else None
    if content.shipping_address is not None:
        draft.shipping_address = check_address(content.shipping_address, ("shipping_address",), errors)
    if content.billing_address is not None:
        draft.billing_address = check_address(content.billing_address, ("billing_address",), errors)
    if content.notes is not None:
        if len(content.notes) > MAX_NOTES:
            errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"Notes are at most {MAX_NOTES} characters.", ("notes",)))
        draft.notes = content.notes.strip() or None
    lines = await _check_lines(uow.session, content.lines, errors) if content.lines is not None else None
    return lines


def _write_lines(uow: UnitOfWork, draft: DraftOrder, lines: list[DraftLine]) -> None:
    uow.session.add_all(
        DraftOrderLine(id=uuid.uuid4(), draft_order_id=draft.id, position=position, sku=line.sku, quantity=line.quantity,
                       customization=line.customization)
        for position, line in enumerate(lines)
    )


async def create_draft(
    *, uow: UnitOfWork, channel: SalesChannel | str, content: DraftContent, expiry_hours: float, now: datetime | None = None,
) -> DraftOrder:
    """A new OPEN draft for a PHONE or STORE sale. Every input problem is reported at once."""
    now = _now(now)
    errors: list[DomainError] = []
    checked = member_of(SalesChannel, channel, ("channel",), "Unknown sales channel.", errors)
    if checked is not None and checked not in DRAFT_CHANNELS:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Draft orders are for PHONE or STORE sales.", ("channel",)))
    draft = DraftOrder(id=uuid.uuid4(), status=DraftOrderStatus.OPEN, channel=checked or SalesChannel.PHONE, created_by=uow.actor,
                       expires_at=_expiry(expiry_hours, now))
    lines = await _apply(uow, draft, content, errors)
    collect(errors)
    uow.session.add(draft)
    await uow.session.flush()  # number and timestamps come back
    _write_lines(uow, draft, lines or [])
    await uow.session.flush()
    return draft


async def lock_draft(uow: UnitOfWork, draft_id: uuid.UUID) -> DraftOrder:
    draft = (await uow.session.execute(select(DraftOrder).where(DraftOrder.id == draft_id).with_for_update())).scalar_one_or_none()
    if draft is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such draft order.", ("draft_order_id",))
    return draft


def check_open(draft: DraftOrder, now: datetime) -> None:
    """Refuse a draft that is no longer OPEN, or whose time ran out (before the expiry task saw it)."""
    if draft.status == DraftOrderStatus.COMPLETED:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"Draft {draft.number} was already completed.", ("draft_order_id",))
    if draft.status == DraftOrderStatus.EXPIRED or draft.expires_at <= now:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"Draft {draft.number} expired at {draft.expires_at.isoformat()}; start a new draft.",
                          ("draft_order_id",))


def completion_in_flight(draft: DraftOrder, now: datetime) -> bool:
    return draft.completing_since is not None and now - draft.completing_since < COMPLETION_STALE


async def update_draft(
    *, uow: UnitOfWork, draft_id: uuid.UUID, content: DraftContent, expiry_hours: float, now: datetime | None = None,
) -> DraftOrder:
    """Replace the given parts of an OPEN draft (lines as a whole list); its expiry moves to `expiry_hours` from now."""
    now = _now(now)
    draft = await lock_draft(uow, draft_id)
    check_open(draft, now)
    if completion_in_flight(draft, now):
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"Draft {draft.number} is being completed; it can no longer change.",
                          ("draft_order_id",))
    errors: list[DomainError] = []
    lines = await _apply(uow, draft, content, errors)
    collect(errors)
    if lines is not None:
        await uow.session.execute(delete(DraftOrderLine).where(DraftOrderLine.draft_order_id == draft.id))
        _write_lines(uow, draft, lines)
    draft.updated_at = now
    draft.expires_at = _expiry(expiry_hours, now)
    await uow.session.flush()
    return draft


async def lines_of(session: AsyncSession, draft_id: uuid.UUID) -> list[DraftOrderLine]:
    statement = select(DraftOrderLine).where(DraftOrderLine.draft_order_id == draft_id).order_by(DraftOrderLine.position)
    return list((await session.execute(statement)).scalars().all())


async def expire_drafts(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Mark every OPEN draft past its expiry EXPIRED: one statement, idempotent, safe with any number of processes
    running it at once (a row already expired by one is not matched by the other). The number it expired."""
    now = _now(now)
    result = await session.execute(
        update(DraftOrder).where(DraftOrder.status == DraftOrderStatus.OPEN, DraftOrder.expires_at <= now)
        .values(status=DraftOrderStatus.EXPIRED, updated_at=func.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- the live price preview ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreviewLine:
    sku: str
    quantity: int
    product: Product | None  # None: the SKU left the catalogue
    total: Decimal | None  # net, as on the order line
    available: int | None  # units free now in the warehouses serving the draft's channel; None for made to order


@dataclass(frozen=True, slots=True)
class Preview:
    lines: list[PreviewLine]
    currency: str | None
    totals: Totals | None  # None without a priced line
    problems: list[DomainError] = field(default_factory=list)  # what completing now would refuse (payment aside)


async def available_units(session: AsyncSession, channel: SalesChannel, skus: list[str]) -> dict[str, int]:
    """Units a completion could take now per SKU in the warehouses serving `channel` (one statement): free (on hand -
    reserved); for a product that sells ahead (BACKORDER / PREORDER, app/orders/backorders.py) also the units still
    unclaimed on its open stock receipts there, and only those for a PREORDER before its available_from (what the
    placement's backorder split counts; issue 19 review F8). A SKU without stock there is absent."""
    if not skus:
        return {}
    claimable = StockReceipt.quantity - StockReceipt.received - StockReceipt.claimed
    expected = (select(func.coalesce(func.sum(claimable), 0))
                .where(StockReceipt.sku == StockLevel.sku, StockReceipt.warehouse_id == StockLevel.warehouse_id,
                       StockReceipt.status != ReceiptStatus.RECEIVED, claimable > 0)
                .correlate(StockLevel).scalar_subquery())
    free = StockLevel.on_hand - StockLevel.reserved
    today = calendar.local_date(calendar.utcnow())  # the promise clock, as backorders.split
    units = case(
        (or_(Product.inventory_policy == InventoryPolicy.DENY, Product.made_to_order), free),
        (and_(Product.inventory_policy == InventoryPolicy.PREORDER, Product.available_from.is_not(None), Product.available_from > today), expected),
        else_=func.greatest(free, 0) + expected,
    )
    rows = (await session.execute(
        select(StockLevel.sku, func.sum(units))
        .select_from(allocation.candidate_join(channel).join(Product.__table__, Product.id == StockLevel.product_id))
        .where(StockLevel.sku.in_(skus)).group_by(StockLevel.sku)
    )).all()
    return {sku: int(units or 0) for sku, units in rows}


def _merge_key(line: DraftOrderLine) -> tuple[str, str]:
    return line.sku, json.dumps(line.customization, sort_keys=True)  # how placement merges request lines


def price(draft: DraftOrder, lines: list[DraftOrderLine], products: dict[str, Product], available: dict[str, int]) -> Preview:
    """The draft priced as placement would price it (pure: the catalogue rows and free units are given): net line
    totals by `line_total`, the order's totals by `compute_totals` over the lines merged as placement merges them (same
    SKU and customization). `problems` lists what completing the draft now would refuse (with the draft's paths)."""
    problems: list[DomainError] = []
    if not draft.email:
        problems.append(DomainError(ErrorCode.INVALID_INPUT, "The draft has no customer email.", ("email",)))
    if not draft.shipping_address:
        problems.append(DomainError(ErrorCode.INVALID_INPUT, "The draft has no shipping address.", ("shipping_address",)))
    if not lines:
        problems.append(DomainError(ErrorCode.INVALID_INPUT, "The draft has no lines.", ("lines",)))
    shown: list[PreviewLine] = []
    merged: dict[tuple[str, str], int] = {}
    demand: dict[str, int] = {}
    first_path: dict[str, Path] = {}
    for i, line in enumerate(lines):
        product = products.get(line.sku)
        if product is None:
            problems.append(DomainError(ErrorCode.NOT_FOUND, f"Unknown SKU {line.sku!r}.", ("lines", i, "sku")))
            shown.append(PreviewLine(line.sku, line.quantity, None, None, None))
            continue
        made_to_order = product.made_to_order
        shown.append(PreviewLine(line.sku, line.quantity, product, line_total(product.price, line.quantity),
                                 None if made_to_order else available.get(line.sku, 0)))
        merged[_merge_key(line)] = merged.get(_merge_key(line), 0) + line.quantity
        if not made_to_order:
            demand[line.sku] = demand.get(line.sku, 0) + line.quantity
            first_path.setdefault(line.sku, ("lines", i, "sku"))
    for sku, units in demand.items():
        if units > available.get(sku, 0):
            problems.append(DomainError(ErrorCode.OUT_OF_STOCK, f"Only {available.get(sku, 0)} units of {sku} are available.", first_path[sku]))
    currencies = {products[line.sku].currency for line in lines if line.sku in products}
    if len(currencies) > 1:
        problems.append(DomainError(ErrorCode.INVALID_INPUT, "All products of an order must share one currency.", ("lines",)))
    priced = [(line_total(products[sku].price, quantity), products[sku].tax_rate) for (sku, _), quantity in merged.items()]
    totals = compute_totals(priced) if priced and len(currencies) == 1 else None
    return Preview(shown, next(iter(currencies)) if len(currencies) == 1 else None, totals, problems)


async def preview(session: AsyncSession, draft: DraftOrder, lines: list[DraftOrderLine]) -> Preview:
    """`price` with the catalogue and stock read now (two statements)."""
    skus = sorted({line.sku for line in lines})
    return price(draft, lines, await _products(session, skus), await available_units(session, draft.channel, skus))
