"""Completing a draft order (issue 18): the draft becomes an order through the very path `placeOrder` takes,
`app/flows/placement.place` (validation, catalogue prices, stock reserved in one statement, the card authorised
outside any transaction, the PLACED event), with the draft's channel (PHONE or STORE) and content.

`place` runs its own transactions, so completion is three short steps, each safe to repeat:

1. begin (the draft row locked): refuse a draft that is not OPEN or has expired; answer a retry (the client's
   idempotency key) of a completed one; mark the completion in flight (`completing_since`: the draft can no
   longer change, and a completion with another key is refused meanwhile) and build the placement request.
2. `placement.place(...)` with the idempotency key `draft:<draft id>`: ONE order per draft, whoever calls and
   however often (a second concurrent completion replays the first order instead of placing another).
3. finish (the draft row locked): COMPLETED, linked to the order.

A process dying between 2 and 3 leaves an order with the draft's key: the next completion finds it in step 1 and
only finishes. A refusal in step 2 (out of stock, declined card) clears the mark, so the draft is as it was.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.drafts import service as drafts
from app.drafts.enums import DraftOrderStatus
from app.errors import DomainError, ErrorCode, Path, ValidationErrors, collect
from app.flows import placement
from app.infra.database import Database, UnitOfWork
from app.orders.enums import PaymentMethod
from app.orders.service import LineRequest, PlaceOrderRequest
from models import Order
from models.drafts import DraftOrder

MAX_KEY = 200
# Paths of a placement refusal that name the completion's own input; every other path names the draft's content.
_INPUT_PATHS = frozenset({"payment", "shipping_method"})


def placement_key(draft_id: uuid.UUID) -> str:
    """The placement idempotency key of a draft's order: one order per draft."""
    return f"draft:{draft_id}"


@dataclass(frozen=True, slots=True)
class Completed:
    draft: DraftOrder
    order: Order
    events: list[dict[str, Any]]  # what the placing transaction committed (empty for a replay)


@dataclass(frozen=True, slots=True)
class _Begun:
    request: PlaceOrderRequest | None  # None: the order exists already (a retry, or a crash between the steps)
    order: Order | None


def _fingerprint(method: PaymentMethod | str | None, token: str | None, shipping_method: str | None = None) -> str:
    body = {"method": getattr(method, "value", method), "token": token}
    if shipping_method is not None:  # issue 19 review F5 (absent: the fingerprint as before)
        body["shipping"] = shipping_method.strip().upper()
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def in_draft(error: DomainError) -> DomainError:
    """A placement refusal re-pathed for the completion: ("lines", 0, "sku") -> ("draft_order", "lines", 0, "sku");
    ("payment", "token") stays (the completion's input); the derived key's conflict names the draft."""
    def repath(e: DomainError) -> DomainError:
        path: Path | None = e.path
        if path and path[0] == "idempotency_key":
            path = ("draft_order_id",)
        elif path and path[0] not in _INPUT_PATHS:
            path = ("draft_order", *path)
        return DomainError(e.code, e.message, path)

    if isinstance(error, ValidationErrors):
        return ValidationErrors([repath(e) for e in error.errors])
    return repath(error)


async def _order(uow: UnitOfWork, order_id: uuid.UUID) -> Order:
    return (await uow.session.execute(select(Order).where(Order.id == order_id))).scalar_one()


async def _begin(uow: UnitOfWork, *, draft_id: uuid.UUID, method: PaymentMethod | None, token: str | None,
                 idempotency_key: str | None, now: datetime, shipping_method: str | None = None) -> _Begun:
    if idempotency_key is not None and len(idempotency_key) > MAX_KEY:
        raise DomainError(ErrorCode.INVALID_INPUT, f"idempotencyKey is at most {MAX_KEY} characters.", ("idempotency_key",))
    draft = await drafts.lock_draft(uow, draft_id)
    fingerprint = _fingerprint(method, token, shipping_method)
    same_key = bool(idempotency_key) and idempotency_key == draft.completion_key
    if same_key and draft.completion_fingerprint != fingerprint:
        raise DomainError(ErrorCode.IDEMPOTENCY_CONFLICT, "This idempotencyKey was used with a different payment.", ("idempotency_key",))
    if draft.status == DraftOrderStatus.COMPLETED:
        assert draft.order_id is not None
        order = await _order(uow, draft.order_id)
        if same_key:
            return _Begun(None, order)  # a retry of the completion: its order again, nothing placed
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"Draft {draft.number} was already completed as order {order.number}.",
                          ("draft_order_id",))
    if drafts.completion_in_flight(draft, now) and not same_key:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"Draft {draft.number} is being completed by another request; "
                          "retry with that request's idempotencyKey to get its answer.", ("draft_order_id",))
    existing = (await uow.session.execute(select(Order).where(Order.idempotency_key == placement_key(draft.id)))).scalar_one_or_none()
    if existing is not None:
        return _Begun(None, existing)  # placed by a completion that died before finishing: finish only
    drafts.check_open(draft, now)
    problems: list[DomainError] = []
    if not draft.email:
        problems.append(DomainError(ErrorCode.INVALID_INPUT, "The draft has no customer email.", ("draft_order", "email")))
    if not draft.shipping_address:
        problems.append(DomainError(ErrorCode.INVALID_INPUT, "The draft has no shipping address.", ("draft_order", "shipping_address")))
    lines = await drafts.lines_of(uow.session, draft.id)
    if not lines:
        problems.append(DomainError(ErrorCode.INVALID_INPUT, "The draft has no lines.", ("draft_order", "lines")))
    collect(problems)
    draft.completing_since, draft.completion_key, draft.completion_fingerprint = now, idempotency_key or None, fingerprint
    request = PlaceOrderRequest(
        channel=draft.channel, email=draft.email or "", lines=[LineRequest(line.sku, line.quantity, line.customization) for line in lines],
        shipping_address=dict(draft.shipping_address or {}), billing_address=dict(draft.billing_address) if draft.billing_address else None,
        payment_method=method, payment_token=token, idempotency_key=placement_key(draft.id),
        # fixes19b, issue 19 review F5: charged only for a shippingMethod given at completion (as placeOrder charges it);
        # without one the preview's totals (goods only) are what is placed
        shipping_method=shipping_method, charge_shipping=shipping_method is not None,
    )
    return _Begun(request, None)


async def _abandon(uow: UnitOfWork, *, draft_id: uuid.UUID, since: datetime) -> None:
    """Clear this completion's mark (the placement refused): the draft is as it was before."""
    draft = await drafts.lock_draft(uow, draft_id)
    if draft.status == DraftOrderStatus.OPEN and draft.completing_since == since:
        draft.completing_since, draft.completion_key, draft.completion_fingerprint = None, None, None


async def _finish(uow: UnitOfWork, *, draft_id: uuid.UUID, order: Order, now: datetime) -> DraftOrder:
    draft = await drafts.lock_draft(uow, draft_id)
    if draft.status == DraftOrderStatus.COMPLETED:
        if draft.order_id != order.id:  # cannot happen: one placement key per draft
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"Draft {draft.number} was completed by another order.", ("draft_order_id",))
        return draft
    # OPEN, or EXPIRED while its placement ran (it was valid when the completion began): the order exists, link it.
    draft.status, draft.order_id, draft.completing_since = DraftOrderStatus.COMPLETED, order.id, None
    draft.completed_at, draft.completed_by, draft.updated_at = now, uow.actor, now
    await uow.session.flush()
    return draft


async def complete_draft(
    db: Database, *, draft_id: uuid.UUID, payment_method: PaymentMethod | None, payment_token: str | None,
    idempotency_key: str | None, actor: str | None, now: datetime | None = None, shipping_method: str | None = None,
) -> Completed:
    """Place the draft's order through `placement.place` and mark the draft COMPLETED (see the module doc).
    Refusals: NOT_FOUND / INVALID_TRANSITION (not open, expired, completed, being completed) at ("draft_order_id",);
    IDEMPOTENCY_CONFLICT at ("idempotency_key",); the draft's content (missing email/address/lines, unknown SKU,
    OUT_OF_STOCK) at ("draft_order", ...); payment problems (PAYMENT_DECLINED, ...) at ("payment", ...); an unknown or
    unavailable `shipping_method` (charged as placeOrder charges it; None: no shipping) INVALID_INPUT at ("shipping_method",)."""
    now = now or datetime.now(UTC)
    begun = await db.run(lambda uow: _begin(uow, draft_id=draft_id, method=payment_method, token=payment_token,
                                            idempotency_key=idempotency_key, now=now, shipping_method=shipping_method), actor=actor)
    events: list[dict[str, Any]] = []
    if begun.request is not None:
        try:
            placed = await placement.place(db, request=begun.request, actor=actor)
        except Exception as exc:
            await db.run(lambda uow: _abandon(uow, draft_id=draft_id, since=now), actor=actor)
            if isinstance(exc, DomainError):
                raise in_draft(exc) from None
            raise
        order, events = placed.order, placed.events
    else:
        assert begun.order is not None
        order = begun.order
    draft = await db.run(lambda uow: _finish(uow, draft_id=draft_id, order=order, now=now), actor=actor)
    return Completed(draft, order, events)
