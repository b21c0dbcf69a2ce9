"""Issue 15: every access scope (and no key) x every root field the planner compiles, answered identically both ways.

One representative document per root field, reaching across types (an invoice's order, an order's invoices,
payments and returns, a shipment's order, a product's stock levels), so the field-level policies of
resolvers/access.py are exercised under each caller too; node(id:) is asked for an object of every type.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.service import SCOPES
from tests.planner.compare import Pair, Request

CALLERS = ("public", *sorted(SCOPES))
ORDER = """id number status paymentStatus channel email placedAt estimatedDeliveryDate total { amount currency }
  lines { sku quantity customization } events(first: 3) { edges { cursor node { type status occurredAt } } pageInfo { hasNextPage endCursor } }
  shipments { id status trackingNumber packingSlipUrl warehouse { code } events { status occurredAt } order { number } }
  invoices { id number kind order { number } } payments { id method status amount { amount } }
  returns { id number status order { number } replacementOrder { number } } inquiries { id subject order { number } }
  billingAddress { name } shippingAddress { city }"""
SHIPMENT = ("id carrier status trackingNumber trackingUrl shippedAt deliveredAt packingSlipUrl warehouse { id code } "
            "events { status occurredAt } order { number }")
INVOICE = "id number kind total { amount } taxBreakdown { rate tax { amount } } lines { sku quantity } corrects { number } order { number status }"
PRODUCT = "id sku name price { amount } taxRate madeToOrder stockLevels { id available warehouse { code } }"
STOCK = "id sku onHand reserved available warehouse { id code channels }"
RETURN = "id number status resolution value { amount } lines { sku restockWarehouse { code } } order { number } replacementOrder { number }"
PAGE = "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { %s } }"
DOCUMENTS = {
    "orders": ("query { orders(first: 4, sort: {field: TOTAL, direction: DESC}) { " + PAGE % ORDER + " } }", ()),
    "order": ("query($id: ID, $n: String) { byId: order(id: $id) { " + ORDER + " } byNumber: order(number: $n) { number status } }", ("id", "n")),
    "node": ("query($id: ID!) { node(id: $id) { id __typename ... on Order { " + ORDER + " } } }", ("id",)),
    "shipments": ("query { shipments(first: 4) { " + PAGE % SHIPMENT + " } }", ()),
    "invoices": ("query { invoices(first: 4) { " + PAGE % INVOICE + " } }", ()),
    "invoice": ("query($inv: String!) { invoice(number: $inv) { " + INVOICE + " } }", ("inv",)),
    "products": ("query { products(first: 4) { " + PAGE % PRODUCT + " } }", ()),
    "stockLevels": ("query { stockLevels(first: 4) { " + PAGE % STOCK + " } }", ()),
    "returns": ("query { returns(first: 4) { " + PAGE % RETURN + " } }", ()),
    "trackOrder": ("query($n: String!, $e: String!) { trackOrder(number: $n, email: $e) { number status placedAt estimatedDeliveryDate "
                   "events { type status occurredAt cursor } shipments { " + SHIPMENT + " } } }", ("n", "e")),
}
NODE_EVERY = """query($id: ID!) { node(id: $id) { id __typename
  ... on Order { number invoices { number } payments { id } returns { id } shipments { id } inquiries { id } }
  ... on Shipment { shipmentStatus: status order { number } warehouse { code } }
  ... on Invoice { number order { number } corrects { number } }
  ... on Payment { method amount { amount } }
  ... on Warehouse { code }
  ... on Inquiry { subject inquiryOrder: order { number } }
  ... on Return { number returnOrder: order { number } replacementOrder { number } }
  ... on Product { sku stockLevels { available } }
  ... on StockLevel { sku warehouse { code } } } }"""


async def _sample(pair: Pair) -> dict[str, Any]:
    body = await pair.same("""{ orders(first: 1, filter: {email: "two@example.com"}) { edges { node { id number email invoices { number } } } } }""")
    order = body["data"]["orders"]["edges"][0]["node"]
    return {"id": order["id"], "n": order["number"], "e": order["email"], "inv": order["invoices"][0]["number"]}


@pytest.mark.parametrize("root", list(DOCUMENTS))
async def test_every_caller_on_every_root_field(pair: Pair, root: str) -> None:
    sample = await _sample(pair)
    document, wanted = DOCUMENTS[root]
    variables = {name: sample[name] for name in wanted}
    outcomes = await pair.run_all([Request(document, variables, caller) for caller in CALLERS])
    failures = [o.report() for o in outcomes if o.diff is not None]
    assert not failures, "\n\n".join(failures)
    answered = {o.request.key for o in outcomes if not o.off.json().get("errors")}
    assert "admin" in answered, outcomes[CALLERS.index("admin")].off.text
    assert root == "trackOrder" or "public" not in answered


async def test_node_of_every_type_for_every_caller(pair: Pair, pools: Any) -> None:
    ids = [ids[0] for kind, ids in sorted(pools.ids.items()) if ids]
    assert len(ids) >= 9, sorted(pools.ids)
    outcomes = await pair.run_all([Request(NODE_EVERY, {"id": node_id}, caller) for node_id in ids for caller in CALLERS])
    failures = [o.report() for o in outcomes if o.diff is not None]
    assert not failures, f"{len(failures)} of {len(outcomes)} differ:\n\n" + "\n\n".join(failures[:10])
    for outcome in outcomes:
        if outcome.request.key == "admin":
            assert not outcome.off.json().get("errors"), outcome.off.text
