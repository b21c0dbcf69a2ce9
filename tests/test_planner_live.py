"""Subscription payloads through the read planner's plans (issue 15): the same bytes as the ordinary executor's,
built by one statement per event and shape, and the ordinary executor wherever the plan cannot answer exactly."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest_asyncio

from app.flows import confirmation
from resolvers import live
from resolvers.context import Context
from resolvers.ids import to_global_id
from resolvers.planner.live import PLANS
from server.app import GraphQLApp
from tests import factories
from tests.conftest import make_key

EVERYTHING = """
fragment Amount on Money { amount currency __typename }
fragment Line on OrderLine { __typename id sku productName quantity taxRate quantityShipped unitPrice { ...Amount } total { ...Amount } customization }
subscription Changes($orderId: ID, $after: String, $lines: Boolean!, $events: Int) {
  change: orderStatusChanged(orderId: $orderId, after: $after) {
    __typename cursor previousStatus status occurredAt at: occurredAt
    order {
      __typename id number status paymentStatus channel email placedAt updatedAt
      shippingAddress { name line1 line2 city postalCode country }
      subtotal { ...Amount } total { ...Amount }
      lines @include(if: $lines) { ...Line }
      events(first: $events) { pageInfo { hasNextPage endCursor } edges { cursor node { type status previousStatus occurredAt actor data } } }
      shipments { id status trackingNumber }
      ... on Order { again: number }
    }
  }
}"""
MINIMAL = "subscription($orderId: ID, $after: String) { orderStatusChanged(orderId: $orderId, after: $after) { cursor status } }"
PRIVATE = """subscription($orderId: ID, $after: String) {
  orderStatusChanged(orderId: $orderId, after: $after) { cursor order { id privateMetadata { key value } } } }"""


def view(app: Any) -> GraphQLApp:
    return next(route.endpoint for route in app.router.routes if isinstance(getattr(route, "endpoint", None), GraphQLApp))


@pytest_asyncio.fixture
async def history(db: Any) -> dict[str, Any]:
    """One order with a few status changes (placed, confirmed, held, released) and a second order's change."""
    await factories.basic_catalog(db)
    await factories.stock(db, "A", "MAD", 100)
    order = await factories.place(db, [("A", 2), ("B", 1)], email="live-plan@example.com")
    other = await factories.place(db, [("A", 1)], email="other@example.com")
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    return {"order": to_global_id("Order", order.id), "other": to_global_id("Order", other.id)}


async def payloads(app: Any, token: str, document: str, variables: dict[str, Any], *, planner: bool, count: int) -> list[str | None]:
    """The first `count` events' payloads as one subscriber receives them (the shared JSON every transport sends)."""
    graphql = view(app)
    context = Context(db=app.state.db, settings=dataclasses.replace(graphql.settings, read_planner=planner), request_id="test",
                      hub=app.state.hub, token=token)
    stream = await graphql.schema.subscribe(document, variable_values=variables, context_value=context)
    texts: list[str | None] = []
    try:
        while len(texts) < count:  # the replay of what is in the log: no wait on a live event
            result = await asyncio.wait_for(stream.__anext__(), 30)
            assert not result.errors, result.errors
            assert type(result.data) is live.SharedData
            texts.append(result.data.payload_json())
    finally:
        await stream.aclose()
    return texts


async def test_a_planned_payload_is_the_ordinary_executors_bytes(app, db, history):
    # given: a subscriber of a rich shape (aliases, fragments, @include, the events connection, nested objects), replaying
    token = await make_key(db, "orders:read", "orders:write", "shipments:read", name="live-plan")
    variables = {"orderId": history["order"], "after": "0", "lines": True, "events": 5}
    # when: its events are built with the planner off, then on
    off = await payloads(app, token, EVERYTHING, variables, planner=False, count=2)
    built = PLANS.built
    on = await payloads(app, token, EVERYTHING, variables, planner=True, count=2)
    # then: one statement built each payload, and the bytes are the ordinary executor's
    assert PLANS.built == built + 2
    assert on == off
    assert '"previousStatus":null' in on[0] and '"status":"CONFIRMED"' in on[1]
    for lines in (False, True):  # @include variables and the whole-order stream shape: the same again
        for document, values, count in ((EVERYTHING, {**variables, "lines": lines, "events": 1}, 2), (MINIMAL, {"after": "0"}, 3)):
            assert await payloads(app, token, document, values, planner=True, count=count) == \
                await payloads(app, token, document, values, planner=False, count=count)


async def first_result(app: Any, token: str, document: str, variables: dict[str, Any], *, planner: bool) -> Any:
    graphql = view(app)
    context = Context(db=app.state.db, settings=dataclasses.replace(graphql.settings, read_planner=planner), request_id="test",
                      hub=app.state.hub, token=token)
    stream = await graphql.schema.subscribe(document, variable_values=variables, context_value=context)
    try:
        return await asyncio.wait_for(stream.__anext__(), 30)
    finally:
        await stream.aclose()


async def test_what_the_plan_cannot_answer_exactly_is_built_by_the_ordinary_executor(app, db, history):
    # given: a key without orders:write (the ordinary path refuses privateMetadata with FORBIDDEN)
    token = await make_key(db, "orders:read", name="live-plan-reader")
    variables = {"orderId": history["order"], "after": "0"}
    built = PLANS.built
    # when: it subscribes with the planner on, and off
    on = await first_result(app, token, PRIVATE, variables, planner=True)
    off = await first_result(app, token, PRIVATE, variables, planner=False)
    # then: no plan built it; the ordinary executor's answer, its error included
    assert PLANS.built == built
    assert on.errors and "orders:write" in on.errors[0].message, on.errors
    assert (on.data, [e.formatted for e in on.errors]) == (off.data, [e.formatted for e in off.errors])
