"""Changing a placed order's lines (issue 18): edits (`editOrder`) and line cancellations (`cancelOrderLines`).

The order side only: the plan (new lines and quantities, totals from the catalogue, where units are reserved or
released), checked against what is already on a pick list or shipped, and its writes (lines, allocations through
app/orders/allocation.py, totals, address, the `order_edits` record). Money and invoices are billing's; the use
cases in app/flows/edits.py and app/flows/line_cancellation.py put the two together in one unit of work.

- A plan reads everything it needs in a few statements, the stock without locks (a dry run is that plan only: nothing
  written, no sequence or provider touched). The real change (order row locked by the caller) then writes its lines
  and reserves/releases in ONE statement that locks the stock rows it changes, in the global (sku, warehouse) order,
  so a hot SKU's rows stay locked from there to the commit only; should stock have moved since the snapshot, it
  re-plans on locked rows (OUT_OF_STOCK if the units are no longer there), as placement does.
- Prices: lines already on the order keep the unit price and VAT rate they were sold at; added lines take the
  catalogue's current ones. Totals are recomputed over every line as at placement (net per line, VAT per rate).
- Lines are never deleted: a removed line keeps its row with quantity 0; `quantity_cancelled` counts the units taken
  off a line after placement (lowered, removed or cancelled), `quantity` is what is left.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text

from app.errors import DomainError, ErrorCode, Path, collect
from app.infra.database import UnitOfWork
from app.orders import allocation, events, pickup, sourcing
from app.orders.allocation import Candidate, Level, LinePick, Pick, Release
from app.orders.enums import DeliveryType, OrderEditKind, OrderEventType, OrderStatus, SalesChannel
from app.orders.pricing import Totals, compute_totals, line_total
from app.orders.service import MAX_LINES, MAX_QUANTITY, LineRequest
from app.validation import check_address
from models import Allocation, Order, OrderLine, Product
from models.edits import OrderEdit
from models.fulfilment import PickListLine

S = OrderStatus
# Orders whose unfulfilled lines may still change (a line itself must have nothing picked or shipped).
EDITABLE = frozenset({S.PENDING, S.CONFIRMED, S.PROCESSING, S.PARTIALLY_SHIPPED, S.ON_HOLD})
ZERO = Decimal("0.00")
EDIT_IDS = uuid.UUID("6f1c8d52-8f0e-4c47-9a53-3f1b7f0e1812")  # namespace of the uuid5 edit ids


@dataclass(frozen=True, slots=True)
class LineQuantity:
    """A line of the order and a quantity: its new quantity (edit; 0 removes it) or the units to cancel."""

    order_line_id: uuid.UUID
    quantity: int


@dataclass(frozen=True, slots=True)
class EditRequest:
    order_id: uuid.UUID
    add_lines: list[LineRequest] = field(default_factory=list)
    change_lines: list[LineQuantity] = field(default_factory=list)
    remove_lines: list[uuid.UUID] = field(default_factory=list)
    shipping_address: dict[str, Any] | None = None
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        body = asdict(self)
        body.pop("idempotency_key")
        return hashlib.sha256(json.dumps(["EDIT", body], sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CancelLinesRequest:
    order_id: uuid.UUID
    lines: list[LineQuantity]
    reason: str
    note: str | None = None
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        body = asdict(self)
        body.pop("idempotency_key")
        return hashlib.sha256(json.dumps(["LINE_CANCELLATION", body], sort_keys=True, default=str).encode()).hexdigest()


@dataclass(slots=True)
class PlannedLine:
    """One line of the order as it will be (existing: `row`; added: `row` None)."""

    line_id: uuid.UUID
    row: OrderLine | None
    position: int
    sku: str
    product_id: uuid.UUID
    product_name: str
    unit_price: Decimal
    currency: str
    tax_rate: Decimal
    made_to_order: bool
    customization: Any
    previous_quantity: int
    quantity: int

    @property
    def total(self) -> Decimal:
        return line_total(self.unit_price, self.quantity)

    @property
    def changed(self) -> bool:
        return self.quantity != self.previous_quantity


@dataclass(frozen=True, slots=True)
class StockMove:
    sku: str
    warehouse_code: str
    quantity: int


@dataclass(frozen=True, slots=True)
class PreviewLine:
    order_line_id: str | None  # None: a line a dry run would add
    sku: str
    product_name: str
    quantity: int
    previous_quantity: int
    unit_price: str
    total: str
    currency: str


@dataclass(frozen=True, slots=True)
class EditPreview:
    """What an edit (would) change: JSON-able, recorded on the `order_edits` row and replayed for a retry."""

    currency: str
    lines: list[PreviewLine]
    subtotal: str
    tax_total: str
    shipping_total: str
    total: str
    amount_due: str
    amount_to_refund: str
    stock_to_reserve: list[StockMove]
    stock_to_release: list[StockMove]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EditPreview:
        return cls(**{**data, "lines": [PreviewLine(**line) for line in data["lines"]],
                      "stock_to_reserve": [StockMove(**m) for m in data["stock_to_reserve"]],
                      "stock_to_release": [StockMove(**m) for m in data["stock_to_release"]]})


@dataclass(slots=True)
class EditPlan:
    order: Order
    lines: list[PlannedLine]
    totals: Totals
    levels: list[Level]
    releases: list[Release]
    picks: list[LinePick]
    shipping_address: dict[str, Any] | None
    old_total: Decimal  # the order's total when planned
    rows: _Rows
    paths: dict[uuid.UUID, Path]
    sourcing: EditSourcing | None = None  # issue 19: the sourcing rules the added units were planned under (None: no units added)

    @property
    def changes_invoice(self) -> bool:
        """Whether an issued invoice no longer matches: lines changed, or the buyer's address (the shipping address when
        the order has no billing address)."""
        lines_changed = any(line.changed for line in self.lines)
        return lines_changed or (self.shipping_address is not None and self.order.billing_address is None)

    @property
    def delta(self) -> Decimal:
        """New total - old total: > 0 to authorise or expect in addition, < 0 to refund or release."""
        return self.totals.total - self.old_total

    def preview(self, *, amount_to_refund: Decimal, dry_run: bool) -> EditPreview:
        codes = {level.warehouse_id: level.code for level in self.levels}
        currency = self.order.currency

        def moves(pairs: Sequence[tuple[str, uuid.UUID, int]]) -> list[StockMove]:
            merged: dict[tuple[str, uuid.UUID], int] = {}
            for sku, warehouse_id, quantity in pairs:
                merged[(sku, warehouse_id)] = merged.get((sku, warehouse_id), 0) + quantity
            return [StockMove(sku, codes[w], q) for (sku, w), q in sorted(merged.items(), key=lambda kv: (kv[0][0], codes[kv[0][1]]))]

        return EditPreview(
            currency=currency,
            lines=[PreviewLine(None if (line.row is None and dry_run) else str(line.line_id), line.sku, line.product_name, line.quantity,
                               line.previous_quantity, str(line.unit_price), str(line.total), currency)
                   for line in self.lines if line.quantity or line.previous_quantity],
            subtotal=str(self.totals.subtotal), tax_total=str(self.totals.tax_total), shipping_total=str(self.totals.shipping_total),
            total=str(self.totals.total), amount_due=str(max(self.delta, ZERO)), amount_to_refund=str(amount_to_refund),
            stock_to_reserve=moves([(lp.pick.sku, lp.pick.warehouse_id, lp.pick.quantity) for lp in self.picks]),
            stock_to_release=moves([(r.sku, r.warehouse_id, r.quantity) for r in self.releases]),
        )


async def get_order(*, uow: UnitOfWork, order_id: uuid.UUID) -> Order:
    """The order without a lock (a dry run)."""
    order = await uow.session.get(Order, order_id)
    if order is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such order.", ("order_id",))
    return order


async def recorded(*, uow: UnitOfWork, order: Order, key: str | None, fingerprint: str) -> OrderEdit | None:
    """The change an earlier request with this key applied to the (locked) order: same input only, else
    IDEMPOTENCY_CONFLICT."""
    if key is None:
        return None
    done = (await uow.session.execute(
        select(OrderEdit).where(OrderEdit.order_id == order.id, OrderEdit.idempotency_key == key)
    )).scalar_one_or_none()
    if done is not None and done.fingerprint != fingerprint:
        raise DomainError(ErrorCode.IDEMPOTENCY_CONFLICT, "This idempotencyKey was used with a different input.", ("idempotency_key",))
    return done


def edit_id_for(*, order: Order, key: str | None, attempt: uuid.UUID) -> uuid.UUID:
    """The id of the change about to be applied to the (locked) order; provider keys derive from it. With the
    client's key it derives from the key (a retry of the request gets the same id, so the provider replays instead of
    charging or refunding twice); without one it is `attempt`, chosen once per request outside the unit of work, so
    the unit of work's own retries (deadlock, connection lost before commit) keep it and a new request gets a new one
    (a declined extra authorisation is not replayed to the next try)."""
    if key is not None:
        return uuid.uuid5(EDIT_IDS, f"{order.id}:key:{key}")
    return attempt


@dataclass(slots=True)
class _Rows:
    lines: list[OrderLine]
    allocations: list[Allocation]
    listed_by_line: dict[uuid.UUID, int]
    listed_by_allocation: dict[uuid.UUID, int]


async def _rows(uow: UnitOfWork, order: Order) -> _Rows:
    lines = list((await uow.session.execute(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.position)
    )).scalars().all())
    allocations = list((await uow.session.execute(select(Allocation).where(Allocation.order_id == order.id))).scalars().all())
    listed = (await uow.session.execute(
        select(PickListLine.order_line_id, PickListLine.allocation_id, func.sum(PickListLine.quantity))
        .where(PickListLine.order_id == order.id).group_by(PickListLine.order_line_id, PickListLine.allocation_id)
    )).all()
    by_line: dict[uuid.UUID, int] = {}
    by_allocation: dict[uuid.UUID, int] = {}
    for line_id, allocation_id, quantity in listed:
        by_line[line_id] = by_line.get(line_id, 0) + int(quantity)
        if allocation_id is not None:
            by_allocation[allocation_id] = by_allocation.get(allocation_id, 0) + int(quantity)
    return _Rows(lines, allocations, by_line, by_allocation)


def _planned(row: OrderLine) -> PlannedLine:
    return PlannedLine(row.id, row, row.position, row.sku, row.product_id, row.product_name, row.unit_price, row.currency, row.tax_rate,
                       row.made_to_order, row.customization, row.quantity, row.quantity)


def _given(address: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in address.items() if value not in (None, "")}


def _status_error(order: Order) -> DomainError | None:
    if order.status in EDITABLE:
        return None
    return DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {order.status} cannot be changed.", ("order_id",))


def _frozen(row: OrderLine, listed: dict[uuid.UUID, int]) -> str | None:
    """Why a line cannot change at all (units on a pick list or shipped), or None."""
    if row.quantity_shipped > 0:
        return f"Line {row.sku} has shipped units and cannot be changed."
    if listed.get(row.id, 0) > 0:
        return f"Line {row.sku} is on a pick list and cannot be changed."
    return None


def _stock_plan(
    rows: _Rows, lines: list[PlannedLine], levels: list[Level], paths: dict[uuid.UUID, Path], rules: EditSourcing | None = None,
) -> tuple[list[Release], list[LinePick]]:
    level_ids = {(level.sku, level.warehouse_id): level.stock_level_id for level in levels}
    releases: list[Release] = []
    wanted: list[tuple[uuid.UUID, str, int, Path]] = []
    for line in lines:
        if line.made_to_order or not line.changed:
            continue
        if any(a.receipt_id is not None and a.open_quantity > 0 for a in rows.allocations if a.order_line_id == line.line_id):  # backorders, issue 19
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"Line {line.sku} waits for an expected stock receipt; it can change once its "
                              "units arrive (or cancel the order).", paths.get(line.line_id, ("lines",)))
        if line.quantity < line.previous_quantity:
            releases += allocation.release_units(rows.allocations, line_id=line.line_id, quantity=line.previous_quantity - line.quantity,
                                                 listed=rows.listed_by_allocation, levels=level_ids)
        else:
            wanted.append((line.line_id, line.sku, line.quantity - line.previous_quantity, paths[line.line_id]))
    preferred = {a.warehouse_id for a in rows.allocations if a.open_quantity > 0}
    planner = rules.planner(preferred) if rules is not None else None  # issue 19: None without rules (today's plan)
    picks = allocation.plan_adjustment(levels=levels, releases=releases, wanted=wanted, preferred=preferred, planner=planner)
    return releases, picks


# --- the sourcing rules in edits (issue 19) ---------------------------------------------------------------------
# An edit's added units are planned under the rules as they are now (setSourcingRules), matched with the order's
# channel, destination (the new shipping address when the edit changes it) and delivery type exactly as placement
# matches them (app/orders/sourcing.py). Without rules, or when none matches: today's plan exactly (the order's current
# warehouses first, then plan_allocation). When a rule applies:
# 1. its exclusions are honoured: an excluded warehouse reserves nothing, even one the order already uses (but a PICKUP
#    order's pickup point, which the customer chose, as at placement);
# 2. fewer parcels: when the order's current (not excluded) warehouses can supply the added units by themselves, only
#    they are used, chosen among by the rule's strategy;
# 3. otherwise the rule's strategy over every usable warehouse serving the channel, the current ones first among
#    equals (first in a RANKING's order, before others of the same priority).
# OUT_OF_STOCK when the usable warehouses lack the units, as placement refuses under the same rule.
_RULES = text(f"SELECT {sourcing.SNAPSHOT_SQL} AS sourcing")


@dataclass(slots=True)
class EditSourcing:
    """The rules (read once with the plan; the locked re-plan reuses them) and the order's facts they match on."""

    snapshot: sourcing.Snapshot
    channel: SalesChannel
    destination_country: str
    delivery_type: DeliveryType
    explanation: dict[str, Any] = field(default_factory=dict)  # the last plan's, ORDER_EDITED's data["sourcing"] when rules exist
    keep: uuid.UUID | None = None  # pickup, issue 19: a PICKUP order's pickup point, never excluded (the customer chose it)

    def planner(self, preferred: set[uuid.UUID]) -> Callable[[Mapping[str, int], list[Candidate], Mapping[str, Path]], list[Pick]] | None:
        """allocation.plan_adjustment's planner for an order using the warehouses `preferred`; None without rules."""
        if not self.snapshot.rules:
            return None

        def plan(demand: Mapping[str, int], candidates: list[Candidate], paths: Mapping[str, Path]) -> list[Pick]:
            return self._plan(demand, candidates, paths, preferred)

        return plan

    def _plan(self, demand: Mapping[str, int], candidates: list[Candidate], paths: Mapping[str, Path], preferred: set[uuid.UUID]) -> list[Pick]:
        country = self.destination_country.upper()
        zone = sourcing.destination_zone(candidates, country)
        rule = sourcing.choose_rule(self.snapshot.rules, channel=self.channel, country=country, zone=zone, delivery_type=self.delivery_type)
        if rule is None:
            self.explanation.clear()
            self.explanation.update({"rule": None, "name": None, "why": "no rule matches: the order's warehouses first, then warehouse priority"})
            return allocation.plan_allocation(demand, candidates, paths)
        excluded = set(rule.exclude)
        usable = [c for c in candidates if c.code not in excluded or c.warehouse_id == self.keep]
        current = [c for c in usable if c.warehouse_id in preferred]
        ranking = rule.ranking
        if ranking:  # the order's warehouses first, in the rule's order, then the rest of the ranking
            listed = {code: i for i, code in enumerate(ranking)}
            ours = sorted({c.code: c for c in current}.values(), key=lambda c: (listed.get(c.code, len(listed)), c.priority, c.code))
            ranking = tuple(dict.fromkeys([c.code for c in ours] + list(ranking)))
        # the rule that applied, matching anything now (the choice is made): its strategy on the warehouses given
        chosen = replace(rule, channel=None, countries=(), zones=(), delivery_type=None, exclude=(), ranking=ranking)
        snapshot = sourcing.Snapshot((chosen,), self.snapshot.transit)

        def run(pool: list[Candidate]) -> tuple[list[Pick], dict[str, Any]]:
            return sourcing.plan(demand, pool, paths, snapshot=snapshot, channel=self.channel, destination_country=country,
                                 delivery_type=self.delivery_type)

        result: tuple[list[Pick], dict[str, Any]] | None = None
        only_current = bool(current) and {c.warehouse_id for c in current} != {c.warehouse_id for c in usable}
        if only_current:
            try:
                result = run(current)
            except DomainError as refused:
                if refused.code != ErrorCode.OUT_OF_STOCK:
                    raise
                only_current = False
        if result is None:
            result = run(usable)
        picks, explanation = result
        explanation.update({"rule": rule.position, "name": rule.name, "destinationZone": zone,
                            "excluded": sorted({c.code for c in candidates if c.code in excluded and c.warehouse_id != self.keep}),
                            "orderWarehousesOnly": all(p.warehouse_id in preferred for p in picks)})
        if only_current:
            explanation["why"] = f"the order's own warehouses supply the added units ({explanation['why']})"
        self.explanation.clear()
        self.explanation.update(explanation)
        return picks


async def read_sourcing(uow: UnitOfWork, order: Order, shipping_address: dict[str, Any] | None) -> EditSourcing:
    """The sourcing rules now (one statement, no lock, no cache: as placement reads them) with the order's facts."""
    raw = (await uow.session.execute(_RULES)).scalar_one_or_none()
    destination = shipping_address if shipping_address is not None else (order.shipping_address or {})
    return EditSourcing(sourcing.snapshot_of(raw), order.channel, str(destination.get("country") or ""), DeliveryType(order.delivery_type),
                        keep=order.pickup_warehouse_id)


def _totals(order: Order, lines: list[PlannedLine]) -> Totals:
    """Shipping (issue 19) stays what placement charged while anything is left on the order (its VAT re-spread over
    the goods' rates as they are now); nothing left (every unit cancelled): no shipping either."""
    shipping = order.shipping_total if any(line.quantity for line in lines) else ZERO
    return compute_totals(((line.total, line.tax_rate) for line in lines), shipping, tax_shipping=True)


async def plan_edit(*, uow: UnitOfWork, order: Order, request: EditRequest) -> EditPlan:
    """Check an edit against the order (locked by the caller, except for a dry run) and plan it on the stock as read
    without locks (`apply_plan` reserves in one statement and re-plans on locked rows if stock moved meanwhile). Refuses with every input
    problem at once: unknown lines (NOT_FOUND), a line given twice or nothing left (INVALID_INPUT), a line with units
    on a pick list or shipped (INVALID_TRANSITION naming it), an order past changing (INVALID_TRANSITION), then
    OUT_OF_STOCK for units the serving warehouses no longer have."""
    rows = await _rows(uow, order)
    by_id = {row.id: row for row in rows.lines}
    errors: list[DomainError] = []
    if not (request.add_lines or request.change_lines or request.remove_lines or request.shipping_address is not None):
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Nothing to change: give addLines, changeLines, removeLines or shippingAddress.", ()))
    planned = {row.id: _planned(row) for row in rows.lines}
    paths: dict[uuid.UUID, Path] = {}
    seen: set[uuid.UUID] = set()
    targets: list[tuple[Path, uuid.UUID, int]] = [(("change_lines", i), c.order_line_id, c.quantity) for i, c in enumerate(request.change_lines)]
    targets += [(("remove_lines", i), line_id, 0) for i, line_id in enumerate(request.remove_lines)]
    for base, line_id, quantity in targets:
        id_path: Path = (*base, "order_line_id") if base[0] == "change_lines" else base
        row = by_id.get(line_id)
        if row is None:
            errors.append(DomainError(ErrorCode.NOT_FOUND, "No such line on this order.", id_path))
            continue
        if line_id in seen:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Line {row.sku} is given more than once.", id_path))
            continue
        seen.add(line_id)
        if quantity < 0:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "Quantity must be at least 0 (0 removes the line).", (*base, "quantity")))
            continue
        if quantity > MAX_QUANTITY:
            errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"Quantity must be at most {MAX_QUANTITY}.", (*base, "quantity")))
            continue
        if quantity == row.quantity:
            continue
        if (why := _frozen(row, rows.listed_by_line)) is not None:
            errors.append(DomainError(ErrorCode.INVALID_TRANSITION, why, id_path))
            continue
        planned[line_id].quantity = quantity
        paths[line_id] = (*base, "quantity")

    products: dict[str, Product] = {}
    if request.add_lines:
        skus = sorted({line.sku.strip() for line in request.add_lines})
        products = {p.sku: p for p in (await uow.session.execute(select(Product).where(Product.sku.in_(skus)))).scalars()}
    added: list[PlannedLine] = []
    position = max((row.position for row in rows.lines), default=-1) + 1
    for i, line in enumerate(request.add_lines):
        path: Path = ("add_lines", i)
        product = products.get(line.sku.strip())
        if line.quantity < 1:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "Quantity must be at least 1.", (*path, "quantity")))
        elif line.quantity > MAX_QUANTITY:
            errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"Quantity must be at most {MAX_QUANTITY}.", (*path, "quantity")))
        elif product is None:
            errors.append(DomainError(ErrorCode.NOT_FOUND, f"Unknown SKU {line.sku!r}.", (*path, "sku")))
        elif product.currency != order.currency:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"{product.sku} is sold in {product.currency}, the order in {order.currency}.",
                                      (*path, "sku")))
        else:
            new = PlannedLine(uuid.uuid4(), None, position, product.sku, product.id, product.name, product.price, product.currency,
                              product.tax_rate, product.made_to_order, line.customization, 0, line.quantity)
            position += 1
            added.append(new)
            paths[new.line_id] = (*path, "sku")

    shipping = None
    if request.shipping_address is not None:
        shipping = check_address(request.shipping_address, ("shipping_address",), errors)
        if any(row.quantity_shipped > 0 for row in rows.lines):
            errors.append(DomainError(ErrorCode.INVALID_TRANSITION, "Units of this order have shipped: its address cannot change.",
                                      ("shipping_address",)))
    lines = [planned[row.id] for row in rows.lines] + added
    if shipping is not None and _given(shipping) == _given(order.shipping_address or {}):
        shipping = None  # the same address: no change
    if not errors and not added and shipping is None and not any(line.changed for line in lines):
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Nothing would change: the quantities and address given are the order's own.", ()))
    if not errors and sum(line.quantity for line in lines) == 0:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "An edit must leave at least one unit; cancel the order instead.", ()))
    if sum(1 for line in lines if line.quantity) > MAX_LINES:
        errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_LINES} lines per order.", ("add_lines",)))
    collect(errors)
    if (status_error := _status_error(order)) is not None:
        raise status_error

    skus = sorted({line.sku for line in lines if line.changed and not line.made_to_order})
    levels = await allocation.levels_of(uow.session, skus=skus, channel=order.channel, lock=False)
    levels = pickup.restrict_levels(levels, order.pickup_warehouse_id)  # pickup, issue 19: added units at the pickup point only
    rules = await read_sourcing(uow, order, shipping) if any(line.quantity > line.previous_quantity and not line.made_to_order for line in lines) else None
    releases, picks = _stock_plan(rows, lines, levels, paths, rules)
    return EditPlan(order, lines, _totals(order, lines), levels, releases, picks, shipping, order.total, rows, paths, rules)


async def plan_cancellation(*, uow: UnitOfWork, order: Order, request: CancelLinesRequest) -> EditPlan:
    """Check a line cancellation against the (locked) order and plan it: units neither on a pick list nor shipped
    may be cancelled (a line with none left: INVALID_TRANSITION naming it; more than left: LIMIT_EXCEEDED)."""
    rows = await _rows(uow, order)
    by_id = {row.id: row for row in rows.lines}
    planned = {row.id: _planned(row) for row in rows.lines}
    errors: list[DomainError] = []
    if not request.lines:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Give at least one line to cancel.", ("lines",)))
    seen: set[uuid.UUID] = set()
    for i, wanted in enumerate(request.lines):
        row = by_id.get(wanted.order_line_id)
        if row is None:
            errors.append(DomainError(ErrorCode.NOT_FOUND, "No such line on this order.", ("lines", i, "order_line_id")))
            continue
        if row.id in seen:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Line {row.sku} is given more than once.", ("lines", i, "order_line_id")))
            continue
        seen.add(row.id)
        left = row.quantity - max(rows.listed_by_line.get(row.id, 0), row.quantity_shipped)
        if left <= 0:
            errors.append(DomainError(ErrorCode.INVALID_TRANSITION, f"Line {row.sku} has no units left to cancel (picked, shipped or cancelled).",
                                      ("lines", i, "order_line_id")))
        elif wanted.quantity < 1:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "Quantity must be at least 1.", ("lines", i, "quantity")))
        elif wanted.quantity > left:
            errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {left} of line {row.sku} can be cancelled.", ("lines", i, "quantity")))
        else:
            planned[row.id].quantity = row.quantity - wanted.quantity
    collect(errors)
    if (status_error := _status_error(order)) is not None:
        raise status_error
    lines = [planned[row.id] for row in rows.lines]
    skus = sorted({line.sku for line in lines if line.changed and not line.made_to_order})
    levels = await allocation.levels_of(uow.session, skus=skus, channel=order.channel, lock=False)
    releases, picks = _stock_plan(rows, lines, levels, {})
    assert not picks
    return EditPlan(order, lines, _totals(order, lines), levels, releases, picks, None, order.total, rows, {})


def summary(order: Order, lines: Sequence[PlannedLine], *, after: bool) -> dict[str, Any]:
    """The order as an event's before/after shows it (lines summarised: id, sku, quantity, total)."""
    chosen = [(line.line_id, line.sku, line.quantity if after else line.previous_quantity, line.unit_price)
              for line in lines if (line.quantity if after else line.previous_quantity) or (line.row is not None and after)]
    return {
        "lines": [{"id": str(line_id), "sku": sku, "quantity": quantity, "total": str(line_total(price, quantity))}
                  for line_id, sku, quantity, price in chosen],
        "subtotal": str(order.subtotal), "taxTotal": str(order.tax_total), "shippingTotal": str(order.shipping_total),
        "total": str(order.total), "shippingAddress": order.shipping_address,
    }


async def apply_plan(*, uow: UnitOfWork, plan: EditPlan, edit_id: uuid.UUID) -> dict[str, Any]:
    """Write a plan made on locked rows: stock (releases, reservations, allocations), the lines (changed
    quantities, `quantity_cancelled`, added lines), the totals and the address. Returns the order's "before"."""
    order = plan.order
    before = summary(order, plan.lines, after=False)
    for line in plan.lines:
        if line.row is None:
            uow.session.add(OrderLine(
                id=line.line_id, order_id=order.id, position=line.position, product_id=line.product_id, sku=line.sku,
                product_name=line.product_name, quantity=line.quantity, unit_price=line.unit_price, currency=line.currency,
                tax_rate=line.tax_rate, total=line.total, made_to_order=line.made_to_order, customization=line.customization,
                quantity_shipped=0, quantity_returned=0, quantity_cancelled=0,
            ))
        elif line.changed:
            if line.quantity < line.previous_quantity:
                line.row.quantity_cancelled += line.previous_quantity - line.quantity
            line.row.quantity = line.quantity
            line.row.total = line.total
    order.subtotal, order.tax_total, order.shipping_total, order.total = (
        plan.totals.subtotal, plan.totals.tax_total, plan.totals.shipping_total, plan.totals.total)
    order.shipping_tax = plan.totals.shipping_tax  # shipping, issue 19
    if plan.shipping_address is not None:
        order.shipping_address = plan.shipping_address
    order.updated_at = datetime.now(UTC)
    await uow.session.flush()  # the added lines exist before their allocations
    # The stock last among the order's writes (its rows stay locked from here to the commit): one statement, or,
    # should stock have moved since the snapshot, the plan again on locked rows (OUT_OF_STOCK if it no longer fits).
    reason = f"order change {edit_id}"
    if not await allocation.adjust_at_once(uow.session, uow.notices, order_id=order.id, releases=plan.releases, picks=plan.picks,
                                           actor=uow.actor, reference=order.number, reason=reason):
        skus = sorted({line.sku for line in plan.lines if line.changed and not line.made_to_order})
        plan.levels = await allocation.levels_of(uow.session, skus=skus, channel=order.channel, lock=True)
        plan.levels = pickup.restrict_levels(plan.levels, order.pickup_warehouse_id)  # pickup, issue 19
        plan.releases, plan.picks = _stock_plan(plan.rows, plan.lines, plan.levels, plan.paths, plan.sourcing)
        await allocation.adjust(uow.session, uow.notices, order_id=order.id, levels=plan.levels, releases=plan.releases, picks=plan.picks,
                                actor=uow.actor, reference=order.number, reason=reason)
    await uow.session.flush()
    return before


def nothing_left(plan: EditPlan) -> bool:
    return all(line.quantity == 0 for line in plan.lines)


def record_edit(
    uow: UnitOfWork, *, plan: EditPlan, edit_id: uuid.UUID, kind: OrderEditKind, key: str | None, fingerprint: str, reason: str | None,
    before: dict[str, Any], result: EditPreview, delta: Decimal, event: OrderEventType, data: dict[str, Any],
) -> OrderEdit:
    """The `order_edits` row and the change's one event (ORDER_EDITED / LINES_CANCELLED) with before/after."""
    after = summary(plan.order, plan.lines, after=True)
    edit = OrderEdit(id=edit_id, order_id=plan.order.id, kind=kind, idempotency_key=key, fingerprint=fingerprint, reason=reason,
                     before=before, after=after, result=result.to_json(), amount_delta=delta, actor=uow.actor)
    uow.session.add(edit)
    events.record(uow, plan.order, event, data={"edit": str(edit_id), "before": before, "after": after, **data})
    return edit
