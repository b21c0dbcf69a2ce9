"""Order metadata (issue 17): set/remove round trip, limits as userErrors that write nothing, private metadata behind
orders:write (reading and filtering), the filter on key and value (planned and not), and its GIN index."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select, text

from models import Order, OrderEvent
from resolvers.ids import to_global_id
from server.app import GraphQLApp
from tests import factories
from tests.conftest import make_key

UPDATE = """
mutation($input: UpdateOrderMetadataInput!) {
  updateOrderMetadata(input: $input) { order { id metadata { key value } } userErrors { code field message } eventCursor }
}
"""
READ = "query($id: ID!) { node(id: $id) { ... on Order { metadata { key value } privateMetadata { key value } } } }"
PUBLIC_ONLY = "query($id: ID!) { node(id: $id) { ... on Order { metadata { key value } } } }"
FILTERED = "query($f: OrderFilter) { orders(first: 50, filter: $f) { totalCount edges { node { number } } } }"


async def placed(db, count: int = 1) -> list[Order]:
    await factories.basic_catalog(db)
    return [await factories.place(db, [("A", 1)], email=f"m{i}@example.com") for i in range(count)]


async def events_of(db, order: Order) -> list[OrderEvent]:
    async with db.read() as session:
        return list((await session.execute(select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.seq))).scalars())


async def test_set_and_remove_round_trip_public_and_private(gql, db):
    (order,) = await placed(db)
    gid = to_global_id("Order", order.id)
    first = (await gql(UPDATE, {"input": {"orderId": gid, "set": [{"key": "erp.id", "value": "4711"}, {"key": "a", "value": "x"}]}}))
    payload = first["data"]["updateOrderMetadata"]
    assert payload["userErrors"] == [] and payload["eventCursor"] is not None
    assert payload["order"]["metadata"] == [{"key": "a", "value": "x"}, {"key": "erp.id", "value": "4711"}]  # sorted by key
    second = (await gql(UPDATE, {"input": {"orderId": gid, "set": [{"key": "a", "value": "y"}], "remove": ["erp.id", "absent"]}}))
    assert second["data"]["updateOrderMetadata"]["order"]["metadata"] == [{"key": "a", "value": "y"}]
    private = await gql(UPDATE, {"input": {"orderId": gid, "private": True, "set": [{"key": "margin", "value": "0.31"}]}})
    assert private["data"]["updateOrderMetadata"]["userErrors"] == []
    read = (await gql(READ, {"id": gid}))["data"]["node"]
    assert read == {"metadata": [{"key": "a", "value": "y"}], "privateMetadata": [{"key": "margin", "value": "0.31"}]}
    # the timeline: keys only, never values; the private map only counts
    updates = [e for e in await events_of(db, order) if e.type == "METADATA_UPDATED"]
    assert [e.data for e in updates] == [{"private": False, "set": ["a", "erp.id"], "removed": []},
                                         {"private": False, "set": ["a"], "removed": ["erp.id"]},
                                         {"private": True, "set": 1, "removed": 0}]
    # the same change again changes nothing: no event, no cursor
    again = await gql(UPDATE, {"input": {"orderId": gid, "set": [{"key": "a", "value": "y"}]}})
    assert again["data"]["updateOrderMetadata"]["userErrors"] == [] and again["data"]["updateOrderMetadata"]["eventCursor"] is None
    assert len([e for e in await events_of(db, order) if e.type == "METADATA_UPDATED"]) == 3


async def test_limits_are_user_errors_with_paths_and_write_nothing(gql, db):
    (order,) = await placed(db)
    gid = to_global_id("Order", order.id)

    async def refused(input: dict) -> list[dict]:
        body = await gql(UPDATE, {"input": {"orderId": gid, **input}})
        assert "errors" not in body
        assert body["data"]["updateOrderMetadata"]["order"] is None
        return [{"code": e["code"], "field": e["field"]} for e in body["data"]["updateOrderMetadata"]["userErrors"]]

    assert await refused({"set": [{"key": "ok", "value": "1"}, {"key": "bad key", "value": "1"}, {"key": "v", "value": "x" * 1025}]}) == [
        {"code": "INVALID_INPUT", "field": ["input", "set", "1", "key"]}, {"code": "LIMIT_EXCEEDED", "field": ["input", "set", "2", "value"]}]
    assert await refused({"set": [{"key": "k" * 65, "value": ""}]}) == [{"code": "INVALID_INPUT", "field": ["input", "set", "0", "key"]}]
    assert await refused({"set": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]}) == [
        {"code": "INVALID_INPUT", "field": ["input", "set", "1", "key"]}]
    assert await refused({"set": [{"key": "a", "value": "1"}], "remove": ["a"]}) == [{"code": "INVALID_INPUT", "field": ["input", "remove", "0"]}]
    assert await refused({}) == [{"code": "INVALID_INPUT", "field": ["input", "set"]}]
    assert await refused({"set": [{"key": f"k{i}", "value": "v"} for i in range(51)]}) == [{"code": "LIMIT_EXCEEDED", "field": ["input", "set"]}]
    unknown = await gql(UPDATE, {"input": {"orderId": to_global_id("Order", "00000000-0000-0000-0000-000000000000"), "set": [{"key": "a", "value": "1"}]}})
    assert unknown["data"]["updateOrderMetadata"]["userErrors"][0]["code"] == "NOT_FOUND"
    # 50 keys fit; one more across two changes is refused; 16 KiB per map
    fifty = await gql(UPDATE, {"input": {"orderId": gid, "set": [{"key": f"k{i}", "value": "v"} for i in range(50)]}})
    assert fifty["data"]["updateOrderMetadata"]["userErrors"] == []
    assert await refused({"set": [{"key": "one-more", "value": "v"}]}) == [{"code": "LIMIT_EXCEEDED", "field": ["input", "set"]}]
    big = [{"key": f"k{i}", "value": "é" * 400} for i in range(20)]  # 20 x 800 bytes > 16 KiB
    assert await refused({"set": big}) == [{"code": "LIMIT_EXCEEDED", "field": ["input", "set"]}]
    # nothing of the refused changes was written
    async with db.read() as session:
        stored = (await session.execute(select(Order.public_metadata).where(Order.id == order.id))).scalar_one()
    assert stored == {f"k{i}": "v" for i in range(50)}
    assert len([e for e in await events_of(db, order) if e.type == "METADATA_UPDATED"]) == 1


async def test_private_metadata_needs_orders_write_to_read_filter_and_write(gql, db):
    (order,) = await placed(db)
    gid = to_global_id("Order", order.id)
    await gql(UPDATE, {"input": {"orderId": gid, "private": True, "set": [{"key": "margin", "value": "0.31"}]}})
    await gql(UPDATE, {"input": {"orderId": gid, "set": [{"key": "erp", "value": "1"}]}})
    reader = await make_key(db, "orders:read")
    assert (await gql(PUBLIC_ONLY, {"id": gid}, token=reader))["data"]["node"] == {"metadata": [{"key": "erp", "value": "1"}]}
    denied = await gql(READ, {"id": gid}, token=reader)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN" and denied["errors"][0]["path"][-1] == "privateMetadata"
    assert denied["data"]["node"] == {"metadata": [{"key": "erp", "value": "1"}], "privateMetadata": None}  # the order stays readable
    filtered = await gql(FILTERED, {"f": {"privateMetadata": [{"key": "margin"}]}}, token=reader)
    assert filtered["errors"][0]["extensions"]["code"] == "FORBIDDEN" and filtered["data"] is None
    write = await gql(UPDATE, {"input": {"orderId": gid, "set": [{"key": "x", "value": "1"}]}}, token=reader)
    assert write["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    both = await make_key(db, "orders:read", "orders:write")
    assert (await gql(READ, {"id": gid}, token=both))["data"]["node"]["privateMetadata"] == [{"key": "margin", "value": "0.31"}]
    assert (await gql(FILTERED, {"f": {"privateMetadata": [{"key": "margin", "value": "0.31"}]}}, token=both))["data"]["orders"]["totalCount"] == 1


async def test_filter_by_key_and_value_planned_and_not(gql, db, app):
    orders = await placed(db, 4)
    for order, values in zip(orders, ({"erp": "1", "tier": "gold"}, {"erp": "2"}, {"tier": "gold"}, {}), strict=True):
        if values:
            body = await gql(UPDATE, {"input": {"orderId": to_global_id("Order", order.id),
                                                "set": [{"key": k, "value": v} for k, v in values.items()]}})
            assert body["data"]["updateOrderMetadata"]["userErrors"] == []

    async def numbers(f: dict) -> set[str]:
        body = await gql(FILTERED, {"f": f})
        assert "errors" not in body, body
        return {e["node"]["number"] for e in body["data"]["orders"]["edges"]}

    graphql = next(route.endpoint for route in app.router.routes if isinstance(getattr(route, "endpoint", None), GraphQLApp))
    original = graphql.settings
    for planner in (True, False):
        graphql.settings = dataclasses.replace(original, read_planner=planner)
        try:
            assert await numbers({"metadata": [{"key": "erp"}]}) == {orders[0].number, orders[1].number}
            assert await numbers({"metadata": [{"key": "tier", "value": "gold"}]}) == {orders[0].number, orders[2].number}
            assert await numbers({"metadata": [{"key": "tier", "value": "gold"}, {"key": "erp", "value": "1"}]}) == {orders[0].number}
            assert await numbers({"metadata": [{"key": "erp", "value": "3"}]}) == set()
        finally:
            graphql.settings = original
    too_many = await gql(FILTERED, {"f": {"metadata": [{"key": f"k{i}"} for i in range(21)]}})
    assert too_many["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"


async def test_the_metadata_filter_uses_the_gin_index(db):
    async with db.engine.begin() as conn:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        containment = (await conn.execute(text("""EXPLAIN SELECT id FROM orders WHERE metadata @> '{"erp": "1"}'"""))).scalars().all()
        presence = (await conn.execute(text("EXPLAIN SELECT id FROM orders WHERE metadata ? 'erp'"))).scalars().all()
        private = (await conn.execute(text("EXPLAIN SELECT id FROM orders WHERE private_metadata ? 'erp'"))).scalars().all()
    assert any("ix_orders_metadata" in line for line in containment), containment
    assert any("ix_orders_metadata" in line for line in presence), presence
    assert any("ix_orders_private_metadata" in line for line in private), private
