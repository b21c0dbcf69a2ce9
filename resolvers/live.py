"""Subscriptions: replay from the event log after a cursor, then live, each event exactly once."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from weakref import WeakKeyDictionary, WeakSet

import orjson
from graphql import ExecutionResult, GraphQLError
from sqlalchemy import select
from strawberry.types import Info

from app.infra.hub import Delivery, Idle, LiveHub, Mailbox, OrderSubscription
from app.orders.enums import OrderStatus
from models import Order, StockLevel, Warehouse
from resolvers.ids import from_global_id
from resolvers.loaders import Loaders
from resolvers.planner.execution import PlannedExecutionContext
from resolvers.planner.live import PLANS as EVENT_PLANS
from resolvers.planner.live import EventPlan
from resolvers.tracking import find_tracked_order, tracking_view

log = logging.getLogger("oms.live")

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


class SharedEventExecutionContext(PlannedExecutionContext):
    """Executes a subscription event once per distinct shape (document, operation, variables, scopes),
    not once per subscriber: the others reuse that result, and its JSON is written once (`SharedData`)."""

    def subscription_shape(self, audience: frozenset[str]) -> Any:
        """What makes two subscribers' results of one event the same: document, operation, variables, scopes."""
        source = self.operation.loc.source.body if self.operation.loc else id(self.operation)
        operation = self.operation.name.value if self.operation.name else None
        return (source, operation, json.dumps(self.variable_values.coerced, sort_keys=True, default=str), audience)

    def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        payload = self.root_value
        if isinstance(payload, Park):
            # Not an event: the subscription goes idle. Its parked form keeps this executor to run later events.
            payload.member.bind(self, self.subscription_shape(payload.member.audience))
            return ExecutionResult(ParkData(payload.member))
        if not isinstance(payload, SharedEvent):
            return super().execute_operation(*args, **kwargs)
        self.root_value = payload.value
        shape = self.subscription_shape(payload.audience)
        shared = payload.results.get(shape)
        if shared is None:
            plan = self._event_plan(shape, payload)
            if plan is not None:  # one statement builds it for all (resolvers/planner/live.py), or the ordinary executor below
                shared = payload.results[shape] = asyncio.ensure_future(self._planned(plan, args, kwargs))
                shared.add_done_callback(lambda done: _forget_failed(payload.results, shape, done))
                return asyncio.shield(shared)
            result = self._ordinary(*args, **kwargs)
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


    def _event_plan(self, shape: Any, payload: SharedEvent) -> EventPlan | None:
        settings = getattr(self.context_value, "settings", None)
        if not getattr(settings, "read_planner", False) or not isinstance(payload.value, StatusChange):
            return None
        return EVENT_PLANS.plan(shape, self.schema, self.fragment_definitions, self.operation, self.variable_values.coerced, payload.audience)

    def _ordinary(self, *args: Any, **kwargs: Any) -> Any:
        if isinstance(getattr(self.context_value, "loaders", None), Loaders):
            # This subscriber executes for all: its long-lived context must read current data.
            self.context_value.loaders = Loaders(self.context_value.db)
        return super().execute_operation(*args, **kwargs)

    async def _planned(self, plan: EventPlan, args: Any, kwargs: Any) -> Any:
        data = await EVENT_PLANS.build(self.context_value, plan, self.root_value, self.variable_values.coerced)
        if data is not None:
            return ExecutionResult(SharedData(data), None)
        result = self._ordinary(*args, **kwargs)
        if self.is_awaitable(result):
            result = await result
        return _shareable(result) if isinstance(result, ExecutionResult) else result


async def _share_when_done(result: Any) -> Any:
    done = await result
    return _shareable(done) if isinstance(done, ExecutionResult) else done


def _forget_failed(results: dict[Any, Any], shape: Any, done: asyncio.Future[Any]) -> None:
    # Errors may depend on the moment (a timeout, a dead connection): the next subscriber tries again.
    if done.cancelled() or done.exception() is not None or done.result().errors:
        results.pop(shape, None)


# ---------------------------------------------------------------- parking (issue 15: memory per idle subscriber)
#
# A live `orderStatusChanged` subscription on a transport that can park it (graphql-transport-ws:
# server/ws_keys.py adds its connection's context to PARKING) does not wait in its own task through
# strawberry's, graphql-core's and our generators once it has nothing to replay and nothing queued:
# `OrderSubscription.get()` raises Idle, the resolver registers a `ParkedSubscription` in the hub at
# once (no await in between, so no event is missed) and yields `Park`, which executes to a marker
# result; the transport's handler then activates the parked form and ends the operation's task
# (the socket keeps the operation id). The hub offers each event to the parked form as to any
# subscription; one dispatcher task per hub executes each event once per shape (through the
# executor kept from the subscription, so the same code, access checks and shared result) and
# writes the shape's JSON into every member's envelope. A result with errors, a socket that cannot
# take a message at once, or anything unexpected hands the subscription back to its transport,
# which runs it again in full from the last cursor it sent (`Resume`): the log replays the rest.

PARKING: WeakSet[Any] = WeakSet()  # connection contexts whose transport parks idle subscriptions


@dataclass(frozen=True, slots=True)
class Resume:
    """Root value of a parked subscription run again by its transport: every event after `after` was sent."""

    after: int


@dataclass(frozen=True, slots=True)
class Park:
    """Yielded by the resolver when its subscription goes idle; executes to `ParkData`."""

    member: ParkedSubscription


class ParkData(dict[str, Any]):
    """The marker result of `Park` (never sent: the transport's handler takes `member` from it)."""

    __slots__ = ("member",)

    def __init__(self, member: ParkedSubscription) -> None:
        super().__init__()
        self.member = member


def parked_member(payload: Any) -> ParkedSubscription | None:
    data = payload.get("data") if isinstance(payload, dict) else None
    return data.member if type(data) is ParkData else None


class _Matcher:
    """The resolver's filter, marked so that the hub parks its subscription when idle."""

    __slots__ = ("park_when_idle", "test")

    def __init__(self, test: Callable[[Delivery], bool], park_when_idle: bool) -> None:
        self.test = test
        self.park_when_idle = park_when_idle

    def __call__(self, delivery: Delivery) -> bool:
        return self.test(delivery)


PENDING, ACTIVE, DONE = 0, 1, 2
_NO_MAILBOX = Mailbox(0)


def _offered_by_group(delivery: Delivery) -> bool:
    return False  # an active member is not offered events itself: its group is


class FrameWriter(Protocol):
    """What a transport may hand a parked subscription to write pre-written frames (server/ws_protocol.py `Parker`)."""

    def frame(self, text: str) -> bytes: ...

    def write(self, frame: bytes) -> bool: ...


_ENVELOPES: dict[tuple[str, str], str] = {}  # one string per (operation id, message type): most sockets say "1"
ENVELOPES = 1024


def _envelope(operation_id: str, message_type: str) -> str:
    key = (operation_id, message_type) if isinstance(operation_id, str) and len(operation_id) <= 64 else None
    envelope = _ENVELOPES.get(key) if key is not None else None
    if envelope is None:
        envelope = '{"id":' + orjson.dumps(operation_id).decode() + ',"type":' + orjson.dumps(message_type).decode() + ',"payload":'
        if key is not None and len(_ENVELOPES) < ENVELOPES:
            _ENVELOPES[key] = envelope
    return envelope


class ParkedSubscription(OrderSubscription):
    """An idle live subscription as one object: its filter, the last cursor it sent, the executor of its
    operation, and how to write to its socket. `offer` (called by the hub, synchronously) hands
    matching events to the hub's dispatcher; before `activate` they wait in `backlog`."""

    __slots__ = ("audience", "backlog", "dispatcher", "envelope", "executor", "hub", "offered", "on_trouble", "send_text", "shape", "spare",
                 "state", "writer")

    def __init__(self, hub: LiveHub, match: Callable[[Delivery], bool], after: int, audience: frozenset[str]) -> None:
        # OrderSubscription's fields, without a mailbox of its own (nothing is queued here)
        self.match, self.overflowed, self.queue = match, False, _NO_MAILBOX
        self.hub = hub
        self.audience = audience
        self.offered = after  # the newest cursor handed on (events are offered once, in order)
        self.start_seq = after  # the newest cursor sent to the socket (`Resume` continues after it)
        self.state = PENDING
        self.backlog: list[Delivery] | None = []
        self.executor: Any = None
        self.spare: Any = None  # this subscription's own executor when the dispatcher keeps another of its shape
        self.shape: Any = None
        self.envelope = ""
        self.send_text: Callable[[str], Coroutine[Any, Any, None]] | None = None
        self.writer: FrameWriter | None = None
        self.on_trouble: Callable[[int], None] | None = None
        self.dispatcher = dispatcher_of(hub)

    def bind(self, executor: Any, shape: Any) -> None:
        """The executor of this subscription's operation: kept once per shape by the dispatcher (any member's
        runs an event for all of that shape, as the first subscriber's execution is shared already)."""
        self.executor = self.dispatcher.join(shape, executor)
        self.shape = self.dispatcher.executors[shape][2]  # the shape's first key: one tuple for all its members (memory)
        self.spare = executor if self.executor is not executor else None

    def release_spare(self) -> None:
        """Called by the transport once the subscription's stream is closed: its own executor is not needed (the
        dispatcher runs another of its shape). graphql-core's executor refers to itself (its resolve-info helpers are its
        bound methods), so without this it would wait for the cyclic collector — which `oms serve` runs rarely — holding
        its variables and state in memory; with the cycle broken it is freed at once (issue 15: memory per idle subscriber)."""
        spare, self.spare = self.spare, None
        helpers = getattr(spare, "async_helpers", None)
        original = getattr(getattr(helpers, "gather", None), "__self__", None)  # the subscription's executor, of which `spare` is the event's copy
        for executor in (original, spare):
            if executor is not None and executor is not self.executor:
                executor.async_helpers = None

    def activate(self, operation_id: str, send_text: Callable[[str], Coroutine[Any, Any, None]], on_trouble: Callable[[int], None],
                 message_type: str = "next", writer: FrameWriter | None = None) -> None:
        """Called by the transport with the marker result: from now on this object is the subscription. Its messages are
        `next_message`'s envelope: `message_type` "next" (graphql-transport-ws) or "data" (graphql-ws). With a `writer`
        (the socket's protocol can take pre-written frames), a message whose frame the dispatcher has written for another
        socket already is written as those bytes; `send_text` whenever the writer declines."""
        if self.state != PENDING or self.shape is None:
            raise RuntimeError("a parked subscription is activated once, after it was bound")
        self.envelope = _envelope(operation_id, message_type)
        self.send_text, self.on_trouble, self.writer = send_text, on_trouble, writer
        self.state = ACTIVE
        backlog, self.backlog = self.backlog or [], None
        # From here on the hub offers each event once to the shape's group (one filter for all its members: the shape,
        # document and variables, decides the arguments); what was offered to this one alone so far is sent first. No
        # await in between: every event reaches it exactly once, one way or the other, in order.
        self.hub.unsubscribe(self)
        self.dispatcher.group(self.hub, self.shape, self.match).members[self] = None
        self.match = _offered_by_group  # the group's filter decides from now on (this one's closure is freed: memory)
        for delivery in backlog:
            self.dispatcher.submit(delivery, self)

    def offer(self, delivery: Delivery) -> None:
        if self.state == DONE or delivery.seq <= self.offered or not self.match(delivery):
            return
        self.offered = delivery.seq
        if self.backlog is not None:
            self.backlog.append(delivery)
        else:
            self.dispatcher.submit(delivery, self)

    async def get(self) -> Delivery:  # never read: the dispatcher sends
        raise RuntimeError("a parked subscription is not read")

    def close(self) -> None:
        """The operation ended (complete, socket closed, key revoked): forget it."""
        if self.state == DONE:
            return
        active = self.state == ACTIVE
        self.state = DONE
        self.backlog = None
        if active:
            self.dispatcher.ungroup(self.hub, self.shape, self)
        else:
            self.hub.unsubscribe(self)
        if self.executor is not None:
            self.dispatcher.leave(self.shape)
            self.executor = None

    def hand_back(self) -> None:
        """Stop here and let the transport run the subscription again after the last cursor sent."""
        if self.state == DONE:
            return
        self.close()
        if self.on_trouble is not None:
            self.on_trouble(self.start_seq)

    def push(self, seq: int, payload: str, frames: dict[str, bytes] | None = None) -> None:
        """Writes one event to the socket now, or hands the subscription back if the socket cannot take it at once.
        `frames`: the event's frames by envelope, shared by the sockets of one dispatch (the same text, the same bytes)."""
        assert self.send_text is not None
        self.start_seq = seq
        writer = self.writer
        if writer is not None and frames is not None:
            frame = frames.get(self.envelope)
            if frame is None:
                frame = frames[self.envelope] = writer.frame(self.envelope + payload + "}")
            if writer.write(frame):
                return
        coroutine = self.send_text(self.envelope + payload + "}")
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            return
        except Exception:  # the socket is gone: its handler ends the operation
            self.close()
            return
        # Its buffer is full: finish this send in a task of its own, then the transport takes over.
        self.close()
        finisher = asyncio.ensure_future(_finish(coroutine, waiting))
        finisher.add_done_callback(lambda done: self._sent_late(done))

    def _sent_late(self, done: asyncio.Future[None]) -> None:
        if not done.cancelled() and done.exception() is None and self.on_trouble is not None:
            self.on_trouble(self.start_seq)


async def _finish(coroutine: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Drives a coroutine that suspended (outside any task) to its end, as a task would."""
    while True:
        try:
            if waiting is None:
                await asyncio.sleep(0)
            else:
                await waiting
        except BaseException as exc:  # passed into the coroutine, as a task does
            try:
                waiting = coroutine.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            return


class ParkedGroup(OrderSubscription):
    """The active parked subscriptions of one shape, registered in the hub as one subscription: the hub tests its filter
    once per event (not once per subscriber) and the dispatcher gets the members as they were at that moment."""

    __slots__ = ("dispatcher", "members", "shape")

    def __init__(self, dispatcher: Dispatcher, shape: Any, match: Callable[[Delivery], bool]) -> None:
        self.match, self.overflowed, self.queue, self.start_seq = match, False, _NO_MAILBOX, 0
        self.dispatcher, self.shape = dispatcher, shape
        self.members: dict[ParkedSubscription, None] = {}  # in the order they joined

    @property
    def size(self) -> int:
        return len(self.members)

    def offer(self, delivery: Delivery) -> None:
        if self.members and self.match(delivery):
            self.dispatcher.submit_group(delivery, self.shape, list(self.members))

    async def get(self) -> Delivery:  # never read: the dispatcher sends
        raise RuntimeError("a group of parked subscriptions is not read")


def parked_subscriptions(hub: LiveHub) -> list[ParkedSubscription]:
    """The parked subscriptions registered in `hub`, alone (not active yet) or in their shape's group."""
    found: list[ParkedSubscription] = []
    for subscription in list(hub.order_subscriptions):
        if type(subscription) is ParkedGroup:
            found += subscription.members
        elif type(subscription) is ParkedSubscription:
            found.append(subscription)
    return found


class Dispatcher:
    """Sends events to parked subscriptions: one task at a time per hub, events in order, each executed
    once per shape."""

    def __init__(self) -> None:
        # (event, members, their shape when they are one group's, else None)
        self.queue: deque[tuple[Delivery, list[ParkedSubscription], Any]] = deque()
        self.task: asyncio.Task[None] | None = None
        self.sent = 0
        self.executors: dict[Any, list[Any]] = {}  # shape -> [executor, members of that shape, the shape as first given]
        self.groups: dict[Any, ParkedGroup] = {}  # shape -> its active members, registered in the hub

    def group(self, hub: LiveHub, shape: Any, match: Callable[[Delivery], bool]) -> ParkedGroup:
        group = self.groups.get(shape)
        if group is None:
            group = self.groups[shape] = ParkedGroup(self, shape, match)
            hub.attach(group)
        return group

    def ungroup(self, hub: LiveHub, shape: Any, member: ParkedSubscription) -> None:
        group = self.groups.get(shape)
        if group is None:
            return
        group.members.pop(member, None)
        if not group.members:
            del self.groups[shape]
            hub.unsubscribe(group)

    def submit_group(self, delivery: Delivery, shape: Any, members: list[ParkedSubscription]) -> None:
        self.queue.append((delivery, members, shape))
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    def join(self, shape: Any, executor: Any) -> Any:
        entry = self.executors.get(shape)
        if entry is None:
            entry = self.executors[shape] = [executor, 0, shape]
        entry[1] += 1
        return entry[0]

    def leave(self, shape: Any) -> None:
        entry = self.executors.get(shape)
        if entry is not None:
            entry[1] -= 1
            if entry[1] <= 0:
                del self.executors[shape]

    def submit(self, delivery: Delivery, member: ParkedSubscription) -> None:
        if self.queue and self.queue[-1][0] is delivery and self.queue[-1][2] is None:
            self.queue[-1][1].append(member)
        else:
            self.queue.append((delivery, [member], None))
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while self.queue:
                delivery, members, shape = self.queue.popleft()
                try:
                    await self.dispatch(delivery, members, shape)
                except Exception:
                    log.exception("sending an event to parked subscriptions failed; they resume from the log")
                    for member in members:
                        member.hand_back()
        finally:
            self.task = None

    async def dispatch(self, delivery: Delivery, members: list[ParkedSubscription], shape: Any = None) -> None:
        groups: dict[Any, list[ParkedSubscription]] = {}
        if shape is not None:  # one group's members, as they were when the hub offered the event
            if shape in self.executors:
                groups[shape] = members
        else:
            for member in members:
                if member.state == ACTIVE:
                    groups.setdefault(member.shape, []).append(member)
        if not groups:
            return
        event = delivery.event
        change = StatusChange(cursor=str(event.seq), order=delivery.order, previous_status=event.previous_status,
                              status=event.status, occurred_at=event.occurred_at)
        results = shared_results(delivery)
        for shape, group in groups.items():
            first = group[0]
            executor = self.executors[shape][0].build_per_event_executor(SharedEvent(change, results, first.audience))
            result = executor.execute_operation(False)
            if executor.is_awaitable(result):
                result = await result
            data = getattr(result, "data", None)
            payload = data.payload_json() if type(data) is SharedData and not result.errors else None
            frames: dict[str, bytes] = {}
            seq = delivery.seq
            for member in group:
                if member.state != ACTIVE or seq <= member.start_seq:  # gone meanwhile; (never) sent already
                    continue
                if payload is None:  # errors, or nothing to share: the full path sends it, as it would have
                    member.hand_back()
                else:
                    member.push(seq, payload, frames)
                    self.sent += 1


_DISPATCHERS: WeakKeyDictionary[LiveHub, Dispatcher] = WeakKeyDictionary()


def dispatcher_of(hub: LiveHub) -> Dispatcher:
    dispatcher = _DISPATCHERS.get(hub)
    if dispatcher is None:
        dispatcher = _DISPATCHERS[hub] = Dispatcher()
    return dispatcher


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

    hub = info.context.hub
    if isinstance(info.root_value, Resume):  # run again after parking: continue after what was sent
        after_seq = info.root_value.after
    parking = info.context in PARKING
    if parking and after_seq is None:
        after_seq = await hub.committed_cursor()  # what follow() would take: a parked form must start from the same point
    last = after_seq or 0
    try:
        async for delivery in hub.follow(_Matcher(match, parking), after=after_seq, order_id=wanted_order):
            event = delivery.event  # fresh loaders are made by whichever subscriber executes the shape
            last = event.seq
            change = StatusChange(
                cursor=str(event.seq), order=delivery.order, previous_status=event.previous_status,
                status=event.status, occurred_at=event.occurred_at,
            )
            yield SharedEvent(change, shared_results(delivery), principal.scopes)
    except Idle as idle:
        member = ParkedSubscription(hub, match, max(last, idle.start_seq), principal.scopes)
        hub.attach(member)  # no await since the hub's own subscription ended: nothing falls in between
        try:
            yield Park(member)
        finally:
            if member.state == PENDING:  # the transport did not take it over
                member.close()


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
