"""`oms check`: the data invariants, verified on a live database in one consistent snapshot.

Each check is one SQL statement returning the offending rows (at most LIMIT per check); an
empty report means every invariant holds. Runs without statement or lock timeouts, read-only,
in a REPEATABLE READ transaction, so a busy server can be checked without pausing it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from app.infra.database import Database

LIMIT = 20

CHECKS: list[tuple[str, str]] = [
    ("reserved <= on_hand (and >= 0)",
     "SELECT sku, warehouse_id, on_hand, reserved FROM stock_levels WHERE reserved > on_hand OR reserved < 0 OR on_hand < 0"),
    # (+ the units a card placement holds between its two transactions: issue 16, models/placement.py)
    ("reserved = open allocations",
     """SELECT s.sku, s.warehouse_id, s.reserved, COALESCE(a.open, 0) AS open_allocations
        FROM stock_levels s
        FULL JOIN (SELECT sku, warehouse_id, SUM(open) AS open FROM (
                     SELECT sku, warehouse_id, quantity - quantity_shipped - quantity_released AS open FROM allocations
                     WHERE receipt_id IS NULL  -- backorders, issue 19: units claimed on a receipt are not reserved stock
                     UNION ALL
                     SELECT p->>'sku', CAST(p->>'warehouse_id' AS uuid), CAST(p->>'quantity' AS integer)
                     FROM placement_attempts h, jsonb_array_elements(h.picks) p WHERE h.status = 'HELD') u
                   GROUP BY sku, warehouse_id) a
          ON a.sku = s.sku AND a.warehouse_id = s.warehouse_id
        WHERE COALESCE(s.reserved, 0) <> COALESCE(a.open, 0)"""),
    ("allocations within their quantity",
     "SELECT id, sku, quantity, quantity_shipped, quantity_released FROM allocations "
     "WHERE quantity_shipped < 0 OR quantity_released < 0 OR quantity_shipped + quantity_released > quantity"),
    ("every order has lines",
     "SELECT o.number FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id)"),
    ("every order has a PLACED event",
     "SELECT o.number FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.id AND e.type = 'PLACED')"),
    # Event cursors come from order_event_seq (issue 16): gaps are normal, so no gap check. What the
    # horizon (app/infra/horizon.py) relies on: no event carries a number the sequence has not handed out.
    ("event cursors drawn from the sequence",
     """SELECT m.newest, COALESCE(pg_sequence_last_value('order_event_seq'), 0) AS sequence_last
        FROM (SELECT MAX(seq) AS newest FROM order_events) m
        WHERE m.newest > COALESCE(pg_sequence_last_value('order_event_seq'), 0)"""),
    # Causal order per order: in cursor order, each event starts from the status the one before left.
    ("each order's events chain in cursor order",
     """SELECT e.order_id, e.seq, e.type, e.previous_status, e.before FROM (
            SELECT order_id, seq, type, previous_status, LAG(status) OVER (PARTITION BY order_id ORDER BY seq) AS before
            FROM order_events) e
        WHERE e.previous_status IS DISTINCT FROM e.before"""),
    ("invoice numbers gapless per series",
     """SELECT series, COUNT(*) AS issued, MIN(sequence) AS first, MAX(sequence) AS last FROM invoices
        GROUP BY series HAVING MIN(sequence) <> 1 OR MAX(sequence) <> COUNT(*) OR COUNT(DISTINCT sequence) <> COUNT(*)"""),
    ("credit notes never above their invoice",
     """SELECT i.number, i.total, -SUM(n.total) AS credited FROM invoices i JOIN invoices n ON n.corrects_id = i.id
        WHERE i.kind = 'INVOICE' GROUP BY i.id, i.number, i.total HAVING -SUM(n.total) > i.total"""),
    ("stock ledger sums = stock levels",
     """SELECT COALESCE(s.sku, m.sku) AS sku, COALESCE(s.warehouse_id, m.warehouse_id) AS warehouse_id,
               s.on_hand, m.on_hand AS ledger_on_hand, s.reserved, m.reserved AS ledger_reserved
        FROM stock_levels s
        FULL JOIN (SELECT sku, warehouse_id, SUM(on_hand_delta) AS on_hand, SUM(reserved_delta) AS reserved
                   FROM stock_movements GROUP BY sku, warehouse_id) m
          ON m.sku = s.sku AND m.warehouse_id = s.warehouse_id
        WHERE COALESCE(s.on_hand, 0) <> COALESCE(m.on_hand, 0) OR COALESCE(s.reserved, 0) <> COALESCE(m.reserved, 0)"""),
    # drafts, issue 18: a draft is linked to an order exactly when it is COMPLETED, and to the order placed under its own key.
    ("completed drafts link their own order",
     """SELECT d.number, d.status, o.number AS order_number FROM draft_orders d LEFT JOIN orders o ON o.id = d.order_id
        WHERE (d.status = 'COMPLETED') <> (d.order_id IS NOT NULL) OR (o.id IS NOT NULL AND o.idempotency_key <> 'draft:' || d.id::text)"""),
    # holds, issue 18: an open hold keeps its order ON_HOLD (the last release resumes it; a cancellation releases them all)
    ("open holds only on orders on hold",
     "SELECT o.number, o.status, h.reason FROM order_holds h JOIN orders o ON o.id = h.order_id "
     "WHERE h.released_at IS NULL AND o.status <> 'ON_HOLD'"),
    # edits, issue 18: an edited order's invoice is credited in full and re-issued as the next revision.
    ("superseded invoice revisions fully credited",
     """SELECT i.number, i.revision, i.total, COALESCE(SUM(n.total), 0) AS credited FROM invoices i
        LEFT JOIN invoices n ON n.corrects_id = i.id
        WHERE i.kind = 'INVOICE'
          AND EXISTS (SELECT 1 FROM invoices j WHERE j.order_id = i.order_id AND j.kind = 'INVOICE' AND j.revision > i.revision)
        GROUP BY i.id, i.number, i.revision, i.total HAVING i.total + COALESCE(SUM(n.total), 0) <> 0"""),
    ("the current invoice bills the order's total",
     """SELECT o.number, o.total, i.number AS invoice, i.total AS invoiced FROM orders o
        JOIN LATERAL (SELECT number, total FROM invoices WHERE order_id = o.id AND kind = 'INVOICE' ORDER BY revision DESC LIMIT 1) i ON true
        WHERE o.status <> 'CANCELLED' AND i.total <> o.total"""),
    # alerts, issue 19: a parcel returned to sender is restocked, exactly once (one RETURN_TO_SENDER row per SKU it carried
    # from stock), and only such a parcel.
    ("returned-to-sender parcels restocked exactly once",
     """SELECT s.id, s.status, s.restocked_at, COALESCE(r.rows, 0) AS restock_rows, COALESCE(l.skus, 0) AS stocked_skus FROM shipments s
        LEFT JOIN (SELECT reference, COUNT(*) AS rows FROM stock_movements WHERE kind = 'RETURN_TO_SENDER' GROUP BY reference) r
          ON r.reference = CAST(s.id AS varchar)
        LEFT JOIN (SELECT shipment_id, COUNT(DISTINCT sku) AS skus FROM shipment_lines WHERE allocation_id IS NOT NULL GROUP BY shipment_id) l
          ON l.shipment_id = s.id
        WHERE (s.status = 'RETURNED_TO_SENDER') <> (s.restocked_at IS NOT NULL)
           OR COALESCE(r.rows, 0) <> CASE WHEN s.restocked_at IS NULL THEN 0 ELSE COALESCE(l.skus, 0) END"""),
    # stages, issue 19: only made-to-order lines have a stage (NULL reads as QUEUED), and only READY ones have shipped units
    ("production stages on made-to-order lines only, shipped only when READY",
     """SELECT l.order_id, l.position, l.sku, l.made_to_order, l.production_stage, l.quantity_shipped FROM order_lines l
        WHERE (NOT l.made_to_order AND l.production_stage IS NOT NULL)
           OR (l.made_to_order AND l.quantity_shipped > 0 AND COALESCE(l.production_stage, 'QUEUED') <> 'READY')"""),
    # backorders, issue 19: a receipt's `claimed` is exactly the open allocations bound to it plus the claims card placements
    # hold between their two transactions; claims never beyond what is still expected (the CHECKs hold it too).
    ("receipt claimed = open bound allocations + held claims",
     """SELECT r.id, r.sku, r.claimed, COALESCE(a.open, 0) AS open_allocations, COALESCE(h.held, 0) AS held FROM stock_receipts r
        LEFT JOIN (SELECT receipt_id, SUM(quantity - quantity_shipped - quantity_released) AS open FROM allocations
                   WHERE receipt_id IS NOT NULL GROUP BY receipt_id) a ON a.receipt_id = r.id
        LEFT JOIN (SELECT k.receipt_id, SUM(k.quantity) AS held FROM receipt_holds k JOIN placement_attempts p ON p.id = k.attempt_id
                   WHERE p.status = 'HELD' GROUP BY k.receipt_id) h ON h.receipt_id = r.id
        WHERE r.claimed <> COALESCE(a.open, 0) + COALESCE(h.held, 0)"""),
    ("receipt claims within what is still expected",
     "SELECT id, sku, quantity, received, claimed, status FROM stock_receipts WHERE claimed < 0 OR received < 0 OR claimed + received > quantity "
     "OR (status = 'RECEIVED') <> (received = quantity)"),
    ("receipt-bound allocations match their receipt, never shipped",
     """SELECT a.id, a.sku, a.warehouse_id, a.quantity_shipped, r.sku AS receipt_sku, r.warehouse_id AS receipt_warehouse FROM allocations a
        JOIN stock_receipts r ON r.id = a.receipt_id
        WHERE a.sku <> r.sku OR a.warehouse_id <> r.warehouse_id OR a.quantity_shipped <> 0"""),
    ("receipt holds only on HELD card placements",
     "SELECT k.id, k.attempt_id, p.status FROM receipt_holds k JOIN placement_attempts p ON p.id = k.attempt_id WHERE p.status <> 'HELD'"),
    # transfers, issue 19 (app/fulfilment/transfers.py): a PICKUP order's only shipments are transfers to its pickup point from
    # another warehouse; a transfer leaves its source with TRANSFER_OUT rows for every unit it carries and lands once: TRANSFER_IN
    # rows for all of them exactly when it arrived (DELIVERED), never both arrived and returned to sender.
    ("transfer shipments only for pickup orders, to their pickup point",
     """SELECT s.id, o.number, o.delivery_type, s.warehouse_id, s.transfer_to_warehouse_id, o.pickup_warehouse_id FROM shipments s
        JOIN orders o ON o.id = s.order_id
        WHERE (o.delivery_type = 'PICKUP') <> (s.transfer_to_warehouse_id IS NOT NULL)
           OR (s.transfer_to_warehouse_id IS NOT NULL
               AND (s.transfer_to_warehouse_id <> o.pickup_warehouse_id OR s.warehouse_id = s.transfer_to_warehouse_id))"""),
    ("transfers leave and land exactly once",
     """SELECT s.id, s.status, s.transfer_arrived_at, s.restocked_at, COALESCE(l.units, 0) AS units, COALESCE(t.units, 0) AS out_units,
               COALESCE(i.units, 0) AS in_units FROM shipments s
        LEFT JOIN (SELECT shipment_id, SUM(quantity) AS units FROM shipment_lines WHERE allocation_id IS NOT NULL GROUP BY shipment_id) l
          ON l.shipment_id = s.id
        LEFT JOIN (SELECT reason, -SUM(on_hand_delta) AS units FROM stock_movements WHERE kind = 'TRANSFER_OUT' GROUP BY reason) t
          ON t.reason = 'shipment ' || CAST(s.id AS varchar)
        LEFT JOIN (SELECT split_part(reason, ' ', 2) AS shipment, SUM(on_hand_delta) AS units FROM stock_movements WHERE kind = 'TRANSFER_IN'
                   GROUP BY 1) i ON i.shipment = CAST(s.id AS varchar)
        WHERE s.transfer_to_warehouse_id IS NOT NULL
          AND ((s.transfer_arrived_at IS NOT NULL) <> (s.status = 'DELIVERED' AND s.restocked_at IS NULL)
               OR (s.transfer_arrived_at IS NOT NULL AND s.restocked_at IS NOT NULL)
               OR COALESCE(t.units, 0) <> COALESCE(l.units, 0)
               OR COALESCE(i.units, 0) <> CASE WHEN s.transfer_arrived_at IS NULL THEN 0 ELSE COALESCE(l.units, 0) END)"""),
    # a pickup order's units shipped from elsewhere are exactly those of its transfers on their way (landed ones were re-pointed
    # to the store or reopened at the source); one ready at the store or collected holds nothing elsewhere.
    ("pickup orders' units in transit = their travelling transfers",
     """SELECT o.number, COALESCE(a.units, 0) AS shipped_elsewhere, COALESCE(t.units, 0) AS travelling FROM orders o
        LEFT JOIN (SELECT a.order_id, SUM(a.quantity_shipped) AS units FROM allocations a JOIN orders p ON p.id = a.order_id
                   WHERE p.delivery_type = 'PICKUP' AND a.warehouse_id <> p.pickup_warehouse_id GROUP BY a.order_id) a ON a.order_id = o.id
        LEFT JOIN (SELECT s.order_id, SUM(l.quantity) AS units FROM shipments s JOIN shipment_lines l ON l.shipment_id = s.id
                   WHERE s.transfer_to_warehouse_id IS NOT NULL AND s.transfer_arrived_at IS NULL AND s.restocked_at IS NULL
                     AND l.allocation_id IS NOT NULL GROUP BY s.order_id) t ON t.order_id = o.id
        WHERE o.delivery_type = 'PICKUP' AND COALESCE(a.units, 0) <> COALESCE(t.units, 0)"""),
    ("ready or collected pickup orders hold nothing elsewhere",
     """SELECT o.number, o.status, a.sku, a.warehouse_id, a.quantity - a.quantity_released AS units FROM orders o
        JOIN allocations a ON a.order_id = o.id
        WHERE o.delivery_type = 'PICKUP' AND o.status IN ('READY_FOR_PICKUP', 'DELIVERED') AND a.warehouse_id <> o.pickup_warehouse_id
          AND a.receipt_id IS NULL AND a.quantity - a.quantity_released > 0"""),
]


async def check_invariants(db: Database) -> list[str]:
    """One line per violation (`invariant: column=value, ...`); empty when all hold."""
    violations: list[str] = []
    async with db.engine.connect() as plain:
        conn = await plain.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        async with conn.begin() as transaction:
            await conn.execute(text("SET LOCAL statement_timeout = 0"))
            await conn.execute(text("SET LOCAL lock_timeout = 0"))
            for name, sql in CHECKS:
                rows = (await conn.execute(text(f"SELECT * FROM ({sql}) v LIMIT {LIMIT}"))).mappings().all()
                violations.extend(f"{name}: {_row(row)}" for row in rows)
            await transaction.rollback()
    return violations


def _row(row: Any) -> str:
    return ", ".join(f"{key}={value}" for key, value in row.items())
