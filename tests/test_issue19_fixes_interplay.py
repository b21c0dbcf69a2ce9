"""Issue 19 review F8 (the parts outside pickup): one idempotency key for the same order written two ways; the STUCK
alert counts a backordered order from its receipt's expectedAt; an all-backordered order's shipping is priced from
the receipt's warehouse; a draft's preview counts a backorder product's expected units as placement does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text, update

from app.alerts.enums import AlertKind
from app.alerts.scanner import scan
from app.catalog import receipts as receipt_service
from app.catalog import service as catalog
from app.flows import confirmation
from app.fulfilment import rates
from app.infra.settings import Settings
from app.orders.enums import DeliveryType, InventoryPolicy
from app.orders.service import DeliveryMethod, LineRequest, PlaceOrderRequest
from models import Order
from models.fulfilment import Carrier
from models.receipts import StockReceipt
from tests import factories
from tests.factories import ADDRESS, ADDRESS_INPUT
from tests.test_alerts import open_alerts, quiet_app_scanner  # noqa: F401  (the fixture)
from tests.test_drafts import complete, create

PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { id number shippingMethod } userErrors { field code message } }
}
"""


async def carrier_code(db: Any) -> str:
    async with db.read() as session:
        code = (await session.execute(select(Carrier.code).where(Carrier.active).order_by(Carrier.code))).scalars().first()
    assert code is not None
    return str(code)


async def backorder_product(db: Any, sku: str = "BO") -> None:
    await db.run(lambda uow: catalog.upsert_product(uow=uow, sku=sku, name=sku, price="10.00", currency="EUR", tax_rate="0.21",
                                                    inventory_policy=InventoryPolicy.BACKORDER))


async def schedule(db: Any, code: str, quantity: int, expected_at: datetime, sku: str = "BO") -> Any:
    return await db.run(lambda uow: receipt_service.schedule_receipt(uow=uow, sku=sku, warehouse_code=code, quantity=quantity,
                                                                    expected_at=expected_at), actor="test")


# --- the idempotency fingerprint --------------------------------------------------------------------------------

def test_the_fingerprint_reads_a_method_in_any_case_and_ship_as_absent() -> None:
    base = PlaceOrderRequest(channel="WEB", email="b@example.com", lines=[LineRequest("A", 1)], shipping_address=ADDRESS)  # type: ignore[arg-type]
    assert replace(base, shipping_method="correos:standard").fingerprint() == replace(base, shipping_method=" CORREOS:STANDARD").fingerprint()
    assert replace(base, delivery_method=DeliveryMethod(DeliveryType.SHIP)).fingerprint() == base.fingerprint()
    assert replace(base, delivery_method=DeliveryMethod(DeliveryType.PICKUP, "SHOP1")).fingerprint() != base.fingerprint()
    assert replace(base, shipping_method="CORREOS:EXPRESS").fingerprint() != replace(base, shipping_method="CORREOS:STANDARD").fingerprint()


async def test_one_key_for_the_same_order_written_two_ways_places_it_once(gql, db) -> None:
    await factories.basic_catalog(db)
    carrier = await carrier_code(db)
    await db.run(lambda uow: rates.set_rates(uow=uow, rows=[rates.RateInput(carrier, "STANDARD", "ES", "EUR", "4.90")]))
    base = {"channel": "WEB", "email": "buyer@example.com", "lines": [{"sku": "A", "quantity": 1}], "shippingAddress": ADDRESS_INPUT}
    pairs = [
        ({"shippingMethod": f"{carrier.lower()}:standard"}, {"shippingMethod": f"{carrier}:STANDARD"}),
        ({"deliveryMethod": {"type": "SHIP"}}, {}),
    ]
    for i, (first, second) in enumerate(pairs):
        key = f"same-order-{i}"
        one = (await gql(PLACE, {"input": {**base, **first, "idempotencyKey": key}}))["data"]["placeOrder"]
        two = (await gql(PLACE, {"input": {**base, **second, "idempotencyKey": key}}))["data"]["placeOrder"]
        assert one["userErrors"] == [] and two["userErrors"] == [], (one, two)
        assert one["order"]["id"] == two["order"]["id"]


# --- STUCK and receipts -----------------------------------------------------------------------------------------

async def test_an_order_waiting_on_a_receipt_not_yet_due_is_not_stuck(db, quiet_app_scanner) -> None:  # noqa: F811
    await factories.warehouse(db, "MAD", ["WEB"])
    await backorder_product(db)
    await factories.product(db, "A")
    await factories.stock(db, "A", "MAD", 5)
    receipt = await schedule(db, "MAD", 5, datetime.now(UTC) + timedelta(days=10))
    waiting = await factories.place(db, [("BO", 2)], email="w@example.com")  # every unit on the receipt
    stocked = await factories.place(db, [("A", 1)], email="s@example.com")
    for order in (waiting, stocked):
        await db.run(lambda uow, order=order: confirmation.confirm_order(uow=uow, order_id=order.id), actor="test")
    async with db.engine.begin() as conn:  # both unchanged for three days
        await conn.execute(text("UPDATE orders SET updated_at = updated_at - interval '3 days'"))
    config = replace(Settings(), alert_stuck_hours=48)
    # when / then: only the order that could ship is stuck
    await scan(db, config, now=datetime.now(UTC), kinds=[AlertKind.STUCK])
    assert await open_alerts(db) == {("STUCK", f"order:{stocked.id}")}
    # and once its receipt is late by more than the threshold, the waiting one is stuck too
    async with db.engine.begin() as conn:
        await conn.execute(update(StockReceipt).where(StockReceipt.id == receipt.id).values(expected_at=datetime.now(UTC) - timedelta(days=3)))
    await scan(db, config, now=datetime.now(UTC), kinds=[AlertKind.STUCK])
    assert await open_alerts(db) == {("STUCK", f"order:{stocked.id}"), ("STUCK", f"order:{waiting.id}")}


# --- shipping origin of an all-backordered order ----------------------------------------------------------------

async def test_an_all_backordered_order_is_priced_from_its_receipts_warehouse(db) -> None:
    # given: MAD (Spain, first by priority) and PAR (France) serve WEB; BO is expected only at PAR
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.warehouse(db, "PAR", ["WEB"])
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE warehouses SET priority = CASE code WHEN 'MAD' THEN 1 ELSE 2 END, "
                                "country = CASE code WHEN 'MAD' THEN 'ES' ELSE 'FR' END"))
    await backorder_product(db)
    await schedule(db, "PAR", 5, datetime.now(UTC) + timedelta(days=5))
    carrier = await carrier_code(db)
    await db.run(lambda uow: rates.set_rates(uow=uow, rows=[rates.RateInput(carrier, "STANDARD", "DOMESTIC", "EUR", "4.90"),
                                                             rates.RateInput(carrier, "STANDARD", "EU", "EUR", "9.90")]))
    # when: shipped to Spain, every unit from PAR's receipt
    order = await factories.place(db, [("BO", 1)])
    # then: France -> Spain is the EU rate
    assert order.shipping_total == Decimal("9.90")


# --- the draft preview of a backorder product -------------------------------------------------------------------

async def test_a_drafts_preview_counts_the_expected_units_of_a_backorder_product(gql, db) -> None:
    await factories.warehouse(db, "MAD", ["PHONE"])
    await backorder_product(db)
    await factories.stock(db, "BO", "MAD", 1)
    await schedule(db, "MAD", 4, datetime.now(UTC) + timedelta(days=5))
    fits = await create(gql, email="buyer@example.com", lines=[{"sku": "BO", "quantity": 5}], shippingAddress=ADDRESS_INPUT)
    assert fits["preview"]["problems"] == [] and fits["preview"]["ready"] is True
    assert fits["preview"]["lines"][0]["available"] == 5
    too_many = await create(gql, email="buyer@example.com", lines=[{"sku": "BO", "quantity": 6}], shippingAddress=ADDRESS_INPUT)
    assert [p["code"] for p in too_many["preview"]["problems"]] == ["OUT_OF_STOCK"]
    done = await complete(gql, fits["id"], {"method": "BANK_TRANSFER"})
    assert done["userErrors"] == [], done
    async with db.read() as session:
        assert (await session.execute(select(Order.id).where(Order.number == done["order"]["number"]))).scalar_one()
