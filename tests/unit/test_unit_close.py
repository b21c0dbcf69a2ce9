"""A unit of work's end (its session closed, its connection given back) is finished even when the request's task is
cancelled meanwhile, twice over (app/infra/tasks.py `cancel_and_wait` cancels again after a while): abandoned halfway,
the pooled connection would stay checked out (review of issue 16, session 12)."""

from __future__ import annotations

import asyncio

import pytest

from app.infra.database import _to_completion


async def test_a_cleanup_cancelled_twice_while_it_runs_still_finishes_then_the_cancellation_is_raised() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    done: list[str] = []

    async def cleanup() -> None:
        started.set()
        await release.wait()  # e.g. the ROLLBACK's reply
        done.append("closed")

    caller = asyncio.create_task(_to_completion(cleanup()))
    await started.wait()
    caller.cancel()
    await asyncio.sleep(0)  # (the cancellation delivered: the caller waits on)
    caller.cancel()
    await asyncio.sleep(0)
    assert not caller.done()  # still waiting for the cleanup, not abandoned
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert done == ["closed"]


async def test_a_cleanup_that_fails_raises_its_error() -> None:
    async def cleanup() -> None:
        raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        await _to_completion(cleanup())
