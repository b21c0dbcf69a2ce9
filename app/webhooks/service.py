"""Webhook endpoints: the rules for creating, changing, deleting and replaying them.

Keyword-only services run in the caller's unit of work. Every change publishes the notice
("webhooks", {"endpoint": id}) so every process's dispatcher looks at its endpoints again at once.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import func, select, update

from app.errors import DomainError, ErrorCode, collect
from app.infra.database import UnitOfWork
from app.orders.enums import OrderEventType, SalesChannel
from app.webhooks.enums import WebhookDeliveryStatus
from app.webhooks.targets import literal_refused, url_problem
from models.webhooks import WebhookDelivery, WebhookEndpoint

TOPIC = "webhooks"
SECRET_BYTES = 24


class _Keep:
    """An update argument left out: the stored value stays."""


KEEP: Final = _Keep()


def new_secret() -> str:
    """A Standard Webhooks signing secret: whsec_ + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _check_url(url: str, allow_private: bool, errors: list[DomainError]) -> None:
    problem = url_problem(url)
    if problem is None and literal_refused(url, allow_private):
        problem = "Private, loopback and link-local targets are not allowed."
    if problem is not None:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, problem, ("url",)))


def _check_types(event_types: Sequence[str], errors: list[DomainError]) -> list[str]:
    known = {t.value for t in OrderEventType}
    for i, value in enumerate(event_types):
        if str(value) not in known:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Unknown event type {value!r}.", ("event_types", i)))
    return sorted({str(v) for v in event_types})


def _check_channels(channels: Sequence[str] | None, errors: list[DomainError]) -> list[str] | None:
    if channels is None:
        return None
    known = {c.value for c in SalesChannel}
    for i, value in enumerate(channels):
        if str(value) not in known:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Unknown sales channel {value!r}.", ("channels", i)))
    if not channels:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Leave channels out (null) for every channel; an empty list matches none.", ("channels",)))
    return sorted({str(c) for c in channels})


def _notify(uow: UnitOfWork, endpoint_id: uuid.UUID) -> None:
    uow.notices.append((TOPIC, {"endpoint": str(endpoint_id)}))


async def create_endpoint(
    *, uow: UnitOfWork, url: str, event_types: Sequence[str], channels: Sequence[str] | None, active: bool, start_cursor: int,
    allow_private: bool,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned once). It gets the events after `start_cursor` (the
    horizon now): no history; replay asks for that. `event_types` empty: every type; `channels` None: every channel."""
    errors: list[DomainError] = []
    _check_url(url, allow_private, errors)
    types = _check_types(event_types, errors)
    kept_channels = _check_channels(channels, errors)
    collect(errors)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(), url=url, event_types=types, channels=kept_channels, active=active, secret=secret, created_by=uow.actor,
        fanned_out_to=start_cursor,
    )
    uow.session.add(endpoint)
    await uow.session.flush()
    await uow.session.refresh(endpoint)
    _notify(uow, endpoint.id)
    return endpoint, secret


async def get_for_update(*, uow: UnitOfWork, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = (await uow.session.execute(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.deleted_at.is_(None)).with_for_update()
    )).scalar_one_or_none()
    if endpoint is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such webhook endpoint.", ("endpoint_id",))
    return endpoint


async def update_endpoint(
    *, uow: UnitOfWork, endpoint_id: uuid.UUID, allow_private: bool, url: str | _Keep = KEEP,
    event_types: Sequence[str] | _Keep = KEEP, channels: Sequence[str] | _Keep | None = KEEP, active: bool | _Keep = KEEP,
) -> WebhookEndpoint:
    """Changes what is given. Deactivating stops deliveries (they wait; reactivating resumes them); a changed
    filter applies to events from the endpoint's cursor on."""
    endpoint = await get_for_update(uow=uow, endpoint_id=endpoint_id)
    errors: list[DomainError] = []
    if not isinstance(url, _Keep):
        _check_url(url, allow_private, errors)
    types = None if isinstance(event_types, _Keep) else _check_types(event_types, errors)
    kept_channels = None if isinstance(channels, _Keep) else _check_channels(channels, errors)
    collect(errors)
    if not isinstance(url, _Keep):
        endpoint.url = url
    if types is not None:
        endpoint.event_types = types
    if not isinstance(channels, _Keep):
        endpoint.channels = kept_channels
    if not isinstance(active, _Keep):
        endpoint.active = active
    endpoint.updated_at = datetime.now(UTC)
    await uow.session.flush()
    _notify(uow, endpoint.id)
    return endpoint


async def delete_endpoint(*, uow: UnitOfWork, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """Soft delete: nothing more is fanned out or delivered; its deliveries stay readable by id."""
    endpoint = await get_for_update(uow=uow, endpoint_id=endpoint_id)
    endpoint.deleted_at = endpoint.updated_at = datetime.now(UTC)
    endpoint.active = False
    await uow.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status.in_([WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.RETRYING]))
        .values(status=WebhookDeliveryStatus.DEAD, dead_at=func.clock_timestamp(), last_error="endpoint deleted")
    )
    await uow.session.flush()
    _notify(uow, endpoint.id)
    return endpoint


async def replay(
    *, uow: UnitOfWork, endpoint_id: uuid.UUID, after: int, horizon: int, now: datetime | None = None
) -> tuple[WebhookEndpoint, int]:
    """Deliver again every event after the cursor `after` to this endpoint, in order per order: its deliveries
    after it (succeeded and dead ones included) are queued again (same rows, so the same webhook-id), and the
    fan-out goes back to `after`, so events it never queued for the endpoint (older than the endpoint,
    filtered out then) are queued too. A delivery being attempted right now is left to finish.
    Returns the endpoint (locked) and the number of deliveries queued again. INVALID_INPUT for a cursor beyond
    `horizon` (the present)."""
    if after < 0 or after > horizon:
        raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not one this server has handed out.", ("after",))
    endpoint = await get_for_update(uow=uow, endpoint_id=endpoint_id)
    when = now or func.clock_timestamp()
    result = await uow.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.event_seq > after,
               WebhookDelivery.status != WebhookDeliveryStatus.DELIVERING)
        .values(status=WebhookDeliveryStatus.PENDING, attempts=0, next_attempt_at=when, queued_at=when, dead_at=None, delivered_at=None,
                lease_until=None)
        .returning(WebhookDelivery.id)
    )
    requeued = len(result.all())
    endpoint.fanned_out_to = min(endpoint.fanned_out_to, after)
    await uow.session.flush()
    _notify(uow, endpoint.id)
    return endpoint, requeued
