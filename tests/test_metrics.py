"""/metrics: the request counters, latency and SQL histograms, retries and UNAVAILABLE counters move;
one structured log line per request carries the request id (honouring the client's), operation and outcome."""

from __future__ import annotations

import json
import re

from tests import factories
from tests.conftest import make_key
from tests.live_server import LiveServer

PLACE = """
mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) { order { number } userErrors { code } } }
"""
PRODUCTS = "query Catalog { products(first: 5) { edges { node { sku } } } }"


def samples(body: str) -> dict[str, float]:
    found = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def metric(found: dict[str, float], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for key, value in found.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if all(have.get(k) == v for k, v in labels.items()):
            total += value
    return total


async def test_metrics_and_request_log_lines_move_with_requests(db, database_url):
    await factories.basic_catalog(db)
    token = await make_key(db, "admin", name="metrics")
    server = await LiveServer(database_url, env={"OMS_LOG_FORMAT": "json"}).start()
    try:
        import httpx

        async with httpx.AsyncClient(timeout=10, base_url=server.http_url) as client:
            before = samples((await client.get("/metrics")).text)
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(3):
                assert (await client.post("/graphql", json={"query": PRODUCTS}, headers=headers)).status_code == 200
            placed = await client.post("/graphql", headers={**headers, "X-Request-Id": "client-abc-1"}, json={"query": PLACE, "variables": {
                "input": {"channel": "WEB", "email": "m@example.com", "lines": [{"sku": "A", "quantity": 1}],
                          "shippingAddress": factories.ADDRESS_INPUT}}})
            assert placed.headers["x-request-id"] == "client-abc-1"
            refused = await client.post("/graphql", headers=headers, json={"query": PLACE, "variables": {
                "input": {"channel": "WEB", "email": "m@example.com", "lines": [{"sku": "A", "quantity": 10_000}],
                          "shippingAddress": factories.ADDRESS_INPUT}}})
            assert refused.json()["data"]["placeOrder"]["userErrors"]
            after = samples((await client.get("/metrics")).text)
    finally:
        log = server.log()
        await server.stop()

    def moved(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert moved("oms_graphql_requests_total", operation="products", type="query", outcome="OK") == 3
    assert moved("oms_graphql_requests_total", operation="placeOrder", type="mutation", outcome="OK") == 1
    assert moved("oms_graphql_requests_total", operation="placeOrder", type="mutation", outcome="USER_ERROR") == 1
    assert moved("oms_graphql_request_duration_seconds_count", operation="products") == 3
    assert moved("oms_graphql_request_duration_seconds_sum", operation="products") > 0
    assert moved("oms_sql_statements_per_request_count") == 5
    assert moved("oms_sql_statements_per_request_sum") >= 5  # every request ran SQL (the key lookup at least)
    assert moved("oms_events_published_total") >= 1
    assert "oms_db_pool_checked_out" in after
    assert "oms_live_subscriptions_opened_total" in after and "oms_last_event_cursor" in after

    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    mine = [line for line in requests if line.get("request_id") == "client-abc-1"]
    assert len(mine) == 1, requests[-5:]
    assert (mine[0]["operation"], mine[0]["op_type"], mine[0]["outcome"], mine[0]["key"], mine[0]["status"]) == (
        "placeOrder", "mutation", "OK", "metrics", 200)
    assert mine[0]["duration_ms"] > 0 and mine[0]["sql"] > 0
    assert any(line.get("event", "").startswith("serving on") for line in lines)


async def test_opentelemetry_tracing_is_off_by_default_and_traces_operations_when_enabled(database_url, monkeypatch):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from app.infra.settings import Settings
    from server import observability
    from server.app import create_app

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(observability, "TRACER_PROVIDER", provider)
    import httpx

    for enabled in (False, True):
        application = create_app(Settings(database_url=database_url, otel=enabled))
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://oms.test") as client:
                track = 'query Track { trackOrder(number: "X", email: "a@b.c") { number } }'
                response = await client.post("/graphql", json={"query": track})
        assert response.status_code == 200
        names = [span.name for span in exporter.get_finished_spans()]
        if not enabled:
            assert names == []
    assert "GraphQL Query: Track" in names
    assert any(span.attributes.get("graphql.path") == "trackOrder" for span in exporter.get_finished_spans())
    assert not any("a@b.c" in str(value) for span in exporter.get_finished_spans() for key, value in span.attributes.items()
                   if key.startswith("graphql.param"))
