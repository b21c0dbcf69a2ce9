"""Which warehouse ships what, and the atomic reservation of those units.

Placement plans on a snapshot read without locks (`plan_allocation` over `Candidate`s), then
reserves in ONE statement (`reserve_at_once`): `reserved = reserved + n` only where
`on_hand - reserved >= n` still holds on the current row, with the ledger rows (and the order's
allocations, or a card placement's hold) written by the same statement only when every pick
succeeded. Concurrent orders on one SKU so hold its row lock from that statement to their commit
only, not across the whole placement (issue 16: hot SKUs). Should stock have moved since the
snapshot, the partial reservation is given back and the placement re-plans on locked rows
(`lock_candidates`, the original path): never an oversell, the check constraint backing it.

Rows are locked in one global order (sku, warehouse id), whoever locks them, so concurrent
orders over the same SKUs queue instead of deadlocking.

Backorders (issue 19, app/orders/backorders.py, app/flows/receipts.py) add a lock class, expected stock receipts
(stock_receipts rows, locked among themselves in (sku, warehouse id, expected_at, id) order). The global order is

    order rows (by id)  ->  stock rows (sku, warehouse id)  ->  receipt rows (sku, warehouse id, expected_at, id)

- placement: stock rows (the reservation statement, or `lock_candidates`), then the receipts it claims (its own
  new order row is invisible to every other transaction, so it waits on no order row);
- a card placement's decline or recovery: its placement_attempts row, then its stock rows, then its receipts;
- cancellation: the order row, its stock rows (`release`), then its receipts (`backorders.release_claims`);
- a receipt's arrival (receiveStock): the orders holding claims on it (by id, read first without a lock), then the
  receipt's stock row, then the receipt; a claimant committed after that first read is locked NOWAIT (never
  waiting, so never deadlocking: if it is busy the arrival's transaction is retried whole).
No transaction takes a lock of an earlier class after one of a later class, so none waits in a circle. (The
research note proposed "receipt -> orders -> stock" for the arrival; that inverts placement's stock -> receipt
and cancellation's order -> receipt, so the arrival takes the receipt last instead.)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode, Path
from app.infra.database import EVENTS_CTES, EVENTS_INSERT_CTE, EVENTS_RETURNED, UnitOfWork, fetch_statement
from app.orders.enums import SalesChannel
from models import Allocation, StockLevel, StockMovement, Warehouse

STOCK_TOPIC = "stock"


def notify_stock(notices: list, sku: str, warehouse_id: uuid.UUID) -> None:
    """Queue a stockLevelChanged notice (published after commit by the unit of work)."""
    notices.append((STOCK_TOPIC, {"sku": sku, "warehouseId": str(warehouse_id)}))


@dataclass(frozen=True, slots=True)
class Candidate:
    stock_level_id: uuid.UUID
    sku: str
    warehouse_id: uuid.UUID
    priority: int
    reserved: int
    available: int
    country: str = "ES"  # the warehouse's (for the delivery promise)
    code: str = ""


@dataclass(frozen=True, slots=True)
class Pick:
    stock_level_id: uuid.UUID
    sku: str
    warehouse_id: uuid.UUID
    quantity: int


def plan_allocation(demand: Mapping[str, int], candidates: list[Candidate], sku_paths: Mapping[str, Path]) -> list[Pick]:
    """Prefer one warehouse that fills the whole order; otherwise split, favouring warehouses that fill most lines.

    Raises OUT_OF_STOCK naming the first SKU that the serving warehouses cannot fill together.
    """
    by_warehouse: dict[uuid.UUID, dict[str, Candidate]] = {}
    for candidate in candidates:
        by_warehouse.setdefault(candidate.warehouse_id, {})[candidate.sku] = candidate
    available: dict[str, int] = {}  # per SKU over the serving warehouses (one pass: issue 16, session 8)
    for candidate in candidates:
        available[candidate.sku] = available.get(candidate.sku, 0) + candidate.available
    for sku, quantity in demand.items():
        if available.get(sku, 0) < quantity:
            raise DomainError(ErrorCode.OUT_OF_STOCK, f"Not enough stock of {sku} for this order.", sku_paths[sku])

    def fills(warehouse_id: uuid.UUID, sku: str) -> bool:
        c = by_warehouse[warehouse_id].get(sku)
        return c is not None and c.available >= demand[sku]

    priority = {c.warehouse_id: c.priority for c in candidates}
    coverage = {w: sum(fills(w, sku) for sku in demand) for w in by_warehouse}
    ranked = sorted(by_warehouse, key=lambda w: (-coverage[w], priority[w], str(w)))

    picks: list[Pick] = []
    for sku, quantity in demand.items():
        remaining = quantity
        # A warehouse that fills this line alone beats splitting the line.
        order = sorted(ranked, key=lambda w: not fills(w, sku))
        for warehouse_id in order:
            c = by_warehouse[warehouse_id].get(sku)
            if c is None or c.available <= 0:
                continue
            take = min(remaining, c.available)
            picks.append(Pick(c.stock_level_id, sku, warehouse_id, take))
            remaining -= take
            if remaining == 0:
                break
    return picks


async def lock_candidates(session: AsyncSession, *, skus: list[str], channel: SalesChannel) -> list[Candidate]:
    rows = await session.execute(
        select(*CANDIDATE_COLUMNS)
        .select_from(candidate_join(channel))
        .where(StockLevel.sku.in_(skus))
        .order_by(StockLevel.sku, StockLevel.warehouse_id)
        .with_for_update(of=StockLevel)
    )
    return [candidate_of(r) for r in rows]


def candidate_join(channel: SalesChannel) -> Any:
    """stock_levels joined to the warehouses serving `channel` (what `read_candidates` and placement's read use)."""
    return StockLevel.__table__.join(Warehouse.__table__, and_(Warehouse.id == StockLevel.warehouse_id, Warehouse.channels.contains([channel])))


CANDIDATE_COLUMNS = (StockLevel.id, StockLevel.sku, StockLevel.warehouse_id, Warehouse.priority, StockLevel.on_hand, StockLevel.reserved,
                     Warehouse.country, Warehouse.code)


def candidate_of(row: Any) -> Candidate:
    return Candidate(row.id, row.sku, row.warehouse_id, row.priority, row.reserved, row.on_hand - row.reserved, row.country, row.code)


# One statement: lock the picked levels in the global order, raise `reserved` where the units are still
# there, and only if every pick succeeded write the ledger rows and the order's allocations (or a card
# placement's hold). Returns the levels it raised; fewer than the picks means nothing but those raises
# happened (see `give_back`).
# (Session 9: the levels are looked up by `id = ANY(the ids)`, not only by a join to `wanted`: so the generic plan
# PostgreSQL keeps for the prepared statement after five runs reads them by primary key, cheaper than a plan per
# execution (~0.5 ms of planning each on the benchmark's machine); joined only to `wanted`, that plan hashed every
# stock level, so PostgreSQL planned every execution anew.)
_RESERVE = """
WITH wanted AS (
    SELECT * FROM unnest(CAST(:level_ids AS uuid[]), CAST(:skus AS varchar[]), CAST(:warehouse_ids AS uuid[]),
                         CAST(:quantities AS integer[]))
        AS w(level_id, sku, warehouse_id, n)
), locked AS (
    SELECT s.id FROM stock_levels s WHERE s.id = ANY(CAST(:level_ids AS uuid[])) ORDER BY s.sku, s.warehouse_id FOR UPDATE OF s
), raised AS (
    UPDATE stock_levels s SET reserved = s.reserved + w.n FROM wanted w
    WHERE s.id = w.level_id AND s.id = ANY(CAST(:level_ids AS uuid[])) AND s.id IN (SELECT id FROM locked)
      AND s.on_hand - s.reserved >= w.n
    RETURNING s.id
), complete AS (
    SELECT count(*) = :count AS ok FROM raised
), ledger AS (
    INSERT INTO stock_movements (sku, warehouse_id, kind, on_hand_delta, reserved_delta, actor, reference)
    SELECT w.sku, w.warehouse_id, 'RESERVATION', 0, w.n, :actor, :reference FROM wanted w, complete WHERE complete.ok
){extra}
SELECT id FROM raised
"""
# One allocation per (order line, warehouse): a pick of a SKU that two lines share is split between them (holds, issue 18).
_ALLOCATIONS = """, allocated AS (
    INSERT INTO allocations (id, order_id, order_line_id, warehouse_id, sku, quantity, quantity_shipped, quantity_released)
    SELECT a.id, CAST(:order_id AS uuid), a.line_id, a.warehouse_id, a.sku, a.n, 0, 0
    FROM unnest(CAST(:allocation_ids AS uuid[]), CAST(:allocation_lines AS uuid[]), CAST(:allocation_warehouses AS uuid[]),
                CAST(:allocation_skus AS varchar[]), CAST(:allocation_quantities AS integer[])) AS a(id, line_id, warehouse_id, sku, n),
         complete WHERE complete.ok
)"""
_HOLD = """, held AS (
    INSERT INTO placement_attempts (id, status, serial, picks, idempotency_key, provider_key, amount, currency, expires_at)
    SELECT CAST(:attempt_id AS uuid), 'HELD', :serial, CAST(:picks AS jsonb), :idempotency_key, :provider_key, :amount, :currency,
           now() + make_interval(secs => :hold_seconds)
    FROM complete WHERE complete.ok
)"""
RESERVE_FOR_ORDER = text(_RESERVE.replace("{extra}", _ALLOCATIONS))
# Session 9: the same, also writing the unit's queued events (app/infra/database.py EVENTS_CTES) when the reservation
# is the unit's last statement (a placement's first attempt): one statement fewer. Its rows: each raised level
# (id, NULLs), then each event (NULL, seq, order_id, change_seq, updated_at).
RESERVE_WITH_EVENTS = text(_RESERVE.replace("{extra}", _ALLOCATIONS + EVENTS_CTES).replace(
    "SELECT id FROM raised",
    "SELECT id, NULL::bigint, NULL::uuid, NULL::bigint, NULL::timestamptz FROM raised UNION ALL SELECT NULL::uuid, e.* FROM ("
    + EVENTS_RETURNED + ") e"))
RESERVE_FOR_HOLD = text(_RESERVE.replace("{extra}", _HOLD))
# Session 9: a new order's rows and its reservation in ONE statement, the last of the placement's transaction before
# COMMIT (its first attempt, `lock_first=False`): the reservation's CTEs as above, then the unit's queued events
# (numbered after the stock rows are locked and raised, so after the transaction has its id: the raise is its first
# write), then `__ORDER__`, where app/orders/service.py puts the order's INSERT (CTE `o`, its change_seq the events'
# last number: one row version, no UPDATE of the row just inserted) and its lines' and other rows' (c0, c1, ...), then
# the ledger (its reference the order's number, from `o`) and the allocations. Should a level be short, the order is
# written all the same and the caller rolls the transaction back (StockMoved). Returns one row: the order's columns and
# transaction id (`o`), the ids of the levels raised, the events' numbers in order.
# Session 11: a short level raises (oms_refuse, SQLSTATE OM409: database.REFUSED) instead of returning a row, so
# nothing is written (the statement may commit on its own: UnitOfWork.fetch_committing).
WRITE_AND_RESERVE = text(
    _RESERVE.split("), ledger AS (")[0] + ")" + EVENTS_INSERT_CTE + ", __ORDER__" + """, ledger AS (
    INSERT INTO stock_movements (sku, warehouse_id, kind, on_hand_delta, reserved_delta, actor, reference)
    SELECT w.sku, w.warehouse_id, 'RESERVATION', 0, w.n, :actor, (SELECT number FROM o) FROM wanted w, complete WHERE complete.ok
)""" + _ALLOCATIONS + """
SELECT o.*, (SELECT coalesce(array_agg(id), '{}') FROM raised), (SELECT coalesce(array_agg(seq ORDER BY seq), '{}') FROM ev)
FROM o, complete WHERE CASE WHEN complete.ok THEN true ELSE oms_refuse('a stock level is short of the planned units') END""")


def write_and_reserve_params(picks: list[Pick], *, actor: str | None, order_id: uuid.UUID,
                             allocations: Sequence[tuple[uuid.UUID, Pick]]) -> dict[str, Any]:
    """WRITE_AND_RESERVE's bind parameters but the events' (`UnitOfWork.event_arrays`) and the order's."""
    return {**_pick_arrays(picks), "actor": actor, **_allocation_arrays(order_id, allocations)}


def _allocation_arrays(order_id: uuid.UUID | None, allocations: Sequence[tuple[uuid.UUID, Pick]]) -> dict[str, Any]:
    """_ALLOCATIONS' bind parameters: the order and, per (order line id, pick share), a new allocation."""
    return {"order_id": order_id, "allocation_ids": [uuid.uuid4() for _ in allocations], "allocation_lines": [line for line, _ in allocations],
            "allocation_warehouses": [p.warehouse_id for _, p in allocations], "allocation_skus": [p.sku for _, p in allocations],
            "allocation_quantities": [p.quantity for _, p in allocations]}


def notify_picks(notices: list, picks: list[Pick]) -> None:
    """A stock notice per picked level, once the unit commits (in the global order)."""
    for p in sorted(picks, key=lambda p: (p.sku, str(p.warehouse_id))):
        notify_stock(notices, p.sku, p.warehouse_id)


_GIVE_BACK = text("""
UPDATE stock_levels s SET reserved = s.reserved - w.n
FROM unnest(CAST(:level_ids AS uuid[]), CAST(:quantities AS integer[])) AS w(level_id, n) WHERE s.id = w.level_id
""")
# Gives a hold's units back with their ledger rows (a declined card, a recovered crash).
RELEASE_PICKS = text("""
WITH wanted AS (
    SELECT * FROM unnest(CAST(:level_ids AS uuid[]), CAST(:skus AS varchar[]), CAST(:warehouse_ids AS uuid[]), CAST(:quantities AS integer[]))
        AS w(level_id, sku, warehouse_id, n)
), locked AS (
    SELECT s.id FROM stock_levels s WHERE s.id IN (SELECT level_id FROM wanted) ORDER BY s.sku, s.warehouse_id FOR UPDATE OF s
), lowered AS (
    UPDATE stock_levels s SET reserved = s.reserved - w.n FROM wanted w WHERE s.id = w.level_id AND s.id IN (SELECT id FROM locked)
    RETURNING s.id
)
INSERT INTO stock_movements (sku, warehouse_id, kind, on_hand_delta, reserved_delta, actor, reference, reason)
SELECT w.sku, w.warehouse_id, 'RELEASE', 0, -w.n, :actor, :reference, :reason FROM wanted w
""")


def _pick_arrays(picks: list[Pick]) -> dict[str, Any]:
    ordered = sorted(picks, key=lambda p: (p.sku, str(p.warehouse_id)))
    return {"level_ids": [p.stock_level_id for p in ordered], "skus": [p.sku for p in ordered],
            "warehouse_ids": [p.warehouse_id for p in ordered], "quantities": [p.quantity for p in ordered], "count": len(ordered)}


async def reserve_at_once(
    session: AsyncSession | None, notices: list, *, picks: list[Pick], actor: str | None, reference: str,
    order_id: uuid.UUID | None = None, allocations: Sequence[tuple[uuid.UUID, Pick]] = (), hold: Mapping[str, Any] | None = None,
    events: UnitOfWork | None = None, write: Callable[[], Awaitable[bool]] | None = None,
) -> bool:
    """Reserve planned picks in one statement; with `order_id` + `allocations` ((order line id, its share of a pick),
    see orders.service.per_line) it also writes the allocations, with `hold` (the placement_attempts values) the
    card placement's hold instead. `events`: the unit whose queued events the statement writes too (only when nothing
    is written after it in that unit, and the unit rolls back should this return False).
    False when a level no longer had the units: then nothing is left changed (the partial raise is given back).
    `write`: the caller's own statement that makes this reservation with its other rows (WRITE_AND_RESERVE, sent by
    app/orders/service.py `_write_and_reserve`; False: short, and the caller rolls back), sent instead of ours."""
    if not picks:
        return True
    if write is not None:
        return await write()
    assert session is not None  # (None only with `write`: a unit without a session, app/infra/database.py UnitOfWork)
    params = _pick_arrays(picks)
    ordered = sorted(picks, key=lambda p: (p.sku, str(p.warehouse_id)))
    params.update(actor=actor, reference=reference)
    if hold is not None:
        statement = RESERVE_FOR_HOLD
        params.update(hold, picks=json.dumps([{"stock_level_id": str(p.stock_level_id), "sku": p.sku, "warehouse_id": str(p.warehouse_id),
                                               "quantity": p.quantity} for p in ordered]))
    else:
        statement = RESERVE_FOR_ORDER
        params.update(_allocation_arrays(order_id, allocations))
    queued = events.event_arrays() if events is not None and hold is None else None
    if queued is not None:
        statement = RESERVE_WITH_EVENTS
        params.update(queued)
    rows = await fetch_statement(session, statement, params)  # by the driver (issue 16: placeOrder's CPU)
    raised = [row[0] for row in rows if row[0] is not None]
    if queued is not None and len(raised) == len(ordered):
        assert events is not None
        events.events_written([row[1:] for row in rows if row[0] is None])
    if len(raised) < len(ordered):
        if raised:
            quantity = {p.stock_level_id: p.quantity for p in ordered}
            await session.execute(_GIVE_BACK, {"level_ids": raised, "quantities": [quantity[level_id] for level_id in raised]})
        return False
    notify_picks(notices, picks)
    return True


async def release_picks(session: AsyncSession, notices: list, *, picks: list[Pick], actor: str | None, reference: str, reason: str) -> None:
    """Give held units back (with RELEASE ledger rows)."""
    if not picks:
        return
    params = _pick_arrays(picks)
    params.pop("count")
    await session.execute(RELEASE_PICKS, {**params, "actor": actor, "reference": reference, "reason": reason})
    for p in picks:
        notify_stock(notices, p.sku, p.warehouse_id)


def picks_of(held: list[dict[str, Any]]) -> list[Pick]:
    return [Pick(uuid.UUID(p["stock_level_id"]), p["sku"], uuid.UUID(p["warehouse_id"]), int(p["quantity"])) for p in held]


async def reserve(session: AsyncSession, notices: list, *, picks: list[Pick], candidates: list[Candidate], actor: str | None, reference: str) -> None:
    """Apply a plan made on locked rows: raise `reserved`, write RESERVATION ledger rows."""
    if not picks:
        return
    reserved = {c.stock_level_id: c.reserved for c in candidates}
    for p in picks:
        reserved[p.stock_level_id] += p.quantity
    touched = sorted({p.stock_level_id for p in picks})
    # Rows are locked by `lock_candidates`, so absolute values are safe; the
    # check constraint still refuses anything beyond on-hand.
    await session.execute(update(StockLevel), [{"id": level_id, "reserved": reserved[level_id]} for level_id in touched])
    for p in picks:
        notify_stock(notices, p.sku, p.warehouse_id)
    await session.execute(
        insert(StockMovement),
        [
            {"sku": p.sku, "warehouse_id": p.warehouse_id, "kind": "RESERVATION", "reserved_delta": p.quantity,
             "on_hand_delta": 0, "actor": actor, "reference": reference}
            for p in picks
        ],
    )


async def release(session: AsyncSession, notices: list, *, order_id: uuid.UUID, actor: str | None, reference: str, reason: str) -> int:
    """Give back every unit an order still holds (cancellation). Returns the units released."""
    allocations = (
        await session.execute(
            select(Allocation).where(Allocation.order_id == order_id).order_by(Allocation.sku, Allocation.warehouse_id)
        )
    ).scalars().all()
    open_allocations = [a for a in allocations if a.open_quantity > 0 and a.receipt_id is None]  # bound to a receipt: app/orders/backorders.py
    if not open_allocations:
        return 0
    per_level: dict[tuple[str, uuid.UUID], int] = {}
    for a in open_allocations:
        key = (a.sku, a.warehouse_id)
        per_level[key] = per_level.get(key, 0) + a.open_quantity
    # Same lock order as `lock_candidates`: (sku, warehouse).
    for (sku, warehouse_id), quantity in sorted(per_level.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        await session.execute(
            update(StockLevel)
            .where(StockLevel.sku == sku, StockLevel.warehouse_id == warehouse_id)
            .values(reserved=StockLevel.reserved - quantity)
        )
        notify_stock(notices, sku, warehouse_id)
    await session.execute(
        insert(StockMovement),
        [
            {"sku": sku, "warehouse_id": warehouse_id, "kind": "RELEASE", "reserved_delta": -quantity,
             "on_hand_delta": 0, "actor": actor, "reference": reference, "reason": reason}
            for (sku, warehouse_id), quantity in per_level.items()
        ],
    )
    for a in open_allocations:
        a.quantity_released += a.open_quantity
    return sum(per_level.values())


# --- edits and line cancellations (issue 18): one order's reservations grow and shrink --------------------


@dataclass(frozen=True, slots=True)
class Level:
    """A stock level of a SKU an edit touches, as read (locked for the real edit, plain for a preview)."""

    stock_level_id: uuid.UUID
    sku: str
    warehouse_id: uuid.UUID
    code: str
    priority: int
    country: str
    on_hand: int
    reserved: int
    serves_channel: bool

    def candidate(self, *, extra: int = 0, preferred: bool = False) -> Candidate:
        """As a placement candidate with `extra` units given back by the same edit; `preferred` (a warehouse the
        order already uses) ranks before every other."""
        priority = self.priority - 1_000_000 if preferred else self.priority
        return Candidate(self.stock_level_id, self.sku, self.warehouse_id, priority, self.reserved, self.on_hand - self.reserved + extra,
                         self.country, self.code)


@dataclass(frozen=True, slots=True)
class Release:
    """Units of one allocation given back."""

    allocation_id: uuid.UUID
    stock_level_id: uuid.UUID
    sku: str
    warehouse_id: uuid.UUID
    quantity: int


@dataclass(frozen=True, slots=True)
class LinePick:
    """Units reserved for one order line (`line_id`) in one warehouse."""

    line_id: uuid.UUID
    pick: Pick


_LEVELS = """
SELECT s.id, s.sku, s.warehouse_id, s.on_hand, s.reserved, w.code, w.priority, w.country,
       CAST(:channel AS varchar) = ANY(w.channels) AS serves
FROM stock_levels s JOIN warehouses w ON w.id = s.warehouse_id
WHERE s.sku IN :skus ORDER BY s.sku, s.warehouse_id
"""
LEVELS = text(_LEVELS).bindparams(bindparam("skus", expanding=True))
LOCK_LEVELS = text(_LEVELS + " FOR UPDATE OF s").bindparams(bindparam("skus", expanding=True))


async def levels_of(session: AsyncSession, *, skus: list[str], channel: SalesChannel, lock: bool) -> list[Level]:
    """Every stock level of `skus` (all warehouses: releases may come from one that no longer serves the channel),
    in the global lock order (sku, warehouse id); `lock`: FOR UPDATE, as every other stock locker does."""
    if not skus:
        return []
    rows = await session.execute(LOCK_LEVELS if lock else LEVELS, {"skus": sorted(set(skus)), "channel": str(channel)})
    return [Level(r.id, r.sku, r.warehouse_id, r.code, r.priority, r.country, r.on_hand, r.reserved, bool(r.serves)) for r in rows]


def plan_adjustment(
    *, levels: list[Level], releases: list[Release], wanted: list[tuple[uuid.UUID, str, int, Path]], preferred: set[uuid.UUID],
    planner: Callable[[Mapping[str, int], list[Candidate], Mapping[str, Path]], list[Pick]] | None = None,
) -> list[LinePick]:
    """Where the added units of an edit are reserved: `wanted` (line id, sku, units, input path) planned on the
    levels' figures after this edit's own `releases`, preferring the warehouses the order already uses (then the
    placement's rule: one warehouse for everything, else split). Splits each SKU's picks over its lines in
    the given order. OUT_OF_STOCK (at the first line's path) when the serving warehouses lack the units.
    `planner` (issue 19, the sourcing rules in edits: app/orders/edits.py) plans the demand in place of
    `plan_allocation` on the same candidates; None: `plan_allocation`, as always."""
    if not wanted:
        return []
    given_back: dict[uuid.UUID, int] = {}
    for r in releases:
        given_back[r.stock_level_id] = given_back.get(r.stock_level_id, 0) + r.quantity
    demand: dict[str, int] = {}
    paths: dict[str, Path] = {}
    for _, sku, quantity, path in wanted:
        demand[sku] = demand.get(sku, 0) + quantity
        paths.setdefault(sku, path)
    candidates = [
        level.candidate(extra=given_back.get(level.stock_level_id, 0), preferred=level.warehouse_id in preferred)
        for level in levels if level.serves_channel and level.sku in demand
    ]
    picks = (planner or plan_allocation)(demand, candidates, paths)
    by_sku: dict[str, list[list[Any]]] = {}
    for p in picks:
        by_sku.setdefault(p.sku, []).append([p, p.quantity])
    result: list[LinePick] = []
    for line_id, sku, quantity, _ in wanted:
        left = quantity
        for entry in by_sku[sku]:
            pick, free = entry
            take = min(left, free)
            if take <= 0:
                continue
            result.append(LinePick(line_id, Pick(pick.stock_level_id, sku, pick.warehouse_id, take)))
            entry[1] -= take
            left -= take
            if left == 0:
                break
    return result


# An edit's stock change in ONE statement (the rows locked there, in the global order, to the commit only): each
# level's net change applied where a raise still fits (`on_hand - reserved >= n`); returns the levels changed. Fewer
# than asked: a raise did not fit (stock moved since the snapshot), the caller gives the rest back and re-plans.
_ADJUST = text("""
WITH wanted AS (
    SELECT * FROM unnest(CAST(:level_ids AS uuid[]), CAST(:deltas AS integer[])) AS w(level_id, n)
), locked AS (
    SELECT s.id FROM stock_levels s WHERE s.id IN (SELECT level_id FROM wanted) ORDER BY s.sku, s.warehouse_id FOR UPDATE OF s
), changed AS (
    UPDATE stock_levels s SET reserved = s.reserved + w.n FROM wanted w
    WHERE s.id = w.level_id AND s.id IN (SELECT id FROM locked) AND (w.n <= 0 OR s.on_hand - s.reserved >= w.n)
    RETURNING s.id
)
SELECT id FROM changed
""")


def _net(releases: list[Release], picks: list[LinePick]) -> dict[uuid.UUID, int]:
    net: dict[uuid.UUID, int] = {}
    for r in releases:
        net[r.stock_level_id] = net.get(r.stock_level_id, 0) - r.quantity
    for lp in picks:
        net[lp.pick.stock_level_id] = net.get(lp.pick.stock_level_id, 0) + lp.pick.quantity
    return {level_id: n for level_id, n in net.items() if n}


async def adjust_at_once(
    session: AsyncSession, notices: list, *, order_id: uuid.UUID, releases: list[Release], picks: list[LinePick], actor: str | None,
    reference: str, reason: str,
) -> bool:
    """Apply an edit's stock plan made on an unlocked snapshot, in one statement that locks the levels it changes
    (`_ADJUST`), then its ledger rows and allocations. False when a raise no longer fits: then nothing is left
    changed, and the caller re-plans on locked levels (`levels_of(lock=True)`) and applies that with `adjust`."""
    net = _net(releases, picks)
    if net:
        ids = sorted(net)
        changed = list((await session.execute(_ADJUST, {"level_ids": ids, "deltas": [net[i] for i in ids]})).scalars())
        if len(changed) < len(ids):
            if changed:
                await session.execute(_GIVE_BACK, {"level_ids": changed, "quantities": [net[i] for i in changed]})
            return False
    await _record_adjustment(session, notices, order_id=order_id, releases=releases, picks=picks, actor=actor, reference=reference, reason=reason)
    return True


async def adjust(
    session: AsyncSession, notices: list, *, order_id: uuid.UUID, levels: list[Level], releases: list[Release], picks: list[LinePick],
    actor: str | None, reference: str, reason: str,
) -> None:
    """Apply an edit's stock plan on levels the caller locked (`levels_of(lock=True)`, after the order row): give
    `releases` back (RELEASE ledger rows, `quantity_released` on their allocations) and reserve `picks` (RESERVATION
    ledger rows, new allocations of their lines). The check constraint backs the plan: never beyond on-hand."""
    net = _net(releases, picks)
    reserved = {level.stock_level_id: level.reserved for level in levels}
    if net:
        await session.execute(update(StockLevel), [{"id": level_id, "reserved": reserved[level_id] + n} for level_id, n in sorted(net.items())])
    await _record_adjustment(session, notices, order_id=order_id, releases=releases, picks=picks, actor=actor, reference=reference, reason=reason)


async def _record_adjustment(
    session: AsyncSession, notices: list, *, order_id: uuid.UUID, releases: list[Release], picks: list[LinePick], actor: str | None,
    reference: str, reason: str,
) -> None:
    if not releases and not picks:
        return
    ledger = [
        {"sku": r.sku, "warehouse_id": r.warehouse_id, "kind": "RELEASE", "reserved_delta": -r.quantity, "on_hand_delta": 0,
         "actor": actor, "reference": reference, "reason": reason}
        for r in releases
    ] + [
        {"sku": lp.pick.sku, "warehouse_id": lp.pick.warehouse_id, "kind": "RESERVATION", "reserved_delta": lp.pick.quantity,
         "on_hand_delta": 0, "actor": actor, "reference": reference, "reason": reason}
        for lp in picks
    ]
    await session.execute(insert(StockMovement), ledger)
    for r in releases:  # through the session's own objects (the caller loaded them): later reads see the change
        released = await session.get(Allocation, r.allocation_id)
        assert released is not None
        released.quantity_released += r.quantity
    session.add_all(
        Allocation(id=uuid.uuid4(), order_id=order_id, order_line_id=lp.line_id, warehouse_id=lp.pick.warehouse_id, sku=lp.pick.sku,
                   quantity=lp.pick.quantity, quantity_shipped=0, quantity_released=0)
        for lp in picks
    )
    for sku, warehouse_id in sorted({(r.sku, r.warehouse_id) for r in releases} | {(lp.pick.sku, lp.pick.warehouse_id) for lp in picks}):
        notify_stock(notices, sku, warehouse_id)


def release_units(allocations: list[Allocation], *, line_id: uuid.UUID, quantity: int, listed: Mapping[uuid.UUID, int],
                  levels: Mapping[tuple[str, uuid.UUID], uuid.UUID]) -> list[Release]:
    """Which of a line's allocations give back `quantity` units: only units neither shipped nor on a pick list
    (`listed`: units per allocation on pick lists), the smallest allocations first (so the order stays in as few
    warehouses as it can). `levels`: (sku, warehouse) -> stock level id. Fewer units than asked: the caller refused
    already (the line's own count)."""
    own = [a for a in allocations if a.order_line_id == line_id]
    free = {a.id: a.quantity - a.quantity_released - max(listed.get(a.id, 0), a.quantity_shipped) for a in own}
    releases: list[Release] = []
    left = quantity
    for a in sorted(own, key=lambda a: (free[a.id], str(a.warehouse_id))):
        take = min(left, free[a.id])
        if take <= 0:
            continue
        releases.append(Release(a.id, levels[(a.sku, a.warehouse_id)], a.sku, a.warehouse_id, take))
        left -= take
        if left == 0:
            break
    return releases


def split_over_lines(items: Sequence[Any], lines: Sequence[tuple[uuid.UUID, str, int]], source: str) -> list[tuple[uuid.UUID, Any]]:
    """SKU-level items (picks, or a backorder's receipt claims: anything with `sku` and `quantity`) split over
    (line id, sku, units wanted) lines in their order, each share a copy of its item with the share's quantity.
    AssertionError if `source` (the items' name, for the message) lacks units for a line."""
    left: dict[str, list[list[Any]]] = {}
    for item in items:
        left.setdefault(item.sku, []).append([item, item.quantity])
    shares: list[tuple[uuid.UUID, Any]] = []
    for line_id, sku, quantity in lines:
        wanted = quantity
        for entry in left.get(sku, []):
            if wanted == 0:
                break
            take = min(wanted, entry[1])
            if take > 0:
                shares.append((line_id, replace(entry[0], quantity=take)))
                entry[1] -= take
                wanted -= take
        if wanted:
            raise AssertionError(f"{source} lacks {wanted} units of {sku} for line {line_id}")
    return shares
