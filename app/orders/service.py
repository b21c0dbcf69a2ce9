"""Order actions on one order: placement (checked, planned, written), the status moves and the row lock.

Each runs inside the caller's unit of work and raises DomainError to refuse. What other domains
do when an order moves (open its payment, capture, invoice, settle) is not here: the flows in
app/flows/ call these actions and then theirs, so this module imports no other domain.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import namedtuple
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Integer, String, any_, bindparam, case, column, delete, func, literal_column, null, select, text, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode, Path, collect
from app.infra import rows
from app.infra.database import REFUSED, SelfCommit, UnitOfWork, driver_call, fetch_statement
from app.infra.faults import sqlstate
from app.orders import allocation, backorders, events, pickup, pricing, risk, sourcing
from app.orders.allocation import Candidate, Pick
from app.orders.enums import DeliveryType, OrderEventType, OrderStatus, PaymentMethod, PaymentStatus, SalesChannel
from app.orders.pricing import ShippingCharge, compute_totals, line_total
from app.orders.state_machine import check_transition
from app.validation import check_address, member_of, normalise_email
from models import Allocation, Customer, Order, OrderLine, Product, StockLevel
from models.holds import OrderHold
from models.orders import OrderEvent
from models.placement import PlacementAttempt

MAX_LINES = 100
MAX_QUANTITY = 10_000


@dataclass(frozen=True, slots=True)
class LineRequest:
    sku: str
    quantity: int
    customization: Any = None


@dataclass(frozen=True, slots=True)
class DeliveryMethod:
    """SHIP (the default) or PICKUP at the pickup point `warehouse_code` (click-and-collect, issue 19)."""

    type: DeliveryType = DeliveryType.SHIP
    warehouse_code: str | None = None


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
    # partner, issue 17: a bulk-imported order's reference at its marketplace (app/flows/imports.py), stored on the order
    external_reference: str | None = None
    marketplace: str | None = None
    # issue 19: click-and-collect (None: shipped) and the shipping rate chosen ("<CARRIER>:<SERVICE>"; None: the cheapest)
    delivery_method: DeliveryMethod | None = None
    shipping_method: str | None = None
    # fixes19b, issue 19 review F5: whether placement charges shipping (app/fulfilment/rates.py charge_placement). Only
    # placeOrder's customer chooses a method; an import (the marketplace priced it), a draft completion and an exchange's
    # replacement set False. The caller decides it, not the input: never in the fingerprint.
    charge_shipping: bool = True

    def fingerprint(self) -> str:
        """What makes two requests "the same input" for idempotency (the key itself excluded)."""
        body = asdict(self)
        body.pop("idempotency_key")
        body.pop("charge_shipping")
        # fixes19b, issue 19 review F8: the same order written two ways is the same input: a shipping method in any
        # case or padding (rates.parse_method's form), and {type: SHIP} without a warehouse (the default) as absent
        if body["shipping_method"] is not None:
            body["shipping_method"] = str(body["shipping_method"]).strip().upper()
        method = body["delivery_method"]
        if method is not None and str(method["type"]) == DeliveryType.SHIP and not method["warehouse_code"]:
            body["delivery_method"] = None
        for name in ("external_reference", "marketplace", "delivery_method", "shipping_method"):  # absent: the fingerprint stays as before
            if body[name] is None:
                body.pop(name)
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
    # pickup, issue 19: a PICKUP order's pickup point (app/orders/pickup.py), where all its units are reserved; None: shipped
    pickup_warehouse_id: uuid.UUID | None = None
    # sourcing, issue 19: the rules read with the catalogue, the request's facts and the explanation of `picks`
    routing: sourcing.Routing | None = None
    # backorders, issue 19: the demand beyond on-hand stock (BACKORDER / PREORDER products) and the receipts it claims
    backorder: backorders.Backorder | None = None
    # shipping, issue 19: the charge the placement flow decided (app/fulfilment/rates.py `charge_placement`); None: nothing charged
    shipping: ShippingCharge | None = None
    # fixes19b, issue 19 review F13: the shipping rates of the order's currency read with the catalogue (pricing.RATES_SQL
    # rows, in order; () without rates); None: not read (rates.charge_placement reads them then)
    shipping_rates: tuple[dict[str, Any], ...] | None = None
    # writes7, session 7: read with the catalogue (no statement of their own) — the active risk rules with their facts
    # about the email (app/orders/risk.py RULES_JSON_SQL; None: not read, `assess_placement` reads them), and the default
    # carrier's JSON text (app/fulfilment/carriers.py DEFAULT_CARRIER_SQL, '{}': none active; None: not read)
    risk_rules: list[risk.Rule] | None = None
    default_carrier: str | None = None
    carriers: str | None = None  # every carrier by code, JSON text read with the catalogue (rates.method_carrier_of)
    # session 8: the customer found or added by the catalogue's statement (`plan_placement(with_customer=True)`); None: not
    customer_id: uuid.UUID | None = None

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


# the statement per channel (and with or without the risk rules), built once (building it costs more than sending it)
_CATALOGUE_READS: dict[tuple[SalesChannel, bool, bool], Any] = {}
_CandidateRow = namedtuple("_CandidateRow", [column.key for column in allocation.CANDIDATE_COLUMNS])  # type: ignore[misc]


# writes7, session 7: the carrier the delivery promise assumes before one is chosen (app/fulfilment/carriers.py
# `default_rules`: the default one, else the first active by code) as JSON text, parsed by carriers.default_of;
# '{}' without an active carrier.
DEFAULT_CARRIER_SQL = """coalesce((SELECT json_build_object('code', c.code, 'transit_days', c.transit_days,
    'default_transit_days', c.default_transit_days, 'cutoff_time', c.cutoff_time, 'timezone', c.timezone)::text
  FROM carriers c WHERE c.active ORDER BY c.is_default DESC, c.code LIMIT 1), '{}')"""
# Every carrier by code (active or not, as `rates.method_carrier` looks it up), JSON text parsed by
# rates.method_carrier_of: the charged method's carrier comes with the catalogue too (no statement of its own, so a
# placement sends as many statements with shipping rates as without; issue 19 review F13).
CARRIERS_SQL = """coalesce((SELECT json_object_agg(c.code, json_build_object('code', c.code, 'transit_days', c.transit_days,
    'default_transit_days', c.default_transit_days, 'cutoff_time', c.cutoff_time, 'timezone', c.timezone))::text
  FROM carriers c), '{}')"""


# session 8: the customer found or added by the catalogue's statement (`_read_catalogue` with `customer_email`), as
# `customer_first` does it in a statement of its own: the same insert (ON CONFLICT DO NOTHING, nothing locked) in a
# data-modifying CTE, the id on the first row (NULL: a concurrent insert of that new email committed meanwhile).
_ADDED_CUSTOMER = (pg_insert(Customer).values(id=bindparam("customer_id"), email=bindparam("customer_email", type_=String))
                   .on_conflict_do_nothing(index_elements=[Customer.email]).returning(Customer.id).cte("added_customer"))


def _catalogue_read(channel: SalesChannel, with_risk: bool, with_customer: bool = False) -> Any:
    statement = _CATALOGUE_READS.get((channel, with_risk, with_customer))
    if statement is None:
        # The product's stock levels as a LATERAL subquery that cannot be flattened (OFFSET 0): the plan looks them up by
        # the product's SKU (index) even as the generic plan PostgreSQL keeps for the prepared statement after five runs;
        # as a plain join that plan hashed every stock level (session 9: 1.8 ms against 0.6 ms per placement on the
        # benchmark's 2,000 levels, and more with more).
        # The products too come from a subquery, LIMITed to the number of SKUs asked for (`sku_count`, a no-op): with a
        # parameter LIMIT the generic plan counts on few rows, so PostgreSQL keeps it instead of planning every execution
        # anew (~1 ms each; without the LIMIT it estimated ten products, and the custom plan won). Named `products`, as
        # the SQL texts below (RATES_SQL) name it.
        products = (select(*Product.__table__.columns).where(Product.sku == any_(bindparam("skus", type_=ARRAY(String))))
                    .limit(bindparam("sku_count", type_=Integer)).subquery("products"))
        stock = (select(*allocation.CANDIDATE_COLUMNS).select_from(allocation.candidate_join(channel))
                 .where(StockLevel.sku == products.c.sku).offset(literal_column("0")).lateral("stock"))
        first_row = func.row_number().over() == 1
        # writes7, session 7: the risk rules (bind parameter :email) and the default carrier, on the first row
        rules = (case((first_row, text(risk.RULES_JSON_SQL).bindparams(bindparam("email", type_=String))
                       .columns(column("rules", String)).scalar_subquery())) if with_risk else null()).label("risk_rules")
        carrier = case((first_row, literal_column(DEFAULT_CARRIER_SQL, String))).label("default_carrier")
        every_carrier = case((first_row, literal_column(CARRIERS_SQL, String))).label("carriers")
        customer = (case((first_row, func.coalesce(
            select(_ADDED_CUSTOMER.c.id).scalar_subquery(),
            select(Customer.id).where(Customer.email == bindparam("customer_email", type_=String)).scalar_subquery())))
            if with_customer else null()).label("customer_id")
        statement = (
            select(*products.c, *stock.c,
                   literal_column(sourcing.SNAPSHOT_SQL, String).label("sourcing"),  # sourcing, issue 19
                   literal_column(pricing.RATES_SQL, String).label("shipping_rates"),  # shipping (review F13): no statement of its own
                   rules, carrier, every_carrier, customer)
            .select_from(products).outerjoin(stock, true())
            .order_by(products.c.sku, stock.c.warehouse_id)
        )
        if with_customer:
            statement = statement.add_cte(_ADDED_CUSTOMER)
        _CATALOGUE_READS[(channel, with_risk, with_customer)] = statement
    return statement


@dataclass(frozen=True, slots=True)
class _Catalogue:
    products: dict[str, Product]
    candidates: list[Candidate]
    rules: sourcing.Snapshot
    shipping_rates: tuple[dict[str, Any], ...]
    risk_rules: list[risk.Rule] | None
    default_carrier: str | None
    carriers: str | None
    customer_id: uuid.UUID | None = None


# Session 9: the detached Product of a catalogue row, kept by the row's every value (updated_at included, so a changed
# product is a new entry): building one costs ~3 % of a placement's CPU, and the same few products come back all day.
# Placement only reads them (detached, in no session: nothing flushes or attaches them), so requests may share one.
_PRODUCTS: dict[tuple[Any, ...], Product] = {}
_PRODUCTS_KEPT = 4096


def _product_of(writer: rows.RowWriter, values: tuple[Any, ...]) -> Product:
    try:
        found = _PRODUCTS.get(values)
    except TypeError:  # a value that cannot be a key (none today): built every time
        return cast(Product, writer.instance(values))
    if found is None:
        if len(_PRODUCTS) >= _PRODUCTS_KEPT:
            _PRODUCTS.clear()
        found = _PRODUCTS[values] = writer.instance(values)
    return found


async def _read_catalogue(uow: UnitOfWork, request: PlaceOrderRequest, channel: SalesChannel, email: str | None,
                          customer_email: str | None = None) -> _Catalogue:
    """ONE statement, no lock: the products of the request's SKUs, each with its stock levels in the warehouses
    serving the channel (and their priority, country, code: what allocation and the delivery promise need), and
    the sourcing rules with the default carrier's transit table (issue 19: on one row, NULL without rules), and the
    shipping rates of the products' currency (one row too, NULL without rates: app/orders/pricing.py RATES_SQL),
    the active risk rules with their facts about `email` (None: not read) and the default carrier (writes7, session 7:
    the first row). Sent by the driver (issue 16); the products come back as whole detached `Product` objects (every column of
    the mapped table, through SQLAlchemy's result processing: app/infra/rows.py), not kept in the session.

    `customer_email` (session 8): the same statement also finds or adds that customer, as `customer_first` would in a
    statement of its own, and is sent before the unit's transaction begins (committed on its own, so a new customer's
    row is never held by a placement waiting on a stock row); one statement fewer per placement. Should the
    transaction have begun already, the catalogue is read in it without the customer (the placement then finds or adds
    the customer itself)."""
    skus = sorted({line.sku.strip() for line in request.lines})
    records = None
    if customer_email is not None:
        records = await uow.fetch_statement(_catalogue_read(channel, email is not None, with_customer=True),
                                            {"skus": skus, "sku_count": len(skus), "email": email, "customer_id": uuid.uuid4(),
                                             "customer_email": customer_email},
                                            before_transaction=True)
    if records is None:
        records = await uow.fetch_statement(_catalogue_read(channel, email is not None), {"skus": skus, "sku_count": len(skus), "email": email})
    products_writer = rows.writer_for(Product, uow.dialect)
    width = len(products_writer.returned)
    stock_width = len(allocation.CANDIDATE_COLUMNS)
    at = products_writer.position["sku"]
    products: dict[str, Product] = {}
    candidates: list[Candidate] = []
    snapshot: str | None = None
    rates_text: str | None = None
    risk_text: str | None = None
    carrier_text: str | None = None
    carriers_text: str | None = None
    customer_id: uuid.UUID | None = None
    for record in records:
        values = tuple(record)
        if values[at] not in products:
            products[values[at]] = _product_of(products_writer, values[:width])
        stock: Any = _CandidateRow(*values[width:width + stock_width])
        if stock.id is not None:
            candidates.append(allocation.candidate_of(stock))
        snapshot = snapshot if snapshot is not None else values[width + stock_width]  # sourcing, issue 19: on one row
        rates_text = rates_text if rates_text is not None else values[width + stock_width + 1]  # shipping: on one row
        risk_text = risk_text if risk_text is not None else values[width + stock_width + 2]
        carrier_text = carrier_text if carrier_text is not None else values[width + stock_width + 3]
        carriers_text = carriers_text if carriers_text is not None else values[width + stock_width + 4]
        customer_id = customer_id if customer_id is not None else values[width + stock_width + 5]
    return _Catalogue(products, candidates, sourcing.snapshot_of(snapshot), pricing.rates_of(rates_text),
                      risk.rules_of(risk_text) if risk_text is not None else None, carrier_text,
                      carriers_text, customer_id)


def _resolve_lines(request: PlaceOrderRequest, products: dict[str, Product]) -> list[ResolvedLine]:
    """Catalogue lookup; duplicate SKUs with the same customization merge into one line."""
    errors = [
        DomainError(ErrorCode.NOT_FOUND, f"Unknown SKU {line.sku!r}.", ("lines", i, "sku"))
        for i, line in enumerate(request.lines)
        if line.sku.strip() not in products
    ]
    collect(errors)
    merged: dict[tuple[str, str], ResolvedLine] = {}
    for i, line in enumerate(request.lines):
        key = (line.sku.strip(), "null" if line.customization is None else json.dumps(line.customization, sort_keys=True))
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


async def existing_for_key(uow: UnitOfWork, request: PlaceOrderRequest) -> Order | None:
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


# The customer by email, added if new, in one statement that locks nothing: an existing customer's row is not
# updated (ON CONFLICT DO NOTHING), so concurrent orders of one customer never queue on it, and a placement
# waiting on a stock row holds no customer lock. Only a brand-new email inserted concurrently by another
# transaction (committed after this statement's snapshot) finds no row: then the locking upsert decides.
_FIND_OR_ADD_CUSTOMER = text("""
WITH added AS (INSERT INTO customers (id, email) VALUES (:id, :email) ON CONFLICT (email) DO NOTHING RETURNING id)
SELECT id FROM added UNION ALL SELECT id FROM customers WHERE email = :email
""")
_UPSERT_CUSTOMER = (
    pg_insert(Customer)
    .values(id=bindparam("id"), email=bindparam("email"))
    .on_conflict_do_update(index_elements=[Customer.email], set_={"email": bindparam("email")})
    .returning(Customer.id)
)


_CUSTOMER_BY_EMAIL = text("SELECT id FROM customers WHERE email = :email")


async def _customer_id(uow: UnitOfWork, email: str) -> uuid.UUID:
    params = {"id": uuid.uuid4(), "email": email}
    found = (await uow.session.execute(_FIND_OR_ADD_CUSTOMER, params)).scalars().first()
    if found is None:  # added meanwhile by a transaction that has committed since (its insert made ours wait): read again
        found = (await uow.session.execute(_CUSTOMER_BY_EMAIL, params)).scalars().first()
    if found is not None:
        return found
    return (await uow.session.execute(_UPSERT_CUSTOMER, params)).scalar_one()  # that transaction rolled back


_FIND_OR_ADD_CUSTOMER_RAW = (
    "WITH added AS (INSERT INTO customers (id, email) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING RETURNING id) "
    "SELECT id FROM added UNION ALL SELECT id FROM customers WHERE email = $2"
)


async def customer_first(uow: UnitOfWork, request: PlaceOrderRequest) -> uuid.UUID | None:
    """The customer of a valid request, found or added in one statement committed on its own BEFORE the placement's
    transaction begins, on the unit's own connection (`UnitOfWork.fetch_before_transaction`: no second pooled
    connection): a new customer's row is then never held uncommitted by a placement that waits on a stock row (other
    placements by that customer would queue behind it). Raises the request's input errors (those the placement
    would); None when it was not found that way (the transaction had begun, or a concurrent insert of the same new
    email committed meanwhile): the placement then finds or adds the customer itself (`_customer_id`)."""
    email = _check(request).email
    found = await uow.fetch_before_transaction(_FIND_OR_ADD_CUSTOMER_RAW, (uuid.uuid4(), email))
    return found[0][0] if found else None


def _demand(lines: list[ResolvedLine]) -> tuple[dict[str, int], dict[str, Path]]:
    demand: dict[str, int] = {}
    sku_paths: dict[str, Path] = {}
    for line in lines:
        if not line.product.made_to_order:  # made to order: produced for the order, no stock needed
            demand[line.product.sku] = demand.get(line.product.sku, 0) + line.quantity
            sku_paths.setdefault(line.product.sku, (*line.path, "sku"))
    return demand, sku_paths


def customer_with_catalogue(request: PlaceOrderRequest) -> bool:
    """Whether `plan_placement(with_customer=True)` can find or add the customer with the catalogue before the transaction
    begins: no statement comes before that read (no idempotency key to look up, no pickup point to read)."""
    method = request.delivery_method
    return not request.idempotency_key and (method is None or pickup.delivery_type_of(method) != DeliveryType.PICKUP)


async def plan_placement(*, uow: UnitOfWork, request: PlaceOrderRequest, with_risk: bool = False,
                         with_customer: bool = False) -> Order | Placement:
    """Check the request, look its lines and their stock up in the catalogue (one statement, nothing locked)
    and plan where each unit is reserved. Refuses with every input problem at once, or OUT_OF_STOCK.
    The units are reserved later, in one statement (`reserve_for_order` / `hold_stock`). `with_risk`: the risk
    rules are read with the catalogue too (`Placement.risk_rules`; the one-transaction path assesses with them).
    `with_customer`: the customer is found or added by the catalogue's statement (`Placement.customer_id`; see
    `_read_catalogue`), in place of `customer_first`'s statement.

    A request repeated with its idempotency key gets the order the first one placed instead."""
    checked = _check(request)
    existing = await existing_for_key(uow, request)
    if existing is not None:
        return existing
    pickup_at = await pickup.pickup_point(uow, request.delivery_method, checked.channel)  # pickup, issue 19 (None: shipped, nothing read)
    catalogue = await _read_catalogue(uow, request, checked.channel, checked.email if with_risk else None,
                                      checked.email if with_customer else None)
    products, candidates, rules, shipping_rates = catalogue.products, catalogue.candidates, catalogue.rules, catalogue.shipping_rates
    lines = _resolve_lines(request, products)
    demand, sku_paths = _demand(lines)
    candidates = [c for c in candidates if c.sku in demand]
    candidates = pickup.restrict(candidates, pickup_at)  # pickup, issue 19: a PICKUP order reserves at its pickup point only
    routing = _routing(checked, rules)
    demand, backorder = await backorders.split(uow, products=products.values(), demand=demand,  # backorders, issue 19
                                               candidates=routing.usable(candidates), sku_paths=sku_paths)  # the rule's exclusions dropped
    picks = pickup.plan(routing, demand, candidates, sku_paths, pickup_at)  # sourcing, issue 19 (no rules: plan_allocation); transfers: store first
    return replace(checked, lines=lines, candidates=candidates, picks=picks, pickup_warehouse_id=pickup_at, routing=routing, backorder=backorder,
                   shipping_rates=shipping_rates, risk_rules=catalogue.risk_rules, default_carrier=catalogue.default_carrier,
                   carriers=catalogue.carriers, customer_id=catalogue.customer_id)


def _routing(placement: Placement, rules: sourcing.Snapshot) -> sourcing.Routing:
    """The sourcing rules of this placement with its channel, destination and delivery type (issue 19)."""
    method = placement.request.delivery_method
    store = (method.warehouse_code or "").strip() or None if method is not None and pickup.delivery_type_of(method) == DeliveryType.PICKUP else None
    return sourcing.Routing(rules, placement.channel, placement.destination_country,
                            method.type if method is not None else DeliveryType.SHIP, keep=store)  # pickup, issue 19: never excluded


async def replan_locked(*, uow: UnitOfWork, placement: Placement) -> Placement:
    """Stock moved since the snapshot: lock the candidate rows (global order) and plan again on current figures
    (OUT_OF_STOCK if they no longer suffice). The caller reserves with `allocation.reserve`."""
    demand, sku_paths = _demand(placement.lines)
    candidates = await allocation.lock_candidates(uow.session, skus=sorted(demand), channel=placement.channel)
    candidates = pickup.restrict(candidates, placement.pickup_warehouse_id)  # pickup, issue 19
    routing = placement.routing or _routing(placement, sourcing.NO_RULES)  # the snapshot's rules: its explanation is rewritten
    demand, backorder = await backorders.split(uow, products=[line.product for line in placement.lines], demand=demand,  # backorders, issue 19
                                               candidates=routing.usable(candidates), sku_paths=sku_paths, lock=True)
    picks = pickup.plan(routing, demand, candidates, sku_paths, placement.pickup_warehouse_id)  # transfers, issue 19: the store first
    return replace(placement, candidates=candidates, picks=picks, routing=routing, backorder=backorder)


def totals_of(placement: Placement) -> Any:
    """The order's totals from catalogue prices (net per line, VAT rounded once per rate), with its shipping charge
    (issue 19: its VAT follows the goods' rates, app/orders/pricing.py)."""
    shipping = placement.shipping.net if placement.shipping is not None else Decimal("0.00")
    priced = tuple((line.product.price, line.quantity, line.product.tax_rate) for line in placement.lines)
    key = (shipping, priced)
    if _last_totals and _last_totals[0] == key:  # the same placement's again (its risk assessment, then its write)
        return _last_totals[1]
    totals = compute_totals(((line_total(price, quantity), rate) for price, quantity, rate in priced), shipping, tax_shipping=True)
    _last_totals[:] = (key, totals)
    return totals


_last_totals: list[Any] = []  # totals_of's last (key, totals), by value: a placement asks twice (another in between: computed again)


# A stocked (not made-to-order) line of a new order: (line id, sku, quantity), in position order.
StockedLine = tuple[uuid.UUID, str, int]


def per_line(picks: list[Pick], lines: list[StockedLine]) -> list[tuple[uuid.UUID, Pick]]:
    """The allocations of a new order: its SKU-level picks split over its stocked lines, in position order
    (two lines of one SKU with different customizations each get exactly their own units, so a line-level
    release gives back exactly that line's). Each pair is (order line id, the pick's share for that line)."""
    return allocation.split_over_lines(picks, lines, "the plan")


async def write_order(
    *, uow: UnitOfWork, placement: Placement, estimated_delivery_date: date | None, serial: int | None = None,
    payment_status: PaymentStatus = PaymentStatus.UNPAID, customer_id: uuid.UUID | None = None, risk: dict[str, Any] | None = None,
    allocate: list[Pick] | None = None, before_insert: Callable[[Order], Sequence[Any]] | None = None, defer: bool = False,
) -> tuple[Order, list[StockedLine]]:
    """The PENDING order and its lines (written: number and timestamps come back); its stocked lines. `risk`: its
    risk_* column values (app/orders/risk.py `risk_columns`), written with the order. `allocate`: picks already
    reserved (a card placement's hold) whose allocations are written with the lines, in the same statement.
    `before_insert`: called with the order built but not yet written (its events may be recorded, its columns
    changed); the rows it returns (other tables', e.g. a hold) are written with the order, in the same statement.
    `defer` (session 9): nothing is sent; `reserve_for_order(lock_first=False)` writes the order and these rows with the
    reservation, in its statement (the order has no number or timestamps until then)."""
    request, lines = placement.request, placement.lines
    priced = [(line, line_total(line.product.price, line.quantity)) for line in lines]
    totals = totals_of(placement)
    order = rows.construct(  # Order(...) without the attribute events (issue 16, session 8)
        Order,
        id=uuid.uuid4(),
        status=OrderStatus.PENDING,
        payment_status=payment_status,
        payment_method=placement.payment_method,
        channel=placement.channel,
        customer_id=customer_id or await _customer_id(uow, placement.email),
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
        external_reference=request.external_reference, marketplace=request.marketplace,
        **pickup.order_columns(placement.pickup_warehouse_id),  # pickup, issue 19
        **(risk or {}),
        # shipping, issue 19
        shipping_method=placement.shipping.method if placement.shipping is not None else None, shipping_tax=totals.shipping_tax,
    )
    if serial is not None:
        order.serial = serial
    order_lines = [
        rows.construct(
            OrderLine, id=uuid.uuid4(), order_id=order.id, position=position, product_id=line.product.id, sku=line.product.sku,
            product_name=line.product.name, quantity=line.quantity, unit_price=line.product.price, currency=line.product.currency,
            tax_rate=line.product.tax_rate, total=amount, made_to_order=line.product.made_to_order,
            customization=line.customization,
        )
        for position, (line, amount) in enumerate(priced)
    ]
    stocked = [(line.id, line.sku, line.quantity) for line in order_lines if not line.made_to_order]
    allocations = _allocations(order, per_line(allocate, backorders.on_hand_lines(allocate, placement.backorder, stocked))) if allocate else []
    extra = list(before_insert(order)) if before_insert is not None else []
    if defer and not allocations:  # written by the reservation's statement (`reserve_for_order`): nothing sent here
        uow.deferred = _DeferredOrder(order, order_lines, extra)
        return order, stocked
    await _write_rows(uow, order, order_lines, allocations, extra)
    return order, stocked


async def _write_rows(uow: UnitOfWork, order: Order, lines: list[OrderLine], allocations: list[Allocation], extra: Sequence[Any]) -> None:
    """The order and its rows in one driver statement (`_insert_order`), or through the ORM when it cannot."""
    if not await _insert_order(uow, order, lines, allocations, extra):
        uow.session.add(order)
        uow.session.add_all(lines)
        uow.session.add_all(allocations)
        uow.session.add_all(extra)
        await uow.session.flush()  # order number and timestamps come back from the server


async def _insert_order(uow: UnitOfWork, order: Order, lines: list[OrderLine], allocations: list[Allocation],
                        extra: Sequence[Any] = ()) -> bool:
    """The order and its lines in ONE driver statement (issue 16: no ORM flush), the column lists derived from the
    mapped tables (app/infra/rows.py), the order's row read back whole (number, timestamps, server defaults) and the
    order made persistent in the session (later changes to it flush as usual); the lines are not kept in the session
    (nothing in placement reads them back; a query loads them), nor are the `extra` rows (one INSERT per class, in
    the order given: e.g. a RISK_REVIEW hold). Also learns the transaction's id (the events need it).
    False (nothing sent) when the tables' defaults cannot be reproduced: the caller flushes through the ORM instead."""
    built = _order_ctes(uow.dialect, order, lines, allocations, extra, 1)
    if built is None:
        return False
    row = (await uow.fetch("WITH " + built[0] + " SELECT * FROM o", built[1]))[0]
    _adopted(uow, order, row)
    return True


def _adopted(uow: UnitOfWork, order: Order, row: Sequence[Any]) -> None:
    """The order's row as `o` returned it (every column, then the transaction's id) set on it, persistent in the session
    (detached, as it will be once the session closes, when the statement committed on its own: nothing follows it)."""
    writer = rows.writer_for(Order, uow.dialect)
    if uow.self_commit is not None and uow.self_commit.done:
        writer.load(order, row)
    else:
        writer.adopt(uow.session, order, row)
        uow.adopted.append(order)
    uow.xid = int(row[len(Order.__table__.columns)])


def _order_ctes(dialect: Any, order: Order, lines: Sequence[OrderLine], allocations: Sequence[Allocation], extra: Sequence[Any],
                start: int, computed: dict[str, str] | None = None) -> tuple[str, list[Any]] | None:
    """The order's INSERT as CTE `o` (RETURNING every column and the transaction's id) and its lines', allocations'
    and `extra` rows' as CTEs c0, c1, ... (foreign keys are checked at the statement's end), parameters numbered from
    `start`; `computed`: columns given by an SQL expression instead of the object's value. None when the tables'
    defaults cannot be reproduced (app/infra/rows.py)."""
    orders_writer = rows.writer_for(Order, dialect)
    by_class: dict[type, list[Any]] = {}
    for obj in extra:
        by_class.setdefault(type(obj), []).append(obj)
    groups: list[Sequence[Any]] = [lines, allocations, *by_class.values()]
    children = [(rows.writer_for(type(group[0]), dialect), group) for group in groups if group]
    if not orders_writer.usable or not all(writer.usable for writer, _ in children):
        return None
    names, given = orders_writer.values(order)
    cells: list[str] = []
    values: list[Any] = []
    for name, value in zip(names, given, strict=True):
        if computed and name in computed:
            cells.append(computed[name])
        else:
            values.append(value)
            cells.append(f"${start + len(values) - 1}")
    for name, expression in (computed or {}).items():
        if name not in names:
            names += (name,)
            cells.append(expression)
    sql = f"o AS ({orders_writer.insert_head(names)}({', '.join(cells)}) RETURNING {orders_writer.returning}, pg_current_xact_id()::text::bigint)"
    for index, (writer, group) in enumerate(children):
        many = rows.multi_row(writer, group, start + len(values))
        if many is None:
            return None
        sql += f", c{index} AS ({many[0]})"
        values += many[1]
    return sql, values


@dataclass(slots=True)
class _DeferredOrder:
    """A new order built by `write_order(defer=True)`, written by the reservation's statement (`reserve_for_order`)."""

    order: Order
    lines: list[OrderLine]
    extra: list[Any]


async def _write_deferred(uow: UnitOfWork) -> None:
    """Rows deferred to the reservation written by a statement of their own after all (that statement cannot take them)."""
    deferred, uow.deferred = uow.deferred, None
    await _write_rows(uow, deferred.order, deferred.lines, [], deferred.extra)


async def _write_and_reserve(uow: UnitOfWork, placement: Placement, stocked: list[StockedLine]) -> bool | None:
    """The deferred order, its lines and rows, its queued events and the reservation of its picks in ONE statement
    (allocation.WRITE_AND_RESERVE; session 9: one statement fewer, and the order's row written once, its change_seq
    already the events' last number). True: written and reserved; False: a level was short (nothing written: the
    statement raised; a transaction it ran in is aborted, the caller rolls back); None: nothing sent (the statement
    cannot take these rows). Session 11: when nothing is to be written after it, it commits on its own if nothing began
    the unit's transaction (`UnitOfWork.fetch_committing`: no BEGIN, no COMMIT)."""
    deferred: _DeferredOrder = uow.deferred
    order = deferred.order
    queued = uow.event_arrays(id_assigned_first=True)  # the statement's first write is the stock raise, before any number
    if queued is None or not placement.picks or any(e["order_id"] != order.id for e in uow.pending_events):
        return None
    dialect = uow.dialect
    params = allocation.write_and_reserve_params(
        placement.picks, actor=uow.actor, order_id=order.id,
        allocations=per_line(placement.picks, backorders.on_hand_lines(placement.picks, placement.backorder, stocked)))
    params.update(queued)
    sql, args = driver_call(allocation.WRITE_AND_RESERVE, dialect, params)
    built = _order_ctes(dialect, order, deferred.lines, [], deferred.extra, len(args) + 1,
                        computed={"change_seq": "(SELECT coalesce(max(seq), 0) FROM ev)", "updated_at": "clock_timestamp()"})
    if built is None:
        return None
    uow.deferred = None

    statement, values = sql.replace("__ORDER__", built[0], 1), args + built[1]
    # Session 11: nothing is written after this statement when the order claims no receipts (backorders.claim_for_order
    # has nothing to do): then it commits on its own if nothing began the transaction (the catalogue's statement did not)
    alone = placement.backorder is None or not placement.backorder.claims

    async def send() -> bool:
        try:
            if alone:
                found = await uow.fetch_committing(statement, values, SelfCommit(_ORDER_WRITTEN, {"id": order.id}, _recover_placed(order.id)))
            else:
                found = await uow.fetch(statement, values)
        except DBAPIError as exc:
            if sqlstate(exc) == REFUSED:  # a level was short: nothing written (the transaction, if any, is aborted)
                return False
            raise
        row = found[0]
        seqs = row[-1]
        _adopted(uow, order, row)
        uow.events_written([(seq, order.id, order.change_seq, order.updated_at) for seq in seqs])
        allocation.notify_picks(uow.notices, placement.picks)
        return True

    # through the reservation's entry point, whose `write` sends it (what watches reservations sees this one too)
    return await allocation.reserve_at_once(uow.opened, uow.notices, picks=placement.picks, actor=uow.actor, reference="",
                                            order_id=order.id, write=send)


_ORDER_WRITTEN = text("SELECT EXISTS (SELECT 1 FROM orders WHERE id = :id)")


def _recover_placed(order_id: uuid.UUID) -> Callable[[AsyncSession], Awaitable[tuple[Order, list[dict[str, Any]]]]]:
    """A placement that committed with its write-and-reserve statement although the reply was lost: the order and the
    events that statement wrote (all of the new order's), read back."""

    async def recover(session: AsyncSession) -> tuple[Order, list[dict[str, Any]]]:
        order = (await session.execute(select(Order).where(Order.id == order_id))).scalar_one()
        written = (await session.execute(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.seq))).scalars()
        return order, [{"seq": e.seq, "order_id": e.order_id, "type": e.type, "status": e.status, "previous_status": e.previous_status,
                        "channel": e.channel, "actor": e.actor, "data": e.data} for e in written]

    return recover


def _record_placed(uow: UnitOfWork, order: Order, placement: Placement) -> None:
    data: dict[str, Any] = {"lines": len(placement.lines), "total": str(order.total), "currency": order.currency}
    if placement.routing is not None and placement.routing.snapshot.rules:
        # sourcing, issue 19: why these warehouses. The routing's own dict: a locked re-plan after this (stock moved
        # since the snapshot) rewrites it before the event is written at commit, so it explains the plan reserved.
        data["sourcing"] = placement.routing.explanation
    events.record(uow, order, OrderEventType.PLACED, previous_status=None, data=data)


async def create_order(
    *, uow: UnitOfWork, placement: Placement, estimated_delivery_date: date | None, customer_id: uuid.UUID | None = None,
    risk: dict[str, Any] | None = None, after_placed: Callable[[Order], Sequence[Any]] | None = None, defer: bool = False,
) -> tuple[Order, list[StockedLine]]:
    """Write a planned placement: the PENDING order, its lines and the PLACED event; its units are reserved by
    `reserve_for_order`, which the caller sends as late as it can (the stock rows stay locked from there to the
    commit). Returns the order and its stocked lines.

    `after_placed`: called with the order built, after its PLACED event and before it is written (e.g.
    app/orders/holds.py `apply_risk_to_new_order`); the rows it returns are written with the order, in its statement."""

    def placed(order: Order) -> Sequence[Any]:
        _record_placed(uow, order, placement)  # (the event's values are the built order's: the same once written)
        return after_placed(order) if after_placed is not None else ()

    return await write_order(uow=uow, placement=placement, estimated_delivery_date=estimated_delivery_date,
                             customer_id=customer_id, risk=risk, before_insert=placed, defer=defer)


def _allocations(order: Order, shares: list[tuple[uuid.UUID, Pick]]) -> list[Allocation]:
    return [Allocation(id=uuid.uuid4(), order_id=order.id, order_line_id=line_id, warehouse_id=p.warehouse_id, sku=p.sku, quantity=p.quantity)
            for line_id, p in shares]


class StockMoved(Exception):
    """The one-statement reservation found a level short: stock moved since the snapshot. That statement has locked
    the planned rows, so re-planning in the same transaction would lock the SKUs' other rows in a second statement,
    out of the global order when another placement does the same: a deadlock (session 8: one of fifty concurrent
    placements over two processes answered an internal error after its five attempts all deadlocked). The caller
    rolls back and runs the placement again with `lock_first=True` (`app/flows/placement.py`)."""


async def reserve_for_order(*, uow: UnitOfWork, order: Order, placement: Placement, stocked: list[StockedLine],
                            lock_first: bool | None = None) -> Placement:
    """Reserve the order's units with its allocations (one per line and warehouse) in one statement; should stock
    have moved since the snapshot, re-plan on locked rows (OUT_OF_STOCK if they no longer suffice). Returns the
    placement as reserved (its picks differ when it was re-planned).

    `lock_first`: None, re-plan in this transaction after a short reservation (callers whose transaction holds other
    locks already, or that place an order inside a larger one: an exchange's replacement, the demo seed; imports and
    drafts go through `placement.place`); False, raise StockMoved instead (the caller retries with
    True); True, re-plan on locked rows at once (one statement locks every candidate row, in the global order: as
    the transaction's first stock lock it cannot deadlock with another placement's)."""
    if uow.deferred is not None:  # the order waits for this statement (`write_order(defer=True)`, lock_first False)
        written = await _write_and_reserve(uow, placement, stocked) if lock_first is False and uow.deferred.order is order else None
        if written is False:
            raise StockMoved
        if written:
            return await backorders.claim_for_order(uow=uow, order_id=order.id, placement=placement, stocked=stocked)
        await _write_deferred(uow)
    if not lock_first:
        # lock_first False: a short reservation rolls the unit back, so the statement may write its queued events too
        if await allocation.reserve_at_once(uow.session, uow.notices, picks=placement.picks, actor=uow.actor, reference=order.number,
                                            order_id=order.id, events=uow if lock_first is False else None,
                                            allocations=per_line(placement.picks, backorders.on_hand_lines(placement.picks, placement.backorder, stocked))):
            return await backorders.claim_for_order(uow=uow, order_id=order.id, placement=placement, stocked=stocked)  # backorders, issue 19
        if lock_first is False:
            raise StockMoved
    placement = await replan_locked(uow=uow, placement=placement)
    uow.session.add_all(_allocations(order, per_line(placement.picks, backorders.on_hand_lines(placement.picks, placement.backorder, stocked))))
    await allocation.reserve(uow.session, uow.notices, picks=placement.picks, candidates=placement.candidates, actor=uow.actor,
                             reference=order.number)
    return await backorders.claim_for_order(uow=uow, order_id=order.id, placement=placement, stocked=stocked)  # backorders, issue 19


async def write_held_order(
    *, uow: UnitOfWork, placement: Placement, estimated_delivery_date: date | None, serial: int, payment_status: PaymentStatus,
    customer_id: uuid.UUID | None = None, risk: dict[str, Any] | None = None,
) -> Order:
    """A card placement's second step: its stock is already reserved (held since the first step), so this writes
    the order (with the payment status its approved card gives it), its lines and allocations and the PLACED
    event without touching a stock row."""
    order, stocked = await write_order(uow=uow, placement=placement, estimated_delivery_date=estimated_delivery_date, serial=serial,
                                       payment_status=payment_status, customer_id=customer_id, risk=risk, allocate=placement.picks)
    backorders.add_claim_allocations(session=uow.session, order_id=order.id, placement=placement, stocked=stocked)  # backorders, issue 19
    _record_placed(uow, order, placement)
    return order


# --- a card placement's hold (issue 16): the stock it reserves between its two transactions ---------------
# models/placement.py has the lifecycle: HELD (stock reserved, provider asked), then deleted (the order was
# written), DECLINED (the card was refused: stock given back; the record of the attempt) or RECOVERED (its
# process died between the steps: the expiry worker gave the stock back and voided the authorisation).
HELD, DECLINED, RECOVERED = "HELD", "DECLINED", "RECOVERED"


def number_of(serial: int) -> str:
    """The order number a serial gets (models.Order.number's expression)."""
    return "SO-" + str(serial).zfill(6)


async def next_serial(uow: UnitOfWork) -> int:
    return int((await uow.fetch("SELECT nextval('order_number_seq')", ()))[0][0])


async def recovered_attempts(uow: UnitOfWork, idempotency_key: str) -> int:
    """How many attempts with this client key the expiry worker recovered (their authorisations voided)."""
    return int((await uow.session.execute(
        select(func.count()).select_from(PlacementAttempt)
        .where(PlacementAttempt.idempotency_key == idempotency_key, PlacementAttempt.status == RECOVERED)
    )).scalar_one())


async def hold_stock(
    *, uow: UnitOfWork, placement: Placement, attempt_id: uuid.UUID, serial: int, provider_key: str, amount: Decimal,
    currency: str, hold_seconds: float, lock_first: bool = False,
) -> Placement:
    """Reserve a planned card placement's units and write its HELD row (one statement), the first step.
    Returns the placement as held. Stock moved since the snapshot: StockMoved (`lock_first` False: the caller runs
    the step again with True), or re-planned on locked rows (True; see `reserve_for_order`)."""
    values = {"attempt_id": attempt_id, "serial": serial, "idempotency_key": placement.request.idempotency_key or None,
              "provider_key": provider_key, "amount": amount, "currency": currency, "hold_seconds": float(hold_seconds)}
    reference = number_of(serial)
    if not lock_first and placement.picks:
        if await allocation.reserve_at_once(uow.session, uow.notices, picks=placement.picks, actor=uow.actor, reference=reference, hold=values):
            return await backorders.hold_claims(session=uow.session, placement=placement, attempt_id=attempt_id)  # backorders, issue 19
        raise StockMoved
    if placement.picks:
        placement = await replan_locked(uow=uow, placement=placement)
        await allocation.reserve(uow.session, uow.notices, picks=placement.picks, candidates=placement.candidates, actor=uow.actor,
                                 reference=reference)
    uow.session.add(PlacementAttempt(
        id=attempt_id, status=HELD, serial=serial, idempotency_key=values["idempotency_key"], provider_key=provider_key, amount=amount,
        currency=currency, expires_at=datetime.now(UTC) + timedelta(seconds=hold_seconds),
        picks=[{"stock_level_id": str(p.stock_level_id), "sku": p.sku, "warehouse_id": str(p.warehouse_id), "quantity": p.quantity}
               for p in placement.picks],
    ))
    return await backorders.hold_claims(session=uow.session, placement=placement, attempt_id=attempt_id)  # backorders, issue 19


async def take_hold(*, uow: UnitOfWork, attempt_id: uuid.UUID, email: str) -> list[risk.Rule] | None:
    """The second step on approval: the hold becomes the order's allocations (its row goes). None when it is no
    longer HELD (the expiry worker recovered it: the stock was given back); else the active risk rules with their
    facts about `email`, read by the same statement (writes7, session 7: as `risk.read_rules` reads them)."""
    records = await fetch_statement(uow.session, _TAKE_HOLD, {"attempt_id": attempt_id, "email": email})
    return risk.rules_of(records[0][1]) if records else None


_ATTEMPTS: Any = PlacementAttempt.__table__
_TAKE_HOLD = delete(_ATTEMPTS).where(_ATTEMPTS.c.id == bindparam("attempt_id"), _ATTEMPTS.c.status == HELD).returning(
    _ATTEMPTS.c.id, text(risk.RULES_JSON_SQL).bindparams(bindparam("email", type_=String)).columns(column("rules", String)).scalar_subquery())


async def release_hold(*, uow: UnitOfWork, attempt_id: uuid.UUID, status: str, reason: str) -> bool:
    """Give a HELD attempt's units back and mark it `status` (DECLINED / RECOVERED). False if it was not HELD."""
    row = (await uow.session.execute(
        update(PlacementAttempt).where(PlacementAttempt.id == attempt_id, PlacementAttempt.status == HELD)
        .values(status=status, reason=reason[:500]).returning(PlacementAttempt.picks, PlacementAttempt.serial)
    )).first()
    if row is None:
        return False
    await allocation.release_picks(uow.session, uow.notices, picks=allocation.picks_of(row.picks), actor=uow.actor,
                                   reference=number_of(row.serial), reason=reason)
    await backorders.release_held_claims(session=uow.session, attempt_id=attempt_id)  # backorders, issue 19
    return True


async def superseded(*, uow: UnitOfWork, provider_key: str) -> bool:
    """Whether the expiry worker recovered an attempt under this provider key (so its authorisation may be voided)."""
    found = await uow.session.execute(
        select(PlacementAttempt.id).where(PlacementAttempt.provider_key == provider_key, PlacementAttempt.status == RECOVERED).limit(1)
    )
    return found.first() is not None


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


async def open_holds(*, uow: UnitOfWork, order_id: uuid.UUID) -> list[OrderHold]:
    """The order's open holds, oldest first (app/orders/holds.py adds and releases them)."""
    return list((await uow.session.execute(
        select(OrderHold).where(OrderHold.order_id == order_id, OrderHold.released_at.is_(None))
        .order_by(OrderHold.created_at, OrderHold.id)
    )).scalars().all())


async def open_hold_reasons(*, uow: UnitOfWork, order: Order) -> list[str]:
    """The reasons an order ON_HOLD is held for; STAFF for one held before holds had rows (or forced there)."""
    held = [h.reason for h in await open_holds(uow=uow, order_id=order.id)]
    return held or (["STAFF"] if order.status == OrderStatus.ON_HOLD else [])


async def refuse_if_held(*, uow: UnitOfWork, order: Order, path: Path = ("order_id",)) -> None:
    """Nothing confirms or captures an order while it is on hold (issue 18): only releasing its last hold
    leaves ON_HOLD. INVALID_TRANSITION naming the holds."""
    if order.status == OrderStatus.ON_HOLD:
        reasons = ", ".join(await open_hold_reasons(uow=uow, order=order))
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"The order is on hold ({reasons}); release it first.", path)


async def confirm_order(*, uow: UnitOfWork, order_id: uuid.UUID, reason: str | None = None) -> Order:
    order = await get_for_update(uow=uow, order_id=order_id)
    await refuse_if_held(uow=uow, order=order)
    transition(uow, order, OrderStatus.CONFIRMED, data={"action": "confirm", "reason": reason})
    return order


async def cancel_order(*, uow: UnitOfWork, order_id: uuid.UUID, reason: str | None = None) -> Order:
    """Cancel and give back every unit the order still holds (the payments are billing's: app/flows/cancellation.py)."""
    order = await get_for_update(uow=uow, order_id=order_id)
    check_transition(order.status, OrderStatus.CANCELLED)
    released = await allocation.release(uow.session, uow.notices, order_id=order.id, actor=uow.actor, reference=order.number,
                                        reason=reason or "order cancelled")
    released += await backorders.release_claims(session=uow.session, order_id=order.id)  # backorders, issue 19
    for hold in await open_holds(uow=uow, order_id=order.id) if order.status == OrderStatus.ON_HOLD else []:  # held no more (issue 18)
        hold.released_at, hold.released_by, hold.release_note = datetime.now(UTC), uow.actor, "order cancelled"
    order.held_from = None
    transition(uow, order, OrderStatus.CANCELLED, data={"action": "cancel", "reason": reason, "releasedUnits": released})
    return order
