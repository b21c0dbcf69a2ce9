"""The read planner over billing (issue 15): invoices (lines, tax breakdown, credit notes), payments, the roots
`invoices` and `invoice`, the Invoice/Payment nodes, Order.invoices/payments — the same JSON planner off and on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from app.billing import config
from app.billing.providers import get_provider
from app.billing.providers.test import OfflineProvider
from resolvers.cost import LeakyBucket
from tests import factories, test_planner
from tests.conftest import GraphQL, make_key
from tests.factories import ADDRESS_INPUT

both, switch = test_planner.both, test_planner.switch  # the planner off/on fixtures

PLACE = """mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id payments { id } } userErrors { code message } } }"""
CONFIRM = "mutation($input: OrderIdInput!) { confirmOrder(input: $input) { userErrors { code message } } }"
CANCEL = "mutation($input: OrderIdInput!) { cancelOrder(input: $input) { userErrors { code message } } }"
REFUND = "mutation($input: RefundPaymentInput!) { refundPayment(input: $input) { userErrors { code message } } }"

INVOICE = """
fragment Amount on Money { amount currency }
fragment InvoiceAll on Invoice {
  __typename id number series kind issuedAt reason orderNumber pdfUrl htmlUrl
  subtotal { ...Amount } taxTotal { ...Amount } total { ...Amount }
  taxBreakdown { __typename rate base { ...Amount } tax { ...Amount } }
  lines { __typename sku description quantity taxRate unitPrice { ...Amount } total { ...Amount } }
  corrects { id number kind corrects { number } }
}
fragment PaymentAll on Payment {
  __typename id method status reference createdAt expiresAt amount { ...Amount } capturedAmount { ...Amount } refundedAmount { ...Amount }
}
"""
INVOICES = INVOICE + """
query($first: Int, $after: String, $orderId: ID) {
  invoices(first: $first, after: $after, orderId: $orderId) {
    __typename totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { __typename cursor node { ...InvoiceAll order { number payments { ...PaymentAll } invoices { number } } } }
  }
}"""
ORDERS = INVOICE + """
query { orders(first: 5) { edges { node { number payments { ...PaymentAll } invoices { ...InvoiceAll } } } } }"""


@pytest.fixture(autouse=True)
def full_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost bucket always full: its "currently available" figure would otherwise depend on timing."""
    monkeypatch.setattr(LeakyBucket, "_available", lambda self, key, now: self.capacity)


@pytest.fixture
def provider() -> OfflineProvider:
    gateway = get_provider(config.settings())
    assert isinstance(gateway, OfflineProvider)
    gateway.reset()
    return gateway


async def _place(gql: GraphQL, lines: list[tuple[str, int]], method: str | None = None, token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": "WEB", "email": "buyer@example.com", "lines": [{"sku": s, "quantity": q} for s, q in lines],
                            "shippingAddress": ADDRESS_INPUT}
    if method:
        body["payment"] = {"method": method, "token": token}
    result = await gql(PLACE, {"input": body})
    assert not result["data"]["placeOrder"]["userErrors"], result
    return result["data"]["placeOrder"]["order"]


@pytest_asyncio.fixture
async def seeded(db: Any, gql: GraphQL, provider: OfflineProvider) -> AsyncIterator[list[dict[str, Any]]]:
    await factories.basic_catalog(db)
    refunded = await _place(gql, [("A", 2), ("B", 3)], "CARD", "test_approve")  # invoice + a credit note
    await gql(CONFIRM, {"input": {"orderId": refunded["id"]}})
    assert not (await gql(REFUND, {"input": {"paymentId": refunded["payments"][0]["id"], "amount": "10.00", "reason": "damaged"}}))[
        "data"]["refundPayment"]["userErrors"]
    cancelled = await _place(gql, [("A", 1), ("B", 1)], "CARD", "test_approve")  # a credit note mirroring the lines
    await gql(CONFIRM, {"input": {"orderId": cancelled["id"]}})
    await gql(CANCEL, {"input": {"orderId": cancelled["id"]}})
    transfer = await _place(gql, [("A", 1)], "BANK_TRANSFER")  # pending, with an expiry
    nothing = await _place(gql, [("C", 1)])  # no payment, no invoice
    invoiced = await _place(gql, [("B", 1)], "CARD", "test_approve")
    await gql(CONFIRM, {"input": {"orderId": invoiced["id"]}})
    yield [refunded, cancelled, transfer, nothing, invoiced]


async def test_invoices_root_pages_and_filters(both, seeded):
    body = await both(INVOICES, {"first": 100})
    assert body["data"]["invoices"]["totalCount"] == 5
    kinds = {edge["node"]["kind"] for edge in body["data"]["invoices"]["edges"]}
    assert kinds == {"INVOICE", "CREDIT_NOTE"}
    for first in (0, 1, 2):
        after, seen = None, 0
        while True:
            page = (await both(INVOICES, {"first": first or 1, "after": after}))["data"]["invoices"]
            seen += len(page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert seen == 5
    await both(INVOICES, {"first": 0})
    await both(INVOICES, {"orderId": seeded[0]["id"]})
    await both(INVOICES, {"orderId": seeded[3]["id"]})


async def test_invoice_by_number_and_nodes(both, seeded):
    listed = await both(INVOICES, {})
    numbers = [edge["node"]["number"] for edge in listed["data"]["invoices"]["edges"]]
    ids = [edge["node"]["id"] for edge in listed["data"]["invoices"]["edges"]]
    document = INVOICE + """query($number: String!, $node: ID!) {
      invoice(number: $number) { ...InvoiceAll }
      node(id: $node) { id ... on Invoice { ...InvoiceAll order { id } } ... on Payment { ...PaymentAll } }
    }"""
    for number, node in zip(numbers, ids, strict=True):
        await both(document, {"number": f" {number} ", "node": node})
    await both(document, {"number": "F0000-999999", "node": seeded[0]["payments"][0]["id"]})
    await both(document, {"number": numbers[0], "node": seeded[2]["payments"][0]["id"]})


async def test_order_invoices_and_payments(both, seeded):
    body = await both(ORDERS)
    assert "errors" not in body, body
    by_number = {edge["node"]["number"]: edge["node"] for edge in body["data"]["orders"]["edges"]}
    assert sorted(len(order["invoices"]) for order in by_number.values()) == [0, 0, 1, 2, 2]


async def test_every_scope_combination(both, seeded, db):
    document = """query($orderId: ID!) {
      order(id: $orderId) { number invoices @include(if: true) { number order { number } } payments { status } }
    }"""
    simple = """query($orderId: ID!) { order(id: $orderId) { number invoices { number corrects { number } } payments { status } } }"""
    nested_order = "{ invoices(first: 5) { edges { node { number order { number } } } } }"
    plain = "{ invoices(first: 5) { edges { node { number corrects { number } } } } }"
    variables = {"orderId": seeded[0]["id"]}
    for scopes in ((), ("orders:read",), ("invoices:read",), ("payments:read",), ("orders:read", "invoices:read"),
                   ("orders:read", "payments:read"), ("invoices:read", "payments:read"), ("orders:read", "invoices:read", "payments:read")):
        token = await make_key(db, *scopes) if scopes else None
        everything = {"orders:read", "invoices:read", "payments:read"} <= set(scopes)
        body = await both(simple, variables, token=token, planned=everything)
        if not everything:
            assert body["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "UNAUTHENTICATED"), body
        await both(document, variables, token=token, planned=everything)
        await both(nested_order, token=token, planned={"orders:read", "invoices:read"} <= set(scopes))
        await both(plain, token=token, planned="invoices:read" in scopes)


async def test_invalid_arguments_fall_back(both, seeded):
    await both("{ invoices(first: 101) { totalCount } }", planned=False)
    await both("{ invoices(first: -1) { totalCount } }", planned=False)
    await both('{ invoices(after: "garbage") { totalCount } }', planned=False)
    await both('{ invoices(after: "WyJ4Il0=") { totalCount } }', planned=False)  # ["x"]: one value of two
    await both('{ invoices(orderId: "nope") { totalCount } }', planned=False)
    await both('{ invoices(orderId: "U2hpcG1lbnQ6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw") { totalCount } }', planned=False)

