"""Backorders and pre-orders at placement (issue 19): the part of an order that expected receipts cover.

A product's `inventory_policy` says what happens when its on-hand stock falls short:
- DENY (the default): nothing here; the planner refuses with OUT_OF_STOCK, as always.
- BACKORDER: on-hand units first (the planner reserves them as for DENY); the shortfall claims open receipts
  (models/receipts.py) at warehouses serving the order's channel, earliest `expected_at` first (then the
  warehouse's priority, then the receipt id). Not enough expected either: OUT_OF_STOCK. An order never claims
  more than on hand plus scheduled: the claim is a conditional `claimed = claimed + n WHERE quantity - received -
  claimed >= n`, and the table's CHECKs refuse anything beyond.
- PREORDER: before `available_from` (the Europe/Madrid calendar day of the promise clock) every unit claims
  receipts, none is taken from stock; from that day on it behaves as BACKORDER.

The split happens in the planning steps (`split`, called by orders.service.plan_placement and, on locked rows,
replan_locked): the planner sees only the on-hand part; the claims travel on `Placement.backorder`. They are
applied right after the stock reservation, in the same transaction: `claim_for_order` (one transaction) writes
the order's allocations bound to their receipts (`receipt_id`, no `reserved` change on stock); `hold_claims`
(a card placement's first transaction) writes `receipt_holds` rows beside the HELD placement_attempts row, which
go with it when the order is written (`add_claim_allocations` then binds the order's allocations) and are given
back by `release_held_claims` on a decline or a recovery. `release_claims` gives a cancelled order's claims back.

Locks (see app/orders/allocation.py's docstring for the global order): receipt rows are locked after stock rows,
in (sku, warehouse, expected_at, id) order. A claim planned on the snapshot that no longer fits is given back and
re-planned on locked receipt rows (`FOR UPDATE`), never beyond what they still expect.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode, Path
from app.infra.database import UnitOfWork
from app.orders import promise as calendar
from app.orders.allocation import Candidate, Pick, split_over_lines
from app.orders.enums import InventoryPolicy
from models import Allocation, Product
from models.receipts import ReceiptHold


@dataclass(frozen=True, slots=True)
class OpenReceipt:
    """A receipt still expecting unclaimed units, at a warehouse serving the order's channel (as read)."""

    id: uuid.UUID
    sku: str
    warehouse_id: uuid.UUID
    expected_at: datetime
    claimable: int
    priority: int = 100
    country: str = "ES"
    code: str = ""


@dataclass(frozen=True, slots=True)
class Claim:
    """Units of one receipt an order claims."""

    receipt_id: uuid.UUID
    sku: str
    warehouse_id: uuid.UUID
    quantity: int
    expected_at: datetime
    priority: int = 100
    country: str = "ES"
    code: str = ""


@dataclass(frozen=True, slots=True)
class Backorder:
    """What a placement's on-hand stock does not cover (per SKU) and the receipts claimed for it."""

    shortfall: Mapping[str, int]
    claims: tuple[Claim, ...]
    sku_paths: Mapping[str, Path]
    # the stock levels the split counted (the applying sourcing rule's exclusions dropped): a re-plan of the claims
    # on locked receipts stays at their warehouses (issue 19 review F3); empty: the placement's candidates
    usable: tuple[Candidate, ...] = ()


# StockedLine of orders.service: (order line id, sku, quantity), in position order
StockedLine = tuple[uuid.UUID, str, int]


def sells_ahead(product: Product) -> bool:
    """Whether the product may be sold beyond its on-hand stock (BACKORDER / PREORDER)."""
    return product.inventory_policy != InventoryPolicy.DENY and not product.made_to_order


def preorder_only(product: Product, today: date) -> bool:
    """A PREORDER product before its available_from day: every unit comes from receipts."""
    return product.inventory_policy == InventoryPolicy.PREORDER and product.available_from is not None and today < product.available_from


_OPEN_RECEIPTS = """
SELECT r.id, r.sku, r.warehouse_id, r.expected_at, r.quantity - r.received - r.claimed AS claimable FROM stock_receipts r
WHERE r.sku IN :skus AND r.status <> 'RECEIVED' AND r.quantity - r.received - r.claimed > 0
ORDER BY r.sku, r.warehouse_id, r.expected_at, r.id
"""
OPEN_RECEIPTS = text(_OPEN_RECEIPTS).bindparams(bindparam("skus", expanding=True))
LOCK_OPEN_RECEIPTS = text(_OPEN_RECEIPTS + " FOR UPDATE OF r").bindparams(bindparam("skus", expanding=True))


async def open_receipts(session: AsyncSession, *, skus: Sequence[str], candidates: Sequence[Candidate], lock: bool) -> list[OpenReceipt]:
    """The open receipts of `skus` at the candidates' warehouses (those serving the channel), claim order first;
    `lock`: FOR UPDATE in the global receipt order (after the stock rows)."""
    serving = {(c.sku, c.warehouse_id): c for c in candidates}
    rows = await session.execute(LOCK_OPEN_RECEIPTS if lock else OPEN_RECEIPTS, {"skus": sorted(set(skus))})
    found = [
        OpenReceipt(r.id, r.sku, r.warehouse_id, r.expected_at, int(r.claimable), serving[(r.sku, r.warehouse_id)].priority,
                    serving[(r.sku, r.warehouse_id)].country, serving[(r.sku, r.warehouse_id)].code)
        for r in rows if (r.sku, r.warehouse_id) in serving
    ]
    return sorted(found, key=lambda r: (r.expected_at, r.priority, str(r.id)))


def plan_claims(shortfall: Mapping[str, int], receipts: Sequence[OpenReceipt], sku_paths: Mapping[str, Path]) -> tuple[Claim, ...]:
    """Which receipts cover each SKU's shortfall: earliest expected first. OUT_OF_STOCK (at the SKU's first line)
    when the serving warehouses' on-hand and expected units together fall short."""
    claims: list[Claim] = []
    for sku, wanted in shortfall.items():
        left = wanted
        for r in receipts:
            if r.sku != sku or r.claimable <= 0:
                continue
            take = min(left, r.claimable)
            claims.append(Claim(r.id, sku, r.warehouse_id, take, r.expected_at, r.priority, r.country, r.code))
            left -= take
            if left == 0:
                break
        if left:
            raise DomainError(ErrorCode.OUT_OF_STOCK, f"Not enough stock of {sku}, on hand or expected, for this order.", sku_paths[sku])
    return tuple(claims)


async def split(
    uow: UnitOfWork, *, products: Iterable[Product], demand: dict[str, int], candidates: list[Candidate], sku_paths: Mapping[str, Path],
    lock: bool = False,
) -> tuple[dict[str, int], Backorder | None]:
    """The planning step: the demand the planner reserves from on-hand stock, and the backorder (None when no SKU
    of the order sells ahead: then `demand` is returned as given and nothing is read). `candidates`: the SKUs'
    stock levels at the serving warehouses (locked when `lock`, and then the receipts are locked too). The unit's
    session is asked for only when receipts are read (a placement without one makes none: app/infra/database.py)."""
    ahead = {p.sku: p for p in products if p.sku in demand and sells_ahead(p)}
    if not ahead:
        return demand, None
    today = calendar.local_date(calendar.utcnow())  # the promise clock (tests replace it)
    stock_demand = dict(demand)
    shortfall: dict[str, int] = {}
    for sku, product in sorted(ahead.items()):
        wanted = demand[sku]
        on_hand = 0 if preorder_only(product, today) else sum(max(c.available, 0) for c in candidates if c.sku == sku)
        short = wanted - min(wanted, on_hand)
        if short:
            shortfall[sku] = short
            if wanted == short:
                del stock_demand[sku]
            else:
                stock_demand[sku] = wanted - short
    if not shortfall:
        return demand, None
    receipts = await open_receipts(uow.session, skus=sorted(shortfall), candidates=candidates, lock=lock)
    return stock_demand, Backorder(shortfall, plan_claims(shortfall, receipts, sku_paths), dict(sku_paths), tuple(candidates))


# The claims in one statement: lock the receipts in the global order, raise `claimed` where the units are still
# expected and unclaimed. Returns the receipts raised: fewer than asked means a claim no longer fits.
_CLAIM = text("""
WITH wanted AS (
    SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:quantities AS integer[])) AS w(id, n)
), locked AS (
    SELECT r.id FROM stock_receipts r WHERE r.id IN (SELECT id FROM wanted) ORDER BY r.sku, r.warehouse_id, r.expected_at, r.id FOR UPDATE OF r
)
UPDATE stock_receipts r SET claimed = r.claimed + w.n FROM wanted w
WHERE r.id = w.id AND r.id IN (SELECT id FROM locked) AND r.quantity - r.received - r.claimed >= w.n
RETURNING r.id
""")
# Claims given back (a partial claim, a cancellation, a declined card), receipts locked in the global order.
_UNCLAIM = text("""
WITH wanted AS (
    SELECT id, SUM(n) AS n FROM unnest(CAST(:ids AS uuid[]), CAST(:quantities AS integer[])) AS w(id, n) GROUP BY id
), locked AS (
    SELECT r.id FROM stock_receipts r WHERE r.id IN (SELECT id FROM wanted) ORDER BY r.sku, r.warehouse_id, r.expected_at, r.id FOR UPDATE OF r
)
UPDATE stock_receipts r SET claimed = r.claimed - w.n FROM wanted w WHERE r.id = w.id AND r.id IN (SELECT id FROM locked)
""")


async def _unclaim(session: AsyncSession, amounts: Sequence[tuple[uuid.UUID, int]]) -> None:
    if amounts:
        await session.execute(_UNCLAIM, {"ids": [i for i, _ in amounts], "quantities": [n for _, n in amounts]})


async def _apply(session: AsyncSession, backorder: Backorder, candidates: list[Candidate]) -> Backorder:
    """Raise `claimed` for the planned claims; should a receipt have been claimed meanwhile, give the rest back
    and plan again on the locked receipts (OUT_OF_STOCK when they no longer suffice)."""
    claims = backorder.claims
    params = {"ids": [c.receipt_id for c in claims], "quantities": [c.quantity for c in claims]}
    raised = set((await session.execute(_CLAIM, params)).scalars())
    if len(raised) == len(claims):
        return backorder
    await _unclaim(session, [(c.receipt_id, c.quantity) for c in claims if c.receipt_id in raised])
    receipts = await open_receipts(session, skus=sorted(backorder.shortfall), candidates=backorder.usable or candidates, lock=True)
    backorder = replace(backorder, claims=plan_claims(backorder.shortfall, receipts, backorder.sku_paths))
    params = {"ids": [c.receipt_id for c in backorder.claims], "quantities": [c.quantity for c in backorder.claims]}
    raised = set((await session.execute(_CLAIM, params)).scalars())
    if len(raised) != len(backorder.claims):  # the rows are locked: cannot happen
        raise AssertionError("a claim planned on locked receipts did not fit")
    return backorder


def on_hand_lines(picks: Sequence[Pick], backorder: Backorder | None, stocked: list[StockedLine]) -> list[StockedLine]:
    """The stocked lines as far as on-hand picks cover them (lines first in position order); `stocked` itself
    without a backorder."""
    if backorder is None:
        return stocked
    left: dict[str, int] = {}
    for p in picks:
        left[p.sku] = left.get(p.sku, 0) + p.quantity
    covered: list[StockedLine] = []
    for line_id, sku, quantity in stocked:
        take = min(quantity, left.get(sku, 0))
        if take > 0:
            covered.append((line_id, sku, take))
            left[sku] -= take
    return covered


def claim_shares(picks: Sequence[Pick], backorder: Backorder, stocked: list[StockedLine]) -> list[tuple[uuid.UUID, Claim]]:
    """The claims split over the stocked lines: what on-hand picks leave of each line, in position order."""
    covered: dict[uuid.UUID, int] = {line_id: n for line_id, _, n in on_hand_lines(picks, backorder, stocked)}
    return split_over_lines(backorder.claims, [(line_id, sku, quantity - covered.get(line_id, 0)) for line_id, sku, quantity in stocked],
                            "the claims")


def _claim_allocations(order_id: uuid.UUID, picks: Sequence[Pick], backorder: Backorder, stocked: list[StockedLine]) -> list[Allocation]:
    return [
        Allocation(id=uuid.uuid4(), order_id=order_id, order_line_id=line_id, warehouse_id=c.warehouse_id, sku=c.sku, quantity=c.quantity,
                   quantity_shipped=0, quantity_released=0, receipt_id=c.receipt_id)
        for line_id, c in claim_shares(picks, backorder, stocked)
    ]


async def claim_for_order(*, uow: UnitOfWork, order_id: uuid.UUID, placement: Any, stocked: list[StockedLine]) -> Any:
    """Right after the order's stock reservation: claim its receipts and write its allocations bound to them.
    Returns the placement as claimed (its claims differ when they were re-planned on locked receipts). Without claims
    the unit's session is not asked for (its write may have committed on its own: app/infra/database.py)."""
    backorder: Backorder | None = placement.backorder
    if backorder is None or not backorder.claims:
        return placement
    session = uow.session
    backorder = await _apply(session, backorder, placement.candidates)
    session.add_all(_claim_allocations(order_id, placement.picks, backorder, stocked))
    return replace(placement, backorder=backorder)


async def hold_claims(*, session: AsyncSession, placement: Any, attempt_id: uuid.UUID) -> Any:
    """A card placement's first transaction, right after its stock hold: claim its receipts and record them as
    `receipt_holds` of the HELD attempt (given back with it on a decline or a recovery)."""
    backorder: Backorder | None = placement.backorder
    if backorder is None or not backorder.claims:
        return placement
    backorder = await _apply(session, backorder, placement.candidates)
    session.add_all(ReceiptHold(id=uuid.uuid4(), attempt_id=attempt_id, receipt_id=c.receipt_id, sku=c.sku, warehouse_id=c.warehouse_id,
                                quantity=c.quantity) for c in backorder.claims)
    return replace(placement, backorder=backorder)


def add_claim_allocations(*, session: AsyncSession, order_id: uuid.UUID, placement: Any, stocked: list[StockedLine]) -> None:
    """A card placement's second transaction: its held claims (their receipt_holds rows went with the attempt's
    row) become the order's allocations bound to the receipts; `claimed` is unchanged."""
    backorder: Backorder | None = placement.backorder
    if backorder is not None and backorder.claims:
        session.add_all(_claim_allocations(order_id, placement.picks, backorder, stocked))


_RELEASE_HELD = text("""
WITH held AS (
    SELECT receipt_id AS id, SUM(quantity) AS n FROM receipt_holds WHERE attempt_id = :attempt_id GROUP BY receipt_id
), locked AS (
    SELECT r.id FROM stock_receipts r WHERE r.id IN (SELECT id FROM held) ORDER BY r.sku, r.warehouse_id, r.expected_at, r.id FOR UPDATE OF r
), lowered AS (
    UPDATE stock_receipts r SET claimed = r.claimed - h.n FROM held h WHERE r.id = h.id AND r.id IN (SELECT id FROM locked) RETURNING r.id
)
DELETE FROM receipt_holds WHERE attempt_id = :attempt_id
""")


async def release_held_claims(*, session: AsyncSession, attempt_id: uuid.UUID) -> None:
    """A declined or recovered card placement: its receipt claims given back (after its stock: the lock order)."""
    await session.execute(_RELEASE_HELD, {"attempt_id": attempt_id})


async def release_claims(*, session: AsyncSession, order_id: uuid.UUID) -> int:
    """Give back every receipt claim an order still holds (cancellation; its stock is released before, by
    allocation.release). Returns the units released."""
    bound = (await session.execute(
        select(Allocation).where(Allocation.order_id == order_id, Allocation.receipt_id.is_not(None))
    )).scalars().all()
    amounts: list[tuple[uuid.UUID, int]] = []
    for a in bound:
        if a.open_quantity > 0 and a.receipt_id is not None:
            amounts.append((a.receipt_id, a.open_quantity))
            a.quantity_released += a.open_quantity
    await _unclaim(session, amounts)
    return sum(n for _, n in amounts)


# The latest moment a promise counts from (review F12): scheduleReceipt refuses expectedAt beyond 2 years; a row
# beyond that (written before the bound) is promised from here, never overflowing the calendar arithmetic.
PROMISE_HORIZON = datetime(9000, 1, 1, tzinfo=UTC)


def ready_later(placement: Any) -> list[tuple[uuid.UUID, str, int, str, datetime]]:
    """For the delivery promise: (warehouse id, country, priority, code, ready at) of each claimed receipt."""
    backorder: Backorder | None = placement.backorder
    if backorder is None:
        return []
    return [(c.warehouse_id, c.country, c.priority, c.code, min(c.expected_at, PROMISE_HORIZON)) for c in backorder.claims]


# --- read helpers (issue 19, the customer informed): what a line still awaits -----------------------------------

@dataclass(frozen=True, slots=True)
class Awaited:
    """Units of an order line bound to receipts that have not arrived (open claims), and the earliest of those
    receipts' expected moments."""

    quantity: int
    expected_at: datetime


# One statement for any number of lines: the open claims (allocations still bound to a receipt, neither shipped
# nor released) per line, with their receipts' earliest expected_at. No lock: a read.
_AWAITED = text("""
SELECT a.order_line_id, SUM(a.quantity - a.quantity_shipped - a.quantity_released) AS quantity, MIN(r.expected_at) AS expected_at
FROM allocations a JOIN stock_receipts r ON r.id = a.receipt_id
WHERE a.order_line_id = ANY(CAST(:line_ids AS uuid[])) AND a.quantity > a.quantity_shipped + a.quantity_released
GROUP BY a.order_line_id
""")
# The same per order: whether any of its units await a receipt (the public tracking view shows only that).
_AWAITING_ORDERS = text("""
SELECT DISTINCT a.order_id FROM allocations a
WHERE a.order_id = ANY(CAST(:order_ids AS uuid[])) AND a.receipt_id IS NOT NULL AND a.quantity > a.quantity_shipped + a.quantity_released
""")


async def awaited_by_line(session: AsyncSession, line_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Awaited]:
    """Per order line (only those awaiting something): the units claimed on receipts not arrived yet, and the
    earliest expected_at among those receipts. Filled claims are unbound by the arrival (app/flows/receipts.py), so
    a line whose units all arrived, shipped or were cancelled is absent."""
    if not line_ids:
        return {}
    rows = await session.execute(_AWAITED, {"line_ids": list(line_ids)})
    return {r.order_line_id: Awaited(int(r.quantity), r.expected_at) for r in rows}


async def orders_awaiting(session: AsyncSession, order_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """The orders among `order_ids` with units still bound to a receipt that has not arrived."""
    if not order_ids:
        return set()
    return set((await session.execute(_AWAITING_ORDERS, {"order_ids": list(order_ids)})).scalars())
