"""A unit of work's end (its session closed, its connection given back) is finished even when the request's task is
cancelled meanwhile, twice over (app/infra/tasks.py `cancel_and_wait` cancels again after a while): abandoned halfway,
the pooled connection would stay checked out (review of issue 16, session 12)."""

from __future__ import annotations

import asyncio

import pytest

from app.infra.database import _to_completion


async def test_a_cleanup_cancelled_twice_while_it_runs_still_finishes_then_the_cancellation_is_raised() -> None:
    done: list[str] = []
    callers: list[asyncio.Task[None]] = []
    release = asyncio.Event()

    async def cleanup() -> None:
        # the caller is cancelled while its cleanup runs, twice: each time this task waits on a task of its own (e.g. the
        # ROLLBACK's reply), the caller's cancellation is delivered
        callers[0].cancel()
        await asyncio.ensure_future(release.wait())
        callers[0].cancel()
        await asyncio.ensure_future(release.wait())
        done.append("closed")

    caller = asyncio.create_task(_to_completion(cleanup()))
    callers.append(caller)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert done == ["closed"]  # not abandoned halfway: finished before the caller saw its cancellation


async def test_a_cleanup_that_fails_raises_its_error() -> None:
    async def cleanup() -> None:
        raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        await _to_completion(cleanup())
