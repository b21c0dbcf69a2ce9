"""node(id:): one registry of refetchable types (model, read scope, loader), and the schema's Node types are exactly those."""

from __future__ import annotations

from graphql import GraphQLInterfaceType

from graphql_schema.schema import schema
from resolvers.ids import to_global_id
from resolvers.node import NODE_TYPES
from tests import factories
from tests.conftest import make_key
from tests.test_returns import REQUEST, call, delivered_order, staff_request

NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
IDS = "query($id: ID!) { order(id: $id) { id shipments { id } payments { id } invoices { id } } }"
OPEN_INQUIRY = "mutation($input: OpenInquiryInput!) { openInquiry(input: $input) { inquiry { id } userErrors { code } } }"


def test_the_schema_node_types_are_the_registered_ones():
    # given
    node = schema._schema.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)

    # when
    implementations = {t.name for t in schema._schema.get_possible_types(node)}

    # then
    assert implementations == set(NODE_TYPES)


async def test_node_refetches_payments_invoices_returns_and_inquiries_within_their_scopes(gql, db):
    # given: a delivered card order (captured and invoiced), a return over it and a support case
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 1)])
    order_id = to_global_id("Order", order.id)
    ids = (await gql(IDS, {"id": order_id}))["data"]["order"]
    rma = await call(gql, REQUEST, staff_request(order, [{"sku": "A", "quantity": 1}]))
    inquiry = await call(gql, OPEN_INQUIRY, {"orderId": order_id, "subject": "Parcel", "body": "Where is it?"})
    wanted = {
        "Order": order_id, "Shipment": ids["shipments"][0]["id"], "Payment": ids["payments"][0]["id"],
        "Invoice": ids["invoices"][0]["id"], "Return": rma["return"]["id"], "Inquiry": inquiry["inquiry"]["id"],
    }
    orders_reader = await make_key(db, "orders:read")

    # when
    found = {name: (await gql(NODE, {"id": gid}))["data"]["node"] for name, gid in wanted.items()}
    as_orders_reader = {name: await gql(NODE, {"id": gid}, token=orders_reader) for name, gid in wanted.items()}

    # then: each comes back as its own type; a key sees only the kinds its scopes read
    assert found == {name: {"__typename": name, "id": gid} for name, gid in wanted.items()}
    assert {name: body["data"]["node"]["id"] for name, body in as_orders_reader.items() if "errors" not in body} == {
        "Order": order_id, "Inquiry": wanted["Inquiry"],
    }
    assert all(
        body["errors"][0]["extensions"]["code"] == "FORBIDDEN" and NODE_TYPES[name].scope in body["errors"][0]["message"]
        for name, body in as_orders_reader.items() if name not in ("Order", "Inquiry")
    )
