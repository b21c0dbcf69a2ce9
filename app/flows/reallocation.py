"""reallocateOrder (issue 19): move an order's reserved, unshipped units that are not on a pick list to other
warehouses, atomically.

One transaction: the order row is locked first (as every order change), then the stock rows of the moved SKUs in
both warehouses, in the global (sku, warehouse id) order, so it queues behind (never deadlocks with) placements,
shipments and edits. The units are given back at the source (RELEASE ledger rows, `quantity_released` on its
allocations) and reserved at the target (RESERVATION ledger rows, new allocations of the same order lines), only
where the target still has them (`on_hand - reserved`, read under the lock; the check constraint backs it). One
REALLOCATED event {moves, before, after} (open units per warehouse code), then the delivery promise is recomputed
(DELIVERY_ESTIMATE_CHANGED when it moves).

Refusals, nothing written: INVALID_INPUT (neither or both of moves / warehouseCode, a quantity below 1, a move to
its own warehouse, a target that does not serve the order's channel or, for a click-and-collect order, is not its
pickup point, more units than the order holds there), NOT_FOUND (the order, a warehouse code, a SKU the order has no
stocked line of), INVALID_TRANSITION (an order that is no longer changeable, or units on a pick list: picked units
stay where they are picked), OUT_OF_STOCK (the target lacks the units, at the move's quantity), LIMIT_EXCEEDED (over
100 moves).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text

from app.errors import DomainError, ErrorCode, Path, collect
from app.fulfilment.promise import apply_order_promise, order_promise
from app.infra.database import UnitOfWork
from app.orders import allocation, events
from app.orders import promise as calendar
from app.orders import service as orders
from app.orders.allocation import Level, LinePick, Pick, Release
from app.orders.enums import OrderEventType
from app.orders.enums import OrderStatus as S
from models import Allocation, Order, OrderLine, Warehouse
from models.fulfilment import PickListLine

MAX_MOVES = 100
# The statuses whose reservations may still move (as editOrder's): nothing has left for good, the order goes on.
REALLOCATABLE = frozenset({S.PENDING, S.CONFIRMED, S.PROCESSING, S.PARTIALLY_SHIPPED, S.ON_HOLD})
REASON = "reallocated"


@dataclass(frozen=True, slots=True)
class Move:
    """`quantity` units of `sku` the order holds at `from_code`, to be held at `to_code` instead."""

    sku: str
    from_code: str
    to_code: str
    quantity: int


_LOCK_LEVELS = text("""
SELECT s.id, s.sku, s.warehouse_id, s.on_hand, s.reserved, w.code, w.priority, w.country, true AS serves
FROM stock_levels s JOIN warehouses w ON w.id = s.warehouse_id
WHERE (s.sku, s.warehouse_id) IN (SELECT * FROM unnest(CAST(:skus AS varchar[]), CAST(:warehouse_ids AS uuid[])))
ORDER BY s.sku, s.warehouse_id FOR UPDATE OF s
""")


async def _lock_levels(uow: UnitOfWork, keys: set[tuple[str, uuid.UUID]]) -> dict[tuple[str, uuid.UUID], Level]:
    ordered = sorted(keys, key=lambda k: (k[0], str(k[1])))
    rows = await uow.session.execute(_LOCK_LEVELS, {"skus": [k[0] for k in ordered], "warehouse_ids": [k[1] for k in ordered]})
    return {(r.sku, r.warehouse_id): Level(r.id, r.sku, r.warehouse_id, r.code, r.priority, r.country, r.on_hand, r.reserved, True)
            for r in rows}


def _free(a: Allocation, listed: dict[uuid.UUID | None, int]) -> int:
    """Units of an allocation that may move: neither shipped nor on a pick list, nor given back."""
    return max(a.quantity - a.quantity_released - max(listed.get(a.id, 0), a.quantity_shipped), 0)


def _open_by_code(allocations: list[Allocation], codes: dict[uuid.UUID, str]) -> dict[str, dict[str, int]]:
    units: dict[str, dict[str, int]] = {}
    for a in sorted(allocations, key=lambda a: (codes.get(a.warehouse_id, ""), a.sku)):
        if a.open_quantity > 0:
            per_sku = units.setdefault(codes.get(a.warehouse_id, str(a.warehouse_id)), {})
            per_sku[a.sku] = per_sku.get(a.sku, 0) + a.open_quantity
    return units


async def reallocate_order(*, uow: UnitOfWork, order_id: uuid.UUID, moves: list[Move] | None, warehouse_code: str | None) -> Order:
    """See the module doc."""
    if (moves is None) == (warehouse_code is None) or (moves is not None and not moves):
        raise DomainError(ErrorCode.INVALID_INPUT, "Give either moves or warehouseCode.", ("moves",))
    if moves is not None and len(moves) > MAX_MOVES:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_MOVES} moves.", ("moves",))
    order = await orders.get_for_update(uow=uow, order_id=order_id)
    if order.status not in REALLOCATABLE:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {order.status} cannot be reallocated.", ("order_id",))
    allocations = [
        a for a in (await uow.session.execute(
            select(Allocation).where(Allocation.order_id == order.id).order_by(Allocation.sku, Allocation.warehouse_id, Allocation.id)
            .execution_options(populate_existing=True)
        )).scalars()
        if getattr(a, "receipt_id", None) is None  # backorders, issue 19: units claimed on a receipt are not stock to move
    ]
    listed: dict[uuid.UUID | None, int] = {
        allocation_id: int(n) for allocation_id, n in (await uow.session.execute(  # (allocation ids are not null here)
            select(PickListLine.allocation_id, func.sum(PickListLine.quantity))
            .where(PickListLine.order_id == order.id, PickListLine.allocation_id.is_not(None)).group_by(PickListLine.allocation_id)
        )).all()
    }
    stocked = set((await uow.session.execute(
        select(OrderLine.sku).where(OrderLine.order_id == order.id, OrderLine.made_to_order.is_(False))
    )).scalars())
    wanted_codes = {warehouse_code} if warehouse_code is not None else {c for m in moves or () for c in (m.from_code, m.to_code)}
    warehouses = list((await uow.session.execute(
        select(Warehouse).where(Warehouse.code.in_(sorted(wanted_codes)) | Warehouse.id.in_(sorted({a.warehouse_id for a in allocations})))
    )).scalars())
    by_code = {w.code: w for w in warehouses}
    codes = {w.id: w.code for w in warehouses}
    pickup_point = getattr(order, "pickup_warehouse_id", None)  # pickup, issue 19: a click-and-collect order's units stay for its store

    def check_target(code: str, path: Path, errors: list[DomainError]) -> Warehouse | None:
        target = by_code.get(code)
        if target is None:
            errors.append(DomainError(ErrorCode.NOT_FOUND, f"Unknown warehouse {code!r}.", path))
        elif order.channel not in (target.channels or []):
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Warehouse {code} does not serve the {order.channel} channel.", path))
        elif pickup_point is not None and target.id != pickup_point:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "A click-and-collect order's units can only move to its pickup point.", path))
        else:
            return target
        return None

    errors: list[DomainError] = []
    # (path of the quantity, sku, source id, target id, units)
    planned: list[tuple[Path, str, uuid.UUID, uuid.UUID, int]] = []
    if warehouse_code is not None:
        target = check_target(warehouse_code, ("warehouse_code",), errors)
        collect(errors)
        assert target is not None
        per_source: dict[tuple[str, uuid.UUID], list[int]] = {}
        for a in allocations:
            if a.warehouse_id != target.id and a.open_quantity > 0:
                entry = per_source.setdefault((a.sku, a.warehouse_id), [0, 0])
                entry[0] += _free(a, listed)
                entry[1] += a.open_quantity
        for (sku, source_id), (free, open_units) in sorted(per_source.items(), key=lambda kv: (kv[0][0], codes.get(kv[0][1], ""))):
            if free < open_units:
                errors.append(DomainError(ErrorCode.INVALID_TRANSITION, f"{open_units - free} units of {sku} at {codes.get(source_id)} are on a "
                                          "pick list and cannot move.", ("warehouse_code",)))
            if free > 0:
                planned.append((("warehouse_code",), sku, source_id, target.id, free))
        if not per_source:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"The order holds no open units outside {warehouse_code}.", ("warehouse_code",)))
    else:
        taken: dict[tuple[str, uuid.UUID], int] = {}
        for i, move in enumerate(moves or ()):
            at: Path = ("moves", i)
            before = len(errors)
            if move.quantity < 1:
                errors.append(DomainError(ErrorCode.INVALID_INPUT, "Quantity must be at least 1.", (*at, "quantity")))
            if move.sku not in stocked:
                errors.append(DomainError(ErrorCode.NOT_FOUND, f"The order has no stocked line of {move.sku!r}.", (*at, "sku")))
            source = by_code.get(move.from_code)
            if source is None:
                errors.append(DomainError(ErrorCode.NOT_FOUND, f"Unknown warehouse {move.from_code!r}.", (*at, "from_warehouse_code")))
            target = check_target(move.to_code, (*at, "to_warehouse_code"), errors)
            if source is not None and target is not None and source.id == target.id:
                errors.append(DomainError(ErrorCode.INVALID_INPUT, "The units are already there.", (*at, "to_warehouse_code")))
            if len(errors) > before or source is None or target is None:
                continue
            held = [a for a in allocations if a.sku == move.sku and a.warehouse_id == source.id]
            free = sum(_free(a, listed) for a in held) - taken.get((move.sku, source.id), 0)
            open_units = sum(a.open_quantity for a in held) - taken.get((move.sku, source.id), 0)
            if move.quantity > open_units:
                errors.append(DomainError(ErrorCode.INVALID_INPUT, f"The order holds {max(open_units, 0)} open units of {move.sku} at "
                                          f"{move.from_code}.", (*at, "quantity")))
            elif move.quantity > free:
                errors.append(DomainError(ErrorCode.INVALID_TRANSITION, f"{open_units - free} units of {move.sku} at {move.from_code} are on a "
                                          "pick list (or shipped) and cannot move.", (*at, "quantity")))
            else:
                taken[(move.sku, source.id)] = taken.get((move.sku, source.id), 0) + move.quantity
                planned.append(((*at, "quantity"), move.sku, source.id, target.id, move.quantity))
    collect(errors)

    # Stock rows: every (sku, warehouse) the moves touch, locked in the global order after the order row.
    levels = await _lock_levels(uow, {(sku, w) for _, sku, from_id, target_id, _ in planned for w in (from_id, target_id)})
    net: dict[tuple[str, uuid.UUID], int] = {}
    for _, sku, from_id, target_id, n in planned:
        net[(sku, from_id)] = net.get((sku, from_id), 0) - n
        net[(sku, target_id)] = net.get((sku, target_id), 0) + n
    for path, sku, _, target_id, _ in planned:
        level = levels.get((sku, target_id))
        want = net.get((sku, target_id), 0)
        if want > 0 and (level is None or level.on_hand - level.reserved < want):
            have = 0 if level is None else level.on_hand - level.reserved
            errors.append(DomainError(ErrorCode.OUT_OF_STOCK, f"{codes[target_id]} has {have} units of {sku} free, {want} needed.", path))
            net[(sku, target_id)] = 0  # reported once
    collect(errors)

    releases: list[Release] = []
    picks: list[LinePick] = []
    remaining = {a.id: _free(a, listed) for a in allocations}
    moved: list[dict[str, Any]] = []
    for _, sku, from_id, target_id, n in planned:
        left = n
        for a in sorted((a for a in allocations if a.sku == sku and a.warehouse_id == from_id), key=lambda a: (remaining[a.id], str(a.id))):
            take = min(left, remaining[a.id])
            if take <= 0:
                continue
            remaining[a.id] -= take
            left -= take
            releases.append(Release(a.id, levels[(sku, from_id)].stock_level_id, sku, from_id, take))
            picks.append(LinePick(a.order_line_id, Pick(levels[(sku, target_id)].stock_level_id, sku, target_id, take)))
            if left == 0:
                break
        moved.append({"sku": sku, "from": codes[from_id], "to": codes[target_id], "quantity": n})
    before_units = _open_by_code(allocations, codes)
    await allocation.adjust(uow.session, uow.notices, order_id=order.id, levels=list(levels.values()), releases=releases, picks=picks,
                            actor=uow.actor, reference=order.number, reason=REASON)
    await uow.session.flush()
    after = list((await uow.session.execute(select(Allocation).where(Allocation.order_id == order.id))).scalars())
    events.record(uow, order, OrderEventType.REALLOCATED,
                  data={"moves": moved, "before": before_units, "after": _open_by_code([a for a in after if getattr(a, "receipt_id", None) is None],
                                                                                         codes)})
    apply_order_promise(uow, order, await order_promise(uow.session, order=order, now=calendar.utcnow()), reason=OrderEventType.REALLOCATED)
    return order

