"""Database.run's retries of a transaction PostgreSQL rolled back for a reason that may pass (session 8).

The errors are PostgreSQL's own: a PL/pgSQL block raises them with their SQLSTATE, so the driver and SQLAlchemy wrap
them as they wrap a real deadlock (40P01) or serialization failure (40001)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.infra import database, metrics
from app.infra.faults import Unavailable


def raise_sqlstate(state: str) -> str:
    return f"DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '{state}'; END $$"


def retries(reason: str) -> float:
    return float(metrics.DB_RETRIES.labels(reason=reason)._value.get())


@pytest.mark.parametrize(("state", "reason"), [("40P01", "DEADLOCK"), ("40001", "SERIALIZATION")])
async def test_a_transaction_rolled_back_on_every_attempt_answers_unavailable_not_an_internal_error(db, state: str, reason: str) -> None:
    attempts = 0

    async def work(uow: database.UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        await uow.session.execute(text(raise_sqlstate(state)))

    before = retries(reason)
    with pytest.raises(Unavailable) as raised:
        await db.run(work)
    # every attempt was made, each rolled back: nothing written, so the client is told to retry (503), not a 500
    assert attempts == database.MAX_ATTEMPTS
    assert (raised.value.outcome, raised.value.reason) == ("NOT_WRITTEN", reason)
    assert retries(reason) - before == database.MAX_ATTEMPTS - 1


async def test_a_deadlock_on_the_first_attempt_is_retried_and_the_second_commits(db) -> None:
    attempts = 0

    async def work(uow: database.UnitOfWork) -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await uow.session.execute(text(raise_sqlstate("40P01")))
        return int((await uow.session.execute(text("SELECT 7"))).scalar_one())

    assert await db.run(work) == 7
    assert attempts == 2
