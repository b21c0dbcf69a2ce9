"""A card placement's two short transactions take turns (`placement_slots`, app/flows/placement.py): with one
slot, a second placement's first transaction waits until the first placement's has committed; with two, both
run at once. The slot is never held across the provider's call."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from app.billing import config
from app.billing.providers import get_provider
from app.billing.providers.test import OfflineProvider
from app.flows import placement
from app.orders import service as orders
from tests.paused_provider import pause_authorisation
from tests.test_placement_payment import PLACE, card_order, hot_catalog, reserved


@pytest.fixture
def slots_of() -> Any:
    base = config.settings()

    def set_slots(n: int) -> None:
        config.configure(replace(base, placement_slots=n))

    yield set_slots
    config.configure(base)


@pytest.fixture
def provider() -> OfflineProvider:
    gateway = get_provider(config.settings())
    assert isinstance(gateway, OfflineProvider)
    gateway.reset()
    return gateway


class HeldReservation:
    """Holds the first `hold_stock` (inside a card placement's first transaction) until `release` is set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered: list[asyncio.Event] = [asyncio.Event(), asyncio.Event()]
        self.release = asyncio.Event()
        self.calls = 0
        original = orders.hold_stock

        async def hold_stock(**kwargs: Any) -> Any:
            index = self.calls
            self.calls += 1
            if index < len(self.entered):
                self.entered[index].set()
            if index == 0:
                await self.release.wait()
            return await original(**kwargs)

        monkeypatch.setattr(orders, "hold_stock", hold_stock)


def _announce_waits(semaphore: asyncio.Semaphore, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """An event set when a placement asks for the slot while none is free (the semaphore's own acquire, then called)."""
    queued = asyncio.Event()
    original = semaphore.acquire

    async def acquire() -> Any:
        if semaphore.locked():
            queued.set()
        return await original()

    monkeypatch.setattr(semaphore, "acquire", acquire)
    return queued


async def test_with_one_slot_a_second_card_placement_waits_for_the_first_transaction(gql, db, provider, monkeypatch, slots_of) -> None:
    slots_of(1)
    await hot_catalog(db)
    held = HeldReservation(monkeypatch)
    first = asyncio.create_task(gql(PLACE, card_order([("HOT", 1)], "test_approve")))
    await asyncio.wait_for(held.entered[0].wait(), 30)
    semaphore = placement.slots()
    assert semaphore is not None and semaphore.locked()
    queued = _announce_waits(semaphore, monkeypatch)
    second = asyncio.create_task(gql(PLACE, card_order([("HOT", 2)], "test_approve")))
    await asyncio.wait_for(queued.wait(), 30)  # the second placement queues for the slot
    assert held.calls == 1 and not held.entered[1].is_set()  # ... and has not reserved anything
    held.release.set()
    answers = [(await task)["data"]["placeOrder"] for task in (first, second)]
    assert [a["userErrors"] for a in answers] == [[], []]
    assert all(a["order"]["paymentStatus"] == "AUTHORIZED" for a in answers)
    assert held.calls == 2 and await reserved(db) == 3
    assert not semaphore.locked()


async def test_with_two_slots_two_first_transactions_run_at_once(gql, db, provider, monkeypatch, slots_of) -> None:
    slots_of(2)
    await hot_catalog(db)
    held = HeldReservation(monkeypatch)
    first = asyncio.create_task(gql(PLACE, card_order([("HOT", 1)], "test_approve")))
    await asyncio.wait_for(held.entered[0].wait(), 30)
    second = asyncio.create_task(gql(PLACE, card_order([("HOT", 2)], "test_approve")))
    await asyncio.wait_for(held.entered[1].wait(), 30)  # reached while the first still holds its slot
    held.release.set()
    answers = [(await task)["data"]["placeOrder"] for task in (first, second)]
    assert [a["userErrors"] for a in answers] == [[], []]
    assert await reserved(db) == 3


async def test_no_slot_is_held_while_the_provider_answers(gql, db, provider, monkeypatch, slots_of) -> None:
    slots_of(1)
    await hot_catalog(db)
    entered, release = pause_authorisation(monkeypatch)
    placing = asyncio.create_task(gql(PLACE, card_order([("HOT", 1)], "test_approve")))
    await asyncio.wait_for(entered.wait(), 30)
    semaphore = placement.slots()
    assert semaphore is not None and not semaphore.locked()  # in the provider's call: the slot is free
    release.set()
    assert (await placing)["data"]["placeOrder"]["userErrors"] == []
