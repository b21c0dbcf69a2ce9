"""The read planner over returns and the public tracking view (issue 15): the `returns` root (filters, pages),
Return with its lines, exchange and refund, Order.returns, the Return node, `trackOrder` — the same JSON planner
off and on, with every scope combination of the nested access rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from resolvers.cost import LeakyBucket
from resolvers.ids import to_global_id
from tests import factories, test_planner
from tests.conftest import make_key
from tests.test_returns import APPROVE, OPEN_CUSTOMER_INQUIRY, RECEIVE, REJECT, REPLY, REQUEST, call, delivered_order, staff_request

both, switch = test_planner.both, test_planner.switch  # the planner off/on fixtures

RETURN = """
fragment Amount on Money { amount currency }
fragment ReturnAll on Return {
  __typename id number status resolution reason requestedBy decisionNote createdAt decidedAt receivedAt
  value { ...Amount } refundedAmount { ...Amount } priceDifference { ...Amount }
  lines { __typename id orderLineId sku productName quantity reason inspection inspectionNote restockWarehouse { __typename id code name } }
}
"""
RETURNS = RETURN + """
query($first: Int, $after: String, $filter: ReturnFilter) {
  returns(first: $first, after: $after, filter: $filter) {
    __typename totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { ...ReturnAll order { number returns { number } } replacementOrder { number status lines { sku } } } }
  }
}"""
TRACK = """query($number: String!, $email: String!) {
  trackOrder(number: $number, email: $email) {
    __typename number status placedAt estimatedDeliveryDate
    shipments { __typename id carrier trackingNumber status shippedAt deliveredAt packingSlipUrl warehouse { code }
                events { status occurredAt location description } }
    events { __typename type status previousStatus occurredAt actor cursor data }
  }
}"""


@pytest.fixture(autouse=True)
def full_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost bucket always full: its "currently available" figure would otherwise depend on timing."""
    monkeypatch.setattr(LeakyBucket, "_available", lambda self, key, now: self.capacity)


@pytest_asyncio.fixture
async def seeded(db: Any, gql: Any) -> AsyncIterator[list[Any]]:
    await factories.basic_catalog(db)
    first = await delivered_order(db, [("A", 2), ("B", 3)], email="ana@example.com")
    second = await delivered_order(db, [("A", 2)], email="luis@example.com")
    plain = await factories.place(db, [("A", 1)], email="eva@example.com")
    # a refund received with a restock and a write-off, a rejected one, an exchange (replacement order), an open one
    refund = (await call(gql, REQUEST, staff_request(first, [{"sku": "A", "quantity": 1, "reason": "too small"}, {"sku": "B", "quantity": 2}])))["return"]
    await call(gql, APPROVE, {"returnId": refund["id"], "note": "ok"})
    await call(gql, RECEIVE, {"returnId": refund["id"], "lines": [
        {"returnLineId": refund["lines"][0]["id"], "result": "RESTOCK", "warehouseCode": "MAD", "note": "as new"},
        {"returnLineId": refund["lines"][1]["id"], "result": "WRITE_OFF"}]})
    rejected = (await call(gql, REQUEST, staff_request(first, [{"sku": "A", "quantity": 1}])))["return"]
    await call(gql, REJECT, {"returnId": rejected["id"], "note": "worn"})
    exchange = (await call(gql, REQUEST, staff_request(second, [{"sku": "A", "quantity": 1}], resolution="EXCHANGE",
                                                       replacementLines=[{"sku": "C", "quantity": 1}])))["return"]
    await call(gql, APPROVE, {"returnId": exchange["id"]})
    await call(gql, REQUEST, staff_request(second, [{"sku": "A", "quantity": 1}]))
    # a case with a customer's and a staff member's messages
    opened = await call(gql, OPEN_CUSTOMER_INQUIRY, {"number": first.number, "email": "ana@example.com", "subject": "Where?", "body": "A week."},
                        token=None)
    await call(gql, REPLY, {"inquiryId": opened["inquiry"]["id"], "body": "Tomorrow."})
    yield [first, second, plain]


async def test_returns_root_filters_and_pages(both, seeded):
    body = await both(RETURNS, {"first": 100})
    assert body["data"]["returns"]["totalCount"] == 4
    assert any(edge["node"]["replacementOrder"] for edge in body["data"]["returns"]["edges"])
    assert any(edge["node"]["priceDifference"] for edge in body["data"]["returns"]["edges"])
    for size in (1, 3):
        after, seen = None, 0
        while True:
            page = (await both(RETURNS, {"first": size, "after": after}))["data"]["returns"]
            seen += len(page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert seen == 4
    order_id = to_global_id("Order", seeded[0].id)
    for filter in ({"status": ["REQUESTED", "APPROVED"]}, {"status": []}, {"orderId": order_id}, {"orderId": order_id, "status": ["REJECTED"]},
                   {"orderId": to_global_id("Order", seeded[2].id)}, {}, None):
        await both(RETURNS, {"filter": filter})
    await both(RETURNS, {"first": 0})


async def test_order_returns_and_the_return_node(both, seeded):
    body = await both(RETURN + "{ orders(first: 10) { edges { node { number returns { ...ReturnAll order { number } } } } } }")
    ids = [ret["id"] for edge in body["data"]["orders"]["edges"] for ret in edge["node"]["returns"]]
    assert len(ids) == 4
    for gid in ids:
        await both(RETURN + "query($id: ID!) { node(id: $id) { id ... on Return { ...ReturnAll replacementOrder { number } } } }", {"id": gid})


async def test_every_scope_combination(both, seeded, db):
    order_id = to_global_id("Order", seeded[0].id)
    on_order = "query($id: ID!) { order(id: $id) { number returns { number lines { sku } } } }"
    with_order = "{ returns(first: 10) { edges { node { number order { number } } } } }"
    with_replacement = "{ returns(first: 10) { edges { node { number replacementOrder { number } } } } }"
    bare = "{ returns(first: 10) { totalCount edges { node { number value { amount } } } } }"
    for scopes in ((), ("orders:read",), ("returns:read",), ("orders:read", "returns:read"), ("returns:write",)):
        token = await make_key(db, *scopes) if scopes else None
        both_scopes = {"orders:read", "returns:read"} <= set(scopes)
        await both(on_order, {"id": order_id}, token=token, planned=both_scopes)
        await both(with_order, token=token, planned=both_scopes)
        await both(with_replacement, token=token, planned=both_scopes)
        await both(bare, token=token, planned="returns:read" in scopes)


async def test_invalid_arguments_fall_back(both, seeded):
    await both(RETURNS, {"first": 101}, planned=False)
    await both(RETURNS, {"after": "garbage"}, planned=False)
    await both(RETURNS, {"filter": {"orderId": "nope"}}, planned=False)
    await both(RETURNS, {"filter": {"orderId": to_global_id("Return", seeded[0].id)}}, planned=False)


async def test_track_order(both, seeded, db):
    first, second, plain = seeded
    for order, email in ((first, " ANA@example.com "), (second, "luis@example.com"), (plain, "eva@example.com")):
        body = await both(TRACK, {"number": f" {order.number} ", "email": email}, token=None)
        events = body["data"]["trackOrder"]["events"]
        assert events and all(event["actor"] is None and event["data"] is None for event in events)
    body = await both(TRACK, {"number": first.number, "email": "ana@example.com"}, token=None)
    assert body["data"]["trackOrder"]["shipments"][0]["packingSlipUrl"] is None
    # with a key: the packing slip for shipments:read; Shipment.order needs orders:read (else left to the ordinary refusal)
    walk_back = TRACK.replace("packingSlipUrl", "packingSlipUrl order { number }")
    for scopes in (("shipments:read",), ("orders:read",), ("orders:read", "shipments:read"), ("admin",)):
        token = await make_key(db, *scopes)
        await both(TRACK, {"number": first.number, "email": "ana@example.com"}, token=token)
        await both(walk_back, {"number": first.number, "email": "ana@example.com"}, token=token, planned="orders:read" in scopes or "admin" in scopes)
    await both(walk_back, {"number": first.number, "email": "ana@example.com"}, token=None, planned=False)
    # a wrong pair: null from the statement; empty or too long values: null without a query (the ordinary path)
    await both(TRACK, {"number": first.number, "email": "luis@example.com"}, token=None)
    await both(TRACK, {"number": "SO-999999", "email": "ana@example.com"}, token=None)
    await both(TRACK, {"number": " ", "email": "ana@example.com"}, token=None, planned=False)
    await both(TRACK, {"number": "N" * 33, "email": "ana@example.com"}, token=None, planned=False)


async def test_order_inquiries_and_the_inquiry_node(both, seeded, db):
    inquiry = """id number subject status openedBy createdAt updatedAt messages { id authorType author body createdAt }"""
    body = await both(f"{{ orders(first: 10) {{ edges {{ node {{ number inquiries {{ {inquiry} order {{ number }} }} }} }} }} }}")
    ids = [case["id"] for edge in body["data"]["orders"]["edges"] for case in edge["node"]["inquiries"]]
    assert len(ids) == 1
    for scopes in (("orders:read",), ("admin",), ("returns:read",)):
        token = await make_key(db, *scopes)
        planned = "returns:read" not in scopes
        await both(f"query($id: ID!) {{ node(id: $id) {{ id ... on Inquiry {{ {inquiry} order {{ number }} }} }} }}", {"id": ids[0]}, token=token,
                   planned=planned)
        await both(f"{{ orders(first: 10) {{ edges {{ node {{ inquiries {{ {inquiry} }} }} }} }} }}", token=token, planned=planned)
