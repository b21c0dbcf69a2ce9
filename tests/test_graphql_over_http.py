"""GraphQL over HTTP to the letter (issue 12): application/graphql-response+json when accepted, 4xx and no `data`
on request errors; the `graphql-http` package's own audit suite passes with no warning; GraphiQL is served offline."""

from __future__ import annotations

import asyncio
import json
import shutil
from asyncio.subprocess import PIPE
from typing import Any

import httpx
import pytest_asyncio

from tests.live_server import ROOT, LiveServer

AUDIT = ROOT / "tests" / "vendor" / "graphql-http-1.23.1" / "audit.cjs"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


@pytest_asyncio.fixture(scope="module")
async def server(database_url: str, app: Any):
    live = await LiveServer(database_url).start()
    yield live
    await live.stop()


async def test_the_graphql_http_audit_reports_no_warning_and_no_error(server):
    node = shutil.which("node")
    assert node, "node is needed for the graphql-http audit (scripts/test installs nodejs)"
    process = await asyncio.create_subprocess_exec(node, str(AUDIT), server.http_url + "/graphql", stdout=PIPE, stderr=PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode in (0, 1), err.decode()
    results = json.loads(out)
    assert len(results) >= 60
    not_ok = [r for r in results if r["status"] != "ok"]
    assert not_ok == [], not_ok
    assert process.returncode == 0


async def test_request_errors_are_4xx_without_data_under_the_new_media_type(server):
    url = server.http_url + "/graphql"
    accept = {"Accept": f"{GRAPHQL_RESPONSE_JSON}, application/json;q=0.9"}
    async with httpx.AsyncClient(timeout=10) as client:
        ok = await client.post(url, json={"query": "{ __typename }"}, headers=accept)
        parse_error = await client.post(url, json={"query": "{"}, headers=accept)
        invalid = await client.post(url, json={"query": "{ nope }"}, headers=accept)
        coercion = await client.post(url, json={"query": "query Q($n: Int!) { __typename }", "variables": {"n": "x"}}, headers=accept)
        field_error = await client.post(url, json={"query": "{ orders { totalCount } }"}, headers=accept)
        legacy = await client.post(url, json={"query": "{ nope }"}, headers={"Accept": "application/json"})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
    assert ok.json() == {"data": {"__typename": "Query"}}
    for response in (parse_error, invalid, coercion):
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
        assert "data" not in response.json() and response.json()["errors"]
    # an error while executing a field (here: no API key) is still a 200 with data
    assert field_error.status_code == 200 and field_error.json()["data"] is None and field_error.json()["errors"][0]["path"] == ["orders"]
    # legacy clients keep today's answer
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")
    assert legacy.json()["data"] is None


async def test_graphiql_is_served_from_the_apps_own_files(server):
    async with httpx.AsyncClient(timeout=10) as client:
        page = await client.get(server.http_url + "/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "unpkg.com" not in page.text and "https://" not in page.text.replace("https://github.com", "")
        for asset in ("graphiql-3.8.3/graphiql.min.js", "graphiql-3.8.3/graphiql.min.css", "react-18.2.0/react.production.min.js",
                      "react-dom-18.2.0/react-dom.production.min.js", "graphql-ws-6.4.2/graphql-ws.min.js"):
            assert f"/static/vendor/{asset}" in page.text or asset.startswith("graphql-ws")
            response = await client.get(server.http_url + f"/static/vendor/{asset}")
            assert response.status_code == 200 and len(response.content) > 5000, asset
