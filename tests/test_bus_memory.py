"""The memory:// bus (session 9): only this very bus hears it and it ignores its own messages, so order signals and
change notices are not sent through it (they were JSON-encoded, looped back and dropped at every commit); the
heartbeat still is, and a bus that can reach other processes still sends them."""

from __future__ import annotations

import asyncio
import json

from app.infra.bus import CHANNEL, SignalBus


async def test_a_memory_bus_sends_only_its_heartbeat() -> None:
    bus = SignalBus("memory://", on_message=lambda message: None, on_connect=lambda: None)
    bus.start()
    try:
        assert await bus.wait_connected(10)
        assert bus.broadcast is not None
        seen: list[dict] = []
        async with bus.broadcast.subscribe(CHANNEL) as subscriber:
            bus.signal_order(41)
            bus.send({"stock": {"sku": "A", "warehouseId": "w"}})
            bus.send({"inquiry": {"id": "x"}})
            pings = 0
            async with asyncio.timeout(10):
                while pings < 2:  # two heartbeats after the sends: anything sent would have come before the second
                    message = json.loads((await subscriber.get()).message)
                    seen.append(message)
                    pings += bool(message.get("ping"))
        assert all(m.get("ping") for m in seen), seen
    finally:
        await bus.stop()


def test_a_bus_that_reaches_other_processes_queues_what_it_is_given() -> None:
    bus = SignalBus("redis://127.0.0.1:1/0", on_message=lambda message: None, on_connect=lambda: None)  # never connected here
    assert bus.reaches_others
    bus.signal_order(41)
    bus.send({"stock": {"sku": "A"}})
    assert bus._pending_seq == 41 and list(bus._outbox) == [{"stock": {"sku": "A"}}]
    memory = SignalBus("memory://", on_message=lambda message: None, on_connect=lambda: None)
    memory.signal_order(41)
    memory.send({"stock": {"sku": "A"}})
    assert not memory.reaches_others and memory._pending_seq == 0 and not memory._outbox
