"""Issue 13: limits before execution — depth (introspection included), aliases through fragments,
fragment bombs, directives, duplicated fields, tokens, the query cost budget with extensions.cost, the
per-key cost bucket (429 + Retry-After), and public rate limits per order number and per address."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import resolvers.orders
from tests import factories
from tests.conftest import make_key
from tests.test_returns import delivered_order


def fragment_bomb(levels: int, leaf: str) -> str:
    """fragment F0 { ...F1 ...F1 } fragment F1 { ...F2 ...F2 } …: 2^levels work for a walk without a memo."""
    parts = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    parts.append(f"fragment F{levels} on Query {{ {leaf} }}")
    return "query { ...F0 } " + " ".join(parts)


@pytest.fixture
def orders_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = resolvers.orders.orders

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(resolvers.orders, "orders", counting)
    return calls


def code(body: dict) -> str | None:
    return ((body.get("errors") or [{}])[0].get("extensions") or {}).get("code")


async def test_fragment_bombs_are_refused_fast(gql) -> None:
    started = time.perf_counter()
    body = await gql(fragment_bomb(24, "a: __typename b: __typename"))  # 2 x 2^24 aliases
    assert time.perf_counter() - started < 2.0
    assert code(body) == "LIMIT_EXCEEDED" and body.get("data") is None, body
    started = time.perf_counter()
    body = await gql(fragment_bomb(24, "orders(first: 1) { edges { node { lines { sku } } } }"))  # executes once, as collected
    assert time.perf_counter() - started < 2.0
    assert "errors" not in body and body["data"] == {"orders": {"edges": []}}, body


async def test_aliases_counted_through_fragments(gql, orders_calls) -> None:
    fragment = "fragment Many on Query { " + " ".join(f"x{i}: orders(first: 1) {{ totalCount }}" for i in range(16)) + " }"
    body = await gql("query { ...Many ...Many a: __typename } " + fragment)  # 16 spread twice = 32 aliases + 1
    assert code(body) == "LIMIT_EXCEEDED" and "aliases" in body["errors"][0]["message"], body
    assert orders_calls == []


async def test_depth_is_limited_including_introspection(gql, orders_calls) -> None:
    deep = "query { orders(first: 1) { edges { node { " + "returns { order { " * 6 + "number" + " } }" * 6 + " } } } }"
    body = await gql(deep)
    assert code(body) == "LIMIT_EXCEEDED" and "depth" in body["errors"][0]["message"], body
    assert orders_calls == []
    of_type = '{ __type(name: "Order") { ' + "ofType { " * 30 + "name" + " }" * 30 + " } }"
    body = await gql(of_type)
    assert code(body) == "LIMIT_EXCEEDED" and "introspection depth" in body["errors"][0]["message"], body
    from graphql import get_introspection_query

    standard = await gql(get_introspection_query())  # GraphiQL's query (14 deep) still works in development
    assert "errors" not in standard, standard


async def test_directives_duplicates_and_tokens_are_limited(gql) -> None:
    fine = "{ " + " ".join(f"a{i}: __typename @include(if: true)" for i in range(25)) + " }"
    assert "errors" not in await gql(fine)  # 25 aliases and 25 directives are fine
    directives = "{ " + " ".join(f"a{i}: __typename @include(if: true) @skip(if: false)" for i in range(26)) + " }"
    body = await gql(directives)
    assert code(body) == "LIMIT_EXCEEDED" and "52 directives" in body["errors"][0]["message"], body
    duplicated = "{ " + "__typename " * 25 + "}"
    body = await gql(duplicated)
    assert code(body) == "LIMIT_EXCEEDED" and "selected 25 times" in body["errors"][0]["message"], body
    tokens = "{ __typename " + "# c\n" * 300 + "}"
    assert (await gql(tokens)).get("errors")
    long = "{ " + " ".join(f"f{i}: __typename" for i in range(3000)) + " }"
    body = await gql(long)
    assert body.get("errors") and "tokens" in body["errors"][0]["message"].lower(), body["errors"][0]


ATTACK = "query { " + " ".join(
    f"a{i}: orders(first: 100) {{ edges {{ node {{ events(first: 100) {{ edges {{ node {{ type }} }} }} }} }} }}" for i in range(10)
) + " }"


async def test_a_costly_query_is_refused_before_execution_with_its_cost(gql, orders_calls) -> None:
    body = await gql(ATTACK)
    assert code(body) == "MAX_COST_EXCEEDED", body
    assert body["data"] is None and orders_calls == []
    assert body["extensions"]["cost"]["requestedQueryCost"] == 103_020
    assert body["extensions"]["cost"]["maximumQueryCost"] == 50_000
    by_variable = await gql("query($n: Int) { orders(first: $n) { edges { node { events(first: $n) { edges { node { type } } } } } } }",
                            {"n": 100})
    assert by_variable["extensions"]["cost"]["requestedQueryCost"] == 10_302
    assert orders_calls == [1]  # 10,302 is under the budget: it ran


async def test_extensions_cost_reports_requested_and_actual(gql, db) -> None:
    await factories.basic_catalog(db)
    for _ in range(2):
        await factories.place(db, [("A", 1)])
    body = await gql("{ orders(first: 50) { edges { node { number lines { sku } } } } }")
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 50 * (1 + 100 * 1)
    assert cost["actualQueryCost"] == 2 + 2 * (1 + 1)
    assert cost["throttleStatus"]["maximumAvailable"] == 1_000_000


@contextlib.asynccontextmanager
async def app_with(database_url: str, **settings: Any) -> AsyncIterator[Any]:
    from app.infra.settings import Settings
    from server.app import create_app

    application = create_app(Settings(database_url=database_url, db_pool_size=4, **settings))
    async with application.router.lifespan_context(application):
        yield application


def client_of(application: Any, address: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, client=(address, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://oms.test")


async def test_the_per_key_bucket_throttles_with_429_and_retry_after(database_url, db, admin_token) -> None:
    async with app_with(database_url, cost_bucket=2_500, cost_restore_rate=1) as application, client_of(application) as client:
        headers = {"Authorization": f"Bearer {admin_token}"}
        query = {"query": "{ orders(first: 100) { edges { node { number } } } }"}  # requested 102, actual 2
        costly = {"query": "{ orders(first: 100) { edges { node { number lines { sku } } } } }"}  # requested 10,102
        first = await client.post("/graphql", json=query, headers=headers)
        assert first.status_code == 200, first.text
        assert first.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] >= 2_400
        refused = await client.post("/graphql", json=costly, headers=headers)
        assert refused.status_code == 429 and code(refused.json()) == "THROTTLED"  # more than the bucket holds
        assert refused.json()["data"] is None
        small = {"query": "{ orders(first: 20) { edges { node { number lines { sku } } } } }"}  # requested 2,022, actual 2
        assert (await client.post("/graphql", json=small, headers=headers)).status_code == 200
        # nothing was returned, so the refund restored the bucket: refused only when spent by *requested* cost
        statuses = [(await client.post("/graphql", json=small, headers=headers)).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]


async def test_the_per_key_bucket_refuses_when_spent(database_url, db, admin_token) -> None:
    async with app_with(database_url, cost_bucket=2_100, cost_restore_rate=1) as application, client_of(application) as client:
        await factories.basic_catalog(db)
        for _ in range(20):
            await factories.place(db, [("A", 1)])
        headers = {"Authorization": f"Bearer {admin_token}"}
        full = {"query": "{ orders(first: 20) { edges { node { number lines { sku } } } } }"}  # requested 2,022, actual 42
        # each request takes 2,022 and gives back what it did not use (2,022 - 42): the third no longer fits
        statuses = [(await client.post("/graphql", json=full, headers=headers)).status_code for _ in range(2)]
        assert statuses == [200, 200]
        throttled = await client.post("/graphql", json=full, headers=headers)
        assert throttled.status_code == 429, throttled.text
        assert int(throttled.headers["retry-after"]) >= 1
        assert code(throttled.json()) == "THROTTLED" and throttled.json()["data"] is None


TRACK = "query($n: String!, $e: String!) { trackOrder(number: $n, email: $e) { number } }"


async def test_public_lookups_are_rate_limited_per_order_number_and_per_address(database_url, db) -> None:
    await factories.basic_catalog(db)
    order = await delivered_order(db, [("A", 1)])
    async with (
        app_with(database_url, public_rate_per_order="3/minute", public_rate_per_address="5/minute") as application,
        client_of(application, "10.0.0.1") as one, client_of(application, "10.0.0.2") as two,
    ):
        answers = []
        for client, email in ((one, "wrong1@example.com"), (one, "wrong2@example.com"), (two, "wrong3@example.com"),
                              (two, "buyer@example.com")):
            answers.append(await client.post("/graphql", json={"query": TRACK, "variables": {"n": order.number, "e": email}}))
        assert [a.status_code for a in answers] == [200, 200, 200, 429]  # the 4th try on one order, from any address
        assert answers[0].content == answers[1].content == answers[2].content == b'{"data":{"trackOrder":null}}'
        assert 1 <= int(answers[3].headers["retry-after"]) <= 60
        assert code(answers[3].json()) == "RATE_LIMITED" and answers[3].json()["data"] == {"trackOrder": None}
        # per address: 5 per minute over any order numbers (two used 2 above)
        statuses = [(await two.post("/graphql", json={"query": TRACK, "variables": {"n": f"SO-{i}", "e": "x@y.z"}})).status_code
                    for i in range(4)]
        assert statuses == [200, 200, 200, 429]
        customer_return = await two.post("/graphql", json={
            "query": "mutation($i: RequestCustomerReturnInput!) { requestCustomerReturn(input: $i) { userErrors { code } } }",
            "variables": {"i": {"number": order.number, "email": "buyer@example.com", "lines": [{"sku": "A", "quantity": 1}],
                                "reason": "x"}}})
        assert customer_return.status_code == 429, customer_return.text  # the customer mutations share the limits


async def test_a_single_scope_key_with_no_key_cost_in_public_answers(gql, db) -> None:
    reader = await make_key(db, "orders:read")
    keyed = await gql("{ orders(first: 1) { totalCount } }", token=reader)
    assert keyed["extensions"]["cost"]["requestedQueryCost"] == 2
    anonymous = await gql('{ trackOrder(number: "SO-1", email: "a@b.c") { number } }', token=None)
    assert anonymous == {"data": {"trackOrder": None}}  # constant shape: no per-caller numbers in public answers


async def test_rate_limits_are_shared_across_processes_through_redis() -> None:
    from app.infra.ratelimit import RateLimiter
    from tests.live_server import RedisServer

    redis = await RedisServer().start()
    try:
        # two limiters on one Redis: what two `oms serve` processes with OMS_RATE_LIMIT_STORAGE=redis://… do
        first, second = RateLimiter.from_url(redis.url), RateLimiter.from_url(redis.url)
        limits = [("3/minute", "order", "SO-000042")]
        waits = [await limiter.hit("public", limits) for limiter in (first, second, first, second)]
        assert waits[:3] == [None, None, None]
        assert waits[3] is not None and 1 <= waits[3] <= 60
        memory_one, memory_two = RateLimiter.from_url("memory://"), RateLimiter.from_url("memory://")
        assert [await m.hit("public", limits) for m in (memory_one, memory_one, memory_one, memory_two)][3] is None  # memory: per process
        await first.close()
        await second.close()
    finally:
        redis.cleanup()
