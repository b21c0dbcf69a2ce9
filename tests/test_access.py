"""API keys and scopes: no key, wrong scope, revoked key; the CLI that manages keys."""

from __future__ import annotations

import asyncio
import io
import os
from contextlib import redirect_stdout

from sqlalchemy import func, select

from models import ApiKey, Order, Product
from server.cli import main as oms
from tests import factories
from tests.conftest import make_key
from tests.factories import ADDRESS_INPUT

PLACE = """
mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } userErrors { code } } }
"""
ORDER_INPUT = {"channel": "WEB", "email": "a@example.com", "lines": [{"sku": "A", "quantity": 1}], "shippingAddress": ADDRESS_INPUT}


async def orders_count(db) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(Order))).scalar_one()


async def test_no_key_is_refused(gql, db):
    body = await gql("{ orders { totalCount } }", token=None)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    bad = await gql("{ orders { totalCount } }", token="oms_not-a-real-token")
    assert bad["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_key_without_the_scope_is_refused_and_nothing_is_written(gql, db):
    await factories.basic_catalog(db)
    reader = await make_key(db, "orders:read")
    body = await gql(PLACE, {"input": ORDER_INPUT}, token=reader)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "orders:write" in body["errors"][0]["message"]
    assert await orders_count(db) == 0
    product = await gql('mutation { upsertProduct(input: {sku: "Z", name: "Z", price: "1", currency: "EUR", taxRate: "0"}) { product { id } } }', token=reader)
    assert product["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Product).where(Product.sku == "Z"))).scalar_one() == 0


async def test_scopes_separate_orders_and_stock(gql, db):
    await factories.basic_catalog(db)
    writer = await make_key(db, "orders:write")
    stock_reader = await make_key(db, "stock:read")
    placed = await gql(PLACE, {"input": ORDER_INPUT}, token=writer)
    assert placed["data"]["placeOrder"]["order"]["id"]
    # orders:write does not imply reading the catalogue, nor stock:read reading orders
    assert (await gql("{ warehouses { code } }", token=writer))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql("{ orders { totalCount } }", token=stock_reader))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert len((await gql("{ warehouses { code } }", token=stock_reader))["data"]["warehouses"]) == 2
    node = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": placed["data"]["placeOrder"]["order"]["id"]}, token=stock_reader)
    assert node["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_tokens_are_stored_only_as_hashes(db):
    token = await make_key(db, "orders:read", name="hashed")
    async with db.read() as session:
        row = (await session.execute(select(ApiKey).where(ApiKey.name == "hashed"))).scalar_one()
    assert token not in (row.token_hash, row.name) and len(row.token_hash) == 64


def run_cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = oms(list(args))
    return code, out.getvalue()


async def test_cli_creates_and_revokes_keys(gql, db, database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    code, out = await asyncio.to_thread(run_cli, "apikey", "create", "--name", "partner", "--scopes", "orders:read,stock:read")
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("oms_")
    assert (await gql("{ orders { totalCount } }", token=token))["data"]["orders"]["totalCount"] == 0
    code, _ = await asyncio.to_thread(run_cli, "apikey", "revoke", "--name", "partner")
    assert code == 0
    revoked = await gql("{ orders { totalCount } }", token=token)
    assert revoked["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    code, _ = await asyncio.to_thread(run_cli, "apikey", "create", "--name", "bad", "--scopes", "orders:everything")
    assert code == 1
    assert os.environ["DATABASE_URL"] == database_url
