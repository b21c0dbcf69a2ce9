"""Engine, sessions and the unit of work.

One `AsyncSession` per unit of work: per mutation, and per DataLoader batch for
reads (sibling resolvers run concurrently and a session refuses concurrent use).

The unit of work is also the transactional outbox: order events recorded during
it are inserted at the very end, numbered from the sequence `order_event_seq`
(no lock shared between writers, issue 16), after the transaction has taken its
id; readers order them by that number and never read past the horizon of
app/infra/horizon.py. They are handed to the publisher only after the commit
succeeded, so a rolled-back change publishes nothing (its numbers stay unused).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import event, inspect, text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.util import await_only, greenlet_spawn

from app.infra import metrics
from app.infra.faults import (
    DEADLOCK_OR_SERIALIZATION,
    LOCK_TIMEOUT,
    STATEMENT_TIMEOUT,
    Unavailable,
    is_connection_error,
    is_retryable,
    sqlstate,
)
from models.orders import Order, OrderEvent

log = logging.getLogger(__name__)
T = TypeVar("T")

# Event cursors (issue 16): the writer's transaction id is assigned BEFORE it draws a number, so a
# reader that saw `last` and then took an id of its own knows every writer below `last` by a smaller id.
ASSIGN_XID = text("SELECT pg_current_xact_id()::text::bigint")
EVENT_INSERT_ROWS = 1000  # rows per INSERT (7 bound values each, far below the protocol's 32767)
# Deadlocks, serialization failures, lock timeouts and connections lost before COMMIT are retried
# whole (the transaction rolled back), within the retry budget; clients never see them.
MAX_ATTEMPTS = 5
# Which life of the server this is: its start time, and the WAL statistics' reset time, which a crash renews (its
# statistics are discarded) even when the postmaster itself survives it (a backend killed: every process restarted, the
# start time kept) and a clean restart keeps (measured on PostgreSQL 18). An explicit pg_stat_reset_shared('wal')
# renews it too: harmless (a lost COMMIT's answer is UNKNOWN, a horizon candidate is sampled again).
SERVER_LIFE = "pg_postmaster_start_time()::text || ' ' || coalesce((SELECT stats_reset FROM pg_stat_wal)::text, '')"
# (with the server's life: after a crash an id that never reached the WAL is handed out again, see `_xact_status`)
XID = text(f"SELECT pg_current_xact_id_if_assigned(), {SERVER_LIFE}")
XACT_STATUS = text(f"SELECT pg_xact_status(CAST(:xid AS xid8)), {SERVER_LIFE}")
EVENT_COMMITTED = text("SELECT EXISTS (SELECT 1 FROM order_events WHERE seq = :seq AND order_id = :order_id)")
XID_IN_THE_FUTURE = "22023"  # pg_xact_status: "transaction ID ... is in the future"
# Session 11: a unit's last statement may commit on its own (`UnitOfWork.fetch_committing`). Should its reply be lost, the
# backend that ran it is identified by its pid and start time (read once per connection, `_remember_backend`: a pid is
# handed out again once its backend has gone), ended and waited for, so its transaction is over either way before
# the database is asked whether it committed (no row found can then appear later).
BACKEND_KEY = "oms.backend"  # the pooled connection's record.info: (pid, backend_start) of its server process
BACKEND = "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
END_BACKEND = text("SELECT pg_terminate_backend(pid, :wait_ms) FROM pg_stat_activity WHERE pid = :pid AND backend_start = :started")
# A statement that finds it cannot do its work raises this (migration 0023's oms_refuse), so a statement committing
# on its own writes nothing in that case (its transaction is aborted); raised inside a transaction, that aborts it too.
REFUSED = "OM409"
INSUFFICIENT_PRIVILEGE = "42501"

# Receives the committed order events and the other change notices (topic, payload).
Publisher = Callable[[Sequence[dict[str, Any]], Sequence[tuple[str, dict[str, Any]]]], Awaitable[None]]


def to_async_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


EVENT_DATA = OrderEvent.__table__.c.data.type  # JSONB as the model stores it (None: JSON null, as the ORM insert did)
_EVENT_STATEMENTS: dict[int, str] = {}  # by row count: built once (a CTE built per flush costs ~10 ms of CPU)
EVENT_COLUMNS = 7  # parameters per event row: order_id, type, status, previous_status, channel, actor, data
ORDER_MAPPER: Any = inspect(Order)  # its identity keys per event row without identity_key()'s class lookup (issue 16, session 8)


def _events_statement(count: int) -> str:
    """INSERT `count` events, numbered; UPDATE their orders' change_seq (never backwards) and updated_at: one statement,
    sent by the driver ($1.. = the first event's 7 values, ...). Returns one row per event: its seq, and its order's new
    change_seq / updated_at."""
    statement = _EVENT_STATEMENTS.get(count)
    if statement is None:
        values = ", ".join(
            "(nextval('order_event_seq'), " + ", ".join(f"${i * EVENT_COLUMNS + j}" for j in range(1, EVENT_COLUMNS + 1)) + ")"
            for i in range(count)
        )
        statement = (
            "WITH inserted AS (INSERT INTO order_events (seq, order_id, type, status, previous_status, channel, actor, data) "
            f"VALUES {values} RETURNING seq, order_id), "
            "latest AS (SELECT order_id, max(seq) AS seq FROM inserted GROUP BY order_id), "
            "changed AS (UPDATE orders o SET change_seq = greatest(o.change_seq, l.seq), updated_at = clock_timestamp() "
            "FROM latest l WHERE o.id = l.order_id RETURNING o.id, o.change_seq, o.updated_at) "
            "SELECT i.seq, i.order_id, c.change_seq, c.updated_at FROM inserted i LEFT JOIN changed c ON c.id = i.order_id"
        )
        if count <= 64:
            _EVENT_STATEMENTS[count] = statement
    return statement


# Session 9: the unit's queued events written by the statement that ends its work instead of one of their own (the
# placement's reservation, app/orders/allocation.py RESERVE_WITH_EVENTS): the INSERT and the orders' UPDATE of
# `_events_statement`, as CTEs after that statement's `complete` CTE (nothing inserted unless it is ok), the events
# as arrays (one statement text for any count; unnest yields them in order, so nextval numbers them in order).
# Bind parameters: `UnitOfWork.event_arrays()`. Its rows: `EVENTS_RETURNED` (seq, order_id, change_seq, updated_at).
EVENTS_INSERT_CTE = """, ev AS (
    INSERT INTO order_events (seq, order_id, type, status, previous_status, channel, actor, data)
    SELECT nextval('order_event_seq'), e.order_id, e.type, e.status, e.previous_status, e.channel, e.actor, e.data
    FROM unnest(CAST(:ev_order_ids AS uuid[]), CAST(:ev_types AS varchar[]), CAST(:ev_statuses AS varchar[]),
                CAST(:ev_previous AS varchar[]), CAST(:ev_channels AS varchar[]), CAST(:ev_actors AS varchar[]),
                CAST(:ev_data AS jsonb[])) AS e(order_id, type, status, previous_status, channel, actor, data),
         complete WHERE complete.ok
    RETURNING seq, order_id
)"""
EVENTS_CTES = EVENTS_INSERT_CTE[:-1] + """), ev_latest AS (
    SELECT order_id, max(seq) AS seq FROM ev GROUP BY order_id
), ev_changed AS (
    UPDATE orders o SET change_seq = greatest(o.change_seq, l.seq), updated_at = clock_timestamp()
    FROM ev_latest l WHERE o.id = l.order_id RETURNING o.id, o.change_seq, o.updated_at
)"""
EVENTS_RETURNED = "SELECT i.seq, i.order_id, c.change_seq, c.updated_at FROM ev i LEFT JOIN ev_changed c ON c.id = i.order_id"


def _event_parameters(chunk: list[dict[str, Any]], dialect: Any) -> list[Any]:
    def plain(value: Any) -> Any:
        return None if value is None else str(value)

    data = EVENT_DATA._cached_bind_processor(dialect)  # JSON text for the driver, exactly as the ORM would bind it
    parameters: list[Any] = []
    for values in chunk:
        parameters += [values["order_id"], plain(values["type"]), plain(values["status"]), plain(values.get("previous_status")),
                       plain(values["channel"]), values.get("actor"), data(values.get("data")) if data is not None else values.get("data")]
    return parameters


COUNTERS_KEY = "oms.statement_counters"  # session.info: the Database's open count_statements() (see `fetch_on`)
DRIVER_KEY = "oms.driver"  # session.info: (its transaction, connection, adapted and driver connection, backend) for `fetch_on`
SELF_COMMIT_KEY = "oms.self_commit"  # session.info: the unit's last statement, sent committing on its own (fetch_committing)
_DRIVER_STATEMENTS: dict[tuple[int, int], tuple[Any, str, list[tuple[str, Any, Any]]]] = {}


def driver_statement(statement: Any, dialect: Any) -> tuple[str, list[tuple[str, Any, Any]]]:
    """A SQLAlchemy statement (text or Core) compiled once for the driver: its SQL ($1.. parameters) and, in order, each
    parameter's name, bind processor (what SQLAlchemy applies per execution) and the value bound in the statement."""
    found = _DRIVER_STATEMENTS.get((id(statement), id(dialect)))
    if found is None:
        compiled: Any = statement.compile(dialect=dialect)
        processors = compiled._bind_processors
        # each parameter's value bound in the statement itself (e.g. a literal list), used when the call gives none
        found = (statement, str(compiled), [(name, processors.get(name), compiled.binds[name].effective_value)
                                            for name in compiled.positiontup or ()])
        _DRIVER_STATEMENTS[(id(statement), id(dialect))] = found  # (the statement kept: its id stays its own)
    return found[1], found[2]


async def fetch_on(session: AsyncSession, sql: str, args: Sequence[Any], *, before_transaction: bool = False,
                   on_send: Callable[[Any], None] | None = None) -> Any:
    """One statement in the session's transaction, sent by the driver (asyncpg's `fetch`, its statement cache), not
    through SQLAlchemy's cursor layer (issue 16: ~0.3 ms of Python per statement). `sql` uses $1.. parameters, `args`
    already as the driver takes them. What SQLAlchemy gave is kept, as in `Database.read_json`: the transaction is
    begun if no statement began it yet, `count_statements()` and the request log's `sql` count see it, a driver error
    is raised as the DBAPIError SQLAlchemy would raise (sqlstate, connection_invalidated), and a connection found
    closed is invalidated (the session's rollback then does nothing).

    `before_transaction`: committed ON ITS OWN before the transaction begins (the driver's autocommit: no BEGIN has
    been sent yet); None (nothing sent) when it has begun already. `on_send`: called with the connection's backend
    (pid, start time) right before such a statement is sent."""
    if (sent := session.info.get(SELF_COMMIT_KEY)) is not None and sent.done:
        raise RuntimeError("the unit committed with its last statement: nothing may be sent after it")
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(DRIVER_KEY)
    if cached is not None and transaction is not None and cached[0] is transaction and not cached[1].invalidated:
        _, conn, adapted, driver, backend = cached  # the same transaction: the same connection (two greenlet switches saved)
    else:
        conn = await session.connection()
        raw = await conn.get_raw_connection()
        adapted, driver, backend = raw.dbapi_connection, raw.driver_connection, raw.info.get(BACKEND_KEY)
        session.info[DRIVER_KEY] = (session.sync_session.get_transaction(), conn, adapted, driver, backend)
    if before_transaction and adapted._transaction is not None:
        return None
    try:
        return await _send(adapted, driver, backend, sql, args, session.info.get(COUNTERS_KEY, ()), begin=not before_transaction,
                           on_send=on_send)
    except Exception as error:
        closed = driver.is_closed()
        session.info.pop(DRIVER_KEY, None)
        if closed:
            adapted._transaction = None
            await conn.invalidate()
        raise _as_dbapi_error(cast(Any, session.get_bind()), sql, args, error, closed) from error


async def _send(adapted: Any, driver: Any, backend: Any, sql: str, args: Sequence[Any], counters: Sequence[StatementCounter], *,
                begin: bool, on_send: Callable[[Any], None] | None) -> Any:
    """One statement by the driver, seen by `count_statements()` and the request log's `sql` count; `begin`: the
    transaction is begun first if no statement began it yet (else the statement commits on its own)."""
    for counter in counters:
        counter.statements.append(sql)
    if (state := metrics.request_state()) is not None:
        state["sql"] = state.get("sql", 0) + 1
    async with adapted._execute_mutex:
        if begin and adapted._transaction is None:
            await adapted._start_transaction()
        if on_send is not None:
            on_send(backend)
        return await driver.fetch(sql, *args)


def driver_call(statement: Any, dialect: Any, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """A SQLAlchemy statement and its parameters as the driver takes them (`driver_statement`, each value through its
    bind processor; a parameter not given takes the value bound in the statement)."""
    sql, binds = driver_statement(statement, dialect)
    values = [params.get(name, bound) for name, _, bound in binds]
    return sql, [value if process is None else process(value) for value, (_, process, _) in zip(values, binds, strict=True)]


async def fetch_statement(session: AsyncSession, statement: Any, params: dict[str, Any], *, before_transaction: bool = False) -> Any:
    """`session.execute(statement, params)` by the driver (`fetch_on`): asyncpg records, no result processing.
    `before_transaction`: as `fetch_on`'s (None: the transaction had begun, nothing was sent)."""
    sql, args = driver_call(statement, session.get_bind().dialect, params)
    return await fetch_on(session, sql, args, before_transaction=before_transaction)


@dataclass(slots=True)
class SelfCommit:
    """A unit's last statement sent committing on its own (`UnitOfWork.fetch_committing`): how to tell, should its reply
    be lost, whether it committed (`committed`: a statement answering one boolean, true when the rows only it writes are
    there, e.g. the new order's), and the unit's result read back then (`recover`, on a fresh session: the result and
    the events it committed)."""

    committed: Any
    params: dict[str, Any]
    recover: Callable[[AsyncSession], Awaitable[tuple[Any, list[dict[str, Any]]]]]
    backend: tuple[int, Any] | None = None  # (pid, backend_start) of the server process it was sent to
    done: bool = False  # its reply came: committed


class UnitOfWork:
    """A session inside one transaction, plus the events and notices to publish once it commits.

    Made by `Database.run` (`engine` and `sessions` given), the session is made when first asked for (`session`):
    a unit whose statements all commit on their own (`fetch_before_transaction`, then `fetch_committing`: placeOrder's
    two) sends them on a pooled connection of its own and never makes one (issue 16, session 12: `Database.run` of such
    a unit took 0.46 ms of CPU with a session, ~0.25 ms without, the statements' own share ~0.07 ms; about a tenth
    of a placement's CPU in the server). Asked for after such a statement, the session is bound to that connection
    (its transaction begins there): one connection per unit, as before."""

    def __init__(self, session: AsyncSession | None, actor: str | None, counters: list[StatementCounter] | None = None, *,
                 engine: AsyncEngine | None = None, sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        if session is None and (engine is None or sessions is None):
            raise TypeError("a unit of work needs a session, or the engine and the sessionmaker to make one")
        self._session = session
        self._engine = engine
        self._sessions = sessions
        self.dialect: Any = (engine.sync_engine if engine is not None else cast(AsyncSession, session).get_bind()).dialect
        # The pooled connection (SQLAlchemy's: its checkout/checkin events, the backend's identity, its errors) the unit's
        # statements before a session use; the session made after them is bound to it, else it is closed at `close`.
        self.direct: AsyncConnection | None = None
        self.sent: SelfCommit | None = None  # the unit's last statement, sent committing on its own (`fetch_committing`)
        self.actor = actor
        self.counters = counters if counters is not None else []  # Database.counters: count_statements() sees `fetch` too
        if session is not None:
            session.info[COUNTERS_KEY] = self.counters
        # The transaction's id once a statement of ours has returned it (an INSERT's RETURNING pg_current_xact_id()):
        # then `_flush_events` need not ask for it.
        self.xid: int | None = None
        # Objects inserted by the driver and made persistent (app/infra/rows.py `adopt`): should the COMMIT's reply be lost
        # although it committed, `run` gives them back their values (the session's rollback expired them; an object the
        # ORM inserted would have kept its values, and the caller answers with it).
        self.adopted: list[Any] = []
        self.pending_events: list[dict[str, Any]] = []
        self.committed_events: list[dict[str, Any]] = []
        # (topic, payload) change notices, e.g. a stock level, for subscribers once this unit commits.
        self.notices: list[tuple[str, dict[str, Any]]] = []
        # Session 9: rows built but not sent yet, which the unit's next statement writes with its own (a placement's
        # order and lines, written by its reservation: app/orders/service.py `reserve_for_order`); None: nothing waits.
        # A unit that ends with rows still waiting fails (`Database.run`): they are never dropped silently.
        self.deferred: Any = None

    @property
    def session(self) -> AsyncSession:
        """The unit's session, made now if it has none (see the class)."""
        if self._session is None:
            self._session = self._open_session()
        return self._session

    @property
    def opened(self) -> AsyncSession | None:
        """The unit's session if one was made; None: every statement it sent committed on its own."""
        return self._session

    def _open_session(self) -> AsyncSession:
        if self.sent is not None and self.sent.done:
            raise RuntimeError("the unit committed with its last statement: nothing may be sent after it")
        assert self._engine is not None and self._sessions is not None
        # the statements so far committed on their own on the unit's connection: its transaction begins there (a
        # transaction begun on it already would be joined rollback-only: the session's commit would write nothing)
        assert self.direct is None or not self.direct.in_transaction()
        session = self._sessions() if self.direct is None else self._sessions(bind=self.direct)
        session.info[COUNTERS_KEY] = self.counters
        return session

    async def close(self) -> None:
        """The end of the unit: its session closed (what it did not commit rolled back), its connection given back;
        finished even if the caller is cancelled meanwhile (as `async with AsyncSession` does), then re-cancelled:
        abandoned halfway, the connection would stay checked out."""
        await _to_completion(self._close())

    async def _close(self) -> None:
        try:
            if self._session is not None:
                await self._session.close()
        finally:
            direct, self.direct = self.direct, None
            if direct is not None:
                await direct.close()

    async def _fetch_direct(self, sql: str, args: Sequence[Any], on_send: Callable[[Any], None] | None = None) -> Any:
        """A statement committing on its own on the unit's pooled connection, no session made (see the class): as
        `fetch_on` sends one (the counters, the DBAPIError SQLAlchemy would raise, a closed connection invalidated)."""
        if self.sent is not None and self.sent.done:
            raise RuntimeError("the unit committed with its last statement: nothing may be sent after it")
        assert self._engine is not None
        if self.direct is None:
            self.direct = await self._engine.connect()
        direct = self.direct
        fairy: Any = cast(Connection, direct.sync_connection).connection
        driver = fairy.driver_connection
        try:
            return await _send(fairy.dbapi_connection, driver, fairy.info.get(BACKEND_KEY), sql, args, self.counters, begin=False,
                               on_send=on_send)
        except Exception as error:
            closed = driver.is_closed()
            if closed:  # the next statement of this unit, if any, checks out another connection
                self.direct = None
                try:
                    await direct.invalidate()
                finally:
                    await direct.close()
            raise _as_dbapi_error(self._engine, sql, args, error, closed) from error

    async def fetch_statement(self, statement: Any, params: dict[str, Any], *, before_transaction: bool = False) -> Any:
        """`fetch_statement` on the unit: `before_transaction` ones on its own connection while it has no session."""
        if not before_transaction or self._session is not None:
            return await fetch_statement(self.session, statement, params, before_transaction=before_transaction)
        return await self._fetch_direct(*driver_call(statement, self.dialect, params))

    def record_event(self, values: dict[str, Any]) -> dict[str, Any]:
        """Queue an order event row; it gets its cursor when the unit commits."""
        values.setdefault("actor", self.actor)
        self.pending_events.append(values)
        return values

    async def fetch_before_transaction(self, sql: str, args: Sequence[Any]) -> list[Any] | None:
        """One statement on the unit's connection committed ON ITS OWN, before the unit's transaction begins (see
        `fetch_on`); None (nothing sent) when it has begun. Saves the separate pooled connection such a statement took.
        Without a session yet, on the unit's own connection (no session made: see the class)."""
        if self._session is None:
            return await self._fetch_direct(sql, args)
        return await fetch_on(self._session, sql, args, before_transaction=True)

    async def fetch(self, sql: str, args: Sequence[Any]) -> Any:
        """One statement in the unit's transaction, by the driver: `fetch_on`."""
        return await fetch_on(self.session, sql, args)

    @property
    def self_commit(self) -> SelfCommit | None:
        """The unit's last statement once sent committing on its own (`fetch_committing`), kept on the unit and, when it
        has a session, in the session's info too (where `fetch_on` looks); None: the unit commits as usual (BEGIN ... COMMIT)."""
        return self.sent

    async def fetch_committing(self, sql: str, args: Sequence[Any], commit: SelfCommit) -> Any:
        """The unit's LAST statement: when nothing has begun its transaction yet (what came before committed on its own,
        `fetch_before_transaction`), sent without BEGIN, so it commits on its own (issue 16, session 11: the BEGIN's and
        the COMMIT's round trips saved); else in the transaction as `fetch`. Nothing may be sent after it (fetch_on
        refuses; `Database.run` refuses rows left to flush). Should its reply be lost, `Database.run` learns whether it
        committed by `commit` (the backend ended and waited for first) and answers with `commit.recover`'s result.
        The statement must write nothing when it cannot do its whole work: raise (oms_refuse, REFUSED) instead."""

        def sending(backend: Any) -> None:
            commit.backend = backend
            self.sent = commit
            if self._session is not None:
                self._session.info[SELF_COMMIT_KEY] = commit
            metrics.mark_commit_started()

        if self._session is None:  # no session: on the unit's own connection, where nothing began a transaction
            rows = await self._fetch_direct(sql, args, on_send=sending)
        else:
            rows = await fetch_on(self._session, sql, args, before_transaction=True, on_send=sending)
            if rows is None:  # the transaction had begun: the statement is its last, COMMIT follows as usual
                return await self.fetch(sql, args)
        commit.done = True
        return rows

    def event_arrays(self, *, id_assigned_first: bool = False) -> dict[str, Any] | None:
        """The queued events as EVENTS_CTES binds them, for the statement that ends the unit's work; None when there
        is none, or the transaction's id is not known yet (its id must be assigned before a number is drawn), unless
        that statement itself assigns it before it draws (`id_assigned_first`: its first write precedes the events)."""
        if not self.pending_events or (self.xid is None and not id_assigned_first) or len(self.pending_events) > EVENT_INSERT_ROWS:
            return None
        flat = _event_parameters(self.pending_events, self.dialect)
        columns = [flat[i::EVENT_COLUMNS] for i in range(EVENT_COLUMNS)]
        return dict(zip(("ev_order_ids", "ev_types", "ev_statuses", "ev_previous", "ev_channels", "ev_actors", "ev_data"), columns, strict=True))

    def events_written(self, rows: Sequence[Any]) -> None:
        """The queued events were written by that statement (`event_arrays`): its EVENTS_RETURNED rows."""
        chunk, self.pending_events = self.pending_events, []
        self._numbered(chunk, rows)
        self.committed_events = self.committed_events + chunk

    def _numbered(self, chunk: list[dict[str, Any]], rows: Sequence[Any]) -> None:
        # the rows were numbered in order: the smallest number went to the first event
        for values, seq in zip(chunk, sorted(row[0] for row in rows), strict=True):
            values["seq"] = seq
        if self._session is None:  # no session: no order held in one (a self-committed order is detached, up to date)
            return
        for _, order_id, change_seq, updated_at in rows:  # the orders this unit holds see their new change sequence and time
            order = self._session.identity_map.get(ORDER_MAPPER.identity_key_from_primary_key((order_id,)))
            if order is not None and change_seq is not None:
                set_committed_value(order, "change_seq", change_seq)
                set_committed_value(order, "updated_at", updated_at)

    async def _flush_events(self) -> int | None:
        """Insert the queued events, last thing before COMMIT; returns the transaction id (None: no events).

        1. the transaction's id is assigned first (it may have written nothing else yet);
        2. the numbers are drawn by the INSERT itself, one nextval per row in the order the events
           were recorded, while the transaction holds the locks it took for them: the events of one
           order are numbered in the order their transactions took that order's row lock.
        Nothing is locked beyond the rows the change itself touched.
        3. in the same statement, each order an event is recorded for gets its change sequence (the largest cursor
           so far) and `updated_at` from the database clock, just before COMMIT (issue 17: "changed since" pages on
           change_seq under the horizon, so a change committed late is never skipped)."""
        if not self.pending_events:
            return self.xid  # none queued (or written already, `events_written`): the id if a statement learnt it
        xid = self.xid if self.xid is not None else int((await self.session.execute(ASSIGN_XID)).scalar_one())
        dialect = self.dialect
        for start in range(0, len(self.pending_events), EVENT_INSERT_ROWS):
            chunk = self.pending_events[start:start + EVENT_INSERT_ROWS]
            rows = await self.fetch(_events_statement(len(chunk)), _event_parameters(chunk, dialect))
            self._numbered(chunk, rows)  # VALUES rows are evaluated in order
        self.committed_events, self.pending_events = self.committed_events + self.pending_events, []
        return xid


class Database:
    """The engine and the unit of work, hardened against database faults (issue 14):

    - a pooled connection the server already closed is never handed out (checked at checkout,
      free: asyncpg has seen the FIN); `pre_ping=True` adds a real round trip for setups where a
      proxy drops idle connections silently;
    - lock_timeout / statement_timeout / idle_in_transaction_session_timeout are sent in the
      startup packet (no cost per transaction), connecting gives up after `connect_timeout`;
    - `run` retries a transaction whose connection was lost before COMMIT; a connection lost
      during COMMIT is resolved with pg_xact_status; what cannot be done within the retry budget
      raises `Unavailable` (NOT_WRITTEN or UNKNOWN);
    - `query` runs an idempotent read with the same retries.
    """

    def __init__(
        self, url: str, *, pool_size: int = 20, lock_timeout_ms: int = 5000, statement_timeout_ms: int = 10_000,
        retry_budget_ms: int = 1000, connect_timeout: float = 3.0, pre_ping: bool = False,
        replica_url: str | None = None, replica_max_wait_ms: int = 200, read_concurrency: int = 0,
    ) -> None:
        self.url = to_async_url(url)
        server_settings = {"application_name": "oms"}
        if lock_timeout_ms:
            server_settings["lock_timeout"] = str(lock_timeout_ms)
        if statement_timeout_ms:
            server_settings["statement_timeout"] = str(statement_timeout_ms)
            server_settings["idle_in_transaction_session_timeout"] = str(max(statement_timeout_ms * 3, 30_000))
        self.engine: AsyncEngine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=30,  # waiting for a pooled connection is queueing, not a fault (then: UNAVAILABLE)
            pool_pre_ping=pre_ping,
            connect_args={"server_settings": server_settings, "timeout": connect_timeout},
            hide_parameters=True,  # issue 13: no bound values (emails, addresses) in error texts and logs
            json_serializer=json_text, json_deserializer=json_value,
        )
        self.retry_budget = retry_budget_ms / 1000
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.publisher: Publisher | None = None
        self.counters: list[StatementCounter] = []  # open count_statements(): read_json's driver-level statements too
        # read_json's admission (issue 15): at most `read_concurrency` planner statements in flight, the rest wait FIFO
        # (asyncio.Semaphore: a new caller queues behind the waiting ones). 0: half the pool (at least 1); < 0: no limit.
        limit = max(1, pool_size // 2) if read_concurrency == 0 else read_concurrency
        self.read_gate: asyncio.Semaphore | None = asyncio.Semaphore(limit) if limit > 0 else None
        event.listen(self.engine.sync_engine, "checkout", _drop_closed)
        event.listen(self.engine.sync_engine, "connect", _remember_backend)
        metrics.instrument_engine(self.engine)
        # A streaming replica for reads (issue 14): see `read`.
        self.replica: AsyncEngine | None = None
        self.replica_sessions: async_sessionmaker[AsyncSession] | None = None
        self.replica_max_wait = replica_max_wait_ms / 1000
        self.replayed = 0  # highest LSN the replica is known to have replayed (monotonic)
        self.last_write: OrderedDict[str, int] = OrderedDict()  # actor -> LSN of its last commit (bounded LRU)
        if replica_url:
            self.replica = create_async_engine(
                to_async_url(replica_url), pool_size=pool_size, max_overflow=pool_size, pool_timeout=30, pool_pre_ping=pre_ping,
                connect_args={"server_settings": server_settings, "timeout": connect_timeout}, hide_parameters=True,
            )
            event.listen(self.replica.sync_engine, "checkout", _drop_closed)
            metrics.instrument_engine(self.replica)
            self.replica_sessions = async_sessionmaker(self.replica, expire_on_commit=False, autoflush=False)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.replica is not None:
            await self.replica.dispose()

    @asynccontextmanager
    async def read(self, *, primary: bool = False) -> AsyncIterator[AsyncSession]:
        """A short read-only session (autobegin; never commits).

        With a replica configured, on the replica, unless the caller must see a write the replica
        has not replayed yet (the request's X-OMS-Read-After token, or the same key's last write in
        this process): then it waits for the replica up to replica_max_wait, else reads the primary."""
        sessions = self.sessions if primary else await self._read_sessions()
        async with sessions() as session:
            yield session

    async def _read_sessions(self) -> async_sessionmaker[AsyncSession]:
        if self.replica_sessions is None:
            return self.sessions
        state = metrics.request_state() or {}
        needed = max(int(state.get("read_after") or 0), self.last_write.get(state.get("actor") or "", 0))
        if needed and not await self._replica_has(needed):
            return self.sessions
        return self.replica_sessions

    async def _replica_has(self, lsn: int) -> bool:
        if self.replayed >= lsn:
            return True
        assert self.replica is not None
        deadline = time.monotonic() + self.replica_max_wait
        try:
            async with self.replica.connect() as conn:
                while True:
                    replayed = (await conn.execute(text("SELECT pg_last_wal_replay_lsn()::text"))).scalar()
                    self.replayed = max(self.replayed, lsn_to_int(replayed) if replayed else 0)
                    if self.replayed >= lsn:
                        return True
                    if time.monotonic() >= deadline:
                        return False
                    await asyncio.sleep(0.01)
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            log.warning("replica unreachable; reading the primary")
            return False

    def note_actor(self, actor: str | None) -> None:
        """The request's caller, so its reads see its own earlier writes (read-your-writes)."""
        state = metrics.request_state()
        if state is not None and actor:
            state["actor"] = actor

    async def _after_commit(self, actor: str | None) -> None:
        """With a replica: the primary's WAL position after this commit, for read-your-writes."""
        if self.replica is None:
            return
        try:
            async with self.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                lsn = lsn_to_int(await driver.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
        except Exception as exc:
            log.warning("could not read the WAL position after a commit: %s", exc)
            return
        if actor:
            self.last_write[actor] = max(lsn, self.last_write.get(actor, 0))
            self.last_write.move_to_end(actor)
            while len(self.last_write) > 10_000:
                self.last_write.popitem(last=False)
        state = metrics.request_state()
        if state is not None:
            state["wrote_lsn"] = max(lsn, int(state.get("wrote_lsn") or 0))

    async def query(self, fn: Callable[[AsyncSession], Awaitable[T]], *, primary: bool = False) -> T:
        """Run an idempotent read in a fresh session, again on a connection fault (within the retry
        budget); `Unavailable` when the database stays unreachable."""
        deadline = time.monotonic() + self.retry_budget
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.read(primary=primary) as session:
                    return await fn(session)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                if attempt >= MAX_ATTEMPTS or time.monotonic() >= deadline:
                    raise Unavailable("NOT_WRITTEN", "DATABASE") from exc
                metrics.DB_RETRIES.labels(reason="CONNECTION").inc()
                await _backoff(attempt)

    async def read_json(self, sql: str, params: Sequence[Any]) -> Sequence[Any] | None:
        """The read planner's statement (issue 15): one SQL text returning one row (its JSON text, ...), sent as it is on a
        pooled connection outside any transaction (no BEGIN/ROLLBACK around it), routed like `read` (replica,
        read-your-writes), retried like `query` on a connection fault.

        Driver-level: the pooled connection's asyncpg connection runs it (`fetchrow`, which prepares a repeated text once
        per connection, asyncpg's statement cache), not SQLAlchemy's cursor layer (~half the Python per statement).
        What SQLAlchemy gave this path is kept: `count_statements()` sees it, a driver error is raised as the same
        DBAPIError SQLAlchemy would raise (sqlstate, connection_invalidated: so retries, 503 UNAVAILABLE and
        STATEMENT_TIMEOUT map as before), and a connection found closed is invalidated, not pooled again.

        Admission (reads7, session 7): at most `read_concurrency` of these statements are in flight per process (default:
        half the pool's kept connections), later ones wait in arrival order. Under overload (more clients than the pool
        keeps) a read then waits in the process instead of opening an overflow connection that the pool closes again at
        checkin (a backend started and ended per request), the other half of the pool stays free for writes, and
        PostgreSQL runs a bounded number of statements at once (on a machine it shares with this process, fewer runnable
        backends also leave this process its share of the CPU): the nested read's throughput holds from 16 to 32 clients
        instead of falling (benchmarks/README.md, scenario 1)."""
        deadline = time.monotonic() + self.retry_budget
        attempt = 0
        while True:
            attempt += 1
            try:
                sessions = await self._read_sessions()
                engine = self.replica if sessions is self.replica_sessions and self.replica is not None else self.engine
                if self.counters and engine is self.engine:
                    for counter in self.counters:
                        counter.statements.append(sql)
                if (state := metrics.request_state()) is not None:  # the request log's `sql` count (metrics.instrument_engine)
                    state["sql"] = state.get("sql", 0) + 1
                if self.read_gate is None:
                    row = await greenlet_spawn(_fetch_row, engine, sql, params)
                else:
                    async with self.read_gate:
                        row = await greenlet_spawn(_fetch_row, engine, sql, params)
                return None if row is None else tuple(row)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                if attempt >= MAX_ATTEMPTS or time.monotonic() >= deadline:
                    raise Unavailable("NOT_WRITTEN", "DATABASE") from exc
                metrics.DB_RETRIES.labels(reason="CONNECTION").inc()
                await _backoff(attempt)

    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]], *, actor: str | None = None) -> T:
        """Run `work` in one transaction, retrying it whole when it rolled back for a reason that
        may pass (deadlock, serialization failure, lock timeout, lost connection)."""
        deadline = time.monotonic() + self.retry_budget
        attempt = 0
        uow: UnitOfWork | None = None
        while True:
            attempt += 1
            xid: int | None = None
            started: Any = None  # the server's life (SERVER_LIFE) as the transaction saw it (units without events)
            committing = False
            kept: list[tuple[Any, dict[str, Any]]] = []
            uow = None
            try:
                uow = UnitOfWork(None, actor, self.counters, engine=self.engine, sessions=self.sessions)
                try:
                    result = await work(uow)
                    if uow.deferred is not None:
                        raise RuntimeError("rows deferred to a later statement were never written")
                    alone = uow.self_commit is not None and uow.self_commit.done  # committed by its last statement
                    # a unit that committed with its last statement and made no session ends here (session 12)
                    session = uow.opened if alone else uow.session
                    if session is not None and (session.new or session.dirty or session.deleted):  # (an empty flush: ~0.1 ms)
                        if alone:
                            raise RuntimeError("the unit committed with its last statement, yet left rows to flush")
                        await session.flush()
                    xid = await uow._flush_events()
                    if xid is None and not alone:
                        assert session is not None
                        xid, started = (await session.execute(XID)).one()
                    committing = True
                    kept = [(obj, {k: v for k, v in obj.__dict__.items() if k != "_sa_instance_state"}) for obj in uow.adopted]
                    metrics.mark_commit_started()
                    if session is not None:
                        await session.commit()
                finally:
                    await uow.close()  # (rolls back what did not commit, before any retry)
                break
            except Exception as exc:
                state = sqlstate(exc)
                sent = uow.self_commit if uow is not None else None
                if sent is not None and sent.done:
                    raise  # committed by its last statement: never run again (what failed after it is a bug, not a fault)
                if sent is not None and is_connection_error(exc):
                    status = await self._self_commit_status(sent, deadline)
                    if status == "committed":
                        log.warning("connection lost during a statement committing on its own; it committed")
                        assert uow is not None
                        result, uow.committed_events = await self._recover(sent)
                        break
                    if status is None:
                        raise Unavailable("UNKNOWN", "DATABASE") from exc
                    # aborted: the unit is run again, as after any rollback (below)
                if committing and is_connection_error(exc) and uow is not None:
                    status = await self._xact_status(xid, deadline, uow.committed_events, started) if xid is not None else "aborted"
                    if status == "committed":
                        log.warning("connection lost during COMMIT; the transaction committed")
                        for obj, values in kept:
                            for key, value in values.items():
                                set_committed_value(obj, key, value)
                        break
                    if status is None:
                        raise Unavailable("UNKNOWN", "DATABASE") from exc
                elif not is_retryable(exc):
                    if state == STATEMENT_TIMEOUT:
                        raise Unavailable("NOT_WRITTEN", "STATEMENT_TIMEOUT") from exc
                    raise  # DomainError, IntegrityError, ...: unchanged
                # deadlocks and serialization failures keep their attempts; faults also the time budget
                if attempt >= MAX_ATTEMPTS or (time.monotonic() >= deadline and state not in DEADLOCK_OR_SERIALIZATION):
                    if state == LOCK_TIMEOUT:
                        raise Unavailable("NOT_WRITTEN", "LOCK_TIMEOUT") from exc
                    if state in DEADLOCK_OR_SERIALIZATION:  # rolled back every time: nothing written, the client may retry
                        raise Unavailable("NOT_WRITTEN", _reason(exc)) from exc
                    if is_connection_error(exc) or committing:
                        raise Unavailable("NOT_WRITTEN", "DATABASE") from exc
                    raise
                log.info("retrying unit of work after %s %s (attempt %d)", _reason(exc), state, attempt)
                metrics.DB_RETRIES.labels(reason=_reason(exc)).inc()
                await _backoff(attempt)
        assert uow is not None
        metrics.events_published(len(uow.committed_events))
        await self._after_commit(actor)
        if (uow.committed_events or uow.notices) and self.publisher is not None:
            try:
                await self.publisher(uow.committed_events, uow.notices)
            except Exception:  # the event is committed; subscribers resume from the log
                log.exception("publishing committed events failed")
        return result

    async def _self_commit_status(self, sent: SelfCommit, deadline: float) -> str | None:
        """'committed' | 'aborted' for a statement committing on its own whose reply was lost; None if it cannot be told
        in time. Its backend is ended first and waited for (pg_terminate_backend with a timeout): then its transaction is
        over, committed or not, and cannot commit after the answer. A backend no longer there (it ended with its client,
        or the server restarted: a pid handed out again has another start time) has ended already."""
        if sent.backend is None:
            return None
        pid, backend_start = sent.backend
        while time.monotonic() < deadline + 2:
            try:
                async with self.engine.connect() as conn:
                    ended = (await conn.execute(END_BACKEND, {"pid": pid, "started": backend_start, "wait_ms": 1000})).scalar()
                    if ended is not False:  # None: gone already; True: ended now (False: still ending after the wait)
                        return "committed" if (await conn.execute(sent.committed, sent.params)).scalar() else "aborted"
            except Exception as exc:
                if sqlstate(exc) == INSUFFICIENT_PRIVILEGE:  # a role that may not end that process: it cannot be told
                    log.warning("cannot end the server process of a statement whose reply was lost: %s", exc)
                    return None
                if not is_connection_error(exc):
                    raise
            await asyncio.sleep(0.05)
        return None

    async def _recover(self, sent: SelfCommit) -> tuple[Any, list[dict[str, Any]]]:
        """The result of a unit that committed with its last statement although its reply was lost, read back."""
        try:
            async with self.sessions() as session:
                return await sent.recover(session)
        except Exception as exc:
            if is_connection_error(exc):
                raise Unavailable("UNKNOWN", "DATABASE") from exc
            raise

    async def _xact_status(self, xid: int, deadline: float, events: Sequence[dict[str, Any]], started: Any) -> str | None:
        """'committed' | 'aborted' for a transaction whose COMMIT reply was lost; None if the server could not be asked
        in time, or cannot tell.

        The id alone is not enough after a crash: PostgreSQL hands out again, from its WAL, the ids of transactions whose
        records never reached it, so a transaction lost in the crash has an id "in the future" (an error: it did not
        commit) or one another transaction took since (its status is that one's). So a transaction that wrote events
        counts as committed only when its first event is there (its number and order: a number drawn by a lost
        transaction may be drawn again too); one without events, only when the server has not crashed or restarted
        since it ran (`started`: SERVER_LIFE, read with its id), else it cannot be told (None: UNKNOWN, the client
        retries with its idempotency key).
        """
        marker = next(({"seq": e["seq"], "order_id": e["order_id"]} for e in events if e.get("seq") is not None), None)
        checks = 0
        while time.monotonic() < deadline + 2:
            try:
                async with self.engine.connect() as conn:
                    status, now_started = await _status_of(conn, xid)
                    if status == "committed" and marker is None:
                        return "committed" if started is None or now_started == started else None
                    if status == "committed" and not (await conn.execute(EVENT_COMMITTED, marker)).scalar():
                        # (not seen: the id is another transaction's; or, for a moment after its commit was recorded, this
                        # one's snapshot did not include it yet: asked again before it is taken as lost)
                        checks += 1
                        status = "aborted" if checks >= 3 else "in progress"
                    if status != "in progress":
                        return status
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
            await asyncio.sleep(0.05)
        return None

    def count_statements(self) -> StatementCounter:
        return StatementCounter(self.engine, self.counters)


async def _status_of(conn: Any, xid: int) -> tuple[str, Any]:
    """pg_xact_status of `xid` ('committed' | 'aborted' | 'in progress'; an id too old or in the future, whose records
    never reached the WAL: 'aborted') and the server's life (SERVER_LIFE)."""
    try:
        status, life = (await conn.execute(XACT_STATUS, {"xid": xid})).one()
    except DBAPIError as exc:
        if sqlstate(exc) != XID_IN_THE_FUTURE:
            raise
        return "aborted", None  # lost in a crash
    return str(status) if status is not None else "aborted", life


def lsn_to_int(lsn: str) -> int:
    """'16/B374D848' -> a comparable integer."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def int_to_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def _fetch_row(engine: AsyncEngine, sql: str, params: Sequence[Any]) -> Any:
    """read_json's statement on a pooled connection, in one greenlet (run by greenlet_spawn): the pool's checkout (its
    events: _drop_closed, the metrics), the driver's fetchrow, the checkin (reset, or close of an overflow connection).
    Leaner than `engine.connect()` (no Connection object, one greenlet instead of three; reads7, session 7: ~75 us
    less CPU per read), the same pool and the same errors: a checkout failure as Connection raises it (DBAPIError),
    a statement failure as SQLAlchemy's cursor would (_as_dbapi_error), a connection found closed invalidated."""
    sync_engine = engine.sync_engine
    try:
        fairy = sync_engine.raw_connection()
    except sync_engine.dialect.loaded_dbapi.Error as err:
        Connection._handle_dbapi_exception_noconnection(err, sync_engine.dialect, sync_engine)
        raise  # (the line above raises)
    try:
        driver: Any = fairy.driver_connection
        try:
            return await_only(driver.fetchrow(sql, *params))
        except Exception as error:
            closed = driver.is_closed()
            if closed:
                fairy.invalidate()
            raise _as_dbapi_error(engine, sql, params, error, closed) from error
    finally:
        fairy.close()


def json_text(value: Any) -> str:
    """JSON/JSONB values to text by orjson (session 11: ~3x json.dumps; every placement binds a few), non-str keys as
    json.dumps writes them; what orjson cannot write (an int beyond 64 bits) by json.dumps."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def json_value(text_: str) -> Any:
    """JSON/JSONB text to values by orjson (the placement's catalogue is one JSON document); what orjson refuses (an
    int beyond 64 bits) by json.loads."""
    try:
        return orjson.loads(text_)
    except orjson.JSONDecodeError:
        return json.loads(text_)


def _remember_backend(dbapi_conn: Any, record: Any) -> None:
    """A new pooled connection's server process, by pid and start time (BACKEND_KEY), for `_self_commit_status`. Should
    that fail (the server going down as the connection is made), the connection is left without one: the driver's raw
    error raised here would not be a connection error to `Database.run` (an internal error instead of a retry), and the
    connection, if broken, is replaced at checkout (`_drop_closed`); a lost reply on it is then UNKNOWN."""
    try:
        pid, started = await_only(dbapi_conn.driver_connection.fetchrow(BACKEND))
    except Exception as exc:
        log.info("could not read a new connection's server process: %s", exc)
        record.info.pop(BACKEND_KEY, None)
        return
    record.info[BACKEND_KEY] = (pid, started)


def _drop_closed(dbapi_conn: Any, record: Any, proxy: Any) -> None:
    """A pooled connection the server closed (restart, failover, terminate) is discarded here, and
    the pool connects anew, instead of failing the request's first statement."""
    if dbapi_conn.driver_connection.is_closed():
        raise DisconnectionError("connection closed by the server")


def _as_dbapi_error(engine: AsyncEngine, sql: str, params: Sequence[Any], error: Exception, closed: bool) -> BaseException:
    """The exception SQLAlchemy raises for this driver error: asyncpg's error translated to the dialect's DBAPI error,
    wrapped in sqlalchemy.exc.DBAPIError (connection_invalidated when the connection is closed); others unchanged."""
    dialect: Any = engine.dialect
    dbapi = dialect.loaded_dbapi
    try:
        AsyncAdapt_asyncpg_connection._handle_exception_no_connection(dbapi, error)
    except Exception as translated:
        error = translated
    if not isinstance(error, dbapi.Error):
        return error
    return DBAPIError.instance(sql, tuple(params), error, dbapi.Error, hide_parameters=True, connection_invalidated=closed, dialect=dialect)


def _reason(exc: BaseException) -> str:
    state = sqlstate(exc)
    if state == LOCK_TIMEOUT:
        return "LOCK_TIMEOUT"
    if state in DEADLOCK_OR_SERIALIZATION:
        return "DEADLOCK" if state == "40P01" else "SERIALIZATION"
    return "CONNECTION"


async def _to_completion(cleanup: Awaitable[None]) -> None:
    """Await `cleanup` in a task of its own to its end, even if the caller is cancelled meanwhile; a cancellation
    received while waiting is raised once it has ended."""
    task = asyncio.ensure_future(cleanup)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError as error:
            if task.done():
                raise
            cancelled = error
    if cancelled is not None:
        raise cancelled


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(min(0.5, 0.02 * 2**attempt) * (0.5 + random.random()))


class StatementCounter:
    """Counts SQL statements sent through an engine (for N+1 guards and benchmarks)."""

    def __init__(self, engine: AsyncEngine, registry: list[StatementCounter] | None = None) -> None:
        self.engine = engine
        self.registry = registry  # Database.counters: read_json adds its statements (they bypass the cursor events)
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def _on_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._on_execute)
        if self.registry is not None:
            self.registry.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._on_execute)
        if self.registry is not None and self in self.registry:
            self.registry.remove(self)
