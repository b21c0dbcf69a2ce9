"""Issue 13: production mode turns off suggestions, introspection and GraphiQL and puts /metrics behind an
admin key; logs: client errors at INFO in one line without traceback, no bound SQL parameters."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from tests.conftest import make_key
from tests.test_security_limits import app_with, client_of

TYPO_FIELD = "{ ordrs { totalCount } }"
TYPO_ARGUMENT = "{ orders(frist: 1) { totalCount } }"
TYPO_INPUT = "mutation($input: ProductInput!) { upsertProduct(input: $input) { product { sku } } }"
TYPO_VARIABLES = {"input": {"skuu": "A", "name": "A", "price": "1", "currency": "EUR", "taxRate": "0"}}


async def messages(client, token: str) -> str:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"}
    out = []
    for document, variables in ((TYPO_FIELD, {}), (TYPO_ARGUMENT, {}), (TYPO_INPUT, TYPO_VARIABLES),
                                ('{ orders(filter: {stauts: [PLACED]}) { totalCount } }', {})):
        response = await client.post("/graphql", json={"query": document, "variables": variables}, headers=headers)
        assert response.status_code in (200, 400), response.text
        out.extend(error["message"] for error in response.json()["errors"])
    return "\n".join(out)


async def test_production_hides_suggestions_introspection_graphiql_and_metrics(database_url, db, admin_token) -> None:
    reader = await make_key(db, "orders:read")
    async with app_with(database_url, env="production") as application, client_of(application) as client:
        text_of_errors = await messages(client, admin_token)
        assert "Did you mean" not in text_of_errors, text_of_errors
        assert "ordrs" in text_of_errors  # still a clear message
        introspection = await client.post("/graphql", json={"query": "{ __schema { types { name } } }"},
                                          headers={"Authorization": f"Bearer {admin_token}"})
        assert introspection.json()["errors"] and introspection.json().get("data") is None
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert "graphiql" not in page.text.lower()
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {reader}"})).status_code == 401
        metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {admin_token}"})
        assert metrics.status_code == 200 and "oms_" in metrics.text


async def test_development_still_suggests_and_serves_metrics(client, admin_token) -> None:
    assert "Did you mean" in await messages(client, admin_token)
    assert (await client.get("/metrics")).status_code == 200


async def test_client_errors_are_logged_at_info_without_traceback(gql, db, caplog: pytest.LogCaptureFixture) -> None:
    reader = await make_key(db, "stock:read")
    caplog.set_level(logging.INFO)
    await gql("{ orders { totalCount } }", token=reader)  # FORBIDDEN, raised in a resolver
    await gql(TYPO_FIELD)  # a validation error
    await gql("{ orders(first: 1) { edges { node { " + "returns { order { " * 7 + "number" + " } }" * 7 + " } } } }")  # a limit
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [r.getMessage() for r in caplog.records if r.levelno >= 30]
    client_lines = [r for r in caplog.records if r.name == "oms.graphql.client"]
    assert len(client_lines) == 3
    assert all(r.exc_info is None for r in caplog.records)
    assert "FORBIDDEN" in client_lines[0].getMessage() and "[request " in client_lines[0].getMessage()


async def test_sql_errors_never_carry_bound_parameters(db) -> None:
    with pytest.raises(Exception) as raised:
        await db.run(lambda uow: uow.session.execute(text("SELECT 1 / CAST(:secret AS int)"), {"secret": "0"}))
    assert "parameters hidden" in str(raised.value)
    assert "'0'" not in str(raised.value).split("[SQL", 1)[-1]
