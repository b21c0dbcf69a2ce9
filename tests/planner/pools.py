"""Reading the seeded database's values (planner off, admin key) into the generator's Pools."""

from __future__ import annotations

from typing import Any

from tests.planner.compare import Pair, Request
from tests.planner.generate import Pools

ORDERS = """query($first: Int, $after: String, $sort: OrderSort) { orders(first: $first, after: $after, sort: $sort) {
  edges { cursor node { id number email placedAt updatedAt events(first: 3) { edges { cursor } }
          shipments { id } invoices { id number } payments { id } returns { id } inquiries { id } } }
  pageInfo { hasNextPage endCursor } } }"""
LISTS = {
    "shipments": "{ shipments(first: 100) { edges { cursor node { id } } } }",
    "invoices": "{ invoices(first: 100) { edges { cursor node { id number } } } }",
    "products": "{ products(first: 100) { edges { cursor node { id sku } } } }",
    "stockLevels": "{ stockLevels(first: 100) { edges { cursor node { id sku warehouse { id code } } } } }",
    "returns": "{ returns(first: 100) { edges { cursor node { id } } } }",
}


async def _get(pair: Pair, query: str, variables: dict[str, Any] | None = None) -> Any:
    outcome = await pair._post(pair.off, Request(query, variables or {}))
    body = outcome.json()
    assert outcome.status == 200 and not body.get("errors"), body
    return body["data"]


async def collect(pair: Pair) -> Pools:
    pools = Pools()

    def add(kind: str, value: str | None) -> None:
        if value and value not in pools.ids.setdefault(kind, []):
            pools.ids[kind].append(value)

    # Every order, page by page (the default order), and the cursors of every sort.
    after = None
    while True:
        page = (await _get(pair, ORDERS, {"first": 7, "after": after}))["orders"]
        for edge in page["edges"]:
            node = edge["node"]
            pools.cursors.setdefault("orders", []).append(edge["cursor"])
            add("Order", node["id"])
            pools.order_numbers.append(node["number"])
            pools.pairs.append((node["number"], node["email"]))
            if node["email"] not in pools.emails:
                pools.emails.append(node["email"])
            pools.times += [node["placedAt"], node["updatedAt"]]
            pools.cursors.setdefault("events", []).extend(e["cursor"] for e in node["events"]["edges"])
            for kind, name in (("Shipment", "shipments"), ("Invoice", "invoices"), ("Payment", "payments"), ("Return", "returns"), ("Inquiry", "inquiries")):
                for item in node[name]:
                    add(kind, item["id"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    for field in ("PLACED_AT", "NUMBER", "TOTAL"):
        for direction in ("ASC", "DESC"):
            page = (await _get(pair, ORDERS, {"first": 100, "sort": {"field": field, "direction": direction}}))["orders"]
            pools.cursors[f"orders:{field}:{direction}"] = [e["cursor"] for e in page["edges"]]

    for name, query in LISTS.items():
        edges = (await _get(pair, query))[name]["edges"]
        pools.cursors[name] = [e["cursor"] for e in edges]
        for edge in edges:
            node = edge["node"]
            add({"shipments": "Shipment", "invoices": "Invoice", "products": "Product", "stockLevels": "StockLevel", "returns": "Return"}[name], node["id"])
            if name == "invoices":
                pools.invoice_numbers.append(node["number"])
            if name == "products":
                pools.skus.append(node["sku"])
            if name == "stockLevels":
                add("Warehouse", node["warehouse"]["id"])
                if node["warehouse"]["code"] not in pools.warehouse_codes:
                    pools.warehouse_codes.append(node["warehouse"]["code"])
    # Keep the pools small and spread out: sampled_from over a few hundred values is fine, but sorted for determinism.
    pools.times = sorted(set(pools.times))
    return pools
