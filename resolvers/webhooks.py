"""Webhook endpoints and deliveries (issue 17): scopes webhooks:read / webhooks:write, IDs, pages and userErrors."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import strawberry
from strawberry.dataloader import DataLoader

from app.errors import ErrorCode
from app.infra.database import UnitOfWork
from app.orders.enums import SalesChannel
from app.webhooks import payload as webhook_payload
from app.webhooks import service
from app.webhooks.enums import WebhookDeliveryStatus
from models import Order
from models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from resolvers import pagination
from resolvers.errors import InputError, run_mutation
from resolvers.ids import decode_id, to_global_id
from resolvers.types import Info, MutationPayload

READ, WRITE = "webhooks:read", "webhooks:write"


class CreateEndpointArgs(Protocol):
    url: str
    event_types: list[str]
    active: bool

    @property
    def channels(self) -> Sequence[SalesChannel] | None: ...


class UpdateEndpointArgs(Protocol):
    endpoint_id: strawberry.ID
    url: str | None
    event_types: list[str] | None
    active: bool | None

    @property
    def channels(self) -> Sequence[SalesChannel] | None: ...


class EndpointIdArgs(Protocol):
    endpoint_id: strawberry.ID


class ReplayArgs(Protocol):
    endpoint_id: strawberry.ID
    after: str


# --- fields ----------------------------------------------------------------------------------------


def webhook_id(root: WebhookDelivery) -> str:
    return webhook_payload.webhook_id(root.id)


def event_id(root: WebhookDelivery) -> str:
    return webhook_payload.event_id(root.event_seq)


async def delivery_order(root: WebhookDelivery, info: Info) -> Order | None:
    return await info.context.loaders.order.load(root.order_id)


def _attempts(info: Info) -> DataLoader[uuid.UUID, list[WebhookAttempt]]:
    return info.context.loaders.extra("webhook_attempts", lambda loaders: loaders.grouped(WebhookAttempt, WebhookAttempt.delivery_id, WebhookAttempt.id))


async def attempt_log(root: WebhookDelivery, info: Info) -> list[WebhookAttempt]:
    return await _attempts(info).load(root.id)


def _seq_key() -> pagination.Key[int]:
    return pagination.Key(WebhookDelivery.event_seq, int, int)


async def endpoint_deliveries(
    root: WebhookEndpoint, info: Info, *, first: int | None, after: str | None, status: WebhookDeliveryStatus | None
) -> pagination.Connection[WebhookDelivery]:
    await info.context.require(READ)
    where: list[Any] = [WebhookDelivery.endpoint_id == root.id]
    if status is not None:
        where.append(WebhookDelivery.status == status)
    return await pagination.keyset(info.context.db, WebhookDelivery, (_seq_key(),), where=where, first=first, after=after, descending=True)


# --- lists -----------------------------------------------------------------------------------------


async def list_endpoints(info: Info, first: int | None, after: str | None) -> pagination.Connection[WebhookEndpoint]:
    await info.context.require(READ)
    return await pagination.newest_first(info.context.db, WebhookEndpoint, WebhookEndpoint.created_at, [WebhookEndpoint.deleted_at.is_(None)],
                                         first, after)


# --- mutations -------------------------------------------------------------------------------------


def _endpoint_id(value: str) -> uuid.UUID:
    return decode_id(value, "WebhookEndpoint", ["input", "endpointId"])


def _channels(channels: Sequence[SalesChannel] | None) -> list[str] | None:
    return None if channels is None else [str(c) for c in channels]


async def create_endpoint(info: Info, input: CreateEndpointArgs) -> MutationPayload:
    await info.context.require(WRITE)  # before the horizon is asked for
    start = await info.context.hub.committed_cursor()  # "now": the endpoint gets what commits from here on
    allow_private = info.context.settings.webhook_allow_private

    async def work(uow: UnitOfWork) -> tuple[WebhookEndpoint, str]:
        return await service.create_endpoint(uow=uow, url=input.url.strip(), event_types=list(input.event_types), channels=_channels(input.channels),
                                             active=input.active, start_cursor=start, allow_private=allow_private)

    def shape(result: tuple[WebhookEndpoint, str] | None) -> dict[str, object]:
        return {"endpoint": result[0] if result else None, "secret": result[1] if result else None}

    return await run_mutation(info, scope=WRITE, action=work, payload=shape)


def _endpoint_payload(result: WebhookEndpoint | None) -> dict[str, object]:
    return {"endpoint": result}


async def update_endpoint(info: Info, input: UpdateEndpointArgs) -> MutationPayload:
    allow_private = info.context.settings.webhook_allow_private

    async def work(uow: UnitOfWork) -> WebhookEndpoint:
        changes: dict[str, Any] = {}
        if input.url is not strawberry.UNSET:
            if input.url is None:
                raise InputError(ErrorCode.INVALID_INPUT, "An endpoint needs a URL.", ["input", "url"])
            changes["url"] = input.url.strip()
        if input.event_types is not strawberry.UNSET:
            changes["event_types"] = list(input.event_types or [])
        if input.channels is not strawberry.UNSET:
            changes["channels"] = _channels(input.channels)
        if input.active is not strawberry.UNSET:
            if input.active is None:
                raise InputError(ErrorCode.INVALID_INPUT, "active is true or false.", ["input", "active"])
            changes["active"] = input.active
        return await service.update_endpoint(uow=uow, endpoint_id=_endpoint_id(input.endpoint_id), allow_private=allow_private, **changes)

    return await run_mutation(info, scope=WRITE, action=work, payload=_endpoint_payload)


async def delete_endpoint(info: Info, input: EndpointIdArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> WebhookEndpoint:
        return await service.delete_endpoint(uow=uow, endpoint_id=_endpoint_id(input.endpoint_id))

    def shape(result: WebhookEndpoint | None) -> dict[str, object]:
        return {"deleted_endpoint_id": strawberry.ID(to_global_id("WebhookEndpoint", result.id)) if result else None}

    return await run_mutation(info, scope=WRITE, action=work, payload=shape)


def parse_cursor(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or len(text) > 19:
        raise InputError(ErrorCode.INVALID_INPUT, "Not an event cursor.", ["input", "after"])
    return int(text)


async def replay_deliveries(info: Info, input: ReplayArgs) -> MutationPayload:
    await info.context.require(WRITE)  # before the horizon is asked for
    horizon = await info.context.hub.committed_cursor()

    async def work(uow: UnitOfWork) -> tuple[WebhookEndpoint, int]:
        endpoint_id = _endpoint_id(input.endpoint_id)
        after = parse_cursor(input.after)
        return await service.replay(uow=uow, endpoint_id=endpoint_id, after=after, horizon=horizon)

    def shape(result: tuple[WebhookEndpoint, int] | None) -> dict[str, object]:
        return {"endpoint": result[0] if result else None, "requeued": result[1] if result else 0}

    return await run_mutation(info, scope=WRITE, action=work, payload=shape)
