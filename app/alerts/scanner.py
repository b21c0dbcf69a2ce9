"""The alert scanner (issue 19): raises and clears alerts, safe with any number of processes running it.

Per kind, ONE statement raises the alerts of the causes present now and clears the open alerts whose cause is gone,
both from the same snapshot (a CTE: `cause`, then `INSERT ... ON CONFLICT DO NOTHING` and `UPDATE ... cleared_at`).
It runs after `pg_try_advisory_xact_lock(hashtext('alerts:<KIND>'))` in the same transaction: a process that does
not get the lock skips that kind this round (another is scanning it). Without the lock, a scanner working from an
older snapshot could clear what another just raised; with it, a statement's snapshot is taken after the previous
holder committed, so raise and clear agree. The partial unique index `(kind, subject) WHERE cleared_at IS NULL`
still makes a second open alert for one cause impossible if the lock were removed.

Each raise and clear is published after commit as a hub notice, topic `alert` (`{"id", "kind", "change"}`), to this
process's listeners and, over the bus, to every other's (resolvers/alerts.py: Subscription.alertRaised).

The causes (`:now` is the scan's clock, `:hours` the kind's threshold; fractions allowed):
- UNPAID: PENDING, payment status UNPAID, placed at least OMS_ALERT_UNPAID_HOURS ago.
- NOT_SHIPPED: CONFIRMED / PROCESSING / PARTIALLY_SHIPPED (or ON_HOLD from one of them) and the order's delivery promise
  day (estimatedDeliveryDate, local time of the calendar) began at least OMS_ALERT_NOT_SHIPPED_HOURS ago (default 0).
- TRACKING_SILENT: a shipment not DELIVERED / RETURNED_TO_SENDER that nothing was heard of (its shipping, or the last
  carrier report recorded) for OMS_ALERT_TRACKING_SILENT_HOURS. Subject: the shipment; the alert names its order.
- STUCK: CONFIRMED or PROCESSING with no change (orders.updated_at) for OMS_ALERT_STUCK_HOURS; an order whose open
  units all wait on stock receipts (backorders) is counted from the later of that and the latest receipt's expectedAt
  (it is not stuck while its receipts are not due; a late receipt makes it stuck OMS_ALERT_STUCK_HOURS after).
- LOW_STOCK: a warehouse's available units (on hand - reserved) of a SKU below the product's low_stock_threshold
  (null: never). Subject: the SKU in that warehouse.
- UNCOLLECTED (pickup, issue 19): a click-and-collect order READY_FOR_PICKUP for OMS_ALERT_UNCOLLECTED_HOURS (since
  orders.ready_for_pickup_at), or READY_FOR_PICKUP with collectOrder locked by too many wrong codes (details wrongCodes).
  Collected (DELIVERED) or cancelled: cleared.
- RECEIPT_LATE (backorders, issue 19): an order with units claimed on a stock receipt (a backorder or pre-order) that
  has not arrived OMS_ALERT_RECEIPT_LATE_HOURS after its expected_at (default 24): the promise made from that date is
  stale before NOT_SHIPPED would notice (the promise day is expected_at + transit). One alert per order, naming it;
  details list the late receipts (sku, warehouse, expectedAt, units awaited). Cleared once those units arrive
  (receiveStock), or the order is cancelled (its claims given back) or its awaited units are otherwise released.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from app.alerts.enums import AlertKind
from app.infra.database import Database, UnitOfWork
from app.infra.settings import Settings
from app.infra.tasks import PeriodicTask
from app.orders import promise as calendar
from app.orders.pickup import MAX_PICKUP_ATTEMPTS
from app.orders.promise import DEFAULT_TIMEZONE

log = logging.getLogger(__name__)

TOPIC = "alert"
_AGE = "make_interval(secs => CAST(:hours AS double precision) * 3600)"
_NOW = "CAST(:now AS timestamptz)"
_NO_SKU = "CAST(NULL AS varchar) AS sku, CAST(NULL AS uuid) AS warehouse_id"

# Each: subject, order_id, sku, warehouse_id, details (jsonb) of every cause present at :now.
CAUSES: dict[AlertKind, str] = {
    AlertKind.UNPAID: f"""
        SELECT 'order:' || o.id AS subject, o.id AS order_id, {_NO_SKU},
               jsonb_build_object('orderNumber', o.number, 'placedAt', o.placed_at, 'paymentMethod', o.payment_method,
                                  'total', o.total, 'currency', o.currency) AS details
        FROM orders o
        WHERE o.status = 'PENDING' AND o.payment_status = 'UNPAID' AND o.placed_at <= {_NOW} - {_AGE}""",
    AlertKind.NOT_SHIPPED: f"""
        SELECT 'order:' || o.id AS subject, o.id AS order_id, {_NO_SKU},
               jsonb_build_object('orderNumber', o.number, 'status', o.status, 'estimatedDeliveryDate', o.estimated_delivery_date) AS details
        FROM orders o
        WHERE (o.status IN ('CONFIRMED', 'PROCESSING', 'PARTIALLY_SHIPPED')
               OR (o.status = 'ON_HOLD' AND o.held_from IN ('CONFIRMED', 'PROCESSING', 'PARTIALLY_SHIPPED')))
          AND o.estimated_delivery_date IS NOT NULL
          AND (CAST(o.estimated_delivery_date AS timestamp) AT TIME ZONE CAST(:tz AS text)) + {_AGE} <= {_NOW}""",
    AlertKind.TRACKING_SILENT: f"""
        SELECT 'shipment:' || s.id AS subject, s.order_id, {_NO_SKU},
               jsonb_build_object('orderNumber', o.number, 'shipment', s.id, 'carrier', s.carrier_code, 'trackingNumber', s.tracking_number,
                                  'shipmentStatus', s.status, 'lastHeardAt', heard.at) AS details
        FROM shipments s
        JOIN orders o ON o.id = s.order_id
        CROSS JOIN LATERAL (SELECT GREATEST(s.shipped_at, MAX(e.recorded_at)) AS at FROM tracking_events e WHERE e.shipment_id = s.id) heard
        WHERE s.status NOT IN ('DELIVERED', 'RETURNED_TO_SENDER') AND s.shipped_at <= {_NOW} - {_AGE} AND heard.at <= {_NOW} - {_AGE}""",
    AlertKind.STUCK: f"""
        SELECT 'order:' || o.id AS subject, o.id AS order_id, {_NO_SKU},
               jsonb_build_object('orderNumber', o.number, 'status', o.status, 'since', o.updated_at) AS details
        FROM orders o
        CROSS JOIN LATERAL (  -- fixes19b, issue 19 review F8: everything open waits on receipts: counted from the latest expected
            SELECT CASE WHEN bool_and(a.receipt_id IS NOT NULL) THEN max(r.expected_at) END AS until
            FROM allocations a LEFT JOIN stock_receipts r ON r.id = a.receipt_id
            WHERE a.order_id = o.id AND a.quantity > a.quantity_shipped + a.quantity_released
        ) waiting
        WHERE o.status IN ('CONFIRMED', 'PROCESSING') AND GREATEST(o.updated_at, waiting.until) <= {_NOW} - {_AGE}""",
    AlertKind.LOW_STOCK: """
        SELECT 'stock:' || s.sku || ':' || s.warehouse_id AS subject, CAST(NULL AS uuid) AS order_id, s.sku, s.warehouse_id,
               jsonb_build_object('sku', s.sku, 'warehouse', w.code, 'available', s.on_hand - s.reserved, 'onHand', s.on_hand,
                                  'threshold', p.low_stock_threshold) AS details
        FROM stock_levels s
        JOIN products p ON p.id = s.product_id
        JOIN warehouses w ON w.id = s.warehouse_id
        WHERE p.low_stock_threshold IS NOT NULL AND s.on_hand - s.reserved < p.low_stock_threshold""",
    # pickup, issue 19 (the partial index ix_orders_ready_for_pickup_at serves it)
    AlertKind.UNCOLLECTED: f"""
        SELECT 'order:' || o.id AS subject, o.id AS order_id, {_NO_SKU},
               jsonb_build_object('orderNumber', o.number, 'readySince', o.ready_for_pickup_at, 'pickupPoint', w.code,
                                  'wrongCodes', o.pickup_attempts) AS details
        FROM orders o
        LEFT JOIN warehouses w ON w.id = o.pickup_warehouse_id
        WHERE o.status = 'READY_FOR_PICKUP' AND o.ready_for_pickup_at IS NOT NULL
          AND (o.ready_for_pickup_at <= {_NOW} - {_AGE} OR o.pickup_attempts >= {MAX_PICKUP_ATTEMPTS})""",
    # backorders visibility, issue 19: from the late receipts (index on (sku, warehouse_id, expected_at, id)) to their
    # open claims (allocations.receipt_id is indexed), grouped per order
    AlertKind.RECEIPT_LATE: f"""
        SELECT 'order:' || o.id AS subject, o.id AS order_id, {_NO_SKU},
               jsonb_build_object('orderNumber', o.number, 'status', o.status, 'estimatedDeliveryDate', o.estimated_delivery_date,
                                  'unitsAwaited', SUM(late.units),
                                  'receipts', jsonb_agg(jsonb_build_object('receipt', late.receipt_id, 'sku', late.sku, 'warehouse', late.code,
                                                                           'expectedAt', late.expected_at, 'units', late.units)
                                                        ORDER BY late.expected_at, late.receipt_id)) AS details
        FROM (
            SELECT a.order_id, r.id AS receipt_id, r.sku, w.code, r.expected_at, SUM(a.quantity - a.quantity_shipped - a.quantity_released) AS units
            FROM stock_receipts r
            JOIN allocations a ON a.receipt_id = r.id AND a.quantity > a.quantity_shipped + a.quantity_released
            JOIN warehouses w ON w.id = r.warehouse_id
            WHERE r.status <> 'RECEIVED' AND r.expected_at <= {_NOW} - {_AGE}
            GROUP BY a.order_id, r.id, r.sku, w.code, r.expected_at
        ) late
        JOIN orders o ON o.id = late.order_id
        GROUP BY o.id, o.number, o.status, o.estimated_delivery_date""",
}

SCAN = """
WITH cause AS ({cause}),
raised AS (
    INSERT INTO alerts (id, kind, subject, order_id, sku, warehouse_id, raised_at, details)
    SELECT gen_random_uuid(), CAST(:kind AS varchar), c.subject, c.order_id, c.sku, c.warehouse_id, CAST(:now AS timestamptz), c.details FROM cause c
    ON CONFLICT (kind, subject) WHERE cleared_at IS NULL DO NOTHING
    RETURNING id
),
cleared AS (
    UPDATE alerts a SET cleared_at = CAST(:now AS timestamptz)
    WHERE a.kind = CAST(:kind AS varchar) AND a.cleared_at IS NULL AND NOT EXISTS (SELECT 1 FROM cause c WHERE c.subject = a.subject)
    RETURNING a.id
)
SELECT 'RAISED' AS change, id FROM raised UNION ALL SELECT 'CLEARED' AS change, id FROM cleared"""

LOCK = text("SELECT pg_try_advisory_xact_lock(hashtext(:key))")


def hours_of(settings: Settings) -> dict[AlertKind, float]:
    """Each kind's threshold in hours (LOW_STOCK has none: its threshold is per product)."""
    return {
        AlertKind.UNPAID: settings.alert_unpaid_hours,
        AlertKind.NOT_SHIPPED: settings.alert_not_shipped_hours,
        AlertKind.TRACKING_SILENT: settings.alert_tracking_silent_hours,
        AlertKind.STUCK: settings.alert_stuck_hours,
        AlertKind.LOW_STOCK: 0.0,
        AlertKind.UNCOLLECTED: settings.alert_uncollected_hours,  # pickup, issue 19
        AlertKind.RECEIPT_LATE: settings.alert_receipt_late_hours,  # backorders visibility, issue 19
    }


@dataclass(frozen=True, slots=True)
class Change:
    kind: AlertKind
    change: str  # RAISED | CLEARED
    alert_id: uuid.UUID


async def scan_kind(uow: UnitOfWork, kind: AlertKind, *, hours: float, now: datetime) -> list[Change] | None:
    """Raise and clear one kind in the caller's transaction; None when another process holds the kind's lock."""
    if not (await uow.session.execute(LOCK, {"key": f"alerts:{kind}"})).scalar_one():
        return None
    rows = (await uow.session.execute(text(SCAN.format(cause=CAUSES[kind])), {"kind": kind.value, "now": now, "hours": hours, "tz": DEFAULT_TIMEZONE})).all()
    changes = [Change(kind, change, alert_id) for change, alert_id in rows]
    for c in changes:
        uow.notices.append((TOPIC, {"id": str(c.alert_id), "kind": c.kind.value, "change": c.change}))
    return changes


async def scan(db: Database, settings: Settings, *, now: datetime | None = None, kinds: list[AlertKind] | None = None) -> dict[AlertKind, list[Change] | None]:
    """One round: each kind in its own short transaction (a kind's lock is held only for its statement)."""
    moment = now if now is not None else calendar.utcnow()
    hours = hours_of(settings)
    result: dict[AlertKind, list[Change] | None] = {}
    for kind in kinds or list(AlertKind):
        result[kind] = await db.run(lambda uow, kind=kind: scan_kind(uow, kind, hours=hours[kind], now=moment), actor="alerts")  # type: ignore[misc]
    return result


class AlertScanner(PeriodicTask):
    """Runs `scan` every OMS_ALERTS_INTERVAL_SECONDS until stopped (server/background.py: `oms serve` and `oms worker`)."""

    name = "alert-scanner"

    def __init__(self, db: Database, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(settings.alerts_interval_seconds)
        self.db = db
        self.settings = settings
        self.clock = clock

    async def run_round(self) -> None:
        changes: dict[AlertKind, Any] = await scan(self.db, self.settings, now=self.clock() if self.clock else None)
        counts = {k.value: len(v) for k, v in changes.items() if v}
        if counts:
            log.info("alerts raised or cleared: %s", counts)
