"""Close a revoked (or expired) key's open WebSockets within seconds, on every process (issue 13).

strawberry builds one handler object per socket (`view.graphql_transport_ws_handler_class(...)` /
`view.graphql_ws_handler_class(...)`, then `.handle()` until the socket ends). Subclasses register the
handler for the life of `handle()`; a sweeper task in every process re-checks the keys of its open sockets
(one query for all of them) and closes those whose key is no longer valid: operations first (so nothing is
sent after the close frame), then `websocket.close(4403, ...)`. The same 4403 for a bad key at
connection_init on the legacy `graphql-ws` protocol, where strawberry 0.341 hard-codes 1011.

Issue 15: a subscription event whose result is shared by every subscriber of its shape
(resolvers.live.SharedData) is sent as the shape's pre-written JSON inside a per-socket envelope,
not encoded again for each socket. On a server whose WebSocket protocol offers parking
(server/ws_protocol.py, `oms serve`), a graphql-transport-ws handler does not hold the socket in a
`handle()` loop: it hands the socket to the protocol and the ASGI call returns, and the protocol runs
`_drain` whenever messages arrive (each handled as strawberry's loop handles it); with its idle
subscriptions parked too (resolvers/live.py), an idle socket then has no task and no suspended frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable
from json import JSONDecodeError
from typing import Any

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived, WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation, _OperationStreamClosed
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.execution import PreExecutionError
from strawberry.types.unset import UnsetType
from strawberry.utils.aio import aclosing

from resolvers.live import PARKING, Resume, next_message, parked_member
from server.ws_protocol import PARK

log = logging.getLogger("oms.ws")
OPEN: weakref.WeakSet[Any] = weakref.WeakSet()   # this process's live handlers, both protocols
REVOKED_CODE = 4403


class _Registered:
    async def send_message(self, message: Any) -> None:
        text = next_message(message) if message.get("type") in ("next", "data") else None
        ws = getattr(self.websocket, "ws", None)  # type: ignore[attr-defined]  # strawberry's ASGI adapter: the starlette WebSocket
        if text is None or ws is None:
            await super().send_message(message)  # type: ignore[misc]
            return
        try:
            await ws.send_text(text)
        except WebSocketDisconnect as exc:  # as strawberry's adapter does in send_json
            raise WebSocketDisconnected from exc

    async def handle(self) -> None:
        OPEN.add(self)
        try:
            await super().handle()  # type: ignore[misc]
        finally:
            OPEN.discard(self)

    async def close_for_revocation(self, reason: str = "API key revoked") -> None:
        for operation_id in list(getattr(self, "operations", None) or getattr(self, "tasks", {})):
            with contextlib.suppress(Exception):
                await self.cleanup_operation(operation_id)  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            await self.websocket.close(code=REVOKED_CODE, reason=reason)  # type: ignore[attr-defined]


class _Parked(Exception):
    """Ends an operation's task once its subscription is parked (resolvers/live.py); the operation stays open."""


_FINISHED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future[None]] = weakref.WeakKeyDictionary()


def _finished() -> asyncio.Future[None]:
    """A done future standing for the ended task of a parked operation (strawberry cancels and awaits it on cleanup,
    and asks done(): all no-ops on a done future), one for every parked operation of the loop."""
    loop = asyncio.get_running_loop()
    done = _FINISHED.get(loop)
    if done is None:
        done = _FINISHED[loop] = loop.create_future()
        done.set_result(None)
    return done


_TEXTS: dict[str, str] = {}  # subscription documents, one string per distinct text (every subscriber of a shape sends the same)
SHARED_TEXTS, SHARED_TEXT_CHARS = 256, 20_000


def _shared_text(text: str) -> str:
    found = _TEXTS.get(text)
    if found is not None:
        return found
    if len(_TEXTS) < SHARED_TEXTS and len(text) <= SHARED_TEXT_CHARS:
        _TEXTS[text] = text
    return text


class TransportWSHandler(_Registered, BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws, with idle `orderStatusChanged` subscriptions parked (issue 15): no task while idle,
    and the socket itself parked in the protocol where it can be (no frame while idle)."""

    async def handle(self) -> None:
        ws = getattr(self.websocket, "ws", None)
        parker = (getattr(ws, "scope", None) or {}).get("extensions", {}).get(PARK)
        if ws is None or parker is None:
            await super().handle()
            return
        OPEN.add(self)
        self.on_request_accepted()
        self.parker = parker
        # The handshake's headers are done with (the origin was checked, a WebSocket's key comes in connection_init):
        # not kept for the life of the socket, as the protocol drops the handshake itself.
        ws.scope["headers"] = []
        ws.__dict__.pop("_headers", None)
        parker.park(self._drain, contextvars.copy_context())
        # returning ends the ASGI call; the socket stays open, its messages come to _drain

    async def handle_subscribe(self, message: Any) -> None:
        payload = message.get("payload") if isinstance(message, dict) else None
        if isinstance(payload, dict) and isinstance(payload.get("query"), str):
            payload["query"] = _shared_text(payload["query"])  # kept by the operation for the life of the subscription
        await super().handle_subscribe(message)

    async def _drain(self) -> None:
        """The messages waiting now, each as strawberry's `handle()` loop does; the end of that loop (shutdown, then the
        socket closed as after an ASGI call) once the socket is done."""
        ws = self.websocket.ws  # type: ignore[attr-defined]
        ended = True
        try:
            try:
                while ws.application_state != WebSocketState.DISCONNECTED and self.parker.pending():
                    try:
                        message = self.view.decode_json(await ws.receive_text())
                    except JSONDecodeError as e:
                        raise NonJsonMessageReceived from e
                    except KeyError as e:
                        raise NonTextMessageReceived from e
                    await self.handle_message(message)  # type: ignore[arg-type]
                ended = ws.application_state == WebSocketState.DISCONNECTED
            except NonTextMessageReceived:
                await self.handle_invalid_message("WebSocket message type must be text")
            except NonJsonMessageReceived:
                await self.handle_invalid_message("WebSocket message must be valid JSON")
        except (WebSocketDisconnect, WebSocketDisconnected):
            pass
        finally:
            if ended:
                try:
                    await self.shutdown()
                finally:
                    OPEN.discard(self)
                    self.parker.release()

    def on_request_accepted(self) -> None:
        super().on_request_accepted()
        PARKING.add(self.context)
        self.parked: dict[str, Any] | None = None  # made when the first subscription parks
        self.resume_after: dict[str, int] | None = None
        task = self.connection_init_timeout_task
        if task is not None:
            # Once it has ended (cancelled by connection_init), drop it: a cancelled task keeps its
            # CancelledError, whose traceback keeps the frames, for as long as the socket is open.
            task.add_done_callback(self._forget_init_timeout)

    def _forget_init_timeout(self, task: asyncio.Task[None]) -> None:
        if self.connection_init_timeout_task is task:
            self.connection_init_timeout_task = None

    async def send_message(self, message: Any) -> None:
        member = parked_member(message.get("payload")) if message.get("type") == "next" else None
        if member is None:
            await super().send_message(message)
            return
        operation_id = message["id"]
        ws = getattr(self.websocket, "ws", None)
        if ws is None or operation_id not in self.operations:
            raise RuntimeError("cannot park a subscription here")
        member.activate(operation_id, ws.send_text, functools.partial(self._resume, operation_id), writer=getattr(self, "parker", None))
        if self.parked is None:
            self.parked = {}
        self.parked[operation_id] = member
        raise _Parked

    def _resume(self, operation_id: str, after: int) -> None:
        """A parked subscription hands itself back: run it again in full, after the last cursor it sent."""
        if self.parked is not None:
            self.parked.pop(operation_id, None)
        operation = self.operations.get(operation_id)
        if operation is None:
            return
        if operation.task is not None and not operation.task.done():  # the parked run is still ending
            operation.task.add_done_callback(lambda _: self._resume(operation_id, after))
            return
        if self.resume_after is None:
            self.resume_after = {}
        self.resume_after[operation_id] = after
        operation.task = asyncio.create_task(self.run_operation(operation))
        operation.task.add_done_callback(self._task_done)

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        """strawberry 0.341.2's, with the root value of a resumed subscription and the end of a parked one's task."""
        root_value: Any = self.root_value
        after = self.resume_after.pop(operation.id, None) if self.resume_after else None
        if after is not None:
            root_value = Resume(after)
        try:
            result_source = await self.schema.stream(
                operation.query, variable_values=operation.variables, context_value=self.context,
                root_value=root_value, operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except _OperationStreamClosed:
            return
        except _Parked:
            # This task ends now; the open operation keeps a finished stand-in, not the task (and its context copy).
            operation.task = _finished()  # type: ignore[assignment]  # strawberry only cancels, awaits and asks done()
            member = (self.parked or {}).get(operation.id)
            if member is not None:
                member.release_spare()  # the stream is closed (aclosing above)
            return
        except Exception as error:
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise

    async def cleanup_operation(self, operation_id: str) -> None:
        parked = getattr(self, "parked", None)
        member = parked.pop(operation_id, None) if parked else None
        if member is not None:
            member.close()
        await super().cleanup_operation(operation_id)


class LegacyWSHandler(_Registered, BaseGraphQLWSHandler[Any, Any]):
    """graphql-ws (the legacy protocol), parked as graphql-transport-ws is (issue 15): idle `orderStatusChanged`
    subscriptions have no task (resolvers/live.py), and the socket is parked in the protocol where it can be."""

    async def handle(self) -> None:
        ws = getattr(self.websocket, "ws", None)
        parker = (getattr(ws, "scope", None) or {}).get("extensions", {}).get(PARK)
        self._start_parking(ws)
        if ws is None or parker is None:
            await super().handle()
            return
        OPEN.add(self)
        self.parker = parker
        ws.scope["headers"] = []  # as TransportWSHandler.handle: the handshake is done with
        ws.__dict__.pop("_headers", None)
        parker.park(self._drain, contextvars.copy_context())

    def _start_parking(self, ws: Any) -> None:
        self.parked: dict[str, Any] | None = None  # operation id -> its parked subscription
        self.resume_after: dict[str, int] | None = None
        self.started: dict[str, tuple[str, str | None, Any]] = {}  # operation id -> (query, operation name, variables)
        if ws is not None and hasattr(ws, "send_text"):
            PARKING.add(self.context)

    async def _drain(self) -> None:
        """The messages waiting now, each as strawberry's `handle()` loop (`iter_json(ignore_parsing_errors=True)`) does;
        the end of that loop (keep-alive stopped, operations cleaned up, the socket closed) once the socket is done."""
        ws = self.websocket.ws  # type: ignore[attr-defined]
        ended = True
        try:
            try:
                while ws.application_state != WebSocketState.DISCONNECTED and self.parker.pending():
                    try:
                        text = await ws.receive_text()
                    except KeyError as e:
                        raise NonTextMessageReceived from e
                    try:
                        message = self.view.decode_json(text)
                    except JSONDecodeError:
                        continue  # ignored, as strawberry's loop ignores it on this protocol
                    await self.handle_message(message)  # type: ignore[arg-type]
                ended = ws.application_state == WebSocketState.DISCONNECTED
            except NonTextMessageReceived:
                await self.websocket.close(code=1002, reason="WebSocket message type must be text")
        except (WebSocketDisconnect, WebSocketDisconnected):
            pass
        finally:
            if ended:
                try:
                    if self.keep_alive_task:
                        self.keep_alive_task.cancel()
                        with contextlib.suppress(BaseException):
                            await self.keep_alive_task
                    await self.cleanup()
                finally:
                    OPEN.discard(self)
                    self.parker.release()

    async def handle_start(self, message: Any) -> None:
        payload = message.get("payload") if isinstance(message, dict) else None
        if isinstance(payload, dict) and isinstance(payload.get("query"), str):
            payload["query"] = _shared_text(payload["query"])  # kept by the operation for the life of the subscription
        await super().handle_start(message)

    async def send_message(self, message: Any) -> None:
        member = parked_member(message.get("payload")) if message.get("type") == "data" else None
        if member is None:
            await super().send_message(message)
            return
        operation_id = message["id"]
        ws = getattr(self.websocket, "ws", None)
        if ws is None or operation_id not in self.tasks:
            raise RuntimeError("cannot park a subscription here")
        member.activate(operation_id, ws.send_text, functools.partial(self._resume, operation_id), "data", writer=getattr(self, "parker", None))
        if self.parked is None:
            self.parked = {}
        self.parked[operation_id] = member
        raise _Parked

    def _resume(self, operation_id: str, after: int) -> None:
        """A parked subscription hands itself back: run it again in full, after the last cursor it sent."""
        if self.parked is not None:
            self.parked.pop(operation_id, None)
        task, started = self.tasks.get(operation_id), self.started.get(operation_id)
        if task is None or started is None:
            return  # stopped meanwhile
        if not task.done():  # the parked run is still ending
            task.add_done_callback(lambda _: self._resume(operation_id, after))
            return
        if self.resume_after is None:
            self.resume_after = {}
        self.resume_after[operation_id] = after
        self.tasks[operation_id] = asyncio.create_task(self.handle_async_results(operation_id, *started))

    async def handle_async_results(self, operation_id: str, query: str, operation_name: str | None, variables: Any) -> None:
        """strawberry 0.341.2's, with the root value of a resumed subscription and the end of a parked one's task."""
        root_value: Any = self.root_value
        after = self.resume_after.pop(operation_id, None) if self.resume_after else None
        if after is not None:
            root_value = Resume(after)
        self.started[operation_id] = (query, operation_name, variables)
        parked = False
        try:
            result_source = await self.schema.subscribe(
                query=query, variable_values=variables, operation_name=operation_name, context_value=self.context, root_value=root_value,
            )
            self.subscriptions[operation_id] = result_source
            is_first_result = True
            try:
                async for result in result_source:
                    if is_first_result and isinstance(result, PreExecutionError):
                        assert result.errors
                        await self.send_message({"type": "error", "id": operation_id, "payload": result.errors[0].formatted})
                        return
                    await self.send_data_message(result, operation_id)
                    is_first_result = False
            except _Parked:
                parked = True
                with contextlib.suppress(RuntimeError):
                    await result_source.aclose()
                member = (self.parked or {}).get(operation_id)
                if member is not None:
                    member.release_spare()
                return
            await self.send_message({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:
            await self.send_message({"type": "complete", "id": operation_id})
        finally:
            self.subscriptions.pop(operation_id, None)
            if parked:  # the operation stays open (stop finds it; it counts towards the limit) with a finished stand-in
                self.tasks[operation_id] = _finished()  # type: ignore[assignment]
            else:
                self.tasks.pop(operation_id, None)
                self.started.pop(operation_id, None)

    async def cleanup_operation(self, operation_id: str) -> None:
        parked = getattr(self, "parked", None)
        member = parked.pop(operation_id, None) if parked else None
        if member is None:
            await super().cleanup_operation(operation_id)
            return
        member.close()
        self.started.pop(operation_id, None)
        task = self.tasks.pop(operation_id, None)
        if task is not None and not task.done():  # a run resumed meanwhile: ended as strawberry ends it
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            return
        # what the cancelled task of an unparked subscription sends as it ends (a failed send is swallowed there too)
        with contextlib.suppress(BaseException):
            await self.send_message({"type": "complete", "id": operation_id})

    async def handle_connection_init(self, message: Any) -> None:
        # strawberry 0.341.2's body, with 4403 instead of 1011 for a rejected connection.
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await self.send_message({"type": "connection_error"})
            await self.websocket.close(code=1000, reason="")
            return
        if isinstance(self.context, dict):
            self.context["connection_params"] = payload
        elif hasattr(self.context, "connection_params"):
            self.context.connection_params = payload
        try:
            ack = await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as e:
            await self.send_message({"type": "connection_error", "payload": e.payload})
            await self.websocket.close(code=REVOKED_CODE, reason="Forbidden")
            return
        if isinstance(ack, UnsetType) or ack is None:
            await self.send_message({"type": "connection_ack"})
        else:
            await self.send_message({"type": "connection_ack", "payload": ack})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())


async def sweep(key_of: Callable[[Any], str | None], still_valid: Callable[[set[str]], Awaitable[set[str]]]) -> int:
    """Close every open socket whose key is not in `still_valid(keys)`; returns how many were closed."""
    by_key: dict[str, list[Any]] = {}
    for handler in list(OPEN):
        key = key_of(handler.context)
        if key is not None:
            by_key.setdefault(key, []).append(handler)
    if not by_key:
        return 0
    valid = await still_valid(set(by_key))
    closed = 0
    for key, handlers in by_key.items():
        if key in valid:
            continue
        for handler in handlers:
            await handler.close_for_revocation()
            closed += 1
        log.info("closed %d WebSocket(s) of a revoked or expired key", len(handlers))
    return closed


class Sweeper:
    """One per process (start in the app's lifespan). In the OMS: `still_valid` = one query
    `SELECT id FROM api_keys WHERE id = ANY(:ids) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`;
    `interval` 2 s gives "within seconds" with no cross-process messaging; a NOTIFY from `oms apikey revoke`
    (LISTEN in each process, then `sweep()` at once) makes it immediate."""

    def __init__(self, key_of: Callable[[Any], str | None], still_valid: Callable[[Iterable[str]], Awaitable[set[str]]],
                 interval: float = 2.0) -> None:
        self.key_of, self.still_valid, self.interval = key_of, still_valid, interval
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await sweep(self.key_of, self.still_valid)
            except Exception:  # a failed check (database down) must not end the sweeper
                log.exception("WebSocket key sweep failed")
