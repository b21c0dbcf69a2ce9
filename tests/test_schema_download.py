"""Issue 17: `GET /graphql/schema.graphql` serves the committed SDL; in production only to a valid API key."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_key
from tests.test_security_limits import app_with, client_of

COMMITTED = Path(__file__).resolve().parent.parent / "graphql_schema" / "schema.graphql"


async def test_the_sdl_download_is_the_committed_sdl(client) -> None:
    response = await client.get("/graphql/schema.graphql")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == COMMITTED.read_text()
    etag = response.headers["etag"]
    again = await client.get("/graphql/schema.graphql", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


async def test_production_serves_the_sdl_only_to_a_valid_key(database_url, db) -> None:
    reader = await make_key(db, "stock:read")  # any scope will do
    async with app_with(database_url, env="production") as application, client_of(application) as client:
        anonymous = await client.get("/graphql/schema.graphql")
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
        bogus = await client.get("/graphql/schema.graphql", headers={"Authorization": "Bearer oms_not-a-key"})
        assert bogus.status_code == 401
        keyed = await client.get("/graphql/schema.graphql", headers={"Authorization": f"Bearer {reader}"})
        assert keyed.status_code == 200 and keyed.text == COMMITTED.read_text()
