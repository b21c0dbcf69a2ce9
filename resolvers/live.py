"""Subscriptions: replay from the event log after a cursor, then live, each event exactly once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from graphql import ExecutionResult, GraphQLError
from sqlalchemy import select
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

from app.infra.hub import Delivery
from app.orders.enums import OrderStatus
from models import Order, StockLevel, Warehouse
from resolvers.ids import from_global_id
from resolvers.loaders import Loaders
from resolvers.tracking import find_tracked_order, tracking_view

# GraphQL results of one event by subscription shape, filled by the first subscriber of each shape.
# Keyed by the hub's Delivery (one object per event, shared by all of this process's subscribers),
# weakly: an event's results go when the last subscriber is done with it.
_RESULTS: WeakKeyDictionary[Delivery, dict[Any, Any]] = WeakKeyDictionary()


def shared_results(delivery: Delivery) -> dict[Any, Any]:
    """The result cache of one event, made by the first subscriber that asks."""
    results = _RESULTS.get(delivery)
    if results is None:
        results = _RESULTS[delivery] = {}
    return results


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One `orderStatusChanged` event: the order as it is now, and the move the event recorded."""

    cursor: str
    order: Order
    previous_status: OrderStatus | None
    status: OrderStatus
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class SharedEvent:
    """A subscription payload whose GraphQL result is the same for every subscriber asking the same thing.

    `results` belongs to the event (`shared_results(delivery)`); `audience` is what may
    change the result besides the document and the variables: the key's scopes."""

    value: Any
    results: dict[Any, Any]
    audience: frozenset[str]


class SharedData(dict[str, Any]):
    """The `data` of one shape's result of one event, the same object for every subscriber of that shape.

    Its JSON payload (`{"data": ...}`) is written once, by the first transport that sends it
    (`payload_json`); every socket and HTTP stream of the shape then sends those same characters
    inside its own envelope (`next_message`, `shared_payload`). Nothing may mutate it once shared."""

    __slots__ = ("_payload",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        self._payload: str | None = None  # None: not written yet; "": not writable by orjson

    def payload_json(self) -> str | None:
        if self._payload is None:
            try:
                self._payload = encode_payload(self)
            except TypeError:  # a value orjson cannot write: every sender falls back to its own encoder
                self._payload = ""
        return self._payload or None


PAYLOAD_PREFIX = '{"data":'


def encode_payload(data: Mapping[str, Any]) -> str:
    """The one serialisation of a shared event payload (tests count the calls): `{"data":<data>}`, compact."""
    return orjson.dumps({"data": data}).decode()


def shared_payload(payload: Any) -> str | None:
    """The JSON of a subscription result payload (`{"data": ..., "extensions"?: ...}`) whose data is shared,
    spliced from the shape's pre-written characters; None when it is not shared (errors, an ordinary result)."""
    if not isinstance(payload, dict) or "errors" in payload:
        return None
    data = payload.get("data")
    if type(data) is not SharedData:
        return None
    body = data.payload_json()
    if body is None or len(payload) == 1:
        return body
    try:
        rest = orjson.dumps({"data": orjson.Fragment(body[len(PAYLOAD_PREFIX):-1]), **{k: v for k, v in payload.items() if k != "data"}})
    except TypeError:
        return None
    return rest.decode()


def next_message(message: Mapping[str, Any]) -> str | None:
    """A WebSocket message (`{"id", "type", "payload"}`, either protocol) around a shared payload, as text;
    None when its payload is not shared. Only the envelope is written per socket."""
    payload = shared_payload(message.get("payload"))
    if payload is None or len(message) != 3:
        return None
    return '{"id":' + orjson.dumps(message["id"]).decode() + ',"type":' + orjson.dumps(message["type"]).decode() + ',"payload":' + payload + "}"


def _shareable(result: ExecutionResult) -> ExecutionResult:
    if result.errors or not isinstance(result.data, dict):
        return result
    return ExecutionResult(SharedData(result.data), None, result.extensions)


class SharedEventExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Executes a subscription event once per distinct shape (document, operation, variables, scopes),
    not once per subscriber: the others reuse that result, and its JSON is written once (`SharedData`)."""

    def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        payload = self.root_value
        if not isinstance(payload, SharedEvent):
            return super().execute_operation(*args, **kwargs)
        self.root_value = payload.value
        source = self.operation.loc.source.body if self.operation.loc else id(self.operation)
        operation = self.operation.name.value if self.operation.name else None
        shape = (source, operation, json.dumps(self.variable_values.coerced, sort_keys=True, default=str), payload.audience)
        shared = payload.results.get(shape)
        if shared is None:
            if isinstance(getattr(self.context_value, "loaders", None), Loaders):
                # This subscriber executes for all: its long-lived context must read current data.
                self.context_value.loaders = Loaders(self.context_value.db)
            result = super().execute_operation(*args, **kwargs)
            if not self.is_awaitable(result):
                # Only a whole result is shared (never an incremental one, which a subscription event does not produce).
                if isinstance(result, ExecutionResult) and not result.errors:
                    result = payload.results[shape] = _shareable(result)
                return result
            shared = payload.results[shape] = asyncio.ensure_future(_share_when_done(result))
            shared.add_done_callback(lambda done: _forget_failed(payload.results, shape, done))
        if isinstance(shared, asyncio.Future):
            return asyncio.shield(shared)  # one subscriber leaving must not cancel the others' result
        return shared


async def _share_when_done(result: Any) -> Any:
    done = await result
    return _shareable(done) if isinstance(done, ExecutionResult) else done


def _forget_failed(results: dict[Any, Any], shape: Any, done: asyncio.Future[Any]) -> None:
    # Errors may depend on the moment (a timeout, a dead connection): the next subscriber tries again.
    if done.cancelled() or done.exception() is not None or done.result().errors:
        results.pop(shape, None)


def _fresh_loaders(info: Info) -> None:
    # The context lives as long as the socket; each pushed result must read current data.
    info.context.loaders = Loaders(info.context.db)


def _is_status_change(delivery: Delivery) -> bool:
    return delivery.event.previous_status != delivery.event.status


async def order_status_changed(info: Info, order_id: str | None = None, channel: Any = None, after: str | None = None) -> AsyncGenerator[Any, None]:
    principal = await info.context.require("orders:read")
    wanted_order = None
    if order_id is not None:
        decoded = from_global_id(order_id)
        if decoded is None or decoded[0] != "Order":
            raise GraphQLError("Not a valid Order ID.", extensions={"code": "INVALID_INPUT"})
        wanted_order = decoded[1]
    wanted_channel = channel.value if channel is not None else None
    try:
        after_seq = int(after) if after is not None else None
    except ValueError:
        raise GraphQLError("Invalid cursor.", extensions={"code": "INVALID_INPUT"}) from None

    def match(delivery: Delivery) -> bool:
        event = delivery.event
        return (
            _is_status_change(delivery)
            and (wanted_order is None or event.order_id == wanted_order)
            and (wanted_channel is None or event.channel == wanted_channel)
        )

    async for delivery in info.context.hub.follow(match, after=after_seq, order_id=wanted_order):
        event = delivery.event  # fresh loaders are made by whichever subscriber executes the shape
        change = StatusChange(
            cursor=str(event.seq), order=delivery.order, previous_status=event.previous_status,
            status=event.status, occurred_at=event.occurred_at,
        )
        yield SharedEvent(change, shared_results(delivery), principal.scopes)


async def stock_level_changed(info: Info, sku: str | None = None, warehouse_code: str | None = None) -> AsyncGenerator[Any, None]:
    await info.context.require("stock:read")
    warehouse_id = None
    if warehouse_code is not None:
        async with info.context.db.read() as session:
            warehouse_id = (await session.execute(select(Warehouse.id).where(Warehouse.code == warehouse_code))).scalar_one_or_none()
        if warehouse_id is None:
            raise GraphQLError(f"Unknown warehouse {warehouse_code!r}.", extensions={"code": "NOT_FOUND"})

    def match(notice: dict[str, Any]) -> bool:
        return (sku is None or notice["sku"] == sku) and (warehouse_id is None or notice["warehouseId"] == str(warehouse_id))

    hub = info.context.hub
    subscription = hub.subscribe_stock(match)
    try:
        while True:
            notice = await subscription.get()
            async with info.context.db.read() as session:
                level = (
                    await session.execute(select(StockLevel).where(StockLevel.sku == notice["sku"], StockLevel.warehouse_id == notice["warehouseId"]))
                ).scalar_one_or_none()
            if level is not None:
                _fresh_loaders(info)
                yield level
    finally:
        hub.unsubscribe(subscription)


async def track_order(info: Info, number: str, email: str) -> AsyncGenerator[Any, None]:
    order = await find_tracked_order(info, number, email)
    if order is None:
        raise GraphQLError("No order matches that number and email.", extensions={"code": "NOT_FOUND"})
    hub = info.context.hub
    start = await hub.committed_cursor()  # taken before the first view: a change in between is shown again, never lost
    yield await tracking_view(info, order)
    async for delivery in hub.follow(lambda d: d.event.order_id == order.id, after=start, order_id=order.id):
        _fresh_loaders(info)
        yield await tracking_view(info, delivery.order)
