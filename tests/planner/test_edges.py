"""Issue 15: hand-written cases for every edge the issue names, each answered identically with the planner off and on.

Each test also checks that its case really reaches the edge in the data (a null is null, a second page exists,
an error is an error), so a seed change cannot silently empty a case.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import pytest_asyncio

from tests.planner.compare import Pair

ORDER_FIELDS = """id number status paymentStatus channel email placedAt updatedAt estimatedDeliveryDate
  lines { id sku productName quantity taxRate quantityShipped quantityReturned customization unitPrice { amount currency } total { amount currency } }
  shippingAddress { name line1 line2 city postalCode region country phone } billingAddress { name line1 line2 city postalCode region country phone }
  subtotal { amount currency } taxTotal { amount currency } shippingTotal { amount currency } total { amount currency }"""
FULL_ORDER = ORDER_FIELDS + """
  events(first: 50) { edges { cursor node { type status previousStatus occurredAt actor cursor data } }
                      pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
  shipments { id carrier trackingNumber trackingUrl status shippedAt estimatedDeliveryDate deliveredAt packingSlipUrl
              warehouse { id code name channels } events { status occurredAt location description } order { id number } }
  invoices { id number series kind issuedAt orderNumber reason pdfUrl htmlUrl subtotal { amount currency } taxTotal { amount } total { amount }
             taxBreakdown { rate base { amount currency } tax { amount currency } }
             lines { sku description quantity taxRate unitPrice { amount } total { amount } }
             corrects { id number } order { id } }
  payments { id method status reference createdAt expiresAt amount { amount currency } capturedAmount { amount } refundedAmount { amount } }
  returns { id number status resolution reason requestedBy decisionNote createdAt decidedAt receivedAt value { amount } refundedAmount { amount }
            priceDifference { amount } lines { id orderLineId sku productName quantity reason inspection inspectionNote restockWarehouse { code } }
            order { number } replacementOrder { number status } }
  inquiries { id number subject status openedBy createdAt updatedAt messages { id authorType body createdAt author } order { number } }"""
# The order graph's core (what the planner compiles first): a selection with nothing else is planned as a whole.
CORE_ORDER = ORDER_FIELDS + """
  events(first: 50) { edges { cursor node { type status previousStatus occurredAt actor cursor data } }
                      pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
  shipments { id carrier trackingNumber trackingUrl status shippedAt estimatedDeliveryDate deliveredAt packingSlipUrl
              warehouse { id code name channels } events { status occurredAt location description } order { id number status } }"""
EMAILS = ("puig@example.com", "partial@example.com", "two@example.com", "returns@example.com", "full@example.com", "exchange@example.com",
          "transfer@example.com", "unpaid@example.com", "held@example.com", "maker@example.com", "cancel@example.com")


def gid(kind: str, raw: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{raw}".encode()).decode().rstrip("=")


@pytest_asyncio.fixture(scope="module")
async def known(pair: Pair) -> dict[str, Any]:
    """The seeded orders of tests/planner/seed.py by email (the first placed: an exchange's replacement comes later), in full."""
    out: dict[str, Any] = {}
    for email in EMAILS:
        body = await pair.same("query($e: String) { orders(first: 1, filter: {email: $e}, sort: {field: PLACED_AT, direction: ASC}) "
                               "{ edges { node { " + FULL_ORDER + " } } } }", {"e": email})
        out[email] = body["data"]["orders"]["edges"][0]["node"]
    return out


async def test_every_order_in_full_on_one_page_and_one_by_one(pair: Pair) -> None:
    # Five at a time: a page of full orders costs about 6,500 each (the default maximum, 50,000, is kept).
    orders: list[dict[str, Any]] = []
    after = None
    while True:
        body = await pair.same("query($after: String) { orders(first: 5, after: $after) { totalCount pageInfo { hasNextPage endCursor } "
                               "edges { cursor node { " + FULL_ORDER + " } } } }", {"after": after})
        assert body.get("data"), body
        orders += [e["node"] for e in body["data"]["orders"]["edges"]]
        if not body["data"]["orders"]["pageInfo"]["hasNextPage"]:
            break
        after = body["data"]["orders"]["pageInfo"]["endCursor"]
    assert len(orders) == body["data"]["orders"]["totalCount"] > 40
    planned = pair.planned
    await pair.same("{ orders(first: 7) { totalCount edges { cursor node { " + CORE_ORDER + " } } } }")
    for order in orders:
        await pair.same("query($id: ID!) { order(id: $id) { " + CORE_ORDER + " } node(id: $id) { ... on Order { " + CORE_ORDER + " } } }",
                        {"id": order["id"]})
        await pair.same("query($n: String) { order(number: $n) { " + CORE_ORDER + " } }", {"n": order["number"]})
    assert pair.planned > planned or not pair.planner  # the core selection is answered by the planner
    assert {o["status"] for o in orders} == {"PENDING", "CONFIRMED", "ON_HOLD", "PROCESSING", "PARTIALLY_SHIPPED", "SHIPPED", "DELIVERED",
                                             "PARTIALLY_RETURNED", "RETURNED", "CANCELLED"}
    assert {o["channel"] for o in orders} == {"WEB", "MOBILE", "PHONE", "MARKETPLACE", "STORE"}
    for order in orders:
        await pair.same("query($id: ID!) { order(id: $id) { " + FULL_ORDER + " } }", {"id": order["id"]})
        await pair.same("query($n: String) { order(number: $n) { id number status } }", {"n": order["number"]})


async def test_global_ids_and_node_on_every_type(pair: Pair, known: dict[str, Any]) -> None:
    two = known["two@example.com"]
    ids = {"Order": two["id"], "Shipment": two["shipments"][0]["id"], "Invoice": two["invoices"][0]["id"], "Payment": two["payments"][0]["id"],
           "Warehouse": two["shipments"][0]["warehouse"]["id"], "Inquiry": two["inquiries"][0]["id"],
           "Return": known["returns@example.com"]["returns"][0]["id"]}
    products = await pair.same("{ products(first: 1) { edges { node { id stockLevels { id } } } } }")
    ids["Product"] = products["data"]["products"]["edges"][0]["node"]["id"]
    ids["StockLevel"] = products["data"]["products"]["edges"][0]["node"]["stockLevels"][0]["id"]
    every = """... on Node { id } __typename
      ... on Order { number status total { amount } lines { sku } }
      ... on Shipment { shipmentStatus: status carrier events { status occurredAt } order { number } warehouse { code } }
      ... on Invoice { number kind total { amount } order { number } }
      ... on Payment { method paymentStatus: status amount { amount } }
      ... on Warehouse { code channels }
      ... on Inquiry { subject inquiryStatus: status messages { body } }
      ... on Return { number returnStatus: status lines { sku } }
      ... on Product { sku price { amount } stockLevels { available } }
      ... on StockLevel { sku onHand reserved available warehouse { code } }"""
    for kind, node_id in ids.items():
        body = await pair.same("query($id: ID!) { node(id: $id) { " + every + " } }", {"id": node_id})
        assert body.get("data"), body
        assert body["data"]["node"]["__typename"] == kind
    # Unknown, malformed, unknown type, wrong type for the field, an ID of a type node() does not know.
    zero = "00000000-0000-0000-0000-000000000000"
    for odd in ("", "nope", gid("Order", zero), gid("Order", "not-a-uuid"), gid("Nope", zero), gid("OrderLine", zero), "T3JkZXI6", "====",
                two["lines"][0]["id"], ids["Order"] + "="):
        await pair.same("query($id: ID!) { node(id: $id) { id __typename ... on Order { number } } }", {"id": odd})
        await pair.same("query($id: ID) { order(id: $id) { id number } }", {"id": odd})
    for other in ("Shipment", "Invoice", "Warehouse"):
        body = await pair.same("query($id: ID) { order(id: $id) { id number } }", {"id": ids[other]})
        await pair.same("query($id: ID!) { shipments(orderId: $id) { totalCount edges { node { id } } } }", {"id": ids[other]})
        await pair.same("query($id: ID!) { invoices(orderId: $id) { totalCount edges { node { id } } } }", {"id": ids[other]})
    # Both arguments: they must agree; neither; a number with blanks around it.
    await pair.same("query($id: ID, $n: String) { order(id: $id, number: $n) { number } }", {"id": ids["Order"], "n": two["number"]})
    body = await pair.same("query($id: ID, $n: String) { order(id: $id, number: $n) { number } }", {"id": ids["Order"], "n": "SO-000001"})
    assert body["data"]["order"] is None
    await pair.same("{ order { number } }")
    await pair.same("query($n: String) { order(number: $n) { number } }", {"n": f"  {two['number']} "})
    await pair.same("query($n: String) { order(number: $n) { number } }", {"n": two["number"].lower()})


async def test_decimals_enums_dates_and_times(pair: Pair, known: dict[str, Any]) -> None:
    body = await pair.same("""{ invoices(first: 100) { edges { node { number kind series issuedAt reason
        subtotal { amount currency } taxTotal { amount } total { amount } taxBreakdown { rate base { amount } tax { amount } }
        lines { sku description quantity taxRate unitPrice { amount } total { amount } } corrects { number kind } } } } }""")
    invoices = [e["node"] for e in body["data"]["invoices"]["edges"]]
    assert {i["kind"] for i in invoices} == {"INVOICE", "CREDIT_NOTE"}
    assert any(i["total"]["amount"].startswith("-") for i in invoices)
    assert any(line["sku"] is None for i in invoices for line in i["lines"])  # a credit note line that credits an amount
    await pair.same("{ products(first: 100) { edges { node { sku name taxRate madeToOrder leadTimeDays price { amount currency } } } } }")
    two = known["two@example.com"]
    times = [event["occurredAt"] for shipment in two["shipments"] for event in shipment["events"]]
    assert any("." in t for t in times) and any("." not in t for t in times), times  # microseconds non-zero and zero
    for email in EMAILS:
        await pair.same("""query($e: String) { orders(filter: {email: $e}) { edges { node { placedAt updatedAt estimatedDeliveryDate
            events(first: 100) { edges { node { occurredAt } } } lines { taxRate unitPrice { amount } total { amount } customization }
            subtotal { amount } taxTotal { amount } shippingTotal { amount } total { amount currency }
            shipments { shippedAt deliveredAt estimatedDeliveryDate status events { status occurredAt location description } } } } } }""", {"e": email})
        await pair.same("""query($e: String) { orders(filter: {email: $e}) { edges { node { placedAt updatedAt estimatedDeliveryDate
            shipments { shippedAt deliveredAt estimatedDeliveryDate status events { status occurredAt location description } }
            payments { createdAt expiresAt method status } returns { createdAt decidedAt receivedAt status resolution requestedBy
            lines { inspection } } inquiries { createdAt updatedAt status openedBy messages { createdAt authorType } } } } } }""", {"e": email})


async def test_nulls(pair: Pair, known: dict[str, Any]) -> None:
    unpaid, two, maker = known["unpaid@example.com"], known["two@example.com"], known["maker@example.com"]
    assert unpaid["estimatedDeliveryDate"] is None and unpaid["billingAddress"] is None and unpaid["shipments"] == []
    assert unpaid["shippingAddress"]["line2"] is None or known["puig@example.com"]["shippingAddress"]["line2"] is not None
    assert two["billingAddress"] is not None and two["billingAddress"]["line2"] is None
    assert any(line["customization"] is None and line["sku"] == "PRINT-A3" for line in two["lines"])  # JSON null customization
    assert any(isinstance(line["customization"], dict) and "size" in line["customization"] for line in maker["lines"])
    for order in (unpaid, two, maker, known["cancel@example.com"], known["held@example.com"]):
        await pair.same("query($id: ID!) { node(id: $id) { ... on Order { estimatedDeliveryDate billingAddress { name line2 region phone } "
                        "shippingAddress { line2 region phone } shipments { trackingUrl shippedAt deliveredAt packingSlipUrl } "
                        "lines { customization } events(first: 100) { edges { node { previousStatus actor data } } } } } }", {"id": order["id"]})
        await pair.same("query($id: ID!) { node(id: $id) { ... on Order { estimatedDeliveryDate billingAddress { name line2 region phone } "
                        "shippingAddress { line2 region phone } shipments { trackingUrl shippedAt deliveredAt packingSlipUrl } "
                        "lines { customization } returns { decisionNote decidedAt receivedAt priceDifference { amount } replacementOrder { number } } "
                        "events(first: 100) { edges { node { previousStatus actor data } } } } } }", {"id": order["id"]})


async def test_ordering_of_lists_and_events(pair: Pair, known: dict[str, Any]) -> None:
    for email in EMAILS:
        order = known[email]
        await pair.same("""query($id: ID!) { order(id: $id) { lines { sku quantity } events(first: 100) { edges { cursor node { type status } } }
            shipments { trackingNumber events { status occurredAt } } } }""", {"id": order["id"]})
        await pair.same("""query($id: ID!) { order(id: $id) { lines { sku quantity } events(first: 100) { edges { cursor node { type status } } }
            shipments { trackingNumber events { status occurredAt } } invoices { number } payments { reference amount { amount } }
            returns { number } inquiries { number messages { body } } } }""", {"id": order["id"]})
    for query in ("{ shipments(first: 100) { edges { cursor node { id trackingNumber } } } }", "{ invoices(first: 100) { edges { cursor node { number } } } }",
                  "{ products(first: 100) { edges { cursor node { sku stockLevels { warehouse { code } available } } } } }",
                  "{ stockLevels(first: 100) { edges { cursor node { sku warehouse { code } } } } }",
                  "{ returns(first: 100) { edges { cursor node { number } } } }"):
        await pair.same(query)


async def test_aliases(pair: Pair, known: dict[str, Any]) -> None:
    two = known["two@example.com"]
    await pair.same("""query($id: ID!) {
      first: orders(first: 2) { edges { node { number } } }
      second: orders(first: 3, sort: {field: NUMBER, direction: ASC}) { count: totalCount edges { c: cursor n: node { id: number number: id } } }
      mine: order(id: $id) { a: total { amount } b: total { currency amount } lines { s: sku sku quantity q: quantity }
                             e1: events(first: 1) { edges { node { type } } }
                             e2: events(first: 2) { edges { node { type } } } }
      order(id: $id) { number }
      __typename t: __typename
    }""", {"id": two["id"]})


async def test_fragments_named_inline_and_on_interfaces(pair: Pair, known: dict[str, Any]) -> None:
    two = known["two@example.com"]
    await pair.same("""query($id: ID!) {
      node(id: $id) { ...N ... on Order { ...O lines { sku } } ... on Shipment { status } }
      order(id: $id) { ...O lines { quantity } ... { lines { productName } } ... on Order { lines { sku total { amount } } } ...on Node { id } }
      orders(first: 3) { edges { node { ...O ... on Node { ...N } } } }
    }
    fragment N on Node { id __typename ... on Order { number } }
    fragment O on Order { number status total { amount } lines { sku ...L } shipments { ...S } }
    fragment L on OrderLine { taxRate unitPrice { ...M } }
    fragment M on Money { amount currency }
    fragment S on Shipment { id ... on Node { id } warehouse { ... on Node { id } ... on Warehouse { code } } }
    """, {"id": two["id"]})
    await pair.same("""query($id: ID!) { node(id: $id) { ... on Shipment { id status order { number } } } }""", {"id": two["shipments"][0]["id"]})


@pytest.mark.parametrize("flags", [(True, True), (True, False), (False, True), (False, False)])
async def test_include_and_skip_with_variables(pair: Pair, known: dict[str, Any], flags: tuple[bool, bool]) -> None:
    include, skip = flags
    body = await pair.same("""query($i: Boolean!, $s: Boolean!, $id: ID!) {
      orders(first: 2) @include(if: $i) { totalCount @skip(if: $s) edges { node { number @include(if: $i) @skip(if: $s) lines @skip(if: $s) { sku } } } }
      order(id: $id) { ... @include(if: $i) { number } ...F @skip(if: $s) ... on Order @include(if: $s) { status }
                        total @include(if: true) @skip(if: false) { amount } events(first: 1) @skip(if: $i) { edges { cursor } } }
    }
    fragment F on Order { email shipments { id @include(if: $s) status } }""", {"i": include, "s": skip, "id": known["two@example.com"]["id"]})
    assert ("orders" in body["data"]) == include


async def test_variables_defaults_nulls_and_the_same_document_with_other_values(pair: Pair, known: dict[str, Any]) -> None:
    document = """query($first: Int = 2, $after: String, $filter: OrderFilter, $sort: OrderSort = {field: TOTAL, direction: DESC}, $ev: Int) {
      orders(first: $first, after: $after, filter: $filter, sort: $sort) { totalCount edges { cursor node { number total { amount }
        events(first: $ev) { edges { node { type } } pageInfo { hasNextPage } } } } pageInfo { hasNextPage endCursor } } }"""
    for variables in ({}, {"first": 1}, {"first": 5, "ev": 1}, {"first": None}, {"sort": None}, {"filter": None},
                      {"filter": {"status": ["DELIVERED", "SHIPPED"]}, "ev": 0}, {"filter": {"status": []}},
                      {"first": 3, "sort": {"field": "NUMBER", "direction": "ASC"}},
                      {"filter": {"channel": ["STORE"], "email": None}}, {"first": 0}, {"first": 100}, {"ev": 100}):
        await pair.same(document, variables)
    # Variables inside input objects and lists.
    await pair.same("""query($s: OrderStatus!, $c: [SalesChannel!], $d: SortDirection!) { orders(filter: {status: [$s, CANCELLED], channel: $c},
      sort: {field: PLACED_AT, direction: $d}) { edges { node { number status channel } } } }""", {"s": "PENDING", "c": ["WEB", "MOBILE"], "d": "ASC"})
    # Operation name selection among several operations.
    two = known["two@example.com"]
    text = "query A($id: ID!) { order(id: $id) { number } } query B { orders(first: 1) { totalCount } }"
    for name in ("A", "B"):
        response = [await pair._post(client, _request(text, {"id": two["id"]}, name)) for client in (pair.off, pair.on)]
        assert response[0] == response[1], (response[0].text, response[1].text)


def _request(query: str, variables: dict[str, Any], operation: str) -> Any:
    from tests.planner.compare import Request

    return Request(query, variables, "admin", operation)


async def test_filters(pair: Pair, pools: Any) -> None:
    times = pools.times
    middle = times[len(times) // 2]
    cases: list[dict[str, Any]] = [
        {"status": ["PENDING"]}, {"status": ["DELIVERED", "PARTIALLY_RETURNED", "RETURNED"]}, {"status": []}, {"channel": ["MARKETPLACE"]},
        {"channel": ["WEB", "STORE"], "status": ["CONFIRMED"]}, {"email": "customer3@example.com"}, {"email": "CUSTOMER3@example.com"},
        {"email": " customer3@example.com "}, {"email": "nobody@example.com"}, {"placedAfter": middle}, {"placedBefore": middle},
        {"placedAfter": times[0], "placedBefore": times[-1]}, {"placedAfter": "2099-01-01T00:00:00Z"}, {"placedBefore": "2000-01-01T00:00:00+02:00"},
        {"deliveryAtRisk": True}, {"deliveryAtRisk": False}, {"updatedAfter": middle}, {"updatedAfter": times[-1]},
        {"status": None, "channel": None, "email": None}, {},
    ]
    for filter_ in cases:
        for sort in (None, {"field": "TOTAL", "direction": "ASC"}):
            body = await pair.same("""query($f: OrderFilter, $s: OrderSort) { orders(first: 100, filter: $f, sort: $s) { totalCount
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { number status channel email placedAt } } } }""",
                                   {"f": filter_, "s": sort})
            assert "errors" in body or body["data"]["orders"]["totalCount"] >= len(body["data"]["orders"]["edges"])
    await pair.same("""{ returns(first: 100, filter: {status: [RECEIVED, REJECTED]}) { totalCount edges { node { number status } } } }""")
    await pair.same("""{ stockLevels(first: 100, availableBelow: 20) { totalCount edges { node { sku available warehouse { code } } } } }""")
    await pair.same("""{ stockLevels(first: 100, sku: "LAMP-BCN", warehouseCode: "BCN") { totalCount edges { node { sku onHand reserved } } } }""")
    for search in ("t-shirt", "TSHIRT", "%", "_", "", "Mug"):
        await pair.same("query($q: String) { products(first: 100, search: $q) { totalCount edges { node { sku name } } } }", {"q": search})


async def walk(pair: Pair, field: str, args: str, variables: dict[str, Any], size: int, selection: str = "id") -> int:
    """Every page of a list, `size` at a time, each page compared; returns how many rows the walk saw."""
    document = f"""query($first: Int, $after: String{variables.pop('$decl', '')}) {{ {field}(first: $first, after: $after{args}) {{ totalCount
        pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} edges {{ cursor node {{ {selection} }} }} }} }}"""
    after, seen = None, 0
    while True:
        body = await pair.same(document, {**variables, "first": size, "after": after})
        page = body["data"][field]
        seen += len(page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            assert seen == page["totalCount"], (field, args, seen, page["totalCount"])
            return seen
        after = page["pageInfo"]["endCursor"]


async def test_keyset_pagination_across_pages(pair: Pair, known: dict[str, Any]) -> None:
    for field in ("PLACED_AT", "NUMBER", "TOTAL"):
        for direction in ("ASC", "DESC"):
            assert await walk(pair, "orders", ", sort: $sort", {"$decl": ", $sort: OrderSort", "sort": {"field": field, "direction": direction}}, 7,
                              "number total { amount }") > 40
    await walk(pair, "orders", ", filter: $f", {"$decl": ", $f: OrderFilter", "f": {"status": ["CONFIRMED", "PENDING", "ON_HOLD"]}}, 3, "number status")
    for field, size in (("shipments", 2), ("invoices", 4), ("products", 5), ("stockLevels", 9), ("returns", 1)):
        await walk(pair, field, "", {}, size)
    await walk(pair, "shipments", ", orderId: $o", {"$decl": ", $o: ID", "o": known["two@example.com"]["id"]}, 1, "id trackingNumber")
    await walk(pair, "invoices", ", orderId: $o", {"$decl": ", $o: ID", "o": known["returns@example.com"]["id"]}, 1, "number kind")
    # Order.events across pages.
    order = known["returns@example.com"]
    after = None
    while True:
        body = await pair.same("""query($id: ID!, $after: String) { order(id: $id) { events(first: 2, after: $after) { edges { cursor node { type cursor } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }""", {"id": order["id"], "after": after})
        info = body["data"]["order"]["events"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]


async def test_total_count_and_page_info(pair: Pair) -> None:
    for first in (0, 1, 41, 100, None):
        await pair.same("""query($first: Int) { orders(first: $first) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }""",
                        {"first": first})
        await pair.same("""query($first: Int) { orders(first: $first) { pageInfo { endCursor } edges { cursor } } products(first: $first) { totalCount }
            shipments(first: $first) { totalCount pageInfo { hasNextPage } } invoices(first: $first) { totalCount } stockLevels(first: $first) { totalCount }
            returns(first: $first) { totalCount pageInfo { startCursor } } }""", {"first": first})


async def test_errors(pair: Pair, known: dict[str, Any], pools: Any) -> None:
    two = known["two@example.com"]
    documents: list[tuple[str, dict[str, Any]]] = [
        ("{ orders(after: \"bad\") { totalCount } }", {}),
        ("{ orders(first: 101) { totalCount } }", {}), ("{ orders(first: -1) { totalCount } }", {}), ("{ products(first: 1000) { totalCount } }", {}),
        ("query($id: ID!) { order(id: $id) { number events(first: 501) { edges { cursor } } } }", {"id": two["id"]}),  # a nested error: partial data
        ("{ orders(first: 3) { edges { node { number events(first: -1) { edges { cursor } } } } } }", {}),
        ("query($id: ID!) { order(id: $id) { number events(after: \"x\") { edges { cursor } } } }", {"id": two["id"]}),
        ("{ shipments(after: \"!!!\") { totalCount } invoices(first: 5) { totalCount } }", {}),  # one root fails, the other answers
        ("{ orders(first: 100) { edges { node { lines { sku } events(first: 500) { edges { node { data } } } shipments { events { status } } } } } }",
         {}),  # over the maximum cost
        ("{ orders { edges { node { nope } } } }", {}),  # validation
        ("{ orders(first: \"x\") { totalCount } }", {}), ("query($f: Int!) { orders(first: $f) { totalCount } }", {}),  # missing variable
        ("query($f: Int!) { orders(first: $f) { totalCount } }", {"f": "ten"}), ("{ orders { ", {}),  # syntax
        ("query($d: OrderFilter) { orders(filter: $d) { totalCount } }", {"d": {"placedAfter": "yesterday"}}),
        ("query($d: OrderFilter) { orders(filter: $d) { totalCount } }", {"d": {"status": ["LOST"]}}),
    ]
    for document, variables in documents:
        body = await pair.same(document, variables)
        assert body.get("errors"), (document, body)
    # Unknown objects are nulls, not errors.
    body = await pair.same("{ invoice(number: \"F2026-999999\") { number } trackOrder(number: \"SO-1\", email: \"x@example.com\") { number } "
                           "order(number: \"SO-999999\") { number } }")
    assert body["data"] == {"invoice": None, "trackOrder": None, "order": None}
    # A cursor of another list with the same key shape (time, id) is read as a position in this one: no error, but the same rows.
    for name in ("invoices", "shipments", "returns", "orders:PLACED_AT:ASC", "events"):
        await pair.same("query($a: String) { orders(first: 3, after: $a) { edges { cursor node { number } } } }", {"a": pools.cursors[name][0]})
    for odd in ("99999999999999999999", "-1", "0", " 5", "1e3", "00012"):  # events cursors are plain sequence numbers
        await pair.same("query($id: ID!, $a: String) { order(id: $id) { events(first: 3, after: $a) { edges { cursor } pageInfo { hasNextPage } } } }",
                        {"id": two["id"], "a": odd})
    for name in ("orders:NUMBER:ASC", "orders:TOTAL:DESC", "orders"):  # a cursor of another sort
        await pair.same("query($a: String) { orders(first: 2, after: $a, sort: {field: TOTAL, direction: ASC}) { edges { node { number } } } }",
                        {"a": pools.cursors[name][3]})
    await pair.same("mutation { holdOrder(input: {orderId: \"x\"}) { order { id } } } query Q { orders { totalCount } }")


async def test_access_refusals_on_nested_fields(pair: Pair, known: dict[str, Any]) -> None:
    two = known["two@example.com"]
    nested = """query($id: ID!, $n: String!) {
      invoice(number: $n) { number order { number } corrects { number } }
      node(id: $id) { ... on Order { number invoices { number } shipments { id order { number } } payments { id } returns { id } inquiries { id } } }
      order(id: $id) { number shipments { id } returns { id order { number } replacementOrder { number } } }
      shipments(first: 2) { edges { node { id order { number } warehouse { code } } } }
      products(first: 2) { edges { node { sku stockLevels { available warehouse { code } } } } }
    }"""
    variables = {"id": two["id"], "n": two["invoices"][0]["number"]}
    for key in ("orders:read", "invoices:read", "shipments:read", "stock:read", "returns:read", "payments:read", "orders:write", "public", "admin"):
        body = await pair.same(nested, variables, key=key)
        assert key == "admin" or body.get("errors"), key
    exchange = known["exchange@example.com"]
    returns = """{ returns(first: 10) { edges { node { number order { number } replacementOrder { number } lines { restockWarehouse { code } } } } } }"""
    for key in ("returns:read", "admin", "orders:read"):
        await pair.same(returns, key=key)
    assert exchange["returns"][0]["replacementOrder"] is not None


async def test_public_tracking(pair: Pair, known: dict[str, Any]) -> None:
    track = """query($n: String!, $e: String!) { trackOrder(number: $n, email: $e) { number status placedAt estimatedDeliveryDate
      events { type status previousStatus occurredAt actor cursor data }
      shipments { id carrier trackingNumber trackingUrl status shippedAt estimatedDeliveryDate deliveredAt packingSlipUrl
                  warehouse { code name } events { status occurredAt location description } order { number } } } }"""
    for email in EMAILS:
        order = known[email]
        for key in ("public", "admin", "orders:read", "stock:read"):
            await pair.same(track, {"n": order["number"], "e": order["email"]}, key=key)
        await pair.same(track, {"n": order["number"], "e": order["email"].upper()}, key="public")
        await pair.same(track, {"n": order["number"], "e": "someone@example.com"}, key="public")
        await pair.same(track, {"n": f" {order['number']}", "e": order["email"]}, key="public")


async def test_compiled_and_ordinary_roots_in_one_document(pair: Pair, known: dict[str, Any]) -> None:
    two = known["two@example.com"]
    await pair.same("""query($id: ID!, $n: String!, $e: String!) {
      warehouses { code name channels } carriers { code name trackingUrlTemplate } orderStats { totalOrders countByStatus countByChannel }
      orders(first: 2) { edges { node { number } } } order(id: $id) { number } node(id: $id) { id }
      shipments(first: 1) { totalCount } invoices(first: 1) { totalCount } invoice(number: "F2026-000001") { number }
      products(first: 1) { totalCount } stockLevels(first: 1) { totalCount } returns(first: 1) { totalCount }
      trackOrder(number: $n, email: $e) { number } inquiries(first: 2) { totalCount edges { node { subject } } }
      trackedReturns(number: $n, email: $e) { number } trackedInquiries(number: $n, email: $e) { subject }
    }""", {"id": two["id"], "n": two["number"], "e": two["email"]})
