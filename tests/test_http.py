"""HTTP endpoints and error hygiene."""

from __future__ import annotations

from app.orders import service
from tests import factories


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": True, "migrated": True, "broadcast": True}


async def test_metrics_are_prometheus_text(client):
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "oms_live_subscriptions" in response.text and response.headers["content-type"].startswith("text/plain")


async def test_graphiql_is_served_to_browsers_in_development(client):
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_get_runs_queries_but_not_mutations(client, admin_token):
    headers = {"Authorization": f"Bearer {admin_token}"}
    query = await client.get("/graphql", params={"query": "{ warehouses { code } }"}, headers=headers)
    assert query.status_code == 200 and query.json()["data"] == {"warehouses": []}
    mutation = await client.get("/graphql", params={"query": 'mutation { cancelOrder(input: {orderId: "x"}) { order { id } } }'}, headers=headers)
    assert mutation.status_code >= 400


async def test_malformed_documents_are_graphql_errors(gql):
    body = await gql("{ orders { nope } }")
    assert body["errors"] and "nope" in body["errors"][0]["message"]


async def test_unexpected_errors_are_masked_with_a_request_id(gql, db, monkeypatch, caplog):
    # given a failure deep in the domain that mentions SQL and a connection string
    await factories.basic_catalog(db)

    async def broken(**kwargs):
        raise RuntimeError("SELECT * FROM secrets; postgresql://admin:pw@db/prod")

    monkeypatch.setattr(service, "confirm_order", broken)
    monkeypatch.setattr("resolvers.orders.confirm_order", __import__("resolvers.orders", fromlist=["x"])._transition_mutation(broken))
    order = await factories.place(db, [("A", 1)])
    from resolvers.ids import to_global_id

    # when
    body = await gql('mutation($id: ID!) { confirmOrder(input: {orderId: $id}) { order { id } } }', {"id": to_global_id("Order", order.id)})
    # then
    error = body["errors"][0]
    assert error["message"].startswith("Internal server error (request id ")
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR" and error["extensions"]["requestId"] in error["message"]
    assert "SELECT" not in str(body) and "postgresql://" not in str(body)
    assert "SELECT * FROM secrets" in caplog.text
