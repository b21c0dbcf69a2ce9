"""Engine, sessions and the unit of work.

One `AsyncSession` per unit of work: per mutation, and per DataLoader batch for
reads (sibling resolvers run concurrently and a session refuses concurrent use).

The unit of work is also the transactional outbox: order events recorded during
it are numbered and inserted at the very end, under a lock on one counter row,
so event cursors follow commit order exactly; they are handed to the publisher
only after the commit succeeded, so a rolled-back change publishes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event, insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from models.orders import OrderEvent

log = logging.getLogger(__name__)
T = TypeVar("T")

EVENT_COUNTER = "order_event"
# Deadlock and serialization failures are retried whole; clients never see them.
RETRYABLE_SQLSTATES = {"40P01", "40001"}
MAX_ATTEMPTS = 5

# Receives the committed order events and the other change notices (topic, payload).
Publisher = Callable[[Sequence[dict[str, Any]], Sequence[tuple[str, dict[str, Any]]]], Awaitable[None]]


def to_async_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return state in RETRYABLE_SQLSTATES
    return False


class UnitOfWork:
    """A session inside one transaction, plus the events and notices to publish once it commits."""

    def __init__(self, session: AsyncSession, actor: str | None) -> None:
        self.session = session
        self.actor = actor
        self.pending_events: list[dict[str, Any]] = []
        self.committed_events: list[dict[str, Any]] = []
        # (topic, payload) change notices, e.g. a stock level, for subscribers once this unit commits.
        self.notices: list[tuple[str, dict[str, Any]]] = []

    def record_event(self, values: dict[str, Any]) -> dict[str, Any]:
        """Queue an order event row; it gets its cursor when the unit commits."""
        values.setdefault("actor", self.actor)
        self.pending_events.append(values)
        return values

    async def _flush_events(self) -> None:
        if not self.pending_events:
            return
        count = len(self.pending_events)
        # The row lock is held until commit: cursor order == commit order.
        last = (
            await self.session.execute(
                text("UPDATE counters SET value = value + :n WHERE name = :name RETURNING value"),
                {"n": count, "name": EVENT_COUNTER},
            )
        ).scalar_one()
        first = last - count + 1
        for offset, values in enumerate(self.pending_events):
            values["seq"] = first + offset
        await self.session.execute(insert(OrderEvent), self.pending_events)
        self.committed_events, self.pending_events = self.pending_events, []


class Database:
    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = to_async_url(url)
        self.engine: AsyncEngine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=30,
            connect_args={"server_settings": {"application_name": "oms"}},
            hide_parameters=True,  # issue 13: no bound values (emails, addresses) in error texts and logs
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.publisher: Publisher | None = None

    async def dispose(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A short read-only session (autobegin; never commits)."""
        async with self.sessions() as session:
            yield session

    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]], *, actor: str | None = None) -> T:
        """Run `work` in one transaction, retrying it whole on deadlock or serialization failure."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with self.sessions() as session:
                    uow = UnitOfWork(session, actor)
                    async with session.begin():
                        result = await work(uow)
                        await session.flush()
                        await uow._flush_events()
                break
            except DBAPIError as exc:
                if attempt == MAX_ATTEMPTS or not is_retryable(exc):
                    raise
                log.info("retrying unit of work after %s (attempt %d)", type(exc.orig).__name__, attempt)
                await asyncio.sleep(0.005 * attempt)
        if (uow.committed_events or uow.notices) and self.publisher is not None:
            try:
                await self.publisher(uow.committed_events, uow.notices)
            except Exception:  # the event is committed; subscribers resume from the log
                log.exception("publishing committed events failed")
        return result

    def count_statements(self) -> StatementCounter:
        return StatementCounter(self.engine)


class StatementCounter:
    """Counts SQL statements sent through an engine (for N+1 guards and benchmarks)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def _on_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._on_execute)
