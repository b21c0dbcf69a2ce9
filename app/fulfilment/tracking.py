"""A shipment's state, derived from its promise and its tracking events sorted by time.

Carriers report late and out of order, so nothing here depends on arrival order: the state is
re-derived from the whole history each time an event is added.
- Status: the latest event's, except that DELIVERED and RETURNED_TO_SENDER are final; events
  timed after the first final one stay in the history without changing the status.
- Estimate: starts at the promise made when it shipped; IN_TRANSIT on a day past the estimate
  moves it to the next business day; EXCEPTION delays it to at least the next business day;
  OUT_FOR_DELIVERY and DELIVERED set it to that day; RETURNED_TO_SENDER clears it.
Recording a report (`record_tracking_event`) re-derives the shipment, then the order's promise, and
delivers the order once every parcel of a fully shipped order is delivered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.errors import DomainError, ErrorCode, collect
from app.fulfilment import returns_to_sender, transfers
from app.fulfilment.enums import ShipmentStatus
from app.fulfilment.promise import apply_order_promise, order_promise
from app.infra.database import UnitOfWork
from app.orders import events
from app.orders import promise as calendar
from app.orders.enums import OrderEventType, OrderStatus
from app.orders.promise import DEFAULT_TIMEZONE, add_business_days, local_date
from app.orders.service import get_for_update, transition
from models.fulfilment import Carrier, Shipment, TrackingEvent

S = ShipmentStatus
REPORTABLE = (S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.RETURNED_TO_SENDER)
FINAL = frozenset({S.DELIVERED, S.RETURNED_TO_SENDER})
# Tie-break for events reported at the same instant: the further along wins.
RANK = {S.READY: 0, S.IN_TRANSIT: 1, S.EXCEPTION: 2, S.OUT_FOR_DELIVERY: 3, S.DELIVERED: 4, S.RETURNED_TO_SENDER: 5}
# Carriers' clocks drift; an event further ahead than this is a mistake, not a report.
MAX_CLOCK_SKEW = timedelta(hours=1)


class Reported(Protocol):
    status: ShipmentStatus
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ShipmentState:
    status: ShipmentStatus
    estimated_delivery_date: date | None
    delivered_at: datetime | None


def sort_key(event: Reported) -> tuple[datetime, int]:
    return (event.occurred_at, RANK.get(event.status, 0))


def in_time_order(events: Iterable[Reported]) -> list[Reported]:
    return sorted(events, key=sort_key)


def derive_state(*, promised: date | None, events: Iterable[Reported], tz_name: str = DEFAULT_TIMEZONE) -> ShipmentState:
    status, estimate, delivered_at = S.READY, promised, None
    for event in in_time_order(events):
        if status in FINAL:
            break
        day = local_date(event.occurred_at, tz_name)
        status = event.status
        if event.status == S.IN_TRANSIT:
            if estimate is not None and estimate < day:
                estimate = add_business_days(day, 1)
        elif event.status == S.EXCEPTION:
            estimate = max(estimate or day, add_business_days(day, 1))
        elif event.status == S.OUT_FOR_DELIVERY:
            estimate = day
        elif event.status == S.DELIVERED:
            estimate, delivered_at = day, event.occurred_at
        elif event.status == S.RETURNED_TO_SENDER:
            estimate = None
    return ShipmentState(status, estimate, delivered_at)


# ---------------------------------------------------------------- a carrier's report


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def record_tracking_event(
    *, uow: UnitOfWork, shipment_id: uuid.UUID, status: ShipmentStatus, occurred_at: datetime | None = None,
    location: str | None = None, description: str | None = None,
) -> Shipment:
    """Add a carrier's report. Any arrival order; the same status at the same time again is ignored.
    When every shipment of a fully shipped order is delivered, the order is DELIVERED."""
    now = calendar.utcnow()
    occurred = _as_utc(occurred_at) if occurred_at is not None else now
    location = (location or "").strip() or None
    description = (description or "").strip() or None
    errors: list[DomainError] = []
    if status not in REPORTABLE:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, f"A carrier reports one of {', '.join(REPORTABLE)}.", ("status",)))
    if occurred > now + MAX_CLOCK_SKEW:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "occurredAt is in the future.", ("occurred_at",)))
    if location is not None and len(location) > 200:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "location is at most 200 characters.", ("location",)))
    if description is not None and len(description) > 500:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "description is at most 500 characters.", ("description",)))
    collect(errors)

    order_id = (await uow.session.execute(select(Shipment.order_id).where(Shipment.id == shipment_id))).scalar_one_or_none()
    if order_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such shipment.", ("shipment_id",))
    order = await get_for_update(uow=uow, order_id=order_id)
    shipment = (
        await uow.session.execute(select(Shipment).where(Shipment.id == shipment_id).with_for_update().execution_options(populate_existing=True))
    ).scalar_one()
    inserted = (
        await uow.session.execute(
            pg_insert(TrackingEvent)
            .values(shipment_id=shipment.id, status=status, occurred_at=occurred, location=location, description=description, recorded_by=uow.actor)
            .on_conflict_do_nothing(constraint="uq_tracking_events_shipment_status_time")
            .returning(TrackingEvent.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        return shipment  # a repeat of a report we have: nothing changes

    history = (await uow.session.execute(select(TrackingEvent).where(TrackingEvent.shipment_id == shipment.id))).scalars().all()
    tz_name = (await uow.session.execute(select(Carrier.timezone).where(Carrier.code == shipment.carrier))).scalar_one()
    state = derive_state(promised=shipment.promised_delivery_date, events=history, tz_name=tz_name)
    if shipment.restocked_at is not None:  # alerts, issue 19: a parcel restocked as returned stays returned (a late earlier report changes nothing)
        state = ShipmentState(S.RETURNED_TO_SENDER, None, None)
    shipment.status, shipment.estimated_delivery_date, shipment.delivered_at = state.status, state.estimated_delivery_date, state.delivered_at
    if shipment.transfer_to_warehouse_id is not None:  # transfers, issue 19: internal events; the arrival moves units into the store, once
        await transfers.track(uow, order, shipment, reported=status, occurred=occurred, location=location)
        apply_order_promise(uow, order, await order_promise(uow.session, order=order, now=now), reason=OrderEventType.TRACKING_UPDATED)
        return shipment
    events.record(
        uow, order, OrderEventType.TRACKING_UPDATED,
        data={"shipment": str(shipment.id), "reported": status, "occurredAt": occurred.isoformat(), "shipmentStatus": state.status, "location": location},
    )
    await uow.session.flush()
    await returns_to_sender.restock(uow, order, shipment)  # alerts, issue 19: once, when it becomes RETURNED_TO_SENDER
    apply_order_promise(uow, order, await order_promise(uow.session, order=order, now=now), reason=OrderEventType.TRACKING_UPDATED)
    if order.status == OrderStatus.SHIPPED:
        # (a parcel returned to sender and restocked no longer counts: its units shipped again in another; alerts, issue 19)
        statuses = (
            await uow.session.execute(select(Shipment.status).where(Shipment.order_id == order.id, Shipment.restocked_at.is_(None)))
        ).scalars().all()
        if statuses and all(s == ShipmentStatus.DELIVERED for s in statuses):
            transition(uow, order, OrderStatus.DELIVERED, data={"action": "deliver", "shipment": str(shipment.id)})
    return shipment
