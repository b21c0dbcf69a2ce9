"""Stopping background tasks for good.

On Python 3.11 a cancellation can be lost: `asyncio.wait_for` returns the result of an
awaitable that finished in the same loop step as the `cancel()` instead of raising
CancelledError (fixed in 3.12), and libraries still use it. A `while True` loop task
that lost its cancellation runs on for ever, and whoever awaits it (a lifespan's
shutdown) hangs. So our own loops use `asyncio.timeout()` rather than `wait_for`, and
`cancel_and_wait` repeats the cancellation until the task has really ended.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

# Longer than any cleanup a cancelled task legitimately runs (bus.py: two TEARDOWN_TIMEOUTs).
RECANCEL_AFTER = 5.0


async def cancel_and_wait(*tasks: asyncio.Task[Any]) -> None:
    """Cancels the tasks and returns once every one of them has finished (their exceptions are discarded)."""
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    while pending:
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_AFTER)
        for task in pending:
            log.warning("task %s ignored its cancellation; cancelling it again", task.get_name())
            task.cancel()
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved


class PeriodicTask:
    """A background loop (server/background.py): `run_round()` every `interval` seconds from `start()` until
    `stop()`. A failed round is logged and the next one retries; the first round runs one interval after the
    start, or at once when `first_round_at_start`."""

    name = "periodic-task"
    first_round_at_start = False

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def run_round(self) -> None:
        raise NotImplementedError

    async def _loop(self) -> None:
        if not self.first_round_at_start:
            await asyncio.sleep(self.interval)
        while True:
            try:
                await self.run_round()
            except Exception:  # keep running: the next round retries
                log.exception("%s failed", self.name)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
