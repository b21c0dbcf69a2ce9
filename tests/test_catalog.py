"""Catalogue sync and stock operations."""

from __future__ import annotations

from sqlalchemy import select

from models import StockMovement
from tests import factories

UPSERT_PRODUCT = """
mutation P($input: ProductInput!) {
  upsertProduct(input: $input) { product { id sku name price { amount currency } taxRate madeToOrder leadTimeDays } userErrors { field code } }
}
"""
UPSERT_WAREHOUSE = """
mutation W($input: WarehouseInput!) { upsertWarehouse(input: $input) { warehouse { id code name channels } userErrors { field code } } }
"""
ADJUST = """
mutation A($input: AdjustStockInput!) {
  adjustStock(input: $input) { stockLevel { sku onHand reserved available warehouse { code } } userErrors { field code message } }
}
"""


async def test_upsert_product_creates_then_updates_by_sku(gql):
    created = await gql(UPSERT_PRODUCT, {"input": {"sku": "S1", "name": "Shirt", "price": "19.90", "currency": "eur", "taxRate": "0.21"}})
    product = created["data"]["upsertProduct"]["product"]
    assert product["price"] == {"amount": "19.90", "currency": "EUR"} and product["taxRate"] == "0.2100"
    updated = await gql(UPSERT_PRODUCT, {"input": {"sku": "S1", "name": "Shirt v2", "price": "21.00", "currency": "EUR", "taxRate": "0.21",
                                                    "madeToOrder": True, "leadTimeDays": 5}})
    again = updated["data"]["upsertProduct"]["product"]
    assert again["id"] == product["id"] and again["name"] == "Shirt v2" and again["leadTimeDays"] == 5 and again["madeToOrder"]


async def test_upsert_product_refuses_bad_values(gql):
    body = await gql(UPSERT_PRODUCT, {"input": {"sku": "", "name": "X", "price": "-1", "currency": "ZZZ", "taxRate": "1.5", "leadTimeDays": 3}})
    fields = {tuple(e["field"]) for e in body["data"]["upsertProduct"]["userErrors"]}
    assert fields == {("input", "sku"), ("input", "price"), ("input", "currency"), ("input", "taxRate"), ("input", "leadTimeDays")}
    assert body["data"]["upsertProduct"]["product"] is None
    products = await gql("{ products { totalCount } }")
    assert products["data"]["products"]["totalCount"] == 0


async def test_upsert_warehouse_and_channels(gql):
    body = await gql(UPSERT_WAREHOUSE, {"input": {"code": "MAD", "name": "Madrid", "channels": ["WEB", "STORE"]}})
    assert body["data"]["upsertWarehouse"]["warehouse"]["channels"] == ["STORE", "WEB"]
    again = await gql(UPSERT_WAREHOUSE, {"input": {"code": "MAD", "name": "Madrid 2", "channels": ["PHONE"]}})
    assert again["data"]["upsertWarehouse"]["warehouse"]["id"] == body["data"]["upsertWarehouse"]["warehouse"]["id"]
    listed = await gql("{ warehouses { code name channels } }")
    assert listed["data"]["warehouses"] == [{"code": "MAD", "name": "Madrid 2", "channels": ["PHONE"]}]


async def test_adjust_stock_receipts_and_write_offs_with_ledger(gql, db):
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.product(db, "S1")
    receipt = await gql(ADJUST, {"input": {"sku": "S1", "warehouseCode": "MAD", "delta": 12, "reason": "PO-7"}})
    assert receipt["data"]["adjustStock"]["stockLevel"] == {"sku": "S1", "onHand": 12, "reserved": 0, "available": 12, "warehouse": {"code": "MAD"}}
    await factories.place(db, [("S1", 5)])
    write_off = await gql(ADJUST, {"input": {"sku": "S1", "warehouseCode": "MAD", "delta": -7, "reason": "damaged"}})
    assert write_off["data"]["adjustStock"]["stockLevel"]["onHand"] == 5
    assert write_off["data"]["adjustStock"]["stockLevel"]["available"] == 0
    async with db.read() as session:
        ledger = (await session.execute(select(StockMovement.kind, StockMovement.on_hand_delta, StockMovement.reserved_delta, StockMovement.reason,
                                               StockMovement.actor).order_by(StockMovement.id))).all()
    assert [tuple(r) for r in ledger] == [
        ("RECEIPT", 12, 0, "PO-7", "apikey:admin"),
        ("RESERVATION", 0, 5, None, "test"),
        ("ADJUSTMENT", -7, 0, "damaged", "apikey:admin"),
    ]


async def test_adjust_stock_never_leaves_on_hand_below_reserved(gql, db):
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.product(db, "S1")
    await factories.stock(db, "S1", "MAD", 4)
    await factories.place(db, [("S1", 3)])
    body = await gql(ADJUST, {"input": {"sku": "S1", "warehouseCode": "MAD", "delta": -2, "reason": "count"}})
    assert body["data"]["adjustStock"]["userErrors"] == [
        {"field": ["input", "delta"], "code": "INVALID_INPUT", "message": "On hand would fall to 2, below the 3 units reserved."}
    ]
    levels = await gql('{ stockLevels(sku: "S1") { edges { node { onHand reserved available } } } }')
    assert levels["data"]["stockLevels"]["edges"][0]["node"] == {"onHand": 4, "reserved": 3, "available": 1}


async def test_adjust_stock_unknown_sku_or_warehouse(gql, db):
    body = await gql(ADJUST, {"input": {"sku": "NOPE", "warehouseCode": "NOWHERE", "delta": 1, "reason": "x"}})
    assert sorted(tuple(e["field"]) for e in body["data"]["adjustStock"]["userErrors"]) == [("input", "sku"), ("input", "warehouseCode")]
    zero = await gql(ADJUST, {"input": {"sku": "NOPE", "warehouseCode": "NOWHERE", "delta": 0, "reason": " "}})
    assert {tuple(e["field"]) for e in zero["data"]["adjustStock"]["userErrors"]} == {("input", "delta"), ("input", "reason")}
