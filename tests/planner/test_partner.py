"""Issue 17, hand-written: the `orders` filters and the sort partner added (externalReference, marketplace, metadata,
privateMetadata, UPDATED_AT) answer identically with the planner off and on, and the planner really answers them
(they are compiled, never ignored: an ignored filter would answer more orders than the ordinary resolver)."""

from __future__ import annotations

from typing import Any

from tests.planner.compare import Pair

PAGE = """query($f: OrderFilter, $s: OrderSort, $after: String) { orders(first: 4, after: $after, filter: $f, sort: $s) {
  totalCount edges { cursor node { id number updatedAt externalReference marketplace } } pageInfo { hasNextPage endCursor } } }"""
CORE = """query($f: OrderFilter, $s: OrderSort, $after: String) { orders(first: 4, after: $after, filter: $f, sort: $s) {
  totalCount edges { cursor node { id number updatedAt } } pageInfo { hasNextPage endCursor } } }"""
METADATA = """mutation($input: UpdateOrderMetadataInput!) { updateOrderMetadata(input: $input) { userErrors { code field } } }"""


async def _tag(pair: Pair) -> list[str]:
    """Metadata on three seeded orders (written through the off app; both apps read the same database)."""
    body = await pair.same("{ orders(first: 3, sort: {field: NUMBER, direction: ASC}) { edges { node { id number } } } }")
    nodes = [e["node"] for e in body["data"]["orders"]["edges"]]
    token = pair.tokens["admin"]
    for node, values, private in ((nodes[0], {"erp": "1", "tier": "gold"}, False), (nodes[1], {"tier": "gold"}, False),
                                  (nodes[2], {"margin": "0.3"}, True)):
        response = await pair.off.post("/graphql", headers={"Authorization": f"Bearer {token}"}, json={"query": METADATA, "variables": {
            "input": {"orderId": node["id"], "private": private, "set": [{"key": k, "value": v} for k, v in values.items()]}}})
        assert response.json()["data"]["updateOrderMetadata"]["userErrors"] == []
    return [n["number"] for n in nodes]


async def _all_pages(pair: Pair, document: str, variables: dict[str, Any], key: str = "admin") -> list[str]:
    numbers: list[str] = []
    after = None
    while True:
        body = await pair.same(document, {**variables, "after": after}, key=key)
        assert body.get("data"), body
        page = body["data"]["orders"]
        numbers += [e["node"]["number"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return numbers
        after = page["pageInfo"]["endCursor"]


async def test_new_filters_and_the_updated_at_sort_answer_the_same_and_are_planned(pair: Pair) -> None:
    tagged = await _tag(pair)
    planned = pair.planned
    cases: list[tuple[dict[str, Any], set[str] | None]] = [
        ({"metadata": [{"key": "tier", "value": "gold"}]}, {tagged[0], tagged[1]}),
        ({"metadata": [{"key": "erp"}]}, {tagged[0]}),
        ({"metadata": [{"key": "tier", "value": "gold"}, {"key": "erp", "value": "2"}]}, set()),
        ({"privateMetadata": [{"key": "margin"}]}, {tagged[2]}),
        ({"privateMetadata": [{"key": "margin", "value": "0.3"}], "metadata": [{"key": "tier"}]}, set()),
        ({"externalReference": "no-such-ref"}, set()),
        ({"marketplace": "amazon-es"}, set()),
        ({"metadata": [{"key": "tier"}], "status": ["PENDING", "CONFIRMED", "SHIPPED", "DELIVERED", "PROCESSING"]}, None),
    ]
    for variables, expected in cases:
        for sort in (None, {"field": "UPDATED_AT", "direction": "ASC"}, {"field": "UPDATED_AT", "direction": "DESC"}):
            numbers = await _all_pages(pair, PAGE, {"f": variables, "s": sort})
            if expected is not None:
                assert set(numbers) == expected, (variables, sort, numbers)
            await _all_pages(pair, CORE, {"f": variables, "s": sort})
    # the whole list by UPDATED_AT, both directions, paged: the same orders, each once, reversed
    ascending = await _all_pages(pair, CORE, {"s": {"field": "UPDATED_AT", "direction": "ASC"}})
    descending = await _all_pages(pair, CORE, {"s": {"field": "UPDATED_AT", "direction": "DESC"}})
    assert ascending == descending[::-1] and len(set(ascending)) == len(ascending) > 40
    assert ascending[-3:] == tagged  # the last changed come last, in the order they changed
    assert pair.planned > planned or not pair.planner  # the planner answered (CORE is fully mapped)


async def test_private_metadata_filter_is_refused_alike_without_orders_write(pair: Pair) -> None:
    body = await pair.same(CORE, {"f": {"privateMetadata": [{"key": "margin"}]}}, key="orders:read")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    too_many = await pair.same(CORE, {"f": {"metadata": [{"key": f"k{i}"} for i in range(21)]}})
    assert too_many["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
