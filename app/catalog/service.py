"""Catalogue and stock actions: partner sync of products and warehouses, receipts and write-offs."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.catalog.enums import Weekday
from app.errors import DomainError, ErrorCode, collect
from app.infra.database import UnitOfWork
from app.orders.allocation import notify_stock
from app.orders.enums import InventoryPolicy, SalesChannel
from app.validation import CURRENCIES, member_of, parse_decimal
from models import Product, StockLevel, StockMovement, Warehouse

MAX_STOCK_DELTA = 1_000_000


async def upsert_product(
    *, uow: UnitOfWork, sku: str, name: str, price: object, currency: str, tax_rate: object,
    made_to_order: bool | None = None, lead_time_days: int | None = None,
    inventory_policy: InventoryPolicy | None = None, available_from: date | None = None,  # backorders, issue 19
) -> Product:
    errors: list[DomainError] = []
    sku, name, currency = sku.strip(), name.strip(), currency.strip().upper()
    if not sku or len(sku) > 64:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "SKU must be 1 to 64 characters.", ("sku",)))
    if not name or len(name) > 300:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Name must be 1 to 300 characters.", ("name",)))
    if currency not in CURRENCIES:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Unsupported ISO 4217 currency.", ("currency",)))
    try:
        price_value = parse_decimal(price, ("price",), minimum=Decimal("0"), maximum=Decimal("999999999.99"))
        if price_value != price_value.quantize(Decimal("0.01")):
            raise DomainError(ErrorCode.INVALID_INPUT, "Price has at most 2 decimals.", ("price",))
    except DomainError as exc:
        errors.append(exc)
    try:
        rate = parse_decimal(tax_rate, ("tax_rate",), minimum=Decimal("0"), maximum=Decimal("1"))
    except DomainError as exc:
        errors.append(exc)
    mto = bool(made_to_order)
    lead = lead_time_days or 0
    if lead < 0 or lead > 365:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "leadTimeDays must be between 0 and 365.", ("lead_time_days",)))
    elif lead and not mto:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Only made-to-order products have a lead time.", ("lead_time_days",)))
    inventory = inventory_values(inventory_policy, available_from, made_to_order=mto, errors=errors)  # backorders, issue 19
    collect(errors)
    values = {"updated_at": func.now(), "name": name, "price": price_value, "currency": currency, "tax_rate": rate,
              "made_to_order": mto, "lead_time_days": lead, **inventory}
    statement = (
        pg_insert(Product)
        .values(id=uuid.uuid4(), sku=sku, **values)
        .on_conflict_do_update(index_elements=[Product.sku], set_=values)
        .returning(Product)
        .execution_options(populate_existing=True)
    )
    return (await uow.session.scalars(statement)).one()


async def upsert_warehouse(
    *, uow: UnitOfWork, code: str, name: str, channels: list[SalesChannel], pickup_point: bool | None = None,
    opening_hours: list[OpeningHours] | None = None, timezone: str | None = None,
) -> Warehouse:
    """pickup, issue 19: `pickup_point`, `opening_hours`, `timezone`: None keeps the stored value (false / none on creation)."""
    errors: list[DomainError] = []
    code, name = code.strip(), name.strip()
    if not code or len(code) > 32:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Code must be 1 to 32 characters.", ("code",)))
    if not name or len(name) > 200:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Name must be 1 to 200 characters.", ("name",)))
    known = [member_of(SalesChannel, channel, ("channels", i), "Unknown sales channel.", errors) for i, channel in enumerate(channels)]
    pickup_values = pickup_point_values(pickup_point=pickup_point, opening_hours=opening_hours, timezone=timezone, errors=errors)  # pickup, issue 19
    collect(errors)
    values = {"name": name, "channels": sorted({channel for channel in known if channel is not None}), **pickup_values}
    statement = (
        pg_insert(Warehouse)
        .values(id=uuid.uuid4(), code=code, **values)
        .on_conflict_do_update(index_elements=[Warehouse.code], set_=values)
        .returning(Warehouse)
        .execution_options(populate_existing=True)
    )
    return (await uow.session.scalars(statement)).one()


async def adjust_stock(*, uow: UnitOfWork, sku: str, warehouse_code: str, delta: int, reason: str) -> StockLevel:
    """A receipt (+) or write-off (-). On-hand never drops below what is reserved."""
    errors: list[DomainError] = []
    if delta == 0:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "delta must not be 0.", ("delta",)))
    elif abs(delta) > MAX_STOCK_DELTA:
        errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"|delta| is at most {MAX_STOCK_DELTA}.", ("delta",)))
    if not reason.strip():
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Give a reason.", ("reason",)))
    collect(errors)
    product = (await uow.session.execute(select(Product.id).where(Product.sku == sku))).scalar_one_or_none()
    warehouse = (await uow.session.execute(select(Warehouse.id).where(Warehouse.code == warehouse_code))).scalar_one_or_none()
    collect(
        ([DomainError(ErrorCode.NOT_FOUND, f"Unknown SKU {sku!r}.", ("sku",))] if product is None else [])
        + ([DomainError(ErrorCode.NOT_FOUND, f"Unknown warehouse {warehouse_code!r}.", ("warehouse_code",))] if warehouse is None else [])
    )
    assert warehouse is not None  # collect() raised otherwise
    await uow.session.execute(
        pg_insert(StockLevel)
        .values(id=uuid.uuid4(), product_id=product, sku=sku, warehouse_id=warehouse, on_hand=0, reserved=0)
        .on_conflict_do_nothing(constraint="uq_stock_levels_sku_warehouse")
    )
    level = (
        await uow.session.execute(
            select(StockLevel).where(StockLevel.sku == sku, StockLevel.warehouse_id == warehouse).with_for_update()
        )
    ).scalar_one()
    if level.on_hand + delta < level.reserved:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"On hand would fall to {level.on_hand + delta}, below the {level.reserved} units reserved.",
            ("delta",),
        )
    level.on_hand += delta
    await uow.session.execute(
        insert(StockMovement).values(
            sku=sku, warehouse_id=warehouse, kind="RECEIPT" if delta > 0 else "ADJUSTMENT",
            on_hand_delta=delta, reserved_delta=0, reason=reason.strip(), actor=uow.actor,
        )
    )
    notify_stock(uow.notices, sku, warehouse)
    return level


# pickup, issue 19 ------------------------------------------------------------------------------------------------
MAX_RANGES_PER_DAY = 3
_HH_MM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """One opening range of a pickup point on one day, local time: `opens` before `closes`, both HH:MM (00:00 to 23:59)."""

    day: Weekday | str
    opens: str
    closes: str


def pickup_point_values(
    *, pickup_point: bool | None, opening_hours: list[OpeningHours] | None, timezone: str | None, errors: list[DomainError],
) -> dict[str, Any]:
    """The warehouse columns a pickup-point input sets (only the given ones); problems go to `errors`, at
    ("opening_hours", i, "opens"/"closes"/"day") and ("timezone",).

    Hours: HH:MM, opens < closes, at most 3 ranges a day, not overlapping. Stored by day in week order, each day's
    ranges sorted: {"MON": [["09:00", "14:00"], ["17:00", "20:00"]], ...}; an empty list removes them."""
    values: dict[str, Any] = {}
    if pickup_point is not None:
        values["pickup_point"] = bool(pickup_point)
    if timezone is not None:
        name = timezone.strip()
        try:
            if not name or len(name) > 64:
                raise ValueError(name)
            ZoneInfo(name)
        except (ValueError, ZoneInfoNotFoundError):
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "timezone must be an IANA time zone name (e.g. Europe/Madrid).", ("timezone",)))
        else:
            values["timezone"] = name
    if opening_hours is not None:
        by_day: dict[Weekday, list[tuple[str, str, int]]] = {}
        for i, entry in enumerate(opening_hours):
            day = member_of(Weekday, entry.day, ("opening_hours", i, "day"), "Unknown day.", errors)
            opens, closes = entry.opens.strip(), entry.closes.strip()
            valid = True
            for value, field_name in ((opens, "opens"), (closes, "closes")):
                if not _HH_MM.match(value):
                    errors.append(DomainError(ErrorCode.INVALID_INPUT, f"{field_name} must be HH:MM (00:00 to 23:59).", ("opening_hours", i, field_name)))
                    valid = False
            if valid and opens >= closes:
                errors.append(DomainError(ErrorCode.INVALID_INPUT, "closes must be after opens.", ("opening_hours", i, "closes")))
                valid = False
            if valid and day is not None:
                by_day.setdefault(day, []).append((opens, closes, i))
        stored: dict[str, list[list[str]]] = {}
        for day in Weekday:
            ranges = sorted(by_day.get(day, []))
            if len(ranges) > MAX_RANGES_PER_DAY:
                errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_RANGES_PER_DAY} opening ranges on {day}.",
                                          ("opening_hours", ranges[MAX_RANGES_PER_DAY][2], "day")))
            for (_, earlier_closes, _), (later_opens, _, i) in pairwise(ranges):
                if later_opens < earlier_closes:
                    errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Opening ranges on {day} overlap.", ("opening_hours", i, "opens")))
            if ranges:
                stored[day.value] = [[opens, closes] for opens, closes, _ in ranges]
        values["opening_hours"] = stored
    return values


def opening_hours_of(warehouse: Warehouse) -> list[OpeningHours]:
    """A warehouse's stored opening hours, in week order."""
    stored = warehouse.opening_hours or {}
    return [OpeningHours(Weekday(day), opens, closes) for day in Weekday for opens, closes in stored.get(day.value, [])]


# backorders, issue 19
def inventory_values(policy: InventoryPolicy | None, available_from: date | None, *, made_to_order: bool,
                     errors: list[DomainError]) -> dict[str, object]:
    """A product's inventory policy columns (absent: DENY, as for every product before issue 19). PREORDER needs
    `available_from` (the first day its stock is sold; before it every unit comes from expected receipts), and only
    PREORDER takes one; made-to-order products need no stock, so they stay DENY."""
    chosen = member_of(InventoryPolicy, policy, ("inventory_policy",), "Unknown inventory policy.", errors) if policy is not None else None
    chosen = chosen or InventoryPolicy.DENY
    if chosen != InventoryPolicy.DENY and made_to_order:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Made-to-order products need no stock: their policy stays DENY.", ("inventory_policy",)))
    if chosen == InventoryPolicy.PREORDER and available_from is None:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "A PREORDER product needs availableFrom.", ("available_from",)))
    elif chosen != InventoryPolicy.PREORDER and available_from is not None:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Only a PREORDER product takes availableFrom.", ("available_from",)))
    return {"inventory_policy": chosen, "available_from": available_from if chosen == InventoryPolicy.PREORDER else None}


# shipping, issue 19: a product's shipping weight (ProductInput.weightGrams), set after upsert_product
MAX_WEIGHT_GRAMS = 10_000_000


def check_weight_grams(weight_grams: int | None) -> int:
    """A unit's weight in grams: absent means 0 (upsertProduct replaces every value). INVALID_INPUT at weight_grams."""
    weight = weight_grams or 0
    if not 0 <= weight <= MAX_WEIGHT_GRAMS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"weightGrams must be 0 to {MAX_WEIGHT_GRAMS}.", ("weight_grams",))
    return weight


def set_weight_grams(*, product: Product, weight_grams: int | None) -> Product:
    """Give the (just upserted) product its weight; written with the unit of work (only when it changed)."""
    product.weight_grams = check_weight_grams(weight_grams)
    return product
