"""A card placement authorises with the provider outside the transaction that locks stock (issue 16).

The slow test token `test_slow` answers after 0.3 s (an asyncio.sleep standing for the remote call): while it
is in its call, another connection locks the very stock row with NOWAIT; 16 concurrent orders of one hot SKU
overlap their calls. A decline leaves no reservation, no order, no event; a process dying between the steps
is recovered by the expiry worker; retries with the idempotency key answer the first result; nothing is
authorised or charged twice.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.billing import config
from app.billing.providers import get_provider
from app.billing.providers.test import OfflineProvider
from app.flows import expiry
from models import Order, OrderEvent, StockLevel, StockMovement
from models.billing import Payment
from models.placement import PlacementAttempt
from tests import factories
from tests.conftest import make_key
from tests.factories import ADDRESS_INPUT

PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    order { id number status paymentStatus payments { status reference } events { edges { node { type } } } }
    userErrors { field code message }
    eventCursor
  }
}
"""


@pytest.fixture
def provider() -> OfflineProvider:
    gateway = get_provider(config.settings())
    assert isinstance(gateway, OfflineProvider)
    gateway.reset()
    return gateway


def card_order(lines: list[tuple[str, int]], token: str, **extra: Any) -> dict[str, Any]:
    return {"input": {"channel": "WEB", "email": "buyer@example.com", "lines": [{"sku": s, "quantity": q} for s, q in lines],
                      "shippingAddress": ADDRESS_INPUT, "payment": {"method": "CARD", "token": token}, **extra}}


async def hot_catalog(db, units: int = 100) -> None:
    await factories.warehouse(db, "ONLY", ["WEB"])
    await factories.product(db, "HOT")
    await factories.stock(db, "HOT", "ONLY", units)


async def scalar(db, statement) -> Any:
    async with db.read() as session:
        return (await session.execute(statement)).scalar_one()


async def reserved(db, sku: str = "HOT") -> int:
    return int(await scalar(db, select(func.coalesce(func.sum(StockLevel.reserved), 0)).where(StockLevel.sku == sku)))


class Gate:
    """Wraps the provider's authorize: `entered` is set once a call is in progress; optionally it raises
    after the provider answered (the process 'dies' between the steps)."""

    def __init__(self, provider: OfflineProvider, monkeypatch: pytest.MonkeyPatch, *, die_after: bool = False) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()
        original = OfflineProvider.authorize

        async def authorize(gateway: OfflineProvider, **kwargs: Any) -> Any:
            self.entered.set()
            await self.release.wait()
            result = await original(gateway, **kwargs)
            if die_after:
                raise ProcessDied
            return result

        monkeypatch.setattr(OfflineProvider, "authorize", authorize)  # a slots dataclass: patched on the class


class ProcessDied(Exception):
    pass


async def test_no_stock_lock_is_held_while_the_provider_answers(gql, db, provider, monkeypatch) -> None:
    await hot_catalog(db)
    gate = Gate(provider, monkeypatch)
    gate.release.clear()  # hold the call open until the checks below are done
    placing = asyncio.create_task(gql(PLACE, card_order([("HOT", 2)], "test_slow")))
    await asyncio.wait_for(gate.entered.wait(), 30)
    # In the call: the units are held (committed), no order exists yet, and the stock row is free.
    assert await reserved(db) == 2
    assert await scalar(db, select(func.count()).select_from(Order)) == 0
    assert await scalar(db, select(func.count()).select_from(PlacementAttempt).where(PlacementAttempt.status == "HELD")) == 1
    async with db.engine.connect() as conn, conn.begin():
        locked = (await conn.execute(text("SELECT reserved FROM stock_levels WHERE sku = 'HOT' FOR UPDATE NOWAIT"))).scalar_one()
    assert locked == 2
    gate.release.set()
    body = await placing
    payload = body["data"]["placeOrder"]
    assert payload["userErrors"] == [] and payload["order"]["paymentStatus"] == "AUTHORIZED"
    assert [e["node"]["type"] for e in payload["order"]["events"]["edges"]] == ["PLACED", "PAYMENT_AUTHORIZED"]
    assert payload["eventCursor"] is not None
    assert await reserved(db) == 2
    assert await scalar(db, select(func.count()).select_from(PlacementAttempt)) == 0  # the hold became the allocation
    # the ledger names the order, as a one-transaction placement's does
    assert await scalar(db, select(StockMovement.reference).where(StockMovement.kind == "RESERVATION")) == payload["order"]["number"]


async def test_sixteen_hot_sku_orders_with_a_slow_provider_overlap_their_calls(gql, db, provider) -> None:
    await hot_catalog(db, units=12)
    started = time.monotonic()
    results = await asyncio.gather(*(gql(PLACE, card_order([("HOT", 1)], "test_slow")) for _ in range(16)))
    elapsed = time.monotonic() - started
    placed = [r["data"]["placeOrder"] for r in results if r["data"]["placeOrder"]["order"]]
    refused = [r["data"]["placeOrder"]["userErrors"] for r in results if not r["data"]["placeOrder"]["order"]]
    assert len(placed) == 12 and all(p["order"]["paymentStatus"] == "AUTHORIZED" for p in placed)
    assert len(refused) == 4 and all(e[0]["code"] == "OUT_OF_STOCK" for e in refused)
    assert await reserved(db) == 12  # never more than on hand
    # 12 calls of 0.3 s one after the other would take 3.6 s at the least: they overlapped.
    assert elapsed < 3.0, f"16 placements took {elapsed:.2f}s"
    assert len([op for op in provider.operations if op[0] == "authorize"]) == 12


async def test_a_declined_card_gives_the_stock_back_and_records_the_attempt(gql, db, provider) -> None:
    await hot_catalog(db)
    body = await gql(PLACE, card_order([("HOT", 3)], "test_decline"))
    payload = body["data"]["placeOrder"]
    assert payload["order"] is None and payload["eventCursor"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("PAYMENT_DECLINED", ["input", "payment", "token"])]
    assert await reserved(db) == 0
    assert await scalar(db, select(func.count()).select_from(Order)) == 0
    assert await scalar(db, select(func.count()).select_from(OrderEvent)) == 0  # no subscriber ever saw it
    async with db.read() as session:
        [attempt] = (await session.execute(select(PlacementAttempt))).scalars().all()
        ledger = (await session.execute(select(StockMovement.kind, StockMovement.reserved_delta).where(StockMovement.kind != "RECEIPT")
                                        .order_by(StockMovement.id))).all()
    assert attempt.status == "DECLINED" and "declined" in (attempt.reason or "")
    assert [tuple(row) for row in ledger] == [("RESERVATION", 3), ("RELEASE", -3)]


async def test_a_crash_between_the_steps_is_recovered_and_a_retry_authorises_anew(gql, db, provider, monkeypatch) -> None:
    await hot_catalog(db)
    request = card_order([("HOT", 1)], "test_approve", idempotencyKey="checkout-crash")
    with monkeypatch.context() as patched:
        Gate(provider, patched, die_after=True)
        # the provider authorised, then the process "died" before writing the order (the request fails)
        assert (await gql(PLACE, request))["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert await reserved(db) == 1 and await scalar(db, select(func.count()).select_from(Order)) == 0
    [(kind, first_reference, _)] = provider.operations
    assert kind == "authorize"

    # not yet due: nothing happens
    assert await expiry.recover_due(db) == []
    # due: the stock comes back and the lost authorisation is voided
    later = datetime.now(UTC) + timedelta(seconds=config.settings().placement_hold_seconds + 1)
    assert len(await expiry.recover_due(db, now=later)) == 1
    assert await reserved(db) == 0
    assert provider.operations[-1][:2] == ("void", first_reference)
    assert await scalar(db, select(PlacementAttempt.status)) == "RECOVERED"

    # the client retries with its key: a new authorisation (not the voided one replayed), the order placed once
    again = (await gql(PLACE, request))["data"]["placeOrder"]
    assert again["userErrors"] == [] and again["order"]["paymentStatus"] == "AUTHORIZED"
    assert again["order"]["payments"][0]["reference"] != first_reference
    repeat = (await gql(PLACE, request))["data"]["placeOrder"]
    assert repeat["order"]["id"] == again["order"]["id"]
    assert [op[0] for op in provider.operations] == ["authorize", "void", "authorize"]
    assert await reserved(db) == 1


async def test_a_crash_retried_before_recovery_reuses_the_authorisation_and_is_not_voided(gql, db, provider, monkeypatch) -> None:
    await hot_catalog(db)
    request = card_order([("HOT", 1)], "test_approve", idempotencyKey="checkout-retry")
    with monkeypatch.context() as patched:
        Gate(provider, patched, die_after=True)
        assert (await gql(PLACE, request))["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    placed = (await gql(PLACE, request))["data"]["placeOrder"]  # the retry, while the dead attempt still holds its unit
    assert placed["userErrors"] == []
    assert await reserved(db) == 2
    later = datetime.now(UTC) + timedelta(seconds=config.settings().placement_hold_seconds + 1)
    assert len(await expiry.recover_due(db, now=later)) == 1
    assert await reserved(db) == 1
    assert [op[0] for op in provider.operations] == ["authorize"]  # replayed for the retry; not voided: the order uses it
    assert await scalar(db, select(Payment.status)) == "AUTHORIZED"


async def test_concurrent_retries_of_one_card_placement_place_it_once(gql, db, provider) -> None:
    await hot_catalog(db)
    request = card_order([("HOT", 2)], "test_slow", idempotencyKey="checkout-twins")
    results = await asyncio.gather(*(gql(PLACE, request) for _ in range(5)))
    ids = {r["data"]["placeOrder"]["order"]["id"] for r in results}
    assert len(ids) == 1
    assert await reserved(db) == 2
    assert await scalar(db, select(func.count()).select_from(Order)) == 1
    assert len([op for op in provider.operations if op[0] == "authorize"]) == 1


async def test_a_server_killed_during_the_providers_call_is_recovered(db, database_url) -> None:
    from tests.live_server import POLL_SECONDS, LiveServer

    await hot_catalog(db)
    token = await make_key(db, "orders:write", name="killed-writer")
    server = await LiveServer(database_url).start()
    try:
        placing = asyncio.create_task(server.gql(PLACE, card_order([("HOT", 4)], "test_slow"), token=token))
        # the first step committed (the units are held) and the provider is in its 300 ms call: kill the process
        deadline = time.monotonic() + 30
        while await scalar(db, select(func.count()).select_from(PlacementAttempt).where(PlacementAttempt.status == "HELD")) == 0:
            assert time.monotonic() < deadline and not placing.done(), "the placement never held its stock"
            await asyncio.sleep(POLL_SECONDS)
        server.kill()
        with pytest.raises(Exception):  # noqa: B017  (the connection dies with the server)
            await placing
    finally:
        await server.stop()
    assert await reserved(db) == 4 and await scalar(db, select(func.count()).select_from(Order)) == 0
    later = datetime.now(UTC) + timedelta(seconds=config.settings().placement_hold_seconds + 1)
    assert len(await expiry.recover_due(db, now=later)) == 1
    assert await reserved(db) == 0
    assert await scalar(db, select(PlacementAttempt.status)) == "RECOVERED"
    assert await scalar(db, select(func.count()).select_from(OrderEvent)) == 0
