"""Issue 19 review F12: scheduleReceipt bounds expectedAt (at most 730 days ahead, INVALID_INPUT at expectedAt), and
a placement claiming a receipt far ahead (a row written before the bound) is promised without an overflow (5xx)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from app.catalog import service as catalog
from app.orders.enums import InventoryPolicy
from models.receipts import StockReceipt
from tests import factories

SCHEDULE = """
mutation Schedule($input: ScheduleReceiptInput!) {
  scheduleReceipt(input: $input) { receipt { id expectedAt } userErrors { field code message } }
}
"""


async def backorder_product(db: Any) -> None:
    await factories.warehouse(db, "MAD", ["WEB"])
    await db.run(lambda uow: catalog.upsert_product(uow=uow, sku="BO", name="BO", price="10.00", currency="EUR", tax_rate="0.21",
                                                    inventory_policy=InventoryPolicy.BACKORDER))


def schedule_input(expected_at: datetime) -> dict[str, Any]:
    return {"input": {"sku": "BO", "warehouseCode": "MAD", "quantity": 5, "expectedAt": expected_at.isoformat()}}


async def test_expected_at_beyond_two_years_is_refused(gql, db) -> None:
    await backorder_product(db)
    now = datetime.now(UTC)
    for far in (now + timedelta(days=731), datetime(9999, 12, 30, tzinfo=UTC)):
        body = await gql(SCHEDULE, schedule_input(far))
        payload = body["data"]["scheduleReceipt"]
        assert payload["receipt"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID_INPUT", ["input", "expectedAt"])], payload
    near = await gql(SCHEDULE, schedule_input(now + timedelta(days=729)))
    assert near["data"]["scheduleReceipt"]["userErrors"] == []


async def test_a_receipt_far_ahead_written_before_the_bound_is_promised_without_an_error(gql, db) -> None:
    await backorder_product(db)
    body = await gql(SCHEDULE, schedule_input(datetime.now(UTC) + timedelta(days=700)))
    receipt_id = body["data"]["scheduleReceipt"]["receipt"]["id"]
    assert receipt_id
    async with db.engine.begin() as conn:  # as a row scheduled before the bound could be
        await conn.execute(update(StockReceipt).values(expected_at=datetime(9999, 12, 30, tzinfo=UTC)))
    order = await factories.place(db, [("BO", 1)])
    assert order.estimated_delivery_date is not None and order.estimated_delivery_date.year >= 9000
