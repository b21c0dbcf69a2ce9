"""Issue 13: object-level access on every path.

- a walk of the schema fails when a type or a cross-type field has no access policy (resolvers/access.py);
- every root query field refuses no key and a key of another scope;
- a foreign id of every Node type, for every single read-scope key, answers exactly like a missing id;
- the reported attack: an invoices:read key walking `Invoice.order` to customers' emails and addresses.
"""

from __future__ import annotations

import uuid

import pytest
from graphql import GraphQLList, GraphQLNonNull, get_named_type, is_enum_type, is_input_object_type, is_leaf_type, is_object_type
from sqlalchemy import select

from models import Allocation, Warehouse
from resolvers import access
from resolvers.ids import to_global_id
from resolvers.node import NODE_TYPES
from tests import factories
from tests.conftest import make_key
from tests.test_alerts import stuck_alert
from tests.test_returns import delivered_order
from tests.webhook_receiver import endpoint_with_delivery

READ_SCOPES = sorted({kind.scope for kind in NODE_TYPES.values()})


def _schema():  # type: ignore[no-untyped-def]
    from graphql_schema.schema import build_schema

    return build_schema()._schema


def test_every_type_and_cross_type_field_has_an_access_policy_and_the_guard_is_installed() -> None:
    schema = _schema()
    declared_fields = set(access.FIELD_POLICIES)
    seen_fields = set()
    for type_name, type_ in schema.type_map.items():
        if type_name.startswith("__") or not is_object_type(type_):
            continue
        assert type_name in access.ROOT_TYPES or type_name in NODE_TYPES or type_name in access.VALUE_TYPES, type_name
        for field_name, field in type_.fields.items():
            qualified = f"{type_name}.{field_name}"
            if type_name in access.ROOT_TYPES:
                assert qualified in access.ROOT_POLICIES, qualified
                continue
            target = get_named_type(field.type)
            if is_leaf_type(target) or target.name not in NODE_TYPES:
                continue
            seen_fields.add(qualified)
            policy = access.FIELD_POLICIES[qualified]
            if policy in (access.Policy.TARGET, access.Policy.TARGET_OR_PUBLIC, access.Policy.TARGET_IF_LINKED):
                # the guard wraps the resolver and asks for the target's read scope
                assert getattr(field.resolve, "__oms_access__", None) is not None, qualified
                assert field.resolve.__oms_access__[0] == NODE_TYPES[target.name].scope, qualified
    assert declared_fields == seen_fields, "stale or missing FIELD_POLICIES entries"
    root_fields = {f"{t}.{f}" for t in access.ROOT_TYPES for f in schema.type_map[t].fields}  # type: ignore[attr-defined]
    assert set(access.ROOT_POLICIES) == root_fields


def test_a_cross_type_field_without_a_policy_stops_the_schema_from_building(monkeypatch: pytest.MonkeyPatch) -> None:
    policies = dict(access.FIELD_POLICIES)
    del policies["Invoice.order"]
    monkeypatch.setattr(access, "FIELD_POLICIES", policies)
    with pytest.raises(RuntimeError, match=r"Invoice\.order reaches Order"):
        _schema()


def test_a_type_without_a_policy_stops_the_schema_from_building(monkeypatch: pytest.MonkeyPatch) -> None:
    values = dict(access.VALUE_TYPES)
    del values["Address"]
    monkeypatch.setattr(access, "VALUE_TYPES", values)
    with pytest.raises(RuntimeError, match="type Address has no access policy"):
        _schema()


def _dummy(type_) -> str:  # type: ignore[no-untyped-def]
    named = get_named_type(type_)
    if is_input_object_type(named):  # a required input object (shippingQuotes): its required fields, so the resolver runs
        fields = ", ".join(f"{name}: {_dummy(f.type)}" for name, f in named.fields.items() if isinstance(f.type, GraphQLNonNull))
        return "{" + fields + "}"
    if isinstance(type_, GraphQLNonNull) and isinstance(type_.of_type, GraphQLList):
        return "[]"
    if is_enum_type(named):
        return next(iter(named.values))
    return {"Int": "1", "Boolean": "false", "Float": "1.0"}.get(named.name, '"x"')


async def test_every_scoped_root_query_field_refuses_no_key_and_another_scope(gql, db) -> None:
    schema = _schema()
    other = {scope: await make_key(db, "payments:read" if scope != "payments:read" else "stock:read") for scope in READ_SCOPES}
    checked = 0
    for name, field in schema.query_type.fields.items():  # type: ignore[union-attr]
        policy = access.ROOT_POLICIES[f"Query.{name}"]
        if policy == access.PUBLIC or name == "node":
            continue
        args = ", ".join(f"{arg}: {_dummy(a.type)}" for arg, a in field.args.items() if isinstance(a.type, GraphQLNonNull))
        selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
        document = "{ " + name + (f"({args})" if args else "") + selection + " }"
        anonymous = await gql(document, token=None)
        assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", (document, anonymous)
        assert not anonymous.get("data") or anonymous["data"].get(name) in (None, []), anonymous
        wrong = await gql(document, token=other[policy])
        assert wrong["errors"][0]["extensions"]["code"] == "FORBIDDEN", (document, wrong)
        assert policy in wrong["errors"][0]["message"]
        checked += 1
    assert checked >= 12


async def _one_of_each_node(gql, db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    await factories.basic_catalog(db)
    delivered = await delivered_order(db, [("A", 2)])
    open_order = await factories.place(db, [("A", 1)])
    from app.flows import confirmation

    await db.run(lambda uow: confirmation.confirm_order(uow=uow, order_id=open_order.id), actor="test")
    returned = await gql(
        "mutation($input: RequestReturnInput!) { requestReturn(input: $input) { return { id } userErrors { code message } } }",
        {"input": {"orderId": to_global_id("Order", delivered.id), "lines": [{"sku": "A", "quantity": 1}], "reason": "too big"}},
    )
    inquiry = await gql(
        "mutation($input: OpenInquiryInput!) { openInquiry(input: $input) { inquiry { id } userErrors { code } } }",
        {"input": {"orderId": to_global_id("Order", delivered.id), "subject": "Where?", "body": "Hello"}},
    )
    stock = await gql("{ stockLevels(first: 1) { edges { node { id warehouse { id } } } } products(first: 1) { edges { node { id } } } }")
    async with db.read() as session:  # the warehouse the open order is reserved in
        warehouse_code = (await session.execute(
            select(Warehouse.code).join(Allocation, Allocation.warehouse_id == Warehouse.id).where(Allocation.order_id == open_order.id)
        )).scalars().first()
    pick = await gql(
        "mutation($input: CreatePickListInput!) { createPickList(input: $input) { pickList { id } userErrors { code message } } }",
        {"input": {"warehouseCode": warehouse_code}},
    )
    order = (await gql(
        "query($id: ID!) { node(id: $id) { ... on Order { id shipments { id } payments { id } invoices { id } } } }",
        {"id": to_global_id("Order", delivered.id)},
    ))["data"]["node"]
    ids = {
        "Order": order["id"], "Shipment": order["shipments"][0]["id"], "Payment": order["payments"][0]["id"],
        "Invoice": order["invoices"][0]["id"], "Return": returned["data"]["requestReturn"]["return"]["id"],
        "Inquiry": inquiry["data"]["openInquiry"]["inquiry"]["id"],
        "StockLevel": stock["data"]["stockLevels"]["edges"][0]["node"]["id"],
        "Warehouse": stock["data"]["stockLevels"]["edges"][0]["node"]["warehouse"]["id"],
        "Product": stock["data"]["products"]["edges"][0]["node"]["id"],
    }
    draft = await gql('mutation { createDraftOrder(input: {channel: PHONE}) { draftOrder { id } } }')  # drafts, issue 18
    ids["DraftOrder"] = draft["data"]["createDraftOrder"]["draftOrder"]["id"]
    if pick["data"]["createPickList"]["pickList"] is not None:
        ids["PickList"] = pick["data"]["createPickList"]["pickList"]["id"]
    ids["WebhookEndpoint"], ids["WebhookDelivery"] = await endpoint_with_delivery(gql, db)  # issue 17
    ids["Alert"] = await stuck_alert(db, open_order.id)  # issue 19
    return ids


NODE = "query($id: ID!) { node(id: $id) { id __typename } }"


async def test_a_foreign_id_of_every_node_type_answers_like_a_missing_one_for_every_single_scope_key(gql, db) -> None:
    ids = await _one_of_each_node(gql, db)
    assert set(ids) == set(NODE_TYPES), ids
    keys = {scope: await make_key(db, scope) for scope in READ_SCOPES}
    for type_name, global_id in ids.items():
        missing = to_global_id(type_name, uuid.uuid4())
        for scope, token in keys.items():
            found = await gql(NODE, {"id": global_id}, token=token)
            absent = await gql(NODE, {"id": missing}, token=token)
            if scope == NODE_TYPES[type_name].scope:
                assert found["data"]["node"] == {"id": global_id, "__typename": type_name}, (type_name, scope, found)
                assert absent == {"data": {"node": None}} or absent["data"] == {"node": None}
            else:
                assert found["errors"][0]["extensions"]["code"] == "FORBIDDEN", (type_name, scope, found)
                assert found == absent, (type_name, scope)  # exactly like a missing one


ATTACK_LIST = "{ invoices(first: 10) { edges { node { number order { email total { amount } shippingAddress { line1 } } } } } }"
ATTACK_ONE = "query($n: String!) { invoice(number: $n) { number order { email shippingAddress { line1 } } } }"


async def test_an_invoices_key_cannot_walk_invoice_order_to_customers(gql, db, client) -> None:
    await factories.basic_catalog(db)
    await delivered_order(db, [("A", 1)], email="victim@example.com")
    invoices_only = await make_key(db, "invoices:read")
    number = (await gql("{ invoices(first: 1) { edges { node { number } } } }"))["data"]["invoices"]["edges"][0]["node"]["number"]
    for document, variables in ((ATTACK_LIST, {}), (ATTACK_ONE, {"n": number})):
        response = await client.post("/graphql", json={"query": document, "variables": variables},
                                     headers={"Authorization": f"Bearer {invoices_only}"})
        assert response.status_code == 200
        assert b"victim@example.com" not in response.content and b"line1\":\"" not in response.content
        body = response.json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert body["errors"][0]["path"][-1] == "order"
    # with orders:read as well, the same walk is allowed
    both = await make_key(db, "invoices:read", "orders:read")
    allowed = await gql(ATTACK_ONE, {"n": number}, token=both)
    assert allowed["data"]["invoice"]["order"]["email"] == "victim@example.com"


async def test_a_public_tracking_view_cannot_be_walked_to_the_order(gql, db) -> None:
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 1)], email="buyer@example.com")
    body = await gql(
        "query($n: String!, $e: String!) { trackOrder(number: $n, email: $e) {"
        " shipments { carrier warehouse { code } order { email } } } }",
        {"n": order.number, "e": "buyer@example.com"}, token=None,
    )
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["path"][-1] == "order"
    assert "buyer@example.com" not in str(body["data"])
