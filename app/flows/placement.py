"""Placing an order: the orders domain checks the request, reads the catalogue with its stock (one
statement, nothing locked) and plans the reservations; fulfilment promises a delivery date over the
planned warehouses; the order is written and its units reserved in one statement just before the
commit (so a hot SKU's row stays locked for a moment only); billing opens its payment; cash on
delivery confirms the order at once. The order's risk (app/orders/risk.py) is assessed by the rules in the
transaction that writes it; HIGH puts it ON_HOLD for RISK_REVIEW there, so nothing is captured (nor cash on
delivery confirmed) until staff releases it.

A card is authorised by a remote provider, and no stock lock may be held while it answers (issue 16),
so `place` runs a card placement in two short transactions around the call:

1. reserve: plan, reserve the units and write a HELD `placement_attempts` row (models/placement.py),
   commit. No order exists yet: nothing a client could read, no event a subscriber could see.
2. authorise with the provider (idempotency key from the client's key, or from the attempt).
3. approved: write the order, lines, allocations (the held units become them: no stock row is touched),
   the payment and the PLACED / PAYMENT_AUTHORIZED events, delete the hold, commit.
   declined or failed: give the units back, keep the attempt as DECLINED (with the reason; the stock
   ledger shows the RESERVATION and its RELEASE), answer PAYMENT_DECLINED / UNAVAILABLE.

A process that dies between 1 and 3 leaves a HELD row; the expiry worker (app/flows/expiry.py) gives its
stock back after `placement_hold_seconds` and voids whatever the provider authorised under its key.
A retry with the client's idempotency key answers the first result: the order if one was written, the
same authorisation (the provider replays it) otherwise.

Each of those transactions takes one of `placement_slots` (per process, first come first served) for its
duration, never across the provider's call. The event loop shares the CPU among the requests in flight, so
placements that arrive together (a burst, or clients answered by the provider at the same moment) would all
finish together, each after the CPU of all of them, and reach the provider together again; in turn (FIFO) the
first is done after one share, the next after two, and their calls to the provider spread out. The same total
CPU, half the mean latency of a burst; the slots are free again while the provider answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from app.billing import config, payments
from app.errors import DomainError, ErrorCode
from app.flows.confirmation import confirm_locked_order
from app.fulfilment import carriers, rates
from app.fulfilment import pickup as collection
from app.fulfilment import promise as delivery
from app.infra.database import Database, UnitOfWork
from app.orders import backorders, holds, risk
from app.orders import promise as calendar
from app.orders import service as orders
from app.orders.enums import OrderStatus, PaymentMethod
from app.orders.service import Placement, PlaceOrderRequest
from models import Order

# The keys placement is given by its other callers: bulk import (app/flows/imports.py) and drafts (app/flows/drafts.py).
# A client's own key may not take these prefixes, so no client key can collide with a derived one.
DERIVED_KEY_PREFIXES = ("import:", "draft:")


def check_client_key(key: str | None) -> None:
    """Refuse a client idempotency key that takes a derived key's prefix (INVALID_INPUT at idempotency_key)."""
    if (key or "").startswith(DERIVED_KEY_PREFIXES):
        raise DomainError(ErrorCode.INVALID_INPUT, "idempotencyKey may not start with 'import:' or 'draft:'.", ("idempotency_key",))


DECLINE_REASON = "payment declined"


@dataclass(frozen=True, slots=True)
class Placed:
    """What `placeOrder` answers: the order, and the events its last transaction committed (for eventCursor)."""

    order: Order
    events: list[dict[str, Any]]


async def _promise(uow: UnitOfWork, placement: Placement) -> Any:
    if placement.pickup_warehouse_id is not None:  # pickup, issue 19: the promise is "ready at the store" (no transit)
        return await collection.placement_ready_promise(uow.session, placement)  # transfers, issue 19: a transfer's arrival at the store
    by_warehouse = {c.warehouse_id: c for c in placement.candidates}
    origins = [delivery.Origin(w, by_warehouse[w].country, by_warehouse[w].priority, by_warehouse[w].code) for w in placement.warehouse_ids]
    return await delivery.placement_promise(
        uow, placed_at=calendar.utcnow(), channel=placement.channel, destination_country=placement.destination_country,
        origins=origins, made_to_order_lead_days=placement.made_to_order_lead_days,
        backordered=backorders.ready_later(placement),  # backorders, issue 19
        # shipping, issue 19: the charged method's carrier / transit; else the default carrier read with the catalogue (writes7)
        carrier=await _carrier(uow, placement),
    )


async def _carrier(uow: UnitOfWork, placement: Placement) -> carriers.CarrierRules | None:
    """The promise's carrier: the charged method's (shipping, issue 19); else the default one as read with the catalogue
    (writes7, session 7); None: `placement_promise` reads the default one."""
    if placement.carriers is not None:  # read with the catalogue: no statement (issue 19 review F13)
        method = rates.method_carrier_of(placement.shipping, placement.carriers)
    else:
        method = await rates.method_carrier(uow.session, placement.shipping)
    if method is not None or placement.default_carrier is None:
        return method
    return carriers.default_of(placement.default_carrier)


async def _assess(uow: UnitOfWork, placement: Placement) -> risk.Assessment:
    """The placement's risk by the installation's rules (app/orders/risk.py): the rules read in this transaction
    with another statement (the catalogue's, the hold's taking), or else by one statement of their own, nothing locked."""
    return await risk.assess_placement(uow, email=placement.email, amount=orders.totals_of(placement).total,
                                       currency=placement.lines[0].product.currency, shipping_address=placement.shipping_address,
                                       billing_address=placement.billing_address, high_amount=config.settings().risk_high_amount,
                                       rules=placement.risk_rules)


async def place_order(*, uow: UnitOfWork, request: PlaceOrderRequest, customer_id: uuid.UUID | None = None,
                      lock_first: bool | None = None, customer_with_catalogue: bool = False) -> Order:
    """The whole placement in the caller's one transaction (a card is authorised inside it: the path of
    factories, the demo seed and exchanges; `placeOrder` uses `place`). `customer_id`: found beforehand; or
    `customer_with_catalogue`: found or added by the catalogue's statement, before the transaction (`orders.plan_placement`).
    `lock_first`: how the reservation meets stock that moved since the snapshot (`orders.reserve_for_order`)."""
    planned = await orders.plan_placement(uow=uow, request=request, with_risk=True, with_customer=customer_with_catalogue)
    if isinstance(planned, Order):
        return planned  # the same request again (its idempotency key): the first answer, nothing more to do
    planned = await rates.charge_placement(uow=uow, placement=planned)  # shipping, issue 19: the charge, before totals are used
    payments.check_card_token(planned.payment_method, request.payment_token)
    assessment = await _assess(uow, planned)  # before the order exists (it does not count itself), before any lock
    promise = await _promise(uow, planned)
    # HIGH: ON_HOLD (RISK_REVIEW) before any capture; the order is written so, its hold in the same statement (issue 16,
    # session 8: no ORM flush of the hold and the order's UPDATE at commit)
    order, stocked = await orders.create_order(
        uow=uow, placement=planned, estimated_delivery_date=promise, customer_id=customer_id or planned.customer_id,
        risk=risk.risk_columns(assessment),
        after_placed=lambda order: [hold] if (hold := holds.apply_risk_to_new_order(uow=uow, order=order, assessment=assessment)) else [],
        # session 9: with nothing between the order and its reservation (no payment to open), the reservation's
        # statement writes the order too (one statement fewer); a shortfall rolls both back (lock_first False)
        defer=lock_first is False and planned.payment_method is None,
    )

    async def reserve() -> None:
        reserved = await orders.reserve_for_order(uow=uow, order=order, placement=planned, stocked=stocked, lock_first=lock_first)
        if reserved.picks != planned.picks or reserved.backorder != planned.backorder:  # stock moved since the snapshot: other warehouses, maybe another date
            order.estimated_delivery_date = await _promise(uow, reserved)

    if order.payment_method == PaymentMethod.CARD:
        await reserve()  # before the provider is asked (this path authorises inside the transaction)
    await payments.open_payment(uow=uow, order=order, method=order.payment_method, token=request.payment_token)
    if order.payment_method == PaymentMethod.CASH_ON_DELIVERY and order.status != OrderStatus.ON_HOLD:  # held: staff confirms after release
        await confirm_locked_order(uow=uow, order=order, reason="cash on delivery")
    if order.payment_method != PaymentMethod.CARD:
        # The last statement before the events: the stock rows stay locked only to the commit. (With invoices at
        # confirmation, cash on delivery has taken the invoice counter by now; no path takes that counter after a
        # stock row, since shipments invoice only when confirmations do not; a deadlock would be retried anyway.)
        await reserve()
    return order


def _pays_by_card(request: PlaceOrderRequest) -> bool:
    try:
        return request.payment_method is not None and PaymentMethod(getattr(request.payment_method, "value", request.payment_method)) == PaymentMethod.CARD
    except ValueError:
        return False  # refused by the request's checks


async def place(db: Database, *, request: PlaceOrderRequest, actor: str | None) -> Placed:
    """`placeOrder`: one transaction, or two around the provider's call for a card (see the module doc); the
    customer is found or added before either, on the same connection: by the catalogue's statement when nothing comes
    before it (session 8: one statement fewer), else by a statement of its own (`orders.customer_first`).

    Should the one-statement reservation find stock moved since the snapshot (StockMoved), the transaction is rolled
    back and run once more with the stock rows locked first: every placement then takes its stock locks in one
    statement, in the global order, so no two placements deadlock (an order number drawn by the first run is skipped)."""
    if not _pays_by_card(request) or not (request.payment_token or "").strip():
        units: list[UnitOfWork] = []
        with_catalogue = orders.customer_with_catalogue(request)

        async def placing(uow: UnitOfWork, lock_first: bool) -> Order:
            units.append(uow)
            customer_id = None if with_catalogue else await orders.customer_first(uow, request)
            return await place_order(uow=uow, request=request, customer_id=customer_id, lock_first=lock_first,
                                     customer_with_catalogue=with_catalogue)

        order = await _run_reserving(db, placing, actor=actor)
        return Placed(order, units[-1].committed_events)
    return await _place_by_card(db, request=request, actor=actor)


T = TypeVar("T")


async def _run_reserving(db: Database, work: Callable[[UnitOfWork, bool], Awaitable[T]], *, actor: str | None) -> T:
    """`db.run(work)` of a transaction that reserves stock: should its one-statement reservation find stock moved since
    the snapshot (StockMoved, rolled back), once more with the stock rows locked first (`work`'s `lock_first`)."""
    try:
        return await db.run(lambda uow: work(uow, False), actor=actor)
    except orders.StockMoved:
        return await db.run(lambda uow: work(uow, True), actor=actor)


_SLOTS: WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[int, asyncio.Semaphore]] = WeakKeyDictionary()


def slots() -> asyncio.Semaphore | None:
    """This event loop's semaphore of `placement_slots` (None: 0, no limit). Per loop: a semaphore belongs to
    the loop that first waits on it."""
    size = config.settings().placement_slots
    if size <= 0:
        return None
    loop = asyncio.get_running_loop()
    found = _SLOTS.get(loop)
    if found is None or found[0] != size:
        found = _SLOTS[loop] = (size, asyncio.Semaphore(size))
    return found[1]


@contextlib.asynccontextmanager
async def _slot() -> AsyncIterator[None]:
    """One of the process's `placement_slots` for one short transaction of a card placement."""
    semaphore = slots()
    if semaphore is None:
        yield
        return
    async with semaphore:
        yield


@dataclass(frozen=True, slots=True)
class _Held:
    attempt_id: uuid.UUID
    placement: Placement
    serial: int
    key: str
    promise: Any  # the delivery date, computed in the first step (before any lock)


async def _place_by_card(db: Database, *, request: PlaceOrderRequest, actor: str | None) -> Placed:
    assert request.payment_token is not None
    hold_seconds = config.settings().placement_hold_seconds
    customer: list[uuid.UUID | None] = [None]  # found or added by the first step, before its transaction

    async def reserve(uow: UnitOfWork, lock_first: bool) -> Order | _Held:
        planned = await orders.plan_placement(uow=uow, request=request)
        if isinstance(planned, Order):
            return planned
        planned = await rates.charge_placement(uow=uow, placement=planned)  # shipping, issue 19
        attempt_id = uuid.uuid4()
        generation = await orders.recovered_attempts(uow, request.idempotency_key) if request.idempotency_key else 0
        key = payments.placement_authorization_key(idempotency_key=request.idempotency_key, fingerprint=request.fingerprint(),
                                                   attempt_id=attempt_id, generation=generation)
        totals = orders.totals_of(planned)
        serial = await orders.next_serial(uow)
        promise = await _promise(uow, planned)
        held = await orders.hold_stock(uow=uow, placement=planned, attempt_id=attempt_id, serial=serial, provider_key=key,
                                       amount=totals.total, currency=planned.lines[0].product.currency, hold_seconds=hold_seconds,
                                       lock_first=lock_first)
        if held.picks != planned.picks or held.backorder != planned.backorder:  # stock moved since the snapshot: other warehouses, maybe another date
            promise = await _promise(uow, held)
        return _Held(attempt_id, held, serial, key, promise)

    units: list[UnitOfWork] = []

    async def first(uow: UnitOfWork, lock_first: bool) -> Order | _Held:
        units.append(uow)
        customer[0] = await orders.customer_first(uow, request)
        return await reserve(uow, lock_first)

    async with _slot():
        step = await _run_reserving(db, first, actor=actor)
    if isinstance(step, Order):
        return Placed(step, [])  # an idempotent retry of a placed order: the first answer, no new event
    totals = orders.totals_of(step.placement)
    # The remote call: no transaction of ours is open, no row locked.
    provider_name, result = await payments.authorize_card(amount=totals.total, currency=step.placement.lines[0].product.currency,
                                                          token=request.payment_token, key=step.key)
    if not result.approved:
        reason = f"{DECLINE_REASON}: {result.outcome.lower()} {result.message}".strip()
        async with _slot():
            await db.run(lambda uow: orders.release_hold(uow=uow, attempt_id=step.attempt_id, status=orders.DECLINED, reason=reason),
                         actor=actor)
        raise payments.refusal(result)

    async def confirm(uow: UnitOfWork) -> Order:
        units.append(uow)
        if request.idempotency_key:
            # A concurrent twin (same key) may have written the order meanwhile: then that is the answer.
            existing = await orders.existing_for_key(uow, request)
            if existing is not None:
                await orders.release_hold(uow=uow, attempt_id=step.attempt_id, status=orders.DECLINED, reason="placed by a concurrent retry")
                return existing
            if await orders.superseded(uow=uow, provider_key=step.key):
                await orders.release_hold(uow=uow, attempt_id=step.attempt_id, status=orders.DECLINED, reason="authorisation recovered")
                raise DomainError(ErrorCode.UNAVAILABLE, "The payment could not be completed; nothing was charged. Try again.",
                                  ("payment", "token"))
        rules = await orders.take_hold(uow=uow, attempt_id=step.attempt_id, email=step.placement.email)
        if rules is None:
            raise DomainError(ErrorCode.UNAVAILABLE, "The placement took too long and was released; nothing was charged. Try again.",
                              ("payment", "token"))
        assessment = await _assess(uow, replace(step.placement, risk_rules=rules))  # this transaction's reading (with the hold's taking)
        order = await orders.write_held_order(uow=uow, placement=step.placement, estimated_delivery_date=step.promise, serial=step.serial,
                                              payment_status=payments.AUTHORIZED_ORDER_STATUS, customer_id=customer[0],
                                              risk=risk.risk_columns(assessment))
        await payments.record_authorization(uow=uow, order=order, provider_name=provider_name, key=step.key, result=result, new_order=True)
        await holds.apply_risk(uow=uow, order=order, assessment=assessment)  # authorised, not captured: HIGH holds it here
        return order

    async with _slot():
        order = await db.run(confirm, actor=actor)
    return Placed(order, units[-1].committed_events)
