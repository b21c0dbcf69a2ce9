"""Holds: an order may carry several, each with its reason (issue 18).

- `hold_order` on an order that is not held puts it ON_HOLD (remembering `held_from`) with its first hold: the
  STATUS_CHANGED event it always recorded. On an order already ON_HOLD, another reason adds a hold (HOLD_ADDED,
  no status change); a reason still open is refused (INVALID_TRANSITION "already held for X").
- `release_order` releases one hold: the one named, or the oldest open one. While others are left the order stays
  ON_HOLD (HOLD_RELEASED); the last release resumes `held_from` (STATUS_CHANGED).
- An order ON_HOLD from before holds had rows (or forced there) counts as held for STAFF.
- Nothing confirms or captures an order while it is ON_HOLD: app/orders/service.py `refuse_if_held`.

Everything runs in the caller's unit of work, on the order row locked first (`get_for_update`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.errors import DomainError, ErrorCode
from app.infra import rows
from app.infra.database import UnitOfWork
from app.orders import events, risk
from app.orders import service as orders
from app.orders.enums import OrderEventType, OrderStatus, RiskLevel, RiskSource
from app.orders.risk import Assessment
from app.orders.state_machine import HOLDABLE, release_target
from models import Order
from models.holds import OrderHold

STAFF = "STAFF"
RISK_REVIEW = "RISK_REVIEW"
MAX_REASON = 64
MAX_NOTE = 500


def check_reason(reason: str | None) -> str:
    """The hold's reason as given (stripped), STAFF when absent; at most 64 characters."""
    code = (reason or "").strip() or STAFF
    if len(code) > MAX_REASON:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A hold reason is at most {MAX_REASON} characters.", ("reason",))
    return code


def _note(note: str | None, path: tuple[str, ...]) -> str | None:
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A note is at most {MAX_NOTE} characters.", path)
    return note


async def add_hold(*, uow: UnitOfWork, order: Order, reason: str, note: str | None = None) -> OrderHold:
    """Hold `order` (locked by the caller) for `reason` (already checked)."""
    if order.status == OrderStatus.ON_HOLD:
        rows = await orders.open_holds(uow=uow, order_id=order.id)
        if not rows:  # held before holds had rows (or forced there): its hold becomes a STAFF row, released like any other
            rows = [_new_hold(uow, order, STAFF, None)]
        held = [h.reason for h in rows]
        if reason in held:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"The order is already held for {reason}.", ("order_id",))
        hold = _new_hold(uow, order, reason, note)
        order.updated_at = datetime.now(UTC)
        events.record(uow, order, OrderEventType.HOLD_ADDED, data={"holdId": str(hold.id), "reason": reason, "note": note,
                                                                  "holds": [*held, reason]})
        return hold
    if order.status not in HOLDABLE:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"An order that is {order.status} cannot be put on hold.", ("order_id",))
    hold = _new_hold(uow, order, reason, note)
    _first_hold(uow, order, hold)
    return hold


def _first_hold(uow: UnitOfWork, order: Order, hold: OrderHold) -> None:
    """An order that is not held goes ON_HOLD (remembering `held_from`) with its first hold's STATUS_CHANGED event."""
    order.held_from = order.status
    orders.transition(uow, order, OrderStatus.ON_HOLD, data={"action": "hold", "reason": hold.reason, "holdId": str(hold.id)})


def _new_hold(uow: UnitOfWork, order: Order, reason: str, note: str | None, *, add: bool = True) -> OrderHold:
    hold = rows.construct(OrderHold, id=uuid.uuid4(), order_id=order.id, reason=reason, note=note, created_at=datetime.now(UTC),
                          created_by=uow.actor)  # OrderHold(...) without the attribute events (issue 16, session 8)
    if add:
        uow.session.add(hold)
    return hold


async def hold_order(*, uow: UnitOfWork, order_id: uuid.UUID, reason: str | None = None, note: str | None = None) -> Order:
    """holdOrder: hold the order for `reason` (default STAFF); another reason on a held order adds a hold."""
    code = check_reason(reason)
    note = _note(note, ("note",))
    order = await orders.get_for_update(uow=uow, order_id=order_id)
    await add_hold(uow=uow, order=order, reason=code, note=note)
    return order


async def release_order(*, uow: UnitOfWork, order_id: uuid.UUID, hold_id: uuid.UUID | None = None, reason: str | None = None) -> Order:
    """releaseOrder: release the hold `hold_id`, or the oldest open one (`reason`: the release note). The order
    resumes its `held_from` status only when no hold is left."""
    note = _note(reason, ("reason",))  # releaseOrder's `reason` is the release note
    order = await orders.get_for_update(uow=uow, order_id=order_id)
    if order.status != OrderStatus.ON_HOLD:
        release_target(order.status, order.held_from)  # raises INVALID_TRANSITION
    held = await orders.open_holds(uow=uow, order_id=order.id)
    if hold_id is not None:
        target = next((h for h in held if h.id == hold_id), None)
        if target is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such open hold on this order.", ("hold_id",))
    else:
        target = held[0] if held else None
    now = datetime.now(UTC)
    if target is not None:
        target.released_at, target.released_by, target.release_note = now, uow.actor, note
    left = [h for h in held if h is not target]
    released = {"holdId": str(target.id) if target else None, "releasedReason": target.reason if target else STAFF}
    if left:
        order.updated_at = now
        events.record(uow, order, OrderEventType.HOLD_RELEASED, data={**released, "note": note, "holds": [h.reason for h in left]})
        return order
    resume = release_target(order.status, order.held_from)
    order.held_from = None
    orders.transition(uow, order, resume, data={"action": "release", "reason": note, **released})
    return order


# --- risk (app/orders/risk.py decides the level; here it becomes a hold) ----------------------------------


async def apply_risk(*, uow: UnitOfWork, order: Order, assessment: Assessment) -> OrderHold | None:
    """After the order's risk columns are set: a RISK_ASSESSED event when a rule matched (or a provider spoke), and
    for HIGH a RISK_REVIEW hold unless one is open. The hold, or None. An order that can no longer be held (shipped,
    cancelled, ...) keeps the verdict without a hold."""
    _risk_assessed(uow, order, assessment)
    if not assessment.high:
        return None
    if order.status == OrderStatus.ON_HOLD and RISK_REVIEW in await orders.open_hold_reasons(uow=uow, order=order):
        return None
    if order.status != OrderStatus.ON_HOLD and order.status not in HOLDABLE:
        return None
    return await add_hold(uow=uow, order=order, reason=RISK_REVIEW, note=_risk_note(assessment))


def apply_risk_to_new_order(*, uow: UnitOfWork, order: Order, assessment: Assessment) -> OrderHold | None:
    """`apply_risk` for a new order not written yet (placement; issue 16, session 8): the same events and the same
    status change, in the same order, but the RISK_REVIEW hold is returned unsaved, for the caller to write with the
    order in its one statement (app/orders/service.py `create_order`). The ORM's flush of that hold and of the order's
    UPDATE to ON_HOLD cost ~1.5 ms of CPU and two statements on every HIGH placement. A new order is never ON_HOLD
    yet (it has no hold to find): only the HOLDABLE check of `apply_risk` applies."""
    _risk_assessed(uow, order, assessment)
    if not assessment.high or order.status not in HOLDABLE:
        return None
    hold = _new_hold(uow, order, RISK_REVIEW, _risk_note(assessment), add=False)
    _first_hold(uow, order, hold)
    return hold


def _risk_assessed(uow: UnitOfWork, order: Order, assessment: Assessment) -> None:
    if assessment.facts or assessment.source == RiskSource.PROVIDER:
        events.record(uow, order, OrderEventType.RISK_ASSESSED, data={"level": assessment.level.value, "source": assessment.source.value,
                                                                     "facts": assessment.facts})


def _risk_note(assessment: Assessment) -> str | None:
    return "; ".join(f["detail"] for f in assessment.facts if f["level"] == RiskLevel.HIGH.value)[:MAX_NOTE] or None


async def assess_order_risk(
    *, uow: UnitOfWork, order_id: uuid.UUID, level: RiskLevel | str, facts: list[dict[str, Any]], provider: str,
) -> Order:
    """assessOrderRisk: an external provider's verdict replaces the order's assessment; HIGH holds it for RISK_REVIEW
    (unless such a hold is open); a lower level releases nothing."""
    assessment = risk.check_provider_verdict(level, facts, provider)
    order = await orders.get_for_update(uow=uow, order_id=order_id)
    for column, value in risk.risk_columns(assessment).items():
        setattr(order, column, value)
    order.updated_at = datetime.now(UTC)
    await apply_risk(uow=uow, order=order, assessment=assessment)
    return order
