"""Cross-origin access (issue 12): one OMS_CORS_ORIGINS list for CORS on /graphql and the downloads, and for the
WebSocket Origin check; development allows localhost/127.0.0.1 on any port, production none, '*' refused there."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets

from app.infra.settings import Settings
from server.app import create_app
from server.cors import Origins
from tests.live_server import SUBPROTOCOL, LiveServer

ALLOWED = "http://allowed.test:8080"


@pytest_asyncio.fixture(scope="module")
async def server(database_url: str, app: Any):
    live = await LiveServer(database_url, env={"OMS_CORS_ORIGINS": f"{ALLOWED}, https://shop.example.com"}).start()
    yield live
    await live.stop()


def test_the_origin_rule():
    dev = Origins(None, production=False)
    assert dev.allows("http://localhost:3000") and dev.allows("http://127.0.0.1:5173") and dev.allows("http://localhost")
    assert not dev.allows("http://evil.test") and not dev.allows("https://localhost.evil.test") and not dev.allows("http://localhost:3000.evil.test")
    prod = Origins(None, production=True)
    assert not prod.allows("http://localhost:3000")
    listed = Origins("https://shop.example.com, http://localhost:3000", production=True)
    assert listed.allows("https://shop.example.com") and listed.allows("http://localhost:3000")
    assert not listed.allows("http://localhost:3001") and not listed.allows("http://shop.example.com")
    assert not Origins("", production=False).allows("http://localhost:3000")  # set but empty: none, not the default
    assert Origins("*", production=False).allows("http://anything.test")
    with pytest.raises(ValueError, match="production"):
        Origins("*", production=True)
    with pytest.raises(ValueError):
        Origins("https://shop.example.com/path", production=False)


def test_a_star_is_refused_in_production():
    with pytest.raises(ValueError, match="production"):
        create_app(Settings(database_url="postgresql+asyncpg://unused/x", env="production", cors_origins="*"))


async def test_a_preflight_from_an_allowed_origin_is_answered(server):
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.options(server.http_url + "/graphql", headers={
            "Origin": ALLOWED, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert "access-control-allow-credentials" not in response.headers


async def test_responses_carry_the_allowed_origin_and_exposed_headers(server):
    async with httpx.AsyncClient(timeout=10) as client:
        ok = await client.post(server.http_url + "/graphql", json={"query": "{ __typename }"}, headers={"Origin": ALLOWED})
        download = await client.get(server.http_url + "/documents/invoices/F0000-1.pdf", headers={"Origin": ALLOWED})
        other = await client.post(server.http_url + "/graphql", json={"query": "{ __typename }"}, headers={"Origin": "http://evil.test"})
        refused = await client.options(
            server.http_url + "/graphql", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"}
        )
    assert ok.headers["access-control-allow-origin"] == ALLOWED
    assert "content-disposition" in ok.headers["access-control-expose-headers"].lower()
    assert download.headers["access-control-allow-origin"] == ALLOWED
    assert "access-control-allow-origin" not in other.headers
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers


async def test_the_websocket_origin_check_uses_the_same_list(server):
    async with websockets.connect(server.ws_url, subprotocols=[SUBPROTOCOL], origin=ALLOWED) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(server.ws_url, subprotocols=[SUBPROTOCOL], origin="http://evil.test"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    # an explicit list replaces the development default
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(server.ws_url, subprotocols=[SUBPROTOCOL], origin="http://localhost:3000"):  # type: ignore[arg-type]
            pass
