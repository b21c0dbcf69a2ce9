"""The read planner over the catalogue (issue 15): products (search, pages by sku), stock levels (filters, pages by
(sku, warehouse)), Product.stockLevels, StockLevel.warehouse, the Product/StockLevel nodes — the same JSON planner
off and on, cursors included for SKUs that JSON escapes (quotes, backslashes, non-ASCII, control characters)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from resolvers.cost import LeakyBucket
from tests import factories, test_planner
from tests.conftest import make_key

both, switch = test_planner.both, test_planner.switch  # the planner off/on fixtures

PRODUCTS = """
fragment Level on StockLevel { __typename id sku onHand reserved available warehouse { __typename id code name channels } }
query($first: Int, $after: String, $search: String) {
  products(first: $first, after: $after, search: $search) {
    __typename totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { __typename id sku name taxRate madeToOrder leadTimeDays price { amount currency } stockLevels { ...Level } } }
  }
}"""
LEVELS = """
query($first: Int, $after: String, $sku: String, $code: String, $below: Int) {
  stockLevels(first: $first, after: $after, sku: $sku, warehouseCode: $code, availableBelow: $below) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id sku onHand reserved available warehouse { code } } }
  }
}"""
ODD_SKUS = ['Q"uote', "back\\slash", "ñandú-€", "tab\tline\nend", "emoji-\U0001f600", "del\x7f", "per%cent_under"]


@pytest.fixture(autouse=True)
def full_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost bucket always full: its "currently available" figure would otherwise depend on timing."""
    monkeypatch.setattr(LeakyBucket, "_available", lambda self, key, now: self.capacity)


@pytest_asyncio.fixture
async def seeded(db: Any) -> AsyncIterator[None]:
    await factories.basic_catalog(db)
    await factories.product(db, "TAX", "1.50", tax_rate="0.0500")
    for sku in ODD_SKUS:
        await factories.product(db, sku, "2.00")
        await factories.stock(db, sku, "MAD", 3)
    await factories.place(db, [("A", 4), ("B", 5)])  # reserved units: available below on hand, and zero
    yield


async def _walk(both: Any, document: str, root: str, variables: dict[str, Any], size: int) -> int:
    after, seen = None, 0
    while True:
        page = (await both(document, {**variables, "first": size, "after": after}))["data"][root]
        seen += len(page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def test_products_pages_and_search(both, seeded):
    body = await both(PRODUCTS, {"first": 100})
    total = body["data"]["products"]["totalCount"]
    assert total == 5 + len(ODD_SKUS)
    for size in (1, 3):
        assert await _walk(both, PRODUCTS, "products", {}, size) == total
    for search in ("a", " A ", "%", "_", "\\", "ñ", "product", "", "   ", "nothing-like-it"):
        await both(PRODUCTS, {"search": search})
        await both(PRODUCTS, {"search": search, "first": 1})
    await both(PRODUCTS, {"first": 0})


async def test_stock_levels_filters_and_pages(both, seeded):
    body = await both(LEVELS, {"first": 100})
    total = body["data"]["stockLevels"]["totalCount"]
    assert total == 4 + len(ODD_SKUS)
    for size in (1, 2, 5):
        assert await _walk(both, LEVELS, "stockLevels", {}, size) == total
    for variables in ({"sku": "A"}, {"code": "BCN"}, {"code": "NOPE"}, {"below": 4}, {"below": 0}, {"below": 100, "code": "MAD", "sku": "B"},
                      {"sku": ""}, {"code": ""}):
        await both(LEVELS, variables)
        await _walk(both, LEVELS, "stockLevels", variables, 2)


async def test_nodes(both, seeded):
    listed = await both("{ products(first: 100) { edges { node { id stockLevels { id } } } } }")
    for edge in listed["data"]["products"]["edges"]:
        document = """query($id: ID!) { node(id: $id) { __typename id ... on Product { sku price { amount } stockLevels { sku available } }
                      ... on StockLevel { sku onHand warehouse { code } } } }"""
        await both(document, {"id": edge["node"]["id"]})
        for level in edge["node"]["stockLevels"]:
            await both(document, {"id": level["id"]})


async def test_scopes_and_invalid_arguments(both, seeded, db):
    for scopes in ((), ("orders:read",), ("stock:read",), ("stock:write",)):
        token = await make_key(db, *scopes) if scopes else None
        await both(PRODUCTS, {"first": 2}, token=token, planned="stock:read" in scopes)
        await both(LEVELS, {"first": 2}, token=token, planned="stock:read" in scopes)
    for document in (PRODUCTS, LEVELS):
        await both(document, {"first": 101}, planned=False)
        await both(document, {"first": -1}, planned=False)
        await both(document, {"after": "garbage"}, planned=False)
    await both(LEVELS, {"after": "WyJBIl0="}, planned=False)  # ["A"]: one value of two
    await both(LEVELS, {"after": "WyJBIiwibm90LWEtdXVpZCJd"}, planned=False)  # ["A","not-a-uuid"]
    await both(PRODUCTS, {"after": "WyJBIiwiQiJd"}, planned=False)  # two values of one
