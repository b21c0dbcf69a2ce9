"""Webhooks (issue 17): endpoints, their deliveries and attempts, and the mutations that manage them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

import models
import models.webhooks
from app.webhooks.enums import WebhookDeliveryStatus
from graphql_schema.common import Connection, Node, UserError
from graphql_schema.enums import SalesChannel
from resolvers import pagination
from resolvers import webhooks as resolve
from resolvers.types import Info

if TYPE_CHECKING:
    from graphql_schema.orders import Order

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.orders")]

strawberry.enum(WebhookDeliveryStatus, description="Where one event's delivery to one endpoint stands.")
_definition = WebhookDeliveryStatus.__strawberry_definition__  # type: ignore[attr-defined]  # set by strawberry.enum
for _value in _definition.values:
    _value.description = {
        "PENDING": "Queued; attempted once due and once no earlier event of the same order to this endpoint is open.",
        "DELIVERING": "An attempt is in flight (one worker holds it under a lease; a worker that dies leaves it to the next after the lease).",
        "RETRYING": "The last attempt failed; the next is due at nextAttemptAt (exponential backoff with jitter).",
        "SUCCEEDED": "The endpoint answered 2xx.",
        "DEAD": "Given up: OMS_WEBHOOK_MAX_ATTEMPTS attempts failed, or OMS_WEBHOOK_MAX_AGE_HOURS passed. Later events of the order still go; "
                "replayWebhookDeliveries sends it again.",
    }[_value.name]


@strawberry.type(description="One HTTP attempt of a delivery.")
class WebhookAttempt:
    number: int = strawberry.field(description="1, 2, ...: the attempt's number within its delivery round (a replay starts a new round).")
    started_at: datetime = strawberry.field(description="When the request was sent (server clock).")
    duration_ms: int = strawberry.field(description="How long the attempt took, in milliseconds.")
    response_status: int | None = strawberry.field(description="The endpoint's HTTP status; null when there was no response (timeout, refused).")
    error: str | None = strawberry.field(description='Why it failed, e.g. "HTTP 500", "redirect not followed", "timed out after 10 s"; null on success.')


@strawberry.type(description="One event of the order event log on its way to one endpoint. Needs webhooks:read.")
class WebhookDelivery(Node):
    order_sequence: int = strawberry.field(description="The event's place among its order's events (1, 2, ...): the payload's `sequence`.")
    status: WebhookDeliveryStatus = strawberry.field(description="Where the delivery stands.")
    attempts: int = strawberry.field(description="Attempts made in the current round (a replay resets it to 0).")
    next_attempt_at: datetime = strawberry.field(description="When it is (or was) due next.")
    delivered_at: datetime | None = strawberry.field(description="When the endpoint accepted it (2xx); null until then.")
    last_error: str | None = strawberry.field(description="The last failed attempt's error; kept after a later success.")
    created_at: datetime = strawberry.field(description="When the fan-out queued it.")

    @strawberry.field(description="The `webhook-id` header: the same on every retry and replay of this delivery (deduplicate on it).")
    def webhook_id(root: models.webhooks.WebhookDelivery) -> str:
        return resolve.webhook_id(root)

    @strawberry.field(description="The payload's `eventId` (evt_<cursor>): the same for every endpoint the event goes to.")
    def event_id(root: models.webhooks.WebhookDelivery) -> str:
        return resolve.event_id(root)

    @strawberry.field(description="The event's cursor: `replayWebhookDeliveries(after:)` takes it.")
    def event_cursor(root: models.webhooks.WebhookDelivery) -> str:
        return str(root.event_seq)

    @strawberry.field(description="The event's type, e.g. PLACED, STATUS_CHANGED.")
    def event_type(root: models.webhooks.WebhookDelivery) -> str:
        return str(root.event_type)

    @strawberry.field(graphql_type=OrderRef | None, description="The order the event is about. Needs orders:read.")
    async def order(root: models.webhooks.WebhookDelivery, info: Info) -> models.Order | None:
        return await resolve.delivery_order(root, info)

    @strawberry.field(graphql_type=list[WebhookAttempt], description="Every attempt, oldest first.")
    async def attempt_log(root: models.webhooks.WebhookDelivery, info: Info) -> list[models.webhooks.WebhookAttempt]:
        return await resolve.attempt_log(root, info)


@strawberry.type(description="A partner's HTTPS endpoint that receives the order events, signed per Standard Webhooks. Needs webhooks:read.")
class WebhookEndpoint(Node):
    url: str = strawberry.field(description="Where the events are POSTed. Redirects are never followed.")
    active: bool = strawberry.field(description="false: nothing is sent; deliveries wait and resume when it is reactivated.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")

    @strawberry.field(description="The event types it receives (OrderEvent.type values); empty: every type.")
    def event_types(root: models.webhooks.WebhookEndpoint) -> list[str]:
        return list(root.event_types)

    @strawberry.field(description="The sales channels whose orders' events it receives; null: every channel.")
    def channels(root: models.webhooks.WebhookEndpoint) -> list[SalesChannel] | None:
        return None if root.channels is None else [SalesChannel(c) for c in root.channels]

    @strawberry.field(description="The event cursor up to which the log has been queued for it (it started at the present, with no history).")
    def cursor(root: models.webhooks.WebhookEndpoint) -> str:
        return str(root.fanned_out_to)

    @strawberry.field(graphql_type=Connection[WebhookDelivery], description="Its deliveries, newest event first; `first` at most 100.")
    async def deliveries(
        root: models.webhooks.WebhookEndpoint, info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, at most 100 (default 20).")] = None,
        after: Annotated[str | None, strawberry.argument(description="The endCursor of the previous page.")] = None,
        status: Annotated[WebhookDeliveryStatus | None, strawberry.argument(description="Only deliveries in this status.")] = None,
    ) -> pagination.Connection[models.webhooks.WebhookDelivery]:
        return await resolve.endpoint_deliveries(root, info, first=first, after=after, status=status)


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="https:// (or http://) URL, at most 2000 characters, no user info; private, loopback and link-local "
                                            "targets are refused unless OMS_WEBHOOK_ALLOW_PRIVATE=true (INVALID_INPUT at input.url).")
    event_types: list[str] = strawberry.field(default_factory=list, description="OrderEvent.type values to receive; empty (default): every "
                                                                                "type. An unknown one: INVALID_INPUT at input.eventTypes.N.")
    channels: list[SalesChannel] | None = strawberry.field(default=None, description="Only orders of these channels; null (default): every channel.")
    active: bool = strawberry.field(default=True, description="false: create it paused.")


@strawberry.input(description="Changes to an endpoint: the fields given change, the others stay.")
class UpdateWebhookEndpointInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint (NOT_FOUND at input.endpointId if unknown or deleted).")
    url: str | None = strawberry.field(default=strawberry.UNSET, description="A new URL (same rules as at creation).")
    event_types: list[str] | None = strawberry.field(default=strawberry.UNSET, description="New event types; empty: every type.")
    channels: list[SalesChannel] | None = strawberry.field(default=strawberry.UNSET, description="New channels; null: every channel.")
    active: bool | None = strawberry.field(default=strawberry.UNSET, description="Pause (false) or resume (true) deliveries.")


@strawberry.input(description="Which endpoint to delete.")
class DeleteWebhookEndpointInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint (NOT_FOUND at input.endpointId if unknown or deleted).")


@strawberry.input(description="Send an endpoint every event after a cursor again.")
class ReplayWebhookDeliveriesInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint (NOT_FOUND at input.endpointId if unknown or deleted).")
    after: str = strawberry.field(description="An event cursor (a payload's `cursor`, a delivery's eventCursor): every event after it is sent "
                                              "again, in order per order. INVALID_INPUT at input.after if it is malformed or in the future.")


# The mutations' `input` arguments, described (graphql_schema/mutation.py takes them as they are).
CreateWebhookEndpointArgument = Annotated[CreateWebhookEndpointInput, strawberry.argument(description="The endpoint's URL, event types, channels, active.")]
UpdateWebhookEndpointArgument = Annotated[UpdateWebhookEndpointInput, strawberry.argument(description="The endpoint and the fields to change.")]
DeleteWebhookEndpointArgument = Annotated[DeleteWebhookEndpointInput, strawberry.argument(description="The endpoint to delete.")]
ReplayWebhookDeliveriesArgument = Annotated[ReplayWebhookDeliveriesInput, strawberry.argument(description="The endpoint and the cursor to replay after.")]


@strawberry.type(description="The result of createWebhookEndpoint.")
class CreateWebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(description="The new endpoint; null with userErrors.")
    secret: str | None = strawberry.field(description="The signing secret (whsec_…), shown this once only: keep it to verify signatures.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was created: INVALID_INPUT (input.url, input.eventTypes.N).")


@strawberry.type(description="The result of updateWebhookEndpoint.")
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint as changed; null with userErrors.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed: NOT_FOUND (input.endpointId), INVALID_INPUT.")


@strawberry.type(description="The result of deleteWebhookEndpoint.")
class DeleteWebhookEndpointPayload:
    deleted_endpoint_id: strawberry.ID | None = strawberry.field(description="The deleted endpoint's ID; null with userErrors.")
    user_errors: list[UserError] = strawberry.field(description="NOT_FOUND (input.endpointId).")


@strawberry.type(description="The result of replayWebhookDeliveries.")
class ReplayWebhookDeliveriesPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint; its cursor went back to `after`.")
    requeued: int = strawberry.field(description="Deliveries queued again (events never queued for it before are queued by the fan-out, too).")
    user_errors: list[UserError] = strawberry.field(description="NOT_FOUND (input.endpointId), INVALID_INPUT (input.after).")
