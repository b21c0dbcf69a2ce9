"""The RECEIPT_LATE alert (issue 19, backorders: a promise gone stale): an order waiting for units on a receipt past its
expectedAt by OMS_ALERT_RECEIPT_LATE_HOURS; raised and cleared by four concurrent scanners, exactly one alert per
order (as tests/test_alerts.py does for the other kinds)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.alerts.enums import AlertKind
from app.alerts.scanner import scan
from app.flows import cancellation
from app.infra.settings import Settings
from models.alerts import Alert
from tests import factories
from tests.test_alerts import age, open_alerts, quiet_app_scanner  # noqa: F401 -- the fixture, used by name
from tests.test_backorders import backorder_product, receive, schedule

WORKERS = 4
ROUNDS = 3
KIND = AlertKind.RECEIPT_LATE


async def rounds(db: Any, config: Settings, now: datetime) -> Counter[tuple[str, str]]:
    """ROUNDS rounds of WORKERS scanners of RECEIPT_LATE at once; someone got the kind's lock every round."""
    changes: Counter[tuple[str, str]] = Counter()
    for _ in range(ROUNDS):
        results = await asyncio.gather(*(scan(db, config, now=now, kinds=[KIND]) for _ in range(WORKERS)))
        assert any(r[KIND] is not None for r in results)
        for result in results:
            for change in result[KIND] or []:
                changes[(change.change, str(change.alert_id))] += 1
    return changes


async def late_by(db: Any, receipt_id: Any, hours: float) -> None:
    await age(db, "UPDATE stock_receipts SET expected_at = now() - make_interval(secs => :s) WHERE id = :id", s=hours * 3600, id=receipt_id)


@pytest.fixture
async def receipts(db: Any) -> dict[str, Any]:
    """MAD serves WEB; BO (BACKORDER) 1 on hand; receipts LATE (5), LATE2 (5) and SOON (5), all of BO at MAD."""
    await factories.warehouse(db, "MAD", ["WEB"])
    await backorder_product(db)
    await factories.stock(db, "BO", "MAD", 1)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    found = {name: await schedule(db, "BO", "MAD", 5, soon + timedelta(hours=i)) for i, name in enumerate(("late", "late2", "soon"))}
    return found


async def test_receipt_late_is_raised_and_cleared_once_by_four_concurrent_scanners(db, quiet_app_scanner, receipts):  # noqa: F811
    # given: orders claiming the receipts in claim order (earliest expected first): A 1 on hand, B 3 of `late`,
    # C 2 of `late` + 3 of `late2`, D 2 of `late2` + 1 of `soon`; E on hand only (PLAIN)
    await factories.product(db, "PLAIN")
    await factories.stock(db, "PLAIN", "MAD", 5)
    a = await factories.place(db, [("BO", 1)], email="a@example.com")
    b = await factories.place(db, [("BO", 3)], email="b@example.com")
    c = await factories.place(db, [("BO", 5)], email="c@example.com")
    d = await factories.place(db, [("BO", 3)], email="d@example.com")
    e = await factories.place(db, [("PLAIN", 1)], email="e@example.com")
    await late_by(db, receipts["late"].id, 2)  # past its expected moment by 2 h (threshold 1.5 h)
    await late_by(db, receipts["late2"].id, 1)  # by 1 h only: not late yet
    config = replace(Settings(), alert_receipt_late_hours=1.5)

    # when: four scanners at once, three rounds
    raised = await rounds(db, config, datetime.now(UTC))

    # then: B and C (waiting on `late`), once each; not A (on hand), D (`late2` within the threshold), E
    expected = {(KIND.value, f"order:{b.id}"), (KIND.value, f"order:{c.id}")}
    assert {k for k in await open_alerts(db) if k[0] == KIND.value} == expected
    assert sorted(n for (change, _), n in raised.items() if change == "RAISED") == [1, 1] and len(raised) == 2
    async with db.read() as session:
        rows = {alert.order_id: alert for alert in (await session.execute(select(Alert).where(Alert.kind == KIND.value))).scalars()}
    assert set(rows) == {b.id, c.id} and a.id not in rows and d.id not in rows and e.id not in rows
    assert rows[c.id].details["orderNumber"] == c.number and rows[c.id].details["unitsAwaited"] == 2
    assert [(r["receipt"], r["sku"], r["warehouse"], r["units"]) for r in rows[c.id].details["receipts"]] == [
        (str(receipts["late"].id), "BO", "MAD", 2)]

    # when: `late2` is late too, at a later scan: C now waits on two late receipts (still one alert), D gets one
    later = datetime.now(UTC) + timedelta(hours=1)
    raised = await rounds(db, config, later)
    assert sorted(k for k in await open_alerts(db) if k[0] == KIND.value) == sorted(expected | {(KIND.value, f"order:{d.id}")})
    assert list(raised.values()) == [1] and [change for change, _ in raised] == ["RAISED"]

    # when: `late` arrives in part (3 units: B, placed first, is filled), D is cancelled; then the rest of `late`
    await receive(db, receipts["late"].id, 3)
    await db.run(lambda uow: cancellation.cancel_order(uow=uow, order_id=d.id, reason="too late"), actor="test")
    cleared = await rounds(db, config, later)
    # then: B's and D's alerts cleared once each; C still waits (2 of `late`, 3 of `late2`)
    assert {k for k in await open_alerts(db) if k[0] == KIND.value} == {(KIND.value, f"order:{c.id}")}
    assert sorted(n for (change, _), n in cleared.items() if change == "CLEARED") == [1, 1] and len(cleared) == 2
    await receive(db, receipts["late"].id, 2)
    await receive(db, receipts["late2"].id, 5)
    cleared = await rounds(db, config, later)
    assert {k for k in await open_alerts(db) if k[0] == KIND.value} == set()
    assert [change for change, _ in cleared] == ["CLEARED"] and list(cleared.values()) == [1]
    async with db.read() as session:
        history = (await session.execute(select(Alert).where(Alert.kind == KIND.value))).scalars().all()
    assert len(history) == 3 and all(alert.cleared_at is not None for alert in history)


async def test_a_late_receipt_nobody_waits_for_raises_nothing(db, quiet_app_scanner, receipts):  # noqa: F811
    await factories.place(db, [("BO", 1)])  # on hand only
    await late_by(db, receipts["late"].id, 48)
    await scan(db, replace(Settings(), alert_receipt_late_hours=0.0), kinds=[KIND])
    assert await open_alerts(db) == set()


async def test_the_threshold_is_hours_with_fractions(db, quiet_app_scanner, receipts):  # noqa: F811
    order = await factories.place(db, [("BO", 2)])  # 1 on hand, 1 on `late`
    await late_by(db, receipts["late"].id, 0.5)  # 30 minutes late
    now = datetime.now(UTC)
    await scan(db, replace(Settings(), alert_receipt_late_hours=0.75), now=now, kinds=[KIND])
    assert await open_alerts(db) == set()
    await scan(db, replace(Settings(), alert_receipt_late_hours=0.25), now=now, kinds=[KIND])
    assert await open_alerts(db) == {(KIND.value, f"order:{order.id}")}


def test_settings_read_the_receipt_late_hours(monkeypatch):
    monkeypatch.delenv("OMS_ALERT_RECEIPT_LATE_HOURS", raising=False)
    assert Settings.from_env().alert_receipt_late_hours == 24.0
    monkeypatch.setenv("OMS_ALERT_RECEIPT_LATE_HOURS", "0.5")
    assert Settings.from_env().alert_receipt_late_hours == 0.5


async def test_the_alert_is_listed_with_its_order(db, gql, quiet_app_scanner, receipts):  # noqa: F811
    order = await factories.place(db, [("BO", 3)])
    await late_by(db, receipts["late"].id, 30)
    await scan(db, Settings(), kinds=[KIND])  # the default threshold: 24 h
    body = await gql("{ alerts(kind: RECEIPT_LATE, open: true) { edges { node { kind order { number } details } } } }")
    assert "errors" not in body, body
    nodes = [edge["node"] for edge in body["data"]["alerts"]["edges"]]
    assert [(n["kind"], n["order"]["number"], n["details"]["unitsAwaited"]) for n in nodes] == [("RECEIPT_LATE", order.number, 2)]
