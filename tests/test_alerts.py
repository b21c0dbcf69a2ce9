"""Alerts (issue 19): each kind raised and cleared by four concurrent scanners, exactly one alert per cause; the API."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select, text

from app.alerts import scanner
from app.alerts import service as alert_service
from app.alerts.enums import AlertKind
from app.alerts.scanner import AlertScanner, scan
from app.flows import confirmation, payment, shipping
from app.fulfilment import tracking
from app.fulfilment.enums import ShipmentStatus
from app.infra.settings import Settings
from models import Warehouse
from models.alerts import Alert
from models.fulfilment import Shipment
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import make_key

HOURS = {"alert_unpaid_hours": 1.5, "alert_not_shipped_hours": 0.25, "alert_tracking_silent_hours": 1.5, "alert_stuck_hours": 1.5}
WORKERS = 4
ROUNDS = 3


@pytest_asyncio.fixture
async def quiet_app_scanner(app: Any) -> AsyncIterator[None]:
    """The suite app's own background scanner (server/background.py) paused, so only the test's scanners run."""
    own = [task for task in app.state.background if isinstance(task, AlertScanner)]
    assert len(own) == 1  # registered in server/background.py
    await own[0].stop()
    yield
    own[0].start()


async def stuck_alert(db, order_id) -> str:  # type: ignore[no-untyped-def]
    """An open STUCK alert about an order, written directly (tests/test_security_access.py: one of each Node type)."""
    alert = Alert(kind=AlertKind.STUCK, subject=f"order:{order_id}", order_id=order_id, raised_at=datetime.now(UTC), details={})
    await db.run(lambda uow: _add(uow, alert))
    return to_global_id("Alert", alert.id)


async def _add(uow, row) -> None:  # type: ignore[no-untyped-def]
    uow.session.add(row)
    await uow.session.flush()


def settings() -> Settings:
    return replace(Settings(), **HOURS)


async def age(db, sql: str, **params: Any) -> None:  # type: ignore[no-untyped-def]
    async with db.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def confirmed(db, lines):  # type: ignore[no-untyped-def]
    order = await factories.place(db, lines)
    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    return order


async def ship_all(db, order) -> Shipment:  # type: ignore[no-untyped-def]
    return await db.run(lambda uow: shipping.create_shipment(uow=uow, order_id=order.id, warehouse_code="MAD", carrier_code="CORREOS"), actor="test")


async def open_alerts(db) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        return {(a.kind, a.subject) for a in (await session.execute(select(Alert).where(Alert.cleared_at.is_(None)))).scalars()}


async def concurrent_rounds(db, config: Settings, now: datetime) -> Counter[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """ROUNDS rounds of WORKERS scanners at once (each its own connection); per kind, someone scanned every round."""
    changes: Counter[tuple[str, str]] = Counter()
    for _ in range(ROUNDS):
        results = await asyncio.gather(*(scan(db, config, now=now) for _ in range(WORKERS)))
        for kind in AlertKind:
            assert any(r[kind] is not None for r in results), f"no scanner got {kind} this round"
        for result in results:
            for found in result.values():
                for change in found or []:
                    changes[(change.kind.value, change.change)] += 1
    return changes


async def test_each_kind_is_raised_and_cleared_once_by_four_concurrent_scanners(db, quiet_app_scanner):
    # given: one warehouse; A plenty, L under its threshold, K above its own
    await factories.warehouse(db, "MAD", ["WEB"])
    for sku in ("A", "L", "K"):
        await factories.product(db, sku)
    await factories.stock(db, "A", "MAD", 100)
    await factories.stock(db, "L", "MAD", 2)
    await factories.stock(db, "K", "MAD", 50)
    for sku in ("L", "K"):
        await db.run(lambda uow, sku=sku: catalog_threshold(uow, sku, 5))
    # causes
    unpaid = await factories.place(db, [("A", 1)], payment_method="BANK_TRANSFER")
    late = await confirmed(db, [("A", 1)])
    stuck = await confirmed(db, [("A", 1)])
    silent_order = await confirmed(db, [("A", 1)])
    silent = await ship_all(db, silent_order)
    # controls: the same, recent
    await factories.place(db, [("A", 1)], payment_method="BANK_TRANSFER")
    await confirmed(db, [("A", 1)])
    await ship_all(db, await confirmed(db, [("A", 1)]))
    await age(db, "UPDATE orders SET placed_at = placed_at - interval '2 hours' WHERE id = :id", id=unpaid.id)
    await age(db, "UPDATE orders SET estimated_delivery_date = :day WHERE id = :id", id=late.id, day=date.today() - timedelta(days=2))
    await age(db, "UPDATE orders SET updated_at = updated_at - interval '2 hours' WHERE id = :id", id=stuck.id)
    await age(db, "UPDATE shipments SET shipped_at = shipped_at - interval '2 hours' WHERE id = :id", id=silent.id)
    async with db.read() as session:
        mad = (await session.execute(select(Warehouse.id))).scalar_one()
    expected = {
        ("UNPAID", f"order:{unpaid.id}"), ("NOT_SHIPPED", f"order:{late.id}"), ("STUCK", f"order:{stuck.id}"),
        ("TRACKING_SILENT", f"shipment:{silent.id}"), ("LOW_STOCK", f"stock:L:{mad}"),
    }
    config = settings()

    # when: four scanners at once, three rounds
    raised = await concurrent_rounds(db, config, datetime.now(UTC))

    # then: exactly one alert per cause, none for the controls, each raised once
    assert await open_alerts(db) == expected
    assert raised == Counter({(kind, "RAISED"): 1 for kind, _ in expected})
    async with db.read() as session:
        rows = {a.kind: a for a in (await session.execute(select(Alert))).scalars()}
    assert rows["UNPAID"].order_id == unpaid.id and rows["UNPAID"].details["orderNumber"] == unpaid.number
    assert rows["TRACKING_SILENT"].order_id == silent_order.id and rows["TRACKING_SILENT"].details["shipment"] == str(silent.id)
    assert (rows["LOW_STOCK"].sku, rows["LOW_STOCK"].warehouse_id, rows["LOW_STOCK"].order_id) == ("L", mad, None)
    assert rows["LOW_STOCK"].details == {"sku": "L", "warehouse": "MAD", "available": 2, "onHand": 2, "threshold": 5}

    # when: every cause goes away (paid, shipped, tracked, moved on, restocked)
    await db.run(lambda uow: payment.record_payment(uow=uow, order_id=unpaid.id, method="BANK_TRANSFER", amount=unpaid.total), actor="test")
    await ship_all(db, late)
    await ship_all(db, stuck)
    await db.run(lambda uow: tracking.record_tracking_event(uow=uow, shipment_id=silent.id, status=ShipmentStatus.IN_TRANSIT), actor="test")
    await factories.stock(db, "L", "MAD", 10)
    cleared = await concurrent_rounds(db, config, datetime.now(UTC))

    # then: each alert cleared once, nothing raised again
    assert cleared == Counter({(kind, "CLEARED"): 1 for kind, _ in expected})
    assert await open_alerts(db) == set()
    async with db.read() as session:
        assert all(a.cleared_at is not None for a in (await session.execute(select(Alert))).scalars())
        assert len((await session.execute(select(Alert.id))).all()) == len(expected)


async def catalog_threshold(uow, sku: str, threshold: int | None):  # type: ignore[no-untyped-def]
    return await alert_service.set_low_stock_threshold(uow=uow, sku=sku, threshold=threshold)


async def test_thresholds_are_hours_with_fractions_and_the_cause_returning_raises_a_new_alert(db, quiet_app_scanner):
    # given: a stuck order, 40 minutes without a change
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.product(db, "A")
    await factories.stock(db, "A", "MAD", 5)
    order = await confirmed(db, [("A", 1)])
    await age(db, "UPDATE orders SET updated_at = updated_at - interval '40 minutes' WHERE id = :id", id=order.id)
    now = datetime.now(UTC)
    # when / then: 0.75 h is not reached, 0.5 h is
    await scan(db, replace(Settings(), alert_stuck_hours=0.75), now=now, kinds=[AlertKind.STUCK])
    assert await open_alerts(db) == set()
    await scan(db, replace(Settings(), alert_stuck_hours=0.5), now=now, kinds=[AlertKind.STUCK])
    assert await open_alerts(db) == {("STUCK", f"order:{order.id}")}
    # cleared when it moves, and a new alert (not the old one reopened) when it is stuck again
    await age(db, "UPDATE orders SET updated_at = now() WHERE id = :id", id=order.id)
    await scan(db, replace(Settings(), alert_stuck_hours=0.5), now=now, kinds=[AlertKind.STUCK])
    await age(db, "UPDATE orders SET updated_at = updated_at - interval '1 hour' WHERE id = :id", id=order.id)
    await scan(db, replace(Settings(), alert_stuck_hours=0.5), now=now, kinds=[AlertKind.STUCK])
    async with db.read() as session:
        history = (await session.execute(select(Alert.cleared_at).order_by(Alert.raised_at, Alert.cleared_at.nulls_last()))).scalars().all()
    assert len(history) == 2 and history[0] is not None and history[1] is None


def test_settings_read_the_alert_hours_as_floats(monkeypatch):
    monkeypatch.setenv("OMS_ALERTS_INTERVAL_SECONDS", "0.5")
    monkeypatch.setenv("OMS_ALERT_UNPAID_HOURS", "0.25")
    monkeypatch.setenv("OMS_ALERT_TRACKING_SILENT_HOURS", "1.5")
    config = Settings.from_env()
    assert (config.alerts_interval_seconds, config.alert_unpaid_hours, config.alert_tracking_silent_hours) == (0.5, 0.25, 1.5)
    assert (config.alert_not_shipped_hours, config.alert_stuck_hours) == (0.0, 48.0)


async def test_without_the_lock_the_unique_index_still_keeps_one_open_alert_per_cause(db, quiet_app_scanner, monkeypatch):
    # given: the try-lock removed (every scanner scans), four scanners at once
    monkeypatch.setattr(scanner, "LOCK", text("SELECT true"))
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.product(db, "L")
    await factories.stock(db, "L", "MAD", 1)
    await db.run(lambda uow: catalog_threshold(uow, "L", 3))
    # when
    await asyncio.gather(*(scan(db, Settings(), kinds=[AlertKind.LOW_STOCK]) for _ in range(WORKERS)))
    # then
    async with db.read() as session:
        assert len((await session.execute(select(Alert.id))).all()) == 1


ALERTS = """
query($kind: AlertKind, $open: Boolean, $first: Int, $after: String) {
  alerts(kind: $kind, open: $open, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id kind open raisedAt clearedAt sku details order { number } warehouse { code } } }
  }
}"""

SET_THRESHOLD = """
mutation($input: LowStockThresholdInput!) {
  setLowStockThreshold(input: $input) { product { sku lowStockThreshold } userErrors { field code message } }
}"""


async def test_the_alerts_query_filters_pages_and_keeps_low_stock_to_stock_readers(gql, db, quiet_app_scanner):
    # given: a LOW_STOCK alert (threshold set through the API) and two UNPAID ones
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.product(db, "A")
    await factories.stock(db, "A", "MAD", 3)
    refused = await gql(SET_THRESHOLD, {"input": {"sku": "NOPE", "threshold": 5}})
    assert [(e["code"], e["field"]) for e in refused["data"]["setLowStockThreshold"]["userErrors"]] == [("NOT_FOUND", ["input", "sku"])]
    negative = await gql(SET_THRESHOLD, {"input": {"sku": "A", "threshold": -1}})
    assert [(e["code"], e["field"]) for e in negative["data"]["setLowStockThreshold"]["userErrors"]] == [("INVALID_INPUT", ["input", "threshold"])]
    done = await gql(SET_THRESHOLD, {"input": {"sku": "A", "threshold": 5}})
    assert done["data"]["setLowStockThreshold"] == {"product": {"sku": "A", "lowStockThreshold": 5}, "userErrors": []}
    listed = await gql("{ products(first: 5) { edges { node { sku lowStockThreshold } } } }")  # a root the read planner serves
    assert listed["data"]["products"]["edges"] == [{"node": {"sku": "A", "lowStockThreshold": 5}}], listed
    orders = [await factories.place(db, [("A", 1)], payment_method="BANK_TRANSFER") for _ in range(2)]
    await age(db, "UPDATE orders SET placed_at = placed_at - interval '3 hours'")
    await scan(db, settings())

    # when / then: an admin sees all three, newest first, paged
    first = (await gql(ALERTS, {"first": 2}))["data"]["alerts"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    rest = (await gql(ALERTS, {"first": 2, "after": first["pageInfo"]["endCursor"]}))["data"]["alerts"]
    nodes = [e["node"] for e in first["edges"] + rest["edges"]]
    assert sorted(n["kind"] for n in nodes) == ["LOW_STOCK", "UNPAID", "UNPAID"]
    assert all(n["open"] and n["clearedAt"] is None for n in nodes)
    low = next(n for n in nodes if n["kind"] == "LOW_STOCK")
    assert (low["sku"], low["warehouse"], low["order"], low["details"]["available"]) == ("A", {"code": "MAD"}, None, 1)
    assert sorted(n["order"]["number"] for n in nodes if n["kind"] == "UNPAID") == sorted(o.number for o in orders)
    assert (await gql(ALERTS, {"open": False}))["data"]["alerts"]["totalCount"] == 0
    assert (await gql(ALERTS, {"kind": "UNPAID"}))["data"]["alerts"]["totalCount"] == 2
    # an orders:read key without stock:read: no LOW_STOCK, and asking for it is refused
    reader = await make_key(db, "orders:read", name="orders-only")
    mine = (await gql(ALERTS, {}, token=reader))["data"]["alerts"]
    assert sorted(e["node"]["kind"] for e in mine["edges"]) == ["UNPAID", "UNPAID"]
    refused_kind = await gql(ALERTS, {"kind": "LOW_STOCK"}, token=reader)
    assert refused_kind["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    peek = await gql("query($id: ID!) { node(id: $id) { ... on Alert { kind details } } }", {"id": low["id"]}, token=reader)
    assert peek["errors"][0]["extensions"]["code"] == "FORBIDDEN" and "stock:read" in peek["errors"][0]["message"]
    # a stock-only key cannot list alerts at all
    stock_only = await make_key(db, "stock:read", name="stock-only")
    assert (await gql(ALERTS, {}, token=stock_only))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # an alert is a Node
    node = await gql("query($id: ID!) { node(id: $id) { ... on Alert { kind } } }", {"id": nodes[0]["id"]})
    assert node["data"]["node"]["kind"] == nodes[0]["kind"]


async def test_the_alerts_scanner_is_registered_as_a_background_task(app):
    assert sum(isinstance(task, AlertScanner) for task in app.state.background) == 1


@pytest.mark.parametrize("kind", list(AlertKind))
def test_every_kind_has_one_cause_statement(kind):
    assert "subject" in scanner.CAUSES[kind] and kind in scanner.hours_of(Settings())
