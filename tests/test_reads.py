"""Reading: orders connection (filters, sort, keyset cursors), node, stats, products, stock levels, N+1 guard."""

from __future__ import annotations

from sqlalchemy import update

from models import Order
from resolvers.ids import to_global_id
from tests import factories

ORDERS = """
query Orders($first: Int, $after: String, $filter: OrderFilter, $sort: OrderSort) {
  orders(first: $first, after: $after, filter: $filter, sort: $sort) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id number status channel total { amount } } }
  }
}
"""
NESTED = """
query Nested($first: Int) {
  orders(first: $first) {
    edges { node { number lines { sku quantity total { amount } } events { edges { node { type status cursor } } } shipments { id }
                   payments { status } invoices { number } } }
  }
}
"""


HUB_STATEMENTS = ("order_event_horizon", "FROM order_events JOIN orders")


async def many_orders(db, n: int) -> list:
    await factories.basic_catalog(db)
    await factories.stock(db, "A", "MAD", 1000)
    placed = []
    for i in range(n):
        channel = "WEB" if i % 2 == 0 else "STORE"
        placed.append(await factories.place(db, [("A", 1 + i % 3)], channel=channel, email=f"c{i % 3}@example.com"))
    return placed


async def test_orders_keyset_pages_cover_everything_once_newest_first(gql, db):
    placed = await many_orders(db, 7)
    seen, after, pages = [], None, 0
    while True:
        body = await gql(ORDERS, {"first": 3, "after": after})
        connection = body["data"]["orders"]
        assert connection["totalCount"] == 7
        seen += [e["node"]["number"] for e in connection["edges"]]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
        assert connection["pageInfo"]["endCursor"] == connection["edges"][-1]["cursor"]
    assert pages == 3
    assert seen == [o.number for o in reversed(placed)]


async def test_orders_filters_and_sorts(gql, db):
    placed = await many_orders(db, 6)
    store = await gql(ORDERS, {"filter": {"channel": ["STORE"]}})
    assert {e["node"]["channel"] for e in store["data"]["orders"]["edges"]} == {"STORE"}
    assert store["data"]["orders"]["totalCount"] == 3
    by_email = await gql(ORDERS, {"filter": {"email": "C0@example.com"}})
    assert by_email["data"]["orders"]["totalCount"] == 2
    async with db.engine.begin() as conn:
        await conn.execute(update(Order).where(Order.id == placed[0].id).values(status="CANCELLED"))
    cancelled = await gql(ORDERS, {"filter": {"status": ["CANCELLED"]}})
    assert [e["node"]["number"] for e in cancelled["data"]["orders"]["edges"]] == [placed[0].number]
    by_number = await gql(ORDERS, {"sort": {"field": "NUMBER", "direction": "ASC"}, "first": 4})
    numbers = [e["node"]["number"] for e in by_number["data"]["orders"]["edges"]]
    assert numbers == sorted(o.number for o in placed)[:4]
    rest = await gql(ORDERS, {"sort": {"field": "NUMBER", "direction": "ASC"}, "after": by_number["data"]["orders"]["pageInfo"]["endCursor"]})
    assert [e["node"]["number"] for e in rest["data"]["orders"]["edges"]] == sorted(o.number for o in placed)[4:]
    by_total = await gql(ORDERS, {"sort": {"field": "TOTAL", "direction": "DESC"}, "first": 2})
    totals = [float(e["node"]["total"]["amount"]) for e in by_total["data"]["orders"]["edges"]]
    more = await gql(ORDERS, {"sort": {"field": "TOTAL", "direction": "DESC"}, "after": by_total["data"]["orders"]["pageInfo"]["endCursor"]})
    totals += [float(e["node"]["total"]["amount"]) for e in more["data"]["orders"]["edges"]]
    assert totals == sorted(totals, reverse=True) and len(totals) == 6
    window = await gql(ORDERS, {"filter": {"placedAfter": "2000-01-01T00:00:00Z", "placedBefore": "2001-01-01T00:00:00Z"}})
    assert window["data"]["orders"]["totalCount"] == 0


async def test_page_size_is_capped_and_bad_cursors_are_refused(gql, db):
    too_many = await gql(ORDERS, {"first": 101})
    assert too_many["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
    bad = await gql(ORDERS, {"after": "not-a-cursor"})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_nested_lists_cost_the_same_number_of_statements_at_any_page_size(gql, db):
    await many_orders(db, 50)
    await gql(NESTED, {"first": 1})  # the API key is looked up once, then served from the process's cache (issue 16)
    counts = {}
    for first in (5, 50):
        with db.count_statements() as counter:
            body = await gql(NESTED, {"first": first})
        assert "errors" not in body
        assert len(body["data"]["orders"]["edges"]) == first
        assert all(len(e["node"]["lines"]) == 1 and e["node"]["events"]["edges"] for e in body["data"]["orders"]["edges"])
        # the live hub's own reads (event fan-out, horizon check) run beside the request
        counts[first] = sum(1 for sql in counter.statements if not any(p in sql for p in HUB_STATEMENTS))
    # orders page + one batch each for lines, events, shipments, payments and invoices
    # (per-request DataLoaders: one statement per list, whatever the page size; constancy is the point)
    assert counts[5] == counts[50] <= 7, counts


async def test_order_by_id_and_number_and_node(gql, db):
    [order] = await many_orders(db, 1)
    gid = to_global_id("Order", order.id)
    by_id = await gql("query($id: ID) { order(id: $id) { number } }", {"id": gid})
    by_number = await gql("query($n: String) { order(number: $n) { id } }", {"n": order.number})
    node = await gql("query($id: ID!) { node(id: $id) { id ... on Order { number status } } }", {"id": gid})
    assert by_id["data"]["order"]["number"] == order.number
    assert by_number["data"]["order"]["id"] == gid
    assert node["data"]["node"] == {"id": gid, "number": order.number, "status": "PENDING"}
    missing = await gql("query($n: String) { order(number: $n) { id } }", {"n": "SO-000000"})
    assert missing["data"]["order"] is None
    junk = await gql('{ node(id: "junk") { id } }')
    assert junk["data"]["node"] is None


async def test_node_resolves_catalogue_objects(gql, db):
    await factories.basic_catalog(db)
    products = await gql('{ products(search: "a") { edges { node { id sku stockLevels { id available warehouse { id code } } } } } }')
    product = products["data"]["products"]["edges"][0]["node"]
    assert product["sku"] == "A"
    level = product["stockLevels"][0]
    for gid, typename in ((product["id"], "Product"), (level["id"], "StockLevel"), (level["warehouse"]["id"], "Warehouse")):
        body = await gql("query($id: ID!) { node(id: $id) { __typename id } }", {"id": gid})
        assert body["data"]["node"] == {"__typename": typename, "id": gid}


async def test_order_stats_counts_by_status(gql, db):
    placed = await many_orders(db, 5)
    async with db.engine.begin() as conn:
        await conn.execute(update(Order).where(Order.id == placed[0].id).values(status="CONFIRMED"))
    stats = await gql("{ orderStats { totalOrders countByStatus } }")
    counts = stats["data"]["orderStats"]["countByStatus"]
    assert stats["data"]["orderStats"]["totalOrders"] == 5
    assert {k: v for k, v in counts.items() if v} == {"PENDING": 4, "CONFIRMED": 1} and counts["SHIPPED"] == 0  # every status, 0 included
    web = await gql("{ orderStats(channel: STORE) { totalOrders } }")
    assert web["data"]["orderStats"]["totalOrders"] == 2


async def test_products_search_and_pages(gql, db):
    await factories.basic_catalog(db)
    first = await gql("{ products(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { sku price { amount } } } } }")
    connection = first["data"]["products"]
    assert connection["totalCount"] == 4 and connection["pageInfo"]["hasNextPage"]
    assert [e["node"]["sku"] for e in connection["edges"]] == ["A", "B"]
    rest = await gql("query($a: String) { products(after: $a) { edges { node { sku } } } }", {"a": connection["pageInfo"]["endCursor"]})
    assert [e["node"]["sku"] for e in rest["data"]["products"]["edges"]] == ["C", "MTO"]
    search = await gql('{ products(search: "mto") { edges { node { sku madeToOrder leadTimeDays } } } }')
    assert search["data"]["products"]["edges"] == [{"node": {"sku": "MTO", "madeToOrder": True, "leadTimeDays": 10}}]


async def test_stock_levels_filter_by_warehouse(gql, db):
    await factories.basic_catalog(db)
    body = await gql('{ stockLevels(warehouseCode: "BCN") { totalCount edges { node { sku onHand warehouse { code } } } } }')
    assert body["data"]["stockLevels"]["totalCount"] == 2
    assert {(e["node"]["sku"], e["node"]["warehouse"]["code"]) for e in body["data"]["stockLevels"]["edges"]} == {("A", "BCN"), ("C", "BCN")}
    page = await gql("{ stockLevels(first: 1) { pageInfo { endCursor } edges { node { sku } } } }")
    after = page["data"]["stockLevels"]["pageInfo"]["endCursor"]
    rest = await gql("query($a: String) { stockLevels(after: $a) { edges { node { sku } } } }", {"a": after})
    assert len(rest["data"]["stockLevels"]["edges"]) == 3


async def test_order_events_connection_pages_by_cursor(gql, db):
    [order] = await many_orders(db, 1)
    gid = to_global_id("Order", order.id)
    for action in ("confirmOrder", "holdOrder", "releaseOrder"):
        await gql(f'mutation($id: ID!) {{ {action}(input: {{orderId: $id}}) {{ order {{ id }} }} }}', {"id": gid})
    first = await gql("query($id: ID) { order(id: $id) { events(first: 2) { pageInfo { hasNextPage endCursor } edges { cursor node { status } } } } }",
                      {"id": gid})
    events = first["data"]["order"]["events"]
    assert [e["node"]["status"] for e in events["edges"]] == ["PENDING", "CONFIRMED"] and events["pageInfo"]["hasNextPage"]
    rest = await gql("query($id: ID, $a: String) { order(id: $id) { events(after: $a) { edges { node { type status } } } } }",
                     {"id": gid, "a": events["pageInfo"]["endCursor"]})
    # confirmation also issued the invoice (billing), an event that keeps the status
    assert [(e["node"]["type"], e["node"]["status"]) for e in rest["data"]["order"]["events"]["edges"]] == [
        ("INVOICE_ISSUED", "CONFIRMED"), ("STATUS_CHANGED", "ON_HOLD"), ("STATUS_CHANGED", "CONFIRMED")]
