"""The UNCOLLECTED alert (issue 19, click-and-collect): raised and cleared by four concurrent scanners, exactly one
alert per cause (as tests/test_alerts.py does for the other kinds)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.alerts.enums import AlertKind
from app.alerts.scanner import scan
from app.catalog import service as catalog
from app.flows import cancellation, confirmation
from app.flows import pickup as flow
from app.infra.settings import Settings
from app.orders.service import DeliveryMethod
from models import Order
from models.alerts import Alert
from tests import factories
from tests.test_alerts import age, open_alerts, quiet_app_scanner  # noqa: F401 -- the fixture, used by name

WORKERS = 4
ROUNDS = 3
PICKUP = DeliveryMethod("PICKUP", "SHOP1")  # type: ignore[arg-type]


async def ready_order(db: Any, units: int = 1) -> Order:
    order = await factories.place(db, [("A", units)], delivery_method=PICKUP)
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    return await db.run(lambda uow: flow.mark_ready_for_pickup(uow=uow, order_id=order.id), actor="test")


async def rounds(db: Any, config: Settings, now: datetime) -> Counter[tuple[str, str, str]]:
    """ROUNDS rounds of WORKERS scanners of UNCOLLECTED at once; someone got the kind's lock every round."""
    changes: Counter[tuple[str, str, str]] = Counter()
    for _ in range(ROUNDS):
        results = await asyncio.gather(*(scan(db, config, now=now, kinds=[AlertKind.UNCOLLECTED]) for _ in range(WORKERS)))
        assert any(r[AlertKind.UNCOLLECTED] is not None for r in results)
        for result in results:
            for change in result[AlertKind.UNCOLLECTED] or []:
                changes[(change.kind.value, change.change, str(change.alert_id))] += 1
    return changes


async def test_uncollected_is_raised_and_cleared_once_by_four_concurrent_scanners(db, quiet_app_scanner):  # noqa: F811
    # given: a store that is a pickup point; orders waiting there
    await db.run(lambda uow: catalog.upsert_warehouse(uow=uow, code="SHOP1", name="Shop", channels=["WEB"], pickup_point=True))
    await factories.product(db, "A")
    await factories.stock(db, "A", "SHOP1", 20)
    waiting = await ready_order(db)  # cause: ready 2 hours ago (threshold 1.5 h)
    locked = await ready_order(db)  # cause: ready just now, but 5 wrong codes were tried
    recent = await ready_order(db)  # control: ready just now
    never_ready = await factories.place(db, [("A", 1)], delivery_method=PICKUP)  # control: old but CONFIRMED, never ready
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=never_ready.id), actor="test")
    await age(db, "UPDATE orders SET ready_for_pickup_at = ready_for_pickup_at - interval '2 hours' WHERE id = :id", id=waiting.id)
    await age(db, "UPDATE orders SET placed_at = placed_at - interval '3 days', updated_at = updated_at - interval '1 hour' WHERE id = :id",
              id=never_ready.id)
    for _ in range(5):
        refused = await db.run(lambda uow: flow.collect_order(uow=uow, order_id=locked.id, pickup_code="x"), actor="test")
        assert not isinstance(refused, Order)
    config = replace(Settings(), alert_uncollected_hours=1.5)
    expected = {("UNCOLLECTED", f"order:{waiting.id}"), ("UNCOLLECTED", f"order:{locked.id}")}

    # when: four scanners at once, three rounds
    raised = await rounds(db, config, datetime.now(UTC))

    # then: exactly one alert per cause, each raised once, none for the controls
    assert {k for k in await open_alerts(db) if k[0] == "UNCOLLECTED"} == expected
    assert sorted(n for (_, change, _), n in raised.items() if change == "RAISED") == [1, 1] and len(raised) == 2
    async with db.read() as session:
        rows = {a.order_id: a for a in (await session.execute(select(Alert).where(Alert.kind == "UNCOLLECTED"))).scalars()}
    assert rows[waiting.id].details["orderNumber"] == waiting.number and rows[waiting.id].details["pickupPoint"] == "SHOP1"
    assert rows[locked.id].details["wrongCodes"] == 5
    assert recent.id not in rows and never_ready.id not in rows

    # when: one is collected, the other cancelled; four scanners again
    async with db.read() as session:
        code = (await session.execute(select(Order.pickup_code).where(Order.id == waiting.id))).scalar_one()
    collected = await db.run(lambda uow: flow.collect_order(uow=uow, order_id=waiting.id, pickup_code=code or ""), actor="test")
    assert isinstance(collected, Order) and collected.status == "DELIVERED"
    await db.run(lambda uow: cancellation.cancel_order(uow=uow, order_id=locked.id), actor="test")
    cleared = await rounds(db, config, datetime.now(UTC))

    # then: each alert cleared exactly once, nothing raised again
    assert sorted(n for (_, change, _), n in cleared.items() if change == "CLEARED") == [1, 1] and len(cleared) == 2
    assert {str(rows[waiting.id].id), str(rows[locked.id].id)} == {alert_id for _, _, alert_id in cleared}
    assert {k for k in await open_alerts(db) if k[0] == "UNCOLLECTED"} == set()
    async with db.read() as session:
        assert len((await session.execute(select(Alert.id).where(Alert.kind == "UNCOLLECTED"))).all()) == 2


def test_the_uncollected_hours_setting_is_a_float_defaulting_to_a_week(monkeypatch):
    monkeypatch.delenv("OMS_ALERT_UNCOLLECTED_HOURS", raising=False)
    assert Settings.from_env().alert_uncollected_hours == 168.0
    monkeypatch.setenv("OMS_ALERT_UNCOLLECTED_HOURS", "0.5")
    assert Settings.from_env().alert_uncollected_hours == 0.5
